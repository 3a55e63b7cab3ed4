//! `Map` (inline): runs its processor once per item of `ItemsPath`, at most `MaxConcurrency` at
//! a time (0 = no limit), each on its `ItemSelector` (or legacy `Parameters`) result; the output
//! is the array of the iterations' outputs, in item order.
//!
//! An iteration that fails fails the state with its own error and cause, unless
//! `ToleratedFailureCount` / `ToleratedFailurePercentage` allow it; beyond them the state fails
//! with `States.ExceedToleratedFailureThreshold`. `ProcessorConfig.Mode: DISTRIBUTED` is
//! accepted and run inline (no Map Run, no child executions).

use crate::definition::{Body, DefinitionReader, JTemplate, Lang, Obj, Template};
use crate::error::{names, EngineError, Interrupt, StatesError};
use crate::history::{
    EventDetails, EventType, MapIterationEventDetails, MapStateStartedEventDetails,
};
use crate::jsonata::{cause, Expr};
use crate::path::Path;
use crate::run::Extra;
use crate::run::{run_body_from, HistoryCursor, Part, StateRun};
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
    "Items",
    "Output",
    "Assign",
];

/// A number given literally or read from the input.
#[derive(Debug)]
pub(crate) enum Num<T> {
    Fixed(T),
    Path(Path),
    /// JSONata: a `{% %}` expression.
    Expr(Expr),
}

#[derive(Debug)]
pub(crate) struct Map {
    pub processor: Arc<Body>,
    pub items_path: Option<Path>,
    pub selector: Option<Template>,
    pub max_concurrency: Option<Num<u64>>,
    pub tolerated_count: Option<Num<u64>>,
    pub tolerated_percentage: Option<Num<f64>>,
    /// JSONata `Items` (default: the state input).
    pub items: Option<JTemplate>,
    /// JSONata `ItemSelector`.
    pub jsonata_selector: Option<JTemplate>,
}

fn num<T>(
    reader: &mut DefinitionReader,
    obj: &Obj,
    key: &str,
    read: impl FnOnce(&mut DefinitionReader, &Obj) -> Option<T>,
) -> Option<Num<T>> {
    let path_key = format!("{key}Path");
    match (obj.contains_key(key), obj.contains_key(&path_key)) {
        (true, true) => {
            reader.problem(format!(
                "A Map state cannot have both '{key}' and '{path_key}'"
            ));
            None
        }
        (true, false) if reader.lang == Some(Lang::Jsonata) => {
            match reader.expression_field(obj, key) {
                Some(expr) => Some(Num::Expr(expr)),
                None => read(reader, obj).map(Num::Fixed),
            }
        }
        (true, false) => read(reader, obj).map(Num::Fixed),
        (false, true) => reader.path_field(obj, &path_key, true).map(Num::Path),
        (false, false) => None,
    }
}

pub(crate) fn parse(reader: &mut DefinitionReader, obj: &Obj) -> Option<Map> {
    let processor_key = match (
        obj.contains_key("ItemProcessor"),
        obj.contains_key("Iterator"),
    ) {
        (true, true) => {
            reader.problem("A Map state cannot have both 'ItemProcessor' and 'Iterator'");
            return None;
        }
        (true, false) => "ItemProcessor",
        (false, true) => "Iterator",
        (false, false) => {
            reader.problem("A Map state must have 'ItemProcessor' (or the older 'Iterator')");
            return None;
        }
    };
    let selector_key = match (
        obj.contains_key("ItemSelector"),
        obj.contains_key("Parameters"),
    ) {
        (true, true) => {
            reader.problem("A Map state cannot have both 'ItemSelector' and 'Parameters'");
            None
        }
        (true, false) => Some("ItemSelector"),
        (false, true) => Some("Parameters"),
        (false, false) => None,
    };
    let jsonata = reader.lang == Some(Lang::Jsonata);
    let (selector, jsonata_selector) = match (jsonata, selector_key) {
        (true, Some(k)) => (None, reader.jsonata_template(obj, k)),
        (false, Some(k)) => (reader.template(obj, k), None),
        (_, None) => (None, None),
    };
    let items = if jsonata {
        reader.jsonata_template(obj, "Items")
    } else {
        None
    };
    let items_path = if obj.contains_key("ItemsPath") {
        reader.path_field(obj, "ItemsPath", true)
    } else {
        None
    };
    let max_concurrency = num(reader, obj, "MaxConcurrency", |reader, o| {
        reader.uint_field(o, "MaxConcurrency", 0)
    });
    let tolerated_count = num(reader, obj, "ToleratedFailureCount", |reader, o| {
        reader.uint_field(o, "ToleratedFailureCount", 0)
    });
    let tolerated_percentage = num(reader, obj, "ToleratedFailurePercentage", |reader, o| {
        let p = reader.num_field(o, "ToleratedFailurePercentage")?;
        if (0.0..=100.0).contains(&p) {
            Some(p)
        } else {
            reader.problem_at(
                "ToleratedFailurePercentage",
                "ToleratedFailurePercentage must be between 0 and 100",
            );
            None
        }
    });
    let processor = reader.at(processor_key, |reader| {
        let Some(p) = obj.get(processor_key).and_then(Value::as_object) else {
            reader.problem(format!(
                "{processor_key} must be an object with StartAt and States"
            ));
            return None;
        };
        reader.check_fields(
            p,
            &["StartAt", "States", "ProcessorConfig", "QueryLanguage"],
        );
        reader.query_language(p);
        if let Some(config) = p.get("ProcessorConfig") {
            reader.at("ProcessorConfig", |reader| match config.as_object() {
                Some(c) => {
                    reader.check_fields(c, &["Mode", "ExecutionType"]);
                    match reader.str_field(c, "Mode") {
                        None | Some("INLINE" | "DISTRIBUTED") => {}
                        Some(m) => reader.problem_at(
                            "Mode",
                            format!("Mode must be INLINE or DISTRIBUTED, not {m}"),
                        ),
                    }
                }
                None => reader.problem("ProcessorConfig must be an object"),
            });
        }
        reader.body(p).map(Arc::new)
    })?;
    Some(Map {
        processor,
        items_path,
        selector,
        max_concurrency,
        tolerated_count,
        tolerated_percentage,
        items,
        jsonata_selector,
    })
}

impl Map {
    pub(crate) fn read_u64(
        &self,
        state_run: &StateRun<'_>,
        n: &Option<Num<u64>>,
        key: &str,
        input: &Value,
    ) -> Result<Option<u64>, StatesError> {
        match n {
            None => Ok(None),
            Some(Num::Fixed(v)) => Ok(Some(*v)),
            // Guess at the cause: AWS's wording for a wrong value was not found recorded.
            Some(Num::Expr(expr)) => {
                let v = state_run.expr_value(expr, key, input, Extra::default())?;
                match v.as_u64() {
                    Some(n) => Ok(Some(n)),
                    None => Err(state_run.query_error(
                        key,
                        cause::unexpected(expr.text(), key, "non-negative integer", &v),
                    )),
                }
            }
            Some(Num::Path(p)) => {
                let v = state_run.select(p, input)?;
                // Observed on AWS: a string holding an integer is accepted (`"1"`).
                let n = v
                    .as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse::<i64>().ok()));
                match n {
                    Some(n) if n < 0 => {
                        Err(state_run.runtime(format!("{key} cannot be negative.")))
                    }
                    Some(n) => Ok(Some(n as u64)),
                    None => {
                        let shown = v
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string());
                        Err(state_run.runtime(format!(
                            "The {key}Path field refers to value \"{shown}\" which is not a valid integer: {}",
                            p.text()
                        )))
                    }
                }
            }
        }
    }

    pub(crate) fn read_percentage(
        &self,
        state_run: &StateRun<'_>,
        input: &Value,
    ) -> Result<Option<f64>, StatesError> {
        match &self.tolerated_percentage {
            None => Ok(None),
            Some(Num::Fixed(v)) => Ok(Some(*v)),
            Some(Num::Expr(expr)) => {
                let field = "ToleratedFailurePercentage";
                let v = state_run.expr_value(expr, field, input, Extra::default())?;
                match v.as_f64() {
                    Some(n) if (0.0..=100.0).contains(&n) => Ok(Some(n)),
                    _ => Err(state_run.query_error(
                        field,
                        cause::unexpected(expr.text(), field, "number between 0 and 100", &v),
                    )),
                }
            }
            Some(Num::Path(p)) => {
                let v = state_run.select(p, input)?;
                match v.as_f64() {
                    Some(n) if (0.0..=100.0).contains(&n) => Ok(Some(n)),
                    Some(_) => {
                        Err(state_run
                            .runtime("ToleratedFailurePercentage must be between 0 and 100."))
                    }
                    None => {
                        let shown = v
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string());
                        Err(state_run.runtime(format!(
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
        state_run: &mut StateRun<'_>,
        effective: &Value,
    ) -> Result<Value, Interrupt> {
        let items = match (&self.items_path, &self.items) {
            (_, Some(t)) if state_run.state.lang == Lang::Jsonata => {
                let items = state_run.jsonata(t, effective, Extra::default())?;
                match (items, t) {
                    (Value::Array(items), _) => Value::Array(items),
                    (other, JTemplate::Expr { expr, field }) => {
                        return Err(state_run
                            .query_error(
                                field,
                                cause::unexpected(expr.text(), field, "array", &other),
                            )
                            .into())
                    }
                    // Guess: a literal `Items` that is no array is refused like an input that
                    // is none.
                    (other, _) => other,
                }
            }
            (Some(p), _) => state_run.select(p, effective)?,
            (None, _) => effective.clone(),
        };
        let Value::Array(items) = items else {
            // Guess: AWS's JSONPath wording; this is the one it uses for JSONata.
            return Err(state_run
                .runtime(format!("Map state input must be an array but was: {items}"))
                .into());
        };
        let max_concurrency = self
            .read_u64(
                state_run,
                &self.max_concurrency,
                "MaxConcurrency",
                effective,
            )?
            .unwrap_or(0);
        let tolerated_count = self.read_u64(
            state_run,
            &self.tolerated_count,
            "ToleratedFailureCount",
            effective,
        )?;
        let tolerated_percentage = self.read_percentage(state_run, effective)?;
        let tolerant = tolerated_count.is_some() || tolerated_percentage.is_some();

        let total = items.len();
        let mut inputs = Vec::with_capacity(total);
        let items = match &self.jsonata_selector {
            Some(t) => {
                inputs = state_run.jsonata_items(t, effective, items)?;
                Vec::new()
            }
            None => items,
        };
        for (i, item) in items.into_iter().enumerate() {
            inputs.push(match (&self.selector, &self.jsonata_selector) {
                (_, Some(_)) => item,
                (Some(t), _) => {
                    let mut scope = state_run.scope(effective);
                    scope.map_item = Some((i, &item));
                    state_run.template_in(t, &scope)?
                }
                (None, None) => item,
            });
        }

        let shared = state_run.shared;
        let started = shared.emit(state_run.cursor, EventType::MapStateStarted, || {
            Some(EventDetails::MapStateStarted(MapStateStartedEventDetails {
                length: total as u64,
            }))
        });
        let limit = usize::try_from(max_concurrency).unwrap_or(usize::MAX);
        let semaphore = (limit > 0 && limit < total).then(|| Arc::new(Semaphore::new(limit)));
        let name: Arc<str> = state_run.state.name.clone();
        // Every iteration reads the variables of the state's scope and keeps its own.
        let vars = state_run.vars.nested();
        // Observed on AWS with `MaxConcurrency: 1`: an iteration's MapIterationStarted points
        // back to the last state event of the iteration before it (the first, to
        // MapStateStarted). Iterations running at once all point to MapStateStarted.
        let one_at_a_time = limit == 1;
        let chain = Arc::new(std::sync::Mutex::new(started));
        let mut set = JoinSet::new();
        // On redrive, only the iterations that did not succeed run again.
        let mut parts = state_run.resume.take().unwrap_or_default().into_iter();
        let mut outputs = vec![Value::Null; total];
        for (i, input) in inputs.into_iter().enumerate() {
            let resume = match parts.next() {
                Some(Part::Done(output)) => {
                    outputs[i] = output;
                    continue;
                }
                Some(Part::Resume(resume)) => Some(resume),
                Some(Part::Fresh) | None => None,
            };
            let (shared, body, name, semaphore, vars, chain) = (
                shared.clone(),
                self.processor.clone(),
                name.clone(),
                semaphore.clone(),
                vars.clone(),
                chain.clone(),
            );
            set.spawn(async move {
                let permit = match semaphore {
                    Some(s) => match s.acquire_owned().await {
                        Ok(p) => Some(p),
                        Err(e) => {
                            let e = EngineError::Internal(e.to_string()).into();
                            return (i, Err(e), started, started);
                        }
                    },
                    None => None,
                };
                let mut cursor = HistoryCursor {
                    last_event_id: chain.lock().map_or(started, |c| *c),
                };
                let details = |shared: &crate::run::Shared| {
                    shared.recording().then(|| MapIterationEventDetails {
                        name: name.to_string(),
                        index: i as u64,
                    })
                };
                let d = details(&shared);
                shared.emit(&mut cursor, EventType::MapIterationStarted, || {
                    d.map(EventDetails::MapIterationStarted)
                });
                let r = run_body_from(&shared, &body, input, &mut cursor, vars, resume).await;
                let before_close = cursor.last_event_id;
                if let (true, Ok(mut c)) = (one_at_a_time, chain.lock()) {
                    *c = cursor.last_event_id;
                }
                let d = details(&shared);
                if r.is_ok() {
                    shared.emit(&mut cursor, EventType::MapIterationSucceeded, || {
                        d.map(EventDetails::MapIterationSucceeded)
                    });
                } else {
                    shared.emit(&mut cursor, EventType::MapIterationFailed, || {
                        d.map(EventDetails::MapIterationFailed)
                    });
                }
                if r.is_err() && !tolerant {
                    // The failure fails the state: keep the slot, so that no further iteration
                    // starts before the state stops them all (observed on AWS with
                    // `MaxConcurrency: 1`: nothing runs after the failed iteration).
                    std::mem::forget(permit);
                } else {
                    drop(permit);
                }
                (i, r, cursor.last_event_id, before_close)
            });
        }

        let mut failures = 0usize;
        let mut last = started;
        while let Some(joined) = set.join_next().await {
            let (i, r, l, before_close) = joined.map_err(|e| EngineError::Join(e.to_string()))?;
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
            // Observed on AWS (`MaxConcurrency: 1`): MapStateFailed points back to the failed
            // iteration's last event before its MapIterationFailed.
            state_run.cursor.last_event_id = if one_at_a_time && !tolerant {
                before_close
            } else {
                last
            };
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
        state_run.cursor.last_event_id = last;
        shared.emit(state_run.cursor, EventType::MapStateSucceeded, || None);
        // Observed on AWS: MapStateExited points back to what MapStateSucceeded points to.
        state_run.cursor.last_event_id = last;
        Ok(Value::Array(outputs))
    }
}
