//! The JSON API under the pages: the same queries, scriptable with `curl`. Every body is a
//! contract type (`contracts/api.*.schema.json`, `contracts/image-record.schema.json`).

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use spotlight_core::contracts::{ExecutionHistory, ExecutionList, RecordPage};

use crate::pages::Failure;
use crate::query::{self, pairs};
use crate::ConsoleState;

/// `GET /api/records`: a `RecordPage`, exactly as the search function answers; `notLabel`
/// alone and `query` (ranked by words, in one page), which the function refuses, are answered
/// here from SQLite.
pub async fn records(State(state): State<ConsoleState>, RawQuery(raw): RawQuery) -> Response {
    match query::search_records(&state, &pairs(raw.as_deref())).await {
        Ok(results) => Json(RecordPage {
            items: results.hits,
            next_cursor: results.next_cursor,
        })
        .into_response(),
        Err(failure) => failure.json(),
    }
}

/// `GET /api/records/{id}`: the `ImageRecord`.
pub async fn record(State(state): State<ConsoleState>, Path(id): Path<String>) -> Response {
    match query::record(&state, &id).await {
        Ok(record) => Json(record).into_response(),
        Err(failure) => failure.json(),
    }
}

/// `GET /api/review`: the review queue, in its order: `{"items": [{"record", "reviewToken"}]}`
/// (the token is what a decision must quote; decisions are the console's forms, or the review
/// function on AWS).
pub async fn review_queue(State(state): State<ConsoleState>) -> Response {
    match crate::pages::review_waiting(&state).await {
        Ok(waiting) => {
            let items: Vec<serde_json::Value> = waiting
                .iter()
                .map(|record| {
                    serde_json::json!({
                        "record": record,
                        "reviewToken": spotlight_core::review::token(record),
                    })
                })
                .collect();
            Json(serde_json::json!({ "items": items })).into_response()
        }
        Err(failure) => failure.json(),
    }
}

/// `GET /api/executions?status=&since=&until=&limit=`: an `ExecutionList`, newest first.
pub async fn executions(State(state): State<ConsoleState>, RawQuery(raw): RawQuery) -> Response {
    let listed = match query::execution_filter(&pairs(raw.as_deref())) {
        Ok(filter) => query::executions(&state, filter).await,
        Err(failure) => Err(failure),
    };
    match listed {
        Ok(items) => Json(ExecutionList { items }).into_response(),
        Err(failure) => failure.json(),
    }
}

/// `GET /api/executions/{id}/history`: an `ExecutionHistory`, shaped like `GetExecutionHistory`.
pub async fn history(State(state): State<ConsoleState>, Path(id): Path<String>) -> Response {
    let history = match query::execution(&state, &id).await {
        Ok((_, history)) => history,
        Err(failure) => return failure.json(),
    };
    // The engine wrote it; reading it through the contract type makes sure the answer is one.
    match serde_json::from_value::<ExecutionHistory>(history) {
        Ok(history) => Json(history).into_response(),
        Err(error) => {
            Failure::internal(format!("the stored history of {id:?} is not one: {error}")).json()
        }
    }
}

/// `GET /api/themes`: `Themes`, the themes file's shape.
pub async fn themes(State(state): State<ConsoleState>) -> Response {
    Json(&*state.themes()).into_response()
}
