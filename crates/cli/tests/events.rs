//! The result event end to end (issue 14, point 7): the `spotlight` binary runs real photos with
//! the real models, each execution puts exactly one event in the store's event log, `spotlight
//! events` prints it (and `--follow` sees it arrive), and a webhook on loopback receives it — or
//! fails, and the photo keeps its outcome.
//!
//! The models come from `SPOTLIGHT_MODEL_DIR`; without them the tests that run photos say so and
//! pass, unless `SPOTLIGHT_REQUIRE_MODELS` is set.

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use common::{json_lines, models_ready, output_text, spotlight, workspace};

/// A webhook on loopback: answers every request with `status` and hands each request's body
/// to the test.
struct Hook {
    url: String,
    bodies: mpsc::Receiver<Value>,
}

fn hook(status: &'static str) -> Hook {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/spotlight/events", listener.local_addr().unwrap());
    let (sender, bodies) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            assert!(
                request_line.starts_with("POST /spotlight/events HTTP/1.1"),
                "{request_line}"
            );
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap();
                    }
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let _ = write!(stream, "HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
            if sender.send(serde_json::from_slice(&body).unwrap()).is_err() {
                return;
            }
        }
    });
    Hook { url, bodies }
}

impl Hook {
    /// Every body received so far.
    fn received(&self) -> Vec<Value> {
        self.bodies.try_iter().collect()
    }
}

/// A folder holding `names` (sample photos by name, anything else a text file).
fn folder(dir: &Path, names: &[&str]) -> PathBuf {
    let folder = dir.join("uploads");
    std::fs::create_dir_all(&folder).unwrap();
    for name in names {
        let sample = workspace().join("samples/photos").join(name);
        if sample.exists() {
            std::fs::copy(sample, folder.join(name)).unwrap();
        } else {
            std::fs::write(folder.join(name), b"no photo here").unwrap();
        }
    }
    folder
}

fn run(command: &mut Command, paths: &[PathBuf]) -> Vec<Value> {
    let out = command
        .args(["run", "--json", "--offline"])
        .args(paths)
        .output()
        .unwrap();
    assert!(out.status.code().is_some(), "{}", output_text(&out));
    json_lines(&String::from_utf8_lossy(&out.stdout))
}

/// `spotlight events --json`, as lines.
fn events(store: &Path) -> Vec<Value> {
    let out = spotlight(store)
        .args(["events", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    json_lines(&String::from_utf8_lossy(&out.stdout))
}

/// The logged event of `key`, checked against the run's result for it.
fn event_of<'a>(logged: &'a [Value], results: &[Value], key: &str) -> &'a Value {
    let mine: Vec<&Value> = logged
        .iter()
        .filter(|l| l["event"]["detail"]["key"] == key)
        .collect();
    assert_eq!(mine.len(), 1, "one event for {key}: {logged:#?}");
    let event = &mine[0]["event"];
    let result = results.iter().find(|r| r["key"] == key).unwrap();
    let detail = &event["detail"];
    assert_eq!(detail["status"], result["status"], "{key}");
    assert_eq!(detail["safe"], result["safe"], "{key}");
    assert_eq!(detail["execution"]["arn"], result["executionId"], "{key}");
    assert_eq!(detail["bucket"], result["bucket"], "{key}");
    assert_eq!(event["source"], "spotlight.pipeline");
    assert_eq!(event["detail-type"], "Spotlight Photo Screened");
    assert_eq!(event["resources"][1], result["executionId"]);
    assert_eq!(mine[0]["bus"], "spotlight-results");
    event
}

#[test]
fn each_outcome_sends_one_event_that_events_prints_and_the_webhook_receives() {
    if !models_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("spotlight.sqlite");
    let folder = folder(dir.path(), &["chelsea.jpg", "note.jpg", "coffee.jpg"]);
    let hook = hook("204 No Content");

    let results = run(
        spotlight(&store).env("SPOTLIGHT_WEBHOOK", &hook.url),
        &[folder.join("chelsea.jpg"), folder.join("note.jpg")],
    );
    // An analysis that cannot finish in time fails the photo (AnalyzerFailed).
    let failed = run(
        spotlight(&store)
            .env("SPOTLIGHT_WEBHOOK", &hook.url)
            .env("SPOTLIGHT_ANALYSIS_DEADLINE", "0.000001"),
        &[folder.join("coffee.jpg")],
    );
    let results: Vec<Value> = results.into_iter().chain(failed).collect();

    let logged = events(&store);
    assert_eq!(logged.len(), 3, "one event per execution: {logged:#?}");
    let analysed = &event_of(&logged, &results, "chelsea.jpg")["detail"];
    assert_eq!(analysed["status"], "ANALYZED");
    assert_eq!(analysed["verdict"], "SAFE");
    assert_eq!(analysed["themes"], serde_json::json!(["animals"]));
    assert_eq!(analysed["error"], Value::Null);
    let rejected = &event_of(&logged, &results, "note.jpg")["detail"];
    assert_eq!(rejected["status"], "REJECTED");
    assert_eq!(rejected["verdict"], "UNKNOWN");
    assert_eq!(rejected["error"], "ImageRejected.UnsupportedFormat");
    let failed = &event_of(&logged, &results, "coffee.jpg")["detail"];
    assert_eq!(failed["status"], "FAILED");
    assert_eq!(failed["error"], "AnalyzerFailed");
    for line in &logged {
        assert_eq!(line["webhook"]["status"], "DELIVERED", "{line}");
        assert_eq!(line["webhook"]["attempts"], 1, "{line}");
        assert_eq!(line["webhook"]["url"], hook.url.as_str());
    }
    // The record id names the record `show` prints.
    let show = spotlight(&store)
        .args(["show", "--json"])
        .arg(analysed["recordId"].as_str().unwrap())
        .output()
        .unwrap();
    assert_eq!(show.status.code(), Some(0), "{}", output_text(&show));

    // The webhook got each event once, exactly as logged.
    let mut received = hook.received();
    let mut sent: Vec<Value> = logged.iter().map(|l| l["event"].clone()).collect();
    let by_id = |v: &Value| v["id"].as_str().unwrap_or_default().to_owned();
    received.sort_by_key(by_id);
    sent.sort_by_key(by_id);
    assert_eq!(received, sent);

    // The text form: one line per event with its outcome and key.
    let text = spotlight(&store).arg("events").output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("REJECTED (ImageRejected.UnsupportedFormat)")
                && l.contains("note.jpg")
                && l.contains("webhook DELIVERED")),
        "{text}"
    );

    // --since: only what was put at or after it.
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let none = spotlight(&store)
        .args(["events", "--json", "--since", &future])
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(0), "{}", output_text(&none));
    assert!(none.stdout.is_empty(), "{}", output_text(&none));
}

#[test]
fn follow_prints_an_event_that_arrives_after_it_started() {
    if !models_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("spotlight.sqlite");
    let folder = folder(dir.path(), &["early.jpg", "late.jpg"]);
    run(&mut spotlight(&store), &[folder.join("early.jpg")]);

    let mut follower = spotlight(&store)
        .args(["events", "--follow", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (lines, read) = mpsc::channel();
    let stdout = follower.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let next = || {
        let line = read
            .recv_timeout(Duration::from_secs(60))
            .expect("the follower printed a line");
        serde_json::from_str::<Value>(&line).unwrap()
    };
    // What was there first, then what arrives while it follows.
    assert_eq!(next()["event"]["detail"]["key"], "early.jpg");
    run(&mut spotlight(&store), &[folder.join("late.jpg")]);
    let late = next();
    assert_eq!(late["event"]["detail"]["key"], "late.jpg");
    assert_eq!(late["event"]["detail"]["status"], "REJECTED");
    assert!(
        follower.try_wait().unwrap().is_none(),
        "it follows until interrupted"
    );
    follower.kill().unwrap();
    follower.wait().unwrap();
}

#[test]
fn a_failing_webhook_marks_the_event_undelivered_and_the_photo_keeps_its_outcome() {
    if !models_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("spotlight.sqlite");
    let folder = folder(dir.path(), &["note.jpg"]);
    let hook = hook("500 Internal Server Error");
    let out = spotlight(&store)
        .env("SPOTLIGHT_WEBHOOK", &hook.url)
        .args(["run", "--json", "--offline"])
        .arg(folder.join("note.jpg"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let results = json_lines(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(results[0]["status"], "REJECTED");
    assert_eq!(results[0]["executionStatus"], "SUCCEEDED");

    let logged = events(&store);
    assert_eq!(logged.len(), 1);
    let webhook = &logged[0]["webhook"];
    assert_eq!(webhook["status"], "UNDELIVERED");
    assert_eq!(webhook["attempts"], 3);
    assert!(
        webhook["error"]
            .as_str()
            .is_some_and(|e| e.contains("500 Internal Server Error")),
        "{webhook}"
    );
    assert_eq!(hook.received().len(), 3, "three attempts");
    // The event is in the log whatever the webhook did, and the execution says it was put.
    let execution = spotlight(&store)
        .args(["executions", "show", "--json"])
        .arg(results[0]["executionId"].as_str().unwrap())
        .output()
        .unwrap();
    let execution: Value = serde_json::from_slice(&execution.stdout).unwrap();
    assert_eq!(
        execution["execution"]["output"]["resultEvent"]["eventId"],
        logged[0]["event"]["id"]
    );
}

#[test]
fn a_webhook_beyond_loopback_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("spotlight.sqlite");
    let folder = folder(dir.path(), &["note.jpg"]);
    for (url, says) in [
        ("http://example.com/hook", "loopback"),
        ("http://10.0.0.7:9000/hook", "loopback"),
        ("https://127.0.0.1/hook", "http://"),
        ("not a url", "is not a URL"),
    ] {
        let out = spotlight(&store)
            .env("SPOTLIGHT_WEBHOOK", url)
            .args(["run", "--offline"])
            .arg(folder.join("note.jpg"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{url}: {}", output_text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("SPOTLIGHT_WEBHOOK") && stderr.contains(says),
            "{url}: {stderr}"
        );
    }
}

#[test]
fn events_refuses_a_missing_store_and_a_bad_time() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.sqlite");
    let out = spotlight(&missing).arg("events").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    assert!(!missing.exists(), "a read does not create a store");
    let out = spotlight(&missing)
        .args(["events", "--since", "yesterday"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--since must be an RFC 3339 time"),
        "{}",
        output_text(&out)
    );
}
