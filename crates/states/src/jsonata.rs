//! JSONata, the query language of Step Functions' `"QueryLanguage": "JSONata"` states.
//!
//! The language itself is the `jsonata-core` crate (pinned; chosen in issue 13 for passing
//! 99.82 % of the official JSONata test suite, where the other Rust implementations pass
//! 72–76 %). This module evaluates one expression the way a state does:
//!
//! - `$states` and the workflow variables are bound as JSONata variables; the context `$` is
//!   undefined (guess: AWS refuses `$` and `$$` at the top of an expression at load, so no
//!   state sees a context value there);
//! - the functions Step Functions adds are registered (`$partition`, `$range`, `$hash`,
//!   `$random` with an optional seed, `$uuid`, `$parse`), and `$eval`, which AWS documents as
//!   unavailable ("`$eval` is not available — use `$parse` instead"), is refused;
//! - a time limit ([`TIME_LIMIT`]) and a depth limit ([`DEPTH_LIMIT`]) always apply, so a
//!   runaway expression in a definition cannot hang or exhaust the engine;
//! - the result is JSON as JavaScript's `JSON.stringify` makes it (AWS evaluates JSONata in
//!   JavaScript): integral numbers print without `.0`, `-0` as `0`, undefined object members
//!   are left out; undefined itself is `None`;
//! - every failure is a [`QueryEvaluationError`] (`States.QueryEvaluationError`).
//!
//! A definition's `"{% … %}"` strings are parsed once at load into the crate's `Expr` (the
//! parsed tree is plain data, so it lives in the definition); a state then evaluates them with
//! `$states` and only the variables the text mentions bound, `$random()` and `$uuid()` drawing
//! from the execution's seeded generator, and words failures as AWS does for the field they
//! are in (`cause`).
//!
//! `jsonata-core` values are reference-counted without atomics (not `Send`): evaluation is
//! synchronous and nothing of it outlives the call, so the engine's tasks stay `Send`.
//!
//! # Conformance
//!
//! `tests/jsonata_suite.rs` runs every case of the official JSONata suite through the standard
//! dialect ([`Dialect::Standard`]: no Step Functions functions): 1684 of 1686 pass (99.88 %).
//! Cases left failing, by group:
//!
//! - `function-encodeUrl/case002`, `function-encodeUrlComponent/case002`: the expression
//!   contains a lone surrogate (`'\uD800'`), which a Rust `String` cannot hold. The test passes
//!   it to the parser as a JSONata escape instead, which refuses it at parse time (S0104)
//!   where jsonata-js raises D3140 when encoding it.
//!
//! `comments/case002` passes because an unclosed comment, for which jsonata-core gives no code,
//! is given jsonata-js's `S0106` here. Cases pass on their error code alone where one is
//! expected; the suite's `U1001` (raised by the JavaScript test runner's own timebox) is matched
//! by this evaluator's depth and time limit codes (`D1011`, `D1012`, `U1001`).
//!
//! Known differences from AWS that the suite does not show: regular expressions are the `regex`
//! crate's dialect (linear time; no look-around or back-references, which JavaScript has); AWS
//! documents JSONata 2.0.6, whereas this evaluator also has the 2.1 operators `??` and `?:`.

use crate::error::{names, StatesError};
use crate::intrinsics::{hash_algorithm, JavaRandom};
use jsonata_core::ast::AstNode;
use jsonata_core::evaluator::{
    error_code_prefix, Context, Evaluator, EvaluatorError, EvaluatorOptions, HostFnResult,
};
use jsonata_core::parser::{self, ParserError};
use jsonata_core::value::{JMap, JValue};
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// How long one expression may run. AWS documents no such limit; five seconds is far beyond any
/// expression a state needs (they run in microseconds) and short enough that a runaway one
/// (`$f := function($n){ $f($n + 1) }`, a tail call that uses no stack) fails soon.
pub const TIME_LIMIT: Duration = Duration::from_secs(5);

/// How deep one evaluation may nest, in evaluator levels (a non-tail recursive call costs about
/// three). 5,000 allows recursion some 1,600 calls deep; deeper levels run on heap-allocated
/// stack segments of about 3 KB each, so the limit also bounds the memory one evaluation uses.
pub const DEPTH_LIMIT: usize = 5_000;

/// How deeply a result may nest to become JSON; deeper values are refused rather than walked
/// recursively on the native stack. Far above anything that fits in a 256 KiB payload usefully.
const MAX_RESULT_DEPTH: usize = 1_000;

/// The cause of a refused `$eval`, after AWS's documentation of JSONata in Step Functions
/// ("`$eval` is not available—use `$parse` instead"): AWS's runtime wording was not found.
const EVAL_REFUSED: &str =
    "The JSONata function $eval is not available in Step Functions: use $parse instead";

/// The time and depth limits of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time the evaluation may take.
    pub time: Duration,
    /// Evaluator levels it may nest (see [`DEPTH_LIMIT`]).
    pub depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            time: TIME_LIMIT,
            depth: DEPTH_LIMIT,
        }
    }
}

/// Which functions an expression can call besides JSONata's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Dialect {
    /// Step Functions': its added functions, and `$eval` refused.
    #[default]
    StepFunctions,
    /// Plain JSONata, as the official test suite expects it.
    Standard,
}

/// How to evaluate: limits and dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// Time and depth limits.
    pub limits: Limits,
    /// The functions available.
    pub dialect: Dialect,
}

/// What kind of failure a [`QueryEvaluationError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryErrorKind {
    /// The expression is not valid JSONata.
    Syntax,
    /// JSONata raised an error while evaluating (a type error, `$error()`, a bad argument).
    Evaluation,
    /// The expression calls a function Step Functions does not offer (`$eval`).
    Forbidden,
    /// The evaluation ran past the time limit.
    TimeLimit,
    /// The evaluation nested past the depth limit.
    DepthLimit,
    /// The result is not JSON (a function, or nested too deeply).
    UnsupportedResult,
}

/// A JSONata expression failed: `States.QueryEvaluationError` with its cause.
///
/// The causes are ours where AWS's wording could not be found: `The JSONata expression '…'
/// returned an unsupported result type.` is LocalStack's (recorded against AWS); a JSONata error
/// is `An error occurred while evaluating the JSONata expression '…': <code>: <message>`,
/// carrying jsonata-js's code and message text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {cause}", names::QUERY_EVALUATION_ERROR)]
pub struct QueryEvaluationError {
    kind: QueryErrorKind,
    code: Option<String>,
    cause: String,
    /// JSONata's own words (`T2001: …`), without the expression around them.
    detail: String,
}

impl QueryEvaluationError {
    /// The error name, `States.QueryEvaluationError`, which `Retry` and `Catch` match.
    pub fn error(&self) -> &'static str {
        names::QUERY_EVALUATION_ERROR
    }

    /// The cause, as an execution or a `Catch` reports it.
    pub fn cause(&self) -> &str {
        &self.cause
    }

    /// The JSONata error code (`T2001`, `D3137`, `S0201`, …), when there is one.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> QueryErrorKind {
        self.kind
    }

    /// JSONata's own message (`T2002: …`), without the expression around it.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    fn unsupported_result(expression: &str) -> Self {
        QueryEvaluationError {
            kind: QueryErrorKind::UnsupportedResult,
            code: None,
            cause: format!(
                "The JSONata expression '{expression}' returned an unsupported result type."
            ),
            detail: String::new(),
        }
    }

    fn from_message(expression: &str, kind: QueryErrorKind, message: &str) -> Self {
        if message.contains(EVAL_REFUSED) {
            return QueryEvaluationError {
                kind: QueryErrorKind::Forbidden,
                code: None,
                cause: EVAL_REFUSED.to_string(),
                detail: EVAL_REFUSED.to_string(),
            };
        }
        // The code leads evaluator messages ("T2001: …"); parser messages may carry it after a
        // prefix ("Invalid syntax: T1006: …"), so look for it anywhere and start the text there.
        let (code, text) = match find_code(message) {
            Some(at) => (Some(message[at..at + 5].to_string()), &message[at..]),
            None => (None, message),
        };
        let kind = match code.as_deref() {
            Some("D1012") => QueryErrorKind::TimeLimit,
            Some("D1011" | "U1001" | "U1002") => QueryErrorKind::DepthLimit,
            _ => kind,
        };
        QueryEvaluationError {
            kind,
            code,
            cause: format!(
                "An error occurred while evaluating the JSONata expression '{expression}': {text}"
            ),
            detail: text.to_string(),
        }
    }

    fn from_parser(expression: &str, e: &ParserError) -> Self {
        let mut error = Self::from_message(expression, QueryErrorKind::Syntax, &e.to_string());
        // jsonata-core has no code for an unclosed comment; jsonata-js raises S0106.
        if matches!(e, ParserError::UnclosedComment) && error.code.is_none() {
            error.code = Some("S0106".into());
        }
        error
    }

    fn from_evaluator(expression: &str, e: &EvaluatorError) -> Self {
        Self::from_message(expression, QueryErrorKind::Evaluation, e.message())
    }
}

impl From<QueryEvaluationError> for StatesError {
    fn from(e: QueryEvaluationError) -> Self {
        StatesError::new(names::QUERY_EVALUATION_ERROR, e.cause)
    }
}

/// The byte offset of the first JSONata error code (`X9999` followed by `:`) in `message`.
fn find_code(message: &str) -> Option<usize> {
    let b = message.as_bytes();
    (0..b.len()).find(|&i| {
        (i == 0 || !b[i - 1].is_ascii_alphanumeric())
            && message.is_char_boundary(i)
            && error_code_prefix(&message[i..]).is_some()
    })
}

/// Evaluates `expression` as a Step Functions state does: `$states` bound to `states` (its
/// `input`, `result`, `errorOutput`, `context`), each variable bound by name (without the `$`),
/// the Step Functions functions available, the default [`Limits`]. `Ok(None)` is undefined.
pub fn evaluate(
    expression: &str,
    states: &Value,
    variables: &Map<String, Value>,
) -> Result<Option<Value>, QueryEvaluationError> {
    evaluate_with(
        expression,
        None,
        variables
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .chain([("states", states)]),
        Options::default(),
    )
}

/// Evaluates `expression` over the context value `input` (`None`: undefined) with `bindings`
/// as variables (named without the `$`; a later binding of a name wins) and `options`.
pub fn evaluate_with<'v>(
    expression: &str,
    input: Option<&Value>,
    bindings: impl IntoIterator<Item = (&'v str, &'v Value)>,
    options: Options,
) -> Result<Option<Value>, QueryEvaluationError> {
    let ast =
        parser::parse(expression).map_err(|e| QueryEvaluationError::from_parser(expression, &e))?;
    let bindings = bindings
        .into_iter()
        .map(|(name, value)| (name, JValue::from(value.clone())));
    run(expression, &ast, input, bindings, options, None)
}

/// Evaluates a parsed expression; `seed`, when given, seeds `$random()` and `$uuid()`.
fn run<'v>(
    expression: &str,
    ast: &AstNode,
    input: Option<&Value>,
    bindings: impl IntoIterator<Item = (&'v str, JValue)>,
    options: Options,
    seed: Option<u64>,
) -> Result<Option<Value>, QueryEvaluationError> {
    let mut context = Context::new();
    for (name, value) in bindings {
        context.bind(name.to_string(), value);
    }
    let evaluator_options = EvaluatorOptions {
        // Saturates: a limit beyond u64 milliseconds is no limit anyway.
        timeout_ms: Some(u64::try_from(options.limits.time.as_millis()).unwrap_or(u64::MAX)),
        max_stack_depth: Some(options.limits.depth),
        ..EvaluatorOptions::default()
    };
    let mut evaluator = Evaluator::with_options(context, evaluator_options);
    if options.dialect == Dialect::StepFunctions {
        register_step_functions(&mut evaluator)
            .map_err(|e| QueryEvaluationError::from_evaluator(expression, &e))?;
        if let Some(seed) = seed {
            register_seeded(&mut evaluator, seed)
                .map_err(|e| QueryEvaluationError::from_evaluator(expression, &e))?;
        }
    }
    let data = input.map_or(JValue::Undefined, |v| JValue::from(v.clone()));
    let result = evaluator
        .evaluate(ast, &data)
        .map_err(|e| QueryEvaluationError::from_evaluator(expression, &e))?;
    match &result {
        JValue::Undefined => Ok(None),
        JValue::Lambda(_) | JValue::Builtin { .. } | JValue::Regex { .. } => {
            Err(QueryEvaluationError::unsupported_result(expression))
        }
        value => to_json(value, 0)
            .map(Some)
            .ok_or_else(|| QueryEvaluationError::unsupported_result(expression)),
    }
}

/// A JSONata value as `JSON.stringify` writes it: numbers integral within 2^53 become integers,
/// non-finite numbers `null`, undefined and functions are left out of objects and `null` in
/// arrays. `None` when nested deeper than [`MAX_RESULT_DEPTH`].
fn to_json(value: &JValue, depth: usize) -> Option<Value> {
    if depth > MAX_RESULT_DEPTH {
        return None;
    }
    Some(match value {
        JValue::Null => Value::Null,
        JValue::Bool(b) => Value::Bool(*b),
        JValue::Number(n) => number(*n),
        JValue::String(s) => Value::String(s.to_string()),
        JValue::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| match item {
                    v if is_json(v) => to_json(v, depth + 1),
                    _ => Some(Value::Null),
                })
                .collect::<Option<_>>()?,
        ),
        JValue::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| is_json(v))
                .map(|(k, v)| Some((k.clone(), to_json(v, depth + 1)?)))
                .collect::<Option<_>>()?,
        ),
        // Top-level undefined and functions are dealt with by the caller; nested, filtered above.
        _ => Value::Null,
    })
}

/// Whether `JSON.stringify` writes `value` (it skips undefined and functions).
fn is_json(value: &JValue) -> bool {
    !matches!(
        value,
        JValue::Undefined | JValue::Lambda(_) | JValue::Builtin { .. } | JValue::Regex { .. }
    )
}

fn number(n: f64) -> Value {
    let mut v = serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number);
    crate::number::integral(&mut v);
    v
}

// ----- expressions in a definition ---------------------------------------------------------------

/// A JSONata expression of a definition (`"{% … %}"`), parsed once at load.
#[derive(Debug)]
pub(crate) struct Expr {
    text: Box<str>,
    // Boxed: an AST node is large, and expressions sit in many definition fields.
    ast: Box<AstNode>,
    /// The `$name`s it mentions besides `$states`: only these variables are bound when it runs,
    /// so the cost of an evaluation does not grow with the number of variables.
    names: Vec<Box<str>>,
    /// Whether it may read `$states.context`, which is only built then.
    pub uses_context: bool,
}

impl Expr {
    /// Parses the text between `{%` and `%}`.
    pub fn compile(text: &str) -> Result<Expr, QueryEvaluationError> {
        let ast = parser::parse(text).map_err(|e| QueryEvaluationError::from_parser(text, &e))?;
        let mut names: Vec<Box<str>> = Vec::new();
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            rest = &rest[at + 1..];
            let len = crate::path::variable_name_len(rest);
            let name = &rest[..len];
            if len > 0 && name != "states" && !names.iter().any(|n| &**n == name) {
                names.push(name.into());
            }
            rest = &rest[len..];
        }
        Ok(Expr {
            text: text.into(),
            ast: Box::new(ast),
            names,
            // `$states` taken whole (not `$states.x`) holds the context too.
            uses_context: text.contains("context")
                || text
                    .split("$states")
                    .skip(1)
                    .any(|after| !after.starts_with('.')),
        })
    }

    /// The expression as written (without `{%` `%}`).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Evaluates it as a state does: `$states` bound to `states`, the variables it mentions
    /// looked up in `variable`, `$random()`/`$uuid()` drawing from `seed`.
    pub fn eval<'v>(
        &self,
        states: &StatesValue,
        variable: impl Fn(&str) -> Option<&'v Value>,
        seed: u64,
    ) -> Result<Option<Value>, QueryEvaluationError> {
        let bindings: Vec<(&str, JValue)> = self
            .names
            .iter()
            .filter_map(|n| variable(n).map(|v| (&**n, JValue::from(v.clone()))))
            .chain([("states", states.0.clone())])
            .collect();
        run(
            &self.text,
            &self.ast,
            None,
            bindings,
            Options::default(),
            Some(seed),
        )
    }
}

/// `$states`, converted to JSONata's values once and shared (cheaply) by every expression of a
/// field, and by every item of a Map's `ItemSelector`. Not `Send`: build it, use it, drop it
/// between two awaits.
pub(crate) struct StatesValue(JValue);

/// JSONata's value of a JSON value.
pub(crate) struct Converted(JValue);

impl Converted {
    pub fn new(v: &Value) -> Self {
        Converted(JValue::from(v.clone()))
    }
}

fn object<'k>(members: impl IntoIterator<Item = (&'k str, JValue)>) -> JValue {
    JValue::Object(Rc::new(
        members
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<JMap>(),
    ))
}

impl StatesValue {
    /// `$states` from its members; absent ones are left out.
    pub fn new(
        input: &Converted,
        context: Option<&Converted>,
        result: Option<&Value>,
        error_output: Option<&Value>,
    ) -> Self {
        let members = [
            Some(("input", input.0.clone())),
            context.map(|c| ("context", c.0.clone())),
            result.map(|r| ("result", JValue::from(r.clone()))),
            error_output.map(|e| ("errorOutput", JValue::from(e.clone()))),
        ];
        StatesValue(object(members.into_iter().flatten()))
    }
}

/// A context object converted once, with a Map item's `Map.Item` added (cheaply: the other
/// members are shared).
pub(crate) fn with_map_item(context: &Converted, index: usize, value: &Value) -> Converted {
    let item = object([
        ("Index", JValue::Number(index as f64)),
        ("Value", JValue::from(value.clone())),
    ]);
    let map = object([("Item", item)]);
    let members: Vec<(String, JValue)> = match &context.0 {
        JValue::Object(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        _ => Vec::new(),
    };
    let mut all: JMap = members.into_iter().collect();
    all.insert("Map".to_string(), map);
    Converted(JValue::Object(Rc::new(all)))
}

/// The text of a `"{% … %}"` string, if it is one.
pub(crate) fn expression_text(s: &str) -> Option<&str> {
    // Trimmed, as AWS quotes it in causes (`'{% $x %}'` is the expression '$x').
    s.strip_prefix("{%")?.strip_suffix("%}").map(str::trim)
}

/// The causes of a failed expression in a state's field, after what AWS reports (recorded by
/// LocalStack's snapshot tests against AWS; the part after "for the field 'F'" is AWS's word for
/// word where it was recorded: undefined results, unsupported results, `Items` of the wrong
/// type, errors thrown).
pub(crate) mod cause {
    use super::{QueryErrorKind, QueryEvaluationError};
    use serde_json::Value;

    /// JSONata's type name of a JSON value.
    fn type_name(v: &Value) -> &'static str {
        match v {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// The expression failed: threw, or returned something JSON cannot hold.
    pub fn failed(expr: &str, field: &str, e: &QueryEvaluationError) -> String {
        match e.kind() {
            QueryErrorKind::UnsupportedResult => format!(
                "The JSONata expression '{expr}' specified for the field '{field}' returned an unsupported result type."
            ),
            _ => {
                // jsonata-core names the callee after jsonata-js's message; AWS (JavaScript)
                // does not.
                let detail = match e.detail.split_once("Attempted to invoke a non-function") {
                    Some((code, _)) => format!("{code}Attempted to invoke a non-function"),
                    None => e.detail.clone(),
                };
                format!(
                    "The JSONata expression '{expr}' specified for the field '{field}' threw an error during evaluation. {detail}"
                )
            }
        }
    }

    /// It returned undefined where the field needs a value.
    pub fn undefined(expr: &str, field: &str) -> String {
        format!(
            "The JSONata expression '{expr}' specified for the field '{field}' returned nothing (undefined)."
        )
    }

    /// It returned a value of the wrong type (`expected`: `array`, `boolean`, `string`, …).
    pub fn unexpected(expr: &str, field: &str, expected: &str, value: &Value) -> String {
        format!(
            "The JSONata expression '{expr}' specified for the field '{field}' returned an unexpected result type. Expected '{expected}', but was '{}' for value: {value}",
            type_name(value)
        )
    }
}

// ----- the functions Step Functions adds ----------------------------------------------------------

fn fail(message: String) -> EvaluatorError {
    EvaluatorError::EvaluationError(message)
}

fn register_step_functions(ev: &mut Evaluator) -> Result<(), EvaluatorError> {
    // `register_fn_override` for all: should a later jsonata-core gain a built-in of one of
    // these names, Step Functions' meaning must still win.
    ev.register_fn_override("partition", partition)?;
    ev.register_fn_override("range", range)?;
    ev.register_fn_override("hash", hash)?;
    ev.register_fn_override("random", random)?;
    ev.register_fn_override("uuid", uuid)?;
    ev.register_fn_override("parse", parse)?;
    ev.register_fn_override("eval", |_: &[JValue]| -> HostFnResult {
        Err(fail(EVAL_REFUSED.to_string()))
    })?;
    Ok(())
}

/// `$random()` without a seed and `$uuid()` drawing from one generator seeded by the execution,
/// so that a run with a seed (`RunOptions::seed`) is reproducible.
fn register_seeded(ev: &mut Evaluator, seed: u64) -> Result<(), EvaluatorError> {
    let rng = Rc::new(RefCell::new(rand::rngs::StdRng::seed_from_u64(seed)));
    let for_random = rng.clone();
    ev.register_fn_override("random", move |args: &[JValue]| -> HostFnResult {
        arity("random", args, 0, 1)?;
        match args.first() {
            Some(seed) if !matches!(seed, JValue::Undefined) => random(args),
            _ => Ok(JValue::Number(for_random.borrow_mut().random::<f64>())),
        }
    })?;
    ev.register_fn_override("uuid", move |args: &[JValue]| -> HostFnResult {
        arity("uuid", args, 0, 0)?;
        let mut b = [0u8; 16];
        rng.borrow_mut().fill(&mut b);
        Ok(JValue::from(
            uuid::Builder::from_random_bytes(b).into_uuid().to_string(),
        ))
    })?;
    Ok(())
}

fn arity(function: &str, args: &[JValue], min: usize, max: usize) -> Result<(), EvaluatorError> {
    if (min..=max).contains(&args.len()) {
        return Ok(());
    }
    let expected = if min == max {
        min.to_string()
    } else {
        format!("{min} to {max}")
    };
    Err(fail(format!(
        "${function} takes {expected} argument(s), not {}",
        args.len()
    )))
}

/// An integer argument: JSONata numbers are doubles, so an integral double within i64.
fn integer(function: &str, what: &str, v: &JValue) -> Result<i64, EvaluatorError> {
    match v {
        // 2^63 is exact as a double; below it the cast is exact for integral values.
        JValue::Number(n) if n.fract() == 0.0 && n.abs() < 9_223_372_036_854_775_808.0 => {
            Ok(*n as i64)
        }
        _ => Err(fail(format!("${function}: {what} must be an integer"))),
    }
}

fn string<'v>(function: &str, what: &str, v: &'v JValue) -> Result<&'v str, EvaluatorError> {
    match v {
        JValue::String(s) => Ok(s),
        _ => Err(fail(format!("${function}: {what} must be a string"))),
    }
}

/// `$partition(array, size)`: the array in chunks of `size`, the last one shorter if need be.
/// A single value counts as an array of one, as JSONata's own array parameters take it.
fn partition(args: &[JValue]) -> HostFnResult {
    arity("partition", args, 2, 2)?;
    let items: Vec<JValue> = match &args[0] {
        JValue::Array(items) => items.iter().cloned().collect(),
        JValue::Undefined => return Ok(JValue::Undefined),
        single => vec![single.clone()],
    };
    let size = integer("partition", "the chunk size", &args[1])?;
    let size = usize::try_from(size)
        .ok()
        .filter(|s| *s > 0)
        .ok_or_else(|| fail("$partition: the chunk size must be a positive integer".into()))?;
    Ok(JValue::array(
        items
            .chunks(size)
            .map(|c| JValue::array(c.to_vec()))
            .collect(),
    ))
}

/// At most this many items from `$range`. Guess: the limit of its JSONPath twin,
/// `States.ArrayRange`.
const MAX_RANGE: i128 = 1000;

/// `$range(start, end, step)`: integers from `start` to `end` inclusive, `step` apart.
fn range(args: &[JValue]) -> HostFnResult {
    arity("range", args, 3, 3)?;
    let start = i128::from(integer("range", "the start", &args[0])?);
    let end = i128::from(integer("range", "the end", &args[1])?);
    let step = i128::from(integer("range", "the step", &args[2])?);
    if step == 0 {
        return Err(fail("$range: the step must not be 0".into()));
    }
    // In i128, so that neither `end - start` nor the items overflow.
    let count = if (step > 0 && end >= start) || (step < 0 && end <= start) {
        (end - start) / step + 1
    } else {
        0
    };
    if count > MAX_RANGE {
        return Err(fail(format!(
            "$range: the range would have {count} items; at most {MAX_RANGE} are allowed"
        )));
    }
    // Recorded on AWS: a range of one number is that number (`$range(1, 9, 9)` is `1`), as
    // JSONata sequences of one value are.
    if count == 1 {
        return Ok(JValue::Number(start as f64));
    }
    Ok(JValue::array(
        (0..count)
            .map(|k| JValue::Number((start + k * step) as f64))
            .collect(),
    ))
}

/// `$hash(data, algorithm)`: the digest of the string's UTF-8 bytes, in lowercase hex.
fn hash(args: &[JValue]) -> HostFnResult {
    arity("hash", args, 2, 2)?;
    let data = string("hash", "the data", &args[0])?;
    let algorithm = string("hash", "the algorithm", &args[1])?;
    let digest = hash_algorithm(algorithm).ok_or_else(|| {
        fail(format!(
            "$hash: '{algorithm}' is not a supported algorithm (MD5, SHA-1, SHA-256, SHA-384, SHA-512)"
        ))
    })?;
    let hex: String = digest(data.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(JValue::from(hex))
}

/// `$random(seed?)`: a number in [0, 1); the same seed gives the same number. Guess: seeded as
/// `new java.util.Random(seed).nextDouble()`, like the engine's seeded `States.MathRandom`.
fn random(args: &[JValue]) -> HostFnResult {
    arity("random", args, 0, 1)?;
    let r = match args.first() {
        Some(seed) if !matches!(seed, JValue::Undefined) => {
            JavaRandom::new(integer("random", "the seed", seed)?).next_double()
        }
        _ => rand::random::<f64>(),
    };
    Ok(JValue::Number(r))
}

/// `$uuid()`: a random version 4 UUID.
fn uuid(args: &[JValue]) -> HostFnResult {
    arity("uuid", args, 0, 0)?;
    Ok(JValue::from(uuid::Uuid::new_v4().to_string()))
}

/// `$parse(jsonString)`: the JSON value the string holds.
fn parse(args: &[JValue]) -> HostFnResult {
    arity("parse", args, 1, 1)?;
    let text = string("parse", "the argument", &args[0])?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| fail(format!("$parse: the argument is not valid JSON: {e}")))?;
    Ok(JValue::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Instant;

    fn eval(expression: &str) -> Result<Option<Value>, QueryEvaluationError> {
        evaluate(expression, &json!({"input": {"n": 3}}), &Map::new())
    }

    fn value(expression: &str) -> Value {
        match eval(expression) {
            Ok(Some(v)) => v,
            other => panic!("{expression}: {other:?}"),
        }
    }

    #[test]
    fn states_and_variables_are_bound() {
        let vars = json!({"greeting": "hi", "n": 2});
        let Value::Object(vars) = vars else {
            unreachable!()
        };
        let got = evaluate(
            "$greeting & ' ' & $string($states.input.n * $n)",
            &json!({"input": {"n": 3}}),
            &vars,
        );
        assert_eq!(got, Ok(Some(json!("hi 6"))));
        assert_eq!(eval("$states.input.missing"), Ok(None));
    }

    #[test]
    fn numbers_print_as_javascript_prints_them() {
        assert_eq!(value("1.0 + 2").to_string(), "3");
        assert_eq!(value("-0").to_string(), "0");
        assert_eq!(value("0.1 + 0.2").to_string(), "0.30000000000000004");
        assert_eq!(value("{'a': 1, 'b': $nothing}").to_string(), r#"{"a":1}"#);
    }

    #[test]
    fn partition_chunks() {
        assert_eq!(
            value("$partition([1,2,3,4,5,6,7,8,9,10], 4)"),
            json!([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]])
        );
        assert_eq!(value("$partition([], 2)"), json!([]));
        for bad in [
            "$partition([1], 0)",
            "$partition([1], 1.5)",
            "$partition([1])",
        ] {
            assert!(eval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn range_is_inclusive_and_stepped() {
        assert_eq!(value("$range(0, 10, 2)"), json!([0, 2, 4, 6, 8, 10]));
        assert_eq!(value("$range(5, 1, -2)"), json!([5, 3, 1]));
        assert_eq!(value("$range(1, 0, 1)"), json!([]));
        assert!(eval("$range(0, 1, 0)").is_err());
        assert!(eval("$range(0, 5000, 1)").is_err());
    }

    #[test]
    fn hash_gives_lowercase_hex() {
        assert_eq!(
            value("$hash('input data', 'SHA-1')"),
            json!("aaff4a450a104cd177d28d18d74485e8cae074b7")
        );
        assert_eq!(
            value("$hash('', 'MD5')"),
            json!("d41d8cd98f00b204e9800998ecf8427e")
        );
        assert_eq!(
            value("$hash('abc', 'SHA-256')"),
            json!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        for alg in ["SHA-384", "SHA-512"] {
            assert!(value(&format!("$hash('abc', '{alg}')")).is_string());
        }
        let err = eval("$hash('abc', 'SHA-3')").unwrap_err();
        assert!(
            err.cause().contains("'SHA-3' is not a supported algorithm"),
            "{err}"
        );
    }

    #[test]
    fn random_is_in_the_unit_interval_and_seeded_is_repeatable() {
        let r = value("$random()").as_f64().unwrap();
        assert!((0.0..1.0).contains(&r));
        let seeded = value("$random(42)");
        assert_eq!(value("$random(42)"), seeded);
        assert_ne!(value("$random(43)"), seeded);
        // `new java.util.Random(42).nextDouble()` on every JDK.
        assert_eq!(seeded, json!(0.7275636800328681));
        assert!(eval("$random('x')").is_err());
    }

    #[test]
    fn uuid_is_version_4() {
        let u = value("$uuid()");
        let parsed = uuid::Uuid::parse_str(u.as_str().unwrap()).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert_ne!(value("$uuid()"), u);
    }

    #[test]
    fn parse_reads_json() {
        assert_eq!(
            value(r#"$parse('{"a": [1, 2.0, -0]}')"#).to_string(),
            r#"{"a":[1,2,0]}"#
        );
        let err = eval("$parse('{')").unwrap_err();
        assert!(err.cause().contains("not valid JSON"), "{err}");
    }

    #[test]
    fn eval_is_refused_with_aws_advice() {
        for expr in ["$eval('1 + 1')", "$map(['1'], $eval)"] {
            let err = eval(expr).unwrap_err();
            assert_eq!(err.kind(), QueryErrorKind::Forbidden, "{expr}");
            assert!(err.cause().contains("use $parse instead"), "{err}");
        }
        // The standard dialect keeps it (the official suite tests it).
        let standard = Options {
            dialect: Dialect::Standard,
            ..Options::default()
        };
        assert_eq!(
            evaluate_with("$eval('1 + 1')", None, [], standard),
            Ok(Some(json!(2)))
        );
    }

    #[test]
    fn errors_are_query_evaluation_errors_with_the_jsonata_code() {
        let err = eval("1 + 'a'").unwrap_err();
        assert_eq!(err.error(), "States.QueryEvaluationError");
        assert_eq!(err.code(), Some("T2002"));
        assert_eq!(err.kind(), QueryErrorKind::Evaluation);
        assert!(
            err.cause().starts_with(
                "An error occurred while evaluating the JSONata expression '1 + 'a'': T2002"
            ),
            "{err}"
        );
        let syntax = eval("(1 + ").unwrap_err();
        assert_eq!(syntax.kind(), QueryErrorKind::Syntax);
        let states: StatesError = err.into();
        assert_eq!(states.error, "States.QueryEvaluationError");
    }

    #[test]
    fn a_function_result_is_unsupported() {
        let err = eval("function($x){$x}").unwrap_err();
        assert_eq!(err.kind(), QueryErrorKind::UnsupportedResult);
        assert_eq!(
            err.cause(),
            "The JSONata expression 'function($x){$x}' returned an unsupported result type."
        );
    }

    #[test]
    fn a_tail_call_loop_hits_the_time_limit() {
        let options = Options {
            limits: Limits {
                time: Duration::from_millis(200),
                ..Limits::default()
            },
            ..Options::default()
        };
        let started = Instant::now();
        let err =
            evaluate_with("($f := function($n){$f($n+1)}; $f(0))", None, [], options).unwrap_err();
        assert_eq!(err.kind(), QueryErrorKind::TimeLimit, "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn the_default_time_limit_applies() {
        let started = Instant::now();
        let err = eval("($f := function($n){$f($n+1)}; $f(0))").unwrap_err();
        assert_eq!(err.kind(), QueryErrorKind::TimeLimit, "{err}");
        assert!(started.elapsed() < TIME_LIMIT + Duration::from_secs(5));
    }

    #[test]
    fn deep_recursion_hits_the_depth_limit() {
        let started = Instant::now();
        let err = eval("($f := function($n){$n + $f($n+1)}; $f(0))").unwrap_err();
        assert_eq!(err.kind(), QueryErrorKind::DepthLimit, "{err}");
        assert!(started.elapsed() < TIME_LIMIT);
    }
}
