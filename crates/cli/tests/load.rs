//! The console under load: the real `spotlight serve` process over a store of 10,000 records
//! (seeded through the store API), hit over loopback by many keep-alive clients at once across
//! the gallery, photo, thumbnail, execution and API routes, then by a burst of first-time
//! thumbnails. Every answer must come whole and none may be a 5xx; latencies, throughput and
//! the server's peak memory and threads are printed, never asserted as times. Memory and
//! threads are asserted bounded.
//!
//! Knobs (defaults keep the run to about half a minute on 2 cores):
//! `SPOTLIGHT_LOAD_CLIENTS` (50), `SPOTLIGHT_LOAD_SECONDS` per burst (5),
//! `SPOTLIGHT_LOAD_RECORDS` (10000), `SPOTLIGHT_LOAD_THUMBNAILS` (1000).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeZone as _;
use spotlight_core::contracts::{ModerationLabel, RecordStatus, TextLine};
use spotlight_core::fakes::{label, Answer, FakeDetector};
use spotlight_core::ports::RecordStore;
use spotlight_core::store_suite::suite_record;
use spotlight_pipeline::{Pipeline, Steps};
use spotlight_record::RecordConfig;
use spotlight_states::RunOptions;
use spotlight_storage::{ExecutionSummary, FolderObjects, SqliteStore};
use spotlight_testkit::load::{
    hammer, process_cpu, process_status, HttpClient, Route, RouteReport,
};
use spotlight_testkit::Console;
use spotlight_validate::Limits;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Distinct photos; the records' files are hard links to them, so every record has a file of
/// its own (and a thumbnail of its own to draw) for the price of a directory entry.
const DISTINCT_PHOTOS: usize = 12;
/// Records whose execution (with its history) is kept, for the execution pages.
const EXECUTIONS: usize = 200;

struct Seeded {
    ids: Vec<String>,
    executions: Vec<String>,
}

/// `records` records in the store at `store`, each with its photo in `photos`; the first
/// [`EXECUTIONS`] with an execution and its history, copied from one real pipeline run.
fn seed(store_path: &Path, photos: &Path, records: usize) -> Seeded {
    std::fs::create_dir_all(photos).unwrap();
    let bucket = std::fs::canonicalize(photos)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let store = Arc::new(SqliteStore::open(store_path).unwrap());
    store.remember_folder(&bucket).unwrap();
    for n in 0..DISTINCT_PHOTOS {
        // Small: drawing cost is not what this test is about, and 1,000 draws must fit in CI.
        let (width, height) = (160 + 16 * n as u32, 120 + 12 * n as u32);
        std::fs::write(
            photos.join(format!("base-{n}.jpg")),
            spotlight_fixtures::jpeg(width, height),
        )
        .unwrap();
    }

    // One real execution, for a history the execution page can draw.
    let pipeline = Pipeline::new(Steps {
        objects: FolderObjects::new(),
        labels: FakeDetector::new(Answer::Found(vec![label(
            "Golden Retriever",
            95.0,
            &["Dog", "Animal"],
        )])),
        moderation: FakeDetector::<Vec<ModerationLabel>>::new(Answer::Found(Vec::new())),
        text: FakeDetector::<Vec<TextLine>>::new(Answer::Found(Vec::new())),
        store: Arc::clone(&store),
        limits: Limits::default(),
        record: RecordConfig::default(),
    })
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let input = serde_json::json!({"bucket": bucket, "key": "base-0.jpg"});
    let run = runtime
        .block_on(pipeline.run(
            input.clone(),
            RunOptions {
                history: true,
                ..RunOptions::default()
            },
        ))
        .unwrap();
    let history = serde_json::to_value(run.history.as_ref().unwrap()).unwrap();

    let labels: [(&str, &[&str]); 4] = [
        ("Golden Retriever", &["Dog", "Animal"]),
        ("Sea", &["Water", "Outdoors"]),
        ("Harbour", &["Waterfront", "Outdoors"]),
        ("Concert", &["Crowd", "Person"]),
    ];
    let start = chrono::Utc.timestamp_opt(1_750_000_000, 0).unwrap();
    let mut seeded = Seeded {
        ids: Vec::with_capacity(records),
        executions: Vec::new(),
    };
    for index in 0..records {
        let key = format!("p-{index:05}.jpg");
        std::fs::hard_link(
            photos.join(format!("base-{}.jpg", index % DISTINCT_PHOTOS)),
            photos.join(&key),
        )
        .unwrap();
        let (name, parents) = labels[index % labels.len()];
        let status = if index % 50 == 49 {
            RecordStatus::Rejected
        } else {
            RecordStatus::Analyzed
        };
        let mut record = suite_record(
            &key,
            index as i64,
            index as u64 + 1,
            status,
            index % 10 != 9,
            vec![label(name, 60.0 + (index % 40) as f32, parents)],
            if index % 3 == 0 { "harbour view" } else { "" },
        );
        record.bucket = bucket.clone();
        record.id = spotlight_core::record_id(&bucket, &key);
        if let Some(image) = record.image.as_mut() {
            image.bucket = bucket.clone();
        }
        record.execution.id = format!("{}-load-{index}", run.execution_arn);
        runtime.block_on(store.put(&record)).unwrap();
        if index < EXECUTIONS {
            store
                .save_execution(
                    &ExecutionSummary {
                        id: record.execution.id.clone(),
                        bucket: bucket.clone(),
                        key: key.clone(),
                        record_id: record.id.clone(),
                        status: spotlight_core::contracts::ExecutionStatus::Succeeded,
                        start_time: start + chrono::Duration::seconds(index as i64),
                        stop_time: Some(start + chrono::Duration::seconds(index as i64 + 1)),
                        input: input.clone(),
                        output: run.output.clone(),
                        error: None,
                        cause: None,
                        redrive_count: 0,
                    },
                    Some(&history),
                )
                .unwrap();
            seeded.executions.push(record.execution.id.clone());
        }
        seeded.ids.push(record.id);
    }
    seeded
}

/// Path segments as the console's links write them.
fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A photo that the load bursts draw, safe (so no review mode is needed).
fn safe(index: usize) -> bool {
    index % 10 != 9
}

fn routes(seeded: &Seeded, thumbnails: std::ops::Range<usize>) -> Vec<Route> {
    let route = |name: &str, paths: Vec<String>| Route {
        name: name.to_owned(),
        paths,
    };
    let some = |step: usize| {
        (0..seeded.ids.len())
            .step_by(step)
            .filter(|&i| safe(i))
            .map(|i| segment(&seeded.ids[i]))
            .collect::<Vec<_>>()
    };
    let pages = some(seeded.ids.len().div_ceil(300).max(1));
    vec![
        route(
            "gallery",
            ["/", "/?label=Dog", "/?theme=animals", "/?text=harbour"]
                .map(str::to_owned)
                .to_vec(),
        ),
        route(
            "photo page",
            pages.iter().map(|id| format!("/records/{id}")).collect(),
        ),
        route(
            "thumbnail",
            thumbnails
                .filter(|&i| safe(i))
                .map(|i| format!("/records/{}/thumbnail", segment(&seeded.ids[i])))
                .collect(),
        ),
        route("executions", vec!["/executions".to_owned()]),
        route(
            "execution page",
            seeded
                .executions
                .iter()
                .take(50)
                .map(|id| format!("/executions/{}", segment(id)))
                .collect(),
        ),
        route(
            "api records",
            vec![
                "/api/records?label=Dog".to_owned(),
                "/api/records?status=REJECTED&includeUnsafe=true".to_owned(),
            ],
        ),
        route(
            "api record",
            pages
                .iter()
                .map(|id| format!("/api/records/{id}"))
                .collect(),
        ),
        route(
            "api executions",
            vec![
                "/api/executions".to_owned(),
                "/api/executions?limit=20".to_owned(),
            ],
        ),
    ]
}

/// Prints a burst's figures and checks that every answer came whole and none was a 5xx.
fn check(burst: &str, seconds: f64, reports: &BTreeMap<String, RouteReport>) {
    let total: usize = reports.values().map(|r| r.millis.len()).sum();
    eprintln!(
        "{burst}: {total} requests in {seconds:.1} s ({:.0}/s)\n  {:<16}{:>8}{:>9}{:>9}{:>12}  statuses",
        total as f64 / seconds,
        "route",
        "answers",
        "p50 ms",
        "p99 ms",
        "bytes"
    );
    for (name, report) in reports {
        eprintln!(
            "  {name:<16}{:>8}{:>9.1}{:>9.1}{:>12}  {:?}",
            report.millis.len(),
            report.quantile(0.5),
            report.quantile(0.99),
            report.bytes,
            report.statuses
        );
    }
    for (name, report) in reports {
        assert!(
            report.failures.is_empty(),
            "{burst}, {name}: {} requests got no whole answer, e.g. {}",
            report.failures.len(),
            report.failures[0]
        );
        assert!(
            report.statuses.keys().all(|&status| status < 500),
            "{burst}, {name}: {:?}",
            report.statuses
        );
        assert!(
            report.statuses.get(&200).copied().unwrap_or_default() > 0,
            "{burst}, {name}: never answered 200: {:?}",
            report.statuses
        );
    }
}

/// Samples the server's `/proc` status until told to stop: the most threads it had.
fn watch_threads(
    pid: u32,
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            if let Some((_, threads)) = process_status(pid) {
                peak.fetch_max(threads, Ordering::Relaxed);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

#[test]
fn the_console_holds_up_under_many_clients_and_a_thumbnail_burst() {
    let clients = knob("SPOTLIGHT_LOAD_CLIENTS", 50);
    let seconds = knob("SPOTLIGHT_LOAD_SECONDS", 5) as u64;
    let records = knob("SPOTLIGHT_LOAD_RECORDS", 10_000).max(400);
    let burst = knob("SPOTLIGHT_LOAD_THUMBNAILS", 1000);

    // On tmpfs when there is one: the test is about the console, and 10,000 writes that each
    // wait for the disk would cost half a minute before it starts.
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap_or_else(|_| tempfile::tempdir().unwrap())
    } else {
        tempfile::tempdir().unwrap()
    };
    let store = dir.path().join("store.sqlite");
    let seeding = Instant::now();
    let seeded = seed(&store, &dir.path().join("photos"), records);
    eprintln!(
        "seeded {records} records and {EXECUTIONS} executions in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    let thumbnails = dir.path().join("thumbnails");
    let console = Console::serve(
        Path::new(env!("CARGO_BIN_EXE_spotlight")),
        &store,
        &["--thumbnails", thumbnails.to_str().unwrap(), "--offline"],
    );
    let pid = console.pid();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = HttpClient::new(&console.base);
    // The first two bursts draw thumbnails from the newest records; the third burst asks for
    // the oldest, never drawn.
    let routes = routes(&seeded, 0..300);

    let mut peaks = Vec::new();
    for round in ["first burst", "second burst"] {
        let started = Instant::now();
        let reports = runtime.block_on(hammer(
            &client,
            &routes,
            clients,
            Duration::from_secs(seconds),
        ));
        check(
            &format!("{round} ({clients} clients)"),
            started.elapsed().as_secs_f64(),
            &reports,
        );
        let (peak_kib, threads) = process_status(pid).expect("the console is running");
        eprintln!(
            "  server peak RSS (VmHWM) {:.0} MiB, {threads} threads",
            peak_kib as f64 / 1024.0
        );
        peaks.push(peak_kib);
    }
    // The second, equal burst finds the memory the first one used (an unbounded cache or
    // queue would keep growing); the ceiling is generous: the store is a few tens of MiB.
    assert!(
        peaks[1] <= peaks[0] + peaks[0] / 2 + 32 * 1024,
        "peak memory grew from {} KiB to {} KiB between two equal bursts",
        peaks[0],
        peaks[1]
    );
    assert!(peaks[1] < 1024 * 1024, "peak memory {} KiB", peaks[1]);

    // A burst of first-time thumbnails: more askers than the drawing queue holds. Those told
    // to come back (503 + Retry-After) do, until every photo is drawn.
    let oldest: Vec<String> = (300..records)
        .rev()
        .filter(|&i| safe(i))
        .take(burst)
        .map(|i| format!("/records/{}/thumbnail", segment(&seeded.ids[i])))
        .collect();
    let askers = 200;
    let (stop, peak_threads) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let watcher = watch_threads(pid, Arc::clone(&stop), Arc::clone(&peak_threads));
    let next = Arc::new(AtomicUsize::new(0));
    let told_to_wait = Arc::new(AtomicUsize::new(0));
    let oldest = Arc::new(oldest);
    let started = Instant::now();
    let cpu_before = process_cpu(pid).unwrap_or_default();
    let outcomes = runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..askers {
            let (client, next, oldest, told_to_wait) = (
                client.clone(),
                Arc::clone(&next),
                Arc::clone(&oldest),
                Arc::clone(&told_to_wait),
            );
            tasks.spawn(async move {
                let mut drawn = Vec::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = oldest.get(index) else {
                        return drawn;
                    };
                    loop {
                        let answer = client.get(path).await.unwrap();
                        if answer.status != 503 {
                            drawn.push((answer.status, answer.body.starts_with(&[0xFF, 0xD8])));
                            break;
                        }
                        assert!(answer.retry_after.is_some(), "a 503 without Retry-After");
                        told_to_wait.fetch_add(1, Ordering::Relaxed);
                        let wait: u64 =
                            answer.retry_after.and_then(|s| s.parse().ok()).unwrap_or(1);
                        tokio::time::sleep(Duration::from_secs(wait)).await;
                    }
                }
            });
        }
        let mut outcomes = Vec::new();
        while let Some(done) = tasks.join_next().await {
            outcomes.extend(done.unwrap());
        }
        outcomes
    });
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = process_cpu(pid)
        .unwrap_or_default()
        .saturating_sub(cpu_before);
    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    let (peak_kib, _) = process_status(pid).expect("the console is running");
    let peak_threads = peak_threads.load(Ordering::Relaxed);
    eprintln!(
        "thumbnail burst: {} first-time thumbnails by {askers} clients in {elapsed:.1} s \
         ({:.0}/s; server CPU {:.1} ms each), {} answers were 503 + Retry-After; server \
         peak RSS {:.0} MiB, peak threads {peak_threads}",
        outcomes.len(),
        outcomes.len() as f64 / elapsed,
        cpu.as_secs_f64() * 1000.0 / outcomes.len().max(1) as f64,
        told_to_wait.load(Ordering::Relaxed),
        peak_kib as f64 / 1024.0
    );
    assert_eq!(outcomes.len(), oldest.len());
    assert!(
        outcomes.iter().all(|&(status, jpeg)| status == 200 && jpeg),
        "{:?}",
        outcomes
            .iter()
            .filter(|o| **o != (200, true))
            .take(5)
            .collect::<Vec<_>>()
    );
    // Workers (one per core), the blocking pool's bound, the main thread and a few of the
    // runtime's own: far from the one thread per waiting request an unbounded pool starts.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let bound = cores + spotlight_console::Limits::default().blocking_threads as u64 + 4;
    assert!(
        peak_threads <= bound,
        "the console ran {peak_threads} threads at once (bound {bound})"
    );
    assert!(peak_kib < 1024 * 1024, "peak memory {peak_kib} KiB");
}
