//! `spotlight run` and `spotlight watch`: photos through the whole local pipeline.

use std::collections::{BTreeSet, HashMap};
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use spotlight_core::revision::revision;
use spotlight_core::ErrorName;
use spotlight_local::analyzer::{LocalAnalyzer, LocalConfig, LocalModels, ReaderSource};
use spotlight_pipeline::{Pipeline, Steps};
use spotlight_record::RecordConfig;
use spotlight_storage::{FolderObjects, SqliteStore, StoreFault};
use spotlight_validate::Limits;

use crate::cli::{RunArgs, WatchArgs};
use crate::commands::runner::{collect_photos, run_all, Photo, PhotoResult, Runner, Summary};
use crate::commands::{events, local, models, Exit};
use crate::output;

/// The local analysers, shared by the three detect steps.
pub type Analyzer = Arc<LocalAnalyzer<ReaderSource<FolderObjects>>>;
/// The runner `spotlight run` uses.
pub type LocalRunner = Runner<Analyzer, Analyzer, Analyzer>;

/// The record step's settings: the policy from `SPOTLIGHT_POLICY` (a JSON file), else the one
/// `spotlight policy apply` saved in the store, else the shipped one; the themes from
/// `SPOTLIGHT_THEMES`, else those saved in the store, else the shipped ones.
fn record_config(store: &SqliteStore) -> anyhow::Result<RecordConfig> {
    let policy = local::policy_text(None, Some(store))?.map(|(text, _)| text);
    let mut config = RecordConfig::from_settings(policy.as_deref(), None)?;
    let themes = std::env::var_os("SPOTLIGHT_THEMES").map(PathBuf::from);
    config.themes = local::load_themes(themes.as_deref(), Some(store))?;
    Ok(config)
}

/// The pipeline over the local adapters: a folder, the ONNX analysers, the SQLite store.
pub fn local_runner(store: Arc<SqliteStore>, offline: bool) -> anyhow::Result<Arc<LocalRunner>> {
    let webhook = events::Webhook::from_env()?;
    let cache = models::ensure(offline)?;
    let record = record_config(&store)?;
    let loaded = Arc::new(LocalModels::load(
        LocalConfig {
            cache,
            ..LocalConfig::from_env()?
        }
        .reporting_for(&record.policy),
    )?);
    let analyses_at_once = loaded.config().analyses_at_once;
    let analyzer = Arc::new(LocalAnalyzer::new(
        loaded,
        ReaderSource(FolderObjects::new()),
    ));
    let pipeline = Pipeline::new(Steps {
        objects: FolderObjects::new(),
        labels: Arc::clone(&analyzer),
        moderation: Arc::clone(&analyzer),
        text: analyzer,
        store: Arc::clone(&store),
        limits: Limits::default(),
        record,
    })?
    .analyses_at_once(analyses_at_once)
    .event_bus(Arc::new(events::LocalBus::new(Arc::clone(&store), webhook)));
    Ok(Arc::new(Runner { pipeline, store }))
}

fn result_line(result: &PhotoResult) -> String {
    let status = result.status.map_or("FAILED", |s| s.as_str());
    let detail = match &result.error {
        Some(error) => error.clone(),
        None => {
            let verdict = if result.safe { "safe" } else { "not safe" };
            let top: Vec<&str> = result.labels.iter().take(3).map(String::as_str).collect();
            format!("{verdict}\t{}", top.join(", "))
        }
    };
    format!("{}\t{status}\t{detail}", result.path)
}

/// `spotlight run`.
pub fn execute_run(args: RunArgs, store_path: PathBuf) -> anyhow::Result<Exit> {
    anyhow::ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    let photos = collect_photos(&args.paths, &store_path)?;
    let store = local::open_store(&store_path)?;
    let buckets: BTreeSet<&String> = photos.iter().map(|p| &p.bucket).collect();
    for bucket in buckets {
        if let Err(error) = store.remember_folder(bucket) {
            return Err(not_written(error.into(), &store, &photos));
        }
    }
    let runner = local_runner(Arc::clone(&store), args.offline)?;
    let show_progress = !args.quiet && !args.json && std::io::stderr().is_terminal();
    let bar = ProgressBar::with_draw_target(
        Some(photos.len() as u64),
        if show_progress {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} photos, {elapsed} elapsed, {eta} left {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let all = photos.clone();
    let results = local::runtime()?.block_on(run_all(
        &runner,
        photos,
        args.concurrency,
        |photo, result| {
            // A full disk (or a store gone read-only, or failing) fails every photo after it
            // the same way: stop, and say what was not written.
            if let Some(kind) = store.fault() {
                return Err(anyhow::Error::new(StoreFault {
                    kind,
                    store: store_path.clone(),
                    source: None,
                }));
            }
            bar.inc(1);
            bar.set_message(photo.key.clone());
            if args.json {
                output::print(&format!("{}\n", serde_json::to_string(result)?))?;
            } else if !args.quiet {
                bar.suspend(|| output::print(&format!("{}\n", result_line(result))))?;
            }
            Ok(())
        },
    ));
    bar.finish_and_clear();
    let results = match results {
        Ok(results) => results,
        Err(error) => return Err(not_written(error, &store, &all)),
    };
    let mut summary = Summary::default();
    for result in &results {
        summary.add(result);
    }
    if !args.quiet {
        eprint!("{}", summary.describe(started.elapsed().as_secs_f64()));
    }
    Ok(if summary.failed > 0 {
        Exit::Failure
    } else {
        Exit::Success
    })
}

/// When `run` stopped on a fault of the store (a full disk…): the fault, naming the store and the
/// photos that have no record of their current file, each listed on standard error. Any other
/// error is returned as it is.
fn not_written(error: anyhow::Error, store: &SqliteStore, photos: &[Photo]) -> anyhow::Error {
    let Some(fault) = error
        .chain()
        .find_map(|e| e.downcast_ref::<StoreFault>())
        .map(|f| f.to_string())
    else {
        return error;
    };
    // Reading still works on a full disk: ask the store what it holds.
    let mut missing = Vec::new();
    for photo in photos {
        let event_time = std::fs::metadata(&photo.path)
            .and_then(|m| m.modified())
            .ok()
            .map(chrono::DateTime::<chrono::Utc>::from);
        let written = match store.record(&photo.bucket, &photo.key) {
            Ok(Some(record)) => {
                spotlight_core::revision::upload_revision(&record.revision)
                    == revision(None, event_time)
                    && record.error.as_ref().map(|e| e.error.as_str())
                        != Some(ErrorName::StoreFailed.as_str())
            }
            Ok(None) | Err(_) => false,
        };
        if !written {
            eprintln!("not written: {}", photo.path.display());
            missing.push(photo);
        }
    }
    anyhow::anyhow!(
        "{fault}\n{} of {} photos were not written (listed above); a run on the same photos \
         once the store can be written does the rest",
        missing.len(),
        photos.len()
    )
}

/// A file's size and modification time: what changes while it is being written.
type Stamp = (u64, Option<SystemTime>);

/// Tells when a file in the inbox is whole: its [`Stamp`] has held still for `settle`, timed on
/// our own clock rather than by comparing its mtime with now, so a coarse mtime (one second on
/// HFS+, two on FAT) or a skewed clock on a network share cannot make a file look settled early.
/// Polling works the same on Linux and macOS and on network folders; inotify's close-write is
/// Linux-only, never fires for writes made by another machine on a share, and a copier may close
/// and reopen a file part-way.
#[derive(Debug)]
struct Settling {
    settle: Duration,
    /// Each file's stamp at the last look and since when it has held.
    since: HashMap<PathBuf, (Stamp, Instant)>,
}

impl Settling {
    fn new(settle: Duration) -> Self {
        Settling {
            settle,
            since: HashMap::new(),
        }
    }

    /// One look at the inbox, at `now`: the files there and their stamps. Returns those whose
    /// stamp has held for `settle`; a file that is gone is forgotten.
    fn look(&mut self, now: Instant, files: Vec<(PathBuf, Stamp)>) -> Vec<(PathBuf, Stamp)> {
        let mut since = HashMap::with_capacity(files.len());
        let mut settled = Vec::new();
        for (path, stamp) in files {
            let held_since = match self.since.get(&path) {
                Some((before, at)) if *before == stamp => *at,
                _ => now,
            };
            if now.saturating_duration_since(held_since) >= self.settle {
                settled.push((path.clone(), stamp));
            }
            since.insert(path, (stamp, held_since));
        }
        self.since = since;
        settled
    }
}

/// `spotlight watch`: polls the inbox and runs each file once its size and modification time
/// have held still for the settle time (`--settle`), and again whenever they change.
pub fn execute_watch(args: WatchArgs, store_path: PathBuf) -> anyhow::Result<Exit> {
    std::fs::create_dir_all(&args.inbox)
        .with_context(|| format!("cannot create {}", args.inbox.display()))?;
    let inbox = std::fs::canonicalize(&args.inbox)?;
    let store = local::open_store(&store_path)?;
    store.remember_folder(&inbox.to_string_lossy())?;
    let runner_store = Arc::clone(&store);
    let runner = local_runner(store, args.offline)?;
    eprintln!(
        "watching {} (a file is run once it has held still for {} ms; Ctrl-C to stop)",
        inbox.display(),
        args.settle
    );
    let thumbnails = crate::commands::serve::default_thumbnails();
    local::runtime()?.block_on(async {
        let mut settling = Settling::new(Duration::from_millis(args.settle));
        let mut done: HashMap<PathBuf, Stamp> = HashMap::new();
        // What each file run was recorded as, so that its takedown names it once it is gone.
        let mut recorded: HashMap<PathBuf, (String, String)> = HashMap::new();
        loop {
            let photos: Vec<Photo> = collect_photos(std::slice::from_ref(&inbox), &store_path)?;
            let present: std::collections::HashSet<PathBuf> =
                photos.iter().map(|photo| photo.path.clone()).collect();
            let mut stamps = Vec::with_capacity(photos.len());
            let mut by_path = HashMap::with_capacity(photos.len());
            for photo in photos {
                // A link that loops or leads nowhere has no metadata of its own target: its
                // own stamp lets it settle and get its one REJECTED record.
                let stamp = std::fs::metadata(&photo.path)
                    .or_else(|_| std::fs::symlink_metadata(&photo.path))
                    .map(|m| (m.len(), m.modified().ok()))
                    .ok();
                let Some(stamp) = stamp else { continue };
                stamps.push((photo.path.clone(), stamp));
                by_path.insert(photo.path.clone(), photo);
            }
            for (path, stamp) in settling.look(Instant::now(), stamps) {
                if done.get(&path) == Some(&stamp) {
                    continue;
                }
                let Some(photo) = by_path.remove(&path) else {
                    continue;
                };
                let result = runner.run_photo(&photo).await?;
                let line = if args.json {
                    serde_json::to_string(&result)?
                } else {
                    result_line(&result)
                };
                output::print(&format!("{line}\n"))?;
                recorded.insert(path.clone(), (photo.bucket, photo.key));
                done.insert(path, stamp);
            }
            // A file run before and gone now was deleted: take its photo down, as S3's
            // `Object Deleted` does on AWS. Its tombstone is the time it was noticed gone, so
            // an analysis of it as it was loses and a file put back later is a new upload.
            let gone: Vec<PathBuf> = recorded
                .keys()
                .filter(|path| !present.contains(*path))
                .cloned()
                .collect();
            for path in gone {
                done.remove(&path);
                let Some((bucket, key)) = recorded.remove(&path) else {
                    continue;
                };
                let takedown = crate::commands::delete::take_down(
                    &runner_store,
                    &thumbnails,
                    &bucket,
                    &key,
                    chrono::Utc::now(),
                )?;
                let line = if args.json {
                    serde_json::to_string(&takedown)?
                } else {
                    crate::commands::delete::describe(&takedown)
                };
                output::print(&format!("{line}\n"))?;
            }
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return anyhow::Ok(()),
                () = tokio::time::sleep(Duration::from_millis(args.interval)) => {}
            }
        }
    })?;
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(len: u64, secs: u64) -> Stamp {
        (
            len,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)),
        )
    }

    fn paths(settled: Vec<(PathBuf, Stamp)>) -> Vec<PathBuf> {
        settled.into_iter().map(|(p, _)| p).collect()
    }

    #[test]
    fn a_file_is_settled_once_its_stamp_has_held_for_the_settle_time() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let photo = PathBuf::from("/inbox/a.jpg");
        let mut settling = Settling::new(Duration::from_millis(1000));
        // Written in chunks with pauses longer than a look: each change restarts the wait.
        assert!(settling
            .look(at(0), vec![(photo.clone(), stamp(100, 1))])
            .is_empty());
        assert!(settling
            .look(at(600), vec![(photo.clone(), stamp(100, 1))])
            .is_empty());
        assert!(settling
            .look(at(900), vec![(photo.clone(), stamp(200, 1))])
            .is_empty());
        assert!(settling
            .look(at(1800), vec![(photo.clone(), stamp(200, 1))])
            .is_empty());
        assert_eq!(
            paths(settling.look(at(1900), vec![(photo.clone(), stamp(200, 1))])),
            vec![photo.clone()]
        );
        // Rewritten in place with the same length: the new mtime restarts the wait.
        assert!(settling
            .look(at(2000), vec![(photo.clone(), stamp(200, 2))])
            .is_empty());
        assert_eq!(
            paths(settling.look(at(3000), vec![(photo.clone(), stamp(200, 2))])),
            [photo]
        );
    }

    #[test]
    fn the_settle_time_is_what_was_asked_for_and_a_file_gone_is_forgotten() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let photo = PathBuf::from("/inbox/a.jpg");
        // No settle time: taken at first sight.
        let mut eager = Settling::new(Duration::ZERO);
        assert_eq!(
            paths(eager.look(at(0), vec![(photo.clone(), stamp(1, 1))])),
            vec![photo.clone()]
        );
        let mut short = Settling::new(Duration::from_millis(200));
        let mut long = Settling::new(Duration::from_millis(5000));
        for settling in [&mut short, &mut long] {
            settling.look(at(0), vec![(photo.clone(), stamp(1, 1))]);
        }
        assert_eq!(
            paths(short.look(at(300), vec![(photo.clone(), stamp(1, 1))])),
            vec![photo.clone()]
        );
        assert!(long
            .look(at(300), vec![(photo.clone(), stamp(1, 1))])
            .is_empty());
        // Gone at one look, back at the next with the same stamp: it waits again.
        assert!(long.look(at(6000), Vec::new()).is_empty());
        assert!(long
            .look(at(6100), vec![(photo.clone(), stamp(1, 1))])
            .is_empty());
        assert_eq!(
            paths(long.look(at(11_100), vec![(photo.clone(), stamp(1, 1))])),
            [photo]
        );
    }
}
