//! Spotlight on AWS: the S3, Rekognition and DynamoDB adapters of the ports, and the wiring
//! every Lambda binary shares (JSON logs, SDK configuration, errors with the design's names).
#![warn(missing_docs)]

mod dynamodb;
pub mod lambda;
mod rekognition;
mod s3;

pub use dynamodb::{DynamoRecords, STATUS_INDEX, STATUS_SHARDS};
pub use rekognition::{Rekognition, RekognitionSettings};
pub use s3::S3Objects;

// The SDK crates, for binaries and tests that build clients or set up test servers.
pub use aws_sdk_dynamodb;
pub use aws_sdk_rekognition;
pub use aws_sdk_s3;
