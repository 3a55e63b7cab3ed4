//! `GET /failures`: the photos that were rejected or failed, and `POST /records/{id}/rerun`,
//! the re-run button on them.

use std::fmt::Write as _;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use spotlight_core::contracts::RecordStatus;
use spotlight_core::ports::SearchQuery;

use super::{check_csrf, html, rerun_button, review_suffix, when, Failure};
use crate::html::{page, url_part, Esc};
use crate::query::{self, pairs};
use crate::ConsoleState;

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
        Err(error) => Failure::internal(format!(
            "the re-run failed: {}",
            spotlight_core::error::error_chain(&error)
        ))
        .caused_by(error)
        .page(),
    }
}
