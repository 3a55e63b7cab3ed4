use std::time::Duration;

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use spotlight_aws::lambda::{init_tracing, required_env, sdk_config};
use spotlight_start::sfn::SfnExecutions;
use spotlight_start::{handle, SqsEvent, StartConfig};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = StartConfig {
        workflow: required_env("WORKFLOW_TYPE")?.parse()?,
        poll_interval: Duration::from_secs(1),
    };
    let client = aws_sdk_sfn::Client::new(&sdk_config().await);
    let executions = SfnExecutions::new(client, required_env("STATE_MACHINE_ARN")?);
    let (executions, config) = (&executions, &config);
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(handle(event.payload, executions, config).await)
    }))
    .await
}
