//! The console driven in-process over a real SQLite store.

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use spotlight_console::{router, ConsoleState};
use spotlight_core::contracts::{
    ApiError, BoundingBox, ExecutionHistory, ExecutionList, ImageRecord, MatchedLabel, RecordPage,
    RecordStatus, TextLine,
};
use spotlight_core::fakes::label;
use spotlight_core::ports::RecordStore;
use spotlight_core::store_suite::suite_record;
use spotlight_core::themes::Themes;
use spotlight_storage::{ExecutionSummary, SqliteStore};
use tower::ServiceExt;

const SCRIPT: &str = "<script>alert(1)</script>";
const ATTRIBUTE: &str = r#""><img src=x onerror=alert(1)>"#;

struct Console {
    app: Router,
    dog: ImageRecord,
    hidden: ImageRecord,
    nasty: ImageRecord,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn console(token: Option<&str>) -> Console {
    let definition =
        serde_json::from_str(include_str!("../../../statemachine/pipeline.asl.json")).unwrap();
    console_drawing(token, definition).await
}

/// A console drawing its executions on `definition`.
async fn console_drawing(token: Option<&str>, definition: Value) -> Console {
    let store = SqliteStore::in_memory().unwrap();
    let mut dog = suite_record(
        "beach/dog.jpg",
        30,
        1,
        RecordStatus::Analyzed,
        true,
        vec![label("Golden Retriever", 96.0, &["Dog", "Animal"])],
        "beach day",
    );
    dog.execution.id = "arn:aws:states:local:000000000000:execution:spotlight:dog/1".to_owned();
    let hidden = suite_record(
        "hidden.jpg",
        20,
        1,
        RecordStatus::Analyzed,
        false,
        vec![label("Dog", 90.0, &[])],
        "",
    );
    let mut nasty = suite_record(
        &format!("{SCRIPT}{ATTRIBUTE}.jpg"),
        10,
        1,
        RecordStatus::Analyzed,
        true,
        vec![label(ATTRIBUTE, 80.0, &[SCRIPT]), label("Dog", 70.0, &[])],
        SCRIPT,
    );
    if let Some(text) = nasty.text.as_mut() {
        text.lines.push(TextLine {
            text: ATTRIBUTE.to_owned(),
            confidence: 99.0,
            bounding_box: BoundingBox {
                left: 0.1,
                top: 0.1,
                width: 0.5,
                height: 0.1,
            },
            words: Vec::new(),
        });
    }
    for record in [&dog, &hidden, &nasty] {
        store.put(record).await.unwrap();
    }
    let execution = ExecutionSummary {
        id: dog.execution.id.clone(),
        bucket: dog.bucket.clone(),
        key: dog.key.clone(),
        record_id: dog.id.clone(),
        status: spotlight_core::contracts::ExecutionStatus::Succeeded,
        start_time: dog.execution.start_time,
        stop_time: Some(dog.analysed_at),
        input: json!({"bucket": dog.bucket, "key": dog.key}),
        output: Some(json!({"id": dog.id})),
        error: None,
        cause: None,
        redrive_count: 0,
    };
    let history = json!({"events": [
        {"timestamp": "2023-11-14T22:13:50Z", "type": "ExecutionStarted", "id": 1,
         "previousEventId": 0, "executionStartedEventDetails": {"input": "{}"}},
        {"timestamp": "2023-11-14T22:13:50Z", "type": "TaskStateEntered", "id": 2,
         "previousEventId": 1, "stateEnteredEventDetails": {"name": "Validate", "input": "{}"}},
        {"timestamp": "2023-11-14T22:13:50Z", "type": "TaskFailed", "id": 3,
         "previousEventId": 2, "taskFailedEventDetails": {"error": "Lambda.TooManyRequestsException", "cause": SCRIPT}},
        {"timestamp": "2023-11-14T22:13:51Z", "type": "TaskStateExited", "id": 4,
         "previousEventId": 3, "stateExitedEventDetails": {"name": "Validate", "output": "{}"}},
        {"timestamp": "2023-11-14T22:13:51Z", "type": "ExecutionSucceeded", "id": 5,
         "previousEventId": 4, "executionSucceededEventDetails": {"output": "{}"}},
    ]});
    store.save_execution(&execution, Some(&history)).unwrap();
    let state = ConsoleState::new(Arc::new(store), Themes::shipped(), token.map(str::to_owned))
        .with_definition(definition);
    Console {
        app: router(state),
        dog,
        hidden,
        nasty,
    }
}

async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    Answer {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

async fn get(app: &Router, uri: &str) -> Answer {
    send(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

fn escaped(text: &str) -> String {
    spotlight_console::html::escape(text)
}

#[tokio::test]
async fn the_gallery_is_safe_only_by_default() {
    let console = console(None).await;
    let page = get(&console.app, "/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("beach/dog.jpg"));
    assert!(!page.body.contains("hidden.jpg"), "{}", page.body);
    assert!(!page.body.contains("Review mode:"));

    // An HTML form sends its empty fields too: they mean "no filter".
    let form = get(
        &console.app,
        "/?label=&theme=&minConfidence=&text=&status=&includeUnsafe=true",
    )
    .await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert!(form.body.contains("hidden.jpg"));
    assert!(form.body.contains("class=\"review\""));
    assert!(form.body.contains("Review mode: unsafe"));
}

/// Review mode has one parser and one meaning: the box is ticked exactly when unsafe photos
/// are listed, and an empty `includeUnsafe` (what no HTML checkbox sends) is not a tick.
#[tokio::test]
async fn the_review_box_is_ticked_exactly_when_unsafe_photos_are_listed() {
    let console = console(None).await;
    let ticked_box = "name=\"includeUnsafe\" value=\"true\" checked>";
    for (query, review) in [
        ("", false),
        ("?includeUnsafe=", false),
        ("?includeUnsafe=+", false),
        ("?includeUnsafe=false", false),
        ("?includeUnsafe=0", false),
        ("?includeUnsafe=true", true),
        ("?includeUnsafe=1", true),
        ("?includeUnsafe=+true", true),
        ("?label=&includeUnsafe=true&text=", true),
    ] {
        let page = get(&console.app, &format!("/{query}")).await;
        assert_eq!(page.status, StatusCode::OK, "{query}: {}", page.body);
        let listed = page.body.contains("hidden.jpg");
        let ticked = page.body.contains(ticked_box);
        assert_eq!(listed, review, "{query}: unsafe photos listed");
        assert_eq!(ticked, review, "{query}: the box");
        assert_eq!(page.body.contains("Review mode: unsafe"), review, "{query}");
    }
    // A status of REJECTED or FAILED shows unsafe records too: the box says so.
    let rejected = get(&console.app, "/?status=REJECTED").await;
    assert!(rejected.body.contains("Review mode: unsafe"));
    assert!(rejected.body.contains(ticked_box));
    // A bad value is refused, the box unticked.
    let refused = get(&console.app, "/?includeUnsafe=maybe").await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(!refused.body.contains(ticked_box));

    // The photo's page and the API read it the same way.
    let id = spotlight_console::html::url_part(&console.hidden.id);
    let photo = get(&console.app, &format!("/records/{id}?includeUnsafe=")).await;
    assert_eq!(photo.status, StatusCode::OK);
    assert!(
        photo.body.contains("hidden outside review mode"),
        "{}",
        photo.body
    );
    let api = get(&console.app, "/api/records?includeUnsafe=").await;
    assert_eq!(api.status, StatusCode::OK, "{}", api.body);
    assert!(!api.body.contains("hidden.jpg"), "{}", api.body);
    let api = get(&console.app, "/api/records?includeUnsafe=true").await;
    assert!(api.body.contains("hidden.jpg"), "{}", api.body);
}

#[tokio::test]
async fn a_card_says_why_it_matched_and_links_to_its_photo() {
    let console = console(None).await;
    let page = get(&console.app, "/?label=dog&minConfidence=90").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Matched: Golden Retriever 96.0%"),
        "{}",
        page.body
    );
    assert!(page.body.contains(&format!(
        "href=\"/records/{}\"",
        console.dog.id.replace('.', "%2E")
    )));
    // The XSS record's Dog label is under 90: it does not match.
    assert!(!page.body.contains("alert"));

    let themed = get(&console.app, "/?theme=animals").await;
    assert_eq!(themed.status, StatusCode::OK, "{}", themed.body);
}

/// The keys a search page or answer lists: the cards' `data-key`s, or the API's items.
fn listed(answer: &Answer) -> Vec<String> {
    if answer.body.starts_with('{') {
        let page: RecordPage = serde_json::from_str(&answer.body).unwrap();
        return page.items.into_iter().map(|hit| hit.record.key).collect();
    }
    answer
        .body
        .split("data-key=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// What a browser submits for the page's search form: every text input (empty ones too) and
/// each ticked checkbox, in order. Selects are left out: nothing in these queries sets them.
fn submitted_form(page: &str) -> String {
    let form = page
        .split("<form class=\"search\"")
        .nth(1)
        .and_then(|rest| rest.split("</form>").next())
        .unwrap_or_else(|| panic!("no search form: {page}"));
    let attribute = |tag: &str, name: &str| {
        tag.split(&format!(" {name}=\""))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(str::to_owned)
    };
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    char::from(b).to_string()
                }
                other => format!("%{other:02X}"),
            })
            .collect()
    };
    let mut query = Vec::new();
    for tag in form
        .split("<input")
        .skip(1)
        .filter_map(|t| t.split('>').next())
    {
        let checkbox = attribute(tag, "type").as_deref() == Some("checkbox");
        if checkbox && !tag.contains(" checked") {
            continue;
        }
        let (Some(name), value) = (attribute(tag, "name"), attribute(tag, "value")) else {
            continue;
        };
        let value = value.unwrap_or_default();
        query.push(format!("{}={}", encode(&name), encode(&value)));
    }
    query.join("&")
}

/// Issue 12: labels AND / OR / NOT in the JSON API, with the search function's parameter names.
#[tokio::test]
async fn the_api_combines_labels_with_all_and_not_label() {
    let console = console(None).await;
    let dog = console.dog.key.clone();
    let nasty = console.nasty.key.clone();
    for (uri, expected) in [
        ("/api/records?label=Dog&label=Animal", vec![&dog, &nasty]),
        ("/api/records?label=Dog&label=animal&all=true", vec![&dog]),
        ("/api/records?label=Dog&notLabel=Animal", vec![&nasty]),
        (
            "/api/records?theme=animals&label=Dog&all=true&notLabel=Golden+Retriever",
            vec![&nasty],
        ),
        ("/api/records?notLabel=Dog", vec![]),
        (
            "/api/records?label=Dog&all=true&notLabel=Animal&includeUnsafe=true",
            vec![&console.hidden.key, &nasty],
        ),
    ] {
        let answer = get(&console.app, uri).await;
        assert_eq!(answer.status, StatusCode::OK, "{uri}: {}", answer.body);
        let expected: Vec<String> = expected.into_iter().cloned().collect();
        assert_eq!(listed(&answer), expected, "{uri}");
    }
    let both = get(&console.app, "/api/records?label=Dog&label=Animal&all=true").await;
    let page: RecordPage = serde_json::from_str(&both.body).unwrap();
    assert_eq!(
        page.items[0].matched_labels[0].name, "Golden Retriever",
        "a label matching both terms says so once"
    );
    for uri in ["/api/records?label=Dog&all=maybe", "/api/records?notLabel="] {
        let answer = get(&console.app, uri).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{uri}");
        let error: ApiError = serde_json::from_str(&answer.body).unwrap();
        assert!(error.message.contains("all") || error.message.contains("notLabel"));
    }
}

/// The gallery's form comes back as it was asked: one box per label and per excluded label
/// (and an empty one more), the "every label" box ticked; submitting it asks the same again.
#[tokio::test]
async fn the_gallery_form_round_trips_labels_all_and_not_label() {
    let console = console(None).await;
    let asked = "/?label=Dog&label=Animal&all=true&notLabel=Person&notLabel=Cat";
    let page = get(&console.app, asked).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(listed(&page), std::slice::from_ref(&console.dog.key));
    for field in [
        "name=\"label\" value=\"Dog\"",
        "name=\"label\" value=\"Animal\"",
        "name=\"label\" value=\"\"",
        "name=\"all\" value=\"true\" checked>",
        "name=\"notLabel\" value=\"Person\"",
        "name=\"notLabel\" value=\"Cat\"",
        "name=\"notLabel\" value=\"\"",
    ] {
        assert!(page.body.contains(field), "{field} in {}", page.body);
    }
    let submitted = submitted_form(&page.body);
    let again = get(&console.app, &format!("/?{submitted}")).await;
    assert_eq!(again.status, StatusCode::OK, "{submitted}: {}", again.body);
    assert_eq!(listed(&again), listed(&page), "{submitted}");
    assert_eq!(submitted_form(&again.body), submitted);

    let any = get(&console.app, "/?label=Dog&label=Animal").await;
    assert!(
        any.body.contains("name=\"all\" value=\"true\">"),
        "unticked"
    );
    assert_eq!(
        listed(&any),
        [console.dog.key.clone(), escaped(&console.nasty.key)]
    );
}

/// Issue 12's `query` fallback in the API and the gallery: ranked by words met, saying what
/// matched, in one page; the gallery's box keeps the words.
#[tokio::test]
async fn a_query_ranks_by_words_in_the_api_and_the_gallery() {
    let console = console(None).await;
    let answer = get(&console.app, "/api/records?query=dogs+on+the+beach").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        listed(&answer),
        [console.dog.key.clone(), console.nasty.key.clone()],
        "two words (a label and the text) before one"
    );
    let body = answer.json();
    assert_eq!(
        body["items"][0]["matchedWords"],
        json!([
            {"word": "dog", "source": "LABEL", "name": "Dog", "weight": 0.96},
            {"word": "beach", "source": "TEXT", "name": "beach", "weight": 0.5},
        ])
    );
    assert!(body["nextCursor"].is_null());
    let filtered = get(&console.app, "/api/records?query=dog&notLabel=Animal").await;
    assert_eq!(listed(&filtered), std::slice::from_ref(&console.nasty.key));
    let nothing = get(&console.app, "/api/records?query=giraffe").await;
    assert_eq!(nothing.status, StatusCode::OK);
    assert!(listed(&nothing).is_empty());
    let refused = get(&console.app, "/api/records?query=the").await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);

    let page = get(&console.app, "/?query=dogs+on+the+beach").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body
            .contains("name=\"query\" value=\"dogs on the beach\""),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("Words: dog: label Dog 96%, beach: text beach 50%"),
        "{}",
        page.body
    );
    assert_eq!(
        listed(&page),
        [console.dog.key.clone(), escaped(&console.nasty.key)]
    );
}

#[tokio::test]
async fn everything_from_a_photo_is_escaped() {
    let console = console(None).await;
    let gallery = get(&console.app, "/?label=dog").await;
    let id = console.nasty.id.replace('.', "%2E");
    let photo = get(&console.app, &format!("/records/{id}")).await;
    assert_eq!(photo.status, StatusCode::OK, "{}", photo.body);
    for page in [&gallery, &photo] {
        for raw in [SCRIPT, ATTRIBUTE] {
            assert!(!page.body.contains(raw), "raw {raw} in {}", page.body);
            assert!(page.body.contains(&escaped(raw)), "escaped {raw} missing");
        }
        assert!(!page.body.contains("<script"));
        // The only images are the console's own, pointing at its own routes.
        for tag in page.body.split("<img").skip(1) {
            assert!(
                tag.starts_with(" class=\"thumb\" src=\"/records/")
                    || tag.starts_with(" class=\"preview\" src=\"/records/"),
                "a foreign image tag: <img{}",
                &tag[..tag.len().min(80)]
            );
        }
    }
    // The execution page shows a cause from the history escaped too.
    let execution = format!(
        "/executions/{}",
        spotlight_console::html::url_part(&console.dog.execution.id)
    );
    let page = get(&console.app, &execution).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(!page.body.contains(SCRIPT));
}

/// The policy's directives, by name, each with its sources.
fn directives(policy: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut directives = std::collections::BTreeMap::new();
    for directive in policy.split(';').map(str::trim).filter(|d| !d.is_empty()) {
        let mut words = directive.split_ascii_whitespace();
        let name = words.next().unwrap().to_ascii_lowercase();
        let sources = words.map(str::to_owned).collect();
        assert!(
            directives.insert(name.clone(), sources).is_none(),
            "{name} twice in {policy}"
        );
    }
    directives
}

/// Nothing but the console's own stylesheet, images and forms; no script of any kind; no
/// framing; no `<base>`.
fn assert_strict_policy(policy: &str, uri: &str) {
    let directives = directives(policy);
    let sources = |name: &str| -> Vec<&str> {
        directives
            .get(name)
            .map(|s| s.iter().map(String::as_str).collect())
            .unwrap_or_default()
    };
    assert_eq!(sources("default-src"), ["'none'"], "{uri}: {policy}");
    // Scripts fall back to default-src: none may be allowed, inline or not.
    for script in [
        "script-src",
        "script-src-elem",
        "script-src-attr",
        "worker-src",
    ] {
        assert!(
            sources(script).is_empty() || sources(script) == ["'none'"],
            "{uri}: {script} in {policy}"
        );
    }
    assert_eq!(sources("style-src"), ["'self'"], "{uri}: {policy}");
    assert_eq!(sources("img-src"), ["'self'"], "{uri}: {policy}");
    assert_eq!(sources("form-action"), ["'self'"], "{uri}: {policy}");
    assert_eq!(sources("frame-ancestors"), ["'none'"], "{uri}: {policy}");
    assert_eq!(sources("base-uri"), ["'none'"], "{uri}: {policy}");
    for (name, sources) in &directives {
        for source in sources {
            let lax = source.starts_with("'unsafe-")
                || source.contains('*')
                || matches!(source.as_str(), "data:" | "blob:" | "http:" | "https:");
            assert!(!lax, "{uri}: {name} allows {source} in {policy}");
        }
    }
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let console = console(None).await;
    for uri in [
        "/",
        "/executions",
        "/api/records",
        "/assets/console.css",
        "/nowhere",
    ] {
        let answer = get(&console.app, uri).await;
        let policy = answer.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert_strict_policy(policy, uri);
        assert_eq!(answer.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(answer.headers[header::REFERRER_POLICY], "no-referrer");
    }
    let css = get(&console.app, "/assets/console.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
}

#[tokio::test]
async fn an_unsafe_photo_is_drawn_only_in_review_mode() {
    let console = console(None).await;
    let id = spotlight_console::html::url_part(&console.hidden.id);
    let page = get(&console.app, &format!("/records/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("hidden outside review mode")
            && page
                .body
                .contains(&format!("href=\"/records/{id}?includeUnsafe=true\"")),
        "{}",
        page.body
    );
    assert!(!page.body.contains("/preview"), "{}", page.body);
    let image = get(&console.app, &format!("/records/{id}/thumbnail")).await;
    assert_eq!(image.status, StatusCode::FORBIDDEN);
    assert!(image.json()["message"]
        .as_str()
        .unwrap()
        .contains("review mode"));
    assert_eq!(
        get(&console.app, &format!("/records/{id}/preview"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let review = get(&console.app, &format!("/records/{id}?includeUnsafe=true")).await;
    assert_eq!(review.status, StatusCode::OK);
    assert!(review.body.contains("class=\"review\""), "{}", review.body);
    assert!(
        review
            .body
            .contains(&format!("src=\"/records/{id}/preview?includeUnsafe=true\"")),
        "{}",
        review.body
    );
    // Past the safety check there is no photo folder here to draw from.
    let image = get(
        &console.app,
        &format!("/records/{id}/thumbnail?includeUnsafe=true"),
    )
    .await;
    assert_eq!(image.status, StatusCode::NOT_FOUND);
    // The review gallery's card opens it in review mode; a safe photo's links stay plain.
    let gallery = get(&console.app, "/?includeUnsafe=true").await;
    assert!(gallery
        .body
        .contains(&format!("href=\"/records/{id}?includeUnsafe=true\"")));
    let dog = spotlight_console::html::url_part(&console.dog.id);
    assert!(gallery.body.contains(&format!("href=\"/records/{dog}\"")));
    for uri in [
        format!("/records/{id}?includeUnsafe=maybe"),
        format!("/records/{id}?size=huge"),
        format!("/records/{dog}/thumbnail?includeUnsafe=2"),
    ] {
        assert_eq!(
            get(&console.app, &uri).await.status,
            StatusCode::BAD_REQUEST,
            "{uri}"
        );
    }
}

#[tokio::test]
async fn on_loopback_only_loopback_names_are_answered() {
    let with_host = |host: &str| {
        Request::get("/")
            .header(header::HOST, host)
            .body(Body::empty())
            .unwrap()
    };
    let open = console(None).await;
    for host in ["127.0.0.1:8787", "localhost:8787", "[::1]:8787"] {
        let answer = send(&open.app, with_host(host)).await;
        assert_eq!(answer.status, StatusCode::OK, "{host}");
    }
    // A rebinding page's requests name its own host.
    let answer = send(&open.app, with_host("rebind.example:8787")).await;
    assert_eq!(answer.status, StatusCode::MISDIRECTED_REQUEST);
    assert_strict_policy(
        answer.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap(),
        "a misdirected request",
    );
    // With a token any name may be used, since the token is what is checked.
    let guarded = console(Some("s3cret")).await;
    let mut request = with_host("photos.example.org");
    request
        .headers_mut()
        .insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
    assert_eq!(send(&guarded.app, request).await.status, StatusCode::OK);
}

#[tokio::test]
async fn malformed_parameters_are_a_400_with_a_message() {
    let console = console(None).await;
    for uri in [
        "/api/records?minConfidence=abc",
        "/api/records?minConfidence=101",
        "/api/records?limit=0",
        "/api/records?limit=-3",
        "/api/records?status=sideways",
        "/api/records?theme=nope",
        "/api/records?bogus=1",
        "/api/records?cursor=not-a-cursor",
        "/api/records?cursor=soon%3Aabc",
        "/api/executions?limit=x",
        "/api/executions?status=nope",
    ] {
        let answer = get(&console.app, uri).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{uri}");
        let message = answer.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(!message.is_empty(), "{uri}");
    }
    for uri in [
        "/?minConfidence=abc",
        "/?limit=99999",
        "/?cursor=nope",
        "/executions?limit=0",
    ] {
        let page = get(&console.app, uri).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(page.body.contains("must be"), "{uri}: {}", page.body);
    }
}

#[tokio::test]
async fn unknown_ids_are_a_404() {
    let console = console(None).await;
    for uri in [
        "/api/records/nope",
        "/api/records/YQ.Yg",
        "/records/%3Cscript%3E",
        "/api/executions/nope/history",
        "/executions/nope",
    ] {
        let answer = get(&console.app, uri).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{uri}");
    }
    let page = get(&console.app, "/records/%3Cscript%3E").await;
    assert!(!page.body.contains("<script>"));
}

#[tokio::test]
async fn the_token_is_enforced_when_set() {
    let console = console(Some("s3cret")).await;
    assert_eq!(
        get(&console.app, "/").await.status,
        StatusCode::UNAUTHORIZED
    );
    let unauthorised = get(&console.app, "/api/themes").await;
    assert_eq!(unauthorised.status, StatusCode::UNAUTHORIZED);
    assert!(unauthorised
        .headers
        .contains_key(header::CONTENT_SECURITY_POLICY));
    for (name, value) in [
        (header::AUTHORIZATION, "Bearer wrong"),
        (header::AUTHORIZATION, "Bearer s3cre"),
        (header::COOKIE, "token=s3cretx"),
    ] {
        let request = Request::get("/")
            .header(name, value)
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            send(&console.app, request).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    for (name, value) in [
        (header::AUTHORIZATION, "Bearer s3cret"),
        (header::COOKIE, "theme=dark; token=s3cret"),
    ] {
        let request = Request::get("/")
            .header(name, value)
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&console.app, request).await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn the_api_answers_with_the_contract_types() {
    let console = console(None).await;
    let answer = get(
        &console.app,
        "/api/records?label=Dog&includeUnsafe=true&limit=2",
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let page: RecordPage = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.items[0].record, console.dog);
    assert_eq!(
        page.items[0].matched_labels,
        [MatchedLabel {
            name: "Golden Retriever".to_owned(),
            confidence: 96.0
        }]
    );
    let cursor = page.next_cursor.unwrap();
    let next: RecordPage = serde_json::from_str(
        &get(
            &console.app,
            &format!(
                "/api/records?label=Dog&includeUnsafe=true&cursor={}",
                spotlight_console::html::url_part(&cursor)
            ),
        )
        .await
        .body,
    )
    .unwrap();
    assert_eq!(next.items[0].record, console.nasty);
    assert_eq!(next.next_cursor, None);

    let one = get(&console.app, &format!("/api/records/{}", console.dog.id)).await;
    let record: ImageRecord = serde_json::from_str(&one.body).unwrap();
    assert_eq!(record, console.dog);

    let listed: ExecutionList = serde_json::from_str(
        &get(&console.app, "/api/executions?status=succeeded&limit=5")
            .await
            .body,
    )
    .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].record_id, console.dog.id);

    let history: ExecutionHistory = serde_json::from_str(
        &get(
            &console.app,
            &format!(
                "/api/executions/{}/history",
                spotlight_console::html::url_part(&console.dog.execution.id)
            ),
        )
        .await
        .body,
    )
    .unwrap();
    let kinds: Vec<&str> = history.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskFailed",
            "TaskStateExited",
            "ExecutionSucceeded"
        ]
    );
    assert_eq!(
        history.events[2].details["taskFailedEventDetails"]["error"],
        "Lambda.TooManyRequestsException"
    );

    let refused: ApiError =
        serde_json::from_str(&get(&console.app, "/api/records?limit=0").await.body).unwrap();
    assert!(refused.message.contains("limit"), "{}", refused.message);

    let themes: Themes =
        serde_json::from_str(&get(&console.app, "/api/themes").await.body).unwrap();
    assert_eq!(themes, Themes::shipped());
}

#[tokio::test]
async fn the_execution_pages_show_states_and_events() {
    let console = console(None).await;
    let list = get(&console.app, "/executions").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("SUCCEEDED"));
    assert!(list.body.contains("beach/dog.jpg"));

    let record = get(&console.app, &format!("/records/{}", console.dog.id)).await;
    let link = format!(
        "/executions/{}",
        spotlight_console::html::url_part(&console.dog.execution.id)
    );
    assert!(
        record.body.contains(&format!("href=\"{link}\"")),
        "{}",
        record.body
    );

    let page = get(&console.app, &link).await;
    assert_eq!(page.status, StatusCode::OK);
    for expected in [
        "<a href=\"#state-Validate\">Validate</a>",
        "<svg class=\"graph\"",
        "data-state=\"DetectLabels\"",
        "<section class=\"state-detail\" id=\"state-Validate\">",
        // A state this execution never entered still answers its link in the graph.
        "<section class=\"state-detail\" id=\"state-RecordFailed\"><h3>RecordFailed</h3>\
         <p>Not run in this execution.</p></section>",
        "<section class=\"state-detail\" id=\"state-DetectText\">",
        "TaskFailed: Lambda.TooManyRequestsException",
        "ExecutionStarted",
        "TaskStateExited",
    ] {
        assert!(page.body.contains(expected), "{expected}: {}", page.body);
    }
    assert!(page.body.contains(&format!(
        "href=\"/records/{}\"",
        console.dog.id.replace('.', "%2E")
    )));
}

#[tokio::test]
async fn the_execution_page_says_why_it_cannot_draw_a_refused_definition() {
    let refused = json!({"StartAt": "Nowhere", "States": {"A": {"Type": "Pass", "End": true}}});
    let console = console_drawing(None, refused).await;
    let link = format!(
        "/executions/{}",
        spotlight_console::html::url_part(&console.dog.execution.id)
    );
    let page = get(&console.app, &link).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(!page.body.contains("<svg class=\"graph\""), "{}", page.body);
    assert!(
        page.body
            .contains("<p class=\"error\">The state machine's definition cannot be drawn: "),
        "{}",
        page.body
    );
    assert!(page.body.contains("Nowhere"), "{}", page.body);
    // The history is still shown, state by state.
    assert!(page
        .body
        .contains("<a href=\"#state-Validate\">Validate</a>"));
    assert!(page
        .body
        .contains("TaskFailed: Lambda.TooManyRequestsException"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_serves_over_a_loopback_listener() {
    use std::io::{Read, Write};

    let store = SqliteStore::in_memory().unwrap();
    let state = ConsoleState::new(Arc::new(store), Themes::shipped(), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(spotlight_console::serve_until(listener, state, async {
        let _ = stopped.await;
    }));
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .write_all(b"GET /api/themes HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("content-security-policy: default-src 'none'"));
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// A console with `limits` on a loopback port, stopped when the sender is dropped or sent to.
async fn listening(
    limits: spotlight_console::Limits,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let store = SqliteStore::in_memory().unwrap();
    let state = ConsoleState::new(Arc::new(store), Themes::shipped(), None).with_limits(limits);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(spotlight_console::serve_until(listener, state, async {
        let _ = stopped.await;
    }));
    (address, stop, server)
}

/// `GET /api/themes` on a connection of its own: the status line.
fn themes_status(address: std::net::SocketAddr) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .write_all(b"GET /api/themes HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_dribbles_its_request_head_is_dropped() {
    use std::io::{ErrorKind, Read, Write};

    let limits = spotlight_console::Limits {
        header_read: std::time::Duration::from_secs(1),
        ..spotlight_console::Limits::default()
    };
    let (address, stop, server) = listening(limits).await;
    let outcome = tokio::task::spawn_blocking(move || {
        let mut slow = std::net::TcpStream::connect(address).unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            .unwrap();
        slow.set_read_timeout(Some(std::time::Duration::from_millis(100)))
            .unwrap();
        // One byte every 100 ms, for up to ten times the limit: the head never ends.
        for sent in 0..100 {
            // Served meanwhile: a dribbling client holds a connection, not the console.
            if sent == 3 {
                assert_eq!(themes_status(address), "HTTP/1.1 200 OK");
            }
            let mut answer = [0u8; 512];
            match slow.read(&mut answer) {
                Ok(read) => return format!("closed after {sent} bytes: {:?}", &answer[..read]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return format!("closed after {sent} bytes: {e}"),
            }
            if let Err(e) = slow.write_all(b"a") {
                return format!("closed after {sent} bytes: {e}");
            }
        }
        "still open after 100 bytes in 10 s".to_owned()
    })
    .await
    .unwrap();
    assert!(outcome.starts_with("closed"), "{outcome}");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_its_answers_is_dropped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let limits = spotlight_console::Limits {
        write_stall: std::time::Duration::from_secs(1),
        ..spotlight_console::Limits::default()
    };
    let (address, stop, server) = listening(limits).await;
    // A small receive window, and far more answers asked for (pipelined, 7 KiB each) than
    // the socket buffers on both sides hold: the console's writes stall.
    const ASKED: usize = 1500;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let asking = tokio::spawn(async move {
        let request = b"GET /assets/console.css HTTP/1.1\r\nHost: localhost\r\n\r\n";
        for _ in 0..ASKED {
            if writer.write_all(request).await.is_err() {
                break;
            }
        }
        writer
    });
    // Not reading for three times the limit; others are served meanwhile.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let status = tokio::task::spawn_blocking(move || themes_status(address))
        .await
        .unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK");
    // Now read: the console gave up on this client, so the answers end (or the connection
    // is reset) long before all were sent.
    let mut answers = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let ended = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) => return "end of stream".to_owned(),
                Ok(read) => answers.extend_from_slice(&chunk[..read]),
                Err(e) => return e.to_string(),
            }
        }
    })
    .await
    .unwrap_or_else(|_| "still open after 60 s".to_owned());
    let whole = answers
        .windows(b"HTTP/1.1 200 OK".len())
        .filter(|w| *w == b"HTTP/1.1 200 OK")
        .count();
    assert!(
        whole < ASKED && !ended.starts_with("still open"),
        "{whole} of {ASKED} answers, then {ended}"
    );
    drop(asking.await.unwrap());
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_that_never_arrives_is_answered_408() {
    use std::io::{Read, Write};

    let limits = spotlight_console::Limits {
        request: std::time::Duration::from_secs(1),
        ..spotlight_console::Limits::default()
    };
    let (address, stop, server) = listening(limits).await;
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        // A form that says it is 1,000 bytes long and sends 10 of them.
        stream
            .write_all(
                b"POST /themes HTTP/1.1\r\nHost: localhost\r\n\
                  Content-Type: application/x-www-form-urlencoded\r\n\
                  Content-Length: 1000\r\n\r\ncsrf=abcde",
            )
            .unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut answer = vec![0u8; 4096];
        let read = stream.read(&mut answer).unwrap_or(0);
        String::from_utf8_lossy(&answer[..read]).into_owned()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(answer.contains("did not arrive within 1s"), "{answer}");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// The execution page prices an execution from its history, read as AWS's
/// `GetExecutionHistory` writes it: transitions (retries included), the peak payload, the
/// Rekognition images of the analysers that ran, and Standard vs Express.
#[tokio::test]
async fn the_execution_page_reports_cost_and_limits() {
    let store = SqliteStore::in_memory().unwrap();
    let dog = suite_record(
        "beach/dog.jpg",
        30,
        1,
        RecordStatus::Analyzed,
        true,
        vec![],
        "",
    );
    store.put(&dog).await.unwrap();
    let function = |name: &str| {
        format!("arn:aws:lambda:us-east-1:123456789012:function:spot-{name}Function-AB12")
    };
    let mut events: Vec<Value> = Vec::new();
    let mut push = |previous: u64, second: u32, kind: &str, details: Option<(&str, Value)>| {
        let id = events.len() as u64 + 1;
        let mut event = json!({"timestamp": format!("2023-11-14T22:13:{second:02}.000Z"),
                               "type": kind, "id": id, "previousEventId": previous});
        if let Some((member, details)) = details {
            event[member] = details;
        }
        events.push(event);
        id
    };
    let entered = |name: &str, input: &str| {
        Some((
            "stateEnteredEventDetails",
            json!({"name": name, "input": input}),
        ))
    };
    let exited = |name: &str| {
        Some((
            "stateExitedEventDetails",
            json!({"name": name, "output": "{}"}),
        ))
    };
    let scheduled = |name: &str| {
        let parameters = json!({"FunctionName": function(name), "Payload": {}}).to_string();
        Some((
            "taskScheduledEventDetails",
            json!({"resourceType": "lambda", "resource": "invoke", "parameters": parameters}),
        ))
    };
    let task_ok = Some((
        "taskSucceededEventDetails",
        json!({"resourceType": "lambda", "resource": "invoke", "output": "{}"}),
    ));
    let big = format!("{{\"blob\":\"{}\"}}", "x".repeat(2000));
    let start = push(
        0,
        0,
        "ExecutionStarted",
        Some(("executionStartedEventDetails", json!({"input": "{}"}))),
    );
    // Validate: throttled once, retried.
    let validate = push(start, 0, "TaskStateEntered", entered("Validate", &big));
    let first = push(validate, 0, "TaskScheduled", scheduled("Validate"));
    let failed = push(
        first,
        1,
        "TaskFailed",
        Some((
            "taskFailedEventDetails",
            json!({"resourceType": "lambda", "resource": "invoke", "error": "Lambda.ServiceException"}),
        )),
    );
    let second = push(failed, 1, "TaskScheduled", scheduled("Validate"));
    let done = push(second, 2, "TaskSucceeded", task_ok.clone());
    let validated = push(done, 2, "TaskStateExited", exited("Validate"));
    let analyze = push(
        validated,
        2,
        "ParallelStateEntered",
        entered("Analyze", "{}"),
    );
    let opened = push(analyze, 2, "ParallelStateStarted", None);
    let mut last = opened;
    for (state, name) in [
        ("DetectLabels", "DetectLabels"),
        ("DetectModeration", "DetectModeration"),
        ("DetectText", "DetectText"),
    ] {
        let entry = push(opened, 2, "TaskStateEntered", entered(state, "{}"));
        let call = push(entry, 2, "TaskScheduled", scheduled(name));
        let ok = push(call, 3, "TaskSucceeded", task_ok.clone());
        last = push(ok, 3, "TaskStateExited", exited(state));
    }
    let joined = push(last, 3, "ParallelStateSucceeded", None);
    let left = push(joined, 3, "ParallelStateExited", exited("Analyze"));
    push(
        left,
        4,
        "ExecutionSucceeded",
        Some(("executionSucceededEventDetails", json!({"output": "{}"}))),
    );
    let history = json!({ "events": events });
    let execution = ExecutionSummary {
        id: "arn:aws:states:us-east-1:123456789012:execution:spot:cost".to_owned(),
        bucket: dog.bucket.clone(),
        key: dog.key.clone(),
        record_id: dog.id.clone(),
        status: spotlight_core::contracts::ExecutionStatus::Succeeded,
        start_time: dog.execution.start_time,
        stop_time: Some(dog.analysed_at),
        input: json!({}),
        output: Some(json!({})),
        error: None,
        cause: None,
        redrive_count: 0,
    };
    store.save_execution(&execution, Some(&history)).unwrap();
    let definition: Value =
        serde_json::from_str(include_str!("../../../statemachine/pipeline.asl.json")).unwrap();
    let state = ConsoleState::new(Arc::new(store), Themes::shipped(), None)
        .with_definition(definition.clone());
    let app = router(state);

    let page = get(
        &app,
        &format!(
            "/executions/{}",
            spotlight_console::html::url_part(&execution.id)
        ),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let field = |id: &str| {
        let start = page
            .body
            .find(&format!("id=\"{id}\">"))
            .unwrap_or_else(|| panic!("no {id}: {}", page.body));
        let rest = &page.body[start + id.len() + 6..];
        rest[..rest.find("</dd>").unwrap()].to_owned()
    };
    // Validate, Analyze and its three branches entered, one retry.
    assert_eq!(field("cost-transitions"), "6");
    assert_eq!(
        field("cost-rekognition"),
        "DetectLabels 1, DetectModerationLabels 1, DetectText 1"
    );
    assert!(
        field("cost-peak").starts_with(&format!("{} bytes of 262144", big.len())),
        "{}",
        field("cost-peak")
    );
    assert!(field("cost-peak").ends_with("input of Validate"));
    let report = spotlight_states::cost::report(
        &history["events"].as_array().unwrap()[..],
        &spotlight_states::cost::PriceSheet::published().unwrap(),
        definition.to_string().len(),
    );
    assert!(field("cost-standard").starts_with(&format!("${:.8}", report.usd.total_standard)));
    let express = report.usd.total_express.unwrap();
    assert!(field("cost-express").starts_with(&format!("${express:.8}")));
    assert!(report.usd.rekognition > 0.0 && express > report.usd.rekognition);
}
