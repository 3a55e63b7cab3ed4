//! Attribution of histories the engine really wrote, for each way a state can end.

use super::*;
use crate::{BoxFuture, Clock, InvokerFn, OwnedTaskRequest, RunOptions, StateMachine, StatesError};
use serde_json::json;
use std::sync::Arc;

/// Time stands still and a wait ends as soon as anything else has had a turn: retry backoff
/// costs nothing, and a task (whose answer is ready at once) still beats its timeout.
struct Frozen;

impl Clock for Frozen {
    fn now(&self) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH
    }

    fn sleep(&self, _: std::time::Duration) -> BoxFuture<'_, ()> {
        Box::pin(tokio::task::yield_now())
    }
}

type Script = fn(&str, u32) -> Result<(), (&'static str, &'static str)>;

/// Runs `definition` on `input`, every task answering as `script` says for its state name and
/// retry count, and returns the history.
fn run(definition: Value, input: Value, script: Script) -> Vec<HistoryEvent> {
    let machine = StateMachine::from_value(definition, &HashMap::new()).expect("a valid machine");
    let invoker = Arc::new(InvokerFn(move |req: OwnedTaskRequest| async move {
        match script(&req.state_name, req.retry_count) {
            Ok(()) => Ok(json!({"from": req.state_name})),
            Err((error, cause)) => Err(StatesError::new(error, cause)),
        }
    }));
    let options = RunOptions {
        history: true,
        clock: Some(Arc::new(Frozen)),
        seed: Some(7),
        ..RunOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let result = runtime
        .block_on(machine.run(input, invoker, options))
        .expect("the engine runs");
    result.history.expect("a history").events
}

fn task(next: Value) -> Value {
    let mut state = json!({
        "Type": "Task",
        "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f",
    });
    if let (Some(state), Some(next)) = (state.as_object_mut(), next.as_object()) {
        state.extend(next.clone());
    }
    state
}

/// The one entry of `name`.
fn only<'a>(attribution: &'a Attribution, name: &str) -> &'a StateEntry {
    let mut found = attribution
        .entries()
        .iter()
        .filter(|e| e.name.as_deref() == Some(name));
    let entry = found.next().unwrap_or_else(|| panic!("{name} was entered"));
    assert!(found.next().is_none(), "{name} was entered once");
    entry
}

/// The typed history and its JSON say the same.
fn both_ways(events: &[HistoryEvent]) -> Attribution {
    let typed = attribute(events);
    let json: Vec<Value> = events
        .iter()
        .map(|e| serde_json::to_value(e).expect("an event serialises"))
        .collect();
    assert_eq!(
        attribute(&json),
        typed,
        "the JSON reads like the typed events"
    );
    typed
}

#[test]
fn a_retried_task_counts_its_attempts_and_keeps_each_failure() {
    let definition = json!({"StartAt": "Call", "States": {
        "Call": task(json!({
            "Retry": [{"ErrorEquals": ["Throttled"], "MaxAttempts": 3}],
            "End": true
        }))
    }});
    let events = run(definition, json!({"n": 1}), |_, retry| match retry {
        0 | 1 => Err(("Throttled", "slow down")),
        _ => Ok(()),
    });
    let attribution = both_ways(&events);
    let call = only(&attribution, "Call");
    assert_eq!(call.kind, Some(StateKind::Task));
    assert_eq!((call.attempts, call.retries()), (3, 2));
    assert_eq!(call.failures.len(), 2);
    assert_eq!(
        call.failures[0],
        AttemptFailure {
            event_type: "TaskFailed".into(),
            error: Some("Throttled".into()),
            cause: Some("slow down".into()),
        }
    );
    assert!(!call.last_attempt_failed);
    assert_eq!(call.outcome, StateOutcome::Retried);
    assert_eq!(call.caught(), None);
    assert_eq!(call.input.as_deref(), Some(r#"{"n":1}"#));
    assert_eq!(call.output.as_deref(), Some(r#"{"from":"Call"}"#));
    assert_eq!(call.entered_at, Some(DateTime::UNIX_EPOCH));
    assert!(call.exited_event_id > call.entered_event_id);
    assert!(attribution.ended());
    assert_eq!(attribution.execution_failure(), None);
    let activity = &attribution.by_state()["Call"];
    assert_eq!(
        (
            activity.entered,
            activity.attempts,
            activity.retries,
            activity.failures
        ),
        (1, 3, 2, 2)
    );
}

#[test]
fn a_caught_failure_names_its_error_and_where_the_catcher_went() {
    let definition = json!({"StartAt": "Call", "States": {
        "Call": task(json!({
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Recover"}],
            "Next": "Never"
        })),
        "Never": {"Type": "Succeed"},
        "Recover": {"Type": "Pass", "End": true}
    }});
    let events = run(definition, json!({}), |_, _| Err(("Broken", "for good")));
    let attribution = both_ways(&events);
    let call = only(&attribution, "Call");
    assert_eq!(call.outcome, StateOutcome::Caught);
    assert_eq!(call.attempts, 1);
    let caught = call.caught().expect("caught");
    assert_eq!(caught.error.as_deref(), Some("Broken"));
    assert_eq!(caught.cause.as_deref(), Some("for good"));
    let next = call.next.map(|i| &attribution.entries()[i]);
    assert_eq!(next.and_then(|e| e.name.as_deref()), Some("Recover"));
    assert_eq!(
        only(&attribution, "Recover").outcome,
        StateOutcome::Succeeded
    );
    let outcomes = attribution.outcomes();
    assert_eq!(outcomes.get("Never"), None, "never entered");
    assert_eq!(attribution.by_state()["Call"].caught, 1);
}

#[test]
fn a_failing_branch_fails_its_state_and_the_parallel_is_caught() {
    let definition = json!({"StartAt": "Fan", "States": {
        "Fan": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "Left", "States": {"Left": task(json!({"End": true}))}},
                {"StartAt": "Right", "States": {"Right": task(json!({"End": true}))}}
            ],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done"}],
            "End": true
        },
        "Done": {"Type": "Succeed"}
    }});
    let events = run(definition, json!({}), |state, _| match state {
        "Right" => Err(("Corrupt", "not an image")),
        _ => Ok(()),
    });
    let attribution = both_ways(&events);
    let fan_index = attribution
        .entries()
        .iter()
        .position(|e| e.name.as_deref() == Some("Fan"))
        .expect("Fan was entered");
    let fan = &attribution.entries()[fan_index];
    assert_eq!(fan.kind, Some(StateKind::Parallel));
    assert_eq!(fan.outcome, StateOutcome::Caught);
    assert_eq!(fan.attempts, 1);
    assert_eq!(fan.failures[0].event_type, "ParallelStateFailed");
    let right = only(&attribution, "Right");
    assert_eq!(right.container, Some(fan_index));
    assert_eq!(right.outcome, StateOutcome::Failed);
    assert_eq!(right.failures[0].error.as_deref(), Some("Corrupt"));
    assert_eq!(right.execution_failure, None, "the execution succeeded");
    let left = only(&attribution, "Left");
    assert_eq!(left.container, Some(fan_index));
    assert!(matches!(
        left.outcome,
        StateOutcome::Succeeded | StateOutcome::NotRun
    ));
    assert_eq!(only(&attribution, "Done").outcome, StateOutcome::Succeeded);
}

#[test]
fn map_iterations_are_entries_inside_their_map() {
    let definition = json!({"StartAt": "Each", "States": {
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemProcessor": {"StartAt": "Item", "States": {
                "Item": task(json!({
                    "Retry": [{"ErrorEquals": ["Flaky"], "MaxAttempts": 1}],
                    "End": true
                }))
            }},
            "End": true
        }
    }});
    let events = run(definition, json!({"items": [1, 2, 3]}), |_, retry| {
        // Every iteration fails once, then succeeds.
        if retry == 0 {
            Err(("Flaky", "once"))
        } else {
            Ok(())
        }
    });
    let attribution = both_ways(&events);
    let map_index = attribution
        .entries()
        .iter()
        .position(|e| e.kind == Some(StateKind::Map))
        .expect("the Map was entered");
    let items: Vec<&StateEntry> = attribution
        .entries()
        .iter()
        .filter(|e| e.name.as_deref() == Some("Item"))
        .collect();
    assert_eq!(items.len(), 3);
    for item in &items {
        assert_eq!(item.container, Some(map_index));
        assert_eq!((item.attempts, item.outcome), (2, StateOutcome::Retried));
    }
    let each = &attribution.entries()[map_index];
    assert_eq!((each.attempts, each.outcome), (1, StateOutcome::Succeeded));
    let activity = &attribution.by_state()["Item"];
    assert_eq!(
        (
            activity.entered,
            activity.attempts,
            activity.retries,
            activity.outcome
        ),
        (3, 6, 3, StateOutcome::Retried)
    );
}

#[test]
fn a_fail_state_and_a_choice_without_a_match_carry_the_executions_failure() {
    let definition = json!({"StartAt": "Give up", "States": {
        "Give up": {"Type": "Fail", "Error": "Rejected", "Cause": "too small"}
    }});
    let attribution = both_ways(&run(definition, json!({}), |_, _| Ok(())));
    let give_up = only(&attribution, "Give up");
    assert_eq!(give_up.outcome, StateOutcome::Failed);
    let failure = give_up
        .execution_failure
        .as_ref()
        .expect("the execution's failure");
    assert_eq!(failure.event_type, "ExecutionFailed");
    assert_eq!(failure.error.as_deref(), Some("Rejected"));
    assert_eq!(failure.cause.as_deref(), Some("too small"));
    assert_eq!(attribution.execution_failure(), Some(failure));

    let definition = json!({"StartAt": "Pick", "States": {
        "Pick": {"Type": "Choice", "Choices": [
            {"Variable": "$.n", "NumericEquals": 1, "Next": "One"}
        ]},
        "One": {"Type": "Succeed"}
    }});
    let attribution = both_ways(&run(definition, json!({"n": 2}), |_, _| Ok(())));
    let pick = only(&attribution, "Pick");
    assert_eq!(pick.outcome, StateOutcome::Failed);
    assert_eq!(
        pick.execution_failure
            .as_ref()
            .and_then(|f| f.error.as_deref()),
        Some("States.NoChoiceMatched")
    );
    assert_eq!(attribution.outcomes().get("One"), None);
}

#[test]
fn an_unfinished_history_shows_what_is_running() {
    let definition = json!({"StartAt": "First", "States": {
        "First": {"Type": "Pass", "Next": "Call"},
        "Call": task(json!({
            "Retry": [{"ErrorEquals": ["Down"], "MaxAttempts": 2}],
            "End": true
        }))
    }});
    let events = run(definition, json!({}), |_, _| Err(("Down", "for now")));
    let failed_once = events
        .iter()
        .position(|e| e.kind == super::super::EventType::TaskFailed)
        .expect("Call failed once");
    let attribution = attribute(&events[..=failed_once]);
    assert!(!attribution.ended());
    assert_eq!(only(&attribution, "First").outcome, StateOutcome::Succeeded);
    let call = only(&attribution, "Call");
    assert_eq!(call.outcome, StateOutcome::Running, "between two attempts");
    assert!(call.last_attempt_failed);
    assert_eq!(attribute(&events).outcomes()["Call"], StateOutcome::Failed);
}

#[test]
fn a_loop_enters_a_state_again() {
    let definition = json!({"StartAt": "Count", "States": {
        "Count": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)"}, "Next": "Enough?"},
        "Enough?": {"Type": "Choice", "Choices": [
            {"Variable": "$.n", "NumericLessThan": 3, "Next": "Count"}
        ], "Default": "Done"},
        "Done": {"Type": "Succeed"}
    }});
    let attribution = both_ways(&run(definition, json!({"n": 0}), |_, _| Ok(())));
    let by_state = attribution.by_state();
    assert_eq!(by_state["Count"].entered, 3);
    assert_eq!(by_state["Count"].outcome, StateOutcome::Succeeded);
    let latest = &attribution.entries()[by_state["Count"].latest];
    assert_eq!(latest.output.as_deref(), Some(r#"{"n":3}"#));
}

#[test]
fn legacy_lambda_events_and_a_retried_parallel_count_as_retries() {
    let event = |id: u64, prev: u64, kind: &str, name: Option<&str>| {
        let mut e = json!({"id": id, "previousEventId": prev, "type": kind});
        if let Some(name) = name {
            let key = if kind.ends_with("Entered") {
                "stateEnteredEventDetails"
            } else {
                "stateExitedEventDetails"
            };
            e[key] = json!({"name": name});
        }
        e
    };
    let events = vec![
        event(1, 0, "ExecutionStarted", None),
        event(2, 0, "TaskStateEntered", Some("Call")),
        event(3, 2, "LambdaFunctionScheduled", None),
        event(4, 3, "LambdaFunctionStarted", None),
        event(5, 4, "LambdaFunctionTimedOut", None),
        event(6, 5, "LambdaFunctionScheduled", None),
        event(7, 6, "LambdaFunctionStarted", None),
        event(8, 7, "LambdaFunctionSucceeded", None),
        event(9, 8, "TaskStateExited", Some("Call")),
        event(10, 9, "ParallelStateEntered", Some("Both")),
        event(11, 10, "ParallelStateStarted", None),
        event(12, 11, "PassStateEntered", Some("Left")),
        event(13, 11, "FailStateEntered", Some("Right")),
        event(14, 13, "ParallelStateStarted", None),
        event(15, 14, "PassStateEntered", Some("Left")),
        event(16, 15, "PassStateExited", Some("Left")),
        event(17, 14, "PassStateEntered", Some("Right")),
        event(18, 17, "PassStateExited", Some("Right")),
        event(19, 18, "ParallelStateSucceeded", None),
        event(20, 19, "ParallelStateExited", Some("Both")),
        event(21, 20, "ExecutionSucceeded", None),
    ];
    // (In the second attempt "Right" is a Pass: names are all the history has.)
    let outcomes = attribute(&events).outcomes();
    assert_eq!(outcomes["Call"], StateOutcome::Retried);
    assert_eq!(outcomes["Both"], StateOutcome::Retried);
    assert_eq!(outcomes["Left"], StateOutcome::Succeeded);
    assert_eq!(outcomes["Right"], StateOutcome::Retried);
    // Reversed, the events are read in id order all the same.
    let reversed: Vec<Value> = events.iter().rev().cloned().collect();
    assert_eq!(attribute(&reversed).outcomes(), outcomes);
}

#[test]
fn garbage_histories_do_not_panic() {
    let garbage = vec![
        json!(1),
        json!(null),
        json!({"type": 5}),
        json!({"id": 1, "previousEventId": 1, "type": "TaskStateEntered"}),
        json!({"id": 2, "previousEventId": 9, "type": "TaskStateExited"}),
        json!({"id": 3, "previousEventId": 4, "type": "ParallelStateFailed"}),
        json!({"id": 4, "previousEventId": 3, "type": "ExecutionFailed"}),
        json!({"id": "x", "type": "PassStateEntered", "stateEnteredEventDetails": {"name": 7}}),
        json!({"type": "PassStateEntered", "stateEnteredEventDetails": {"name": "Loose"}}),
        json!({"id": u64::MAX, "previousEventId": u64::MAX, "type": "MapIterationFailed"}),
        json!({"id": 5, "previousEventId": 2, "type": "TaskStateExited",
               "timestamp": "yesterday", "stateExitedEventDetails": {"name": "Nobody"}}),
    ];
    let attribution = attribute(&garbage);
    assert_eq!(
        attribution
            .outcomes()
            .get("Loose")
            .copied()
            .unwrap_or_default(),
        StateOutcome::NotRun
    );
    assert!(attribute::<Value>(&[]).entries().is_empty());
}
