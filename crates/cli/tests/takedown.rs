//! Takedown (issue 14): `spotlight delete` through the real binary, and a file removed from a
//! watched folder. The record and its index go, so do the console's cached renditions; the
//! executions stay, marked as of a deleted photo; an analysis of the photo as it was cannot
//! bring the record back, a new upload (a file written after the delete) does.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use serde_json::Value;
use spotlight_core::contracts::{ExecutionStatus, Label, ModerationLabel, TextLine};
use spotlight_core::fakes::{label, Answer, FakeDetector};
use spotlight_core::ports::RecordStore;
use spotlight_pipeline::{Pipeline, Steps};
use spotlight_record::RecordConfig;
use spotlight_states::RunOptions;
use spotlight_storage::{ExecutionSummary, FolderObjects, SqliteStore};
use spotlight_testkit::Console;
use spotlight_validate::Limits;

use common::{json_lines, models_ready, output_text, spotlight, workspace};

type FakePipeline = Pipeline<
    FolderObjects,
    FakeDetector<Vec<Label>>,
    FakeDetector<Vec<ModerationLabel>>,
    FakeDetector<Vec<TextLine>>,
    Arc<SqliteStore>,
>;

fn pipeline(store: &Arc<SqliteStore>) -> FakePipeline {
    let labels = vec![label("Golden Retriever", 95.0, &["Dog", "Animal"])];
    Pipeline::new(Steps {
        objects: FolderObjects::new(),
        labels: FakeDetector::new(Answer::Found(labels)),
        moderation: FakeDetector::new(Answer::Found(Vec::new())),
        text: FakeDetector::new(Answer::Found(Vec::new())),
        store: Arc::clone(store),
        limits: Limits::default(),
        record: RecordConfig::default(),
    })
    .unwrap()
}

/// Runs `key` through the shipped state machine (fake analysers) and keeps its execution, as
/// `spotlight run` does; returns the record step's write (`WRITTEN`, `STALE`, …).
fn run(store: &Arc<SqliteStore>, bucket: &str, key: &str) -> (String, String) {
    let input = serde_json::json!({"bucket": bucket, "key": key});
    let options = RunOptions {
        history: true,
        ..RunOptions::default()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let result = runtime
        .block_on(pipeline(store).run(input.clone(), options))
        .unwrap();
    store
        .save_execution(
            &ExecutionSummary {
                id: result.execution_arn.clone(),
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                record_id: spotlight_core::record_id(bucket, key),
                status: ExecutionStatus::Succeeded,
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
    let write = result
        .output
        .as_ref()
        .and_then(|o| o.pointer("/record/record/write"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    (result.execution_arn, write)
}

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| entries.count())
}

#[test]
fn delete_takes_a_photo_down_and_keeps_its_executions() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    std::fs::write(photos.join("dog.jpg"), spotlight_fixtures::jpeg(320, 240)).unwrap();
    std::fs::write(photos.join("pup.jpg"), spotlight_fixtures::jpeg(320, 240)).unwrap();
    let bucket = std::fs::canonicalize(&photos)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let path = dir.path().join("store.sqlite");
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    store.remember_folder(&bucket).unwrap();
    let (execution, write) = run(&store, &bucket, "dog.jpg");
    assert_eq!(write, "WRITTEN");
    run(&store, &bucket, "pup.jpg");
    let id = spotlight_core::record_id(&bucket, "dog.jpg");
    let thumbnails = dir.path().join("thumbnails");
    let thumbnails_arg = thumbnails.to_string_lossy().into_owned();

    // The console draws (and caches) the photo's thumbnail and preview.
    let console = Console::serve(
        Path::new(env!("CARGO_BIN_EXE_spotlight")),
        &path,
        &["--thumbnails", &thumbnails_arg],
    );
    for image in ["thumbnail", "preview"] {
        let (status, _) = console.get_bytes(&format!("/records/{id}/{image}"), &[]);
        assert_eq!(status, 200, "{image}");
    }
    let pup = spotlight_core::record_id(&bucket, "pup.jpg");
    assert_eq!(
        console
            .get_bytes(&format!("/records/{pup}/thumbnail"), &[])
            .0,
        200
    );
    assert_eq!(files_in(&thumbnails), 3);

    let out = spotlight(&path)
        .args([
            "delete",
            "dog.jpg",
            "--json",
            "--thumbnails",
            &thumbnails_arg,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let done = &json_lines(&String::from_utf8_lossy(&out.stdout))[0];
    assert_eq!(done["outcome"], "REMOVED", "{done}");
    assert_eq!(done["id"], id.as_str());
    assert_eq!(done["renditionsRemoved"], 2, "{done}");
    assert_eq!(
        files_in(&thumbnails),
        1,
        "only the other photo's thumbnail is left"
    );
    assert!(
        photos.join("dog.jpg").is_file(),
        "the photo file itself is not touched"
    );

    // Gone from show and search.
    let show = spotlight(&path).args(["show", "dog.jpg"]).output().unwrap();
    assert_eq!(show.status.code(), Some(1), "{}", output_text(&show));
    assert!(
        String::from_utf8_lossy(&show.stderr).contains("was deleted at"),
        "{}",
        output_text(&show)
    );
    let search = spotlight(&path)
        .args(["search", "--include-unsafe", "--json"])
        .output()
        .unwrap();
    let keys: Vec<String> = json_lines(&String::from_utf8_lossy(&search.stdout))
        .iter()
        .map(|hit| hit["record"]["key"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(keys, ["pup.jpg"], "{}", output_text(&search));

    // The executions stay, marked.
    let list = spotlight(&path)
        .args(["executions", "list", "--json"])
        .output()
        .unwrap();
    let listed = json_lines(&String::from_utf8_lossy(&list.stdout));
    assert_eq!(listed.len(), 2, "{}", output_text(&list));
    let dog = listed.iter().find(|e| e["key"] == "dog.jpg").unwrap();
    assert_eq!(dog["id"], execution.as_str());
    assert!(dog["photoDeletedAt"].is_string(), "{dog}");
    assert!(listed
        .iter()
        .any(|e| e["key"] == "pup.jpg" && e.get("photoDeletedAt").is_none()));
    let shown = spotlight(&path)
        .args(["executions", "show", &execution])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("photo deleted at"),
        "{}",
        output_text(&shown)
    );

    // The console: the photo's page and API answer 410, its images 404, its execution is
    // marked deleted.
    let (status, page) = console.get(&format!("/records/{id}"), &[]);
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("was deleted at"), "{page}");
    assert_eq!(console.get(&format!("/api/records/{id}"), &[]).0, 410);
    for image in ["thumbnail", "preview"] {
        assert_eq!(
            console.get_bytes(&format!("/records/{id}/{image}"), &[]).0,
            404
        );
    }
    assert_eq!(files_in(&thumbnails), 1, "nothing drawn again");
    let (status, page) = console.get(&format!("/executions/{execution}"), &[]);
    assert_eq!(status, 200);
    assert!(
        page.contains("id=\"photo-deleted\"") && page.contains("Photo deleted at"),
        "{page}"
    );
    let (_, list_page) = console.get("/executions", &[]);
    assert_eq!(
        list_page.matches("(photo deleted)").count(),
        1,
        "{list_page}"
    );
    drop(console);

    // Deleting again says so.
    let again = spotlight(&path)
        .args(["delete", "dog.jpg"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("was deleted at"));

    // The photo as it was, analysed again (a late run of the folder): still deleted.
    let (_, write) = run(&store, &bucket, "dog.jpg");
    assert_eq!(write, "STALE");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    assert!(runtime
        .block_on(store.get(&bucket, "dog.jpg"))
        .unwrap()
        .is_none());
    // A new upload (written after the delete) is analysed and comes back.
    let file = std::fs::File::options()
        .write(true)
        .open(photos.join("dog.jpg"))
        .unwrap();
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(2))
        .unwrap();
    drop(file);
    let (_, write) = run(&store, &bucket, "dog.jpg");
    assert_eq!(write, "WRITTEN");
    assert!(runtime
        .block_on(store.get(&bucket, "dog.jpg"))
        .unwrap()
        .is_some());
    assert!(runtime
        .block_on(store.tombstone(&bucket, "dog.jpg"))
        .unwrap()
        .is_none());
}

#[test]
fn delete_of_an_unknown_photo_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    SqliteStore::open(&path).unwrap();
    let out = spotlight(&path)
        .args(["delete", "nope.jpg"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no record for \"nope.jpg\""));
}

/// Reads `--json` lines from a watcher until one satisfies `wanted`.
fn next_line(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    for line in lines {
        let value: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if wanted(&value) {
            return value;
        }
    }
    panic!("the watcher stopped before the line wanted");
}

#[test]
fn a_file_removed_from_a_watched_folder_is_taken_down() {
    if !models_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    let store = dir.path().join("spotlight.sqlite");
    let cache = dir.path().join("cache");
    let mut child = spotlight(&store)
        .env("XDG_CACHE_HOME", &cache)
        .args(["watch", "--json", "--interval", "100", "--settle", "200"])
        .arg(&inbox)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while !inbox.exists() {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let photo: PathBuf = inbox.join("to go.jpg");
    std::fs::copy(workspace().join("samples/photos/coffee.jpg"), &photo).unwrap();
    std::fs::copy(
        workspace().join("samples/photos/rocket.jpg"),
        inbox.join("stays.jpg"),
    )
    .unwrap();
    for _ in 0..2 {
        let result = next_line(&mut lines, |v| v.get("status").is_some());
        assert_eq!(result["status"], "ANALYZED", "{result}");
    }
    std::fs::remove_file(&photo).unwrap();
    let takedown = next_line(&mut lines, |v| v.get("outcome").is_some());
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(takedown["key"], "to go.jpg", "{takedown}");
    assert_eq!(takedown["outcome"], "REMOVED", "{takedown}");

    let show = spotlight(&store)
        .args(["show", "to go.jpg"])
        .output()
        .unwrap();
    assert_eq!(show.status.code(), Some(1), "{}", output_text(&show));
    assert!(String::from_utf8_lossy(&show.stderr).contains("was deleted at"));
    let kept = spotlight(&store)
        .args(["show", "stays.jpg"])
        .output()
        .unwrap();
    assert_eq!(kept.status.code(), Some(0), "{}", output_text(&kept));
    let list = spotlight(&store)
        .args(["executions", "list", "--json"])
        .output()
        .unwrap();
    let listed = json_lines(&String::from_utf8_lossy(&list.stdout));
    let gone = listed.iter().find(|e| e["key"] == "to go.jpg").unwrap();
    assert!(gone["photoDeletedAt"].is_string(), "{gone}");
}

#[test]
fn the_console_deletes_a_photo_from_its_page_in_a_browser() {
    let Some(browser) = spotlight_testkit::Browser::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    std::fs::write(photos.join("dog.jpg"), spotlight_fixtures::jpeg(320, 240)).unwrap();
    std::fs::write(photos.join("pup.jpg"), spotlight_fixtures::jpeg(320, 240)).unwrap();
    let bucket = std::fs::canonicalize(&photos)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let path = dir.path().join("store.sqlite");
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    store.remember_folder(&bucket).unwrap();
    let (execution, _) = run(&store, &bucket, "dog.jpg");
    run(&store, &bucket, "pup.jpg");
    let id = spotlight_core::record_id(&bucket, "dog.jpg");
    let thumbnails = dir.path().join("thumbnails");
    let console = Console::serve(
        Path::new(env!("CARGO_BIN_EXE_spotlight")),
        &path,
        &["--thumbnails", &thumbnails.to_string_lossy()],
    );

    // Straight to the photo's page: only its own preview gets drawn.
    browser.goto(&console.url(&format!("/records/{id}")));
    assert_eq!(browser.find("h1").text(), "dog.jpg");
    // The preview is drawn (and cached) while the page loads.
    browser.wait_until(
        "the preview to load",
        std::time::Duration::from_secs(20),
        |b| {
            b.execute(
                "const i = document.querySelector('img.preview'); \
                 return !!i && i.complete && i.naturalWidth > 0;",
                &[],
            ) == Value::Bool(true)
        },
    );
    assert_eq!(files_in(&thumbnails), 1);
    browser.find("details.takedown summary").click();
    browser.find("#delete").click();
    browser.assert_no_dialog();
    assert!(
        browser.find("#deleted").text().starts_with("Deleted at"),
        "{}",
        browser.find("main").text()
    );
    assert_eq!(files_in(&thumbnails), 0, "its previews are gone");
    browser.find("#execution").click();
    assert_eq!(browser.find("h1").text(), "Execution of dog.jpg");
    assert!(browser.find("main dl").text().contains(&execution));
    assert!(browser
        .find("#photo-deleted")
        .text()
        .starts_with("Photo deleted at"));
    assert!(
        browser.console_errors().is_empty(),
        "{:?}",
        browser.console_errors()
    );
    browser.goto(&console.url("/"));
    assert_eq!(
        browser
            .texts("li.card h2, li.card a")
            .iter()
            .filter(|t| t.contains("dog.jpg"))
            .count(),
        0
    );
    assert_eq!(browser.find_all("li.card").len(), 1, "only pup.jpg is left");
    browser.goto(&console.url(&format!("/records/{id}")));
    assert!(browser.find("main").text().contains("was deleted at"));
}
