//! The server-rendered pages, one module each: the gallery, a photo's page and its images,
//! the failures (with the re-run button), the themes, the executions list, an execution's page
//! and the sign-in form; [`Failure`] is how any of them answers when it cannot. Every string
//! from a photo or an execution is written through [`Esc`]. Pages work without JavaScript:
//! state changes are plain HTML forms that POST with the console's CSRF token.

use std::fmt::Write as _;

use axum::http::header;
use axum::response::IntoResponse;
use spotlight_core::contracts::{ImageRecord, RecordStatus};
use spotlight_storage::ExecutionSummary;

use crate::html::{url_part, Esc};
use crate::query::pairs;
use crate::ConsoleState;

mod execution;
mod executions;
mod failure;
mod failures;
mod gallery;
mod login;
mod photo;
mod review;
mod takedown;
mod themes;

pub use execution::{execution, redrive};
pub use executions::executions;
pub use failure::Failure;
pub use failures::{failures, rerun};
pub use gallery::gallery;
pub use login::{login, login_form};
pub use photo::{preview, record, thumbnail};
pub(crate) use review::waiting as review_waiting;
pub use review::{decide as review_decide, queue as review_queue};
pub use takedown::delete;
pub use themes::{save_themes, themes};

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

fn duration(execution: &ExecutionSummary) -> String {
    execution.stop_time.map_or_else(
        || "—".to_owned(),
        |stop| format!("{} ms", (stop - execution.start_time).num_milliseconds()),
    )
}

/// A select's `<option>`s, one per value, the one matching `chosen` (in any case) selected.
fn push_options<'v>(html: &mut String, values: impl IntoIterator<Item = &'v str>, chosen: &str) {
    for value in values {
        let selected = if value.eq_ignore_ascii_case(chosen) {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            html,
            "<option value=\"{0}\"{selected}>{0}</option>",
            Esc(value)
        );
    }
}

/// The class attribute of an execution's status: anything but success stands out.
fn status_class(status: spotlight_core::contracts::ExecutionStatus) -> &'static str {
    if status == spotlight_core::contracts::ExecutionStatus::Succeeded {
        ""
    } else {
        " class=\"failed\""
    }
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
