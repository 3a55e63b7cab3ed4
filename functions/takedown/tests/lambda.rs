//! The built `takedown` binary, driven through the Lambda Runtime API with S3 `Object Deleted`
//! events as EventBridge delivers them, against moto's DynamoDB and S3.

use serde_json::{json, Value};
use spotlight_aws::lambda::{loopback_config, loopback_s3_client};
use spotlight_aws::{aws_sdk_dynamodb, DynamoRecords};
use spotlight_core::contracts::{ImageRecord, RecordStatus, WriteOutcome};
use spotlight_core::fakes::label;
use spotlight_core::ports::{RecordStore, SearchQuery};
use spotlight_core::revision::revision;
use spotlight_core::store_suite::suite_record;
use spotlight_testkit::{moto, unique_name, LambdaProcess, Outcome};

fn deleted(bucket: &str, key: &str, sequencer: &str, version: &str) -> Value {
    json!({
        "version": "0",
        "id": "2ee9cc15-d022-99ea-1fb8-1b1bac4850f9",
        "detail-type": "Object Deleted",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-11-25T10:05:00Z",
        "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "version-id": version, "sequencer": sequencer},
            "request-id": "0KPQ7ZT3X9N2B4MW",
            "requester": "123456789012",
            "source-ip-address": "203.0.113.7",
            "reason": "DeleteObject",
            "deletion-type": "Delete Marker Created"
        }
    })
}

/// `key`'s record for the upload with `sequencer`, in `bucket`.
fn uploaded(bucket: &str, key: &str, sequencer: &str, execution: &str) -> ImageRecord {
    let mut record = suite_record(
        key,
        10,
        0,
        RecordStatus::Analyzed,
        true,
        vec![label("Lighthouse", 97.0, &["Building"])],
        "keep off the rocks",
    );
    record.bucket = bucket.to_owned();
    record.id = spotlight_core::record_id(bucket, key);
    record.revision = revision(Some(sequencer), None);
    record.execution.id = execution.to_owned();
    if let Some(image) = &mut record.image {
        image.bucket = bucket.to_owned();
        image.revision.clone_from(&record.revision);
    }
    record
}

/// Every item of the table whose `pk` or `imageId` names `id`.
async fn items_of(client: &aws_sdk_dynamodb::Client, table: &str, id: &str) -> Vec<String> {
    let scan = client.scan().table_name(table).send().await.unwrap();
    let text =
        |item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
         name: &str| {
            item.get(name)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
    scan.items()
        .iter()
        .filter(|item| text(item, "pk") == format!("IMAGE#{id}") || text(item, "imageId") == id)
        .map(|item| text(item, "pk"))
        .collect()
}

#[tokio::test]
async fn the_lambda_binary_takes_a_deleted_photo_down_for_good() {
    let Some(moto) = moto() else { return };
    let table = unique_name("records");
    let client = aws_sdk_dynamodb::Client::new(&loopback_config(&moto.endpoint));
    let store = DynamoRecords::new(client.clone(), &table);
    store.create_table().await.unwrap();
    let s3 = loopback_s3_client(&moto.endpoint);
    let bucket = unique_name("photos");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let key = "coast/light house.jpg";
    s3.put_object()
        .bucket(&bucket)
        .key(key)
        .body(b"not really a jpeg".to_vec().into())
        .send()
        .await
        .unwrap();
    let record = uploaded(&bucket, key, "0062E99A88DC4074", "execution-upload");
    assert_eq!(store.put(&record).await.unwrap(), WriteOutcome::Written);
    let index = items_of(&client, &table, &record.id).await;
    assert!(
        index.iter().any(|pk| pk == "LABEL#lighthouse")
            && index.iter().any(|pk| pk == "WORD#rocks"),
        "the record has index items to remove: {index:?}"
    );
    s3.delete_object()
        .bucket(&bucket)
        .key(key)
        .send()
        .await
        .unwrap();

    let lambda = LambdaProcess::start(
        env!("CARGO_BIN_EXE_takedown"),
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
            ("TABLE_NAME", table.clone()),
        ],
    );
    let event = deleted(&bucket, key, "0062E99A88DC4075", "m1");
    let Outcome::Success(out) = lambda.invoke(event.clone()) else {
        panic!("the takedown should succeed");
    };
    assert_eq!(out["action"], "REMOVED", "{out}");
    assert_eq!(out["id"], record.id.as_str());
    assert_eq!(store.get(&bucket, key).await.unwrap(), None);
    assert_eq!(
        items_of(&client, &table, &record.id).await,
        [format!("IMAGE#{}", record.id)],
        "only the tombstone is left: no index item"
    );
    let tombstone = store.tombstone(&bucket, key).await.unwrap().unwrap();
    assert_eq!(tombstone.revision, revision(Some("0062E99A88DC4075"), None));
    let everything = SearchQuery::default();
    assert!(store.search(&everything).await.unwrap().records.is_empty());
    let lighthouse = SearchQuery {
        labels: vec!["lighthouse".into()],
        ..SearchQuery::default()
    };
    assert!(store.search(&lighthouse).await.unwrap().records.is_empty());

    // EventBridge delivers at least once: the same event again changes nothing.
    let Outcome::Success(again) = lambda.invoke(event) else {
        panic!("a re-delivered takedown should succeed");
    };
    assert_eq!(again["action"], "DUPLICATE", "{again}");

    // The deleted upload's analysis finishing late (or its Object Created event re-delivered):
    // the record step's conditional put loses to the tombstone.
    let late = uploaded(&bucket, key, "0062E99A88DC4074", "execution-late");
    assert_eq!(store.put(&late).await.unwrap(), WriteOutcome::Stale);
    assert_eq!(store.get(&bucket, key).await.unwrap(), None);
    assert!(store.search(&lighthouse).await.unwrap().records.is_empty());

    // A delete that overtook its upload's analysis: tombstoned first, the analysis never lands.
    let other = "coast/racing.jpg";
    let Outcome::Success(first) = lambda.invoke(deleted(&bucket, other, "0062E99A88DC4090", "m2"))
    else {
        panic!("a takedown with no record yet should succeed");
    };
    assert_eq!(first["action"], "TOMBSTONED", "{first}");
    let racing = uploaded(&bucket, other, "0062E99A88DC408F", "execution-racing");
    assert_eq!(store.put(&racing).await.unwrap(), WriteOutcome::Stale);
    assert_eq!(store.get(&bucket, other).await.unwrap(), None);

    // A new upload after the delete comes back and clears the tombstone.
    let back = uploaded(&bucket, key, "0062E99A88DC4080", "execution-back");
    assert_eq!(store.put(&back).await.unwrap(), WriteOutcome::Written);
    assert_eq!(store.get(&bucket, key).await.unwrap(), Some(back));
    assert_eq!(store.tombstone(&bucket, key).await.unwrap(), None);
    assert_eq!(store.search(&lighthouse).await.unwrap().records.len(), 1);
}

#[tokio::test]
async fn the_lambda_binary_fails_with_the_store_error_name_when_the_table_is_missing() {
    let Some(moto) = moto() else { return };
    let lambda = LambdaProcess::start(
        env!("CARGO_BIN_EXE_takedown"),
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
            ("TABLE_NAME", unique_name("no-table")),
        ],
    );
    match lambda.invoke(deleted("photos", "x.jpg", "0A", "m")) {
        Outcome::Error { error_type, .. } => assert_eq!(error_type, "StoreFailed"),
        other => panic!("expected a StoreFailed error, got {other:?}"),
    }
}
