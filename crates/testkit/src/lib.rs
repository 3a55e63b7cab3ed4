//! Test harness pieces shared by the adapter and Lambda binary tests: `moto_server` on a free
//! loopback port, a Rekognition test double, a Lambda Runtime API that drives a built Lambda
//! binary as the Lambda service would, and a headless Chromium for the console's browser tests.
//! Only for tests.
#![warn(missing_docs)]

pub mod browser;
pub mod console;
pub mod http;
pub mod load;
pub mod models;
pub mod moto;
pub mod rekognition;
pub mod runtime_api;
pub mod skip;

pub use browser::{Browser, Element, LogEntry};
pub use console::Console;
pub use moto::{free_port, moto, unique_name, MotoServer};
pub use rekognition::RekognitionDouble;
pub use runtime_api::{LambdaProcess, Outcome};
