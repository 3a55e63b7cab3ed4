//! `spotlight analyze` says the verdict the moderation policy reaches on each photo, with the
//! moderation labels that decided it (issue 12, point 6), through the real binary and models.
//!
//! The photos are ordinary, so open_nsfw scores them far below the shipped thresholds; the
//! policies below set thresholds of 0 % to make them block or need review whatever the score,
//! which also checks that `analyze` lowers the model's reporting floor to the policy's lowest
//! threshold as `spotlight run` does.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use common::{json_lines, models_ready, output_text, spotlight, workspace};

const SHIPPED_VERSION: &str = "2026-12-03.1";

fn chelsea() -> PathBuf {
    workspace().join("samples/photos/chelsea.jpg")
}

/// `spotlight analyze`, with no policy from the developer's shell.
fn analyze(dir: &Path) -> Command {
    let mut command = spotlight(&dir.join("never.sqlite"));
    command.env_remove("SPOTLIGHT_POLICY").arg("analyze");
    command
}

fn write_policy(dir: &Path, name: &str, json: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, json).unwrap();
    path
}

/// The one JSON line of a successful `analyze --json` on one photo.
fn report(out: &Output) -> Value {
    assert_eq!(out.status.code(), Some(0), "{}", output_text(out));
    let mut lines = json_lines(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(lines.len(), 1, "{}", output_text(out));
    lines.remove(0)
}

#[test]
fn an_ordinary_photo_is_safe_under_the_shipped_policy() {
    if !models_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = analyze(dir.path())
        .arg("--json")
        .arg(chelsea())
        .output()
        .unwrap();
    let line = report(&out);
    assert_eq!(
        line["verdict"],
        serde_json::json!({"verdict": "SAFE", "policyVersion": SHIPPED_VERSION, "decidedBy": []})
    );
    assert_eq!(line["moderationLabels"], serde_json::json!([]));

    let out = analyze(dir.path()).arg(chelsea()).output().unwrap();
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "  verdict    SAFE under policy {SHIPPED_VERSION}\n"
        )),
        "{text}"
    );
}

#[test]
fn a_policy_that_blocks_a_label_the_photo_has_makes_it_unsafe_and_names_it() {
    if !models_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let policy = write_policy(
        dir.path(),
        "strict.json",
        r#"{"version": "block-explicit", "defaultMinConfidence": 90, "minConfidence": {"Explicit": 0}}"#,
    );
    let line = report(
        &analyze(dir.path())
            .args(["--json", "--policy"])
            .arg(&policy)
            .arg(chelsea())
            .output()
            .unwrap(),
    );
    let verdict = &line["verdict"];
    assert_eq!(verdict["verdict"], "UNSAFE", "{line}");
    assert_eq!(verdict["policyVersion"], "block-explicit");
    // open_nsfw's score, reported as Explicit and Explicit Nudity once the floor is 0 %; both
    // meet Explicit's threshold (the child through its parent).
    let scored = line["moderationLabels"]
        .as_array()
        .and_then(|labels| labels.iter().find(|l| l["name"] == "Explicit"))
        .map(|l| l["confidence"].clone());
    assert!(scored.is_some(), "{line}");
    let decided = verdict["decidedBy"].as_array().unwrap();
    let names: Vec<&str> = decided.iter().filter_map(|f| f["name"].as_str()).collect();
    assert_eq!(names, ["Explicit", "Explicit Nudity"], "{line}");
    assert_eq!(decided[0]["threshold"], 0.0);
    assert_eq!(Some(decided[0]["confidence"].clone()), scored);

    // The same through SPOTLIGHT_POLICY, as `spotlight run` reads it, in the text output.
    let out = analyze(dir.path())
        .env("SPOTLIGHT_POLICY", &policy)
        .arg(chelsea())
        .output()
        .unwrap();
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let verdict_line = text
        .lines()
        .find(|l| l.starts_with("  verdict "))
        .unwrap_or_else(|| panic!("no verdict: {text}"));
    assert!(
        verdict_line.starts_with("  verdict    UNSAFE under policy block-explicit: Explicit ")
            && verdict_line.contains("% ≥ 0.0% (block)"),
        "{text}"
    );
}

#[test]
fn a_review_threshold_makes_the_photo_need_review() {
    if !models_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let policy = write_policy(
        dir.path(),
        "review.json",
        r#"{"version": "review-all", "defaultMinConfidence": 90, "reviewMinConfidence": 0}"#,
    );
    let line = report(
        &analyze(dir.path())
            .args(["--json", "--policy"])
            .arg(&policy)
            .arg(chelsea())
            .output()
            .unwrap(),
    );
    let verdict = &line["verdict"];
    assert_eq!(verdict["verdict"], "NEEDS_REVIEW", "{line}");
    let decided = verdict["decidedBy"].as_array().unwrap();
    assert!(!decided.is_empty(), "{line}");
    assert!(
        decided
            .iter()
            .all(|f| f["threshold"] == 0.0 && f["confidence"].as_f64().is_some_and(|c| c < 90.0)),
        "under the block threshold, over the review one: {line}"
    );
    assert!(decided.iter().any(|f| f["name"] == "Explicit"), "{line}");

    let out = analyze(dir.path())
        .arg("--policy")
        .arg(&policy)
        .arg(chelsea())
        .output()
        .unwrap();
    let text = output_text(&out);
    assert!(
        text.contains("  verdict    NEEDS_REVIEW under policy review-all: Explicit ")
            && text.contains("(review)"),
        "{text}"
    );
}

#[test]
fn a_policy_that_cannot_be_used_is_a_usage_error() {
    // Checked before any model loads, so this needs no models.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-policy.json");
    let out = analyze(dir.path())
        .arg("--policy")
        .arg(&missing)
        .arg(chelsea())
        .output()
        .unwrap();
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains(&format!("cannot read the policy {}", missing.display())),
        "{text}"
    );
    assert!(out.stdout.is_empty(), "{text}");

    let bad = write_policy(
        dir.path(),
        "bad.json",
        r#"{"version": "t", "defaultMinConfidence": 150}"#,
    );
    let out = analyze(dir.path())
        .args(["--json", "--policy"])
        .arg(&bad)
        .arg(chelsea())
        .output()
        .unwrap();
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("not a percentage") && text.contains(&bad.display().to_string()),
        "{text}"
    );
    assert!(out.stdout.is_empty(), "{text}");
}

#[test]
fn analyze_judges_with_the_policy_policy_apply_saved_as_run_does() {
    if !models_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store.sqlite");
    let policy = write_policy(
        dir.path(),
        "saved.json",
        r#"{"version": "saved-in-the-store", "defaultMinConfidence": 90, "minConfidence": {"Explicit": 0}}"#,
    );
    // A store to save it in: a run over an empty folder makes one.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let made = spotlight(&store).arg("run").arg(&empty).output().unwrap();
    assert_eq!(made.status.code(), Some(0), "{}", output_text(&made));
    let applied = spotlight(&store)
        .env_remove("SPOTLIGHT_POLICY")
        .args(["policy", "apply"])
        .arg(&policy)
        .output()
        .unwrap();
    assert_eq!(applied.status.code(), Some(0), "{}", output_text(&applied));

    let out = spotlight(&store)
        .env_remove("SPOTLIGHT_POLICY")
        .args(["analyze", "--json"])
        .arg(chelsea())
        .output()
        .unwrap();
    let line = report(&out);
    assert_eq!(line["verdict"]["verdict"], "UNSAFE", "{line}");
    assert_eq!(
        line["verdict"]["policyVersion"], "saved-in-the-store",
        "{line}"
    );
}
