//! How tasks run: the engine hands each Task state's resource and resolved parameters to a
//! [`TaskInvoker`] the caller provides (a Lambda client, in-process handlers, mocks).

use crate::error::StatesError;
use crate::BoxFuture;
use serde_json::Value;
use std::future::Future;
use std::time::Duration;

/// One call of a task.
#[derive(Debug)]
pub struct TaskRequest<'a> {
    /// The state's `Resource` (after substitutions), e.g. `arn:aws:states:::lambda:invoke`.
    pub resource: &'a str,
    /// The resolved parameters (the effective input when the state has no `Parameters`).
    pub parameters: Value,
    /// The Task state's name.
    pub state_name: &'a str,
    /// How many times this state has been retried so far (`$$.State.RetryCount`).
    pub retry_count: u32,
    /// The execution's ARN (`$$.Execution.Id`).
    pub execution_id: &'a str,
    /// The state machine's name.
    pub state_machine_name: &'a str,
    /// The `Credentials` field, if the state has one (not interpreted by the engine).
    pub credentials: Option<&'a Value>,
    /// The task's timeout, if any. The engine enforces it unless the invoker
    /// [enforces timeouts](TaskInvoker::enforces_timeouts) itself.
    pub timeout: Option<Duration>,
}

/// Runs tasks. Return the task's result, or its error as Step Functions would name it (the
/// Lambda `errorType` as `error`, the message or error payload as `cause`).
pub trait TaskInvoker: Send + Sync {
    /// Runs one task.
    fn invoke<'a>(&'a self, request: TaskRequest<'a>) -> BoxFuture<'a, Result<Value, StatesError>>;

    /// Whether this invoker bounds each call by [`TaskRequest::timeout`] itself and fails it
    /// with `States.Timeout` past it. The engine then leaves the timing to it and records that
    /// error as the task timing out. An in-process invoker that queues calls for a turn on the
    /// CPU says yes, so the clock starts when the task runs, not when it was queued; on AWS the
    /// queue is not the task's time either.
    fn enforces_timeouts(&self) -> bool {
        false
    }
}

/// A task call with owned fields, for [`InvokerFn`].
#[derive(Debug, Clone)]
pub struct OwnedTaskRequest {
    /// See [`TaskRequest::resource`].
    pub resource: String,
    /// See [`TaskRequest::parameters`].
    pub parameters: Value,
    /// See [`TaskRequest::state_name`].
    pub state_name: String,
    /// See [`TaskRequest::retry_count`].
    pub retry_count: u32,
}

/// A [`TaskInvoker`] made of a closure: `InvokerFn(|req| async move { Ok(req.parameters) })`.
pub struct InvokerFn<F>(pub F);

impl<F, Fut> TaskInvoker for InvokerFn<F>
where
    F: Fn(OwnedTaskRequest) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Value, StatesError>> + Send + 'static,
{
    fn invoke<'a>(&'a self, request: TaskRequest<'a>) -> BoxFuture<'a, Result<Value, StatesError>> {
        Box::pin((self.0)(OwnedTaskRequest {
            resource: request.resource.to_string(),
            parameters: request.parameters,
            state_name: request.state_name.to_string(),
            retry_count: request.retry_count,
        }))
    }
}
