//! Every execution of the shipped state machine ends inside Express's five minutes (issue 17,
//! point 4): the worst case of every path is computed from the definition's own timeouts and
//! retry policies, and checked against the functions' timeouts in the SAM template.

use serde_json::{json, Value};
use spotlight_tests::{
    function_timeout, repository_root, template_property, worst_case, EXPRESS_LIMIT_SECONDS,
    TRANSITION_ALLOWANCE_SECONDS,
};

fn definition() -> Value {
    let path = repository_root().join("statemachine/pipeline.asl.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn template() -> String {
    std::fs::read_to_string(repository_root().join("infra/template.yaml")).unwrap()
}

/// Every Task of the definition, wherever it is nested, with its name.
fn tasks(machine: &Value) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    for (name, state) in machine["States"].as_object().unwrap() {
        match state["Type"].as_str() {
            Some("Task") => found.push((name.clone(), state.clone())),
            Some("Parallel") => {
                for branch in state["Branches"].as_array().unwrap() {
                    found.extend(tasks(branch));
                }
            }
            _ => {}
        }
    }
    found
}

#[test]
fn every_execution_ends_inside_the_express_limit() {
    let worst = worst_case(&definition()).unwrap();
    // The slowest path: every step used its whole budget, Record failed for good and
    // RecordFailed then used its own, and so did the result event, which was then given up.
    let from_validate = worst.path.iter().position(|s| s == "Validate").unwrap();
    assert_eq!(
        worst.path[from_validate..],
        [
            "Validate",
            "Reprocessing",
            "PlanReprocess",
            "Analyze",
            "RunLabels",
            "DetectLabels",
            "Record",
            "RecordFailed",
            "PublishResult",
            "ResultUndelivered",
            "Outcome",
            "FailedWithCause",
            "Failed"
        ],
        "{worst:?}"
    );
    assert!(
        worst.seconds < EXPRESS_LIMIT_SECONDS,
        "the worst case is {} s, past Express's {EXPRESS_LIMIT_SECONDS} s: {:?}",
        worst.seconds,
        worst.path
    );
    // infra/README.md quotes this figure; it is also Standard's worst case (far inside its
    // one-year limit), and how long the starter waits at most.
    println!("worst case: {} s along {:?}", worst.seconds, worst.path);
}

#[test]
fn the_arithmetic_counts_every_attempt_and_every_capped_wait() {
    let machine = json!({
        "StartAt": "Pick",
        "States": {
            "Pick": {"Type": "Choice",
                     "Choices": [{"Variable": "$.x", "IsPresent": true, "Next": "Slow"}],
                     "Default": "Fast"},
            "Fast": {"Type": "Pass", "Next": "Done"},
            "Slow": {
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "TimeoutSeconds": 10,
                "Retry": [
                    // Waits 1, 2, then 4 capped to 3: 6 s.
                    {"ErrorEquals": ["A"], "IntervalSeconds": 1, "MaxAttempts": 3,
                     "BackoffRate": 2.0, "MaxDelaySeconds": 3, "JitterStrategy": "FULL"},
                    // ASL's defaults: 3 retries, 1 s doubling, no cap: 1 + 2 + 4 = 7 s.
                    {"ErrorEquals": ["B"]}
                ],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Both"}],
                "Next": "Done"
            },
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "Short", "States": {"Short": {"Type": "Wait", "Seconds": 5, "End": true}}},
                    {"StartAt": "Long", "States": {
                        "Long": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "TimeoutSeconds": 20, "End": true}}}
                ],
                "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 2, "MaxAttempts": 1}],
                "Next": "Done"
            },
            "Done": {"Type": "Succeed"}
        }
    });
    let worst = worst_case(&machine).unwrap();
    assert_eq!(worst.path, ["Pick", "Slow", "Both", "Long", "Done"]);
    let step = TRANSITION_ALLOWANCE_SECONDS;
    // Slow: 1 + 3 + 3 attempts of 10 s, and 6 + 7 s of waits.
    let slow = 7.0 * 10.0 + 13.0 + step;
    // Both: two attempts of its slowest branch (20 s and that branch's own step), one 2-s wait.
    let both = 2.0 * (20.0 + step) + 2.0 + step;
    assert_eq!(worst.seconds, step + slow + both + step);
}

/// The name of a Parallel branch's Task state.
fn analyser_of(branch: &Value) -> String {
    branch["States"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, state)| state["Type"] == "Task")
        .map(|(name, _)| name.clone())
        .unwrap()
}

#[test]
fn a_bigger_retry_budget_fails_the_check() {
    // The definition before issue 17: analysers with a 120-s task timeout and six throttling
    // retries capped at 30 s.
    let mut machine = definition();
    for branch in machine["States"]["Analyze"]["Branches"]
        .as_array_mut()
        .unwrap()
    {
        // The branch's analyser (its first state chooses whether it runs).
        let start = analyser_of(branch);
        let task = &mut branch["States"][&start];
        task["TimeoutSeconds"] = json!(120);
        task["Retry"][1]["MaxAttempts"] = json!(6);
        task["Retry"][1]["MaxDelaySeconds"] = json!(30);
    }
    let worst = worst_case(&machine).unwrap();
    assert!(worst.seconds > EXPRESS_LIMIT_SECONDS, "{worst:?}");

    // Six throttling retries again, with today's timeouts, pass the limit too.
    let mut machine = definition();
    for branch in machine["States"]["Analyze"]["Branches"]
        .as_array_mut()
        .unwrap()
    {
        let start = analyser_of(branch);
        branch["States"][&start]["Retry"][1]["MaxAttempts"] = json!(6);
    }
    let worst = worst_case(&machine).unwrap();
    assert!(worst.seconds > EXPRESS_LIMIT_SECONDS, "{worst:?}");
}

#[test]
fn an_unbounded_state_has_no_worst_case() {
    let mut machine = definition();
    machine["States"]["Record"]
        .as_object_mut()
        .unwrap()
        .remove("TimeoutSeconds");
    let error = worst_case(&machine).unwrap_err();
    assert!(
        error.starts_with("Record: a Task without TimeoutSeconds"),
        "{error}"
    );

    let looping = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"},
        "B": {"Type": "Choice", "Choices": [{"Variable": "$.again", "BooleanEquals": true, "Next": "A"}],
              "Default": "C"},
        "C": {"Type": "Succeed"}}});
    let error = worst_case(&looping).unwrap_err();
    assert!(error.contains("a loop (A -> B -> A)"), "{error}");
}

#[test]
fn every_task_times_out_just_after_its_function_and_retries_lambda_faults() {
    let template = template();
    let substitutions: Vec<(String, String)> = [
        "Validate",
        "DetectLabels",
        "DetectModeration",
        "DetectText",
        "Record",
    ]
    .iter()
    .map(|f| (format!("${{{f}FunctionArn}}"), format!("{f}Function")))
    // A reprocess's plan is the record function's second task.
    .chain([(
        "${RecordPlanFunctionArn}".to_owned(),
        "RecordFunction".to_owned(),
    )])
    .collect();
    // The result event is EventBridge's integration, not a function: it has no Lambda timeout
    // to follow, and its own retries (tests/tests/statemachine.rs).
    let tasks: Vec<(String, Value)> = tasks(&definition())
        .into_iter()
        .filter(|(_, task)| task["Resource"] == "arn:aws:states:::lambda:invoke")
        .collect();
    assert_eq!(tasks.len(), 8, "{tasks:?}");
    for (name, task) in tasks {
        let function_arn = task["Parameters"]["FunctionName"].as_str().unwrap();
        let (_, resource) = substitutions
            .iter()
            .find(|(arn, _)| arn == function_arn)
            .unwrap_or_else(|| panic!("{name} invokes {function_arn}"));
        let lambda = function_timeout(&template, resource)
            .unwrap_or_else(|| panic!("no Timeout for {resource}"));
        let task_timeout = task["TimeoutSeconds"].as_u64().unwrap();
        // Lambda stops the function at its own Timeout and reports Sandbox.Timedout; the task
        // timeout only cuts an invocation that never answers, a few seconds later. Shorter, it
        // would leave the function running behind the execution's back.
        assert!(
            task_timeout > lambda && task_timeout <= lambda + 5,
            "{name}: TimeoutSeconds {task_timeout}, {resource} Timeout {lambda}"
        );
        let retried: Vec<&str> = task["Retry"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["ErrorEquals"].as_array().unwrap())
            .filter_map(Value::as_str)
            .collect();
        for transient in [
            "Lambda.ServiceException",
            "Lambda.AWSLambdaException",
            "Lambda.SdkClientException",
            "Lambda.TooManyRequestsException",
            "Lambda.ClientExecutionTimeoutException",
            "Sandbox.Timedout",
        ] {
            assert!(
                retried.contains(&transient),
                "{name} does not retry {transient}"
            );
        }
    }
}

#[test]
fn the_starter_outlives_the_slowest_execution() {
    let template = template();
    let worst = worst_case(&definition()).unwrap();
    let starter = function_timeout(&template, "StartFunction").expect("the starter's Timeout");
    assert!(
        starter as f64 > worst.seconds,
        "the starter waits for its execution: Timeout {starter} s, worst case {} s",
        worst.seconds
    );
    // Lambda's guide for SQS event sources: a visibility timeout of at least six times the
    // function's timeout, so a message is not handed out again while its execution still runs.
    let visibility: u64 = template_property(&template, "UploadQueue", "VisibilityTimeout")
        .expect("the queue's VisibilityTimeout")
        .parse()
        .unwrap();
    assert!(visibility >= 6 * starter, "{visibility} < 6 x {starter}");
}

/// Every Task of the re-evaluation machine (issue 14), its Map's included.
fn reevaluate_tasks() -> Vec<(String, Value)> {
    let path = repository_root().join("statemachine/reevaluate.asl.json");
    let machine: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut found = tasks(&machine);
    for state in machine["States"].as_object().unwrap().values() {
        if state["Type"] == "Map" {
            found.extend(tasks(&state["ItemProcessor"]));
        }
    }
    found
}

#[test]
fn the_reevaluation_tasks_time_out_just_after_their_function_and_retry_lambda_faults() {
    let template = template();
    let lambda = function_timeout(&template, "ReevaluateFunction").expect("its Timeout");
    let tasks = reevaluate_tasks();
    assert_eq!(tasks.len(), 3, "{tasks:?}");
    for (name, task) in tasks {
        assert_eq!(
            task["Parameters"]["FunctionName"], "${ReevaluateFunctionArn}",
            "{name}"
        );
        let timeout = task["TimeoutSeconds"].as_u64().unwrap();
        assert!(
            timeout > lambda && timeout <= lambda + 5,
            "{name}: TimeoutSeconds {timeout}, the function's Timeout {lambda}"
        );
        let retried: Vec<&str> = task["Retry"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["ErrorEquals"].as_array().unwrap())
            .filter_map(Value::as_str)
            .collect();
        for error in [
            "Lambda.TooManyRequestsException",
            "Sandbox.Timedout",
            "StoreFailed",
        ] {
            assert!(retried.contains(&error), "{name} does not retry {error}");
        }
    }
}
