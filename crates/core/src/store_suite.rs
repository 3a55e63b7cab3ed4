//! The record store's behaviour, once, for every store: the in-memory fake, SQLite and DynamoDB
//! each run [`check_store`] against an empty store. Semantics live in [`crate::revision`] and
//! [`crate::search`]; this is what users see of them.

use chrono::{DateTime, Utc};

use crate::contracts::{
    ExecutionRef, ImageRecord, Label, RecordError, RecordStatus, TextSummary, WriteOutcome,
};
use crate::fakes::{image_facts, label};
use crate::ports::{RecordStore, SearchQuery};
use crate::revision::revision;

const BUCKET: &str = "suite bucket/ünï";

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap_or_default()
}

/// A record for the suite: `key` uploaded at `seconds` with sequencer `sequencer`.
pub fn suite_record(
    key: &str,
    seconds: i64,
    sequencer: u64,
    status: RecordStatus,
    safe: bool,
    labels: Vec<Label>,
    text: &str,
) -> ImageRecord {
    let mut image = image_facts(BUCKET, key);
    image.uploaded_at = Some(at(seconds));
    image.revision = revision(Some(&format!("{sequencer:X}")), image.uploaded_at);
    ImageRecord {
        id: crate::record_id(BUCKET, key),
        bucket: BUCKET.to_owned(),
        key: key.to_owned(),
        status,
        revision: image.revision.clone(),
        uploaded_at: at(seconds),
        image: Some(image),
        labels,
        moderation: None,
        safe,
        text: (!text.is_empty()).then(|| TextSummary {
            lines: Vec::new(),
            full_text: text.to_owned(),
        }),
        themes: Vec::new(),
        trimmed: Vec::new(),
        models: Vec::new(),
        error: (status != RecordStatus::Analyzed).then(|| RecordError {
            error: "ImageRejected.Corrupt".to_owned(),
            cause: "truncated".to_owned(),
        }),
        execution: ExecutionRef {
            id: format!("execution-{key}-{sequencer}"),
            start_time: at(seconds),
        },
        analysed_at: at(seconds + 1),
    }
}

fn keys(records: &[ImageRecord]) -> Vec<&str> {
    records.iter().map(|r| r.key.as_str()).collect()
}

async fn search<S: RecordStore>(store: &S, query: SearchQuery) -> Vec<ImageRecord> {
    let page = store.search(&query).await;
    page.unwrap_or_else(|e| panic!("search {query:?} failed: {e}"))
        .records
}

/// Runs every check against `store`, which must start empty. Panics with the first difference.
pub async fn check_store<S: RecordStore>(store: &S) {
    use RecordStatus::{Analyzed, Failed, Rejected};
    let dog = || {
        label(
            "Golden Retriever",
            96.0,
            &["Dog", "Canine", "Mammal", "Animal"],
        )
    };
    let put = |record: ImageRecord| async move {
        store
            .put(&record)
            .await
            .unwrap_or_else(|e| panic!("put {} failed: {e}", record.key))
    };

    // Writes: first write, duplicate, older after newer, newer after older.
    let first = suite_record(
        "dog 1.jpg",
        10,
        100,
        Analyzed,
        true,
        vec![dog()],
        "Good Boy",
    );
    assert_eq!(put(first.clone()).await, WriteOutcome::Written);
    assert_eq!(
        store.get(BUCKET, "dog 1.jpg").await.ok().flatten().as_ref(),
        Some(&first),
        "a record reads back exactly as written"
    );
    assert_eq!(
        put(first.clone()).await,
        WriteOutcome::Duplicate,
        "re-delivery"
    );
    let older = suite_record(
        "dog 1.jpg",
        5,
        99,
        Analyzed,
        true,
        vec![label("Cat", 99.0, &[])],
        "",
    );
    assert_eq!(put(older).await, WriteOutcome::Stale, "older after newer");
    assert_eq!(
        store.get(BUCKET, "dog 1.jpg").await.ok().flatten(),
        Some(first.clone())
    );
    assert!(store
        .get(BUCKET, "missing.jpg")
        .await
        .ok()
        .flatten()
        .is_none());

    // A newer upload replaces the record and its index entries.
    let cat_then = suite_record(
        "pet+2 猫.jpg",
        20,
        200,
        Analyzed,
        true,
        vec![label("Tabby Cat", 90.0, &["Cat", "Animal"])],
        "meow",
    );
    put(cat_then).await;
    let cat_now = suite_record(
        "pet+2 猫.jpg",
        21,
        201,
        Analyzed,
        true,
        vec![label("Parrot", 88.0, &["Bird", "Animal"])],
        "squawk",
    );
    assert_eq!(put(cat_now.clone()).await, WriteOutcome::Written);
    let by_label = |name: &str, min: f32| SearchQuery {
        labels: vec![name.to_owned()],
        min_confidence: min,
        safe_only: true,
        ..SearchQuery::default()
    };
    assert!(
        search(store, by_label("Cat", 0.0)).await.is_empty(),
        "a dropped label no longer matches"
    );
    assert!(
        search(
            store,
            SearchQuery {
                text: Some("meow".into()),
                ..SearchQuery::default()
            }
        )
        .await
        .is_empty(),
        "a dropped word no longer matches"
    );
    assert_eq!(
        keys(&search(store, by_label("parrot", 0.0)).await),
        ["pet+2 猫.jpg"]
    );

    // A FAILED record gives way to a later attempt at the same upload.
    let failed = suite_record("flaky.jpg", 30, 300, Failed, false, Vec::new(), "");
    put(failed).await;
    let mut retried = suite_record("flaky.jpg", 30, 300, Analyzed, false, vec![dog()], "");
    retried.execution.id = "a later execution".to_owned();
    assert_eq!(put(retried).await, WriteOutcome::Written);

    put(suite_record(
        "broken.jpg",
        40,
        400,
        Rejected,
        false,
        Vec::new(),
        "",
    ))
    .await;
    put(suite_record(
        "timeout.jpg",
        41,
        410,
        Failed,
        false,
        Vec::new(),
        "",
    ))
    .await;
    for (second, name) in [(50, "a"), (51, "b"), (52, "c")] {
        put(suite_record(
            &format!("sea {name}.jpg"),
            second,
            500 + second as u64,
            Analyzed,
            true,
            vec![label("Sea", 80.0 + second as f32 / 10.0, &["Water"])],
            "Surf's up",
        ))
        .await;
    }

    // 1: safe images with a label (or a parent) above a confidence, newest first, paged.
    assert_eq!(
        keys(&search(store, by_label("Water", 0.0)).await),
        ["sea c.jpg", "sea b.jpg", "sea a.jpg"]
    );
    assert_eq!(
        keys(&search(store, by_label("sea", 85.15)).await),
        ["sea c.jpg"]
    );
    assert_eq!(
        keys(&search(store, by_label("Animal", 0.0)).await),
        ["pet+2 猫.jpg", "dog 1.jpg"],
        "flaky.jpg is unsafe"
    );
    let themed = SearchQuery {
        labels: vec!["Parrot".into(), "Sea".into()],
        safe_only: true,
        ..SearchQuery::default()
    };
    assert_eq!(
        keys(&search(store, themed).await),
        ["sea c.jpg", "sea b.jpg", "sea a.jpg", "pet+2 猫.jpg"],
        "several labels (a theme) merge newest first"
    );
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .search(&SearchQuery {
                limit: Some(2),
                cursor: cursor.clone(),
                ..by_label("Water", 0.0)
            })
            .await
            .unwrap_or_else(|e| panic!("paging failed: {e}"));
        pages.push(keys(&page.records).join(","));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, ["sea c.jpg,sea b.jpg", "sea a.jpg"]);

    // 2: the review queue — analysed but not safe, newest first.
    let review = SearchQuery {
        unsafe_only: true,
        ..SearchQuery::default()
    };
    assert_eq!(keys(&search(store, review).await), ["flaky.jpg"]);

    // 4: text contains a word, case-insensitively; unsafe hidden unless asked.
    let surf = SearchQuery {
        text: Some("SURF".into()),
        safe_only: true,
        ..SearchQuery::default()
    };
    assert_eq!(
        keys(&search(store, surf).await),
        ["sea c.jpg", "sea b.jpg", "sea a.jpg"]
    );
    let boy = SearchQuery {
        text: Some("good boy".into()),
        ..SearchQuery::default()
    };
    assert_eq!(keys(&search(store, boy).await), ["dog 1.jpg"]);

    // 5: rejected and failed, for ops.
    let status = |status| SearchQuery {
        status: Some(status),
        ..SearchQuery::default()
    };
    assert_eq!(keys(&search(store, status(Rejected)).await), ["broken.jpg"]);
    assert_eq!(keys(&search(store, status(Failed)).await), ["timeout.jpg"]);
    let all = search(store, SearchQuery::default()).await;
    assert_eq!(all.len(), 8, "every record, any status: {:?}", keys(&all));
    let safe = search(
        store,
        SearchQuery {
            safe_only: true,
            ..SearchQuery::default()
        },
    )
    .await;
    assert_eq!(
        keys(&safe),
        [
            "sea c.jpg",
            "sea b.jpg",
            "sea a.jpg",
            "pet+2 猫.jpg",
            "dog 1.jpg"
        ]
    );
    let bad_cursor = SearchQuery {
        cursor: Some("not a cursor".into()),
        ..SearchQuery::default()
    };
    assert!(
        search(store, bad_cursor).await.is_empty(),
        "a bad cursor is an empty page"
    );
}
