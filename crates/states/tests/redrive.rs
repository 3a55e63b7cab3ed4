//! Redrive, as `RedriveExecution` does it: from the state that failed, the succeeded states
//! (and succeeded Parallel branches and Map iterations) not run again, the same ARN and input,
//! variables as they were, the history going on after `ExecutionRedriven`.

use serde_json::{json, Value};
use spotlight_states::{
    attribute, EventDetails, EventType, ExecutionHistory, ExecutionResult, InvokerFn,
    OwnedTaskRequest, RedriveError, RunOptions, StateMachine, StateOutcome, Status,
};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Every task call (state name and parameters); the states or items named in `broken` fail.
#[derive(Clone, Default)]
struct Calls {
    made: Arc<Mutex<Vec<(String, Value)>>>,
    broken: Arc<Mutex<HashSet<String>>>,
}

impl Calls {
    fn breaking(names: &[&str]) -> Self {
        let calls = Calls::default();
        calls.set_broken(names);
        calls
    }

    fn set_broken(&self, names: &[&str]) {
        *self.broken.lock().unwrap() = names.iter().map(|n| n.to_string()).collect();
    }

    /// The calls made since the last `take`.
    fn take(&self) -> Vec<(String, Value)> {
        std::mem::take(&mut *self.made.lock().unwrap())
    }

    fn names(calls: &[(String, Value)]) -> Vec<String> {
        let mut names: Vec<String> = calls.iter().map(|(n, _)| n.clone()).collect();
        names.sort();
        names
    }

    fn invoker(&self) -> Arc<InvokerFn<impl Fn(OwnedTaskRequest) -> BoxedCall + Send + Sync>> {
        let calls = self.clone();
        Arc::new(InvokerFn(move |req: OwnedTaskRequest| {
            let calls = calls.clone();
            let call: BoxedCall = Box::pin(async move {
                let item = req.parameters.get("item").map(|i| i.to_string());
                let key = item.map_or(req.state_name.clone(), |i| {
                    format!("{}#{i}", req.state_name)
                });
                calls
                    .made
                    .lock()
                    .unwrap()
                    .push((key.clone(), req.parameters.clone()));
                let broken = calls.broken.lock().unwrap().contains(&key);
                if broken {
                    // Failing last: the branches and iterations that succeed have ended first.
                    tokio::time::sleep(Duration::from_millis(40)).await;
                    return Err(spotlight_states::StatesError::new(
                        "Boom",
                        format!("{key} is broken"),
                    ));
                }
                Ok(json!({"from": key, "got": req.parameters}))
            });
            call
        }))
    }
}

type BoxedCall = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Value, spotlight_states::StatesError>> + Send>,
>;

fn options() -> RunOptions {
    RunOptions {
        execution_name: Some("exec-1".into()),
        history: true,
        seed: Some(7),
        ..RunOptions::default()
    }
}

fn history(result: &ExecutionResult) -> ExecutionHistory {
    result.history.clone().expect("the history was kept")
}

const TASK: &str = r#""Resource": "arn:aws:states:::lambda:invoke""#;

fn machine(definition: &str) -> StateMachine {
    StateMachine::parse(&definition.replace("TASK", TASK), &HashMap::new())
        .unwrap_or_else(|e| panic!("definition loads: {e}"))
}

#[tokio::test]
async fn a_redrive_reruns_the_failed_task_and_what_follows_it_and_nothing_before() {
    let machine = machine(
        r#"{"StartAt": "Setup", "States": {
            "Setup": {"Type": "Pass", "Assign": {"who.$": "$.name"}, "Next": "First"},
            "First": {"Type": "Task", TASK, "Parameters": {"n": 1}, "ResultPath": "$.first",
                      "Assign": {"firstFrom.$": "$.from"}, "Next": "Flaky"},
            "Flaky": {"Type": "Task", TASK, "Parameters": {"who.$": "$who", "first.$": "$firstFrom"},
                      "ResultPath": "$.flaky", "Next": "Last"},
            "Last": {"Type": "Task", TASK,
                     "Parameters": {"redrives.$": "$$.Execution.RedriveCount", "start.$": "$$.Execution.StartTime",
                                    "input.$": "$$.Execution.Input"},
                     "End": true}
        }}"#,
    );
    let calls = Calls::breaking(&["Flaky"]);
    let input = json!({"name": "Ada"});
    let failed = machine
        .run(input.clone(), calls.invoker(), options())
        .await
        .unwrap();
    assert_eq!(failed.status, Status::Failed);
    assert_eq!(failed.error.as_deref(), Some("Boom"));
    assert_eq!(Calls::names(&calls.take()), ["First", "Flaky"]);
    let old = history(&failed);
    let old_last = old.events.last().unwrap().id;

    calls.set_broken(&[]);
    let redriven = machine
        .redrive(&old, calls.invoker(), options())
        .await
        .unwrap();
    assert_eq!(redriven.status, Status::Succeeded, "{redriven:?}");
    assert_eq!(redriven.execution_arn, failed.execution_arn);
    // First is not run again; Flaky sees the variables assigned before it failed.
    let made = calls.take();
    assert_eq!(Calls::names(&made), ["Flaky", "Last"]);
    assert_eq!(made[0].1, json!({"who": "Ada", "first": "First"}));
    let last = &made[1].1;
    assert_eq!(last["redrives"], json!(1));
    assert_eq!(last["input"], input);
    let started = old.events[0]
        .timestamp
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    assert_eq!(last["start"], json!(started));

    // The history goes on: the old events unchanged, then ExecutionRedriven, numbered after.
    let events = history(&redriven).events;
    assert_eq!(&events[..old.events.len()], &old.events[..]);
    let next = &events[old.events.len()];
    assert_eq!(next.id, old_last + 1);
    assert_eq!(next.kind, EventType::ExecutionRedriven);
    assert_eq!(next.previous_event_id, old_last);
    let json = serde_json::to_value(next).unwrap();
    assert_eq!(
        json["executionRedrivenEventDetails"],
        json!({"redriveCount": 1})
    );
    let entered = &events[old.events.len() + 1];
    assert_eq!(entered.kind, EventType::TaskStateEntered);
    assert_eq!(entered.previous_event_id, next.id);
    // Flaky is entered again with the input it had the first time.
    let inputs: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.details {
            Some(EventDetails::StateEntered(d)) if d.name == "Flaky" => Some(d.input.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(inputs.len(), 2);
    assert_eq!(inputs[0], inputs[1]);
    let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
    assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>());
    assert_eq!(events.last().unwrap().kind, EventType::ExecutionSucceeded);

    // Read while the redrive runs (up to ExecutionRedriven): not ended, no failure of its own.
    let in_flight = attribute(&events[..=old.events.len()]);
    assert!(!in_flight.ended());
    assert!(in_flight.execution_failure().is_none());
    assert!(attribute(&old.events).execution_failure().is_some());

    // Read back state by state: ended well, Flaky failed then succeeded.
    let read = attribute(&events);
    assert!(read.ended());
    assert!(read.execution_failure().is_none());
    let outcomes = read.outcomes();
    assert_eq!(outcomes["First"], StateOutcome::Succeeded);
    assert_eq!(outcomes["Flaky"], StateOutcome::Retried);
    assert_eq!(outcomes["Last"], StateOutcome::Succeeded);
}

#[tokio::test]
async fn a_parallel_redrives_only_its_failed_branch_even_when_redriven_twice() {
    let machine = machine(
        r#"{"StartAt": "Both", "States": {
            "Both": {"Type": "Parallel", "Next": "After", "Branches": [
                {"StartAt": "A", "States": {"A": {"Type": "Task", TASK, "End": true}}},
                {"StartAt": "B1", "States": {
                    "B1": {"Type": "Task", TASK, "ResultPath": "$.b1", "Next": "B2"},
                    "B2": {"Type": "Task", TASK, "End": true}}},
                {"StartAt": "C", "States": {"C": {"Type": "Task", TASK, "End": true}}}
            ]},
            "After": {"Type": "Pass", "End": true}
        }}"#,
    );
    let calls = Calls::breaking(&["B2"]);
    let failed = machine
        .run(json!({}), calls.invoker(), options())
        .await
        .unwrap();
    assert_eq!(failed.status, Status::Failed);
    assert_eq!(Calls::names(&calls.take()), ["A", "B1", "B2", "C"]);

    // Still broken: only B2 runs again (B1 had succeeded in its branch), and fails again.
    let again = machine
        .redrive(&history(&failed), calls.invoker(), options())
        .await
        .unwrap();
    assert_eq!(again.status, Status::Failed);
    assert_eq!(Calls::names(&calls.take()), ["B2"]);

    calls.set_broken(&[]);
    let redriven = machine
        .redrive(&history(&again), calls.invoker(), options())
        .await
        .unwrap();
    assert_eq!(redriven.status, Status::Succeeded, "{redriven:?}");
    assert_eq!(Calls::names(&calls.take()), ["B2"]);
    let output = redriven.output.clone().unwrap();
    assert_eq!(output[0]["from"], "A");
    assert_eq!(output[1]["from"], "B2");
    assert_eq!(output[2]["from"], "C");
    let redrives: Vec<Value> = history(&redriven)
        .events
        .iter()
        .filter(|e| e.kind == EventType::ExecutionRedriven)
        .map(|e| serde_json::to_value(e).unwrap()["executionRedrivenEventDetails"].clone())
        .collect();
    assert_eq!(
        redrives,
        [json!({"redriveCount": 1}), json!({"redriveCount": 2})]
    );
}

#[tokio::test]
async fn a_map_redrives_only_its_unsuccessful_iterations() {
    let machine = machine(
        r#"{"StartAt": "Each", "States": {
            "Each": {"Type": "Map", "ItemsPath": "$.items", "End": true,
                     "ItemSelector": {"item.$": "$$.Map.Item.Value"},
                     "ItemProcessor": {"StartAt": "Work", "States": {
                        "Work": {"Type": "Task", TASK, "Parameters": {"item.$": "$.item"},
                                 "OutputPath": "$.from", "End": true}}}}
        }}"#,
    );
    let calls = Calls::breaking(&["Work#2", "Work#4"]);
    let input = json!({"items": [1, 2, 3, 4, 5]});
    let failed = machine
        .run(input, calls.invoker(), options())
        .await
        .unwrap();
    assert_eq!(failed.status, Status::Failed);
    assert_eq!(calls.take().len(), 5);

    calls.set_broken(&[]);
    let redriven = machine
        .redrive(&history(&failed), calls.invoker(), options())
        .await
        .unwrap();
    assert_eq!(redriven.status, Status::Succeeded, "{redriven:?}");
    assert_eq!(Calls::names(&calls.take()), ["Work#2", "Work#4"]);
    assert_eq!(
        redriven.output,
        Some(json!(["Work#1", "Work#2", "Work#3", "Work#4", "Work#5"]))
    );
}

#[tokio::test]
async fn a_caught_failure_ends_in_a_fail_state_which_a_redrive_enters_again() {
    let machine = machine(
        r#"{"StartAt": "Work", "States": {
            "Work": {"Type": "Task", TASK, "Next": "Done",
                     "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}]},
            "Done": {"Type": "Succeed"},
            "Failed": {"Type": "Fail", "Error": "WorkFailed"}
        }}"#,
    );
    let calls = Calls::breaking(&["Work"]);
    let failed = machine
        .run(json!({}), calls.invoker(), options())
        .await
        .unwrap();
    assert_eq!(failed.error.as_deref(), Some("WorkFailed"));
    calls.take();
    calls.set_broken(&[]);
    // As AWS documents: the Fail state is entered again and fails again; Work, caught, is not
    // run again.
    let redriven = machine
        .redrive(&history(&failed), calls.invoker(), options())
        .await
        .unwrap();
    assert_eq!(redriven.status, Status::Failed);
    assert_eq!(redriven.error.as_deref(), Some("WorkFailed"));
    assert!(calls.take().is_empty());
    let events = history(&redriven).events;
    let after: Vec<EventType> = events
        .iter()
        .skip(history(&failed).events.len())
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        after,
        [
            EventType::ExecutionRedriven,
            EventType::FailStateEntered,
            EventType::ExecutionFailed
        ]
    );
}

#[tokio::test]
async fn what_aws_refuses_to_redrive_is_refused_with_execution_not_redrivable() {
    let machine =
        machine(r#"{"StartAt": "Work", "States": {"Work": {"Type": "Task", TASK, "End": true}}}"#);
    let calls = Calls::default();
    let succeeded = machine
        .run(json!({}), calls.invoker(), options())
        .await
        .unwrap();
    calls.take();
    let refused = machine
        .redrive(&history(&succeeded), calls.invoker(), options())
        .await
        .unwrap_err();
    assert_eq!(refused.name(), "ExecutionNotRedrivable");
    assert!(matches!(refused, RedriveError::NotRedrivable { .. }));
    assert!(
        refused.to_string().contains(&succeeded.execution_arn)
            && refused.to_string().contains("SUCCEEDED"),
        "{refused}"
    );

    // Failed, but more than 14 days ago.
    calls.set_broken(&["Work"]);
    let failed = machine
        .run(json!({}), calls.invoker(), options())
        .await
        .unwrap();
    let mut old = history(&failed);
    for event in &mut old.events {
        event.timestamp -= chrono::Duration::days(15);
    }
    let refused = machine
        .redrive(&old, calls.invoker(), options())
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("14 days"), "{refused}");

    // A history too long to take the redrive's events.
    let mut long = history(&failed);
    let filler = long.events[1].clone();
    let first_free = long.events.len() as u64 + 1;
    long.events
        .extend((0..25_000u64).map(|i| spotlight_states::HistoryEvent {
            id: first_free + i,
            ..filler.clone()
        }));
    let refused = machine
        .redrive(&long, calls.invoker(), options())
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("24999"), "{refused}");
    assert!(
        calls.take().len() == 1,
        "nothing was run by a refused redrive"
    );
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_execution_goes_on_from_the_state_that_was_running_with_its_full_timeout() {
    let machine = machine(
        r#"{"TimeoutSeconds": 5, "StartAt": "Quick", "States": {
            "Quick": {"Type": "Task", TASK, "ResultPath": "$.quick", "Next": "Slow"},
            "Slow": {"Type": "Task", TASK, "End": true}
        }}"#,
    );
    let slow = Arc::new(Mutex::new(true));
    let (seen, slow_now) = (Arc::new(Mutex::new(Vec::new())), slow.clone());
    let made = seen.clone();
    let invoker = Arc::new(InvokerFn(move |req: OwnedTaskRequest| {
        let (made, slow) = (made.clone(), *slow_now.lock().unwrap());
        async move {
            made.lock().unwrap().push(req.state_name.clone());
            if slow && req.state_name == "Slow" {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            Ok(json!({"from": req.state_name}))
        }
    }));
    let options = || RunOptions {
        clock: Some(Arc::new(spotlight_states::TokioClock::starting_at(
            chrono::Utc::now(),
        ))),
        ..options()
    };
    let timed_out = machine
        .run(json!({}), invoker.clone(), options())
        .await
        .unwrap();
    assert_eq!(timed_out.status, Status::TimedOut);
    *slow.lock().unwrap() = false;
    let redriven = machine
        .redrive(&history(&timed_out), invoker, options())
        .await
        .unwrap();
    assert_eq!(redriven.status, Status::Succeeded, "{redriven:?}");
    assert_eq!(*seen.lock().unwrap(), ["Quick", "Slow", "Slow"]);
}

#[tokio::test]
async fn a_parallel_over_the_payload_limit_runs_whole_again() {
    // Two branches of 150 KB each: the Parallel's result is over 256 KiB.
    let machine = machine(
        r#"{"StartAt": "Both", "States": {
            "Both": {"Type": "Parallel", "End": true, "Branches": [
                {"StartAt": "A", "States": {"A": {"Type": "Pass", "Parameters": {"big.$": "$.big"}, "Next": "TaskA"},
                                             "TaskA": {"Type": "Task", TASK, "ResultPath": null, "End": true}}},
                {"StartAt": "B", "States": {"B": {"Type": "Pass", "Parameters": {"big.$": "$.big"}, "Next": "TaskB"},
                                             "TaskB": {"Type": "Task", TASK, "ResultPath": null, "End": true}}}
            ]}
        }}"#,
    );
    let calls = Calls::default();
    let input = json!({"big": "x".repeat(150 * 1024)});
    let failed = machine
        .run(input, calls.invoker(), options())
        .await
        .unwrap();
    assert_eq!(failed.error.as_deref(), Some("States.DataLimitExceeded"));
    assert_eq!(Calls::names(&calls.take()), ["TaskA", "TaskB"]);
    // As AWS documents: both branches run again, though both had succeeded.
    let again = machine
        .redrive(&history(&failed), calls.invoker(), options())
        .await
        .unwrap();
    assert_eq!(again.error.as_deref(), Some("States.DataLimitExceeded"));
    assert_eq!(Calls::names(&calls.take()), ["TaskA", "TaskB"]);
}
