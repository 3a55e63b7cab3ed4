//! `GET /login` and `POST /login`: signing a browser in with the console's access token.

use std::fmt::Write as _;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::{field, html};
use crate::html::page;
use crate::html::Esc;
use crate::query::pairs;
use crate::ConsoleState;

fn login_page(message: Option<&str>) -> String {
    let mut body = String::from("<h1>Sign in</h1>");
    if let Some(message) = message {
        let _ = write!(body, "<p class=\"error\">{}</p>", Esc(message));
    }
    body.push_str(
        "<p>This console is shared beyond this machine: give the access token printed when \
         it started.</p><form class=\"search\" method=\"post\" action=\"/login\">\
         <label>Access token<input type=\"password\" name=\"token\" autocomplete=\"off\" \
         required></label><button type=\"submit\">Sign in</button></form>",
    );
    body
}

/// Signs the browser in: a cookie only this console reads, sent only with its own requests.
fn signed_in(state: &ConsoleState, given: &str) -> Response {
    match &state.token {
        Some(token) if crate::same(given.as_bytes(), token.as_bytes()) => {
            let mut response = Redirect::to("/").into_response();
            let cookie = format!("token={token}; Path=/; HttpOnly; SameSite=Strict");
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Some(_) => (
            StatusCode::UNAUTHORIZED,
            html(page(
                "Sign in",
                &login_page(Some("That is not this console's token.")),
            )),
        )
            .into_response(),
        None => Redirect::to("/").into_response(),
    }
}

/// `GET /login`: the sign-in form; `GET /login?token=…` (the link printed at start) signs in
/// and moves on to the gallery, so the token does not stay in the address bar.
pub async fn login(State(state): State<ConsoleState>, RawQuery(raw): RawQuery) -> Response {
    let params = pairs(raw.as_deref());
    match field(&params, "token") {
        Some(given) => signed_in(&state, given),
        None => html(page("Sign in", &login_page(None))).into_response(),
    }
}

/// `POST /login`: the sign-in form's answer.
pub async fn login_form(State(state): State<ConsoleState>, body: String) -> Response {
    let form = pairs(Some(&body));
    signed_in(&state, field(&form, "token").unwrap_or_default())
}
