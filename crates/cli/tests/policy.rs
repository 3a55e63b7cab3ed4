//! Issue 14, points 2 and 3: `spotlight policy apply` re-derives every stored verdict from the
//! stored moderation labels, and `spotlight reprocess` runs stored photos again through only
//! the analysers asked for — both through the built binary against a SQLite store.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{json_lines, models_ready, output_text, spotlight};
use serde_json::Value;
use spotlight_core::contracts::{
    ImageRecord, Label, ModerationLabel, Review, ReviewDecision, TextLine, Verdict,
};
use spotlight_core::fakes::{label, Answer, FakeDetector};
use spotlight_core::ports::{RecordUpdate, UpdateOutcome};
use spotlight_pipeline::{Pipeline, Steps};
use spotlight_record::RecordConfig;
use spotlight_states::RunOptions;
use spotlight_storage::{FolderObjects, SqliteStore};
use spotlight_validate::Limits;

/// A policy that blocks alcohol at 50 % where the shipped one waits for 90 %.
const STRICT: &str = r#"{"version": "test-strict-1", "defaultMinConfidence": 50,
    "minConfidence": {"Alcohol": 50}}"#;

struct Store {
    dir: tempfile::TempDir,
    path: PathBuf,
    bucket: String,
}

/// Two photos of a dog with a beer, run through the shipped state machine with fake analysers:
/// moderation finds `Alcohol` at 60 %, safe under the shipped policy (90 %).
fn beer_store() -> Store {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for key in ["beer 1.jpg", "beer 2.jpg"] {
        std::fs::write(photos.join(key), spotlight_fixtures::jpeg(320, 240)).unwrap();
    }
    let bucket = std::fs::canonicalize(&photos)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let path = dir.path().join("store.sqlite");
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    store.remember_folder(&bucket).unwrap();
    let alcohol = ModerationLabel {
        name: "Alcohol".to_owned(),
        parent_name: None,
        confidence: 60.0,
        taxonomy_level: 1,
    };
    let labels: Answer<Vec<Label>> =
        Answer::Found(vec![label("Golden Retriever", 95.0, &["Dog", "Animal"])]);
    let pipeline = Pipeline::new(Steps {
        objects: FolderObjects::new(),
        labels: FakeDetector::new(labels),
        moderation: FakeDetector::new(Answer::Found(vec![alcohol])),
        text: FakeDetector::<Vec<TextLine>>::new(Answer::Found(Vec::new())),
        store: Arc::clone(&store),
        limits: Limits::default(),
        record: RecordConfig::default(),
    })
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for key in ["beer 1.jpg", "beer 2.jpg"] {
        let input = serde_json::json!({"bucket": bucket, "key": key});
        let result = runtime
            .block_on(pipeline.run(input, RunOptions::default()))
            .unwrap();
        assert_eq!(result.output.unwrap()["record"]["record"]["safe"], true);
    }
    Store { dir, path, bucket }
}

fn record(store: &Store, key: &str) -> ImageRecord {
    SqliteStore::open(&store.path)
        .unwrap()
        .record(&store.bucket, key)
        .unwrap()
        .unwrap()
}

/// A reviewer approves `key` (written straight into the store, as the review step does).
fn approve(store: &Store, key: &str) {
    let read = record(store, key);
    let mut updated = read.clone();
    updated.review = Some(Review {
        decision: ReviewDecision::Approved,
        reviewer: "rita".to_owned(),
        reviewed_at: chrono::Utc::now(),
        note: Some("a soft drink".to_owned()),
        model_verdict: Verdict::Safe,
        revision: read.revision.clone(),
        etag: read.image.as_ref().and_then(|i| i.etag.clone()),
        version_id: None,
        sequence: 1,
    });
    let outcome = SqliteStore::open(&store.path)
        .unwrap()
        .replace(&[RecordUpdate { read, updated }])
        .unwrap();
    assert_eq!(outcome, [UpdateOutcome::Replaced]);
}

fn policy_file(dir: &Path) -> PathBuf {
    let path = dir.join("strict.json");
    std::fs::write(&path, STRICT).unwrap();
    path
}

fn safe_keys(store: &Store) -> Vec<String> {
    let output = spotlight(&store.path)
        .args(["search", "--label", "dog", "--json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
    let mut keys: Vec<String> = json_lines(&String::from_utf8_lossy(&output.stdout))
        .iter()
        .map(|hit| {
            hit.pointer("/record/key")
                .or_else(|| hit.get("key"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    keys.sort();
    keys
}

#[test]
fn policy_apply_reports_before_it_writes_and_keeps_reviewers_decisions() {
    let store = beer_store();
    approve(&store, "beer 2.jpg");
    let policy = policy_file(store.dir.path());
    assert_eq!(safe_keys(&store), ["beer 1.jpg", "beer 2.jpg"]);

    // --dry-run: the report, and nothing written.
    let output = spotlight(&store.path)
        .args(["policy", "apply", "--dry-run", "--json"])
        .arg(&policy)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["policyVersion"], "test-strict-1");
    assert_eq!(report["records"], 2);
    assert_eq!(
        report["changes"],
        serde_json::json!([{"from": "SAFE", "to": "UNSAFE", "count": 2}])
    );
    assert_eq!(report["overridden"], 1);
    assert_eq!(report["written"], 0);
    assert_eq!(report["dryRun"], true);
    assert_eq!(
        report["previousVersions"],
        serde_json::json!({ spotlight_core::policy::ModerationPolicy::shipped().version: 2 })
    );
    assert_eq!(safe_keys(&store), ["beer 1.jpg", "beer 2.jpg"]);
    assert_eq!(
        record(&store, "beer 1.jpg")
            .moderation
            .unwrap()
            .policy_version,
        spotlight_core::policy::ModerationPolicy::shipped().version
    );
    assert_eq!(
        SqliteStore::open(&store.path)
            .unwrap()
            .saved_policy()
            .unwrap(),
        None
    );

    // The report for people says the same.
    let output = spotlight(&store.path)
        .args(["policy", "apply", "--dry-run"])
        .arg(&policy)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("SAFE → UNSAFE  2"), "{text}");
    assert!(text.contains("dry run: nothing written"), "{text}");

    // Applied: written, searched accordingly, the override still wins.
    let output = spotlight(&store.path)
        .args(["policy", "apply", "--json"])
        .arg(&policy)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["written"], 2);
    assert_eq!(report["skipped"], 0);
    assert_eq!(safe_keys(&store), ["beer 2.jpg"], "the approved photo only");
    let blocked = record(&store, "beer 1.jpg");
    let moderation = blocked.moderation.as_ref().unwrap();
    assert_eq!(moderation.verdict, Verdict::Unsafe);
    assert_eq!(moderation.policy_version, "test-strict-1");
    assert_eq!(moderation.flagged[0].name, "Alcohol");
    assert!(!blocked.safe);
    let approved = record(&store, "beer 2.jpg");
    assert_eq!(
        approved.moderation.as_ref().unwrap().verdict,
        Verdict::Unsafe,
        "the model's verdict underneath changes"
    );
    assert_eq!(
        approved.review.as_ref().map(|r| r.decision),
        Some(ReviewDecision::Approved)
    );
    assert!(approved.safe, "the reviewer's decision still wins");

    // The applied policy is the store's policy in force from now on.
    assert_eq!(
        SqliteStore::open(&store.path)
            .unwrap()
            .saved_policy()
            .unwrap()
            .as_deref(),
        Some(STRICT)
    );
    // Applying it again changes no verdict and writes nothing.
    let output = spotlight(&store.path)
        .args(["policy", "apply", "--json"])
        .arg(&policy)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["changes"], serde_json::json!([]));
    assert_eq!(report["unchanged"], 2);
    assert_eq!(report["written"], 0);
}

#[test]
fn a_bad_policy_file_is_a_usage_error_that_writes_nothing() {
    let store = beer_store();
    let bad = store.dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"version": "x", "defaultMinConfidence": 150}"#).unwrap();
    let output = spotlight(&store.path)
        .args(["policy", "apply"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", output_text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a percentage"));
    assert_eq!(safe_keys(&store), ["beer 1.jpg", "beer 2.jpg"]);
}

/// `run` on `paths` with the real models, as JSON Lines.
fn run(store: &Path, paths: &[&Path], deadline: Option<&str>) -> Vec<Value> {
    let mut command = spotlight(store);
    command.args(["run", "--json"]).args(paths);
    if let Some(deadline) = deadline {
        command.env("SPOTLIGHT_ANALYSIS_DEADLINE", deadline);
    }
    let output = command.output().unwrap();
    json_lines(&String::from_utf8_lossy(&output.stdout))
}

fn show(store: &Path, path: &Path) -> Value {
    let output = spotlight(store)
        .args(["show", "--json"])
        .arg(path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn reprocess_runs_only_the_analysers_asked_for_and_only_the_records_selected() {
    if !models_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store.sqlite");
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let good = photos.join("good.jpg");
    let bad = photos.join("bad.jpg");
    std::fs::write(&good, spotlight_fixtures::jpeg(320, 240)).unwrap();
    std::fs::write(&bad, spotlight_fixtures::jpeg(300, 200)).unwrap();
    let tiny = photos.join("tiny.png");
    std::fs::write(&tiny, spotlight_fixtures::png(1, 1)).unwrap();
    let first = run(&store, &[&good], None);
    assert_eq!(first[0]["status"], "ANALYZED", "{first:?}");
    let rejected = run(&store, &[&tiny], None);
    assert_eq!(rejected[0]["status"], "REJECTED", "{rejected:?}");
    // An analysis deadline nothing can meet: a FAILED record.
    let failed = run(&store, &[&bad], Some("0.000001"));
    assert_eq!(failed[0]["status"], "FAILED", "{failed:?}");
    let good_before = show(&store, &good);

    // --failed picks the failed photo only.
    let output = spotlight(&store)
        .args(["reprocess", "--failed", "--dry-run", "--json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
    let listed = json_lines(&String::from_utf8_lossy(&output.stdout));
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["key"], "bad.jpg");
    assert_eq!(
        listed[0]["analysers"],
        serde_json::json!(["labels", "moderation", "text"])
    );
    let output = spotlight(&store)
        .args(["reprocess", "--failed", "--json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
    let repaired = json_lines(&String::from_utf8_lossy(&output.stdout));
    assert_eq!(repaired.len(), 1, "{repaired:?}");
    assert_eq!(repaired[0]["status"], "ANALYZED");
    assert_eq!(show(&store, &bad)["status"], "ANALYZED");
    assert_eq!(
        show(&store, &good),
        good_before,
        "the analysed photo was not selected"
    );

    // --analyser text: only the text model runs; the others' results and models stay.
    let output = spotlight(&store)
        .args(["reprocess", "--analyser", "text", "--json"])
        .arg("--label")
        .arg("__no such label__")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
    assert!(
        output.stdout.is_empty(),
        "a label nothing carries selects nothing"
    );

    let output = spotlight(&store)
        .args(["reprocess", "--analyser", "text", "--json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
    let results = json_lines(&String::from_utf8_lossy(&output.stdout));
    assert_eq!(results.len(), 2, "not the rejected upload: {results:?}");
    assert!(results.iter().all(|r| r["key"] != "tiny.png"));
    let good_result = results.iter().find(|r| r["key"] == "good.jpg").unwrap();
    assert_eq!(good_result["write"], "WRITTEN");
    assert_eq!(good_result["analysers"], serde_json::json!(["text"]));
    let good_after = show(&store, &good);
    for field in ["labels", "models", "moderation", "themes", "uploadedAt"] {
        assert_eq!(good_after[field], good_before[field], "{field}");
    }
    assert_ne!(good_after["execution"], good_before["execution"]);
    assert!(
        good_after["revision"]
            .as_str()
            .unwrap()
            .starts_with(good_before["revision"].as_str().unwrap()),
        "the same upload"
    );

    // The execution's history shows the analysers skipped and the one run.
    let execution = good_result["executionId"].as_str().unwrap();
    let output = spotlight(&store)
        .args(["executions", "show", "--events", "--json", execution])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
    let history = String::from_utf8_lossy(&output.stdout);
    for state in [
        "PlanReprocess",
        "KeepLabels",
        "KeepModeration",
        "DetectText",
    ] {
        assert!(history.contains(&format!("\"{state}\"")), "{state}");
    }
    for state in ["DetectLabels", "DetectModeration"] {
        assert!(!history.contains(&format!("\"{state}\"")), "{state}");
    }

    // By model version: the record's own text model is not older than itself, a later one is.
    let text_version = good_after["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["analyser"] == "text")
        .map(|m| m["model"]["version"].as_str().unwrap().to_owned())
        .unwrap();
    let older_than = |version: &str| {
        let output = spotlight(&store)
            .args(["reprocess", "--dry-run", "--json", "--model-older-than"])
            .arg(format!("text={version}"))
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
        json_lines(&String::from_utf8_lossy(&output.stdout))
    };
    assert!(older_than(&text_version).is_empty());
    let listed = older_than(&format!("{text_version}.1"));
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed
        .iter()
        .all(|l| l["analysers"] == serde_json::json!(["text"])));
    // Every record was analysed by the models in use now: none is stale.
    let output = spotlight(&store)
        .args(["reprocess", "--stale-models", "--dry-run", "--json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
    assert!(output.stdout.is_empty(), "{}", output_text(&output));

    // A later `run` of the unchanged photo does not analyse it again.
    let again = run(&store, &[&good], None);
    assert_eq!(again[0]["write"], "UNCHANGED", "{again:?}");
}

#[test]
fn a_later_run_judges_with_the_applied_policy() {
    if !models_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store.sqlite");
    let photo = dir.path().join("photo.jpg");
    std::fs::write(&photo, spotlight_fixtures::jpeg(320, 240)).unwrap();
    let first = run(&store, &[&photo], None);
    assert_eq!(first[0]["status"], "ANALYZED", "{first:?}");
    let policy = policy_file(dir.path());
    let output = spotlight(&store)
        .args(["policy", "apply", "--json"])
        .arg(&policy)
        .env_remove("SPOTLIGHT_POLICY")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
    assert_eq!(
        show(&store, &photo)["moderation"]["policyVersion"],
        "test-strict-1"
    );
    let later = dir.path().join("later.jpg");
    std::fs::write(&later, spotlight_fixtures::jpeg(300, 200)).unwrap();
    let run = run(&store, &[&later], None);
    assert_eq!(run[0]["status"], "ANALYZED", "{run:?}");
    assert_eq!(
        show(&store, &later)["moderation"]["policyVersion"],
        "test-strict-1"
    );
}
