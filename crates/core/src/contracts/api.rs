//! The bodies of the query APIs: the search function's answer and the console's `/api/...`
//! endpoints, so a script reads the same shapes whichever one it asks.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::record::ImageRecord;
use crate::ports::SearchQuery;
use crate::search;

/// A label that made a record match: "why it matched".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchedLabel {
    /// The label.
    pub name: String,
    /// Its confidence, 0–100.
    pub confidence: f32,
}

/// One search result: the record and the labels that met the query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordHit {
    /// The record.
    pub record: ImageRecord,
    /// The labels that met the query (none when it asked for no label).
    pub matched_labels: Vec<MatchedLabel>,
}

impl RecordHit {
    /// A record found by `query`, with the labels that made it match.
    pub fn new(record: ImageRecord, query: &SearchQuery) -> RecordHit {
        let matched_labels = search::matching_labels(&record, query)
            .into_iter()
            .map(|l| MatchedLabel {
                name: l.name.clone(),
                confidence: l.confidence,
            })
            .collect();
        RecordHit {
            record,
            matched_labels,
        }
    }
}

/// One page of search results, newest first (`GET /api/records`, the search function).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordPage {
    /// The matching records.
    pub items: Vec<RecordHit>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// An execution as the local store keeps it: the counterpart of `DescribeExecution`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionSummary {
    /// The execution id (an ARN-shaped string).
    pub id: String,
    /// The photo's folder.
    pub bucket: String,
    /// The photo's key.
    pub key: String,
    /// The record it wrote.
    pub record_id: String,
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`.
    pub status: String,
    /// When it started.
    pub start_time: DateTime<Utc>,
    /// When it ended.
    pub stop_time: Option<DateTime<Utc>>,
    /// The execution input.
    pub input: serde_json::Value,
    /// The output, when it succeeded.
    pub output: Option<serde_json::Value>,
    /// The error, when it failed.
    pub error: Option<String>,
    /// The cause, when it failed.
    pub cause: Option<String>,
}

/// The executions, newest first (`GET /api/executions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExecutionList {
    /// The executions.
    pub items: Vec<ExecutionSummary>,
}

/// One event of an execution's history, shaped as Step Functions' `GetExecutionHistory` lists
/// it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionEvent {
    /// When it happened.
    pub timestamp: DateTime<Utc>,
    /// AWS's event type: `ExecutionStarted`, `TaskStateEntered`, `TaskScheduled`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Numbered from 1 in the order the events happened.
    pub id: u64,
    /// The event this one follows (0 for none).
    pub previous_event_id: u64,
    /// The one `…EventDetails` member of this event type, when it has one
    /// (`stateEnteredEventDetails`, `taskFailedEventDetails`, …).
    #[serde(flatten)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// An execution's history (`GET /api/executions/{id}/history`): empty when none was kept.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct ExecutionHistory {
    /// The events, in id order.
    pub events: Vec<ExecutionEvent>,
}

/// Why a query API refused or failed a request (with a 4xx or 5xx status).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApiError {
    /// For people: what was wrong.
    pub message: String,
}
