use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use spotlight_aws::lambda::{init_tracing, sdk_config, LambdaFailure};
use spotlight_aws::{aws_sdk_rekognition, Rekognition, RekognitionSettings};
use spotlight_core::contracts::AnalyzeInput;
use spotlight_detect_text::handle;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let client = aws_sdk_rekognition::Client::new(&sdk_config().await);
    let detector = Rekognition::new(client, RekognitionSettings::from_env());
    let detector = &detector;
    run(service_fn(
        move |event: LambdaEvent<AnalyzeInput>| async move {
            handle(&event.payload, detector)
                .await
                .map_err(LambdaFailure::from)
        },
    ))
    .await
}
