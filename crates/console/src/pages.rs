//! The server-rendered pages: the gallery, a photo's page, the executions list and an
//! execution's page. Every string from a photo or an execution is written through [`Esc`].

use std::fmt::Write as _;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;
use spotlight_core::contracts::{ImageRecord, RecordStatus};
use spotlight_core::ports::StoreError;
use spotlight_storage::ExecutionSummary;

use crate::html::{page, url_part, Esc};
use crate::query::{self, pairs};
use crate::ConsoleState;

/// Why a request got no answer: a status and a message for people.
#[derive(Debug)]
pub struct Failure {
    status: StatusCode,
    message: String,
}

impl Failure {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Failure {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Failure {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    pub fn store(error: StoreError) -> Self {
        Failure {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("the store failed: {}", error.message),
        }
    }

    /// As the API answers: `{"message"}`.
    pub fn json(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "message": self.message })),
        )
            .into_response()
    }

    /// As a page.
    pub fn page(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = format!(
            "<h1>{}</h1><p class=\"error\">{}</p><p><a href=\"/\">Back to the gallery</a></p>",
            Esc(title),
            Esc(&self.message)
        );
        (self.status, html(page(title, &body))).into_response()
    }
}

fn html(text: String) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], text)
}

fn status_badge(status: RecordStatus, safe: bool) -> String {
    let mut out = String::new();
    if status != RecordStatus::Analyzed {
        let _ = write!(out, "<span class=\"badge bad\">{}</span> ", status.as_str());
    }
    out.push_str(if safe {
        "<span class=\"badge\">safe</span>"
    } else {
        "<span class=\"badge bad\">not safe</span>"
    });
    out
}

fn value_of<'a>(params: &'a [(String, String)], name: &str) -> &'a str {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

/// `GET /`: the search form and the matching records, safe-only unless asked otherwise.
pub async fn gallery(State(state): State<ConsoleState>, RawQuery(raw): RawQuery) -> Response {
    // An HTML form sends every field, empty ones too: an empty field means "no filter".
    let params: Vec<(String, String)> = pairs(raw.as_deref())
        .into_iter()
        .filter(|(_, value)| !value.trim().is_empty())
        .collect();
    let mut body = String::from("<h1>Gallery</h1>");
    body.push_str(&search_form(&state, &params));
    let results = match query::search_records(&state, &params).await {
        Ok(results) => results,
        Err(failure) if failure.status == StatusCode::BAD_REQUEST => {
            let _ = write!(body, "<p class=\"error\">{}</p>", Esc(&failure.message));
            return (StatusCode::BAD_REQUEST, html(page("Gallery", &body))).into_response();
        }
        Err(failure) => return failure.page(),
    };
    if !results.query.safe_only {
        body.push_str(
            "<p class=\"review\" role=\"alert\">Review mode: unsafe and unmoderated photos \
             are shown.</p>",
        );
    }
    let _ = write!(
        body,
        "<p>{} photo{} on this page.</p><ul class=\"grid\">",
        results.hits.len(),
        if results.hits.len() == 1 { "" } else { "s" }
    );
    for hit in &results.hits {
        let record = &hit.record;
        let _ = write!(
            body,
            "<li class=\"card{}\"><a href=\"/records/{}\">{}</a><br>{}",
            if record.safe { "" } else { " unsafe" },
            url_part(&record.id),
            Esc(&record.key),
            status_badge(record.status, record.safe)
        );
        if !hit.matched_labels.is_empty() {
            body.push_str("<p class=\"why\">Matched: ");
            for (i, label) in hit.matched_labels.iter().enumerate() {
                let _ = write!(
                    body,
                    "{}{} {:.1}%",
                    if i == 0 { "" } else { ", " },
                    Esc(&label.name),
                    label.confidence
                );
            }
            body.push_str("</p>");
        }
        if let Some(text) = &results.query.text {
            let _ = write!(body, "<p class=\"why\">Text contains “{}”</p>", Esc(text));
        }
        body.push_str("</li>");
    }
    body.push_str("</ul>");
    if let Some(cursor) = &results.next_cursor {
        let mut href = String::from("/?");
        for (name, value) in params.iter().filter(|(n, _)| n != "cursor") {
            let _ = write!(href, "{}={}&", url_part(name), url_part(value));
        }
        let _ = write!(href, "cursor={}", url_part(cursor));
        let _ = write!(body, "<p><a href=\"{}\">Next page →</a></p>", Esc(&href));
    }
    html(page("Gallery", &body)).into_response()
}

fn search_form(state: &ConsoleState, params: &[(String, String)]) -> String {
    let mut form = String::from("<form class=\"search\" method=\"get\" action=\"/\">");
    let _ = write!(
        form,
        "<label>Label<input name=\"label\" value=\"{}\"></label>",
        Esc(value_of(params, "label"))
    );
    form.push_str("<label>Theme<select name=\"theme\"><option value=\"\">any</option>");
    let chosen = value_of(params, "theme");
    for name in state.themes.themes.keys() {
        let _ = write!(
            form,
            "<option value=\"{0}\"{1}>{0}</option>",
            Esc(name),
            if name.eq_ignore_ascii_case(chosen) {
                " selected"
            } else {
                ""
            }
        );
    }
    form.push_str("</select></label>");
    let _ = write!(
        form,
        "<label>Min. confidence<input name=\"minConfidence\" inputmode=\"decimal\" \
         placeholder=\"{}\" value=\"{}\" size=\"5\"></label>",
        spotlight_search::DEFAULT_MIN_CONFIDENCE,
        Esc(value_of(params, "minConfidence"))
    );
    let _ = write!(
        form,
        "<label>Text contains<input name=\"text\" value=\"{}\"></label>",
        Esc(value_of(params, "text"))
    );
    form.push_str("<label>Status<select name=\"status\"><option value=\"\">any</option>");
    let status = value_of(params, "status");
    for option in ["ANALYZED", "REJECTED", "FAILED"] {
        let _ = write!(
            form,
            "<option{}>{option}</option>",
            if option.eq_ignore_ascii_case(status) {
                " selected"
            } else {
                ""
            }
        );
    }
    form.push_str("</select></label>");
    let _ = write!(
        form,
        "<label>Review mode<input type=\"checkbox\" name=\"includeUnsafe\" value=\"true\"{}>\
         </label><button type=\"submit\">Search</button></form>",
        if matches!(value_of(params, "includeUnsafe"), "true" | "1") {
            " checked"
        } else {
            ""
        }
    );
    form
}

/// `GET /records/{id}`: everything the record says about one photo.
pub async fn record(State(state): State<ConsoleState>, Path(id): Path<String>) -> Response {
    match query::record(&state, &id).await {
        Ok(record) => html(page(&record.key, &record_body(&record))).into_response(),
        Err(failure) => failure.page(),
    }
}

fn record_body(record: &ImageRecord) -> String {
    let mut body = format!(
        "<h1>{}</h1><p>{}</p><dl><dt>Folder</dt><dd>{}</dd><dt>Status</dt><dd>{}</dd>\
         <dt>Uploaded</dt><dd>{}</dd><dt>Analysed</dt><dd>{}</dd>\
         <dt>Execution</dt><dd><a href=\"/executions/{}\">{}</a></dd></dl>",
        Esc(&record.key),
        status_badge(record.status, record.safe),
        Esc(&record.bucket),
        record.status.as_str(),
        record.uploaded_at.to_rfc3339(),
        record.analysed_at.to_rfc3339(),
        url_part(&record.execution.id),
        Esc(&record.execution.id),
    );
    if let Some(error) = &record.error {
        let _ = write!(
            body,
            "<h2>Error</h2><p class=\"error\"><strong>{}</strong>: {}</p>",
            Esc(&error.error),
            Esc(&error.cause)
        );
    }
    body.push_str("<h2>Labels</h2>");
    if record.labels.is_empty() {
        body.push_str("<p>None.</p>");
    } else {
        body.push_str(
            "<div class=\"table-wrap\"><table><tr><th>Label</th><th>Confidence</th>\
             <th>Parents</th></tr>",
        );
        for label in &record.labels {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{:.1}%</td><td>{}</td></tr>",
                Esc(&label.name),
                label.confidence,
                Esc(&label.parents.join(", "))
            );
        }
        body.push_str("</table></div>");
    }
    body.push_str("<h2>Moderation</h2>");
    match &record.moderation {
        None => body.push_str(
            "<p class=\"failed\">Moderation did not run: this photo is not safe to feature.</p>",
        ),
        Some(moderation) => {
            let _ = write!(
                body,
                "<p>Verdict <strong>{}</strong> under policy {}.</p>",
                Esc(&format!("{:?}", moderation.verdict).to_uppercase()),
                Esc(&moderation.policy_version)
            );
            if !moderation.labels.is_empty() {
                body.push_str(
                    "<div class=\"table-wrap\"><table><tr><th>Label</th><th>Parent</th>\
                     <th>Confidence</th><th>Flagged</th></tr>",
                );
                for label in &moderation.labels {
                    let flagged = moderation.flagged.iter().find(|f| f.name == label.name);
                    let _ = write!(
                        body,
                        "<tr><td>{}</td><td>{}</td><td>{:.1}%</td><td>{}</td></tr>",
                        Esc(&label.name),
                        Esc(label.parent_name.as_deref().unwrap_or("")),
                        label.confidence,
                        flagged.map_or(String::new(), |f| format!(
                            "<span class=\"failed\">over {:.1}%</span>",
                            f.threshold
                        ))
                    );
                }
                body.push_str("</table></div>");
            }
        }
    }
    body.push_str("<h2>Text</h2>");
    match &record.text {
        Some(text) if !text.lines.is_empty() => {
            body.push_str(
                "<div class=\"table-wrap\"><table><tr><th>Line</th><th>Confidence</th></tr>",
            );
            for line in &text.lines {
                let _ = write!(
                    body,
                    "<tr><td>{}</td><td>{:.1}%</td></tr>",
                    Esc(&line.text),
                    line.confidence
                );
            }
            body.push_str("</table></div>");
        }
        Some(text) if !text.full_text.is_empty() => {
            let _ = write!(body, "<pre>{}</pre>", Esc(&text.full_text));
        }
        _ => body.push_str("<p>None.</p>"),
    }
    body
}

/// `GET /executions?status=&limit=`: the executions, newest first.
pub async fn executions(State(state): State<ConsoleState>, RawQuery(raw): RawQuery) -> Response {
    let params: Vec<(String, String)> = pairs(raw.as_deref())
        .into_iter()
        .filter(|(_, value)| !value.trim().is_empty())
        .collect();
    let listed =
        query::execution_filter(&params).and_then(|filter| query::executions(&state, &filter));
    let executions = match listed {
        Ok(executions) => executions,
        Err(failure) => return failure.page(),
    };
    let mut body = String::from(
        "<h1>Executions</h1><form class=\"search\" method=\"get\" action=\"/executions\">\
         <label>Status<select name=\"status\"><option value=\"\">any</option>",
    );
    let status = value_of(&params, "status");
    for option in ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"] {
        let _ = write!(
            body,
            "<option{}>{option}</option>",
            if option.eq_ignore_ascii_case(status) {
                " selected"
            } else {
                ""
            }
        );
    }
    body.push_str(
        "</select></label><button type=\"submit\">Filter</button></form>\
         <div class=\"table-wrap\"><table><tr><th>Status</th><th>Photo</th><th>Started</th>\
         <th>Duration</th><th>Execution</th></tr>",
    );
    for execution in &executions {
        let _ = write!(
            body,
            "<tr><td{}>{}</td><td><a href=\"/records/{}\">{}</a></td><td>{}</td><td>{}</td>\
             <td><a href=\"/executions/{}\">{}</a></td></tr>",
            if execution.status == "SUCCEEDED" {
                ""
            } else {
                " class=\"failed\""
            },
            Esc(&execution.status),
            url_part(&execution.record_id),
            Esc(&execution.key),
            execution.start_time.to_rfc3339(),
            duration(execution),
            url_part(&execution.id),
            Esc(&execution.id),
        );
    }
    body.push_str("</table></div>");
    html(page("Executions", &body)).into_response()
}

fn duration(execution: &ExecutionSummary) -> String {
    execution.stop_time.map_or_else(
        || "—".to_owned(),
        |stop| format!("{} ms", (stop - execution.start_time).num_milliseconds()),
    )
}

/// `GET /executions/{id}`: the execution, state by state, and its raw event history.
pub async fn execution(State(state): State<ConsoleState>, Path(id): Path<String>) -> Response {
    match query::execution(&state, &id) {
        Ok((summary, history)) => {
            html(page(&summary.key, &execution_body(&summary, &history))).into_response()
        }
        Err(failure) => failure.page(),
    }
}

fn execution_body(execution: &ExecutionSummary, history: &Value) -> String {
    let mut body = format!(
        "<h1>Execution of {}</h1><dl><dt>Id</dt><dd>{}</dd><dt>Status</dt><dd{}>{}</dd>\
         <dt>Photo</dt><dd><a href=\"/records/{}\">{}</a></dd><dt>Started</dt><dd>{}</dd>\
         <dt>Duration</dt><dd>{}</dd>",
        Esc(&execution.key),
        Esc(&execution.id),
        if execution.status == "SUCCEEDED" {
            ""
        } else {
            " class=\"failed\""
        },
        Esc(&execution.status),
        url_part(&execution.record_id),
        Esc(&execution.key),
        execution.start_time.to_rfc3339(),
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
    body.push_str("</dl>");
    let events = history
        .get("events")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    body.push_str("<h2>States</h2>");
    let states = states(events);
    if states.is_empty() {
        body.push_str("<p>No history was kept for this execution.</p>");
    } else {
        body.push_str(
            "<div class=\"table-wrap\"><table><tr><th>State</th><th>Entered</th>\
             <th>Exited</th><th>Outcome</th></tr>",
        );
        for state in &states {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td{}>{}</td></tr>",
                Esc(&state.name),
                Esc(&state.entered),
                Esc(state.exited.as_deref().unwrap_or("—")),
                if state.failed {
                    " class=\"failed\""
                } else {
                    ""
                },
                Esc(&state.outcome),
            );
        }
        body.push_str("</table></div>");
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

/// One state's run, read from the history.
struct StateRun {
    name: String,
    entered: String,
    exited: Option<String>,
    outcome: String,
    failed: bool,
}

/// The states in the order they were entered, with what happened to each: exited, or the
/// error of the task or execution failure that ended it.
fn states(events: &[Value]) -> Vec<StateRun> {
    let mut runs: Vec<StateRun> = Vec::new();
    for event in events {
        let kind = scalar(event.get("type"));
        let time = scalar(event.get("timestamp"));
        let details = event_details(event);
        let name = details.and_then(|d| d.get("name")).and_then(Value::as_str);
        if kind.ends_with("StateEntered") {
            runs.push(StateRun {
                name: name.unwrap_or("?").to_owned(),
                entered: time,
                exited: None,
                outcome: "entered".to_owned(),
                failed: false,
            });
        } else if kind.ends_with("StateExited") {
            if let Some(run) = runs
                .iter_mut()
                .rev()
                .find(|r| r.exited.is_none() && Some(r.name.as_str()) == name)
            {
                run.exited = Some(time);
                if !run.failed {
                    run.outcome = "succeeded".to_owned();
                }
            }
        } else if kind.ends_with("Failed") || kind.ends_with("TimedOut") {
            let error = details
                .and_then(|d| d.get("error"))
                .and_then(Value::as_str)
                .unwrap_or(&kind);
            if let Some(run) = runs.iter_mut().rev().find(|r| r.exited.is_none()) {
                run.failed = true;
                run.outcome = format!("{kind}: {error}");
            }
        }
    }
    runs
}
