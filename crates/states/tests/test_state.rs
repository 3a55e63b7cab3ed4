//! `test_state`, the engine's twin of AWS Step Functions' TestState API: each status, each
//! inspection stage, mocks, Retry and Catch without retrying, and AWS's refusals.
//!
//! Where a test transcribes a response recorded against AWS, the comment names the LocalStack
//! snapshot it comes from (repo localstack/localstack, under
//! `tests/aws/services/stepfunctions/v2/test_state/`, templates under
//! `tests/aws/services/stepfunctions/templates/test_state/statemachines/`). Those snapshots keep
//! the API's JSON-text fields as JSON; [`shown`] does the same to ours before comparing.

use serde_json::{json, Value};
use spotlight_states::{
    test_state, InspectionLevel, InvokerFn, OwnedTaskRequest, StateConfiguration, StatesError,
    TestMock, TestStateError, TestStateOptions, TestStateOutput, TestStateStatus,
};
use std::sync::Arc;

const HELLO_WORLD: &str = r#"{"Value": "HelloWorld"}"#;
const NESTED: &str = r#"{"initialData": {"fieldFromInput": "value from input", "otherField": "other"},
    "unrelatedData": {"someOtherField": 1234}}"#;

fn options(input: &str, level: InspectionLevel) -> TestStateOptions {
    TestStateOptions {
        input: serde_json::from_str(input).expect("test input is JSON"),
        inspection_level: level,
        seed: Some(7),
        ..TestStateOptions::default()
    }
}

async fn run(definition: &str, options: TestStateOptions) -> TestStateOutput {
    match test_state(definition, options).await {
        Ok(out) => out,
        Err(e) => panic!("test_state refused {definition}: {e}"),
    }
}

async fn refused(definition: &str, options: TestStateOptions) -> TestStateError {
    match test_state(definition, options).await {
        Ok(out) => panic!("test_state accepted {definition}: {out:?}"),
        Err(e) => e,
    }
}

/// The response as the API serialises it, with its JSON-text fields read back as JSON (as
/// LocalStack's snapshots show them).
fn shown(out: &TestStateOutput) -> Value {
    let mut v = serde_json::to_value(out).expect("the response serialises");
    let parse = |field: &mut Value| {
        if let Value::String(text) = field {
            *field = serde_json::from_str(text).expect("a JSON-text field holds JSON");
        }
    };
    if let Some(output) = v.get_mut("output") {
        parse(output);
    }
    if let Some(Value::Object(data)) = v.get_mut("inspectionData") {
        for (_, field) in data.iter_mut() {
            parse(field);
        }
    }
    v
}

// ----- responses recorded against AWS -----

/// test_test_state_scenarios.snapshot.json, test_base_inspection_level_debug[BASE_PASS_STATE]
/// (base_pass_state.json5).
#[tokio::test]
async fn aws_pass_state_debug() {
    let out = run(
        r#"{"Type": "Pass", "End": true}"#,
        options(HELLO_WORLD, InspectionLevel::Debug),
    )
    .await;
    let v = json!({"Value": "HelloWorld"});
    assert_eq!(
        shown(&out),
        json!({
            "inspectionData": {"afterInputPath": v, "afterParameters": v, "afterResultPath": v,
                               "afterResultSelector": v, "input": v},
            "output": v, "status": "SUCCEEDED"
        })
    );
}

/// test_test_state_scenarios.snapshot.json, test_base_inspection_level_info[BASE_PASS_STATE]:
/// INFO shows no inspection data.
#[tokio::test]
async fn aws_pass_state_info() {
    let out = run(
        r#"{"Type": "Pass", "End": true}"#,
        options(HELLO_WORLD, InspectionLevel::Info),
    )
    .await;
    assert_eq!(
        shown(&out),
        json!({"output": {"Value": "HelloWorld"}, "status": "SUCCEEDED"})
    );
}

/// test_test_state_scenarios.snapshot.json, test_base_inspection_level_debug[IO_PASS_STATE]
/// (io_pass_state.json5): every stage of InputPath, Parameters and ResultPath.
#[tokio::test]
async fn aws_io_pass_state_debug() {
    let def = r#"{"Type": "Pass", "InputPath": "$.initialData",
        "Parameters": {"staticValue": "some value", "inputValue.$": "$.fieldFromInput"},
        "ResultPath": "$.modifiedData", "End": true}"#;
    let out = run(def, options(NESTED, InspectionLevel::Debug)).await;
    let input: Value = serde_json::from_str(NESTED).unwrap();
    let params = json!({"staticValue": "some value", "inputValue": "value from input"});
    let mut after = input.clone();
    after["modifiedData"] = params.clone();
    assert_eq!(
        shown(&out),
        json!({
            "inspectionData": {
                "afterInputPath": {"fieldFromInput": "value from input", "otherField": "other"},
                "afterParameters": params, "afterResultPath": after,
                "afterResultSelector": params, "input": input
            },
            "output": after, "status": "SUCCEEDED"
        })
    );
}

/// test_test_state_scenarios.snapshot.json, test_base_inspection_level_debug[IO_RESULT_PASS_STATE]
/// (io_result_pass_state.json5): `Result` wins over `Parameters`, and AWS shows no
/// `afterInputPath` then, but the `result`.
#[tokio::test]
async fn aws_io_result_pass_state_debug() {
    let def = r#"{"Type": "Pass", "InputPath": "$.initialData",
        "Parameters": {"staticValue": "some value", "inputValue.$": "$.fieldFromInput"},
        "Result": {"resultKey": "result value"}, "ResultPath": "$.modifiedData", "End": true}"#;
    let out = run(def, options(NESTED, InspectionLevel::Debug)).await;
    let input: Value = serde_json::from_str(NESTED).unwrap();
    let result = json!({"resultKey": "result value"});
    let mut after = input.clone();
    after["modifiedData"] = result.clone();
    assert_eq!(
        shown(&out),
        json!({
            "inspectionData": {"afterResultPath": after, "afterResultSelector": result,
                               "input": input, "result": result},
            "output": after, "status": "SUCCEEDED"
        })
    );
}

/// test_test_state_scenarios.snapshot.json, test_base_inspection_level_debug[BASE_FAIL_STATE].
#[tokio::test]
async fn aws_fail_state_debug() {
    let def = r#"{"Type": "Fail", "Error": "SomeFailure",
        "Cause": "This state machines raises a 'SomeFailure' failure."}"#;
    let out = run(def, options(HELLO_WORLD, InspectionLevel::Debug)).await;
    assert_eq!(
        shown(&out),
        json!({
            "cause": "This state machines raises a 'SomeFailure' failure.",
            "error": "SomeFailure",
            "inspectionData": {"afterInputPath": {"Value": "HelloWorld"},
                               "input": {"Value": "HelloWorld"}},
            "status": "FAILED"
        })
    );
}

/// test_test_state_scenarios.snapshot.json, test_base_inspection_level_debug[BASE_SUCCEED_STATE].
#[tokio::test]
async fn aws_succeed_state_debug() {
    let out = run(
        r#"{"Type": "Succeed"}"#,
        options(HELLO_WORLD, InspectionLevel::Debug),
    )
    .await;
    let v = json!({"Value": "HelloWorld"});
    assert_eq!(
        shown(&out),
        json!({"inspectionData": {"afterInputPath": v, "input": v}, "output": v,
               "status": "SUCCEEDED"})
    );
}

/// test_test_state_scenarios.snapshot.json, test_base_inspection_level_debug[BASE_CHOICE_STATE]
/// (base_choice_state.json5): the next state is named though no such state exists.
#[tokio::test]
async fn aws_choice_state_debug() {
    let def = r#"{"Type": "Choice", "Choices": [
        {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"},
        {"Variable": "$.value", "NumericEquals": 0, "Next": "ValueIsZero"},
        {"And": [{"Variable": "$.value", "NumericGreaterThanEquals": 20},
                 {"Variable": "$.value", "NumericLessThan": 30}], "Next": "ValueInTwenties"}],
        "Default": "DefaultState"}"#;
    let input = r#"{"type": "Private", "value": 22}"#;
    let out = run(def, options(input, InspectionLevel::Debug)).await;
    let v = json!({"type": "Private", "value": 22});
    assert_eq!(
        shown(&out),
        json!({"inspectionData": {"afterInputPath": v, "input": v},
               "nextState": "ValueInTwenties", "output": v, "status": "SUCCEEDED"})
    );
}

/// test_test_state_mock_scenarios.snapshot.json, test_io_parallel_state_mock_success[DEBUG]
/// (io_parallel_state.json5): the mock is the Parallel state's result.
#[tokio::test]
async fn aws_mocked_parallel_state_debug() {
    let branch =
        |name: &str| json!({"StartAt": name, "States": {name: {"Type": "Pass", "End": true}}});
    let def = json!({"Type": "Parallel", "InputPath": "$.parallelInput",
        "ResultPath": "$.parallelResult", "OutputPath": "$",
        "Branches": [branch("B1"), branch("B2")], "End": true})
    .to_string();
    let mocked = json!([{"branch1": "result"}, {"branch2": "result"}]);
    let mut opts = options(
        r#"{"parallelInput": {"data": "input_value"}}"#,
        InspectionLevel::Debug,
    );
    opts.mock = Some(TestMock::Result(mocked.clone()));
    let out = run(&def, opts).await;
    let after = json!({"parallelInput": {"data": "input_value"}, "parallelResult": mocked});
    assert_eq!(
        shown(&out),
        json!({
            "inspectionData": {"afterResultPath": after, "afterResultSelector": mocked,
                               "input": {"parallelInput": {"data": "input_value"}}},
            "output": after, "status": "SUCCEEDED"
        })
    );
}

/// test_state_configuration.snapshot.json, test_state_machine_with_state_error[DEBUG]
/// (base_map_state_machine.json5 with stateName State0): a mocked error fails a Map state, which
/// shows its items and limits.
#[tokio::test]
async fn aws_mocked_map_error_in_machine_debug() {
    let def = r#"{"Comment": "BASE_MAP_STATE_MACHINE", "StartAt": "State0", "States": {
        "State0": {"Type": "Map", "ItemsPath": "$.Values",
          "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "HandleItem", "States": {"HandleItem": {"Type": "Pass", "End": true}}},
          "ToleratedFailureCount": 2, "End": true}}}"#;
    let input = r#"{"Values": ["first", "second", "third"]}"#;
    for failed in [0, 2] {
        let mut opts = options(input, InspectionLevel::Debug);
        opts.state_name = Some("State0".into());
        opts.mock = Some(TestMock::Error(StatesError::new(
            "MockException",
            "Mock the error cause.",
        )));
        opts.state_configuration = StateConfiguration {
            // AWS takes a failure count with an error mock too; only a mocked result uses it.
            map_iteration_failure_count: Some(failed),
            error_caused_by_state: Some("HandleItem".into()),
            ..StateConfiguration::default()
        };
        let out = run(def, opts).await;
        assert_eq!(
            shown(&out),
            json!({
                "cause": "Mock the error cause.", "error": "MockException",
                "inspectionData": {"afterInputPath": {"Values": ["first", "second", "third"]},
                                   "afterItemsPath": ["first", "second", "third"],
                                   "input": {"Values": ["first", "second", "third"]},
                                   "maxConcurrency": 0, "toleratedFailureCount": 2},
                "status": "FAILED"
            }),
            "mapIterationFailureCount {failed}"
        );
    }
}

/// test_test_state_machine_scenarios.snapshot.json, test_base_state_name[DEBUG-BASE_PASS_STATE_MACHINE].
#[tokio::test]
async fn aws_state_of_a_machine_by_name() {
    let def = r#"{"Comment": "BASE_PASS_STATE_MACHINE", "StartAt": "State0",
        "States": {"State0": {"Type": "Pass", "End": true}}}"#;
    let mut opts = options(HELLO_WORLD, InspectionLevel::Debug);
    opts.state_name = Some("State0".into());
    let out = run(def, opts).await;
    let v = json!({"Value": "HelloWorld"});
    assert_eq!(
        shown(&out),
        json!({
            "inspectionData": {"afterInputPath": v, "afterParameters": v, "afterResultPath": v,
                               "afterResultSelector": v, "input": v},
            "output": v, "status": "SUCCEEDED"
        })
    );
}

/// test_test_state_machine_scenarios.snapshot.json, test_base_state_name_validation_failures.
#[tokio::test]
async fn aws_unknown_state_name() {
    let def = r#"{"StartAt": "State0", "States": {"State0": {"Type": "Pass", "End": true}}}"#;
    let mut opts = options(HELLO_WORLD, InspectionLevel::Info);
    opts.state_name = Some("dne".into());
    let e = refused(def, opts).await;
    assert!(matches!(e, TestStateError::Validation(_)), "{e:?}");
    assert_eq!(e.to_string(), "State not found in definition");
}

/// test_state_mock_validation.snapshot.json: AWS's refusals, word for word.
#[tokio::test]
async fn aws_mock_refusals() {
    let result = |v: Value| Some(TestMock::Result(v));
    let error = Some(TestMock::Error(StatesError::new("Error", "Cause")));
    let branch = json!({"StartAt": "B", "States": {"B": {"Type": "Pass", "End": true}}});
    let parallel =
        json!({"Type": "Parallel", "Branches": [branch, branch], "End": true}).to_string();
    let map = json!({"Type": "Map", "ItemProcessor": branch, "End": true}).to_string();
    let cases: Vec<(&str, Option<TestMock>, &str)> = vec![
        (r#"{"Type": "Pass", "End": true}"#, result(json!({"mock": "the unmockable"})),
         "State type 'Pass' is not supported when a mock is specified"),
        (r#"{"Type": "Fail"}"#, error.clone(),
         "State type 'Fail' is not supported when a mock is specified"),
        (r#"{"Type": "Succeed"}"#, error.clone(),
         "State type 'Succeed' is not supported when a mock is specified"),
        (&parallel, None,
         "TestState API does not support Map or Parallel states. Supported state types include: [Task, Wait, Pass, Succeed, Fail, Choice]"),
        (&map, None,
         "TestState API does not support Map or Parallel states. Supported state types include: [Task, Wait, Pass, Succeed, Fail, Choice]"),
        (&parallel, result(json!({"a": 1})), "Mocked result must be an array."),
        (&map, result(json!("x")), "Mocked result must be an array."),
        (&parallel, result(json!([1, 2, 3])),
         "Mocked result must contain the same number of items as number of Parallel branches."),
    ];
    for (def, mock, message) in cases {
        let mut opts = options("{}", InspectionLevel::Info);
        opts.mock = mock;
        assert_eq!(refused(def, opts).await.to_string(), message, "{def}");
    }
    let mut opts = options("{}", InspectionLevel::Info);
    opts.state_configuration.map_iteration_failure_count = Some(1);
    assert_eq!(
        refused(&map, opts).await.to_string(),
        "TestState does not support MapIterationFailureCount when a mock is not specified."
    );
    let mut opts = options("{}", InspectionLevel::Info);
    opts.mock = result(json!([1, 1]));
    opts.state_configuration.map_iteration_failure_count = Some(3);
    assert_eq!(
        refused(&map, opts).await.to_string(),
        "Map iteration failure count must be less than or equal to the number of Map iterations"
    );
    let mut opts = options("{}", InspectionLevel::Info);
    opts.mock = result(json!({}));
    opts.reveal_secrets = true;
    let task = r#"{"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true}"#;
    assert_eq!(
        refused(task, opts).await.to_string(),
        "TestState does not support RevealSecrets when a mock is specified."
    );
}

// ----- statuses, stages and error handling -----

const LAMBDA_TASK: &str = r#"{"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
    "InputPath": "$.job",
    "Parameters": {"FunctionName": "resize", "Payload.$": "$"},
    "ResultSelector": {"size.$": "$.Payload.size"},
    "ResultPath": "$.resized",
    "OutputPath": "$.resized",
    "Retry": [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 2,
               "MaxAttempts": 3, "BackoffRate": 3.0},
              {"ErrorEquals": ["MockException"], "IntervalSeconds": 1, "MaxAttempts": 5,
               "BackoffRate": 2.0, "MaxDelaySeconds": 10}],
    "Catch": [{"ErrorEquals": ["ImageRejected.TooLarge"], "ResultPath": "$.rejected",
               "Next": "RecordRejected"},
              {"ErrorEquals": ["States.ALL"], "Next": "RecordFailed"}],
    "Next": "Record"}"#;

const JOB: &str = r#"{"job": {"key": "a.png"}, "trace": "t-1"}"#;

fn mocked(mock: TestMock, level: InspectionLevel) -> TestStateOptions {
    let mut opts = options(JOB, level);
    opts.mock = Some(mock);
    opts
}

#[tokio::test]
async fn a_mocked_task_result_goes_through_every_stage() {
    let result = json!({"Payload": {"size": 42}, "StatusCode": 200});
    let out = run(
        LAMBDA_TASK,
        mocked(TestMock::Result(result.clone()), InspectionLevel::Debug),
    )
    .await;
    assert_eq!(out.status, TestStateStatus::Succeeded);
    assert_eq!(out.next_state.as_deref(), Some("Record"));
    assert_eq!(out.output, Some(json!({"size": 42})));
    let data = out.inspection_data.expect("DEBUG shows the stages");
    assert_eq!(data.input, Some(serde_json::from_str(JOB).unwrap()));
    assert_eq!(data.after_input_path, Some(json!({"key": "a.png"})));
    assert_eq!(
        data.after_parameters,
        Some(json!({"FunctionName": "resize", "Payload": {"key": "a.png"}}))
    );
    assert_eq!(data.result, Some(result));
    assert_eq!(data.after_result_selector, Some(json!({"size": 42})));
    assert_eq!(
        data.after_result_path,
        Some(json!({"job": {"key": "a.png"}, "trace": "t-1", "resized": {"size": 42}}))
    );
    assert_eq!(data.error_details, None);
}

#[tokio::test]
async fn a_retried_error_is_retriable_with_the_first_backoff() {
    // The second retrier matches: index 1, wait 1 × 2⁰ = 1 s.
    let error = TestMock::Error(StatesError::new("MockException", "Mock the cause."));
    let out = run(LAMBDA_TASK, mocked(error.clone(), InspectionLevel::Debug)).await;
    assert_eq!(out.status, TestStateStatus::Retriable);
    assert_eq!(out.error.as_deref(), Some("MockException"));
    assert_eq!(out.cause.as_deref(), Some("Mock the cause."));
    assert_eq!((out.output, out.next_state), (None, None));
    let details = out.inspection_data.and_then(|d| d.error_details);
    assert_eq!(
        serde_json::to_value(details).unwrap(),
        json!({"retryIndex": 1, "retryBackoffIntervalSeconds": 1})
    );
    // After 3 retries: 1 × 2³ = 8 s; after 4: 16 s, capped by MaxDelaySeconds at 10.
    for (retried, wait) in [(3, 8), (4, 10)] {
        let mut opts = mocked(error.clone(), InspectionLevel::Debug);
        opts.state_configuration.retrier_retry_count = Some(retried);
        let out = run(LAMBDA_TASK, opts).await;
        assert_eq!(out.status, TestStateStatus::Retriable);
        let details = out.inspection_data.and_then(|d| d.error_details).unwrap();
        assert_eq!(details.retry_backoff_interval_seconds, Some(wait));
    }
}

#[tokio::test]
async fn an_exhausted_retrier_leaves_the_error_to_the_catchers() {
    // Recorded on AWS (test_state_configuration_retrier_retry_count): with no retry left the
    // retrier's index is still shown, without a backoff.
    let mut opts = mocked(
        TestMock::Error(StatesError::new("MockException", "Mock the cause.")),
        InspectionLevel::Debug,
    );
    opts.state_configuration.retrier_retry_count = Some(5);
    let out = run(LAMBDA_TASK, opts).await;
    assert_eq!(out.status, TestStateStatus::CaughtError);
    assert_eq!(out.next_state.as_deref(), Some("RecordFailed"));
    assert_eq!(
        out.output,
        Some(json!({"Error": "MockException", "Cause": "Mock the cause."}))
    );
    let details = out.inspection_data.and_then(|d| d.error_details).unwrap();
    assert_eq!(
        serde_json::to_value(details).unwrap(),
        json!({"catchIndex": 1, "retryIndex": 1})
    );
}

#[tokio::test]
async fn a_caught_error_goes_to_the_catchers_next_with_its_output() {
    let out = run(
        LAMBDA_TASK,
        mocked(
            TestMock::Error(StatesError::new("ImageRejected.TooLarge", "20 MB")),
            InspectionLevel::Debug,
        ),
    )
    .await;
    assert_eq!(
        shown(&out)
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>()),
        Some(vec![
            "output".to_string(),
            "error".into(),
            "cause".into(),
            "inspectionData".into(),
            "nextState".into(),
            "status".into()
        ])
    );
    assert_eq!(out.status, TestStateStatus::CaughtError);
    assert_eq!(out.error.as_deref(), Some("ImageRejected.TooLarge"));
    assert_eq!(out.next_state.as_deref(), Some("RecordRejected"));
    assert_eq!(
        out.output,
        Some(json!({"job": {"key": "a.png"}, "trace": "t-1",
                    "rejected": {"Error": "ImageRejected.TooLarge", "Cause": "20 MB"}}))
    );
    let details = out.inspection_data.and_then(|d| d.error_details).unwrap();
    assert_eq!((details.catch_index, details.retry_index), (Some(0), None));
}

#[tokio::test]
async fn an_error_nothing_handles_fails() {
    let def = r#"{"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Retry": [{"ErrorEquals": ["Other"]}], "End": true}"#;
    let mut opts = options("{}", InspectionLevel::Debug);
    opts.mock = Some(TestMock::Error(StatesError::new("Boom", "it broke")));
    let out = run(def, opts).await;
    assert_eq!(out.status, TestStateStatus::Failed);
    assert_eq!(
        (out.error.as_deref(), out.cause.as_deref()),
        (Some("Boom"), Some("it broke"))
    );
    assert_eq!(out.inspection_data.unwrap().error_details, None);
}

#[tokio::test]
async fn an_unmocked_task_calls_the_given_invoker_or_fails() {
    let def = r#"{"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "f"}, "End": true}"#;
    let out = run(def, options("{}", InspectionLevel::Info)).await;
    assert_eq!(out.status, TestStateStatus::Failed);
    assert_eq!(out.error.as_deref(), Some("States.TaskFailed"));
    assert!(
        out.cause
            .as_deref()
            .is_some_and(|c| c.contains("StateName")),
        "{out:?}"
    );
    let mut opts = options("{}", InspectionLevel::Info);
    opts.invoker = Some(Arc::new(InvokerFn(|req: OwnedTaskRequest| async move {
        Ok(json!({"called": req.parameters["FunctionName"], "state": req.state_name}))
    })));
    let out = run(def, opts).await;
    assert_eq!(
        out.output,
        Some(json!({"called": "f", "state": "StateName"}))
    );
}

#[tokio::test]
async fn a_lone_state_may_name_states_that_are_not_there() {
    let def = r#"{"Type": "Pass", "Result": 1, "Next": "Elsewhere",
        "Comment": "no Elsewhere here"}"#;
    let out = run(def, options("{}", InspectionLevel::Info)).await;
    assert_eq!(out.next_state.as_deref(), Some("Elsewhere"));
    assert_eq!(out.output, Some(json!(1)));
}

#[tokio::test]
async fn a_definition_error_points_into_the_lone_state() {
    // AWS points at /States/StateName/… (test_parallel_state_empty_branches).
    let e = refused(
        r#"{"Type": "Parallel", "Branches": [], "End": true}"#,
        options("{}", InspectionLevel::Info),
    )
    .await;
    let TestStateError::InvalidDefinition(problems) = e else {
        panic!("not a definition error: {e:?}");
    };
    let pointers: Vec<&str> = problems
        .problems()
        .iter()
        .map(|p| p.pointer.as_str())
        .collect();
    assert_eq!(pointers, ["/States/StateName/Branches"]);
    let e = refused(
        r#"{"Type": "Pass", "Next": "A", "End": true}"#,
        options("{}", InspectionLevel::Info),
    )
    .await;
    assert!(e.to_string().contains("/States/StateName"), "{e}");
    let e = refused("{not json", options("{}", InspectionLevel::Info)).await;
    assert!(e.to_string().contains("INVALID_JSON_DESCRIPTION"), "{e}");
}

#[tokio::test]
async fn a_mocked_map_fails_past_its_tolerated_failures() {
    // Recorded on AWS (test_map_state_failure_count, BASE_MAP_STATE_CATCH/RETRY): more failed
    // iterations than ToleratedFailureCount fail the Map with this error, which Retry and
    // Catch then handle.
    let def = r#"{"Type": "Map", "ItemsPath": "$.Values", "ToleratedFailureCount": 1,
        "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Pass", "End": true}}},
        "Retry": [{"ErrorEquals": ["MockException"], "MaxAttempts": 3},
                  {"ErrorEquals": ["States.ExceedToleratedFailureThreshold"], "MaxAttempts": 2}],
        "End": true}"#;
    let input = r#"{"Values": ["first", "second", "third"]}"#;
    let mut opts = options(input, InspectionLevel::Debug);
    opts.mock = Some(TestMock::Result(json!([1, 1, 1])));
    opts.state_configuration.map_iteration_failure_count = Some(0);
    let out = run(def, opts.clone()).await;
    assert_eq!(out.status, TestStateStatus::Succeeded);
    assert_eq!(out.output, Some(json!([1, 1, 1])));
    opts.mock = Some(TestMock::Result(json!([0, 0, 1])));
    opts.state_configuration.map_iteration_failure_count = Some(2);
    let out = run(def, opts).await;
    assert_eq!(
        shown(&out),
        json!({
            "cause": "The specified tolerated failure threshold was exceeded",
            "error": "States.ExceedToleratedFailureThreshold",
            "inspectionData": {"afterInputPath": {"Values": ["first", "second", "third"]},
                               "afterItemsPath": ["first", "second", "third"],
                               "errorDetails": {"retryBackoffIntervalSeconds": 1, "retryIndex": 1},
                               "input": {"Values": ["first", "second", "third"]},
                               "maxConcurrency": 0, "toleratedFailureCount": 1},
            "status": "RETRIABLE"
        })
    );
}

#[tokio::test]
async fn the_response_carries_json_as_text_like_the_api() {
    let out = run(
        r#"{"Type": "Pass", "Result": {"a": [1, 2]}, "End": true}"#,
        options("{}", InspectionLevel::Trace),
    )
    .await;
    let v = serde_json::to_value(&out).unwrap();
    assert_eq!(v["output"], json!(r#"{"a":[1,2]}"#));
    assert_eq!(v["inspectionData"]["input"], json!("{}"));
    let back: TestStateOutput = serde_json::from_value(v).unwrap();
    assert_eq!(back, out);
}

#[tokio::test]
async fn the_context_object_can_be_given() {
    let def = r#"{"Type": "Pass", "Parameters": {"execution.$": "$$.Execution.Name",
        "machine.$": "$$.StateMachine.Name", "state.$": "$$.State.Name"}, "End": true}"#;
    let out = run(def, options("{}", InspectionLevel::Info)).await;
    // Recorded on AWS: a lone state is named StateName.
    assert_eq!(out.output.as_ref().unwrap()["state"], json!("StateName"));
    let mut opts = options("{}", InspectionLevel::Info);
    opts.context = Some(json!({"Execution": {"Name": "execution-name-12345"},
                               "StateMachine": {"Name": "MyStateMachine"}}));
    let out = run(def, opts).await;
    assert_eq!(
        out.output,
        Some(
            json!({"execution": "execution-name-12345", "machine": "MyStateMachine",
                    "state": "StateName"})
        )
    );
}

// ----- JSONata states, recorded against AWS -----

/// localstack_blogpost_scenario_state_machine.json5, with the API endpoint the test gives it.
const BLOGPOST: &str = r#"{
  "Comment": "Cost approval workflow", "QueryLanguage": "JSONata", "StartAt": "Approval Required",
  "States": {
    "Approval Required": {"Type": "Choice",
      "Choices": [{"Condition": "{% $states.input.cost < 10 %}", "Next": "Purchase Approved"}],
      "Default": "Ask for Approval"},
    "Purchase Approved": {"Type": "Succeed"},
    "Ask for Approval": {"Type": "Task", "Resource": "arn:aws:states:::apigateway:invoke",
      "Arguments": {"Method": "POST", "ApiEndpoint": "example.execute-api.us-east-1.amazonaws.com",
        "Path": "/approval", "RequestBody": {"cost": "{% $states.input.cost %}", "dept_id": "12345678"},
        "AuthType": "NO_AUTH"},
      "Retry": [{"ErrorEquals": ["States.ALL"], "BackoffRate": 2, "IntervalSeconds": 1, "MaxAttempts": 3}],
      "Next": "Check Approval",
      "Output": {"approval": "{% $states.result.approval %}", "approval_code": "2387462",
                 "approved_by": "Mary"}},
    "Check Approval": {"Type": "Choice",
      "Choices": [{"Next": "Purchase Approved", "Condition": "{% $states.input.approval %}"}],
      "Default": "Not Approved"},
    "Not Approved": {"Type": "Fail"}
  }
}"#;

/// test_test_state_scenarios.snapshot.json, test_localstack_blogpost_scenario: the five
/// TestState calls of LocalStack's blog post, at TRACE.
#[tokio::test]
async fn aws_blogpost_scenario() {
    let call = |state: &str, input: Value, mock: Option<Value>| {
        let mut opts = options(&input.to_string(), InspectionLevel::Trace);
        opts.state_name = Some(state.to_string());
        opts.mock = mock.map(TestMock::Result);
        async move { shown(&run(BLOGPOST, opts).await) }
    };
    assert_eq!(
        call("Approval Required", json!({"cost": 9}), None).await,
        json!({"inspectionData": {"input": {"cost": 9}}, "nextState": "Purchase Approved",
               "output": {"cost": 9}, "status": "SUCCEEDED"})
    );
    assert_eq!(
        call("Approval Required", json!({"cost": 10}), None).await,
        json!({"inspectionData": {"input": {"cost": 10}}, "nextState": "Ask for Approval",
               "output": {"cost": 10}, "status": "SUCCEEDED"})
    );
    assert_eq!(
        call(
            "Ask for Approval",
            json!({"cost": 10}),
            Some(json!({"approval": true}))
        )
        .await,
        json!({
            "inspectionData": {
                "afterArguments": {"Method": "POST",
                    "ApiEndpoint": "example.execute-api.us-east-1.amazonaws.com",
                    "Path": "/approval", "RequestBody": {"cost": 10, "dept_id": "12345678"},
                    "AuthType": "NO_AUTH"},
                "input": {"cost": 10},
                "result": {"approval": true}
            },
            "nextState": "Check Approval",
            "output": {"approval": true, "approval_code": "2387462", "approved_by": "Mary"},
            "status": "SUCCEEDED"
        })
    );
    let granted = json!({"approval": true, "approval_code": "2387462", "approved_by": "Mary"});
    assert_eq!(
        call("Check Approval", granted.clone(), None).await,
        json!({"inspectionData": {"input": granted}, "nextState": "Purchase Approved",
               "output": granted, "status": "SUCCEEDED"})
    );
    assert_eq!(
        call("Check Approval", json!({"approval": false}), None).await,
        json!({"inspectionData": {"input": {"approval": false}}, "nextState": "Not Approved",
               "output": {"approval": false}, "status": "SUCCEEDED"})
    );
}

/// base_task_state_retry.json5.
const TASK_RETRY: &str = r#"{"Comment": "BASE_TASK_STATE_RETRY", "QueryLanguage": "JSONata",
  "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
  "Arguments": {"FunctionName": "foo", "Payload": "bar"},
  "Retry": [{"ErrorEquals": ["MockException"], "IntervalSeconds": 1, "MaxAttempts": 5,
             "BackoffRate": 2.0}],
  "End": true}"#;

/// test_state_configuration.snapshot.json, test_state_configuration_retrier_retry_count[DEBUG].
#[tokio::test]
async fn aws_retrier_retry_count() {
    let input = r#"{"Values": ["first", "second", "third"]}"#;
    let response = |retried: u32| {
        let mut opts = options(input, InspectionLevel::Debug);
        opts.state_configuration.retrier_retry_count = Some(retried);
        opts.mock = Some(TestMock::Error(StatesError::new(
            "MockException",
            "Mock the cause of the error.",
        )));
        async move { shown(&run(TASK_RETRY, opts).await) }
    };
    let expected = |details: Value, status: &str| {
        json!({
            "cause": "Mock the cause of the error.", "error": "MockException",
            "inspectionData": {"afterArguments": {"FunctionName": "foo", "Payload": "bar"},
                               "errorDetails": details,
                               "input": {"Values": ["first", "second", "third"]}},
            "status": status
        })
    };
    assert_eq!(
        response(4).await,
        expected(
            json!({"retryBackoffIntervalSeconds": 16, "retryIndex": 0}),
            "RETRIABLE"
        )
    );
    assert_eq!(
        response(5).await,
        expected(json!({"retryIndex": 0}), "FAILED")
    );
}

/// test_test_state_scenarios.snapshot.json, test_state_task_catch_error[DEBUG]
/// (base_task_state_catch.json5): the catcher's `Output` sees `$states.errorOutput`.
#[tokio::test]
async fn aws_jsonata_catch() {
    let def = r#"{"Comment": "BASE_TASK_STATE_CATCH", "QueryLanguage": "JSONata", "Type": "Task",
      "Resource": "arn:aws:states:::lambda:invoke",
      "Arguments": {"FunctionName": "foo", "Payload": "bar"},
      "Catch": [{"ErrorEquals": ["MockException"], "Output": "{% $states %}", "Next": "HandleMockError"},
                {"ErrorEquals": ["States.TaskFailed"], "Output": "{% $states %}", "Next": "HandleThreshold"}],
      "End": true}"#;
    for (error, cause, next, index) in [
        (
            "MockException",
            "Mock the cause of the error.",
            "HandleMockError",
            0,
        ),
        (
            "States.TaskFailed",
            "The task failed.",
            "HandleThreshold",
            1,
        ),
    ] {
        let mut opts = options(HELLO_WORLD, InspectionLevel::Debug);
        opts.mock = Some(TestMock::Error(StatesError::new(error, cause)));
        let mut out = shown(&run(def, opts).await);
        // The context's ARNs and times are the execution's own; its state is AWS's.
        let context = out["output"]["context"].take();
        assert_eq!(context["State"]["Name"], json!("StateName"), "{context}");
        assert_eq!(
            context["Execution"]["Input"],
            json!({"Value": "HelloWorld"})
        );
        assert_eq!(
            out,
            json!({
                "cause": cause, "error": error,
                "inspectionData": {"afterArguments": {"FunctionName": "foo", "Payload": "bar"},
                                   "errorDetails": {"catchIndex": index},
                                   "input": {"Value": "HelloWorld"}},
                "nextState": next,
                "output": {"input": {"Value": "HelloWorld"}, "context": null,
                           "errorOutput": {"Error": error, "Cause": cause}},
                "status": "CAUGHT_ERROR"
            })
        );
    }
}

/// test_test_state_scenarios.snapshot.json, test_state_with_variables[base_expressions]
/// (outputdecl base_expr.json5, state State0): the variables given are the state's.
#[tokio::test]
async fn aws_variables() {
    let def = r#"{"StartAt": "Init", "States": {
      "Init": {"Type": "Pass", "Assign": {"var_input_value.$": "$.input_value", "var_constant_1": 1},
               "Next": "State0"},
      "State0": {"QueryLanguage": "JSONata", "Type": "Pass",
        "Output": {"ja_states_context": "{% $states.context %}", "ja_states_input": "{% $states.input %}",
                   "ja_var_access": "{% $var_input_value %}",
                   "ja_expr": "{% $sum($states.input.input_values) + $var_constant_1 %}"},
        "End": true}}}"#;
    let mut opts = options(r#"{"input_values": [1, 2, 3]}"#, InspectionLevel::Trace);
    opts.state_name = Some("State0".into());
    let variables = json!({"var_input_value": "test_value", "var_constant_1": 10});
    opts.variables = variables.as_object().cloned();
    let mut out = shown(&run(def, opts).await);
    out["output"]["ja_states_context"].take();
    assert_eq!(
        out,
        json!({
            "inspectionData": {"input": {"input_values": [1, 2, 3]}, "variables": variables},
            "output": {"ja_states_context": null, "ja_states_input": {"input_values": [1, 2, 3]},
                       "ja_var_access": "test_value", "ja_expr": 16},
            "status": "SUCCEEDED"
        })
    );
}

/// test_test_state_scenarios.snapshot.json, test_base_map_state_inspect[MAX_CONCURRENCY-DEBUG]
/// (base_map_state.json5 with `"MaxConcurrency": "{% $variable := 1 %}"`).
#[tokio::test]
async fn aws_mocked_jsonata_map() {
    let def = r#"{"Comment": "BASE_MAP_STATE", "Type": "Map", "QueryLanguage": "JSONata",
      "Items": "{% $states.input.Values %}",
      "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
        "StartAt": "TestState",
        "States": {"TestState": {"Type": "Task", "QueryLanguage": "JSONata",
          "Resource": "arn:aws:states:::lambda:invoke",
          "Arguments": {"FunctionName": "foo", "Payload": "bar"}, "End": true}}},
      "Output": "{% $states %}", "End": true, "MaxConcurrency": "{% $variable := 1 %}"}"#;
    let mut opts = options(r#"{"Values": [1, 2, 3]}"#, InspectionLevel::Debug);
    opts.mock = Some(TestMock::Result(json!([1, 1, 1])));
    let mut out = shown(&run(def, opts).await);
    let context = out["output"]["context"].take();
    assert_eq!(context["State"]["Name"], json!("StateName"), "{context}");
    assert_eq!(
        out,
        json!({
            "inspectionData": {"input": {"Values": [1, 2, 3]}, "maxConcurrency": 1},
            "output": {"input": {"Values": [1, 2, 3]}, "context": null, "result": [1, 1, 1]},
            "status": "SUCCEEDED"
        })
    );
}

#[tokio::test]
async fn the_variables_are_read_and_shown_after_the_states_assign() {
    let def = r#"{"Type": "Pass", "Parameters": {"limit.$": "$limit", "item.$": "$.item"},
        "Assign": {"seen.$": "$.item", "limit": 5}, "End": true}"#;
    let mut opts = options(r#"{"item": "a"}"#, InspectionLevel::Debug);
    opts.variables = json!({"limit": 3, "other": true}).as_object().cloned();
    let out = run(def, opts).await;
    // Parameters read the variables from before the state; `variables` is after its Assign.
    assert_eq!(out.output, Some(json!({"limit": 3, "item": "a"})));
    assert_eq!(
        out.inspection_data.and_then(|d| d.variables),
        Some(json!({"limit": 5, "other": true, "seen": "a"}))
    );
}
