//! The record step's input and output, and the stored image record.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::analysis::{
    Label, LabelsResult, ModelInfo, ModerationLabel, ModerationResult, TextLine, TextResult,
    Trimmed,
};
use super::image::ImageFacts;
use super::input::ObjectRequest;

/// Which execution produced something, so ops can trace a record back to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionRef {
    /// `$$.Execution.Id`: the execution ARN on AWS, the local execution id locally.
    pub id: String,
    /// `$$.Execution.StartTime`.
    pub start_time: DateTime<Utc>,
}

/// An error as a `Catch` hands it on: `{"Error", "Cause"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CaughtError {
    /// The error name, e.g. `ImageRejected.Corrupt` or `States.Timeout`.
    #[serde(rename = "Error")]
    pub error: String,
    /// For a Lambda error, its `{"errorType","errorMessage"}` serialised; otherwise free text.
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

/// The validate step's result where the state machine keeps it (`$.validation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Validation {
    /// The validated image.
    pub image: ImageFacts,
}

/// The execution's data when a `Catch` routed it to a record state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaughtState {
    /// The normalised request.
    pub request: ObjectRequest,
    /// Present when validation had passed before the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<Validation>,
    /// What went wrong.
    pub error: CaughtError,
}

/// The record step's input: one of the three ways an execution ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "outcome", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecordInput {
    /// All three analysers ran.
    Analyzed {
        /// The validated image.
        image: ImageFacts,
        /// From detect-labels.
        labels: LabelsResult,
        /// From detect-moderation.
        moderation: ModerationResult,
        /// From detect-text.
        text: TextResult,
        /// The execution.
        execution: ExecutionRef,
    },
    /// The upload was refused (an `ImageRejected.*` error).
    Rejected {
        /// The execution data with the error.
        state: CaughtState,
        /// The execution.
        execution: ExecutionRef,
    },
    /// Anything else went wrong.
    Failed {
        /// The execution data with the error.
        state: CaughtState,
        /// The execution.
        execution: ExecutionRef,
    },
}

/// A record's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecordStatus {
    /// Validated and analysed.
    Analyzed,
    /// Refused by validation (or by an analyser that could not read it).
    Rejected,
    /// Something failed; error and cause say what.
    Failed,
}

impl RecordStatus {
    /// `ANALYZED`, `REJECTED` or `FAILED`.
    pub const fn as_str(self) -> &'static str {
        match self {
            RecordStatus::Analyzed => "ANALYZED",
            RecordStatus::Rejected => "REJECTED",
            RecordStatus::Failed => "FAILED",
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WriteOutcome {
    /// The record was created or replaced.
    Written,
    /// This execution's record was already there (a retry or a re-delivery): nothing written.
    Duplicate,
    /// A newer upload's record is already there: nothing written.
    Stale,
}

/// The record step's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordOutput {
    /// The record id.
    pub id: String,
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The status written (or that would have been).
    pub status: RecordStatus,
    /// Whether the image may be featured.
    pub safe: bool,
    /// The moderation verdict (`UNKNOWN` when moderation did not run).
    pub verdict: Verdict,
    /// The themes the labels matched.
    pub themes: Vec<String>,
    /// The error name of a REJECTED or FAILED record; null otherwise (always present, so that
    /// the result event can copy it with a path).
    #[schemars(with = "NullableString")]
    pub error: Option<String>,
    /// What the write did.
    pub write: WriteOutcome,
}

/// The schema of an `Option<String>` field that is always serialised: a string or null, and
/// required (schemars makes an `Option` field optional, and a path to it would then count as
/// one that may be missing).
pub(crate) struct NullableString;

impl JsonSchema for NullableString {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "NullableString".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": ["string", "null"] })
    }
}

/// The moderation verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// Moderation ran and found nothing over the thresholds.
    Safe,
    /// Moderation found something over a threshold.
    Unsafe,
    /// Moderation did not run or its result is unusable: never safe.
    Unknown,
}

/// A moderation label that met its threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlaggedLabel {
    /// The label.
    pub name: String,
    /// Its confidence, 0–100.
    pub confidence: f32,
    /// The threshold it met.
    pub threshold: f32,
}

/// Moderation as stored: the raw labels (so a policy change can re-evaluate without re-running
/// the model) and the verdict under the policy in force when it was written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModerationSummary {
    /// Every label the model returned.
    pub labels: Vec<ModerationLabel>,
    /// The verdict.
    pub verdict: Verdict,
    /// The labels that made it unsafe.
    #[serde(default)]
    pub flagged: Vec<FlaggedLabel>,
    /// The version of the policy applied.
    pub policy_version: String,
}

/// Text as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TextSummary {
    /// The lines, in reading order.
    pub lines: Vec<TextLine>,
    /// The lines joined by newlines: what "text contains" searches.
    pub full_text: String,
}

/// Which analyser a note or a model is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Analyser {
    /// detect-labels.
    Labels,
    /// detect-moderation.
    Moderation,
    /// detect-text.
    Text,
}

/// A model an analyser used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalyserModel {
    /// The analyser.
    pub analyser: Analyser,
    /// The model.
    pub model: ModelInfo,
}

/// What a bound cut from one analyser's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrimNote {
    /// The analyser.
    pub analyser: Analyser,
    /// What was cut.
    pub trimmed: Trimmed,
}

/// Why a record is REJECTED or FAILED.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordError {
    /// The error name, e.g. `ImageRejected.TooSmall`.
    pub error: String,
    /// What went wrong, for people (the Lambda `errorMessage` when there is one).
    pub cause: String,
}

/// The one stored record per image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageRecord {
    /// URL-safe id of bucket + key (see [`crate::record_id`]).
    pub id: String,
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// ANALYZED, REJECTED or FAILED.
    pub status: RecordStatus,
    /// Which upload this record describes; only a greater revision replaces it.
    pub revision: String,
    /// When the image was uploaded: what "newest first" sorts by.
    pub uploaded_at: DateTime<Utc>,
    /// The image facts, when validation got that far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageFacts>,
    /// Labels, highest confidence first.
    #[serde(default)]
    pub labels: Vec<Label>,
    /// Moderation, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderation: Option<ModerationSummary>,
    /// Whether the image may be featured: only when moderation ran and flagged nothing.
    pub safe: bool,
    /// Text, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextSummary>,
    /// Themes the labels matched when the record was written (for display; search expands
    /// themes at query time).
    #[serde(default)]
    pub themes: Vec<String>,
    /// What bounds cut from the analysers' results.
    #[serde(default)]
    pub trimmed: Vec<TrimNote>,
    /// The models used.
    #[serde(default)]
    pub models: Vec<AnalyserModel>,
    /// Why the record is REJECTED or FAILED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RecordError>,
    /// The execution that wrote it.
    pub execution: ExecutionRef,
    /// When the record was written.
    pub analysed_at: DateTime<Utc>,
}

impl ImageRecord {
    /// The model used by one analyser, if it ran.
    pub fn model(&self, analyser: Analyser) -> Option<&ModelInfo> {
        self.models
            .iter()
            .find(|m| m.analyser == analyser)
            .map(|m| &m.model)
    }
}
