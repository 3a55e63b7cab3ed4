//! The engine's own overhead, with tasks that answer at once.
//!
//! `cargo bench -p spotlight-states` prints, for each scenario, executions per second and
//! microseconds per state transition, with and without the history. The 2,000-item Map runs
//! twice, once written in JSONPath and once in JSONata, doing the same work.

use serde_json::{json, Value};
use spotlight_states::{
    BoxFuture, RunOptions, StateMachine, StatesError, TaskInvoker, TaskRequest,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A task that returns its parameters at once.
struct Instant0;

impl TaskInvoker for Instant0 {
    fn invoke<'a>(&'a self, request: TaskRequest<'a>) -> BoxFuture<'a, Result<Value, StatesError>> {
        Box::pin(async move { Ok(request.parameters) })
    }
}

fn ten_states() -> String {
    let mut states = serde_json::Map::new();
    for i in 0..10 {
        let next = if i == 9 {
            json!({"End": true})
        } else {
            json!({"Next": format!("S{}", i + 1)})
        };
        let mut s = if i % 2 == 0 {
            json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                   "Parameters": {"FunctionName": "f", "Payload.$": "$"}, "ResultSelector": {"n.$": "$.Payload.n"}})
        } else {
            json!({"Type": "Pass", "Parameters": {"n.$": "$.n", "step": i}})
        };
        if let (Value::Object(s), Value::Object(n)) = (&mut s, next) {
            s.extend(n);
        }
        states.insert(format!("S{i}"), s);
    }
    json!({"StartAt": "S0", "States": states}).to_string()
}

fn map_2000() -> String {
    json!({
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 0,
                "ItemSelector": {"n.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index"},
                "ItemProcessor": {"StartAt": "Even", "States": {
                    "Even": {"Type": "Choice", "Choices": [
                        {"And": [{"Variable": "$.n", "IsNumeric": true}, {"Variable": "$.n", "NumericGreaterThan": 500}], "Next": "Both"}],
                        "Default": "Both"},
                    "Both": {"Type": "Parallel", "Branches": [
                        {"StartAt": "Label", "States": {"Label": {"Type": "Pass",
                            "Parameters": {"label.$": "States.Format('item {} of {}', $.i, $.n)", "sum.$": "States.MathAdd($.n, $.i)"}, "End": true}}},
                        {"StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                            "Parameters": {"FunctionName": "f", "Payload": {"hash.$": "States.Hash(States.JsonToString($), 'SHA-256')"}},
                            "ResultSelector": {"hash.$": "$.Payload.hash"}, "End": true}}}],
                        "ResultSelector": {"label.$": "$[0].label", "hash.$": "$[1].hash"}, "End": true}
                }},
                "ResultPath": "$.out", "OutputPath": "$.out", "End": true
            }
        }
    })
    .to_string()
}

/// `map_2000` in JSONata: the same Map, Choice, Parallel and task with the same data shaping,
/// written with `Items`, `ItemSelector`, `Condition`, `Arguments` and `Output`. The JSONPath
/// `ResultPath` + `OutputPath` pair on the Map keeps just the results, which is what a JSONata
/// Map outputs by default, so `Output` says it explicitly and nothing more.
fn map_2000_jsonata() -> String {
    json!({
        "QueryLanguage": "JSONata",
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map", "Items": "{% $states.input.items %}", "MaxConcurrency": 0,
                "ItemSelector": {"n": "{% $states.context.Map.Item.Value %}", "i": "{% $states.context.Map.Item.Index %}"},
                "ItemProcessor": {"StartAt": "Even", "States": {
                    "Even": {"Type": "Choice", "Choices": [
                        {"Condition": "{% $type($states.input.n) = 'number' and $states.input.n > 500 %}", "Next": "Both"}],
                        "Default": "Both"},
                    "Both": {"Type": "Parallel", "Branches": [
                        {"StartAt": "Label", "States": {"Label": {"Type": "Pass",
                            "Output": {"label": "{% 'item ' & $states.input.i & ' of ' & $states.input.n %}",
                                       "sum": "{% $states.input.n + $states.input.i %}"}, "End": true}}},
                        {"StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                            "Arguments": {"FunctionName": "f", "Payload": {"hash": "{% $hash($string($states.input), 'SHA-256') %}"}},
                            "Output": {"hash": "{% $states.result.Payload.hash %}"}, "End": true}}}],
                        "Output": {"label": "{% $states.result[0].label %}", "hash": "{% $states.result[1].hash %}"}, "End": true}
                }},
                "Output": "{% $states.result %}", "End": true
            }
        }
    })
    .to_string()
}

fn bench(
    name: &str,
    machine: &StateMachine,
    input: &Value,
    runs: usize,
    transitions: usize,
    history: bool,
    rt: &tokio::runtime::Runtime,
) -> Option<Value> {
    let invoker: Arc<dyn TaskInvoker> = Arc::new(Instant0);
    let run_once = || {
        rt.block_on(async {
            let options = RunOptions {
                history,
                seed: Some(1),
                execution_name: Some("bench".into()),
                ..RunOptions::default()
            };
            machine.run(input.clone(), invoker.clone(), options).await
        })
    };
    // Warm up, and check the machine succeeds.
    let output = match run_once() {
        Ok(r) if r.status == spotlight_states::Status::Succeeded => r.output,
        other => panic!("{name}: the benchmark machine did not succeed: {other:?}"),
    };
    let start = Instant::now();
    for _ in 0..runs {
        let _ = run_once();
    }
    let elapsed = start.elapsed();
    report(name, elapsed, runs, transitions, history);
    output
}

fn report(name: &str, elapsed: Duration, runs: usize, transitions: usize, history: bool) {
    let per_exec = elapsed.as_secs_f64() / runs as f64;
    println!(
        "{name:<62} history={:<5} {:>10.1} executions/s  {:>9.3} ms/execution  {:>7.2} µs/transition",
        history,
        1.0 / per_exec,
        per_exec * 1e3,
        per_exec * 1e6 / transitions as f64
    );
}

fn main() {
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let multi = tokio::runtime::Builder::new_multi_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let subs = HashMap::new();

    let ten = StateMachine::parse(&ten_states(), &subs).expect("10-state machine");
    let input = json!({"n": 1});
    for history in [false, true] {
        bench(
            "10 states (5 instant tasks), current-thread",
            &ten,
            &input,
            20_000,
            10,
            history,
            &current,
        );
    }

    // Per iteration: Choice, Parallel, and the Parallel's two branch states; plus the Map.
    let items: Vec<u64> = (1..=2000).collect();
    let input = json!({ "items": items });
    let transitions = 2000 * 4 + 1;
    // The twins must compute the same output, or their figures are not comparable.
    let mut reference: Option<Option<Value>> = None;
    for (language, definition) in [("JSONPath", map_2000()), ("JSONata", map_2000_jsonata())] {
        let map = match StateMachine::parse(&definition, &subs) {
            Ok(map) => map,
            // Keep the other figures when this engine cannot load one of the twins.
            Err(e) => {
                println!(
                    "Map of 2000 items, {language}: skipped, the definition was refused:\n{e}"
                );
                continue;
            }
        };
        for history in [false, true] {
            for (threads, rt) in [("1 thread", &current), ("2 threads", &multi)] {
                let output = bench(
                    &format!("Map of 2000 items x (Choice+Parallel+2), {language}, {threads}"),
                    &map,
                    &input,
                    20,
                    transitions,
                    history,
                    rt,
                );
                match &reference {
                    None => reference = Some(output),
                    Some(first) => assert!(
                        *first == output,
                        "the {language} Map does not compute what the JSONPath one does"
                    ),
                }
            }
        }
    }
}
