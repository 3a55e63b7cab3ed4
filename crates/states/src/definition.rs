//! Loading a definition: `DefinitionSubstitutions`, then a typed tree in which every path,
//! payload template and intrinsic call is compiled once, and validation that reports every
//! problem with its JSON pointer.
//!
//! Each state type parses its own fields in `states/<type>.rs`; this module holds the shared
//! pieces (transitions, data-flow fields, Retry, Catch) and the whole-machine checks (missing
//! transition targets, unreachable states).

use crate::error::{names, DefinitionError, Problem};
use crate::intrinsics::{self, Call};
use crate::path::Path;
use crate::states::{self, Kind};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
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
        let value: Value = serde_json::from_str(definition).map_err(|e| DefinitionError {
            problems: vec![Problem {
                code: "INVALID_JSON_DESCRIPTION",
                pointer: String::new(),
                message: format!("the definition is not valid JSON: {e}"),
            }],
        })?;
        StateMachine::from_value(value, substitutions)
    }

    /// Like [`StateMachine::parse`], from JSON already parsed.
    pub fn from_value(
        mut value: Value,
        substitutions: &HashMap<String, String>,
    ) -> Result<StateMachine, DefinitionError> {
        if !substitutions.is_empty() {
            substitute(&mut value, substitutions);
        }
        let mut cx = Cx::default();
        let machine = cx.machine(&value);
        if cx.problems.is_empty() {
            machine.ok_or_else(|| DefinitionError { problems: vec![] })
        } else {
            Err(DefinitionError {
                problems: cx.problems,
            })
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

/// Replaces `${Name}` in every string (keys included) by its substitution. Names with no
/// substitution are left as written (CloudFormation would refuse them; we cannot know them all).
fn substitute(value: &mut Value, subs: &HashMap<String, String>) {
    fn apply(s: &str, subs: &HashMap<String, String>) -> Option<String> {
        if !s.contains("${") {
            return None;
        }
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            match after.find('}') {
                Some(end) => {
                    let name = &after[..end];
                    match subs.get(name) {
                        Some(v) => out.push_str(v),
                        None => out.push_str(&rest[start..start + 3 + end]),
                    }
                    rest = &after[end + 1..];
                }
                None => {
                    out.push_str(&rest[start..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        Some(out)
    }
    match value {
        Value::String(s) => {
            if let Some(n) = apply(s, subs) {
                *s = n;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, subs)),
        Value::Object(map) => {
            let old = std::mem::take(map);
            for (k, mut v) in old {
                substitute(&mut v, subs);
                map.insert(apply(&k, subs).unwrap_or(k), v);
            }
        }
        _ => {}
    }
}

/// A list of states with a start: the machine itself, a Parallel branch or a Map processor.
#[derive(Debug)]
pub(crate) struct Body {
    pub start: usize,
    pub states: Vec<State>,
}

/// One state.
#[derive(Debug)]
pub(crate) struct State {
    pub name: Arc<str>,
    pub kind: Kind,
    pub flow: Flow,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    /// The next state, or `None` for `End: true` and the terminal states.
    pub next: Option<usize>,
}

/// `InputPath`, `OutputPath`: absent is `$`, `null` gives `{}`.
#[derive(Debug)]
pub(crate) enum IoPath {
    Identity,
    Null,
    Path(Path),
}

/// `ResultPath`: absent or `$` replaces the input, `null` discards the result.
#[derive(Debug)]
pub(crate) enum ResultPath {
    Replace,
    Discard,
    At(Path),
}

/// The data-flow fields a state may have (those it may not have are refused at load).
#[derive(Debug)]
pub(crate) struct Flow {
    pub input_path: IoPath,
    pub output_path: IoPath,
    pub parameters: Option<Template>,
    pub result_selector: Option<Template>,
    pub result_path: ResultPath,
}

/// A payload template (`Parameters`, `ItemSelector`, `ResultSelector`), compiled.
#[derive(Debug, Clone)]
pub(crate) enum Template {
    /// Nothing inside is dynamic.
    Const(Value),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
    /// `"key.$": "$.path"`; `field` is the key as written, for messages.
    Path {
        path: Path,
        field: Arc<str>,
    },
    /// `"key.$": "States.Func(…)"`.
    Call {
        call: Call,
        field: Arc<str>,
    },
}

/// Which errors a retrier or catcher handles.
#[derive(Debug)]
pub(crate) struct ErrorEquals {
    names: Vec<String>,
    all: bool,
    task_failed: bool,
}

impl ErrorEquals {
    /// AWS's matching: an exact name, `States.ALL` for anything, `States.TaskFailed` for anything
    /// but `States.Timeout`. `States.Runtime` is never matched, not even by name (observed on AWS:
    /// a `Catch` on `States.Runtime` does not catch it).
    pub fn matches(&self, error: &str) -> bool {
        if error == names::RUNTIME {
            return false;
        }
        self.all
            || (self.task_failed && error != names::TIMEOUT)
            || self.names.iter().any(|n| n == error)
    }
}

/// One entry of `Retry`.
#[derive(Debug)]
pub(crate) struct Retrier {
    pub errors: ErrorEquals,
    pub interval_seconds: f64,
    pub max_attempts: u32,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<f64>,
    pub full_jitter: bool,
}

/// One entry of `Catch`.
#[derive(Debug)]
pub(crate) struct Catcher {
    pub errors: ErrorEquals,
    pub next: usize,
    pub result_path: ResultPath,
}

/// A definition object being read.
pub(crate) type Obj = Map<String, Value>;

/// The validation context: problems found so far, where we are, and the state names of the
/// body being read.
#[derive(Default)]
pub(crate) struct Cx {
    problems: Vec<Problem>,
    ptr: Vec<String>,
    names: Vec<HashMap<String, usize>>,
}

fn escape_pointer(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

impl Cx {
    fn pointer(&self, extra: Option<&str>) -> String {
        let mut s = String::new();
        for seg in self.ptr.iter().map(String::as_str).chain(extra) {
            s.push('/');
            s.push_str(&escape_pointer(seg));
        }
        s
    }

    /// Runs `f` one level deeper in the pointer.
    pub fn at<R>(&mut self, seg: impl Into<String>, f: impl FnOnce(&mut Cx) -> R) -> R {
        self.ptr.push(seg.into());
        let r = f(self);
        self.ptr.pop();
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
        Some(self.at(key, |cx| cx.compile_template(v)))
    }

    fn compile_template(&mut self, v: &Value) -> Template {
        match v {
            Value::Object(map) => {
                let mut fields = Vec::with_capacity(map.len());
                let mut dynamic = false;
                for (k, v) in map {
                    let t = if let Some(name) = k.strip_suffix(".$") {
                        dynamic = true;
                        let t = self.at(k.as_str(), |cx| cx.dynamic_value(k, v));
                        (name.to_string(), t)
                    } else {
                        let t = self.at(k.as_str(), |cx| cx.compile_template(v));
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
                    .map(|(i, v)| self.at(i.to_string(), |cx| cx.compile_template(v)))
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

    pub fn path_or_call(&mut self, text: &str) -> Result<PathOrCall, String> {
        if intrinsics::looks_like_call(text) {
            Call::parse(text).map(PathOrCall::Call)
        } else {
            Path::parse(text).map(PathOrCall::Path)
        }
    }

    /// Resolves a transition target in the body being read.
    pub fn target(&mut self, field: &str, name: &str) -> usize {
        match self.names.last().and_then(|m| m.get(name)) {
            Some(&i) => i,
            None => {
                self.problem_code(
                    "MISSING_TRANSITION_TARGET",
                    Some(field),
                    format!("Missing 'Next' target: {name}"),
                );
                usize::MAX
            }
        }
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
            (Some(n), _) => Some(self.target("Next", n)),
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

    fn error_equals(&mut self, obj: &Obj, last: bool, what: &str) -> ErrorEquals {
        let mut names_ = Vec::new();
        match obj.get("ErrorEquals") {
            Some(Value::Array(items)) if !items.is_empty() => {
                for (i, item) in items.iter().enumerate() {
                    match item.as_str() {
                        Some(s) => names_.push(s.to_string()),
                        None => self.at("ErrorEquals", |cx| {
                            cx.problem_at(&i.to_string(), "error names must be strings")
                        }),
                    }
                }
            }
            Some(_) => self.problem_at(
                "ErrorEquals",
                "ErrorEquals must be a non-empty array of error names",
            ),
            None => self.problem("The field 'ErrorEquals' is required"),
        }
        let all = names_.iter().any(|n| n == names::ALL);
        if all && names_.len() > 1 {
            self.problem_at("ErrorEquals", "States.ALL must appear alone in ErrorEquals");
        }
        if all && !last {
            self.problem_at(
                "ErrorEquals",
                format!("States.ALL must be in the last {what}"),
            );
        }
        let task_failed = names_.iter().any(|n| n == names::TASK_FAILED);
        ErrorEquals {
            names: names_,
            all,
            task_failed,
        }
    }

    pub fn retry(&mut self, obj: &Obj) -> Vec<Retrier> {
        let Some(v) = obj.get("Retry") else {
            return vec![];
        };
        let Some(items) = v.as_array() else {
            self.problem_at("Retry", "Retry must be an array of retriers");
            return vec![];
        };
        self.at("Retry", |cx| {
            let n = items.len();
            let mut out = Vec::with_capacity(n);
            for (i, item) in items.iter().enumerate() {
                cx.at(i.to_string(), |cx| {
                    let Some(r) = item.as_object() else {
                        cx.problem("a retrier must be an object");
                        return;
                    };
                    cx.check_fields(
                        r,
                        &[
                            "ErrorEquals",
                            "IntervalSeconds",
                            "MaxAttempts",
                            "BackoffRate",
                            "MaxDelaySeconds",
                            "JitterStrategy",
                        ],
                    );
                    let errors = cx.error_equals(r, i + 1 == n, "retrier");
                    let interval = cx.uint_field(r, "IntervalSeconds", 1).unwrap_or(1);
                    let max_attempts = cx.uint_field(r, "MaxAttempts", 0).unwrap_or(3);
                    let backoff = cx.num_field(r, "BackoffRate").unwrap_or(2.0);
                    if backoff < 1.0 {
                        cx.problem_at("BackoffRate", "BackoffRate must be at least 1.0");
                    }
                    let max_delay = cx.uint_field(r, "MaxDelaySeconds", 1);
                    let full_jitter = match cx.str_field(r, "JitterStrategy") {
                        None | Some("NONE") => false,
                        Some("FULL") => true,
                        Some(_) => {
                            cx.problem_at(
                                "JitterStrategy",
                                "JitterStrategy must be \"FULL\" or \"NONE\"",
                            );
                            false
                        }
                    };
                    out.push(Retrier {
                        errors,
                        interval_seconds: interval as f64,
                        max_attempts: u32::try_from(max_attempts).unwrap_or(u32::MAX),
                        backoff_rate: backoff,
                        max_delay_seconds: max_delay.map(|d| d as f64),
                        full_jitter,
                    });
                });
            }
            out
        })
    }

    pub fn catch(&mut self, obj: &Obj) -> Vec<Catcher> {
        let Some(v) = obj.get("Catch") else {
            return vec![];
        };
        let Some(items) = v.as_array() else {
            self.problem_at("Catch", "Catch must be an array of catchers");
            return vec![];
        };
        self.at("Catch", |cx| {
            let n = items.len();
            let mut out = Vec::with_capacity(n);
            for (i, item) in items.iter().enumerate() {
                cx.at(i.to_string(), |cx| {
                    let Some(c) = item.as_object() else {
                        cx.problem("a catcher must be an object");
                        return;
                    };
                    cx.check_fields(c, &["ErrorEquals", "Next", "ResultPath"]);
                    let errors = cx.error_equals(c, i + 1 == n, "catcher");
                    let result_path = cx.result_path(c, "ResultPath");
                    let next = match cx.required_str(c, "Next") {
                        Some(name) => cx.target("Next", name),
                        None => usize::MAX,
                    };
                    out.push(Catcher {
                        errors,
                        next,
                        result_path,
                    });
                });
            }
            out
        })
    }

    // ----- bodies and the machine -----

    fn machine(&mut self, v: &Value) -> Option<StateMachine> {
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
        self.names.push(index);
        let mut states = Vec::with_capacity(states_obj.len());
        self.at("States", |cx| {
            for (name, v) in states_obj {
                cx.at(name.as_str(), |cx| {
                    if name.is_empty() || name.chars().count() > 80 {
                        cx.problem("State names must be 1 to 80 characters long");
                    }
                    states.push(cx.state(name, v));
                });
            }
        });
        self.names.pop();
        let start = start?;
        // Unreachable states: AWS refuses them.
        let mut seen = HashSet::new();
        let mut stack = vec![start];
        while let Some(i) = stack.pop() {
            if i == usize::MAX || !seen.insert(i) {
                continue;
            }
            if let Some(Some(s)) = states.get(i) {
                stack.extend(s.targets());
            }
        }
        let mut out = Vec::with_capacity(states.len());
        for (i, (name, s)) in states_obj.keys().zip(states).enumerate() {
            if !seen.contains(&i) {
                self.at("States", |cx| {
                    cx.problem_code(
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
        let has = |k: &str| allowed.contains(&k);
        let mut flow = self.flow(obj);
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
                Kind::Map(states::map::parse(self, obj)?)
            }
            _ => Kind::Succeed,
        };
        Some(State {
            name: name.into(),
            kind,
            flow,
            retry,
            catch,
            next,
        })
    }
}

/// A `.$` value or `ErrorPath`/`CausePath`: a path or an intrinsic call.
#[derive(Debug, Clone)]
pub(crate) enum PathOrCall {
    Path(Path),
    Call(Call),
}

impl State {
    /// Every state this one can go to.
    fn targets(&self) -> Vec<usize> {
        let mut t: Vec<usize> = self.next.into_iter().collect();
        t.extend(self.catch.iter().map(|c| c.next));
        if let Kind::Choice(c) = &self.kind {
            t.extend(c.targets());
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(def: &str) -> Vec<String> {
        match StateMachine::parse(def, &HashMap::new()) {
            Ok(_) => vec![],
            Err(e) => e
                .problems
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
    fn jsonata_is_refused_clearly() {
        let p = problems(
            r#"{"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {"Type": "Pass", "Output": 1, "End": true}}}"#,
        );
        assert!(
            p.iter()
                .any(|l| l.starts_with("UNSUPPORTED_FEATURE /QueryLanguage")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|l| l.starts_with("UNSUPPORTED_FEATURE /States/A/Output")),
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
