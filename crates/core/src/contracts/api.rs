//! The bodies of the query APIs: the search function's answer and the console's `/api/...`
//! endpoints, so a script reads the same shapes whichever one it asks.

use std::fmt;
use std::str::FromStr;

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

/// What a word of a `query` search met in a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WordSource {
    /// A label's name, one of its parents or categories.
    Label,
    /// A theme the record's labels meet, named by the word.
    Theme,
    /// A word of the text read in the photo.
    Text,
}

impl WordSource {
    /// How people read it: `label`, `theme` or `text`.
    pub fn as_str(self) -> &'static str {
        match self {
            WordSource::Label => "label",
            WordSource::Theme => "theme",
            WordSource::Text => "text",
        }
    }
}

/// A word of a `query` search that a record met: "why it ranks where it does".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchedWord {
    /// The query's word, folded as matched (lower case, singular).
    pub word: String,
    /// Where it was met.
    pub source: WordSource,
    /// What it met: the label, parent or category; the theme; or the text's word.
    pub name: String,
    /// What it counts for the ranking, 0–1: a label's confidence (a theme's: its best label's)
    /// over 100, or 0.5 for a word of the text.
    pub weight: f32,
}

/// How people read it, in the CLI and the console alike: `dog: label Dog 96%` (the word, where
/// it was met, what it met, its weight as a whole percentage).
impl fmt::Display for MatchedWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} {} {:.0}%",
            self.word,
            self.source.as_str(),
            self.name,
            self.weight * 100.0
        )
    }
}

/// One search result: the record and the labels that met the query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordHit {
    /// The record.
    pub record: ImageRecord,
    /// The labels that met the query (none when it asked for no label).
    pub matched_labels: Vec<MatchedLabel>,
    /// The words of a `query` search the record met, in the query's order (absent otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matched_words: Vec<MatchedWord>,
}

impl RecordHit {
    /// A record found by `query`, with the labels and words that made it match.
    pub fn new(record: ImageRecord, query: &SearchQuery) -> RecordHit {
        let matched_labels = search::matching_labels(&record, query)
            .into_iter()
            .map(|l| MatchedLabel {
                name: l.name.clone(),
                confidence: l.confidence,
            })
            .collect();
        let matched_words = search::word_matches(&record, query);
        RecordHit {
            record,
            matched_labels,
            matched_words,
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

/// How an execution stands, spelled as Step Functions' `DescribeExecution` spells it.
///
/// Only the statuses Spotlight produces or accepts: AWS's `PENDING_REDRIVE` is left out, since
/// a local redrive runs at once (`RUNNING` again); the starter, which reads AWS's answer, keeps
/// its own open-ended reading of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[cfg_attr(feature = "clap", value(rename_all = "snake_case"))]
pub enum ExecutionStatus {
    /// Started and not ended yet.
    Running,
    /// Ended at a Succeed state or an `End`.
    Succeeded,
    /// A state failed and nothing caught it.
    Failed,
    /// Ran past the machine's `TimeoutSeconds`.
    TimedOut,
    /// Stopped before it ended (locally: its process ended first).
    Aborted,
}

impl ExecutionStatus {
    /// Every status, in the order lists and menus show them.
    pub const ALL: [ExecutionStatus; 5] = [
        ExecutionStatus::Running,
        ExecutionStatus::Succeeded,
        ExecutionStatus::Failed,
        ExecutionStatus::TimedOut,
        ExecutionStatus::Aborted,
    ];

    /// `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
        }
    }
}

impl fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status that is not one of [`ExecutionStatus::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an execution status is one of {}, not {given:?}", list_of_statuses())]
pub struct UnknownExecutionStatus {
    /// The text that was given.
    pub given: String,
}

fn list_of_statuses() -> String {
    ExecutionStatus::ALL.map(ExecutionStatus::as_str).join(", ")
}

impl FromStr for ExecutionStatus {
    type Err = UnknownExecutionStatus;

    /// Any case: `timed_out` is `TIMED_OUT`, as the CLI and the console's query string take it.
    fn from_str(text: &str) -> Result<Self, UnknownExecutionStatus> {
        ExecutionStatus::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| UnknownExecutionStatus {
                given: text.to_owned(),
            })
    }
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
    /// How it stands.
    pub status: ExecutionStatus,
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
    /// How many times it was redriven (`RedriveExecution`, `spotlight executions redrive`),
    /// as `DescribeExecution` counts them.
    #[serde(default)]
    pub redrive_count: u32,
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

#[cfg(test)]
mod tests {
    use super::{ExecutionStatus, MatchedWord, WordSource};

    #[test]
    fn a_matched_word_reads_as_word_source_name_and_percentage() {
        let word = MatchedWord {
            word: "dog".to_owned(),
            source: WordSource::Label,
            name: "Dog".to_owned(),
            weight: 0.956,
        };
        assert_eq!(word.to_string(), "dog: label Dog 96%");
        let sign = MatchedWord {
            source: WordSource::Text,
            name: "dog".to_owned(),
            weight: 0.5,
            ..word
        };
        assert_eq!(sign.to_string(), "dog: text dog 50%");
    }

    #[test]
    fn statuses_are_spelled_as_step_functions_spells_them() {
        for status in ExecutionStatus::ALL {
            let json = serde_json::to_value(status).unwrap();
            assert_eq!(json, status.as_str());
            assert_eq!(status.to_string(), status.as_str());
            assert_eq!(
                serde_json::from_value::<ExecutionStatus>(json).unwrap(),
                status
            );
        }
        assert_eq!(ExecutionStatus::TimedOut.as_str(), "TIMED_OUT");
    }

    #[test]
    fn statuses_parse_in_any_case() {
        assert_eq!("timed_out".parse(), Ok(ExecutionStatus::TimedOut));
        assert_eq!("Aborted".parse(), Ok(ExecutionStatus::Aborted));
        assert_eq!("RUNNING".parse(), Ok(ExecutionStatus::Running));
        let refused = "PENDING_REDRIVE".parse::<ExecutionStatus>().unwrap_err();
        assert_eq!(
            refused.to_string(),
            "an execution status is one of RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, \
             not \"PENDING_REDRIVE\""
        );
    }
}
