//! Loading a definition: `DefinitionSubstitutions`, then a typed tree in which every path,
//! payload template and intrinsic call is compiled once, and validation that reports every
//! problem with its JSON pointer.
//!
//! Each state type parses its own fields in `states/<type>.rs`; this module holds the shared
//! pieces, one file per stage:
//!
//! - `substitute`: `${Name}` replaced before anything is read;
//! - `ast`: the typed tree the engine runs (crate-private; `crate::view` shows it read-only);
//! - `reader`: [`DefinitionReader`], which walks the JSON with a JSON pointer, reports every
//!   problem, and has the typed field readers (strings, numbers, paths, payload templates,
//!   transitions, the data-flow fields);
//! - `retry_catch`: `Retry` and `Catch`;
//! - `body`: the machine, its bodies (branches, processors) and states, and the whole-body
//!   checks (missing transition targets, unreachable states).

mod ast;
mod body;
mod reader;
mod retry_catch;
mod substitute;

pub(crate) use ast::{
    Assign, Body, Catcher, ErrorEquals, IoPath, JTemplate, Lang, PathOrCall, ResultPath, Retrier,
    State, Template,
};
pub(crate) use reader::{DefinitionReader, Obj};

use crate::error::{DefinitionError, Problem};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// A loaded, validated state machine, ready to run any number of times.
///
/// ```
/// let machine = spotlight_states::StateMachine::parse(
///     r#"{"StartAt": "Hello", "States": {"Hello": {"Type": "Pass", "End": true}}}"#,
///     &Default::default(),
/// )?;
/// assert_eq!(machine.start_at(), "Hello");
/// # Ok::<(), spotlight_states::DefinitionError>(())
/// ```
#[derive(Debug, Clone)]
pub struct StateMachine {
    pub(crate) root: Arc<Body>,
    pub(crate) timeout_seconds: Option<u64>,
    comment: Option<String>,
}

impl StateMachine {
    /// Parses and validates a definition (JSON text), after applying `substitutions` to every
    /// `${Name}` in its strings. Every problem is reported, each with its JSON pointer.
    pub fn parse(
        definition: &str,
        substitutions: &HashMap<String, String>,
    ) -> Result<StateMachine, DefinitionError> {
        let value: Value = serde_json::from_str(definition).map_err(|e| {
            DefinitionError::new(
                Problem {
                    code: "INVALID_JSON_DESCRIPTION",
                    pointer: String::new(),
                    message: format!("the definition is not valid JSON: {e}"),
                },
                [],
            )
        })?;
        StateMachine::from_value(value, substitutions)
    }

    /// Like [`StateMachine::parse`], from JSON already parsed.
    pub fn from_value(
        mut value: Value,
        substitutions: &HashMap<String, String>,
    ) -> Result<StateMachine, DefinitionError> {
        if !substitutions.is_empty() {
            substitute::substitute(&mut value, substitutions);
        }
        let mut reader = DefinitionReader::default();
        let machine = reader.machine(&value);
        match (machine, DefinitionError::from_problems(reader.problems)) {
            (_, Some(refused)) => Err(refused),
            (Some(machine), None) => Ok(machine),
            // Every way of reading no machine records why; were one to forget, still say so.
            (None, None) => Err(DefinitionError::new(
                Problem {
                    code: "SCHEMA_VALIDATION_FAILED",
                    pointer: String::new(),
                    message: "the definition could not be read, and the engine recorded no \
                              reason (a bug)"
                        .into(),
                },
                [],
            )),
        }
    }

    /// The name of the first state.
    pub fn start_at(&self) -> &str {
        &self.root.states[self.root.start].name
    }

    /// The top-level `Comment`, if any.
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(def: &str) -> Vec<String> {
        match StateMachine::parse(def, &HashMap::new()) {
            Ok(_) => vec![],
            Err(e) => e
                .problems()
                .iter()
                .map(|p| format!("{} {} {}", p.code, p.pointer, p.message))
                .collect(),
        }
    }

    #[test]
    fn every_problem_is_reported_with_its_pointer() {
        let p = problems(
            r#"{"StartAt": "A", "States": {
                "A": {"Type": "Pass", "Next": "Nowhere", "Bogus": 1},
                "B": {"Type": "Pass", "End": true, "Next": "A"},
                "C": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true,
                      "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}],
                      "Parameters": {"a.$": "$.[", "b.$": "States.Nope()"}},
                "D": {"Type": "Choice", "Choices": []}
            }}"#,
        );
        let joined = p.join("\n");
        for want in [
            "MISSING_TRANSITION_TARGET /States/A/Next",
            "SCHEMA_VALIDATION_FAILED /States/A/Bogus",
            "SCHEMA_VALIDATION_FAILED /States/B A state cannot have both 'Next' and 'End'",
            "/States/C/Retry/0/ErrorEquals States.ALL must be in the last retrier",
            "/States/C/Parameters/a.$",
            "/States/C/Parameters/b.$",
            "/States/D/Choices",
            "UNREACHABLE_STATE /States/B",
            "UNREACHABLE_STATE /States/C",
        ] {
            assert!(
                p.iter().any(|l| l.contains(want)),
                "missing {want:?} in\n{joined}"
            );
        }
    }

    #[test]
    fn every_field_aws_accepts_is_accepted() {
        let p = problems(
            r#"{"Comment": "c", "Version": "1.0", "QueryLanguage": "JSONPath", "TimeoutSeconds": 10,
                "StartAt": "A", "States": {
                "A": {"Type": "Task", "Comment": "c", "QueryLanguage": "JSONPath",
                      "Resource": "arn:aws:states:::lambda:invoke", "Credentials": {"RoleArn": "x"},
                      "HeartbeatSeconds": 5, "TimeoutSeconds": 10, "Next": "B",
                      "Retry": [{"ErrorEquals": ["X"], "Comment": "r", "MaxDelaySeconds": 3, "JitterStrategy": "FULL"}],
                      "Catch": [{"ErrorEquals": ["States.ALL"], "Comment": "c", "Next": "B"}]},
                "B": {"Type": "Succeed", "Comment": "done"}
            }}"#,
        );
        assert!(p.is_empty(), "{p:#?}");
    }

    #[test]
    fn jsonata_states_load_and_mixed_fields_are_refused_with_their_pointer() {
        let ok = problems(
            r#"{"QueryLanguage": "JSONata", "StartAt": "A", "States": {
                "A": {"Type": "Pass", "Output": {"x": "{% $states.input.a + 1 %}"}, "Assign": {"v": 1}, "End": true}}}"#,
        );
        assert!(ok.is_empty(), "{ok:?}");
        let p = problems(
            r#"{"QueryLanguage": "JSONata", "StartAt": "A", "States": {
                "A": {"Type": "Pass", "InputPath": "$.a", "Output": "{% 1 + %}", "Next": "B"},
                "B": {"Type": "Pass", "QueryLanguage": "JSONPath", "Output": 1, "Assign": {"states": 1}, "End": true}}}"#,
        );
        let joined = p.join("\n");
        for want in [
            "SCHEMA_VALIDATION_FAILED /States/A/InputPath",
            "SCHEMA_VALIDATION_FAILED /States/A/Output The JSONata expression '1 +' is not valid",
            "SCHEMA_VALIDATION_FAILED /States/B 'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine",
            "SCHEMA_VALIDATION_FAILED /States/B/Assign/states",
        ] {
            assert!(p.iter().any(|l| l.starts_with(want)), "missing {want:?} in\n{joined}");
        }
        // A JSONPath machine may opt single states into JSONata, not the reverse.
        let p = problems(
            r#"{"StartAt": "A", "States": {
                "A": {"Type": "Pass", "Output": 1, "Next": "B"},
                "B": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": 1, "End": true}}}"#,
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("SCHEMA_VALIDATION_FAILED /States/A/Output"),
            "{p:?}"
        );
    }

    #[test]
    fn substitutions_apply_before_validation() {
        let def = r#"{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "${Fn}", "End": true}}}"#;
        let subs = HashMap::from([(
            "Fn".to_string(),
            "arn:aws:lambda:us-east-1:1:function:f".to_string(),
        )]);
        assert!(StateMachine::parse(def, &subs).is_ok());
        assert!(StateMachine::parse(def, &HashMap::new()).is_err());
    }
}
