//! An Amazon States Language interpreter: runs Step Functions state machines in-process.
//!
//! Spotlight's local mode runs the very `statemachine/pipeline.asl.json` that AWS runs, with
//! this engine in place of Step Functions. It knows JSON, paths, states and retries — nothing
//! about images — and does no I/O of its own: it is handed a [`TaskInvoker`] (what a Task state
//! calls), a [`Clock`] (time and waiting) and optionally an [`EventSink`] (the history).
//!
//! # Use
//!
//! ```
//! use spotlight_states::{InvokerFn, RunOptions, StateMachine, Status};
//! use serde_json::json;
//! use std::{collections::HashMap, sync::Arc};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let definition = r#"{
//!   "StartAt": "Greet",
//!   "States": {
//!     "Greet": {
//!       "Type": "Task",
//!       "Resource": "arn:aws:states:::lambda:invoke",
//!       "Parameters": { "FunctionName": "${GreetFn}", "Payload": { "who.$": "$.name" } },
//!       "ResultSelector": { "greeting.$": "$.Payload" },
//!       "End": true
//!     }
//!   }
//! }"#;
//! // 1. Parse and validate, after DefinitionSubstitutions. Every problem comes back at once.
//! let subs = HashMap::from([("GreetFn".to_string(), "greet".to_string())]);
//! let machine = StateMachine::parse(definition, &subs)?;
//!
//! // 2. Say how tasks run: here a closure; `MockConfig` reads Step Functions Local mock files.
//! let invoker = Arc::new(InvokerFn(|req: spotlight_states::OwnedTaskRequest| async move {
//!     Ok(json!({ "Payload": format!("hello {}", req.parameters["Payload"]["who"]) }))
//! }));
//!
//! // 3. Run. `history: true` also returns the GetExecutionHistory-shaped event list.
//! let options = RunOptions { history: true, ..RunOptions::default() };
//! let result = machine.run(json!({"name": "Ada"}), invoker, options).await?;
//! assert_eq!(result.status, Status::Succeeded);
//! assert_eq!(result.output, Some(json!({"greeting": "hello \"Ada\""})));
//! assert_eq!(result.history.unwrap().events.len(), 7);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! For `spotlight states run --mock-config M --test-case T`, build the invoker with
//! [`MockConfig::parse`] and [`MockConfig::invoker`]`(machine_name, test_case)`. The
//! [`ExecutionResult`] serialises (serde) as `{"status", "output" | "error" + "cause",
//! "executionArn", "history": {"events": [...]}}`.
//!
//! [`test_state`] runs one state once, as AWS's TestState API does (`spotlight states
//! test-state`): mocked task results or errors, no retries performed (`RETRIABLE`), catchers
//! reported (`CAUGHT_ERROR`), and the data after each stage (`inspectionData`), answered in the
//! API's response shape ([`TestStateOutput`]).
//!
//! # Fidelity
//!
//! The engine follows what AWS does, which beats what it documents: error names and causes use
//! AWS's wording; `States.Runtime` is never retried or caught; a failing Parallel branch or Map
//! iteration fails the state with its own error; payloads over 256 KiB fail with
//! `States.DataLimitExceeded`; intrinsic functions print and round like AWS's Java code. Where
//! behaviour had to be guessed, the code says so next to it. Distributed Map readers/writers,
//! activities and callbacks are refused at load with a clear message.
//!
//! # Redrive
//!
//! [`StateMachine::redrive`] continues an execution that did not succeed from its history, as
//! `RedriveExecution` does: same ARN and input, `$$.Execution.RedriveCount` one more, an
//! `ExecutionRedriven` event and the events after it numbered on from the old ones, the state
//! it stopped in entered again with its original input and the variables as they were, and the
//! succeeded states, Parallel branches and Map iterations not run again. What AWS refuses is
//! refused with `ExecutionNotRedrivable` ([`RedriveError`]); see [`redrive`].
//!
//! # JSONata and variables
//!
//! `"QueryLanguage": "JSONata"` works at the top level and per state (a JSONPath machine may
//! opt single states in; a JSONata machine refuses JSONPath states, as AWS does). A JSONata state
//! has `Arguments`, `Output`, `Assign`, Choice `Condition`s, Map `Items`/`ItemSelector`, and
//! expressions for `Seconds`, `Timestamp`, `Error`, `Cause`, `TimeoutSeconds`,
//! `HeartbeatSeconds`, `MaxConcurrency` and `ToleratedFailure*`; every `"{% … %}"` string is
//! parsed once at load ([`jsonata`] evaluates it with `$states` — `input`, `context`, `result`,
//! `errorOutput` — and the variables bound). Failures are `States.QueryEvaluationError` with
//! AWS's causes and an `EvaluationFailed` history event. Mixing the fields of the two languages
//! is a definition problem with its JSON pointer.
//!
//! Workflow variables (`Assign`) work in both languages: `$name` and `$name.path` in every
//! JSONPath path and intrinsic argument, `$name` in JSONata. A state's `Assign` and `Output`
//! both see the values from before it (a JSONPath `Assign` reads the state's result after
//! `ResultSelector` as `$`); a Map iteration or Parallel branch reads the outer variables and
//! keeps its own assignments to itself. Over 256 KiB per variable or per `Assign`, or 10 MiB in
//! all, fails with `States.DataLimitExceeded`. A state's exit event lists what it assigned
//! (`assignedVariables`).

#![warn(missing_docs)]

mod clock;
mod context;
mod definition;
mod error;
#[doc(hidden)]
pub mod fuzz;
mod history;
pub use history::cost;
mod intrinsics;
mod invoke;
pub mod jsonata;
mod mock;
mod number;
mod path;
pub mod redrive;
mod run;
mod states;
mod test_state;
pub mod view;

use rand::SeedableRng;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use clock::{Clock, SystemClock, TokioClock};
pub use definition::StateMachine;
pub use error::{names, DefinitionError, EngineError, Problem, StatesError};
pub use history::{
    attribute, AttemptFailure, Attribution, DataDetails, EvaluationFailedEventDetails,
    EventDetails, EventFacts, EventSink, EventType, ExecutionHistory,
    ExecutionRedrivenEventDetails, ExecutionStartedEventDetails, FailureDetails, History,
    HistoryEvent, HistoryRecord, MapIterationEventDetails, MapStateStartedEventDetails,
    OutputDetails, StateActivity, StateEnteredEventDetails, StateEntry, StateExitedEventDetails,
    StateOutcome, TaskFailureDetails, TaskResource, TaskScheduledEventDetails,
    TaskSucceededEventDetails,
};
pub use intrinsics::{CallError, CallErrorKind, ExpressionError, FailureReason, FunctionFailure};
pub use invoke::{InvokerFn, OwnedTaskRequest, TaskInvoker, TaskRequest};
pub use mock::{MockConfig, MockError, MockInvoker, MockResponse};
pub use path::{PathError, PathErrorKind};
pub use redrive::RedriveError;
pub use run::{ExecutionResult, Status};
pub use test_state::{
    test_state, InspectionData, InspectionErrorDetails, InspectionLevel, StateConfiguration,
    TestMock, TestStateError, TestStateOptions, TestStateOutput, TestStateStatus,
};

/// A boxed, sendable future, as the engine's traits return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How to run one execution.
#[derive(Clone)]
pub struct RunOptions {
    /// The state machine's name (`$$.StateMachine.Name`, and which mock test cases apply).
    pub state_machine_name: String,
    /// The execution's name; a random UUID when `None`.
    pub execution_name: Option<String>,
    /// The region in ARNs and `TaskScheduled` events.
    pub region: String,
    /// The account in ARNs.
    pub account_id: String,
    /// `$$.Execution.RoleArn`; a placeholder role when `None`.
    pub role_arn: Option<String>,
    /// Keep the history and return it in the result. Off, no event is built at all.
    pub history: bool,
    /// Also stream every event here (a progress display, a store), with or without `history`.
    pub sink: Option<Arc<dyn EventSink>>,
    /// Time and waiting; the system clock when `None`. Tests use [`TokioClock`] under a paused
    /// tokio runtime, so waits and backoff take no real time.
    pub clock: Option<Arc<dyn Clock>>,
    /// Seed for retry jitter, `States.MathRandom` without a seed, `States.UUID`, JSONata's
    /// `$random()` without a seed and `$uuid()`, and execution names; from the OS when `None`.
    /// Set it for deterministic tests: the same seed gives the same run.
    pub seed: Option<u64>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            state_machine_name: "StateMachine".into(),
            execution_name: None,
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            role_arn: None,
            history: false,
            sink: None,
            clock: None,
            seed: None,
        }
    }
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("state_machine_name", &self.state_machine_name)
            .field("execution_name", &self.execution_name)
            .field("region", &self.region)
            .field("history", &self.history)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

struct Tee(Vec<Arc<dyn EventSink>>);

impl EventSink for Tee {
    fn record(&self, event: HistoryEvent) {
        if let Some((last, rest)) = self.0.split_last() {
            for s in rest {
                s.record(event.clone());
            }
            last.record(event);
        }
    }
}

impl StateMachine {
    /// Runs one execution on `input`, calling `invoker` for every task. Returns how the
    /// execution ended (a failed execution is an `Ok` with status `FAILED`); an `Err` means the
    /// engine itself failed.
    pub async fn run(
        &self,
        input: Value,
        invoker: Arc<dyn TaskInvoker>,
        options: RunOptions,
    ) -> Result<ExecutionResult, EngineError> {
        let mut input = input;
        // `-0` in the input prints as `0` on AWS (Java reads it as the integer 0).
        number::zero_sign(&mut input);
        self.launch(input, invoker, options, None).await
    }

    /// Redrives an execution that did not succeed, as `RedriveExecution` does: it goes on from
    /// the state it stopped in, read from `previous` (its whole history so far), under the
    /// same ARN (`options.execution_name` must be its name) and with the same input; states
    /// that succeeded are not run again, nor the branches and iterations of a Parallel or Map
    /// that succeeded. The events continue the old ones from `ExecutionRedriven` on; with
    /// `options.history` the result's history holds the old events and the new. See
    /// [`redrive`] for what is refused. A history that never ended is taken for an aborted
    /// execution: refusing one that still runs is the caller's part.
    pub async fn redrive(
        &self,
        previous: &ExecutionHistory,
        invoker: Arc<dyn TaskInvoker>,
        options: RunOptions,
    ) -> Result<ExecutionResult, RedriveError> {
        let now = options
            .clock
            .as_ref()
            .map_or_else(chrono::Utc::now, |c| c.now());
        let arn = |name: &str| {
            format!(
                "arn:aws:states:{}:{}:execution:{}:{name}",
                options.region, options.account_id, options.state_machine_name
            )
        };
        let Some(name) = options.execution_name.as_deref() else {
            return Err(RedriveError::NotRedrivable {
                arn: arn("?"),
                reason: "no execution name was given".into(),
            });
        };
        let plan = redrive::plan(self, &previous.events, now).map_err(|reason| {
            RedriveError::NotRedrivable {
                arn: arn(name),
                reason,
            }
        })?;
        Ok(self
            .launch(plan.input.clone(), invoker, options, Some((plan, previous)))
            .await?)
    }

    async fn launch(
        &self,
        input: Value,
        invoker: Arc<dyn TaskInvoker>,
        options: RunOptions,
        redrive: Option<(redrive::Plan, &ExecutionHistory)>,
    ) -> Result<ExecutionResult, EngineError> {
        let mut rng = match options.seed {
            Some(s) => rand::rngs::StdRng::seed_from_u64(s),
            None => rand::rngs::StdRng::from_os_rng(),
        };
        let clock = options.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let execution_name = options.execution_name.unwrap_or_else(|| {
            let mut b = [0u8; 16];
            rand::Rng::fill(&mut rng, &mut b);
            uuid::Builder::from_random_bytes(b).into_uuid().to_string()
        });
        let (region, account, machine) = (
            &options.region,
            &options.account_id,
            &options.state_machine_name,
        );
        let plan = redrive.as_ref().map(|(plan, _)| plan);
        let exec = context::ExecutionInfo {
            id: format!("arn:aws:states:{region}:{account}:execution:{machine}:{execution_name}"),
            name: execution_name,
            input: input.clone(),
            start_time: plan.map_or_else(|| clock.now(), |p| p.start_time),
            role_arn: options
                .role_arn
                .or_else(|| plan.and_then(|p| p.role_arn.clone()))
                .unwrap_or_else(|| format!("arn:aws:iam::{account}:role/StepFunctionsLocalRole")),
            state_machine_id: format!("arn:aws:states:{region}:{account}:stateMachine:{machine}"),
            state_machine_name: machine.clone(),
            redrive_count: plan.map_or(0, |p| p.redrive_count),
        };
        let history = options.history.then(|| Arc::new(History::new()));
        // A redriven execution's history goes on from its old events.
        if let (Some(h), Some((_, previous))) = (&history, &redrive) {
            for event in &previous.events {
                h.record(event.clone());
            }
        }
        let start = match redrive {
            Some((plan, _)) => run::Start::Redrive {
                last_event_id: plan.last_event_id,
                resume: plan.resume,
            },
            None => run::Start::Fresh,
        };
        let mut sinks: Vec<Arc<dyn EventSink>> = Vec::new();
        if let Some(h) = &history {
            sinks.push(h.clone());
        }
        sinks.extend(options.sink);
        let sink: Option<Arc<dyn EventSink>> = match sinks.len() {
            0 => None,
            1 => sinks.pop(),
            _ => Some(Arc::new(Tee(sinks))),
        };
        let shared = Arc::new(run::Shared::new(
            invoker,
            clock,
            sink,
            rng,
            exec,
            options.region.clone(),
        ));
        let mut result = run::execute(self, shared, input, start).await?;
        if let Some(h) = history {
            result.history = Some(ExecutionHistory { events: h.events() });
        }
        Ok(result)
    }
}
