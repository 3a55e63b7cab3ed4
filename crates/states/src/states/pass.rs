//! `Pass`: passes its input on, or a fixed `Result`, or its `Parameters`.

use crate::definition::{DefinitionReader, Obj};
use crate::error::StatesError;
use crate::run::StateRun;
use serde_json::Value;

pub(crate) const FIELDS: &[&str] = &[
    "Next",
    "End",
    "InputPath",
    "OutputPath",
    "Parameters",
    "ResultPath",
    "Result",
    "Output",
    "Assign",
];

#[derive(Debug)]
pub(crate) struct Pass {
    pub result: Option<Value>,
}

pub(crate) fn parse(_: &mut DefinitionReader, obj: &Obj) -> Pass {
    Pass {
        result: obj.get("Result").cloned(),
    }
}

impl Pass {
    pub fn run(&self, state_run: &StateRun<'_>, raw: &Value) -> Result<Value, StatesError> {
        let effective = state_run.input_path(raw)?;
        let result = match (&self.result, &state_run.state.flow.parameters) {
            (Some(r), _) => r.clone(),
            (None, Some(t)) => state_run.template(t, &effective)?,
            (None, None) => effective.into_owned(),
        };
        state_run.finish(raw, result)
    }
}
