//! The built `record` binary, driven through the Lambda Runtime API, writing to moto's DynamoDB.

use serde_json::json;
use spotlight_aws::lambda::loopback_config;
use spotlight_aws::{aws_sdk_dynamodb, DynamoRecords};
use spotlight_core::fakes::image_facts;
use spotlight_core::ports::RecordStore;
use spotlight_testkit::{moto, unique_name, LambdaProcess, Outcome};

#[tokio::test]
async fn the_lambda_binary_writes_once_and_reports_store_failures() {
    let Some(moto) = moto() else { return };
    let table = unique_name("records");
    let store = DynamoRecords::new(
        aws_sdk_dynamodb::Client::new(&loopback_config(&moto.endpoint)),
        &table,
    );
    store.create_table().await.unwrap();
    let lambda = LambdaProcess::start(
        env!("CARGO_BIN_EXE_record"),
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
            ("TABLE_NAME", table.clone()),
        ],
    );
    let execution = json!({"id": "arn:aws:states:us-east-1:123456789012:execution:pipeline:e1", "startTime": "2026-11-25T10:00:00Z"});
    let input = json!({
        "outcome": "ANALYZED",
        "image": image_facts("uploads", "sea.jpg"),
        "labels": {"labels": [{"name": "Sea", "confidence": 97.0, "parents": ["Water"]}], "model": {"name": "m", "version": "1"}},
        "moderation": {"labels": [], "model": {"name": "m", "version": "1"}},
        "text": {"lines": [], "model": {"name": "m", "version": "1"}},
        "execution": execution,
    });
    let Outcome::Success(first) = lambda.invoke(input.clone()) else {
        panic!("the write should succeed")
    };
    assert_eq!(first["status"], "ANALYZED");
    assert_eq!(first["safe"], true);
    assert_eq!(first["write"], "WRITTEN");
    let Outcome::Success(again) = lambda.invoke(input) else {
        panic!("a re-delivery should succeed")
    };
    assert_eq!(again["write"], "DUPLICATE");
    let stored = store.get("uploads", "sea.jpg").await.unwrap().unwrap();
    assert_eq!(stored.themes, ["ocean"]);
    drop(lambda);

    let missing = LambdaProcess::start(
        env!("CARGO_BIN_EXE_record"),
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
            ("TABLE_NAME", unique_name("no-such-table")),
        ],
    );
    let outcome = missing.invoke(json!({
        "outcome": "FAILED",
        "state": {"request": {"bucket": "uploads", "key": "x.jpg"}, "error": {"Error": "States.Timeout", "Cause": ""}},
        "execution": execution,
    }));
    assert!(
        matches!(&outcome, Outcome::Error { error_type, .. } if error_type == "StoreFailed"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn the_lambda_binary_plans_a_reprocess_and_merges_the_kept_results() {
    let Some(moto) = moto() else { return };
    let table = unique_name("records");
    let store = DynamoRecords::new(
        aws_sdk_dynamodb::Client::new(&loopback_config(&moto.endpoint)),
        &table,
    );
    store.create_table().await.unwrap();
    let lambda = LambdaProcess::start(
        env!("CARGO_BIN_EXE_record"),
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
            ("TABLE_NAME", table.clone()),
        ],
    );
    let image = image_facts("uploads", "sea.jpg");
    let plan = json!({"image": image, "reprocess": {"analysers": ["text"]}});
    // Nothing stored yet: the plan runs every analyser.
    let Outcome::Success(first_plan) = lambda.invoke(plan.clone()) else {
        panic!("the plan should succeed")
    };
    assert_eq!(
        first_plan,
        json!({"labels": true, "moderation": true, "text": true})
    );
    let analysed = json!({
        "outcome": "ANALYZED",
        "image": image,
        "labels": {"labels": [{"name": "Sea", "confidence": 97.0, "parents": ["Water"]}], "model": {"name": "labels", "version": "1"}},
        "moderation": {"labels": [], "model": {"name": "moderation", "version": "1"}},
        "text": {"lines": [], "model": {"name": "text", "version": "1"}},
        "execution": {"id": "arn:aws:states:us-east-1:123456789012:execution:pipeline:e1", "startTime": "2026-11-25T10:00:00Z"},
    });
    let Outcome::Success(written) = lambda.invoke(analysed) else {
        panic!("the write should succeed")
    };
    assert_eq!(written["write"], "WRITTEN");
    let Outcome::Success(second_plan) = lambda.invoke(plan) else {
        panic!("the plan should succeed")
    };
    assert_eq!(
        second_plan,
        json!({"labels": false, "moderation": false, "text": true})
    );

    let reprocessed = json!({
        "outcome": "ANALYZED",
        "image": image,
        "labels": {"kept": true},
        "moderation": {"kept": true},
        "text": {"lines": [], "model": {"name": "text", "version": "2"}},
        "execution": {"id": "arn:aws:states:us-east-1:123456789012:execution:pipeline:e2", "startTime": "2026-11-26T10:00:00Z"},
        "request": {"bucket": "uploads", "key": "sea.jpg", "reprocess": {"analysers": ["text"]}},
    });
    let Outcome::Success(output) = lambda.invoke(reprocessed) else {
        panic!("the reprocess should succeed")
    };
    assert_eq!(output["write"], "WRITTEN");
    let stored = store.get("uploads", "sea.jpg").await.unwrap().unwrap();
    assert_eq!(stored.labels[0].name, "Sea", "labels kept");
    assert_eq!(stored.themes, ["ocean"]);
    let versions: Vec<(&str, &str)> = stored
        .models
        .iter()
        .map(|m| (m.model.name.as_str(), m.model.version.as_str()))
        .collect();
    assert_eq!(
        versions,
        [("labels", "1"), ("moderation", "1"), ("text", "2")]
    );
    assert!(stored.execution.id.ends_with(":e2"));
}
