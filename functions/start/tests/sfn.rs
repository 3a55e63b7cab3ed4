//! The Step Functions adapter against aws-smithy-mocks: what each answer means to the starter.

use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
use aws_sdk_sfn::operation::start_execution::StartExecutionError;
use aws_sdk_sfn::operation::start_sync_execution::{
    StartSyncExecutionError, StartSyncExecutionOutput,
};
use aws_sdk_sfn::types::error::{ExecutionAlreadyExists, ExecutionLimitExceeded};
use aws_sdk_sfn::types::{ExecutionStatus as Status, SyncExecutionStatus};
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use spotlight_start::sfn::SfnExecutions;
use spotlight_start::{ExecutionStatus, Executions, StartError};

const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:Pipeline";

fn timestamp() -> aws_sdk_sfn::primitives::DateTime {
    aws_sdk_sfn::primitives::DateTime::from_secs(1_700_000_000)
}

#[tokio::test]
async fn a_synchronous_run_reports_how_the_execution_ended() {
    let timed_out = mock!(aws_sdk_sfn::Client::start_sync_execution)
        .match_requests(|r| r.name() == Some("m-1") && r.state_machine_arn() == Some(MACHINE))
        .then_output(|| {
            StartSyncExecutionOutput::builder()
                .execution_arn("arn:aws:states:us-east-1:123456789012:express:Pipeline:m-1:x")
                .start_date(timestamp())
                .stop_date(timestamp())
                .status(SyncExecutionStatus::TimedOut)
                .build()
                .unwrap()
        });
    let client = mock_client!(aws_sdk_sfn, [&timed_out]);
    let executions = SfnExecutions::new(client, MACHINE);
    let status = executions.run_sync("m-1", "{}").await.unwrap();
    assert_eq!(status, ExecutionStatus::TimedOut);
}

#[tokio::test]
async fn a_refused_start_is_an_error_that_says_why() {
    let limited = mock!(aws_sdk_sfn::Client::start_sync_execution).then_error(|| {
        StartSyncExecutionError::InvalidExecutionInput(
            aws_sdk_sfn::types::error::InvalidExecutionInput::builder()
                .message("Invalid State Machine Execution Input")
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_sfn, [&limited]);
    let error = SfnExecutions::new(client, MACHINE)
        .run_sync("m-1", "not json")
        .await
        .unwrap_err();
    let StartError::Api { operation, source } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(*operation, "StartSyncExecution");
    assert!(
        source
            .to_string()
            .contains("Invalid State Machine Execution Input"),
        "{source}"
    );
}

#[tokio::test]
async fn a_redelivered_standard_message_finds_its_execution_by_name() {
    let exists = mock!(aws_sdk_sfn::Client::start_execution).then_error(|| {
        StartExecutionError::ExecutionAlreadyExists(
            ExecutionAlreadyExists::builder()
                .message("Execution Already Exists")
                .build(),
        )
    });
    let described = mock!(aws_sdk_sfn::Client::describe_execution)
        .match_requests(|r| {
            r.execution_arn()
                == Some("arn:aws:states:us-east-1:123456789012:execution:Pipeline:m-7")
        })
        .then_output(|| {
            DescribeExecutionOutput::builder()
                .execution_arn("arn:aws:states:us-east-1:123456789012:execution:Pipeline:m-7")
                .state_machine_arn(MACHINE)
                .status(Status::Succeeded)
                .start_date(timestamp())
                .build()
                .unwrap()
        });
    let client = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&exists, &described]);
    let executions = SfnExecutions::new(client, MACHINE);
    let arn = executions.start("m-7", "{}").await.unwrap();
    assert_eq!(
        arn,
        "arn:aws:states:us-east-1:123456789012:execution:Pipeline:m-7"
    );
    assert_eq!(
        executions.status(&arn).await.unwrap(),
        ExecutionStatus::Succeeded
    );
}

#[tokio::test]
async fn a_throttled_standard_start_is_an_error() {
    let limited = mock!(aws_sdk_sfn::Client::start_execution).then_error(|| {
        StartExecutionError::ExecutionLimitExceeded(
            ExecutionLimitExceeded::builder()
                .message("Maximum number of running executions reached")
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_sfn, [&limited]);
    let error = SfnExecutions::new(client, MACHINE)
        .start("m-1", "{}")
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            StartError::Api {
                operation: "StartExecution",
                ..
            }
        ),
        "{error:?}"
    );
}
