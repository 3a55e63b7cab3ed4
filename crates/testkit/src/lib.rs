//! Test harness pieces shared by the adapter and Lambda binary tests: `moto_server` on a free
//! loopback port, a Rekognition test double, and a Lambda Runtime API that drives a built
//! Lambda binary as the Lambda service would. Only for tests.
#![warn(missing_docs)]

pub mod http;
pub mod moto;
pub mod rekognition;
pub mod runtime_api;

pub use moto::{free_port, moto, unique_name, MotoServer};
pub use rekognition::RekognitionDouble;
pub use runtime_api::{LambdaProcess, Outcome};
