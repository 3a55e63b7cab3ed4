//! The detect-text step against fake detectors.

use spotlight_core::bounds::{MAX_RESULT_BYTES, MAX_TEXT_LINES};
use spotlight_core::contracts::{AnalyzeInput, BoundingBox, TextLine};
use spotlight_core::fakes::{image_facts, Answer, FakeDetector};
use spotlight_core::ErrorName;
use spotlight_detect_text::handle;

fn input() -> AnalyzeInput {
    AnalyzeInput {
        image: image_facts("uploads", "sign.png"),
    }
}

fn line(text: &str, top: f32, left: f32) -> TextLine {
    TextLine {
        text: text.to_owned(),
        confidence: 90.0,
        bounding_box: BoundingBox {
            left,
            top,
            width: 0.2,
            height: 0.05,
        },
        words: Vec::new(),
    }
}

#[tokio::test]
async fn lines_come_back_in_reading_order() {
    let detector = FakeDetector::new(Answer::Found(vec![
        line("world", 0.5, 0.1),
        line("right", 0.1, 0.6),
        line("hello", 0.1, 0.1),
        line("   ", 0.0, 0.0),
    ]));
    let result = handle(&input(), &detector).await.unwrap();
    let texts: Vec<&str> = result.lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["hello", "right", "world"]);
    assert_eq!(result.model.name, "fake-text");
    assert!(result.trimmed.is_none());
}

#[tokio::test]
async fn lines_are_bounded_by_count_and_bytes() {
    let many = (0..150)
        .map(|i| line(&format!("line {i}"), i as f32 / 150.0, 0.0))
        .collect();
    let result = handle(&input(), &FakeDetector::new(Answer::Found(many)))
        .await
        .unwrap();
    assert_eq!(result.lines.len(), MAX_TEXT_LINES);
    assert_eq!(result.trimmed.unwrap().bound, "top 100 text lines");

    let long = (0..100)
        .map(|i| line(&"x".repeat(2000), i as f32 / 100.0, 0.0))
        .collect();
    let result = handle(&input(), &FakeDetector::new(Answer::Found(long)))
        .await
        .unwrap();
    assert!(serde_json::to_vec(&result).unwrap().len() <= MAX_RESULT_BYTES);
    let trimmed = result.trimmed.unwrap();
    assert_eq!((trimmed.total, trimmed.bound.as_str()), (100, "64 KiB"));
    assert_eq!(trimmed.kept as usize, result.lines.len());
}

#[tokio::test]
async fn detector_errors_keep_their_names() {
    let cases = [
        (Answer::Throttled, ErrorName::AnalyzerThrottled),
        (Answer::Corrupt, ErrorName::Corrupt),
        (Answer::Fails, ErrorName::AnalyzerFailed),
    ];
    for (answer, name) in cases {
        let error = handle(&input(), &FakeDetector::new(answer))
            .await
            .unwrap_err();
        assert_eq!(error.name(), name, "{error}");
    }
}
