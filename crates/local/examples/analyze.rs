//! Analyses image files with the local models and prints one JSON object per image (what
//! `spotlight analyze --json` builds on):
//!
//! ```sh
//! SPOTLIGHT_MODEL_DIR=target/models cargo run -p spotlight-local --example analyze -- photo.jpg
//! ```

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use spotlight_local::{analyze_file, LocalConfig, LocalModels};

fn main() -> ExitCode {
    let models = match LocalConfig::from_env().and_then(LocalModels::load) {
        Ok(models) => models,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut status = ExitCode::SUCCESS;
    for path in std::env::args().skip(1) {
        let started = Instant::now();
        match analyze_file(&models, Path::new(&path)) {
            Ok(report) => {
                let json = serde_json::to_string(&report).unwrap_or_default();
                println!("{{\"path\":{:?},\"report\":{json}}}", path);
                eprintln!("{path}: {:.0} ms", started.elapsed().as_secs_f64() * 1000.0);
            }
            Err(e) => {
                eprintln!("{path}: {e}");
                status = ExitCode::FAILURE;
            }
        }
    }
    status
}
