//! The machine, its bodies (the machine itself, Parallel branches, Map processors) and their
//! states, and the checks over a whole body: transition targets exist, every state is reachable.

use super::ast::{Body, Lang, State};
use super::reader::{DefinitionReader, Obj};
use super::StateMachine;
use crate::states::{self, Kind};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

impl DefinitionReader {
    // ----- bodies and the machine -----

    pub(super) fn machine(&mut self, v: &Value) -> Option<StateMachine> {
        let Some(obj) = v.as_object() else {
            self.problem("The definition must be a JSON object");
            return None;
        };
        self.check_fields(
            obj,
            &[
                "StartAt",
                "States",
                "Version",
                "TimeoutSeconds",
                "QueryLanguage",
            ],
        );
        self.query_language(obj);
        self.top_jsonata = obj.get("QueryLanguage").and_then(Value::as_str) == Some("JSONata");
        if let Some(version) = obj.get("Version") {
            if !version.is_string() {
                self.problem_at("Version", "Version must be a string");
            }
        }
        let timeout_seconds = self.uint_field(obj, "TimeoutSeconds", 0);
        let comment = self.str_field(obj, "Comment").map(str::to_string);
        let root = self.body(obj)?;
        Some(StateMachine {
            root: Arc::new(root),
            timeout_seconds,
            comment,
        })
    }

    /// Reads `StartAt` + `States` of the current object (the machine, a branch, a processor).
    pub fn body(&mut self, obj: &Obj) -> Option<Body> {
        let start_name = self.required_str(obj, "StartAt");
        let states_obj = match obj.get("States") {
            Some(Value::Object(m)) if !m.is_empty() => Some(m),
            Some(_) => {
                self.problem_at("States", "States must be a non-empty object");
                None
            }
            None => {
                self.problem("The field 'States' is required");
                None
            }
        };
        let states_obj = states_obj?;
        let index: HashMap<String, usize> = states_obj
            .keys()
            .enumerate()
            .map(|(i, k)| (k.clone(), i))
            .collect();
        let start = match start_name {
            Some(s) => match index.get(s) {
                Some(&i) => Some(i),
                None => {
                    self.problem_code(
                        "MISSING_TRANSITION_TARGET",
                        Some("StartAt"),
                        format!("Missing 'StartAt' target: {s}"),
                    );
                    None
                }
            },
            None => None,
        };
        self.body_names.push(index);
        // The enclosing state's language, read again by its own fields after this body.
        let enclosing_lang = self.lang;
        let mut states = Vec::with_capacity(states_obj.len());
        self.at("States", |reader| {
            for (name, v) in states_obj {
                reader.at(name.as_str(), |reader| {
                    if name.is_empty() || name.chars().count() > 80 {
                        reader.problem("State names must be 1 to 80 characters long");
                    }
                    states.push(reader.state(name, v));
                });
            }
        });
        self.body_names.pop();
        self.lang = enclosing_lang;
        let start = start?;
        // Unreachable states: AWS refuses them.
        let mut seen = HashSet::new();
        let mut stack = vec![start];
        while let Some(i) = stack.pop() {
            if !seen.insert(i) {
                continue;
            }
            if let Some(Some(s)) = states.get(i) {
                stack.extend(s.targets());
            }
        }
        let mut out = Vec::with_capacity(states.len());
        for (i, (name, s)) in states_obj.keys().zip(states).enumerate() {
            if !seen.contains(&i) {
                self.at("States", |reader| {
                    reader.problem_code(
                        "UNREACHABLE_STATE",
                        Some(name),
                        format!("State \"{name}\" is not reachable"),
                    )
                });
            }
            out.push(s);
        }
        let states: Option<Vec<State>> = out.into_iter().collect();
        Some(Body {
            start,
            states: states?,
        })
    }

    fn state(&mut self, name: &str, v: &Value) -> Option<State> {
        let Some(obj) = v.as_object() else {
            self.problem("A state must be a JSON object");
            return None;
        };
        self.query_language(obj);
        let lang = self.state_language(obj);
        let ty = self.required_str(obj, "Type")?;
        let allowed: &[&str] = match ty {
            "Pass" => states::pass::FIELDS,
            "Task" => states::task::FIELDS,
            "Choice" => states::choice::FIELDS,
            "Wait" => states::wait::FIELDS,
            "Succeed" => states::succeed::FIELDS,
            "Fail" => states::fail::FIELDS,
            "Parallel" => states::parallel::FIELDS,
            "Map" => states::map::FIELDS,
            other => {
                self.problem_at("Type", format!("\"{other}\" is not a state type"));
                return None;
            }
        };
        // The shared fields first, so that a problem in the type's own fields hides nothing.
        self.check_fields(obj, allowed);
        self.check_language_fields(obj, lang);
        let has = |k: &str| allowed.contains(&k);
        self.lang = Some(lang);
        let mut flow = self.flow(obj);
        let (arguments, output) = match lang {
            Lang::Jsonata => (
                has("Arguments")
                    .then(|| self.jsonata_template(obj, "Arguments"))
                    .flatten(),
                has("Output")
                    .then(|| self.jsonata_template(obj, "Output"))
                    .flatten(),
            ),
            Lang::JsonPath => (None, None),
        };
        let assign = if has("Assign") {
            self.assign(obj, lang)
        } else {
            None
        };
        let retry = if has("Retry") {
            self.retry(obj)
        } else {
            vec![]
        };
        let catch = if has("Catch") {
            self.catch(obj)
        } else {
            vec![]
        };
        let next = if has("End") {
            self.transition(obj)
        } else {
            None
        };
        let kind = match ty {
            "Pass" => Kind::Pass(states::pass::parse(self, obj)),
            "Task" => Kind::Task(states::task::parse(self, obj)?),
            "Choice" => Kind::Choice(states::choice::parse(self, obj)?),
            "Wait" => Kind::Wait(states::wait::parse(self, obj)?),
            "Fail" => Kind::Fail(states::fail::parse(self, obj)),
            "Parallel" => Kind::Parallel(states::parallel::parse(self, obj)?),
            "Map" => {
                // A Map's `Parameters` is its legacy item selector, not a state-level template.
                flow.parameters = None;
                Kind::Map(Box::new(states::map::parse(self, obj)?))
            }
            _ => Kind::Succeed,
        };
        Some(State {
            name: name.into(),
            comment: obj
                .get("Comment")
                .and_then(Value::as_str)
                .map(str::to_string),
            kind,
            flow,
            retry,
            catch,
            next,
            lang,
            arguments,
            output,
            assign,
        })
    }
}
