//! [`DefinitionReader`]: walks a definition's JSON keeping a JSON pointer to where it is,
//! records every problem found there, and reads typed fields (each reader reports its own
//! problems), paths, payload templates, transitions and the data-flow fields.

use super::ast::{Flow, IoPath, PathOrCall, ResultPath, Template};
use crate::error::Problem;
use crate::intrinsics::{self, Call};
use crate::path::Path;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// A definition object being read.
pub(crate) type Obj = Map<String, Value>;

/// Reads a definition: the problems found so far, where we are (the JSON pointer's segments),
/// and the state names of each body being read, innermost last, to resolve transitions.
#[derive(Default)]
pub(crate) struct DefinitionReader {
    pub(super) problems: Vec<Problem>,
    location: Vec<String>,
    pub(super) body_names: Vec<HashMap<String, usize>>,
}

fn escape_pointer(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

impl DefinitionReader {
    fn pointer(&self, extra: Option<&str>) -> String {
        let mut s = String::new();
        for seg in self.location.iter().map(String::as_str).chain(extra) {
            s.push('/');
            s.push_str(&escape_pointer(seg));
        }
        s
    }

    /// Runs `f` one level deeper in the pointer.
    pub fn at<R>(
        &mut self,
        seg: impl Into<String>,
        f: impl FnOnce(&mut DefinitionReader) -> R,
    ) -> R {
        self.location.push(seg.into());
        let r = f(self);
        self.location.pop();
        r
    }

    /// A schema problem at the current place.
    pub fn problem(&mut self, message: impl Into<String>) {
        self.problem_code("SCHEMA_VALIDATION_FAILED", None, message);
    }

    /// A schema problem at `field` of the current object.
    pub fn problem_at(&mut self, field: &str, message: impl Into<String>) {
        self.problem_code("SCHEMA_VALIDATION_FAILED", Some(field), message);
    }

    pub fn problem_code(
        &mut self,
        code: &'static str,
        field: Option<&str>,
        message: impl Into<String>,
    ) {
        let pointer = self.pointer(field);
        self.problems.push(Problem {
            code,
            pointer,
            message: message.into(),
        });
    }

    /// Refuses fields the state type does not know, and says plainly which are valid ASL this
    /// engine does not run (JSONata, variables, distributed Map readers).
    pub fn check_fields(&mut self, obj: &Obj, allowed: &[&str]) {
        for key in obj.keys() {
            if allowed.contains(&key.as_str())
                || matches!(key.as_str(), "Type" | "Comment" | "QueryLanguage")
            {
                continue;
            }
            match key.as_str() {
                "Assign" => self.problem_code(
                    "UNSUPPORTED_FEATURE",
                    Some(key),
                    "workflow variables ('Assign') are valid ASL but not supported by this engine",
                ),
                "Arguments" | "Output" | "Items" | "Condition" => self.problem_code(
                    "UNSUPPORTED_FEATURE",
                    Some(key),
                    format!("'{key}' belongs to the JSONata query language, which this engine does not support"),
                ),
                "ItemReader" | "ResultWriter" | "ItemBatcher" => self.problem_code(
                    "UNSUPPORTED_FEATURE",
                    Some(key),
                    format!("'{key}' (distributed Map) is valid ASL but not supported by this engine"),
                ),
                _ => self.problem_at(key, format!("The field \"{key}\" is not supported by Step Functions")),
            }
        }
    }

    pub fn query_language(&mut self, obj: &Obj) {
        match obj.get("QueryLanguage") {
            None => {}
            Some(Value::String(s)) if s == "JSONPath" => {}
            Some(Value::String(s)) if s == "JSONata" => self.problem_code(
                "UNSUPPORTED_FEATURE",
                Some("QueryLanguage"),
                "the JSONata query language is valid ASL but not supported by this engine; use JSONPath",
            ),
            Some(_) => self.problem_at("QueryLanguage", "QueryLanguage must be \"JSONPath\" or \"JSONata\""),
        }
    }

    // ----- typed field readers; each reports its own problems -----

    pub fn str_field<'v>(&mut self, obj: &'v Obj, key: &str) -> Option<&'v str> {
        match obj.get(key)? {
            Value::String(s) => Some(s),
            _ => {
                self.problem_at(key, format!("{key} must be a string"));
                None
            }
        }
    }

    pub fn required_str<'v>(&mut self, obj: &'v Obj, key: &str) -> Option<&'v str> {
        if !obj.contains_key(key) {
            self.problem(format!("The field '{key}' is required"));
            return None;
        }
        self.str_field(obj, key)
    }

    pub fn bool_field(&mut self, obj: &Obj, key: &str) -> Option<bool> {
        match obj.get(key)? {
            Value::Bool(b) => Some(*b),
            _ => {
                self.problem_at(key, format!("{key} must be a boolean"));
                None
            }
        }
    }

    /// A non-negative integer no smaller than `min`.
    pub fn uint_field(&mut self, obj: &Obj, key: &str, min: u64) -> Option<u64> {
        let v = obj.get(key)?;
        match v.as_u64() {
            Some(n) if n >= min => Some(n),
            _ => {
                self.problem_at(key, format!("{key} must be an integer of at least {min}"));
                None
            }
        }
    }

    pub fn num_field(&mut self, obj: &Obj, key: &str) -> Option<f64> {
        let v = obj.get(key)?;
        match v.as_f64() {
            Some(n) => Some(n),
            None => {
                self.problem_at(key, format!("{key} must be a number"));
                None
            }
        }
    }

    /// A path field; `reference` demands a reference path (one node).
    pub fn path_field(&mut self, obj: &Obj, key: &str, reference: bool) -> Option<Path> {
        let text = self.str_field(obj, key)?;
        let parsed = if reference {
            Path::parse_reference(text)
        } else {
            Path::parse(text)
        };
        match parsed {
            Ok(p) => Some(p),
            Err(e) => {
                self.problem_at(
                    key,
                    format!("The value for the field '{key}' must be a valid JSONPath: {e}"),
                );
                None
            }
        }
    }

    pub fn io_path(&mut self, obj: &Obj, key: &str) -> IoPath {
        match obj.get(key) {
            None => IoPath::Identity,
            Some(Value::Null) => IoPath::Null,
            Some(_) => match self.path_field(obj, key, false) {
                Some(p) if p.is_root() && p.root() == crate::path::Root::Input => IoPath::Identity,
                Some(p) => IoPath::Path(p),
                None => IoPath::Identity,
            },
        }
    }

    pub fn result_path(&mut self, obj: &Obj, key: &str) -> ResultPath {
        match obj.get(key) {
            None => ResultPath::Replace,
            Some(Value::Null) => ResultPath::Discard,
            Some(_) => match self.path_field(obj, key, true) {
                Some(p) if p.root() == crate::path::Root::Context => {
                    self.problem_at(key, "ResultPath cannot write into the Context object ($$)");
                    ResultPath::Replace
                }
                Some(p) if p.is_root() => ResultPath::Replace,
                Some(p) => ResultPath::At(p),
                None => ResultPath::Replace,
            },
        }
    }

    /// A payload template field.
    pub fn template(&mut self, obj: &Obj, key: &str) -> Option<Template> {
        let v = obj.get(key)?;
        Some(self.at(key, |reader| reader.compile_template(v)))
    }

    fn compile_template(&mut self, v: &Value) -> Template {
        match v {
            Value::Object(map) => {
                let mut fields = Vec::with_capacity(map.len());
                let mut dynamic = false;
                for (k, v) in map {
                    let t = if let Some(name) = k.strip_suffix(".$") {
                        dynamic = true;
                        let t = self.at(k.as_str(), |reader| reader.dynamic_value(k, v));
                        (name.to_string(), t)
                    } else {
                        let t = self.at(k.as_str(), |reader| reader.compile_template(v));
                        dynamic |= !matches!(t, Template::Const(_));
                        (k.clone(), t)
                    };
                    fields.push(t);
                }
                if dynamic {
                    Template::Object(fields)
                } else {
                    Template::Const(v.clone())
                }
            }
            // Guess: AWS processes `.$` keys in objects nested in arrays too ("however deeply
            // nested" in the ASL specification).
            Value::Array(items) => {
                let ts: Vec<Template> = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| self.at(i.to_string(), |reader| reader.compile_template(v)))
                    .collect();
                if ts.iter().all(|t| matches!(t, Template::Const(_))) {
                    Template::Const(v.clone())
                } else {
                    Template::Array(ts)
                }
            }
            _ => Template::Const(v.clone()),
        }
    }

    /// The value of a `key.$` field: a path or an intrinsic call.
    fn dynamic_value(&mut self, key: &str, v: &Value) -> Template {
        let Some(text) = v.as_str() else {
            self.problem(format!(
                "The value for the field '{key}' must be a STRING that contains a JSONPath"
            ));
            return Template::Const(Value::Null);
        };
        match self.path_or_call(text) {
            Ok(PathOrCall::Path(path)) => Template::Path {
                path,
                field: key.into(),
            },
            Ok(PathOrCall::Call(call)) => Template::Call {
                call,
                field: key.into(),
            },
            Err(e) => {
                self.problem(format!(
                    "The value for the field '{key}' must be a valid JSONPath or a valid intrinsic function call: {e}"
                ));
                Template::Const(Value::Null)
            }
        }
    }

    pub fn path_or_call(&mut self, text: &str) -> Result<PathOrCall, intrinsics::ExpressionError> {
        if intrinsics::looks_like_call(text) {
            Ok(PathOrCall::Call(Call::parse(text)?))
        } else {
            Ok(PathOrCall::Path(Path::parse(text)?))
        }
    }

    /// Resolves a transition target in the body being read; `None` (and a problem) when the
    /// body has no such state.
    pub fn target(&mut self, field: &str, name: &str) -> Option<usize> {
        let found = self.body_names.last().and_then(|m| m.get(name)).copied();
        if found.is_none() {
            self.problem_code(
                "MISSING_TRANSITION_TARGET",
                Some(field),
                format!("Missing 'Next' target: {name}"),
            );
        }
        found
    }

    /// `Next` or `End: true`, exactly one.
    pub fn transition(&mut self, obj: &Obj) -> Option<usize> {
        let next = self.str_field(obj, "Next");
        let end = self.bool_field(obj, "End");
        match (next, end) {
            (Some(_), Some(true)) => {
                self.problem("A state cannot have both 'Next' and 'End': true");
                None
            }
            (Some(n), _) => self.target("Next", n),
            (None, Some(true)) => None,
            (None, _) => {
                if !obj.contains_key("Next") {
                    self.problem("The state must have either 'Next' or 'End': true");
                }
                None
            }
        }
    }

    pub fn flow(&mut self, obj: &Obj) -> Flow {
        Flow {
            input_path: self.io_path(obj, "InputPath"),
            output_path: self.io_path(obj, "OutputPath"),
            parameters: self.template(obj, "Parameters"),
            result_selector: self.template(obj, "ResultSelector"),
            result_path: self.result_path(obj, "ResultPath"),
        }
    }
}
