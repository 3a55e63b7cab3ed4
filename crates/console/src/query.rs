//! Reading the query string and the store, shared by the pages and the API.

use spotlight_core::parse_record_id;
use spotlight_core::ports::{RecordStore, SearchQuery};
use spotlight_search::{parse_query, query_pairs, Hit};
use spotlight_storage::{ExecutionFilter, ExecutionSummary};

use crate::pages::Failure;
use crate::ConsoleState;

/// The most executions one page lists.
pub const MAX_EXECUTIONS: usize = 1000;
/// How many executions a page lists when the query names no limit.
pub const DEFAULT_EXECUTIONS: usize = 50;

/// Statuses an execution can have.
const EXECUTION_STATUSES: [&str; 5] = ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"];

pub fn pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(query_pairs).unwrap_or_default()
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
        parse_query(params, &state.themes).map_err(|e| Failure::bad_request(e.to_string()))?;
    let page = state.store.search(&query).await.map_err(Failure::store)?;
    let hits = page
        .records
        .into_iter()
        .map(|record| Hit::new(record, &query))
        .collect();
    Ok(Results {
        query,
        hits,
        next_cursor: page.next_cursor,
    })
}

/// One record by id; an id that is not one, or names no record, is a 404.
pub async fn record(
    state: &ConsoleState,
    id: &str,
) -> Result<spotlight_core::contracts::ImageRecord, Failure> {
    let unknown = || Failure::not_found(format!("no record {id:?}"));
    let (bucket, key) = parse_record_id(id).ok_or_else(unknown)?;
    state
        .store
        .get(&bucket, &key)
        .await
        .map_err(Failure::store)?
        .ok_or_else(unknown)
}

/// `status` and `limit` for the executions list; anything else is a 400.
pub fn execution_filter(params: &[(String, String)]) -> Result<ExecutionFilter, Failure> {
    let mut filter = ExecutionFilter {
        limit: Some(DEFAULT_EXECUTIONS),
        ..ExecutionFilter::default()
    };
    for (name, value) in params {
        let value = value.trim();
        match name.as_str() {
            "status" if value.is_empty() => {}
            "status" => {
                let status = value.to_ascii_uppercase();
                if !EXECUTION_STATUSES.contains(&status.as_str()) {
                    return Err(Failure::bad_request(format!(
                        "status must be one of {}, not {value:?}",
                        EXECUTION_STATUSES.join(", ")
                    )));
                }
                filter.status = Some(status);
            }
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

pub fn executions(
    state: &ConsoleState,
    filter: &ExecutionFilter,
) -> Result<Vec<ExecutionSummary>, Failure> {
    state.store.executions(filter).map_err(Failure::store)
}

/// One execution and its history (`{"events": [...]}`, empty when none was kept).
pub fn execution(
    state: &ConsoleState,
    id: &str,
) -> Result<(ExecutionSummary, serde_json::Value), Failure> {
    let (summary, history) = state
        .store
        .execution(id)
        .map_err(Failure::store)?
        .ok_or_else(|| Failure::not_found(format!("no execution {id:?}")))?;
    Ok((
        summary,
        history.unwrap_or_else(|| serde_json::json!({ "events": [] })),
    ))
}
