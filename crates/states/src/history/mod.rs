//! The execution history, in the shape of Step Functions' `GetExecutionHistory`:
//! `{"events": [{"timestamp", "type", "id", "previousEventId", "<kind>EventDetails": {…}}]}`.
//!
//! The engine hands each event to an [`EventSink`]; with no sink, no event is built at all (the
//! event ids are still counted, since AWS's error causes quote them).
//!
//! Timestamps are serialised as RFC 3339 with milliseconds (`2024-01-01T00:00:00.000Z`), as the
//! AWS CLI prints them (the raw API sends epoch seconds).
//!
//! [`attribute`] reads a history back, state by state: what each entry into a state did.

mod attribution;
pub mod cost;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;

pub use attribution::{
    attribute, AttemptFailure, Attribution, EventFacts, HistoryRecord, StateActivity, StateEntry,
    StateOutcome,
};

/// One event of an execution's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEvent {
    /// When it happened.
    #[serde(with = "millis")]
    pub timestamp: DateTime<Utc>,
    /// What happened (`TaskStateEntered`, …).
    #[serde(rename = "type")]
    pub kind: EventType,
    /// Numbered from 1 in the order the events happened.
    pub id: u64,
    /// The event this one follows in its branch (0 for none), as AWS links them.
    pub previous_event_id: u64,
    /// The `…EventDetails` member, if the event type has one.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub details: Option<EventDetails>,
}

mod millis {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// Declares [`EventType`] and its names from one list, so the two cannot drift apart.
macro_rules! event_types {
    ($($name:ident),* $(,)?) => {
        /// The event types this engine produces (a subset of Step Functions'
        /// `HistoryEventType`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[allow(missing_docs)]
        pub enum EventType {
            $($name),*
        }

        impl EventType {
            /// Every event type, in declaration order.
            pub const ALL: &'static [EventType] = &[$(EventType::$name),*];

            /// The name, as `GetExecutionHistory` writes it (`TaskStateEntered`, …).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventType::$name => stringify!($name)),*
                }
            }
        }
    };
}

event_types! {
    ExecutionStarted,
    ExecutionSucceeded,
    ExecutionFailed,
    ExecutionTimedOut,
    ExecutionRedriven,
    PassStateEntered,
    PassStateExited,
    TaskStateEntered,
    TaskScheduled,
    TaskStarted,
    TaskSucceeded,
    TaskFailed,
    TaskTimedOut,
    TaskStateExited,
    ChoiceStateEntered,
    ChoiceStateExited,
    WaitStateEntered,
    WaitStateExited,
    SucceedStateEntered,
    SucceedStateExited,
    FailStateEntered,
    ParallelStateEntered,
    ParallelStateStarted,
    ParallelStateSucceeded,
    ParallelStateFailed,
    ParallelStateExited,
    MapStateEntered,
    MapStateStarted,
    MapIterationStarted,
    MapIterationSucceeded,
    MapIterationFailed,
    MapStateSucceeded,
    MapStateFailed,
    MapStateExited,
    EvaluationFailed,
}

/// The details member of an event, named as in `GetExecutionHistory`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum EventDetails {
    #[serde(rename = "executionStartedEventDetails")]
    ExecutionStarted(ExecutionStartedEventDetails),
    #[serde(rename = "executionSucceededEventDetails")]
    ExecutionSucceeded(OutputDetails),
    #[serde(rename = "executionFailedEventDetails")]
    ExecutionFailed(FailureDetails),
    #[serde(rename = "executionTimedOutEventDetails")]
    ExecutionTimedOut(FailureDetails),
    #[serde(rename = "executionRedrivenEventDetails")]
    ExecutionRedriven(ExecutionRedrivenEventDetails),
    #[serde(rename = "stateEnteredEventDetails")]
    StateEntered(StateEnteredEventDetails),
    #[serde(rename = "stateExitedEventDetails")]
    StateExited(StateExitedEventDetails),
    #[serde(rename = "taskScheduledEventDetails")]
    TaskScheduled(TaskScheduledEventDetails),
    #[serde(rename = "taskStartedEventDetails")]
    TaskStarted(TaskResource),
    #[serde(rename = "taskSucceededEventDetails")]
    TaskSucceeded(TaskSucceededEventDetails),
    #[serde(rename = "taskFailedEventDetails")]
    TaskFailed(TaskFailureDetails),
    #[serde(rename = "taskTimedOutEventDetails")]
    TaskTimedOut(TaskFailureDetails),
    #[serde(rename = "mapStateStartedEventDetails")]
    MapStateStarted(MapStateStartedEventDetails),
    #[serde(rename = "mapIterationStartedEventDetails")]
    MapIterationStarted(MapIterationEventDetails),
    #[serde(rename = "mapIterationSucceededEventDetails")]
    MapIterationSucceeded(MapIterationEventDetails),
    #[serde(rename = "mapIterationFailedEventDetails")]
    MapIterationFailed(MapIterationEventDetails),
    #[serde(rename = "evaluationFailedEventDetails")]
    EvaluationFailed(EvaluationFailedEventDetails),
}

/// `evaluationFailedEventDetails`: a JSONata expression of a state failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvaluationFailedEventDetails {
    /// `States.QueryEvaluationError`.
    pub error: String,
    /// The cause, as the execution reports it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cause: Option<String>,
    /// The field whose expression failed, e.g. `Output/result`.
    pub location: String,
    /// The state's name.
    pub state: String,
}

/// `inputDetails` / `outputDetails`: whether the data was truncated (never, here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DataDetails {
    /// Always false: the engine keeps whole payloads.
    pub truncated: bool,
}

/// `executionStartedEventDetails`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionStartedEventDetails {
    /// The execution input, as JSON text.
    pub input: String,
    /// Truncation flag.
    pub input_details: DataDetails,
    /// The role the execution runs as.
    pub role_arn: String,
}

/// `executionRedrivenEventDetails`: the execution was redriven (`RedriveExecution`) and goes on
/// from where it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionRedrivenEventDetails {
    /// How many times the execution has been redriven, this time included.
    pub redrive_count: u32,
}

/// `executionSucceededEventDetails`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputDetails {
    /// The output, as JSON text.
    pub output: String,
    /// Truncation flag.
    pub output_details: DataDetails,
}

/// `executionFailedEventDetails`, `executionTimedOutEventDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureDetails {
    /// The error name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// The cause.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cause: Option<String>,
}

/// `stateEnteredEventDetails`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateEnteredEventDetails {
    /// The state's name.
    pub name: String,
    /// The state's raw input, as JSON text.
    pub input: String,
    /// Truncation flag.
    pub input_details: DataDetails,
}

/// `stateExitedEventDetails`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateExitedEventDetails {
    /// The state's name.
    pub name: String,
    /// The state's output, as JSON text.
    pub output: String,
    /// Truncation flag.
    pub output_details: DataDetails,
    /// The variables the state (or its catcher) assigned: name → value as JSON text. Absent
    /// when it assigned none.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub assigned_variables: Option<std::collections::BTreeMap<String, String>>,
    /// Truncation flag of `assignedVariables`, present with it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub assigned_variables_details: Option<DataDetails>,
}

/// The resource part of the task events: `arn:aws:states:::lambda:invoke` is type `lambda`,
/// resource `invoke`; any other ARN is its service as type and the whole ARN as resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskResource {
    /// The service, e.g. `lambda`.
    pub resource_type: String,
    /// The action, e.g. `invoke`.
    pub resource: String,
}

/// `taskScheduledEventDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskScheduledEventDetails {
    /// The service, e.g. `lambda`.
    pub resource_type: String,
    /// The action, e.g. `invoke`.
    pub resource: String,
    /// The region the task runs in.
    pub region: String,
    /// The resolved parameters sent to the task, as JSON text.
    pub parameters: String,
    /// `TimeoutSeconds`, if set.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub timeout_in_seconds: Option<u64>,
    /// `HeartbeatSeconds`, if set.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub heartbeat_in_seconds: Option<u64>,
}

/// `taskSucceededEventDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSucceededEventDetails {
    /// The service.
    pub resource_type: String,
    /// The action.
    pub resource: String,
    /// The task's result, as JSON text.
    pub output: String,
    /// Truncation flag.
    pub output_details: DataDetails,
}

/// `taskFailedEventDetails`, `taskTimedOutEventDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskFailureDetails {
    /// The service.
    pub resource_type: String,
    /// The action.
    pub resource: String,
    /// The error name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// The cause.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cause: Option<String>,
}

/// `mapStateStartedEventDetails`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapStateStartedEventDetails {
    /// How many items the Map iterates over.
    pub length: u64,
}

/// `mapIterationStartedEventDetails` and its siblings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapIterationEventDetails {
    /// The Map state's name.
    pub name: String,
    /// The item's index.
    pub index: u64,
}

/// Receives the events of an execution as they happen (possibly from several tasks at once).
pub trait EventSink: Send + Sync {
    /// Records one event.
    fn record(&self, event: HistoryEvent);
}

/// An [`EventSink`] that keeps every event in memory.
#[derive(Debug, Default)]
pub struct History {
    events: Mutex<Vec<HistoryEvent>>,
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        History::default()
    }

    /// The events so far, in id order.
    pub fn events(&self) -> Vec<HistoryEvent> {
        let mut events = match self.events.lock() {
            Ok(e) => e.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        events.sort_by_key(|e| e.id);
        events
    }
}

impl EventSink for History {
    fn record(&self, event: HistoryEvent) {
        match self.events.lock() {
            Ok(mut e) => e.push(event),
            Err(poisoned) => poisoned.into_inner().push(event),
        }
    }
}

/// A whole history, serialised as `GetExecutionHistory` returns it: `{"events": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ExecutionHistory {
    /// The events, in id order.
    pub events: Vec<HistoryEvent>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_like_get_execution_history() {
        let ev = HistoryEvent {
            timestamp: DateTime::UNIX_EPOCH,
            kind: EventType::TaskStateEntered,
            id: 2,
            previous_event_id: 0,
            details: Some(EventDetails::StateEntered(StateEnteredEventDetails {
                name: "A".into(),
                input: "{}".into(),
                input_details: DataDetails::default(),
            })),
        };
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "timestamp": "1970-01-01T00:00:00.000Z", "type": "TaskStateEntered", "id": 2,
                "previousEventId": 0,
                "stateEnteredEventDetails": {"name": "A", "input": "{}", "inputDetails": {"truncated": false}}
            })
        );
        let back: HistoryEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, ev);
        let bare = HistoryEvent {
            kind: EventType::ParallelStateStarted,
            details: None,
            ..ev
        };
        let v = serde_json::to_value(&bare).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 4);
    }
}
