//! Entry points for the coverage-guided fuzz targets in `fuzz/` and for the replay of their
//! corpus in `tests/fuzz.rs`. Not an API: each function takes arbitrary bytes, drives one parser
//! (and what runs on its result) and panics when an invariant breaks, which is what a fuzzer
//! reports. A definition, a path or an intrinsic call that is merely invalid must come back as
//! an error, never as a panic, an overflow or a hang.

use crate::context::{ExecutionInfo, Scope};
use crate::intrinsics::Call;
use crate::path::Path;
use crate::StateMachine;
use rand::SeedableRng;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;

/// Splits `data` into the text on its first line and a JSON document after it (a fixed sample
/// document when the rest is not JSON), so one input mutates both an expression and its data.
fn expression_and_document(data: &[u8]) -> Option<(&str, Value)> {
    let (text, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(k) => (&data[..k], &data[k + 1..]),
        None => (data, &[][..]),
    };
    let text = std::str::from_utf8(text).ok()?;
    let doc = serde_json::from_slice(rest).unwrap_or_else(|_| {
        json!({
            "a": [1, -2.5, {"b": "x", "c": [true, null]}],
            "s": "a,b;c",
            "n": 3,
            "o": {"k": {"k": 1}, "e": []}
        })
    });
    Some((text, doc))
}

/// JSONPath: parse, then select, get and set on a document.
pub fn jsonpath(data: &[u8]) {
    let Some((text, doc)) = expression_and_document(data) else {
        return;
    };
    let Ok(path) = Path::parse(text) else {
        assert!(
            Path::parse_reference(text).is_err(),
            "a reference path must be a path: {text:?}"
        );
        return;
    };
    assert_eq!(path.text(), text);
    assert_eq!(
        Path::parse_reference(text).is_ok(),
        path.is_definite(),
        "reference paths are exactly the definite ones: {text:?}"
    );
    let selected = path.select(&doc);
    if path.is_definite() {
        assert_eq!(
            selected.as_ref().ok(),
            path.get(&doc).ok(),
            "select and get disagree on {text:?}"
        );
        let mut written = doc.clone();
        let marker = json!({"written by": text});
        if path.set(&mut written, marker.clone()).is_ok() {
            assert_eq!(
                path.get(&written).ok(),
                Some(&marker),
                "{text:?} does not read back what it wrote"
            );
        }
    } else {
        assert!(
            matches!(selected, Ok(Value::Array(_))),
            "an indefinite path yields an array: {text:?}"
        );
    }
}

/// Intrinsic functions: parse a call, then evaluate it on a document.
pub fn intrinsic(data: &[u8]) {
    let Some((text, doc)) = expression_and_document(data) else {
        return;
    };
    let Ok(call) = Call::parse(text) else {
        return;
    };
    let exec = ExecutionInfo {
        id: "arn:aws:states:us-east-1:123456789012:execution:Fuzz:e".into(),
        name: "e".into(),
        input: doc.clone(),
        start_time: chrono::DateTime::UNIX_EPOCH,
        role_arn: "arn:aws:iam::123456789012:role/Fuzz".into(),
        state_machine_id: "arn:aws:states:us-east-1:123456789012:stateMachine:Fuzz".into(),
        state_machine_name: "Fuzz".into(),
        redrive_count: 0,
    };
    let rng = Mutex::new(rand::rngs::StdRng::seed_from_u64(0));
    let scope = Scope::new(&doc, &exec, "S", chrono::DateTime::UNIX_EPOCH, 0, &rng);
    if let Ok(value) = call.eval(&scope) {
        // Whatever a call returns becomes state data: it must serialise.
        assert!(serde_json::to_string(&value).is_ok());
    }
}

/// A whole definition: JSON, substitutions, every state's fields, paths and intrinsics, and the
/// whole-machine checks.
pub fn definition(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let substitutions = HashMap::from([
        (
            "Fn".to_string(),
            "arn:aws:lambda:us-east-1:123456789012:function:f".to_string(),
        ),
        ("Empty".to_string(), String::new()),
    ]);
    match StateMachine::parse(text, &substitutions) {
        Ok(machine) => {
            let _ = machine.start_at();
            assert!(
                StateMachine::parse(text, &substitutions).is_ok(),
                "loading is not deterministic"
            );
        }
        Err(error) => {
            assert!(
                !error.problems().is_empty(),
                "a refused definition must say why"
            );
            for problem in error.problems() {
                assert!(!problem.message.is_empty(), "{problem:?}");
                assert!(
                    problem.pointer.is_empty() || problem.pointer.starts_with('/'),
                    "not a JSON pointer: {problem:?}"
                );
            }
            let _ = error.to_string();
        }
    }
}
