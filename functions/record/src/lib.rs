//! The record step: turns how an execution ended into the one record per image and writes it.
//!
//! - ANALYZED: merges the three analysers' results, applies the moderation policy (fail closed)
//!   and notes the themes the labels match.
//! - REJECTED and FAILED: the state machine's `Catch` paths; the record says which error and why.
//!
//! Writes go through [`RecordStore::put`], which is idempotent and newest-wins: a re-delivered
//! or retried execution writes nothing twice and an older upload never replaces a newer one. A
//! re-run's revision is first resolved against the stored record ([`revision::rerun`]).
#![warn(missing_docs)]

use chrono::{DateTime, Utc};
use spotlight_core::contracts::{
    Analyser, AnalyserModel, CaughtError, CaughtState, ExecutionRef, ImageRecord, ModerationResult,
    RecordError, RecordInput, RecordOutput, RecordStatus, TextSummary, TrimNote, Verdict,
};
use spotlight_core::contracts::{AnalysisOf, AnalysisPlan, LabelsResult, PlanInput, TextResult};
use spotlight_core::policy::ModerationPolicy;
use spotlight_core::ports::RecordStore;
use spotlight_core::revision::{self, revision};
use spotlight_core::themes::Themes;
use spotlight_core::{record_id, LambdaError, StepError};

/// What the record step applies: the moderation policy and the themes.
#[derive(Debug, Clone)]
pub struct RecordConfig {
    /// Which moderation labels make an image unsafe.
    pub policy: ModerationPolicy,
    /// Theme name → labels.
    pub themes: Themes,
}

impl Default for RecordConfig {
    fn default() -> Self {
        RecordConfig {
            policy: ModerationPolicy::shipped(),
            themes: Themes::shipped(),
        }
    }
}

/// A setting the record step cannot use.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The policy JSON is invalid.
    #[error(transparent)]
    Policy(#[from] spotlight_core::policy::PolicyError),
    /// The default threshold is not a percentage.
    #[error("MODERATION_DEFAULT_MIN_CONFIDENCE must be a percentage, not {0:?}")]
    DefaultThreshold(String),
}

impl RecordConfig {
    /// The configuration from deployment settings: a policy as JSON (empty or absent: the
    /// shipped one) and a default threshold that overrides the policy's. An override changes
    /// the policy's version too, so every record says exactly which thresholds judged it.
    pub fn from_settings(
        policy_json: Option<&str>,
        default_min_confidence: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let mut policy = match policy_json.map(str::trim).filter(|s| !s.is_empty()) {
            Some(json) => ModerationPolicy::from_json(json)?,
            None => ModerationPolicy::shipped(),
        };
        if let Some(text) = default_min_confidence
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let value: f32 = text
                .parse()
                .ok()
                .filter(|v: &f32| (0.0..=100.0).contains(v))
                .ok_or_else(|| ConfigError::DefaultThreshold(text.to_owned()))?;
            if value != policy.default_min_confidence {
                policy.default_min_confidence = value;
                policy.version = format!("{};default={value}", policy.version);
            }
        }
        Ok(RecordConfig {
            policy,
            themes: Themes::shipped(),
        })
    }
}

/// Builds the record for how the execution ended and writes it.
pub async fn handle<S: RecordStore>(
    input: RecordInput,
    store: &S,
    config: &RecordConfig,
    now: DateTime<Utc>,
) -> Result<RecordOutput, StepError> {
    let reprocess = matches!(
        &input,
        RecordInput::Analyzed { request: Some(request), .. } if request.reprocess.is_some()
    );
    let stored = if reprocess {
        store
            .get(&input_bucket_key(&input).0, &input_bucket_key(&input).1)
            .await?
    } else {
        None
    };
    let input = merge_kept(input, stored.as_ref())?;
    let mut record = build_record(input, config, now);
    // A reprocess of the upload the stored record describes takes that upload's place, even
    // where uploads are ordered by time (locally), where a re-run's write would be a duplicate.
    if let Some(placed) = stored
        .as_ref()
        .and_then(|stored| revision::reprocessed(stored, &record))
        .filter(|_| !revision::is_sequenced(&record.revision))
    {
        if let Some(image) = &mut record.image {
            image.revision.clone_from(&placed);
        }
        record.revision = placed;
    }
    // The store carries a review over on its own; done here too so the output says what
    // counts now (an approved photo re-analysed stays approved).
    if let Some(stored) = &stored {
        spotlight_core::review::carry(stored, &mut record);
    }
    // A request without a sequencer (a re-run) names an object, not an upload: placed against
    // the stored record, it may repair or re-analyse the upload that record describes.
    if !revision::is_sequenced(&record.revision) && !reprocess {
        if let Some(stored) = store.get(&record.bucket, &record.key).await? {
            if let Some(rerun) = revision::rerun(&stored, &record) {
                if let Some(image) = &mut record.image {
                    image.revision.clone_from(&rerun);
                }
                record.revision = rerun;
            }
            spotlight_core::review::carry(&stored, &mut record);
        }
    }
    let write = store.put(&record).await?;
    let verdict = record.verdict();
    Ok(RecordOutput {
        id: record.id,
        bucket: record.bucket,
        key: record.key,
        status: record.status,
        safe: record.safe,
        verdict,
        themes: record.themes,
        error: record.error.map(|error| error.error),
        write,
    })
}

/// The record an execution's outcome makes, without writing it.
pub fn build_record(input: RecordInput, config: &RecordConfig, now: DateTime<Utc>) -> ImageRecord {
    match input {
        RecordInput::Analyzed {
            image,
            labels,
            moderation,
            text,
            execution,
            request,
        } => {
            let (AnalysisOf::Ran(labels), AnalysisOf::Ran(moderation), AnalysisOf::Ran(text)) =
                (labels, moderation, text)
            else {
                // `handle` merges kept results first; a caller that did not gets a failure, not
                // a record missing an analysis.
                let mut request = request.map(|r| *r).unwrap_or_else(|| {
                    spotlight_core::contracts::ObjectRequest::new(&image.bucket, &image.key)
                });
                request.reprocess = None;
                let state = CaughtState {
                    request,
                    validation: Some(spotlight_core::contracts::Validation { image }),
                    error: CaughtError {
                        error: "StoreFailed".to_owned(),
                        cause: "a kept analysis result was never merged".to_owned(),
                    },
                };
                return failure_record(RecordStatus::Failed, state, execution, now);
            };
            let ModerationResult {
                labels: moderation_labels,
                model: moderation_model,
            } = moderation;
            let moderation = config.policy.evaluate(Some(&moderation_labels));
            let themes = config.themes.matching(&labels.labels);
            let full_text = text
                .lines
                .iter()
                .map(|line| line.text.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            let trimmed = [
                (Analyser::Labels, labels.trimmed),
                (Analyser::Text, text.trimmed),
            ]
            .into_iter()
            .filter_map(|(analyser, trimmed)| trimmed.map(|trimmed| TrimNote { analyser, trimmed }))
            .collect();
            let models = vec![
                AnalyserModel {
                    analyser: Analyser::Labels,
                    model: labels.model,
                },
                AnalyserModel {
                    analyser: Analyser::Moderation,
                    model: moderation_model,
                },
                AnalyserModel {
                    analyser: Analyser::Text,
                    model: text.model,
                },
            ];
            ImageRecord {
                id: record_id(&image.bucket, &image.key),
                bucket: image.bucket.clone(),
                key: image.key.clone(),
                status: RecordStatus::Analyzed,
                revision: image.revision.clone(),
                uploaded_at: image.uploaded_at.unwrap_or(execution.start_time),
                safe: moderation.verdict == Verdict::Safe,
                labels: labels.labels,
                moderation: Some(moderation),
                text: Some(TextSummary {
                    lines: text.lines,
                    full_text,
                }),
                themes,
                trimmed,
                models,
                error: None,
                image: Some(image),
                execution,
                analysed_at: now,
                review: None,
                review_history: Vec::new(),
            }
        }
        RecordInput::Rejected { state, execution } => {
            failure_record(RecordStatus::Rejected, state, execution, now)
        }
        RecordInput::Failed { state, execution } => {
            failure_record(RecordStatus::Failed, state, execution, now)
        }
    }
}

fn failure_record(
    status: RecordStatus,
    state: CaughtState,
    execution: ExecutionRef,
    now: DateTime<Utc>,
) -> ImageRecord {
    let CaughtState {
        request,
        validation,
        error,
    } = state;
    let image = validation.map(|v| v.image);
    let uploaded_at = image
        .as_ref()
        .and_then(|i| i.uploaded_at)
        .or(request.event_time);
    let revision = image.as_ref().map_or_else(
        || revision(request.sequencer.as_deref(), request.event_time),
        |i| i.revision.clone(),
    );
    let key = request.object_key();
    ImageRecord {
        id: record_id(&request.bucket, &key),
        bucket: request.bucket,
        key,
        status,
        revision,
        uploaded_at: uploaded_at.unwrap_or(execution.start_time),
        image,
        labels: Vec::new(),
        moderation: None,
        safe: false,
        text: None,
        themes: Vec::new(),
        trimmed: Vec::new(),
        models: Vec::new(),
        error: Some(record_error(&error)),
        execution,
        analysed_at: now,
        review: None,
        review_history: Vec::new(),
    }
}

/// What the record function is asked: a record to write (the `Record…` states), or which
/// analysers a reprocess execution runs (`PlanReprocess`). A record input always names its
/// `outcome`; a plan input never does.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(untagged)]
pub enum RecordRequest {
    /// `Record`, `RecordRejected`, `RecordFailed`.
    Record(Box<RecordInput>),
    /// `PlanReprocess`.
    Plan(PlanInput),
}

/// What the record function answers: [`RecordRequest`]'s two tasks' outputs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum RecordReply {
    /// The record written.
    Record(RecordOutput),
    /// The analysers to run.
    Plan(AnalysisPlan),
}

/// Does what the record function is asked ([`handle`] or [`plan`]).
pub async fn handle_request<S: RecordStore>(
    request: RecordRequest,
    store: &S,
    config: &RecordConfig,
    now: DateTime<Utc>,
) -> Result<RecordReply, StepError> {
    Ok(match request {
        RecordRequest::Record(input) => {
            RecordReply::Record(handle(*input, store, config, now).await?)
        }
        RecordRequest::Plan(input) => RecordReply::Plan(plan(&input, store).await?),
    })
}

fn input_bucket_key(input: &RecordInput) -> (String, String) {
    match input {
        RecordInput::Analyzed { image, .. } => (image.bucket.clone(), image.key.clone()),
        RecordInput::Rejected { state, .. } | RecordInput::Failed { state, .. } => {
            (state.request.bucket.clone(), state.request.object_key())
        }
    }
}

/// Whether `stored` holds `analyser`'s result for the very upload `image` is: only then can a
/// reprocess keep it.
fn can_keep(
    stored: Option<&ImageRecord>,
    image: &spotlight_core::contracts::ImageFacts,
    analyser: Analyser,
) -> bool {
    let Some(stored) = stored else {
        return false;
    };
    let probe = ImageRecord {
        image: Some(image.clone()),
        ..stored.clone()
    };
    stored.status == RecordStatus::Analyzed
        && stored.model(analyser).is_some()
        && revision::same_upload(stored, &probe)
        && match analyser {
            Analyser::Labels => true,
            Analyser::Moderation => stored.moderation.is_some(),
            Analyser::Text => stored.text.is_some(),
        }
}

/// Which analysers a reprocess execution runs: those asked for, and every one whose stored
/// result cannot be kept (no record, a record of another upload, or none of its result), so
/// that the record step always has all three.
pub async fn plan<S: RecordStore>(input: &PlanInput, store: &S) -> Result<AnalysisPlan, StepError> {
    let stored = store.get(&input.image.bucket, &input.image.key).await?;
    let runs = |analyser| {
        input.reprocess.analysers.contains(&analyser)
            || !can_keep(stored.as_ref(), &input.image, analyser)
    };
    Ok(AnalysisPlan {
        labels: runs(Analyser::Labels),
        moderation: runs(Analyser::Moderation),
        text: runs(Analyser::Text),
    })
}

/// Replaces each kept analysis (`{"kept": true}`) with the stored record's result for it. The
/// plan allowed keeping it only for the same upload; if the record changed since (a newer
/// upload's analysis, a delete), the step fails (`StoreFailed`, retried once), and a failed
/// reprocess never replaces a result.
fn merge_kept(input: RecordInput, stored: Option<&ImageRecord>) -> Result<RecordInput, StepError> {
    let RecordInput::Analyzed {
        image,
        labels,
        moderation,
        text,
        execution,
        request,
    } = input
    else {
        return Ok(input);
    };
    let unavailable = |analyser: Analyser| StepError::StoreFailed {
        message: format!(
            "the stored {analyser:?} result of {}/{} cannot be kept: the record is gone or now \
             describes another upload; run the photo again in full",
            image.bucket, image.key
        ),
        source: None,
    };
    let kept = |analyser: Analyser| -> Result<&ImageRecord, StepError> {
        stored
            .filter(|stored| can_keep(Some(stored), &image, analyser))
            .ok_or_else(|| unavailable(analyser))
    };
    let trimmed = |stored: &ImageRecord, analyser: Analyser| {
        stored
            .trimmed
            .iter()
            .find(|note| note.analyser == analyser)
            .map(|note| note.trimmed.clone())
    };
    let model = |stored: &ImageRecord, analyser: Analyser| {
        stored
            .model(analyser)
            .cloned()
            .ok_or_else(|| unavailable(analyser))
    };
    let labels = match labels {
        AnalysisOf::Kept(_) => {
            let stored = kept(Analyser::Labels)?;
            AnalysisOf::Ran(LabelsResult {
                labels: stored.labels.clone(),
                model: model(stored, Analyser::Labels)?,
                trimmed: trimmed(stored, Analyser::Labels),
            })
        }
        ran => ran,
    };
    let moderation = match moderation {
        AnalysisOf::Kept(_) => {
            let stored = kept(Analyser::Moderation)?;
            AnalysisOf::Ran(ModerationResult {
                labels: stored
                    .moderation
                    .as_ref()
                    .map(|m| m.labels.clone())
                    .unwrap_or_default(),
                model: model(stored, Analyser::Moderation)?,
            })
        }
        ran => ran,
    };
    let text = match text {
        AnalysisOf::Kept(_) => {
            let stored = kept(Analyser::Text)?;
            AnalysisOf::Ran(TextResult {
                lines: stored
                    .text
                    .as_ref()
                    .map(|t| t.lines.clone())
                    .unwrap_or_default(),
                model: model(stored, Analyser::Text)?,
                trimmed: trimmed(stored, Analyser::Text),
            })
        }
        ran => ran,
    };
    Ok(RecordInput::Analyzed {
        image,
        labels,
        moderation,
        text,
        execution,
        request,
    })
}

/// The error as a record keeps it. A Lambda error's cause is its `{"errorType","errorMessage"}`
/// serialised: the message is what an operator wants to read.
fn record_error(caught: &CaughtError) -> RecordError {
    let cause = serde_json::from_str::<LambdaError>(&caught.cause)
        .map(|lambda| lambda.error_message)
        .unwrap_or_else(|_| caught.cause.clone());
    RecordError {
        error: caught.error.clone(),
        cause,
    }
}
