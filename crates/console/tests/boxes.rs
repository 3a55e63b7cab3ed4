//! A photo's page draws its labels' located instances over the preview (inline SVG, no
//! script) and lists them, everything from the record escaped.

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use spotlight_console::{router, ConsoleState};
use spotlight_core::contracts::{BoundingBox, ImageRecord, LabelInstance, RecordStatus};
use spotlight_core::fakes::label;
use spotlight_core::ports::RecordStore;
use spotlight_core::store_suite::suite_record;
use spotlight_core::themes::Themes;
use spotlight_storage::SqliteStore;
use tower::ServiceExt;

const SCRIPT: &str = "<script>alert(1)</script>";
const ATTRIBUTE: &str = r#""><img src=x onerror=alert(1)>"#;

fn instance(left: f32, top: f32, width: f32, height: f32, confidence: f32) -> LabelInstance {
    LabelInstance {
        bounding_box: BoundingBox {
            left,
            top,
            width,
            height,
        },
        confidence,
    }
}

async fn page_of(record: &ImageRecord) -> String {
    let store = SqliteStore::in_memory().unwrap();
    store.put(record).await.unwrap();
    let app = router(ConsoleState::new(Arc::new(store), Themes::shipped(), None));
    let uri = format!("/records/{}", spotlight_console::html::url_part(&record.id));
    let response = app
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    String::from_utf8(body.to_vec()).unwrap()
}

fn record_with_boxes() -> ImageRecord {
    let mut person = label("Person", 91.0, &[]);
    person.instances = vec![
        instance(0.1, 0.2, 0.3, 0.5, 91.0),
        // Spills over the right and bottom edges: drawn clipped to the image.
        instance(0.8, 0.7, 0.4, 0.5, 62.5),
    ];
    let mut nasty = label(ATTRIBUTE, 70.0, &[SCRIPT]);
    nasty.instances = vec![instance(0.5, 0.1, 0.2, 0.2, 70.0)];
    suite_record(
        "people.jpg",
        10,
        1,
        RecordStatus::Analyzed,
        true,
        vec![person, nasty, label("Outdoors", 60.0, &[])],
        "",
    )
}

#[tokio::test]
async fn the_photo_page_draws_and_lists_every_instance() {
    let page = page_of(&record_with_boxes()).await;
    let svg_at = page.find("<svg class=\"boxes\"").expect("an overlay");
    let svg = &page[svg_at..page[svg_at..].find("</svg>").unwrap() + svg_at];
    assert!(svg.contains("viewBox=\"0 0 100 100\""), "{svg}");
    assert!(svg.contains("preserveAspectRatio=\"none\""), "{svg}");
    // One rectangle per instance, in percent of the image, the spilling one clipped.
    assert_eq!(svg.matches("<rect ").count(), 3, "{svg}");
    assert!(
        svg.contains("<rect x=\"10.00\" y=\"20.00\" width=\"30.00\" height=\"50.00\""),
        "{svg}"
    );
    assert!(
        svg.contains("<rect x=\"80.00\" y=\"70.00\" width=\"20.00\" height=\"30.00\""),
        "{svg}"
    );
    assert!(svg.contains(">1 Person</text>") && svg.contains(">2 Person</text>"));
    // The overlay sits in the same figure as the preview it is drawn over.
    let figure_at = page
        .find("<figure class=\"boxed\"><img class=\"preview\"")
        .unwrap();
    assert!(figure_at < svg_at && page[svg_at..].contains("</svg></figure>"));
    // And a list: number, name, confidence, box.
    assert!(page.contains("<h2>Located objects</h2>"), "{page}");
    assert!(
        page.contains(
            "<tr><td>1</td><td>Person</td><td>91.0%</td>\
             <td>left 10.0%, top 20.0%, 30.0% × 50.0%</td></tr>"
        ),
        "{page}"
    );
    assert!(page.contains("<tr><td>2</td><td>Person</td><td>62.5%</td>"));
    let list_at = page.find("<table class=\"instances\">").unwrap();
    let list = &page[list_at..list_at + page[list_at..].find("</table>").unwrap()];
    assert_eq!(list.matches("<tr><td>").count(), 3, "{list}");
    // Nothing to run and no inline style: the Content-Security-Policy forbids both.
    assert!(!page.contains("<script") && !page.contains("style="));
}

#[tokio::test]
async fn names_in_the_overlay_and_the_list_are_escaped() {
    let page = page_of(&record_with_boxes()).await;
    assert!(!page.contains(ATTRIBUTE) && !page.contains(SCRIPT));
    let escaped = spotlight_console::html::escape(ATTRIBUTE);
    // In the SVG's title and text, and in the list.
    assert!(page.contains(&format!("<title>3. {escaped} 70.0%</title>")));
    assert!(page.contains(&format!(">3 {escaped}</text>")));
    assert!(page.contains(&format!("<tr><td>3</td><td>{escaped}</td>")));
}

#[tokio::test]
async fn a_photo_without_instances_has_no_overlay_or_list() {
    let record = suite_record(
        "plain.jpg",
        10,
        1,
        RecordStatus::Analyzed,
        true,
        vec![label("Outdoors", 60.0, &[])],
        "",
    );
    let page = page_of(&record).await;
    assert!(page.contains("<img class=\"preview\""));
    assert!(!page.contains("<svg class=\"boxes\""));
    assert!(!page.contains("Located objects"));
}
