//! `spotlight executions redrive` and the console's redrive button, with the real binary, the
//! real models and a real SQLite file: the same execution goes on from the state it stopped in,
//! its redrive count one more and its history continued; what AWS refuses is refused.
//!
//! The models come as in `e2e.rs`: without them these tests say so and pass, unless
//! `SPOTLIGHT_REQUIRE_MODELS`.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use spotlight_core::contracts::ExecutionStatus;
use spotlight_storage::{ExecutionSummary, SqliteStore};
use spotlight_testkit::Console;

use common::{json_lines, models_ready, output_text, spotlight, workspace};

fn folder(dir: &Path, names: &[&str]) -> PathBuf {
    let folder = dir.join("photos");
    std::fs::create_dir_all(&folder).unwrap();
    for name in names {
        std::fs::copy(
            workspace().join("samples/photos").join(name),
            folder.join(name),
        )
        .unwrap();
    }
    std::fs::canonicalize(folder).unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn redrive(store: &Path, id: &str) -> Output {
    spotlight(store)
        .args(["executions", "redrive", id])
        .output()
        .unwrap()
}

/// `executions show --json`: the execution and its history's events.
fn show(store: &Path, id: &str) -> (Value, Vec<Value>) {
    let output = spotlight(store)
        .args(["executions", "show", "--json", id])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
    let shown: Value = serde_json::from_slice(&output.stdout).unwrap();
    let events = shown["history"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    (shown["execution"].clone(), events)
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["type"].as_str()).collect()
}

fn record_status(store: &Path, path: &Path) -> String {
    let output = spotlight(store)
        .args(["show", "--json"])
        .arg(path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
    let record: Value = serde_json::from_slice(&output.stdout).unwrap();
    record["status"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn a_caught_analysis_failure_is_redriven_into_its_fail_state_as_on_aws() {
    if !models_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("spotlight.sqlite");
    let photos = folder(dir.path(), &["coffee.jpg", "chelsea.jpg"]);
    // An analysis that cannot finish in time fails the photo: caught, recorded FAILED, and the
    // execution ends in the Fail state.
    let failed = spotlight(&store)
        .env("SPOTLIGHT_ANALYSIS_DEADLINE", "0.000001")
        .args(["run", "--json"])
        .arg(photos.join("coffee.jpg"))
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(1), "{}", output_text(&failed));
    let id = json_lines(&stdout(&failed))[0]["executionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (before, old_events) = show(&store, &id);
    assert_eq!(before["status"], "FAILED");
    assert_eq!(before["redriveCount"], 0);

    // Redriven with the deadline gone: as AWS documents, the Fail state is entered again and
    // fails again; no task runs again.
    let redriven = redrive(&store, &id);
    assert_eq!(
        redriven.status.code(),
        Some(1),
        "{}",
        output_text(&redriven)
    );
    let line = stdout(&redriven);
    assert!(
        line.starts_with(&id) && line.contains("\tFAILED\tredrive 1\tfrom Failed\t"),
        "{line}"
    );
    assert!(stderr(&redriven).contains("a redrive enters that state again"));
    let (after, events) = show(&store, &id);
    assert_eq!(after["id"], id.as_str());
    assert_eq!(after["status"], "FAILED");
    assert_eq!(after["redriveCount"], 1);
    assert_eq!(after["error"], before["error"]);
    assert_eq!(&events[..old_events.len()], &old_events[..]);
    let new = &events[old_events.len()..];
    assert_eq!(
        types(new),
        ["ExecutionRedriven", "FailStateEntered", "ExecutionFailed"]
    );
    assert_eq!(new[0]["executionRedrivenEventDetails"]["redriveCount"], 1);
    let ids: Vec<u64> = events.iter().filter_map(|e| e["id"].as_u64()).collect();
    assert_eq!(ids, (1..=events.len() as u64).collect::<Vec<_>>());
    assert_eq!(record_status(&store, &photos.join("coffee.jpg")), "FAILED");

    // The list shows the count, in text and in JSON.
    let list = spotlight(&store)
        .args(["executions", "list", "--json"])
        .output()
        .unwrap();
    let listed = json_lines(&stdout(&list));
    assert_eq!(listed[0]["redriveCount"], 1, "{listed:?}");
    let text = spotlight(&store)
        .args(["executions", "list"])
        .output()
        .unwrap();
    assert!(stdout(&text).contains("\tredriven 1"), "{}", stdout(&text));

    // Again: the count goes on.
    let again = redrive(&store, &id);
    assert!(
        stdout(&again).contains("\tredrive 2\t"),
        "{}",
        output_text(&again)
    );

    // A succeeded execution, and one that does not exist, are refused.
    let good = spotlight(&store)
        .args(["run", "--json"])
        .arg(photos.join("chelsea.jpg"))
        .output()
        .unwrap();
    let good_id = json_lines(&stdout(&good))[0]["executionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = redrive(&store, &good_id);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("ExecutionNotRedrivable")
            && stderr(&refused).contains("SUCCEEDED"),
        "{}",
        output_text(&refused)
    );
    assert_eq!(show(&store, &good_id).0["redriveCount"], 0);
    let missing = redrive(&store, "no-such-execution");
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("no execution"));
}

/// An execution kept RUNNING by a process that then died, without a history: what a `run`
/// killed in the middle of a photo leaves (see `crash.rs`), made here without a race.
fn abandoned_execution(store: &Path, photos: &Path, key: &str) -> String {
    let bucket = photos.to_string_lossy().into_owned();
    let modified: chrono::DateTime<chrono::Utc> = std::fs::metadata(photos.join(key))
        .unwrap()
        .modified()
        .unwrap()
        .into();
    let id = format!(
        "arn:aws:states:local:123456789012:execution:spotlight-pipeline:{}",
        uuid_like(key)
    );
    let opened = SqliteStore::open(store).unwrap();
    opened.remember_folder(&bucket).unwrap();
    opened
        .save_execution(
            &ExecutionSummary {
                id: id.clone(),
                bucket: bucket.clone(),
                key: key.to_owned(),
                record_id: spotlight_core::record_id(&bucket, key),
                status: ExecutionStatus::Running,
                start_time: chrono::Utc::now(),
                stop_time: None,
                input: serde_json::json!({
                    "bucket": bucket, "key": key, "eventTime": modified.to_rfc3339(),
                }),
                output: None,
                error: None,
                cause: None,
                redrive_count: 0,
            },
            None,
        )
        .unwrap();
    // Dropping the store lets go of this "process's" claim: the next command marks it ABORTED.
    drop(opened);
    id
}

fn uuid_like(key: &str) -> String {
    format!("00000000-0000-4000-8000-{:012x}", key.len() * 7919)
}

#[test]
fn an_aborted_execution_is_redriven_to_success_and_its_photo_analysed() {
    if !models_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("spotlight.sqlite");
    let photos = folder(dir.path(), &["chelsea.jpg"]);
    let id = abandoned_execution(&store, &photos, "chelsea.jpg");
    let (aborted, _) = show(&store, &id);
    assert_eq!(aborted["status"], "ABORTED");

    let redriven = spotlight(&store)
        .args(["executions", "redrive", "--json"])
        .arg(id.rsplit(':').next().unwrap())
        .output()
        .unwrap();
    assert_eq!(
        redriven.status.code(),
        Some(0),
        "{}",
        output_text(&redriven)
    );
    let answer: Value = serde_json::from_slice(&redriven.stdout).unwrap();
    assert_eq!(answer["execution"]["id"], id.as_str());
    assert_eq!(answer["execution"]["status"], "SUCCEEDED");
    assert_eq!(answer["execution"]["redriveCount"], 1);
    assert_eq!(answer["record"], "ANALYZED");
    // Nothing was known to have run: from the start.
    assert_eq!(answer["redrivenFrom"], Value::Null);

    let (after, events) = show(&store, &id);
    assert_eq!(after["status"], "SUCCEEDED");
    let kinds = types(&events);
    assert_eq!(kinds[..2], ["ExecutionStarted", "ExecutionRedriven"]);
    assert_eq!(kinds.last(), Some(&"ExecutionSucceeded"));
    assert!(kinds.contains(&"TaskScheduled"));
    // The record names the execution that wrote it: the redriven one.
    let record = spotlight(&store)
        .args(["show", "--json"])
        .arg(photos.join("chelsea.jpg"))
        .output()
        .unwrap();
    let record: Value = serde_json::from_slice(&record.stdout).unwrap();
    assert_eq!(record["status"], "ANALYZED");
    assert_eq!(record["execution"]["id"], id.as_str(), "{record}");

    // Succeeded now: not again.
    let refused = redrive(&store, &id);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("ExecutionNotRedrivable"));
}

/// A form POST (`application/x-www-form-urlencoded`) to the console: the status and the
/// `Location` it answers with.
fn post(console: &Console, path: &str, form: &str) -> (u16, Option<String>) {
    let mut stream = TcpStream::connect(console.authority()).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{form}",
        console.authority(),
        form.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let location = answer.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .starts_with("location:")
            .then(|| l["location:".len()..].trim().to_owned())
    });
    (status, location)
}

/// The value of `attribute="…"` after `after` in `page`.
fn attribute_after<'p>(page: &'p str, after: &str, attribute: &str) -> &'p str {
    let at = page
        .find(after)
        .unwrap_or_else(|| panic!("no {after} in {page}"));
    let rest = &page[at..];
    let start = rest.find(&format!("{attribute}=\"")).unwrap() + attribute.len() + 2;
    let end = rest[start..].find('"').unwrap();
    &rest[start..start + end]
}

#[test]
fn the_console_redrives_an_execution_with_its_csrf_token_only() {
    if !models_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("spotlight.sqlite");
    let photos = folder(dir.path(), &["chelsea.jpg"]);
    let id = abandoned_execution(&store, &photos, "chelsea.jpg");
    let console = Console::serve(Path::new(env!("CARGO_BIN_EXE_spotlight")), &store, &[]);
    let (status, page) = console.get(&format!("/executions/{}", id.replace(':', "%3A")), &[]);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<dd id=\"redrive-count\">0</dd>"), "{page}");
    // The button's form: its action, then its CSRF field.
    let end = page
        .find("/redrive\"")
        .unwrap_or_else(|| panic!("no redrive form: {page}"));
    let start = page[..end].rfind('"').unwrap() + 1;
    let action = page[start..end + "/redrive".len()].to_owned();
    let page_path = action.trim_end_matches("/redrive").to_owned();
    let csrf = attribute_after(&page[end..], "name=\"csrf\"", "value").to_owned();

    // Without the token, or with another: refused, and nothing ran.
    assert_eq!(post(&console, &action, "").0, 403);
    assert_eq!(post(&console, &action, "csrf=not-the-token").0, 403);
    assert_eq!(show(&store, &id).0["status"], "ABORTED");

    let (status, location) = post(&console, &action, &format!("csrf={csrf}"));
    assert_eq!(status, 303, "{location:?}");
    assert_eq!(location.as_deref(), Some(page_path.as_str()));
    let (execution, _) = show(&store, &id);
    assert_eq!(execution["status"], "SUCCEEDED");
    assert_eq!(execution["redriveCount"], 1);
    assert_eq!(
        record_status(&store, &photos.join("chelsea.jpg")),
        "ANALYZED"
    );
    let (_, page) = console.get(&page_path, &[]);
    assert!(page.contains("<dd id=\"redrive-count\">1</dd>"), "{page}");
    assert!(
        !page.contains("id=\"redrive\""),
        "a succeeded execution has no button"
    );

    // Redriven again (a second tab): refused with a conflict, saying why.
    assert_eq!(post(&console, &action, &format!("csrf={csrf}")).0, 409);
}
