//! `spotlight bench --store-writes N`: the SQLite store's write throughput with N writers at
//! once, each with its own connection, as each `spotlight` process has (threads here; SQLite
//! locks the file between connections alike). The pipeline runs once on the given photos for
//! real records and histories; each writer then writes copies under keys of its own as the
//! pipeline does for one photo: the execution saved `RUNNING`, the record (one `IMMEDIATE`
//! transaction with its label and word index rows), the execution ended with its history.

use std::sync::{Arc, Barrier};
use std::time::Instant;

use anyhow::Context as _;
use chrono::Duration;
use serde_json::{json, Value};
use spotlight_core::contracts::{ExecutionStatus, ImageRecord};
use spotlight_core::ports::RecordStore;
use spotlight_core::record_id;
use spotlight_core::revision::revision;
use spotlight_storage::{ExecutionSummary, SqliteStore};

use crate::cli::BenchArgs;
use crate::commands::bench::{percentiles, run_copies};
use crate::commands::{local, Exit};
use crate::output;

/// Photos each writer writes.
const PER_WRITER: usize = 300;

/// A record and its execution, as the pipeline left them.
type Template = (ImageRecord, ExecutionSummary, Option<Value>);

/// Writes [`PER_WRITER`] copies of `templates` as writer `writer`: the milliseconds each took.
fn write_copies(
    store: &SqliteStore,
    templates: &[Template],
    writer: usize,
    start: &Barrier,
) -> anyhow::Result<Vec<f64>> {
    start.wait();
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let mut samples = Vec::with_capacity(PER_WRITER);
    for index in 0..PER_WRITER {
        let (template, execution, history) = &templates[index % templates.len()];
        let mut record = template.clone();
        record.key = format!("w{writer:02}-{index:05}-{}", template.key);
        record.id = record_id(&record.bucket, &record.key);
        record.uploaded_at = template.uploaded_at - Duration::seconds(index as i64);
        record.revision = revision(None, Some(record.uploaded_at));
        record.execution.id = format!("{}-w{writer}-{index}", template.execution.id);
        if let Some(image) = record.image.as_mut() {
            image.key = record.key.clone();
            image.revision = record.revision.clone();
            image.uploaded_at = Some(record.uploaded_at);
        }
        let mut summary = ExecutionSummary {
            id: record.execution.id.clone(),
            key: record.key.clone(),
            record_id: record.id.clone(),
            status: ExecutionStatus::Running,
            stop_time: None,
            ..execution.clone()
        };
        let started = Instant::now();
        store.save_execution(&summary, None)?;
        runtime.block_on(store.put(&record))?;
        summary.status = execution.status;
        summary.stop_time = execution.stop_time;
        store.save_execution(&summary, history.as_ref())?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(samples)
}

/// Runs the store benchmark.
pub fn execute(args: &BenchArgs, writers: usize) -> anyhow::Result<Exit> {
    anyhow::ensure!(
        (1..=64).contains(&writers),
        "--store-writes must be 1–64, not {writers}"
    );
    let scratch = tempfile::tempdir().context("cannot make a scratch folder")?;
    let (store, results, _) = run_copies(args, scratch.path(), None)?;
    let runtime = local::runtime()?;
    let mut templates: Vec<Template> = Vec::new();
    for result in &results {
        let (Some(id), Some(record)) = (
            &result.execution_id,
            runtime.block_on(store.get(&result.bucket, &result.key))?,
        ) else {
            continue;
        };
        if let Some((execution, history)) = store.execution(id)? {
            templates.push((record, execution, history));
        }
    }
    anyhow::ensure!(
        !templates.is_empty(),
        "the pipeline wrote no record to copy"
    );
    let path = scratch.path().join("bench.sqlite");
    let templates = Arc::new(templates);
    let start = Arc::new(Barrier::new(writers + 1));
    let threads: Vec<_> = (0..writers)
        .map(|writer| {
            let (templates, start, path) =
                (Arc::clone(&templates), Arc::clone(&start), path.clone());
            std::thread::spawn(move || {
                let store = SqliteStore::open(&path);
                let store = match store {
                    Ok(store) => store,
                    Err(error) => {
                        // Let the others start anyway; this writer's error is reported.
                        start.wait();
                        return Err(anyhow::Error::new(error));
                    }
                };
                write_copies(&store, &templates, writer, &start)
            })
        })
        .collect();
    start.wait();
    let started = Instant::now();
    let mut samples = Vec::with_capacity(writers * PER_WRITER);
    for thread in threads {
        let written = thread
            .join()
            .map_err(|_| anyhow::anyhow!("a writer panicked"))?
            .context("a writer failed")?;
        samples.extend(written);
    }
    let seconds = started.elapsed().as_secs_f64();
    let records = samples.len();
    let report = json!({
        "writers": writers,
        "records": records,
        "seconds": seconds,
        "recordsPerSecond": records as f64 / seconds,
        "perRecordMs": percentiles(&mut samples),
    });
    if args.json {
        output::print(&format!("{report}\n"))?;
    } else {
        output::print(&format!(
            "{records} records (each with its execution, saved RUNNING then ended) by {writers} \
             writers at once in {seconds:.2} s: {:.0} records/s; per record p50 {} ms, p99 {} ms\n",
            records as f64 / seconds,
            report["perRecordMs"]["p50"],
            report["perRecordMs"]["p99"],
        ))?;
    }
    Ok(Exit::Success)
}
