use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use aws_lambda_events::http::{header::CONTENT_TYPE, HeaderValue};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use spotlight_aws::lambda::{init_tracing, required_env, sdk_config, LambdaFailure};
use spotlight_aws::{aws_sdk_dynamodb, DynamoRecords};
use spotlight_review::{handle, Call};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let store = DynamoRecords::new(client, required_env("TABLE_NAME")?);
    let store = &store;
    run(service_fn(
        move |event: LambdaEvent<LambdaFunctionUrlRequest>| async move {
            let request = &event.payload;
            let caller = request
                .request_context
                .authorizer
                .as_ref()
                .and_then(|a| a.iam.as_ref())
                .and_then(|iam| iam.user_arn.as_deref());
            let call = Call {
                method: request.request_context.http.method.as_deref().unwrap_or(""),
                body: request.body.as_deref().unwrap_or(""),
                caller,
                base64: request.is_base64_encoded,
            };
            let answer = handle(call, store, chrono::Utc::now())
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
