//! `GET /export?format=csv|json&id=…`: the photos marketing selected in the gallery, as a file
//! to download: key, labels, safe, and a link back to each photo's page.

use std::fmt::Write as _;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use spotlight_core::contracts::ImageRecord;

use crate::html::url_part;
use crate::pages::Failure;
use crate::query::{self, pairs};
use crate::ConsoleState;

/// The most photos one export holds.
pub const MAX_EXPORT: usize = 1000;

/// One exported photo.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Exported {
    key: String,
    labels: Vec<ExportedLabel>,
    safe: bool,
    link: String,
}

/// A label and its confidence.
#[derive(Debug, Serialize)]
pub struct ExportedLabel {
    name: String,
    confidence: f32,
}

impl Exported {
    fn new(record: &ImageRecord, origin: &str) -> Self {
        Exported {
            key: record.key.clone(),
            labels: record
                .labels
                .iter()
                .map(|l| ExportedLabel {
                    name: l.name.clone(),
                    confidence: l.confidence,
                })
                .collect(),
            safe: record.safe,
            link: format!("{origin}/records/{}", url_part(&record.id)),
        }
    }
}

/// Where the browser reached us, for absolute links: the `Host` it sent.
fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// One CSV field (RFC 4180). A field that a spreadsheet would run as a formula (`=`, `+`, `-`,
/// `@`, tab, carriage return first) gets a leading `'`, so opening the file runs nothing.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// The CSV file: a header line, then one line per photo; labels as `name (confidence%)` joined
/// by `; `.
pub fn csv(photos: &[Exported]) -> String {
    let mut out = String::from("key,labels,safe,link\r\n");
    for photo in photos {
        let labels: Vec<String> = photo
            .labels
            .iter()
            .map(|l| format!("{} ({:.1}%)", l.name, l.confidence))
            .collect();
        let _ = write!(
            out,
            "{},{},{},{}\r\n",
            csv_field(&photo.key),
            csv_field(&labels.join("; ")),
            photo.safe,
            csv_field(&photo.link)
        );
    }
    out
}

/// `GET /export`.
pub async fn export(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = pairs(raw.as_deref());
    let mut format = None;
    let mut ids = Vec::new();
    for (name, value) in &params {
        match name.as_str() {
            "format" => format = Some(value.as_str()),
            "id" => ids.push(value.clone()),
            other => {
                return Failure::bad_request(format!("unknown query parameter {other:?}")).page()
            }
        }
    }
    let json = match format {
        Some("json") => true,
        Some("csv") | None => false,
        Some(other) => {
            return Failure::bad_request(format!("format must be csv or json, not {other:?}"))
                .page()
        }
    };
    if ids.is_empty() {
        return Failure::bad_request("select at least one photo to export").page();
    }
    if ids.len() > MAX_EXPORT {
        return Failure::bad_request(format!("export at most {MAX_EXPORT} photos at once")).page();
    }
    let origin = origin(&headers);
    let mut photos = Vec::with_capacity(ids.len());
    for id in &ids {
        match query::record(&state, id).await {
            Ok(record) => photos.push(Exported::new(&record, &origin)),
            Err(failure) => return failure.page(),
        }
    }
    if json {
        match serde_json::to_string_pretty(&photos) {
            Ok(body) => (
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"spotlight-selection.json\"",
                    ),
                ],
                body,
            )
                .into_response(),
            Err(error) => Failure::internal(error.to_string()).page(),
        }
    } else {
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"spotlight-selection.csv\"",
                ),
            ],
            csv(&photos),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_it_must_and_defuses_formulas() {
        assert_eq!(csv_field("plain.jpg"), "plain.jpg");
        assert_eq!(csv_field("a,b.jpg"), "\"a,b.jpg\"");
        assert_eq!(csv_field("say \"hi\".jpg"), "\"say \"\"hi\"\".jpg\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("+1.jpg"), "'+1.jpg");
        assert_eq!(csv_field("line\nbreak"), "\"line\nbreak\"");
    }
}
