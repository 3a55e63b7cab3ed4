//! `Task`: hands the resolved parameters to the caller's [`TaskInvoker`](crate::TaskInvoker),
//! within `TimeoutSeconds`, and reports `TaskScheduled`, `TaskStarted` and how it ended.

use crate::definition::{DefinitionReader, Lang, Obj};
use crate::error::{names, Interrupt, StatesError};
use crate::history::{
    DataDetails, EventDetails, EventType, TaskFailureDetails, TaskResource,
    TaskScheduledEventDetails, TaskSucceededEventDetails,
};
use crate::invoke::TaskRequest;
use crate::jsonata::{cause, Expr};
use crate::path::Path;
use crate::run::Extra;
use crate::run::{json_len, StateRun, MAX_PAYLOAD_BYTES};
use serde_json::Value;
use std::time::Duration;

pub(crate) const FIELDS: &[&str] = &[
    "Next",
    "End",
    "Resource",
    "InputPath",
    "OutputPath",
    "Parameters",
    "ResultSelector",
    "ResultPath",
    "Retry",
    "Catch",
    "TimeoutSeconds",
    "TimeoutSecondsPath",
    "HeartbeatSeconds",
    "HeartbeatSecondsPath",
    "Credentials",
    "Arguments",
    "Output",
    "Assign",
];

#[derive(Debug)]
pub(crate) enum Seconds {
    Fixed(u64),
    Path(Path),
    /// JSONata: a `{% %}` expression.
    Expr(Expr),
}

#[derive(Debug)]
pub(crate) struct Task {
    pub resource: String,
    resource_type: String,
    resource_name: String,
    pub timeout: Option<Seconds>,
    pub heartbeat: Option<Seconds>,
    pub credentials: Option<Value>,
}

/// `arn:aws:states:::lambda:invoke` → (`lambda`, `invoke`); `arn:aws:states:::aws-sdk:s3:getObject`
/// → (`aws-sdk:s3`, `getObject`); any other ARN → (its service, the whole ARN).
fn split_resource(arn: &str) -> (String, String) {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if let [_, _, "states", "", "", rest] = parts.as_slice() {
        if let Some((t, r)) = rest.rsplit_once(':') {
            return (t.to_string(), r.to_string());
        }
    }
    (
        parts.get(2).copied().unwrap_or("unknown").to_string(),
        arn.to_string(),
    )
}

fn seconds(reader: &mut DefinitionReader, obj: &Obj, fixed: &str, path: &str) -> Option<Seconds> {
    match (obj.contains_key(fixed), obj.contains_key(path)) {
        (true, true) => {
            reader.problem(format!(
                "A Task state cannot have both '{fixed}' and '{path}'"
            ));
            None
        }
        (true, false) if reader.lang == Some(Lang::Jsonata) => {
            match reader.expression_field(obj, fixed) {
                Some(expr) => Some(Seconds::Expr(expr)),
                None => reader.uint_field(obj, fixed, 1).map(Seconds::Fixed),
            }
        }
        (true, false) => reader.uint_field(obj, fixed, 1).map(Seconds::Fixed),
        (false, true) => reader.path_field(obj, path, true).map(Seconds::Path),
        (false, false) => None,
    }
}

pub(crate) fn parse(reader: &mut DefinitionReader, obj: &Obj) -> Option<Task> {
    let resource = reader.required_str(obj, "Resource");
    if let Some(r) = resource {
        if !r.starts_with("arn:") {
            reader.problem_at(
                "Resource",
                format!("Value is not a valid resource ARN: {r}"),
            );
        }
    }
    let timeout = seconds(reader, obj, "TimeoutSeconds", "TimeoutSecondsPath");
    let heartbeat = seconds(reader, obj, "HeartbeatSeconds", "HeartbeatSecondsPath");
    if let (Some(Seconds::Fixed(t)), Some(Seconds::Fixed(h))) = (&timeout, &heartbeat) {
        if h >= t {
            reader.problem_at(
                "HeartbeatSeconds",
                "HeartbeatSeconds must be smaller than TimeoutSeconds",
            );
        }
    }
    let resource = resource?.to_string();
    let (resource_type, resource_name) = split_resource(&resource);
    Some(Task {
        resource,
        resource_type,
        resource_name,
        timeout,
        heartbeat,
        credentials: obj.get("Credentials").cloned(),
    })
}

impl Task {
    fn seconds(
        &self,
        state_run: &StateRun<'_>,
        s: &Option<Seconds>,
        field: &str,
        input: &Value,
    ) -> Result<Option<u64>, StatesError> {
        match s {
            None => Ok(None),
            Some(Seconds::Fixed(n)) => Ok(Some(*n)),
            Some(Seconds::Path(p)) => {
                let v = state_run.select(p, input)?;
                match v.as_u64() {
                    Some(n) if n > 0 => Ok(Some(n)),
                    _ => Err(state_run.runtime(format!(
                        "The value at '{}' must be a positive integer, but was: {v}",
                        p.text()
                    ))),
                }
            }
            // Guess at the cause: AWS's wording for a wrong value was not found recorded.
            Some(Seconds::Expr(expr)) => {
                let v = state_run.expr_value(expr, field, input, Extra::default())?;
                match v.as_u64() {
                    Some(n) if n > 0 => Ok(Some(n)),
                    _ => Err(state_run.query_error(
                        field,
                        cause::unexpected(expr.text(), field, "positive integer", &v),
                    )),
                }
            }
        }
    }

    fn failure(&self, e: &StatesError) -> TaskFailureDetails {
        TaskFailureDetails {
            resource_type: self.resource_type.clone(),
            resource: self.resource_name.clone(),
            error: Some(e.error.clone()),
            cause: e.cause.clone(),
        }
    }

    /// One attempt: `Parameters`, then the call.
    pub async fn attempt(
        &self,
        state_run: &mut StateRun<'_>,
        effective: &Value,
    ) -> Result<Value, Interrupt> {
        let params = state_run.arguments(effective)?;
        let timeout = self.seconds(state_run, &self.timeout, "TimeoutSeconds", effective)?;
        let heartbeat = self.seconds(state_run, &self.heartbeat, "HeartbeatSeconds", effective)?;
        let shared = state_run.shared;
        shared.emit(state_run.cursor, EventType::TaskScheduled, || {
            Some(EventDetails::TaskScheduled(TaskScheduledEventDetails {
                resource_type: self.resource_type.clone(),
                resource: self.resource_name.clone(),
                region: shared.region.clone(),
                parameters: params.to_string(),
                timeout_in_seconds: timeout,
                heartbeat_in_seconds: heartbeat,
            }))
        });
        shared.emit(state_run.cursor, EventType::TaskStarted, || {
            Some(EventDetails::TaskStarted(TaskResource {
                resource_type: self.resource_type.clone(),
                resource: self.resource_name.clone(),
            }))
        });
        let request = TaskRequest {
            resource: &self.resource,
            parameters: params,
            state_name: &state_run.state.name,
            retry_count: state_run.retry_count,
            execution_id: &shared.exec.id,
            state_machine_name: &shared.exec.state_machine_name,
            credentials: self.credentials.as_ref(),
            timeout: timeout.map(Duration::from_secs),
        };
        let invoker_times_itself = shared.invoker.enforces_timeouts();
        let call = shared.invoker.invoke(request);
        // Heartbeats are accepted but not enforced: no task here can send one.
        let outcome = match timeout {
            Some(secs) if !invoker_times_itself => {
                tokio::select! {
                    r = call => Some(r),
                    () = shared.clock.sleep(Duration::from_secs(secs)) => None,
                }
            }
            _ => Some(call.await),
        };
        // An invoker that times its own tasks reports a timeout as this error; it is the same
        // event as the engine's own.
        let outcome = match outcome {
            Some(Err(e))
                if invoker_times_itself && timeout.is_some() && e.error == names::TIMEOUT =>
            {
                None
            }
            other => other,
        };
        match outcome {
            Some(Ok(result)) => {
                if json_len(&result) > MAX_PAYLOAD_BYTES {
                    // Observed on AWS: the task fails, naming the integration (or the ARN).
                    let label = if self.resource_name == self.resource {
                        &self.resource
                    } else {
                        &self.resource_type
                    };
                    let e = StatesError::new(
                        names::DATA_LIMIT_EXCEEDED,
                        format!(
                            "The state/task '{label}' returned a result with a size exceeding the maximum number of bytes service limit."
                        ),
                    );
                    shared.emit(state_run.cursor, EventType::TaskFailed, || {
                        Some(EventDetails::TaskFailed(self.failure(&e)))
                    });
                    return Err(e.into());
                }
                shared.emit(state_run.cursor, EventType::TaskSucceeded, || {
                    Some(EventDetails::TaskSucceeded(TaskSucceededEventDetails {
                        resource_type: self.resource_type.clone(),
                        resource: self.resource_name.clone(),
                        output: result.to_string(),
                        output_details: DataDetails::default(),
                    }))
                });
                Ok(result)
            }
            Some(Err(e)) => {
                shared.emit(state_run.cursor, EventType::TaskFailed, || {
                    Some(EventDetails::TaskFailed(self.failure(&e)))
                });
                Err(e.into())
            }
            None => {
                let e = StatesError::bare(names::TIMEOUT);
                shared.emit(state_run.cursor, EventType::TaskTimedOut, || {
                    Some(EventDetails::TaskTimedOut(self.failure(&e)))
                });
                Err(e.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_resource;

    #[test]
    fn resources_split_like_aws_history() {
        assert_eq!(
            split_resource("arn:aws:states:::lambda:invoke"),
            ("lambda".into(), "invoke".into())
        );
        assert_eq!(
            split_resource("arn:aws:states:::aws-sdk:s3:getObject"),
            ("aws-sdk:s3".into(), "getObject".into())
        );
        let f = "arn:aws:lambda:us-east-1:123456789012:function:f";
        assert_eq!(split_resource(f), ("lambda".into(), f.into()));
    }
}
