//! The review queue and decisions, driven through the console's router over a real SQLite
//! store: the queue's order, approve and reject as POSTs with the CSRF token (403 without),
//! the decision showing in the gallery, the photo's page and the JSON API, and the 409 of a
//! second reviewer who decided on the same view.

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use spotlight_console::{router, ConsoleState};
use spotlight_core::contracts::{ImageRecord, ModerationLabel, RecordStatus, Verdict};
use spotlight_core::fakes::label;
use spotlight_core::policy::ModerationPolicy;
use spotlight_core::ports::RecordStore;
use spotlight_core::store_suite::suite_record;
use spotlight_core::themes::Themes;
use spotlight_storage::SqliteStore;
use tower::ServiceExt;

struct Answer {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = to_bytes(response.into_body(), 1 << 24).await.unwrap();
    Answer {
        status,
        location,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

async fn get(app: &Router, uri: &str) -> Answer {
    send(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn post(app: &Router, uri: &str, form: &str) -> Answer {
    let request = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::HOST, "127.0.0.1:8787")
        .body(Body::from(form.to_owned()))
        .unwrap();
    send(app, request).await
}

/// A record judged by a policy with a review band: `confidence` of swimwear is SAFE under 60,
/// NEEDS_REVIEW from 60, UNSAFE from 80.
fn judged(key: &str, seconds: i64, confidence: Option<f32>) -> ImageRecord {
    let policy = ModerationPolicy::from_json(
        r#"{"version":"t","defaultMinConfidence":80,"reviewMinConfidence":60}"#,
    )
    .unwrap();
    let mut record = suite_record(
        key,
        seconds,
        seconds as u64,
        RecordStatus::Analyzed,
        false,
        vec![label("Beach", 90.0, &[])],
        "",
    );
    let answer: Vec<ModerationLabel> = confidence
        .map(|confidence| ModerationLabel {
            name: "Swimwear or Underwear".into(),
            parent_name: None,
            confidence,
            taxonomy_level: 1,
        })
        .into_iter()
        .collect();
    record.moderation = Some(policy.evaluate(Some(&answer)));
    record.safe = record.effective_safe();
    record
}

async fn setup() -> (Router, Arc<SqliteStore>) {
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let records = [
        judged("old unsafe.jpg", 10, Some(95.0)),
        judged("needs <b>review</b>.jpg", 20, Some(70.0)),
        judged("later needs review.jpg", 30, Some(65.0)),
        judged("clean.jpg", 40, None),
        suite_record(
            "broken.jpg",
            50,
            50,
            RecordStatus::Rejected,
            false,
            vec![],
            "",
        ),
    ];
    assert_eq!(records[1].verdict(), Verdict::NeedsReview);
    for record in &records {
        store.put(record).await.unwrap();
    }
    let state = ConsoleState::new(Arc::clone(&store), Themes::shipped(), None);
    (router(state), store)
}

fn queued_keys(page: &str) -> Vec<String> {
    page.split("class=\"queued\" data-key=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect()
}

/// The value of the first `name` field after `from` in a page.
fn field_after(page: &str, from: &str, name: &str) -> String {
    let start = page
        .find(from)
        .unwrap_or_else(|| panic!("{from} in {page}"));
    let marker = format!("name=\"{name}\" value=\"");
    let (_, rest) = page[start..]
        .split_once(&marker)
        .unwrap_or_else(|| panic!("no {name} after {from}"));
    rest.split('"').next().unwrap().to_owned()
}

fn id_path(record: &ImageRecord) -> String {
    spotlight_console::html::url_part(&record.id)
}

fn encode(value: &str) -> String {
    spotlight_console::html::url_part(value)
}

#[tokio::test]
async fn the_queue_lists_needs_review_first_then_oldest_first_with_keyboard_ready_forms() {
    let (app, _) = setup().await;
    let page = get(&app, "/review").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        queued_keys(&page.body),
        [
            "needs &lt;b&gt;review&lt;/b&gt;.jpg",
            "later needs review.jpg",
            "old unsafe.jpg"
        ],
        "NEEDS_REVIEW first, oldest first; safe and rejected photos are not there"
    );
    assert!(!page.body.contains("<b>review</b>"), "keys are escaped");
    // The first photo's form takes the keyboard: the name is focused (none yet), access keys.
    let first = page.body.find("class=\"decision\"").unwrap();
    let second = page.body[first + 1..].find("class=\"decision\"").unwrap() + first + 1;
    let first_form = &page.body[first..second];
    assert!(first_form.contains("name=\"reviewer\" required"));
    assert!(first_form.contains(" autofocus"));
    assert!(first_form.contains("accesskey=\"a\""));
    assert!(first_form.contains("accesskey=\"r\""));
    assert!(
        !page.body[second..].contains("accesskey"),
        "one set of keys"
    );
    // Once the reviewer is known, Approve is focused.
    let next = get(&app, "/review?reviewer=ana").await;
    assert!(next
        .body
        .contains("value=\"APPROVED\" class=\"approve\" accesskey=\"a\" autofocus"));

    let api = get(&app, "/api/review").await;
    let api: Value = serde_json::from_str(&api.body).unwrap();
    let keys: Vec<&str> = api["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["record"]["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "needs <b>review</b>.jpg",
            "later needs review.jpg",
            "old unsafe.jpg"
        ]
    );
    assert!(api["items"][0]["reviewToken"].is_string());
    assert_eq!(
        get(&app, "/review?sort=newest").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn approve_and_reject_are_posts_with_the_csrf_token_and_a_stale_view_is_a_conflict() {
    let (app, store) = setup().await;
    let record = judged("needs <b>review</b>.jpg", 20, Some(70.0));
    let page = get(&app, "/review").await.body;
    let csrf = field_after(&page, "class=\"decision\"", "csrf");
    let token = field_after(&page, "class=\"decision\"", "expect");
    let action = format!("/records/{}/review", id_path(&record));
    let form = |csrf: &str, who: &str, decision: &str| {
        format!(
            "csrf={}&expect={}&back=queue&reviewer={}&note=campaign+ok&decision={decision}",
            encode(csrf),
            encode(&token),
            encode(who)
        )
    };

    // No token, or a forged one: 403, and nothing changes.
    for forged in ["", "forged"] {
        let refused = post(&app, &action, &form(forged, "ana", "APPROVED")).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    }
    let stored = store
        .get(&record.bucket, &record.key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.review, None);

    // Approve: back to the queue, the next photo first, the name kept.
    let approved = post(&app, &action, &form(&csrf, "ana", "APPROVED")).await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
    let next = approved.location.unwrap();
    assert!(
        next.starts_with("/review?reviewer=ana&decision=APPROVED"),
        "{next}"
    );
    let queue = get(&app, &next).await.body;
    assert_eq!(
        queued_keys(&queue),
        ["later needs review.jpg", "old unsafe.jpg"]
    );
    assert!(queue.contains("role=\"status\">approved needs &lt;b&gt;review&lt;/b&gt;.jpg"));
    assert!(queue.contains("name=\"reviewer\" required maxlength=\"200\" value=\"ana\""));

    // The override shows everywhere: the gallery (safe only), the API, the photo's page.
    let gallery = get(&app, "/").await.body;
    assert!(gallery.contains("data-key=\"needs &lt;b&gt;review&lt;/b&gt;.jpg\""));
    assert!(gallery.contains("<p class=\"why\">APPROVED by ana</p>"));
    let by_verdict = get(&app, "/?verdict=NEEDS_REVIEW").await.body;
    assert!(by_verdict.contains("data-key=\"later needs review.jpg\""));
    assert!(
        !by_verdict.contains("data-key=\"needs &lt;b&gt;review&lt;/b&gt;.jpg\""),
        "the verdict that counts is the reviewer's"
    );
    assert!(by_verdict.contains("<option value=\"NEEDS_REVIEW\" selected>"));
    let api = get(&app, &format!("/api/records/{}", id_path(&record))).await;
    let api: Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(api["safe"], true);
    assert_eq!(api["review"]["reviewer"], "ana");
    assert_eq!(api["review"]["note"], "campaign ok");
    assert_eq!(api["moderation"]["verdict"], "NEEDS_REVIEW");
    let search = get(&app, "/api/records?label=beach").await.body;
    assert!(search.contains("needs <b>review</b>.jpg"), "{search}");
    let photo = get(&app, &format!("/records/{}", id_path(&record)))
        .await
        .body;
    assert!(
        photo.contains("Model: <strong>NEEDS_REVIEW</strong>"),
        "{photo}"
    );
    assert!(photo.contains("<strong class=\"reviewed\">APPROVED</strong> by ana"));

    // Bo's page was drawn before Ana decided: his rejection is a conflict, hers stands.
    let conflict = post(&app, &action, &form(&csrf, "bo", "REJECTED")).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert!(conflict.body.contains("changed since you saw it"));
    assert!(conflict.body.contains("APPROVED by ana"));
    let stored = store
        .get(&record.bucket, &record.key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.review.map(|r| r.reviewer), Some("ana".to_owned()));

    // The conflict page offers the form for what is there now: rejecting through it works.
    let fresh = field_after(&conflict.body, "class=\"decision\"", "expect");
    let again = format!(
        "csrf={}&expect={}&back=record&reviewer=bo&decision=REJECTED",
        encode(&csrf),
        encode(&fresh)
    );
    let rejected = post(&app, &action, &again).await;
    assert_eq!(rejected.status, StatusCode::SEE_OTHER, "{}", rejected.body);
    assert!(rejected.location.unwrap().starts_with("/records/"));
    let stored = store
        .get(&record.bucket, &record.key)
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.safe);
    assert_eq!(stored.review_history.len(), 1);
    let gallery = get(&app, "/").await.body;
    assert!(!gallery.contains("needs &lt;b&gt;review&lt;/b&gt;.jpg"));
    let photo = get(
        &app,
        &format!("/records/{}?includeUnsafe=true", id_path(&record)),
    )
    .await
    .body;
    assert!(photo.contains("Earlier reviews"));

    // Only analysed photos are reviewed; a decision must be one.
    let broken = suite_record(
        "broken.jpg",
        50,
        50,
        RecordStatus::Rejected,
        false,
        vec![],
        "",
    );
    let broken_token = spotlight_core::review::token(&broken);
    let refused = post(
        &app,
        &format!("/records/{}/review", id_path(&broken)),
        &format!(
            "csrf={}&expect={}&reviewer=ana&decision=APPROVED",
            encode(&csrf),
            encode(&broken_token)
        ),
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let junk = post(
        &app,
        &action,
        &format!(
            "csrf={}&expect=x&reviewer=ana&decision=MAYBE",
            encode(&csrf)
        ),
    )
    .await;
    assert_eq!(junk.status, StatusCode::BAD_REQUEST);
}
