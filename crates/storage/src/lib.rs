//! Spotlight's local storage adapters: a folder stands in for the S3 bucket and one SQLite file
//! for the DynamoDB table, with the same semantics — the shared store suite runs against both.
//! The SQLite file also keeps the executions and the event log of the result events.
#![warn(missing_docs)]

mod fault;
mod folder;
mod owner;
mod sqlite;

pub use fault::{FaultKind, StoreFault};
pub use folder::{file_head, resolve, FolderObjects};
pub use spotlight_core::contracts::ExecutionSummary;
pub use sqlite::{
    Delivery, DeliveryStatus, EventFilter, ExecutionFilter, LoggedEvent, SqliteStore,
};
