//! Spotlight's core: the contracts every step speaks, the error names the state machine routes
//! on, the ports the steps are written against, and the policies (moderation, themes, size
//! bounds, newest-wins revisions) that must be the same on AWS and on a laptop.
//!
//! Nothing here does I/O; adapters implement [`ports`] elsewhere.
#![warn(missing_docs)]

pub mod bounds;
pub mod contracts;
pub mod encoding;
pub mod error;
#[cfg(feature = "test-support")]
pub mod fakes;
pub mod limits;
pub mod policy;
pub mod ports;
pub mod review;
pub mod revision;
pub mod search;
#[cfg(feature = "test-support")]
pub mod store_suite;
pub mod text;
pub mod themes;

mod record_id;

pub use error::{ErrorName, LambdaError, RejectReason, StepError};
pub use record_id::{parse_record_id, record_id};
