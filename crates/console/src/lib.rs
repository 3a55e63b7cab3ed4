//! Spotlight's web console: marketing's gallery and ops' execution view, served by axum over the
//! same SQLite store as `spotlight run`.
//!
//! Pages are rendered on the server (real links, no JavaScript needed) and call nothing outside
//! the binary; the JSON API under them (`/api/...`) answers the same queries for `curl`, with the
//! contract types as bodies. Everything that comes from a photo — key, labels, OCR text — is
//! untrusted and goes through [`html::Esc`] on its way into a page. Every response carries a
//! strict Content-Security-Policy; when the state holds an access token, every request must
//! present it. [`serve`] keeps within [`Limits`]: connections, timeouts for slow clients, and a
//! bounded queue for drawing thumbnails (see `server.rs`).
#![warn(missing_docs)]

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, RwLock};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use spotlight_core::themes::Themes;
use spotlight_states::{DefinitionError, StateMachine};
use spotlight_storage::SqliteStore;

mod api;
mod export;
pub mod graph;
pub mod html;
mod pages;
pub mod photos;
mod query;
mod server;
pub mod takedown;

pub use photos::Photos;
pub use server::Limits;

/// The Content-Security-Policy of every response: nothing but our own stylesheet and images,
/// no scripts at all, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; img-src 'self'; \
     style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What a re-run did, for the page that reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rerun {
    /// The execution that ran, when one did.
    pub execution_id: Option<String>,
    /// One line for people: the new status, or why nothing ran.
    pub summary: String,
}

/// Why a re-run could not run the photo: what failed, and the error that made it fail.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct RerunError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl RerunError {
    /// `message`, caused by `source`.
    pub fn new(
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        RerunError {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// `message`, with nothing behind it.
    pub fn without_source(message: impl Into<String>) -> Self {
        RerunError {
            message: message.into(),
            source: None,
        }
    }
}

/// The future a [`Rerunner`] returns.
pub type RerunFuture = Pin<Box<dyn Future<Output = Result<Rerun, RerunError>> + Send>>;

/// Runs one photo through the pipeline again: the console's re-run button calls it, and
/// `spotlight serve` implements it with the very code `spotlight run` uses.
pub trait Rerunner: Send + Sync {
    /// Runs the photo `key` in folder `bucket`.
    fn rerun(&self, bucket: String, key: String) -> RerunFuture;

    /// Redrives the execution `id` (a FAILED, TIMED_OUT or ABORTED one) from where it stopped,
    /// as `spotlight executions redrive` does; the redrive button on an execution's page calls
    /// it. [`Rerun::summary`] says how it ended. None by default.
    fn redrive(&self, id: String) -> RerunFuture {
        let _ = id;
        Box::pin(async { Err(RerunError::without_source("this console cannot redrive")) })
    }
}

/// Where edited themes are kept.
#[derive(Debug, Clone)]
pub enum ThemesHome {
    /// In the store, where `spotlight run` and `spotlight search` find them.
    Store,
    /// In the themes file the console was started with.
    File(PathBuf),
}

/// What the console serves from: the store, the themes, the photos and the access token.
#[derive(Clone)]
pub struct ConsoleState {
    store: Arc<SqliteStore>,
    themes: Arc<RwLock<Arc<Themes>>>,
    themes_home: ThemesHome,
    token: Option<Arc<str>>,
    /// Put in every form and required back with every POST: another site cannot read it, so
    /// it cannot make a browser post on its own.
    csrf: Arc<str>,
    photos: Arc<Photos>,
    limits: Arc<Limits>,
    drawing: Arc<Drawing>,
    machine: Machine,
    /// The definition's size as compact JSON, for the Express estimate of the cost report.
    definition_bytes: usize,
    rerunner: Option<Arc<dyn Rerunner>>,
}

impl std::fmt::Debug for ConsoleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleState")
            .field("photos", &self.photos)
            .field("themes_home", &self.themes_home)
            .finish_non_exhaustive()
    }
}

impl ConsoleState {
    /// A console over `store`. With a `token`, every request must carry it, as
    /// `Authorization: Bearer <token>` or as the `token` cookie that `/login` sets. Photos are
    /// served from the folders the store remembers, with thumbnails cached in a temporary
    /// folder, until [`ConsoleState::with_photos`] says otherwise.
    pub fn new(store: Arc<SqliteStore>, themes: Themes, token: Option<String>) -> Self {
        ConsoleState {
            store,
            themes: Arc::new(RwLock::new(Arc::new(themes))),
            themes_home: ThemesHome::Store,
            token: token.map(Arc::from),
            csrf: Arc::from(uuid::Uuid::new_v4().simple().to_string()),
            photos: Arc::new(Photos::new(
                None,
                std::env::temp_dir().join("spotlight-thumbnails"),
            )),
            limits: Arc::new(Limits::default()),
            drawing: Arc::new(Drawing::new(&Limits::default())),
            machine: Machine::Absent,
            definition_bytes: 0,
            rerunner: None,
        }
    }

    /// Serves photos as `photos` says.
    pub fn with_photos(mut self, photos: Photos) -> Self {
        self.photos = Arc::new(photos);
        self
    }

    /// Serves within `limits` instead of [`Limits::default`].
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.drawing = Arc::new(Drawing::new(&limits));
        self.limits = Arc::new(limits);
        self
    }

    /// The limits it serves within.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Keeps edited themes in `home`.
    pub fn with_themes_home(mut self, home: ThemesHome) -> Self {
        self.themes_home = home;
        self
    }

    /// Draws executions on this state machine definition (ASL JSON). A definition the engine
    /// refuses is not drawn: the execution pages say why instead.
    pub fn with_definition(mut self, definition: serde_json::Value) -> Self {
        self.definition_bytes = definition.to_string().len();
        self.machine = if definition.is_null() {
            Machine::Absent
        } else {
            // `${Name}` placeholders stay as written: the graph needs no resource ARNs.
            match StateMachine::from_value(definition, &std::collections::HashMap::new()) {
                Ok(machine) => Machine::Parsed(Arc::new(machine)),
                Err(error) => {
                    tracing::warn!(%error, "the console cannot draw its state machine");
                    Machine::Unreadable(Arc::new(error))
                }
            }
        };
        self
    }

    /// Offers a re-run button on failed and rejected photos.
    pub fn with_rerunner(mut self, rerunner: Arc<dyn Rerunner>) -> Self {
        self.rerunner = Some(rerunner);
        self
    }

    /// The themes as they are now (edits replace them whole).
    fn themes(&self) -> Arc<Themes> {
        Arc::clone(&self.themes.read().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The console's routes: pages, JSON API and embedded assets, with the security headers and
/// the token check applied to all of them (unknown routes included).
pub fn router(state: ConsoleState) -> Router {
    Router::new()
        .route("/", get(pages::gallery))
        .route("/records/{id}", get(pages::record))
        .route("/records/{id}/thumbnail", get(pages::thumbnail))
        .route("/records/{id}/preview", get(pages::preview))
        .route("/records/{id}/rerun", post(pages::rerun))
        .route("/records/{id}/delete", post(pages::delete))
        .route("/records/{id}/review", post(pages::review_decide))
        .route("/review", get(pages::review_queue))
        .route("/failures", get(pages::failures))
        .route("/themes", get(pages::themes).post(pages::save_themes))
        .route("/export", get(export::export))
        .route("/executions", get(pages::executions))
        .route("/executions/{id}", get(pages::execution))
        .route("/executions/{id}/redrive", post(pages::redrive))
        .route("/login", get(pages::login).post(pages::login_form))
        .route("/assets/console.css", get(stylesheet))
        .route("/favicon.ico", get(favicon))
        .route("/api/records", get(api::records))
        .route("/api/records/{id}", get(api::record))
        .route("/api/review", get(api::review_queue))
        .route("/api/executions", get(api::executions))
        .route("/api/executions/{id}/history", get(api::history))
        .route("/api/themes", get(api::themes))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), deadline))
        .layer(middleware::from_fn_with_state(state.clone(), require_csrf))
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            require_own_host,
        ))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// Serves the console on `listener` until the process ends, within the state's [`Limits`].
pub async fn serve(listener: tokio::net::TcpListener, state: ConsoleState) -> std::io::Result<()> {
    serve_until(listener, state, std::future::pending()).await
}

/// Serves the console on `listener` within the state's [`Limits`] until `shutdown` completes,
/// then finishes the requests in flight.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    state: ConsoleState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = Arc::clone(&state.limits);
    server::serve(listener, router(state), &limits, shutdown).await
}

/// The state machine the execution pages draw.
#[derive(Debug, Clone)]
enum Machine {
    /// None was given: the pages show no graph.
    Absent,
    Parsed(Arc<StateMachine>),
    /// The engine refused it, for these reasons.
    Unreadable(Arc<DefinitionError>),
}

/// Turns at drawing photos: a semaphore sized to the cores, and a count of the requests
/// waiting for it, so that a burst of first-time thumbnails queues only so far.
#[derive(Debug)]
struct Drawing {
    turns: Arc<tokio::sync::Semaphore>,
    waiting: AtomicUsize,
}

impl Drawing {
    fn new(limits: &Limits) -> Self {
        Drawing {
            turns: Arc::new(tokio::sync::Semaphore::new(limits.drawing.max(1))),
            waiting: AtomicUsize::new(0),
        }
    }
}

/// Reads the request's body whole and answers it within [`Limits::request`]: a client that
/// dribbles its body, or a request stuck behind others, is answered rather than held. A re-run
/// only gets the time limit on its body: it runs the pipeline, whose steps bound themselves,
/// and stopping it halfway would leave an execution unfinished.
async fn deadline(State(state): State<ConsoleState>, request: Request, next: Next) -> Response {
    let limit = state.limits.request;
    let (parts, body) = request.into_parts();
    let body = match tokio::time::timeout(
        limit,
        axum::body::to_bytes(body, state.limits.body_bytes),
    )
    .await
    {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            return pages::Failure::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the request's body is larger than {} bytes, or ended early",
                    state.limits.body_bytes
                ),
            )
            .page()
        }
        Err(_) => {
            return pages::Failure::new(
                StatusCode::REQUEST_TIMEOUT,
                format!("the request's body did not arrive within {limit:?}"),
            )
            .page()
        }
    };
    // A redrive runs the pipeline too.
    let rerun = parts.method == Method::POST
        && (parts.uri.path().ends_with("/rerun") || parts.uri.path().ends_with("/redrive"));
    let request = Request::from_parts(parts, Body::from(body));
    if rerun {
        return next.run(request).await;
    }
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                ?limit,
                "a console request took too long and was answered 503"
            );
            let mut response = pages::Failure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the console is too busy to answer within {limit:?}: try again shortly"),
            )
            .page();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            response
        }
    }
}

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../assets/console.css"),
    )
        .into_response()
}

/// A browser asks for it on every page; answering keeps its console free of 404s.
async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        include_str!("../assets/favicon.svg"),
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
    // The login page and what it needs to look right are the only things open to all.
    let open = matches!(
        request.uri().path(),
        "/login" | "/assets/console.css" | "/favicon.ico"
    );
    match &state.token {
        Some(token) if !open && !presents(request.headers(), token) => (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "401 Unauthorized: this console needs its access token \
             (Authorization: Bearer <token>, or sign in at /login)\n",
        )
            .into_response(),
        _ => next.run(request).await,
    }
}

/// Without a token the console trusts whoever reaches it, which on loopback is this machine's
/// user. A web page elsewhere can still point a name of its own at 127.0.0.1 (DNS rebinding)
/// and so become same-origin with the console in the browser: such a request names that other
/// host in `Host`, and is refused. With a token every request must carry it anyway.
async fn require_own_host(
    State(state): State<ConsoleState>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .map(|h| h.to_str().unwrap_or(""));
    match host {
        Some(host) if state.token.is_none() && !is_loopback_authority(host) => (
            StatusCode::MISDIRECTED_REQUEST,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "421 Misdirected Request: this console answers only to localhost and loopback \
                 addresses (start it with --bind and a token to reach it by another name)\n",
        )
            .into_response(),
        _ => next.run(request).await,
    }
}

/// Whether a `Host` header names this machine's loopback: `localhost` (or a name under it),
/// `127.x.x.x` or `[::1]`, with or without a port.
fn is_loopback_authority(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((inside, _)) => inside,
            None => return false,
        },
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host),
    };
    let host = host.to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
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

/// Refuses a state-changing request that another site could have made the browser send: it
/// must come from one of our own pages (`Origin`/`Sec-Fetch-Site`, when the browser sends
/// them) and, except for `/login`, carry the form's CSRF token (checked by the handler, which
/// reads the form).
async fn require_csrf(request: Request, next: Next) -> Response {
    if request.method() == Method::GET || request.method() == Method::HEAD {
        return next.run(request).await;
    }
    let headers = request.headers();
    let cross_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|site| !matches!(site, "same-origin" | "none"));
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    // Under `Referrer-Policy: no-referrer` a browser sends `Origin: null` with its own forms:
    // that says nothing, and the CSRF token decides.
    let foreign_origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|origin| *origin != "null")
        .is_some_and(|origin| {
            let authority = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            Some(authority) != host
        });
    if cross_site || foreign_origin {
        return pages::Failure::forbidden("this request did not come from the console's own pages")
            .page();
    }
    next.run(request).await
}

impl ConsoleState {
    /// Whether a form's CSRF field is this console's.
    fn csrf_matches(&self, given: &str) -> bool {
        same(given.as_bytes(), self.csrf.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;
    use spotlight_core::themes::Themes;
    use spotlight_storage::SqliteStore;

    use super::{is_loopback_authority, ConsoleState, Machine};

    #[test]
    fn a_definition_the_engine_refuses_is_kept_with_its_reasons() {
        let console = || {
            let store = SqliteStore::in_memory().expect("an in-memory store");
            ConsoleState::new(Arc::new(store), Themes::shipped(), None)
        };
        let shipped = serde_json::from_str(include_str!("../../../statemachine/pipeline.asl.json"))
            .expect("the shipped definition is JSON");
        assert!(matches!(
            console().with_definition(shipped).machine,
            Machine::Parsed(_)
        ));
        assert!(matches!(
            console().with_definition(json!(null)).machine,
            Machine::Absent
        ));
        let refused = [
            json!({}),
            json!([]),
            json!("StartAt"),
            json!({"StartAt": 5, "States": []}),
            json!({"StartAt": "Nowhere", "States": {"A": {"Type": "Pass", "End": true}}}),
            json!({"StartAt": "A", "States": {"A": 7, "B": [], "C": {"Type": 3, "Next": ["A"]}}}),
            json!({"StartAt": "A", "States": {
                "A": {"Type": "Pass", "Next": "B"},
                "B": {"Type": "Pass", "Next": "C"},
                "C": {"Type": "Choice", "Choices": [{"Next": "A"}, 5, {"Next": "Gone"}],
                      "Default": "C"}
            }}),
            json!({"StartAt": "Me", "States": {"Me": {"Type": "Task", "Next": "Me",
                "Catch": [{"Next": "Me"}, {"Next": 1}, "x"]}}}),
            json!({"StartAt": "A", "States": {"A": {"Type": "<b>Task</b>", "End": true}}}),
        ];
        for definition in refused {
            match console().with_definition(definition.clone()).machine {
                Machine::Unreadable(error) => {
                    assert!(!error.problems().is_empty(), "{definition}");
                }
                other => panic!("{definition} was taken: {other:?}"),
            }
        }
    }

    #[test]
    fn only_loopback_names_are_our_own() {
        for own in [
            "127.0.0.1:8787",
            "127.0.0.1",
            "127.1.2.3:80",
            "localhost:8787",
            "LOCALHOST",
            "app.localhost:1",
            "[::1]:8787",
            "[::1]",
        ] {
            assert!(is_loopback_authority(own), "{own}");
        }
        for foreign in [
            "evil.example:8787",
            "localhost.evil.example",
            "127.0.0.1.nip.io:8787",
            "10.0.0.5:8787",
            "[::2]:8787",
            "[::1",
            "",
        ] {
            assert!(!is_loopback_authority(foreign), "{foreign}");
        }
    }
}
