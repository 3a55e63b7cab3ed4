//! `Map` (inline): runs its processor once per item of `ItemsPath`, at most `MaxConcurrency` at
//! a time (0 = no limit), each on its `ItemSelector` (or legacy `Parameters`) result; the output
//! is the array of the iterations' outputs, in item order.
//!
//! An iteration that fails fails the state with its own error and cause, unless
//! `ToleratedFailureCount` / `ToleratedFailurePercentage` allow it; beyond them the state fails
//! with `States.ExceedToleratedFailureThreshold`. `ProcessorConfig.Mode: DISTRIBUTED` is
//! accepted and run inline (no Map Run, no child executions).

use crate::definition::{Body, Cx, Obj, Template};
use crate::error::{names, EngineError, Interrupt, StatesError};
use crate::history::{
    EventDetails, EventType, MapIterationEventDetails, MapStateStartedEventDetails,
};
use crate::path::Path;
use crate::run::{run_body, Step, Thread};
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub(crate) const FIELDS: &[&str] = &[
    "Next",
    "End",
    "InputPath",
    "OutputPath",
    "ResultSelector",
    "ResultPath",
    "Retry",
    "Catch",
    "ItemsPath",
    "ItemProcessor",
    "Iterator",
    "ItemSelector",
    "Parameters",
    "MaxConcurrency",
    "MaxConcurrencyPath",
    "ToleratedFailureCount",
    "ToleratedFailureCountPath",
    "ToleratedFailurePercentage",
    "ToleratedFailurePercentagePath",
    "Label",
];

/// A number given literally or read from the input.
#[derive(Debug)]
enum Num<T> {
    Fixed(T),
    Path(Path),
}

#[derive(Debug)]
pub(crate) struct Map {
    processor: Arc<Body>,
    items_path: Option<Path>,
    selector: Option<Template>,
    max_concurrency: Option<Num<u64>>,
    tolerated_count: Option<Num<u64>>,
    tolerated_percentage: Option<Num<f64>>,
}

fn num<T>(
    cx: &mut Cx,
    obj: &Obj,
    key: &str,
    read: impl FnOnce(&mut Cx, &Obj) -> Option<T>,
) -> Option<Num<T>> {
    let path_key = format!("{key}Path");
    match (obj.contains_key(key), obj.contains_key(&path_key)) {
        (true, true) => {
            cx.problem(format!(
                "A Map state cannot have both '{key}' and '{path_key}'"
            ));
            None
        }
        (true, false) => read(cx, obj).map(Num::Fixed),
        (false, true) => cx.path_field(obj, &path_key, true).map(Num::Path),
        (false, false) => None,
    }
}

pub(crate) fn parse(cx: &mut Cx, obj: &Obj) -> Option<Map> {
    let processor_key = match (
        obj.contains_key("ItemProcessor"),
        obj.contains_key("Iterator"),
    ) {
        (true, true) => {
            cx.problem("A Map state cannot have both 'ItemProcessor' and 'Iterator'");
            return None;
        }
        (true, false) => "ItemProcessor",
        (false, true) => "Iterator",
        (false, false) => {
            cx.problem("A Map state must have 'ItemProcessor' (or the older 'Iterator')");
            return None;
        }
    };
    let selector_key = match (
        obj.contains_key("ItemSelector"),
        obj.contains_key("Parameters"),
    ) {
        (true, true) => {
            cx.problem("A Map state cannot have both 'ItemSelector' and 'Parameters'");
            None
        }
        (true, false) => Some("ItemSelector"),
        (false, true) => Some("Parameters"),
        (false, false) => None,
    };
    let selector = selector_key.and_then(|k| cx.template(obj, k));
    let items_path = if obj.contains_key("ItemsPath") {
        cx.path_field(obj, "ItemsPath", true)
    } else {
        None
    };
    let max_concurrency = num(cx, obj, "MaxConcurrency", |cx, o| {
        cx.uint_field(o, "MaxConcurrency", 0)
    });
    let tolerated_count = num(cx, obj, "ToleratedFailureCount", |cx, o| {
        cx.uint_field(o, "ToleratedFailureCount", 0)
    });
    let tolerated_percentage = num(cx, obj, "ToleratedFailurePercentage", |cx, o| {
        let p = cx.num_field(o, "ToleratedFailurePercentage")?;
        if (0.0..=100.0).contains(&p) {
            Some(p)
        } else {
            cx.problem_at(
                "ToleratedFailurePercentage",
                "ToleratedFailurePercentage must be between 0 and 100",
            );
            None
        }
    });
    let processor = cx.at(processor_key, |cx| {
        let Some(p) = obj.get(processor_key).and_then(Value::as_object) else {
            cx.problem(format!(
                "{processor_key} must be an object with StartAt and States"
            ));
            return None;
        };
        cx.check_fields(
            p,
            &["StartAt", "States", "ProcessorConfig", "QueryLanguage"],
        );
        cx.query_language(p);
        if let Some(config) = p.get("ProcessorConfig") {
            cx.at("ProcessorConfig", |cx| match config.as_object() {
                Some(c) => {
                    cx.check_fields(c, &["Mode", "ExecutionType"]);
                    match cx.str_field(c, "Mode") {
                        None | Some("INLINE" | "DISTRIBUTED") => {}
                        Some(m) => cx.problem_at(
                            "Mode",
                            format!("Mode must be INLINE or DISTRIBUTED, not {m}"),
                        ),
                    }
                }
                None => cx.problem("ProcessorConfig must be an object"),
            });
        }
        cx.body(p).map(Arc::new)
    })?;
    Some(Map {
        processor,
        items_path,
        selector,
        max_concurrency,
        tolerated_count,
        tolerated_percentage,
    })
}

impl Map {
    fn read_u64(
        &self,
        step: &Step<'_>,
        n: &Option<Num<u64>>,
        key: &str,
        input: &Value,
    ) -> Result<Option<u64>, StatesError> {
        match n {
            None => Ok(None),
            Some(Num::Fixed(v)) => Ok(Some(*v)),
            Some(Num::Path(p)) => {
                let v = step.select(p, input)?;
                match v.as_i64() {
                    Some(n) if n < 0 => Err(step.runtime(format!("{key} cannot be negative."))),
                    Some(n) => Ok(Some(n as u64)),
                    None => {
                        let shown = v
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string());
                        Err(step.runtime(format!(
                            "The {key}Path field refers to value \"{shown}\" which is not a valid integer: {}",
                            p.text()
                        )))
                    }
                }
            }
        }
    }

    fn read_percentage(&self, step: &Step<'_>, input: &Value) -> Result<Option<f64>, StatesError> {
        match &self.tolerated_percentage {
            None => Ok(None),
            Some(Num::Fixed(v)) => Ok(Some(*v)),
            Some(Num::Path(p)) => {
                let v = step.select(p, input)?;
                match v.as_f64() {
                    Some(n) if (0.0..=100.0).contains(&n) => Ok(Some(n)),
                    Some(_) => {
                        Err(step.runtime("ToleratedFailurePercentage must be between 0 and 100."))
                    }
                    None => {
                        let shown = v
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string());
                        Err(step.runtime(format!(
                            "The ToleratedFailurePercentagePath field refers to value \"{shown}\" which is not a valid float: {}",
                            p.text()
                        )))
                    }
                }
            }
        }
    }

    /// One attempt: the items, their selectors, then every iteration.
    pub async fn attempt(
        &self,
        step: &mut Step<'_>,
        effective: &Value,
    ) -> Result<Value, Interrupt> {
        let items = match &self.items_path {
            Some(p) => step.select(p, effective)?,
            None => effective.clone(),
        };
        let Value::Array(items) = items else {
            // Guess: AWS's JSONPath wording; this is the one it uses for JSONata.
            return Err(step
                .runtime(format!("Map state input must be an array but was: {items}"))
                .into());
        };
        let max_concurrency = self
            .read_u64(step, &self.max_concurrency, "MaxConcurrency", effective)?
            .unwrap_or(0);
        let tolerated_count = self.read_u64(
            step,
            &self.tolerated_count,
            "ToleratedFailureCount",
            effective,
        )?;
        let tolerated_percentage = self.read_percentage(step, effective)?;
        let tolerant = tolerated_count.is_some() || tolerated_percentage.is_some();

        let total = items.len();
        let mut inputs = Vec::with_capacity(total);
        for (i, item) in items.into_iter().enumerate() {
            inputs.push(match &self.selector {
                Some(t) => {
                    let mut scope = step.scope(effective);
                    scope.map_item = Some((i, &item));
                    step.template_in(t, &scope)?
                }
                None => item,
            });
        }

        let sh = step.sh;
        let started = sh.emit(step.th, EventType::MapStateStarted, || {
            Some(EventDetails::MapStateStarted(MapStateStartedEventDetails {
                length: total as u64,
            }))
        });
        let limit = usize::try_from(max_concurrency).unwrap_or(usize::MAX);
        let semaphore = (limit > 0 && limit < total).then(|| Arc::new(Semaphore::new(limit)));
        let name: Arc<str> = step.state.name.clone();
        let mut set = JoinSet::new();
        for (i, input) in inputs.into_iter().enumerate() {
            let (sh, body, name, semaphore) = (
                sh.clone(),
                self.processor.clone(),
                name.clone(),
                semaphore.clone(),
            );
            set.spawn(async move {
                let _permit = match semaphore {
                    Some(s) => match s.acquire_owned().await {
                        Ok(p) => Some(p),
                        Err(e) => {
                            return (i, Err(EngineError::Internal(e.to_string()).into()), started)
                        }
                    },
                    None => None,
                };
                let mut th = Thread { last: started };
                let details = |sh: &crate::run::Shared| {
                    sh.recording().then(|| MapIterationEventDetails {
                        name: name.to_string(),
                        index: i as u64,
                    })
                };
                let d = details(&sh);
                sh.emit(&mut th, EventType::MapIterationStarted, || {
                    d.map(EventDetails::MapIterationStarted)
                });
                let r = run_body(&sh, &body, input, &mut th).await;
                let d = details(&sh);
                if r.is_ok() {
                    sh.emit(&mut th, EventType::MapIterationSucceeded, || {
                        d.map(EventDetails::MapIterationSucceeded)
                    });
                } else {
                    sh.emit(&mut th, EventType::MapIterationFailed, || {
                        d.map(EventDetails::MapIterationFailed)
                    });
                }
                (i, r, th.last)
            });
        }

        let mut outputs = vec![Value::Null; total];
        let mut failures = 0usize;
        let mut last = started;
        while let Some(joined) = set.join_next().await {
            let (i, r, l) = joined.map_err(|e| EngineError::Join(e.to_string()))?;
            last = last.max(l);
            let e = match r {
                Ok(v) => {
                    outputs[i] = v;
                    continue;
                }
                Err(Interrupt::States(e)) => e,
                Err(engine) => return Err(engine),
            };
            failures += 1;
            let exceeded = !tolerant
                || tolerated_count.is_some_and(|c| failures as u64 > c)
                || tolerated_percentage.is_some_and(|p| failures as f64 * 100.0 / total as f64 > p);
            if !exceeded && e.error != names::RUNTIME {
                // Guess: a tolerated failure leaves its error object in the output array.
                outputs[i] = e.to_output();
                continue;
            }
            set.abort_all();
            step.th.last = last;
            let e = if tolerant && e.error != names::RUNTIME {
                StatesError::new(
                    names::EXCEED_TOLERATED_FAILURE_THRESHOLD,
                    "The specified tolerated failure threshold was exceeded",
                )
            } else {
                e
            };
            return Err(e.into());
        }
        step.th.last = last;
        sh.emit(step.th, EventType::MapStateSucceeded, || None);
        Ok(Value::Array(outputs))
    }
}
