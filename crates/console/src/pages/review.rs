//! The review queue (`GET /review`) and a reviewer's decision (`POST /records/{id}/review`).
//!
//! The queue lists the photos no one has decided on that the model did not clear: NEEDS_REVIEW
//! first, then the others, oldest upload first. Every photo carries a plain form (no script:
//! the console's CSP allows none) with the CSRF token and the record's review token; its
//! buttons are reachable by Tab, the first photo's Approve is focused on load and has access
//! keys (Approve `a`, Reject `r`, note `n`). After a decision the queue comes back with the next
//! photo focused and the reviewer's name filled in. A decision taken on a record that changed
//! since the page was drawn (another reviewer, a new analysis) is refused with a 409.

use std::fmt::Write as _;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use spotlight_core::contracts::{ImageRecord, RecordStatus, ReviewDecision};
use spotlight_core::review::{self, ReviewOutcome, ReviewRequest};

use super::{check_csrf, field, html, value_of, when, Failure};
use crate::html::{page, url_part, Esc};
use crate::query::{self, pairs};
use crate::ConsoleState;

/// The most photos the queue page lists at once.
const QUEUE_SHOWN: usize = 50;

/// The queue, in [`review::queue`]'s order.
pub(crate) async fn waiting(state: &ConsoleState) -> Result<Vec<ImageRecord>, Failure> {
    query::blocking(state, |store| {
        let mut candidates = Vec::new();
        let mut cursor = None;
        loop {
            let page = store.find(&spotlight_core::ports::SearchQuery {
                unsafe_only: true,
                cursor: cursor.take(),
                limit: Some(500),
                ..Default::default()
            })?;
            candidates.extend(page.records);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(review::queue(candidates)),
            }
        }
    })
    .await
}

/// Why the model put a photo in the queue: its flagged labels with their confidences.
fn why(record: &ImageRecord) -> String {
    let Some(moderation) = &record.moderation else {
        return "moderation did not run".to_owned();
    };
    moderation
        .flagged
        .iter()
        .chain(&moderation.review_flagged)
        .map(|f| {
            format!(
                "{} {:.1}% (threshold {:.1}%)",
                f.name, f.confidence, f.threshold
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A decision form for `record`. `first`: the one focused on load, with the access keys.
/// `back` is where to go after the decision (`queue` or `record`).
pub(crate) fn decision_form(
    state: &ConsoleState,
    record: &ImageRecord,
    reviewer: &str,
    first: bool,
    back: &str,
) -> String {
    let (approve_keys, reject_keys, note_keys) = if first {
        (" accesskey=\"a\"", " accesskey=\"r\"", " accesskey=\"n\"")
    } else {
        ("", "", "")
    };
    // Focus the name while there is none yet, else Approve: one key press per decision.
    let (name_focus, approve_focus) = match (first, reviewer.is_empty()) {
        (true, true) => (" autofocus", ""),
        (true, false) => ("", " autofocus"),
        _ => ("", ""),
    };
    format!(
        "<form class=\"decision\" method=\"post\" action=\"/records/{}/review\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <input type=\"hidden\" name=\"expect\" value=\"{}\">\
         <input type=\"hidden\" name=\"back\" value=\"{}\">\
         <label>Reviewer <input name=\"reviewer\" required maxlength=\"{}\" value=\"{}\"{name_focus}></label>\
         <label>Note <input name=\"note\" maxlength=\"{}\"{note_keys}></label>\
         <button type=\"submit\" name=\"decision\" value=\"APPROVED\" class=\"approve\"{approve_keys}{approve_focus}>Approve</button>\
         <button type=\"submit\" name=\"decision\" value=\"REJECTED\" class=\"reject\"{reject_keys}>Reject</button>\
         </form>",
        url_part(&record.id),
        Esc(&state.csrf),
        Esc(&review::token(record)),
        Esc(back),
        review::MAX_REVIEWER,
        Esc(reviewer),
        review::MAX_NOTE,
    )
}

/// `GET /review[?reviewer=NAME&done=KEY&decision=D]`: the queue.
pub async fn queue(State(state): State<ConsoleState>, RawQuery(raw): RawQuery) -> Response {
    let params = pairs(raw.as_deref());
    for (name, _) in &params {
        if !matches!(name.as_str(), "reviewer" | "done" | "decision") {
            return Failure::bad_request(format!("unknown query parameter {name:?}")).page();
        }
    }
    let reviewer = value_of(&params, "reviewer");
    let waiting = match waiting(&state).await {
        Ok(waiting) => waiting,
        Err(failure) => return failure.page(),
    };
    let mut body = String::from("<h1>Review</h1>");
    let done = value_of(&params, "done");
    if !done.is_empty() {
        let _ = write!(
            body,
            "<p class=\"notice\" role=\"status\">{} {}.</p>",
            Esc(&value_of(&params, "decision").to_lowercase()),
            Esc(done)
        );
    }
    let _ = write!(
        body,
        "<p>{} photo{} waiting: NEEDS_REVIEW first, then the other unsafe ones, oldest first. \
         Tab moves between the buttons; on the first photo Alt+A approves, Alt+R rejects, \
         Alt+N goes to the note.</p>",
        waiting.len(),
        if waiting.len() == 1 { "" } else { "s" }
    );
    if waiting.is_empty() {
        body.push_str("<p>Nothing to review.</p>");
    }
    body.push_str("<ol class=\"queue\">");
    for (i, record) in waiting.iter().take(QUEUE_SHOWN).enumerate() {
        let id = url_part(&record.id);
        let _ = write!(
            body,
            "<li class=\"queued\" data-key=\"{}\"><a href=\"/records/{id}?includeUnsafe=true\">\
             <img class=\"thumb\" src=\"/records/{id}/thumbnail?includeUnsafe=true\" alt=\"\">\
             <span class=\"key\">{}</span></a>\
             <p><span class=\"badge bad\">{}</span> uploaded {}</p><p class=\"why\">{}</p>{}</li>",
            Esc(&record.key),
            Esc(&record.key),
            record.model_verdict().as_str(),
            when(record.uploaded_at),
            Esc(&why(record)),
            decision_form(&state, record, reviewer, i == 0, "queue"),
        );
    }
    body.push_str("</ol>");
    html(page("Review", &body)).into_response()
}

/// `POST /records/{id}/review`: approve or reject, on condition that the record is still the
/// one the form was drawn from. Then back to the queue (the next photo) or to the photo.
pub async fn decide(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    body: String,
) -> Response {
    let form = pairs(Some(&body));
    if let Err(failure) = check_csrf(&state, &form) {
        return failure.page();
    }
    let decision = match field(&form, "decision") {
        Some("APPROVED") => ReviewDecision::Approved,
        Some("REJECTED") => ReviewDecision::Rejected,
        _ => return Failure::bad_request("the decision must be APPROVED or REJECTED").page(),
    };
    let request = match ReviewRequest::new(
        decision,
        field(&form, "reviewer").unwrap_or(""),
        field(&form, "note"),
        chrono::Utc::now(),
        field(&form, "expect").unwrap_or(""),
    ) {
        Ok(request) => request,
        Err(error) => return Failure::bad_request(error.to_string()).page(),
    };
    let record = match query::record(&state, &id).await {
        Ok(record) => record,
        Err(failure) => return failure.page(),
    };
    let asked = request.clone();
    let (bucket, key) = (record.bucket.clone(), record.key.clone());
    let outcome = query::blocking(&state, move |store| {
        store.decide_review(&bucket, &key, &asked)
    })
    .await;
    match outcome {
        Ok(ReviewOutcome::Reviewed(record)) => {
            if field(&form, "back") == Some("record") {
                return Redirect::to(&format!(
                    "/records/{}?includeUnsafe=true",
                    url_part(&record.id)
                ))
                .into_response();
            }
            let next = format!(
                "/review?reviewer={}&decision={}&done={}",
                url_part(&request.reviewer),
                decision.as_str(),
                url_part(&record.key)
            );
            Redirect::to(&next).into_response()
        }
        Ok(ReviewOutcome::Conflict(current)) => conflict(&state, &current, &request),
        Ok(ReviewOutcome::NotFound) => Failure::not_found(format!("no record {id:?}")).page(),
        Ok(ReviewOutcome::NotReviewable(current)) => Failure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "{} is {}: only analysed photos are reviewed",
                current.key,
                current.status.as_str()
            ),
        )
        .page(),
        Err(failure) => failure.page(),
    }
}

/// The 409 page: what is there now, and a form to decide on that instead.
fn conflict(state: &ConsoleState, current: &ImageRecord, request: &ReviewRequest) -> Response {
    let now = match &current.review {
        Some(r) => format!(
            "{} by {} at {}",
            r.decision.as_str(),
            r.reviewer,
            when(r.reviewed_at)
        ),
        None => format!(
            "analysed again: the model now says {}",
            current.model_verdict().as_str()
        ),
    };
    let mut body = format!(
        "<h1>Conflict</h1><p class=\"error\" role=\"alert\">{} changed since you saw it: it is \
         now {}. Your decision ({}) was not written.</p>",
        Esc(&current.key),
        Esc(&now),
        request.decision.as_str()
    );
    if current.status == RecordStatus::Analyzed {
        body.push_str("<p>Decide again on the photo as it is now:</p>");
        body.push_str(&decision_form(
            state,
            current,
            &request.reviewer,
            true,
            "queue",
        ));
    }
    body.push_str("<p><a href=\"/review\">Back to the queue</a></p>");
    (StatusCode::CONFLICT, html(page("Conflict", &body))).into_response()
}

/// The review part of a photo's page: the model's verdict and the reviewer's beside it, the
/// earlier reviews, and a decision form.
pub(crate) fn section(state: &ConsoleState, record: &ImageRecord) -> String {
    let mut body = String::from("<h2>Review</h2>");
    let _ = write!(
        body,
        "<p>Model: <strong>{}</strong>. ",
        record.model_verdict().as_str()
    );
    match &record.review {
        Some(r) => {
            let _ = write!(
                body,
                "Reviewer: <strong class=\"reviewed\">{}</strong> by {} at {}{} — this decision \
                 counts.</p>",
                r.decision.as_str(),
                Esc(&r.reviewer),
                when(r.reviewed_at),
                r.note
                    .as_deref()
                    .map(|n| format!(": “{}”", Esc(n)))
                    .unwrap_or_default(),
            );
        }
        None => body.push_str("No one has reviewed this upload.</p>"),
    }
    if !record.review_history.is_empty() {
        body.push_str("<details><summary>Earlier reviews</summary><ul>");
        for r in record.review_history.iter().rev() {
            let _ = write!(
                body,
                "<li>{} by {} at {} (model said {}){}</li>",
                r.decision.as_str(),
                Esc(&r.reviewer),
                when(r.reviewed_at),
                r.model_verdict.as_str(),
                r.note
                    .as_deref()
                    .map(|n| format!(": “{}”", Esc(n)))
                    .unwrap_or_default(),
            );
        }
        body.push_str("</ul></details>");
    }
    if record.status == RecordStatus::Analyzed {
        body.push_str(&decision_form(state, record, "", false, "record"));
    }
    body
}
