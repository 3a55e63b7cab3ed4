//! `spotlight review list|approve|reject` on a store filled by the real pipeline (real files,
//! the shipped state machine and policy, fake analysers standing in for the models): the
//! queue's order, a decision beating the model in `search` and `show`, the conflict of a second
//! reviewer, and a new upload moving the decision to the history.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde_json::Value;
use spotlight_core::contracts::{ModerationLabel, TextLine};
use spotlight_core::fakes::{label, Answer, FakeDetector};
use spotlight_pipeline::{Pipeline, Steps};
use spotlight_record::RecordConfig;
use spotlight_states::RunOptions;
use spotlight_storage::{FolderObjects, SqliteStore};
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

fn json_lines(out: &Out) -> Vec<Value> {
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn moderation(name: &str, parent: Option<&str>, confidence: f32) -> ModerationLabel {
    ModerationLabel {
        name: name.to_owned(),
        parent_name: parent.map(str::to_owned),
        confidence,
        taxonomy_level: if parent.is_some() { 2 } else { 1 },
    }
}

/// Runs `key` (already in `bucket`) through the pipeline with `found` as its moderation.
fn run(store: &Arc<SqliteStore>, bucket: &str, key: &str, found: Vec<ModerationLabel>) {
    let pipeline = Pipeline::new(Steps {
        objects: FolderObjects::new(),
        labels: FakeDetector::new(Answer::Found(vec![label("Beach", 92.0, &["Outdoors"])])),
        moderation: FakeDetector::<Vec<ModerationLabel>>::new(Answer::Found(found)),
        text: FakeDetector::<Vec<TextLine>>::new(Answer::Found(Vec::new())),
        store: Arc::clone(store),
        limits: Limits::default(),
        record: RecordConfig::default(),
    })
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let input = serde_json::json!({"bucket": bucket, "key": key});
    runtime
        .block_on(pipeline.run(input, RunOptions::default()))
        .unwrap();
}

struct Photos {
    store_path: PathBuf,
    store: Arc<SqliteStore>,
    folder: PathBuf,
    bucket: String,
}

/// Three photos under the shipped policy: a swimsuit at 65% (between its review threshold, 60,
/// and its block threshold, 80: NEEDS_REVIEW), explicit nudity at 90% (UNSAFE), and a clean
/// one (SAFE). The unsafe one is uploaded first, so "oldest first" alone would put it first.
fn photos(dir: &Path) -> Photos {
    let folder = dir.join("photos");
    std::fs::create_dir_all(&folder).unwrap();
    let bucket = std::fs::canonicalize(&folder)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let store_path = dir.join("store.sqlite");
    let store = Arc::new(SqliteStore::open(&store_path).unwrap());
    store.remember_folder(&bucket).unwrap();
    let write = |key: &str, age_seconds: u64, side: u32| {
        let path = folder.join(key);
        std::fs::write(&path, spotlight_fixtures::jpeg(side, side)).unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        let when = std::time::SystemTime::now() - std::time::Duration::from_secs(age_seconds);
        file.set_modified(when).unwrap();
    };
    write("explicit.jpg", 300, 200);
    write("swimsuit.jpg", 200, 210);
    write("clean.jpg", 100, 220);
    run(
        &store,
        &bucket,
        "explicit.jpg",
        vec![
            moderation("Explicit", None, 90.0),
            moderation("Explicit Nudity", Some("Explicit"), 90.0),
        ],
    );
    run(
        &store,
        &bucket,
        "swimsuit.jpg",
        vec![moderation("Swimwear or Underwear", None, 65.0)],
    );
    run(&store, &bucket, "clean.jpg", Vec::new());
    Photos {
        store_path,
        store,
        folder,
        bucket,
    }
}

fn keys(out: &Out) -> Vec<String> {
    json_lines(out)
        .iter()
        .map(|line| {
            line["record"]["key"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

fn searched(store: &Path) -> Vec<String> {
    let out = spotlight(store, &["search", "--label", "beach", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    json_lines(&out)
        .iter()
        .map(|line| {
            line["record"]["key"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[test]
fn a_review_beats_the_model_and_a_second_reviewer_on_the_same_view_gets_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let photos = photos(dir.path());
    let store = &photos.store_path;

    let queue = spotlight(store, &["review", "list", "--json"]);
    assert_eq!(queue.code, 0, "{}", queue.stderr);
    assert_eq!(
        keys(&queue),
        ["swimsuit.jpg", "explicit.jpg"],
        "NEEDS_REVIEW first, the clean photo not at all"
    );
    let first = &json_lines(&queue)[0];
    assert_eq!(first["record"]["moderation"]["verdict"], "NEEDS_REVIEW");
    let seen_token = first["reviewToken"].as_str().unwrap().to_owned();
    let text = spotlight(store, &["review", "list"]);
    assert!(text.stdout.starts_with("NEEDS_REVIEW\t"), "{}", text.stdout);
    assert!(text.stdout.contains("Swimwear or Underwear 65.0%"));
    assert_eq!(searched(store), ["clean.jpg"], "safe only by default");
    let by_verdict = spotlight(store, &["search", "--verdict", "needs_review", "--json"]);
    assert_eq!(by_verdict.code, 0, "{}", by_verdict.stderr);
    assert_eq!(keys(&by_verdict), ["swimsuit.jpg"]);

    let approve = spotlight(
        store,
        &[
            "review",
            "approve",
            "swimsuit.jpg",
            "--by",
            "ana",
            "--note",
            "summer campaign",
            "--json",
        ],
    );
    assert_eq!(approve.code, 0, "{}", approve.stderr);
    let written: Value = serde_json::from_str(&approve.stdout).unwrap();
    assert_eq!(written["review"]["decision"], "APPROVED");
    assert_eq!(written["safe"], true);
    let mut found = searched(store);
    found.sort();
    assert_eq!(found, ["clean.jpg", "swimsuit.jpg"], "the approval counts");
    let by_verdict = spotlight(store, &["search", "--verdict", "SAFE", "--json"]);
    let mut safe = keys(&by_verdict);
    safe.sort();
    assert_eq!(safe, ["clean.jpg", "swimsuit.jpg"]);
    assert!(keys(&spotlight(
        store,
        &["search", "--verdict", "needs_review", "--json"]
    ))
    .is_empty());
    assert_eq!(
        spotlight(store, &["search", "--verdict", "maybe"]).code,
        2,
        "a verdict that is none"
    );
    let shown = spotlight(store, &["show", "swimsuit.jpg"]);
    assert!(
        shown
            .stdout
            .contains("safe       true — APPROVED by ana; model: NEEDS_REVIEW"),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains("\"summer campaign\""));
    assert_eq!(
        keys(&spotlight(store, &["review", "list", "--json"])),
        ["explicit.jpg"],
        "decided photos leave the queue"
    );

    // Bo read the queue before Ana decided: his token is stale.
    let stale = spotlight(
        store,
        &[
            "review",
            "reject",
            "swimsuit.jpg",
            "--by",
            "bo",
            "--expect",
            &seen_token,
        ],
    );
    assert_eq!(stale.code, 1);
    assert!(stale.stderr.contains("conflict"), "{}", stale.stderr);
    assert!(stale.stderr.contains("APPROVED by ana"), "{}", stale.stderr);
    // Without a token, a photo someone decided on is not silently decided again.
    let blind = spotlight(store, &["review", "reject", "swimsuit.jpg", "--by", "bo"]);
    assert_eq!(blind.code, 1);
    assert!(
        blind.stderr.contains("already APPROVED by ana"),
        "{}",
        blind.stderr
    );
    assert_eq!(searched(store).len(), 2, "nothing was written");

    // With the token of what is there now, Bo's decision replaces Ana's, which is kept.
    let shown = spotlight(store, &["show", "swimsuit.jpg"]);
    let token = shown
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("review token "))
        .unwrap()
        .to_owned();
    let reject = spotlight(
        store,
        &[
            "review",
            "reject",
            "swimsuit.jpg",
            "--by",
            "bo",
            "--expect",
            &token,
        ],
    );
    assert_eq!(reject.code, 0, "{}", reject.stderr);
    assert_eq!(searched(store), ["clean.jpg"]);
    let record: Value =
        serde_json::from_str(&spotlight(store, &["show", "swimsuit.jpg", "--json"]).stdout)
            .unwrap();
    assert_eq!(record["review"]["reviewer"], "bo");
    assert_eq!(record["reviewHistory"][0]["reviewer"], "ana");

    // Not a photo, not found, no reviewer.
    assert_eq!(
        spotlight(store, &["review", "approve", "nope.jpg", "--by", "ana"]).code,
        1
    );
    assert_eq!(
        spotlight(store, &["review", "approve", "clean.jpg"]).code,
        2,
        "--by is required"
    );
    assert_eq!(
        spotlight(store, &["review", "approve", "clean.jpg", "--by", "  "]).code,
        2
    );
}

#[test]
fn the_same_file_run_again_keeps_its_review_and_a_new_upload_moves_it_to_history() {
    let dir = tempfile::tempdir().unwrap();
    let photos = photos(dir.path());
    let store = &photos.store_path;
    let approve = spotlight(store, &["review", "approve", "explicit.jpg", "--by", "ana"]);
    assert_eq!(approve.code, 0, "{}", approve.stderr);

    // The very same file again (as `run` on it would): the approval stays.
    let explicit = vec![moderation("Explicit", None, 90.0)];
    run(
        &photos.store,
        &photos.bucket,
        "explicit.jpg",
        explicit.clone(),
    );
    let record: Value =
        serde_json::from_str(&spotlight(store, &["show", "explicit.jpg", "--json"]).stdout)
            .unwrap();
    assert_eq!(record["review"]["reviewer"], "ana");
    assert_eq!(record["safe"], true);

    // A new upload of the key (new bytes, new time): the model's verdict counts again.
    std::fs::write(
        photos.folder.join("explicit.jpg"),
        spotlight_fixtures::jpeg(230, 230),
    )
    .unwrap();
    run(&photos.store, &photos.bucket, "explicit.jpg", explicit);
    let record: Value =
        serde_json::from_str(&spotlight(store, &["show", "explicit.jpg", "--json"]).stdout)
            .unwrap();
    assert_eq!(record.get("review"), None, "{record}");
    assert_eq!(record["reviewHistory"][0]["reviewer"], "ana");
    assert_eq!(record["reviewHistory"][0]["modelVerdict"], "UNSAFE");
    assert_eq!(record["safe"], false);
    assert_eq!(
        keys(&spotlight(store, &["review", "list", "--json"])),
        ["swimsuit.jpg", "explicit.jpg"],
        "back in the queue"
    );
}
