//! The typed tree the engine runs: every path, payload template and intrinsic call compiled
//! once. Crate-private; `crate::view` shows it read-only to other crates.

use crate::error::names;
use crate::intrinsics::Call;
use crate::jsonata::Expr;
use crate::path::Path;
use crate::states::Kind;
use serde_json::Value;
use std::sync::Arc;

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
    pub comment: Option<String>,
    pub kind: Kind,
    pub flow: Flow,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    /// The next state, or `None` for `End: true` and the terminal states.
    pub next: Option<usize>,
    /// `QueryLanguage`: the state's own, else the machine's.
    pub lang: Lang,
    /// JSONata `Arguments` (Task, Parallel).
    pub arguments: Option<JTemplate>,
    /// JSONata `Output` (all but Fail).
    pub output: Option<JTemplate>,
    /// `Assign`, in either language (all but Succeed and Fail).
    pub assign: Option<Assign>,
}

/// A state's query language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    /// `"JSONPath"`, the default.
    JsonPath,
    /// `"JSONata"`.
    Jsonata,
}

/// A JSONata field value (`Arguments`, `Output`, `Assign`, `ItemSelector`, `Items`): any JSON,
/// in which every string that is exactly `{% … %}` is an expression.
#[derive(Debug)]
pub(crate) enum JTemplate {
    /// Nothing inside is an expression.
    Const(Value),
    /// `field` says where, as AWS names it in causes: `Output`, `Arguments/FunctionName`.
    Expr {
        expr: Expr,
        field: Arc<str>,
    },
    Object(Vec<(String, JTemplate)>),
    Array(Vec<JTemplate>),
}

/// `Assign`: variable names and how to compute their values.
#[derive(Debug)]
pub(crate) enum Assign {
    /// JSONPath: a payload template (`"name.$": "$.path"`, literals) over the state's result.
    Path(Template),
    /// JSONata: `{% %}` templates.
    Jsonata(JTemplate),
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
    pub names: Vec<String>,
    pub(super) all: bool,
    pub(super) task_failed: bool,
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
    /// JSONata `Output` (default: `$states.errorOutput`).
    pub output: Option<JTemplate>,
    pub assign: Option<Assign>,
}

/// A `.$` value or `ErrorPath`/`CausePath`: a path or an intrinsic call.
#[derive(Debug, Clone)]
pub(crate) enum PathOrCall {
    Path(Path),
    Call(Call),
}

impl State {
    /// Every state this one can go to.
    pub(super) fn targets(&self) -> Vec<usize> {
        let mut t: Vec<usize> = self.next.into_iter().collect();
        t.extend(self.catch.iter().map(|c| c.next));
        if let Kind::Choice(c) = &self.kind {
            t.extend(c.targets());
        }
        t
    }
}
