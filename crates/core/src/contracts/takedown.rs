//! The takedown function's contract: the S3 `Object Deleted` event EventBridge delivers to it,
//! and what it answers.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::input::S3Bucket;

/// An EventBridge event of detail-type `Object Deleted` from `aws.s3` (Amazon S3 User Guide,
/// "EventBridge event message structure").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct S3ObjectDeletedEvent {
    /// Always `"0"`.
    pub version: String,
    /// The event id.
    pub id: String,
    /// `Object Deleted`.
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    /// `aws.s3`.
    pub source: String,
    /// The account that owns the bucket.
    pub account: String,
    /// When the object was deleted.
    pub time: DateTime<Utc>,
    /// The bucket's region.
    pub region: String,
    /// The bucket ARN.
    #[serde(default)]
    pub resources: Vec<String>,
    /// The S3 part.
    pub detail: S3ObjectDeletedDetail,
}

/// The `detail` of an S3 `Object Deleted` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct S3ObjectDeletedDetail {
    /// Schema version of the detail, `"0"`.
    pub version: String,
    /// The bucket.
    pub bucket: S3Bucket,
    /// The object.
    pub object: S3DeletedObject,
    /// S3's request id.
    #[serde(
        rename = "request-id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub request_id: Option<String>,
    /// Who deleted it (`s3.amazonaws.com` for a lifecycle rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
    /// `DeleteObject` or `Lifecycle Expiration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `Delete Marker Created` (a versioned bucket's plain delete: the key is gone from view)
    /// or `Permanently Deleted` (an unversioned bucket's delete, or one version removed).
    #[serde(
        rename = "deletion-type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub deletion_type: Option<String>,
}

/// The object of an S3 `Object Deleted` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct S3DeletedObject {
    /// The key, not URL-encoded in EventBridge events.
    pub key: String,
    /// The version removed, or the delete marker's version.
    #[serde(
        rename = "version-id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub version_id: Option<String>,
    /// Orders this delete among the events of the same key, uploads included.
    pub sequencer: String,
}

/// What the takedown did with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TakedownAction {
    /// The record and its index items are gone; a tombstone keeps the delete's sequencer.
    Removed,
    /// There was no record (not analysed yet, or never); the tombstone is written so that the
    /// analysis still running cannot write it.
    Tombstoned,
    /// The same delete (or a later one) was taken already.
    Duplicate,
    /// The record is of a later upload than the delete: it stays.
    Stale,
    /// One version was removed, not the one the record describes (a lifecycle rule expiring a
    /// replaced version): the photo is still there.
    Ignored,
}

/// The takedown function's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TakedownOutput {
    /// The record id of the key.
    pub id: String,
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The delete's revision (its sequencer, as the store orders it).
    pub revision: String,
    /// What was done.
    pub action: TakedownAction,
}
