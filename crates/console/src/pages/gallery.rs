//! `GET /`: the gallery, the search form above the photos it finds.

use std::fmt::Write as _;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use spotlight_core::contracts::RecordStatus;

use super::{html, push_options, review_suffix, status_badge, value_of};
use crate::html::{page, url_part, Esc};
use crate::query::{self, pairs};
use crate::ConsoleState;

/// `GET /`: the search form and the matching records, safe-only unless asked otherwise.
pub async fn gallery(State(state): State<ConsoleState>, RawQuery(raw): RawQuery) -> Response {
    // An HTML form sends every field, empty ones too: an empty field means "no filter".
    let params: Vec<(String, String)> = pairs(raw.as_deref())
        .into_iter()
        .filter(|(_, value)| !value.trim().is_empty())
        .collect();
    let mut body = String::from("<h1>Gallery</h1>");
    let searched = query::search_records(&state, &params).await;
    // The box is ticked exactly when unsafe photos are listed (a REJECTED or FAILED status
    // lists them too); a search that failed lists nothing, so its box keeps what was asked.
    let review = match &searched {
        Ok(results) => !results.query.safe_only,
        Err(_) => spotlight_search::parse_include_unsafe(value_of(&params, "includeUnsafe"))
            .unwrap_or(false),
    };
    body.push_str(&search_form(&state, &params, review));
    let results = match searched {
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
        if let Some(review) = &record.review {
            let _ = write!(
                body,
                "<p class=\"why\">{} by {}</p>",
                review.decision.as_str(),
                Esc(&review.reviewer)
            );
        }
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
        if !hit.matched_words.is_empty() {
            body.push_str("<p class=\"why\">Words: ");
            for (i, word) in hit.matched_words.iter().enumerate() {
                let _ = write!(
                    body,
                    "{}{}",
                    if i == 0 { "" } else { ", " },
                    Esc(&word.to_string())
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

/// The search form, filled in as `params` asked, its review-mode box ticked when `review`.
fn search_form(state: &ConsoleState, params: &[(String, String)], review: bool) -> String {
    let mut form = String::from("<form class=\"search\" method=\"get\" action=\"/\">");
    // Word matching over labels, themes and text, ranked (not image similarity: the README).
    let _ = write!(
        form,
        "<label>Words<input type=\"search\" name=\"query\" value=\"{}\" \
         placeholder=\"dog on a beach\"></label>",
        Esc(value_of(params, "query"))
    );
    // One box per label asked for and one empty box more, so a search of several labels comes
    // back as it was asked and can take one more without a script.
    for (name, title) in [("label", "Label"), ("notLabel", "Not label")] {
        let asked = params.iter().filter(|(n, _)| n == name).map(|(_, v)| v);
        for value in asked.map(String::as_str).chain([""]) {
            let _ = write!(
                form,
                "<label>{title}<input name=\"{name}\" value=\"{}\"></label>",
                Esc(value)
            );
        }
        if name == "label" {
            let every = spotlight_search::parse_flag("all", value_of(params, "all"));
            let _ = write!(
                form,
                "<label>Every label<input type=\"checkbox\" name=\"all\" value=\"true\"{}>\
                 </label>",
                if every.unwrap_or(false) {
                    " checked"
                } else {
                    ""
                }
            );
        }
    }
    form.push_str("<label>Theme<select name=\"theme\"><option value=\"\">any</option>");
    let chosen = value_of(params, "theme");
    push_options(
        &mut form,
        state.themes().themes.keys().map(String::as_str),
        chosen,
    );
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
    push_options(&mut form, ["ANALYZED", "REJECTED", "FAILED"], status);
    form.push_str("</select></label>");
    // The verdict that counts: a reviewer's decision, else the model's.
    form.push_str("<label>Verdict<select name=\"verdict\"><option value=\"\">any</option>");
    let verdict = value_of(params, "verdict");
    push_options(
        &mut form,
        ["SAFE", "NEEDS_REVIEW", "UNSAFE", "UNKNOWN"],
        verdict,
    );
    form.push_str("</select></label>");
    let _ = write!(
        form,
        "<label>Review mode<input type=\"checkbox\" name=\"includeUnsafe\" value=\"true\"{}>\
         </label><button type=\"submit\">Search</button></form>",
        if review { " checked" } else { "" }
    );
    form
}
