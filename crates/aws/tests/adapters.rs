//! The AWS adapters against real API servers on loopback: moto for S3 and DynamoDB, the
//! Rekognition test double for the detectors; aws-smithy-mocks for the errors neither can
//! produce (a write that loses a race, batches left unprocessed, throttled DynamoDB).

use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use spotlight_aws::aws_sdk_s3::primitives::ByteStream;
use spotlight_aws::lambda::{loopback_config, loopback_s3_client};
use spotlight_aws::{DynamoRecords, Rekognition, RekognitionSettings, S3Objects};
use spotlight_core::contracts::{RecordStatus, Verdict, WriteOutcome};
use spotlight_core::fakes::{image_facts, label};
use spotlight_core::policy::ModerationPolicy;
use spotlight_core::ports::{
    DetectError, LabelDetector, ModerationDetector, ObjectReader, ReadError, RecordStore,
    SearchQuery, TextDetector,
};
use spotlight_core::store_suite::{check_store, suite_record};
use spotlight_core::RejectReason;
use spotlight_testkit::{moto, unique_name, RekognitionDouble};

#[tokio::test]
async fn s3_reads_heads_and_byte_ranges_of_awkward_keys() {
    let Some(moto) = moto() else { return };
    let client = loopback_s3_client(&moto.endpoint);
    let bucket = unique_name("objects");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let bytes: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let objects = S3Objects::new(client.clone());
    for key in [
        "plain.jpg",
        "with space.jpg",
        "a+b=c&d.jpg",
        "ünï/猫 😀.jpg",
        "../up/../x.jpg",
        "%41.jpg",
    ] {
        client
            .put_object()
            .bucket(&bucket)
            .key(key)
            .body(ByteStream::from(bytes.clone()))
            .send()
            .await
            .unwrap();
        let head = objects.head(&bucket, key).await.unwrap();
        assert_eq!(head.size, 10_000, "{key}");
        assert!(head.etag.is_some() && head.last_modified.is_some(), "{key}");
        assert_eq!(
            objects.read_range(&bucket, key, 0..16).await.unwrap(),
            bytes[..16],
            "{key}"
        );
        assert_eq!(
            objects
                .read_range(&bucket, key, 9_990..10_000)
                .await
                .unwrap(),
            bytes[9_990..],
            "{key}"
        );
        assert_eq!(
            objects
                .read_range(&bucket, key, 9_990..20_000)
                .await
                .unwrap(),
            bytes[9_990..],
            "{key}: clamped"
        );
        assert!(
            objects
                .read_range(&bucket, key, 10_000..10_100)
                .await
                .unwrap()
                .is_empty(),
            "{key}: past the end"
        );
        assert!(objects
            .read_range(&bucket, key, 5..5)
            .await
            .unwrap()
            .is_empty());
    }
    assert!(matches!(
        objects.head(&bucket, "nope.jpg").await,
        Err(ReadError::NotFound(_))
    ));
    assert!(matches!(
        objects.read_range(&bucket, "nope.jpg", 0..10).await,
        Err(ReadError::NotFound(_))
    ));
    assert!(objects
        .head(&unique_name("no-bucket"), "x.jpg")
        .await
        .is_err());
}

async fn moto_store() -> Option<(DynamoRecords, aws_sdk_dynamodb::Client)> {
    let moto = moto()?;
    let client = aws_sdk_dynamodb::Client::new(&loopback_config(&moto.endpoint));
    let store = DynamoRecords::new(client.clone(), unique_name("records"));
    store.create_table().await.unwrap();
    Some((store, client))
}

#[tokio::test]
async fn dynamodb_passes_the_store_suite() {
    let Some((store, _)) = moto_store().await else {
        return;
    };
    check_store(&store).await;
}

#[tokio::test]
async fn dynamodb_index_items_never_outlive_their_image() {
    let Some((store, client)) = moto_store().await else {
        return;
    };
    let record = suite_record(
        "gone.jpg",
        10,
        1,
        RecordStatus::Analyzed,
        true,
        vec![label("Hawk", 90.0, &[])],
        "",
    );
    store.put(&record).await.unwrap();
    // An index item from an analysis the image item has moved on from.
    let table = store.table().to_owned();
    client
        .put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S("LABEL#owl".into()))
        .item("sk", AttributeValue::S("00000000000000000001#stale".into()))
        .item("imageId", AttributeValue::S(record.id.clone()))
        .item("revision", AttributeValue::S("0:".into()))
        .item("executionId", AttributeValue::S("old".into()))
        .item("confidence", AttributeValue::N("99".into()))
        .send()
        .await
        .unwrap();
    let hits = store
        .search(&SearchQuery {
            labels: vec!["owl".into()],
            ..SearchQuery::default()
        })
        .await
        .unwrap();
    assert!(hits.records.is_empty(), "a stale index item never matches");
    let hawk = store
        .search(&SearchQuery {
            labels: vec!["hawk".into()],
            ..SearchQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(hawk.records.len(), 1);
}

#[tokio::test]
async fn dynamodb_losing_a_race_rereads_and_reports_stale() {
    let record = suite_record(
        "race.jpg",
        10,
        5,
        RecordStatus::Analyzed,
        true,
        Vec::new(),
        "",
    );
    let newer = suite_record(
        "race.jpg",
        11,
        6,
        RecordStatus::Analyzed,
        true,
        Vec::new(),
        "",
    );
    let newer_item = {
        let mut item = std::collections::HashMap::new();
        item.insert(
            "record".to_owned(),
            AttributeValue::S(serde_json::to_string(&newer).unwrap()),
        );
        item.insert(
            "revision".to_owned(),
            AttributeValue::S(newer.revision.clone()),
        );
        item.insert(
            "executionId".to_owned(),
            AttributeValue::S(newer.execution.id.clone()),
        );
        item
    };
    let nothing_yet =
        mock!(aws_sdk_dynamodb::Client::get_item).then_output(|| GetItemOutput::builder().build());
    let lost = mock!(aws_sdk_dynamodb::Client::put_item).then_error(|| {
        PutItemError::ConditionalCheckFailedException(
            aws_sdk_dynamodb::types::error::ConditionalCheckFailedException::builder()
                .message("The conditional request failed")
                .build(),
        )
    });
    let now_newer = mock!(aws_sdk_dynamodb::Client::get_item).then_output(move || {
        GetItemOutput::builder()
            .set_item(Some(newer_item.clone()))
            .build()
    });
    let client = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::Sequential,
        [&nothing_yet, &lost, &now_newer]
    );
    let store = DynamoRecords::new(client, "records");
    assert_eq!(store.put(&record).await.unwrap(), WriteOutcome::Stale);
    assert_eq!(lost.num_calls(), 1);
    assert_eq!(now_newer.num_calls(), 1);
}

#[tokio::test]
async fn dynamodb_throttling_is_a_store_failure_that_says_so() {
    let throttled = mock!(aws_sdk_dynamodb::Client::get_item).then_error(|| {
        aws_sdk_dynamodb::operation::get_item::GetItemError::ProvisionedThroughputExceededException(
            aws_sdk_dynamodb::types::error::ProvisionedThroughputExceededException::builder()
                .message("Rate of requests exceeds the allowed throughput")
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&throttled]);
    let store = DynamoRecords::new(client, "records");
    let error = store.get("b", "k").await.unwrap_err();
    assert!(
        error.to_string().contains("ProvisionedThroughputExceeded"),
        "{error}"
    );
    let step: spotlight_core::StepError = error.into();
    assert_eq!(step.name(), spotlight_core::ErrorName::StoreFailed);
}

/// What the tests' DynamoDB client sent, by operation; it refuses what AWS refuses and moto
/// lets through (more than 25 requests in one BatchWriteItem), and can cut writes off.
#[derive(Debug, Clone, Default)]
struct Watched {
    sent: std::sync::Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>,
    refuse_batch_writes: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Watched {
    fn calls(&self, operation: &str) -> Vec<serde_json::Value> {
        let sent = self.sent.lock().unwrap();
        sent.iter()
            .filter(|(name, _)| name == operation)
            .map(|(_, body)| body.clone())
            .collect()
    }

    fn forget(&self) {
        self.sent.lock().unwrap().clear();
    }

    /// Makes every BatchWriteItem fail, as a function that times out after its image item.
    fn cut_off_batch_writes(&self, cut: bool) {
        self.refuse_batch_writes
            .store(cut, std::sync::atomic::Ordering::SeqCst);
    }
}

impl aws_sdk_dynamodb::config::Intercept for Watched {
    fn name(&self) -> &'static str {
        "Watched"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let request = context.request();
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|target| target.rsplit('.').next())
            .unwrap_or_default()
            .to_owned();
        let body: serde_json::Value = request
            .body()
            .bytes()
            .and_then(|bytes| serde_json::from_slice(bytes).ok())
            .unwrap_or_default();
        if operation == "BatchWriteItem" {
            if self
                .refuse_batch_writes
                .load(std::sync::atomic::Ordering::SeqCst)
            {
                return Err("cut off".into());
            }
            let requests: usize = body["RequestItems"]
                .as_object()
                .map(|tables| {
                    tables
                        .values()
                        .filter_map(|r| r.as_array())
                        .map(Vec::len)
                        .sum()
                })
                .unwrap_or_default();
            if requests > 25 {
                return Err(
                    format!("{requests} requests in one BatchWriteItem (AWS takes 25)").into(),
                );
            }
        }
        self.sent.lock().unwrap().push((operation, body));
        Ok(())
    }
}

async fn watched_moto_store() -> Option<(DynamoRecords, aws_sdk_dynamodb::Client, Watched)> {
    let moto = moto()?;
    let watched = Watched::default();
    let config = aws_sdk_dynamodb::config::Builder::from(&loopback_config(&moto.endpoint))
        .interceptor(watched.clone())
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let store = DynamoRecords::new(client.clone(), unique_name("records"));
    store.create_table().await.unwrap();
    Some((store, client, watched))
}

/// How many items a partition of the table holds.
async fn partition_size(client: &aws_sdk_dynamodb::Client, table: &str, pk: &str) -> i32 {
    client
        .query()
        .table_name(table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
        .send()
        .await
        .unwrap()
        .count
}

async fn image_item(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    id: &str,
) -> std::collections::HashMap<String, AttributeValue> {
    client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(format!("IMAGE#{id}")))
        .key("sk", AttributeValue::S("IMAGE".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap()
}

fn label_search(name: &str) -> SearchQuery {
    SearchQuery {
        labels: vec![name.to_owned()],
        ..SearchQuery::default()
    }
}

fn word_search(word: &str) -> SearchQuery {
    SearchQuery {
        text: Some(word.to_owned()),
        ..SearchQuery::default()
    }
}

#[tokio::test]
async fn dynamodb_indexes_every_label_and_word_and_deletes_the_replaced_ones() {
    let Some((store, client, watched)) = watched_moto_store().await else {
        return;
    };
    let many: Vec<_> = (0..60)
        .map(|i| label(&format!("Label {i}"), 50.0 + i as f32 / 2.0, &[]))
        .collect();
    let text: String = (0..200).map(|i| format!("word{i} ")).collect();
    let first = suite_record(
        "busy.jpg",
        10,
        1,
        RecordStatus::Analyzed,
        true,
        many.clone(),
        &text,
    );
    assert_eq!(store.put(&first).await.unwrap(), WriteOutcome::Written);
    // A newer upload moves every index item (a new sort key): 260 puts and 260 deletes.
    let second = suite_record("busy.jpg", 11, 2, RecordStatus::Analyzed, true, many, &text);
    assert_eq!(store.put(&second).await.unwrap(), WriteOutcome::Written);
    let (mut puts, mut deletes) = (0, 0);
    for batch in watched.calls("BatchWriteItem") {
        for request in batch["RequestItems"][store.table()].as_array().unwrap() {
            puts += usize::from(request.get("PutRequest").is_some());
            deletes += usize::from(request.get("DeleteRequest").is_some());
        }
    }
    assert_eq!((puts, deletes), (520, 260), "25 at a time, all of them");

    for name in ["Label 0", "Label 59"] {
        assert_eq!(
            store.search(&label_search(name)).await.unwrap().records,
            std::slice::from_ref(&second)
        );
    }
    for word in ["word0", "word199"] {
        assert_eq!(
            store
                .search(&word_search(word))
                .await
                .unwrap()
                .records
                .len(),
            1
        );
    }
    for pk in [
        "LABEL#label 0",
        "LABEL#label 59",
        "WORD#word0",
        "WORD#word199",
    ] {
        assert_eq!(
            partition_size(&client, store.table(), pk).await,
            1,
            "{pk}: the replaced write's index item is deleted"
        );
    }
    let image = image_item(&client, store.table(), &second.id).await;
    assert!(
        !image.contains_key("indexPending") && !image.contains_key("staleIndex"),
        "a finished write leaves no work behind: {:?}",
        image.keys()
    );
}

#[tokio::test]
async fn dynamodb_a_write_cut_off_after_its_image_item_is_finished_by_its_retry() {
    let Some((store, client, watched)) = watched_moto_store().await else {
        return;
    };
    let record = |seconds, sequencer, name: &str, text: &str| {
        suite_record(
            "cut.jpg",
            seconds,
            sequencer,
            RecordStatus::Analyzed,
            true,
            vec![label(name, 90.0, &[])],
            text,
        )
    };
    let old = record(10, 1, "Fox", "old sign");
    store.put(&old).await.unwrap();
    let new = record(11, 2, "Badger", "new sign");

    watched.cut_off_batch_writes(true);
    assert!(
        store.put(&new).await.is_err(),
        "the function fails, so Step Functions retries it"
    );
    watched.cut_off_batch_writes(false);
    // Half-written: the new image item without its index; the old index items never match.
    assert_eq!(
        store.get(&new.bucket, "cut.jpg").await.unwrap(),
        Some(new.clone())
    );
    for query in [
        label_search("fox"),
        word_search("old"),
        label_search("badger"),
    ] {
        assert!(
            store.search(&query).await.unwrap().records.is_empty(),
            "{query:?}"
        );
    }
    let image = image_item(&client, store.table(), &new.id).await;
    assert_eq!(image.get("indexPending"), Some(&AttributeValue::Bool(true)));
    assert!(image.contains_key("staleIndex"));

    // The retry of the same execution is a duplicate, and finishes the write.
    assert_eq!(store.put(&new).await.unwrap(), WriteOutcome::Duplicate);
    for query in [label_search("badger"), word_search("new")] {
        assert_eq!(
            store.search(&query).await.unwrap().records,
            std::slice::from_ref(&new),
            "{query:?}"
        );
    }
    for pk in ["LABEL#fox", "WORD#old"] {
        assert_eq!(partition_size(&client, store.table(), pk).await, 0, "{pk}");
    }
    let image = image_item(&client, store.table(), &new.id).await;
    assert!(!image.contains_key("indexPending") && !image.contains_key("staleIndex"));
}

#[tokio::test]
async fn dynamodb_searches_read_images_in_batches_and_status_queries_merge_shards() {
    let Some((store, client, watched)) = watched_moto_store().await else {
        return;
    };
    let mut written = Vec::new();
    for i in 0..120 {
        let record = suite_record(
            &format!("kite {i:03}.jpg"),
            i,
            i as u64 + 1,
            RecordStatus::Analyzed,
            true,
            vec![label("Kite", 80.0, &["Toy"])],
            "",
        );
        store.put(&record).await.unwrap();
        written.push(record);
    }
    written.reverse(); // newest first

    watched.forget();
    let found = store.search(&label_search("toy")).await.unwrap();
    assert_eq!(found.records, written, "all of them, newest first");
    assert!(watched.calls("GetItem").is_empty(), "no read one at a time");
    let batches: Vec<usize> = watched
        .calls("BatchGetItem")
        .iter()
        .map(|b| {
            b["RequestItems"][store.table()]["Keys"]
                .as_array()
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(batches, [100, 20]);

    watched.forget();
    let page = store
        .search(&SearchQuery {
            limit: Some(10),
            ..label_search("kite")
        })
        .await
        .unwrap();
    assert_eq!(page.records, written[..10]);
    assert!(page.next_cursor.is_some());
    assert_eq!(
        watched.calls("BatchGetItem").len(),
        1,
        "one read for a page of 10"
    );

    // The status index spreads the records over its shards, and a status query merges them.
    let mut shards = std::collections::BTreeSet::new();
    for record in &written {
        let image = image_item(&client, store.table(), &record.id).await;
        shards.insert(image["gsi1pk"].as_s().unwrap().clone());
    }
    assert_eq!(
        shards.len(),
        spotlight_aws::STATUS_SHARDS as usize,
        "{shards:?}"
    );
    let safe = SearchQuery {
        status: Some(RecordStatus::Analyzed),
        safe_only: true,
        ..SearchQuery::default()
    };
    assert_eq!(store.search(&safe).await.unwrap().records, written);
    let mut paged = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .search(&SearchQuery {
                limit: Some(7),
                cursor: cursor.clone(),
                ..safe.clone()
            })
            .await
            .unwrap();
        paged.extend(page.records);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(paged, written, "pages of 7 across 8 shards");
}

#[tokio::test]
async fn dynamodb_reads_and_replaces_records_written_before_the_shards() {
    let Some((store, client, _)) = watched_moto_store().await else {
        return;
    };
    let old = suite_record(
        "legacy.jpg",
        10,
        1,
        RecordStatus::Failed,
        false,
        vec![label("Owl", 90.0, &[])],
        "",
    );
    // As the store wrote it while index items shared the image item's transaction.
    let legacy_sk = format!("{:020}#{}", old.uploaded_at.timestamp_micros(), old.id);
    let text = |v: &str| AttributeValue::S(v.to_owned());
    client
        .put_item()
        .table_name(store.table())
        .item("pk", text(&format!("IMAGE#{}", old.id)))
        .item("sk", text("IMAGE"))
        .item("record", text(&serde_json::to_string(&old).unwrap()))
        .item("revision", text(&old.revision))
        .item("status", text("FAILED"))
        .item("executionId", text(&old.execution.id))
        .item("safe", AttributeValue::Bool(false))
        .item("gsi1pk", text("STATUS#FAILED"))
        .item("gsi1sk", text(&legacy_sk))
        .item(
            "indexKeys",
            AttributeValue::L(vec![text(&format!("LABEL#owl|{legacy_sk}"))]),
        )
        .send()
        .await
        .unwrap();
    client
        .put_item()
        .table_name(store.table())
        .item("pk", text("LABEL#owl"))
        .item("sk", text(&legacy_sk))
        .item("imageId", text(&old.id))
        .item("revision", text(&old.revision))
        .item("executionId", text(&old.execution.id))
        .item("safe", AttributeValue::Bool(false))
        .item("confidence", AttributeValue::N("90".into()))
        .send()
        .await
        .unwrap();
    let failed = SearchQuery {
        status: Some(RecordStatus::Failed),
        ..SearchQuery::default()
    };
    assert_eq!(
        store.search(&failed).await.unwrap().records,
        std::slice::from_ref(&old)
    );
    assert_eq!(
        store.search(&label_search("owl")).await.unwrap().records,
        std::slice::from_ref(&old)
    );

    let new = suite_record(
        "legacy.jpg",
        11,
        2,
        RecordStatus::Failed,
        false,
        Vec::new(),
        "",
    );
    assert_eq!(store.put(&new).await.unwrap(), WriteOutcome::Written);
    assert_eq!(
        store.search(&failed).await.unwrap().records,
        std::slice::from_ref(&new)
    );
    assert_eq!(
        partition_size(&client, store.table(), "LABEL#owl").await,
        0,
        "the listed legacy index item is deleted"
    );
}

#[tokio::test]
async fn dynamodb_resends_what_a_batch_left_unprocessed() {
    use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
    use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemOutput;
    use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
    use aws_sdk_dynamodb::operation::query::QueryOutput;
    use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
    use aws_sdk_dynamodb::types::{KeysAndAttributes, PutRequest, WriteRequest};

    let record = suite_record(
        "batch.jpg",
        10,
        1,
        RecordStatus::Analyzed,
        true,
        vec![label("Heron", 90.0, &[])],
        "",
    );
    let nothing_yet =
        mock!(aws_sdk_dynamodb::Client::get_item).then_output(|| GetItemOutput::builder().build());
    let image_put =
        mock!(aws_sdk_dynamodb::Client::put_item).then_output(|| PutItemOutput::builder().build());
    let left_over = mock!(aws_sdk_dynamodb::Client::batch_write_item).then_output(|| {
        let item = std::collections::HashMap::from([
            ("pk".to_owned(), AttributeValue::S("LABEL#heron".into())),
            ("sk".to_owned(), AttributeValue::S("x".into())),
        ]);
        let put = PutRequest::builder().set_item(Some(item)).build().unwrap();
        BatchWriteItemOutput::builder()
            .unprocessed_items(
                "records",
                vec![WriteRequest::builder().put_request(put).build()],
            )
            .build()
    });
    let resent = mock!(aws_sdk_dynamodb::Client::batch_write_item)
        .match_requests(|r| r.request_items().is_some_and(|t| t["records"].len() == 1))
        .then_output(|| BatchWriteItemOutput::builder().build());
    let done = mock!(aws_sdk_dynamodb::Client::update_item)
        .then_output(|| UpdateItemOutput::builder().build());

    let index_item = {
        let id = record.id.clone();
        let (revision, execution) = (record.revision.clone(), record.execution.id.clone());
        move || {
            QueryOutput::builder()
                .items(std::collections::HashMap::from([
                    ("sk".to_owned(), AttributeValue::S("1#a#b".into())),
                    ("imageId".to_owned(), AttributeValue::S(id.clone())),
                    ("revision".to_owned(), AttributeValue::S(revision.clone())),
                    (
                        "executionId".to_owned(),
                        AttributeValue::S(execution.clone()),
                    ),
                ]))
                .build()
        }
    };
    let query = mock!(aws_sdk_dynamodb::Client::query).then_output(index_item);
    let image_key = std::collections::HashMap::from([
        (
            "pk".to_owned(),
            AttributeValue::S(format!("IMAGE#{}", record.id)),
        ),
        ("sk".to_owned(), AttributeValue::S("IMAGE".into())),
    ]);
    let unprocessed = mock!(aws_sdk_dynamodb::Client::batch_get_item).then_output({
        let key = image_key.clone();
        move || {
            BatchGetItemOutput::builder()
                .unprocessed_keys(
                    "records",
                    KeysAndAttributes::builder()
                        .keys(key.clone())
                        .build()
                        .unwrap(),
                )
                .build()
        }
    });
    let image = {
        let mut item = image_key.clone();
        item.insert(
            "record".into(),
            AttributeValue::S(serde_json::to_string(&record).unwrap()),
        );
        item.insert(
            "revision".into(),
            AttributeValue::S(record.revision.clone()),
        );
        item.insert(
            "executionId".into(),
            AttributeValue::S(record.execution.id.clone()),
        );
        item
    };
    let read = mock!(aws_sdk_dynamodb::Client::batch_get_item).then_output(move || {
        BatchGetItemOutput::builder()
            .responses("records", vec![image.clone()])
            .build()
    });
    let client = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::Sequential,
        [
            &nothing_yet,
            &image_put,
            &left_over,
            &resent,
            &done,
            &query,
            &unprocessed,
            &read
        ]
    );
    let store = DynamoRecords::new(client, "records");
    assert_eq!(store.put(&record).await.unwrap(), WriteOutcome::Written);
    assert_eq!((left_over.num_calls(), resent.num_calls()), (1, 1));
    assert_eq!(done.num_calls(), 1);
    let found = store.search(&label_search("heron")).await.unwrap();
    assert_eq!(found.records, [record]);
    assert_eq!((unprocessed.num_calls(), read.num_calls()), (1, 1));
}

fn rekognition(double: &RekognitionDouble) -> Rekognition {
    let client =
        spotlight_aws::aws_sdk_rekognition::Client::new(&loopback_config(&double.endpoint));
    Rekognition::new(
        client,
        RekognitionSettings {
            min_confidence: 60.0,
            max_labels: 20,
        },
    )
}

#[tokio::test]
async fn rekognition_results_map_onto_the_contracts() {
    let double = RekognitionDouble::start();
    let detector = rekognition(&double);
    let mut image = image_facts("uploads", "street.jpg");
    image.version_id = Some("v7".into());
    let labels = detector.detect_labels(&image).await.unwrap();
    assert_eq!(labels[0].name, "Car");
    assert_eq!(labels[0].parents, ["Vehicle", "Transportation"]);
    assert_eq!(labels[0].categories, ["Vehicles and Automotive"]);
    assert_eq!(labels[0].instances.len(), 1);
    assert_eq!(LabelDetector::model(&detector).version, "3.0");
    let (operation, request) = double.requests().pop().unwrap();
    assert_eq!(operation, "DetectLabels");
    assert_eq!(request["Image"]["S3Object"]["Version"], "v7");
    assert_eq!(request["MinConfidence"], 60.0);
    assert_eq!(request["MaxLabels"], 20);

    let moderation = detector.detect_moderation_labels(&image).await.unwrap();
    let (operation, request) = double.requests().pop().unwrap();
    assert_eq!(operation, "DetectModerationLabels");
    assert_eq!(
        request["MinConfidence"], 0.0,
        "moderation asks for every label, whatever the stack's MinConfidence"
    );
    assert_eq!(moderation[0].parent_name, None);
    assert_eq!(
        moderation[1].parent_name.as_deref(),
        Some("Swimwear or Underwear")
    );
    assert_eq!(moderation[1].taxonomy_level, 2);

    let lines = detector.detect_text(&image).await.unwrap();
    let (operation, request) = double.requests().pop().unwrap();
    assert_eq!(operation, "DetectText");
    assert_eq!(request["Filters"]["WordFilter"]["MinConfidence"], 60.0);
    let words: Vec<Vec<&str>> = lines
        .iter()
        .map(|l| l.words.iter().map(|w| w.text.as_str()).collect())
        .collect();
    assert_eq!(words, [vec!["SURF", "SHOP"], vec!["OPEN"]]);
}

/// Whether an error is the expected kind.
type Expected = fn(&DetectError) -> bool;

#[tokio::test]
async fn rekognition_errors_map_onto_the_design_names() {
    let double = RekognitionDouble::start();
    let detector = rekognition(&double);
    let cases: [(&str, Expected); 8] = [
        ("throttle.jpg", |e| {
            matches!(e, DetectError::Throttled { .. })
        }),
        ("throughput.jpg", |e| {
            matches!(e, DetectError::Throttled { .. })
        }),
        ("badformat.jpg", |e| {
            matches!(
                e,
                DetectError::Rejected {
                    reason: RejectReason::UnsupportedFormat,
                    ..
                }
            )
        }),
        ("toolarge.jpg", |e| {
            matches!(
                e,
                DetectError::Rejected {
                    reason: RejectReason::TooLarge,
                    ..
                }
            )
        }),
        // Issue 17: validate has read the object, so Rekognition failing to is the
        // deployment's fault (access, KMS key, region): FAILED and alarmed, not REJECTED.
        (
            "missing.jpg",
            |e| matches!(e, DetectError::Failed { message, .. } if message.contains("KMS")),
        ),
        ("denied.jpg", |e| matches!(e, DetectError::Failed { .. })),
        ("badparam.jpg", |e| matches!(e, DetectError::Failed { .. })),
        ("explode.jpg", |e| matches!(e, DetectError::Failed { .. })),
    ];
    for (key, expected) in cases {
        let image = image_facts("uploads", key);
        let errors = [
            detector.detect_labels(&image).await.err(),
            detector.detect_moderation_labels(&image).await.err(),
            detector.detect_text(&image).await.err(),
        ];
        for error in errors {
            let error = error.unwrap_or_else(|| panic!("{key} should fail"));
            assert!(expected(&error), "{key}: {error:?}");
        }
    }
}

#[tokio::test]
async fn rekognition_moderation_cannot_fail_open_below_the_stack_min_confidence() {
    // Issue 17: moderation was asked for labels at or above the stack's MinConfidence (55, here
    // 60), so an `Explicit` label at 45 % never came back and the shipped policy, which blocks
    // it at 40, judged the photo safe.
    let double = RekognitionDouble::start();
    let detector = rekognition(&double);
    let image = image_facts("uploads", "faint.jpg");
    let labels = detector.detect_moderation_labels(&image).await.unwrap();
    let (_, request) = double.requests().pop().unwrap();
    assert_eq!(request["MinConfidence"], 0.0);
    let names: Vec<&str> = labels.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Explicit",
            "Explicit Nudity",
            "Exposed Female Nipple",
            "Drinking"
        ],
        "every raw label is kept, however faint"
    );
    assert_eq!(labels[2].taxonomy_level, 3);
    let summary = ModerationPolicy::shipped().evaluate(Some(&labels));
    assert_eq!(summary.verdict, Verdict::Unsafe);
    let flagged: Vec<&str> = summary.flagged.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        flagged,
        ["Explicit", "Explicit Nudity", "Exposed Female Nipple"],
        "Drinking at 3 % stays under Alcohol's 90"
    );
}

#[tokio::test]
async fn rekognition_text_honours_min_confidence_not_the_default_word_filter() {
    // Issue 17: with no word filter Rekognition drops words below 80 %, so a line read at 62 %
    // was lost although the stack asks for everything at or above its MinConfidence.
    let double = RekognitionDouble::start();
    let detector = rekognition(&double);
    let lines = detector
        .detect_text(&image_facts("uploads", "faint.jpg"))
        .await
        .unwrap();
    let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["SURF SHOP", "SALE"]);
    assert_eq!(lines[1].words.len(), 1);
    let strict = Rekognition::new(
        spotlight_aws::aws_sdk_rekognition::Client::new(&loopback_config(&double.endpoint)),
        RekognitionSettings {
            min_confidence: 90.0,
            max_labels: 20,
        },
    );
    let lines = strict
        .detect_text(&image_facts("uploads", "faint.jpg"))
        .await
        .unwrap();
    assert_eq!(lines.len(), 1, "a higher MinConfidence filters words out");
}

/// A review decided on a record that a policy re-evaluation rewrites before the review lands
/// (same revision, execution and review sequence, a new verdict): the write's condition names
/// the record itself, so the review is judged again on the rewritten record instead of
/// restoring the verdict it read.
#[tokio::test]
async fn dynamodb_a_review_racing_a_policy_rewrite_keeps_the_new_verdict() {
    use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemOutput;
    use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
    use spotlight_core::contracts::ReviewDecision;
    use spotlight_core::review::{token, ReviewOutcome, ReviewRequest};

    let mut read = suite_record(
        "review race.jpg",
        10,
        5,
        RecordStatus::Analyzed,
        true,
        Vec::new(),
        "",
    );
    read.moderation = Some(ModerationPolicy::shipped().evaluate(Some(&[])));
    let mut rewritten = read.clone();
    rewritten.safe = false;
    if let Some(moderation) = &mut rewritten.moderation {
        moderation.verdict = Verdict::Unsafe;
        moderation.policy_version = "stricter".to_owned();
    }
    let item_of = |record: &spotlight_core::contracts::ImageRecord| {
        std::collections::HashMap::from([
            (
                "record".to_owned(),
                AttributeValue::S(serde_json::to_string(record).unwrap()),
            ),
            (
                "revision".to_owned(),
                AttributeValue::S(record.revision.clone()),
            ),
            (
                "executionId".to_owned(),
                AttributeValue::S(record.execution.id.clone()),
            ),
        ])
    };
    let (before, after) = (item_of(&read), item_of(&rewritten));
    let reads = mock!(aws_sdk_dynamodb::Client::get_item)
        .sequence()
        .output(move || {
            GetItemOutput::builder()
                .set_item(Some(before.clone()))
                .build()
        })
        .output(move || {
            GetItemOutput::builder()
                .set_item(Some(after.clone()))
                .build()
        })
        .repeatedly()
        .build();
    // The review's own writes name the record they were judged on; the index's last step
    // (clearing `indexPending`) is another update.
    let writes = mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(|update| {
            update
                .condition_expression()
                .is_some_and(|c| c.contains("#r = :seenRecord"))
        })
        .sequence()
        .error(|| {
            UpdateItemError::ConditionalCheckFailedException(
                aws_sdk_dynamodb::types::error::ConditionalCheckFailedException::builder()
                    .message("The conditional request failed")
                    .build(),
            )
        })
        .output(|| UpdateItemOutput::builder().build())
        .repeatedly()
        .build();
    let index = mock!(aws_sdk_dynamodb::Client::batch_write_item)
        .then_output(|| BatchWriteItemOutput::builder().build());
    let index_done = mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(|update| {
            update
                .update_expression()
                .is_some_and(|u| u.contains("REMOVE indexPending"))
        })
        .then_output(|| UpdateItemOutput::builder().build());
    let client = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::MatchAny,
        [&reads, &writes, &index, &index_done]
    );
    let store = DynamoRecords::new(client, "records");
    let request = ReviewRequest {
        decision: ReviewDecision::Approved,
        reviewer: "ana".to_owned(),
        note: None,
        at: chrono::Utc::now(),
        expect: token(&read),
    };
    let outcome = store
        .review(
            &read.image.as_ref().unwrap().bucket,
            "review race.jpg",
            &request,
        )
        .await
        .unwrap();
    let ReviewOutcome::Reviewed(written) = outcome else {
        panic!("the decision still holds on the rewritten record: {outcome:?}");
    };
    let moderation = written.moderation.as_ref().unwrap();
    assert_eq!(moderation.policy_version, "stricter");
    assert_eq!(moderation.verdict, Verdict::Unsafe);
    assert!(written.safe, "the approval overrides the model");
    assert_eq!(writes.num_calls(), 2, "the lost write was tried once more");
}
