//! `spotlight search`, `show` and `executions` on a store filled by the real pipeline (real
//! files, the shipped state machine, fake analysers standing in for the models).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use serde_json::Value;
use spotlight_core::contracts::{Label, ModerationLabel, TextLine};
use spotlight_core::fakes::{label, Answer, FakeDetector};
use spotlight_pipeline::{Pipeline, Steps};
use spotlight_record::RecordConfig;
use spotlight_states::RunOptions;
use spotlight_storage::{ExecutionSummary, FolderObjects, SqliteStore};
use spotlight_testkit::Console;
use spotlight_validate::Limits;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn spotlight(store: &Path, args: &[&str]) -> Out {
    let output = Command::new(env!("CARGO_BIN_EXE_spotlight"))
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .unwrap();
    Out {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn lines(out: &Out) -> Vec<Value> {
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Two photos and a bad file run through the pipeline into a store at `dir/store.sqlite`.
fn filled_store(dir: &Path) -> std::path::PathBuf {
    let photos = dir.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    std::fs::write(photos.join("dog.jpg"), spotlight_fixtures::jpeg(320, 240)).unwrap();
    std::fs::write(photos.join("tiny.png"), spotlight_fixtures::png(1, 1)).unwrap();
    let bucket = std::fs::canonicalize(&photos)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let path = dir.join("store.sqlite");
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    store.remember_folder(&bucket).unwrap();
    let labels: Answer<Vec<Label>> =
        Answer::Found(vec![label("Golden Retriever", 95.0, &["Dog", "Animal"])]);
    let pipeline = Pipeline::new(Steps {
        objects: FolderObjects::new(),
        labels: FakeDetector::new(labels),
        moderation: FakeDetector::<Vec<ModerationLabel>>::new(Answer::Found(Vec::new())),
        text: FakeDetector::<Vec<TextLine>>::new(Answer::Found(Vec::new())),
        store: Arc::clone(&store),
        limits: Limits::default(),
        record: RecordConfig::default(),
    })
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for key in ["dog.jpg", "tiny.png"] {
        let input = serde_json::json!({"bucket": bucket, "key": key});
        let options = RunOptions {
            history: true,
            ..RunOptions::default()
        };
        let result = runtime
            .block_on(pipeline.run(input.clone(), options))
            .unwrap();
        store
            .save_execution(
                &ExecutionSummary {
                    id: result.execution_arn.clone(),
                    bucket: bucket.clone(),
                    key: key.to_owned(),
                    record_id: spotlight_core::record_id(&bucket, key),
                    status: spotlight_core::contracts::ExecutionStatus::Succeeded,
                    start_time: chrono::Utc::now(),
                    stop_time: Some(chrono::Utc::now()),
                    input,
                    output: result.output.clone(),
                    error: None,
                    cause: None,
                    redrive_count: 0,
                },
                result
                    .history
                    .as_ref()
                    .map(|h| serde_json::to_value(h).unwrap())
                    .as_ref(),
            )
            .unwrap();
    }
    path
}

#[test]
fn search_finds_safe_photos_by_theme_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let store = filled_store(dir.path());
    let out = spotlight(&store, &["search", "--theme", "animals"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("dog.jpg\tANALYZED\tsafe\tGolden Retriever 95%"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.ends_with("1 record\n"));

    let out = spotlight(&store, &["search", "--label", "dog", "--json"]);
    let hits = lines(&out);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["record"]["key"], "dog.jpg");
    assert_eq!(hits[0]["matchedLabels"][0]["name"], "Golden Retriever");

    let out = spotlight(
        &store,
        &[
            "search",
            "--label",
            "dog",
            "--min-confidence",
            "99",
            "--json",
        ],
    );
    assert!(lines(&out).is_empty());

    let out = spotlight(&store, &["search", "--status", "REJECTED", "--json"]);
    let hits = lines(&out);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["record"]["key"], "tiny.png");
    assert_eq!(
        hits[0]["record"]["error"]["error"],
        "ImageRejected.TooSmall"
    );

    let out = spotlight(&store, &["search", "--json"]);
    assert_eq!(lines(&out).len(), 1, "safe-only by default");
    let out = spotlight(&store, &["search", "--include-unsafe", "--json"]);
    assert_eq!(lines(&out).len(), 2);
}

#[test]
fn bad_queries_and_missing_stores_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = filled_store(dir.path());
    let out = spotlight(&store, &["search", "--min-confidence", "lots"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("minConfidence must be 0–100"),
        "{}",
        out.stderr
    );
    let out = spotlight(&store, &["search", "--theme", "nope"]);
    assert_eq!(out.code, 2);
    let out = spotlight(&dir.path().join("elsewhere.sqlite"), &["search"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("no store at"), "{}", out.stderr);
    assert!(
        !dir.path().join("elsewhere.sqlite").exists(),
        "a query creates no store"
    );
}

#[test]
fn show_prints_a_record_by_key_path_or_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = filled_store(dir.path());
    let out = spotlight(&store, &["show", "dog.jpg"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("status     ANALYZED"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("label      Golden Retriever 95.0% ← Dog ← Animal"),
        "{}",
        out.stdout
    );
    let path = dir.path().join("photos/tiny.png");
    let out = spotlight(&store, &["show", path.to_str().unwrap(), "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let record: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(record["status"], "REJECTED");
    let id = record["id"].as_str().unwrap().to_owned();
    assert_eq!(spotlight(&store, &["show", &id]).code, 0);
    let out = spotlight(&store, &["show", "nobody.jpg"]);
    assert_eq!(out.code, 1);
}

#[test]
fn executions_are_listed_and_shown_state_by_state() {
    let dir = tempfile::tempdir().unwrap();
    let store = filled_store(dir.path());
    let out = spotlight(&store, &["executions", "list", "--json"]);
    let executions = lines(&out);
    assert_eq!(executions.len(), 2, "{}", out.stderr);
    let rejected = executions.iter().find(|e| e["key"] == "tiny.png").unwrap();
    let id = rejected["id"].as_str().unwrap();

    let out = spotlight(&store, &["executions", "show", id]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let states: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("  ") && l.contains(" (") && !l.starts_with("      "))
        .map(|l| l.trim().split(' ').next().unwrap())
        .collect();
    assert_eq!(
        states,
        [
            "Normalize",
            "FromObjectRequest",
            "Validate",
            "RecordRejected",
            "PublishResult",
            "Outcome",
            "Rejected"
        ],
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("ImageRejected.TooSmall"),
        "{}",
        out.stdout
    );

    let name = id.rsplit(':').next().unwrap();
    let out = spotlight(&store, &["executions", "show", name, "--json", "--events"]);
    let shown: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(shown["execution"]["id"], id);
    assert_eq!(shown["history"]["events"][0]["type"], "ExecutionStarted");

    assert_eq!(
        spotlight(&store, &["executions", "show", "no-such"]).code,
        1
    );
    let out = spotlight(
        &store,
        &["executions", "list", "--status", "failed", "--json"],
    );
    assert!(lines(&out).is_empty());
    assert_eq!(
        spotlight(&store, &["executions", "list", "--since", "yesterday"]).code,
        2
    );
}

fn serve(store: &Path, extra: &[&str]) -> Console {
    Console::serve(Path::new(env!("CARGO_BIN_EXE_spotlight")), store, extra)
}

#[test]
fn serve_answers_the_api_and_the_gallery_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let store = filled_store(dir.path());
    let console = serve(&store, &[]);
    assert!(
        console.base.starts_with("http://127.0.0.1:"),
        "{}",
        console.said
    );
    let (status, body) = console.get("/api/records?theme=animals", &[]);
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["items"][0]["record"]["key"], "dog.jpg");
    let (status, page) = console.get("/", &[]);
    assert_eq!(status, 200);
    assert!(page.contains("dog.jpg"), "the gallery shows the safe photo");
    let (status, _) = console.get("/api/records?minConfidence=lots", &[]);
    assert_eq!(status, 400);
}

#[test]
fn serve_beyond_loopback_requires_the_printed_token() {
    let dir = tempfile::tempdir().unwrap();
    let store = filled_store(dir.path());
    let console = serve(&store, &["--bind", "0.0.0.0"]);
    let token = console
        .said
        .lines()
        .find_map(|l| {
            l.split_once("access token")
                .map(|(_, rest)| rest.rsplit(' ').next().unwrap_or("").to_owned())
        })
        .unwrap_or_else(|| panic!("no token printed: {}", console.said));
    let (status, _) = console.get("/api/records", &[]);
    assert_eq!(status, 401);
    let bearer = format!("Bearer {token}");
    let (status, _) = console.get("/api/records", &[("Authorization", &bearer)]);
    assert_eq!(status, 200);
}

/// Issue 12: `--label` repeated is any label, `--all` every one (a theme counts as one term),
/// `--not-label` leaves out; locally excluding alone is answered (SQLite indexes each record's
/// labels).
#[test]
fn search_combines_labels_with_all_and_not_label() {
    use spotlight_core::contracts::RecordStatus;
    use spotlight_core::ports::RecordStore;
    use spotlight_core::store_suite::suite_record;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    let store = SqliteStore::open(&path).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for (second, key, labels) in [
        (
            1,
            "dog beach.jpg",
            vec![label("Dog", 90.0, &[]), label("Beach", 80.0, &[])],
        ),
        (
            2,
            "dog person.jpg",
            vec![label("Dog", 95.0, &[]), label("Person", 90.0, &[])],
        ),
        (3, "beach.jpg", vec![label("Beach", 85.0, &[])]),
    ] {
        let record = suite_record(
            key,
            second,
            second as u64,
            RecordStatus::Analyzed,
            true,
            labels,
            "",
        );
        runtime.block_on(store.put(&record)).unwrap();
    }
    drop(store);
    let keys = |args: &[&str]| -> Vec<String> {
        let out = spotlight(&path, &[&["search", "--json"], args].concat());
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        lines(&out)
            .iter()
            .map(|hit| hit["record"]["key"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        keys(&["--label", "Dog", "--label", "Beach"]),
        ["beach.jpg", "dog person.jpg", "dog beach.jpg"],
        "any label, newest first"
    );
    assert_eq!(
        keys(&["--label", "dog", "--label", "beach", "--all"]),
        ["dog beach.jpg"]
    );
    assert_eq!(
        keys(&["--label", "Dog", "--not-label", "person"]),
        ["dog beach.jpg"]
    );
    assert_eq!(
        keys(&["--not-label", "Person", "--not-label", "Dog"]),
        ["beach.jpg"]
    );
    assert_eq!(
        keys(&[
            "--theme",
            "ocean",
            "--label",
            "Dog",
            "--all",
            "--not-label",
            "Person"
        ]),
        ["dog beach.jpg"]
    );
    let out = spotlight(
        &path,
        &["search", "--label", "Dog", "--label", "Beach", "--all"],
    );
    assert!(
        out.stdout
            .contains("dog beach.jpg\tANALYZED\tsafe\tDog 90%, Beach 80%\n"),
        "both labels say why: {}",
        out.stdout
    );
}

/// Issue 12's `--query` fallback: word matching over labels, themes and text, ranked (most words
/// met, then weight), combinable with the label filters, and saying what matched.
#[test]
fn search_query_ranks_by_words_and_says_what_matched() {
    use spotlight_core::contracts::RecordStatus;
    use spotlight_core::ports::RecordStore;
    use spotlight_core::store_suite::suite_record;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    let store = SqliteStore::open(&path).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for (second, key, labels, text) in [
        (
            1,
            "dog beach.jpg",
            vec![label("Dog", 90.0, &[]), label("Beach", 80.0, &[])],
            "",
        ),
        (
            2,
            "dog person.jpg",
            vec![label("Dog", 95.0, &[]), label("Person", 90.0, &[])],
            "",
        ),
        (3, "beach.jpg", vec![label("Beach", 85.0, &[])], ""),
        (4, "sign.jpg", Vec::new(), "DOGS welcome"),
        (5, "cat.jpg", vec![label("Cat", 99.0, &[])], ""),
    ] {
        let record = suite_record(
            key,
            second,
            second as u64,
            RecordStatus::Analyzed,
            true,
            labels,
            text,
        );
        runtime.block_on(store.put(&record)).unwrap();
    }
    drop(store);
    let keys = |args: &[&str]| -> Vec<String> {
        let out = spotlight(&path, &[&["search", "--json"], args].concat());
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        lines(&out)
            .iter()
            .map(|hit| hit["record"]["key"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        keys(&["--query", "dogs on a beach"]),
        ["dog beach.jpg", "dog person.jpg", "beach.jpg", "sign.jpg"]
    );
    assert_eq!(
        keys(&[
            "--query",
            "dogs on a beach",
            "--not-label",
            "person",
            "--limit",
            "2"
        ]),
        ["dog beach.jpg", "beach.jpg"]
    );
    assert!(
        keys(&["--query", "giraffe"]).is_empty(),
        "no match, no result"
    );

    let out = spotlight(
        &path,
        &["search", "--query", "dog beach", "--json", "--limit", "1"],
    );
    let hits = lines(&out);
    assert_eq!(hits[0]["matchedWords"][0]["word"], "dog");
    assert_eq!(hits[0]["matchedWords"][0]["source"], "LABEL");
    assert_eq!(hits[0]["matchedWords"][1]["name"], "Beach");
    let out = spotlight(&path, &["search", "--query", "dogs"]);
    assert!(
        out.stdout
            .contains("sign.jpg\tANALYZED\tsafe\tdog: text dog 50%\n"),
        "{}",
        out.stdout
    );
    let out = spotlight(&path, &["search", "--query", "a photo of the"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("stop-word"), "{}", out.stderr);
}
