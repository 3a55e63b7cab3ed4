//! Re-running a photo on AWS's path: S3 and DynamoDB on moto, the validate and record handlers
//! between them, as the state machine chains them (issue 17: a re-run used to write nothing).

use chrono::{DateTime, Utc};
use spotlight_aws::aws_sdk_s3::primitives::ByteStream;
use spotlight_aws::lambda::{loopback_config, loopback_s3_client};
use spotlight_aws::{aws_sdk_dynamodb, DynamoRecords, S3Objects};
use spotlight_core::contracts::AnalysisOf;
use spotlight_core::contracts::{
    CaughtError, CaughtState, ExecutionRef, ImageFacts, LabelsResult, ModelInfo, ModerationResult,
    ObjectRequest, RecordInput, RecordStatus, TextResult, Validation, WriteOutcome,
};
use spotlight_core::fakes::label;
use spotlight_core::ports::RecordStore;
use spotlight_record::{handle, RecordConfig};
use spotlight_testkit::{moto, unique_name};
use spotlight_validate::Limits;

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
}

fn execution(name: &str, started: i64) -> ExecutionRef {
    ExecutionRef {
        id: format!("arn:aws:states:eu-west-1:123456789012:execution:pipeline:{name}"),
        start_time: at(started),
    }
}

fn model() -> ModelInfo {
    ModelInfo {
        name: "rekognition".to_owned(),
        version: "3.0".to_owned(),
    }
}

fn analyzed(image: ImageFacts, execution: ExecutionRef) -> RecordInput {
    RecordInput::Analyzed {
        image,
        labels: AnalysisOf::Ran(LabelsResult {
            labels: vec![label("Beach", 97.0, &["Nature"])],
            model: model(),
            trimmed: None,
        }),
        moderation: AnalysisOf::Ran(ModerationResult {
            labels: Vec::new(),
            model: model(),
        }),
        text: AnalysisOf::Ran(TextResult {
            lines: Vec::new(),
            model: model(),
            trimmed: None,
        }),
        execution,
        request: None,
    }
}

#[tokio::test]
async fn a_rerun_repairs_an_event_written_failed_record_on_s3_and_dynamodb() {
    let Some(moto) = moto() else { return };
    let s3 = loopback_s3_client(&moto.endpoint);
    let bucket = unique_name("uploads");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let key = "beach/day 1 ünï.jpg";
    s3.put_object()
        .bucket(&bucket)
        .key(key)
        .body(ByteStream::from(spotlight_fixtures::jpeg(640, 480)))
        .send()
        .await
        .unwrap();
    let objects = S3Objects::new(s3);
    let store = DynamoRecords::new(
        aws_sdk_dynamodb::Client::new(&loopback_config(&moto.endpoint)),
        unique_name("records"),
    );
    store.create_table().await.unwrap();
    let config = RecordConfig::default();
    let limits = Limits::default();

    // The upload's event: validated, then Rekognition throttled past the retries: FAILED.
    let mut event = ObjectRequest::new(&bucket, key);
    event.sequencer = Some("0055AED6DCD90281E5".to_owned());
    event.event_time = Some(at(0));
    let uploaded = spotlight_validate::handle(&event, &objects, &limits)
        .await
        .unwrap();
    let failed = RecordInput::Failed {
        state: CaughtState {
            request: event.clone(),
            validation: Some(Validation {
                image: uploaded.clone(),
            }),
            error: CaughtError {
                error: "AnalyzerThrottled".to_owned(),
                cause: "Rate exceeded".to_owned(),
            },
        },
        execution: execution("event", 1),
    };
    let output = handle(failed, &store, &config, at(2)).await.unwrap();
    assert_eq!(
        (output.status, output.write),
        (RecordStatus::Failed, WriteOutcome::Written)
    );

    // The README's repair: start an execution with {bucket, key}.
    let rerun = spotlight_validate::handle(&ObjectRequest::new(&bucket, key), &objects, &limits)
        .await
        .unwrap();
    let output = handle(
        analyzed(rerun.clone(), execution("rerun", 10)),
        &store,
        &config,
        at(11),
    )
    .await
    .unwrap();
    assert_eq!(output.write, WriteOutcome::Written, "the repair is written");
    let stored = store.get(&bucket, key).await.unwrap().unwrap();
    assert_eq!(stored.status, RecordStatus::Analyzed);
    assert!(stored.execution.id.ends_with(":rerun"));
    assert!(
        stored
            .revision
            .starts_with(&format!("{}.", uploaded.revision)),
        "the re-run takes the upload's place: {} after {}",
        stored.revision,
        uploaded.revision
    );

    // The upload's event, re-delivered, is stale now; a second re-run re-analyses.
    let redelivered = handle(
        analyzed(uploaded, execution("again", 20)),
        &store,
        &config,
        at(21),
    )
    .await
    .unwrap();
    assert_eq!(redelivered.write, WriteOutcome::Stale);
    let reanalysed = handle(
        analyzed(rerun, execution("rerun-2", 30)),
        &store,
        &config,
        at(31),
    )
    .await
    .unwrap();
    assert_eq!(reanalysed.write, WriteOutcome::Written);
    let stored = store.get(&bucket, key).await.unwrap().unwrap();
    assert!(stored.execution.id.ends_with(":rerun-2"));

    // The next upload's event still replaces the re-run's record.
    let mut next = ObjectRequest::new(&bucket, key);
    next.sequencer = Some("0055AED6DCD90281E6".to_owned());
    let image = spotlight_validate::handle(&next, &objects, &limits)
        .await
        .unwrap();
    let output = handle(
        analyzed(image, execution("next", 40)),
        &store,
        &config,
        at(41),
    )
    .await
    .unwrap();
    assert_eq!(output.write, WriteOutcome::Written);
}
