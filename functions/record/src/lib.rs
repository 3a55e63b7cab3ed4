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
    let mut record = build_record(input, config, now);
    // A request without a sequencer (a re-run) names an object, not an upload: placed against
    // the stored record, it may repair or re-analyse the upload that record describes.
    if !revision::is_sequenced(&record.revision) {
        if let Some(stored) = store.get(&record.bucket, &record.key).await? {
            if let Some(rerun) = revision::rerun(&stored, &record) {
                if let Some(image) = &mut record.image {
                    image.revision.clone_from(&rerun);
                }
                record.revision = rerun;
            }
        }
    }
    let write = store.put(&record).await?;
    let verdict = record
        .moderation
        .as_ref()
        .map_or(Verdict::Unknown, |moderation| moderation.verdict);
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
        } => {
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
    }
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
