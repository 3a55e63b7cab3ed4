//! The local product end to end: the `spotlight` binary on real photos with the real models —
//! a run, searches, a re-run that does nothing twice, bad files mixed in, a run killed midway
//! and resumed, and execution histories that follow the state machine.
//!
//! The models come from `SPOTLIGHT_MODEL_DIR` (`target/models` by default). Without them these
//! tests say so and pass, unless `SPOTLIGHT_REQUIRE_MODELS` is set (the test command sets it):
//! then they fetch the models once with `spotlight models fetch` and a missing one fails.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;

use common::{first_result_then_kill, json_lines, models_ready, spotlight, workspace};

/// The sample photos plus every kind of bad upload, in a fresh folder.
fn photo_folder(dir: &Path) -> PathBuf {
    let folder = dir.join("inbox with spaces");
    std::fs::create_dir_all(folder.join("sub ünï")).unwrap();
    for name in ["chelsea.jpg", "coffee.jpg", "rocket.jpg"] {
        std::fs::copy(
            workspace().join("samples/photos").join(name),
            folder.join(name),
        )
        .unwrap();
    }
    std::fs::copy(
        workspace().join("samples/photos/china.jpg"),
        folder.join("sub ünï/china+1.jpg"),
    )
    .unwrap();
    let coffee = std::fs::read(workspace().join("samples/photos/coffee.jpg")).unwrap();
    std::fs::write(folder.join("truncated.jpg"), &coffee[..coffee.len() / 2]).unwrap();
    std::fs::write(folder.join("empty.jpg"), b"").unwrap();
    std::fs::write(
        folder.join("notes.jpg"),
        b"dear diary, today I took no photos",
    )
    .unwrap();
    std::fs::write(folder.join("tiny.png"), spotlight_fixtures::png(1, 1)).unwrap();
    std::fs::write(
        folder.join("bomb.png"),
        spotlight_fixtures::png_claiming(30_000, 30_000),
    )
    .unwrap();
    std::fs::write(
        folder.join("anim.gif"),
        spotlight_fixtures::encoded(100, 100, spotlight_fixtures::ImageFormat::Gif),
    )
    .unwrap();
    folder
}

const REJECTIONS: [(&str, &str); 6] = [
    ("truncated.jpg", "ImageRejected.Corrupt"),
    ("empty.jpg", "ImageRejected.Corrupt"),
    ("notes.jpg", "ImageRejected.UnsupportedFormat"),
    ("tiny.png", "ImageRejected.TooSmall"),
    ("bomb.png", "ImageRejected.TooLarge"),
    ("anim.gif", "ImageRejected.UnsupportedFormat"),
];

#[test]
fn a_folder_is_run_searched_and_rerun_without_doing_anything_twice() {
    if !models_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let folder = photo_folder(dir.path());
    let store = dir.path().join("spotlight.sqlite");

    let run = spotlight(&store)
        .args(["run", "--json"])
        .arg(&folder)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let results = json_lines(&String::from_utf8_lossy(&run.stdout));
    assert_eq!(results.len(), 10);
    let by_key = |key: &str| {
        results
            .iter()
            .find(|r| r["key"] == key)
            .unwrap_or_else(|| panic!("no {key}"))
    };
    for key in [
        "chelsea.jpg",
        "coffee.jpg",
        "rocket.jpg",
        "sub ünï/china+1.jpg",
    ] {
        assert_eq!(by_key(key)["status"], "ANALYZED", "{key}");
        assert_eq!(by_key(key)["safe"], true, "{key}: ordinary photos are safe");
        assert_eq!(by_key(key)["write"], "WRITTEN", "{key}");
    }
    for (key, error) in REJECTIONS {
        assert_eq!(by_key(key)["status"], "REJECTED", "{key}");
        assert_eq!(by_key(key)["error"], error, "{key}");
    }
    let summary = String::from_utf8_lossy(&run.stderr);
    assert!(
        summary.contains("4 analysed (4 safe), 6 rejected, 0 failed"),
        "{summary}"
    );

    let search = spotlight(&store)
        .args(["search", "--theme", "animals", "--json"])
        .output()
        .unwrap();
    let hits = json_lines(&String::from_utf8_lossy(&search.stdout));
    let keys: Vec<&str> = hits
        .iter()
        .map(|h| h["record"]["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["chelsea.jpg"],
        "the cat, and only the cat, is an animal"
    );
    let search = spotlight(&store)
        .args(["search", "--label", "espresso", "--json"])
        .output()
        .unwrap();
    let hits = json_lines(&String::from_utf8_lossy(&search.stdout));
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["record"]["key"], "coffee.jpg");
    assert!(hits[0]["matchedLabels"][0]["confidence"].as_f64().unwrap() > 50.0);

    let executions = spotlight(&store)
        .args(["executions", "list", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        json_lines(&String::from_utf8_lossy(&executions.stdout)).len(),
        10
    );

    let again = spotlight(&store)
        .args(["run", "--json"])
        .arg(&folder)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0));
    let results = json_lines(&String::from_utf8_lossy(&again.stdout));
    assert!(
        results.iter().all(|r| r["write"] == "UNCHANGED"),
        "nothing is done twice: {results:?}"
    );
    let executions = spotlight(&store)
        .args(["executions", "list", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        json_lines(&String::from_utf8_lossy(&executions.stdout)).len(),
        10,
        "no new executions"
    );
}

#[test]
fn a_run_killed_midway_finishes_the_rest_when_started_again() {
    if !models_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("many");
    std::fs::create_dir_all(&folder).unwrap();
    for i in 0..8 {
        for name in ["coffee.jpg", "rocket.jpg"] {
            std::fs::copy(
                workspace().join("samples/photos").join(name),
                folder.join(format!("{i}-{name}")),
            )
            .unwrap();
        }
    }
    let store = dir.path().join("spotlight.sqlite");
    let done_first = first_result_then_kill(
        spotlight(&store)
            .args(["run", "--json", "--concurrency", "1"])
            .arg(&folder),
    );

    let resumed = spotlight(&store)
        .args(["run", "--json"])
        .arg(&folder)
        .output()
        .unwrap();
    assert_eq!(resumed.status.code(), Some(0));
    let results = json_lines(&String::from_utf8_lossy(&resumed.stdout));
    assert_eq!(results.len(), 16);
    let unchanged = results.iter().filter(|r| r["write"] == "UNCHANGED").count();
    assert!(
        (1..16).contains(&unchanged),
        "the first run did some, not all: {unchanged}"
    );
    let first_again = results
        .iter()
        .find(|r| r["key"] == done_first["key"])
        .unwrap();
    assert_eq!(
        first_again["write"], "UNCHANGED",
        "what was done is not done again"
    );
    assert!(results.iter().all(|r| r["status"] == "ANALYZED"));

    let executions = spotlight(&store)
        .args(["executions", "list", "--json"])
        .output()
        .unwrap();
    let executions = json_lines(&String::from_utf8_lossy(&executions.stdout));
    let mut keys: Vec<&str> = executions
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), 16, "every photo has its execution");
    assert!(
        executions.len() <= 17,
        "at most the interrupted photo ran twice: {}",
        executions.len()
    );
}

fn entered_states(store: &Path, id: &str) -> Vec<String> {
    let shown = spotlight(store)
        .args(["executions", "show", "--json", id])
        .output()
        .unwrap();
    let shown: Value = serde_json::from_str(String::from_utf8_lossy(&shown.stdout).trim()).unwrap();
    shown["history"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"].as_str().unwrap().ends_with("StateEntered"))
        .map(|e| {
            e["stateEnteredEventDetails"]["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// `executions show` reports what an execution used and would cost on AWS: an analysed photo
/// is three Rekognition images and five Lambda invocations, a rejected one none and two.
#[test]
fn executions_show_reports_cost_and_limits() {
    if !models_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("two");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(
        workspace().join("samples/photos/chelsea.jpg"),
        folder.join("cat.jpg"),
    )
    .unwrap();
    std::fs::copy(
        workspace().join("samples/photos/not-a-photo.jpg"),
        folder.join("note.jpg"),
    )
    .unwrap();
    let store = dir.path().join("spotlight.sqlite");
    let run = spotlight(&store)
        .args(["run", "--json"])
        .arg(&folder)
        .output()
        .unwrap();
    let results = json_lines(&String::from_utf8_lossy(&run.stdout));
    let show = |key: &str| -> Value {
        let id = results.iter().find(|r| r["key"] == key).unwrap()["executionId"]
            .as_str()
            .unwrap()
            .to_owned();
        let shown = spotlight(&store)
            .args(["executions", "show", "--json", &id])
            .output()
            .unwrap();
        serde_json::from_str(String::from_utf8_lossy(&shown.stdout).trim()).unwrap()
    };

    for (key, images, invocations) in [("cat.jpg", 3, 5), ("note.jpg", 0, 2)] {
        let shown = show(key);
        let cost = &shown["cost"];
        let events = shown["history"]["events"].as_array().unwrap();
        let entered = events
            .iter()
            .filter(|e| e["type"].as_str().unwrap().ends_with("StateEntered"))
            .count() as u64;
        let retries = cost["retries"].as_u64().unwrap();
        assert_eq!(
            cost["transitions"].as_u64(),
            Some(entered + retries),
            "{key}: {cost}"
        );
        let rekognition = cost["rekognition"].as_object().unwrap();
        assert_eq!(
            rekognition.values().filter_map(Value::as_u64).sum::<u64>(),
            images,
            "{key}"
        );
        assert_eq!(
            cost["lambda"]["invocations"].as_u64(),
            Some(invocations),
            "{key}"
        );
        let peak = cost["peakPayload"]["bytes"].as_u64().unwrap();
        let largest = events
            .iter()
            .flat_map(|e| e.as_object().unwrap().values())
            .filter_map(|details| details.as_object())
            .flat_map(|details| ["input", "output", "parameters"].map(|f| details.get(f)))
            .filter_map(|text| text.and_then(Value::as_str))
            .map(|text| text.len() as u64)
            .max()
            .unwrap();
        assert_eq!(peak, largest, "{key}");
        assert_eq!(cost["peakPayload"]["limitBytes"].as_u64(), Some(262_144));
        let usd = &cost["usd"];
        let total = usd["totalStandard"].as_f64().unwrap();
        assert!(
            total > 0.0 && usd["totalExpress"].as_f64().unwrap() > 0.0,
            "{usd}"
        );
        assert_eq!(usd["rekognition"].as_f64().unwrap() > 0.0, images > 0);
        assert_eq!(cost["prices"]["region"], "us-east-1");
    }

    let id = results.iter().find(|r| r["key"] == "cat.jpg").unwrap()["executionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let text = spotlight(&store)
        .args(["executions", "show", &id])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("\ncost and limits\n"), "{text}");
    assert!(
        text.contains("rekognition  DetectLabels 1, DetectModerationLabels 1, DetectText 1"),
        "{text}"
    );
    assert!(text.contains("on Standard  $"), "{text}");
}

#[test]
fn execution_histories_follow_the_state_machine() {
    if !models_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("two");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(
        workspace().join("samples/photos/chelsea.jpg"),
        folder.join("cat.jpg"),
    )
    .unwrap();
    std::fs::copy(
        workspace().join("samples/photos/not-a-photo.jpg"),
        folder.join("note.jpg"),
    )
    .unwrap();
    let store = dir.path().join("spotlight.sqlite");
    let run = spotlight(&store)
        .args(["run", "--json"])
        .arg(&folder)
        .output()
        .unwrap();
    let results = json_lines(&String::from_utf8_lossy(&run.stdout));
    let id = |key: &str| {
        results.iter().find(|r| r["key"] == key).unwrap()["executionId"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    let mut analysed = entered_states(&store, &id("cat.jpg"));
    // The three branches interleave; each runs its analyser (no reprocess: no plan).
    analysed[5..11].sort();
    assert_eq!(
        analysed,
        [
            "Normalize",
            "FromObjectRequest",
            "Validate",
            "Reprocessing",
            "Analyze",
            "DetectLabels",
            "DetectModeration",
            "DetectText",
            "RunLabels",
            "RunModeration",
            "RunText",
            "Record",
            "PublishResult",
            "Outcome",
            "Analyzed"
        ]
    );
    let rejected = entered_states(&store, &id("note.jpg"));
    assert_eq!(
        rejected,
        [
            "Normalize",
            "FromObjectRequest",
            "Validate",
            "RecordRejected",
            "PublishResult",
            "Outcome",
            "Rejected"
        ]
    );

    let show = spotlight(&store)
        .args(["show", "cat.jpg"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(text.contains("Cat"), "{text}");
    assert!(
        text.contains(&id("cat.jpg")),
        "the record names its execution: {text}"
    );
}

#[test]
fn watch_runs_each_photo_dropped_into_the_inbox() {
    if !models_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    let store = dir.path().join("spotlight.sqlite");
    let mut child = spotlight(&store)
        .args(["watch", "--json", "--interval", "100"])
        .arg(&inbox)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Written after the watcher started, like an upload; the watcher creates the inbox.
    while !inbox.exists() {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The console serves the same store while the watcher writes to it.
    let console =
        spotlight_testkit::Console::serve(Path::new(env!("CARGO_BIN_EXE_spotlight")), &store, &[]);
    let listed = |query: &str| -> Vec<String> {
        let (status, body) = console.get(&format!("/api/records?{query}"), &[]);
        assert_eq!(status, 200, "{body}");
        let page: Value = serde_json::from_str(&body).unwrap();
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|hit| hit["record"]["key"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(listed("includeUnsafe=true").is_empty());
    std::fs::copy(
        workspace().join("samples/photos/coffee.jpg"),
        inbox.join("upload 1.jpg"),
    )
    .unwrap();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(listed("includeUnsafe=true"), ["upload 1.jpg"]);
    std::fs::write(inbox.join("upload 2.jpg"), b"not an image").unwrap();
    let second: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(listed("status=rejected"), ["upload 2.jpg"]);
    let (status, failures) = console.get("/failures", &[]);
    assert_eq!(status, 200);
    assert!(failures.contains("upload 2.jpg"), "{failures}");
    drop(console);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        (first["key"].as_str(), first["status"].as_str()),
        (Some("upload 1.jpg"), Some("ANALYZED"))
    );
    assert_eq!(
        (second["key"].as_str(), second["status"].as_str()),
        (Some("upload 2.jpg"), Some("REJECTED"))
    );
    let show = spotlight(&store)
        .args(["show", "upload 1.jpg", "--json"])
        .output()
        .unwrap();
    let record: Value = serde_json::from_str(String::from_utf8_lossy(&show.stdout).trim()).unwrap();
    assert!(record["labels"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["name"] == "Espresso"));
}

/// `coffee.jpg` copied slowly into the inbox of a `watch --settle <settle>`: four chunks 700 ms
/// apart. Returns the watcher's results up to the first ANALYZED one, and the store.
fn watch_a_slow_copy(dir: &Path, settle: &str) -> (Vec<Value>, PathBuf) {
    let inbox = dir.join("inbox");
    let store = dir.join("spotlight.sqlite");
    let mut child = spotlight(&store)
        .args(["watch", "--json", "--interval", "100", "--settle", settle])
        .arg(&inbox)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while !inbox.exists() {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let photo = std::fs::read(workspace().join("samples/photos/coffee.jpg")).unwrap();
    let mut file = std::fs::File::create(inbox.join("slow.jpg")).unwrap();
    for (i, chunk) in photo.chunks(photo.len().div_ceil(4)).enumerate() {
        if i > 0 {
            std::thread::sleep(std::time::Duration::from_millis(700));
        }
        std::io::Write::write_all(&mut file, chunk).unwrap();
        std::io::Write::flush(&mut file).unwrap();
    }
    drop(file);
    let mut results = Vec::new();
    for line in lines {
        let result: Value = serde_json::from_str(&line.unwrap()).unwrap();
        let analyzed = result["status"] == "ANALYZED";
        results.push(result);
        if analyzed {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    (results, store)
}

#[test]
fn watch_waits_for_a_photo_copied_in_slowly() {
    // The settle time is a documented flag with a default.
    let help = spotlight(Path::new("unused.sqlite"))
        .args(["watch", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--settle <MS>") && help.contains("[default: 2000]"),
        "{help}"
    );
    if !models_ready() {
        return;
    }
    // Settling for longer than the copier pauses: the photo is run once, whole.
    let dir = tempfile::tempdir().unwrap();
    let (results, store) = watch_a_slow_copy(dir.path(), "2500");
    let statuses: Vec<_> = results.iter().map(|r| r["status"].clone()).collect();
    assert_eq!(statuses, ["ANALYZED"], "{results:?}");
    assert_eq!(results[0]["key"], "slow.jpg");
    let show = spotlight(&store)
        .args(["show", "slow.jpg", "--json"])
        .output()
        .unwrap();
    let record: Value = serde_json::from_str(String::from_utf8_lossy(&show.stdout).trim()).unwrap();
    assert_eq!(record["status"], "ANALYZED", "{record}");
    let size = std::fs::metadata(workspace().join("samples/photos/coffee.jpg"))
        .unwrap()
        .len();
    assert_eq!(
        record["image"]["sizeBytes"].as_u64(),
        Some(size),
        "{record}"
    );

    // Settling for less than the pauses (as `watch` did before `--settle`: one look): the flag
    // is what decides, and the part copied so far is taken and rejected as truncated.
    let dir = tempfile::tempdir().unwrap();
    let (results, _) = watch_a_slow_copy(dir.path(), "150");
    assert_eq!(results[0]["status"], "REJECTED", "{results:?}");
    assert!(
        results[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("ImageRejected.Corrupt")),
        "{results:?}"
    );
}

#[test]
fn analyze_prints_what_the_models_see_without_storing_anything() {
    if !models_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("never.sqlite");
    let coffee = workspace().join("samples/photos/coffee.jpg");
    let note = workspace().join("samples/photos/not-a-photo.jpg");
    let sign = workspace().join("samples/photos/sign.png");
    let out = spotlight(&store)
        .args(["analyze", "--json"])
        .args([&coffee, &note, &sign])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "one image could not be analysed"
    );
    let reports = json_lines(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        reports[0]["path"],
        coffee.to_string_lossy().as_ref(),
        "named by the path given"
    );
    let labels = reports[0]["labels"].as_array().unwrap();
    assert!(
        labels
            .iter()
            .any(|l| l["name"] == "Espresso" && l["confidence"].as_f64().unwrap() > 50.0),
        "{labels:?}"
    );
    assert_eq!(
        reports[0]["moderationLabels"],
        serde_json::json!([]),
        "an ordinary photo"
    );
    assert!(
        reports[1]["error"]
            .as_str()
            .unwrap()
            .contains("not a JPEG or PNG"),
        "{}",
        reports[1]
    );
    let text: Vec<&str> = reports[2]["textLines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert!(text.contains(&"OPEN DAILY"), "{text:?}");
    assert!(!store.exists(), "analyze stores nothing");

    let listed = spotlight(&store)
        .args(["models", "list", "--json"])
        .output()
        .unwrap();
    let models = json_lines(&String::from_utf8_lossy(&listed.stdout));
    for model in models.iter().filter(|m| m["optional"] == false) {
        assert_eq!(model["state"], "present", "{model}");
        assert!(
            model["source"].as_str().unwrap().contains("=="),
            "pinned: {model}"
        );
        assert!(!model["licence"].as_str().unwrap().is_empty());
    }
}

/// `bench` sums up what its batch would cost on AWS, in total and per photo.
#[test]
fn bench_reports_the_batch_cost() {
    if !models_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("unused.sqlite");
    let bench = spotlight(&store)
        .args(["bench", "--images", "2", "--json"])
        .arg(workspace().join("samples/photos/chelsea.jpg"))
        .output()
        .unwrap();
    assert!(
        bench.status.success(),
        "{}",
        String::from_utf8_lossy(&bench.stderr)
    );
    let report: Value =
        serde_json::from_str(String::from_utf8_lossy(&bench.stdout).trim()).unwrap();
    let cost = &report["cost"];
    assert_eq!(cost["executions"].as_u64(), Some(2), "{cost}");
    assert_eq!(
        cost["rekognition"]["DetectLabels"].as_u64(),
        Some(2),
        "{cost}"
    );
    assert_eq!(cost["lambdaInvocations"].as_u64(), Some(10), "{cost}");
    let total = cost["usd"]["totalStandard"].as_f64().unwrap();
    let each = cost["usdPerExecution"]["totalStandard"].as_f64().unwrap();
    assert!(each > 0.0 && (total - 2.0 * each).abs() < 1e-9, "{cost}");

    let bench = spotlight(&store)
        .args(["bench", "--images", "1"])
        .arg(workspace().join("samples/photos/chelsea.jpg"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&bench.stdout);
    assert!(text.contains("cost per photo    Standard $"), "{text}");
    assert!(text.contains("batch of 1: Standard $"), "{text}");
}
