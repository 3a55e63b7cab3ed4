use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use aws_lambda_events::http::{header::CONTENT_TYPE, HeaderValue};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use spotlight_aws::lambda::{init_tracing, required_env, sdk_config, LambdaFailure};
use spotlight_aws::{aws_sdk_dynamodb, DynamoRecords};
use spotlight_core::themes::Themes;
use spotlight_search::{handle, query_pairs};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let store = DynamoRecords::new(client, required_env("TABLE_NAME")?);
    let themes = Themes::shipped();
    let (store, themes) = (&store, &themes);
    run(service_fn(
        move |event: LambdaEvent<LambdaFunctionUrlRequest>| async move {
            let params = query_pairs(event.payload.raw_query_string.as_deref().unwrap_or(""));
            let answer = handle(&params, store, themes)
                .await
                .map_err(LambdaFailure::from)?;
            let mut response = LambdaFunctionUrlResponse::default();
            response.status_code = i64::from(answer.status);
            response
                .headers
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response.body = Some(answer.body.to_string());
            Ok::<_, LambdaFailure>(response)
        },
    ))
    .await
}
