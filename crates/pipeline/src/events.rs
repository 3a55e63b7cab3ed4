//! The `events:putEvents` integration of the local pipeline: what the state machine's
//! `PublishResult` state sends, put on an [`EventBus`] as EventBridge would put it.
//!
//! As AWS's optimized integration does, each entry becomes an event with EventBridge's envelope
//! (`version`, `id`, `detail-type`, `source`, `account`, `time`, `region`, `resources`,
//! `detail`), the state machine and execution ARNs are appended to its `resources`, the task's
//! result is the `PutEvents` response (`Entries`, `FailedEntryCount`), and any refused entry
//! fails the task with `EventBridge.FailedEntry`, the response serialised as the cause.

use std::sync::Mutex;

use chrono::{SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use spotlight_states::{BoxFuture, StatesError, TaskRequest};

/// The resource of the integration.
pub const PUT_EVENTS: &str = "arn:aws:states:::events:putEvents";
/// The bus the local pipeline's `${ResultEventBusName}` names.
pub const LOCAL_EVENT_BUS: &str = "spotlight-results";
/// The error of a task whose `PutEvents` response reports a refused entry (AWS's name).
pub const FAILED_ENTRY: &str = "EventBridge.FailedEntry";

/// Why a bus refused one event: a `PutEventsResultEntry`'s `ErrorCode` and `ErrorMessage`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct EntryError {
    /// e.g. `InternalFailure`, `InvalidArgument`, `MalformedDetail`.
    pub code: String,
    /// What went wrong.
    pub message: String,
}

impl EntryError {
    /// An error of this code.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        EntryError {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// Where events go: an event bus. Locally, the store's event log (and a webhook).
pub trait EventBus: Send + Sync {
    /// Puts one event (the whole envelope, its `id` and `time` set) on `bus`.
    fn put<'a>(&'a self, bus: &'a str, event: &'a Value) -> BoxFuture<'a, Result<(), EntryError>>;
}

/// A bus that keeps its events in memory: the pipeline's default, and a test's witness.
#[derive(Debug, Default)]
pub struct MemoryBus {
    events: Mutex<Vec<(String, Value)>>,
}

impl MemoryBus {
    /// Every event put so far, with its bus, in order.
    pub fn events(&self) -> Vec<(String, Value)> {
        self.events.lock().map_or_else(
            |poisoned| poisoned.into_inner().clone(),
            |events| events.clone(),
        )
    }
}

impl EventBus for MemoryBus {
    fn put<'a>(&'a self, bus: &'a str, event: &'a Value) -> BoxFuture<'a, Result<(), EntryError>> {
        Box::pin(async move {
            let mut events = self
                .events
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            events.push((bus.to_owned(), event.clone()));
            Ok(())
        })
    }
}

/// Runs one `events:putEvents` task on `bus`.
pub(crate) async fn put_events(
    bus: &dyn EventBus,
    request: &TaskRequest<'_>,
) -> Result<Value, StatesError> {
    let entries = match request.parameters.get("Entries").and_then(Value::as_array) {
        // PutEvents takes 1 to 10 entries.
        Some(entries) if (1..=10).contains(&entries.len()) => entries,
        _ => {
            return Err(StatesError::new(
                "States.TaskFailed",
                "events:putEvents needs Parameters.Entries: an array of 1 to 10 entries",
            ))
        }
    };
    // `arn:aws:states:<region>:<account>:execution:<machine>:<name>`.
    let arn: Vec<&str> = request.execution_id.split(':').collect();
    let region = arn.get(3).copied().unwrap_or("local");
    let account = arn.get(4).copied().unwrap_or("000000000000");
    let machine = format!(
        "arn:aws:states:{region}:{account}:stateMachine:{}",
        request.state_machine_name
    );
    let mut results = Vec::with_capacity(entries.len());
    let mut failed = 0;
    for entry in entries {
        let outcome = match envelope(entry, region, account, &machine, request.execution_id) {
            Ok((bus_name, event)) => bus
                .put(&bus_name, &event)
                .await
                .map(|()| event["id"].clone()),
            Err(error) => Err(error),
        };
        match outcome {
            Ok(id) => results.push(json!({ "EventId": id })),
            Err(error) => {
                failed += 1;
                results.push(json!({ "ErrorCode": error.code, "ErrorMessage": error.message }));
            }
        }
    }
    let response = json!({ "Entries": results, "FailedEntryCount": failed });
    if failed > 0 {
        return Err(StatesError::new(FAILED_ENTRY, response.to_string()));
    }
    Ok(response)
}

/// The event EventBridge makes of one `PutEventsRequestEntry`, and the bus it names.
fn envelope(
    entry: &Value,
    region: &str,
    account: &str,
    machine: &str,
    execution: &str,
) -> Result<(String, Value), EntryError> {
    // AWS's wording for an entry without a source (recorded by LocalStack's snapshot tests);
    // DetailType's is written the same way.
    let required = |name: &str| {
        entry
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                EntryError::new(
                    "InvalidArgument",
                    format!(
                        "Parameter {name} is not valid. Reason: {name} is a required argument."
                    ),
                )
            })
    };
    let source = required("Source")?;
    let detail_type = required("DetailType")?;
    let malformed = || EntryError::new("MalformedDetail", "Detail is malformed.");
    // ASL may give Detail as an object; the API takes it as a string holding one.
    let detail = match entry.get("Detail") {
        None => Value::Object(Map::new()),
        Some(Value::Object(object)) => Value::Object(object.clone()),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(object)) => Value::Object(object),
            _ => return Err(malformed()),
        },
        Some(_) => return Err(malformed()),
    };
    let bus = entry
        .get("EventBusName")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_owned();
    let mut resources: Vec<Value> = entry
        .get("Resources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    resources.push(Value::from(machine));
    resources.push(Value::from(execution));
    let event = json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        "region": region,
        "resources": resources,
        "detail": detail,
    });
    Ok((bus, event))
}
