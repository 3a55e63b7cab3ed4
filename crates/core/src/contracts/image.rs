//! What validation learns about an image: the validate step's output.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The two formats the analysers accept (Rekognition's limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ImageFormat {
    /// JPEG (JFIF/EXIF).
    Jpeg,
    /// PNG.
    Png,
}

impl ImageFormat {
    /// The usual name, `JPEG` or `PNG`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "JPEG",
            ImageFormat::Png => "PNG",
        }
    }
}

/// An image that passed validation: where it is, what it is, and which upload it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageFacts {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The format, from the magic bytes.
    pub format: ImageFormat,
    /// Size in bytes, from the object's head.
    pub size_bytes: u64,
    /// Width in pixels, from the header.
    pub width: u32,
    /// Height in pixels, from the header.
    pub height: u32,
    /// Orders uploads of the same key: a record is only ever replaced by a greater revision.
    /// See [`crate::revision`].
    pub revision: String,
    /// The object's ETag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The object's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// When the object was last written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<DateTime<Utc>>,
    /// When it was uploaded, as the event said, else its last-modified time: "newest first".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded_at: Option<DateTime<Utc>>,
}
