//! The starter: the bounded consumer between the upload queue and the state machine.
//!
//! EventBridge puts every upload event on an SQS queue; Lambda's event source mapping hands
//! them to this function one at a time, with at most `MaximumConcurrency` invocations at once.
//! Each invocation runs one execution and stays until it has ended, so that bound is also the
//! bound on executions running at once, and so on Rekognition calls and step invocations. A
//! burst waits in the queue instead of becoming a pile of throttled, FAILED records.
//!
//! - Express: `StartSyncExecution` returns when the execution has ended.
//! - Standard (which has no synchronous start): `StartExecution` named after the message, then
//!   `DescribeExecution` until it has ended. A redelivered message finds its execution by name
//!   instead of starting a second one.
//!
//! An execution that ended `SUCCEEDED` or `FAILED` has written its record (a failure is recorded
//! by the state machine's `RecordFailed`), so its message is done. Anything else (timed out,
//! aborted, not started) is reported as a batch item failure: SQS hands the message out again
//! after its visibility timeout, and after `maxReceiveCount` moves it to the dead-letter queue,
//! whose alarm fires.
#![warn(missing_docs)]

#[cfg(feature = "lambda")]
pub mod sfn;

use std::error::Error as _;
use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which kind of state machine runs the pipeline (the template's `WorkflowType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkflowType {
    /// Exactly-once steps, no synchronous start.
    Standard,
    /// At most five minutes, started synchronously.
    Express,
}

impl std::str::FromStr for WorkflowType {
    type Err = StartError;

    fn from_str(value: &str) -> Result<Self, StartError> {
        match value {
            "STANDARD" => Ok(WorkflowType::Standard),
            "EXPRESS" => Ok(WorkflowType::Express),
            other => Err(StartError::Config(format!(
                "WORKFLOW_TYPE is {other:?}, not STANDARD or EXPRESS"
            ))),
        }
    }
}

/// How an execution stands, as Step Functions reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutionStatus {
    /// Still running.
    Running,
    /// Ended at a Succeed state (an ANALYZED or REJECTED record).
    Succeeded,
    /// Ended at a Fail state (a FAILED record, unless the record could not be written).
    Failed,
    /// Ran past the workflow's limit: there may be no record.
    TimedOut,
    /// Stopped by someone: there may be no record.
    Aborted,
    /// Any other status (e.g. `PENDING_REDRIVE`), as Step Functions spells it.
    Other(String),
}

/// Why an upload's execution did not end with a record.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Step Functions refused or failed the call (throttling, limits, permissions).
    #[error("{operation} failed")]
    Api {
        /// The Step Functions operation.
        operation: &'static str,
        /// What it said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The execution ended without a record.
    #[error("execution {execution} ended {status:?}")]
    Unfinished {
        /// The execution's name or ARN.
        execution: String,
        /// How it ended.
        status: ExecutionStatus,
    },
    /// The function is misconfigured.
    #[error("{0}")]
    Config(String),
}

/// What the starter needs from Step Functions.
pub trait Executions {
    /// Runs an Express execution and returns how it ended.
    fn run_sync(
        &self,
        name: &str,
        input: &str,
    ) -> impl Future<Output = Result<ExecutionStatus, StartError>>;

    /// Starts a Standard execution named `name`, or finds the one that already has that name,
    /// and returns its ARN.
    fn start(&self, name: &str, input: &str) -> impl Future<Output = Result<String, StartError>>;

    /// How the execution `arn` stands.
    fn status(&self, arn: &str) -> impl Future<Output = Result<ExecutionStatus, StartError>>;
}

/// The SQS event Lambda's event source mapping delivers (the fields the starter reads).
#[derive(Debug, Clone, Deserialize)]
pub struct SqsEvent {
    /// The messages of this batch.
    #[serde(rename = "Records")]
    pub records: Vec<SqsMessage>,
}

/// One queued upload event.
#[derive(Debug, Clone, Deserialize)]
pub struct SqsMessage {
    /// SQS's id of the message: the batch item to report, and the Standard execution's name.
    #[serde(rename = "messageId")]
    pub message_id: String,
    /// The EventBridge event, as JSON text: the execution's input.
    pub body: String,
}

/// The answer `ReportBatchItemFailures` expects: the messages to hand out again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchResponse {
    /// One entry per message that did not end with a record.
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<BatchItemFailure>,
}

/// A message SQS should deliver again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchItemFailure {
    /// The message's `messageId`.
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

/// How the starter runs.
#[derive(Debug, Clone, Copy)]
pub struct StartConfig {
    /// The pipeline's workflow type.
    pub workflow: WorkflowType,
    /// How long to wait between two looks at a running Standard execution.
    pub poll_interval: Duration,
}

/// Runs one execution per message, one message after the other, and reports the messages whose
/// execution did not end with a record.
pub async fn handle<E: Executions>(
    event: SqsEvent,
    executions: &E,
    config: &StartConfig,
) -> BatchResponse {
    let mut response = BatchResponse::default();
    for message in event.records {
        match run_one(&message, executions, config).await {
            Ok(status) => {
                tracing::info!(message_id = %message.message_id, ?status, "execution ended");
            }
            Err(error) => {
                let cause = error
                    .source()
                    .map(|source| source.to_string())
                    .unwrap_or_default();
                tracing::warn!(message_id = %message.message_id, %error, %cause, "execution to be retried");
                response.batch_item_failures.push(BatchItemFailure {
                    item_identifier: message.message_id,
                });
            }
        }
    }
    response
}

async fn run_one<E: Executions>(
    message: &SqsMessage,
    executions: &E,
    config: &StartConfig,
) -> Result<ExecutionStatus, StartError> {
    let name = execution_name(&message.message_id);
    let (execution, status) = match config.workflow {
        WorkflowType::Express => (
            name.clone(),
            executions.run_sync(&name, &message.body).await?,
        ),
        WorkflowType::Standard => {
            let arn = executions.start(&name, &message.body).await?;
            loop {
                match executions.status(&arn).await? {
                    ExecutionStatus::Running => tokio::time::sleep(config.poll_interval).await,
                    ended => break (arn, ended),
                }
            }
        }
    };
    match status {
        ExecutionStatus::Succeeded | ExecutionStatus::Failed => Ok(status),
        status => Err(StartError::Unfinished { execution, status }),
    }
}

/// An execution name from an SQS message id: Step Functions allows 80 characters of letters,
/// digits, `-` and `_`; SQS's ids are UUIDs, but nothing else is let through either.
pub fn execution_name(message_id: &str) -> String {
    message_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect()
}

/// The ARN of the execution `name` of the state machine `state_machine_arn`
/// (`arn:aws:states:<region>:<account>:stateMachine:<machine>` →
/// `arn:aws:states:<region>:<account>:execution:<machine>:<name>`).
pub fn execution_arn(state_machine_arn: &str, name: &str) -> Option<String> {
    let (prefix, machine) = state_machine_arn.split_once(":stateMachine:")?;
    Some(format!("{prefix}:execution:{machine}:{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::VecDeque;

    /// Step Functions as a script: what each call answers, in order, and what was asked.
    #[derive(Default)]
    struct Scripted {
        answers: RefCell<VecDeque<Result<ExecutionStatus, StartError>>>,
        calls: RefCell<Vec<String>>,
    }

    impl Scripted {
        fn answering(answers: Vec<Result<ExecutionStatus, StartError>>) -> Self {
            Scripted {
                answers: RefCell::new(answers.into()),
                calls: RefCell::default(),
            }
        }

        fn next(&self) -> Result<ExecutionStatus, StartError> {
            self.answers
                .borrow_mut()
                .pop_front()
                .unwrap_or(Err(StartError::Config("no answer left".into())))
        }
    }

    impl Executions for Scripted {
        async fn run_sync(&self, name: &str, input: &str) -> Result<ExecutionStatus, StartError> {
            self.calls
                .borrow_mut()
                .push(format!("run_sync {name} {input}"));
            self.next()
        }

        async fn start(&self, name: &str, input: &str) -> Result<String, StartError> {
            self.calls
                .borrow_mut()
                .push(format!("start {name} {input}"));
            Ok(format!("arn:execution:{name}"))
        }

        async fn status(&self, arn: &str) -> Result<ExecutionStatus, StartError> {
            self.calls.borrow_mut().push(format!("status {arn}"));
            self.next()
        }
    }

    fn event(ids: &[&str]) -> SqsEvent {
        SqsEvent {
            records: ids
                .iter()
                .map(|id| SqsMessage {
                    message_id: (*id).to_owned(),
                    body: format!("{{\"id\":\"{id}\"}}"),
                })
                .collect(),
        }
    }

    fn config(workflow: WorkflowType) -> StartConfig {
        StartConfig {
            workflow,
            poll_interval: Duration::from_secs(1),
        }
    }

    fn failures(response: &BatchResponse) -> Vec<&str> {
        response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    #[tokio::test]
    async fn express_messages_with_a_record_are_done_and_the_rest_come_back() {
        let sfn = Scripted::answering(vec![
            Ok(ExecutionStatus::Succeeded),
            Ok(ExecutionStatus::Failed),
            Ok(ExecutionStatus::TimedOut),
            Err(StartError::Api {
                operation: "StartSyncExecution",
                source: "Rate exceeded".into(),
            }),
        ]);
        let response = handle(
            event(&["ok", "failed", "timed-out", "throttled"]),
            &sfn,
            &config(WorkflowType::Express),
        )
        .await;
        assert_eq!(failures(&response), ["timed-out", "throttled"]);
        assert_eq!(sfn.calls.borrow()[0], "run_sync ok {\"id\":\"ok\"}");
        assert_eq!(sfn.calls.borrow().len(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_standard_execution_is_waited_for_until_it_ends() {
        let sfn = Scripted::answering(vec![
            Ok(ExecutionStatus::Running),
            Ok(ExecutionStatus::Running),
            Ok(ExecutionStatus::Succeeded),
        ]);
        let started = tokio::time::Instant::now();
        let response = handle(event(&["m-1"]), &sfn, &config(WorkflowType::Standard)).await;
        assert_eq!(response, BatchResponse::default());
        assert_eq!(
            *sfn.calls.borrow(),
            [
                "start m-1 {\"id\":\"m-1\"}",
                "status arn:execution:m-1",
                "status arn:execution:m-1",
                "status arn:execution:m-1"
            ]
        );
        // Two looks found it running, each followed by one poll interval.
        assert_eq!(started.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn an_aborted_standard_execution_sends_its_message_back() {
        let sfn = Scripted::answering(vec![Ok(ExecutionStatus::Aborted)]);
        let response = handle(event(&["m-2"]), &sfn, &config(WorkflowType::Standard)).await;
        assert_eq!(failures(&response), ["m-2"]);
    }

    #[test]
    fn names_and_arns() {
        assert_eq!(
            execution_name("059f36b4-87a3-44ab-83d2-661975830a7d"),
            "059f36b4-87a3-44ab-83d2-661975830a7d"
        );
        assert_eq!(execution_name("a b/c"), "a_b_c");
        assert_eq!(execution_name(&"x".repeat(100)).len(), 80);
        assert_eq!(
            execution_arn(
                "arn:aws:states:us-east-1:123456789012:stateMachine:Pipeline-1",
                "m-1"
            )
            .as_deref(),
            Some("arn:aws:states:us-east-1:123456789012:execution:Pipeline-1:m-1")
        );
        assert_eq!(execution_arn("arn:aws:lambda:x", "m"), None);
        assert_eq!(
            "EXPRESS".parse::<WorkflowType>().ok(),
            Some(WorkflowType::Express)
        );
        assert!("express".parse::<WorkflowType>().is_err());
    }

    #[test]
    fn the_sqs_event_and_the_answer_have_lambdas_field_names() {
        let event: SqsEvent = serde_json::from_str(
            r#"{"Records": [{"messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
                "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a", "body": "{\"detail\":{}}",
                "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:my-queue",
                "awsRegion": "us-east-1"}]}"#,
        )
        .unwrap();
        assert_eq!(event.records[0].body, "{\"detail\":{}}");
        let answer = BatchResponse {
            batch_item_failures: vec![BatchItemFailure {
                item_identifier: "m".into(),
            }],
        };
        assert_eq!(
            serde_json::to_value(&answer).unwrap(),
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m"}]})
        );
    }
}
