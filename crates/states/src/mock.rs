//! Mocked task responses in the format of AWS Step Functions Local's mock configuration file:
//!
//! ```json
//! {
//!   "StateMachines": {
//!     "Pipeline": { "TestCases": { "HappyPath": { "Validate": "ValidateOk" } } }
//!   },
//!   "MockedResponses": {
//!     "ValidateOk": {
//!       "0": { "Throw": { "Error": "Lambda.TooManyRequestsException", "Cause": "slow down" } },
//!       "1-2": { "Return": { "Payload": { "ok": true } } }
//!     }
//!   }
//! }
//! ```
//!
//! A test case maps state names to a mocked response; a response maps invocation numbers
//! (`"0"`, ranges `"1-2"`, consecutive from 0) to a `Return` (the task's result, whole) or a
//! `Throw` (`Error` + `Cause`). Invocations are counted per state within one [`MockInvoker`],
//! so make one invoker per execution. A file holding a single state machine applies whatever
//! the running machine's name.

use crate::error::StatesError;
use crate::invoke::{TaskInvoker, TaskRequest};
use crate::BoxFuture;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Why a mock configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MockError {
    /// The file is not JSON.
    #[error("the mock configuration is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The file is JSON but not a mock configuration.
    #[error("invalid mock configuration at {pointer}: {message}")]
    Invalid {
        /// Where, as a JSON pointer.
        pointer: String,
        /// What is wrong.
        message: String,
    },
    /// No such state machine in the file (and the file has more than one).
    #[error("the mock configuration has no state machine named '{0}' (it has: {1})")]
    UnknownStateMachine(String, String),
    /// No such test case for the state machine.
    #[error("state machine '{machine}' has no test case '{test_case}' in the mock configuration")]
    UnknownTestCase {
        /// The state machine.
        machine: String,
        /// The test case asked for.
        test_case: String,
    },
}

/// One mocked answer.
#[derive(Debug, Clone, PartialEq)]
pub enum MockResponse {
    /// The task returns this result.
    Return(Value),
    /// The task fails with this error.
    Throw(StatesError),
}

/// A parsed mock configuration file.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// machine → test case → state → response name.
    machines: HashMap<String, HashMap<String, HashMap<String, String>>>,
    /// response name → answers by invocation number.
    responses: HashMap<String, Arc<[MockResponse]>>,
}

fn invalid(pointer: impl Into<String>, message: impl Into<String>) -> MockError {
    MockError::Invalid {
        pointer: pointer.into(),
        message: message.into(),
    }
}

fn object<'v>(
    v: &'v Value,
    pointer: &str,
) -> Result<&'v serde_json::Map<String, Value>, MockError> {
    v.as_object()
        .ok_or_else(|| invalid(pointer, "expected an object"))
}

fn range(key: &str, pointer: &str) -> Result<(usize, usize), MockError> {
    let parse = |s: &str| {
        s.trim().parse::<usize>().map_err(|_| {
            invalid(
                pointer,
                format!("'{key}' is not an invocation number or range like \"1-2\""),
            )
        })
    };
    match key.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (parse(a)?, parse(b)?);
            if b < a {
                return Err(invalid(
                    pointer,
                    format!("the range '{key}' ends before it starts"),
                ));
            }
            Ok((a, b))
        }
        None => {
            let n = parse(key)?;
            Ok((n, n))
        }
    }
}

fn response(v: &Value, pointer: &str) -> Result<MockResponse, MockError> {
    let o = object(v, pointer)?;
    match (o.get("Return"), o.get("Throw")) {
        (Some(r), None) => Ok(MockResponse::Return(r.clone())),
        (None, Some(t)) => {
            let t = object(t, &format!("{pointer}/Throw"))?;
            let error = t.get("Error").and_then(Value::as_str).ok_or_else(|| {
                invalid(format!("{pointer}/Throw"), "Throw needs an 'Error' string")
            })?;
            let cause = t.get("Cause").map(|c| {
                c.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| c.to_string())
            });
            Ok(MockResponse::Throw(StatesError {
                error: error.to_string(),
                cause,
            }))
        }
        _ => Err(invalid(
            pointer,
            "a mocked response needs exactly one of 'Return' or 'Throw'",
        )),
    }
}

impl MockConfig {
    /// Parses a mock configuration file's text.
    pub fn parse(text: &str) -> Result<MockConfig, MockError> {
        MockConfig::from_value(&serde_json::from_str(text)?)
    }

    /// Reads a mock configuration from JSON already parsed.
    pub fn from_value(v: &Value) -> Result<MockConfig, MockError> {
        let root = object(v, "")?;
        let mut responses = HashMap::new();
        if let Some(r) = root.get("MockedResponses") {
            for (name, answers) in object(r, "/MockedResponses")? {
                let pointer = format!("/MockedResponses/{name}");
                let mut numbered = Vec::new();
                for (key, v) in object(answers, &pointer)? {
                    let p = format!("{pointer}/{key}");
                    numbered.push((range(key, &p)?, response(v, &p)?));
                }
                numbered.sort_by_key(|((a, _), _)| *a);
                let mut list = Vec::new();
                for ((a, b), r) in numbered {
                    if a != list.len() {
                        return Err(invalid(
                            &pointer,
                            format!("invocation numbers must be consecutive from 0; expected {} but found {a}", list.len()),
                        ));
                    }
                    list.extend(std::iter::repeat_n(r, b - a + 1));
                }
                responses.insert(name.clone(), Arc::from(list));
            }
        }
        let mut machines = HashMap::new();
        if let Some(m) = root.get("StateMachines") {
            for (machine, def) in object(m, "/StateMachines")? {
                let pointer = format!("/StateMachines/{machine}");
                let cases = object(def, &pointer)?
                    .get("TestCases")
                    .ok_or_else(|| invalid(&pointer, "a state machine needs 'TestCases'"))?;
                let mut by_case = HashMap::new();
                for (case, states) in object(cases, &format!("{pointer}/TestCases"))? {
                    let p = format!("{pointer}/TestCases/{case}");
                    let mut by_state = HashMap::new();
                    for (state, resp) in object(states, &p)? {
                        let resp = resp.as_str().ok_or_else(|| {
                            invalid(
                                format!("{p}/{state}"),
                                "expected the name of a mocked response",
                            )
                        })?;
                        if !responses.contains_key(resp) {
                            return Err(invalid(
                                format!("{p}/{state}"),
                                format!("there is no mocked response named '{resp}'"),
                            ));
                        }
                        by_state.insert(state.clone(), resp.to_string());
                    }
                    by_case.insert(case.clone(), by_state);
                }
                machines.insert(machine.clone(), by_case);
            }
        }
        Ok(MockConfig {
            machines,
            responses,
        })
    }

    /// The invoker for one execution of `state_machine` under `test_case`.
    pub fn invoker(&self, state_machine: &str, test_case: &str) -> Result<MockInvoker, MockError> {
        let cases = match self.machines.get(state_machine) {
            Some(c) => c,
            None if self.machines.len() == 1 => self
                .machines
                .values()
                .next()
                .ok_or_else(|| invalid("", "empty"))?,
            None => {
                let mut known: Vec<&str> = self.machines.keys().map(String::as_str).collect();
                known.sort_unstable();
                return Err(MockError::UnknownStateMachine(
                    state_machine.to_string(),
                    known.join(", "),
                ));
            }
        };
        let states = cases
            .get(test_case)
            .ok_or_else(|| MockError::UnknownTestCase {
                machine: state_machine.to_string(),
                test_case: test_case.to_string(),
            })?;
        let states = states
            .iter()
            .filter_map(|(state, resp)| {
                self.responses.get(resp).map(|r| (state.clone(), r.clone()))
            })
            .collect();
        Ok(MockInvoker {
            states,
            counts: Mutex::new(HashMap::new()),
            fallback: None,
        })
    }
}

/// Answers tasks from a mock configuration's test case.
pub struct MockInvoker {
    states: HashMap<String, Arc<[MockResponse]>>,
    counts: Mutex<HashMap<String, usize>>,
    fallback: Option<Arc<dyn TaskInvoker>>,
}

impl MockInvoker {
    /// Sends tasks of states the test case does not mock to `fallback` (as Step Functions Local
    /// calls the real service for them). Without one, such a task fails.
    pub fn with_fallback(mut self, fallback: Arc<dyn TaskInvoker>) -> Self {
        self.fallback = Some(fallback);
        self
    }

    fn answer(&self, state: &str) -> Option<MockResponse> {
        let list = self.states.get(state)?;
        let n = match self.counts.lock() {
            Ok(mut c) => {
                let slot = c.entry(state.to_string()).or_insert(0);
                *slot += 1;
                *slot - 1
            }
            Err(_) => 0,
        };
        // Guess: past the last numbered answer, the last one repeats (Step Functions Local's
        // behaviour there is not documented).
        list.get(n).or(list.last()).cloned()
    }
}

impl TaskInvoker for MockInvoker {
    fn invoke<'a>(&'a self, request: TaskRequest<'a>) -> BoxFuture<'a, Result<Value, StatesError>> {
        match self.answer(request.state_name) {
            Some(MockResponse::Return(v)) => Box::pin(async move { Ok(v) }),
            Some(MockResponse::Throw(e)) => Box::pin(async move { Err(e) }),
            None => match &self.fallback {
                Some(f) => f.invoke(request),
                None => {
                    let state = request.state_name.to_string();
                    Box::pin(async move {
                        Err(StatesError::new(
                            crate::error::names::TASK_FAILED,
                            format!("No mocked response for state '{state}' in this test case, and no other invoker"),
                        ))
                    })
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ranges_expand_and_must_be_consecutive() {
        let cfg = MockConfig::from_value(&json!({
            "StateMachines": {"M": {"TestCases": {"T": {"A": "R"}}}},
            "MockedResponses": {"R": {
                "0": {"Throw": {"Error": "E", "Cause": "c"}},
                "1-2": {"Return": 1},
                "3": {"Return": 2}
            }}
        }))
        .unwrap();
        let inv = cfg.invoker("Whatever", "T").unwrap(); // a single machine applies to any name
        let got: Vec<Option<MockResponse>> = (0..6).map(|_| inv.answer("A")).collect();
        assert_eq!(
            got[0],
            Some(MockResponse::Throw(StatesError::new("E", "c")))
        );
        assert_eq!(got[1], Some(MockResponse::Return(json!(1))));
        assert_eq!(got[2], Some(MockResponse::Return(json!(1))));
        assert_eq!(got[3], Some(MockResponse::Return(json!(2))));
        assert_eq!(got[5], Some(MockResponse::Return(json!(2))));
        assert!(inv.answer("B").is_none());
        assert!(matches!(
            cfg.invoker("M", "Nope"),
            Err(MockError::UnknownTestCase { .. })
        ));

        let gap = MockConfig::from_value(
            &json!({"MockedResponses": {"R": {"0": {"Return": 1}, "2": {"Return": 1}}}}),
        );
        assert!(gap.is_err());
        let unknown = MockConfig::from_value(&json!({
            "StateMachines": {"M": {"TestCases": {"T": {"A": "Missing"}}}}, "MockedResponses": {}
        }));
        assert!(unknown.is_err());
    }
}
