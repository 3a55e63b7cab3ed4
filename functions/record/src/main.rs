use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use spotlight_aws::lambda::{init_tracing, required_env, sdk_config, LambdaFailure};
use spotlight_aws::{aws_sdk_dynamodb, DynamoRecords};
use spotlight_record::{handle_request, RecordConfig, RecordRequest};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = RecordConfig::from_settings(
        std::env::var("MODERATION_POLICY_JSON").ok().as_deref(),
        std::env::var("MODERATION_DEFAULT_MIN_CONFIDENCE")
            .ok()
            .as_deref(),
    )?;
    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let store = DynamoRecords::new(client, required_env("TABLE_NAME")?);
    let (store, config) = (&store, &config);
    run(service_fn(
        move |event: LambdaEvent<RecordRequest>| async move {
            let now = chrono::Utc::now();
            handle_request(event.payload, store, config, now)
                .await
                .map_err(LambdaFailure::from)
        },
    ))
    .await
}
