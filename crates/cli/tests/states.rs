//! Golden tests of `spotlight states run`, `validate` and `eval`: the real binary, run
//! on the fixtures beside this file and on the project's own `statemachine/pipeline.asl.json`
//! with mocked Lambda responses (`fixtures/pipeline/`).
//!
//! Retries wait for real (the engine's system clock), so the mocks keep retry counts and
//! intervals small: a few seconds at worst.

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
    /// Stdout as the one JSON object on one line that `--json` promises.
    fn json(&self) -> Value {
        assert_eq!(
            self.stdout.matches('\n').count(),
            1,
            "one line expected: {self:?}"
        );
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }
}

fn fixture(name: &str) -> String {
    path(&format!("tests/fixtures/{name}"))
}

/// A path relative to this crate, made absolute.
fn path(relative: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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

fn events(result: &Value) -> &Vec<Value> {
    result["history"]["events"]
        .as_array()
        .expect("a history with events")
}

fn types(result: &Value) -> Vec<&str> {
    events(result)
        .iter()
        .map(|e| e["type"].as_str().expect("a type"))
        .collect()
}

/// The names of the states entered, in order.
fn entered(result: &Value) -> Vec<&str> {
    events(result)
        .iter()
        .filter_map(|e| e["stateEnteredEventDetails"]["name"].as_str())
        .collect()
}

/// The state an event belongs to: back along `previousEventId` to the state's entry.
fn state_of<'a>(result: &'a Value, event: &'a Value) -> &'a str {
    let by_id = |id: &Value| events(result).iter().find(|e| e["id"] == *id);
    let mut e = event;
    loop {
        if let Some(name) = e["stateEnteredEventDetails"]["name"].as_str() {
            return name;
        }
        e = by_id(&e["previousEventId"]).expect("the event's state was entered");
    }
}

/// The parameters of each `TaskScheduled` event of `state`, parsed.
fn scheduled(result: &Value, state: &str) -> Vec<Value> {
    events(result)
        .iter()
        .filter(|e| e["type"] == "TaskScheduled" && state_of(result, e) == state)
        .map(|e| {
            let text = e["taskScheduledEventDetails"]["parameters"]
                .as_str()
                .expect("parameters");
            serde_json::from_str(text).expect("parameters are JSON")
        })
        .collect()
}

/// The error names of each `TaskFailed` event of `state`.
fn task_errors<'a>(result: &'a Value, state: &str) -> Vec<&'a str> {
    events(result)
        .iter()
        .filter(|e| e["type"] == "TaskFailed" && state_of(result, e) == state)
        .map(|e| {
            e["taskFailedEventDetails"]["error"]
                .as_str()
                .expect("error")
        })
        .collect()
}

// ---- states run: results, exit codes, formats -------------------------------------------------

#[test]
fn json_success_is_one_exact_object() {
    let run = spotlight(
        &[
            "states",
            "run",
            "--definition",
            &fixture("greet.asl.json"),
            "--input",
            "-",
            "--json",
        ],
        Some(r#"{"name": "Ada"}"#),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "{\"status\":\"SUCCEEDED\",\"output\":{\"greeting\":\"hello Ada\",\"machine\":\"greet\"}}\n"
    );
    assert_eq!(run.stderr, "");
}

#[test]
fn human_success_prints_the_status_then_the_output() {
    let run = spotlight(
        &[
            "states",
            "run",
            "--definition",
            &fixture("greet.asl.json"),
            "--input",
            "-",
        ],
        Some(r#"{"name": "Ada"}"#),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "SUCCEEDED\n{\n  \"greeting\": \"hello Ada\",\n  \"machine\": \"greet\"\n}\n"
    );
}

#[test]
fn a_failed_execution_prints_error_and_cause_and_exits_1() {
    let args = [
        "states",
        "run",
        "--definition",
        &fixture("fail.asl.json"),
        "--input",
        "-",
    ];
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let run = spotlight(&json_args, Some(r#"{"width": 40}"#));
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stdout,
        "{\"status\":\"FAILED\",\"error\":\"ImageRejected.TooSmall\",\"cause\":\"The image is narrower than 80 px.\"}\n"
    );

    let run = spotlight(&args, Some(r#"{"width": 40}"#));
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stdout,
        "FAILED\nerror: ImageRejected.TooSmall\ncause: The image is narrower than 80 px.\n"
    );

    let run = spotlight(&json_args, Some(r#"{"width": 400}"#));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.json(),
        json!({"status": "SUCCEEDED", "output": {"width": 400}})
    );
}

#[test]
fn json_history_follows_the_path_in_get_execution_history_shape() {
    let run = spotlight(
        &[
            "states",
            "run",
            "--definition",
            &fixture("greet.asl.json"),
            "--input",
            "-",
            "--history",
            "--json",
        ],
        Some(r#"{"name": "Ada"}"#),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let result = run.json();
    let keys: Vec<&String> = result.as_object().expect("an object").keys().collect();
    assert_eq!(keys, ["status", "output", "history"]);
    assert_eq!(
        types(&result),
        [
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "ChoiceStateEntered",
            "ChoiceStateExited",
            "SucceedStateEntered",
            "SucceedStateExited",
            "ExecutionSucceeded",
        ]
    );
    assert_eq!(entered(&result), ["Greet", "Polite?", "Done"]);
    let first = &events(&result)[0];
    assert_eq!(first["id"], 1);
    assert_eq!(
        first["executionStartedEventDetails"]["input"],
        r#"{"name":"Ada"}"#
    );
    assert!(first["timestamp"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
}

#[test]
fn human_history_is_one_line_per_event_before_the_result() {
    let run = spotlight(
        &[
            "states",
            "run",
            "--definition",
            &fixture("fail.asl.json"),
            "--input",
            "-",
            "--history",
        ],
        Some(r#"{"width": 40}"#),
    );
    assert_eq!(run.code, 1, "{run:?}");
    let (history, result) = run.stdout.split_once("\n\n").expect("a blank line");
    let lines: Vec<Vec<&str>> = history
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let heads: Vec<(&str, &str, &str)> = lines.iter().map(|w| (w[0], w[2], w[3])).collect();
    assert_eq!(
        heads,
        [
            ("1", "ExecutionStarted", "-"),
            ("2", "ChoiceStateEntered", "Check"),
            ("3", "ChoiceStateExited", "Check"),
            ("4", "FailStateEntered", "Reject"),
            ("5", "ExecutionFailed", "-"),
        ]
    );
    assert_eq!(lines[1][4..], ["input", r#"{"width":40}"#]);
    assert!(history.ends_with("error ImageRejected.TooSmall: The image is narrower than 80 px."));
    assert!(result.starts_with("FAILED\n"));
}

#[test]
fn standard_input_feeds_any_one_file_and_names_the_machine() {
    let definition = std::fs::read_to_string(fixture("greet.asl.json")).expect("fixture");
    let input = fixture("greet.input.json");
    let name_of = |run: &Run| run.json()["output"]["machine"].clone();

    let run = spotlight(
        &[
            "states",
            "run",
            "--definition",
            "-",
            "--input",
            &input,
            "--json",
        ],
        Some(&definition),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(name_of(&run), "StateMachine");

    let run = spotlight(
        &[
            "states",
            "run",
            "--definition",
            "-",
            "--input",
            &input,
            "--name",
            "Greeter",
            "--json",
        ],
        Some(&definition),
    );
    assert_eq!(name_of(&run), "Greeter");

    let run = spotlight(
        &[
            "states",
            "run",
            "--definition",
            &fixture("greet.asl.json"),
            "--input",
            &input,
            "--json",
        ],
        None,
    );
    assert_eq!(name_of(&run), "greet");
    assert_eq!(run.json()["output"]["greeting"], "hello Grace");
}

// ---- states run with a mock configuration ------------------------------------------------------

fn run_tasks(extra: &[&str]) -> Run {
    let definition = fixture("tasks.asl.json");
    let input = fixture("tasks.input.json");
    let subs = fixture("tasks.substitutions.json");
    let mocks = fixture("tasks.mocks.json");
    let mut args = vec![
        "states",
        "run",
        "--definition",
        &definition,
        "--input",
        &input,
        "--substitutions",
        &subs,
        "--mock-config",
        &mocks,
        "--json",
        "--history",
    ];
    args.extend(extra);
    spotlight(&args, None)
}

#[test]
fn mocks_return_throw_ranges_and_retries() {
    let run = run_tasks(&["--test-case", "Retried"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "");
    let result = run.json();
    assert_eq!(
        result["output"],
        json!({"items": [1, 2, 3], "fetched": {"value": 42}, "looked": ["a", "b", "b"]})
    );
    // "0-1" threw twice, the retrier tried again each time, "2" returned.
    assert_eq!(task_errors(&result, "Fetch"), ["Flaky", "Flaky"]);
    let fetches = scheduled(&result, "Fetch");
    assert_eq!(fetches.len(), 3);
    assert_eq!(
        fetches[0]["FunctionName"],
        "arn:aws:lambda:us-east-1:123456789012:function:fetch"
    );
    assert_eq!(
        entered(&result),
        ["Fetch", "Each", "Lookup", "Lookup", "Lookup"]
    );
}

#[test]
fn a_mocked_throw_is_caught() {
    let run = run_tasks(&["--test-case", "Thrown"]);
    assert_eq!(run.code, 0, "{run:?}");
    let result = run.json();
    assert_eq!(
        result["output"]["error"],
        json!({"Error": "Broken", "Cause": "{\"errorType\":\"Broken\",\"errorMessage\":\"it broke\"}"})
    );
    assert_eq!(entered(&result), ["Fetch", "Handle"]);
}

#[test]
fn the_machine_name_picks_the_mocked_state_machine() {
    // `other` mocks the same test case name with a throw.
    let run = run_tasks(&["--test-case", "Retried", "--name", "other"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(entered(&run.json()), ["Fetch", "Handle"]);

    let run = run_tasks(&["--test-case", "Retried", "--name", "nope"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stdout, "");
    assert!(run.stderr.starts_with("error: "), "{run:?}");
    assert!(
        run.stderr.contains("no state machine named 'nope'"),
        "{run:?}"
    );

    let run = run_tasks(&["--test-case", "Missing"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("no test case 'Missing'"), "{run:?}");
}

#[test]
fn an_unmocked_task_fails_naming_its_resource() {
    let run = run_tasks(&["--test-case", "LookupUnmocked"]);
    assert_eq!(run.code, 1, "{run:?}");
    let result = run.json();
    assert_eq!(result["status"], "FAILED");
    assert_eq!(result["error"], "States.TaskFailed");
    let cause = result["cause"].as_str().expect("a cause");
    assert!(cause.contains("'LookupUnmocked'"), "{cause}");
    assert!(cause.contains("state 'Lookup'"), "{cause}");
    assert!(
        cause.contains("arn:aws:lambda:us-east-1:123456789012:function:lookup"),
        "{cause}"
    );
}

#[test]
fn without_mocks_every_task_fails_naming_its_resource() {
    let run = spotlight(
        &[
            "states",
            "run",
            "--definition",
            &fixture("tasks.asl.json"),
            "--input",
            &fixture("tasks.input.json"),
            "--substitutions",
            &fixture("tasks.substitutions.json"),
            "--json",
        ],
        None,
    );
    assert_eq!(run.code, 1, "{run:?}");
    let result = run.json();
    assert_eq!(result["error"], "States.TaskFailed");
    let cause = result["cause"].as_str().expect("a cause");
    assert!(cause.contains("state 'Fetch'"), "{cause}");
    assert!(cause.contains("arn:aws:states:::lambda:invoke"), "{cause}");
    assert!(
        cause.contains("arn:aws:lambda:us-east-1:123456789012:function:fetch"),
        "{cause}"
    );
    assert!(cause.contains("--mock-config"), "{cause}");
}

#[test]
fn a_missing_substitution_is_warned_about() {
    let run = spotlight(
        &[
            "states",
            "run",
            "--definition",
            &fixture("tasks.asl.json"),
            "--input",
            &fixture("tasks.input.json"),
            "--json",
        ],
        None,
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("${FetchFunctionArn}"), "{run:?}");
    assert!(run.stderr.contains("${LookupFunctionArn}"), "{run:?}");
}

// ---- invalid definitions, validate ------------------------------------------------------------

const INVALID_PROBLEMS: [&str; 5] = [
    "/States/First/Next: MISSING_TRANSITION_TARGET: Missing 'Next' target: Nowhere",
    "/States/Second/Type: SCHEMA_VALIDATION_FAILED: \"Teleport\" is not a state type",
    "/States/Third/Retry/0/BackoffRate: SCHEMA_VALIDATION_FAILED: BackoffRate must be at least 1.0",
    "/States/Second: UNREACHABLE_STATE: State \"Second\" is not reachable",
    "/States/Third: UNREACHABLE_STATE: State \"Third\" is not reachable",
];

#[test]
fn running_an_invalid_definition_lists_every_problem_and_exits_2() {
    let run = spotlight(
        &[
            "states",
            "run",
            "--definition",
            &fixture("invalid.asl.json"),
            "--input",
            "-",
            "--json",
        ],
        Some("{}"),
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.starts_with("error: the definition in '"),
        "{run:?}"
    );
    assert!(run.stderr.contains("not valid (5 problems)"), "{run:?}");
    for problem in INVALID_PROBLEMS {
        assert!(
            run.stderr.contains(&format!("\n  {problem}")),
            "{problem}: {run:?}"
        );
    }
}

#[test]
fn validate_lists_every_problem_and_exits_1() {
    let run = spotlight(&["states", "validate", &fixture("invalid.asl.json")], None);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stdout,
        INVALID_PROBLEMS.map(|p| format!("{p}\n")).concat()
    );

    let run = spotlight(
        &["states", "validate", "--json", &fixture("invalid.asl.json")],
        None,
    );
    assert_eq!(run.code, 1, "{run:?}");
    let result = run.json();
    assert_eq!(result["valid"], false);
    let problems = result["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 5);
    assert_eq!(
        problems[2],
        json!({
            "path": "/States/Third/Retry/0/BackoffRate",
            "code": "SCHEMA_VALIDATION_FAILED",
            "message": "BackoffRate must be at least 1.0"
        })
    );
    let paths: Vec<&str> = problems
        .iter()
        .map(|p| p["path"].as_str().expect("a path"))
        .collect();
    assert_eq!(
        paths,
        INVALID_PROBLEMS.map(|p| p.split(": ").next().unwrap_or_default())
    );
}

#[test]
fn validate_accepts_a_valid_definition() {
    let run = spotlight(&["states", "validate", &fixture("greet.asl.json")], None);
    assert_eq!((run.code, run.stdout.as_str()), (0, "valid\n"), "{run:?}");

    let definition = std::fs::read_to_string(fixture("greet.asl.json")).expect("fixture");
    let run = spotlight(&["states", "validate", "--json", "-"], Some(&definition));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "{\"valid\":true}\n");

    let run = spotlight(
        &[
            "states",
            "validate",
            &path("../../statemachine/pipeline.asl.json"),
            "--substitutions",
            &fixture("pipeline/substitutions.json"),
        ],
        None,
    );
    assert_eq!((run.code, run.stdout.as_str()), (0, "valid\n"), "{run:?}");
    assert_eq!(run.stderr, "");
}

#[test]
fn validate_reports_text_that_is_not_json_as_a_problem() {
    let run = spotlight(
        &["states", "validate", "--json", "-"],
        Some("{\"StartAt\": "),
    );
    assert_eq!(run.code, 1, "{run:?}");
    let result = run.json();
    assert_eq!(result["problems"][0]["code"], "INVALID_JSON_DESCRIPTION");
    assert_eq!(result["problems"][0]["path"], "");
}

// ---- usage errors ------------------------------------------------------------------------------

#[test]
fn usage_errors_exit_2() {
    let greet = fixture("greet.asl.json");
    let input = fixture("greet.input.json");
    let mocks = fixture("tasks.mocks.json");
    let cases: [(&[&str], &str); 9] = [
        (&[], "Usage"),
        (&["states"], "Usage"),
        (&["states", "frobnicate"], "frobnicate"),
        (&["states", "run", "--definition", &greet], "--input"),
        (
            &["states", "run", "--definition", &greet, "--input", &input, "--mock-config", &mocks],
            "--test-case",
        ),
        (
            &["states", "run", "--definition", &greet, "--input", &input, "--test-case", "T"],
            "--mock-config",
        ),
        (
            &["states", "run", "--definition", "-", "--input", "-"],
            "only one file can be read from standard input, but '-' was given for --definition and --input",
        ),
        (
            &["states", "validate", "-", "--substitutions", "-"],
            "standard input",
        ),
        (
            &["states", "run", "--definition", &greet, "--input", &input, "--name", "a b"],
            "--name cannot contain ' '",
        ),
    ];
    for (args, says) in cases {
        let run = spotlight(args, Some(""));
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert_eq!(run.stdout, "", "{args:?}");
        assert!(
            run.stderr.contains(says),
            "{args:?} should say {says:?}: {run:?}"
        );
    }
}

#[test]
fn unreadable_or_invalid_files_exit_2() {
    let greet = fixture("greet.asl.json");
    let missing = fixture("no-such-file.json");
    let cases: [(&[&str], &str, &str); 5] = [
        (
            &["states", "run", "--definition", &missing, "--input", "-"],
            "{}",
            "cannot read the definition from '",
        ),
        (
            &["states", "run", "--definition", &greet, "--input", "-"],
            "{not json",
            "the input in standard input is not valid JSON",
        ),
        (
            &["states", "run", "--definition", &greet, "--input", "-"],
            "",
            "the input in standard input is not valid JSON",
        ),
        (
            &["states", "validate", &greet, "--substitutions", "-"],
            r#"{"Fn": ["a"]}"#,
            "the substitution 'Fn' in standard input must be a string, not an array",
        ),
        (
            &[
                "states",
                "run",
                "--definition",
                &greet,
                "--input",
                &fixture("greet.input.json"),
                "--mock-config",
                "-",
                "--test-case",
                "T",
            ],
            r#"{"MockedResponses": {"R": {"0": {"Return": 1}, "2": {"Return": 2}}}}"#,
            "invocation numbers must be consecutive",
        ),
    ];
    for (args, stdin, says) in cases {
        let run = spotlight(args, Some(stdin));
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert_eq!(run.stdout, "", "{args:?}");
        assert!(run.stderr.starts_with("error: "), "{args:?}: {run:?}");
        assert!(
            run.stderr.contains(says),
            "{args:?} should say {says:?}: {run:?}"
        );
    }
}

#[test]
fn a_closed_standard_output_is_not_an_error() {
    // More than a pipe holds (64 KiB), so the write meets the closed pipe whatever the timing.
    let input = json!({"width": 400, "padding": "x".repeat(200_000)}).to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_spotlight"))
        .args([
            "states",
            "run",
            "--definition",
            &fixture("fail.asl.json"),
            "--input",
            "-",
        ])
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the spotlight binary starts");
    drop(child.stdout.take());
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin.write_all(input.as_bytes()).expect("stdin is written");
    drop(stdin);
    let out = child.wait_with_output().expect("the spotlight binary ends");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn help_and_version() {
    let run = spotlight(&["--version"], None);
    assert_eq!(run.code, 0);
    assert_eq!(
        run.stdout,
        format!("spotlight {}\n", env!("CARGO_PKG_VERSION"))
    );
    for args in [
        &["--help"][..],
        &["states", "--help"],
        &["states", "run", "--help"],
    ] {
        let run = spotlight(args, None);
        assert_eq!(run.code, 0, "{args:?}");
        assert!(run.stdout.contains("Usage: spotlight"), "{args:?}: {run:?}");
    }
    let run = spotlight(&["states", "validate", "--help"], None);
    assert!(run
        .stdout
        .contains("Exit status: 0 when the definition is valid"));
}

// ---- the project's own state machine -----------------------------------------------------------

const BRANCHES: [&str; 3] = ["DetectLabels", "DetectModeration", "DetectText"];
/// Each branch's first state: whether its analyser runs (a reprocess may keep its result).
const BRANCH_CHOICES: [&str; 6] = [
    "RunLabels",
    "RunModeration",
    "RunText",
    "KeepLabels",
    "KeepModeration",
    "KeepText",
];

fn pipeline(test_case: &str, input: Input) -> (Run, Value) {
    let (input_arg, stdin) = match input {
        Input::File(p) => (path(p), None),
        Input::Stdin(text) => ("-".to_string(), Some(text)),
    };
    let run = spotlight(
        &[
            "states",
            "run",
            "--definition",
            &path("../../statemachine/pipeline.asl.json"),
            "--input",
            &input_arg,
            "--substitutions",
            &fixture("pipeline/substitutions.json"),
            "--mock-config",
            &fixture("pipeline/mocks.json"),
            "--test-case",
            test_case,
            "--history",
            "--json",
        ],
        stdin,
    );
    assert_eq!(run.stderr, "", "{run:?}");
    let result = run.json();
    (run, result)
}

enum Input {
    File(&'static str),
    Stdin(&'static str),
}

const OBJECT_CREATED: Input = Input::File("../core/tests/fixtures/eventbridge-object-created.json");

/// The states entered outside the Parallel's branches, in order.
fn path_taken(result: &Value) -> Vec<&str> {
    entered(result)
        .into_iter()
        .filter(|s| !BRANCHES.contains(s) && !BRANCH_CHOICES.contains(s))
        .collect()
}

/// The Parallel's branch states entered, sorted (the branches run at once).
fn branches_entered(result: &Value) -> Vec<&str> {
    let mut b: Vec<&str> = entered(result)
        .into_iter()
        .filter(|s| BRANCHES.contains(s))
        .collect();
    b.sort_unstable();
    b
}

/// A mocked response's payload, as `fixtures/pipeline/mocks.json` has it.
fn mocked_payload(response: &str) -> Value {
    let text = std::fs::read_to_string(fixture("pipeline/mocks.json")).expect("mocks");
    let mocks: Value = serde_json::from_str(&text).expect("mocks are JSON");
    mocks["MockedResponses"][response]["0"]["Return"]["Payload"].clone()
}

fn only(mut calls: Vec<Value>) -> Value {
    assert_eq!(calls.len(), 1, "{calls:?}");
    calls.remove(0)
}

#[test]
fn pipeline_happy_path_from_an_eventbridge_event() {
    let (run, result) = pipeline("HappyPath", OBJECT_CREATED);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(result["status"], "SUCCEEDED");
    assert_eq!(
        path_taken(&result),
        [
            "Normalize",
            "FromVersionedObjectCreatedEvent",
            "Validate",
            "Reprocessing",
            "Analyze",
            "Record",
            "PublishResult",
            "Outcome",
            "Analyzed"
        ]
    );
    assert_eq!(branches_entered(&result), BRANCHES);

    let validate = only(scheduled(&result, "Validate"));
    assert_eq!(
        validate["FunctionName"],
        "arn:aws:lambda:us-east-1:123456789012:function:spotlight-validate"
    );
    assert_eq!(
        validate["Payload"],
        json!({
            "bucket": "amzn-s3-demo-bucket1", "key": "photos/beach day+1 ünï.jpg",
            "versionId": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
            "sequencer": "617f08299329d189", "etag": "b1946ac92492d2347c6235b4d2611184",
            "size": 5, "eventTime": "2021-11-12T00:00:00Z"
        })
    );

    let record = only(scheduled(&result, "Record"));
    assert_eq!(
        record["FunctionName"],
        "arn:aws:lambda:us-east-1:123456789012:function:spotlight-record"
    );
    let payload = &record["Payload"];
    assert_eq!(payload["outcome"], "ANALYZED");
    assert_eq!(payload["image"], mocked_payload("ValidateOk"));
    assert_eq!(payload["labels"], mocked_payload("LabelsOk"));
    assert_eq!(payload["moderation"], mocked_payload("ModerationOk"));
    assert_eq!(payload["text"], mocked_payload("TextOk"));
    // The default name, `pipeline`, is in the execution's ARN.
    let execution_id = payload["execution"]["id"].as_str().expect("an id");
    assert!(
        execution_id.starts_with("arn:aws:states:us-east-1:123456789012:execution:pipeline:"),
        "{execution_id}"
    );
    assert!(payload["execution"]["startTime"].is_string());

    assert_eq!(
        result["output"]["record"]["record"],
        mocked_payload("RecordAnalyzed")
    );
}

#[test]
fn pipeline_sends_the_result_event_with_the_records_outcome() {
    let (run, result) = pipeline("HappyPath", OBJECT_CREATED);
    assert_eq!(run.code, 0, "{run:?}");
    let entries = &only(scheduled(&result, "PublishResult"))["Entries"];
    let record = mocked_payload("RecordAnalyzed");
    assert_eq!(entries.as_array().map(Vec::len), Some(1));
    let entry = &entries[0];
    assert_eq!(entry["EventBusName"], "spotlight-results");
    assert_eq!(entry["Source"], "spotlight.pipeline");
    assert_eq!(entry["DetailType"], "Spotlight Photo Screened");
    let detail = &entry["Detail"];
    for (field, from) in [
        ("recordId", "id"),
        ("bucket", "bucket"),
        ("key", "key"),
        ("status", "status"),
        ("verdict", "verdict"),
        ("safe", "safe"),
        ("themes", "themes"),
        ("error", "error"),
        ("write", "write"),
    ] {
        assert_eq!(detail[field], record[from], "{field}");
    }
    let execution = &detail["execution"];
    let arn = execution["arn"].as_str().expect("an ARN");
    assert!(
        arn.ends_with(&format!(":{}", execution["name"].as_str().expect("a name"))),
        "{execution}"
    );
    assert!(execution["startTime"].is_string());
    assert_eq!(
        result["output"]["resultEvent"],
        json!({"delivered": true, "eventId": "11710aed-b79e-4468-a20b-bb3c0c3b4860"})
    );
}

#[test]
fn pipeline_event_that_cannot_be_put_leaves_the_photo_analyzed() {
    let (run, result) = pipeline("EventRefused", OBJECT_CREATED);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(result["status"], "SUCCEEDED");
    assert_eq!(
        path_taken(&result)[5..],
        [
            "Record",
            "PublishResult",
            "ResultUndelivered",
            "Outcome",
            "Analyzed"
        ]
    );
    assert_eq!(
        task_errors(&result, "PublishResult"),
        ["EventBridge.FailedEntry"; 3],
        "put once, retried twice"
    );
    let undelivered = &result["output"]["resultEvent"];
    assert_eq!(undelivered["delivered"], false);
    assert_eq!(undelivered["failure"]["Error"], "EventBridge.FailedEntry");
    assert_eq!(result["output"]["record"]["record"]["status"], "ANALYZED");
}

#[test]
fn pipeline_rejected_image_is_recorded_and_succeeds() {
    let (run, result) = pipeline("TooSmall", OBJECT_CREATED);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(result["status"], "SUCCEEDED");
    assert_eq!(
        path_taken(&result),
        [
            "Normalize",
            "FromVersionedObjectCreatedEvent",
            "Validate",
            "RecordRejected",
            "PublishResult",
            "Outcome",
            "Rejected"
        ]
    );
    assert_eq!(branches_entered(&result), Vec::<&str>::new());
    assert_eq!(task_errors(&result, "Validate"), ["ImageRejected.TooSmall"]);

    let payload = &only(scheduled(&result, "RecordRejected"))["Payload"];
    assert_eq!(payload["outcome"], "REJECTED");
    assert_eq!(
        payload["state"]["request"]["key"],
        "photos/beach day+1 ünï.jpg"
    );
    assert_eq!(payload["state"]["error"]["Error"], "ImageRejected.TooSmall");
    let cause: Value = serde_json::from_str(
        payload["state"]["error"]["Cause"]
            .as_str()
            .expect("a cause"),
    )
    .expect("the cause is Lambda's error payload");
    assert_eq!(cause["errorType"], "ImageRejected.TooSmall");
    assert_eq!(result["output"]["record"]["record"]["status"], "REJECTED");
}

#[test]
fn pipeline_throttled_analyser_is_retried_until_it_succeeds() {
    let (run, result) = pipeline("Throttled", OBJECT_CREATED);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(result["status"], "SUCCEEDED");
    assert_eq!(
        path_taken(&result),
        [
            "Normalize",
            "FromVersionedObjectCreatedEvent",
            "Validate",
            "Reprocessing",
            "Analyze",
            "Record",
            "PublishResult",
            "Outcome",
            "Analyzed"
        ]
    );
    assert_eq!(branches_entered(&result), BRANCHES);
    assert_eq!(
        task_errors(&result, "DetectLabels"),
        ["AnalyzerThrottled", "AnalyzerThrottled"]
    );
    assert_eq!(scheduled(&result, "DetectLabels").len(), 3);
    let record = only(scheduled(&result, "Record"));
    assert_eq!(record["Payload"]["labels"], mocked_payload("LabelsOk"));
}

#[test]
fn pipeline_failed_analyser_is_recorded_and_fails_the_execution() {
    let (run, result) = pipeline("AnalyzerFails", OBJECT_CREATED);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(result["status"], "FAILED");
    assert_eq!(result["error"], "AnalyzerFailed");
    let cause = result["cause"].as_str().expect("a cause");
    assert!(cause.contains("DetectModerationLabels failed"), "{cause}");
    assert_eq!(
        path_taken(&result),
        [
            "Normalize",
            "FromVersionedObjectCreatedEvent",
            "Validate",
            "Reprocessing",
            "Analyze",
            "RecordFailed",
            "PublishResult",
            "Outcome",
            "FailedWithCause",
            "Failed"
        ]
    );
    assert!(branches_entered(&result).contains(&"DetectModeration"));
    assert_eq!(task_errors(&result, "DetectModeration"), ["AnalyzerFailed"]);

    let payload = &only(scheduled(&result, "RecordFailed"))["Payload"];
    assert_eq!(payload["outcome"], "FAILED");
    assert_eq!(payload["state"]["error"]["Error"], "AnalyzerFailed");
    assert_eq!(
        payload["state"]["validation"]["image"],
        mocked_payload("ValidateOk")
    );
    assert_eq!(types(&result).last().copied(), Some("ExecutionFailed"));
}

#[test]
fn pipeline_plain_object_request() {
    let (run, result) = pipeline(
        "ObjectRequest",
        Input::File("../core/tests/fixtures/object-request.json"),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        path_taken(&result),
        [
            "Normalize",
            "FromObjectRequest",
            "Validate",
            "Reprocessing",
            "Analyze",
            "Record",
            "PublishResult",
            "Outcome",
            "Analyzed"
        ]
    );
    let validate = only(scheduled(&result, "Validate"));
    assert_eq!(
        validate["Payload"],
        json!({"bucket": "uploads", "key": "a b+c/猫.png"})
    );
    let record = only(scheduled(&result, "Record"));
    assert_eq!(
        record["Payload"]["image"],
        mocked_payload("ValidateRequestOk")
    );
    assert_eq!(
        result["output"]["record"]["record"],
        mocked_payload("RecordRequestAnalyzed")
    );
}

#[test]
fn pipeline_s3_notification() {
    let (run, result) = pipeline(
        "HappyPath",
        Input::File("../core/tests/fixtures/s3-notification.json"),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        path_taken(&result),
        [
            "Normalize",
            "FromS3Notification",
            "Validate",
            "Reprocessing",
            "Analyze",
            "Record",
            "PublishResult",
            "Outcome",
            "Analyzed"
        ]
    );
    let validate = only(scheduled(&result, "Validate"));
    assert_eq!(validate["Payload"]["keyEncoding"], "url");
}

#[test]
fn pipeline_unrecognised_input_fails() {
    let (run, result) = pipeline("HappyPath", Input::Stdin(r#"{"hello": "world"}"#));
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(result["status"], "FAILED");
    assert_eq!(result["error"], "InvalidPipelineInput");
    assert!(result["cause"]
        .as_str()
        .is_some_and(|c| c.starts_with("The input is neither")));
    assert_eq!(path_taken(&result), ["Normalize", "UnrecognisedInput"]);
    assert_eq!(
        types(&result),
        [
            "ExecutionStarted",
            "ChoiceStateEntered",
            "ChoiceStateExited",
            "FailStateEntered",
            "ExecutionFailed"
        ]
    );
}

#[test]
fn eval_prints_the_result_as_one_line_of_json() {
    let run = spotlight(
        &[
            "states",
            "eval",
            "{'total': $sum($states.input.prices) * $rate, 'who': $who, 'chunks': $partition($states.input.prices, 2)}",
            "--input",
            "-",
            "--var",
            "rate=2",
            "--var",
            r#"who="Ada""#,
        ],
        Some(r#"{"prices": [1.5, 2, 0.5]}"#),
    );
    assert_eq!(run.code, 0, "{run:?}");
    // Integral numbers print as JavaScript prints them: 8, not 8.0.
    assert_eq!(
        run.stdout,
        "{\"total\":8,\"who\":\"Ada\",\"chunks\":[[1.5,2],[0.5]]}\n"
    );
    assert_eq!(run.json()["who"], json!("Ada"));
}

#[test]
fn eval_reads_the_input_from_a_file_and_defaults_to_an_empty_object() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let input = dir.path().join("input.json");
    std::fs::write(&input, r#"{"n": 41}"#).expect("the input is written");
    let input = input.to_string_lossy().into_owned();
    let run = spotlight(
        &["states", "eval", "$states.input.n + 1", "--input", &input],
        None,
    );
    assert_eq!((run.code, run.stdout.as_str()), (0, "42\n"), "{run:?}");
    let run = spotlight(&["states", "eval", "$states.input"], None);
    assert_eq!((run.code, run.stdout.as_str()), (0, "{}\n"), "{run:?}");
}

#[test]
fn eval_of_an_undefined_result_prints_nothing_and_succeeds() {
    let run = spotlight(&["states", "eval", "$states.input.missing"], None);
    assert_eq!((run.code, run.stdout.as_str()), (0, ""), "{run:?}");
}

#[test]
fn a_failed_eval_names_the_states_error_and_exits_1() {
    let run = spotlight(&["states", "eval", "$number('x') + 'y'"], None);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .starts_with("States.QueryEvaluationError: An error occurred while evaluating the JSONata expression"),
        "{run:?}"
    );
    let run = spotlight(&["states", "eval", "$eval('1 + 1')"], None);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("use $parse instead"), "{run:?}");
}

#[test]
fn eval_usage_errors_exit_2() {
    for args in [
        &["states", "eval"][..],
        &["states", "eval", "1", "--var", "novalue"],
        &["states", "eval", "1", "--var", "n=not json"],
        &["states", "eval", "1", "--var", "states={}"],
        &["states", "eval", "1", "--var", "9lives=1"],
        &["states", "eval", "1", "--var", "n=1", "--var", "n=2"],
    ] {
        let run = spotlight(args, None);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert_eq!(run.stdout, "", "{args:?}");
    }
    let run = spotlight(&["states", "eval", "1", "--input", "-"], Some("{"));
    assert_eq!(run.code, 2, "{run:?}");
}
