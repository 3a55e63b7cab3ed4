//! `GET /executions`: the executions list, filtered by status and start time.

use std::fmt::Write as _;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};

use super::{duration, html, push_options, status_class, value_of, when};
use crate::html::{page, url_part, Esc};
use crate::query::{self, pairs};
use crate::ConsoleState;

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
    // The photos taken down since: their executions stay listed, marked so.
    let ids: Vec<String> = executions.iter().map(|e| e.record_id.clone()).collect();
    let deleted = query::blocking(&state, move |store| {
        let mut deleted = std::collections::HashSet::new();
        for id in ids {
            if store.tombstone_of(&id)?.is_some() {
                deleted.insert(id);
            }
        }
        Ok(deleted)
    })
    .await;
    let deleted = match deleted {
        Ok(deleted) => deleted,
        Err(failure) => return failure.page(),
    };
    let mut body = String::from(
        "<h1>Executions</h1><form class=\"search\" method=\"get\" action=\"/executions\">\
         <label>Status<select name=\"status\"><option value=\"\">any</option>",
    );
    let status = value_of(&params, "status");
    push_options(
        &mut body,
        spotlight_core::contracts::ExecutionStatus::ALL
            .iter()
            .map(|status| status.as_str()),
        status,
    );
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
            "<tr><td{}>{}</td><td><a href=\"/records/{}\">{}</a>{}</td><td>{}</td><td>{}</td>\
             <td><a href=\"/executions/{}\">{}</a></td></tr>",
            status_class(execution.status),
            Esc(execution.status.as_str()),
            url_part(&execution.record_id),
            Esc(&execution.key),
            if deleted.contains(&execution.record_id) {
                " <span class=\"deleted\">(photo deleted)</span>"
            } else {
                ""
            },
            when(execution.start_time),
            duration(execution),
            url_part(&execution.id),
            Esc(&execution.id),
        );
    }
    body.push_str("</table></div>");
    html(page("Executions", &body)).into_response()
}
