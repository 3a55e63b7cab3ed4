//! What the graph's tests share: the shipped definition, real histories from the engine, and
//! checks on the drawn SVG.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{json, Value};
use spotlight_states::{
    BoxFuture, Clock, InvokerFn, OwnedTaskRequest, RunOptions, StateMachine, StateOutcome,
    StatesError, Status,
};

use crate::html::Esc;

pub(super) const PIPELINE: &str = include_str!("../../../../statemachine/pipeline.asl.json");
pub(super) const SCRIPT: &str = "<script>alert(1)</script>";
pub(super) const ATTRIBUTE: &str = r#""><img src=x onerror=alert(1)>"#;

/// Time stands still and a wait ends as soon as anything else has had a turn: retry backoff
/// costs nothing, and a task (whose answer is ready at once) still beats its timeout.
pub(super) struct Frozen;

impl Clock for Frozen {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::UNIX_EPOCH
    }

    fn sleep(&self, _: std::time::Duration) -> BoxFuture<'_, ()> {
        Box::pin(tokio::task::yield_now())
    }
}

pub(super) type Script = fn(&str, u32) -> Result<(), (&'static str, &'static str)>;

/// Runs `definition` on `input`, every task answering as `script` says for its state name
/// and retry count, and returns the history as JSON events.
pub(super) async fn run(definition: &str, input: Value, script: Script) -> (Status, Vec<Value>) {
    let subs: HashMap<String, String> = [
        "ValidateFunctionArn",
        "DetectLabelsFunctionArn",
        "DetectModerationFunctionArn",
        "DetectTextFunctionArn",
        "RecordFunctionArn",
        "RecordPlanFunctionArn",
    ]
    .iter()
    .map(|s| {
        (
            s.to_string(),
            format!("arn:aws:lambda:us-east-1:123456789012:function:{s}"),
        )
    })
    .chain([("ResultEventBusName".to_owned(), "results".to_owned())])
    .collect();
    let machine = StateMachine::parse(definition, &subs).expect("a valid definition");
    let invoker = Arc::new(InvokerFn(move |req: OwnedTaskRequest| async move {
        match script(&req.state_name, req.retry_count) {
            Ok(()) => Ok(answer(&req)),
            Err((error, cause)) => Err(StatesError::new(error, cause)),
        }
    }));
    let options = RunOptions {
        history: true,
        clock: Some(Arc::new(Frozen)),
        seed: Some(7),
        ..RunOptions::default()
    };
    let result = machine
        .run(input, invoker, options)
        .await
        .expect("the engine runs");
    let events = result
        .history
        .expect("a history")
        .events
        .iter()
        .map(|e| serde_json::to_value(e).expect("an event serialises"))
        .collect();
    (result.status, events)
}

/// A task's answer in the shape the shipped definition reads: the record step's output for the
/// three record states, `PutEvents`' response for the result event, any payload otherwise.
fn answer(req: &OwnedTaskRequest) -> Value {
    if req.resource == "arn:aws:states:::events:putEvents" {
        return json!({"Entries": [{"EventId": "event-1"}], "FailedEntryCount": 0});
    }
    let status = match req.state_name.as_str() {
        "Record" => "ANALYZED",
        "RecordRejected" => "REJECTED",
        "RecordFailed" => "FAILED",
        _ => return json!({"Payload": {"from": req.state_name}}),
    };
    json!({"Payload": {
        "id": "cGhvdG9z.ZG9nLmpwZw", "bucket": "photos", "key": "beach/dog.jpg",
        "status": status, "safe": false, "verdict": "UNKNOWN", "themes": [],
        "error": null, "write": "WRITTEN"
    }})
}

pub(super) fn request() -> Value {
    json!({"bucket": "photos", "key": "beach/dog.jpg"})
}

pub(super) fn of(outcomes: &BTreeMap<String, StateOutcome>, name: &str) -> StateOutcome {
    outcomes.get(name).copied().unwrap_or_default()
}

pub(super) fn assert_outcomes(
    outcomes: &BTreeMap<String, StateOutcome>,
    expected: &[(&str, StateOutcome)],
) {
    for (name, outcome) in expected {
        assert_eq!(of(outcomes, name), *outcome, "{name} in {outcomes:?}");
    }
}

/// `definition` parsed, as the console parses its own (placeholders left as written).
pub(super) fn machine(definition: &Value) -> StateMachine {
    StateMachine::from_value(definition.clone(), &HashMap::new()).expect("a valid definition")
}

pub(super) fn pipeline() -> Value {
    serde_json::from_str(PIPELINE).expect("the shipped definition is JSON")
}

/// Every state name in a definition, branches included.
pub(super) fn names(definition: &Value) -> Vec<String> {
    let mut all = Vec::new();
    let Some(states) = definition.get("States").and_then(Value::as_object) else {
        return all;
    };
    for (name, state) in states {
        all.push(name.clone());
        for branch in state
            .get("Branches")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            all.extend(names(branch));
        }
    }
    all
}

/// The status a node is drawn with.
pub(super) fn drawn_status<'s>(svg: &'s str, name: &str) -> &'s str {
    let at = svg
        .find(&format!("data-state=\"{}\"", Esc(name)))
        .expect("the node");
    let from = svg[at..].find("data-status=\"").expect("a status") + at + 13;
    let to = svg[from..].find('"').expect("a closing quote") + from;
    &svg[from..to]
}

pub(super) fn well_formed(svg: &str) {
    assert!(svg.starts_with("<svg class=\"graph\" "), "{svg}");
    assert!(svg.ends_with("</svg>"));
    for (open, close) in [("<g ", "</g>"), ("<a ", "</a>"), ("<text", "</text>")] {
        let opened = svg.matches(open).count()
            + if open == "<g " {
                svg.matches("<g>").count()
            } else {
                0
            };
        assert_eq!(opened, svg.matches(close).count(), "{open} in {svg}");
    }
    assert_eq!(svg.matches("<svg").count(), 1);
    // The CSP forbids inline styles and scripts.
    assert!(!svg.contains("style="));
    assert!(!svg.contains("<style"));
    assert!(!svg.contains("<script"));
    assert!(!svg.contains("NaN") && !svg.contains("inf"));
}
