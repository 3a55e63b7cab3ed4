//! Running photos through the local pipeline: what `run` and `watch` share.
//!
//! A photo is named like an S3 object: the bucket is the canonical path of the folder that was
//! given (a file's own folder for a file) and the key its path relative to that folder. Each
//! photo becomes one execution of the shipped state machine, started with `{bucket, key,
//! eventTime}` where the event time is the file's modification time — so a photo that has not
//! changed since its record was written is skipped (nothing is done twice), a changed one is
//! analysed again, and a run that was interrupted finishes the rest when started again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use spotlight_core::contracts::{ExecutionStatus, RecordStatus, Reprocess};
use spotlight_core::ports::{LabelDetector, ModerationDetector, RecordStore, TextDetector};
use spotlight_core::revision::revision;
use spotlight_pipeline::Pipeline;
use spotlight_states::{RunOptions, Status};
use spotlight_storage::{ExecutionSummary, FolderObjects, SqliteStore};

/// One photo to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Photo {
    /// The folder's canonical path.
    pub bucket: String,
    /// The path relative to it.
    pub key: String,
    /// The file's path as the user would know it.
    pub path: PathBuf,
}

/// The photos under the given files and folders, in a stable order. Hidden files and folders
/// (a leading `.`) are skipped, as is the store itself if it sits among the photos.
pub fn collect_photos(paths: &[PathBuf], store: &Path) -> anyhow::Result<Vec<Photo>> {
    let store = std::fs::canonicalize(store).ok();
    let mut photos = Vec::new();
    for path in paths {
        let canonical = std::fs::canonicalize(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if canonical.is_dir() {
            let mut files = Vec::new();
            walk(&canonical, &mut files)
                .with_context(|| format!("cannot list {}", path.display()))?;
            files.sort();
            for file in files {
                let key = file
                    .strip_prefix(&canonical)
                    .unwrap_or(&file)
                    .to_string_lossy()
                    .into_owned();
                photos.push(Photo {
                    bucket: canonical.to_string_lossy().into_owned(),
                    key,
                    path: file,
                });
            }
        } else {
            let parent = canonical
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            let key = canonical
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            photos.push(Photo {
                bucket: parent.to_string_lossy().into_owned(),
                key,
                path: canonical,
            });
        }
    }
    photos.retain(|p| Some(&p.path) != store.as_ref() && !is_store_sidecar(&p.path));
    photos.dedup();
    Ok(photos)
}

fn is_store_sidecar(path: &Path) -> bool {
    let name = path.to_string_lossy();
    name.ends_with(".sqlite-wal") || name.ends_with(".sqlite-shm")
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        // The entry's own type: a link is never followed into a folder, so a link to a parent
        // cannot loop the walk. Everything else is a photo to the pipeline, as every key is an
        // object on S3: a link to a file (read only if it stays inside the folder), and a FIFO,
        // a socket or a looping link, which validation refuses, saying what it is, without
        // opening it.
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            walk(&path, files)?;
        } else if !(kind.is_symlink() && std::fs::metadata(&path).is_ok_and(|m| m.is_dir())) {
            files.push(path);
        }
    }
    Ok(())
}

/// How one photo went.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhotoResult {
    /// The file.
    pub path: String,
    /// Its folder.
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// The record's status.
    pub status: Option<RecordStatus>,
    /// Whether it may be featured.
    pub safe: bool,
    /// `WRITTEN`, `DUPLICATE`, `STALE`, or `UNCHANGED` when no execution was needed.
    pub write: String,
    /// The execution, when one ran.
    pub execution_id: Option<String>,
    /// How the execution ended.
    pub execution_status: Option<ExecutionStatus>,
    /// The error of a rejected or failed photo.
    pub error: Option<String>,
    /// Its labels, best first.
    pub labels: Vec<String>,
    /// Milliseconds the execution took.
    pub millis: u128,
}

/// Runs photos through a pipeline, records their executions in the store.
pub struct Runner<L, M, T> {
    /// The pipeline.
    pub pipeline: Pipeline<FolderObjects, L, M, T, Arc<SqliteStore>>,
    /// The store (the same one the pipeline writes).
    pub store: Arc<SqliteStore>,
}

fn modified(path: &Path) -> Option<DateTime<Utc>> {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .map(DateTime::from)
}

impl<L, M, T> Runner<L, M, T>
where
    L: LabelDetector + 'static,
    M: ModerationDetector + 'static,
    T: TextDetector + 'static,
{
    /// Runs one photo, unless its record already describes this very file.
    pub async fn run_photo(&self, photo: &Photo) -> anyhow::Result<PhotoResult> {
        self.run_photo_as(photo, None).await
    }

    /// Runs one photo; with `reprocess`, always, as a reprocess execution (issue 14: the
    /// input carries `reprocess`, the state machine runs only the analysers it names and the
    /// record step keeps the others' stored results).
    pub async fn run_photo_as(
        &self,
        photo: &Photo,
        reprocess: Option<&Reprocess>,
    ) -> anyhow::Result<PhotoResult> {
        let event_time = modified(&photo.path);
        let mut result = PhotoResult {
            path: photo.path.to_string_lossy().into_owned(),
            bucket: photo.bucket.clone(),
            key: photo.key.clone(),
            status: None,
            safe: false,
            write: "UNCHANGED".to_owned(),
            execution_id: None,
            execution_status: None,
            error: None,
            labels: Vec::new(),
            millis: 0,
        };
        let existing = self.store.get(&photo.bucket, &photo.key).await?;
        let unchanged = existing.as_ref().filter(|record| {
            // A reprocessed record still describes the upload it reprocessed.
            spotlight_core::revision::upload_revision(&record.revision)
                == revision(None, event_time)
                && record.status != RecordStatus::Failed
        });
        if let Some(record) = unchanged.filter(|_| reprocess.is_none()) {
            result.status = Some(record.status);
            result.safe = record.safe;
            result.error = record.error.as_ref().map(|e| e.error.clone());
            result.labels = record.labels.iter().map(|l| l.name.clone()).collect();
            return Ok(result);
        }

        let started = Instant::now();
        let mut input = serde_json::json!({
            "bucket": photo.bucket,
            "key": photo.key,
            "eventTime": event_time.map(|t| t.to_rfc3339()),
        });
        if let Some(reprocess) = reprocess {
            input["reprocess"] = serde_json::to_value(reprocess)?;
        }
        let name = uuid::Uuid::new_v4().to_string();
        let defaults = RunOptions::default();
        // The ARN the engine gives an execution of this name (`spotlight_states`' format).
        let arn = format!(
            "arn:aws:states:local:{}:execution:{}:{name}",
            defaults.account_id,
            spotlight_pipeline::STATE_MACHINE_NAME
        );
        let mut execution = ExecutionSummary {
            id: arn,
            bucket: photo.bucket.clone(),
            key: photo.key.clone(),
            record_id: spotlight_core::record_id(&photo.bucket, &photo.key),
            status: ExecutionStatus::Running,
            start_time: Utc::now(),
            stop_time: None,
            input: input.clone(),
            output: None,
            error: None,
            cause: None,
            redrive_count: 0,
        };
        // Kept before it runs, so that it is not lost if this process dies first: the next
        // process to open the store marks it ABORTED.
        self.store.save_execution(&execution, None)?;
        let options = RunOptions {
            history: true,
            execution_name: Some(name),
            ..defaults
        };
        let outcome = match self.pipeline.run(input, options).await {
            Ok(outcome) => outcome,
            Err(error) => {
                // An engine bug, not the photo's: the execution ends here, saying so.
                execution.status = ExecutionStatus::Failed;
                execution.stop_time = Some(Utc::now());
                execution.error = Some("States.Runtime".to_owned());
                execution.cause = Some(format!("{error:#}"));
                self.store.save_execution(&execution, None)?;
                return Err(anyhow::Error::new(error).context("the engine failed"));
            }
        };
        if outcome.execution_arn != execution.id {
            tracing::warn!(
                kept = %execution.id,
                engine = %outcome.execution_arn,
                "the engine named the execution differently from the one kept as RUNNING"
            );
        }
        let status = match outcome.status {
            Status::Succeeded => ExecutionStatus::Succeeded,
            Status::Failed => ExecutionStatus::Failed,
            Status::TimedOut => ExecutionStatus::TimedOut,
        };
        let history = outcome
            .history
            .as_ref()
            .map(serde_json::to_value)
            .transpose()?;
        execution.status = status;
        execution.stop_time = Some(Utc::now());
        execution.output = outcome.output.clone();
        execution.error = outcome.error.clone();
        execution.cause = outcome.cause.clone();
        self.store.save_execution(&execution, history.as_ref())?;
        result.millis = started.elapsed().as_millis();
        result.execution_id = Some(outcome.execution_arn.clone());
        result.execution_status = Some(status);
        result.write = outcome
            .output
            .as_ref()
            .and_then(|o| o["record"]["record"]["write"].as_str())
            .unwrap_or("FAILED")
            .to_owned();
        if let Some(record) = self.store.get(&photo.bucket, &photo.key).await? {
            result.status = Some(record.status);
            result.safe = record.safe;
            result.error = record.error.as_ref().map(|e| e.error.clone());
            result.labels = record.labels.iter().map(|l| l.name.clone()).collect();
        }
        if result.error.is_none() {
            result.error = outcome.error;
        }
        Ok(result)
    }
}

/// Runs `photos` through `runner`, `concurrency` at once, calling `each` as each one ends (in
/// the order they end); stops at the first photo that could not be run at all.
pub async fn run_all<L, M, T>(
    runner: &Arc<Runner<L, M, T>>,
    photos: Vec<Photo>,
    concurrency: usize,
    mut each: impl FnMut(&Photo, &PhotoResult) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<PhotoResult>>
where
    L: LabelDetector + 'static,
    M: ModerationDetector + 'static,
    T: TextDetector + 'static,
{
    let permits = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for photo in photos {
        let (runner, permits) = (Arc::clone(runner), Arc::clone(&permits));
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let result = runner.run_photo(&photo).await;
            (photo, result)
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (photo, result) = joined.context("a photo's task panicked")?;
        let result = result.with_context(|| format!("running {}", photo.path.display()))?;
        each(&photo, &result)?;
        results.push(result);
    }
    Ok(results)
}

/// What a run did, for its summary.
#[derive(Debug, Default)]
pub struct Summary {
    /// Photos analysed.
    pub analysed: usize,
    /// Photos rejected.
    pub rejected: usize,
    /// Photos whose analysis failed.
    pub failed: usize,
    /// Photos whose record was already up to date.
    pub unchanged: usize,
    /// Analysed photos that may be featured.
    pub safe: usize,
    /// How often each label was seen.
    pub labels: BTreeMap<String, usize>,
}

impl Summary {
    /// Counts one photo.
    pub fn add(&mut self, result: &PhotoResult) {
        if result.write == "UNCHANGED" {
            self.unchanged += 1;
        }
        match result.status {
            Some(RecordStatus::Analyzed) => self.analysed += 1,
            Some(RecordStatus::Rejected) => self.rejected += 1,
            Some(RecordStatus::Failed) | None => self.failed += 1,
        }
        if result.safe {
            self.safe += 1;
        }
        for label in result.labels.iter().take(5) {
            *self.labels.entry(label.clone()).or_default() += 1;
        }
    }

    /// The summary for people.
    pub fn describe(&self, seconds: f64) -> String {
        let total = self.analysed + self.rejected + self.failed;
        let mut top: Vec<(&String, &usize)> = self.labels.iter().collect();
        top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let top: Vec<String> = top
            .iter()
            .take(8)
            .map(|(l, n)| format!("{l} ({n})"))
            .collect();
        format!(
            "{total} photos in {seconds:.1} s: {} analysed ({} safe), {} rejected, {} failed; {} unchanged since the last run\ntop labels: {}\n",
            self.analysed,
            self.safe,
            self.rejected,
            self.failed,
            self.unchanged,
            if top.is_empty() { "none".to_owned() } else { top.join(", ") }
        )
    }
}
