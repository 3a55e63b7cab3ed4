//! [`Failure`]: why a request got no answer, as a page or as the API's `ApiError`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use spotlight_core::contracts::ApiError;
use spotlight_core::ports::StoreError;

use super::html;
use crate::html::{page, Esc};

/// Why a request got no answer: a status and a message for people, and the error behind it,
/// which goes to the log whole (source chain included) rather than onto the page.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub(super) status: StatusCode,
    pub(super) message: String,
    #[source]
    cause: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Failure {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
            cause: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Failure::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Failure::new(StatusCode::NOT_FOUND, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Failure::new(StatusCode::FORBIDDEN, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Failure::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// The store's own message for the page; the error itself, with its sources, for the log.
    pub fn store(error: StoreError) -> Self {
        Failure::internal(format!("the store failed: {}", error.message)).caused_by(error)
    }

    /// Keeps `cause` as the error behind this failure.
    pub fn caused_by(mut self, cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// Logs a failure that has an error behind it, with the whole chain: the page says less.
    fn log(&self) {
        if self.cause.is_some() {
            tracing::error!(
                status = self.status.as_u16(),
                error = %spotlight_core::error::error_chain(self),
                "a console request failed"
            );
        }
    }

    /// As the API answers: an `ApiError`.
    pub fn json(self) -> Response {
        self.log();
        (
            self.status,
            Json(ApiError {
                message: self.message,
            }),
        )
            .into_response()
    }

    /// As a page.
    pub fn page(self) -> Response {
        self.log();
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = format!(
            "<h1>{}</h1><p class=\"error\">{}</p><p><a href=\"/\">Back to the gallery</a></p>",
            Esc(title),
            Esc(&self.message)
        );
        (self.status, html(page(title, &body))).into_response()
    }
}
