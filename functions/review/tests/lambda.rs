//! The built `review` binary, driven through the Lambda Runtime API with Function URL events,
//! writing to moto's DynamoDB: a decision lands, and the second reviewer on the same view gets a
//! 409 from the table's condition.

use serde_json::{json, Value};
use spotlight_aws::lambda::loopback_config;
use spotlight_aws::{aws_sdk_dynamodb, DynamoRecords};
use spotlight_core::contracts::{ModerationLabel, RecordStatus, ReviewDecision, Verdict};
use spotlight_core::fakes::label;
use spotlight_core::policy::ModerationPolicy;
use spotlight_core::ports::{RecordStore, SearchQuery};
use spotlight_core::review;
use spotlight_core::store_suite::suite_record;
use spotlight_testkit::{moto, unique_name, LambdaProcess, Outcome};

fn url_event(method: &str, body: &Value, caller: Option<&str>) -> Value {
    let authorizer = caller.map_or(Value::Null, |arn| {
        json!({"iam": {"accessKey": "AKIA", "accountId": "123456789012", "callerId": "AIDA",
                       "userArn": arn, "userId": "AIDA"}})
    });
    json!({
        "version": "2.0",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "x", "domainName": "x.lambda-url.us-east-1.on.aws",
            "domainPrefix": "x", "http": {"method": method, "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
            "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "03/Dec/2026:10:00:00 +0000", "timeEpoch": 1796292000000_i64,
            "authorizer": authorizer
        },
        "body": body.to_string(),
        "isBase64Encoded": false
    })
}

fn answer(outcome: Outcome) -> (i64, Value) {
    let Outcome::Success(response) = outcome else {
        panic!("the function should answer: {outcome:?}");
    };
    let body = response["body"].as_str().unwrap_or_default();
    let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    (response["statusCode"].as_i64().unwrap_or_default(), body)
}

#[tokio::test]
async fn the_lambda_binary_writes_a_decision_and_the_second_reviewer_gets_a_conflict() {
    let Some(moto) = moto() else { return };
    let table = unique_name("reviews");
    let client = aws_sdk_dynamodb::Client::new(&loopback_config(&moto.endpoint));
    let store = DynamoRecords::new(client, &table);
    store.create_table().await.unwrap();
    let policy = ModerationPolicy::from_json(
        r#"{"version":"t","defaultMinConfidence":80,"reviewMinConfidence":40}"#,
    )
    .unwrap();
    let mut record = suite_record(
        "beach.jpg",
        10,
        100,
        RecordStatus::Analyzed,
        false,
        vec![label("Beach", 94.0, &[])],
        "",
    );
    record.moderation = Some(policy.evaluate(Some(&[ModerationLabel {
        name: "Swimwear or Underwear".into(),
        parent_name: None,
        confidence: 60.0,
        taxonomy_level: 1,
    }])));
    record.safe = record.effective_safe();
    assert_eq!(record.verdict(), Verdict::NeedsReview);
    store.put(&record).await.unwrap();
    let seen = store
        .get(&record.bucket, &record.key)
        .await
        .unwrap()
        .unwrap();
    let token = review::token(&seen);

    let lambda = LambdaProcess::start(
        env!("CARGO_BIN_EXE_review"),
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
            ("TABLE_NAME", table.clone()),
        ],
    );
    let decision = |decision: ReviewDecision, note: &str| {
        json!({"bucket": record.bucket, "key": record.key, "decision": decision,
               "expect": token, "note": note})
    };
    let ana = "arn:aws:iam::123456789012:user/ana";
    let (status, body) = answer(lambda.invoke(url_event(
        "POST",
        &decision(ReviewDecision::Approved, "summer campaign"),
        Some(ana),
    )));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["record"]["review"]["reviewer"], ana,
        "the signed caller"
    );
    assert_eq!(body["record"]["review"]["decision"], "APPROVED");
    assert_eq!(body["record"]["moderation"]["verdict"], "NEEDS_REVIEW");
    assert_eq!(body["record"]["safe"], true);

    // The table says so, and the safe-only label search finds it (its index items follow).
    let stored = store
        .get(&record.bucket, &record.key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.verdict(), Verdict::Safe);
    let found = store
        .search(&SearchQuery {
            labels: vec!["beach".into()],
            safe_only: true,
            ..SearchQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(found.records.len(), 1);

    // Bo saw the same record as Ana: his rejection is refused, hers stands.
    let (status, body) = answer(lambda.invoke(url_event(
        "POST",
        &decision(ReviewDecision::Rejected, "too much skin"),
        Some("arn:aws:iam::123456789012:user/bo"),
    )));
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["record"]["review"]["reviewer"], ana);
    assert!(body["message"]
        .as_str()
        .unwrap_or_default()
        .contains("changed"));
    let current_token = body["reviewToken"].as_str().unwrap_or_default().to_owned();
    assert_eq!(current_token, review::token(&stored));
    let still = store
        .get(&record.bucket, &record.key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(still.review, stored.review);

    // Deciding again on what is there now replaces it, keeping Ana's in the history.
    let mut again = decision(ReviewDecision::Rejected, "too much skin");
    again["expect"] = json!(current_token);
    let (status, body) = answer(lambda.invoke(url_event(
        "POST",
        &again,
        Some("arn:aws:iam::123456789012:user/bo"),
    )));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["record"]["safe"], false);
    assert_eq!(body["record"]["reviewHistory"][0]["reviewer"], ana);

    let (status, _) = answer(lambda.invoke(url_event("GET", &json!({}), Some(ana))));
    assert_eq!(status, 405);
    let mut missing = decision(ReviewDecision::Approved, "");
    missing["key"] = json!("no-such.jpg");
    let (status, _) = answer(lambda.invoke(url_event("POST", &missing, Some(ana))));
    assert_eq!(status, 404);
    drop(lambda);

    let broken = LambdaProcess::start(
        env!("CARGO_BIN_EXE_review"),
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
            ("TABLE_NAME", unique_name("no-such-table")),
        ],
    );
    let outcome = broken.invoke(url_event(
        "POST",
        &decision(ReviewDecision::Approved, ""),
        Some(ana),
    ));
    assert!(
        matches!(&outcome, Outcome::Error { error_type, .. } if error_type == "StoreFailed"),
        "{outcome:?}"
    );
}
