//! Reading the query string and the store, shared by the pages and the API. SQLite calls run on
//! tokio's blocking threads, so a slow query never stalls the server's other requests.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use spotlight_core::contracts::{ExecutionStatus, ImageRecord};
use spotlight_core::parse_record_id;
use spotlight_core::ports::{SearchQuery, StoreError};
use spotlight_search::{parse_query, query_pairs, Hit};
use spotlight_storage::{ExecutionFilter, ExecutionSummary, SqliteStore};

use crate::pages::Failure;
use crate::ConsoleState;

/// The most executions one page lists.
pub const MAX_EXECUTIONS: usize = 1000;
/// How many executions a page lists when the query names no limit.
pub const DEFAULT_EXECUTIONS: usize = 50;

pub fn pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(query_pairs).unwrap_or_default()
}

/// Runs `work` against the store on a blocking thread.
pub async fn blocking<T: Send + 'static>(
    state: &ConsoleState,
    work: impl FnOnce(&SqliteStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Failure> {
    let store = Arc::clone(&state.store);
    tokio::task::spawn_blocking(move || work(&store))
        .await
        .map_err(|e| Failure::internal(format!("a store call did not finish: {e}")))?
        .map_err(Failure::store)
}

/// One page of search results, with the query they answer.
pub struct Results {
    pub query: SearchQuery,
    pub hits: Vec<Hit>,
    pub next_cursor: Option<String>,
}

/// Runs a search with the search function's semantics: a bad parameter is a 400.
pub async fn search_records(
    state: &ConsoleState,
    params: &[(String, String)],
) -> Result<Results, Failure> {
    let query =
        parse_query(params, &state.themes()).map_err(|e| Failure::bad_request(e.to_string()))?;
    let asked = spotlight_search::store_query(&query);
    let page = blocking(state, move |store| store.find(&asked)).await?;
    let (hits, next_cursor) = spotlight_search::ranked_hits(page, &query);
    Ok(Results {
        query,
        hits,
        next_cursor,
    })
}

/// One record by id; an id that is not one, or names no record, is a 404, and a photo taken
/// down (`spotlight delete`, gone from a watched folder) is a 410 saying when.
pub async fn record(state: &ConsoleState, id: &str) -> Result<ImageRecord, Failure> {
    let unknown = || Failure::not_found(format!("no record {id:?}"));
    let (bucket, key) = parse_record_id(id).ok_or_else(unknown)?;
    let owned = id.to_owned();
    let (record, tombstone) = blocking(state, move |store| match store.record(&bucket, &key)? {
        Some(record) => Ok((Some(record), None)),
        None => Ok((None, store.tombstone_of(&owned)?)),
    })
    .await?;
    match (record, tombstone) {
        (Some(record), _) => Ok(record),
        (None, Some(tombstone)) => Err(Failure::new(
            axum::http::StatusCode::GONE,
            format!(
                "the photo {:?} was deleted at {}",
                tombstone.key,
                tombstone.deleted_at.to_rfc3339()
            ),
        )),
        (None, None) => Err(unknown()),
    }
}

fn time(name: &str, value: &str) -> Result<DateTime<Utc>, Failure> {
    // `<input type="datetime-local">` sends `2026-11-25T10:00` (no zone: read as UTC).
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M")
                .or_else(|_| chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S"))
                .map(|t| t.and_utc())
        })
        .map_err(|_| {
            Failure::bad_request(format!(
                "{name} must be a time like 2026-11-25T10:00:00Z, not {value:?}"
            ))
        })
}

/// `status`, `since`, `until` and `limit` for the executions list; anything else is a 400.
pub fn execution_filter(params: &[(String, String)]) -> Result<ExecutionFilter, Failure> {
    let mut filter = ExecutionFilter {
        limit: Some(DEFAULT_EXECUTIONS),
        ..ExecutionFilter::default()
    };
    for (name, value) in params {
        let value = value.trim();
        match name.as_str() {
            "status" | "since" | "until" if value.is_empty() => {}
            "status" => {
                let status = value.parse().map_err(|_| {
                    Failure::bad_request(format!(
                        "status must be one of {}, not {value:?}",
                        ExecutionStatus::ALL.map(ExecutionStatus::as_str).join(", ")
                    ))
                })?;
                filter.status = Some(status);
            }
            "since" => filter.since = Some(time("since", value)?),
            "until" => filter.until = Some(time("until", value)?),
            "limit" => {
                filter.limit = Some(
                    value
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_EXECUTIONS).contains(n))
                        .ok_or_else(|| {
                            Failure::bad_request(format!(
                                "limit must be 1–{MAX_EXECUTIONS}, not {value:?}"
                            ))
                        })?,
                );
            }
            other => {
                return Err(Failure::bad_request(format!(
                    "unknown query parameter {other:?}"
                )))
            }
        }
    }
    Ok(filter)
}

pub async fn executions(
    state: &ConsoleState,
    filter: ExecutionFilter,
) -> Result<Vec<ExecutionSummary>, Failure> {
    blocking(state, move |store| store.executions(&filter)).await
}

/// One execution and its history (`{"events": [...]}`, empty when none was kept).
pub async fn execution(
    state: &ConsoleState,
    id: &str,
) -> Result<(ExecutionSummary, serde_json::Value), Failure> {
    let wanted = id.to_owned();
    let (summary, history) = blocking(state, move |store| store.execution(&wanted))
        .await?
        .ok_or_else(|| Failure::not_found(format!("no execution {id:?}")))?;
    Ok((
        summary,
        history.unwrap_or_else(|| serde_json::json!({ "events": [] })),
    ))
}
