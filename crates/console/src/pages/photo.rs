//! A photo's page (`GET /records/{id}`) and its images: the thumbnail and the preview, drawn
//! in turns so that a burst of first-time thumbnails cannot take every core.

use std::fmt::Write as _;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use spotlight_core::contracts::{BoundingBox, ImageRecord, Label, LabelInstance, RecordStatus};
use spotlight_core::parse_record_id;

use super::{html, rerun_button, review_mode, review_suffix, status_badge, when, Failure};
use crate::html::{page, url_part, Esc};
use crate::photos::{PhotoError, Rendition};
use crate::query;
use crate::ConsoleState;

/// `GET /records/{id}[?includeUnsafe=true]`: everything the record says about one photo. A
/// photo not cleared as safe is shown only in review mode; outside it the page says why and
/// links there, and draws no image.
pub async fn record(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let review = match review_mode(raw.as_deref()) {
        Ok(review) => review,
        Err(failure) => return failure.page(),
    };
    match query::record(&state, &id).await {
        Ok(record) => {
            html(page(&record.key, &record_body(&state, &record, review))).into_response()
        }
        Err(failure) => failure.page(),
    }
}

fn record_body(state: &ConsoleState, record: &ImageRecord, review: bool) -> String {
    let id = url_part(&record.id);
    let mut body = format!(
        "<h1>{}</h1><p>{}</p>",
        Esc(&record.key),
        status_badge(record.status, record.safe),
    );
    let shown = record.safe || review;
    if !record.safe {
        if review {
            body.push_str(
                "<p class=\"review\" role=\"alert\">Review mode: this photo is not cleared \
                 as safe to feature.</p>",
            );
        } else {
            let _ = write!(
                body,
                "<p class=\"review\" role=\"alert\">This photo is not cleared as safe to \
                 feature, so it is hidden outside review mode. \
                 <a href=\"/records/{id}?includeUnsafe=true\">Show it in review mode</a></p>"
            );
        }
    }
    if record.status == RecordStatus::Analyzed && shown {
        let _ = write!(
            body,
            "<figure class=\"boxed\"><img class=\"preview\" src=\"/records/{id}/preview{}\" \
             alt=\"{}\">{}</figure>",
            review_suffix(record),
            Esc(&record.key),
            box_overlay(record)
        );
    }
    let _ = write!(
        body,
        "<dl><dt>Folder</dt><dd>{}</dd><dt>Status</dt><dd>{}</dd>\
         <dt>Uploaded</dt><dd>{}</dd><dt>Analysed</dt><dd>{}</dd>\
         <dt>Execution</dt><dd><a id=\"execution\" href=\"/executions/{}\">{}</a></dd></dl>",
        Esc(&record.bucket),
        record.status.as_str(),
        when(record.uploaded_at),
        when(record.analysed_at),
        url_part(&record.execution.id),
        Esc(&record.execution.id),
    );
    if record.status != RecordStatus::Analyzed {
        body.push_str(&rerun_button(state, record));
    }
    body.push_str(&super::takedown::delete_button(state, record));
    if let Some(error) = &record.error {
        let _ = write!(
            body,
            "<h2>Error</h2><p class=\"error\"><strong>{}</strong>: {}</p>",
            Esc(&error.error),
            Esc(&error.cause)
        );
    }
    body.push_str("<h2>Labels</h2>");
    if record.labels.is_empty() {
        body.push_str("<p>None.</p>");
    } else {
        body.push_str(
            "<div class=\"table-wrap\"><table><tr><th>Label</th><th>Confidence</th>\
             <th>Parents</th></tr>",
        );
        for label in &record.labels {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{:.1}%</td><td>{}</td></tr>",
                Esc(&label.name),
                label.confidence,
                Esc(&label.parents.join(", "))
            );
        }
        body.push_str("</table></div>");
    }
    body.push_str(&instance_list(record));
    body.push_str("<h2>Moderation</h2>");
    match &record.moderation {
        None => body.push_str(
            "<p class=\"failed\">Moderation did not run: this photo is not safe to feature.</p>",
        ),
        Some(moderation) => {
            let _ = write!(
                body,
                "<p>Verdict <strong>{}</strong> under policy {}.</p>",
                Esc(moderation.verdict.as_str()),
                Esc(&moderation.policy_version)
            );
            if !moderation.labels.is_empty() {
                body.push_str(
                    "<div class=\"table-wrap\"><table><tr><th>Label</th><th>Parent</th>\
                     <th>Confidence</th><th>Flagged</th></tr>",
                );
                for label in &moderation.labels {
                    let flagged = moderation.flagged.iter().find(|f| f.name == label.name);
                    let _ = write!(
                        body,
                        "<tr><td>{}</td><td>{}</td><td>{:.1}%</td><td>{}</td></tr>",
                        Esc(&label.name),
                        Esc(label.parent_name.as_deref().unwrap_or("")),
                        label.confidence,
                        flagged.map_or(String::new(), |f| format!(
                            "<span class=\"failed\">over {:.1}%</span>",
                            f.threshold
                        ))
                    );
                }
                body.push_str("</table></div>");
            }
        }
    }
    body.push_str(&super::review::section(state, record));
    body.push_str("<h2>Text</h2>");
    match &record.text {
        Some(text) if !text.lines.is_empty() => {
            body.push_str(
                "<div class=\"table-wrap\"><table><tr><th>Line</th><th>Confidence</th></tr>",
            );
            for line in &text.lines {
                let _ = write!(
                    body,
                    "<tr><td>{}</td><td>{:.1}%</td></tr>",
                    Esc(&line.text),
                    line.confidence
                );
            }
            body.push_str("</table></div>");
        }
        Some(text) if !text.full_text.is_empty() => {
            let _ = write!(body, "<pre>{}</pre>", Esc(&text.full_text));
        }
        _ => body.push_str("<p>None.</p>"),
    }
    body
}

/// Every located instance of every label, numbered in the order the page lists them.
fn instances(record: &ImageRecord) -> impl Iterator<Item = (usize, &Label, &LabelInstance)> {
    record
        .labels
        .iter()
        .flat_map(|label| label.instances.iter().map(move |i| (label, i)))
        .enumerate()
        .map(|(n, (label, instance))| (n + 1, label, instance))
}

/// A box's edges as percentages of the image, clamped to it (a record from elsewhere may carry
/// a box that spills over an edge, as Rekognition's sometimes do).
fn percent_box(b: &BoundingBox) -> (f32, f32, f32, f32) {
    let clamp = |v: f32| {
        if v.is_finite() {
            v.clamp(0.0, 1.0)
        } else {
            0.0
        }
    };
    let left = clamp(b.left);
    let top = clamp(b.top);
    let right = clamp(b.left + b.width).max(left);
    let bottom = clamp(b.top + b.height).max(top);
    (
        left * 100.0,
        top * 100.0,
        (right - left) * 100.0,
        (bottom - top) * 100.0,
    )
}

/// The located instances drawn over the preview: an inline SVG whose 100×100 view box is
/// stretched over the image (`preserveAspectRatio="none"`), so a box in ratios of the image is
/// a rectangle in percent; strokes keep their width whatever the stretch. No script and no
/// `style` attribute (the Content-Security-Policy allows neither): the look is in
/// `console.css`. Empty when no label has instances.
fn box_overlay(record: &ImageRecord) -> String {
    let mut svg = String::new();
    for (n, label, instance) in instances(record) {
        let (x, y, w, h) = percent_box(&instance.bounding_box);
        let _ = write!(
            svg,
            "<g><title>{n}. {} {:.1}%</title><rect x=\"{x:.2}\" y=\"{y:.2}\" width=\"{w:.2}\" \
             height=\"{h:.2}\" vector-effect=\"non-scaling-stroke\"/>\
             <text x=\"{:.2}\" y=\"{:.2}\">{n} {}</text></g>",
            Esc(&label.name),
            instance.confidence,
            x + 0.8,
            (y + 4.0).min(99.0),
            Esc(&label.name),
        );
    }
    if svg.is_empty() {
        return svg;
    }
    format!(
        "<svg class=\"boxes\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 100 100\" \
         preserveAspectRatio=\"none\" role=\"img\" aria-label=\"located objects\">{svg}</svg>"
    )
}

/// The located instances as a table: number (as drawn), label, confidence and box.
fn instance_list(record: &ImageRecord) -> String {
    let mut rows = String::new();
    for (n, label, instance) in instances(record) {
        let (x, y, w, h) = percent_box(&instance.bounding_box);
        let _ = write!(
            rows,
            "<tr><td>{n}</td><td>{}</td><td>{:.1}%</td>\
             <td>left {x:.1}%, top {y:.1}%, {w:.1}% × {h:.1}%</td></tr>",
            Esc(&label.name),
            instance.confidence,
        );
    }
    if rows.is_empty() {
        return rows;
    }
    format!(
        "<h2>Located objects</h2><div class=\"table-wrap\"><table class=\"instances\"><tr>\
         <th>#</th><th>Label</th><th>Confidence</th><th>Box (of the image)</th></tr>{rows}\
         </table></div>"
    )
}

/// `GET /records/{id}/thumbnail[?includeUnsafe=true]`: the photo, small, for the gallery.
pub async fn thumbnail(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    photo(state, id, raw, Rendition::Thumbnail).await
}

/// `GET /records/{id}/preview[?includeUnsafe=true]`: the photo, large, for its page.
pub async fn preview(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    photo(state, id, raw, Rendition::Preview).await
}

/// Shown in place of a photo that is there but cannot be drawn, so a page never shows a broken
/// image.
const UNDRAWABLE: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 160 120\">\
    <rect width=\"160\" height=\"120\" fill=\"#e5e7eb\"/><text x=\"80\" y=\"64\" \
    font-family=\"sans-serif\" font-size=\"12\" text-anchor=\"middle\" fill=\"#4b5563\">\
    no preview</text></svg>";

async fn photo(
    state: ConsoleState,
    id: String,
    raw: Option<String>,
    rendition: Rendition,
) -> Response {
    let review = match review_mode(raw.as_deref()) {
        Ok(review) => review,
        Err(failure) => return failure.json(),
    };
    // Whatever is refused is "not found": the answer says nothing of what exists outside.
    let not_found = || Failure::not_found("no such photo").json();
    let Some((bucket, key)) = parse_record_id(&id) else {
        return not_found();
    };
    let found = query::blocking(&state, move |store| {
        Ok((store.record(&bucket, &key)?, store.folders()?))
    })
    .await;
    let (record, remembered) = match found {
        Ok((Some(record), remembered)) => (record, remembered),
        Ok((None, _)) => return not_found(),
        Err(failure) => return failure.json(),
    };
    if !record.safe && !review {
        return Failure::forbidden(
            "this photo is not cleared as safe: it is drawn only in review mode \
             (includeUnsafe=true)",
        )
        .json();
    }
    let photos = std::sync::Arc::clone(&state.photos);
    let drawn = tokio::task::spawn_blocking(move || {
        let source = photos.locate(&record.bucket, &record.key, &remembered)?;
        let cached = photos.cache_path(&source, rendition)?;
        // Drawn before: read without waiting for a turn to draw.
        let jpeg = cached
            .is_file()
            .then(|| std::fs::read(&cached))
            .transpose()?;
        Ok::<_, PhotoError>((source, jpeg))
    })
    .await;
    let drawn = match drawn {
        Ok(Ok((source, None))) => {
            // Only drawing waits its turn (`ConsoleState::drawing`).
            let turn = match drawing_turn(&state).await {
                Ok(turn) => turn,
                Err(busy) => return busy,
            };
            let photos = std::sync::Arc::clone(&state.photos);
            tokio::task::spawn_blocking(move || {
                // Held until the drawing ends, even when the request is given up meanwhile:
                // no more photos are decoded at once than there are turns.
                let _turn = turn;
                Ok::<_, PhotoError>(std::fs::read(photos.rendition(&source, rendition)?)?)
            })
            .await
        }
        Ok(Ok((_, Some(jpeg)))) => Ok(Ok(jpeg)),
        Ok(Err(error)) => Ok(Err(error)),
        Err(error) => Err(error),
    };
    match drawn {
        Ok(Ok(jpeg)) => (
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                (header::CACHE_CONTROL, "private, max-age=3600"),
            ],
            jpeg,
        )
            .into_response(),
        Ok(Err(PhotoError::NotServed(_))) => not_found(),
        Ok(Err(PhotoError::Undrawable(_))) => (
            [
                (header::CONTENT_TYPE, "image/svg+xml"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            UNDRAWABLE,
        )
            .into_response(),
        Ok(Err(error)) => Failure::internal(error.to_string()).caused_by(error).json(),
        Err(error) => Failure::internal(format!("drawing the photo failed: {error}"))
            .caused_by(error)
            .json(),
    }
}

/// A turn at drawing a photo, or the answer for a client that should come back later: when
/// [`crate::Limits::drawing_queue`] requests wait already, or the wait passes
/// [`crate::Limits::drawing_wait`]. Waiting costs a few hundred bytes and no thread, but a
/// queue without end would answer its last requests long after anyone still wanted them.
async fn drawing_turn(state: &ConsoleState) -> Result<tokio::sync::OwnedSemaphorePermit, Response> {
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Waiting<'a>(&'a AtomicUsize);
    impl Drop for Waiting<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::Relaxed);
        }
    }

    let drawing = &state.drawing;
    if let Ok(turn) = std::sync::Arc::clone(&drawing.turns).try_acquire_owned() {
        return Ok(turn);
    }
    let busy = |why: &str| {
        let mut response = Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{why}: ask again in a moment"),
        )
        .json();
        let headers = response.headers_mut();
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    };
    let ahead = drawing.waiting.fetch_add(1, Ordering::Relaxed);
    let _waiting = Waiting(&drawing.waiting);
    if ahead >= state.limits.drawing_queue {
        return Err(busy(&format!(
            "{ahead} photos are waiting to be drawn already"
        )));
    }
    let wait = state.limits.drawing_wait;
    match tokio::time::timeout(wait, std::sync::Arc::clone(&drawing.turns).acquire_owned()).await {
        Ok(Ok(turn)) => Ok(turn),
        Ok(Err(_)) => Err(Failure::internal("the console is shutting down").json()),
        Err(_) => Err(busy(&format!(
            "no turn to draw the photo came within {wait:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::time::Duration;

    use spotlight_core::contracts::ApiError;
    use spotlight_core::themes::Themes;
    use spotlight_storage::SqliteStore;

    use super::*;
    use crate::Limits;

    fn console(limits: Limits) -> ConsoleState {
        let store = Arc::new(SqliteStore::in_memory().unwrap());
        ConsoleState::new(store, Themes::shipped(), None).with_limits(limits)
    }

    async fn told_to_retry(answer: Result<tokio::sync::OwnedSemaphorePermit, Response>) -> String {
        let Err(response) = answer else {
            panic!("a turn was given");
        };
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let error: ApiError = serde_json::from_slice(&body).unwrap();
        error.message
    }

    #[tokio::test]
    async fn drawing_turns_queue_only_so_far_and_wait_only_so_long() {
        let state = console(Limits {
            drawing: 1,
            drawing_queue: 2,
            drawing_wait: Duration::from_secs(3600),
            ..Limits::default()
        });
        let drawing = Arc::clone(&state.drawing);
        let first = drawing_turn(&state).await.unwrap();
        let mut queued = Vec::new();
        for _ in 0..2 {
            let state = state.clone();
            queued.push(tokio::spawn(
                async move { drawing_turn(&state).await.is_ok() },
            ));
        }
        while drawing.waiting.load(Ordering::Relaxed) < 2 {
            tokio::task::yield_now().await;
        }
        // The queue is full: the next is told at once to come back.
        let message = told_to_retry(drawing_turn(&state).await).await;
        assert!(message.contains("2 photos are waiting"), "{message}");
        assert_eq!(drawing.waiting.load(Ordering::Relaxed), 2);
        // The turn goes round: both waiting get theirs, one after the other.
        drop(first);
        for waiter in queued {
            assert!(waiter.await.unwrap());
        }
        assert_eq!(drawing.waiting.load(Ordering::Relaxed), 0);
        assert_eq!(drawing.turns.available_permits(), 1);

        // A wait has an end too.
        let state = console(Limits {
            drawing: 1,
            drawing_wait: Duration::from_millis(20),
            ..Limits::default()
        });
        let _held = drawing_turn(&state).await.unwrap();
        let message = told_to_retry(drawing_turn(&state).await).await;
        assert!(message.contains("no turn to draw"), "{message}");
        assert_eq!(state.drawing.waiting.load(Ordering::Relaxed), 0);
    }
}
