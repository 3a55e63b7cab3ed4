//! `GET /executions/{id}`: one execution, drawn on the state machine's graph, then state by
//! state and event by event.

use std::fmt::Write as _;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use spotlight_states::cost::{self, PriceSheet};
use spotlight_states::Attribution;
use spotlight_storage::ExecutionSummary;

use super::{check_csrf, duration, html, status_class, when, Failure};
use crate::html::{page, url_part, Esc};
use crate::query::{self, pairs};
use crate::{graph, ConsoleState, Machine};
use axum::response::Redirect;
use spotlight_core::contracts::ExecutionStatus;

/// `GET /executions/{id}`: the execution, state by state, and its raw event history.
pub async fn execution(State(state): State<ConsoleState>, Path(id): Path<String>) -> Response {
    let (summary, history) = match query::execution(&state, &id).await {
        Ok(found) => found,
        Err(failure) => return failure.page(),
    };
    let record_id = summary.record_id.clone();
    let deleted = match query::blocking(&state, move |store| store.tombstone_of(&record_id)).await {
        Ok(tombstone) => tombstone,
        Err(failure) => return failure.page(),
    };
    let mut body = execution_body(&state, &summary, &history);
    if let Some(tombstone) = deleted {
        // The history stays for ops' audit; the photo it screened is gone.
        let banner = format!(
            "</h1><p class=\"review\" id=\"photo-deleted\" role=\"status\">Photo deleted at \
             {}: its record, index entries and previews are gone; this history is kept.</p>",
            when(tombstone.deleted_at)
        );
        body = body.replacen("</h1>", &banner, 1);
    }
    html(page(&summary.key, &body)).into_response()
}

/// The redrive button, on an execution that stopped without succeeding: a form that POSTs
/// with the CSRF token, only where the console can run the pipeline.
fn redrive_button(state: &ConsoleState, execution: &ExecutionSummary) -> String {
    let redrivable = matches!(
        execution.status,
        ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted
    );
    if state.rerunner.is_none() || !redrivable {
        return String::new();
    }
    format!(
        "<form class=\"inline\" method=\"post\" action=\"/executions/{}/redrive\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <button type=\"submit\" id=\"redrive\">Redrive from the failed state</button></form>",
        url_part(&execution.id),
        Esc(&state.csrf),
    )
}

/// `POST /executions/{id}/redrive`: redrives the execution, as `spotlight executions redrive`
/// does, then shows it again.
pub async fn redrive(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    body: String,
) -> Response {
    let form = pairs(Some(&body));
    if let Err(failure) = check_csrf(&state, &form) {
        return failure.page();
    }
    let Some(rerunner) = state.rerunner.clone() else {
        return Failure::not_found("this console cannot redrive executions").page();
    };
    // The execution must exist: a 404 otherwise, as its page gives.
    let execution = match query::execution(&state, &id).await {
        Ok((execution, _)) => execution,
        Err(failure) => return failure.page(),
    };
    match rerunner.redrive(execution.id.clone()).await {
        Ok(_) => Redirect::to(&format!("/executions/{}", url_part(&execution.id))).into_response(),
        Err(error) => Failure::new(
            axum::http::StatusCode::CONFLICT,
            format!(
                "the execution was not redriven: {}",
                spotlight_core::error::error_chain(&error)
            ),
        )
        .page(),
    }
}

fn execution_body(state: &ConsoleState, execution: &ExecutionSummary, history: &Value) -> String {
    let mut body = format!(
        "<h1>Execution of {}</h1><dl><dt>Id</dt><dd>{}</dd><dt>Status</dt><dd{}>{}</dd>\
         <dt>Photo</dt><dd><a id=\"record\" href=\"/records/{}\">{}</a></dd><dt>Started</dt>\
         <dd>{}</dd><dt>Duration</dt><dd>{}</dd>",
        Esc(&execution.key),
        Esc(&execution.id),
        status_class(execution.status),
        Esc(execution.status.as_str()),
        url_part(&execution.record_id),
        Esc(&execution.key),
        when(execution.start_time),
        duration(execution),
    );
    if let Some(error) = &execution.error {
        let _ = write!(
            body,
            "<dt>Error</dt><dd class=\"failed\">{}</dd>",
            Esc(error)
        );
    }
    if let Some(cause) = &execution.cause {
        let _ = write!(body, "<dt>Cause</dt><dd>{}</dd>", Esc(cause));
    }
    let _ = write!(
        body,
        "<dt>Redrive count</dt><dd id=\"redrive-count\">{}</dd>",
        execution.redrive_count
    );
    body.push_str("</dl>");
    body.push_str(&redrive_button(state, execution));
    let events = history
        .get("events")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let attribution = spotlight_states::attribute(events);
    let states = states(&attribution);
    if states.is_empty() {
        body.push_str("<h2>States</h2><p>No history was kept for this execution.</p>");
    } else {
        match &state.machine {
            Machine::Absent => {}
            Machine::Parsed(machine) => {
                body.push_str(
                    "<h2>Graph</h2><p class=\"hint\">Select a state to see its input, \
                     output, retries and error.</p>",
                );
                body.push_str(&graph::render(machine, &attribution.outcomes()));
            }
            Machine::Unreadable(error) => {
                let _ = write!(
                    body,
                    "<h2>Graph</h2><p class=\"error\">The state machine's definition cannot be \
                     drawn: {}</p>",
                    Esc(&error.to_string())
                );
            }
        }
        body.push_str(
            "<h2>States</h2><div class=\"table-wrap\"><table><tr><th>State</th>\
             <th>Entered</th><th>Exited</th><th>Attempts</th><th>Outcome</th></tr>",
        );
        for run in &states {
            let _ = write!(
                body,
                "<tr><td><a href=\"#{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td>\
                 <td{}>{}</td></tr>",
                Esc(&run.anchor),
                Esc(&run.name),
                Esc(&run.entered),
                Esc(run.exited.as_deref().unwrap_or("—")),
                run.attempts,
                if run.failed { " class=\"failed\"" } else { "" },
                Esc(&run.outcome),
            );
        }
        body.push_str("</table></div>");
        for run in &states {
            let _ = write!(
                body,
                "<section class=\"state-detail\" id=\"{}\"><h3>{}</h3><p>{}{}</p>",
                Esc(&run.anchor),
                Esc(&run.name),
                Esc(&run.outcome),
                match run.attempts {
                    0 | 1 => String::new(),
                    n => format!(", after {} retr{}", n - 1, if n == 2 { "y" } else { "ies" }),
                },
            );
            for (error, cause) in &run.errors {
                let _ = write!(
                    body,
                    "<p class=\"failed\"><strong>{}</strong>{}{}</p>",
                    Esc(error),
                    if cause.is_empty() { "" } else { ": " },
                    Esc(cause)
                );
            }
            if let Some(input) = &run.input {
                let _ = write!(body, "<h4>Input</h4><pre>{}</pre>", Esc(input));
            }
            if let Some(output) = &run.output {
                let _ = write!(body, "<h4>Output</h4><pre>{}</pre>", Esc(output));
            }
            body.push_str("</section>");
        }
        // The graph links every state: those this execution never entered say so.
        let ran: std::collections::HashSet<&str> =
            states.iter().map(|run| run.name.as_str()).collect();
        let all_states = match &state.machine {
            Machine::Parsed(machine) => machine.states().walk(),
            Machine::Absent | Machine::Unreadable(_) => Vec::new(),
        };
        for name in all_states.iter().map(|s| s.name()) {
            if !ran.contains(name) {
                let _ = write!(
                    body,
                    "<section class=\"state-detail\" id=\"{}\"><h3>{}</h3>\
                     <p>Not run in this execution.</p></section>",
                    Esc(&graph::anchor(name)),
                    Esc(name),
                );
            }
        }
        body.push_str(&cost_section(events, state.definition_bytes));
    }
    let _ = write!(
        body,
        "<h2>Input</h2><pre>{}</pre>",
        Esc(&pretty(&execution.input))
    );
    if let Some(output) = &execution.output {
        let _ = write!(body, "<h2>Output</h2><pre>{}</pre>", Esc(&pretty(output)));
    }
    let _ = write!(
        body,
        "<h2>Event history</h2><div class=\"table-wrap\"><table><tr><th>Id</th><th>Type</th>\
         <th>Time</th><th>Details</th></tr>"
    );
    for event in events {
        let details = event_details(event).map_or(String::new(), |d| d.to_string());
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><pre>{}</pre></td></tr>",
            Esc(&scalar(event.get("id"))),
            Esc(&scalar(event.get("type"))),
            Esc(&scalar(event.get("timestamp"))),
            Esc(&details),
        );
    }
    body.push_str("</table></div>");
    body
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

fn scalar(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The `<kind>EventDetails` member of an event.
fn event_details(event: &Value) -> Option<&Value> {
    event
        .as_object()?
        .iter()
        .find(|(name, _)| name.ends_with("EventDetails"))
        .map(|(_, details)| details)
}

/// A price in dollars, as `spotlight executions show` prints it.
fn usd(value: f64) -> String {
    format!("${value:.8}")
}

/// The execution's cost and limits ([`spotlight_states::cost`]) at the shipped prices.
fn cost_section(events: &[Value], definition_bytes: usize) -> String {
    let prices = match PriceSheet::published() {
        Ok(prices) => prices,
        Err(error) => {
            return format!(
                "<h2>Cost and limits</h2><p class=\"error\">{}</p>",
                Esc(&error.to_string())
            )
        }
    };
    let cost = cost::report(events, &prices, definition_bytes);
    let mut out = format!(
        "<h2 id=\"cost\">Cost and limits</h2><dl class=\"cost\"><dt>State transitions</dt>\
         <dd id=\"cost-transitions\">{}</dd><dt>Retries</dt><dd>{}</dd>",
        cost.transitions, cost.retries
    );
    if let Some(peak) = &cost.peak_payload {
        let _ = write!(
            out,
            "<dt>Peak payload</dt><dd id=\"cost-peak\">{} bytes of {} ({:.1}%), {} of {}</dd>",
            peak.bytes,
            peak.limit_bytes,
            peak.bytes as f64 * 100.0 / peak.limit_bytes as f64,
            Esc(&peak.field),
            Esc(peak.state.as_deref().unwrap_or("the execution")),
        );
    }
    let images: Vec<String> = cost
        .rekognition
        .iter()
        .map(|(api, calls)| format!("{api} {calls}"))
        .collect();
    let _ = write!(
        out,
        "<dt>Lambda</dt><dd>{} invocations, {} ms billed at {} MB {} ({} GB-s)</dd>\
         <dt>Rekognition</dt><dd id=\"cost-rekognition\">{}</dd>\
         <dt>On Standard</dt><dd id=\"cost-standard\">{} (Step Functions {}, Lambda {}, \
         Rekognition {})</dd><dt>On Express</dt><dd id=\"cost-express\">{} (Step Functions \
         {})</dd><dt>Prices</dt><dd>{} as read on {}; free tiers ignored</dd></dl>",
        cost.lambda.invocations,
        cost.lambda.billed_ms,
        cost.lambda.memory_mb,
        Esc(&cost.lambda.architecture),
        cost.lambda.gb_seconds,
        Esc(&if images.is_empty() {
            "no images".to_owned()
        } else {
            images.join(", ")
        }),
        usd(cost.usd.total_standard),
        usd(cost.usd.standard),
        usd(cost.usd.lambda),
        usd(cost.usd.rekognition),
        cost.usd.total_express.map_or_else(|| "—".to_owned(), usd),
        cost.usd.express.map_or_else(|| "—".to_owned(), usd),
        Esc(&cost.prices.region),
        Esc(&cost.prices.read_on),
    );
    out.push_str(
        "<div class=\"table-wrap\"><table><tr><th>State</th><th>Entered</th><th>Retries</th>\
         <th>Time in state</th></tr>",
    );
    for state in &cost.states {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} ms</td></tr>",
            Esc(&state.name),
            state.entered,
            state.retries,
            state.duration_ms
        );
    }
    out.push_str("</table></div>");
    out
}

/// One entry into a state, as the page shows it.
struct StateRun {
    name: String,
    /// The id of its section on the page: `state-<name>`, numbered when a state ran again.
    anchor: String,
    entered: String,
    exited: Option<String>,
    outcome: String,
    failed: bool,
    /// 1 plus its retries.
    attempts: u32,
    /// Each failed attempt's error and cause.
    errors: Vec<(String, String)>,
    input: Option<String>,
    output: Option<String>,
}

/// A time from the history as the engine writes it.
fn stamp(time: Option<DateTime<Utc>>) -> Option<String> {
    time.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// A state's input or output as the history carries it (JSON text), pretty-printed.
fn payload(text: Option<&str>) -> Option<String> {
    let text = text?;
    Some(
        serde_json::from_str::<Value>(text)
            .map(|value| pretty(&value))
            .unwrap_or_else(|_| text.to_owned()),
    )
}

/// The states in the order they were entered, with what happened to each, as
/// [`spotlight_states::attribute`] reads them (the graph colours its nodes from the same
/// reading).
fn states(attribution: &Attribution) -> Vec<StateRun> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    attribution
        .entries()
        .iter()
        .map(|entry| {
            let name = entry.name.as_deref().unwrap_or("?");
            let count = seen.entry(name).or_default();
            *count += 1;
            let anchor = if *count == 1 {
                graph::anchor(name)
            } else {
                format!("{}-{count}", graph::anchor(name))
            };
            let exited = entry.exited_event_id.is_some() || entry.exited_at.is_some();
            // Only the last attempt's failure decides; a state that failed and was left anyway
            // (caught) still says how it failed.
            let outcome = match entry.failures.last() {
                _ if exited && !entry.last_attempt_failed => "succeeded".to_owned(),
                Some(failure) => format!(
                    "{}: {}",
                    failure.event_type,
                    failure.error.as_deref().unwrap_or(&failure.event_type)
                ),
                None => "entered".to_owned(),
            };
            StateRun {
                name: name.to_owned(),
                anchor,
                entered: stamp(entry.entered_at).unwrap_or_default(),
                exited: stamp(entry.exited_at),
                outcome,
                failed: entry.last_attempt_failed,
                attempts: entry.attempts,
                errors: entry
                    .failures
                    .iter()
                    .map(|failure| {
                        (
                            failure
                                .error
                                .clone()
                                .unwrap_or_else(|| failure.event_type.clone()),
                            failure.cause.clone().unwrap_or_default(),
                        )
                    })
                    .collect(),
                input: payload(entry.input.as_deref()),
                output: payload(entry.output.as_deref()),
            }
        })
        .collect()
}
