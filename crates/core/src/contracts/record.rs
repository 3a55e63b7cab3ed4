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
    /// All three analysers ran (or, reprocessing, were kept from the stored record).
    Analyzed {
        /// The validated image.
        image: ImageFacts,
        /// From detect-labels.
        labels: AnalysisOf<LabelsResult>,
        /// From detect-moderation.
        moderation: AnalysisOf<ModerationResult>,
        /// From detect-text.
        text: AnalysisOf<TextResult>,
        /// The execution.
        execution: ExecutionRef,
        /// The normalised request (`$.request`): says whether this execution reprocesses.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request: Option<Box<ObjectRequest>>,
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

/// One analyser's part of the record step's input: its result, or, when a reprocess execution
/// skipped it, the mark its `Keep…` state leaves (`{"kept": true}`): the stored result stays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum AnalysisOf<T> {
    /// The analyser ran.
    Ran(T),
    /// The analyser was skipped; its stored result is kept.
    Kept(KeptResult),
}

impl<T> From<T> for AnalysisOf<T> {
    fn from(result: T) -> Self {
        AnalysisOf::Ran(result)
    }
}

/// The mark of a skipped analyser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeptResult {
    /// Always true.
    pub kept: bool,
}

/// The record function's other task (the `PlanReprocess` state, `${RecordPlanFunctionArn}`):
/// before a reprocess execution analyses, which analysers must run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanInput {
    /// The validated image.
    pub image: ImageFacts,
    /// What the execution was asked to run again.
    pub reprocess: super::input::Reprocess,
}

/// Which analysers a reprocess execution runs (`$.plan`): those asked for, and any whose stored
/// result cannot be kept (no record, a record of another upload, or none of its result).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisPlan {
    /// Run detect-labels.
    pub labels: bool,
    /// Run detect-moderation.
    pub moderation: bool,
    /// Run detect-text.
    pub text: bool,
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
    /// The verdict that counts: a reviewer's when this upload was reviewed, else the
    /// model's (`UNKNOWN` when moderation did not run).
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
    /// A label scored between its review and block thresholds: not safe until a reviewer
    /// approves it.
    NeedsReview,
}

impl Verdict {
    /// `SAFE`, `UNSAFE`, `UNKNOWN` or `NEEDS_REVIEW`, as serialised.
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Safe => "SAFE",
            Verdict::Unsafe => "UNSAFE",
            Verdict::Unknown => "UNKNOWN",
            Verdict::NeedsReview => "NEEDS_REVIEW",
        }
    }
}

/// A reviewer's decision on a photo: it overrides the model's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReviewDecision {
    /// Safe to feature, whatever the model said.
    Approved,
    /// Not to be featured, whatever the model said.
    Rejected,
}

impl ReviewDecision {
    /// `APPROVED` or `REJECTED`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReviewDecision::Approved => "APPROVED",
            ReviewDecision::Rejected => "REJECTED",
        }
    }

    /// The verdict the decision stands for.
    pub const fn verdict(self) -> Verdict {
        match self {
            ReviewDecision::Approved => Verdict::Safe,
            ReviewDecision::Rejected => Verdict::Unsafe,
        }
    }
}

/// A person's review of one upload of a photo (see [`crate::review`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    /// Approved or rejected.
    pub decision: ReviewDecision,
    /// Who decided.
    pub reviewer: String,
    /// When.
    pub reviewed_at: DateTime<Utc>,
    /// Why, in the reviewer's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The model's verdict the reviewer saw.
    pub model_verdict: Verdict,
    /// The revision of the record reviewed: which upload the decision was made for.
    pub revision: String,
    /// That upload's ETag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// That upload's version id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Counts the reviews of this record, 1 for the first: part of the token a decision must
    /// quote, so two reviewers cannot silently overwrite each other.
    pub sequence: u32,
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
    /// The labels at or over their review threshold but under their block threshold: why it
    /// needs review.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub review_flagged: Vec<FlaggedLabel>,
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
    /// Whether the image may be featured: a reviewer's decision when there is one (see
    /// `review`), else only when moderation ran and flagged nothing.
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
    /// The review of this upload, which overrides the model's verdict. Kept when the same
    /// upload is analysed again; a new upload of the key moves it to `reviewHistory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<Review>,
    /// Earlier reviews, oldest first: replaced ones and those of earlier uploads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub review_history: Vec<Review>,
}

impl ImageRecord {
    /// What the model said: `UNKNOWN` when moderation did not run.
    pub fn model_verdict(&self) -> Verdict {
        self.moderation
            .as_ref()
            .map_or(Verdict::Unknown, |moderation| moderation.verdict)
    }

    /// The verdict that counts: the reviewer's when there is a review, else the model's.
    pub fn verdict(&self) -> Verdict {
        self.review
            .as_ref()
            .map_or_else(|| self.model_verdict(), |review| review.decision.verdict())
    }

    /// Whether the image may be featured, from its verdict: only an analysed image can be.
    pub fn effective_safe(&self) -> bool {
        self.status == RecordStatus::Analyzed && self.verdict() == Verdict::Safe
    }

    /// The model used by one analyser, if it ran.
    pub fn model(&self, analyser: Analyser) -> Option<&ModelInfo> {
        self.models
            .iter()
            .find(|m| m.analyser == analyser)
            .map(|m| &m.model)
    }
}
