//! `spotlight executions list | show ID | redrive ID`: the executions `run` and `watch` kept,
//! and each one's history state by state — the local counterpart of the Step Functions console — and its cost
//! and limits report ([`spotlight_states::cost`]).

use std::path::PathBuf;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use spotlight_core::text::cut;
use spotlight_states::cost::{self, CostReport, PriceSheet};
use spotlight_states::view::StateKind;
use spotlight_states::{attribute, ExecutionHistory, HistoryEvent};
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
    /// `executions redrive`.
    Redrive {
        /// The store.
        store: PathBuf,
        /// ARN or name.
        id: String,
        /// Never download models.
        offline: bool,
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
                        status: args.status,
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
            ExecutionsCommand::Redrive(args) => Config::Redrive {
                store,
                id: args.id,
                offline: args.offline,
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
                let deleted = photo_deleted_at(&store, execution)?;
                if json {
                    let mut object = serde_json::to_value(execution)?;
                    if let (Some(deleted), Some(object)) = (deleted, object.as_object_mut()) {
                        object.insert("photoDeletedAt".to_owned(), deleted.to_rfc3339().into());
                    }
                    text.push_str(&serde_json::to_string(&object)?);
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
                    if execution.redrive_count > 0 {
                        text.push_str(&format!("\tredriven {}", execution.redrive_count));
                    }
                    if let Some(deleted) = deleted {
                        text.push_str(&format!("\tphoto deleted at {}", deleted.to_rfc3339()));
                    }
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
            let Some((execution, history)) = find(&store, &id)? else {
                eprintln!("no execution {id:?}");
                return Ok(Exit::Failure);
            };
            let history: Option<ExecutionHistory> =
                history.and_then(|h| serde_json::from_value(h).ok());
            let cost = history.as_ref().map(|h| cost_of(&h.events)).transpose()?;
            let deleted = photo_deleted_at(&store, &execution)?;
            if json {
                let mut object = serde_json::json!({
                    "execution": execution, "history": history, "cost": cost,
                });
                if let (Some(deleted), Some(object)) = (deleted, object.as_object_mut()) {
                    object.insert("photoDeletedAt".to_owned(), deleted.to_rfc3339().into());
                }
                output::print(&format!("{object}\n"))?;
            } else {
                let mut text = describe(&execution, history.as_ref(), events);
                if let Some(deleted) = deleted {
                    // Under the summary: the history stays, the photo it screened is gone.
                    let at = text.find("\n  started").unwrap_or(text.len());
                    text.insert_str(
                        at,
                        &format!("\n  deleted  photo deleted at {}", deleted.to_rfc3339()),
                    );
                }
                if let Some(cost) = &cost {
                    text.push_str(&describe_cost(cost));
                }
                output::print(&text)?;
            }
            Ok(Exit::Success)
        }
        Config::Redrive {
            store,
            id,
            offline,
            json,
        } => crate::commands::redrive::execute(&store, &id, offline, json),
    }
}

/// One execution and its history, by ARN or by name (the ARN's last part).
pub(crate) fn find(
    store: &spotlight_storage::SqliteStore,
    id: &str,
) -> anyhow::Result<Option<(ExecutionSummary, Option<serde_json::Value>)>> {
    if let Some(found) = store.execution(id)? {
        return Ok(Some(found));
    }
    let by_name = store
        .executions(&ExecutionFilter::default())?
        .into_iter()
        .find(|e| name_of(&e.id) == id);
    Ok(match by_name {
        Some(e) => store.execution(&e.id)?,
        None => None,
    })
}

/// When the execution's photo was taken down (`spotlight delete`, or gone from a watched
/// folder), if it stays deleted: the history is kept for ops, marked so.
fn photo_deleted_at(
    store: &spotlight_storage::SqliteStore,
    execution: &ExecutionSummary,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    Ok(store
        .tombstone_of(&execution.record_id)?
        .map(|tombstone| tombstone.deleted_at))
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

/// The states an execution went through, in the order it entered them, as the engine's one
/// reading of a history ([`spotlight_states::attribute`]) tells them.
pub(crate) fn state_rows(events: &[HistoryEvent]) -> Vec<StateRow> {
    attribute(events)
        .entries()
        .iter()
        .filter_map(|entry| {
            // The engine names every state it enters and stamps every event.
            let name = entry.name.clone()?;
            let entered = entry.entered_at?;
            // The last failed attempt (a retried state shows why it was retried), else how
            // the execution failed in it (a Fail state, a Choice that matched nothing).
            let error = entry
                .failures
                .last()
                .or(entry.execution_failure.as_ref())
                .map(|failure| {
                    let error = failure.error.as_deref().unwrap_or(&failure.event_type);
                    format!("{error}: {}", failure.cause.as_deref().unwrap_or(""))
                });
            Some(StateRow {
                name,
                kind: entry.kind.map_or("?", StateKind::as_str).to_owned(),
                entered,
                exited: entry.exited_at,
                input: entry.input.clone(),
                output: entry.output.clone(),
                error,
                attempts: entry.attempts,
            })
        })
        .collect()
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
    if execution.redrive_count > 0 {
        out.push_str(&format!("  redrives {}\n", execution.redrive_count));
    }
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
            out.push_str(&format!("      input  {}\n", cut(input, FIELD_CHARS)));
        }
        if let Some(output) = &row.output {
            out.push_str(&format!("      output {}\n", cut(output, FIELD_CHARS)));
        }
        if let Some(error) = &row.error {
            out.push_str(&format!("      error  {}\n", cut(error, FIELD_CHARS)));
        }
    }
    if events {
        out.push_str("\nevents\n");
        out.push_str(&states::history_lines(&history.events));
    }
    out
}

/// How many characters of a state's input, output or error `show` prints, counting the `…` that
/// ends a cut one.
const FIELD_CHARS: usize = 161;

/// The cost and limits report of a history, at the shipped prices, for the shipped state
/// machine.
pub(crate) fn cost_of(events: &[HistoryEvent]) -> anyhow::Result<CostReport> {
    let prices = PriceSheet::published()?;
    Ok(cost::report(
        events,
        &prices,
        spotlight_pipeline::DEFINITION.len(),
    ))
}

/// A price in dollars, to the millionth of a cent where it is that small.
pub(crate) fn usd(value: f64) -> String {
    format!("${value:.8}")
}

/// The `cost and limits` section of `executions show`.
fn describe_cost(cost: &CostReport) -> String {
    let mut out = String::from("\ncost and limits\n");
    out.push_str(&format!(
        "  transitions  {}, retries {}\n",
        cost.transitions, cost.retries
    ));
    if let Some(peak) = &cost.peak_payload {
        out.push_str(&format!(
            "  peak payload {} of {} bytes, {:.1}%, {} of {}\n",
            peak.bytes,
            peak.limit_bytes,
            peak.bytes as f64 * 100.0 / peak.limit_bytes as f64,
            peak.field,
            peak.state.as_deref().unwrap_or("the execution"),
        ));
    }
    for state in &cost.states {
        out.push_str(&format!(
            "  {:<20} {} entered, {} retries, {} ms\n",
            state.name, state.entered, state.retries, state.duration_ms
        ));
    }
    out.push_str(&format!(
        "  lambda       {} invocations, {} ms billed at {} MB {}, {} GB-s\n",
        cost.lambda.invocations,
        cost.lambda.billed_ms,
        cost.lambda.memory_mb,
        cost.lambda.architecture,
        cost.lambda.gb_seconds,
    ));
    let images: Vec<String> = cost
        .rekognition
        .iter()
        .map(|(api, calls)| format!("{api} {calls}"))
        .collect();
    out.push_str(&format!(
        "  rekognition  {}\n",
        if images.is_empty() {
            "no images".to_owned()
        } else {
            images.join(", ")
        }
    ));
    let express = cost.usd.total_express.map_or_else(|| "-".to_owned(), usd);
    out.push_str(&format!(
        "  on Standard  {}: Step Functions {}, Lambda {}, Rekognition {}\n",
        usd(cost.usd.total_standard),
        usd(cost.usd.standard),
        usd(cost.usd.lambda),
        usd(cost.usd.rekognition),
    ));
    out.push_str(&format!(
        "  on Express   {express}: Step Functions {}\n",
        cost.usd.express.map_or_else(|| "-".to_owned(), usd),
    ));
    out.push_str(&format!(
        "  prices       {} as read on {}; free tiers ignored\n",
        cost.prices.region, cost.prices.read_on
    ));
    out
}
