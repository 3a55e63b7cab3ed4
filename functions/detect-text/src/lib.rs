//! The detect-text step: asks the text detector for the lines in the image and keeps them in
//! reading order within their bound (100 lines, 64 KiB), saying when it trimmed.
#![warn(missing_docs)]

use spotlight_core::bounds::bound_text_lines;
use spotlight_core::contracts::{AnalyzeInput, TextResult};
use spotlight_core::ports::TextDetector;
use spotlight_core::StepError;

/// Reads the text in the validated image.
pub async fn handle<D: TextDetector>(
    input: &AnalyzeInput,
    detector: &D,
) -> Result<TextResult, StepError> {
    let lines = detector.detect_text(&input.image).await?;
    let (lines, trimmed) = bound_text_lines(lines);
    Ok(TextResult {
        lines,
        model: detector.model(),
        trimmed,
    })
}
