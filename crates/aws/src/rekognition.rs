//! The three detectors on Amazon Rekognition. Images are passed as S3 object references, so
//! Rekognition reads them from the bucket and nothing is downloaded here.

use std::sync::Mutex;

use aws_sdk_rekognition::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_rekognition::types::{
    BoundingBox as RekognitionBox, DetectTextFilters, DetectionFilter, Image, S3Object, TextTypes,
};
use aws_sdk_rekognition::Client;
use spotlight_core::contracts::{
    BoundingBox, ImageFacts, Label, LabelInstance, ModelInfo, ModerationLabel, TextLine, TextWord,
};
use spotlight_core::ports::{DetectError, LabelDetector, ModerationDetector, TextDetector};
use spotlight_core::RejectReason;

/// DetectModerationLabels' `MinConfidence`: every label, whatever its confidence.
///
/// The detector never sees the moderation policy, which the record step applies, and a stored
/// record is re-evaluated under later policies. A floor above 0 would hide labels some policy
/// blocks (the shipped one blocks `Explicit` at 40, where Rekognition's own default floor is 50)
/// and so judge such an image safe: fail open. The taxonomy bounds the answer (about fifty
/// labels in model version 7), so keeping them all costs a few kilobytes.
pub const MODERATION_MIN_CONFIDENCE: f32 = 0.0;

/// How the detectors call Rekognition.
#[derive(Debug, Clone, PartialEq)]
pub struct RekognitionSettings {
    /// DetectLabels' `MinConfidence` and DetectText's word filter, 0–100. Not moderation's:
    /// see [`MODERATION_MIN_CONFIDENCE`].
    pub min_confidence: f32,
    /// `MaxLabels` for DetectLabels.
    pub max_labels: i32,
}

impl Default for RekognitionSettings {
    fn default() -> Self {
        RekognitionSettings {
            min_confidence: 55.0,
            max_labels: 50,
        }
    }
}

impl RekognitionSettings {
    /// Settings from `MIN_CONFIDENCE` and `MAX_LABELS`, defaults where unset or unreadable.
    pub fn from_env() -> Self {
        let defaults = Self::default();
        let read = |name: &str| std::env::var(name).ok().and_then(|v| v.trim().parse().ok());
        RekognitionSettings {
            min_confidence: read("MIN_CONFIDENCE").unwrap_or(defaults.min_confidence),
            max_labels: read("MAX_LABELS")
                .map(|n: f32| n as i32)
                .unwrap_or(defaults.max_labels),
        }
    }
}

/// Rekognition as a label, moderation and text detector.
#[derive(Debug)]
pub struct Rekognition {
    client: Client,
    settings: RekognitionSettings,
    /// The model version of the latest answer: Rekognition names it per response.
    model_version: Mutex<Option<String>>,
}

impl Rekognition {
    /// Calls Rekognition through `client`.
    pub fn new(client: Client, settings: RekognitionSettings) -> Self {
        Rekognition {
            client,
            settings,
            model_version: Mutex::new(None),
        }
    }

    fn remember(&self, version: Option<&str>) {
        if let (Ok(mut slot), Some(version)) = (self.model_version.lock(), version) {
            *slot = Some(version.to_owned());
        }
    }

    fn model_named(&self, operation: &str) -> ModelInfo {
        ModelInfo {
            name: format!("amazon-rekognition-{operation}"),
            version: self
                .model_version
                .lock()
                .ok()
                .and_then(|v| v.clone())
                .unwrap_or_else(|| "unknown".to_owned()),
        }
    }
}

fn s3_image(image: &ImageFacts) -> Image {
    Image::builder()
        .s3_object(
            S3Object::builder()
                .bucket(&image.bucket)
                .name(&image.key)
                .set_version(image.version_id.clone())
                .build(),
        )
        .build()
}

/// Maps Rekognition's errors onto the pipeline's: load → throttled (retried), the image's own
/// faults → rejections, everything else → failed (a FAILED record, which is alarmed).
///
/// `InvalidS3ObjectException` is "unable to access the S3 object" (API reference). By the time a
/// detector runs, validate has read that very object, so it is not a missing upload but an
/// access, KMS key or region fault of the deployment: failed, never a quiet rejection. The same
/// goes for `AccessDeniedException` and `InvalidParameterException` (our request is wrong) and
/// `InternalServerError` (the SDK has already retried it).
fn detect_error<E, R>(operation: &str, error: SdkError<E, R>) -> DetectError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = error.code().unwrap_or("").to_owned();
    let message = error.message().unwrap_or("").to_owned();
    let describe = |what: &str| {
        if message.is_empty() {
            format!("{operation}: {what} ({code})")
        } else {
            format!("{operation}: {what} ({code}: {message})")
        }
    };
    let rejected = |reason, what: &str| DetectError::Rejected {
        reason,
        message: describe(what),
    };
    match code.as_str() {
        "ThrottlingException"
        | "ProvisionedThroughputExceededException"
        | "LimitExceededException" => DetectError::Throttled {
            message: describe("Rekognition is throttling"),
            source: Some(Box::new(error)),
        },
        "InvalidImageFormatException" => rejected(
            RejectReason::UnsupportedFormat,
            "Rekognition cannot read this image format",
        ),
        "ImageTooLargeException" => rejected(
            RejectReason::TooLarge,
            "the image is too large for Rekognition",
        ),
        "InvalidS3ObjectException" => DetectError::Failed {
            message: describe(
                "Rekognition cannot read the S3 object that validation read: \
                 check its access to the bucket, the object's KMS key and the region",
            ),
            source: Some(Box::new(error)),
        },
        _ => DetectError::Failed {
            message: describe("the call failed"),
            source: Some(Box::new(error)),
        },
    }
}

fn bounding_box(b: &RekognitionBox) -> BoundingBox {
    BoundingBox {
        left: b.left().unwrap_or(0.0),
        top: b.top().unwrap_or(0.0),
        width: b.width().unwrap_or(0.0),
        height: b.height().unwrap_or(0.0),
    }
}

impl LabelDetector for Rekognition {
    fn model(&self) -> ModelInfo {
        self.model_named("detect-labels")
    }

    async fn detect_labels(&self, image: &ImageFacts) -> Result<Vec<Label>, DetectError> {
        let output = self
            .client
            .detect_labels()
            .image(s3_image(image))
            .min_confidence(self.settings.min_confidence)
            .max_labels(self.settings.max_labels)
            .send()
            .await
            .map_err(|e| detect_error("DetectLabels", e))?;
        self.remember(output.label_model_version());
        Ok(output
            .labels()
            .iter()
            .map(|label| Label {
                name: label.name().unwrap_or_default().to_owned(),
                confidence: label.confidence().unwrap_or(0.0),
                parents: label
                    .parents()
                    .iter()
                    .filter_map(|p| p.name().map(str::to_owned))
                    .collect(),
                categories: label
                    .categories()
                    .iter()
                    .filter_map(|c| c.name().map(str::to_owned))
                    .collect(),
                instances: label
                    .instances()
                    .iter()
                    .filter_map(|i| {
                        Some(LabelInstance {
                            bounding_box: bounding_box(i.bounding_box()?),
                            confidence: i.confidence().unwrap_or(0.0),
                        })
                    })
                    .collect(),
            })
            .collect())
    }
}

impl ModerationDetector for Rekognition {
    fn model(&self) -> ModelInfo {
        self.model_named("detect-moderation-labels")
    }

    async fn detect_moderation_labels(
        &self,
        image: &ImageFacts,
    ) -> Result<Vec<ModerationLabel>, DetectError> {
        let output = self
            .client
            .detect_moderation_labels()
            .image(s3_image(image))
            .min_confidence(MODERATION_MIN_CONFIDENCE)
            .send()
            .await
            .map_err(|e| detect_error("DetectModerationLabels", e))?;
        self.remember(output.moderation_model_version());
        Ok(output
            .moderation_labels()
            .iter()
            .map(|label| {
                let parent = label.parent_name().filter(|p| !p.is_empty());
                ModerationLabel {
                    name: label.name().unwrap_or_default().to_owned(),
                    parent_name: parent.map(str::to_owned),
                    confidence: label.confidence().unwrap_or(0.0),
                    taxonomy_level: label
                        .taxonomy_level()
                        .and_then(|l| u8::try_from(l).ok())
                        .unwrap_or(if parent.is_some() { 2 } else { 1 }),
                }
            })
            .collect())
    }
}

impl TextDetector for Rekognition {
    fn model(&self) -> ModelInfo {
        self.model_named("detect-text")
    }

    async fn detect_text(&self, image: &ImageFacts) -> Result<Vec<TextLine>, DetectError> {
        let output = self
            .client
            .detect_text()
            .image(s3_image(image))
            // Without a word filter Rekognition drops words below 80 %, whatever the stack's
            // MinConfidence says.
            .filters(
                DetectTextFilters::builder()
                    .word_filter(
                        DetectionFilter::builder()
                            .min_confidence(self.settings.min_confidence)
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .map_err(|e| detect_error("DetectText", e))?;
        self.remember(output.text_model_version());
        let detections = output.text_detections();
        let mut lines: Vec<(Option<i32>, TextLine)> = detections
            .iter()
            .filter(|d| d.r#type() == Some(&TextTypes::Line))
            .map(|d| {
                (
                    d.id(),
                    TextLine {
                        text: d.detected_text().unwrap_or_default().to_owned(),
                        confidence: d.confidence().unwrap_or(0.0),
                        bounding_box: d
                            .geometry()
                            .and_then(|g| g.bounding_box())
                            .map(bounding_box)
                            .unwrap_or(BoundingBox {
                                left: 0.0,
                                top: 0.0,
                                width: 0.0,
                                height: 0.0,
                            }),
                        words: Vec::new(),
                    },
                )
            })
            .collect();
        for word in detections
            .iter()
            .filter(|d| d.r#type() == Some(&TextTypes::Word))
        {
            let parent = lines
                .iter_mut()
                .find(|(id, _)| id.is_some() && *id == word.parent_id());
            if let Some((_, line)) = parent {
                line.words.push(TextWord {
                    text: word.detected_text().unwrap_or_default().to_owned(),
                    confidence: word.confidence().unwrap_or(0.0),
                    bounding_box: word
                        .geometry()
                        .and_then(|g| g.bounding_box())
                        .map(bounding_box),
                });
            }
        }
        Ok(lines.into_iter().map(|(_, line)| line).collect())
    }
}
