//! The fuzz targets' corpus (`fuzz/corpus/`), replayed as ordinary tests, and the regressions
//! the fuzzers found, each named after what it found. The fuzzing itself is
//! `bash scripts/fuzz.sh`; this keeps every input it ever kept passing in `cargo test`.

use spotlight_states::{fuzz, InvokerFn, OwnedTaskRequest, RunOptions, StateMachine, Status};
use std::path::PathBuf;
use std::sync::Arc;

/// Runs `body` on every file of `fuzz/corpus/<target>/`, reporting every input that panics.
fn replay(target: &str, body: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    entries.sort();
    assert!(!entries.is_empty(), "no corpus in {}", dir.display());
    let failed: Vec<String> = entries
        .iter()
        .filter(|path| {
            let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            std::panic::catch_unwind(|| body(&bytes)).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} inputs failed:\n{}",
        failed.len(),
        entries.len(),
        failed.join("\n")
    );
}

#[test]
fn jsonpath_corpus() {
    replay("jsonpath", fuzz::jsonpath);
}

#[test]
fn intrinsic_corpus() {
    replay("intrinsic", fuzz::intrinsic);
}

#[test]
fn definition_corpus() {
    replay("definition", fuzz::definition);
}

/// Runs a one-state machine whose Pass state computes `{"r.$": expression}` on `input`.
async fn pass(expression: &str, input: serde_json::Value) -> spotlight_states::ExecutionResult {
    let definition = serde_json::json!({
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Parameters": {"r.$": expression}, "End": true}}
    });
    let machine = StateMachine::from_value(definition, &Default::default())
        .unwrap_or_else(|e| panic!("{expression}: {e}"));
    let invoker = Arc::new(InvokerFn(|_: OwnedTaskRequest| async move {
        Ok(serde_json::Value::Null)
    }));
    let options = RunOptions {
        seed: Some(1),
        ..RunOptions::default()
    };
    let result = machine.run(input, invoker, options).await;
    result.unwrap_or_else(|e| panic!("{expression}: {e}"))
}

/// Loads a one-state machine whose Pass state has `InputPath: path`.
fn load_input_path(path: &str) -> Result<StateMachine, spotlight_states::DefinitionError> {
    let definition = serde_json::json!({
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "InputPath": path, "End": true}}
    });
    StateMachine::from_value(definition, &Default::default())
}

// Found by the jsonpath fuzzer: the name after a ',' in a bracket union was read as quoted by
// whatever byte came first, a panic when that byte began a multi-byte character.
#[test]
fn a_union_name_starting_with_a_multibyte_character_is_refused_not_a_panic() {
    let error = load_input_path("$['a',\u{654}tems']").expect_err("an unquoted name");
    assert!(
        error.to_string().contains("expected a quoted name"),
        "{error}"
    );
}

// The same fault with an ASCII letter: `$['a',xyx]` loaded and selected the field "y".
#[test]
fn a_union_name_without_quotes_is_refused() {
    for path in ["$['a',xyx]", "$['a', b]", "$[\"a\",1]"] {
        assert!(load_input_path(path).is_err(), "{path} was accepted");
    }
    assert!(load_input_path("$['a', \"b\"]").is_ok());
}

// Found while writing the intrinsic target (30 million fuzzed calls later the fuzzer had not
// hit it; the committed corpus has it now): `States.ArrayRange` computed `end - start` in i64,
// which overflows for bounds far apart, so data could crash the engine.
#[tokio::test]
async fn array_range_over_bounds_far_apart_fails_the_state_instead_of_overflowing() {
    let input = serde_json::json!({"min": i64::MIN, "max": i64::MAX});
    for expression in [
        "States.ArrayRange($.min, $.max, 1)",
        "States.ArrayRange(0, $.min, -1)",
    ] {
        let result = pass(expression, input.clone()).await;
        assert_eq!(result.status, Status::Failed, "{expression}");
        assert_eq!(result.error.as_deref(), Some("States.IntrinsicFailure"));
        let cause = result.cause.unwrap_or_default();
        assert!(cause.contains("more than the limit of 1000"), "{cause}");
    }
    let result = pass("States.ArrayRange($.max, 9223372036854775806, -1)", input).await;
    assert_eq!(
        result.output,
        Some(serde_json::json!({"r": [i64::MAX, i64::MAX - 1]}))
    );
}

// Found with the jsonpath fuzz target (a crafted input): the filter parser recursed once per
// `(`, `!` and nested filter, so a long enough path overflowed the stack and aborted the
// process loading the definition.
#[test]
fn filters_nested_without_end_are_refused_not_a_stack_overflow() {
    let deep = 100_000;
    for path in [
        format!("$[?({}@.a{})]", "(".repeat(deep), ")".repeat(deep)),
        format!("$[?({}@.a)]", "!".repeat(deep)),
        format!("$.a{}", "[?(@".repeat(deep)),
    ] {
        let error = load_input_path(&path).expect_err("nested too deep");
        assert!(
            error.to_string().contains("nested more than 32 deep"),
            "{error}"
        );
    }
    let nested = format!("$[?({}@.a == 1{})]", "(".repeat(30), ")".repeat(30));
    assert!(load_input_path(&nested).is_ok());
}

// Found by the jsonpath fuzzer (a timeout): a filter's `$…` operand was evaluated again for
// every element under test, so filters nested as `$.a[?($.a[?($.a[?(@)])])]` took time
// exponential in their depth (20 elements, 9 levels: 20^9 evaluations, a hang). Each `$…`
// operand is now evaluated once per selection.
#[tokio::test]
async fn nested_root_filters_are_evaluated_once_not_once_per_element() {
    let mut filter = "@".to_string();
    for _ in 0..8 {
        filter = format!("$.a[?({filter})]");
    }
    let path = format!("$.a[?({filter})]");
    let definition = serde_json::json!({
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "InputPath": path, "End": true}}
    });
    let machine = StateMachine::from_value(definition, &Default::default()).expect("loads");
    let items: Vec<u32> = (0..20).collect();
    let invoker = Arc::new(InvokerFn(|_: OwnedTaskRequest| async move {
        Ok(serde_json::Value::Null)
    }));
    let result = machine
        .run(
            serde_json::json!({ "a": items }),
            invoker,
            RunOptions::default(),
        )
        .await
        .expect("runs");
    assert_eq!(result.output, Some(serde_json::json!(items)));
}
