//! `Pass`: passes its input on, or a fixed `Result`, or its `Parameters`.

use crate::definition::{Cx, Obj};
use crate::error::StatesError;
use crate::run::Step;
use serde_json::Value;

pub(crate) const FIELDS: &[&str] = &[
    "Next",
    "End",
    "InputPath",
    "OutputPath",
    "Parameters",
    "ResultPath",
    "Result",
];

#[derive(Debug)]
pub(crate) struct Pass {
    result: Option<Value>,
}

pub(crate) fn parse(_: &mut Cx, obj: &Obj) -> Pass {
    Pass {
        result: obj.get("Result").cloned(),
    }
}

impl Pass {
    pub fn run(&self, step: &Step<'_>, raw: &Value) -> Result<Value, StatesError> {
        let effective = step.input_path(raw)?;
        let result = match (&self.result, &step.state.flow.parameters) {
            (Some(r), _) => r.clone(),
            (None, Some(t)) => step.template(t, &effective)?,
            (None, None) => effective.into_owned(),
        };
        step.finish(raw, result)
    }
}
