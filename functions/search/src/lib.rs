//! The search function: answers marketing's questions over the records — label or theme, minimum
//! confidence, text contains, status — safe-only unless asked otherwise, newest first, paged.
//!
//! The query comes as URL query parameters (`label`, `theme`, `all`, `notLabel`,
//! `minConfidence`, `text`, `status`, `verdict`, `includeUnsafe`, `limit`, `cursor`); the answer
//! is JSON. `verdict` is the one that counts: a reviewer's decision, else the model's. A query
//! that cannot be understood is a 400 with a message, never a failure of the function.
//!
//! `query` (words ranked over labels, themes and text: see [`search::word_matches`]) is parsed
//! here for the CLI and the console; the function itself refuses it.
//!
//! Labels combine as [`SearchQuery`] says: any `label`/`theme` matches, every one with
//! `all=true`, and `notLabel` excludes. DynamoDB's indexes are by label and by word, so the
//! function ([`handle`]) refuses a `notLabel` with no `label`, `theme` or `text` to read from:
//! answering it would read every safe record.
#![warn(missing_docs)]

use spotlight_core::contracts::{ApiError, RecordStatus, Verdict};
use spotlight_core::ports::{RecordStore, SearchQuery};
use spotlight_core::themes::Themes;
use spotlight_core::{search, StepError};

/// The most records one page may ask for.
pub const MAX_LIMIT: usize = 1000;
/// A page's size when the query names none.
pub const DEFAULT_LIMIT: usize = 50;
/// The most bytes of results in one answer, counted as they travel: the Function URL's
/// buffered response is at most 6 MB, and it carries the body as a JSON string, so every quote
/// and backslash in it counts twice. A page that would pass this stops early, with a cursor.
pub const MAX_PAGE_BYTES: usize = 5 * 1024 * 1024;
/// The least confidence a matching label needs when the query names none: below it a label is
/// the classifier's noise (the local model reports labels from 5%; Rekognition from its own
/// MinConfidence, 55 by default, so this changes nothing there).
pub const DEFAULT_MIN_CONFIDENCE: f32 = 25.0;

/// A query parameter that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct QueryError(String);

/// The value of `includeUnsafe` (review mode): `true` or `1`, else `false`, `0` or empty. An
/// HTML checkbox sends `includeUnsafe=true` when ticked and nothing when not, so an empty value
/// is not a tick: it means what leaving the parameter out means.
pub fn parse_include_unsafe(value: &str) -> Result<bool, QueryError> {
    parse_flag("includeUnsafe", value)
}

/// A checkbox parameter's value (`includeUnsafe`, `all`), read as [`parse_include_unsafe`]
/// reads it; `name` is for the message.
pub fn parse_flag(name: &str, value: &str) -> Result<bool, QueryError> {
    match value.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" | "" => Ok(false),
        other => Err(QueryError(format!(
            "{name} must be true or false, not {other:?}"
        ))),
    }
}

/// Turns query parameters into a search. A theme expands to its labels here, at query time.
///
/// Each `label` and each `theme` is a term: a record matches one term by carrying the label
/// (name or parent), or one of the theme's labels. Without `all=true` any term matches (as
/// before the grammar: terms merge into [`SearchQuery::labels`]); with it, every term must
/// ([`SearchQuery::all_labels`]). Each `notLabel` excludes the records carrying it.
///
/// A status of REJECTED or FAILED implies `includeUnsafe`: such records are never safe, and
/// asking for them is asking for the ops view. So does a verdict other than SAFE.
pub fn parse_query(
    params: &[(String, String)],
    themes: &Themes,
) -> Result<SearchQuery, QueryError> {
    let mut query = SearchQuery {
        safe_only: true,
        min_confidence: DEFAULT_MIN_CONFIDENCE,
        limit: Some(DEFAULT_LIMIT),
        // The store stops reading there; `handle` then counts exactly what travels.
        max_bytes: Some(MAX_PAGE_BYTES),
        ..SearchQuery::default()
    };
    let mut include_unsafe = false;
    let mut all = false;
    let mut terms: Vec<Vec<String>> = Vec::new();
    let mut words = None;
    for (name, value) in params {
        let value = value.trim();
        match name.as_str() {
            "label" => terms.push(vec![value.to_owned()]),
            "theme" => {
                let labels = themes
                    .expand(value)
                    .ok_or_else(|| QueryError(format!("unknown theme {value:?}")))?;
                terms.push(labels.to_vec());
            }
            "all" => all = parse_flag("all", value)?,
            "notLabel" if value.is_empty() => {
                return Err(QueryError("notLabel must name a label".to_owned()))
            }
            "notLabel" => query.not_labels.push(value.to_owned()),
            "query" => words = Some(value.to_owned()),
            "minConfidence" => {
                query.min_confidence = value
                    .parse()
                    .ok()
                    .filter(|c: &f32| (0.0..=100.0).contains(c))
                    .ok_or_else(|| {
                        QueryError(format!("minConfidence must be 0–100, not {value:?}"))
                    })?;
            }
            "text" => query.text = Some(value.to_owned()),
            "status" => {
                query.status = Some(match value.to_ascii_uppercase().as_str() {
                    "ANALYZED" => RecordStatus::Analyzed,
                    "REJECTED" => RecordStatus::Rejected,
                    "FAILED" => RecordStatus::Failed,
                    _ => {
                        return Err(QueryError(format!(
                            "status must be ANALYZED, REJECTED or FAILED, not {value:?}"
                        )))
                    }
                })
            }
            "includeUnsafe" => include_unsafe = parse_include_unsafe(value)?,
            "verdict" => {
                let verdict = match value.to_ascii_uppercase().as_str() {
                    "SAFE" => Verdict::Safe,
                    "UNSAFE" => Verdict::Unsafe,
                    "NEEDS_REVIEW" => Verdict::NeedsReview,
                    "UNKNOWN" => Verdict::Unknown,
                    _ => {
                        return Err(QueryError(format!(
                            "verdict must be SAFE, UNSAFE, NEEDS_REVIEW or UNKNOWN, not {value:?}"
                        )))
                    }
                };
                query.verdict = Some(verdict);
            }
            "limit" => {
                query.limit = Some(
                    value
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| {
                            QueryError(format!("limit must be 1–{MAX_LIMIT}, not {value:?}"))
                        })?,
                )
            }
            "cursor" => {
                // A store reads a cursor it cannot parse as an empty page; a caller that sent
                // one deserves to hear why.
                if search::parse_cursor(value).is_none() {
                    return Err(QueryError(format!(
                        "cursor must be a nextCursor this search returned, not {value:?}"
                    )));
                }
                query.cursor = Some(value.to_owned());
            }
            other => return Err(QueryError(format!("unknown query parameter {other:?}"))),
        }
    }
    if all {
        query.all_labels = terms;
    } else {
        query.labels = terms.concat();
    }
    if let Some(text) = words {
        query.words = search::query_words(&text, themes);
        if query.words.is_empty() {
            return Err(QueryError(format!(
                "query must contain a word that is not a stop-word, not {text:?}"
            )));
        }
        if query.cursor.is_some() {
            return Err(QueryError(
                "a query's results are ranked in one page: cursor does not apply (use limit)"
                    .to_owned(),
            ));
        }
    }
    if query
        .text
        .as_deref()
        .is_some_and(|t| search::words(t).is_empty())
    {
        return Err(QueryError("text must contain a word".to_owned()));
    }
    // Asking for a verdict other than SAFE is asking for the review view.
    if include_unsafe
        || matches!(
            query.status,
            Some(RecordStatus::Rejected | RecordStatus::Failed)
        )
        || query
            .verdict
            .is_some_and(|verdict| verdict != Verdict::Safe)
    {
        query.safe_only = false;
    }
    Ok(query)
}

pub use spotlight_core::contracts::{MatchedLabel, RecordHit as Hit, RecordPage};

/// What to ask the store for `query`: itself, or for a `query` search every match at once,
/// since ranking needs them all ([`ranked_hits`] then pages).
pub fn store_query(query: &SearchQuery) -> SearchQuery {
    if query.words.is_empty() {
        query.clone()
    } else {
        search::unpaged(query)
    }
}

/// The hits of a page the store answered for [`store_query`], with the cursor to go on: for a
/// `query` search ranked ([`search::rank`]) and cut at the query's `limit`, in one page.
pub fn ranked_hits(
    page: spotlight_core::ports::Page,
    query: &SearchQuery,
) -> (Vec<Hit>, Option<String>) {
    let mut hits: Vec<Hit> = page
        .records
        .into_iter()
        .map(|record| Hit::new(record, query))
        .collect();
    if query.words.is_empty() {
        return (hits, page.next_cursor);
    }
    search::rank(&mut hits);
    hits.truncate(query.limit.unwrap_or(usize::MAX));
    (hits, None)
}

/// The pairs of a raw query string (`a=1&b=x+y`), decoded as HTML forms encode them.
pub fn query_pairs(raw: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect()
}

/// The answer: an HTTP status and a JSON body.
#[derive(Debug)]
pub struct Answer {
    /// 200 or 400.
    pub status: u16,
    /// The JSON body.
    pub body: serde_json::Value,
}

/// Answers a query. Store failures are errors (`StoreFailed`); bad queries are a 400 answer.
pub async fn handle<S: RecordStore>(
    params: &[(String, String)],
    store: &S,
    themes: &Themes,
) -> Result<Answer, StepError> {
    let query = match parse_query(params, themes).and_then(indexed) {
        Ok(query) => query,
        Err(error) => {
            return Ok(Answer {
                status: 400,
                body: serde_json::json!(ApiError {
                    message: error.to_string()
                }),
            })
        }
    };
    let page = store.search(&query).await?;
    let mut items: Vec<Hit> = Vec::new();
    let mut bytes = 0usize;
    let mut next_cursor = page.next_cursor;
    for record in page.records {
        let hit = Hit::new(record, &query);
        let size = travelling_size(&hit).saturating_add(1);
        if !items.is_empty() && bytes.saturating_add(size) > MAX_PAGE_BYTES {
            next_cursor = items.last().map(|last| search::cursor_after(&last.record));
            break;
        }
        bytes = bytes.saturating_add(size);
        items.push(hit);
    }
    Ok(Answer {
        status: 200,
        body: serde_json::json!(RecordPage { items, next_cursor }),
    })
}

/// Refuses what DynamoDB's indexes cannot answer: excluded labels with no label, theme or
/// text to read from would read every safe record, a page at a time, to exclude a few. The
/// local store answers such a search (SQLite's label index is per record); this function does
/// not, and says how to ask.
///
/// Nor does it answer `query` (issue 12's word ranking): ranking needs every matching record at
/// once, which on DynamoDB is a read of the whole table per search.
pub fn indexed(query: SearchQuery) -> Result<SearchQuery, QueryError> {
    if !query.words.is_empty() {
        return Err(QueryError(
            "query (ranking by words) is answered by the local CLI and console only: ranking \
             needs every matching record, which here would read the whole table"
                .to_owned(),
        ));
    }
    if !query.not_labels.is_empty() && !query.has_indexed_clause() {
        return Err(QueryError(
            "notLabel needs a label, theme or text to search from: the index is by label and \
             by word, and excluding alone would read every record"
                .to_owned(),
        ));
    }
    Ok(query)
}

/// The bytes a hit takes in the Lambda's response, where the body is a JSON string.
fn travelling_size(hit: &Hit) -> usize {
    serde_json::to_string(hit)
        .and_then(|json| serde_json::to_string(&json))
        .map_or(usize::MAX, |escaped| escaped.len())
}
