//! The built `start` binary, driven through the Lambda Runtime API with SQS events, running
//! Standard executions on moto's Step Functions (which runs Pass, Succeed and Fail states when
//! told to; it has no StartSyncExecution, so Express is covered by the adapter's mock tests).

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::{json, Value};
use spotlight_aws::lambda::loopback_config;
use spotlight_testkit::{moto, unique_name, LambdaProcess, Outcome};

/// Asks moto to run executions instead of leaving them RUNNING forever.
fn execute_state_machines(endpoint: &str) {
    let authority = endpoint.trim_start_matches("http://");
    let body = r#"{"stepfunctions": {"execute_state_machine": true}}"#;
    let mut stream = TcpStream::connect(authority).unwrap();
    write!(
        stream,
        "POST /moto-api/config HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 2"), "{answer}");
}

async fn state_machine(endpoint: &str, definition: Value) -> String {
    let client = aws_sdk_sfn::Client::new(&loopback_config(endpoint));
    client
        .create_state_machine()
        .name(unique_name("pipeline"))
        .definition(definition.to_string())
        .role_arn("arn:aws:iam::123456789012:role/pipeline")
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_owned()
}

fn sqs_event(message_id: &str) -> Value {
    let upload = json!({"source": "aws.s3", "detail-type": "Object Created",
                        "detail": {"bucket": {"name": "photos"}, "object": {"key": "a.jpg", "size": 10}}});
    json!({"Records": [{
        "messageId": message_id,
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        "body": upload.to_string(),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:uploads",
        "awsRegion": "us-east-1"
    }]})
}

fn starter(endpoint: &str, machine: &str, workflow: &str) -> LambdaProcess {
    LambdaProcess::start(
        env!("CARGO_BIN_EXE_start"),
        &[
            ("AWS_ENDPOINT_URL", endpoint.to_owned()),
            ("STATE_MACHINE_ARN", machine.to_owned()),
            ("WORKFLOW_TYPE", workflow.to_owned()),
        ],
    )
}

#[tokio::test]
async fn the_lambda_binary_runs_each_upload_to_its_end() {
    let Some(moto) = moto() else { return };
    execute_state_machines(&moto.endpoint);
    let succeeding = state_machine(
        &moto.endpoint,
        json!({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
    )
    .await;
    let lambda = starter(&moto.endpoint, &succeeding, "STANDARD");
    let Outcome::Success(answer) = lambda.invoke(sqs_event("m-1")) else {
        panic!("the starter should answer")
    };
    assert_eq!(answer, json!({"batchItemFailures": []}));
    // The same message again (SQS delivers at least once): the execution is found by name.
    let Outcome::Success(answer) = lambda.invoke(sqs_event("m-1")) else {
        panic!("the starter should answer")
    };
    assert_eq!(answer, json!({"batchItemFailures": []}));
    let client = aws_sdk_sfn::Client::new(&loopback_config(&moto.endpoint));
    let executions = client
        .list_executions()
        .state_machine_arn(&succeeding)
        .send()
        .await
        .unwrap();
    assert_eq!(
        executions.executions().len(),
        1,
        "one execution per message"
    );
    assert_eq!(executions.executions()[0].name(), "m-1");
    drop(lambda);

    // A failed execution has its FAILED record: the message is done too.
    let failing = state_machine(
        &moto.endpoint,
        json!({"StartAt": "Failed", "States": {"Failed": {"Type": "Fail", "Error": "AnalyzerFailed"}}}),
    )
    .await;
    let lambda = starter(&moto.endpoint, &failing, "STANDARD");
    let Outcome::Success(answer) = lambda.invoke(sqs_event("m-2")) else {
        panic!("the starter should answer")
    };
    assert_eq!(answer, json!({"batchItemFailures": []}));
    drop(lambda);

    // No execution could start: the message goes back to the queue.
    let missing = succeeding.replace(":stateMachine:", ":stateMachine:gone-");
    let lambda = starter(&moto.endpoint, &missing, "STANDARD");
    let Outcome::Success(answer) = lambda.invoke(sqs_event("m-3")) else {
        panic!("the starter should answer")
    };
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "m-3"}]})
    );
}
