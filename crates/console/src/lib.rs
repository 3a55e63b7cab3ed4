//! Spotlight's web console: marketing's gallery and ops' execution view, served by axum over the
//! same SQLite store as `spotlight run`.
//!
//! Pages are rendered on the server (real links, no JavaScript needed) and call nothing outside
//! the binary; the JSON API under them (`/api/...`) answers the same queries for `curl`, with the
//! contract types as bodies. Everything that comes from a photo — key, labels, OCR text — is
//! untrusted and goes through [`html::Esc`] on its way into a page. Every response carries a
//! strict Content-Security-Policy; when the state holds an access token, every request must
//! present it.
#![warn(missing_docs)]

use std::future::Future;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use spotlight_core::themes::Themes;
use spotlight_storage::SqliteStore;

mod api;
pub mod html;
mod pages;
mod query;

/// The Content-Security-Policy of every response: nothing but our own stylesheet and images,
/// no scripts at all, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; img-src 'self'; \
     style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What the console serves from: the store, the themes and the access token.
#[derive(Clone, Debug)]
pub struct ConsoleState {
    store: Arc<SqliteStore>,
    themes: Arc<Themes>,
    token: Option<Arc<str>>,
}

impl ConsoleState {
    /// A console over `store`. With a `token`, every request must carry it, as
    /// `Authorization: Bearer <token>` or as a `token` cookie.
    pub fn new(store: Arc<SqliteStore>, themes: Themes, token: Option<String>) -> Self {
        ConsoleState {
            store,
            themes: Arc::new(themes),
            token: token.map(Arc::from),
        }
    }
}

/// The console's routes: pages, JSON API and embedded assets, with the security headers and
/// the token check applied to all of them (unknown routes included).
pub fn router(state: ConsoleState) -> Router {
    Router::new()
        .route("/", get(pages::gallery))
        .route("/records/{id}", get(pages::record))
        .route("/executions", get(pages::executions))
        .route("/executions/{id}", get(pages::execution))
        .route("/assets/console.css", get(stylesheet))
        .route("/api/records", get(api::records))
        .route("/api/records/{id}", get(api::record))
        .route("/api/executions", get(api::executions))
        .route("/api/executions/{id}/history", get(api::history))
        .route("/api/themes", get(api::themes))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// Serves the console on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, state: ConsoleState) -> std::io::Result<()> {
    axum::serve(listener, router(state)).await
}

/// Serves the console on `listener` until `shutdown` completes, then finishes the requests in
/// flight.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    state: ConsoleState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../assets/console.css"),
    )
        .into_response()
}

async fn not_found() -> Response {
    pages::Failure::not_found("no such page").page()
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

async fn require_token(
    State(state): State<ConsoleState>,
    request: Request,
    next: Next,
) -> Response {
    match &state.token {
        Some(token) if !presents(request.headers(), token) => (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "401 Unauthorized: this console needs its access token \
             (Authorization: Bearer <token>, or a token cookie)\n",
        )
            .into_response(),
        _ => next.run(request).await,
    }
}

/// Whether the request carries `token` in its `Authorization` header or its `token` cookie.
fn presents(headers: &HeaderMap, token: &str) -> bool {
    let bearer = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.strip_prefix("Bearer "));
    let cookies = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix("token="));
    bearer
        .chain(cookies)
        .any(|given| same(given.trim().as_bytes(), token.as_bytes()))
}

/// Compares in time that depends only on the lengths, so the token cannot be guessed byte by
/// byte from response times.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
