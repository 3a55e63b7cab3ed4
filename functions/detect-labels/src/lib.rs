//! The detect-labels step: asks the label detector what is in the image and keeps the result
//! within its bound (the top 50 labels, 64 KiB), saying when it trimmed.
#![warn(missing_docs)]

use spotlight_core::bounds::bound_labels;
use spotlight_core::contracts::{AnalyzeInput, LabelsResult};
use spotlight_core::ports::LabelDetector;
use spotlight_core::StepError;

/// Labels the validated image.
pub async fn handle<D: LabelDetector>(
    input: &AnalyzeInput,
    detector: &D,
) -> Result<LabelsResult, StepError> {
    let labels = detector.detect_labels(&input.image).await?;
    let (labels, trimmed) = bound_labels(labels);
    Ok(LabelsResult {
        labels,
        model: detector.model(),
        trimmed,
    })
}
