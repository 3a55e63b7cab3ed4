//! The JSON API under the pages: the same queries, scriptable with `curl`.

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::query::{self, pairs};
use crate::ConsoleState;

/// `GET /api/records`: `{"items": [{"record", "matchedLabels"}], "nextCursor"}`, exactly as the
/// search function answers.
pub async fn records(State(state): State<ConsoleState>, RawQuery(raw): RawQuery) -> Response {
    match query::search_records(&state, &pairs(raw.as_deref())).await {
        Ok(results) => Json(json!({ "items": results.hits, "nextCursor": results.next_cursor }))
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

/// `GET /api/executions?status=&limit=`: `{"items": [ExecutionSummary]}`, newest first.
pub async fn executions(State(state): State<ConsoleState>, RawQuery(raw): RawQuery) -> Response {
    let listed = query::execution_filter(&pairs(raw.as_deref()))
        .and_then(|filter| query::executions(&state, &filter));
    match listed {
        Ok(items) => Json(json!({ "items": items })).into_response(),
        Err(failure) => failure.json(),
    }
}

/// `GET /api/executions/{id}/history`: `{"events": [...]}`, shaped like `GetExecutionHistory`.
pub async fn history(State(state): State<ConsoleState>, Path(id): Path<String>) -> Response {
    match query::execution(&state, &id) {
        Ok((_, history)) => Json(history).into_response(),
        Err(failure) => failure.json(),
    }
}

/// `GET /api/themes`: `{"themes": {name: [labels]}}`, the themes file's shape.
pub async fn themes(State(state): State<ConsoleState>) -> Response {
    Json(&*state.themes).into_response()
}
