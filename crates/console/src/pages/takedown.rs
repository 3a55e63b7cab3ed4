//! `POST /records/{id}/delete`: the photo's Delete button, the console's `spotlight delete`
//! ([`crate::takedown`]).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use spotlight_core::contracts::ImageRecord;
use spotlight_core::ports::DeleteOutcome;

use super::{check_csrf, html, when, Failure};
use crate::html::{page, url_part, Esc};
use crate::query::{self, pairs};
use crate::ConsoleState;

/// The photo page's Delete button, folded away so that it takes two deliberate steps (no
/// script needed); none on a console whose store is read-only.
pub(super) fn delete_button(state: &ConsoleState, record: &ImageRecord) -> String {
    if state.store.is_read_only() {
        return String::new();
    }
    format!(
        "<details class=\"takedown\"><summary>Delete…</summary>\
         <form method=\"post\" action=\"/records/{}/delete\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <p>Removes the record, its search entries and previews; the photo file and its \
         executions stay.</p><button type=\"submit\" id=\"delete\">Delete this photo</button>\
         </form></details>",
        url_part(&record.id),
        Esc(&state.csrf),
    )
}

/// `POST /records/{id}/delete`: takes the photo down, then says so.
pub async fn delete(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    body: String,
) -> Response {
    let form = pairs(Some(&body));
    if let Err(failure) = check_csrf(&state, &form) {
        return failure.page();
    }
    if state.store.is_read_only() {
        return Failure::forbidden("this console's store is read-only: nothing can be deleted")
            .page();
    }
    let record = match query::record(&state, &id).await {
        Ok(record) => record,
        Err(failure) => return failure.page(),
    };
    let photos = Arc::clone(&state.photos);
    let (bucket, key) = (record.bucket.clone(), record.key.clone());
    let now = chrono::Utc::now();
    let done = query::blocking(&state, move |store| {
        crate::takedown::take_down(store, &photos, &bucket, &key, now)
    })
    .await;
    let done = match done {
        Ok(done) => done,
        Err(failure) => return failure.page(),
    };
    let said = match done.outcome {
        DeleteOutcome::Stale => format!(
            "Kept: the record is of an upload after {}, so this delete does not apply to it.",
            when(now)
        ),
        _ => format!(
            "Deleted at {}: its record, search entries and previews are gone. The photo file \
             stays in its folder, and its executions stay for audit.",
            when(now)
        ),
    };
    let body = format!(
        "<h1>{}</h1><p id=\"deleted\" role=\"status\">{}</p><p><a id=\"execution\" \
         href=\"/executions/{}\">Its last execution</a> · <a href=\"/\">Gallery</a></p>",
        Esc(&record.key),
        Esc(&said),
        url_part(&record.execution.id),
    );
    html(page("Deleted", &body)).into_response()
}
