//! Nothing lost under crashes and contention, with the real `spotlight` binary, the real models
//! and a real SQLite file:
//!
//! - `run` and `watch` killed with SIGKILL at seeded random moments (model load, analysis,
//!   writes): the file stays whole, no record is half written, an execution in flight is marked
//!   ABORTED with a cause by the next command (and shown by `executions list` and the console),
//!   and a re-run leaves exactly one record per photo;
//! - two `run`s, a `watch` and a `serve` on one new store at once: no "database is locked"
//!   reaches anyone, one record per photo, no live process's execution aborted, and searches
//!   that only ever see the store grow.
//!
//! The seed is `SPOTLIGHT_CRASH_SEED` (printed, so a failure can be replayed). The models come
//! as in `e2e.rs`: without them these tests say so and pass, unless `SPOTLIGHT_REQUIRE_MODELS`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use spotlight_core::contracts::{ImageRecord, RecordStatus};

use common::{json_lines, models_ready, spotlight, workspace};

/// Both tests load the CPU fully; run one at a time.
static HEAVY: Mutex<()> = Mutex::new(());

/// splitmix64: a seeded sequence, so that a failing trial can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The `good` sample photos, which the models analyse, and two uploads validation rejects, in
/// `folder`.
fn photos(folder: &Path, good: &[&str]) -> Vec<String> {
    std::fs::create_dir_all(folder).unwrap();
    for name in good {
        std::fs::copy(
            workspace().join("samples/photos").join(name),
            folder.join(name),
        )
        .unwrap();
    }
    let coffee = std::fs::read(workspace().join("samples/photos/coffee.jpg")).unwrap();
    std::fs::write(folder.join("truncated.jpg"), &coffee[..coffee.len() / 2]).unwrap();
    std::fs::write(folder.join("notes.jpg"), b"no photo here").unwrap();
    let mut keys: Vec<String> = good.iter().map(|n| (*n).to_owned()).collect();
    keys.extend(["truncated.jpg".to_owned(), "notes.jpg".to_owned()]);
    keys
}

fn bucket(folder: &Path) -> String {
    std::fs::canonicalize(folder)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// A new upload of every photo in `folder`: a later modification time is a newer revision, so
/// the next run analyses and writes them all again.
fn touch_all(folder: &Path, at: SystemTime) {
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            file.set_modified(at).unwrap();
        }
    }
}

/// What the file holds, read with plain SQLite (no `spotlight` code that could repair it):
/// it passes `integrity_check`, and every record is whole. Returns the records by
/// (bucket, key) and the ids of the executions still RUNNING.
fn inspect(store: &Path) -> (BTreeMap<(String, String), ImageRecord>, Vec<String>) {
    let db = rusqlite::Connection::open(store).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok", "integrity_check of {}", store.display());
    let mut records = BTreeMap::new();
    let mut statement = db
        .prepare("SELECT id, bucket, key, status, record FROM records")
        .unwrap();
    let rows = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
            ))
        })
        .unwrap();
    for row in rows {
        let (id, bucket, key, status, json) = row.unwrap();
        let record: ImageRecord = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("record {key} is not whole: {e}: {json}"));
        assert_eq!(
            (&record.id, &record.bucket, &record.key),
            (&id, &bucket, &key)
        );
        assert_eq!(record.status.as_str(), status, "{key}");
        assert_eq!(id, spotlight_core::record_id(&bucket, &key));
        match record.status {
            RecordStatus::Analyzed => assert!(
                record.moderation.is_some() && record.text.is_some() && record.image.is_some(),
                "an ANALYZED record without its analyses: {json}"
            ),
            RecordStatus::Rejected | RecordStatus::Failed => assert!(
                record
                    .error
                    .as_ref()
                    .is_some_and(|e| !e.error.is_empty() && !e.cause.is_empty()),
                "a {status} record without its error: {json}"
            ),
        }
        assert!(!record.execution.id.is_empty());
        records.insert((bucket, key), record);
    }
    let running = db
        .prepare("SELECT id FROM executions WHERE status = 'RUNNING'")
        .unwrap()
        .query_map([], |row| row.get::<_, String>(0))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (records, running)
}

fn executions(store: &Path, status: Option<&str>) -> Vec<Value> {
    let mut command = spotlight(store);
    command.args(["executions", "list", "--json"]);
    if let Some(status) = status {
        command.args(["--status", status]);
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json_lines(&String::from_utf8_lossy(&out.stdout))
}

fn kill_after(mut child: Child, delay: Duration) -> Option<i32> {
    let deadline = Instant::now() + delay;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // Child::kill is SIGKILL on Unix: no handler, no cleanup, as a crash.
    let _ = child.kill();
    child.wait().unwrap();
    None
}

#[test]
fn run_and_watch_killed_at_random_moments_lose_nothing() {
    if !models_ready() {
        return;
    }
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    const TRIALS: u64 = 20;
    let seed = std::env::var("SPOTLIGHT_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(18);
    eprintln!("crash trials: SPOTLIGHT_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("spotlight.sqlite");
    let folder = dir.path().join("photos");
    let inbox = dir.path().join("inbox");
    let mut expected: BTreeSet<(String, String)> = BTreeSet::new();
    for (path, good) in [(&folder, ["rocket.jpg"]), (&inbox, ["coffee.jpg"])] {
        let keys = photos(path, &good);
        expected.extend(keys.into_iter().map(|k| (bucket(path), k)));
    }

    // One whole run, timed: the kills are spread over that span (model load, analysis, writes).
    let started = Instant::now();
    let out = spotlight(&store)
        .args(["run", "-q", "--concurrency", "2"])
        .arg(&folder)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let span = started.elapsed();
    eprintln!("a whole run of 3 photos: {} ms", span.as_millis());

    let base = SystemTime::now();
    let mut aborted_ids: BTreeSet<String> = BTreeSet::new();
    let mut finished = 0;
    for trial in 0..TRIALS {
        let watching = trial % 2 == 1;
        let target = if watching { &inbox } else { &folder };
        touch_all(target, base + Duration::from_secs(10 * (trial + 1)));
        let delay = Duration::from_millis(rng.below(span.as_millis() as u64 * 6 / 5));
        let mut command = spotlight(&store);
        if watching {
            command.args(["watch", "--interval", "50", "--settle", "100"]);
        } else {
            command.args(["run", "-q", "--concurrency", "2"]);
        }
        let child = command
            .arg(target)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if kill_after(child, delay).is_some() {
            finished += 1;
        }

        let (records, running) = inspect(&store);
        for key in records.keys() {
            assert!(expected.contains(key), "a record for no photo: {key:?}");
        }
        // The next command to open the store marks what the killed process left running.
        let listed = executions(&store, None);
        for execution in &listed {
            assert_ne!(execution["status"], "RUNNING", "{execution}");
        }
        for id in &running {
            let execution = listed
                .iter()
                .find(|e| e["id"] == id.as_str())
                .unwrap_or_else(|| panic!("execution {id} in flight at the kill was lost"));
            assert_eq!(execution["status"], "ABORTED");
            assert_eq!(execution["error"], "ExecutionAbandoned");
            let cause = execution["cause"].as_str().unwrap_or_default();
            assert!(cause.contains("ended before the execution did"), "{cause}");
            assert!(execution["stopTime"].is_string(), "{execution}");
        }
        let (_, still_running) = inspect(&store);
        assert!(still_running.is_empty(), "{still_running:?}");
        eprintln!(
            "trial {trial}: {} killed after {} ms, {} executions in flight marked ABORTED",
            if watching { "watch" } else { "run" },
            delay.as_millis(),
            running.len()
        );
        aborted_ids.extend(running);
    }
    eprintln!(
        "{} executions aborted over {TRIALS} kills ({finished} runs had ended first)",
        aborted_ids.len()
    );
    assert!(
        !aborted_ids.is_empty(),
        "no kill landed during an execution: the trials tested nothing"
    );

    // Running everything again completes it: exactly one record per photo.
    for target in [&folder, &inbox] {
        let out = spotlight(&store)
            .args(["run", "--json"])
            .arg(target)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(json_lines(&String::from_utf8_lossy(&out.stdout)).len(), 3);
    }
    let filtered: BTreeSet<String> = executions(&store, Some("aborted"))
        .iter()
        .map(|e| e["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(filtered, aborted_ids, "executions list --status aborted");
    let (records, running) = inspect(&store);
    assert_eq!(
        records.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "one record per photo"
    );
    assert!(running.is_empty());
    for ((_, key), record) in &records {
        let want = if ["truncated.jpg", "notes.jpg"].contains(&key.as_str()) {
            RecordStatus::Rejected
        } else {
            RecordStatus::Analyzed
        };
        assert_eq!(record.status, want, "{key}");
    }

    // Ops see the aborted executions in the console too, page and API.
    let console = spotlight_testkit::console::Console::serve(
        Path::new(env!("CARGO_BIN_EXE_spotlight")),
        &store,
        &[],
    );
    let (code, body) = console.get("/api/executions?status=ABORTED&limit=500", &[]);
    assert_eq!(code, 200, "{body}");
    let listed: Value = serde_json::from_str(&body).unwrap();
    let shown: BTreeSet<String> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(shown, aborted_ids);
    let (code, page) = console.get("/executions?status=ABORTED", &[]);
    assert_eq!(code, 200);
    let first = aborted_ids.iter().next().unwrap();
    assert!(page.contains("ABORTED") && page.contains(first.as_str()));
    let (code, page) = console.get(&format!("/executions/{first}"), &[]);
    assert_eq!(code, 200);
    assert!(page.contains("ExecutionAbandoned"), "{page}");
}

/// Counts every record through `spotlight search` and the console's API until `stop`, checking
/// each answer parses and no count goes down (the store only grows here).
fn read_while(stop: &AtomicBool, mut count: impl FnMut() -> usize) -> usize {
    let (mut last, mut reads) = (0, 0);
    while !stop.load(Ordering::Relaxed) {
        let now = count();
        assert!(now >= last, "a search saw {now} records after {last}");
        last = now;
        reads += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    reads
}

#[test]
fn two_runs_a_watch_and_serve_share_one_new_store() {
    if !models_ready() {
        return;
    }
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("spotlight.sqlite");
    let (a, b, inbox) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("inbox"),
    );
    let mut expected: BTreeSet<(String, String)> = BTreeSet::new();
    for (folder, good) in [
        (&a, &["chelsea.jpg", "coffee.jpg", "rocket.jpg"][..]),
        (&b, &["motorcycle.jpg", "sign.png"][..]),
    ] {
        let keys = photos(folder, good);
        expected.extend(keys.into_iter().map(|k| (bucket(folder), k)));
    }
    std::fs::create_dir_all(&inbox).unwrap();
    let log = |name: &str| std::fs::File::create(dir.path().join(name)).unwrap();

    // All four at once on a store that does not exist yet; the second run overlaps the first.
    let started = Instant::now();
    let spawn = |args: &[&str], paths: &[&PathBuf], name: &str| {
        spotlight(&store)
            .args(args)
            .args(paths)
            .stdout(Stdio::null())
            .stderr(log(name))
            .spawn()
            .unwrap()
    };
    let run1 = spawn(&["run", "-q", "--concurrency", "2"], &[&a], "run1.log");
    let run2 = spawn(&["run", "-q", "--concurrency", "2"], &[&b, &a], "run2.log");
    let mut watch = spawn(
        &["watch", "--interval", "100", "--settle", "200"],
        &[&inbox],
        "watch.log",
    );
    let binary = Path::new(env!("CARGO_BIN_EXE_spotlight"));
    let console = spotlight_testkit::console::Console::serve(binary, &store, &[]);

    let stop = AtomicBool::new(false);
    let (cli_reads, api_reads) = std::thread::scope(|scope| {
        let cli = scope.spawn(|| {
            read_while(&stop, || {
                let out = spotlight(&store)
                    .args(["search", "--json", "--include-unsafe"])
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                json_lines(&String::from_utf8_lossy(&out.stdout)).len()
            })
        });
        let api = scope.spawn(|| {
            read_while(&stop, || {
                let (code, body) = console.get("/api/records?includeUnsafe=true&limit=100", &[]);
                assert_eq!(code, 200, "{body}");
                let page: Value = serde_json::from_str(&body).unwrap();
                page["items"].as_array().map_or(0, Vec::len)
            })
        });
        // Uploads land in the inbox while the runs write.
        std::thread::sleep(Duration::from_millis(500));
        let keys = photos(&inbox, &["china.jpg"]);
        expected.extend(keys.into_iter().map(|k| (bucket(&inbox), k)));
        for (name, run) in [("run1", run1), ("run2", run2)] {
            let out = run.wait_with_output().unwrap();
            assert!(out.status.success(), "{name} failed: see its log");
        }
        let deadline = Instant::now() + Duration::from_secs(300);
        while inspect(&store).0.len() < expected.len() {
            assert!(Instant::now() < deadline, "watch never recorded the inbox");
            std::thread::sleep(Duration::from_millis(200));
        }
        stop.store(true, Ordering::Relaxed);
        (cli.join().unwrap(), api.join().unwrap())
    });
    let took = started.elapsed();
    let _ = watch.kill();
    watch.wait().unwrap();
    drop(console);

    let (records, running) = inspect(&store);
    assert_eq!(
        records.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "exactly one record per photo"
    );
    assert!(running.is_empty(), "{running:?}");
    // Nobody was killed mid-way: every execution ended, none was aborted under a live process.
    let listed = executions(&store, None);
    for execution in &listed {
        assert_eq!(execution["status"], "SUCCEEDED", "{execution}");
    }
    for name in ["run1.log", "run2.log", "watch.log"] {
        let mut text = String::new();
        std::fs::File::open(dir.path().join(name))
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        let lower = text.to_lowercase();
        assert!(
            !lower.contains("locked") && !lower.contains("busy") && !lower.contains("error"),
            "{name}: {text}"
        );
    }
    eprintln!(
        "contention: {} records, {} executions by 2 runs + watch in {:.1} s ({:.2} executions/s), \
         {cli_reads} searches and {api_reads} API reads alongside",
        records.len(),
        listed.len(),
        took.as_secs_f64(),
        listed.len() as f64 / took.as_secs_f64()
    );
}
