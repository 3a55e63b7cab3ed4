//! What starts an execution: an EventBridge S3 `Object Created` event or a plain object request.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The execution input the state machine accepts. Its `Normalize` states turn either shape into an
/// [`ObjectRequest`]; [`PipelineInput::into_request`] does the same in Rust.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PipelineInput {
    /// An EventBridge event for an S3 upload (the production trigger).
    Event(Box<S3ObjectCreatedEvent>),
    /// `{bucket, key}`, as local runs and manual re-runs start executions.
    Request(ObjectRequest),
}

impl PipelineInput {
    /// The normalised request, as the state machine's `Normalize` states build it.
    pub fn into_request(self) -> ObjectRequest {
        match self {
            PipelineInput::Request(request) => request,
            PipelineInput::Event(event) => ObjectRequest {
                bucket: event.detail.bucket.name,
                key: event.detail.object.key,
                // The state machine cannot copy a field that may be absent, so it leaves the
                // version out; validation reads the current version from the object's head.
                version_id: None,
                sequencer: Some(event.detail.object.sequencer),
                event_time: Some(event.time),
                etag: Some(event.detail.object.etag),
                size: Some(event.detail.object.size),
            },
        }
    }
}

/// The normalised request every execution works on: one object in one bucket.
///
/// EventBridge delivers keys as they are (not URL-encoded), so `key` is the object's real key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRequest {
    /// The bucket (locally: the canonical path of the photo folder).
    pub bucket: String,
    /// The object key (locally: the path relative to the folder).
    pub key: String,
    /// The object version, when the bucket is versioned and the caller knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// S3's event sequencer (hexadecimal), which orders uploads of the same key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequencer: Option<String>,
    /// When S3 finished the upload, from the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time: Option<DateTime<Utc>>,
    /// The ETag the event reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The size the event reported, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

impl ObjectRequest {
    /// A request for `key` in `bucket` with nothing else known.
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        ObjectRequest {
            bucket: bucket.into(),
            key: key.into(),
            version_id: None,
            sequencer: None,
            event_time: None,
            etag: None,
            size: None,
        }
    }
}

/// An EventBridge event of detail-type `Object Created` from `aws.s3`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct S3ObjectCreatedEvent {
    /// Always `"0"`.
    pub version: String,
    /// The event id.
    pub id: String,
    /// `Object Created`.
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    /// `aws.s3`.
    pub source: String,
    /// The account that owns the bucket.
    pub account: String,
    /// When the event happened.
    pub time: DateTime<Utc>,
    /// The bucket's region.
    pub region: String,
    /// The bucket ARN.
    #[serde(default)]
    pub resources: Vec<String>,
    /// The S3 part.
    pub detail: S3ObjectCreatedDetail,
}

/// The `detail` of an S3 `Object Created` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct S3ObjectCreatedDetail {
    /// Schema version of the detail, `"0"`.
    pub version: String,
    /// The bucket.
    pub bucket: S3Bucket,
    /// The object.
    pub object: S3Object,
    /// S3's request id.
    #[serde(
        rename = "request-id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub request_id: Option<String>,
    /// Who uploaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
    /// From where.
    #[serde(
        rename = "source-ip-address",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub source_ip_address: Option<String>,
    /// The API call: `PutObject`, `CompleteMultipartUpload`, `CopyObject`, `POST Object`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The bucket of an S3 event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct S3Bucket {
    /// The bucket name.
    pub name: String,
}

/// The object of an S3 `Object Created` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct S3Object {
    /// The key, not URL-encoded in EventBridge events.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// The ETag.
    pub etag: String,
    /// The version, only when the bucket is versioned.
    #[serde(
        rename = "version-id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub version_id: Option<String>,
    /// Orders events on the same key.
    pub sequencer: String,
}
