//! The built `detect-labels` binary, driven through the Lambda Runtime API, calling the Rekognition
//! test double.

use serde_json::json;
use spotlight_core::fakes::image_facts;
use spotlight_testkit::{LambdaProcess, Outcome, RekognitionDouble};

#[test]
fn the_lambda_binary_answers_and_maps_throttling() {
    let rekognition = RekognitionDouble::start();
    let lambda = LambdaProcess::start(
        env!("CARGO_BIN_EXE_detect-labels"),
        &[
            ("AWS_ENDPOINT_URL_REKOGNITION", rekognition.endpoint.clone()),
            ("MIN_CONFIDENCE", "70".to_owned()),
        ],
    );
    let image = image_facts("uploads", "photos/beach day.jpg");
    let Outcome::Success(result) = lambda.invoke(json!({ "image": image })) else {
        panic!("the call should succeed");
    };
    let names: Vec<&str> = result["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Car", "Vehicle", "Road"]);
    assert_eq!(
        result["labels"][0]["parents"],
        json!(["Vehicle", "Transportation"])
    );
    assert_eq!(result["model"]["version"], "3.0");
    let (operation, request) = rekognition.requests().pop().unwrap();
    assert_eq!(operation, "DetectLabels");
    assert_eq!(request["Image"]["S3Object"]["Name"], "photos/beach day.jpg");
    assert_eq!(request["Image"]["S3Object"]["Bucket"], "uploads");
    assert!(
        request["Image"].get("Bytes").is_none(),
        "images go by S3 reference"
    );
    assert_eq!(request["MinConfidence"], 70.0);
    assert_eq!(request["MaxLabels"], 50);
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
