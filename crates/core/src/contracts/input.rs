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
    /// An S3 event notification (`Records`), as S3 sends to SQS, SNS or Lambda; its keys are
    /// URL-encoded.
    Notification(S3Notification),
    /// `{bucket, key}`, as local runs and manual re-runs start executions.
    Request(ObjectRequest),
}

impl PipelineInput {
    /// The normalised request, as the state machine's `Normalize` states build it.
    pub fn into_request(self) -> ObjectRequest {
        match self {
            PipelineInput::Request(request) => request,
            // The state machine reads the first record only: S3 sends one per notification.
            PipelineInput::Notification(notification) => {
                let mut records = notification.records.into_iter();
                match records.next() {
                    Some(record) => ObjectRequest {
                        bucket: record.s3.bucket.name,
                        key: record.s3.object.key,
                        key_encoding: Some(KeyEncoding::Url),
                        version_id: record.s3.object.version_id,
                        sequencer: Some(record.s3.object.sequencer),
                        event_time: Some(record.event_time),
                        etag: None,
                        size: None,
                        reprocess: None,
                    },
                    None => ObjectRequest::new("", ""),
                }
            }
            PipelineInput::Event(event) => ObjectRequest {
                bucket: event.detail.bucket.name,
                key: event.detail.object.key,
                key_encoding: None,
                version_id: event.detail.object.version_id,
                sequencer: Some(event.detail.object.sequencer),
                event_time: Some(event.time),
                etag: Some(event.detail.object.etag),
                size: Some(event.detail.object.size),
                reprocess: None,
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
    /// The object key (locally: the path relative to the folder), encoded as `key_encoding`
    /// says; [`ObjectRequest::object_key`] gives the real key.
    pub key: String,
    /// `url` when `key` is URL-encoded, as S3 event notifications deliver keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_encoding: Option<KeyEncoding>,
    /// The object version, when the bucket is versioned and the caller knows it: the event's
    /// version, so every step reads the upload the event is about, not whatever is latest.
    /// Without it, validation reads the latest version and pins the later reads to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// S3's event sequencer (hexadecimal), which orders uploads of the same key; absent for a
    /// re-run, which is placed against the stored record instead.
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
    /// Present when the execution reprocesses an analysed image: only the analysers named run,
    /// the others' stored results are kept (when the stored record is of this very upload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Reprocess")]
    pub reprocess: Option<Reprocess>,
}

/// What a reprocess execution runs again (issue 14): `{"analysers": ["text"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reprocess {
    /// The analysers to run; the others' results are taken from the stored record. Every
    /// analyser runs when the stored record is missing, is of another upload, or lacks its
    /// result. Empty: none runs, the stored results are merged and judged again.
    pub analysers: Vec<super::record::Analyser>,
}

impl ObjectRequest {
    /// A request for `key` in `bucket` with nothing else known.
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        ObjectRequest {
            bucket: bucket.into(),
            key: key.into(),
            key_encoding: None,
            version_id: None,
            sequencer: None,
            event_time: None,
            etag: None,
            size: None,
            reprocess: None,
        }
    }
}

impl ObjectRequest {
    /// The object's real key, decoded if the request carries it URL-encoded.
    pub fn object_key(&self) -> String {
        match self.key_encoding {
            Some(KeyEncoding::Url) => crate::encoding::form_decode(&self.key),
            None => self.key.clone(),
        }
    }
}

/// How a request's key is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyEncoding {
    /// `application/x-www-form-urlencoded`: `+` for a space, `%XX` for other bytes.
    Url,
}

/// An S3 event notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct S3Notification {
    /// The events; S3 sends one per notification.
    #[serde(rename = "Records")]
    pub records: Vec<S3NotificationRecord>,
}

/// One event of an S3 notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3NotificationRecord {
    /// e.g. `ObjectCreated:Put`.
    pub event_name: String,
    /// When S3 finished the request.
    pub event_time: DateTime<Utc>,
    /// The S3 part.
    pub s3: S3NotificationEntity,
}

/// The `s3` part of a notification record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct S3NotificationEntity {
    /// The bucket.
    pub bucket: S3Bucket,
    /// The object.
    pub object: S3NotificationObject,
}

/// The object of a notification record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3NotificationObject {
    /// The key, URL-encoded.
    pub key: String,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The ETag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e_tag: Option<String>,
    /// The version, when the bucket is versioned (S3 may send `null` otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Orders events on the same key.
    pub sequencer: String,
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
