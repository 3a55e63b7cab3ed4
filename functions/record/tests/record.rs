//! The record step against the in-memory store: merging, the policy, and idempotent,
//! newest-wins writes.

use chrono::{DateTime, Utc};
use spotlight_core::contracts::{
    Analyser, AnalysisOf, AnalysisPlan, KeptResult, PlanInput, Reprocess,
};
use spotlight_core::contracts::{
    BoundingBox, CaughtError, CaughtState, ExecutionRef, LabelsResult, ModelInfo, ModerationLabel,
    ModerationResult, ObjectRequest, RecordInput, RecordStatus, TextLine, TextResult, Trimmed,
    Validation, Verdict, WriteOutcome,
};
use spotlight_core::fakes::{image_facts, label, MemoryRecords};
use spotlight_core::policy::ModerationPolicy;
use spotlight_core::ports::RecordStore;
use spotlight_core::revision::revision;
use spotlight_core::ErrorName;
use spotlight_record::{handle, RecordConfig};

const BUCKET: &str = "uploads";

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
}

fn execution(id: &str) -> ExecutionRef {
    ExecutionRef {
        id: format!("arn:aws:states:eu-west-1:123456789012:execution:pipeline:{id}"),
        start_time: at(5),
    }
}

fn model(name: &str) -> ModelInfo {
    ModelInfo {
        name: name.to_owned(),
        version: "1".to_owned(),
    }
}

fn moderation_label(name: &str, confidence: f32) -> ModerationLabel {
    ModerationLabel {
        name: name.to_owned(),
        parent_name: None,
        confidence,
        taxonomy_level: 1,
    }
}

fn analyzed(key: &str, sequencer: &str, execution_id: &str) -> RecordInput {
    let mut image = image_facts(BUCKET, key);
    image.revision = revision(Some(sequencer), image.uploaded_at);
    RecordInput::Analyzed {
        image,
        labels: AnalysisOf::Ran(LabelsResult {
            labels: vec![
                label("Sea", 97.0, &["Water", "Nature"]),
                label("Dog", 88.0, &["Canine", "Mammal", "Animal"]),
            ],
            model: model("labels-model"),
            trimmed: Some(Trimmed {
                total: 70,
                kept: 50,
                bound: "top 50 labels".to_owned(),
            }),
        }),
        moderation: AnalysisOf::Ran(ModerationResult {
            labels: vec![moderation_label("Swimwear or Underwear", 30.0)],
            model: model("moderation-model"),
        }),
        text: AnalysisOf::Ran(TextResult {
            lines: vec![
                TextLine {
                    text: "SURF SHOP".to_owned(),
                    confidence: 95.0,
                    bounding_box: BoundingBox {
                        left: 0.1,
                        top: 0.1,
                        width: 0.5,
                        height: 0.1,
                    },
                    words: Vec::new(),
                },
                TextLine {
                    text: "open daily".to_owned(),
                    confidence: 91.0,
                    bounding_box: BoundingBox {
                        left: 0.1,
                        top: 0.3,
                        width: 0.5,
                        height: 0.1,
                    },
                    words: Vec::new(),
                },
            ],
            model: model("text-model"),
            trimmed: None,
        }),
        execution: execution(execution_id),
        request: None,
    }
}

fn caught(key: &str, error: &str, cause: &str) -> CaughtState {
    let mut request = ObjectRequest::new(BUCKET, key);
    request.sequencer = Some("0A".to_owned());
    CaughtState {
        request,
        validation: None,
        error: CaughtError {
            error: error.to_owned(),
            cause: cause.to_owned(),
        },
    }
}

async fn record(
    input: RecordInput,
    store: &MemoryRecords,
) -> spotlight_core::contracts::RecordOutput {
    handle(input, store, &RecordConfig::default(), at(60))
        .await
        .unwrap()
}

#[tokio::test]
async fn an_analysed_image_gets_one_merged_record() {
    let store = MemoryRecords::new();
    let output = record(analyzed("beach.jpg", "10", "e1"), &store).await;
    assert_eq!(output.status, RecordStatus::Analyzed);
    assert_eq!(output.write, WriteOutcome::Written);
    assert!(output.safe, "30% swimwear is under the shipped threshold");

    let stored = store.get(BUCKET, "beach.jpg").await.unwrap().unwrap();
    assert_eq!(stored.id, output.id);
    assert_eq!(stored.labels.len(), 2);
    assert_eq!(stored.themes, ["animals", "nature", "ocean"]);
    let text = stored.text.as_ref().unwrap();
    assert_eq!(text.full_text, "SURF SHOP\nopen daily");
    let moderation = stored.moderation.as_ref().unwrap();
    assert_eq!(moderation.verdict, Verdict::Safe);
    assert_eq!(
        moderation.policy_version,
        ModerationPolicy::shipped().version
    );
    assert_eq!(
        moderation.labels.len(),
        1,
        "raw labels are kept for re-evaluation"
    );
    assert_eq!(stored.trimmed.len(), 1);
    assert_eq!(stored.trimmed[0].trimmed.total, 70);
    let models: Vec<&str> = stored
        .models
        .iter()
        .map(|m| m.model.name.as_str())
        .collect();
    assert_eq!(models, ["labels-model", "moderation-model", "text-model"]);
    assert!(stored.execution.id.ends_with(":e1"));
    assert_eq!(stored.analysed_at, at(60));
    assert!(stored.error.is_none());
}

#[tokio::test]
async fn a_label_over_its_threshold_makes_the_image_unsafe() {
    let store = MemoryRecords::new();
    let mut input = analyzed("party.jpg", "10", "e1");
    if let RecordInput::Analyzed {
        moderation: AnalysisOf::Ran(moderation),
        ..
    } = &mut input
    {
        moderation.labels.push(moderation_label("Alcohol", 95.0));
    }
    let output = record(input, &store).await;
    assert!(!output.safe);
    let stored = store.get(BUCKET, "party.jpg").await.unwrap().unwrap();
    let moderation = stored.moderation.unwrap();
    assert_eq!(moderation.verdict, Verdict::Unsafe);
    assert_eq!(moderation.flagged.len(), 1);
    assert_eq!(moderation.flagged[0].name, "Alcohol");
}

#[tokio::test]
async fn a_level_three_label_is_judged_by_its_top_level_category() {
    // Issue 17: a level-3 label whose parent has no threshold fell to the default, so a
    // deployment that raised the default let a Violence label through below Violence's 50.
    let store = MemoryRecords::new();
    let config = RecordConfig::from_settings(None, Some("95")).unwrap();
    let mut input = analyzed("fight.jpg", "10", "e1");
    if let RecordInput::Analyzed {
        moderation: AnalysisOf::Ran(moderation),
        ..
    } = &mut input
    {
        moderation.labels = vec![ModerationLabel {
            name: "Blood & Gore".to_owned(),
            parent_name: Some("Graphic Violence".to_owned()),
            confidence: 60.0,
            taxonomy_level: 3,
        }];
    }
    let output = handle(input, &store, &config, at(10)).await.unwrap();
    assert!(!output.safe);
    let stored = store.get(BUCKET, "fight.jpg").await.unwrap().unwrap();
    let moderation = stored.moderation.unwrap();
    assert_eq!(moderation.flagged.len(), 1);
    assert_eq!(
        moderation.flagged[0].threshold, 50.0,
        "Violence's threshold"
    );
    // Re-evaluating the stored raw labels walks the same way.
    let again = config.policy.evaluate(Some(&moderation.labels));
    assert_eq!(again.verdict, Verdict::Unsafe);
}

#[tokio::test]
async fn a_redelivered_execution_writes_nothing_twice() {
    let store = MemoryRecords::new();
    record(analyzed("a.jpg", "10", "e1"), &store).await;
    let again = record(analyzed("a.jpg", "10", "e1"), &store).await;
    assert_eq!(again.write, WriteOutcome::Duplicate);
    let retried = record(analyzed("a.jpg", "10", "e2"), &store).await;
    assert_eq!(
        retried.write,
        WriteOutcome::Duplicate,
        "same upload, new execution"
    );
    assert_eq!(store.writes(), 1);
    let stored = store.get(BUCKET, "a.jpg").await.unwrap().unwrap();
    assert!(stored.execution.id.ends_with(":e1"));
}

#[tokio::test]
async fn an_older_upload_never_replaces_a_newer_one() {
    let store = MemoryRecords::new();
    let newer = record(analyzed("a.jpg", "0062E99A88DC407461", "newer"), &store).await;
    assert_eq!(newer.write, WriteOutcome::Written);
    let older = record(analyzed("a.jpg", "0062E99A88DC407460", "older"), &store).await;
    assert_eq!(older.write, WriteOutcome::Stale);
    let stored = store.get(BUCKET, "a.jpg").await.unwrap().unwrap();
    assert!(stored.execution.id.ends_with(":newer"));

    let newest = record(analyzed("a.jpg", "0062E99A88DC407462", "newest"), &store).await;
    assert_eq!(newest.write, WriteOutcome::Written);
    assert_eq!(store.writes(), 2);
}

#[tokio::test]
async fn a_rejection_is_recorded_with_its_name_and_message() {
    let store = MemoryRecords::new();
    let cause = r#"{"errorType":"ImageRejected.TooSmall","errorMessage":"the image is 1×1 px; sides must be at least 80 px"}"#;
    let output = record(
        RecordInput::Rejected {
            state: caught("tiny.png", ErrorName::TooSmall.as_str(), cause),
            execution: execution("e1"),
        },
        &store,
    )
    .await;
    assert_eq!(output.status, RecordStatus::Rejected);
    assert!(!output.safe);
    let stored = store.get(BUCKET, "tiny.png").await.unwrap().unwrap();
    let error = stored.error.unwrap();
    assert_eq!(error.error, "ImageRejected.TooSmall");
    assert_eq!(
        error.cause,
        "the image is 1×1 px; sides must be at least 80 px"
    );
    assert!(stored.moderation.is_none());
    assert_eq!(stored.revision, revision(Some("0A"), None));
}

#[tokio::test]
async fn a_failure_keeps_a_cause_that_is_not_a_lambda_error() {
    let store = MemoryRecords::new();
    let mut state = caught(
        "slow.jpg",
        "States.Timeout",
        "Task timed out after 30 seconds",
    );
    state.validation = Some(Validation {
        image: image_facts(BUCKET, "slow.jpg"),
    });
    let output = record(
        RecordInput::Failed {
            state,
            execution: execution("e1"),
        },
        &store,
    )
    .await;
    assert_eq!(output.status, RecordStatus::Failed);
    let stored = store.get(BUCKET, "slow.jpg").await.unwrap().unwrap();
    assert_eq!(
        stored.error.as_ref().unwrap().cause,
        "Task timed out after 30 seconds"
    );
    assert!(stored.image.is_some(), "facts from validation are kept");
}

#[tokio::test]
async fn a_failed_record_is_replaced_by_a_later_attempt_at_the_same_upload() {
    let store = MemoryRecords::new();
    let mut state = caught("flaky.jpg", "AnalyzerFailed", "boom");
    let mut image = image_facts(BUCKET, "flaky.jpg");
    image.revision = revision(Some("10"), image.uploaded_at);
    state.validation = Some(Validation { image });
    record(
        RecordInput::Failed {
            state,
            execution: execution("first"),
        },
        &store,
    )
    .await;
    let retry = record(analyzed("flaky.jpg", "10", "second"), &store).await;
    assert_eq!(retry.write, WriteOutcome::Written);
    let stored = store.get(BUCKET, "flaky.jpg").await.unwrap().unwrap();
    assert_eq!(stored.status, RecordStatus::Analyzed);

    // …but a failure never replaces a result of the same upload.
    let late_failure = record(
        RecordInput::Failed {
            state: caught("flaky.jpg", "AnalyzerFailed", "boom"),
            execution: execution("third"),
        },
        &store,
    )
    .await;
    assert_ne!(late_failure.write, WriteOutcome::Written);
    let stored = store.get(BUCKET, "flaky.jpg").await.unwrap().unwrap();
    assert_eq!(stored.status, RecordStatus::Analyzed);
}

#[tokio::test]
async fn a_store_failure_is_store_failed() {
    let store = MemoryRecords::new();
    store.fail_from_now_on();
    let error = handle(
        analyzed("a.jpg", "10", "e1"),
        &store,
        &RecordConfig::default(),
        at(0),
    )
    .await
    .unwrap_err();
    assert_eq!(error.name(), ErrorName::StoreFailed);
}

#[tokio::test]
async fn records_are_found_by_label_parent_text_and_status() {
    use spotlight_core::ports::SearchQuery;
    let store = MemoryRecords::new();
    record(analyzed("beach.jpg", "10", "e1"), &store).await;
    record(
        RecordInput::Rejected {
            state: caught("bad.jpg", "ImageRejected.Corrupt", "truncated"),
            execution: execution("e2"),
        },
        &store,
    )
    .await;
    let by_parent = SearchQuery {
        labels: vec!["mammal".to_owned()],
        min_confidence: 80.0,
        safe_only: true,
        ..SearchQuery::default()
    };
    assert_eq!(store.search(&by_parent).await.unwrap().records.len(), 1);
    let too_confident = SearchQuery {
        min_confidence: 90.0,
        ..by_parent.clone()
    };
    assert!(store
        .search(&too_confident)
        .await
        .unwrap()
        .records
        .is_empty());
    let by_text = SearchQuery {
        text: Some("SURF".to_owned()),
        ..SearchQuery::default()
    };
    assert_eq!(store.search(&by_text).await.unwrap().records.len(), 1);
    let rejected = SearchQuery {
        status: Some(RecordStatus::Rejected),
        ..SearchQuery::default()
    };
    let page = store.search(&rejected).await.unwrap();
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.records[0].key, "bad.jpg");
}

#[test]
fn deployment_settings_override_the_policy_and_say_so() {
    let config = RecordConfig::from_settings(None, Some("35")).unwrap();
    assert_eq!(config.policy.default_min_confidence, 35.0);
    assert!(
        config.policy.version.ends_with(";default=35"),
        "{}",
        config.policy.version
    );
    let shipped = RecordConfig::from_settings(Some(""), Some("")).unwrap();
    assert_eq!(shipped.policy, ModerationPolicy::shipped());
    let custom = RecordConfig::from_settings(
        Some(r#"{"version":"strict-1","defaultMinConfidence":10}"#),
        None,
    )
    .unwrap();
    assert_eq!(custom.policy.version, "strict-1");
    assert!(RecordConfig::from_settings(None, Some("150")).is_err());
    assert!(RecordConfig::from_settings(Some("{"), None).is_err());
}

/// A reprocess of `key` (no sequencer: validation read the object again) asking for `asked`,
/// the other analysers kept.
fn reprocess(key: &str, asked: &[Analyser], execution_id: &str) -> RecordInput {
    let RecordInput::Analyzed {
        labels,
        moderation,
        text,
        ..
    } = analyzed(key, "10", execution_id)
    else {
        unreachable!("analyzed() builds an analysed input")
    };
    let kept = KeptResult { kept: true };
    let mut request = ObjectRequest::new(BUCKET, key);
    request.reprocess = Some(Reprocess {
        analysers: asked.to_vec(),
    });
    let mut text = text;
    if let AnalysisOf::Ran(text) = &mut text {
        text.lines.truncate(1);
        text.model = model("text-model-2");
    }
    RecordInput::Analyzed {
        image: image_facts(BUCKET, key),
        labels: if asked.contains(&Analyser::Labels) {
            labels
        } else {
            AnalysisOf::Kept(kept)
        },
        moderation: if asked.contains(&Analyser::Moderation) {
            moderation
        } else {
            AnalysisOf::Kept(kept)
        },
        text: if asked.contains(&Analyser::Text) {
            text
        } else {
            AnalysisOf::Kept(kept)
        },
        execution: ExecutionRef {
            id: format!("arn:aws:states:eu-west-1:123456789012:execution:pipeline:{execution_id}"),
            start_time: at(100),
        },
        request: Some(Box::new(request)),
    }
}

fn plan_input(key: &str, asked: &[Analyser]) -> PlanInput {
    PlanInput {
        image: image_facts(BUCKET, key),
        reprocess: Reprocess {
            analysers: asked.to_vec(),
        },
    }
}

#[tokio::test]
async fn a_reprocess_plan_keeps_only_what_the_stored_record_of_this_upload_has() {
    let store = MemoryRecords::new();
    let only_text = [Analyser::Text];
    let everything = AnalysisPlan {
        labels: true,
        moderation: true,
        text: true,
    };
    // No record: every analyser runs.
    let plan = spotlight_record::plan(&plan_input("sea.jpg", &only_text), &store).await;
    assert_eq!(plan.unwrap(), everything);

    record(analyzed("sea.jpg", "10", "e1"), &store).await;
    let plan = spotlight_record::plan(&plan_input("sea.jpg", &only_text), &store).await;
    assert_eq!(
        plan.unwrap(),
        AnalysisPlan {
            labels: false,
            moderation: false,
            text: true,
        }
    );
    // Another upload of the key (another ETag) than the record describes: nothing is kept.
    let mut other = plan_input("sea.jpg", &only_text);
    other.image.etag = Some("\"another\"".to_owned());
    let plan = spotlight_record::plan(&other, &store).await;
    assert_eq!(plan.unwrap(), everything);
    // A FAILED record has no result to keep.
    record(
        RecordInput::Failed {
            state: caught("broken.jpg", "AnalyzerFailed", "the model crashed"),
            execution: execution("e2"),
        },
        &store,
    )
    .await;
    let plan = spotlight_record::plan(&plan_input("broken.jpg", &only_text), &store).await;
    assert_eq!(plan.unwrap(), everything);
}

#[tokio::test]
async fn a_reprocess_merges_the_kept_results_and_replaces_the_record() {
    let store = MemoryRecords::new();
    record(analyzed("sea.jpg", "10", "e1"), &store).await;
    let before = store.get(BUCKET, "sea.jpg").await.unwrap().unwrap();

    let output = record(reprocess("sea.jpg", &[Analyser::Text], "e3"), &store).await;
    assert_eq!(output.write, WriteOutcome::Written);
    let after = store.get(BUCKET, "sea.jpg").await.unwrap().unwrap();
    assert_eq!(after.labels, before.labels);
    assert_eq!(after.themes, before.themes);
    assert_eq!(
        after.moderation.as_ref().map(|m| &m.labels),
        before.moderation.as_ref().map(|m| &m.labels)
    );
    assert_eq!(
        after.trimmed, before.trimmed,
        "the labels' trim note is kept"
    );
    let models: Vec<&str> = after.models.iter().map(|m| m.model.name.as_str()).collect();
    assert_eq!(models, ["labels-model", "moderation-model", "text-model-2"]);
    assert_eq!(after.text.as_ref().unwrap().full_text, "SURF SHOP");
    assert!(after.execution.id.ends_with(":e3"));
    assert!(
        after.revision.starts_with(&format!("{}.", before.revision)),
        "{} takes the place of {}",
        after.revision,
        before.revision
    );

    // The next upload's event still replaces it.
    let next = record(analyzed("sea.jpg", "11", "e4"), &store).await;
    assert_eq!(next.write, WriteOutcome::Written);
}

#[tokio::test]
async fn a_kept_result_that_is_gone_fails_the_step_and_writes_nothing() {
    let store = MemoryRecords::new();
    record(analyzed("sea.jpg", "10", "e1"), &store).await;
    let mut input = reprocess("sea.jpg", &[Analyser::Text], "e3");
    // The object read is another upload than the record describes.
    if let RecordInput::Analyzed { image, .. } = &mut input {
        image.etag = Some("\"another\"".to_owned());
    }
    let error = handle(input, &store, &RecordConfig::default(), at(60))
        .await
        .unwrap_err();
    assert_eq!(error.name(), ErrorName::StoreFailed);
    let stored = store.get(BUCKET, "sea.jpg").await.unwrap().unwrap();
    assert!(stored.execution.id.ends_with(":e1"), "nothing written");
}
