//! The record store's behaviour, once, for every store: the in-memory fake, SQLite and DynamoDB
//! each run [`check_store`] against an empty store. Semantics live in [`crate::revision`] and
//! [`crate::search`]; this is what users see of them.

use chrono::{DateTime, Utc};

use crate::contracts::{
    ExecutionRef, ImageRecord, Label, RecordError, RecordStatus, TextSummary, WriteOutcome,
};
use crate::fakes::{image_facts, label};
use crate::ports::{DeleteOutcome, RecordStore, SearchQuery, Tombstone};
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
        review: None,
        review_history: Vec::new(),
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
    check_deletes(store).await;
    check_replace_unchanged(store).await;
    check_reviews(store).await;
    check_label_grammar(store).await;
}

/// Labels AND / OR / NOT (issue 12): any clause's label, every group's, none excluded — by
/// name or parent, case-insensitively, at the query's least confidence — newest first and
/// paged like any search. Runs last: its records are the newest in the store.
async fn check_label_grammar<S: RecordStore>(store: &S) {
    let put = |key: &str, seconds: i64, safe: bool, labels: Vec<Label>| {
        let record = suite_record(
            key,
            seconds,
            9_000 + seconds as u64,
            RecordStatus::Analyzed,
            safe,
            labels,
            "grammar case",
        );
        async move {
            store
                .put(&record)
                .await
                .unwrap_or_else(|e| panic!("put {} failed: {e}", record.key))
        }
    };
    // Not "Dog": the suite's first records carry it.
    let dog = |confidence| label("Hound", confidence, &["Animal"]);
    let beach = |confidence| label("Beach", confidence, &[]);
    let person = |confidence| label("Person", confidence, &[]);
    put("g dog beach.jpg", 9_001, true, vec![dog(90.0), beach(80.0)]).await;
    put(
        "g dog.jpg",
        9_002,
        true,
        vec![dog(95.0), label("Puppies", 70.0, &[])],
    )
    .await;
    put(
        "g beach person.jpg",
        9_003,
        true,
        vec![beach(85.0), person(70.0)],
    )
    .await;
    put(
        "g dog beach person.jpg",
        9_004,
        true,
        vec![dog(88.0), beach(60.0), person(30.0)],
    )
    .await;
    put("g unsafe.jpg", 9_005, false, vec![dog(99.0), beach(99.0)]).await;
    put(
        "g cat.jpg",
        9_006,
        true,
        vec![label("Tabby", 97.0, &["Cat", "Animal"]), person(99.0)],
    )
    .await;

    let names = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    let query = |any: &[&str], every: &[&[&str]], not: &[&str], min: f32| SearchQuery {
        labels: names(any),
        all_labels: every.iter().map(|group| names(group)).collect(),
        not_labels: names(not),
        min_confidence: min,
        safe_only: true,
        ..SearchQuery::default()
    };
    let cases: Vec<(&str, SearchQuery, Vec<&str>)> = vec![
        (
            "any of two labels (OR)",
            query(&["Hound", "Beach"], &[], &[], 50.0),
            vec![
                "g dog beach person.jpg",
                "g beach person.jpg",
                "g dog.jpg",
                "g dog beach.jpg",
            ],
        ),
        (
            "every label (AND)",
            query(&[], &[&["Hound"], &["Beach"]], &[], 50.0),
            vec!["g dog beach person.jpg", "g dog beach.jpg"],
        ),
        (
            "AND at a higher bar: Beach 60 no longer counts",
            query(&[], &[&["Hound"], &["beach"]], &[], 65.0),
            vec!["g dog beach.jpg"],
        ),
        (
            "AND by parent",
            query(&[], &[&["ANIMAL"], &["Beach"]], &[], 50.0),
            vec!["g dog beach person.jpg", "g dog beach.jpg"],
        ),
        (
            "AND of a group (a theme) and a label",
            query(&[], &[&["Cat", "Beach"], &["Animal"]], &[], 50.0),
            vec!["g cat.jpg", "g dog beach person.jpg", "g dog beach.jpg"],
        ),
        (
            "NOT below the bar excludes nothing",
            query(&[], &[&["Hound"], &["Beach"]], &["Person"], 50.0),
            vec!["g dog beach person.jpg", "g dog beach.jpg"],
        ),
        (
            "NOT at the bar excludes",
            query(&[], &[&["Hound"], &["Beach"]], &["person"], 25.0),
            vec!["g dog beach.jpg"],
        ),
        (
            "OR with NOT",
            query(&["Hound", "Beach"], &[], &["Person"], 50.0),
            vec!["g dog beach person.jpg", "g dog.jpg", "g dog beach.jpg"],
        ),
        (
            "a clause of OR and a group of AND",
            query(&["Cat", "Hound"], &[&["Beach"]], &[], 50.0),
            vec!["g dog beach person.jpg", "g dog beach.jpg"],
        ),
        (
            "NOT with text",
            SearchQuery {
                text: Some("grammar".into()),
                ..query(&[], &[], &["Person", "Cat"], 50.0)
            },
            vec!["g dog beach person.jpg", "g dog.jpg", "g dog beach.jpg"],
        ),
        (
            "AND with unsafe photos asked for",
            SearchQuery {
                safe_only: false,
                ..query(&[], &[&["Hound"], &["Beach"]], &[], 50.0)
            },
            vec!["g unsafe.jpg", "g dog beach person.jpg", "g dog beach.jpg"],
        ),
        (
            "an empty group (a theme of no labels) matches nothing",
            query(&[], &[&["Hound"], &[]], &[], 0.0),
            vec![],
        ),
        (
            "query words: a label's name (stores filter, callers rank)",
            SearchQuery {
                words: crate::search::query_words("the hounds", &Default::default()),
                ..query(&[], &[], &[], 50.0)
            },
            vec!["g dog beach person.jpg", "g dog.jpg", "g dog beach.jpg"],
        ),
        (
            "query words: a plural in the record, folded like the query's",
            SearchQuery {
                words: crate::search::query_words("a puppy", &Default::default()),
                ..query(&[], &[], &[], 50.0)
            },
            vec!["g dog.jpg"],
        ),
        (
            "query words: the text, with a NOT",
            SearchQuery {
                words: crate::search::query_words("Grammar", &Default::default()),
                ..query(&[], &[], &["Person"], 50.0)
            },
            vec!["g dog beach person.jpg", "g dog.jpg", "g dog beach.jpg"],
        ),
    ];
    let mut failures = Vec::new();
    for (name, query, expected) in &cases {
        let found = search(store, query.clone()).await;
        if keys(&found) != *expected {
            failures.push(format!("{name}: {:?}, expected {expected:?}", keys(&found)));
        }
        let paged = pages(
            store,
            SearchQuery {
                limit: Some(1),
                ..query.clone()
            },
        )
        .await;
        if paged.concat() != *expected {
            failures.push(format!("{name}, in pages of one: {paged:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "label grammar:\n{}",
        failures.join("\n")
    );

    // Excluding alone: every safe record but those carrying the label.
    let safe = search(
        store,
        SearchQuery {
            safe_only: true,
            ..SearchQuery::default()
        },
    )
    .await;
    let without_people: Vec<&str> = keys(&safe)
        .into_iter()
        .filter(|key| !["g beach person.jpg", "g cat.jpg"].contains(key))
        .collect();
    assert_eq!(
        keys(&search(store, query(&[], &[], &["Person"], 50.0)).await),
        without_people,
        "NOT alone"
    );
}

/// In-place rewrites (a policy re-evaluation): only over the very record read, index included.
async fn check_replace_unchanged<S: RecordStore>(store: &S) {
    use crate::ports::{RecordUpdate, UpdateOutcome};
    let key = "replace me.jpg";
    let mut read = suite_record(
        key,
        900,
        9_000,
        RecordStatus::Analyzed,
        true,
        vec![label("Lighthouse", 91.0, &["Building"])],
        "harbour light",
    );
    read.moderation = Some(crate::policy::ModerationPolicy::shipped().evaluate(Some(&[])));
    assert_eq!(
        store.put(&read).await.ok(),
        Some(WriteOutcome::Written),
        "setup"
    );
    let mut updated = read.clone();
    updated.safe = false;
    if let Some(moderation) = &mut updated.moderation {
        moderation.verdict = crate::contracts::Verdict::Unsafe;
        moderation.policy_version = "suite-strict".to_owned();
    }
    let update = RecordUpdate {
        read: read.clone(),
        updated: updated.clone(),
    };
    let replaced = store.replace_unchanged(std::slice::from_ref(&update)).await;
    assert_eq!(replaced.ok(), Some(vec![UpdateOutcome::Replaced]));
    assert_eq!(
        store.get(BUCKET, key).await.ok().flatten().as_ref(),
        Some(&updated),
        "the update reads back"
    );
    let by_label = |safe_only: bool, unsafe_only: bool| SearchQuery {
        labels: vec!["lighthouse".into()],
        safe_only,
        unsafe_only,
        ..SearchQuery::default()
    };
    assert!(
        search(store, by_label(true, false)).await.is_empty(),
        "an image made unsafe leaves the safe label search"
    );
    assert_eq!(keys(&search(store, by_label(false, true)).await), [key]);
    let by_word = SearchQuery {
        text: Some("harbour".into()),
        safe_only: true,
        ..SearchQuery::default()
    };
    assert!(
        search(store, by_word).await.is_empty(),
        "and the safe word search"
    );

    // The same update again: the stored record is no longer the one read.
    let again = store.replace_unchanged(std::slice::from_ref(&update)).await;
    assert_eq!(again.ok(), Some(vec![UpdateOutcome::Changed]));
    assert_eq!(
        store.get(BUCKET, key).await.ok().flatten().as_ref(),
        Some(&updated)
    );
    // Back to safe, from the record as it is now: it is in the safe searches again.
    let back = RecordUpdate {
        read: updated.clone(),
        updated: read.clone(),
    };
    let missing = RecordUpdate {
        read: suite_record(
            "never written.jpg",
            1,
            1,
            RecordStatus::Analyzed,
            true,
            Vec::new(),
            "",
        ),
        updated: suite_record(
            "never written.jpg",
            1,
            1,
            RecordStatus::Analyzed,
            false,
            Vec::new(),
            "",
        ),
    };
    let both = store.replace_unchanged(&[missing, back]).await;
    assert_eq!(
        both.ok(),
        Some(vec![UpdateOutcome::Changed, UpdateOutcome::Replaced])
    );
    assert_eq!(keys(&search(store, by_label(true, false)).await), [key]);

    // A newer analysis in between wins over the rewrite.
    let newer = suite_record(
        key,
        901,
        9_001,
        RecordStatus::Analyzed,
        true,
        vec![label("Lighthouse", 91.0, &["Building"])],
        "",
    );
    assert_eq!(store.put(&newer).await.ok(), Some(WriteOutcome::Written));
    let late = RecordUpdate {
        read: read.clone(),
        updated: updated.clone(),
    };
    let lost = store.replace_unchanged(&[late]).await;
    assert_eq!(lost.ok(), Some(vec![UpdateOutcome::Changed]));
    assert_eq!(
        store.get(BUCKET, key).await.ok().flatten().as_ref(),
        Some(&newer)
    );

    // Not an in-place rewrite: refused before anything is written.
    let mut other_write = newer.clone();
    other_write.revision = "3:FFFF".to_owned();
    let refused = store
        .replace_unchanged(&[RecordUpdate {
            read: newer.clone(),
            updated: other_write,
        }])
        .await;
    assert!(refused.is_err(), "a changed revision is not an update");
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

/// A delete of suite `key` with S3 `sequencer` (`None`: a local delete at `seconds`).
pub fn suite_tombstone(key: &str, sequencer: Option<u64>, seconds: i64) -> Tombstone {
    let revision = match sequencer {
        Some(sequencer) => revision(Some(&format!("{sequencer:X}")), None),
        None => crate::revision::local_delete(at(seconds)),
    };
    Tombstone {
        bucket: BUCKET.to_owned(),
        key: key.to_owned(),
        revision,
        deleted_at: at(seconds),
    }
}

/// Takedown (issue 14): a delete removes the record and everything that finds it, leaves a
/// tombstone, and wins against the analysis it races either way; a later upload comes back.
async fn check_deletes<S: RecordStore>(store: &S) {
    use RecordStatus::Analyzed;
    let put = |record: ImageRecord| async move {
        store
            .put(&record)
            .await
            .unwrap_or_else(|e| panic!("put {} failed: {e}", record.key))
    };
    let delete = |tombstone: Tombstone| async move {
        store
            .delete(&tombstone)
            .await
            .unwrap_or_else(|e| panic!("delete {} failed: {e}", tombstone.key))
    };
    let get = |key: &'static str| async move { store.get(BUCKET, key).await.ok().flatten() };
    let zebra = |key: &str, seconds, sequencer| {
        suite_record(
            key,
            seconds,
            sequencer,
            Analyzed,
            true,
            vec![label("Zebra", 93.0, &["Animal"])],
            "stripes galore",
        )
    };
    let found = |query: SearchQuery, key: &'static str| async move {
        search(store, query).await.iter().any(|r| r.key == key)
    };
    let by_zebra = || SearchQuery {
        labels: vec!["zebra".into()],
        ..SearchQuery::default()
    };
    let by_stripes = || SearchQuery {
        text: Some("stripes".into()),
        ..SearchQuery::default()
    };

    // Analysis written, then the delete: no record, no index entry, a tombstone.
    let key = "takedown/after analysis.jpg";
    let analysed = zebra(key, 80, 0x800);
    put(analysed.clone()).await;
    assert!(found(by_zebra(), key).await);
    let tombstone = suite_tombstone(key, Some(0x801), 81);
    assert_eq!(
        delete(tombstone.clone()).await,
        DeleteOutcome::Removed(Box::new(analysed.clone()))
    );
    assert_eq!(get(key).await, None, "the record is gone");
    for query in [
        by_zebra(),
        by_stripes(),
        SearchQuery::default(),
        SearchQuery {
            status: Some(Analyzed),
            ..SearchQuery::default()
        },
        SearchQuery {
            safe_only: true,
            ..SearchQuery::default()
        },
    ] {
        assert!(!found(query.clone(), key).await, "still found by {query:?}");
    }
    assert_eq!(
        store.tombstone(BUCKET, key).await.ok().flatten(),
        Some(tombstone.clone())
    );
    assert_eq!(delete(tombstone.clone()).await, DeleteOutcome::Duplicate);
    // The deleted upload's analysis delivered again (a retry, a re-delivered event): stale.
    assert_eq!(put(analysed).await, WriteOutcome::Stale);
    assert_eq!(get(key).await, None);

    // The delete first, then the analysis of the upload it deleted: never written.
    let key = "takedown/before analysis.jpg";
    assert_eq!(
        delete(suite_tombstone(key, Some(0x901), 91)).await,
        DeleteOutcome::Tombstoned
    );
    assert_eq!(put(zebra(key, 90, 0x900)).await, WriteOutcome::Stale);
    assert_eq!(
        get(key).await,
        None,
        "an older analysis cannot resurrect it"
    );
    assert!(!found(by_zebra(), key).await);
    // A new upload after the delete comes back, searchable, and clears the tombstone.
    let back = zebra(key, 92, 0x902);
    assert_eq!(put(back.clone()).await, WriteOutcome::Written);
    assert_eq!(get(key).await, Some(back));
    assert!(found(by_zebra(), key).await && found(by_stripes(), key).await);
    assert_eq!(store.tombstone(BUCKET, key).await.ok().flatten(), None);

    // A late delete of an older upload leaves the newer record alone.
    assert_eq!(
        delete(suite_tombstone(key, Some(0x901), 93)).await,
        DeleteOutcome::Stale
    );
    assert!(get(key).await.is_some());

    // Locally, by time: a delete at T beats uploads before T and loses to uploads after T.
    let key = "takedown/local.jpg";
    let mut before = zebra(key, 100, 0);
    before.revision = revision(None, Some(at(100)));
    put(before.clone()).await;
    assert!(matches!(
        delete(suite_tombstone(key, None, 101)).await,
        DeleteOutcome::Removed(_)
    ));
    assert_eq!(put(before).await, WriteOutcome::Stale);
    let mut after = zebra(key, 102, 0);
    after.revision = revision(None, Some(at(102)));
    assert_eq!(put(after).await, WriteOutcome::Written);
    assert!(found(by_zebra(), key).await);
}

/// Reviews (issue 14): a decision overrides the model everywhere a search looks (the indexes
/// included); the second of two decisions taken on the same view conflicts; the same upload
/// analysed again keeps the review; a new upload moves it to the history.
async fn check_reviews<S: RecordStore>(store: &S) {
    use crate::contracts::{ReviewDecision, Verdict};
    use crate::review::{token, ReviewOutcome, ReviewRequest};
    use RecordStatus::Analyzed;
    let key = "review/beach.jpg";
    let needs_review = |mut record: ImageRecord| {
        let policy = crate::policy::ModerationPolicy::from_json(
            r#"{"version":"suite-review","defaultMinConfidence":80,"reviewMinConfidence":40}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let answer = [crate::contracts::ModerationLabel {
            name: "Swimwear or Underwear".to_owned(),
            parent_name: None,
            confidence: 55.0,
            taxonomy_level: 1,
        }];
        record.moderation = Some(policy.evaluate(Some(&answer)));
        record.safe = record.effective_safe();
        record
    };
    let beach = || vec![label("Beach", 93.0, &["Outdoors"])];
    let flagged = needs_review(suite_record(
        key,
        80,
        800,
        Analyzed,
        false,
        beach(),
        "sunny",
    ));
    assert_eq!(flagged.verdict(), Verdict::NeedsReview);
    assert_eq!(store.put(&flagged).await.ok(), Some(WriteOutcome::Written));
    let found =
        |query: SearchQuery| async move { search(store, query).await.iter().any(|r| r.key == key) };
    let safe_beach = SearchQuery {
        labels: vec!["beach".into()],
        ..SearchQuery::default()
    };
    let safe_beach = SearchQuery {
        safe_only: true,
        ..safe_beach
    };
    let safe_word = SearchQuery {
        text: Some("sunny".into()),
        safe_only: true,
        ..SearchQuery::default()
    };
    let safe_any = SearchQuery {
        safe_only: true,
        ..SearchQuery::default()
    };
    let unsafe_any = SearchQuery {
        unsafe_only: true,
        ..SearchQuery::default()
    };
    assert!(!found(safe_beach.clone()).await, "NEEDS_REVIEW is not safe");
    assert!(found(unsafe_any.clone()).await, "it waits for review");
    let with_verdict = |verdict| SearchQuery {
        labels: vec!["beach".into()],
        verdict: Some(verdict),
        ..SearchQuery::default()
    };
    assert!(found(with_verdict(Verdict::NeedsReview)).await);
    assert!(!found(with_verdict(Verdict::Safe)).await);

    let request = |decision, who: &str, seen: &ImageRecord| {
        ReviewRequest::new(decision, who, Some("a swimsuit ad"), at(81), token(seen))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let seen = store
        .get(BUCKET, key)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("{key} reads back"));
    let reviewed = |outcome: Result<ReviewOutcome, crate::ports::StoreError>| match outcome {
        Ok(ReviewOutcome::Reviewed(record)) => *record,
        other => panic!("not reviewed: {other:?}"),
    };
    let approved = reviewed(
        store
            .review(
                BUCKET,
                key,
                &request(ReviewDecision::Approved, "ana", &seen),
            )
            .await,
    );
    assert!(approved.safe && approved.verdict() == Verdict::Safe);
    assert_eq!(approved.model_verdict(), Verdict::NeedsReview);
    assert_eq!(
        store.get(BUCKET, key).await.ok().flatten().as_ref(),
        Some(&approved),
        "the review reads back"
    );
    for query in [safe_beach.clone(), safe_word.clone(), safe_any.clone()] {
        assert!(
            found(query.clone()).await,
            "approved, so found by {query:?}"
        );
    }
    assert!(
        !found(unsafe_any.clone()).await,
        "approved: out of the queue"
    );
    assert!(
        found(with_verdict(Verdict::Safe)).await,
        "the verdict that counts is the reviewer's"
    );
    assert!(!found(with_verdict(Verdict::NeedsReview)).await);

    // Bo decided on the same view as Ana: a conflict, and Ana's decision stands.
    match store
        .review(BUCKET, key, &request(ReviewDecision::Rejected, "bo", &seen))
        .await
    {
        Ok(ReviewOutcome::Conflict(current)) => {
            assert_eq!(current.review, approved.review, "the conflict shows Ana's")
        }
        other => panic!("a second decision on a stale view must conflict: {other:?}"),
    }
    assert_eq!(
        store.get(BUCKET, key).await.ok().flatten(),
        Some(approved.clone())
    );

    // The same upload analysed again (a re-run with no sequencer): the review stays.
    let mut again = needs_review(suite_record(key, 80, 0, Analyzed, false, beach(), "sunny"));
    again.revision = revision(None, Some(at(80)));
    again.execution.id = "execution-review-rerun".to_owned();
    again.execution.start_time = at(85);
    let upload = crate::revision::rerun(&approved, &again)
        .unwrap_or_else(|| panic!("a re-run of the same object takes its upload's place"));
    again.revision.clone_from(&upload);
    if let Some(image) = &mut again.image {
        image.revision = upload;
    }
    assert_eq!(store.put(&again).await.ok(), Some(WriteOutcome::Written));
    let rerun = store.get(BUCKET, key).await.ok().flatten();
    assert_eq!(
        rerun.as_ref().map(|r| (&r.execution.id, &r.review, r.safe)),
        Some((&again.execution.id, &approved.review, true)),
        "a re-analysis of the same bytes keeps the review"
    );
    assert!(found(safe_beach.clone()).await, "and the index says so");

    // A new upload of the key: the review goes to the history, the model's verdict counts.
    let mut newer = needs_review(suite_record(
        key,
        90,
        900,
        Analyzed,
        false,
        beach(),
        "sunny",
    ));
    if let Some(image) = &mut newer.image {
        image.etag = Some("\"another upload\"".to_owned());
        image.last_modified = Some(at(90));
    }
    assert_eq!(store.put(&newer).await.ok(), Some(WriteOutcome::Written));
    let current = store
        .get(BUCKET, key)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("{key} reads back"));
    assert_eq!(current.review, None, "a new upload clears the review");
    assert_eq!(
        current.review_history,
        approved.review.iter().cloned().collect::<Vec<_>>(),
        "and keeps it in the history"
    );
    assert!(!current.safe);
    assert!(!found(safe_beach.clone()).await);
    assert!(found(unsafe_any).await);

    // The new upload is reviewed in its turn; the history stays.
    let rejected = reviewed(
        store
            .review(
                BUCKET,
                key,
                &request(ReviewDecision::Rejected, "bo", &current),
            )
            .await,
    );
    assert_eq!(rejected.review_history.len(), 1);
    assert_eq!(rejected.review.as_ref().map(|r| r.sequence), Some(2));
    assert!(!found(safe_any).await);
    assert!(found(with_verdict(Verdict::Unsafe)).await);
    let any_status = SearchQuery {
        verdict: Some(Verdict::Unsafe),
        ..SearchQuery::default()
    };
    assert!(found(any_status).await, "by status partitions too");

    // Nothing to review: no record, or one that is not ANALYZED.
    let none = request(ReviewDecision::Approved, "ana", &current);
    assert!(matches!(
        store.review(BUCKET, "review/none.jpg", &none).await,
        Ok(ReviewOutcome::NotFound)
    ));
    let failed = suite_record(
        "review/failed.jpg",
        95,
        950,
        RecordStatus::Failed,
        false,
        Vec::new(),
        "",
    );
    assert_eq!(store.put(&failed).await.ok(), Some(WriteOutcome::Written));
    let stored_failed = store.get(BUCKET, &failed.key).await.ok().flatten();
    let Some(stored_failed) = stored_failed else {
        panic!("the failed record reads back")
    };
    assert!(matches!(
        store
            .review(
                BUCKET,
                &failed.key,
                &request(ReviewDecision::Approved, "ana", &stored_failed)
            )
            .await,
        Ok(ReviewOutcome::NotReviewable(_))
    ));
}
