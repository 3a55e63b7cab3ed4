//! `spotlight executions redrive ID`: an execution that did not succeed goes on from where it
//! stopped, as Step Functions' `RedriveExecution` does (see `spotlight_states::redrive`), through
//! the same pipeline `run` uses; the console's redrive button calls [`redrive`] too.
//!
//! The store keeps the bookkeeping: the execution is claimed (`RUNNING` again, its redrive count
//! one more) only while it is still stopped with the count that was read, so two redrives at
//! once cannot both run it; its history is the old events and the new. An execution kept
//! without a history (one whose process died before it ended: `ABORTED`) has only its input to
//! go on: nothing is known to have succeeded, so it runs from the start.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use serde::Serialize;
use spotlight_core::contracts::{ExecutionStatus, RecordStatus};
use spotlight_core::ports::{LabelDetector, ModerationDetector, RecordStore, TextDetector};
use spotlight_states::{
    DataDetails, EventDetails, EventType, ExecutionHistory, ExecutionStartedEventDetails,
    HistoryEvent, RedriveError, RunOptions, Status,
};
use spotlight_storage::ExecutionSummary;

use crate::commands::runner::Runner;
use crate::commands::{executions, local, run, Exit};
use crate::output;

/// What became of a redrive.
#[derive(Debug)]
pub enum Outcome {
    /// It ran.
    Redriven(Box<Redriven>),
    /// No execution has that ARN or name.
    NotFound,
    /// `ExecutionNotRedrivable`, with AWS's wording and the reason.
    Refused(String),
}

/// A redrive that ran.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Redriven {
    /// The execution as it now stands.
    pub execution: ExecutionSummary,
    /// The state it went on from (`None`: from the start, nothing being known to have run).
    pub redriven_from: Option<String>,
    /// The photo's record status afterwards.
    pub record: Option<RecordStatus>,
    /// It went on from a `Fail` state, which fails again whatever was fixed.
    #[serde(skip)]
    pub into_fail_state: bool,
}

fn refused(execution: &ExecutionSummary, reason: &str) -> Outcome {
    Outcome::Refused(format!(
        "ExecutionNotRedrivable: Execution {} cannot be redriven: {reason}",
        execution.id
    ))
}

/// The history of an execution kept without one: its start, with its input.
fn started_only(execution: &ExecutionSummary) -> ExecutionHistory {
    let defaults = RunOptions::default();
    ExecutionHistory {
        events: vec![HistoryEvent {
            timestamp: execution.start_time,
            kind: EventType::ExecutionStarted,
            id: 1,
            previous_event_id: 0,
            details: Some(EventDetails::ExecutionStarted(
                ExecutionStartedEventDetails {
                    input: execution.input.to_string(),
                    input_details: DataDetails::default(),
                    role_arn: format!(
                        "arn:aws:iam::{}:role/StepFunctionsLocalRole",
                        defaults.account_id
                    ),
                },
            )),
        }],
    }
}

/// Redrives the execution `id` (ARN or name) through `runner`'s pipeline.
pub async fn redrive<L, M, T>(runner: &Runner<L, M, T>, id: &str) -> anyhow::Result<Outcome>
where
    L: LabelDetector + 'static,
    M: ModerationDetector + 'static,
    T: TextDetector + 'static,
{
    let store = &runner.store;
    let Some((mut execution, history)) = executions::find(store, id)? else {
        return Ok(Outcome::NotFound);
    };
    // Guess at the wording, as in the engine: AWS's reasons were not found recorded.
    match execution.status {
        ExecutionStatus::Running => return Ok(refused(&execution, "the execution is RUNNING")),
        ExecutionStatus::Succeeded => {
            return Ok(refused(&execution, "the execution status is SUCCEEDED"))
        }
        ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted => {}
    }
    let history: ExecutionHistory = match history {
        Some(history) => serde_json::from_value(history)
            .context("the execution's stored history does not read")?,
        None => started_only(&execution),
    };
    let seen = execution.redrive_count;
    if !store.begin_redrive(&execution.id, seen)? {
        return Ok(refused(
            &execution,
            "another redrive of it is under way, or it changed meanwhile",
        ));
    }
    let name = execution
        .id
        .rsplit(':')
        .next()
        .unwrap_or(&execution.id)
        .to_owned();
    let options = RunOptions {
        history: true,
        execution_name: Some(name),
        ..RunOptions::default()
    };
    let result = match runner.pipeline.redrive(&history, options).await {
        Ok(result) => result,
        Err(RedriveError::NotRedrivable { reason, .. }) => {
            // Nothing ran: the execution stands as it stood.
            store.save_execution(&execution, None)?;
            return Ok(refused(&execution, &reason));
        }
        Err(error) => {
            execution.status = ExecutionStatus::Failed;
            execution.stop_time = Some(chrono::Utc::now());
            execution.error = Some(error.name().to_owned());
            execution.cause = Some(error.to_string());
            execution.redrive_count = seen + 1;
            store.save_execution(&execution, None)?;
            return Err(anyhow::Error::new(error).context("the engine failed"));
        }
    };
    if result.execution_arn != execution.id {
        tracing::warn!(
            kept = %execution.id,
            engine = %result.execution_arn,
            "the engine named the redriven execution differently from the one kept"
        );
    }
    let events = result.history.clone().unwrap_or_default().events;
    let first = events
        .iter()
        .skip(history.events.len())
        .find(|event| matches!(event.details, Some(EventDetails::StateEntered(_))));
    let into_fail_state = first.is_some_and(|event| event.kind == EventType::FailStateEntered);
    let redriven_from = first
        .and_then(|event| match &event.details {
            Some(EventDetails::StateEntered(entered)) => Some(entered.name.clone()),
            _ => None,
        })
        .filter(|_| history.events.len() > 1);
    execution.status = match result.status {
        Status::Succeeded => ExecutionStatus::Succeeded,
        Status::Failed => ExecutionStatus::Failed,
        Status::TimedOut => ExecutionStatus::TimedOut,
    };
    execution.stop_time = Some(chrono::Utc::now());
    execution.output = result.output;
    execution.error = result.error;
    execution.cause = result.cause;
    execution.redrive_count = seen + 1;
    let history = serde_json::to_value(ExecutionHistory { events })?;
    store.save_execution(&execution, Some(&history))?;
    let record = store
        .get(&execution.bucket, &execution.key)
        .await?
        .map(|record| record.status);
    Ok(Outcome::Redriven(Box::new(Redriven {
        execution,
        redriven_from,
        record,
        into_fail_state,
    })))
}

/// `spotlight executions redrive`.
pub fn execute(store: &Path, id: &str, offline: bool, json: bool) -> anyhow::Result<Exit> {
    let store = local::open_existing_store(store)?;
    // Said before the models load (seconds), when it can be.
    let Some((execution, _)) = executions::find(&store, id)? else {
        eprintln!("no execution {id:?}");
        return Ok(Exit::Failure);
    };
    if matches!(
        execution.status,
        ExecutionStatus::Running | ExecutionStatus::Succeeded
    ) {
        eprintln!(
            "ExecutionNotRedrivable: Execution {} cannot be redriven: the execution is {}",
            execution.id, execution.status
        );
        return Ok(Exit::Failure);
    }
    let runner = run::local_runner(Arc::clone(&store), offline)?;
    let outcome = local::runtime()?.block_on(redrive(&runner, &execution.id))?;
    let redriven = match outcome {
        Outcome::Redriven(redriven) => redriven,
        Outcome::NotFound => {
            eprintln!("no execution {id:?}");
            return Ok(Exit::Failure);
        }
        Outcome::Refused(message) => {
            eprintln!("{message}");
            return Ok(Exit::Failure);
        }
    };
    let execution = &redriven.execution;
    if json {
        output::print(&format!("{}\n", serde_json::to_string(&*redriven)?))?;
    } else {
        let mut line = format!(
            "{}\t{}\tredrive {}\tfrom {}\t{}\trecord {}",
            execution.id,
            execution.status,
            execution.redrive_count,
            redriven.redriven_from.as_deref().unwrap_or("the start"),
            execution.key,
            redriven.record.map_or("none", RecordStatus::as_str),
        );
        if let Some(error) = &execution.error {
            line.push('\t');
            line.push_str(error);
        }
        output::print(&format!("{line}\n"))?;
    }
    if execution.status != ExecutionStatus::Succeeded {
        if redriven.into_fail_state {
            eprintln!(
                "the execution had caught its error and ended in a Fail state; a redrive \
                 enters that state again and fails again, as on AWS. To analyse the photo \
                 again, run it again (`spotlight run`, or Re-run in the console)."
            );
        }
        return Ok(Exit::Failure);
    }
    Ok(Exit::Success)
}
