//! The result event: how the app that submitted a photo learns how its screening ended.
//!
//! One event per execution that wrote a record (ANALYZED, REJECTED or FAILED), sent by the state
//! machine's `Publish` state: on AWS through the EventBridge `PutEvents` integration onto the
//! results bus, locally into the store's event log (and to a loopback webhook when one is set).
//! Either way the event has EventBridge's envelope ([`ResultEvent`]) with a
//! [`ResultEventDetail`] as its `detail`.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::record::{RecordStatus, Verdict, WriteOutcome};

/// The result event's `source`.
pub const RESULT_EVENT_SOURCE: &str = "spotlight.pipeline";
/// The result event's `detail-type`.
pub const RESULT_EVENT_DETAIL_TYPE: &str = "Spotlight Photo Screened";

/// Which execution an event comes from, for tracing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResultEventExecution {
    /// The execution ARN (`$$.Execution.Id`).
    pub arn: String,
    /// The execution's name (`$$.Execution.Name`).
    pub name: String,
    /// When it started (`$$.Execution.StartTime`).
    pub start_time: DateTime<Utc>,
}

/// The `detail` of a result event: what the submitting app needs to act on the outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResultEventDetail {
    /// The record id (`spotlight show <id>`, `GET /api/records/<id>`).
    pub record_id: String,
    /// The bucket the photo was uploaded to (locally: its folder).
    pub bucket: String,
    /// The photo's key.
    pub key: String,
    /// `ANALYZED`, `REJECTED` or `FAILED`.
    pub status: RecordStatus,
    /// The moderation verdict; `UNKNOWN` unless the photo was analysed.
    pub verdict: Verdict,
    /// Whether the photo may be featured.
    pub safe: bool,
    /// The themes its labels matched (empty unless analysed).
    pub themes: Vec<String>,
    /// The error name of a REJECTED or FAILED photo (`ImageRejected.Corrupt`, …), else null.
    #[schemars(with = "super::record::NullableString")]
    pub error: Option<String>,
    /// `WRITTEN`; `STALE` when a newer upload of the key already has its record (this outcome
    /// is then not the photo's current one); `DUPLICATE` for a re-delivered execution.
    pub write: WriteOutcome,
    /// The execution that screened it.
    pub execution: ResultEventExecution,
}

/// A result event as EventBridge delivers it to a rule's target, and as the local event log
/// keeps it and POSTs it to a webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResultEvent {
    /// Always `"0"`.
    pub version: String,
    /// The event id (`Entries[0].EventId` of the `PutEvents` response).
    pub id: String,
    /// [`RESULT_EVENT_DETAIL_TYPE`].
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    /// [`RESULT_EVENT_SOURCE`].
    pub source: String,
    /// The account (`000000000000` locally).
    pub account: String,
    /// When the event was put.
    pub time: DateTime<Utc>,
    /// The region (`local` locally).
    pub region: String,
    /// The state machine ARN and the execution ARN, which the integration appends.
    pub resources: Vec<String>,
    /// What happened to the photo.
    pub detail: ResultEventDetail,
}
