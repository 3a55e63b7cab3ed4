//! What every Lambda `main.rs` shares: JSON logs for CloudWatch, the SDK configuration, and
//! errors that reach Step Functions with the design's `errorType`.

use lambda_runtime::Diagnostic;
use spotlight_core::StepError;

/// A step error on its way to the Lambda runtime. Its `errorType` is exactly the design's name
/// (`ImageRejected.TooSmall`, `AnalyzerThrottled`, …), which the state machine routes on.
#[derive(Debug)]
pub struct LambdaFailure(pub StepError);

impl From<StepError> for LambdaFailure {
    fn from(error: StepError) -> Self {
        LambdaFailure(error)
    }
}

impl From<LambdaFailure> for Diagnostic {
    fn from(failure: LambdaFailure) -> Self {
        let lambda = failure.0.to_lambda_error();
        // Logged here because the runtime only reports it to Step Functions.
        tracing::error!(error_type = %lambda.error_type, message = %lambda.error_message, "step failed");
        Diagnostic {
            error_type: lambda.error_type,
            error_message: lambda.error_message,
        }
    }
}

/// JSON logs on stdout (CloudWatch), filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_ansi(false)
        .without_time() // CloudWatch stamps every line
        .with_target(false)
        .init();
}

/// The SDK configuration from the environment (region, credentials, `AWS_ENDPOINT_URL*`).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// An S3 client. `SPOTLIGHT_S3_FORCE_PATH_STYLE=true` selects path-style addressing, which
/// S3-compatible servers on loopback need.
pub fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let path_style = std::env::var("SPOTLIGHT_S3_FORCE_PATH_STYLE").is_ok_and(|v| v == "true");
    let config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(path_style)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// An SDK configuration for an AWS-API server on loopback (moto, test doubles): fixed
/// credentials and region, every service at `endpoint`.
pub fn loopback_config(endpoint: &str) -> aws_config::SdkConfig {
    let credentials =
        aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "loopback");
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            credentials,
        ))
        .build()
}

/// A path-style S3 client for a loopback server.
pub fn loopback_s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&loopback_config(endpoint))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// A required environment variable, or an error naming it.
pub fn required_env(name: &str) -> Result<String, lambda_runtime::Error> {
    std::env::var(name).map_err(|_| format!("the environment variable {name} is not set").into())
}
