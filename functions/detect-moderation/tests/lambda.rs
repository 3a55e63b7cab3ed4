//! The built `detect-moderation` binary, driven through the Lambda Runtime API, calling the Rekognition
//! test double.

use serde_json::json;
use spotlight_core::fakes::image_facts;
use spotlight_testkit::{LambdaProcess, Outcome, RekognitionDouble};

#[test]
fn the_lambda_binary_answers_and_maps_throttling() {
    let rekognition = RekognitionDouble::start();
    let lambda = LambdaProcess::start(
        env!("CARGO_BIN_EXE_detect-moderation"),
        &[
            ("AWS_ENDPOINT_URL_REKOGNITION", rekognition.endpoint.clone()),
            ("MIN_CONFIDENCE", "70".to_owned()),
        ],
    );
    let image = image_facts("uploads", "photos/beach day.jpg");
    let Outcome::Success(result) = lambda.invoke(json!({ "image": image })) else {
        panic!("the call should succeed");
    };
    assert_eq!(result["labels"][0]["name"], "Swimwear or Underwear");
    assert!(
        result["labels"][0].get("parentName").is_none(),
        "a top-level category has no parent"
    );
    assert_eq!(result["labels"][1]["parentName"], "Swimwear or Underwear");
    assert_eq!(result["labels"][1]["taxonomyLevel"], 2);
    assert_eq!(result["model"]["version"], "7.0");
    let (operation, request) = rekognition.requests().pop().unwrap();
    assert_eq!(operation, "DetectModerationLabels");
    assert_eq!(request["Image"]["S3Object"]["Name"], "photos/beach day.jpg");
    assert_eq!(request["Image"]["S3Object"]["Bucket"], "uploads");
    assert!(
        request["Image"].get("Bytes").is_none(),
        "images go by S3 reference"
    );
    assert_eq!(
        request["MinConfidence"], 0.0,
        "issue 17: every label comes back, MIN_CONFIDENCE does not apply to moderation"
    );
    let faint = image_facts("uploads", "faint.jpg");
    let Outcome::Success(result) = lambda.invoke(json!({ "image": faint })) else {
        panic!("the call should succeed");
    };
    assert_eq!(result["labels"][0]["name"], "Explicit");
    let confidence = result["labels"][0]["confidence"].as_f64().unwrap_or(0.0);
    assert!((confidence - 45.2).abs() < 1e-3, "{confidence}");
    assert_eq!(result["labels"].as_array().map(Vec::len), Some(4));
    let throttled = image_facts("uploads", "throttle-me.jpg");
    let outcome = lambda.invoke(json!({ "image": throttled }));
    assert!(
        matches!(&outcome, Outcome::Error { error_type, .. } if error_type == "AnalyzerThrottled"),
        "{outcome:?}"
    );
    let bad = image_facts("uploads", "badformat.jpg");
    let outcome = lambda.invoke(json!({ "image": bad }));
    assert!(
        matches!(&outcome, Outcome::Error { error_type, .. } if error_type == "ImageRejected.UnsupportedFormat"),
        "{outcome:?}"
    );
    let unreadable = image_facts("uploads", "missing.jpg");
    let outcome = lambda.invoke(json!({ "image": unreadable }));
    assert!(
        matches!(&outcome, Outcome::Error { error_type, .. } if error_type == "AnalyzerFailed"),
        "{outcome:?}"
    );
}
