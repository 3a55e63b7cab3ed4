use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use spotlight_aws::lambda::{init_tracing, required_env, sdk_config, LambdaFailure};
use spotlight_aws::{aws_sdk_dynamodb, DynamoRecords};
use spotlight_core::contracts::ReevaluateInput;
use spotlight_reevaluate::{handle, ReevaluateConfig};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = ReevaluateConfig::from_settings(
        std::env::var("MODERATION_POLICY_JSON").ok().as_deref(),
        std::env::var("MODERATION_DEFAULT_MIN_CONFIDENCE")
            .ok()
            .as_deref(),
    )?;
    let mut config = config;
    // Page and chunk sizes: the defaults suit DynamoDB; tests make them small.
    if let Some(page) = env_number("REEVALUATE_PAGE") {
        config.page = page;
    }
    if let Some(chunk) = env_number("REEVALUATE_CHUNK") {
        config.chunk = chunk;
    }
    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let store = DynamoRecords::new(client, required_env("TABLE_NAME")?);
    let (store, config) = (&store, &config);
    run(service_fn(
        move |event: LambdaEvent<ReevaluateInput>| async move {
            handle(event.payload, store, config)
                .await
                .map_err(LambdaFailure::from)
        },
    ))
    .await
}

fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok()?.parse().ok().filter(|n| *n > 0)
}
