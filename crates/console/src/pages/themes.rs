//! `GET /themes` and `POST /themes`: the themes, edited as text.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use spotlight_core::themes::Themes;

use super::{check_csrf, field, html, Failure};
use crate::html::{page, Esc};
use crate::query::{self, pairs};
use crate::{ConsoleState, ThemesHome};

/// Themes as the editor shows them: one per line, `name: Label, Label`.
fn themes_text(themes: &Themes) -> String {
    themes
        .themes
        .iter()
        .map(|(name, labels)| format!("{name}: {}\n", labels.join(", ")))
        .collect()
}

/// Reads the editor's text back; every line needs a name and at least one label.
fn parse_themes_text(text: &str) -> Result<Themes, String> {
    let mut themes = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (name, labels) = line.split_once(':').ok_or_else(|| {
            format!(
                "line {}: write it as `name: Label, Label`, not {line:?}",
                number + 1
            )
        })?;
        let name = name.trim();
        let labels: Vec<String> = labels
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        if name.is_empty() || labels.is_empty() {
            return Err(format!(
                "line {}: a theme needs a name and at least one label",
                number + 1
            ));
        }
        if themes.insert(name.to_owned(), labels).is_some() {
            return Err(format!("line {}: theme {name:?} appears twice", number + 1));
        }
    }
    if themes.is_empty() {
        return Err("there must be at least one theme".to_owned());
    }
    Ok(Themes { themes })
}

fn themes_page(state: &ConsoleState, text: &str, notice: Option<(&str, bool)>) -> String {
    let mut body = String::from("<h1>Themes</h1>");
    if let Some((message, good)) = notice {
        let _ = write!(
            body,
            "<p class=\"{}\" role=\"status\">{}</p>",
            if good { "notice" } else { "error" },
            Esc(message)
        );
    }
    // Markup: the file's path is escaped where it is written in.
    let home = match &state.themes_home {
        ThemesHome::Store => {
            "in the store, where <code>spotlight run</code> and <code>spotlight search</code> read \
             them"
                .to_owned()
        }
        ThemesHome::File(path) => format!("in <code>{}</code>", Esc(&path.display().to_string())),
    };
    let _ = write!(
        body,
        "<p>A theme is a named set of labels. A search by theme looks for any of its labels \
         (or labels whose parents they are) when it runs, so an edit applies at once to every \
         photo. Edits are saved {}.</p><form class=\"themes\" method=\"post\" \
         action=\"/themes\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label for=\"themes\">One theme per line: <code>name: Label, Label</code></label>\
         <textarea id=\"themes\" name=\"themes\" rows=\"14\" spellcheck=\"false\">{}</textarea>\
         <button type=\"submit\">Save themes</button></form>",
        home,
        Esc(&state.csrf),
        Esc(text)
    );
    body
}

/// `GET /themes`: the themes, editable.
pub async fn themes(State(state): State<ConsoleState>) -> Response {
    let text = themes_text(&state.themes());
    html(page("Themes", &themes_page(&state, &text, None))).into_response()
}

/// `POST /themes`: saves edited themes where they came from and uses them from now on.
pub async fn save_themes(State(state): State<ConsoleState>, body: String) -> Response {
    let form = pairs(Some(&body));
    if let Err(failure) = check_csrf(&state, &form) {
        return failure.page();
    }
    let text = field(&form, "themes").unwrap_or_default();
    let themes = match parse_themes_text(text) {
        Ok(themes) => themes,
        Err(message) => {
            let page_html = page(
                "Themes",
                &themes_page(&state, text, Some((&message, false))),
            );
            return (StatusCode::BAD_REQUEST, html(page_html)).into_response();
        }
    };
    let json = match serde_json::to_string_pretty(&themes) {
        Ok(json) => json,
        Err(error) => return Failure::internal(error.to_string()).page(),
    };
    let saved = match state.themes_home.clone() {
        ThemesHome::Store => {
            let json = json.clone();
            query::blocking(&state, move |store| store.save_themes(&json)).await
        }
        ThemesHome::File(path) => {
            tokio::task::spawn_blocking(move || write_atomically(&path, &json))
                .await
                .map_err(|e| e.to_string())
                .and_then(|written| written.map_err(|e| e.to_string()))
                .map_err(|e| Failure::internal(format!("saving the themes failed: {e}")))
        }
    };
    if let Err(failure) = saved {
        return failure.page();
    }
    let count = themes.themes.len();
    *state.themes.write().unwrap_or_else(|e| e.into_inner()) = std::sync::Arc::new(themes);
    let message = format!("Saved {count} theme{}.", if count == 1 { "" } else { "s" });
    let text = themes_text(&state.themes());
    html(page(
        "Themes",
        &themes_page(&state, &text, Some((&message, true))),
    ))
    .into_response()
}

/// Replaces `path` with `text` so that a reader sees the old file or the new one, never half.
fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(folder)?;
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}
