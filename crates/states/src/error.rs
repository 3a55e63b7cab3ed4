//! Errors, kept in three families that never mix:
//!
//! - [`StatesError`]: a failure *inside* an execution, named as Step Functions names it
//!   (`States.Runtime`, `States.Timeout`, a task's own `errorType`, …). Retry and Catch match on
//!   these, and a failed execution reports one.
//! - [`DefinitionError`]: a definition that Step Functions would refuse, with every problem found.
//! - [`EngineError`]: the engine itself went wrong (a bug, or a task that panicked). It never
//!   reaches Retry or Catch; seeing one is a bug to report, like jaq's leaked internal errors.

use std::fmt;

/// The error names Step Functions itself raises (`States.*`).
pub mod names {
    /// Matches every error name except `States.Runtime`; must be last and alone.
    pub const ALL: &str = "States.ALL";
    /// Matches every error name except `States.Timeout` (and `States.Runtime`).
    pub const TASK_FAILED: &str = "States.TaskFailed";
    /// A task ran longer than `TimeoutSeconds` or missed a heartbeat.
    pub const TIMEOUT: &str = "States.Timeout";
    /// The definition or data made the state impossible to run; never retried, never caught.
    pub const RUNTIME: &str = "States.Runtime";
    /// A branch of a Parallel state failed (AWS actually reports the branch's own error).
    pub const BRANCH_FAILED: &str = "States.BranchFailed";
    /// A state's input, output or a task's result is larger than 256 KiB.
    pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
    /// The task was not allowed to run.
    pub const PERMISSIONS: &str = "States.Permissions";
    /// `ResultPath` cannot be applied to the state's input.
    pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
    /// A path in `Parameters` could not be applied.
    pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
    /// A Map state's item reader failed (distributed mode; not supported here).
    pub const ITEM_READER_FAILED: &str = "States.ItemReaderFailed";
    /// More Map iterations failed than `ToleratedFailureCount`/`Percentage` allow.
    pub const EXCEED_TOLERATED_FAILURE_THRESHOLD: &str = "States.ExceedToleratedFailureThreshold";
    /// An intrinsic function was called with arguments it cannot handle.
    pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
    /// A Choice state matched no rule and has no `Default`.
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
    /// A heartbeat was missed.
    pub const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
    /// A JSONata expression failed: a JSONata error, a forbidden function, a time or depth
    /// limit, or a result JSON cannot hold.
    pub const QUERY_EVALUATION_ERROR: &str = "States.QueryEvaluationError";
}

/// A failure inside an execution: an error name and an optional cause, exactly what Step
/// Functions shows as `error` and `cause` (and what a `Catch` puts in `Error`/`Cause`).
///
/// Task invokers return this too: `error` is the task's `errorType`, `cause` its message (for a
/// Lambda function, AWS puts the whole error payload as JSON text in `cause`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatesError {
    /// The error name, e.g. `ImageRejected.Corrupt` or `States.Timeout`.
    pub error: String,
    /// A human-readable explanation, if any.
    pub cause: Option<String>,
}

impl StatesError {
    /// An error with a cause.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        StatesError {
            error: error.into(),
            cause: Some(cause.into()),
        }
    }

    /// An error without a cause.
    pub fn bare(error: impl Into<String>) -> Self {
        StatesError {
            error: error.into(),
            cause: None,
        }
    }

    /// The `{"Error": …, "Cause": …}` object a `Catch` hands to its `ResultPath`.
    ///
    /// Guess: when there is no cause we leave `Cause` out, as AWS leaves it out of
    /// `ExecutionFailed` for a Fail state without one.
    pub fn to_output(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        map.insert("Error".into(), self.error.clone().into());
        if let Some(cause) = &self.cause {
            map.insert("Cause".into(), cause.clone().into());
        }
        serde_json::Value::Object(map)
    }
}

impl fmt::Display for StatesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            Some(cause) => write!(f, "{}: {}", self.error, cause),
            None => f.write_str(&self.error),
        }
    }
}

impl std::error::Error for StatesError {}

/// One reason a definition is refused.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The kind of problem, with Step Functions' code where it has one
    /// (`SCHEMA_VALIDATION_FAILED`, `MISSING_TRANSITION_TARGET`, `UNREACHABLE_STATE`,
    /// `INVALID_JSON_DESCRIPTION`), or `UNSUPPORTED_FEATURE` for valid ASL this engine cannot run.
    pub code: &'static str,
    /// Where: a JSON pointer into the definition (`/States/Validate/Retry/0/ErrorEquals`).
    pub pointer: String,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "{}: {} at {}", self.code, self.message, at)
    }
}

/// A definition Step Functions would refuse (or that uses what this engine cannot run), with
/// every problem found, not only the first. There is always at least one: a refusal says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionError {
    /// Every problem, in document order; never empty.
    problems: Vec<Problem>,
}

impl DefinitionError {
    /// A refusal for `first` and any `more` problems.
    pub fn new(first: Problem, more: impl IntoIterator<Item = Problem>) -> Self {
        let mut problems = vec![first];
        problems.extend(more);
        DefinitionError { problems }
    }

    /// A refusal for `problems`, or `None` when there are none (nothing to refuse).
    pub fn from_problems(problems: Vec<Problem>) -> Option<Self> {
        (!problems.is_empty()).then_some(DefinitionError { problems })
    }

    /// Every problem, in document order; never empty.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The problems, owned.
    pub fn into_problems(self) -> Vec<Problem> {
        self.problems
    }
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Invalid State Machine Definition: {} problem(s)",
            self.problems.len()
        )?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DefinitionError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(message: &str) -> Problem {
        Problem {
            code: "SCHEMA_VALIDATION_FAILED",
            pointer: "/States".into(),
            message: message.into(),
        }
    }

    #[test]
    fn a_refusal_always_says_why() {
        assert_eq!(DefinitionError::from_problems(Vec::new()), None);
        let refused = DefinitionError::new(problem("one"), [problem("two")]);
        assert_eq!(refused.problems().len(), 2);
        assert_eq!(
            refused.to_string(),
            "Invalid State Machine Definition: 2 problem(s)\n  \
             SCHEMA_VALIDATION_FAILED: one at /States\n  SCHEMA_VALIDATION_FAILED: two at /States"
        );
        assert_eq!(
            DefinitionError::from_problems(vec![problem("one")]),
            Some(DefinitionError::new(problem("one"), []))
        );
    }
}

/// What went wrong in the engine itself, never in the state machine: a bug, or a task invoker
/// that panicked. Not a `States.*` error, so no Retry or Catch ever sees it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A spawned branch or iteration panicked or was cancelled from outside.
    #[error("a branch of the execution stopped abnormally: {0}")]
    Join(String),
    /// An internal invariant broke. Please report it.
    #[error("internal error in the ASL engine (a bug): {0}")]
    Internal(String),
}

/// What a state's work produced when it did not succeed: a States error for Retry/Catch, or an
/// engine failure that stops everything.
#[derive(Debug)]
pub(crate) enum Interrupt {
    /// A user-facing error, subject to Retry and Catch.
    States(StatesError),
    /// An engine failure, which aborts the execution.
    Engine(EngineError),
}

impl From<StatesError> for Interrupt {
    fn from(e: StatesError) -> Self {
        Interrupt::States(e)
    }
}

impl From<EngineError> for Interrupt {
    fn from(e: EngineError) -> Self {
        Interrupt::Engine(e)
    }
}
