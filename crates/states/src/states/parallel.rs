//! `Parallel`: runs every branch at once on the same input; the output is the array of their
//! outputs, in branch order. The first branch to fail fails the state with its own error and
//! cause (as AWS does), and the other branches are stopped.

use crate::definition::{Body, DefinitionReader, Obj};
use crate::error::{EngineError, Interrupt};
use crate::history::EventType;
use crate::run::{run_body_from, HistoryCursor, Part, StateRun};
use serde_json::Value;
use std::sync::Arc;
use tokio::task::JoinSet;

pub(crate) const FIELDS: &[&str] = &[
    "Branches",
    "Next",
    "End",
    "InputPath",
    "OutputPath",
    "Parameters",
    "ResultSelector",
    "ResultPath",
    "Retry",
    "Catch",
    "Arguments",
    "Output",
    "Assign",
];

#[derive(Debug)]
pub(crate) struct Parallel {
    pub branches: Vec<Arc<Body>>,
}

pub(crate) fn parse(reader: &mut DefinitionReader, obj: &Obj) -> Option<Parallel> {
    let Some(Value::Array(items)) = obj
        .get("Branches")
        .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
    else {
        reader.problem_at(
            "Branches",
            "Branches must be a non-empty array of state machines",
        );
        return None;
    };
    let branches: Vec<Option<Arc<Body>>> = reader.at("Branches", |reader| {
        items
            .iter()
            .enumerate()
            .map(|(i, b)| {
                reader.at(i.to_string(), |reader| {
                    let Some(b) = b.as_object() else {
                        reader.problem("A branch must be an object with StartAt and States");
                        return None;
                    };
                    reader.check_fields(b, &["StartAt", "States", "QueryLanguage"]);
                    reader.query_language(b);
                    reader.body(b).map(Arc::new)
                })
            })
            .collect()
    });
    Some(Parallel {
        branches: branches.into_iter().collect::<Option<_>>()?,
    })
}

impl Parallel {
    /// One attempt: `Parameters`, then every branch.
    pub async fn attempt(
        &self,
        state_run: &mut StateRun<'_>,
        effective: &Value,
    ) -> Result<Value, Interrupt> {
        let input = state_run.arguments(effective)?;
        // Each branch reads the variables of the state's scope and keeps its own.
        let vars = state_run.vars.nested();
        let shared = state_run.shared;
        // On redrive, only the branches that did not succeed run again.
        let mut parts = state_run.resume.take().unwrap_or_default().into_iter();
        let mut outputs = vec![Value::Null; self.branches.len()];
        let started = shared.emit(state_run.cursor, EventType::ParallelStateStarted, || None);
        let mut set = JoinSet::new();
        for (k, body) in self.branches.iter().enumerate() {
            let resume = match parts.next() {
                Some(Part::Done(output)) => {
                    outputs[k] = output;
                    continue;
                }
                Some(Part::Resume(resume)) => Some(resume),
                Some(Part::Fresh) | None => None,
            };
            let (shared, body, input, vars) =
                (shared.clone(), body.clone(), input.clone(), vars.clone());
            set.spawn(async move {
                let mut cursor = HistoryCursor {
                    last_event_id: started,
                };
                let r = run_body_from(&shared, &body, input, &mut cursor, vars, resume).await;
                (k, r, cursor.last_event_id)
            });
        }
        let mut last = started;
        while let Some(joined) = set.join_next().await {
            let (k, r, l) = joined.map_err(|e| EngineError::Join(e.to_string()))?;
            last = last.max(l);
            match r {
                Ok(v) => outputs[k] = v,
                Err(e) => {
                    set.abort_all();
                    state_run.cursor.last_event_id = last;
                    return Err(e);
                }
            }
        }
        state_run.cursor.last_event_id = last;
        shared.emit(state_run.cursor, EventType::ParallelStateSucceeded, || None);
        Ok(Value::Array(outputs))
    }
}
