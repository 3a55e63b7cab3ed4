use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use spotlight_aws::lambda::{init_tracing, required_env, sdk_config, LambdaFailure};
use spotlight_aws::{aws_sdk_dynamodb, DynamoRecords};
use spotlight_core::contracts::S3ObjectDeletedEvent;
use spotlight_takedown::handle;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let store = DynamoRecords::new(client, required_env("TABLE_NAME")?);
    let store = &store;
    run(service_fn(
        move |event: LambdaEvent<S3ObjectDeletedEvent>| async move {
            handle(event.payload, store)
                .await
                .map_err(LambdaFailure::from)
        },
    ))
    .await
}
