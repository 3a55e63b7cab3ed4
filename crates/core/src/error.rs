//! The pipeline's error names and the error every step returns.
//!
//! The names are the contract between the steps and the state machine: a Lambda reports
//! [`StepError::name`] as its `errorType`, and `statemachine/pipeline.asl.json` routes on it in
//! `Retry` and `Catch`. The local engine sees exactly the same strings.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Every error name a step can raise. The serialised form is the Lambda `errorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ErrorName {
    /// The object does not exist (or vanished between the event and the read).
    #[serde(rename = "ImageRejected.NotFound")]
    NotFound,
    /// Not a JPEG or PNG (decided by magic bytes, never by the name).
    #[serde(rename = "ImageRejected.UnsupportedFormat")]
    UnsupportedFormat,
    /// Over the byte limit or a side over the pixel limit.
    #[serde(rename = "ImageRejected.TooLarge")]
    TooLarge,
    /// A side under the pixel limit.
    #[serde(rename = "ImageRejected.TooSmall")]
    TooSmall,
    /// Claims to be a JPEG or PNG but its structure is broken: empty, truncated, bad header.
    #[serde(rename = "ImageRejected.Corrupt")]
    Corrupt,
    /// The analyser refused for load; the state machine retries with backoff.
    AnalyzerThrottled,
    /// The analyser failed for another reason.
    AnalyzerFailed,
    /// The record store failed.
    StoreFailed,
}

impl ErrorName {
    /// Every name, in the order the design lists them.
    pub const ALL: [ErrorName; 8] = [
        ErrorName::NotFound,
        ErrorName::UnsupportedFormat,
        ErrorName::TooLarge,
        ErrorName::TooSmall,
        ErrorName::Corrupt,
        ErrorName::AnalyzerThrottled,
        ErrorName::AnalyzerFailed,
        ErrorName::StoreFailed,
    ];

    /// The `errorType` string, exactly as the state machine matches it.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorName::NotFound => "ImageRejected.NotFound",
            ErrorName::UnsupportedFormat => "ImageRejected.UnsupportedFormat",
            ErrorName::TooLarge => "ImageRejected.TooLarge",
            ErrorName::TooSmall => "ImageRejected.TooSmall",
            ErrorName::Corrupt => "ImageRejected.Corrupt",
            ErrorName::AnalyzerThrottled => "AnalyzerThrottled",
            ErrorName::AnalyzerFailed => "AnalyzerFailed",
            ErrorName::StoreFailed => "StoreFailed",
        }
    }

    /// Parses an `errorType` string.
    pub fn parse(name: &str) -> Option<ErrorName> {
        ErrorName::ALL.into_iter().find(|n| n.as_str() == name)
    }

    /// Whether this name means the upload itself was refused (an outcome, not a failure).
    pub const fn is_rejection(self) -> bool {
        matches!(
            self,
            ErrorName::NotFound
                | ErrorName::UnsupportedFormat
                | ErrorName::TooLarge
                | ErrorName::TooSmall
                | ErrorName::Corrupt
        )
    }
}

impl fmt::Display for ErrorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an upload was refused. Each reason is one `ImageRejected.*` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// `ImageRejected.NotFound`.
    NotFound,
    /// `ImageRejected.UnsupportedFormat`.
    UnsupportedFormat,
    /// `ImageRejected.TooLarge`.
    TooLarge,
    /// `ImageRejected.TooSmall`.
    TooSmall,
    /// `ImageRejected.Corrupt`.
    Corrupt,
}

impl RejectReason {
    /// The error name this reason is reported under.
    pub const fn name(self) -> ErrorName {
        match self {
            RejectReason::NotFound => ErrorName::NotFound,
            RejectReason::UnsupportedFormat => ErrorName::UnsupportedFormat,
            RejectReason::TooLarge => ErrorName::TooLarge,
            RejectReason::TooSmall => ErrorName::TooSmall,
            RejectReason::Corrupt => ErrorName::Corrupt,
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The error a step returns. Its [`name`](StepError::name) is the Lambda `errorType`; its
/// `Display` is the `errorMessage` an operator reads in the record's cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StepError {
    /// The upload was refused; it gets a REJECTED record.
    #[error("{message}")]
    Rejected {
        /// Which `ImageRejected.*` name.
        reason: RejectReason,
        /// What was wrong, for people.
        message: String,
    },
    /// The analyser throttled the call; retried by the state machine.
    #[error("analyser throttled: {message}")]
    AnalyzerThrottled {
        /// What the analyser said.
        message: String,
        /// The underlying error, kept for logs.
        #[source]
        source: Option<BoxError>,
    },
    /// The analyser failed.
    #[error("analyser failed: {message}")]
    AnalyzerFailed {
        /// What went wrong.
        message: String,
        /// The underlying error, kept for logs.
        #[source]
        source: Option<BoxError>,
    },
    /// The record store failed.
    #[error("record store failed: {message}")]
    StoreFailed {
        /// What went wrong.
        message: String,
        /// The underlying error, kept for logs.
        #[source]
        source: Option<BoxError>,
    },
}

impl StepError {
    /// A rejection with the given reason.
    pub fn rejected(reason: RejectReason, message: impl Into<String>) -> Self {
        StepError::Rejected {
            reason,
            message: message.into(),
        }
    }

    /// The `errorType` this error is reported under.
    pub fn name(&self) -> ErrorName {
        match self {
            StepError::Rejected { reason, .. } => reason.name(),
            StepError::AnalyzerThrottled { .. } => ErrorName::AnalyzerThrottled,
            StepError::AnalyzerFailed { .. } => ErrorName::AnalyzerFailed,
            StepError::StoreFailed { .. } => ErrorName::StoreFailed,
        }
    }

    /// The error as Lambda reports it: `{"errorType", "errorMessage"}`.
    pub fn to_lambda_error(&self) -> LambdaError {
        LambdaError {
            error_type: self.name().as_str().to_owned(),
            error_message: error_chain(self),
        }
    }
}

/// The message of an error followed by its sources, `a: b: c`, as an operator wants to read it.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = inner.source();
    }
    message
}

/// A function error in Lambda's wire shape; Step Functions puts it, serialised, in `Cause`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LambdaError {
    /// The error name, e.g. `ImageRejected.TooLarge`.
    pub error_type: String,
    /// What went wrong.
    pub error_message: String,
}
