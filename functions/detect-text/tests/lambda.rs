//! The built `detect-text` binary, driven through the Lambda Runtime API, calling the Rekognition
//! test double.

use serde_json::json;
use spotlight_core::fakes::image_facts;
use spotlight_testkit::{LambdaProcess, Outcome, RekognitionDouble};

#[test]
fn the_lambda_binary_answers_and_maps_throttling() {
    let rekognition = RekognitionDouble::start();
    let lambda = LambdaProcess::start(
        env!("CARGO_BIN_EXE_detect-text"),
        &[
            ("AWS_ENDPOINT_URL_REKOGNITION", rekognition.endpoint.clone()),
            ("MIN_CONFIDENCE", "70".to_owned()),
        ],
    );
    let image = image_facts("uploads", "photos/beach day.jpg");
    let Outcome::Success(result) = lambda.invoke(json!({ "image": image })) else {
        panic!("the call should succeed");
    };
    let lines = result["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["text"], "SURF SHOP");
    assert_eq!(lines[0]["words"].as_array().unwrap().len(), 2);
    assert_eq!(lines[1]["words"][0]["text"], "OPEN");
    let (operation, request) = rekognition.requests().pop().unwrap();
    assert_eq!(operation, "DetectText");
    assert_eq!(request["Image"]["S3Object"]["Name"], "photos/beach day.jpg");
    assert_eq!(request["Image"]["S3Object"]["Bucket"], "uploads");
    assert!(
        request["Image"].get("Bytes").is_none(),
        "images go by S3 reference"
    );
    assert_eq!(
        request["Filters"]["WordFilter"]["MinConfidence"], 70.0,
        "issue 17: MIN_CONFIDENCE replaces Rekognition's default word filter (80)"
    );

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
}
