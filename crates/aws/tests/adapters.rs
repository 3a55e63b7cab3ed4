//! The AWS adapters against real API servers on loopback: moto for S3 and DynamoDB, the
//! Rekognition test double for the detectors; aws-smithy-mocks for the errors neither can
//! produce (a transaction that loses a race, throttled DynamoDB).

use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use spotlight_aws::aws_sdk_s3::primitives::ByteStream;
use spotlight_aws::lambda::{loopback_config, loopback_s3_client};
use spotlight_aws::{DynamoRecords, Rekognition, RekognitionSettings, S3Objects};
use spotlight_core::contracts::{RecordStatus, WriteOutcome};
use spotlight_core::fakes::{image_facts, label};
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
async fn dynamodb_bounds_index_items_to_one_transaction() {
    let Some((store, _)) = moto_store().await else {
        return;
    };
    let many: Vec<_> = (0..60)
        .map(|i| label(&format!("Label {i}"), 50.0 + i as f32 / 2.0, &[]))
        .collect();
    let text: String = (0..80).map(|i| format!("word{i} ")).collect();
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
    // A newer upload moves every index item (new sort key): puts and deletes still fit.
    let second = suite_record("busy.jpg", 11, 2, RecordStatus::Analyzed, true, many, &text);
    assert_eq!(store.put(&second).await.unwrap(), WriteOutcome::Written);
    let top = SearchQuery {
        labels: vec!["Label 59".into()],
        ..SearchQuery::default()
    };
    assert_eq!(
        store.search(&top).await.unwrap().records.len(),
        1,
        "the most confident labels are indexed"
    );
    let found = store
        .search(&SearchQuery {
            text: Some("word3".into()),
            ..SearchQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(found.records.len(), 1, "the first words are indexed");
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
    let lost = mock!(aws_sdk_dynamodb::Client::transact_write_items).then_error(|| {
        TransactWriteItemsError::TransactionCanceledException(
            aws_sdk_dynamodb::types::error::TransactionCanceledException::builder()
                .message("Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed]")
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
    assert_eq!(moderation[0].parent_name, None);
    assert_eq!(
        moderation[1].parent_name.as_deref(),
        Some("Swimwear or Underwear")
    );
    assert_eq!(moderation[1].taxonomy_level, 2);

    let lines = detector.detect_text(&image).await.unwrap();
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
    let cases: [(&str, Expected); 6] = [
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
        ("missing.jpg", |e| {
            matches!(
                e,
                DetectError::Rejected {
                    reason: RejectReason::NotFound,
                    ..
                }
            )
        }),
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
