//! [`DefinitionReader`]: walks a definition's JSON keeping a JSON pointer to where it is,
//! records every problem found there, and reads typed fields (each reader reports its own
//! problems), paths, payload templates, transitions and the data-flow fields.

use super::ast::{Assign, Flow, IoPath, JTemplate, Lang, PathOrCall, ResultPath, Template};
use crate::error::Problem;
use crate::intrinsics::{self, Call};
use crate::jsonata::{expression_text, Expr};
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
    /// The machine's `QueryLanguage` is JSONata.
    pub(super) top_jsonata: bool,
    /// The query language of the state being read.
    pub lang: Option<Lang>,
}

/// Fields only JSONPath states have.
pub(crate) const JSONPATH_ONLY: &[&str] = &[
    "InputPath",
    "OutputPath",
    "Parameters",
    "ResultSelector",
    "ResultPath",
    "Result",
    "ItemsPath",
    "SecondsPath",
    "TimestampPath",
    "ErrorPath",
    "CausePath",
    "TimeoutSecondsPath",
    "HeartbeatSecondsPath",
    "MaxConcurrencyPath",
    "ToleratedFailureCountPath",
    "ToleratedFailurePercentagePath",
];

/// Fields only JSONata states have.
pub(crate) const JSONATA_ONLY: &[&str] = &["Arguments", "Output", "Items", "Condition"];

/// The longest variable name AWS accepts.
const MAX_VARIABLE_NAME: usize = 80;

/// AWS's rule for variable names: a Unicode identifier (ID_Start, then ID_Continue; here
/// approximated by letters, `_`, then letters, digits, `_`), at most 80 characters, and not the
/// reserved `states`.
pub(crate) fn valid_variable_name(name: &str) -> bool {
    name != "states"
        && name.chars().count() <= MAX_VARIABLE_NAME
        && crate::path::variable_name_len(name) == name.len()
        && !name.is_empty()
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
                "ItemReader" | "ResultWriter" | "ItemBatcher" => self.problem_code(
                    "UNSUPPORTED_FEATURE",
                    Some(key),
                    format!(
                        "'{key}' (distributed Map) is valid ASL but not supported by this engine"
                    ),
                ),
                _ => self.problem_at(
                    key,
                    format!("The field \"{key}\" is not supported by Step Functions"),
                ),
            }
        }
    }

    pub fn query_language(&mut self, obj: &Obj) {
        match obj.get("QueryLanguage") {
            None => {}
            Some(Value::String(s)) if s == "JSONPath" || s == "JSONata" => {}
            Some(_) => self.problem_at(
                "QueryLanguage",
                "QueryLanguage must be \"JSONPath\" or \"JSONata\"",
            ),
        }
    }

    /// A state's own language, or the machine's. AWS refuses a JSONPath state in a JSONata
    /// machine (recorded by LocalStack's validation tests against AWS); the reverse is allowed.
    pub fn state_language(&mut self, obj: &Obj) -> Lang {
        match obj.get("QueryLanguage").and_then(Value::as_str) {
            Some("JSONata") => Lang::Jsonata,
            Some("JSONPath") if self.top_jsonata => {
                self.problem(
                    "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine",
                );
                Lang::Jsonata
            }
            Some("JSONPath") => Lang::JsonPath,
            _ if self.top_jsonata => Lang::Jsonata,
            _ => Lang::JsonPath,
        }
    }

    /// Refuses the fields of the other query language. Guess at the wording: AWS's message for
    /// these was not found in any recorded response.
    pub fn check_language_fields(&mut self, obj: &Obj, lang: Lang) {
        let (wrong, name) = match lang {
            Lang::Jsonata => (JSONPATH_ONLY, "JSONata"),
            Lang::JsonPath => (JSONATA_ONLY, "JSONPath"),
        };
        for key in obj.keys().filter(|k| wrong.contains(&k.as_str())) {
            self.problem_at(
                key,
                format!("The field \"{key}\" is not supported by Step Functions when the QueryLanguage is {name}"),
            );
        }
    }

    /// A JSONata field value: any JSON, `{% %}` strings inside compiled.
    pub fn jsonata_template(&mut self, obj: &Obj, key: &str) -> Option<JTemplate> {
        let v = obj.get(key)?;
        Some(self.at(key, |reader| reader.compile_jtemplate(v, key)))
    }

    fn compile_jtemplate(&mut self, v: &Value, field: &str) -> JTemplate {
        match v {
            Value::String(s) => match expression_text(s) {
                Some(text) => match self.expression(text) {
                    Some(expr) => JTemplate::Expr {
                        expr,
                        field: field.into(),
                    },
                    None => JTemplate::Const(Value::Null),
                },
                None => JTemplate::Const(v.clone()),
            },
            Value::Object(map) => {
                let fields: Vec<(String, JTemplate)> = map
                    .iter()
                    .map(|(k, v)| {
                        let t = self.at(k.as_str(), |r| {
                            r.compile_jtemplate(v, &format!("{field}/{k}"))
                        });
                        (k.clone(), t)
                    })
                    .collect();
                if fields.iter().all(|(_, t)| matches!(t, JTemplate::Const(_))) {
                    JTemplate::Const(v.clone())
                } else {
                    JTemplate::Object(fields)
                }
            }
            Value::Array(items) => {
                let ts: Vec<JTemplate> = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        self.at(i.to_string(), |r| {
                            r.compile_jtemplate(v, &format!("{field}/{i}"))
                        })
                    })
                    .collect();
                if ts.iter().all(|t| matches!(t, JTemplate::Const(_))) {
                    JTemplate::Const(v.clone())
                } else {
                    JTemplate::Array(ts)
                }
            }
            _ => JTemplate::Const(v.clone()),
        }
    }

    /// Parses a JSONata expression at the current place. Guess at the wording: AWS's
    /// message for a JSONata syntax error in a definition was not found.
    pub fn expression(&mut self, text: &str) -> Option<Expr> {
        match Expr::compile(text) {
            Ok(e) => Some(e),
            Err(e) => {
                self.problem(format!(
                    "The JSONata expression '{text}' is not valid: {}",
                    e.detail()
                ));
                None
            }
        }
    }

    /// A field that is a JSONata expression when its value is a `{% %}` string: `Some(expr)`
    /// then, `None` otherwise (also when the expression is refused; the problem is recorded).
    pub fn expression_field(&mut self, obj: &Obj, key: &str) -> Option<Expr> {
        let text = obj.get(key)?.as_str().and_then(expression_text)?;
        self.at(key, |reader| reader.expression(text))
    }

    /// `Assign` in the state's language; names checked.
    pub fn assign(&mut self, obj: &Obj, lang: Lang) -> Option<Assign> {
        let v = obj.get("Assign")?;
        let Some(map) = v.as_object() else {
            self.problem_at("Assign", "Assign must be a JSON object");
            return None;
        };
        self.at("Assign", |reader| {
            for key in map.keys() {
                let name = match lang {
                    Lang::JsonPath => key.strip_suffix(".$").unwrap_or(key),
                    Lang::Jsonata => key,
                };
                // Guess at the wording (AWS's was not found).
                if !valid_variable_name(name) {
                    reader.problem_at(
                        key,
                        format!("'{name}' is not a valid variable name: a name is a letter or '_' followed by letters, digits or '_', at most {MAX_VARIABLE_NAME} characters, and not 'states'"),
                    );
                }
                // A nested state may assign a name an outer state also assigns: AWS accepts
                // such a definition (recorded: LocalStack's
                // test_parallel_catch_error[PARALLEL_CATCH_ERROR_VARIABLE_SAMPLING]). At run
                // time the nested assignment stays in the nested scope (`context::Vars`).
            }
        });
        Some(match lang {
            Lang::JsonPath => Assign::Path(self.at("Assign", |r| r.compile_template(v))),
            Lang::Jsonata => {
                Assign::Jsonata(self.at("Assign", |r| r.compile_jtemplate(v, "Assign")))
            }
        })
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
                // Guess at the wording: variables are written by `Assign` only.
                Some(p) if p.root() == crate::path::Root::Variable => {
                    self.problem_at(key, "ResultPath cannot write into a variable; use Assign");
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
