//! A TEST DOUBLE of Amazon Rekognition's DetectLabels, DetectModerationLabels and DetectText.
//!
//! moto answers these calls with canned results whatever the request (and has no
//! DetectModerationLabels), and cannot produce errors, so the adapters and the built detector
//! binaries are tested against this small loopback server instead. It answers in the shape of
//! AWS's documented examples; the S3 object name picks the scenario:
//!
//! | name contains | answer |
//! |---|---|
//! | `throttle` | 400 `ThrottlingException` |
//! | `throughput` | 400 `ProvisionedThroughputExceededException` |
//! | `badformat` | 400 `InvalidImageFormatException` |
//! | `toolarge` | 400 `ImageTooLargeException` |
//! | `missing` | 400 `InvalidS3ObjectException` |
//! | `explode` | 500 `InternalServerError` |
//! | anything else | 200 with the example result |
//!
//! Every request is kept, so tests can check what was sent (an S3 reference, MinConfidence…).

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::http::{serve, Request, Response};

/// The running double.
pub struct RekognitionDouble {
    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_REKOGNITION`.
    pub endpoint: String,
    requests: Arc<Mutex<Vec<(String, Value)>>>,
}

impl RekognitionDouble {
    /// Starts the double on a free loopback port.
    pub fn start() -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let address = serve(move |request| answer(&request, &seen));
        RekognitionDouble {
            endpoint: format!("http://{address}"),
            requests,
        }
    }

    /// The requests so far: operation and JSON body.
    pub fn requests(&self) -> Vec<(String, Value)> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

fn error(status: u16, kind: &str, message: &str) -> Response {
    let mut response = Response::json(status, &json!({"__type": kind, "Message": message}));
    response
        .headers
        .push(("x-amzn-errortype".to_owned(), kind.to_owned()));
    response
}

fn answer(request: &Request, seen: &Mutex<Vec<(String, Value)>>) -> Response {
    let operation = request
        .headers
        .get("x-amz-target")
        .and_then(|t| t.strip_prefix("RekognitionService."))
        .unwrap_or("")
        .to_owned();
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    if let Ok(mut seen) = seen.lock() {
        seen.push((operation.clone(), body.clone()));
    }
    let name = body
        .pointer("/Image/S3Object/Name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let scenarios = [
        ("throttle", 400, "ThrottlingException", "Slow down"),
        (
            "throughput",
            400,
            "ProvisionedThroughputExceededException",
            "The number of requests exceeded your throughput limit",
        ),
        (
            "badformat",
            400,
            "InvalidImageFormatException",
            "Request has unsupported image format",
        ),
        (
            "toolarge",
            400,
            "ImageTooLargeException",
            "Image size is too large",
        ),
        (
            "missing",
            400,
            "InvalidS3ObjectException",
            "Unable to get object metadata from S3",
        ),
        (
            "explode",
            500,
            "InternalServerError",
            "Internal server error",
        ),
    ];
    if let Some((_, status, kind, message)) =
        scenarios.iter().find(|(needle, ..)| name.contains(needle))
    {
        return error(*status, kind, message);
    }
    match operation.as_str() {
        "DetectLabels" => Response::json(200, &detect_labels_example()),
        "DetectModerationLabels" => Response::json(200, &detect_moderation_example()),
        "DetectText" => Response::json(200, &detect_text_example()),
        other => error(
            400,
            "UnknownOperationException",
            &format!("the double does not serve {other:?}"),
        ),
    }
}

fn bbox(left: f64, top: f64, width: f64, height: f64) -> Value {
    json!({"Width": width, "Height": height, "Left": left, "Top": top})
}

/// A DetectLabels answer in the documented shape: labels with instances, parents, categories.
pub fn detect_labels_example() -> Value {
    json!({
        "Labels": [
            {
                "Name": "Car", "Confidence": 99.1,
                "Instances": [{"BoundingBox": bbox(0.19, 0.40, 0.22, 0.21), "Confidence": 99.1}],
                "Parents": [{"Name": "Vehicle"}, {"Name": "Transportation"}],
                "Aliases": [{"Name": "Automobile"}],
                "Categories": [{"Name": "Vehicles and Automotive"}]
            },
            {
                "Name": "Vehicle", "Confidence": 99.1, "Instances": [],
                "Parents": [{"Name": "Transportation"}], "Aliases": [],
                "Categories": [{"Name": "Vehicles and Automotive"}]
            },
            {
                "Name": "Road", "Confidence": 87.3, "Instances": [],
                "Parents": [], "Aliases": [], "Categories": [{"Name": "Buildings and Architecture"}]
            }
        ],
        "LabelModelVersion": "3.0"
    })
}

/// A DetectModerationLabels answer in the documented shape (taxonomy levels 1 and 2).
pub fn detect_moderation_example() -> Value {
    json!({
        "ModerationLabels": [
            {"Confidence": 92.4, "Name": "Swimwear or Underwear", "ParentName": "", "TaxonomyLevel": 1},
            {"Confidence": 92.4, "Name": "Female Swimwear or Underwear", "ParentName": "Swimwear or Underwear", "TaxonomyLevel": 2}
        ],
        "ModerationModelVersion": "7.0"
    })
}

/// A DetectText answer in the documented shape: LINE detections with their WORD children.
pub fn detect_text_example() -> Value {
    json!({
        "TextDetections": [
            {"DetectedText": "SURF SHOP", "Type": "LINE", "Id": 0, "Confidence": 99.3,
             "Geometry": {"BoundingBox": bbox(0.10, 0.10, 0.40, 0.08), "Polygon": []}},
            {"DetectedText": "OPEN", "Type": "LINE", "Id": 1, "Confidence": 97.8,
             "Geometry": {"BoundingBox": bbox(0.10, 0.30, 0.20, 0.08), "Polygon": []}},
            {"DetectedText": "SURF", "Type": "WORD", "Id": 2, "ParentId": 0, "Confidence": 99.4,
             "Geometry": {"BoundingBox": bbox(0.10, 0.10, 0.18, 0.08), "Polygon": []}},
            {"DetectedText": "SHOP", "Type": "WORD", "Id": 3, "ParentId": 0, "Confidence": 99.2,
             "Geometry": {"BoundingBox": bbox(0.30, 0.10, 0.20, 0.08), "Polygon": []}},
            {"DetectedText": "OPEN", "Type": "WORD", "Id": 4, "ParentId": 1, "Confidence": 97.8,
             "Geometry": {"BoundingBox": bbox(0.10, 0.30, 0.20, 0.08), "Polygon": []}}
        ],
        "TextModelVersion": "3.0"
    })
}
