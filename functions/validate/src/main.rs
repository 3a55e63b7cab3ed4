use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use spotlight_aws::lambda::{init_tracing, s3_client, sdk_config, LambdaFailure};
use spotlight_aws::S3Objects;
use spotlight_core::contracts::ObjectRequest;
use spotlight_validate::{handle, Limits};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let objects = S3Objects::new(s3_client(&sdk_config().await));
    let limits = Limits::default();
    let (objects, limits) = (&objects, &limits);
    run(service_fn(
        move |event: LambdaEvent<ObjectRequest>| async move {
            handle(&event.payload, objects, limits)
                .await
                .map_err(LambdaFailure::from)
        },
    ))
    .await
}
