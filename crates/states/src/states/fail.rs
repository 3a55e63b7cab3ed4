//! `Fail`: ends with an error, fixed (`Error`, `Cause`) or read from the input (`ErrorPath`,
//! `CausePath`, which may also be intrinsic calls).

use crate::definition::{DefinitionReader, Lang, Obj, PathOrCall, Template};
use crate::error::StatesError;
use crate::jsonata::{cause, Expr};
use crate::run::StateRun;
use serde_json::Value;

pub(crate) const FIELDS: &[&str] = &["Error", "Cause", "ErrorPath", "CausePath"];

#[derive(Debug)]
pub(crate) enum Src {
    Absent,
    Literal(String),
    /// `ErrorPath`/`CausePath`, compiled as a one-field payload template.
    Dynamic(Template),
    /// JSONata: `Error`/`Cause` as a `{% %}` expression.
    Expr(Expr),
}

#[derive(Debug)]
pub(crate) struct Fail {
    pub error: Src,
    pub cause: Src,
}

fn src(reader: &mut DefinitionReader, obj: &Obj, lit: &str, dynamic: &str) -> Src {
    if reader.lang == Some(Lang::Jsonata) {
        if let Some(expr) = reader.expression_field(obj, lit) {
            return Src::Expr(expr);
        }
    }
    match (reader.str_field(obj, lit), obj.contains_key(dynamic)) {
        (Some(_), true) => {
            reader.problem(format!(
                "A Fail state cannot have both '{lit}' and '{dynamic}'"
            ));
            Src::Absent
        }
        (Some(s), false) => Src::Literal(s.to_string()),
        (None, true) => match reader
            .str_field(obj, dynamic)
            .map(|t| reader.path_or_call(t))
        {
            Some(Ok(PathOrCall::Path(path))) => Src::Dynamic(Template::Path {
                path,
                field: dynamic.into(),
            }),
            Some(Ok(PathOrCall::Call(call))) => Src::Dynamic(Template::Call {
                call,
                field: dynamic.into(),
            }),
            Some(Err(e)) => {
                reader.problem_at(dynamic, format!("The value for the field '{dynamic}' must be a valid JSONPath or intrinsic function call: {e}"));
                Src::Absent
            }
            None => Src::Absent,
        },
        (None, false) => Src::Absent,
    }
}

pub(crate) fn parse(reader: &mut DefinitionReader, obj: &Obj) -> Fail {
    Fail {
        error: src(reader, obj, "Error", "ErrorPath"),
        cause: src(reader, obj, "Cause", "CausePath"),
    }
}

impl Fail {
    /// The error this state ends with (or a `States.Runtime` error if a path is missing).
    pub fn run(&self, state_run: &StateRun<'_>, raw: &Value) -> Result<StatesError, StatesError> {
        let read = |s: &Src, field: &str| -> Result<Option<String>, StatesError> {
            let v = match s {
                Src::Absent => return Ok(None),
                Src::Literal(s) => return Ok(Some(s.clone())),
                // Through the payload-template code, so the messages are the same.
                Src::Dynamic(t) => state_run.template(t, raw)?,
                Src::Expr(_) => return Ok(None),
            };
            match v {
                Value::String(s) => Ok(Some(s)),
                other => Err(state_run.runtime(format!(
                    "The value of the field '{field}' must be a string, but was: {other}"
                ))),
            }
        };
        let error = read(&self.error, "ErrorPath")?;
        let cause = read(&self.cause, "CausePath")?;
        // A Fail state may name no error at all; AWS then reports none.
        Ok(StatesError {
            error: error.unwrap_or_default(),
            cause,
        })
    }

    /// The error of a JSONata Fail state: `Error` and `Cause` literal or expressions over
    /// `$states.input`, which must give strings. Guess at the wording for a non-string: AWS's
    /// was not found recorded; this is its wording for `Items` of the wrong type.
    pub fn run_jsonata(
        &self,
        state_run: &StateRun<'_>,
        raw: &Value,
    ) -> Result<StatesError, StatesError> {
        let read = |s: &Src, field: &str| -> Result<Option<String>, StatesError> {
            match s {
                Src::Literal(s) => Ok(Some(s.clone())),
                Src::Expr(expr) => {
                    match state_run.expr_value(expr, field, raw, Default::default())? {
                        Value::String(s) => Ok(Some(s)),
                        other => Err(state_run.query_error(
                            field,
                            cause::unexpected(expr.text(), field, "string", &other),
                        )),
                    }
                }
                Src::Absent | Src::Dynamic(_) => Ok(None),
            }
        };
        let error = read(&self.error, "Error")?;
        let cause = read(&self.cause, "Cause")?;
        Ok(StatesError {
            error: error.unwrap_or_default(),
            cause,
        })
    }
}
