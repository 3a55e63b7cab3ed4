//! The pipeline in one process. The local engine runs `statemachine/pipeline.asl.json` — the
//! file AWS runs, unchanged — and its `DefinitionSubstitutions` name local functions that
//! resolve to the very step handlers the Lambdas wrap, wired to whichever ports the caller
//! gives: a folder, the ONNX analysers and SQLite on a laptop; in-memory fakes in tests. Its
//! `events:putEvents` state puts the result event on an [`EventBus`] ([`events`]).
#![warn(missing_docs)]

pub mod events;

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Semaphore;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use spotlight_core::contracts::{AnalyzeInput, ObjectRequest, PlanInput, RecordInput};
use spotlight_core::ports::{
    LabelDetector, ModerationDetector, ObjectReader, RecordStore, TextDetector,
};
use spotlight_core::StepError;
use spotlight_record::RecordConfig;
use spotlight_states::{
    BoxFuture, DefinitionError, EngineError, ExecutionHistory, ExecutionResult, RedriveError,
    RunOptions, StateMachine, StatesError, TaskInvoker, TaskRequest,
};
use spotlight_validate::Limits;

pub use events::{EntryError, EventBus, MemoryBus, LOCAL_EVENT_BUS};

/// The state machine, as shipped.
pub const DEFINITION: &str = include_str!("../../../statemachine/pipeline.asl.json");
/// The state machine's name, in execution ARNs.
pub const STATE_MACHINE_NAME: &str = "spotlight-pipeline";

/// The five steps, as the local functions the substitutions name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `validate`.
    Validate,
    /// `detect-labels`.
    DetectLabels,
    /// `detect-moderation`.
    DetectModeration,
    /// `detect-text`.
    DetectText,
    /// `record`.
    Record,
    /// `record`, asked which analysers a reprocess execution runs (`PlanReprocess`).
    Plan,
}

impl Step {
    const ALL: [(Step, &'static str, &'static str); 6] = [
        (Step::Validate, "ValidateFunctionArn", "validate"),
        (
            Step::DetectLabels,
            "DetectLabelsFunctionArn",
            "detect-labels",
        ),
        (
            Step::DetectModeration,
            "DetectModerationFunctionArn",
            "detect-moderation",
        ),
        (Step::DetectText, "DetectTextFunctionArn", "detect-text"),
        (Step::Record, "RecordFunctionArn", "record"),
        // The same function on AWS; its own name here and in the contracts (`record-plan.*`).
        (Step::Plan, "RecordPlanFunctionArn", "record-plan"),
    ];

    /// The local function ARN a substitution resolves to.
    pub fn function_arn(self) -> String {
        let name = Step::ALL
            .iter()
            .find(|(step, ..)| *step == self)
            .map_or("unknown", |(_, _, name)| *name);
        format!("arn:aws:lambda:local:000000000000:function:spotlight-{name}")
    }

    fn from_function_arn(arn: &str) -> Option<Step> {
        Step::ALL
            .iter()
            .find(|(step, ..)| step.function_arn() == arn)
            .map(|(step, ..)| *step)
    }
}

/// The `DefinitionSubstitutions` of the local pipeline: the functions, and the bus the result
/// event goes to.
pub fn substitutions() -> HashMap<String, String> {
    Step::ALL
        .iter()
        .map(|(step, substitution, _)| ((*substitution).to_owned(), step.function_arn()))
        .chain([("ResultEventBusName".to_owned(), LOCAL_EVENT_BUS.to_owned())])
        .collect()
}

/// The ports and settings the steps run with.
pub struct Steps<O, L, M, T, S> {
    /// Reads the photos.
    pub objects: O,
    /// Labels them.
    pub labels: L,
    /// Moderates them.
    pub moderation: M,
    /// Reads their text.
    pub text: T,
    /// Keeps the records.
    pub store: S,
    /// Validation limits.
    pub limits: Limits,
    /// The moderation policy and themes.
    pub record: RecordConfig,
}

impl<O, L, M, T, S> Steps<O, L, M, T, S>
where
    O: ObjectReader,
    L: LabelDetector,
    M: ModerationDetector,
    T: TextDetector,
    S: RecordStore,
{
    async fn call(&self, step: Step, payload: Value) -> Result<Value, StatesError> {
        match step {
            Step::Validate => {
                let request: ObjectRequest = parse(step, payload)?;
                reply(spotlight_validate::handle(&request, &self.objects, &self.limits).await)
            }
            Step::DetectLabels => {
                let input: AnalyzeInput = parse(step, payload)?;
                reply(spotlight_detect_labels::handle(&input, &self.labels).await)
            }
            Step::DetectModeration => {
                let input: AnalyzeInput = parse(step, payload)?;
                reply(spotlight_detect_moderation::handle(&input, &self.moderation).await)
            }
            Step::DetectText => {
                let input: AnalyzeInput = parse(step, payload)?;
                reply(spotlight_detect_text::handle(&input, &self.text).await)
            }
            Step::Record => {
                let input: RecordInput = parse(step, payload)?;
                let now = chrono::Utc::now();
                reply(spotlight_record::handle(input, &self.store, &self.record, now).await)
            }
            Step::Plan => {
                let input: PlanInput = parse(step, payload)?;
                reply(spotlight_record::plan(&input, &self.store).await)
            }
        }
    }
}

/// A payload that does not match the step's contract fails the task the way a Lambda runtime
/// fails an event it cannot deserialise.
fn parse<I: DeserializeOwned>(step: Step, payload: Value) -> Result<I, StatesError> {
    serde_json::from_value(payload).map_err(|error| {
        lambda_error(
            "Runtime.UnmarshalError",
            format!("{step:?}: the payload does not match the contract: {error}"),
        )
    })
}

/// A step's result as the `lambda:invoke` integration returns it, or its error as Step
/// Functions reports a Lambda function error: the `errorType` as the error, the error payload
/// serialised as the cause.
fn reply<O: Serialize>(result: Result<O, StepError>) -> Result<Value, StatesError> {
    match result {
        Ok(output) => Ok(json!({
            "ExecutedVersion": "$LATEST",
            "Payload": output,
            "StatusCode": 200,
        })),
        Err(error) => {
            let lambda = error.to_lambda_error();
            Err(lambda_error(&lambda.error_type, lambda.error_message))
        }
    }
}

fn lambda_error(error_type: &str, message: String) -> StatesError {
    let cause = json!({ "errorType": error_type, "errorMessage": message }).to_string();
    StatesError::new(error_type, cause)
}

struct Invoker<O, L, M, T, S> {
    steps: Arc<Steps<O, L, M, T, S>>,
    analysis_turns: Arc<Semaphore>,
    events: Arc<dyn EventBus>,
}

impl Step {
    /// The steps that run a model: they take turns on the CPU.
    fn analyses(self) -> bool {
        matches!(
            self,
            Step::DetectLabels | Step::DetectModeration | Step::DetectText
        )
    }
}

impl<O, L, M, T, S> TaskInvoker for Invoker<O, L, M, T, S>
where
    O: ObjectReader + 'static,
    L: LabelDetector + 'static,
    M: ModerationDetector + 'static,
    T: TextDetector + 'static,
    S: RecordStore + 'static,
{
    fn invoke<'a>(&'a self, request: TaskRequest<'a>) -> BoxFuture<'a, Result<Value, StatesError>> {
        Box::pin(async move {
            if request.resource == events::PUT_EVENTS {
                let put = events::put_events(self.events.as_ref(), &request);
                return match request.timeout {
                    Some(timeout) => tokio::time::timeout(timeout, put)
                        .await
                        .unwrap_or_else(|_| Err(StatesError::bare("States.Timeout"))),
                    None => put.await,
                };
            }
            if request.resource != "arn:aws:states:::lambda:invoke" {
                return Err(StatesError::new(
                    "States.TaskFailed",
                    format!(
                        "the local pipeline runs only lambda:invoke and events:putEvents tasks, \
                         not {}",
                        request.resource
                    ),
                ));
            }
            let function = request.parameters["FunctionName"]
                .as_str()
                .unwrap_or_default();
            let Some(step) = Step::from_function_arn(function) else {
                return Err(StatesError::new(
                    "Lambda.ResourceNotFoundException",
                    format!("Function not found: {function}"),
                ));
            };
            let payload = request
                .parameters
                .get("Payload")
                .cloned()
                .unwrap_or(Value::Null);
            // An analysis waits for its turn before its task's clock starts: started all at
            // once, the analyses of several photos share the cores, each one's wall-clock time
            // grows with the queue, and ordinary photos passed their TimeoutSeconds on a busy
            // machine. (The semaphore is never closed, so a turn always comes.)
            let _turn = if step.analyses() {
                self.analysis_turns.acquire().await.ok()
            } else {
                None
            };
            let call = self.steps.call(step, payload);
            match request.timeout {
                Some(timeout) => tokio::time::timeout(timeout, call)
                    .await
                    .unwrap_or_else(|_| Err(StatesError::bare("States.Timeout"))),
                None => call.await,
            }
        })
    }

    fn enforces_timeouts(&self) -> bool {
        true
    }
}

/// The pipeline: the shipped state machine and the steps its tasks run.
pub struct Pipeline<O, L, M, T, S> {
    machine: StateMachine,
    steps: Arc<Steps<O, L, M, T, S>>,
    analysis_turns: Arc<Semaphore>,
    events: Arc<dyn EventBus>,
}

impl<O, L, M, T, S> Pipeline<O, L, M, T, S>
where
    O: ObjectReader + 'static,
    L: LabelDetector + 'static,
    M: ModerationDetector + 'static,
    T: TextDetector + 'static,
    S: RecordStore + 'static,
{
    /// The shipped state machine over `steps`.
    pub fn new(steps: Steps<O, L, M, T, S>) -> Result<Self, DefinitionError> {
        Self::with_definition(DEFINITION, steps)
    }

    /// Another definition over `steps` (its substitutions must be the shipped ones).
    pub fn with_definition(
        definition: &str,
        steps: Steps<O, L, M, T, S>,
    ) -> Result<Self, DefinitionError> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(Pipeline {
            machine: StateMachine::parse(definition, &substitutions())?,
            steps: Arc::new(steps),
            analysis_turns: Arc::new(Semaphore::new(cores)),
            events: Arc::new(MemoryBus::default()),
        })
    }

    /// Where the result events go; a [`MemoryBus`] of its own by default.
    pub fn event_bus(mut self, bus: Arc<dyn EventBus>) -> Self {
        self.events = bus;
        self
    }

    /// How many analyses (model runs) go at once across every execution of this pipeline; the
    /// others wait for a turn, and a task's `TimeoutSeconds` counts from its turn. The number
    /// of cores by default; at least one.
    pub fn analyses_at_once(mut self, analyses: usize) -> Self {
        self.analysis_turns = Arc::new(Semaphore::new(analyses.max(1)));
        self
    }

    /// The steps' ports (to read the store, say).
    pub fn steps(&self) -> &Steps<O, L, M, T, S> {
        &self.steps
    }

    /// Runs one execution on `input` (an EventBridge event, an S3 notification or a request).
    /// `options.state_machine_name` defaults to [`STATE_MACHINE_NAME`].
    pub async fn run(
        &self,
        input: Value,
        mut options: RunOptions,
    ) -> Result<ExecutionResult, EngineError> {
        if options.state_machine_name == RunOptions::default().state_machine_name {
            options.state_machine_name = STATE_MACHINE_NAME.to_owned();
        }
        options.region = "local".to_owned();
        self.machine.run(input, self.invoker(), options).await
    }

    /// Redrives an execution of this pipeline that did not succeed, from where `previous` (its
    /// history so far) says it stopped, as [`StateMachine::redrive`] does; `options` as for
    /// [`Pipeline::run`], with the execution's name.
    pub async fn redrive(
        &self,
        previous: &ExecutionHistory,
        mut options: RunOptions,
    ) -> Result<ExecutionResult, RedriveError> {
        if options.state_machine_name == RunOptions::default().state_machine_name {
            options.state_machine_name = STATE_MACHINE_NAME.to_owned();
        }
        options.region = "local".to_owned();
        self.machine
            .redrive(previous, self.invoker(), options)
            .await
    }

    fn invoker(&self) -> Arc<Invoker<O, L, M, T, S>> {
        Arc::new(Invoker {
            steps: Arc::clone(&self.steps),
            analysis_turns: Arc::clone(&self.analysis_turns),
            events: Arc::clone(&self.events),
        })
    }
}
