//! The console's photos, failures, re-runs, themes, sign-in and export, driven in-process over
//! a real SQLite store and a real photo folder.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::{to_bytes, Body};
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use spotlight_console::{
    router, ConsoleState, Photos, Rerun, RerunError, RerunFuture, Rerunner, ThemesHome,
};
use spotlight_core::contracts::{ExecutionStatus, ImageRecord, RecordStatus};
use spotlight_core::fakes::label;
use spotlight_core::ports::RecordStore;
use spotlight_core::record_id;
use spotlight_core::store_suite::suite_record;
use spotlight_core::themes::Themes;
use spotlight_storage::{ExecutionSummary, SqliteStore};
use tower::ServiceExt;

/// Records the photos it was asked to run; answers with an execution id unless told not to.
#[derive(Default, Clone)]
struct FakeRerunner {
    calls: Arc<Mutex<Vec<(String, String)>>>,
    ran: bool,
}

impl Rerunner for FakeRerunner {
    fn rerun(&self, bucket: String, key: String) -> RerunFuture {
        self.calls
            .lock()
            .unwrap()
            .push((bucket.clone(), key.clone()));
        let ran = self.ran;
        Box::pin(async move {
            Ok(Rerun {
                execution_id: ran.then(|| format!("arn:local:execution:{key}/2")),
                summary: "Nothing ran: the file has not changed.".to_owned(),
            })
        })
    }
}

struct Setup {
    app: Router,
    store: Arc<SqliteStore>,
    rerunner: FakeRerunner,
    folder: String,
    outside: String,
    cache: tempfile::TempDir,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn in_folder(mut record: ImageRecord, bucket: &str) -> ImageRecord {
    record.bucket = bucket.to_owned();
    record.id = record_id(bucket, &record.key);
    if let Some(image) = record.image.as_mut() {
        image.bucket = bucket.to_owned();
    }
    record
}

fn canonical(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

async fn setup(token: Option<&str>, ran: bool, themes_home: Option<PathBuf>) -> Setup {
    let photos = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    std::fs::write(
        photos.path().join("beach.png"),
        spotlight_fixtures::png(800, 600),
    )
    .unwrap();
    std::fs::write(
        photos.path().join("sideways.jpg"),
        spotlight_fixtures::jpeg_with_orientation(60, 20, 6),
    )
    .unwrap();
    std::fs::write(photos.path().join("bad.jpg"), b"not a photo").unwrap();
    std::fs::write(
        outside.path().join("secret.jpg"),
        spotlight_fixtures::jpeg(30, 30),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.jpg"),
        photos.path().join("link.jpg"),
    )
    .unwrap();
    let folder = canonical(photos.path());
    let outside_folder = canonical(outside.path());

    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let analysed =
        |key: &str, labels| suite_record(key, 30, 1, RecordStatus::Analyzed, true, labels, "");
    let mut records = vec![
        in_folder(
            analysed("beach.png", vec![label("Beach", 91.0, &["Nature"])]),
            &folder,
        ),
        in_folder(
            analysed("sideways.jpg", vec![label("Sunset", 88.0, &[])]),
            &folder,
        ),
        in_folder(analysed("link.jpg", vec![]), &folder),
        in_folder(analysed("../secret.jpg", vec![]), &folder),
        in_folder(
            analysed(&format!("{outside_folder}/secret.jpg"), vec![]),
            &folder,
        ),
        in_folder(analysed("secret.jpg", vec![]), &outside_folder),
    ];
    let mut rejected = in_folder(
        suite_record("bad.jpg", 40, 1, RecordStatus::Rejected, false, vec![], ""),
        &folder,
    );
    if let Some(error) = rejected.error.as_mut() {
        error.error = "ImageRejected.UnsupportedFormat".to_owned();
        error.cause = "the bytes are text, not an image".to_owned();
    }
    rejected.execution.id = "arn:local:execution:bad.jpg/1".to_owned();
    records.push(rejected);
    records.push(in_folder(
        suite_record("flaky.jpg", 50, 1, RecordStatus::Failed, false, vec![], ""),
        &folder,
    ));
    for record in &records {
        store.put(record).await.unwrap();
    }
    store.remember_folder(&folder).unwrap();
    for (index, (name, status)) in [
        ("beach.png", ExecutionStatus::Succeeded),
        ("bad.jpg", ExecutionStatus::Succeeded),
    ]
    .into_iter()
    .enumerate()
    {
        let start_time = format!("2026-11-2{}T10:00:00Z", index + 1).parse().unwrap();
        store
            .save_execution(
                &ExecutionSummary {
                    id: format!("arn:local:execution:{name}/1"),
                    bucket: folder.clone(),
                    key: name.to_owned(),
                    record_id: record_id(&folder, name),
                    status,
                    start_time,
                    stop_time: Some(start_time),
                    input: json!({}),
                    output: None,
                    error: None,
                    cause: None,
                    redrive_count: 0,
                },
                None,
            )
            .unwrap();
    }
    let rerunner = FakeRerunner {
        ran,
        ..FakeRerunner::default()
    };
    let mut state = ConsoleState::new(
        Arc::clone(&store),
        Themes::shipped(),
        token.map(str::to_owned),
    )
    .with_photos(Photos::new(
        Some(vec![photos.path().to_path_buf()]),
        cache.path().to_path_buf(),
    ))
    .with_rerunner(Arc::new(rerunner.clone()));
    if let Some(path) = themes_home {
        state = state.with_themes_home(ThemesHome::File(path));
    }
    Setup {
        app: router(state),
        store,
        rerunner,
        folder,
        outside: outside_folder,
        cache,
        _dirs: (photos, outside),
    }
}

async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), 1 << 24)
        .await
        .unwrap()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

async fn get(app: &Router, uri: &str) -> Answer {
    send(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn post(app: &Router, uri: &str, form: &str, extra: &[(&str, &str)]) -> Answer {
    let mut request = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::HOST, "127.0.0.1:8787");
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    send(app, request.body(Body::from(form.to_owned())).unwrap()).await
}

fn id_path(bucket: &str, key: &str) -> String {
    spotlight_console::html::url_part(&record_id(bucket, key))
}

/// The CSRF token a page's forms carry.
fn csrf_of(page: &str) -> String {
    let (_, rest) = page
        .split_once("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("no CSRF field in {page}"));
    rest.split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn thumbnails_are_drawn_from_inside_the_folder_once_and_upright() {
    let setup = setup(None, true, None).await;
    let thumbnail = get(
        &setup.app,
        &format!("/records/{}/thumbnail", id_path(&setup.folder, "beach.png")),
    )
    .await;
    assert_eq!(thumbnail.status, StatusCode::OK, "{}", thumbnail.text());
    assert_eq!(thumbnail.headers[header::CONTENT_TYPE], "image/jpeg");
    let image = image::load_from_memory(&thumbnail.body).unwrap();
    assert_eq!((image.width(), image.height()), (480, 360));
    let cached = std::fs::read_dir(setup.cache.path()).unwrap().count();
    assert_eq!(cached, 1);
    let again = get(
        &setup.app,
        &format!("/records/{}/thumbnail", id_path(&setup.folder, "beach.png")),
    )
    .await;
    assert_eq!(again.body, thumbnail.body);
    assert_eq!(std::fs::read_dir(setup.cache.path()).unwrap().count(), 1);

    // Stored 60 × 20 with EXIF orientation 6: shown 20 × 60.
    let preview = get(
        &setup.app,
        &format!(
            "/records/{}/preview",
            id_path(&setup.folder, "sideways.jpg")
        ),
    )
    .await;
    assert_eq!(preview.status, StatusCode::OK);
    let image = image::load_from_memory(&preview.body).unwrap();
    assert_eq!((image.width(), image.height()), (20, 60));
}

#[tokio::test]
async fn photo_routes_never_leave_the_photo_folder() {
    let setup = setup(None, true, None).await;
    let secret = format!("{}/secret.jpg", setup.outside);
    let refused = [
        // Records whose keys try to leave the folder.
        format!(
            "/records/{}/thumbnail",
            id_path(&setup.folder, "../secret.jpg")
        ),
        format!("/records/{}/thumbnail", id_path(&setup.folder, &secret)),
        format!("/records/{}/preview", id_path(&setup.folder, "link.jpg")),
        // A record in a folder the console does not serve.
        format!(
            "/records/{}/thumbnail",
            id_path(&setup.outside, "secret.jpg")
        ),
        // Ids that are paths, plain and encoded, and ids of records that do not exist.
        "/records/..%2F..%2Fetc%2Fpasswd/thumbnail".to_owned(),
        "/records/%2e%2e/thumbnail".to_owned(),
        "/records/%2Fetc%2Fpasswd/preview".to_owned(),
        format!("/records/{}/thumbnail", id_path("/etc", "passwd")),
        format!(
            "/records/{}/thumbnail",
            id_path(&setup.folder, "missing.jpg")
        ),
    ];
    for uri in &refused {
        let answer = get(&setup.app, uri).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{uri}: {}",
            answer.text()
        );
        assert!(
            !answer.text().contains(&setup.outside),
            "{uri} leaks a path"
        );
    }
    // Traversal in the route itself never reaches a handler that reads files.
    for uri in [
        "/records/../../etc/passwd",
        "/records/%2e%2e%2f%2e%2e%2fetc/thumbnail",
    ] {
        let answer = get(&setup.app, uri).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{uri}");
    }
    assert_eq!(std::fs::read_dir(setup.cache.path()).unwrap().count(), 0);

    // A file that is there but is no image gets a drawn placeholder, not an error page (it was
    // rejected, so only in review mode).
    let bad = get(
        &setup.app,
        &format!(
            "/records/{}/thumbnail?includeUnsafe=true",
            id_path(&setup.folder, "bad.jpg")
        ),
    )
    .await;
    assert_eq!(bad.status, StatusCode::OK);
    assert_eq!(bad.headers[header::CONTENT_TYPE], "image/svg+xml");
}

#[tokio::test]
async fn failures_list_rejected_and_failed_photos_with_a_rerun_that_needs_the_csrf_token() {
    let setup = setup(None, true, None).await;
    let page = get(&setup.app, "/failures").await;
    assert_eq!(page.status, StatusCode::OK);
    let text = page.text();
    for expected in [
        "data-key=\"bad.jpg\"",
        "ImageRejected.UnsupportedFormat",
        "the bytes are text, not an image",
        "data-key=\"flaky.jpg\"",
        "Re-run",
    ] {
        assert!(text.contains(expected), "{expected} missing: {text}");
    }
    assert!(!text.contains("data-key=\"beach.png\""));
    let csrf = csrf_of(&text);
    let rerun = format!("/records/{}/rerun", id_path(&setup.folder, "bad.jpg"));

    for (form, extra) in [
        (String::new(), vec![]),
        ("csrf=forged".to_owned(), vec![]),
        (
            format!("csrf={csrf}"),
            vec![("origin", "http://evil.example")],
        ),
        (
            format!("csrf={csrf}"),
            vec![("sec-fetch-site", "cross-site")],
        ),
    ] {
        let answer = post(&setup.app, &rerun, &form, &extra).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{form} {extra:?}");
    }
    assert!(setup.rerunner.calls.lock().unwrap().is_empty());
    let refused_get = get(&setup.app, &rerun).await;
    assert_eq!(refused_get.status, StatusCode::METHOD_NOT_ALLOWED);

    // What a browser sends under `Referrer-Policy: no-referrer`.
    let answer = post(
        &setup.app,
        &format!("/records/{}/rerun", id_path(&setup.folder, "flaky.jpg")),
        &format!("csrf={csrf}"),
        &[("origin", "null"), ("sec-fetch-site", "same-origin")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text());
    setup.rerunner.calls.lock().unwrap().clear();
    let answer = post(
        &setup.app,
        &rerun,
        &format!("csrf={csrf}"),
        &[
            ("origin", "http://127.0.0.1:8787"),
            ("sec-fetch-site", "same-origin"),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text());
    assert_eq!(
        answer.headers[header::LOCATION],
        format!(
            "/executions/{}",
            spotlight_console::html::url_part("arn:local:execution:bad.jpg/2")
        )
    );
    assert_eq!(
        *setup.rerunner.calls.lock().unwrap(),
        [(setup.folder.clone(), "bad.jpg".to_owned())]
    );
}

#[tokio::test]
async fn a_rerun_that_runs_nothing_says_why() {
    let setup = setup(None, false, None).await;
    let csrf = csrf_of(&get(&setup.app, "/failures").await.text());
    let answer = post(
        &setup.app,
        &format!("/records/{}/rerun", id_path(&setup.folder, "bad.jpg")),
        &format!("csrf={csrf}"),
        &[],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer
        .text()
        .contains("Nothing ran: the file has not changed."));
}

/// Fails the way `spotlight serve`'s re-runner does when the pipeline cannot load.
struct BrokenRerunner;

impl Rerunner for BrokenRerunner {
    fn rerun(&self, _: String, _: String) -> RerunFuture {
        let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "no model files");
        Box::pin(async move {
            Err(RerunError::new(
                "the photo could not be run again",
                RerunError::new("loading the pipeline stopped", missing),
            ))
        })
    }
}

#[tokio::test]
async fn a_rerun_that_fails_says_why_with_every_cause() {
    let setup = setup(None, false, None).await;
    let app = router(
        ConsoleState::new(Arc::clone(&setup.store), Themes::shipped(), None)
            .with_rerunner(Arc::new(BrokenRerunner)),
    );
    let csrf = csrf_of(&get(&app, "/failures").await.text());
    let answer = post(
        &app,
        &format!("/records/{}/rerun", id_path(&setup.folder, "bad.jpg")),
        &format!("csrf={csrf}"),
        &[],
    )
    .await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        answer.text().contains(
            "the re-run failed: the photo could not be run again: loading the pipeline \
             stopped: no model files"
        ),
        "{}",
        answer.text()
    );
}

#[tokio::test]
async fn themes_are_edited_in_the_page_and_apply_to_the_next_search_at_once() {
    let setup = setup(None, true, None).await;
    let page = get(&setup.app, "/themes").await;
    assert!(page.text().contains("ocean: "), "{}", page.text());
    let csrf = csrf_of(&page.text());
    let unknown = get(&setup.app, "/api/records?theme=evenings").await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);

    let refused = post(&setup.app, "/themes", "themes=evenings%3A+Sunset", &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let bad = post(
        &setup.app,
        "/themes",
        &format!("csrf={csrf}&themes=evenings+without+a+colon"),
        &[],
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text().contains("line 1"), "{}", bad.text());
    assert_eq!(setup.store.saved_themes().unwrap(), None);

    let saved = post(
        &setup.app,
        "/themes",
        &format!("csrf={csrf}&themes=evenings%3A+Sunset%2C+Dusk%0D%0Abeaches%3A+Beach"),
        &[],
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text());
    assert!(saved.text().contains("Saved 2 themes."));
    let stored: Themes =
        serde_json::from_str(&setup.store.saved_themes().unwrap().unwrap()).unwrap();
    assert_eq!(stored.expand("evenings").unwrap(), ["Sunset", "Dusk"]);

    let found = get(&setup.app, "/api/records?theme=evenings").await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.text());
    let found: Value = serde_json::from_slice(&found.body).unwrap();
    let keys: Vec<&str> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["record"]["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["sideways.jpg"]);
    let gone = get(&setup.app, "/api/records?theme=ocean").await;
    assert_eq!(gone.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn themes_started_from_a_file_are_saved_to_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("themes.json");
    let setup = setup(None, true, Some(file.clone())).await;
    let csrf = csrf_of(&get(&setup.app, "/themes").await.text());
    let saved = post(
        &setup.app,
        "/themes",
        &format!("csrf={csrf}&themes=evenings%3A+Sunset"),
        &[],
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK);
    let written = Themes::from_json(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(written.expand("evenings").unwrap(), ["Sunset"]);
    assert_eq!(setup.store.saved_themes().unwrap(), None);
}

#[tokio::test]
async fn a_remote_browser_signs_in_once_and_then_carries_a_strict_cookie() {
    let token = "0123456789abcdef0123";
    let setup = setup(Some(token), true, None).await;
    assert_eq!(get(&setup.app, "/").await.status, StatusCode::UNAUTHORIZED);
    let form = get(&setup.app, "/login").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.text().contains("type=\"password\" name=\"token\""));
    assert_eq!(
        get(&setup.app, "/assets/console.css").await.status,
        StatusCode::OK
    );
    assert_eq!(
        get(&setup.app, "/login?token=wrong").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(&setup.app, "/login", "token=wrong", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    for signed_in in [
        get(&setup.app, &format!("/login?token={token}")).await,
        post(&setup.app, "/login", &format!("token={token}"), &[]).await,
    ] {
        assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
        assert_eq!(signed_in.headers[header::LOCATION], "/");
        let cookie = signed_in.headers[header::SET_COOKIE].to_str().unwrap();
        assert_eq!(
            cookie,
            format!("token={token}; Path=/; HttpOnly; SameSite=Strict")
        );
    }
    let gallery = send(
        &setup.app,
        Request::get("/")
            .header(header::COOKIE, format!("token={token}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(gallery.status, StatusCode::OK);
    // A sign-in posted from another site is refused before the token is even looked at.
    let foreign = post(
        &setup.app,
        "/login",
        &format!("token={token}"),
        &[("origin", "http://evil.example")],
    )
    .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_selection_exports_as_csv_and_json() {
    let setup = setup(None, true, None).await;
    let gallery = get(&setup.app, "/").await.text();
    assert!(gallery.contains("form=\"selection\""), "{gallery}");
    assert!(gallery.contains("<form id=\"selection\""));
    let beach = record_id(&setup.folder, "beach.png");
    let sunset = record_id(&setup.folder, "sideways.jpg");
    let query = format!(
        "id={}&id={}",
        spotlight_console::html::url_part(&beach),
        spotlight_console::html::url_part(&sunset)
    );
    let csv = send(
        &setup.app,
        Request::get(format!("/export?format=csv&{query}"))
            .header(header::HOST, "console.localhost:8787")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.text());
    assert_eq!(csv.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert!(csv.headers[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .starts_with("attachment;"));
    let lines: Vec<String> = csv.text().lines().map(str::to_owned).collect();
    assert_eq!(lines[0], "key,labels,safe,link");
    assert_eq!(
        lines[1],
        format!(
            "beach.png,Beach (91.0%),true,http://console.localhost:8787/records/{}",
            spotlight_console::html::url_part(&beach)
        )
    );
    assert!(lines[2].starts_with("sideways.jpg,Sunset (88.0%),true,"));

    let json = get(&setup.app, &format!("/export?format=json&{query}")).await;
    assert_eq!(json.status, StatusCode::OK);
    let json: Value = serde_json::from_slice(&json.body).unwrap();
    assert_eq!(json[0]["key"], "beach.png");
    assert_eq!(json[0]["labels"][0]["name"], "Beach");
    assert_eq!(json[0]["safe"], true);
    assert!(json[1]["link"]
        .as_str()
        .unwrap()
        .ends_with(&spotlight_console::html::url_part(&sunset)));

    for uri in [
        "/export?format=csv",
        "/export?format=xml&id=x",
        "/export?id=x&color=red",
    ] {
        assert_eq!(
            get(&setup.app, uri).await.status,
            StatusCode::BAD_REQUEST,
            "{uri}"
        );
    }
    assert_eq!(
        get(&setup.app, "/export?format=csv&id=nope").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn executions_filter_by_time_and_refuse_a_bad_one() {
    let setup = setup(None, true, None).await;
    let all = get(&setup.app, "/api/executions").await;
    let all: Value = serde_json::from_slice(&all.body).unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let window = get(
        &setup.app,
        "/api/executions?since=2026-11-22T00:00:00Z&until=2026-11-23T00:00:00Z",
    )
    .await;
    let window: Value = serde_json::from_slice(&window.body).unwrap();
    let keys: Vec<&str> = window["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["bad.jpg"]);
    // What the page's datetime-local inputs send.
    let page = get(
        &setup.app,
        "/executions?status=&since=2026-11-21T09%3A00&until=",
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("value=\"2026-11-21T09:00\""));
    for uri in [
        "/api/executions?since=yesterday",
        "/executions?until=2026-13-01",
    ] {
        let answer = get(&setup.app, uri).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(
            answer.text().contains("must be a time"),
            "{}",
            answer.text()
        );
    }
}
