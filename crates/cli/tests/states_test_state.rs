//! Golden tests of `spotlight states test-state`: the real binary, on states of the project's
//! own `statemachine/pipeline.asl.json` (with the substitutions beside `tests/states.rs`'s
//! fixtures) and on lone states given on standard input.

use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// What a run of the binary printed and returned.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Stdout as the one compact JSON object `--json` promises, with its JSON-text fields
    /// (`output`, the inspection stages) read back as JSON.
    fn response(&self) -> Value {
        assert_eq!(
            self.stdout.lines().count(),
            1,
            "one line expected: {self:?}"
        );
        let mut v: Value = serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"));
        let parse = |field: &mut Value| {
            if let Value::String(text) = field {
                *field = serde_json::from_str(text).expect("a JSON-text field holds JSON");
            }
        };
        if let Some(output) = v.get_mut("output") {
            parse(output);
        }
        if let Some(Value::Object(stages)) = v.get_mut("inspectionData") {
            stages.values_mut().for_each(parse);
        }
        v
    }
}

/// A path relative to the repository root, made absolute.
fn repo(relative: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
        .to_string_lossy()
        .into_owned()
}

fn spotlight(args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_spotlight"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the spotlight binary starts");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        // A usage error can end the process before it reads its input; the closed pipe
        // is then expected, and the exit code and stderr say what happened.
        if let Err(error) = pipe.write_all(text.as_bytes()) {
            assert_eq!(
                error.kind(),
                std::io::ErrorKind::BrokenPipe,
                "stdin: {error}"
            );
        }
    }
    let out = child.wait_with_output().expect("the spotlight binary ends");
    Run {
        code: out.status.code().expect("an exit code, not a signal"),
        stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("UTF-8 stderr"),
    }
}

/// `states test-state` on one state of the pipeline, its input on standard input.
fn pipeline_state(state: &str, input: &Value, extra: &[&str]) -> Run {
    let (definition, subs) = (
        repo("statemachine/pipeline.asl.json"),
        repo("crates/cli/tests/fixtures/pipeline/substitutions.json"),
    );
    let mut args = vec![
        "states",
        "test-state",
        &definition,
        "--state-name",
        state,
        "--substitutions",
        &subs,
        "--input",
        "-",
    ];
    args.extend_from_slice(extra);
    spotlight(&args, Some(&input.to_string()))
}

fn request() -> Value {
    json!({"request": {"bucket": "photos", "key": "a.png"}})
}

#[test]
fn a_rejected_upload_is_caught_and_routed_to_record_rejected() {
    let run = pipeline_state(
        "Validate",
        &request(),
        &[
            "--mock-error",
            "ImageRejected.TooLarge",
            "--mock-cause",
            "20 MB",
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let mut expected_output = request();
    expected_output["error"] = json!({"Error": "ImageRejected.TooLarge", "Cause": "20 MB"});
    assert_eq!(
        run.response(),
        json!({
            "output": expected_output,
            "error": "ImageRejected.TooLarge",
            "cause": "20 MB",
            "nextState": "RecordRejected",
            "status": "CAUGHT_ERROR"
        })
    );
}

#[test]
fn a_throttled_validation_is_retriable_with_the_next_backoff() {
    // Retry: IntervalSeconds 1, BackoffRate 2, MaxAttempts 2, MaxDelaySeconds 4.
    let throttled = |retried: &str| {
        pipeline_state(
            "Validate",
            &request(),
            &[
                "--mock-error",
                "Lambda.TooManyRequestsException",
                "--retrier-retry-count",
                retried,
                "--inspection-level",
                "debug",
                "--json",
            ],
        )
    };
    let run = throttled("1");
    assert_eq!(run.code, 1, "{run:?}");
    let response = run.response();
    assert_eq!(response["status"], json!("RETRIABLE"));
    assert_eq!(
        response["inspectionData"]["errorDetails"],
        json!({"retryIndex": 0, "retryBackoffIntervalSeconds": 2})
    );
    // With its retries spent, the error goes to the States.ALL catcher.
    let run = throttled("2");
    assert_eq!(run.code, 0, "{run:?}");
    let response = run.response();
    assert_eq!(
        (&response["status"], &response["nextState"]),
        (&json!("CAUGHT_ERROR"), &json!("RecordFailed"))
    );
    assert_eq!(
        response["inspectionData"]["errorDetails"],
        json!({"catchIndex": 1, "retryIndex": 0})
    );
}

#[test]
fn the_human_output_shows_each_stage_at_debug() {
    let image = json!({"format": "png", "width": 800, "height": 600});
    let mock = json!({"Payload": image, "StatusCode": 200}).to_string();
    let run = pipeline_state(
        "Validate",
        &request(),
        &["--mock-result", &mock, "--inspection-level", "DEBUG"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[..2],
        ["SUCCEEDED", "next state: Reprocessing"],
        "{run:?}"
    );
    let mut output = request();
    output["validation"] = json!({"image": image});
    let inspection = lines
        .iter()
        .position(|l| *l == "inspection:")
        .unwrap_or_else(|| panic!("no inspection section: {run:?}"));
    let printed: Value = serde_json::from_str(&lines[2..inspection].join("\n"))
        .unwrap_or_else(|e| panic!("the output is not indented JSON ({e}): {run:?}"));
    assert_eq!(printed, output);
    let params = json!({
        "FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:spotlight-validate",
        "Payload": {"bucket": "photos", "key": "a.png"}
    });
    assert_eq!(
        lines[inspection + 1..],
        [
            format!("  input: {}", request()),
            format!("  afterInputPath: {}", request()),
            format!("  afterParameters: {params}"),
            format!("  result: {mock}"),
            format!("  afterResultSelector: {}", json!({"image": image})),
            format!("  afterResultPath: {output}"),
        ],
        "{run:?}"
    );
}

#[test]
fn a_choice_names_its_next_state() {
    let run = pipeline_state("Normalize", &json!({"bucket": "b", "key": "k"}), &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "SUCCEEDED\nnext state: FromObjectRequest\n{\n  \"bucket\": \"b\",\n  \"key\": \"k\"\n}\n"
    );
}

#[test]
fn an_unmocked_task_fails_and_says_how_to_mock_it() {
    let state = r#"{"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "resize"}, "End": true}"#;
    let run = spotlight(&["states", "test-state", "-", "--json"], Some(state));
    assert_eq!(run.code, 1, "{run:?}");
    let response = run.response();
    assert_eq!(response["status"], json!("FAILED"));
    assert_eq!(response["error"], json!("States.TaskFailed"));
    let cause = response["cause"].as_str().unwrap_or_default();
    assert!(
        cause.contains("resize") && cause.contains("--mock-result"),
        "{cause}"
    );
}

#[test]
fn what_aws_refuses_is_a_usage_error() {
    let pass = r#"{"Type": "Pass", "End": true}"#;
    for (args, stdin, message) in [
        (
            vec!["states", "test-state", "-", "--mock-result", "1"],
            Some(pass),
            "State type 'Pass' is not supported when a mock is specified",
        ),
        (
            vec![
                "states",
                "test-state",
                "-",
                "--mock-error",
                "E",
                "--mock-result",
                "1",
            ],
            Some(pass),
            "--mock-error",
        ),
        (
            vec!["states", "test-state", "-", "--mock-result", "{oops"],
            Some(r#"{"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true}"#),
            "Mocked result must be valid JSON",
        ),
        (
            vec!["states", "test-state", "-", "--state-name", "Nope"],
            Some(r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}"#),
            "State not found in definition",
        ),
        (
            vec!["states", "test-state", "-"],
            Some(r#"{"Type": "Pass", "Next": "A", "End": true}"#),
            "/States/StateName",
        ),
    ] {
        let run = spotlight(&args, stdin);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.contains(message), "{args:?}: {run:?}");
        assert_eq!(run.stdout, "", "{args:?}");
    }
}
