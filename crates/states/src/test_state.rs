//! TestState: one state run once, as AWS Step Functions' `TestState` API runs it, and answered
//! in that API's response shape (`output`, `error`, `cause`, `inspectionData`, `nextState`,
//! `status`).
//!
//! The state goes through the very code an execution runs (`run::run_state_with`); this module only
//! prepares it, listens to the data flow through an [`Inspector`] the run reports each stage to,
//! and replaces the work TestState mocks. What AWS does, and so what this does:
//!
//! - The definition is one state (as TestState takes it) or a whole machine with a state name.
//!   A lone state is read as the only state of a machine, named `StateName` as AWS names it
//!   (problems point at `/States/StateName/…`, `$$.State.Name` is `StateName`); the states its
//!   `Next`, `Default`, `Choices` and `Catch` name need not exist.
//! - No retry is performed: an error that a retrier would retry gives `RETRIABLE` with
//!   `errorDetails.retryIndex` and `retryBackoffIntervalSeconds` (the wait before that retry,
//!   counting the retries already made, `stateConfiguration.retrierRetryCount`); an error a
//!   catcher takes gives `CAUGHT_ERROR` with the catcher's `Next` and output and
//!   `errorDetails.catchIndex`; anything else `FAILED`.
//! - `mock.result` / `mock.errorOutput` stand for a Task's call, or for the whole work of a Map
//!   or Parallel state (which TestState runs only when mocked); Pass, Fail and Succeed states
//!   refuse a mock. Without a mock a Task calls the caller's invoker; offline there is usually
//!   none, and the task fails as `spotlight states run` fails an unmocked task.
//! - `inspectionData` comes at `DEBUG` and `TRACE`. `TRACE` adds the HTTP request and response
//!   of an HTTP Task on AWS; no HTTP Task is ever called here, so `TRACE` shows what `DEBUG`
//!   shows.
//!
//! Every AWS wording here was read from responses recorded against AWS (LocalStack's
//! `tests/aws/services/stepfunctions/v2/test_state/*.snapshot.json`); where a choice had to be
//! guessed, the code says so beside it.

use crate::clock::{Clock, SystemClock};
use crate::context::{ExecutionInfo, Vars};
use crate::definition::{Body, Lang, State, StateMachine};
use crate::error::{names, DefinitionError, EngineError, Interrupt, Problem, StatesError};
use crate::invoke::{TaskInvoker, TaskRequest};
use crate::run::{run_state_with, HistoryCursor, Shared, StateRun};
use crate::states::Kind;
use crate::BoxFuture;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The name AWS gives the state of a one-state definition.
const LONE_STATE_NAME: &str = "StateName";

/// TestState's own limit: a test that runs longer fails with `States.Timeout`.
const TEST_STATE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// How much a TestState response shows (`inspectionLevel`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum InspectionLevel {
    /// The output or error, the next state and the status.
    #[default]
    Info,
    /// Also `inspectionData`: the data after each processing stage.
    Debug,
    /// Also an HTTP Task's request and response on AWS; the same as `Debug` here, where no
    /// HTTP Task is called.
    Trace,
}

/// `mock`: what the tested Task's call (or Map or Parallel state's work) returns.
#[derive(Debug, Clone, PartialEq)]
pub enum TestMock {
    /// `mock.result`: the call succeeds with this result (for Map and Parallel, an array).
    Result(Value),
    /// `mock.errorOutput`: the call fails with this error and cause.
    Error(StatesError),
}

/// `stateConfiguration`: where in its life the tested state is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateConfiguration {
    /// How many times the retrier that matches the (mocked) error has already retried.
    pub retrier_retry_count: Option<u32>,
    /// How many iterations of the mocked Map state failed (needs a mocked result).
    pub map_iteration_failure_count: Option<u64>,
    /// The state inside the Map or Parallel state that raised the mocked error. Accepted and
    /// not used: the mocked error fails the tested state whichever inner state raised it.
    pub error_caused_by_state: Option<String>,
}

/// One TestState call's parameters (besides the definition).
#[derive(Clone)]
pub struct TestStateOptions {
    /// The state's input (`{}` by default, as AWS's default).
    pub input: Value,
    /// The state to test when the definition is a whole state machine (`stateName`).
    pub state_name: Option<String>,
    /// How much the response shows.
    pub inspection_level: InspectionLevel,
    /// The workflow variables the state sees (`variables`).
    pub variables: Option<Map<String, Value>>,
    /// The mocked call (`mock`).
    pub mock: Option<TestMock>,
    /// `stateConfiguration`.
    pub state_configuration: StateConfiguration,
    /// The Context object (`context`): its `Execution` and `StateMachine` members replace the
    /// generated ones. `State` stays the tested state's own (name, entered time, retry count).
    pub context: Option<Value>,
    /// `revealSecrets`: refused with a mock, as AWS refuses it; nothing is secret here.
    pub reveal_secrets: bool,
    /// `DefinitionSubstitutions` applied to the definition's `${Name}`s before it is read.
    pub substitutions: HashMap<String, String>,
    /// What an unmocked Task calls. `None`: such a task fails with `States.TaskFailed`.
    pub invoker: Option<Arc<dyn TaskInvoker>>,
    /// Time and waiting (a Wait state waits); the system clock when `None`.
    pub clock: Option<Arc<dyn Clock>>,
    /// Seed for `States.UUID`, `States.MathRandom` and the execution name.
    pub seed: Option<u64>,
    /// The region in the generated ARNs.
    pub region: String,
    /// The account in the generated ARNs.
    pub account_id: String,
}

impl Default for TestStateOptions {
    fn default() -> Self {
        TestStateOptions {
            input: Value::Object(Map::new()),
            state_name: None,
            inspection_level: InspectionLevel::Info,
            variables: None,
            mock: None,
            state_configuration: StateConfiguration::default(),
            context: None,
            reveal_secrets: false,
            substitutions: HashMap::new(),
            invoker: None,
            clock: None,
            seed: None,
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
        }
    }
}

impl std::fmt::Debug for TestStateOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestStateOptions")
            .field("input", &self.input)
            .field("state_name", &self.state_name)
            .field("inspection_level", &self.inspection_level)
            .field("mock", &self.mock)
            .field("state_configuration", &self.state_configuration)
            .finish_non_exhaustive()
    }
}

/// Why a TestState call was refused before anything ran, as AWS refuses it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestStateError {
    /// The definition has problems (AWS's `InvalidDefinition`).
    #[error(transparent)]
    InvalidDefinition(#[from] DefinitionError),
    /// AWS's `InvalidDefinition` for a valid state TestState does not run (an unmocked Map or
    /// Parallel state), with AWS's message.
    #[error("{0}")]
    Unsupported(String),
    /// AWS's `ValidationException`: the request does not fit the state, with AWS's message.
    #[error("{0}")]
    Validation(String),
    /// The engine itself failed (a bug).
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// How the tested state ended (`status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TestStateStatus {
    /// It succeeded; `output` and maybe `nextState`.
    Succeeded,
    /// It failed and nothing would retry or catch the error.
    Failed,
    /// It failed and a retrier would retry it.
    Retriable,
    /// It failed and a catcher took the error; `output` and `nextState` are the catcher's.
    CaughtError,
}

/// The TestState response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestStateOutput {
    /// The state's output (JSON text in the API, as here when serialised).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "json_text")]
    pub output: Option<Value>,
    /// The error name, when it did not succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The cause, when it did not succeed and there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The data after each stage, at `DEBUG` and `TRACE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inspection_data: Option<InspectionData>,
    /// The state that would run next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_state: Option<String>,
    /// How it ended.
    pub status: TestStateStatus,
}

/// `inspectionData`: the data after each processing stage the state went through. JSON values
/// serialise as JSON text, as the API returns them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InspectionData {
    /// The raw state input.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "json_text")]
    pub input: Option<Value>,
    /// After `Arguments` (JSONata).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "json_text")]
    pub after_arguments: Option<Value>,
    /// After `InputPath` (JSONPath).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "json_text")]
    pub after_input_path: Option<Value>,
    /// After `Parameters` (JSONPath).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "json_text")]
    pub after_parameters: Option<Value>,
    /// The task's (or Pass state's `Result`, or mocked) result.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "json_text")]
    pub result: Option<Value>,
    /// After `ResultSelector`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "json_text")]
    pub after_result_selector: Option<Value>,
    /// After `ResultPath`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "json_text")]
    pub after_result_path: Option<Value>,
    /// The workflow variables.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "json_text")]
    pub variables: Option<Value>,
    /// Which retrier or catcher handled the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_details: Option<InspectionErrorDetails>,
    /// A Map state's items after `ItemsPath`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "json_text")]
    pub after_items_path: Option<Value>,
    /// A Map state's `ToleratedFailureCount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerated_failure_count: Option<u64>,
    /// A Map state's `ToleratedFailurePercentage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerated_failure_percentage: Option<f64>,
    /// A Map state's `MaxConcurrency` (0: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u64>,
}

/// `inspectionData.errorDetails`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InspectionErrorDetails {
    /// The index of the catcher that took the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_index: Option<usize>,
    /// The index of the retrier that matched the error (also when it has no retry left).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_index: Option<usize>,
    /// The wait before the retry, in whole seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_backoff_interval_seconds: Option<u64>,
}

/// Optional JSON values (de)serialised as JSON text, as the TestState API carries them.
mod json_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_json::Value;

    pub fn serialize<S: Serializer>(value: &Option<Value>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.serialize_str(&v.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| serde_json::from_str(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// A stage of the data flow the run reports to the [`Inspector`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    AfterInputPath,
    AfterParameters,
    AfterArguments,
    Result,
    AfterResultSelector,
    AfterResultPath,
    Variables,
    AfterItemsPath,
}

#[derive(Debug, Default)]
struct Recorded {
    data: InspectionData,
    stopped_before_retry: bool,
    caught: Option<StatesError>,
}

/// Listens to one TestState run: what each stage produced, and how errors were handled.
#[derive(Debug)]
pub(crate) struct Inspector {
    recorded: Mutex<Recorded>,
    retrier_retry_count: u32,
    mock: Option<TestMock>,
    map_iteration_failure_count: Option<u64>,
}

impl Inspector {
    fn with<R>(&self, f: impl FnOnce(&mut Recorded) -> R) -> R {
        // A poisoned lock only means a panic elsewhere; the data is still what was recorded.
        let mut guard = match self.recorded.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    /// Records what a stage produced.
    pub fn record(&self, stage: Stage, value: &Value) {
        let value = Some(value.clone());
        self.with(|r| {
            let d = &mut r.data;
            match stage {
                Stage::AfterInputPath => d.after_input_path = value,
                Stage::AfterParameters => d.after_parameters = value,
                Stage::AfterArguments => d.after_arguments = value,
                Stage::Result => d.result = value,
                Stage::AfterResultSelector => d.after_result_selector = value,
                Stage::AfterResultPath => d.after_result_path = value,
                Stage::Variables => d.variables = value,
                Stage::AfterItemsPath => d.after_items_path = value,
            }
        });
    }

    fn error_details(&self, f: impl FnOnce(&mut InspectionErrorDetails)) {
        self.with(|r| f(r.data.error_details.get_or_insert_with(Default::default)));
    }

    /// How many retries the matching retrier has made already.
    pub fn retried(&self) -> u32 {
        self.retrier_retry_count
    }

    /// The retrier at `index` matched the error (whether or not it has a retry left).
    pub fn retrier(&self, index: usize) {
        self.error_details(|e| e.retry_index = Some(index));
    }

    /// The run would now wait `delay_seconds` and retry; TestState stops there.
    pub fn stop_before_retry(&self, delay_seconds: f64) {
        // Guess: AWS reports whole seconds (recorded: 16 for 1 × 2⁴); a fractional wait is
        // rounded down, and FULL jitter (random on AWS) is not applied.
        let seconds = if delay_seconds.is_finite() && delay_seconds > 0.0 {
            delay_seconds.floor() as u64
        } else {
            0
        };
        self.error_details(|e| e.retry_backoff_interval_seconds = Some(seconds));
        self.with(|r| r.stopped_before_retry = true);
    }

    /// Whether the run stopped before a retry.
    pub fn stopped_before_retry(&self) -> bool {
        self.with(|r| r.stopped_before_retry)
    }

    /// The catcher at `index` took `error`.
    pub fn caught(&self, index: usize, error: &StatesError) {
        self.error_details(|e| e.catch_index = Some(index));
        self.with(|r| r.caught = Some(error.clone()));
    }

    /// A Map state's limits, read as its run reads them (a failing one fails the state).
    fn map_limits(
        &self,
        state_run: &StateRun<'_>,
        map: &crate::states::map::Map,
        input: &Value,
    ) -> Result<(), StatesError> {
        let max = map.read_u64(state_run, &map.max_concurrency, "MaxConcurrency", input)?;
        let count = map.read_u64(
            state_run,
            &map.tolerated_count,
            "ToleratedFailureCount",
            input,
        )?;
        let percentage = map.read_percentage(state_run, input)?;
        self.with(|r| {
            // Recorded on AWS: `maxConcurrency` is always shown for a Map state, 0 when unset.
            r.data.max_concurrency = Some(max.unwrap_or(0));
            r.data.tolerated_failure_count = count;
            r.data.tolerated_failure_percentage = percentage;
        });
        Ok(())
    }
}

/// The work of a mocked Map or Parallel state, in place of running its branches or iterations:
/// the mocked result or error, after the Map state's items and limits are read for inspection.
pub(crate) fn mocked_work(state_run: &StateRun<'_>, effective: &Value) -> Result<Value, Interrupt> {
    let Some(inspector) = &state_run.shared.inspector else {
        return Err(EngineError::Internal("a mocked state ran without TestState".into()).into());
    };
    if let Kind::Map(map) = &state_run.state.kind {
        inspector.map_limits(state_run, map, effective)?;
        if let Some(p) = &map.items_path {
            let items = state_run.select(p, effective)?;
            inspector.record(Stage::AfterItemsPath, &items);
        }
    }
    match &inspector.mock {
        Some(TestMock::Error(e)) => Err(e.clone().into()),
        Some(TestMock::Result(result)) => {
            if let (Kind::Map(_), Some(failed)) =
                (&state_run.state.kind, inspector.map_iteration_failure_count)
            {
                let items = result.as_array().map_or(0, Vec::len);
                if tolerance_exceeded(inspector, failed, items) {
                    return Err(StatesError::new(
                        names::EXCEED_TOLERATED_FAILURE_THRESHOLD,
                        "The specified tolerated failure threshold was exceeded",
                    )
                    .into());
                }
            }
            Ok(result.clone())
        }
        None => Err(EngineError::Internal(
            "a Map or Parallel state ran in TestState without a mock".into(),
        )
        .into()),
    }
}

/// Recorded on AWS: a Map state without `ToleratedFailure…` succeeds whatever
/// `mapIterationFailureCount` says; with them, more failures than tolerated fail it.
fn tolerance_exceeded(inspector: &Inspector, failed: u64, items: usize) -> bool {
    let (count, percentage) = inspector.with(|r| {
        (
            r.data.tolerated_failure_count,
            r.data.tolerated_failure_percentage,
        )
    });
    let over_count = count.is_some_and(|c| failed > c);
    let over_percentage =
        percentage.is_some_and(|p| items > 0 && (failed as f64) * 100.0 / (items as f64) > p);
    over_count || over_percentage
}

/// The invoker the tested Task calls: the mock, or the caller's, reporting the parameters.
struct TestInvoker {
    mock: Option<TestMock>,
    inner: Option<Arc<dyn TaskInvoker>>,
    inspector: Arc<Inspector>,
    stage: Option<Stage>,
}

impl TaskInvoker for TestInvoker {
    fn invoke<'a>(&'a self, request: TaskRequest<'a>) -> BoxFuture<'a, Result<Value, StatesError>> {
        if let Some(stage) = self.stage {
            self.inspector.record(stage, &request.parameters);
        }
        match (&self.mock, &self.inner) {
            (Some(TestMock::Result(v)), _) => {
                let v = v.clone();
                Box::pin(async move { Ok(v) })
            }
            (Some(TestMock::Error(e)), _) => {
                let e = e.clone();
                Box::pin(async move { Err(e) })
            }
            (None, Some(inner)) => inner.invoke(request),
            (None, None) => {
                let cause = format!(
                    "TestState calls no real service: state '{}' cannot run resource '{}'. \
                     Give a mock to test it.",
                    request.state_name, request.resource
                );
                Box::pin(async move { Err(StatesError::new(names::TASK_FAILED, cause)) })
            }
        }
    }

    fn enforces_timeouts(&self) -> bool {
        self.mock.is_none() && self.inner.as_ref().is_some_and(|i| i.enforces_timeouts())
    }
}

/// The names a lone state transitions to: `Next`, `Default`, each choice's and catcher's `Next`.
fn transition_names(state: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |v: Option<&Value>| {
        if let Some(Value::String(s)) = v {
            out.push(s.clone());
        }
    };
    push(state.get("Next"));
    push(state.get("Default"));
    for list in ["Choices", "Catch"] {
        if let Some(Value::Array(items)) = state.get(list) {
            for item in items {
                push(item.get("Next"));
            }
        }
    }
    out
}

/// A lone state read as the only state of a machine; the states it names are stand-ins, so
/// that a `Next` to a state that is not there is no problem (AWS accepts it).
fn machine_of_lone_state(
    state: Value,
    substitutions: &HashMap<String, String>,
) -> Result<StateMachine, DefinitionError> {
    let mut states = Map::new();
    let mut stand_ins = Vec::new();
    if let Value::Object(obj) = &state {
        for name in transition_names(obj) {
            if name != LONE_STATE_NAME && !states.contains_key(&name) {
                states.insert(name.clone(), json!({"Type": "Succeed"}));
                stand_ins.push(format!(
                    "/States/{}",
                    name.replace('~', "~0").replace('/', "~1")
                ));
            }
        }
    }
    states.insert(LONE_STATE_NAME.into(), state);
    let machine = json!({"StartAt": LONE_STATE_NAME, "States": states});
    StateMachine::from_value(machine, substitutions).map_err(|e| {
        // A stand-in is unreachable only when the state's own transitions are broken, which
        // is reported already.
        let problems: Vec<Problem> = e
            .problems()
            .iter()
            .filter(|p| !(p.code == "UNREACHABLE_STATE" && stand_ins.contains(&p.pointer)))
            .cloned()
            .collect();
        DefinitionError::from_problems(problems).unwrap_or(e)
    })
}

/// The body holding the state named `name`, and its index there, searching branches and
/// processors too.
fn find_state<'b>(body: &'b Body, name: &str) -> Option<(&'b Body, usize)> {
    if let Some(i) = body.states.iter().position(|s| &*s.name == name) {
        return Some((body, i));
    }
    body.states.iter().find_map(|s| match &s.kind {
        Kind::Parallel(p) => p.branches.iter().find_map(|b| find_state(b, name)),
        Kind::Map(m) => find_state(&m.processor, name),
        _ => None,
    })
}

fn type_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Pass(_) => "Pass",
        Kind::Task(_) => "Task",
        Kind::Choice(_) => "Choice",
        Kind::Wait(_) => "Wait",
        Kind::Succeed => "Succeed",
        Kind::Fail(_) => "Fail",
        Kind::Parallel(_) => "Parallel",
        Kind::Map(_) => "Map",
    }
}

/// AWS's checks of the request against the state, with its messages.
fn check_request(state: &State, options: &TestStateOptions) -> Result<(), TestStateError> {
    let invalid = |m: &str| Err(TestStateError::Validation(m.into()));
    let config = &options.state_configuration;
    if config.map_iteration_failure_count.is_some() && options.mock.is_none() {
        return invalid(
            "TestState does not support MapIterationFailureCount when a mock is not specified.",
        );
    }
    let Some(mock) = &options.mock else {
        if matches!(state.kind, Kind::Map(_) | Kind::Parallel(_)) {
            return Err(TestStateError::Unsupported(
                "TestState API does not support Map or Parallel states. Supported state types \
                 include: [Task, Wait, Pass, Succeed, Fail, Choice]"
                    .into(),
            ));
        }
        return Ok(());
    };
    if options.reveal_secrets {
        return invalid("TestState does not support RevealSecrets when a mock is specified.");
    }
    match &state.kind {
        Kind::Task(_) | Kind::Map(_) | Kind::Parallel(_) => {}
        // Recorded for Pass, Fail and Succeed; Guess: Choice and Wait, which call nothing
        // either, are refused the same way.
        other => {
            return invalid(&format!(
                "State type '{}' is not supported when a mock is specified",
                type_name(other)
            ))
        }
    }
    let TestMock::Result(result) = mock else {
        return Ok(());
    };
    match (&state.kind, result) {
        (Kind::Parallel(p), Value::Array(items)) if items.len() != p.branches.len() => invalid(
            "Mocked result must contain the same number of items as number of Parallel branches.",
        ),
        (Kind::Map(_), Value::Array(items)) => match config.map_iteration_failure_count {
            Some(n) if n > items.len() as u64 => invalid(
                "Map iteration failure count must be less than or equal to the number of Map \
                 iterations",
            ),
            _ => Ok(()),
        },
        (Kind::Parallel(_), Value::Array(_)) => Ok(()),
        (Kind::Parallel(_) | Kind::Map(_), _) => invalid("Mocked result must be an array."),
        _ => Ok(()),
    }
}

/// The execution around the tested state: generated ARNs, or the given Context object's.
fn execution_info(
    options: &TestStateOptions,
    name: String,
    input: &Value,
    clock: &dyn Clock,
) -> ExecutionInfo {
    let (region, account) = (&options.region, &options.account_id);
    let machine = "TestStateMachine";
    let mut info = ExecutionInfo {
        // Recorded on AWS: a TestState execution has an Express execution ARN.
        id: format!("arn:aws:states:{region}:{account}:express:{machine}:{name}"),
        name,
        input: input.clone(),
        start_time: clock.now(),
        role_arn: format!("arn:aws:iam::{account}:role/StepFunctionsLocalRole"),
        state_machine_id: format!("arn:aws:states:{region}:{account}:stateMachine:{machine}"),
        state_machine_name: machine.into(),
        redrive_count: 0,
    };
    let Some(ctx) = &options.context else {
        return info;
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let execution = ctx.get("Execution");
    let field = |k: &str| execution.and_then(|e| e.get(k));
    if let Some(id) = text(field("Id")) {
        info.id = id;
    }
    if let Some(n) = text(field("Name")) {
        info.name = n;
    }
    if let Some(r) = text(field("RoleArn")) {
        info.role_arn = r;
    }
    if let Some(i) = field("Input") {
        info.input = i.clone();
    }
    if let Some(t) =
        text(field("StartTime")).and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
    {
        info.start_time = t.with_timezone(&chrono::Utc);
    }
    let machine = ctx.get("StateMachine");
    if let Some(id) = text(machine.and_then(|m| m.get("Id"))) {
        info.state_machine_id = id;
    }
    if let Some(n) = text(machine.and_then(|m| m.get("Name"))) {
        info.state_machine_name = n;
    }
    info
}

/// Tests one state: parses `definition` (one state, or a whole machine with
/// [`TestStateOptions::state_name`]) with the same checks as a machine, runs that state once
/// through the engine and answers as AWS's TestState API answers.
///
/// ```
/// use spotlight_states::{test_state, TestStateOptions, TestStateStatus};
/// use serde_json::json;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let state = r#"{"Type": "Pass", "Parameters": {"who.$": "$.name"}, "Next": "Greet"}"#;
/// let options = TestStateOptions { input: json!({"name": "Ada"}), ..Default::default() };
/// let tested = test_state(state, options).await?;
/// assert_eq!(tested.status, TestStateStatus::Succeeded);
/// assert_eq!(tested.output, Some(json!({"who": "Ada"})));
/// assert_eq!(tested.next_state.as_deref(), Some("Greet"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn test_state(
    definition: &str,
    options: TestStateOptions,
) -> Result<TestStateOutput, TestStateError> {
    let value: Value = match serde_json::from_str(definition) {
        Ok(v) => v,
        // The machine parser words the JSON error.
        Err(_) => {
            return Err(match StateMachine::parse(definition, &HashMap::new()) {
                Err(e) => e.into(),
                Ok(_) => {
                    EngineError::Internal("text that is not JSON was read as JSON".into()).into()
                }
            })
        }
    };
    let is_machine = value.get("States").is_some();
    let machine = if is_machine {
        StateMachine::from_value(value, &options.substitutions)?
    } else {
        if options.state_name.is_some() {
            // AWS looks the name up in the definition's `States`, which a lone state lacks.
            return Err(TestStateError::Validation(
                "State not found in definition".into(),
            ));
        }
        machine_of_lone_state(value, &options.substitutions)?
    };
    let wanted = match (&options.state_name, is_machine) {
        (Some(name), _) => name.as_str(),
        (None, false) => LONE_STATE_NAME,
        // Guess: AWS's wording for a machine without `stateName` was not found.
        (None, true) => {
            return Err(TestStateError::Validation(
                "stateName is required when the definition is a state machine".into(),
            ))
        }
    };
    let Some((body, index)) = find_state(&machine.root, wanted) else {
        return Err(TestStateError::Validation(
            "State not found in definition".into(),
        ));
    };
    let state = &body.states[index];
    check_request(state, &options)?;
    run_test(body, state, options).await
}

async fn run_test(
    body: &Body,
    state: &State,
    options: TestStateOptions,
) -> Result<TestStateOutput, TestStateError> {
    let mut input = options.input.clone();
    crate::number::zero_sign(&mut input);
    let clock = options
        .clock
        .clone()
        .unwrap_or_else(|| Arc::new(SystemClock));
    let mut rng = match options.seed {
        Some(s) => rand::rngs::StdRng::seed_from_u64(s),
        None => rand::rngs::StdRng::from_os_rng(),
    };
    let mut name = [0u8; 16];
    rand::Rng::fill(&mut rng, &mut name);
    let name = uuid::Builder::from_random_bytes(name)
        .into_uuid()
        .to_string();
    let inspector = Arc::new(Inspector {
        recorded: Mutex::new(Recorded::default()),
        retrier_retry_count: options.state_configuration.retrier_retry_count.unwrap_or(0),
        mock: options.mock.clone(),
        map_iteration_failure_count: options.state_configuration.map_iteration_failure_count,
    });
    let invoker = Arc::new(TestInvoker {
        mock: options.mock.clone(),
        inner: options.invoker.clone(),
        inspector: inspector.clone(),
        // A JSONata state reports its `Arguments` itself.
        stage: (state.lang == Lang::JsonPath).then_some(Stage::AfterParameters),
    });
    let exec = execution_info(&options, name, &input, clock.as_ref());
    let mut shared = Shared::new(
        invoker,
        clock.clone(),
        None,
        rng,
        exec,
        options.region.clone(),
    );
    shared.inspector = Some(inspector.clone());
    let shared = Arc::new(shared);
    let mut cursor = HistoryCursor { last_event_id: 0 };
    let mut vars = Vars::default();
    vars.assign(options.variables.clone().unwrap_or_default());
    let outcome = tokio::select! {
        r = run_state_with(&shared, state, input.clone(), &mut cursor, &vars) => Some(r),
        () = clock.sleep(TEST_STATE_TIMEOUT) => None,
    };
    let recorded = inspector.with(std::mem::take);
    let name_of = |next: Option<usize>| {
        next.and_then(|i| body.states.get(i))
            .map(|s| s.name.to_string())
    };
    let mut out = TestStateOutput {
        output: None,
        error: None,
        cause: None,
        inspection_data: None,
        next_state: None,
        status: TestStateStatus::Succeeded,
    };
    match outcome {
        Some(Ok((next, output, _))) => {
            out.output = Some(output);
            out.next_state = name_of(next);
            if let Some(e) = recorded.caught {
                out.status = TestStateStatus::CaughtError;
                out.error = Some(e.error);
                out.cause = e.cause;
            }
        }
        Some(Err(Interrupt::States(e))) => {
            out.status = if recorded.stopped_before_retry {
                TestStateStatus::Retriable
            } else {
                TestStateStatus::Failed
            };
            // A Fail state may name no error; AWS then reports none.
            out.error = (!e.error.is_empty()).then_some(e.error);
            out.cause = e.cause;
        }
        Some(Err(Interrupt::Engine(e))) => return Err(e.into()),
        None => {
            out.status = TestStateStatus::Failed;
            out.error = Some(names::TIMEOUT.into());
        }
    }
    if options.inspection_level != InspectionLevel::Info {
        out.inspection_data = Some(as_aws_shows(state, recorded.data, input, &options));
    }
    Ok(out)
}

/// The recorded stages as AWS shows them for this kind of state (recorded responses):
/// a Pass state's `Result` is its `result` and skips `InputPath`, while without one its result
/// is shown as `afterParameters`; a Fail state shows its input as `afterInputPath`; a mocked
/// Parallel state shows neither `afterInputPath` nor `result`.
fn as_aws_shows(
    state: &State,
    mut data: InspectionData,
    input: Value,
    options: &TestStateOptions,
) -> InspectionData {
    match &state.kind {
        Kind::Pass(p) if p.result.is_some() => data.after_input_path = None,
        Kind::Pass(_) => data.after_parameters = data.result.take(),
        Kind::Fail(_) if state.lang == Lang::JsonPath => {
            data.after_input_path = Some(input.clone())
        }
        Kind::Parallel(_) => {
            data.after_input_path = None;
            data.result = None;
        }
        Kind::Map(_) => data.result = None,
        _ => {}
    }
    if let Some(vars) = &options.variables {
        if !vars.is_empty() && data.variables.is_none() {
            data.variables = Some(Value::Object(vars.clone()));
        }
    }
    data.input = Some(input);
    data
}
