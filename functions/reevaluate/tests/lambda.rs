//! The built `reevaluate` binary through the Lambda Runtime API against moto's DynamoDB, alone
//! and driven by `statemachine/reevaluate.asl.json` on the local engine (every task of the
//! state machine invokes the binary).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Value};
use spotlight_aws::lambda::loopback_config;
use spotlight_aws::{aws_sdk_dynamodb, DynamoRecords};
use spotlight_core::contracts::{
    ExecutionRef, ImageRecord, ModerationLabel, RecordStatus, Review, ReviewDecision, Verdict,
};
use spotlight_core::fakes::{image_facts, label};
use spotlight_core::policy::ModerationPolicy;
use spotlight_core::ports::{RecordStore, SearchQuery};
use spotlight_states::{
    InvokerFn, OwnedTaskRequest, RunOptions, StateMachine, StatesError, Status,
};
use spotlight_testkit::{moto, unique_name, LambdaProcess, Outcome};

/// Blocks alcohol at 50 % where the shipped policy waits for 90 %.
const STRICT: &str =
    r#"{"version": "strict-1", "defaultMinConfidence": 50, "minConfidence": {"Alcohol": 50}}"#;
const DEFINITION: &str = include_str!("../../../statemachine/reevaluate.asl.json");

/// An analysed photo of a dog with a beer (alcohol at 60 %: safe under the shipped policy).
fn record(key: &str, seconds: i64) -> ImageRecord {
    let mut image = image_facts("uploads", key);
    let when = chrono::DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap();
    image.uploaded_at = Some(when);
    image.revision = spotlight_core::revision::revision(Some(&format!("{seconds:X}")), Some(when));
    let moderation = ModerationPolicy::shipped().evaluate(Some(&[ModerationLabel {
        name: "Alcohol".to_owned(),
        parent_name: None,
        confidence: 60.0,
        taxonomy_level: 1,
    }]));
    assert_eq!(moderation.verdict, Verdict::Safe);
    ImageRecord {
        id: spotlight_core::record_id("uploads", key),
        bucket: "uploads".to_owned(),
        key: key.to_owned(),
        status: RecordStatus::Analyzed,
        revision: image.revision.clone(),
        uploaded_at: when,
        image: Some(image),
        labels: vec![label("Dog", 95.0, &["Animal"])],
        moderation: Some(moderation),
        safe: true,
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

async fn table() -> Option<(DynamoRecords, String)> {
    let moto = moto()?;
    let table = unique_name("records");
    let client = aws_sdk_dynamodb::Client::new(&loopback_config(&moto.endpoint));
    let store = DynamoRecords::new(client, &table);
    store.create_table().await.unwrap();
    Some((store, table))
}

fn lambda(table: &str, page: usize) -> LambdaProcess {
    let moto = moto().unwrap();
    LambdaProcess::start(
        env!("CARGO_BIN_EXE_reevaluate"),
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
            ("TABLE_NAME", table.to_owned()),
            ("MODERATION_POLICY_JSON", STRICT.to_owned()),
            ("REEVALUATE_PAGE", page.to_string()),
            ("REEVALUATE_CHUNK", "2".to_owned()),
        ],
    )
}

fn success(outcome: Outcome) -> Value {
    match outcome {
        Outcome::Success(value) => value,
        other => panic!("{other:?}"),
    }
}

async fn safe_dogs(store: &DynamoRecords) -> Vec<String> {
    let page = store
        .search(&SearchQuery {
            labels: vec!["dog".to_owned()],
            safe_only: true,
            ..SearchQuery::default()
        })
        .await
        .unwrap();
    let mut keys: Vec<String> = page.records.into_iter().map(|r| r.key).collect();
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chunk_judges_the_records_as_they_are_now_and_a_dry_run_writes_nothing() {
    let Some((store, table)) = table().await else {
        return;
    };
    for (key, seconds) in [("a.jpg", 1), ("b.jpg", 2)] {
        store.put(&record(key, seconds)).await.unwrap();
    }
    let lambda = lambda(&table, 100);
    let page = success(lambda.invoke(json!({"action": "page", "cursor": null})));
    assert_eq!(page["more"], false);
    let chunks = page["chunks"].as_array().unwrap();
    assert_eq!(chunks.len(), 1, "{page}");
    // A newer upload of b.jpg is analysed between the page and its chunk: it wins.
    let newer = record("b.jpg", 3);
    store.put(&newer).await.unwrap();

    let tally =
        success(lambda.invoke(json!({"action": "chunk", "ids": chunks[0], "dryRun": true})));
    assert_eq!(tally["written"], 0, "{tally}");
    assert_eq!(
        safe_dogs(&store).await,
        ["a.jpg", "b.jpg"],
        "a dry run writes nothing"
    );

    let tally = success(lambda.invoke(json!({"action": "chunk", "ids": chunks[0]})));
    assert_eq!(tally["policyVersion"], "strict-1");
    assert_eq!(tally["changes"], json!({"SAFE→UNSAFE": 2}), "{tally}");
    // b.jpg was read again by the chunk (the newer record), so both are written.
    assert_eq!(tally["written"], 2, "{tally}");
    assert!(safe_dogs(&store).await.is_empty());
    let b = store.get("uploads", "b.jpg").await.unwrap().unwrap();
    assert_eq!(
        b.revision, newer.revision,
        "the newer upload's record, re-judged"
    );
    assert_eq!(b.moderation.unwrap().policy_version, "strict-1");

    let error = lambda.invoke(json!({"action": "sideways"}));
    assert!(matches!(error, Outcome::Error { .. }), "{error:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_state_machine_pages_through_every_record_on_the_local_engine() {
    let Some((store, table)) = table().await else {
        return;
    };
    for seconds in 1..=7 {
        store
            .put(&record(&format!("dog {seconds}.jpg"), seconds))
            .await
            .unwrap();
    }
    let mut approved = record("approved.jpg", 8);
    approved.review = Some(Review {
        decision: ReviewDecision::Approved,
        reviewer: "rita".to_owned(),
        reviewed_at: approved.analysed_at,
        note: None,
        model_verdict: Verdict::Safe,
        revision: approved.revision.clone(),
        etag: None,
        version_id: None,
        sequence: 1,
    });
    store.put(&approved).await.unwrap();
    let mut rejected = record("tiny.png", 9);
    rejected.status = RecordStatus::Rejected;
    rejected.moderation = None;
    rejected.safe = false;
    store.put(&rejected).await.unwrap();

    // Three records a page: the loop runs three times, each Map over chunks of two.
    let lambda = Arc::new(lambda(&table, 3));
    let turn = Arc::new(tokio::sync::Mutex::new(()));
    let invoker = Arc::new(InvokerFn(move |request: OwnedTaskRequest| {
        let (lambda, turn) = (Arc::clone(&lambda), Arc::clone(&turn));
        async move {
            // One function process answers one invocation at a time, as one Lambda instance.
            let _turn = turn.lock().await;
            let payload = request.parameters["Payload"].clone();
            let outcome = tokio::task::spawn_blocking(move || lambda.invoke(payload))
                .await
                .map_err(|e| StatesError::new("Lambda.ServiceException", e.to_string()))?;
            match outcome {
                Outcome::Success(payload) => Ok(json!({
                    "ExecutedVersion": "$LATEST", "Payload": payload, "StatusCode": 200,
                })),
                Outcome::Error {
                    error_type,
                    error_message,
                } => Err(StatesError::new(
                    &error_type,
                    json!({"errorType": error_type, "errorMessage": error_message}).to_string(),
                )),
                Outcome::InitError(error) => {
                    Err(StatesError::new("Lambda.Unknown", error.to_string()))
                }
            }
        }
    }));
    let substitutions = HashMap::from([(
        "ReevaluateFunctionArn".to_owned(),
        "arn:aws:lambda:us-east-1:123456789012:function:reevaluate".to_owned(),
    )]);
    let machine = StateMachine::parse(DEFINITION, &substitutions).unwrap();

    let dry = machine
        .run(
            json!({"dryRun": true}),
            invoker.clone(),
            RunOptions {
                history: true,
                ..RunOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(dry.status, Status::Succeeded, "{dry:?}");
    let totals = dry.output.unwrap();
    assert_eq!(totals["records"], 8, "{totals}");
    assert_eq!(totals["changes"], json!({"SAFE→UNSAFE": 8}));
    assert_eq!(totals["written"], 0);
    let pages = dry
        .history
        .unwrap()
        .events
        .iter()
        .filter_map(|e| serde_json::to_value(e).ok())
        .filter(|e| e["stateEnteredEventDetails"]["name"] == "ListPage")
        .count();
    assert_eq!(pages, 3, "nine records, three a page");
    assert_eq!(safe_dogs(&store).await.len(), 8, "a dry run writes nothing");

    let applied = machine
        .run(json!({}), invoker.clone(), RunOptions::default())
        .await
        .unwrap();
    assert_eq!(applied.status, Status::Succeeded, "{applied:?}");
    let totals = applied.output.unwrap();
    assert_eq!(totals["written"], 8, "{totals}");
    assert_eq!(totals["overridden"], 1);
    assert_eq!(totals["skipped"], 0);
    assert_eq!(totals["policyVersion"], "strict-1");
    assert_eq!(
        safe_dogs(&store).await,
        ["approved.jpg"],
        "the reviewer's decision still wins"
    );
    let dog = store.get("uploads", "dog 4.jpg").await.unwrap().unwrap();
    let moderation = dog.moderation.unwrap();
    assert_eq!(moderation.verdict, Verdict::Unsafe);
    assert_eq!(moderation.policy_version, "strict-1");
    let unsafe_page = store
        .search(&SearchQuery {
            unsafe_only: true,
            safe_only: false,
            ..SearchQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(unsafe_page.records.len(), 7, "the status index follows");

    // Again: nothing changes, nothing is written.
    let again = machine
        .run(json!({}), invoker, RunOptions::default())
        .await
        .unwrap();
    let totals = again.output.unwrap();
    assert_eq!(totals["changes"], json!({}));
    assert_eq!(totals["unchanged"], 8);
    assert_eq!(totals["written"], 0);
}
