//! `Parallel`: runs every branch at once on the same input; the output is the array of their
//! outputs, in branch order. The first branch to fail fails the state with its own error and
//! cause (as AWS does), and the other branches are stopped.

use crate::definition::{Body, Cx, Obj};
use crate::error::{EngineError, Interrupt};
use crate::history::EventType;
use crate::run::{run_body, Step, Thread};
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
];

#[derive(Debug)]
pub(crate) struct Parallel {
    branches: Vec<Arc<Body>>,
}

pub(crate) fn parse(cx: &mut Cx, obj: &Obj) -> Option<Parallel> {
    let Some(Value::Array(items)) = obj
        .get("Branches")
        .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
    else {
        cx.problem_at(
            "Branches",
            "Branches must be a non-empty array of state machines",
        );
        return None;
    };
    let branches: Vec<Option<Arc<Body>>> = cx.at("Branches", |cx| {
        items
            .iter()
            .enumerate()
            .map(|(i, b)| {
                cx.at(i.to_string(), |cx| {
                    let Some(b) = b.as_object() else {
                        cx.problem("A branch must be an object with StartAt and States");
                        return None;
                    };
                    cx.check_fields(b, &["StartAt", "States", "QueryLanguage"]);
                    cx.query_language(b);
                    cx.body(b).map(Arc::new)
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
        step: &mut Step<'_>,
        effective: &Value,
    ) -> Result<Value, Interrupt> {
        let input = match &step.state.flow.parameters {
            Some(t) => step.template(t, effective)?,
            None => effective.clone(),
        };
        let sh = step.sh;
        let started = sh.emit(step.th, EventType::ParallelStateStarted, || None);
        let mut set = JoinSet::new();
        for (k, body) in self.branches.iter().enumerate() {
            let (sh, body, input) = (sh.clone(), body.clone(), input.clone());
            set.spawn(async move {
                let mut th = Thread { last: started };
                let r = run_body(&sh, &body, input, &mut th).await;
                (k, r, th.last)
            });
        }
        let mut outputs = vec![Value::Null; self.branches.len()];
        let mut last = started;
        while let Some(joined) = set.join_next().await {
            let (k, r, l) = joined.map_err(|e| EngineError::Join(e.to_string()))?;
            last = last.max(l);
            match r {
                Ok(v) => outputs[k] = v,
                Err(e) => {
                    set.abort_all();
                    step.th.last = last;
                    return Err(e);
                }
            }
        }
        step.th.last = last;
        sh.emit(step.th, EventType::ParallelStateSucceeded, || None);
        Ok(Value::Array(outputs))
    }
}
