//! The server-rendered pages: the gallery, a photo's page, the failures, the themes, the
//! executions list and an execution's page. Every string from a photo or an execution is
//! written through [`Esc`]. Pages work without JavaScript: state changes are plain HTML forms
//! that POST with the console's CSRF token.

use std::fmt::Write as _;

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde_json::Value;
use spotlight_core::contracts::{ApiError, ImageRecord, RecordStatus};
use spotlight_core::parse_record_id;
use spotlight_core::ports::{SearchQuery, StoreError};
use spotlight_core::themes::Themes;
use spotlight_storage::ExecutionSummary;

use crate::html::{page, url_part, Esc};
use crate::photos::{PhotoError, Rendition};
use crate::query::{self, pairs};
use crate::{graph, ConsoleState, ThemesHome};

/// Why a request got no answer: a status and a message for people.
#[derive(Debug)]
pub struct Failure {
    status: StatusCode,
    message: String,
}

impl Failure {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }

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

    pub fn forbidden(message: impl Into<String>) -> Self {
        Failure {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Failure {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }

    pub fn store(error: StoreError) -> Self {
        Failure {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("the store failed: {}", error.message),
        }
    }

    /// As the API answers: an `ApiError`.
    pub fn json(self) -> Response {
        (
            self.status,
            Json(ApiError {
                message: self.message,
            }),
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

/// A time as people read it: to the second, in UTC.
fn when(time: chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y-%m-%d %H:%M:%S UTC").to_string()
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
        let id = url_part(&record.id);
        let _ = write!(
            body,
            "<li class=\"card{}\" data-key=\"{}\"><a class=\"open\" href=\"/records/{id}{}\">",
            if record.safe { "" } else { " unsafe" },
            Esc(&record.key),
            review_suffix(record),
        );
        if record.status == RecordStatus::Analyzed {
            let _ = write!(
                body,
                "<img class=\"thumb\" src=\"/records/{id}/thumbnail{}\" alt=\"\" \
                 loading=\"lazy\">",
                review_suffix(record),
            );
        } else {
            body.push_str("<span class=\"thumb none\">no preview</span>");
        }
        let _ = write!(
            body,
            "<span class=\"key\">{}</span></a><div class=\"meta\">{}\
             <label class=\"pick\"><input type=\"checkbox\" name=\"id\" value=\"{}\" \
             form=\"selection\"> select</label></div>",
            Esc(&record.key),
            status_badge(record.status, record.safe),
            Esc(&record.id),
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
    if !results.hits.is_empty() {
        body.push_str(
            "<form id=\"selection\" class=\"actions\" method=\"get\" action=\"/export\">\
             Export the selected photos: <button name=\"format\" value=\"csv\">CSV</button>\
             <button name=\"format\" value=\"json\">JSON</button></form>",
        );
    }
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
    for name in state.themes().themes.keys() {
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

/// `includeUnsafe` (review mode), the one parameter of a photo's page and its images.
fn review_mode(raw: Option<&str>) -> Result<bool, Failure> {
    let mut review = false;
    for (name, value) in pairs(raw) {
        if name != "includeUnsafe" {
            return Err(Failure::bad_request(format!(
                "unknown query parameter {name:?}"
            )));
        }
        review = spotlight_search::parse_include_unsafe(&value)
            .map_err(|e| Failure::bad_request(e.to_string()))?;
    }
    Ok(review)
}

/// The query string that opens an unsafe photo's page or image in review mode ("" for a safe
/// one, whose links stay plain).
pub(crate) fn review_suffix(record: &ImageRecord) -> &'static str {
    if record.safe {
        ""
    } else {
        "?includeUnsafe=true"
    }
}

/// `GET /records/{id}[?includeUnsafe=true]`: everything the record says about one photo. A
/// photo not cleared as safe is shown only in review mode; outside it the page says why and
/// links there, and draws no image.
pub async fn record(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let review = match review_mode(raw.as_deref()) {
        Ok(review) => review,
        Err(failure) => return failure.page(),
    };
    match query::record(&state, &id).await {
        Ok(record) => {
            html(page(&record.key, &record_body(&state, &record, review))).into_response()
        }
        Err(failure) => failure.page(),
    }
}

/// The re-run button: a form that POSTs with the CSRF token.
fn rerun_button(state: &ConsoleState, record: &ImageRecord) -> String {
    if state.rerunner.is_none() {
        return String::new();
    }
    format!(
        "<form class=\"inline\" method=\"post\" action=\"/records/{}/rerun\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <button type=\"submit\">Re-run</button></form>",
        url_part(&record.id),
        Esc(&state.csrf),
    )
}

fn record_body(state: &ConsoleState, record: &ImageRecord, review: bool) -> String {
    let id = url_part(&record.id);
    let mut body = format!(
        "<h1>{}</h1><p>{}</p>",
        Esc(&record.key),
        status_badge(record.status, record.safe),
    );
    let shown = record.safe || review;
    if !record.safe {
        if review {
            body.push_str(
                "<p class=\"review\" role=\"alert\">Review mode: this photo is not cleared \
                 as safe to feature.</p>",
            );
        } else {
            let _ = write!(
                body,
                "<p class=\"review\" role=\"alert\">This photo is not cleared as safe to \
                 feature, so it is hidden outside review mode. \
                 <a href=\"/records/{id}?includeUnsafe=true\">Show it in review mode</a></p>"
            );
        }
    }
    if record.status == RecordStatus::Analyzed && shown {
        let _ = write!(
            body,
            "<p><img class=\"preview\" src=\"/records/{id}/preview{}\" alt=\"{}\"></p>",
            review_suffix(record),
            Esc(&record.key)
        );
    }
    let _ = write!(
        body,
        "<dl><dt>Folder</dt><dd>{}</dd><dt>Status</dt><dd>{}</dd>\
         <dt>Uploaded</dt><dd>{}</dd><dt>Analysed</dt><dd>{}</dd>\
         <dt>Execution</dt><dd><a id=\"execution\" href=\"/executions/{}\">{}</a></dd></dl>",
        Esc(&record.bucket),
        record.status.as_str(),
        when(record.uploaded_at),
        when(record.analysed_at),
        url_part(&record.execution.id),
        Esc(&record.execution.id),
    );
    if record.status != RecordStatus::Analyzed {
        body.push_str(&rerun_button(state, record));
    }
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

/// `GET /executions?status=&since=&until=&limit=`: the executions, newest first.
pub async fn executions(State(state): State<ConsoleState>, RawQuery(raw): RawQuery) -> Response {
    let params: Vec<(String, String)> = pairs(raw.as_deref())
        .into_iter()
        .filter(|(_, value)| !value.trim().is_empty())
        .collect();
    let listed = match query::execution_filter(&params) {
        Ok(filter) => query::executions(&state, filter).await,
        Err(failure) => Err(failure),
    };
    let executions = match listed {
        Ok(executions) => executions,
        Err(failure) => return failure.page(),
    };
    let mut body = String::from(
        "<h1>Executions</h1><form class=\"search\" method=\"get\" action=\"/executions\">\
         <label>Status<select name=\"status\"><option value=\"\">any</option>",
    );
    let status = value_of(&params, "status");
    for option in query::EXECUTION_STATUSES {
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
    let _ = write!(
        body,
        "</select></label><label>Started after (UTC)<input type=\"datetime-local\" \
         name=\"since\" value=\"{}\"></label><label>Started before (UTC)\
         <input type=\"datetime-local\" name=\"until\" value=\"{}\"></label>",
        Esc(value_of(&params, "since")),
        Esc(value_of(&params, "until")),
    );
    body.push_str(
        "<button type=\"submit\">Filter</button></form>\
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
            when(execution.start_time),
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
    match query::execution(&state, &id).await {
        Ok((summary, history)) => html(page(
            &summary.key,
            &execution_body(&state, &summary, &history),
        ))
        .into_response(),
        Err(failure) => failure.page(),
    }
}

fn execution_body(state: &ConsoleState, execution: &ExecutionSummary, history: &Value) -> String {
    let mut body = format!(
        "<h1>Execution of {}</h1><dl><dt>Id</dt><dd>{}</dd><dt>Status</dt><dd{}>{}</dd>\
         <dt>Photo</dt><dd><a id=\"record\" href=\"/records/{}\">{}</a></dd><dt>Started</dt>\
         <dd>{}</dd><dt>Duration</dt><dd>{}</dd>",
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
    body.push_str("</dl>");
    let events = history
        .get("events")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let states = states(events);
    if states.is_empty() {
        body.push_str("<h2>States</h2><p>No history was kept for this execution.</p>");
    } else {
        if !state.definition.is_null() {
            body.push_str(
                "<h2>Graph</h2><p class=\"hint\">Select a state to see its input, \
                           output, retries and error.</p>",
            );
            body.push_str(&graph::render(&state.definition, &graph::outcomes(events)));
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
        for name in graph::state_names(&state.definition) {
            if !ran.contains(name.as_str()) {
                let _ = write!(
                    body,
                    "<section class=\"state-detail\" id=\"{}\"><h3>{}</h3>\
                     <p>Not run in this execution.</p></section>",
                    Esc(&graph::anchor(&name)),
                    Esc(&name),
                );
            }
        }
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
    /// The id of its section on the page: `state-<name>`, numbered when a state ran again.
    anchor: String,
    entered: String,
    exited: Option<String>,
    outcome: String,
    failed: bool,
    /// Task attempts: 1 plus its retries.
    attempts: u32,
    /// Each failed attempt's error and cause.
    errors: Vec<(String, String)>,
    input: Option<String>,
    output: Option<String>,
}

/// A state's input or output as the history carries it (a JSON string), pretty-printed.
fn payload(details: Option<&Value>, name: &str) -> Option<String> {
    let text = details?.get(name)?.as_str()?;
    Some(
        serde_json::from_str::<Value>(text)
            .map(|value| pretty(&value))
            .unwrap_or_else(|_| text.to_owned()),
    )
}

/// The states in the order they were entered, with what happened to each. An event belongs to
/// the state whose entry its `previousEventId` chain reaches first: branches of a Parallel run
/// side by side and their events interleave, but each branch's events chain to each other.
fn states(events: &[Value]) -> Vec<StateRun> {
    let mut runs: Vec<StateRun> = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    // Event id → what it is: the run it entered, or the run it belongs to.
    let mut owner: BTreeMap<u64, Option<usize>> = BTreeMap::new();
    for event in events {
        let kind = scalar(event.get("type"));
        let time = scalar(event.get("timestamp"));
        let id = event.get("id").and_then(Value::as_u64).unwrap_or(0);
        let previous = event.get("previousEventId").and_then(Value::as_u64);
        let details = event_details(event);
        let name = details.and_then(|d| d.get("name")).and_then(Value::as_str);
        let inherited = previous.and_then(|p| owner.get(&p).copied()).flatten();
        if kind.starts_with("Execution") {
            // The execution's own start and end are shown above, not charged to a state.
            continue;
        }
        if kind.ends_with("StateEntered") {
            let name = name.unwrap_or("?").to_owned();
            let count = seen.entry(name.clone()).or_default();
            *count += 1;
            let anchor = if *count == 1 {
                graph::anchor(&name)
            } else {
                format!("{}-{count}", graph::anchor(&name))
            };
            runs.push(StateRun {
                name,
                anchor,
                entered: time,
                exited: None,
                outcome: "entered".to_owned(),
                failed: false,
                attempts: 0,
                errors: Vec::new(),
                input: payload(details, "input"),
                output: None,
            });
            owner.insert(id, Some(runs.len() - 1));
            continue;
        }
        // A state's exit closes it: what follows on the same branch belongs to the next state.
        let run_index = if kind.ends_with("StateExited") {
            runs.iter()
                .rposition(|r| r.exited.is_none() && Some(r.name.as_str()) == name)
        } else {
            inherited
        };
        owner.insert(
            id,
            if kind.ends_with("StateExited") {
                None
            } else {
                run_index
            },
        );
        let Some(run) = run_index.and_then(|i| runs.get_mut(i)) else {
            continue;
        };
        if kind.ends_with("StateExited") {
            run.exited = Some(time);
            run.output = payload(details, "output");
            if !run.failed {
                run.outcome = "succeeded".to_owned();
            }
        } else if kind.ends_with("Scheduled") {
            // A new attempt: only the last one's failure decides the state's outcome.
            run.attempts += 1;
            run.failed = false;
        } else if kind.ends_with("Failed") || kind.ends_with("TimedOut") {
            let error = details
                .and_then(|d| d.get("error"))
                .and_then(Value::as_str)
                .unwrap_or(&kind)
                .to_owned();
            let cause = details
                .and_then(|d| d.get("cause"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            run.failed = true;
            run.outcome = format!("{kind}: {error}");
            run.errors.push((error, cause));
        }
    }
    runs
}

/// `GET /records/{id}/thumbnail[?includeUnsafe=true]`: the photo, small, for the gallery.
pub async fn thumbnail(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    photo(state, id, raw, Rendition::Thumbnail).await
}

/// `GET /records/{id}/preview[?includeUnsafe=true]`: the photo, large, for its page.
pub async fn preview(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    photo(state, id, raw, Rendition::Preview).await
}

/// Shown in place of a photo that is there but cannot be drawn, so a page never shows a broken
/// image.
const UNDRAWABLE: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 160 120\">\
    <rect width=\"160\" height=\"120\" fill=\"#e5e7eb\"/><text x=\"80\" y=\"64\" \
    font-family=\"sans-serif\" font-size=\"12\" text-anchor=\"middle\" fill=\"#4b5563\">\
    no preview</text></svg>";

async fn photo(
    state: ConsoleState,
    id: String,
    raw: Option<String>,
    rendition: Rendition,
) -> Response {
    let review = match review_mode(raw.as_deref()) {
        Ok(review) => review,
        Err(failure) => return failure.json(),
    };
    // Whatever is refused is "not found": the answer says nothing of what exists outside.
    let not_found = || Failure::not_found("no such photo").json();
    let Some((bucket, key)) = parse_record_id(&id) else {
        return not_found();
    };
    let found = query::blocking(&state, move |store| {
        Ok((store.record(&bucket, &key)?, store.folders()?))
    })
    .await;
    let (record, remembered) = match found {
        Ok((Some(record), remembered)) => (record, remembered),
        Ok((None, _)) => return not_found(),
        Err(failure) => return failure.json(),
    };
    if !record.safe && !review {
        return Failure::forbidden(
            "this photo is not cleared as safe: it is drawn only in review mode \
             (includeUnsafe=true)",
        )
        .json();
    }
    let photos = std::sync::Arc::clone(&state.photos);
    let drawn = tokio::task::spawn_blocking(move || {
        let source = photos.locate(&record.bucket, &record.key, &remembered)?;
        let cached = photos.cache_path(&source, rendition)?;
        // Drawn before: read without waiting for a turn to draw.
        let jpeg = cached
            .is_file()
            .then(|| std::fs::read(&cached))
            .transpose()?;
        Ok::<_, PhotoError>((source, jpeg))
    })
    .await;
    let drawn = match drawn {
        Ok(Ok((source, None))) => {
            // Only drawing waits its turn (`ConsoleState::drawing`).
            let turn = match drawing_turn(&state).await {
                Ok(turn) => turn,
                Err(busy) => return busy,
            };
            let photos = std::sync::Arc::clone(&state.photos);
            tokio::task::spawn_blocking(move || {
                // Held until the drawing ends, even when the request is given up meanwhile:
                // no more photos are decoded at once than there are turns.
                let _turn = turn;
                Ok::<_, PhotoError>(std::fs::read(photos.rendition(&source, rendition)?)?)
            })
            .await
        }
        Ok(Ok((_, Some(jpeg)))) => Ok(Ok(jpeg)),
        Ok(Err(error)) => Ok(Err(error)),
        Err(error) => Err(error),
    };
    match drawn {
        Ok(Ok(jpeg)) => (
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                (header::CACHE_CONTROL, "private, max-age=3600"),
            ],
            jpeg,
        )
            .into_response(),
        Ok(Err(PhotoError::NotServed(_))) => not_found(),
        Ok(Err(PhotoError::Undrawable(_))) => (
            [
                (header::CONTENT_TYPE, "image/svg+xml"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            UNDRAWABLE,
        )
            .into_response(),
        Ok(Err(error)) => Failure::internal(error.to_string()).json(),
        Err(error) => Failure::internal(format!("drawing the photo failed: {error}")).json(),
    }
}

/// A turn at drawing a photo, or the answer for a client that should come back later: when
/// [`crate::Limits::drawing_queue`] requests wait already, or the wait passes
/// [`crate::Limits::drawing_wait`]. Waiting costs a few hundred bytes and no thread, but a
/// queue without end would answer its last requests long after anyone still wanted them.
async fn drawing_turn(state: &ConsoleState) -> Result<tokio::sync::OwnedSemaphorePermit, Response> {
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Waiting<'a>(&'a AtomicUsize);
    impl Drop for Waiting<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::Relaxed);
        }
    }

    let drawing = &state.drawing;
    if let Ok(turn) = std::sync::Arc::clone(&drawing.turns).try_acquire_owned() {
        return Ok(turn);
    }
    let busy = |why: &str| {
        let mut response = Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{why}: ask again in a moment"),
        )
        .json();
        let headers = response.headers_mut();
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    };
    let ahead = drawing.waiting.fetch_add(1, Ordering::Relaxed);
    let _waiting = Waiting(&drawing.waiting);
    if ahead >= state.limits.drawing_queue {
        return Err(busy(&format!(
            "{ahead} photos are waiting to be drawn already"
        )));
    }
    let wait = state.limits.drawing_wait;
    match tokio::time::timeout(wait, std::sync::Arc::clone(&drawing.turns).acquire_owned()).await {
        Ok(Ok(turn)) => Ok(turn),
        Ok(Err(_)) => Err(Failure::internal("the console is shutting down").json()),
        Err(_) => Err(busy(&format!(
            "no turn to draw the photo came within {wait:?}"
        ))),
    }
}

/// How many failed or rejected photos the failures page lists of each status.
const FAILURES_SHOWN: usize = 100;

/// `GET /failures`: the photos that were rejected or failed, with why, and a re-run button.
pub async fn failures(State(state): State<ConsoleState>) -> Response {
    let mut body = String::from(
        "<h1>Failures</h1><p>Photos the pipeline rejected (the upload itself is wrong) or \
         failed on (something broke on the way; a re-run may fix it).</p>",
    );
    for status in [RecordStatus::Failed, RecordStatus::Rejected] {
        let query = SearchQuery {
            status: Some(status),
            safe_only: false,
            limit: Some(FAILURES_SHOWN),
            ..SearchQuery::default()
        };
        let page_of = match query::blocking(&state, move |store| store.find(&query)).await {
            Ok(page_of) => page_of,
            Err(failure) => return failure.page(),
        };
        let _ = write!(
            body,
            "<h2>{} ({}{})</h2>",
            if status == RecordStatus::Failed {
                "Failed"
            } else {
                "Rejected"
            },
            page_of.records.len(),
            if page_of.next_cursor.is_some() {
                "+"
            } else {
                ""
            },
        );
        if page_of.records.is_empty() {
            body.push_str("<p>None.</p>");
            continue;
        }
        body.push_str(
            "<div class=\"table-wrap\"><table><tr><th>Photo</th><th>Error</th><th>Cause</th>\
             <th>When</th><th>Execution</th><th></th></tr>",
        );
        for record in &page_of.records {
            let (error, cause) = record
                .error
                .as_ref()
                .map_or(("", ""), |e| (e.error.as_str(), e.cause.as_str()));
            let _ = write!(
                body,
                "<tr class=\"failure\" data-key=\"{}\"><td><a href=\"/records/{}{}\">{}</a></td>\
                 <td class=\"failed\">{}</td><td>{}</td><td>{}</td>\
                 <td><a href=\"/executions/{}\">execution</a></td><td>{}</td></tr>",
                Esc(&record.key),
                url_part(&record.id),
                review_suffix(record),
                Esc(&record.key),
                Esc(error),
                Esc(cause),
                when(record.analysed_at),
                url_part(&record.execution.id),
                rerun_button(&state, record),
            );
        }
        body.push_str("</table></div>");
        if page_of.next_cursor.is_some() {
            let _ = write!(
                body,
                "<p><a href=\"/?status={}&amp;includeUnsafe=true\">All of them →</a></p>",
                status.as_str()
            );
        }
    }
    html(page("Failures", &body)).into_response()
}

/// The value of a form field in an `application/x-www-form-urlencoded` body.
fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn check_csrf(state: &ConsoleState, form: &[(String, String)]) -> Result<(), Failure> {
    match field(form, "csrf") {
        Some(given) if state.csrf_matches(given) => Ok(()),
        _ => Err(Failure::forbidden(
            "this form has expired or did not come from this console: reload the page and try \
             again",
        )),
    }
}

/// `POST /records/{id}/rerun`: runs the photo again through the same pipeline as
/// `spotlight run`, then shows the execution it made.
pub async fn rerun(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    body: String,
) -> Response {
    let form = pairs(Some(&body));
    if let Err(failure) = check_csrf(&state, &form) {
        return failure.page();
    }
    let Some(rerunner) = state.rerunner.clone() else {
        return Failure::not_found("this console cannot run photos").page();
    };
    let record = match query::record(&state, &id).await {
        Ok(record) => record,
        Err(failure) => return failure.page(),
    };
    match rerunner
        .rerun(record.bucket.clone(), record.key.clone())
        .await
    {
        Ok(rerun) => match rerun.execution_id {
            Some(execution) => {
                Redirect::to(&format!("/executions/{}", url_part(&execution))).into_response()
            }
            None => {
                let body = format!(
                    "<h1>Re-run of {}</h1><p>{}</p><p><a href=\"/records/{}\">Back to the \
                     photo</a> · <a href=\"/failures\">Failures</a></p>",
                    Esc(&record.key),
                    Esc(&rerun.summary),
                    url_part(&record.id),
                );
                html(page("Re-run", &body)).into_response()
            }
        },
        Err(message) => Failure::internal(format!("the re-run failed: {message}")).page(),
    }
}

/// Themes as the editor shows them: one per line, `name: Label, Label`.
fn themes_text(themes: &Themes) -> String {
    themes
        .themes
        .iter()
        .map(|(name, labels)| format!("{name}: {}\n", labels.join(", ")))
        .collect()
}

/// Reads the editor's text back; every line needs a name and at least one label.
fn parse_themes_text(text: &str) -> Result<Themes, String> {
    let mut themes = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (name, labels) = line.split_once(':').ok_or_else(|| {
            format!(
                "line {}: write it as `name: Label, Label`, not {line:?}",
                number + 1
            )
        })?;
        let name = name.trim();
        let labels: Vec<String> = labels
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        if name.is_empty() || labels.is_empty() {
            return Err(format!(
                "line {}: a theme needs a name and at least one label",
                number + 1
            ));
        }
        if themes.insert(name.to_owned(), labels).is_some() {
            return Err(format!("line {}: theme {name:?} appears twice", number + 1));
        }
    }
    if themes.is_empty() {
        return Err("there must be at least one theme".to_owned());
    }
    Ok(Themes { themes })
}

fn themes_page(state: &ConsoleState, text: &str, notice: Option<(&str, bool)>) -> String {
    let mut body = String::from("<h1>Themes</h1>");
    if let Some((message, good)) = notice {
        let _ = write!(
            body,
            "<p class=\"{}\" role=\"status\">{}</p>",
            if good { "notice" } else { "error" },
            Esc(message)
        );
    }
    // Markup: the file's path is escaped where it is written in.
    let home = match &state.themes_home {
        ThemesHome::Store => {
            "in the store, where <code>spotlight run</code> and <code>spotlight search</code> read \
             them"
                .to_owned()
        }
        ThemesHome::File(path) => format!("in <code>{}</code>", Esc(&path.display().to_string())),
    };
    let _ = write!(
        body,
        "<p>A theme is a named set of labels. A search by theme looks for any of its labels \
         (or labels whose parents they are) when it runs, so an edit applies at once to every \
         photo. Edits are saved {}.</p><form class=\"themes\" method=\"post\" \
         action=\"/themes\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label for=\"themes\">One theme per line: <code>name: Label, Label</code></label>\
         <textarea id=\"themes\" name=\"themes\" rows=\"14\" spellcheck=\"false\">{}</textarea>\
         <button type=\"submit\">Save themes</button></form>",
        home,
        Esc(&state.csrf),
        Esc(text)
    );
    body
}

/// `GET /themes`: the themes, editable.
pub async fn themes(State(state): State<ConsoleState>) -> Response {
    let text = themes_text(&state.themes());
    html(page("Themes", &themes_page(&state, &text, None))).into_response()
}

/// `POST /themes`: saves edited themes where they came from and uses them from now on.
pub async fn save_themes(State(state): State<ConsoleState>, body: String) -> Response {
    let form = pairs(Some(&body));
    if let Err(failure) = check_csrf(&state, &form) {
        return failure.page();
    }
    let text = field(&form, "themes").unwrap_or_default();
    let themes = match parse_themes_text(text) {
        Ok(themes) => themes,
        Err(message) => {
            let page_html = page(
                "Themes",
                &themes_page(&state, text, Some((&message, false))),
            );
            return (StatusCode::BAD_REQUEST, html(page_html)).into_response();
        }
    };
    let json = match serde_json::to_string_pretty(&themes) {
        Ok(json) => json,
        Err(error) => return Failure::internal(error.to_string()).page(),
    };
    let saved = match state.themes_home.clone() {
        ThemesHome::Store => {
            let json = json.clone();
            query::blocking(&state, move |store| store.save_themes(&json)).await
        }
        ThemesHome::File(path) => {
            tokio::task::spawn_blocking(move || write_atomically(&path, &json))
                .await
                .map_err(|e| e.to_string())
                .and_then(|written| written.map_err(|e| e.to_string()))
                .map_err(|e| Failure::internal(format!("saving the themes failed: {e}")))
        }
    };
    if let Err(failure) = saved {
        return failure.page();
    }
    let count = themes.themes.len();
    *state.themes.write().unwrap_or_else(|e| e.into_inner()) = std::sync::Arc::new(themes);
    let message = format!("Saved {count} theme{}.", if count == 1 { "" } else { "s" });
    let text = themes_text(&state.themes());
    html(page(
        "Themes",
        &themes_page(&state, &text, Some((&message, true))),
    ))
    .into_response()
}

/// Replaces `path` with `text` so that a reader sees the old file or the new one, never half.
fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(folder)?;
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn login_page(message: Option<&str>) -> String {
    let mut body = String::from("<h1>Sign in</h1>");
    if let Some(message) = message {
        let _ = write!(body, "<p class=\"error\">{}</p>", Esc(message));
    }
    body.push_str(
        "<p>This console is shared beyond this machine: give the access token printed when \
         it started.</p><form class=\"search\" method=\"post\" action=\"/login\">\
         <label>Access token<input type=\"password\" name=\"token\" autocomplete=\"off\" \
         required></label><button type=\"submit\">Sign in</button></form>",
    );
    body
}

/// Signs the browser in: a cookie only this console reads, sent only with its own requests.
fn signed_in(state: &ConsoleState, given: &str) -> Response {
    match &state.token {
        Some(token) if crate::same(given.as_bytes(), token.as_bytes()) => {
            let mut response = Redirect::to("/").into_response();
            let cookie = format!("token={token}; Path=/; HttpOnly; SameSite=Strict");
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Some(_) => (
            StatusCode::UNAUTHORIZED,
            html(page(
                "Sign in",
                &login_page(Some("That is not this console's token.")),
            )),
        )
            .into_response(),
        None => Redirect::to("/").into_response(),
    }
}

/// `GET /login`: the sign-in form; `GET /login?token=…` (the link printed at start) signs in
/// and moves on to the gallery, so the token does not stay in the address bar.
pub async fn login(State(state): State<ConsoleState>, RawQuery(raw): RawQuery) -> Response {
    let params = pairs(raw.as_deref());
    match field(&params, "token") {
        Some(given) => signed_in(&state, given),
        None => html(page("Sign in", &login_page(None))).into_response(),
    }
}

/// `POST /login`: the sign-in form's answer.
pub async fn login_form(State(state): State<ConsoleState>, body: String) -> Response {
    let form = pairs(Some(&body));
    signed_in(&state, field(&form, "token").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::time::Duration;

    use spotlight_core::themes::Themes;
    use spotlight_storage::SqliteStore;

    use super::*;
    use crate::Limits;

    fn console(limits: Limits) -> ConsoleState {
        let store = Arc::new(SqliteStore::in_memory().unwrap());
        ConsoleState::new(store, Themes::shipped(), None).with_limits(limits)
    }

    async fn told_to_retry(answer: Result<tokio::sync::OwnedSemaphorePermit, Response>) -> String {
        let Err(response) = answer else {
            panic!("a turn was given");
        };
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let error: ApiError = serde_json::from_slice(&body).unwrap();
        error.message
    }

    #[tokio::test]
    async fn drawing_turns_queue_only_so_far_and_wait_only_so_long() {
        let state = console(Limits {
            drawing: 1,
            drawing_queue: 2,
            drawing_wait: Duration::from_secs(3600),
            ..Limits::default()
        });
        let drawing = Arc::clone(&state.drawing);
        let first = drawing_turn(&state).await.unwrap();
        let mut queued = Vec::new();
        for _ in 0..2 {
            let state = state.clone();
            queued.push(tokio::spawn(
                async move { drawing_turn(&state).await.is_ok() },
            ));
        }
        while drawing.waiting.load(Ordering::Relaxed) < 2 {
            tokio::task::yield_now().await;
        }
        // The queue is full: the next is told at once to come back.
        let message = told_to_retry(drawing_turn(&state).await).await;
        assert!(message.contains("2 photos are waiting"), "{message}");
        assert_eq!(drawing.waiting.load(Ordering::Relaxed), 2);
        // The turn goes round: both waiting get theirs, one after the other.
        drop(first);
        for waiter in queued {
            assert!(waiter.await.unwrap());
        }
        assert_eq!(drawing.waiting.load(Ordering::Relaxed), 0);
        assert_eq!(drawing.turns.available_permits(), 1);

        // A wait has an end too.
        let state = console(Limits {
            drawing: 1,
            drawing_wait: Duration::from_millis(20),
            ..Limits::default()
        });
        let _held = drawing_turn(&state).await.unwrap();
        let message = told_to_retry(drawing_turn(&state).await).await;
        assert!(message.contains("no turn to draw"), "{message}");
        assert_eq!(state.drawing.waiting.load(Ordering::Relaxed), 0);
    }
}
