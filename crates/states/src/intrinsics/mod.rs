//! Intrinsic functions (`States.Format(…)`, `States.Hash(…)`, …), written to behave as AWS's
//! Java implementation does, in three parts:
//!
//! - [`parse`]: the call syntax, compiled once at load, refusing what can be refused then;
//! - [`functions`]: the name → arity + function table and the functions themselves
//!   (`States.MathAdd` rounds each operand with `Math.round`, `States.StringSplit` tokenises
//!   like `StringTokenizer`, a seeded `States.MathRandom` draws like `java.util.Random`);
//! - [`format`]: how Java prints what it got from JSON (`States.Format` prints objects as Java
//!   maps and doubles as `Double.toString`).

mod format;
mod functions;
mod parse;

use crate::context::Scope;
use crate::path::{character_number, Path, PathError};
use serde_json::Value;

use functions::Func;
pub(crate) use functions::{hash_algorithm, JavaRandom};
pub use functions::{FailureReason, FunctionFailure};

/// A compiled call of an intrinsic function.
#[derive(Debug, Clone)]
pub struct Call {
    func: &'static Func,
    args: Vec<Arg>,
    /// Where the call starts in the text it was parsed from (a byte offset).
    position: usize,
}

#[derive(Debug, Clone)]
enum Arg {
    Literal(Value),
    /// A string literal: its value, and the text as written (escapes kept) for `States.Format`.
    Str {
        value: String,
        raw: String,
    },
    Path(Path),
    Call(Call),
}

/// AWS allows up to 10 nested intrinsic calls in one field.
const MAX_DEPTH: usize = 10;

/// Why an intrinsic call was refused at load: what was wrong, and where parsing stopped.
#[derive(Debug)]
pub struct CallError {
    text: Box<str>,
    position: usize,
    /// Boxed: the refusals of literal arguments are large, and calls are parsed recursively.
    kind: Box<CallErrorKind>,
}

/// What was wrong with a refused intrinsic call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallErrorKind {
    /// Calls nested deeper than AWS allows.
    #[error("intrinsic functions can be nested at most {MAX_DEPTH} deep")]
    TooDeep,
    /// A name that is not one of the `States.*` functions.
    #[error("'{0}' is not an intrinsic function")]
    UnknownFunction(String),
    /// A function name not followed by `(`.
    #[error("'{0}' must be followed by '('")]
    MissingParenthesis(String),
    /// Arguments that run to the end of the text.
    #[error("the arguments of '{0}' are not closed by ')'")]
    UnclosedArguments(String),
    /// Too few or too many arguments.
    #[error("{function} takes {expected} argument(s), not {found}")]
    Arity {
        /// The function called.
        function: &'static str,
        /// How many it takes, in words (`2`, `2 to 3`, `at least 1`).
        expected: String,
        /// How many it was given.
        found: usize,
    },
    /// Something follows a complete call.
    #[error("unexpected '{0}' after the intrinsic function call")]
    Trailing(String),
    /// An argument that is no string, number, boolean, null, path or call.
    #[error("'{0}' is not a valid intrinsic function argument")]
    InvalidArgument(String),
    /// A backslash before a character that needs none.
    #[error(
        "'\\{0}' is not a valid escape in an intrinsic string (only \\', \\{{, \\}} and \\\\ are)"
    )]
    InvalidEscape(char),
    /// A string literal that runs to the end of the text.
    #[error("a string literal in the intrinsic function is not closed by '")]
    UnclosedString,
    /// A path argument that is not a valid JSONPath.
    #[error("{0}")]
    Path(PathError),
    /// Literal arguments the function is certain to refuse (a `States.Format` template with the
    /// wrong number of holes, an unknown `States.Hash` algorithm).
    #[error("{0}")]
    Refused(FunctionFailure),
}

impl CallError {
    /// The call as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The byte offset in [`CallError::text`] where parsing stopped.
    pub fn position(&self) -> usize {
        self.position
    }

    /// What was wrong.
    pub fn kind(&self) -> &CallErrorKind {
        &self.kind
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind.as_ref() {
            // The path's own message already quotes it and says where in it parsing stopped.
            CallErrorKind::Path(path) => path.fmt(f),
            kind => write!(
                f,
                "{kind} (at character {})",
                character_number(&self.text, self.position)
            ),
        }
    }
}

impl std::error::Error for CallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self.kind.as_ref() {
            CallErrorKind::Path(path) => Some(path),
            _ => None,
        }
    }
}

/// Why a `.$` value is neither a valid path nor a valid intrinsic call.
#[derive(Debug, thiserror::Error)]
pub enum ExpressionError {
    /// It is meant as a path (it does not start with `States.`).
    #[error(transparent)]
    Path(#[from] PathError),
    /// It is meant as an intrinsic call.
    #[error(transparent)]
    Call(#[from] CallError),
}

/// Why an intrinsic call could not be evaluated.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EvalError {
    /// A path argument selected nothing: a `States.Runtime` error, like any missing path.
    #[error("the path '{path}' selected nothing")]
    Path { path: String },
    /// The function refused its arguments: `States.IntrinsicFailure`.
    #[error(transparent)]
    Failure(FunctionFailure),
}

/// True when a `.$` value is an intrinsic call rather than a path.
pub fn looks_like_call(s: &str) -> bool {
    s.trim_start().starts_with("States.")
}

impl Call {
    /// Parses an intrinsic call.
    pub fn parse(text: &str) -> Result<Call, CallError> {
        parse::call(text)
    }

    /// Evaluates the call.
    pub(crate) fn eval(&self, scope: &Scope<'_>) -> Result<Value, EvalError> {
        let mut vals = Vec::with_capacity(self.args.len());
        for a in &self.args {
            vals.push(match a {
                Arg::Literal(v) => v.clone(),
                Arg::Str { value, .. } => Value::String(value.clone()),
                Arg::Path(p) => scope.select(p).map_err(|_| EvalError::Path {
                    path: p.text().to_string(),
                })?,
                Arg::Call(c) => c.eval(scope)?,
            });
        }
        (self.func.run)(self, vals, scope).map_err(|reason| {
            EvalError::Failure(FunctionFailure {
                function: self.name(),
                position: self.position,
                reason,
            })
        })
    }

    pub(crate) fn name(&self) -> &'static str {
        self.func.name
    }

    /// The arguments, as the public read-only view shows them (`crate::view`).
    pub(crate) fn argument_views(&self) -> Vec<crate::view::IntrinsicArgument<'_>> {
        use crate::view::{IntrinsicArgument, IntrinsicCall, JsonPath};
        self.args
            .iter()
            .map(|arg| match arg {
                Arg::Literal(value) => IntrinsicArgument::Literal(value),
                Arg::Str { value, .. } => IntrinsicArgument::String(value),
                Arg::Path(path) => IntrinsicArgument::Path(JsonPath::new(path)),
                Arg::Call(call) => IntrinsicArgument::Call(IntrinsicCall::new(call)),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::ExecutionInfo;
    use rand::SeedableRng;
    use serde_json::json;
    use std::sync::Mutex;

    fn run(expr: &str, input: Value) -> Result<Value, String> {
        let exec = ExecutionInfo {
            id: "arn:aws:states:us-east-1:123456789012:execution:M:e".into(),
            name: "e".into(),
            input: input.clone(),
            start_time: chrono::DateTime::UNIX_EPOCH,
            role_arn: "r".into(),
            state_machine_id: "arn:aws:states:us-east-1:123456789012:stateMachine:M".into(),
            state_machine_name: "M".into(),
            redrive_count: 0,
        };
        let rng = Mutex::new(rand::rngs::StdRng::seed_from_u64(7));
        let scope = Scope::new(&input, &exec, "S", chrono::DateTime::UNIX_EPOCH, 0, &rng);
        let call = Call::parse(expr).map_err(|e| e.to_string())?;
        call.eval(&scope).map_err(|e| match e {
            EvalError::Failure(failure) => failure.to_string(),
            EvalError::Path { path } => format!("missing {path}"),
        })
    }

    #[test]
    fn format_prints_like_java() {
        let input = json!({"o": {"Arg1": 1, "Arg2": [], "s": "x", "f": 1.5}, "n": 1.0e20, "i": 3});
        assert_eq!(
            run("States.Format('{} and {} and {}', $.o, $.n, $.i)", input).unwrap(),
            json!("{Arg1=1, Arg2=[], s=x, f=1.5} and 1.0E20 and 3")
        );
        assert_eq!(
            run("States.Format('a\\{\\}b {}', 'x')", json!({})).unwrap(),
            json!("a{}b x")
        );
        assert!(Call::parse("States.Format('{} {}', 'x')").is_err());
    }

    #[test]
    fn math_add_rounds_like_java() {
        for (a, b, want) in [
            (1.49, 1.5, 3),
            (-1.49, -1.5, -2),
            (-1.5, -1.51, -3),
            (-0.5, 0.5, 1),
            (-2.5, 0.0, -2),
        ] {
            assert_eq!(
                run("States.MathAdd($.a, $.b)", json!({"a": a, "b": b})).unwrap(),
                json!(want),
                "{a}+{b}"
            );
        }
        assert!(run("States.MathAdd($.a, 1)", json!({"a": 3_000_000_000i64})).is_err());
    }

    #[test]
    fn string_and_array_functions() {
        assert_eq!(
            run("States.StringSplit(', , ,', ',')", json!({})).unwrap(),
            json!([" ", " "])
        );
        assert_eq!(
            run(
                "States.StringSplit('This.is+a,test=string', '.+,=')",
                json!({})
            )
            .unwrap(),
            json!(["This", "is", "a", "test", "string"])
        );
        assert_eq!(
            run("States.ArrayRange(1, 9, 2)", json!({})).unwrap(),
            json!([1, 3, 5, 7, 9])
        );
        assert!(run("States.ArrayRange(1, 2000, 1)", json!({})).is_err());
        assert_eq!(
            run("States.ArrayPartition(States.Array(1,2,3), 2)", json!({})).unwrap(),
            json!([[1, 2], [3]])
        );
        assert_eq!(
            run("States.ArrayUnique($)", json!([1, 1, "a", "a", {}])).unwrap(),
            json!([1, "a", {}])
        );
        assert_eq!(
            run("States.ArrayGetItem($, 1)", json!([1, 2])).unwrap(),
            json!(2)
        );
        assert!(run("States.ArrayGetItem($, 5)", json!([1, 2])).is_err());
        assert_eq!(
            run("States.ArrayContains($, 2)", json!([1, 2])).unwrap(),
            json!(true)
        );
        assert_eq!(
            run("States.ArrayLength($)", json!([1, 2])).unwrap(),
            json!(2)
        );
        assert_eq!(
            run("States.StringToJson(' ')", json!({})).unwrap(),
            Value::Null
        );
        assert_eq!(
            run("States.JsonToString($)", json!({"b": 1, "a": [1]})).unwrap(),
            json!("{\"b\":1,\"a\":[1]}")
        );
        assert_eq!(
            run(
                "States.JsonMerge($.a, $.b, false)",
                json!({"a": {"x": 1, "y": 1}, "b": {"y": 2}})
            )
            .unwrap(),
            json!({"x": 1, "y": 2})
        );
        assert!(run(
            "States.JsonMerge($.a, $.b, true)",
            json!({"a": {}, "b": {}})
        )
        .is_err());
    }

    #[test]
    fn encoding_and_hashing() {
        assert_eq!(
            run("States.Base64Encode('Data to encode')", json!({})).unwrap(),
            json!("RGF0YSB0byBlbmNvZGU=")
        );
        assert_eq!(
            run("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", json!({})).unwrap(),
            json!("Data to encode")
        );
        assert_eq!(
            run("States.Hash('input data', 'SHA-1')", json!({})).unwrap(),
            json!("aaff4a450a104cd177d28d18d74485e8cae074b7")
        );
        assert!(Call::parse("States.Hash('x', 'SHA-3')").is_err());
    }

    #[test]
    fn random_and_uuid() {
        let a = run("States.MathRandom(1, 999, 3)", json!({})).unwrap();
        let b = run("States.MathRandom(1, 999, 3)", json!({})).unwrap();
        assert_eq!(a, b);
        let n = a.as_i64().unwrap();
        assert!((1..999).contains(&n));
        let u = run("States.UUID()", json!({})).unwrap();
        assert_eq!(u.as_str().unwrap().len(), 36);
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "States.Nope()",
            "States.Array(",
            "States.Array('x)",
            "States.Array('\\n')",
            "States.UUID(1)",
            "States.Format()",
            "States.Array(1) x",
            "States.Array(foo)",
        ] {
            assert!(Call::parse(bad).is_err(), "{bad}");
        }
        assert!(Call::parse("States.Array($.a['x,y'], $.b[0])").is_ok());
    }

    #[test]
    fn refusals_say_what_and_where() {
        let refused = |text: &str| Call::parse(text).unwrap_err();
        let e = refused("States.Array(1, States.Nope())");
        assert_eq!(e.position(), 16);
        assert!(matches!(e.kind(), CallErrorKind::UnknownFunction(name) if name == "States.Nope"));
        assert_eq!(
            e.to_string(),
            "'States.Nope' is not an intrinsic function (at character 17)"
        );
        let e = refused("States.Array('a', 'b) ");
        assert!(matches!(e.kind(), CallErrorKind::UnclosedString));
        assert_eq!(e.position(), 18);
        let e = refused("States.UUID(1)");
        assert!(matches!(e.kind(), CallErrorKind::Arity { found: 1, .. }));
        assert_eq!(
            e.to_string(),
            "States.UUID takes 0 argument(s), not 1 (at character 1)"
        );
        let e = refused("States.Array(1) x");
        assert_eq!(e.position(), 16);
        assert!(matches!(e.kind(), CallErrorKind::Trailing(rest) if rest == "x"));
        // A bad path argument: its own message, positioned in the whole call.
        let e = refused("States.Array(1, $.a.)");
        let CallErrorKind::Path(path) = e.kind() else {
            panic!("{e:?}");
        };
        assert_eq!(path.text(), "$.a.");
        assert_eq!(e.position(), 16 + path.position());
        assert_eq!(e.to_string(), path.to_string());
        assert!(std::error::Error::source(&e).is_some());
        let e = refused("States.Format('{} {}', 'x')");
        assert!(
            e.to_string()
                .starts_with("States.Format: the template has 2 '{}'"),
            "{e}"
        );
    }

    #[test]
    fn failures_name_the_function_and_where_it_is_called() {
        let input = json!({"a": [1, 2]});
        let exec = ExecutionInfo {
            id: "e".into(),
            name: "e".into(),
            input: input.clone(),
            start_time: chrono::DateTime::UNIX_EPOCH,
            role_arn: "r".into(),
            state_machine_id: "m".into(),
            state_machine_name: "M".into(),
            redrive_count: 0,
        };
        let rng = Mutex::new(rand::rngs::StdRng::seed_from_u64(7));
        let scope = Scope::new(&input, &exec, "S", chrono::DateTime::UNIX_EPOCH, 0, &rng);
        let call = Call::parse("States.Array(States.ArrayGetItem($.a, 5))").unwrap();
        let Err(EvalError::Failure(failure)) = call.eval(&scope) else {
            panic!("the index is out of bounds");
        };
        assert_eq!(failure.function(), "States.ArrayGetItem");
        assert_eq!(failure.position(), 13);
        assert!(matches!(
            failure.reason(),
            FailureReason::IndexOutOfBounds {
                index: 5,
                length: 2
            }
        ));
        assert_eq!(
            failure.to_string(),
            "States.ArrayGetItem: index 5 is out of bounds for an array of 2"
        );
    }
}
