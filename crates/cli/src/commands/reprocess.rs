//! `spotlight reprocess`: stored photos through the pipeline again, only the analysers asked
//! for. Each selected record's photo becomes one execution of the shipped state machine with
//! the input AWS takes too, `{"bucket", "key", "eventTime", "reprocess": {"analysers": […]}}`:
//! the state machine asks the record step which analysers must run (those asked for, and any
//! whose stored result cannot be kept), skips the others (`Keep…` states, in the history), and
//! the record step merges the kept results from the stored record.

use std::cmp::Ordering;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use spotlight_core::contracts::{Analyser, ImageRecord, ModelInfo, RecordStatus, Reprocess};
use spotlight_core::ports::{LabelDetector, ModerationDetector, SearchQuery, TextDetector};

use crate::cli::{AnalyserArg, ReprocessArgs};
use crate::commands::run::{local_runner, LocalRunner};
use crate::commands::runner::{Photo, PhotoResult};
use crate::commands::{local, Exit};
use crate::output;

/// Records read at a time while selecting.
const PAGE: usize = 200;
const ALL: [Analyser; 3] = [Analyser::Labels, Analyser::Moderation, Analyser::Text];

impl From<AnalyserArg> for Analyser {
    fn from(arg: AnalyserArg) -> Self {
        match arg {
            AnalyserArg::Labels => Analyser::Labels,
            AnalyserArg::Moderation => Analyser::Moderation,
            AnalyserArg::Text => Analyser::Text,
        }
    }
}

fn analyser_name(analyser: Analyser) -> &'static str {
    match analyser {
        Analyser::Labels => "labels",
        Analyser::Moderation => "moderation",
        Analyser::Text => "text",
    }
}

fn parse_analyser(name: &str) -> anyhow::Result<Analyser> {
    ALL.into_iter()
        .find(|a| analyser_name(*a) == name.trim().to_ascii_lowercase())
        .with_context(|| format!("{name:?} is not an analyser (labels, moderation, text)"))
}

/// `a` is an older version than `b`: part by part (split on `.`, `-`, `_`), numerically where
/// both parts are numbers, as text otherwise; a version that is a prefix of the other is older.
pub fn older_version(a: &str, b: &str) -> bool {
    let parts = |v: &str| -> Vec<String> {
        v.split(['.', '-', '_'])
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let (a, b) = (parts(a), parts(b));
    for (x, y) in a.iter().zip(&b) {
        let order = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => x.cmp(y),
        };
        if order != Ordering::Equal {
            return order == Ordering::Less;
        }
    }
    a.len() < b.len()
}

/// What a record is selected by, resolved from the arguments.
struct Selection {
    failed: bool,
    labels: Vec<String>,
    older_than: Vec<(Analyser, String)>,
    /// With `--stale-models`: the model each analyser uses now.
    current: Option<Vec<(Analyser, ModelInfo)>>,
    asked: Vec<Analyser>,
}

impl Selection {
    /// The analysers to run for `record`, or `None` when it is not selected.
    fn analysers(&self, record: &ImageRecord) -> Option<Vec<Analyser>> {
        if self.failed && record.status != RecordStatus::Failed {
            return None;
        }
        // A rejected upload is validation's verdict on the file, which no analyser changes.
        if record.status == RecordStatus::Rejected {
            return None;
        }
        let mut stale: Vec<Analyser> = Vec::new();
        for (analyser, version) in &self.older_than {
            if record
                .model(*analyser)
                .is_some_and(|m| older_version(&m.version, version))
            {
                stale.push(*analyser);
            }
        }
        if let Some(current) = &self.current {
            for (analyser, model) in current {
                if record.model(*analyser).is_some_and(|m| m != model) {
                    stale.push(*analyser);
                }
            }
        }
        let by_model = !self.older_than.is_empty() || self.current.is_some();
        if by_model && stale.is_empty() {
            return None;
        }
        Some(if !self.asked.is_empty() {
            self.asked.clone()
        } else if by_model {
            ALL.into_iter().filter(|a| stale.contains(a)).collect()
        } else {
            ALL.to_vec()
        })
    }
}

/// `spotlight reprocess`.
pub fn execute(args: ReprocessArgs, store_path: PathBuf) -> anyhow::Result<Exit> {
    anyhow::ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    let older_than = args
        .model_older_than
        .iter()
        .map(|pair| {
            let (analyser, version) = pair
                .split_once('=')
                .with_context(|| format!("--model-older-than {pair:?}: ANALYSER=VERSION"))?;
            anyhow::ensure!(
                !version.is_empty(),
                "--model-older-than {pair:?}: no version"
            );
            Ok((parse_analyser(analyser)?, version.to_owned()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let store = local::open_existing_store(&store_path)?;
    anyhow::ensure!(
        args.dry_run || !store.is_read_only(),
        "the store {} is read-only: nothing can be reprocessed",
        store_path.display()
    );
    let mut labels = args.labels.clone();
    if !args.themes.is_empty() {
        let path = std::env::var_os("SPOTLIGHT_THEMES").map(PathBuf::from);
        let themes = local::load_themes(path.as_deref(), Some(&store))?;
        for theme in &args.themes {
            let expanded = themes
                .expand(theme)
                .with_context(|| format!("no theme {theme:?}"))?;
            labels.extend(expanded.iter().cloned());
        }
    }
    // The runner loads the models, which --stale-models compares the records with.
    let runner = if args.dry_run && !args.stale_models {
        None
    } else {
        Some(local_runner(Arc::clone(&store), args.offline)?)
    };
    let current = match (&runner, args.stale_models) {
        (Some(runner), true) => {
            let steps = runner.pipeline.steps();
            Some(vec![
                (Analyser::Labels, LabelDetector::model(&steps.labels)),
                (
                    Analyser::Moderation,
                    ModerationDetector::model(&steps.moderation),
                ),
                (Analyser::Text, TextDetector::model(&steps.text)),
            ])
        }
        _ => None,
    };
    let selection = Selection {
        failed: args.failed,
        labels,
        older_than,
        current,
        asked: ALL
            .into_iter()
            .filter(|a| args.analysers.iter().any(|arg| Analyser::from(*arg) == *a))
            .collect(),
    };
    let chosen = select(&store, &selection)?;

    if args.dry_run {
        for (record, analysers) in &chosen {
            let path = Path::new(&record.bucket).join(&record.key);
            let names: Vec<&str> = analysers.iter().map(|a| analyser_name(*a)).collect();
            if args.json {
                let line = serde_json::json!({
                    "path": path, "bucket": record.bucket, "key": record.key,
                    "status": record.status, "analysers": names,
                });
                output::print(&format!("{line}\n"))?;
            } else {
                output::print(&format!(
                    "{}\t{}\t{}\n",
                    path.display(),
                    record.status.as_str(),
                    names.join(",")
                ))?;
            }
        }
        if !args.quiet {
            eprintln!("{} photos would be reprocessed (dry run)", chosen.len());
        }
        return Ok(Exit::Success);
    }
    let Some(runner) = runner else {
        return Ok(Exit::Success);
    };
    run_chosen(&runner, chosen, &args)
}

/// The records the selection picks, newest upload first, with the analysers each one runs.
fn select(
    store: &spotlight_storage::SqliteStore,
    selection: &Selection,
) -> anyhow::Result<Vec<(ImageRecord, Vec<Analyser>)>> {
    let mut chosen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.find(&SearchQuery {
            status: selection.failed.then_some(RecordStatus::Failed),
            labels: selection.labels.clone(),
            min_confidence: 0.0,
            safe_only: false,
            limit: Some(PAGE),
            cursor: cursor.take(),
            ..SearchQuery::default()
        })?;
        for record in page.records {
            if let Some(analysers) = selection.analysers(&record) {
                chosen.push((record, analysers));
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(chosen),
        }
    }
}

fn run_chosen(
    runner: &Arc<LocalRunner>,
    chosen: Vec<(ImageRecord, Vec<Analyser>)>,
    args: &ReprocessArgs,
) -> anyhow::Result<Exit> {
    let show_progress = !args.quiet && !args.json && std::io::stderr().is_terminal();
    let bar = ProgressBar::with_draw_target(
        Some(chosen.len() as u64),
        if show_progress {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} photos reprocessed, {elapsed} elapsed, {eta} left {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let total = chosen.len();
    let results: Vec<(PhotoResult, Vec<Analyser>)> = local::runtime()?.block_on(async {
        let permits = Arc::new(tokio::sync::Semaphore::new(args.concurrency));
        let mut tasks = tokio::task::JoinSet::new();
        for (record, analysers) in chosen {
            let (runner, permits) = (Arc::clone(runner), Arc::clone(&permits));
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let photo = Photo {
                    path: Path::new(&record.bucket).join(&record.key),
                    bucket: record.bucket,
                    key: record.key,
                };
                let reprocess = Reprocess {
                    analysers: analysers.clone(),
                };
                let result = runner.run_photo_as(&photo, Some(&reprocess)).await;
                (photo, analysers, result)
            });
        }
        let mut results = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (photo, analysers, result) = joined.context("a photo's task panicked")?;
            let result =
                result.with_context(|| format!("reprocessing {}", photo.path.display()))?;
            bar.inc(1);
            bar.set_message(photo.key.clone());
            let names: Vec<&str> = analysers.iter().map(|a| analyser_name(*a)).collect();
            if args.json {
                let mut line = serde_json::to_value(&result)?;
                line["analysers"] = serde_json::json!(names);
                output::print(&format!("{line}\n"))?;
            } else if !args.quiet {
                let status = result.status.map_or("FAILED", |s| s.as_str());
                let detail = result.error.clone().unwrap_or_else(|| result.write.clone());
                bar.suspend(|| {
                    output::print(&format!(
                        "{}\t{status}\t{}\t{detail}\n",
                        result.path,
                        names.join(",")
                    ))
                })?;
            }
            results.push((result, analysers));
        }
        anyhow::Ok(results)
    })?;
    bar.finish_and_clear();
    let failed = results
        .iter()
        .filter(|(r, _)| r.status.is_none_or(|s| s == RecordStatus::Failed))
        .count();
    if !args.quiet {
        eprintln!("{total} photos reprocessed, {failed} failed");
    }
    Ok(if failed > 0 {
        Exit::Failure
    } else {
        Exit::Success
    })
}

#[cfg(test)]
mod tests {
    use super::older_version;

    #[test]
    fn versions_compare_number_by_number() {
        assert!(older_version("1.9", "1.10"));
        assert!(!older_version("1.10", "1.9"));
        assert!(older_version("v2", "v3"));
        assert!(older_version("2", "2.1"));
        assert!(!older_version("2.1", "2.1"));
        assert!(!older_version("7.0", "6.2.1"));
    }
}
