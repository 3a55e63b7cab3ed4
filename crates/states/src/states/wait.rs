//! `Wait`: waits for `Seconds`, until a `Timestamp`, or for what `SecondsPath` /
//! `TimestampPath` read from the input — on the injected clock.

use crate::definition::{DefinitionReader, Lang, Obj};
use crate::error::StatesError;
use crate::jsonata::{cause, Expr};
use crate::path::Path;
use crate::run::Extra;
use crate::run::StateRun;
use crate::states::choice::timestamp;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::time::Duration;

pub(crate) const FIELDS: &[&str] = &[
    "Next",
    "End",
    "Seconds",
    "Timestamp",
    "SecondsPath",
    "TimestampPath",
    "InputPath",
    "OutputPath",
    "Output",
    "Assign",
];

#[derive(Debug)]
pub(crate) enum Wait {
    Seconds(u64),
    Timestamp(DateTime<Utc>),
    SecondsPath(Path),
    TimestampPath(Path),
    /// JSONata: `Seconds` as an expression.
    SecondsExpr(Expr),
    /// JSONata: `Timestamp` as an expression.
    TimestampExpr(Expr),
}

pub(crate) fn parse(reader: &mut DefinitionReader, obj: &Obj) -> Option<Wait> {
    let present: Vec<&str> = ["Seconds", "Timestamp", "SecondsPath", "TimestampPath"]
        .into_iter()
        .filter(|k| obj.contains_key(*k))
        .collect();
    if present.len() != 1 {
        reader.problem(
            "A Wait state must have exactly one of Seconds, Timestamp, SecondsPath, TimestampPath",
        );
        return None;
    }
    if reader.lang == Some(Lang::Jsonata) {
        if let Some(expr) = reader.expression_field(obj, present[0]) {
            return Some(match present[0] {
                "Seconds" => Wait::SecondsExpr(expr),
                _ => Wait::TimestampExpr(expr),
            });
        }
    }
    match present[0] {
        "Seconds" => reader.uint_field(obj, "Seconds", 0).map(Wait::Seconds),
        "Timestamp" => match reader
            .str_field(obj, "Timestamp")
            .map(|s| (s, timestamp(s)))
        {
            Some((_, Some(t))) => Some(Wait::Timestamp(t.with_timezone(&Utc))),
            Some((s, None)) => {
                // AWS's wording (recorded by LocalStack against AWS), with the value.
                reader.problem_at(
                    "Timestamp",
                    format!("String does not match RFC3339 timestamp: '{s}'"),
                );
                None
            }
            None => None,
        },
        "SecondsPath" => reader
            .path_field(obj, "SecondsPath", true)
            .map(Wait::SecondsPath),
        _ => reader
            .path_field(obj, "TimestampPath", true)
            .map(Wait::TimestampPath),
    }
}

impl Wait {
    pub async fn run(&self, state_run: &StateRun<'_>, raw: &Value) -> Result<Value, StatesError> {
        let effective = state_run.input_path(raw)?;
        let now = state_run.shared.clock.now();
        let until = match self {
            Wait::Seconds(s) => {
                now + chrono::Duration::seconds(i64::try_from(*s).unwrap_or(i64::MAX / 1000))
            }
            Wait::Timestamp(t) => *t,
            Wait::SecondsPath(p) => {
                let v = state_run.scope(&effective).select(p).map_err(|_| {
                    state_run.runtime(format!(
                        "The SecondsPath parameter does not reference an input value: {}",
                        p.text()
                    ))
                })?;
                let secs = match &v {
                    Value::Number(n) => n.as_i64(),
                    _ => None,
                }
                .ok_or_else(|| {
                    state_run.runtime(format!(
                        "The SecondsPath parameter cannot be parsed as a long value: {} == {v}",
                        p.text()
                    ))
                })?;
                if secs < 0 {
                    return Err(state_run.runtime(format!(
                        "The SecondsPath parameter references a negative value: {} == {secs}",
                        p.text()
                    )));
                }
                now + chrono::Duration::seconds(secs.min(i64::MAX / 1000))
            }
            Wait::TimestampPath(p) => {
                let v = state_run.scope(&effective).select(p).map_err(|_| {
                    state_run.runtime(format!(
                        "The TimestampPath parameter does not reference an input value: {}",
                        p.text()
                    ))
                })?;
                let shown = v
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string());
                v.as_str().and_then(timestamp).map(|t| t.with_timezone(&Utc)).ok_or_else(|| {
                    state_run.runtime(format!(
                        "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {} == {shown}",
                        p.text()
                    ))
                })?
            }
            Wait::SecondsExpr(_) | Wait::TimestampExpr(_) => now,
        };
        // JSONPath `Assign` reads the effective input as `$`.
        state_run.assign(
            state_run.state.assign.as_ref(),
            &effective,
            raw,
            Extra::default(),
        )?;
        if let Ok(d) = (until - now).to_std() {
            if d > Duration::ZERO {
                state_run.shared.clock.sleep(d).await;
            }
        }
        state_run.output_path(effective.into_owned())
    }

    /// The wait of a JSONata Wait state. Guess at the causes for a wrong value: AWS's were not
    /// found recorded; these follow its wording for `Items` of the wrong type.
    pub async fn wait_jsonata(
        &self,
        state_run: &StateRun<'_>,
        raw: &Value,
    ) -> Result<(), StatesError> {
        let now = state_run.shared.clock.now();
        let until = match self {
            Wait::Seconds(s) => {
                now + chrono::Duration::seconds(i64::try_from(*s).unwrap_or(i64::MAX / 1000))
            }
            Wait::Timestamp(t) => *t,
            Wait::SecondsExpr(expr) => {
                let v = state_run.expr_value(expr, "Seconds", raw, Extra::default())?;
                match v.as_i64().filter(|s| *s >= 0) {
                    Some(secs) => now + chrono::Duration::seconds(secs.min(i64::MAX / 1000)),
                    None => {
                        return Err(state_run.query_error(
                            "Seconds",
                            cause::unexpected(expr.text(), "Seconds", "non-negative integer", &v),
                        ))
                    }
                }
            }
            Wait::TimestampExpr(expr) => {
                let v = state_run.expr_value(expr, "Timestamp", raw, Extra::default())?;
                match v.as_str().and_then(timestamp) {
                    Some(t) => t.with_timezone(&Utc),
                    None => {
                        // AWS's wording (recorded); its EvaluationFailed event then points back
                        // to the state's entered event.
                        let shown = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                        let e = state_run.query_error(
                            "Timestamp",
                            format!("The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: {shown}"),
                        );
                        state_run.failure_follows_entry();
                        return Err(e);
                    }
                }
            }
            // A JSONata state has no `…Path` fields (refused at load).
            Wait::SecondsPath(_) | Wait::TimestampPath(_) => now,
        };
        if let Ok(d) = (until - now).to_std() {
            if d > Duration::ZERO {
                state_run.shared.clock.sleep(d).await;
            }
        }
        Ok(())
    }
}
