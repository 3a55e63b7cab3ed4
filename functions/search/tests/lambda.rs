//! The built `search` binary, driven through the Lambda Runtime API with Function URL events,
//! reading moto's DynamoDB.

use serde_json::{json, Value};
use spotlight_aws::lambda::loopback_config;
use spotlight_aws::{aws_sdk_dynamodb, DynamoRecords};
use spotlight_core::contracts::{ExecutionRef, ImageRecord, RecordStatus};
use spotlight_core::fakes::{image_facts, label};
use spotlight_core::ports::RecordStore;
use spotlight_testkit::{moto, unique_name, LambdaProcess, Outcome};

fn url_event(query: &str) -> Value {
    json!({
        "version": "2.0",
        "rawPath": "/",
        "rawQueryString": query,
        "headers": {},
        "requestContext": {
            "accountId": "123456789012", "apiId": "x", "domainName": "x.lambda-url.us-east-1.on.aws",
            "domainPrefix": "x", "http": {"method": "GET", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
            "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "25/Nov/2026:10:00:00 +0000", "timeEpoch": 1795600000000_i64
        },
        "isBase64Encoded": false
    })
}

fn record(key: &str, labels: &[(&str, f32)], safe: bool) -> ImageRecord {
    let image = image_facts("uploads", key);
    let when = image.uploaded_at.unwrap();
    ImageRecord {
        id: spotlight_core::record_id("uploads", key),
        bucket: "uploads".to_owned(),
        key: key.to_owned(),
        status: RecordStatus::Analyzed,
        revision: image.revision.clone(),
        uploaded_at: when,
        image: Some(image),
        labels: labels.iter().map(|(n, c)| label(n, *c, &[])).collect(),
        moderation: None,
        safe,
        text: None,
        themes: Vec::new(),
        trimmed: Vec::new(),
        models: Vec::new(),
        error: None,
        execution: ExecutionRef {
            id: format!("exec-{key}"),
            start_time: when,
        },
        analysed_at: when,
        review: None,
        review_history: Vec::new(),
    }
}

#[tokio::test]
async fn the_lambda_binary_searches_safe_only_and_refuses_bad_queries() {
    let Some(moto) = moto() else { return };
    let table = unique_name("records");
    let client = aws_sdk_dynamodb::Client::new(&loopback_config(&moto.endpoint));
    let store = DynamoRecords::new(client, &table);
    store.create_table().await.unwrap();
    store
        .put(&record("beach.jpg", &[("Beach", 91.0)], true))
        .await
        .unwrap();
    store
        .put(&record("party.jpg", &[("Beach", 95.0)], false))
        .await
        .unwrap();

    let lambda = LambdaProcess::start(
        env!("CARGO_BIN_EXE_search"),
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
            ("TABLE_NAME", table.clone()),
        ],
    );
    let Outcome::Success(response) = lambda.invoke(url_event("theme=ocean&minConfidence=90"))
    else {
        panic!("the search should succeed");
    };
    assert_eq!(response["statusCode"], 200);
    let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    let keys: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["record"]["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["beach.jpg"],
        "the unsafe photo stays hidden by default"
    );
    assert_eq!(body["items"][0]["matchedLabels"][0]["name"], "Beach");

    let Outcome::Success(response) = lambda.invoke(url_event("label=beach&includeUnsafe=true"))
    else {
        panic!("the search should succeed");
    };
    let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["items"].as_array().unwrap().len(), 2);

    let Outcome::Success(response) = lambda.invoke(url_event("minConfidence=high")) else {
        panic!("a bad query is an answer, not a failure");
    };
    assert_eq!(response["statusCode"], 400);
    assert!(response["body"].as_str().unwrap().contains("minConfidence"));
    drop(lambda);

    let missing = LambdaProcess::start(
        env!("CARGO_BIN_EXE_search"),
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
            ("TABLE_NAME", unique_name("no-such-table")),
        ],
    );
    let outcome = missing.invoke(url_event("label=beach"));
    assert!(
        matches!(&outcome, Outcome::Error { error_type, .. } if error_type == "StoreFailed"),
        "{outcome:?}"
    );
}

/// Issue 12: labels AND / OR / NOT through the built function, read from DynamoDB's label
/// index; excluding alone has no index to read and is refused with a 400.
#[tokio::test]
async fn the_lambda_binary_combines_labels_and_refuses_excluding_alone() {
    let Some(moto) = moto() else { return };
    let table = unique_name("records");
    let client = aws_sdk_dynamodb::Client::new(&loopback_config(&moto.endpoint));
    let store = DynamoRecords::new(client, &table);
    store.create_table().await.unwrap();
    for (key, labels) in [
        ("beach.jpg", &[("Beach", 91.0)][..]),
        ("dog-beach.jpg", &[("Dog", 90.0), ("Beach", 80.0)][..]),
        ("dog-person.jpg", &[("Dog", 95.0), ("Person", 90.0)][..]),
    ] {
        store.put(&record(key, labels, true)).await.unwrap();
    }
    let lambda = LambdaProcess::start(
        env!("CARGO_BIN_EXE_search"),
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
            ("TABLE_NAME", table.clone()),
        ],
    );
    let answer = |query: &str| {
        let Outcome::Success(response) = lambda.invoke(url_event(query)) else {
            panic!("{query}: a search is an answer, not a failure");
        };
        let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
        (response["statusCode"].as_i64().unwrap(), body)
    };
    let keys = |query: &str| {
        let (status, body) = answer(query);
        assert_eq!(status, 200, "{query}: {body}");
        let mut keys: Vec<String> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["record"]["key"].as_str().unwrap().to_owned())
            .collect();
        keys.sort();
        keys
    };
    assert_eq!(
        keys("label=Dog&label=Beach"),
        ["beach.jpg", "dog-beach.jpg", "dog-person.jpg"],
        "any label"
    );
    assert_eq!(keys("label=Dog&label=beach&all=true"), ["dog-beach.jpg"]);
    assert_eq!(keys("label=Dog&notLabel=person"), ["dog-beach.jpg"]);
    assert_eq!(
        keys("theme=ocean&label=Dog&all=true&notLabel=Person"),
        ["dog-beach.jpg"]
    );
    let (status, body) = answer("notLabel=Person");
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("notLabel needs a label"),
        "{body}"
    );
}
