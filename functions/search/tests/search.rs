//! The search function's logic against the in-memory store.

use spotlight_core::contracts::RecordStatus;
use spotlight_core::fakes::{label, MemoryRecords};
use spotlight_core::ports::RecordStore;
use spotlight_core::store_suite::suite_record;
use spotlight_core::themes::Themes;
use spotlight_search::{handle, parse_query, query_pairs, QueryError};

fn parse(raw: &str) -> Result<spotlight_core::ports::SearchQuery, QueryError> {
    parse_query(&query_pairs(raw), &Themes::shipped())
}

#[test]
fn queries_parse_with_safe_only_by_default() {
    let query = parse("label=Dog&minConfidence=80&text=good+boy&limit=10").unwrap();
    assert_eq!(query.labels, ["Dog"]);
    assert_eq!(query.min_confidence, 80.0);
    assert_eq!(query.text.as_deref(), Some("good boy"));
    assert_eq!(query.limit, Some(10));
    assert_eq!(
        query.max_bytes,
        Some(spotlight_search::MAX_PAGE_BYTES),
        "the store stops reading at the page's byte bound"
    );
    assert!(query.safe_only);
    assert_eq!(
        parse("label=Dog").unwrap().min_confidence,
        25.0,
        "noise is not a match"
    );
    assert!(!parse("includeUnsafe=true").unwrap().safe_only);
    assert!(
        !parse("status=rejected").unwrap().safe_only,
        "ops queries include unsafe records"
    );
    assert_eq!(
        parse("status=Failed").unwrap().status,
        Some(RecordStatus::Failed)
    );
}

#[test]
fn a_verdict_is_the_one_that_counts_and_any_but_safe_includes_unsafe_records() {
    use spotlight_core::contracts::Verdict;
    let query = parse("verdict=needs_review").unwrap();
    assert_eq!(query.verdict, Some(Verdict::NeedsReview));
    assert!(!query.safe_only);
    assert!(
        !parse("verdict=UNSAFE&includeUnsafe=false")
            .unwrap()
            .safe_only,
        "whatever the box says"
    );
    let safe = parse("verdict=Safe").unwrap();
    assert_eq!(safe.verdict, Some(Verdict::Safe));
    assert!(safe.safe_only);
    let error = parse("verdict=maybe").unwrap_err().to_string();
    assert!(error.contains("NEEDS_REVIEW"), "{error}");
}

#[test]
fn a_theme_expands_to_its_labels_at_query_time() {
    let query = parse("theme=OCEAN").unwrap();
    assert!(query.labels.iter().any(|l| l == "Beach"));
    let mut themes = Themes::shipped();
    themes.themes.insert("mine".into(), vec!["Kite".into()]);
    let query = parse_query(&query_pairs("theme=mine"), &themes).unwrap();
    assert_eq!(query.labels, ["Kite"], "an edited theme applies at once");
}

#[test]
fn labels_combine_any_every_and_none() {
    let any = parse("label=Dog&label=Beach").unwrap();
    assert_eq!(any.labels, ["Dog", "Beach"], "any label, as before --all");
    assert!(any.all_labels.is_empty() && any.not_labels.is_empty());

    let every = parse("label=Dog&label=Beach&all=true&notLabel=Person&notLabel=Car").unwrap();
    assert!(every.labels.is_empty());
    assert_eq!(every.all_labels, [vec!["Dog"], vec!["Beach"]]);
    assert_eq!(every.not_labels, ["Person", "Car"]);

    let themed = parse("theme=ocean&label=Dog&all=1").unwrap();
    assert_eq!(
        themed.all_labels.len(),
        2,
        "a theme is one term: {themed:?}"
    );
    assert!(themed.all_labels[0].iter().any(|l| l == "Beach"));
    assert_eq!(themed.all_labels[1], ["Dog"]);
    assert_eq!(
        parse("label=Dog&all=false").unwrap().labels,
        ["Dog"],
        "an unticked box"
    );
    let words = parse("query=Dogs+on+the+beach&label=Animal").unwrap();
    let plain: Vec<&str> = words.words.iter().map(|w| w.word.as_str()).collect();
    assert_eq!(plain, ["dog", "beach"]);
    assert_eq!(words.labels, ["Animal"], "filters still apply");
    for (raw, needle) in [
        ("all=maybe", "all must be"),
        ("notLabel=%20", "notLabel"),
        ("query=the+of+a", "stop-word"),
        ("query=dog&cursor=1%3Aabc", "cursor does not apply"),
    ] {
        let error = parse(raw).unwrap_err();
        assert!(error.to_string().contains(needle), "{raw}: {error}");
    }
}

#[tokio::test]
async fn the_function_refuses_excluding_without_a_label_theme_or_text() {
    let store = MemoryRecords::new();
    let shipped = Themes::shipped();
    let refused = handle(&query_pairs("notLabel=Person"), &store, &shipped)
        .await
        .unwrap();
    assert_eq!(refused.status, 400);
    assert!(refused.body["message"]
        .as_str()
        .unwrap()
        .contains("notLabel needs a label, theme or text"));
    let ranked = handle(&query_pairs("query=dog+on+a+beach"), &store, &shipped)
        .await
        .unwrap();
    assert_eq!(ranked.status, 400, "ranking needs every record: local only");
    assert!(ranked.body["message"].as_str().unwrap().contains("query"));
    for raw in [
        "notLabel=Person&label=Dog",
        "notLabel=Person&theme=ocean&all=true",
        "notLabel=Person&text=surf",
    ] {
        let answer = handle(&query_pairs(raw), &store, &shipped).await.unwrap();
        assert_eq!(answer.status, 200, "{raw}: {}", answer.body);
    }
}

#[test]
fn bad_parameters_are_refused_with_a_message() {
    for (raw, needle) in [
        ("minConfidence=high", "minConfidence"),
        ("minConfidence=101", "minConfidence"),
        ("status=happy", "status"),
        ("theme=nope", "unknown theme"),
        ("limit=0", "limit"),
        ("limit=5000", "limit"),
        ("includeUnsafe=maybe", "includeUnsafe"),
        ("text=%20%21", "text"),
        ("colour=red", "unknown query parameter"),
        ("cursor=page-two", "cursor"),
    ] {
        let error = parse(raw).unwrap_err();
        assert!(error.to_string().contains(needle), "{raw}: {error}");
    }
}

#[tokio::test]
async fn answers_say_why_each_record_matched() {
    let store = MemoryRecords::new();
    let dog = label("Golden Retriever", 96.0, &["Dog", "Animal"]);
    store
        .put(&suite_record(
            "dog.jpg",
            1,
            1,
            RecordStatus::Analyzed,
            true,
            vec![dog],
            "",
        ))
        .await
        .unwrap();
    store
        .put(&suite_record(
            "bad.jpg",
            2,
            2,
            RecordStatus::Rejected,
            false,
            Vec::new(),
            "",
        ))
        .await
        .unwrap();
    let answer = handle(&query_pairs("theme=animals"), &store, &Themes::shipped())
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["items"][0]["record"]["key"], "dog.jpg");
    assert_eq!(
        answer.body["items"][0]["matchedLabels"][0]["name"],
        "Golden Retriever"
    );
    assert!(answer.body["nextCursor"].is_null());

    let answer = handle(&query_pairs("status=REJECTED"), &store, &Themes::shipped())
        .await
        .unwrap();
    assert_eq!(answer.body["items"][0]["record"]["key"], "bad.jpg");

    let answer = handle(&query_pairs("limit=x"), &store, &Themes::shipped())
        .await
        .unwrap();
    assert_eq!(answer.status, 400);
    assert!(answer.body["message"].as_str().unwrap().contains("limit"));
}

#[tokio::test]
async fn a_page_stops_before_the_function_url_limit_and_its_cursor_goes_on() {
    let store = MemoryRecords::new();
    // Quotes are escaped twice on the way out (in the record's JSON, then in the body string),
    // so 20 of these records hold 4 MB as JSON but take 8 MB of the Lambda's response.
    let quotes = "\"".repeat(100_000);
    for i in 0..20 {
        let record = suite_record(
            &format!("quote {i:02}.jpg"),
            i,
            i as u64 + 1,
            RecordStatus::Analyzed,
            true,
            Vec::new(),
            &quotes,
        );
        store.put(&record).await.unwrap();
    }
    let mut keys = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut params = vec![("limit".to_owned(), "1000".to_owned())];
        params.extend(cursor.map(|c| ("cursor".to_owned(), c)));
        let answer = handle(&params, &store, &Themes::shipped()).await.unwrap();
        assert_eq!(answer.status, 200);
        // What the function sends: the body as a JSON string inside the response.
        let payload = serde_json::to_string(&answer.body.to_string()).unwrap();
        sizes.push(payload.len());
        let items = answer.body["items"].as_array().unwrap();
        keys.extend(
            items
                .iter()
                .map(|i| i["record"]["key"].as_str().unwrap().to_owned()),
        );
        match answer.body["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert!(sizes.len() >= 2, "one answer would not fit: {sizes:?}");
    assert!(
        sizes.iter().all(|&size| size < 6_000_000),
        "every answer fits a Function URL response: {sizes:?}"
    );
    let newest_first: Vec<String> = (0..20).rev().map(|i| format!("quote {i:02}.jpg")).collect();
    assert_eq!(
        keys, newest_first,
        "the cursor goes on where the page stopped"
    );
}
