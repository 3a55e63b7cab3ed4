//! The shipped state machine, run by the local engine over the real step handlers: real image
//! files in a folder, a real SQLite store, fake analysers (the ONNX ones are tested on their own).

use std::sync::Arc;

use serde_json::{json, Value};
use spotlight_core::contracts::{Label, ModerationLabel, RecordStatus, TextLine};
use spotlight_core::fakes::{label, Answer, FakeDetector};
use spotlight_core::ports::RecordStore;
use spotlight_pipeline::{EntryError, EventBus, MemoryBus, Pipeline, Steps};
use spotlight_record::RecordConfig;
use spotlight_states::BoxFuture;
use spotlight_states::{RunOptions, Status, TokioClock};
use spotlight_storage::{FolderObjects, SqliteStore};
use spotlight_validate::Limits;

type Detector<T> = Arc<FakeDetector<Vec<T>>>;
type Local = Pipeline<
    FolderObjects,
    Detector<Label>,
    Detector<ModerationLabel>,
    Detector<TextLine>,
    Arc<SqliteStore>,
>;

struct World {
    folder: tempfile::TempDir,
    bucket: String,
    labels: Detector<Label>,
    store: Arc<SqliteStore>,
    bus: Arc<MemoryBus>,
    pipeline: Local,
}

fn world(labels: Answer<Vec<Label>>) -> World {
    let folder = tempfile::tempdir().unwrap();
    let bucket = std::fs::canonicalize(folder.path())
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let labels = Arc::new(FakeDetector::new(labels));
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let bus = Arc::new(MemoryBus::default());
    let pipeline = Pipeline::new(Steps {
        objects: FolderObjects::new(),
        labels: Arc::clone(&labels),
        moderation: Arc::new(FakeDetector::new(Answer::Found(Vec::new()))),
        text: Arc::new(FakeDetector::new(Answer::Found(Vec::new()))),
        store: Arc::clone(&store),
        limits: Limits::default(),
        record: RecordConfig::default(),
    })
    .unwrap()
    .event_bus(Arc::clone(&bus) as Arc<dyn EventBus>);
    World {
        folder,
        bucket,
        labels,
        store,
        bus,
        pipeline,
    }
}

fn dog() -> Answer<Vec<Label>> {
    Answer::Found(vec![label("Golden Retriever", 95.0, &["Dog", "Animal"])])
}

impl World {
    fn file(&self, key: &str, bytes: Vec<u8>) {
        let path = self.folder.path().join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    async fn run(&self, input: Value) -> (spotlight_states::ExecutionResult, Vec<String>) {
        let options = RunOptions {
            history: true,
            clock: Some(Arc::new(TokioClock::starting_at(chrono::Utc::now()))),
            seed: Some(7),
            ..RunOptions::default()
        };
        let result = self.pipeline.run(input, options).await.unwrap();
        let entered = result
            .history
            .as_ref()
            .unwrap()
            .events
            .iter()
            .filter_map(|e| serde_json::to_value(e).ok())
            .filter(|e| {
                e["type"]
                    .as_str()
                    .is_some_and(|t| t.ends_with("StateEntered"))
            })
            .filter_map(|e| {
                e["stateEnteredEventDetails"]["name"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        (result, entered)
    }

    fn request(&self, key: &str) -> Value {
        json!({"bucket": self.bucket, "key": key})
    }
}

#[tokio::test(start_paused = true)]
async fn a_photo_is_validated_analysed_and_recorded() {
    let world = world(dog());
    world.file("holiday/dog 1.jpg", spotlight_fixtures::jpeg(640, 480));
    let (result, entered) = world.run(world.request("holiday/dog 1.jpg")).await;
    assert_eq!(result.status, Status::Succeeded, "{result:?}");
    assert_eq!(
        &entered[..3],
        ["Normalize", "FromObjectRequest", "Validate"]
    );
    // Not a reprocess: no plan, and every branch runs its analyser.
    assert_eq!(entered[3..5], ["Reprocessing", "Analyze"]);
    let mut branches = entered[5..11].to_vec();
    branches.sort();
    assert_eq!(
        branches,
        [
            "DetectLabels",
            "DetectModeration",
            "DetectText",
            "RunLabels",
            "RunModeration",
            "RunText"
        ]
    );
    assert_eq!(
        entered[11..],
        ["Record", "PublishResult", "Outcome", "Analyzed"]
    );
    let output = result.output.unwrap();
    assert_eq!(output["record"]["record"]["status"], "ANALYZED");
    assert_eq!(output["record"]["record"]["write"], "WRITTEN");

    let record = world
        .store
        .get(&world.bucket, "holiday/dog 1.jpg")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, RecordStatus::Analyzed);
    assert!(record.safe, "moderation ran and found nothing");
    assert_eq!(record.themes, ["animals"]);
    assert_eq!(record.execution.id, result.execution_arn);
    assert_eq!(record.image.unwrap().width, 640);

    let (again, _) = world.run(world.request("holiday/dog 1.jpg")).await;
    assert_eq!(
        again.output.unwrap()["record"]["record"]["write"],
        "DUPLICATE",
        "nothing written twice"
    );
}

#[tokio::test(start_paused = true)]
async fn an_eventbridge_event_takes_its_own_path_and_orders_by_sequencer() {
    let world = world(dog());
    world.file("up.jpg", spotlight_fixtures::jpeg(200, 200));
    let event = json!({
        "version": "0", "id": "e", "detail-type": "Object Created", "source": "aws.s3",
        "account": "1", "time": "2026-11-25T10:00:00Z", "region": "local", "resources": [],
        "detail": {"version": "0", "bucket": {"name": world.bucket}, "object": {"key": "up.jpg", "size": 1, "etag": "x", "sequencer": "0A"}}
    });
    let (result, entered) = world.run(event).await;
    assert_eq!(result.status, Status::Succeeded, "{result:?}");
    assert_eq!(entered[1], "FromObjectCreatedEvent");
    let record = world
        .store
        .get(&world.bucket, "up.jpg")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.revision, "3:0A",
        "S3's sequencer, trailing zeros dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn a_versioned_upload_is_read_at_its_version_never_at_the_latest() {
    let world = world(dog());
    world.file("up.jpg", spotlight_fixtures::jpeg(200, 200));
    let event = json!({
        "version": "0", "id": "e", "detail-type": "Object Created", "source": "aws.s3",
        "account": "1", "time": "2026-11-25T10:00:00Z", "region": "local", "resources": [],
        "detail": {"version": "0", "bucket": {"name": world.bucket}, "object": {"key": "up.jpg", "size": 1, "etag": "x", "version-id": "v1", "sequencer": "0A"}}
    });
    let notification = json!({"Records": [{
        "eventName": "ObjectCreated:Put", "eventTime": "2026-11-25T10:00:00Z",
        "s3": {"bucket": {"name": world.bucket}, "object": {"key": "up.jpg", "versionId": "v1", "sequencer": "0B"}}
    }]});
    for (input, path) in [
        (event, "FromVersionedObjectCreatedEvent"),
        (notification, "FromVersionedS3Notification"),
    ] {
        let (result, entered) = world.run(input).await;
        assert_eq!(entered[1], path);
        let validated = result
            .history
            .as_ref()
            .unwrap()
            .events
            .iter()
            .find_map(|e| {
                let e = serde_json::to_value(e).ok()?;
                let parameters = e["taskScheduledEventDetails"]["parameters"].as_str()?;
                serde_json::from_str::<Value>(parameters).ok()
            });
        assert_eq!(validated.unwrap()["Payload"]["versionId"], "v1", "{path}");
        // A folder keeps no versions: it refuses the version rather than read the latest file.
        let record = world
            .store
            .get(&world.bucket, "up.jpg")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.status, RecordStatus::Failed, "{path}");
        let error = record.error.unwrap();
        assert!(error.cause.contains("\"v1\""), "{path}: {}", error.cause);
    }
}

#[tokio::test(start_paused = true)]
async fn bad_uploads_are_rejected_with_their_reason_and_the_execution_succeeds() {
    let world = world(dog());
    let cases = [
        (
            "tiny.png",
            spotlight_fixtures::png(1, 1),
            "ImageRejected.TooSmall",
        ),
        (
            "notes.jpg",
            b"just some text, honestly".to_vec(),
            "ImageRejected.UnsupportedFormat",
        ),
        (
            "cut.jpg",
            spotlight_fixtures::truncated(spotlight_fixtures::jpeg(300, 300), 900),
            "ImageRejected.Corrupt",
        ),
        ("empty.jpg", Vec::new(), "ImageRejected.Corrupt"),
        (
            "bomb.png",
            spotlight_fixtures::png_claiming(30_000, 30_000),
            "ImageRejected.TooLarge",
        ),
    ];
    for (key, bytes, error) in cases {
        world.file(key, bytes);
        let (result, entered) = world.run(world.request(key)).await;
        assert_eq!(
            result.status,
            Status::Succeeded,
            "{key}: a rejection is an outcome"
        );
        assert_eq!(
            entered.last().map(String::as_str),
            Some("Rejected"),
            "{key}: {entered:?}"
        );
        assert!(entered.contains(&"RecordRejected".to_owned()));
        let record = world.store.get(&world.bucket, key).await.unwrap().unwrap();
        assert_eq!(record.status, RecordStatus::Rejected, "{key}");
        assert_eq!(record.error.as_ref().unwrap().error, error, "{key}");
        assert!(
            !record.error.unwrap().cause.starts_with('{'),
            "{key}: the cause is the message"
        );
    }
    let (result, _) = world.run(world.request("../escape.jpg")).await;
    assert_eq!(result.status, Status::Succeeded);
    let record = world
        .store
        .get(&world.bucket, "../escape.jpg")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.error.unwrap().error, "ImageRejected.NotFound");
}

#[tokio::test(start_paused = true)]
async fn an_analyser_that_cannot_decode_rejects_through_the_parallel_catch() {
    let world = world(Answer::Corrupt);
    world.file("odd.jpg", spotlight_fixtures::jpeg(100, 100));
    let (result, entered) = world.run(world.request("odd.jpg")).await;
    assert_eq!(result.status, Status::Succeeded);
    assert!(
        entered.contains(&"RecordRejected".to_owned()),
        "{entered:?}"
    );
    let record = world
        .store
        .get(&world.bucket, "odd.jpg")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, RecordStatus::Rejected);
    assert!(
        record.image.is_some(),
        "the facts validation found are kept"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_analyser_fails_the_execution_and_leaves_a_failed_record() {
    let world = world(Answer::Fails);
    world.file("x.jpg", spotlight_fixtures::jpeg(100, 100));
    let (result, entered) = world.run(world.request("x.jpg")).await;
    assert_eq!(result.status, Status::Failed);
    assert_eq!(result.error.as_deref(), Some("AnalyzerFailed"));
    assert_eq!(
        entered[entered.len() - 5..],
        [
            "RecordFailed",
            "PublishResult",
            "Outcome",
            "FailedWithCause",
            "Failed"
        ]
    );
    let record = world
        .store
        .get(&world.bucket, "x.jpg")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, RecordStatus::Failed);
    let error = record.error.unwrap();
    assert_eq!(error.error, "AnalyzerFailed");
    assert!(error.cause.contains("the model crashed"), "{}", error.cause);
}

#[tokio::test(start_paused = true)]
async fn throttling_is_retried_with_backoff_until_the_retrier_gives_up() {
    let world = world(Answer::Throttled);
    world.file("busy.jpg", spotlight_fixtures::jpeg(100, 100));
    let (result, _) = world.run(world.request("busy.jpg")).await;
    assert_eq!(result.status, Status::Failed);
    assert_eq!(result.error.as_deref(), Some("AnalyzerThrottled"));
    assert_eq!(world.labels.calls(), 3, "one call and two retries");
    let record = world
        .store
        .get(&world.bucket, "busy.jpg")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, RecordStatus::Failed);
}

#[tokio::test(start_paused = true)]
async fn an_input_of_no_known_shape_fails_with_a_clear_error() {
    let world = world(dog());
    let (result, entered) = world.run(json!({"photo": "x.jpg"})).await;
    assert_eq!(result.status, Status::Failed);
    assert_eq!(result.error.as_deref(), Some("InvalidPipelineInput"));
    assert_eq!(entered, ["Normalize", "UnrecognisedInput"]);
}

/// A detector for all three ports that takes `delay` of (paused) time per call.
struct SlowDetector(std::time::Duration);

impl SlowDetector {
    async fn wait(&self) {
        tokio::time::sleep(self.0).await;
    }
}

impl spotlight_core::ports::LabelDetector for SlowDetector {
    fn model(&self) -> spotlight_core::contracts::ModelInfo {
        spotlight_core::contracts::ModelInfo {
            name: "slow".to_owned(),
            version: "0".to_owned(),
        }
    }
    async fn detect_labels(
        &self,
        _image: &spotlight_core::contracts::ImageFacts,
    ) -> Result<Vec<Label>, spotlight_core::ports::DetectError> {
        self.wait().await;
        Ok(Vec::new())
    }
}

impl spotlight_core::ports::ModerationDetector for SlowDetector {
    fn model(&self) -> spotlight_core::contracts::ModelInfo {
        spotlight_core::ports::LabelDetector::model(self)
    }
    async fn detect_moderation_labels(
        &self,
        _image: &spotlight_core::contracts::ImageFacts,
    ) -> Result<Vec<ModerationLabel>, spotlight_core::ports::DetectError> {
        self.wait().await;
        Ok(Vec::new())
    }
}

impl spotlight_core::ports::TextDetector for SlowDetector {
    fn model(&self) -> spotlight_core::contracts::ModelInfo {
        spotlight_core::ports::LabelDetector::model(self)
    }
    async fn detect_text(
        &self,
        _image: &spotlight_core::contracts::ImageFacts,
    ) -> Result<Vec<TextLine>, spotlight_core::ports::DetectError> {
        self.wait().await;
        Ok(Vec::new())
    }
}

/// The shipped machine over detectors that each take `delay`, `analyses` at a time.
async fn run_slow(
    delay: std::time::Duration,
    analyses: usize,
) -> (spotlight_states::ExecutionResult, Arc<SqliteStore>, String) {
    let folder = tempfile::tempdir().unwrap();
    let bucket = std::fs::canonicalize(folder.path())
        .unwrap()
        .to_string_lossy()
        .into_owned();
    std::fs::write(
        folder.path().join("slow.jpg"),
        spotlight_fixtures::jpeg(200, 200),
    )
    .unwrap();
    let detector = Arc::new(SlowDetector(delay));
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let pipeline = Pipeline::new(Steps {
        objects: FolderObjects::new(),
        labels: Arc::clone(&detector),
        moderation: Arc::clone(&detector),
        text: detector,
        store: Arc::clone(&store),
        limits: Limits::default(),
        record: RecordConfig::default(),
    })
    .unwrap()
    .analyses_at_once(analyses);
    let options = RunOptions {
        history: true,
        clock: Some(Arc::new(TokioClock::starting_at(chrono::Utc::now()))),
        seed: Some(7),
        ..RunOptions::default()
    };
    let result = pipeline
        .run(json!({"bucket": bucket, "key": "slow.jpg"}), options)
        .await
        .unwrap();
    (result, store, bucket)
}

fn event_types(result: &spotlight_states::ExecutionResult) -> Vec<String> {
    result
        .history
        .as_ref()
        .unwrap()
        .events
        .iter()
        .filter_map(|e| serde_json::to_value(e).ok())
        .filter_map(|e| e["type"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn analyses_waiting_for_their_turn_are_not_timed_out_while_they_wait() {
    // One analysis at a time, 6 s each: the third starts 12 s after its task was scheduled
    // and ends at 18 s, past the detectors' 15 s TimeoutSeconds if the wait counted.
    let (result, store, bucket) = run_slow(std::time::Duration::from_secs(6), 1).await;
    assert_eq!(result.status, Status::Succeeded, "{result:?}");
    assert!(
        !event_types(&result).iter().any(|t| t == "TaskTimedOut"),
        "no task timed out"
    );
    let record = store.get(&bucket, "slow.jpg").await.unwrap().unwrap();
    assert_eq!(record.status, RecordStatus::Analyzed);
}

#[tokio::test(start_paused = true)]
async fn an_analysis_that_runs_past_its_timeout_times_out_as_aws_records_it() {
    let (result, store, bucket) = run_slow(std::time::Duration::from_secs(20), 3).await;
    assert!(
        event_types(&result).iter().any(|t| t == "TaskTimedOut"),
        "the engine records the invoker's timeout as TaskTimedOut"
    );
    let record = store.get(&bucket, "slow.jpg").await.unwrap().unwrap();
    assert_eq!(record.status, RecordStatus::Failed, "{record:?}");
    // The execution fails with the timeout, not with the Fail state's own missing cause.
    assert_eq!(result.status, Status::Failed);
    assert_eq!(
        result.error.as_deref(),
        Some("States.Timeout"),
        "{:?}",
        result.cause
    );
}

/// The one result event `world`'s bus received since `before` events, checked against the
/// execution that sent it.
fn only_event(world: &World, before: usize, result: &spotlight_states::ExecutionResult) -> Value {
    let events = world.bus.events();
    assert_eq!(
        events.len(),
        before + 1,
        "one event per execution: {events:#?}"
    );
    let (bus, event) = events.last().cloned().unwrap();
    assert_eq!(bus, spotlight_pipeline::LOCAL_EVENT_BUS);
    assert_eq!(event["source"], "spotlight.pipeline");
    assert_eq!(event["detail-type"], "Spotlight Photo Screened");
    assert_eq!(event["version"], "0");
    // As AWS's optimized integration does: the state machine's ARN, then the execution's.
    let resources = event["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 2, "{event}");
    assert!(resources[0]
        .as_str()
        .unwrap()
        .ends_with(":stateMachine:spotlight-pipeline"));
    assert_eq!(resources[1], result.execution_arn.as_str());
    let detail = &event["detail"];
    assert_eq!(detail["execution"]["arn"], result.execution_arn.as_str());
    assert!(result.execution_arn.ends_with(&format!(
        ":{}",
        detail["execution"]["name"].as_str().unwrap()
    )));
    // The detail is the contract's shape, field for field.
    let typed: spotlight_core::contracts::ResultEventDetail =
        serde_json::from_value(detail.clone()).unwrap();
    assert_eq!(serde_json::to_value(&typed).unwrap(), *detail);
    // A failed execution has no output (its event is in the history alone).
    if let Some(output) = &result.output {
        assert_eq!(output["resultEvent"]["delivered"], true);
        assert_eq!(output["resultEvent"]["eventId"], event["id"]);
    }
    detail.clone()
}

#[tokio::test(start_paused = true)]
async fn every_outcome_sends_exactly_one_result_event() {
    let world = world(dog());
    world.file("dog.jpg", spotlight_fixtures::jpeg(640, 480));
    world.file("notes.jpg", b"just some text".to_vec());

    let (analysed, _) = world.run(world.request("dog.jpg")).await;
    assert_eq!(analysed.status, Status::Succeeded);
    let detail = only_event(&world, 0, &analysed);
    assert_eq!(detail["status"], "ANALYZED");
    assert_eq!(detail["verdict"], "SAFE");
    assert_eq!(detail["safe"], true);
    assert_eq!(detail["themes"], json!(["animals"]));
    assert_eq!(detail["error"], Value::Null);
    assert_eq!(detail["write"], "WRITTEN");
    assert_eq!(detail["bucket"], world.bucket.as_str());
    assert_eq!(detail["key"], "dog.jpg");
    assert_eq!(
        detail["recordId"],
        spotlight_core::record_id(&world.bucket, "dog.jpg")
    );

    let (rejected, _) = world.run(world.request("notes.jpg")).await;
    assert_eq!(rejected.status, Status::Succeeded);
    let detail = only_event(&world, 1, &rejected);
    assert_eq!(detail["status"], "REJECTED");
    assert_eq!(detail["verdict"], "UNKNOWN");
    assert_eq!(detail["safe"], false);
    assert_eq!(detail["themes"], json!([]));
    assert_eq!(detail["error"], "ImageRejected.UnsupportedFormat");
    assert_eq!(detail["key"], "notes.jpg");

    let failing = self::world(Answer::Fails);
    failing.file("x.jpg", spotlight_fixtures::jpeg(100, 100));
    let (failed, _) = failing.run(failing.request("x.jpg")).await;
    assert_eq!(failed.status, Status::Failed);
    assert_eq!(failed.error.as_deref(), Some("AnalyzerFailed"));
    let detail = only_event(&failing, 0, &failed);
    assert_eq!(detail["status"], "FAILED");
    assert_eq!(detail["error"], "AnalyzerFailed");
    assert_eq!(detail["verdict"], "UNKNOWN");

    // An input with no photo in it has no record and no one to tell: no event.
    let (unrecognised, _) = world.run(json!({"photo": "x.jpg"})).await;
    assert_eq!(unrecognised.status, Status::Failed);
    assert_eq!(world.bus.events().len(), 2);
}

/// A bus that refuses every event, as EventBridge refuses an entry.
#[derive(Default)]
struct RefusingBus {
    calls: std::sync::atomic::AtomicUsize,
}

impl EventBus for RefusingBus {
    fn put<'a>(&'a self, _: &'a str, _: &'a Value) -> BoxFuture<'a, Result<(), EntryError>> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async { Err(EntryError::new("InternalFailure", "the bus is down")) })
    }
}

#[tokio::test(start_paused = true)]
async fn an_event_that_cannot_be_put_is_retried_then_marked_undelivered_without_changing_the_outcome(
) {
    for (answer, status, error) in [
        (dog(), Status::Succeeded, None),
        (Answer::Fails, Status::Failed, Some("AnalyzerFailed")),
    ] {
        let refusing = Arc::new(RefusingBus::default());
        let World {
            folder,
            bucket,
            store,
            pipeline,
            ..
        } = world(answer);
        let world = World {
            pipeline: pipeline.event_bus(Arc::clone(&refusing) as Arc<dyn EventBus>),
            folder,
            bucket,
            store,
            labels: Arc::new(FakeDetector::new(dog())),
            bus: Arc::new(MemoryBus::default()),
        };
        world.file("p.jpg", spotlight_fixtures::jpeg(100, 100));
        let (result, entered) = world.run(world.request("p.jpg")).await;
        assert_eq!(result.status, status, "{result:?}");
        assert_eq!(result.error.as_deref(), error);
        assert!(
            entered.contains(&"ResultUndelivered".to_owned()),
            "{entered:?}"
        );
        assert_eq!(
            refusing.calls.load(std::sync::atomic::Ordering::SeqCst),
            3,
            "one put and two retries"
        );
        let output = result.output.unwrap_or_default();
        if status == Status::Succeeded {
            let undelivered = &output["resultEvent"];
            assert_eq!(undelivered["delivered"], false);
            assert_eq!(undelivered["failure"]["Error"], "EventBridge.FailedEntry");
            let cause: Value =
                serde_json::from_str(undelivered["failure"]["Cause"].as_str().unwrap()).unwrap();
            assert_eq!(cause["FailedEntryCount"], 1);
            assert_eq!(cause["Entries"][0]["ErrorCode"], "InternalFailure");
            assert_eq!(output["record"]["record"]["status"], "ANALYZED");
        }
        let record = world
            .store
            .get(&world.bucket, "p.jpg")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            record.status,
            if status == Status::Succeeded {
                RecordStatus::Analyzed
            } else {
                RecordStatus::Failed
            }
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_reprocess_runs_only_the_analysers_asked_for_and_keeps_the_others() {
    let world = world(dog());
    world.file("shore.jpg", spotlight_fixtures::jpeg(640, 480));
    let (first, _) = world.run(world.request("shore.jpg")).await;
    assert_eq!(first.status, Status::Succeeded, "{first:?}");
    let before = world
        .store
        .get(&world.bucket, "shore.jpg")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(world.labels.calls(), 1);

    let mut input = world.request("shore.jpg");
    input["reprocess"] = json!({"analysers": ["text"]});
    let (result, entered) = world.run(input).await;
    assert_eq!(result.status, Status::Succeeded, "{result:?}");
    for state in [
        "PlanReprocess",
        "KeepLabels",
        "KeepModeration",
        "DetectText",
    ] {
        assert!(entered.iter().any(|s| s == state), "{state}: {entered:?}");
    }
    for state in ["DetectLabels", "DetectModeration"] {
        assert!(!entered.iter().any(|s| s == state), "{state}: {entered:?}");
    }
    assert_eq!(world.labels.calls(), 1, "labels were kept, not run");
    let output = result.output.unwrap();
    assert_eq!(
        output["plan"],
        json!({"labels": false, "moderation": false, "text": true})
    );
    assert_eq!(output["record"]["record"]["write"], "WRITTEN");
    let after = world
        .store
        .get(&world.bucket, "shore.jpg")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.labels, before.labels);
    assert_eq!(after.models, before.models);
    assert_eq!(
        after.moderation.as_ref().map(|m| &m.labels),
        before.moderation.as_ref().map(|m| &m.labels)
    );
    assert!(
        after.revision.starts_with(&format!("{}.", before.revision)),
        "the same upload, reprocessed: {} after {}",
        after.revision,
        before.revision
    );

    // No record to keep anything from: the plan runs every analyser.
    world.file("new.jpg", spotlight_fixtures::jpeg(640, 480));
    let mut input = world.request("new.jpg");
    input["reprocess"] = json!({"analysers": ["text"]});
    let (result, entered) = world.run(input).await;
    assert_eq!(result.status, Status::Succeeded, "{result:?}");
    assert!(entered.iter().any(|s| s == "DetectLabels"), "{entered:?}");
    assert_eq!(world.labels.calls(), 2);
    assert_eq!(
        result.output.unwrap()["plan"],
        json!({"labels": true, "moderation": true, "text": true})
    );
}
