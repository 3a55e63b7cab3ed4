//! [`Executions`] on AWS Step Functions.

use aws_sdk_sfn::error::DisplayErrorContext;
use aws_sdk_sfn::types::{ExecutionStatus as Status, SyncExecutionStatus};

use crate::{execution_arn, ExecutionStatus, Executions, StartError};

/// The pipeline's state machine, through the Step Functions API.
#[derive(Debug, Clone)]
pub struct SfnExecutions {
    client: aws_sdk_sfn::Client,
    state_machine_arn: String,
}

impl SfnExecutions {
    /// Executions of the state machine `state_machine_arn`.
    pub fn new(client: aws_sdk_sfn::Client, state_machine_arn: impl Into<String>) -> Self {
        SfnExecutions {
            client,
            state_machine_arn: state_machine_arn.into(),
        }
    }
}

/// An SDK error whose message is the whole context (the SDK's own Display says only "service
/// error"), with the error itself kept as the source.
#[derive(Debug)]
struct SdkFailure<E>(E);

impl<E: std::error::Error + 'static> std::fmt::Display for SdkFailure<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", DisplayErrorContext(&self.0))
    }
}

impl<E: std::error::Error + 'static> std::error::Error for SdkFailure<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

fn api_error<E>(operation: &'static str, error: E) -> StartError
where
    E: std::error::Error + Send + Sync + 'static,
{
    StartError::Api {
        operation,
        source: Box::new(SdkFailure(error)),
    }
}

impl Executions for SfnExecutions {
    async fn run_sync(&self, name: &str, input: &str) -> Result<ExecutionStatus, StartError> {
        let output = self
            .client
            .start_sync_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(name)
            .input(input)
            .send()
            .await
            .map_err(|e| api_error("StartSyncExecution", e))?;
        Ok(match output.status() {
            SyncExecutionStatus::Succeeded => ExecutionStatus::Succeeded,
            SyncExecutionStatus::Failed => ExecutionStatus::Failed,
            SyncExecutionStatus::TimedOut => ExecutionStatus::TimedOut,
            other => ExecutionStatus::Other(other.as_str().to_owned()),
        })
    }

    async fn start(&self, name: &str, input: &str) -> Result<String, StartError> {
        let started = self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(name)
            .input(input)
            .send()
            .await;
        match started {
            Ok(output) => Ok(output.execution_arn().to_owned()),
            // A redelivered message whose execution has ended: look at that one, never start
            // a second (Step Functions only answers with the same ARN while it runs).
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_execution_already_exists()) =>
            {
                execution_arn(&self.state_machine_arn, name).ok_or_else(|| {
                    StartError::Config(format!(
                        "STATE_MACHINE_ARN {:?} is not a state machine ARN",
                        self.state_machine_arn
                    ))
                })
            }
            Err(error) => Err(api_error("StartExecution", error)),
        }
    }

    async fn status(&self, arn: &str) -> Result<ExecutionStatus, StartError> {
        let output = self
            .client
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .map_err(|e| api_error("DescribeExecution", e))?;
        Ok(match output.status() {
            Status::Running => ExecutionStatus::Running,
            Status::Succeeded => ExecutionStatus::Succeeded,
            Status::Failed => ExecutionStatus::Failed,
            Status::TimedOut => ExecutionStatus::TimedOut,
            Status::Aborted => ExecutionStatus::Aborted,
            other => ExecutionStatus::Other(other.as_str().to_owned()),
        })
    }
}
