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

    check_paging(store).await;
    check_many_labels_and_words(store).await;
    check_longest_key(store).await;
    check_s3_order_and_reruns(store).await;
}

/// Every page of `query`, followed through its cursors.
async fn pages<S: RecordStore>(store: &S, query: SearchQuery) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .search(&SearchQuery {
                cursor: cursor.clone(),
                ..query.clone()
            })
            .await
            .unwrap_or_else(|e| panic!("paging {query:?} failed: {e}"));
        pages.push(page.records.iter().map(|r| r.key.clone()).collect());
        match page.next_cursor {
            Some(next) if pages.len() < 20 => cursor = Some(next),
            Some(_) => panic!("paging {query:?} does not end"),
            None => return pages,
        }
    }
}

/// Pages bounded by count across several partitions, and by bytes (the records' serialised
/// JSON), continue exactly where they stopped. Runs on the records [`check_store`] wrote.
async fn check_paging<S: RecordStore>(store: &S) {
    let safe = SearchQuery {
        safe_only: true,
        ..SearchQuery::default()
    };
    let everything: Vec<String> = search(store, safe.clone())
        .await
        .iter()
        .map(|r| r.key.clone())
        .collect();
    let paged = pages(
        store,
        SearchQuery {
            limit: Some(2),
            ..safe.clone()
        },
    )
    .await;
    assert_eq!(paged.concat(), everything, "pages of two: {paged:?}");

    let water = SearchQuery {
        labels: vec!["Water".into()],
        safe_only: true,
        ..SearchQuery::default()
    };
    let found = search(store, water.clone()).await;
    let size = |i: usize| serde_json::to_string(&found[i]).map_or(0, |json| json.len());
    assert_eq!(
        pages(
            store,
            SearchQuery {
                max_bytes: Some(size(0) + size(1)),
                ..water.clone()
            }
        )
        .await,
        [vec!["sea c.jpg", "sea b.jpg"], vec!["sea a.jpg"]],
        "a page stops before the record that would pass its byte bound"
    );
    assert_eq!(
        pages(
            store,
            SearchQuery {
                max_bytes: Some(1),
                ..water
            }
        )
        .await,
        [vec!["sea c.jpg"], vec!["sea b.jpg"], vec!["sea a.jpg"]],
        "a record larger than the bound still makes a page of one"
    );
}

/// 60 labels and 200 words are all searchable, in every store (the local store indexes
/// everything, so the AWS one must too).
async fn check_many_labels_and_words<S: RecordStore>(store: &S) {
    let labels: Vec<Label> = (0..60)
        .map(|i| {
            let parent = format!("Group {}", i % 7);
            label(&format!("Thing {i}"), 99.0 - i as f32, &[parent.as_str()])
        })
        .collect();
    let text: String = (0..200).map(|i| format!("token{i} ")).collect();
    let key = "many/labels and words.jpg";
    let busy = suite_record(key, 60, 600, RecordStatus::Analyzed, true, labels, &text);
    assert_eq!(
        store.put(&busy).await.ok(),
        Some(WriteOutcome::Written),
        "a record with 60 labels and 200 words is written"
    );
    let by_label = |name: &str| SearchQuery {
        labels: vec![name.to_owned()],
        ..SearchQuery::default()
    };
    let by_word = |word: &str| SearchQuery {
        text: Some(word.to_owned()),
        ..SearchQuery::default()
    };
    for query in [
        by_label("Thing 59"),
        by_label("thing 0"),
        by_label("Group 6"),
        by_word("token199"),
        by_word("TOKEN0"),
    ] {
        assert_eq!(
            keys(&search(store, query.clone()).await),
            [key],
            "{query:?}"
        );
    }

    // A newer upload with fewer labels and words: what it dropped no longer matches.
    let fewer: Vec<Label> = (0..10)
        .map(|i| label(&format!("Thing {i}"), 90.0, &[]))
        .collect();
    let text: String = (0..20).map(|i| format!("token{i} ")).collect();
    let newer = suite_record(key, 61, 601, RecordStatus::Analyzed, true, fewer, &text);
    assert_eq!(store.put(&newer).await.ok(), Some(WriteOutcome::Written));
    for query in [
        by_label("Thing 59"),
        by_label("Group 6"),
        by_word("token199"),
    ] {
        assert!(search(store, query.clone()).await.is_empty(), "{query:?}");
    }
    for query in [by_label("Thing 9"), by_word("token19")] {
        assert_eq!(
            keys(&search(store, query.clone()).await),
            [key],
            "{query:?}"
        );
    }
}

/// The longest S3 key (1,024 bytes of UTF-8) is written, read, found and replaced like any
/// other, and so is a word far longer than a DynamoDB key (keys hold at most 2,048 bytes in a
/// partition key and 1,024 in a sort key).
async fn check_longest_key<S: RecordStore>(store: &S) {
    let key = format!("{}.jpg", "猫".repeat(340));
    let key = format!("{}{key}", "x".repeat(1024 - key.len()));
    assert_eq!(key.len(), 1024);
    let first = suite_record(
        &key,
        70,
        700,
        RecordStatus::Analyzed,
        true,
        vec![label("Lynx", 91.0, &["Cat"])],
        &format!("meow purr {}", "z".repeat(3000)),
    );
    assert_eq!(
        store.put(&first).await.ok(),
        Some(WriteOutcome::Written),
        "the longest key is written"
    );
    assert_eq!(store.get(BUCKET, &key).await.ok().flatten(), Some(first));
    let only = |query: SearchQuery| async move {
        search(store, query)
            .await
            .into_iter()
            .filter(|r| r.key.len() == 1024)
            .count()
    };
    let lynx = SearchQuery {
        labels: vec!["lynx".into()],
        ..SearchQuery::default()
    };
    let purr = SearchQuery {
        text: Some("purr".into()),
        ..SearchQuery::default()
    };
    assert_eq!(only(lynx.clone()).await, 1, "found by label");
    assert_eq!(only(purr.clone()).await, 1, "found by word");
    let long_word = SearchQuery {
        text: Some("Z".repeat(3000)),
        ..SearchQuery::default()
    };
    assert_eq!(only(long_word).await, 1, "found by a 3,000-letter word");
    let replaced = suite_record(
        &key,
        71,
        701,
        RecordStatus::Analyzed,
        true,
        vec![label("Owl", 92.0, &[])],
        "hoot",
    );
    assert_eq!(store.put(&replaced).await.ok(), Some(WriteOutcome::Written));
    assert_eq!(only(lynx).await, 0, "the replaced label is gone");
    assert_eq!(only(purr).await, 0, "the replaced word is gone");
    let owl = SearchQuery {
        labels: vec!["owl".into()],
        ..SearchQuery::default()
    };
    assert_eq!(only(owl).await, 1);
    assert_eq!(store.get(BUCKET, &key).await.ok().flatten(), Some(replaced));
}

/// `key`'s record for the upload with S3 `sequencer`, or for a re-run (no sequencer).
fn upload_record(
    key: &str,
    sequencer: Option<&str>,
    status: RecordStatus,
    execution: &str,
) -> ImageRecord {
    let mut record = suite_record(key, 70, 0, status, false, Vec::new(), "");
    record.revision = revision(sequencer, Some(at(70)));
    if let Some(image) = &mut record.image {
        image.revision.clone_from(&record.revision);
    }
    record.execution.id = format!("execution-{execution}");
    record
}

/// S3's sequencer order (not numeric order) decides, in Rust and in a store's own condition;
/// a re-run of the upload a FAILED record describes repairs it (issue 17).
async fn check_s3_order_and_reruns<S: RecordStore>(store: &S) {
    use RecordStatus::{Analyzed, Failed};
    let put = |record: ImageRecord| async move { store.put(&record).await.ok() };
    let key = "order/sequencers.jpg";
    // 16 digits after 18: the later event by S3's rule, the smaller number.
    let earlier = upload_record(key, Some("0055AED6DCD90281E5"), Analyzed, "earlier");
    let later = upload_record(key, Some("0062E99A88DC4074"), Analyzed, "later");
    assert_eq!(put(earlier.clone()).await, Some(WriteOutcome::Written));
    assert_eq!(
        put(later.clone()).await,
        Some(WriteOutcome::Written),
        "S3 orders sequencers right-padded, not as numbers"
    );
    assert_eq!(put(earlier).await, Some(WriteOutcome::Stale));

    let key = "order/re-run.jpg";
    let failed = upload_record(key, Some("0062E99A88DC4074"), Failed, "event");
    assert_eq!(put(failed.clone()).await, Some(WriteOutcome::Written));
    let mut rerun = upload_record(key, None, Analyzed, "rerun");
    rerun.execution.start_time = at(80);
    if let Some(upload) = crate::revision::rerun(&failed, &rerun) {
        rerun.revision = upload;
    }
    assert_eq!(
        put(rerun.clone()).await,
        Some(WriteOutcome::Written),
        "a re-run repairs a FAILED record"
    );
    let redelivered = upload_record(key, Some("0062E99A88DC4074"), Analyzed, "again");
    assert_eq!(put(redelivered).await, Some(WriteOutcome::Stale));
    assert_eq!(
        store
            .get(BUCKET, key)
            .await
            .ok()
            .flatten()
            .map(|r| r.status),
        Some(Analyzed)
    );
}
