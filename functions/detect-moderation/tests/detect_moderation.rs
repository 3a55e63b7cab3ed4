//! The detect-moderation step against fake detectors.

use spotlight_core::bounds::MAX_RESULT_BYTES;
use spotlight_core::contracts::{AnalyzeInput, ModerationLabel};
use spotlight_core::fakes::{image_facts, Answer, FakeDetector};
use spotlight_core::policy::{TAXONOMY_V7, TOP_LEVEL_V7};
use spotlight_core::ErrorName;
use spotlight_detect_moderation::handle;

fn input() -> AnalyzeInput {
    AnalyzeInput {
        image: image_facts("uploads", "beach.jpg"),
    }
}

fn moderation(name: &str, parent: Option<&str>, confidence: f32) -> ModerationLabel {
    ModerationLabel {
        name: name.to_owned(),
        parent_name: parent.map(str::to_owned),
        confidence,
        taxonomy_level: if parent.is_some() { 2 } else { 1 },
    }
}

#[tokio::test]
async fn every_label_is_kept_highest_first() {
    let labels: Vec<ModerationLabel> = (0..120)
        .map(|i| moderation(&format!("Label {i}"), Some("Violence"), (i % 100) as f32))
        .collect();
    let result = handle(&input(), &FakeDetector::new(Answer::Found(labels)))
        .await
        .unwrap();
    assert_eq!(
        result.labels.len(),
        120,
        "moderation labels are never trimmed"
    );
    assert!(result
        .labels
        .windows(2)
        .all(|w| w[0].confidence >= w[1].confidence));
    assert_eq!(result.model.name, "fake-moderation");
}

#[tokio::test]
async fn nothing_found_is_an_empty_list_not_an_error() {
    let result = handle(&input(), &FakeDetector::new(Answer::Found(Vec::new())))
        .await
        .unwrap();
    assert!(result.labels.is_empty());
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

#[tokio::test]
async fn the_whole_taxonomy_at_any_confidence_stays_far_inside_the_result_bound() {
    // Moderation asks Rekognition for every label (MinConfidence 0) and keeps them all, so the
    // taxonomy is the only bound: each label at most once, all of them well within 64 KiB.
    let mut labels: Vec<ModerationLabel> = TOP_LEVEL_V7
        .iter()
        .map(|name| moderation(name, None, 0.123_456))
        .collect();
    labels.extend(
        TAXONOMY_V7
            .iter()
            .map(|(name, parent)| moderation(name, Some(parent), 0.123_456)),
    );
    let count = labels.len();
    let result = handle(&input(), &FakeDetector::new(Answer::Found(labels)))
        .await
        .unwrap();
    assert_eq!(result.labels.len(), count);
    let bytes = serde_json::to_vec(&result).unwrap().len();
    assert!(
        bytes * 8 < MAX_RESULT_BYTES,
        "{count} labels take {bytes} bytes"
    );
}
