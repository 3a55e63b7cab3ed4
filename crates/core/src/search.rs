//! What a search means, once, for every store: the in-memory fake follows it literally and the
//! SQLite and DynamoDB stores are tested against the same cases.

use crate::contracts::{ImageRecord, RecordStatus};
use crate::ports::SearchQuery;

/// The words of a text, as the text index holds them: lower-case runs of letters and digits.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether a record answers a query (ignoring paging).
pub fn matches(record: &ImageRecord, query: &SearchQuery) -> bool {
    if query.status.is_some_and(|status| record.status != status) {
        return false;
    }
    if query.safe_only && !record.safe {
        return false;
    }
    if query.unsafe_only && (record.safe || record.status != RecordStatus::Analyzed) {
        return false;
    }
    if query
        .verdict
        .is_some_and(|verdict| record.verdict() != verdict)
    {
        return false;
    }
    if !query.labels.is_empty() && matching_labels(record, query).is_empty() {
        return false;
    }
    if let Some(text) = &query.text {
        let wanted = words(text);
        let have = record
            .text
            .as_ref()
            .map(|t| words(&t.full_text))
            .unwrap_or_default();
        if wanted.is_empty() || !wanted.iter().all(|w| have.contains(w)) {
            return false;
        }
    }
    true
}

/// The record's labels that meet the query's labels and confidence: "why it matched".
pub fn matching_labels<'r>(
    record: &'r ImageRecord,
    query: &SearchQuery,
) -> Vec<&'r crate::contracts::Label> {
    record
        .labels
        .iter()
        .filter(|label| label.confidence >= query.min_confidence)
        .filter(|label| {
            std::iter::once(&label.name)
                .chain(&label.parents)
                .any(|name| query.labels.iter().any(|q| q.eq_ignore_ascii_case(name)))
        })
        .collect()
}

/// The order of results: newest upload first, then by id so pages are stable.
pub fn newest_first(a: &ImageRecord, b: &ImageRecord) -> std::cmp::Ordering {
    b.uploaded_at
        .cmp(&a.uploaded_at)
        .then_with(|| a.id.cmp(&b.id))
}

/// The cursor after `record`: its sort key.
pub fn cursor_after(record: &ImageRecord) -> String {
    format!("{}:{}", record.uploaded_at.timestamp_micros(), record.id)
}

/// The upload time (µs) and record id a [`cursor_after`] cursor holds; `None` for anything else.
pub fn parse_cursor(cursor: &str) -> Option<(i64, &str)> {
    let (micros, id) = cursor.split_once(':')?;
    Some((micros.parse().ok()?, id))
}

/// Whether `record` comes after `cursor` in [`newest_first`] order. A cursor that does not parse
/// matches nothing, so a bad cursor yields an empty page rather than the first page again.
pub fn is_after_cursor(record: &ImageRecord, cursor: &str) -> bool {
    let Some((micros, id)) = parse_cursor(cursor) else {
        return false;
    };
    let own = record.uploaded_at.timestamp_micros();
    own < micros || (own == micros && record.id.as_str() > id)
}
