//! Running: the loop over states, the data flow every state shares (`InputPath`, payload
//! templates, `ResultSelector`, `ResultPath`, `OutputPath`, the 256 KiB limit), `Retry` and
//! `Catch`, and the execution around it all.

use crate::clock::Clock;
use crate::context::{ExecutionInfo, Scope, Vars};
use crate::definition::{
    Assign, Body, IoPath, JTemplate, Lang, ResultPath, State, StateMachine, Template,
};
use crate::error::{names, EngineError, Interrupt, StatesError};
use crate::history::{
    DataDetails, EventDetails, EventSink, EventType, ExecutionStartedEventDetails, FailureDetails,
    OutputDetails, StateEnteredEventDetails, StateExitedEventDetails,
};
use crate::intrinsics::EvalError;
use crate::invoke::TaskInvoker;
use crate::jsonata::{Converted, StatesValue};
use crate::path::Path;
use crate::states::Kind;
use crate::BoxFuture;
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::Rng as _;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Step Functions' limit on every state's input and output and every task result: 256 KiB.
pub(crate) const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// What every state of one execution shares.
pub(crate) struct Shared {
    pub invoker: Arc<dyn TaskInvoker>,
    pub clock: Arc<dyn Clock>,
    pub sink: Option<Arc<dyn EventSink>>,
    pub rng: Mutex<StdRng>,
    pub exec: ExecutionInfo,
    pub region: String,
    /// Set only by `test_state`: records each data-flow stage and stops before a retry.
    pub inspector: Option<Arc<crate::test_state::Inspector>>,
    ids: AtomicU64,
}

/// Where a branch of the execution is in the history: the id of its last event, which the
/// next event it records points back to (`previousEventId`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct HistoryCursor {
    pub last_event_id: u64,
}

impl Shared {
    pub fn new(
        invoker: Arc<dyn TaskInvoker>,
        clock: Arc<dyn Clock>,
        sink: Option<Arc<dyn EventSink>>,
        rng: StdRng,
        exec: ExecutionInfo,
        region: String,
    ) -> Self {
        Shared {
            invoker,
            clock,
            sink,
            rng: Mutex::new(rng),
            exec,
            region,
            inspector: None,
            ids: AtomicU64::new(0),
        }
    }

    /// Numbers the next event after `last`: a redriven execution goes on from its old events.
    pub fn continue_after(&self, last: u64) {
        self.ids.store(last, Ordering::Relaxed);
    }

    /// True when a history is being recorded (event details are only built then).
    pub fn recording(&self) -> bool {
        self.sink.is_some()
    }

    /// Numbers an event, records it if a history is kept, and moves the cursor on.
    pub fn emit(
        &self,
        cursor: &mut HistoryCursor,
        kind: EventType,
        details: impl FnOnce() -> Option<EventDetails>,
    ) -> u64 {
        let id = self.ids.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(sink) = &self.sink {
            sink.record(crate::history::HistoryEvent {
                timestamp: self.clock.now(),
                kind,
                id,
                previous_event_id: cursor.last_event_id,
                details: details(),
            });
        }
        cursor.last_event_id = id;
        id
    }

    /// The delay before a retry, with jitter drawn from the execution's generator.
    fn jitter(&self, max: f64) -> f64 {
        match self.rng.lock() {
            Ok(mut rng) => rng.random_range(0.0..=max),
            Err(_) => max,
        }
    }
}

/// Where a redriven body picks up: the state that did not finish, the input it was entered
/// with, what the body had assigned before it, and for a Parallel or Map what became of each
/// branch or iteration (none: run them all).
#[derive(Debug, Clone)]
pub(crate) struct Resume {
    pub state: usize,
    pub input: Value,
    pub vars: Map<String, Value>,
    pub parts: Option<Vec<Part>>,
}

/// A Parallel branch or Map iteration on redrive.
#[derive(Debug, Clone)]
pub(crate) enum Part {
    /// It succeeded before: its output is kept and it is not run again.
    Done(Value),
    /// It stopped in a state: it goes on from there.
    Resume(Resume),
    /// It never started: it runs from its start.
    Fresh,
}

/// Runs the states of `body` from its start until one ends it, with `vars` as the variables
/// it starts with (its own assignments stay in it); on redrive, from where `resume` says the
/// body stopped.
pub(crate) fn run_body_from<'a>(
    shared: &'a Arc<Shared>,
    body: &'a Body,
    input: Value,
    cursor: &'a mut HistoryCursor,
    vars: Vars,
    resume: Option<Resume>,
) -> BoxFuture<'a, Result<Value, Interrupt>> {
    Box::pin(async move {
        let mut idx = body.start;
        let mut data = input;
        let mut vars = vars;
        let mut parts = None;
        if let Some(resume) = resume {
            idx = resume.state;
            data = resume.input;
            vars.assign(resume.vars);
            parts = resume.parts;
        }
        loop {
            let state = body.states.get(idx).ok_or_else(|| {
                EngineError::Internal(format!("transition to state #{idx}, which does not exist"))
            })?;
            let (next, out, assigned) =
                run_state_resumed(shared, state, data, cursor, &vars, parts.take()).await?;
            // Only now: a state's Assign and Output both saw the values from before it.
            if let Some(assigned) = assigned {
                vars.assign(assigned);
            }
            match next {
                Some(n) => {
                    idx = n;
                    data = out;
                }
                None => return Ok(out),
            }
        }
    })
}

/// What one state did: its next state, its output, and the variables it assigned.
type StateOutcome = (Option<usize>, Value, Option<Map<String, Value>>);

/// Runs one state seeing `vars`.
pub(crate) async fn run_state_with(
    shared: &Arc<Shared>,
    state: &State,
    raw: Value,
    cursor: &mut HistoryCursor,
    vars: &Vars,
) -> Result<StateOutcome, Interrupt> {
    run_state_resumed(shared, state, raw, cursor, vars, None).await
}

/// [`run_state_with`]; on redrive, `parts` says which branches or iterations of a Parallel or
/// Map already succeeded (its first attempt runs only the others).
async fn run_state_resumed(
    shared: &Arc<Shared>,
    state: &State,
    raw: Value,
    cursor: &mut HistoryCursor,
    vars: &Vars,
    parts: Option<Vec<Part>>,
) -> Result<StateOutcome, Interrupt> {
    let (entered, exited) = state.kind.events();
    let entered_previous = cursor.last_event_id;
    let entered_id = shared.emit(cursor, entered, || {
        Some(EventDetails::StateEntered(StateEnteredEventDetails {
            name: state.name.to_string(),
            input: raw.to_string(),
            input_details: DataDetails::default(),
        }))
    });
    let mut state_run = StateRun {
        shared,
        state,
        entered_id,
        entered_time: shared.clock.now(),
        retry_count: 0,
        cursor,
        vars,
        assigned: Mutex::new(None),
        failed_field: Mutex::new(None),
        entered_previous,
        failure_after_entry: std::sync::atomic::AtomicBool::new(false),
        resume: parts,
    };
    let outcome = match state_run.check_limit(&raw, "has an input") {
        Ok(()) => state_run.execute(&raw).await,
        Err(e) => Err(e.into()),
    };
    let outcome = match outcome {
        Err(Interrupt::States(e)) => {
            state_run.evaluation_failed(&e);
            Err(Interrupt::States(e))
        }
        other => other,
    };
    let (next, out) = match outcome {
        Ok(done) => done,
        Err(Interrupt::States(e)) => {
            let caught = state_run.catch(&raw, e);
            if let Err(Interrupt::States(e)) = &caught {
                state_run.evaluation_failed(e);
            }
            caught?
        }
        Err(engine) => return Err(engine),
    };
    let assigned = state_run.take_assigned();
    if let Some(exited) = exited {
        shared.emit(state_run.cursor, exited, || {
            Some(EventDetails::StateExited(StateExitedEventDetails {
                name: state.name.to_string(),
                output: out.to_string(),
                output_details: DataDetails::default(),
                assigned_variables: assigned
                    .as_ref()
                    .map(|a| a.iter().map(|(k, v)| (k.clone(), v.to_string())).collect()),
                assigned_variables_details: assigned.as_ref().map(|_| DataDetails::default()),
            }))
        });
    }
    Ok((next, out, assigned))
}

/// What `$states` holds in one evaluation besides `input` and `context`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Extra<'v> {
    /// `$states.result`: a Task's, Parallel's or Map's result, in its `Output` and `Assign`.
    pub result: Option<&'v Value>,
    /// `$states.errorOutput`: in a catcher's `Output` and `Assign`.
    pub error_output: Option<&'v Value>,
}

/// Step Functions' limit on one variable's value and on all the values of one `Assign`.
const MAX_ASSIGN_BYTES: usize = 256 * 1024;

/// Step Functions' limit on all the variables of an execution.
const MAX_VARIABLES_BYTES: usize = 10 * 1024 * 1024;

/// Whether any expression in `t` may read `$states.context`.
fn uses_context(t: &JTemplate) -> bool {
    match t {
        JTemplate::Const(_) => false,
        JTemplate::Expr { expr, .. } => expr.uses_context,
        JTemplate::Object(fields) => fields.iter().any(|(_, t)| uses_context(t)),
        JTemplate::Array(items) => items.iter().any(uses_context),
    }
}

/// One state being run, from its entry to its exit (all its attempts and retries): what its
/// kind-specific code needs from the engine.
pub(crate) struct StateRun<'a> {
    pub shared: &'a Arc<Shared>,
    pub state: &'a State,
    pub entered_id: u64,
    pub entered_time: DateTime<Utc>,
    pub retry_count: u32,
    pub cursor: &'a mut HistoryCursor,
    /// The variables as they were when the state was entered.
    pub vars: &'a Vars,
    /// What the state's (or its catcher's) `Assign` computed, stored once the state is over.
    pub assigned: Mutex<Option<Map<String, Value>>>,
    /// The field whose JSONata expression failed, for the `EvaluationFailed` event.
    pub failed_field: Mutex<Option<String>>,
    /// What the state's entered event points back to (so does `EvaluationFailed`, mostly).
    pub entered_previous: u64,
    /// `EvaluationFailed` points back to the entered event itself (a Wait's `Timestamp`).
    pub failure_after_entry: std::sync::atomic::AtomicBool,
    /// On redrive, what became of each branch or iteration before; taken by the first attempt
    /// (a retry within the redrive runs them all, as any retry does).
    pub resume: Option<Vec<Part>>,
}

impl<'a> StateRun<'a> {
    /// A scope over `input` for paths and intrinsics.
    pub fn scope<'s>(&'s self, input: &'s Value) -> Scope<'s> {
        Scope::new(
            input,
            &self.shared.exec,
            &self.state.name,
            self.entered_time,
            self.retry_count,
            &self.shared.rng,
        )
        .with_vars(self.vars)
    }

    // ----- JSONata and variables -----

    /// `$states` for an evaluation over `input`; the context only when `context` says so.
    fn states_value(&self, input: &Value, extra: Extra<'_>, context: bool) -> StatesValue {
        let context = context.then(|| Converted::new(self.scope(input).context()));
        StatesValue::new(
            &Converted::new(input),
            context.as_ref(),
            extra.result,
            extra.error_output,
        )
    }

    /// A Map's JSONata `ItemSelector` for every item: `$states.input` and the context are
    /// converted once for all the items, each then adding its own `Map.Item`.
    pub fn jsonata_items(
        &self,
        t: &JTemplate,
        input: &Value,
        items: Vec<Value>,
    ) -> Result<Vec<Value>, StatesError> {
        if let JTemplate::Const(v) = t {
            return Ok(vec![v.clone(); items.len()]);
        }
        let converted = Converted::new(input);
        let context = uses_context(t).then(|| Converted::new(self.scope(input).context()));
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let item_context = context
                    .as_ref()
                    .map(|c| crate::jsonata::with_map_item(c, i, item));
                let states = StatesValue::new(&converted, item_context.as_ref(), None, None);
                self.eval_jtemplate(t, &states)
            })
            .collect()
    }

    /// A `States.QueryEvaluationError` raised by `field`.
    pub fn query_error(&self, field: &str, message: String) -> StatesError {
        if let Ok(mut f) = self.failed_field.lock() {
            *f = Some(field.to_string());
        }
        StatesError::new(names::QUERY_EVALUATION_ERROR, self.cause(message))
    }

    /// Records AWS's `EvaluationFailed` event when `e` came from a JSONata expression of this
    /// state (once). Observed on AWS: it points back to what the state's entered event points
    /// back to.
    fn evaluation_failed(&mut self, e: &StatesError) {
        let field = self.failed_field.lock().ok().and_then(|mut f| f.take());
        let Some(field) = field.filter(|_| e.error == names::QUERY_EVALUATION_ERROR) else {
            return;
        };
        let after_entry = self.failure_after_entry.load(Ordering::Relaxed);
        let mut cursor = HistoryCursor {
            last_event_id: if after_entry {
                self.entered_id
            } else {
                self.entered_previous
            },
        };
        let (state, error) = (self.state.name.to_string(), e.clone());
        let id = self
            .shared
            .emit(&mut cursor, EventType::EvaluationFailed, || {
                Some(EventDetails::EvaluationFailed(
                    crate::history::EvaluationFailedEventDetails {
                        error: error.error,
                        cause: error.cause,
                        location: field,
                        state,
                    },
                ))
            });
        self.cursor.last_event_id = id;
    }

    /// Observed on AWS for some fields: their `EvaluationFailed` event points back to the
    /// state's entered event rather than to what that points to.
    pub fn failure_follows_entry(&self) {
        self.failure_after_entry.store(true, Ordering::Relaxed);
    }

    /// One expression's value (`None`: undefined), failures worded for `field`.
    pub fn eval_expr(
        &self,
        expr: &crate::jsonata::Expr,
        field: &str,
        states: &StatesValue,
    ) -> Result<Option<Value>, StatesError> {
        let seed = match self.shared.rng.lock() {
            Ok(mut rng) => rng.random::<u64>(),
            Err(_) => 0,
        };
        expr.eval(states, |n| self.vars.get(n), seed).map_err(|e| {
            self.query_error(field, crate::jsonata::cause::failed(expr.text(), field, &e))
        })
    }

    /// One expression field that must have a value, over `input`.
    pub fn expr_value(
        &self,
        expr: &crate::jsonata::Expr,
        field: &str,
        input: &Value,
        extra: Extra<'_>,
    ) -> Result<Value, StatesError> {
        let states = self.states_value(input, extra, expr.uses_context);
        self.eval_expr(expr, field, &states)?.ok_or_else(|| {
            self.query_error(field, crate::jsonata::cause::undefined(expr.text(), field))
        })
    }

    /// A JSONata template evaluated over `input`: every expression must have a value.
    pub fn jsonata(
        &self,
        t: &JTemplate,
        input: &Value,
        extra: Extra<'_>,
    ) -> Result<Value, StatesError> {
        if let JTemplate::Const(v) = t {
            return Ok(v.clone());
        }
        let states = self.states_value(input, extra, uses_context(t));
        self.eval_jtemplate(t, &states)
    }

    fn eval_jtemplate(&self, t: &JTemplate, states: &StatesValue) -> Result<Value, StatesError> {
        Ok(match t {
            JTemplate::Const(v) => v.clone(),
            JTemplate::Expr { expr, field } => {
                self.eval_expr(expr, field, states)?.ok_or_else(|| {
                    self.query_error(field, crate::jsonata::cause::undefined(expr.text(), field))
                })?
            }
            JTemplate::Object(fields) => {
                let mut map = Map::with_capacity(fields.len());
                for (k, t) in fields {
                    map.insert(k.clone(), self.eval_jtemplate(t, states)?);
                }
                Value::Object(map)
            }
            JTemplate::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|t| self.eval_jtemplate(t, states))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    /// The arguments of a Task or Parallel: JSONPath `Parameters` over the effective input, or
    /// JSONata `Arguments` over the raw input; the input itself without either.
    pub fn arguments(&self, effective: &Value) -> Result<Value, StatesError> {
        let state = self.state;
        match state.lang {
            Lang::JsonPath => match &state.flow.parameters {
                Some(t) => self.template(t, effective),
                None => Ok(effective.clone()),
            },
            Lang::Jsonata => {
                let args = match &state.arguments {
                    Some(t) => self.jsonata(t, effective, Extra::default())?,
                    None => effective.clone(),
                };
                self.inspect(crate::test_state::Stage::AfterArguments, &args);
                Ok(args)
            }
        }
    }

    /// Evaluates `assign` and keeps what it computed until the state is over: a JSONPath one
    /// over `path_input` (what `$` is: the state's result), a JSONata one with `$states` over
    /// `input` and `extra`.
    pub fn assign(
        &self,
        assign: Option<&Assign>,
        path_input: &Value,
        input: &Value,
        extra: Extra<'_>,
    ) -> Result<(), StatesError> {
        let Some(assign) = assign else {
            return Ok(());
        };
        let value = match assign {
            Assign::Path(t) => self.template(t, path_input)?,
            Assign::Jsonata(t) => self.jsonata(t, input, extra)?,
        };
        let Value::Object(assigned) = value else {
            return Err(self.runtime("The Assign field did not give a JSON object"));
        };
        self.check_assigned(&assigned)?;
        if self.shared.inspector.is_some() {
            let mut after = self.vars.clone();
            after.assign(assigned.clone());
            self.inspect(crate::test_state::Stage::Variables, &after.all());
        }
        if let Ok(mut a) = self.assigned.lock() {
            *a = Some(assigned);
        }
        Ok(())
    }

    /// Step Functions' limits on variables. Guess at the error name and causes: AWS documents
    /// the limits (256 KiB per variable and per `Assign`, 10 MiB per execution) but no
    /// recorded failure was found; `States.DataLimitExceeded` is its name for payload limits.
    fn check_assigned(&self, assigned: &Map<String, Value>) -> Result<(), StatesError> {
        let too_big = |what: String| {
            StatesError::new(
                names::DATA_LIMIT_EXCEEDED,
                format!(
                    "The state '{}' {what} with a size exceeding the maximum number of bytes service limit.",
                    self.state.name
                ),
            )
        };
        let mut total = 0;
        for (name, value) in assigned {
            let len = json_len(value);
            if len > MAX_ASSIGN_BYTES {
                return Err(too_big(format!("assigned the variable '{name}' a value")));
            }
            total += len;
        }
        if total > MAX_ASSIGN_BYTES {
            return Err(too_big("assigned variables".into()));
        }
        if self.vars.total_bytes_after(assigned) > MAX_VARIABLES_BYTES {
            return Err(too_big("left the execution's variables".into()));
        }
        Ok(())
    }

    fn take_assigned(&self) -> Option<Map<String, Value>> {
        self.assigned.lock().ok().and_then(|mut a| a.take())
    }

    /// `Output` of a JSONata state (`default` without one), then the size limit.
    pub fn jsonata_output(
        &self,
        raw: &Value,
        extra: Extra<'_>,
        default: Value,
    ) -> Result<Value, StatesError> {
        let out = match &self.state.output {
            Some(t) => self.jsonata(t, raw, extra)?,
            None => default,
        };
        self.check_limit(&out, "returned a result")?;
        Ok(out)
    }

    /// Reports a data-flow stage to the TestState inspector, if one is listening.
    pub fn inspect(&self, stage: crate::test_state::Stage, value: &Value) {
        if let Some(inspector) = &self.shared.inspector {
            inspector.record(stage, value);
        }
    }

    /// A `States.Runtime` error with AWS's wording.
    pub fn runtime(&self, message: impl std::fmt::Display) -> StatesError {
        StatesError::new(names::RUNTIME, self.cause(message))
    }

    /// AWS's prefix for errors raised while evaluating a state.
    pub fn cause(&self, message: impl std::fmt::Display) -> String {
        format!(
            "An error occurred while executing the state '{}' (entered at the event id #{}). {}",
            self.state.name, self.entered_id, message
        )
    }

    /// `States.DataLimitExceeded` if `value` is over 256 KiB once serialised.
    pub fn check_limit(&self, value: &Value, what: &str) -> Result<(), StatesError> {
        if json_len(value) > MAX_PAYLOAD_BYTES {
            return Err(StatesError::new(
                names::DATA_LIMIT_EXCEEDED,
                format!(
                    "The state/task '{}' {what} with a size exceeding the maximum number of bytes service limit.",
                    self.state.name
                ),
            ));
        }
        Ok(())
    }

    fn io_path<'v>(&self, path: &IoPath, value: &'v Value) -> Result<Cow<'v, Value>, StatesError> {
        match path {
            IoPath::Identity => Ok(Cow::Borrowed(value)),
            IoPath::Null => Ok(Cow::Owned(Value::Object(Map::new()))),
            IoPath::Path(p) => self.select(p, value).map(Cow::Owned),
        }
    }

    /// Evaluates a path over `input`; a path that selects nothing is a `States.Runtime` error
    /// worded as AWS words it (`Invalid path '$.x' : No results for path: $['x']`).
    pub fn select(&self, p: &Path, input: &Value) -> Result<Value, StatesError> {
        self.scope(input)
            .select(p)
            .map_err(|m| self.runtime(format!("Invalid path '{}' : {}", p.text(), m.0)))
    }

    /// `InputPath` applied to the raw input.
    pub fn input_path<'v>(&self, raw: &'v Value) -> Result<Cow<'v, Value>, StatesError> {
        let effective = self.io_path(&self.state.flow.input_path, raw)?;
        self.inspect(crate::test_state::Stage::AfterInputPath, &effective);
        Ok(effective)
    }

    /// `OutputPath` applied to a state's output.
    pub fn output_path(&self, out: Value) -> Result<Value, StatesError> {
        match &self.state.flow.output_path {
            IoPath::Identity => Ok(out),
            p => self.io_path(p, &out).map(Cow::into_owned),
        }
    }

    /// A payload template evaluated over `input` (with `$$` from this state).
    pub fn template(&self, t: &Template, input: &Value) -> Result<Value, StatesError> {
        self.template_in(t, &self.scope(input))
    }

    /// A payload template evaluated in a given scope (Map items bring their own `$$.Map`).
    pub fn template_in(&self, t: &Template, scope: &Scope<'_>) -> Result<Value, StatesError> {
        eval_template(t, scope).map_err(|e| match e {
            TemplateError::Path { path, field }
            | TemplateError::Intrinsic { field, error: EvalError::Path { path } } => self.runtime(format!(
                "The JSONPath '{path}' specified for the field '{field}' could not be found in the input '{}'",
                scope.input
            )),
            // Guess: AWS's wording for intrinsic misuse is not documented; the name is.
            TemplateError::Intrinsic { field, error: EvalError::Failure(msg) } => StatesError::new(
                names::INTRINSIC_FAILURE,
                self.cause(format!("The intrinsic function in the field '{field}' failed: {msg}")),
            ),
        })
    }

    /// `ResultSelector`, `ResultPath` into the raw input, `OutputPath`, and the size limit.
    pub fn finish(&self, raw: &Value, result: Value) -> Result<Value, StatesError> {
        let flow = &self.state.flow;
        self.inspect(crate::test_state::Stage::Result, &result);
        let result = match &flow.result_selector {
            Some(t) => self.template(t, &result)?,
            None => result,
        };
        self.inspect(crate::test_state::Stage::AfterResultSelector, &result);
        // JSONPath `Assign` reads the result as `$`, after ResultSelector, before ResultPath.
        self.assign(self.state.assign.as_ref(), &result, raw, Extra::default())?;
        let combined = apply_result_path(&flow.result_path, raw, result)
            .map_err(|p| self.result_path_failure(&p, raw))?;
        self.inspect(crate::test_state::Stage::AfterResultPath, &combined);
        let out = self.output_path(combined)?;
        self.check_limit(&out, "returned a result")?;
        Ok(out)
    }

    fn result_path_failure(&self, path: &str, raw: &Value) -> StatesError {
        StatesError::new(
            names::RESULT_PATH_MATCH_FAILURE,
            self.cause(format!(
                "Unable to apply ResultPath \"{path}\" to input \"{raw}\""
            )),
        )
    }

    /// The first catcher that matches routes the error, with `{"Error", "Cause"}` placed in the
    /// raw input at the catcher's `ResultPath`.
    pub fn catch(
        &mut self,
        raw: &Value,
        e: StatesError,
    ) -> Result<(Option<usize>, Value), Interrupt> {
        let mut catchers = self.state.catch.iter().enumerate();
        let Some((i, c)) = catchers.find(|(_, c)| c.errors.matches(&e.error)) else {
            return Err(e.into());
        };
        if let Some(inspector) = &self.shared.inspector {
            // TestState reports an error it stopped retrying as RETRIABLE: no catcher applies.
            if inspector.stopped_before_retry() {
                return Err(e.into());
            }
            inspector.caught(i, &e);
        }
        // A catcher replaces whatever the state itself would have assigned.
        if let Ok(mut a) = self.assigned.lock() {
            *a = None;
        }
        let error_output = e.to_output();
        let extra = Extra {
            error_output: Some(&error_output),
            ..Extra::default()
        };
        self.assign(c.assign.as_ref(), &error_output, raw, extra)?;
        let out = match self.state.lang {
            Lang::JsonPath => apply_result_path(&c.result_path, raw, error_output)
                .map_err(|p| self.result_path_failure(&p, raw))?,
            Lang::Jsonata => match &c.output {
                Some(t) => self.jsonata(t, raw, extra)?,
                None => error_output,
            },
        };
        Ok((Some(c.next), out))
    }

    async fn execute(&mut self, raw: &Value) -> Result<(Option<usize>, Value), Interrupt> {
        let state = self.state;
        if state.lang == Lang::Jsonata {
            return self.execute_jsonata(raw).await;
        }
        match &state.kind {
            Kind::Pass(p) => Ok((state.next, p.run(self, raw)?)),
            Kind::Choice(c) => {
                let (next, out) = c.run(self, raw)?;
                Ok((Some(next), out))
            }
            Kind::Wait(w) => Ok((state.next, w.run(self, raw).await?)),
            Kind::Succeed => {
                let effective = self.input_path(raw)?;
                let out = self.output_path(effective.into_owned())?;
                Ok((None, out))
            }
            Kind::Fail(f) => Err(f.run(self, raw)?.into()),
            Kind::Task(_) | Kind::Parallel(_) | Kind::Map(_) => {
                let effective = self.input_path(raw)?;
                let result = self.attempts(&effective).await?;
                Ok((state.next, self.finish(raw, result)?))
            }
        }
    }

    /// A JSONata state: no InputPath/ResultPath/OutputPath; `Output` and `Assign` over
    /// `$states` (the raw input, and the result of a Task, Parallel or Map).
    async fn execute_jsonata(&mut self, raw: &Value) -> Result<(Option<usize>, Value), Interrupt> {
        let state = self.state;
        let none = Extra::default();
        match &state.kind {
            Kind::Pass(_) => {
                self.assign(state.assign.as_ref(), raw, raw, none)?;
                Ok((state.next, self.jsonata_output(raw, none, raw.clone())?))
            }
            Kind::Succeed => Ok((None, self.jsonata_output(raw, none, raw.clone())?)),
            Kind::Fail(f) => Err(f.run_jsonata(self, raw)?.into()),
            Kind::Wait(w) => {
                w.wait_jsonata(self, raw).await?;
                self.assign(state.assign.as_ref(), raw, raw, none)?;
                Ok((state.next, self.jsonata_output(raw, none, raw.clone())?))
            }
            Kind::Choice(c) => Ok(c.run_jsonata(self, raw)?),
            Kind::Task(_) | Kind::Parallel(_) | Kind::Map(_) => {
                let result = self.attempts(raw).await?;
                self.inspect(crate::test_state::Stage::Result, &result);
                let extra = Extra {
                    result: Some(&result),
                    ..Extra::default()
                };
                self.assign(state.assign.as_ref(), &result, raw, extra)?;
                let out = self.jsonata_output(raw, extra, result.clone())?;
                Ok((state.next, out))
            }
        }
    }

    /// Runs the state's work, retrying as its `Retry` says.
    async fn attempts(&mut self, effective: &Value) -> Result<Value, Interrupt> {
        let state = self.state;
        let retried = self.shared.inspector.as_ref().map_or(0, |i| i.retried());
        let mut counts = vec![retried; state.retry.len()];
        loop {
            let attempt = match &state.kind {
                Kind::Parallel(_) | Kind::Map(_) if self.shared.inspector.is_some() => {
                    crate::test_state::mocked_work(self, effective)
                }
                Kind::Task(t) => t.attempt(self, effective).await,
                Kind::Parallel(p) => p.attempt(self, effective).await,
                Kind::Map(m) => m.attempt(self, effective).await,
                _ => Err(
                    EngineError::Internal("retry loop on a state that does no work".into()).into(),
                ),
            };
            let e = match attempt {
                Ok(v) => return Ok(v),
                Err(Interrupt::States(e)) => e,
                Err(engine) => return Err(engine),
            };
            // Only the first retrier whose ErrorEquals matches applies, exhausted or not.
            let retrier = state.retry.iter().position(|r| r.errors.matches(&e.error));
            if let (Some(k), Some(inspector)) = (retrier, &self.shared.inspector) {
                inspector.retrier(k);
            }
            let Some(k) = retrier.filter(|&k| counts[k] < state.retry[k].max_attempts) else {
                // Observed on AWS: a Map (and, we assume, a Parallel) reports …StateFailed only
                // once it has failed for good, not after an attempt that is retried.
                let failed = match &state.kind {
                    Kind::Parallel(_) => Some(EventType::ParallelStateFailed),
                    Kind::Map(_) => Some(EventType::MapStateFailed),
                    _ => None,
                };
                if let Some(kind) = failed {
                    self.evaluation_failed(&e);
                    self.shared.emit(self.cursor, kind, || None);
                }
                return Err(e.into());
            };
            let r = &state.retry[k];
            let mut delay = r.interval_seconds
                * r.backoff_rate
                    .powi(i32::try_from(counts[k]).unwrap_or(i32::MAX));
            if let Some(max) = r.max_delay_seconds {
                delay = delay.min(max);
            }
            if let Some(inspector) = &self.shared.inspector {
                // TestState performs no retry: it reports the first backoff and stops.
                inspector.stop_before_retry(delay);
                return Err(e.into());
            }
            if r.full_jitter {
                delay = self.shared.jitter(delay);
            }
            counts[k] += 1;
            self.retry_count += 1;
            if delay.is_finite() && delay > 0.0 {
                self.shared
                    .clock
                    .sleep(Duration::from_secs_f64(delay.min(1.0e9)))
                    .await;
            }
        }
    }
}

/// Places `result` in `raw` as `ResultPath` says; the error is the path, for the message.
pub(crate) fn apply_result_path(
    rp: &ResultPath,
    raw: &Value,
    result: Value,
) -> Result<Value, String> {
    match rp {
        ResultPath::Replace => Ok(result),
        ResultPath::Discard => Ok(raw.clone()),
        ResultPath::At(p) => {
            let mut out = raw.clone();
            p.set(&mut out, result).map_err(|()| p.text().to_string())?;
            Ok(out)
        }
    }
}

pub(crate) enum TemplateError {
    Path { path: String, field: Arc<str> },
    Intrinsic { field: Arc<str>, error: EvalError },
}

pub(crate) fn eval_template(t: &Template, scope: &Scope<'_>) -> Result<Value, TemplateError> {
    Ok(match t {
        Template::Const(v) => v.clone(),
        Template::Object(fields) => {
            let mut map = Map::with_capacity(fields.len());
            for (k, t) in fields {
                map.insert(k.clone(), eval_template(t, scope)?);
            }
            Value::Object(map)
        }
        Template::Array(items) => Value::Array(
            items
                .iter()
                .map(|t| eval_template(t, scope))
                .collect::<Result<_, _>>()?,
        ),
        Template::Path { path, field } => scope.select(path).map_err(|_| TemplateError::Path {
            path: path.text().to_string(),
            field: field.clone(),
        })?,
        Template::Call { call, field } => {
            call.eval(scope).map_err(|error| TemplateError::Intrinsic {
                field: field.clone(),
                error,
            })?
        }
    })
}

/// The length of `v` serialised as compact JSON, without building the text.
pub(crate) fn json_len(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    match serde_json::to_writer(&mut c, v) {
        Ok(()) => c.0,
        Err(_) => usize::MAX,
    }
}

/// How an execution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// It reached a Succeed state or an `End`.
    Succeeded,
    /// A state failed and nothing caught it.
    Failed,
    /// The machine's `TimeoutSeconds` elapsed.
    TimedOut,
}

/// What an execution produced.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExecutionResult {
    /// `SUCCEEDED`, `FAILED` or `TIMED_OUT`.
    pub status: Status,
    /// The output, when it succeeded.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub output: Option<Value>,
    /// The error name, when it did not.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// The cause, when it did not and there is one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cause: Option<String>,
    /// The execution's ARN.
    #[serde(rename = "executionArn")]
    pub execution_arn: String,
    /// The history, when asked for.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub history: Option<crate::history::ExecutionHistory>,
}

/// How an execution begins: afresh, or redriven after the event `last_event_id` of its history.
pub(crate) enum Start {
    Fresh,
    Redrive {
        last_event_id: u64,
        resume: Option<Resume>,
    },
}

/// Runs a whole execution: `ExecutionStarted` (or `ExecutionRedriven`), the states, and how it
/// ended.
pub(crate) async fn execute(
    machine: &StateMachine,
    shared: Arc<Shared>,
    input: Value,
    start: Start,
) -> Result<ExecutionResult, EngineError> {
    let mut cursor = HistoryCursor { last_event_id: 0 };
    let resume = match start {
        Start::Fresh => {
            shared.emit(&mut cursor, EventType::ExecutionStarted, || {
                Some(EventDetails::ExecutionStarted(
                    ExecutionStartedEventDetails {
                        input: input.to_string(),
                        input_details: DataDetails::default(),
                        role_arn: shared.exec.role_arn.clone(),
                    },
                ))
            });
            // Observed on AWS: the first state's event points back to 0, not to
            // ExecutionStarted.
            cursor.last_event_id = 0;
            None
        }
        Start::Redrive {
            last_event_id,
            resume,
        } => {
            shared.continue_after(last_event_id);
            cursor.last_event_id = last_event_id;
            let redrive_count = shared.exec.redrive_count;
            // Guess: AWS's links around ExecutionRedriven were not found recorded; it follows
            // the last event, and the state run again follows it.
            shared.emit(&mut cursor, EventType::ExecutionRedriven, || {
                Some(EventDetails::ExecutionRedriven(
                    crate::history::ExecutionRedrivenEventDetails { redrive_count },
                ))
            });
            resume
        }
    };
    let outcome = if json_len(&input) > MAX_PAYLOAD_BYTES {
        // AWS refuses such a StartExecution call outright; here the execution fails instead.
        Some(Err(Interrupt::States(StatesError::new(
            names::DATA_LIMIT_EXCEEDED,
            "The execution input has a size exceeding the maximum number of bytes service limit.",
        ))))
    } else {
        let run = run_body_from(
            &shared,
            &machine.root,
            input,
            &mut cursor,
            Vars::default(),
            resume,
        );
        match machine.timeout_seconds {
            Some(secs) => {
                let clock = shared.clock.clone();
                tokio::select! {
                    r = run => Some(r),
                    () = clock.sleep(Duration::from_secs(secs)) => None,
                }
            }
            None => Some(run.await),
        }
    };
    let mut result = ExecutionResult {
        status: Status::Succeeded,
        output: None,
        error: None,
        cause: None,
        execution_arn: shared.exec.id.clone(),
        history: None,
    };
    match outcome {
        Some(Ok(out)) => {
            shared.emit(&mut cursor, EventType::ExecutionSucceeded, || {
                Some(EventDetails::ExecutionSucceeded(OutputDetails {
                    output: out.to_string(),
                    output_details: DataDetails::default(),
                }))
            });
            result.output = Some(out);
        }
        Some(Err(Interrupt::States(e))) => {
            // A Fail state without `Error` fails with no error name at all.
            let error = (!e.error.is_empty()).then_some(e.error);
            shared.emit(&mut cursor, EventType::ExecutionFailed, || {
                Some(EventDetails::ExecutionFailed(FailureDetails {
                    error: error.clone(),
                    cause: e.cause.clone(),
                }))
            });
            result.status = Status::Failed;
            result.error = error;
            result.cause = e.cause;
        }
        Some(Err(Interrupt::Engine(e))) => return Err(e),
        None => {
            let cause = "The execution has timed out.".to_string(); // Guess at AWS's wording.
            shared.emit(&mut cursor, EventType::ExecutionTimedOut, || {
                Some(EventDetails::ExecutionTimedOut(FailureDetails {
                    error: Some(names::TIMEOUT.into()),
                    cause: Some(cause.clone()),
                }))
            });
            result.status = Status::TimedOut;
            result.error = Some(names::TIMEOUT.into());
            result.cause = Some(cause);
        }
    }
    Ok(result)
}
