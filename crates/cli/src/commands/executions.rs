//! `spotlight executions list | show ID`: the executions `run` and `watch` kept, and each one's
//! history state by state — the local counterpart of the Step Functions console.

use std::path::PathBuf;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde_json::Value;
use spotlight_states::{EventDetails, ExecutionHistory, HistoryEvent};
use spotlight_storage::{ExecutionFilter, ExecutionSummary};

use crate::cli::ExecutionsCommand;
use crate::commands::{local, states, Exit};
use crate::output;

/// `spotlight executions …`, resolved.
#[derive(Debug)]
pub enum Config {
    /// `executions list`.
    List {
        /// The store.
        store: PathBuf,
        /// Which executions.
        filter: ExecutionFilter,
        /// JSON Lines.
        json: bool,
    },
    /// `executions show`.
    Show {
        /// The store.
        store: PathBuf,
        /// ARN or name.
        id: String,
        /// Every event too.
        events: bool,
        /// One JSON object.
        json: bool,
    },
}

fn time(flag: &str, text: &str) -> anyhow::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| format!("{flag} must be an RFC 3339 time, not {text:?}"))
}

impl Config {
    /// Checks the arguments before any work.
    pub fn from_cli(command: ExecutionsCommand, store: PathBuf) -> anyhow::Result<Config> {
        Ok(match command {
            ExecutionsCommand::List(args) => {
                let status = args
                    .status
                    .map(|s| {
                        let upper = s.to_ascii_uppercase();
                        anyhow::ensure!(
                            ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]
                                .contains(&upper.as_str()),
                            "--status must be running, succeeded, failed, timed_out or aborted, not {s:?}"
                        );
                        Ok(upper)
                    })
                    .transpose()?;
                let since = args
                    .since
                    .as_deref()
                    .map(|t| time("--since", t))
                    .transpose()?;
                let until = args
                    .until
                    .as_deref()
                    .map(|t| time("--until", t))
                    .transpose()?;
                Config::List {
                    store,
                    filter: ExecutionFilter {
                        status,
                        since,
                        until,
                        record_id: None,
                        limit: args.limit,
                    },
                    json: args.json,
                }
            }
            ExecutionsCommand::Show(args) => Config::Show {
                store,
                id: args.id,
                events: args.events,
                json: args.json,
            },
        })
    }
}

/// Runs the command.
pub fn execute(config: Config) -> anyhow::Result<Exit> {
    match config {
        Config::List {
            store,
            filter,
            json,
        } => {
            let store = local::open_existing_store(&store)?;
            let executions = store.executions(&filter)?;
            let mut text = String::new();
            for execution in &executions {
                if json {
                    text.push_str(&serde_json::to_string(execution)?);
                } else {
                    text.push_str(&format!(
                        "{}\t{}\t{}\t{}\t{}",
                        execution
                            .start_time
                            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                        execution.status,
                        duration(execution),
                        name_of(&execution.id),
                        execution.key,
                    ));
                }
                text.push('\n');
            }
            output::print(&text)?;
            Ok(Exit::Success)
        }
        Config::Show {
            store,
            id,
            events,
            json,
        } => {
            let store = local::open_existing_store(&store)?;
            let found = match store.execution(&id)? {
                Some(found) => Some(found),
                None => {
                    let by_name = store
                        .executions(&ExecutionFilter::default())?
                        .into_iter()
                        .find(|e| name_of(&e.id) == id);
                    match by_name {
                        Some(e) => store.execution(&e.id)?,
                        None => None,
                    }
                }
            };
            let Some((execution, history)) = found else {
                eprintln!("no execution {id:?}");
                return Ok(Exit::Failure);
            };
            let history: Option<ExecutionHistory> =
                history.and_then(|h| serde_json::from_value(h).ok());
            if json {
                let object = serde_json::json!({ "execution": execution, "history": history });
                output::print(&format!("{object}\n"))?;
            } else {
                output::print(&describe(&execution, history.as_ref(), events))?;
            }
            Ok(Exit::Success)
        }
    }
}

fn name_of(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

fn duration(execution: &ExecutionSummary) -> String {
    match execution.stop_time {
        Some(stop) => format!("{} ms", (stop - execution.start_time).num_milliseconds()),
        None => "-".to_owned(),
    }
}

/// One state's passage through an execution.
pub(crate) struct StateRow {
    pub(crate) name: String,
    kind: String,
    pub(crate) entered: DateTime<Utc>,
    pub(crate) exited: Option<DateTime<Utc>>,
    input: Option<String>,
    output: Option<String>,
    error: Option<String>,
    attempts: u32,
}

/// The states an execution went through, in the order it entered them.
pub(crate) fn state_rows(events: &[HistoryEvent]) -> Vec<StateRow> {
    let mut rows: Vec<StateRow> = Vec::new();
    for event in events {
        let kind = serde_json::to_value(event.kind).ok();
        let kind = kind.as_ref().and_then(Value::as_str).unwrap_or("");
        match &event.details {
            Some(EventDetails::StateEntered(details)) => rows.push(StateRow {
                name: details.name.clone(),
                kind: kind.trim_end_matches("StateEntered").to_owned(),
                entered: event.timestamp,
                exited: None,
                input: Some(details.input.clone()),
                output: None,
                error: None,
                attempts: 0,
            }),
            Some(EventDetails::StateExited(details)) => {
                if let Some(row) = rows
                    .iter_mut()
                    .rev()
                    .find(|r| r.name == details.name && r.exited.is_none())
                {
                    row.exited = Some(event.timestamp);
                    row.output = Some(details.output.clone());
                }
            }
            other => {
                let open = rows
                    .iter_mut()
                    .rev()
                    .find(|r| r.exited.is_none() && r.kind == "Task");
                if kind == "TaskScheduled" {
                    if let Some(row) = open {
                        row.attempts += 1;
                    }
                } else if let (Some(details), true) = (
                    other,
                    kind.ends_with("Failed") || kind.ends_with("TimedOut"),
                ) {
                    let value = serde_json::to_value(details).unwrap_or(Value::Null);
                    let error = value
                        .as_object()
                        .and_then(|o| o.values().next())
                        .cloned()
                        .unwrap_or(Value::Null);
                    let text = format!(
                        "{}: {}",
                        error["error"].as_str().unwrap_or(""),
                        error["cause"].as_str().unwrap_or("")
                    );
                    if let Some(row) = rows.iter_mut().rev().find(|r| r.exited.is_none()) {
                        row.error = Some(text);
                    }
                }
            }
        }
    }
    rows
}

fn describe(
    execution: &ExecutionSummary,
    history: Option<&ExecutionHistory>,
    events: bool,
) -> String {
    let mut out = format!(
        "{}\n  status   {}\n  photo    {}\n  started  {}\n  duration {}\n",
        execution.id,
        execution.status,
        std::path::Path::new(&execution.bucket)
            .join(&execution.key)
            .display(),
        execution
            .start_time
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        duration(execution),
    );
    if let Some(error) = &execution.error {
        out.push_str(&format!(
            "  error    {error}: {}\n",
            execution.cause.as_deref().unwrap_or("")
        ));
    }
    let Some(history) = history else {
        out.push_str("  (no history kept)\n");
        return out;
    };
    out.push_str("\nstates\n");
    for row in state_rows(&history.events) {
        let took = row.exited.map_or_else(
            || "-".to_owned(),
            |exit| format!("{} ms", (exit - row.entered).num_milliseconds()),
        );
        let attempts = if row.attempts > 1 {
            format!(", {} attempts", row.attempts)
        } else {
            String::new()
        };
        out.push_str(&format!("  {} ({}{attempts}) {took}\n", row.name, row.kind));
        if let Some(input) = &row.input {
            out.push_str(&format!("      input  {}\n", cut(input)));
        }
        if let Some(output) = &row.output {
            out.push_str(&format!("      output {}\n", cut(output)));
        }
        if let Some(error) = &row.error {
            out.push_str(&format!("      error  {}\n", cut(error)));
        }
    }
    if events {
        out.push_str("\nevents\n");
        out.push_str(&states::history_lines(&history.events));
    }
    out
}

fn cut(text: &str) -> String {
    const MAX: usize = 160;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}
