//! What the three analysers return: the detect-* steps' outputs and their shared input.
//!
//! Step Functions passes at most 256 KiB between states and the `Analyze` state carries all three
//! results at once, so each result is bounded (see [`bounds`](crate::bounds)); what a bound cut off
//! is said in `trimmed`, never silently dropped.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::image::ImageFacts;

/// The input of each detect-* step: the validated image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalyzeInput {
    /// The image as validation described it.
    pub image: ImageFacts,
}

/// Which model produced a result, so a record can say how it was made.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    /// e.g. `rekognition-detect-labels` or `efficientnet-lite0`.
    pub name: String,
    /// e.g. `3.0` or the model file's SHA-256 prefix.
    pub version: String,
}

/// What a bound removed from a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Trimmed {
    /// How many items the analyser found.
    pub total: u32,
    /// How many were kept.
    pub kept: u32,
    /// Which bound cut them, e.g. `top 50 labels` or `64 KiB`.
    pub bound: String,
}

/// A box as fractions of the image's width and height, like Rekognition's `BoundingBox`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BoundingBox {
    /// Left edge, 0–1.
    pub left: f32,
    /// Top edge, 0–1.
    pub top: f32,
    /// Width, 0–1.
    pub width: f32,
    /// Height, 0–1.
    pub height: f32,
}

/// One occurrence of a label in the image, when the model locates objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LabelInstance {
    /// Where.
    pub bounding_box: BoundingBox,
    /// Confidence of this instance, 0–100.
    pub confidence: f32,
}

/// One label, shaped like Rekognition's: a name, a confidence and the chain of parents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Label {
    /// e.g. `Golden Retriever`.
    pub name: String,
    /// 0–100.
    pub confidence: f32,
    /// Nearest first, e.g. `Dog`, `Canine`, `Mammal`, `Animal`.
    #[serde(default)]
    pub parents: Vec<String>,
    /// Broad categories, e.g. `Animals and Pets`.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Located instances, when the model gives boxes.
    #[serde(default)]
    pub instances: Vec<LabelInstance>,
}

/// The detect-labels step's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LabelsResult {
    /// Highest confidence first.
    pub labels: Vec<Label>,
    /// The model that produced them.
    pub model: ModelInfo,
    /// Present when a bound cut the list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trimmed: Option<Trimmed>,
}

/// One moderation label in Rekognition's taxonomy (levels 1–3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModerationLabel {
    /// e.g. `Explicit Nudity`.
    pub name: String,
    /// The parent in the taxonomy; absent for a top-level category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_name: Option<String>,
    /// 0–100.
    pub confidence: f32,
    /// 1 for a top-level category, 2 and 3 below it.
    pub taxonomy_level: u8,
}

/// The detect-moderation step's output. Every label is kept (the taxonomy bounds their number).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModerationResult {
    /// Highest confidence first; empty when the model found nothing.
    pub labels: Vec<ModerationLabel>,
    /// The model that produced them.
    pub model: ModelInfo,
}

/// A word inside a line of text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TextWord {
    /// The word.
    pub text: String,
    /// 0–100.
    pub confidence: f32,
    /// Where, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounding_box: Option<BoundingBox>,
}

/// A line of text, like Rekognition's `LINE` detection with its `WORD` children.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TextLine {
    /// The line as read.
    pub text: String,
    /// 0–100.
    pub confidence: f32,
    /// Where.
    pub bounding_box: BoundingBox,
    /// The words of the line, in reading order.
    #[serde(default)]
    pub words: Vec<TextWord>,
}

/// The detect-text step's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TextResult {
    /// In reading order (top to bottom, then left to right).
    pub lines: Vec<TextLine>,
    /// The model that produced them.
    pub model: ModelInfo,
    /// Present when a bound cut the list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trimmed: Option<Trimmed>,
}
