//! The detect-labels step against fake detectors.

use spotlight_core::bounds::{MAX_LABELS, MAX_RESULT_BYTES};
use spotlight_core::contracts::AnalyzeInput;
use spotlight_core::fakes::{image_facts, label, Answer, FakeDetector};
use spotlight_core::ErrorName;
use spotlight_detect_labels::handle;

fn input() -> AnalyzeInput {
    AnalyzeInput {
        image: image_facts("uploads", "dog.jpg"),
    }
}

#[tokio::test]
async fn labels_come_back_sorted_deduplicated_and_named_after_the_model() {
    let detector = FakeDetector::new(Answer::Found(vec![
        label("Dog", 80.0, &["Canine", "Mammal", "Animal"]),
        label(
            "Golden Retriever",
            97.5,
            &["Dog", "Canine", "Mammal", "Animal"],
        ),
        label("Dog", 60.0, &[]),
        label("  ", 99.0, &[]),
        label("Grass", 150.0, &[]),
    ]));
    let result = handle(&input(), &detector).await.unwrap();
    let names: Vec<&str> = result.labels.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["Grass", "Golden Retriever", "Dog"]);
    assert_eq!(
        result.labels[0].confidence, 100.0,
        "confidences are clamped"
    );
    assert_eq!(
        result.labels[2].confidence, 80.0,
        "the best duplicate is kept"
    );
    assert_eq!(result.model.name, "fake-labels");
    assert!(result.trimmed.is_none());
    assert_eq!(detector.calls(), 1);
}

#[tokio::test]
async fn more_than_fifty_labels_are_trimmed_and_it_is_said() {
    let labels = (0..80)
        .map(|i| label(&format!("Label {i}"), i as f32, &[]))
        .collect();
    let result = handle(&input(), &FakeDetector::new(Answer::Found(labels)))
        .await
        .unwrap();
    assert_eq!(result.labels.len(), MAX_LABELS);
    assert_eq!(result.labels[0].name, "Label 79");
    let trimmed = result.trimmed.unwrap();
    assert_eq!((trimmed.total, trimmed.kept), (80, 50));
    assert_eq!(trimmed.bound, "top 50 labels");
}

#[tokio::test]
async fn huge_labels_are_cut_to_the_byte_bound() {
    let long_parents: Vec<String> = (0..40).map(|i| format!("{i:-<100}")).collect();
    let parents: Vec<&str> = long_parents.iter().map(String::as_str).collect();
    let labels = (0..50)
        .map(|i| label(&format!("Label {i}"), 50.0, &parents))
        .collect();
    let result = handle(&input(), &FakeDetector::new(Answer::Found(labels)))
        .await
        .unwrap();
    let size = serde_json::to_vec(&result).unwrap().len();
    assert!(size <= MAX_RESULT_BYTES, "{size} bytes");
    let trimmed = result.trimmed.unwrap();
    assert_eq!(trimmed.bound, "64 KiB");
    assert_eq!(trimmed.total, 50);
    assert!(trimmed.kept < 50 && trimmed.kept as usize == result.labels.len());
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
