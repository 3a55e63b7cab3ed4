//! The engine's history and the published API contract are one shape: every event type the
//! engine emits deserialises into `spotlight_core`'s `ExecutionEvent` (what
//! `GET /api/executions/{id}/history` serves) and reads back into the same `HistoryEvent`.
//! (Here because this crate is the first to depend on both.)

use serde_json::{json, Value};
use spotlight_core::contracts::ExecutionEvent;
use spotlight_states::{
    BoxFuture, Clock, EventType, HistoryEvent, InvokerFn, OwnedTaskRequest, RunOptions,
    StateMachine, StatesError,
};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Time stands still and a wait ends as soon as anything else has had a turn; a task that
/// never answers therefore times out at once.
struct Frozen;

impl Clock for Frozen {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::UNIX_EPOCH
    }

    fn sleep(&self, _: std::time::Duration) -> BoxFuture<'_, ()> {
        Box::pin(tokio::task::yield_now())
    }
}

fn task(name: &str, extra: Value) -> Value {
    let mut state = json!({
        "Type": "Task",
        "Resource": format!("arn:aws:lambda:us-east-1:123456789012:function:{name}"),
    });
    if let (Some(state), Some(extra)) = (state.as_object_mut(), extra.as_object()) {
        state.extend(extra.clone());
    }
    state
}

/// The histories of machines that, between them, make the engine emit every event type.
fn histories() -> Vec<Vec<HistoryEvent>> {
    let catch_all = |next: &str| json!([{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": next}]);
    let machines = [
        // Every state type, succeeding; a Task retried once.
        json!({"StartAt": "Pass", "States": {
            "Pass": {"Type": "Pass", "Next": "Choose"},
            "Choose": {"Type": "Choice", "Choices": [
                {"Variable": "$.go", "BooleanEquals": true, "Next": "Wait"}
            ], "Default": "Wait"},
            "Wait": {"Type": "Wait", "Seconds": 1, "Next": "Both"},
            "Both": {"Type": "Parallel", "Next": "Done", "Branches": [
                {"StartAt": "Flaky", "States": {"Flaky": task("flaky", json!({
                    "Retry": [{"ErrorEquals": ["Again"], "MaxAttempts": 1}], "End": true
                }))}},
                {"StartAt": "Each", "States": {"Each": {
                    "Type": "Map", "ItemsPath": "$.items", "End": true,
                    "ItemProcessor": {"StartAt": "Item", "States": {
                        "Item": task("ok", json!({"End": true}))
                    }}
                }}}
            ]},
            "Done": {"Type": "Succeed"}
        }}),
        // A failing branch and a failing iteration, each caught, then a Fail state.
        json!({"StartAt": "Both", "States": {
            "Both": {"Type": "Parallel", "Next": "Each", "Catch": catch_all("Each"),
                "Branches": [{"StartAt": "Bad", "States": {"Bad": task("bad", json!({"End": true}))}}]},
            "Each": {"Type": "Map", "ItemsPath": "$.items", "Next": "Give up",
                "Catch": catch_all("Give up"),
                "ItemProcessor": {"StartAt": "Item", "States": {
                    "Item": task("bad", json!({"End": true}))
                }}},
            "Give up": {"Type": "Fail", "Error": "Gave", "Cause": "up"}
        }}),
        // A task that never answers, caught after its timeout.
        json!({"StartAt": "Slow", "States": {
            "Slow": task("slow", json!({"TimeoutSeconds": 1, "Catch": catch_all("After"), "End": true})),
            "After": {"Type": "Pass", "End": true}
        }}),
        // A JSONata task whose Output fails (EvaluationFailed), caught with an Assign.
        json!({"QueryLanguage": "JSONata", "StartAt": "Shape", "States": {
            "Shape": task("ok", json!({"Output": "{% $states.result.missing %}", "Next": "After",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Assign": {"why": "{% $states.errorOutput.Error %}"}, "Next": "After"}]})),
            "After": {"Type": "Pass", "End": true}
        }}),
        // An execution that runs out of time.
        json!({"TimeoutSeconds": 1, "StartAt": "Slow", "States": {
            "Slow": task("slow", json!({"End": true}))
        }}),
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    // The one that ends in a Fail state is redriven too (ExecutionRedriven).
    let redriven =
        StateMachine::from_value(machines[1].clone(), &HashMap::new()).expect("a valid machine");
    let mut histories: Vec<Vec<HistoryEvent>> = machines
        .into_iter()
        .map(|definition| {
            let machine =
                StateMachine::from_value(definition, &HashMap::new()).expect("a valid machine");
            let invoker = Arc::new(InvokerFn(|req: OwnedTaskRequest| async move {
                match req.resource.rsplit(':').next() {
                    Some("flaky") if req.retry_count == 0 => Err(StatesError::new("Again", "once")),
                    Some("bad") => Err(StatesError::new("Bad", "always")),
                    Some("slow") => std::future::pending().await,
                    _ => Ok(json!({"ok": true})),
                }
            }));
            let options = RunOptions {
                history: true,
                clock: Some(Arc::new(Frozen)),
                seed: Some(3),
                ..RunOptions::default()
            };
            let result = runtime
                .block_on(machine.run(json!({"go": true, "items": [1, 2]}), invoker, options))
                .expect("the engine runs");
            result.history.expect("a history").events
        })
        .collect();
    let previous = spotlight_states::ExecutionHistory {
        events: histories[1].clone(),
    };
    let invoker = Arc::new(InvokerFn(|_: OwnedTaskRequest| async move {
        Ok(json!({"ok": true}))
    }));
    let options = RunOptions {
        history: true,
        execution_name: Some("redriven".into()),
        clock: Some(Arc::new(Frozen)),
        seed: Some(3),
        ..RunOptions::default()
    };
    let result = runtime
        .block_on(redriven.redrive(&previous, invoker, options))
        .expect("the engine redrives");
    histories.push(result.history.expect("a history").events);
    histories
}

#[test]
fn every_engine_event_is_an_api_execution_event() {
    let mut seen = BTreeSet::new();
    for event in histories().into_iter().flatten() {
        let json = serde_json::to_value(&event).expect("an event serialises");
        let api: ExecutionEvent = serde_json::from_value(json.clone())
            .unwrap_or_else(|e| panic!("{json} is not an ExecutionEvent: {e}"));
        assert_eq!(api.kind, event.kind.as_str());
        assert_eq!(
            (api.id, api.previous_event_id),
            (event.id, event.previous_event_id)
        );
        assert_eq!(api.timestamp, event.timestamp);
        for (member, details) in &api.details {
            assert_eq!(json.get(member), Some(details), "{member} of {json}");
        }
        let served = serde_json::to_value(&api).expect("an ExecutionEvent serialises");
        let back: HistoryEvent = serde_json::from_value(served.clone())
            .unwrap_or_else(|e| panic!("{served} does not read back: {e}"));
        assert_eq!(back, event);
        seen.insert(event.kind.as_str());
    }
    let all: BTreeSet<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
    let missing: Vec<&&str> = all.difference(&seen).collect();
    assert!(missing.is_empty(), "no machine here emits {missing:?}");
}
