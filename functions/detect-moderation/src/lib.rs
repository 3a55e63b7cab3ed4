//! The detect-moderation step: asks the moderation detector for labels in Rekognition's
//! taxonomy. Every label is kept, highest confidence first; the verdict is the record step's,
//! under the moderation policy, so a policy change needs no new analysis.
#![warn(missing_docs)]

use spotlight_core::bounds::sort_moderation_labels;
use spotlight_core::contracts::{AnalyzeInput, ModerationResult};
use spotlight_core::ports::ModerationDetector;
use spotlight_core::StepError;

/// Moderates the validated image.
pub async fn handle<D: ModerationDetector>(
    input: &AnalyzeInput,
    detector: &D,
) -> Result<ModerationResult, StepError> {
    let labels = detector.detect_moderation_labels(&input.image).await?;
    Ok(ModerationResult {
        labels: sort_moderation_labels(labels),
        model: detector.model(),
    })
}
