//! The contracts: every step's input and output, the pipeline input, the stored record, and the
//! bodies of the query APIs (`api.*.schema.json`: the search function and the console).
//!
//! `contracts/*.schema.json` at the repository root are generated from these types (see
//! [`schemas`]); `cargo test -p spotlight-core --test contracts` fails, naming the file, when they
//! drift, and `SPOTLIGHT_UPDATE_CONTRACTS=1` with the same command rewrites them.

mod analysis;
mod api;
mod events;
mod image;
mod input;
mod record;
mod reevaluate;
mod takedown;

pub use analysis::{
    AnalyzeInput, BoundingBox, Label, LabelInstance, LabelsResult, ModelInfo, ModerationLabel,
    ModerationResult, TextLine, TextResult, TextWord, Trimmed,
};
pub use api::{
    ApiError, ExecutionEvent, ExecutionHistory, ExecutionList, ExecutionStatus, ExecutionSummary,
    MatchedLabel, MatchedWord, RecordHit, RecordPage, UnknownExecutionStatus, WordSource,
};
pub use events::{
    ResultEvent, ResultEventDetail, ResultEventExecution, RESULT_EVENT_DETAIL_TYPE,
    RESULT_EVENT_SOURCE,
};
pub use image::{ImageFacts, ImageFormat};
pub use input::Reprocess;
pub use input::{
    KeyEncoding, ObjectRequest, PipelineInput, S3Bucket, S3Notification, S3NotificationEntity,
    S3NotificationObject, S3NotificationRecord, S3Object, S3ObjectCreatedDetail,
    S3ObjectCreatedEvent,
};
pub use record::{
    Analyser, AnalyserModel, CaughtError, CaughtState, ExecutionRef, FlaggedLabel, ImageRecord,
    ModerationSummary, RecordError, RecordInput, RecordOutput, RecordStatus, Review,
    ReviewDecision, TextSummary, TrimNote, Validation, Verdict, WriteOutcome,
};
pub use record::{AnalysisOf, AnalysisPlan, KeptResult, PlanInput};
pub use reevaluate::{ReevaluateInput, ReevaluateOutput, ReevaluatePage, Tally};

pub use takedown::{
    S3DeletedObject, S3ObjectDeletedDetail, S3ObjectDeletedEvent, TakedownAction, TakedownOutput,
};

use crate::error::LambdaError;

/// One contract file: its name under `contracts/` and its JSON Schema.
pub struct ContractSchema {
    /// File name, e.g. `validate.output.schema.json`.
    pub file: &'static str,
    /// The schema, pretty-printed with a trailing newline.
    pub json: String,
}

fn schema_of<T: schemars::JsonSchema>(file: &'static str) -> ContractSchema {
    let schema = schemars::schema_for!(T);
    let mut json = serde_json::to_string_pretty(&schema).unwrap_or_default();
    json.push('\n');
    ContractSchema { file, json }
}

/// Every contract, in a fixed order. The state machine's functions map onto them by name:
/// `<step>.input.schema.json` and `<step>.output.schema.json`.
pub fn schemas() -> Vec<ContractSchema> {
    vec![
        schema_of::<PipelineInput>("pipeline.input.schema.json"),
        schema_of::<ObjectRequest>("validate.input.schema.json"),
        schema_of::<ImageFacts>("validate.output.schema.json"),
        schema_of::<AnalyzeInput>("detect-labels.input.schema.json"),
        schema_of::<LabelsResult>("detect-labels.output.schema.json"),
        schema_of::<AnalyzeInput>("detect-moderation.input.schema.json"),
        schema_of::<ModerationResult>("detect-moderation.output.schema.json"),
        schema_of::<AnalyzeInput>("detect-text.input.schema.json"),
        schema_of::<TextResult>("detect-text.output.schema.json"),
        schema_of::<RecordInput>("record.input.schema.json"),
        schema_of::<RecordOutput>("record.output.schema.json"),
        schema_of::<PlanInput>("record-plan.input.schema.json"),
        schema_of::<AnalysisPlan>("record-plan.output.schema.json"),
        schema_of::<ReevaluateInput>("reevaluate.input.schema.json"),
        schema_of::<ReevaluateOutput>("reevaluate.output.schema.json"),
        schema_of::<ImageRecord>("image-record.schema.json"),
        schema_of::<LambdaError>("lambda-error.schema.json"),
        schema_of::<RecordPage>("api.records.schema.json"),
        schema_of::<ExecutionList>("api.executions.schema.json"),
        schema_of::<ExecutionHistory>("api.execution-history.schema.json"),
        schema_of::<crate::themes::Themes>("api.themes.schema.json"),
        schema_of::<ApiError>("api.error.schema.json"),
        schema_of::<ResultEventDetail>("result-event.detail.schema.json"),
        schema_of::<ResultEvent>("result-event.schema.json"),
        schema_of::<S3ObjectDeletedEvent>("takedown.input.schema.json"),
        schema_of::<TakedownOutput>("takedown.output.schema.json"),
    ]
}
