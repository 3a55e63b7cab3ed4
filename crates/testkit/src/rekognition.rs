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
//! | `denied` | 400 `AccessDeniedException` |
//! | `badparam` | 400 `InvalidParameterException` |
//! | `explode` | 500 `InternalServerError` |
//! | `faint` | 200 with low-confidence results (moderation labels at 45 % and below, text at 62 %) |
//! | anything else | 200 with the example result |
//!
//! Like Rekognition, the double honours the request's confidence floors, with Rekognition's
//! documented defaults where the request has none: DetectLabels `MinConfidence` (55),
//! DetectModerationLabels `MinConfidence` (50), DetectText `Filters.WordFilter.MinConfidence`
//! (80). A floor set too high thus loses results here as it does on AWS.
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
            "denied",
            400,
            "AccessDeniedException",
            "User is not authorized to perform: rekognition:DetectLabels",
        ),
        (
            "badparam",
            400,
            "InvalidParameterException",
            "Request has invalid parameters",
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
    let faint = name.contains("faint");
    let floor = |pointer: &str, default: f64| {
        body.pointer(pointer)
            .and_then(Value::as_f64)
            .unwrap_or(default)
    };
    match operation.as_str() {
        "DetectLabels" => Response::json(
            200,
            &at_least(
                detect_labels_example(),
                "Labels",
                floor("/MinConfidence", 55.0),
            ),
        ),
        "DetectModerationLabels" => {
            let example = if faint {
                detect_moderation_faint_example()
            } else {
                detect_moderation_example()
            };
            Response::json(
                200,
                &at_least(example, "ModerationLabels", floor("/MinConfidence", 50.0)),
            )
        }
        "DetectText" => {
            let example = if faint {
                detect_text_faint_example()
            } else {
                detect_text_example()
            };
            Response::json(
                200,
                &words_at_least(example, floor("/Filters/WordFilter/MinConfidence", 80.0)),
            )
        }
        other => error(
            400,
            "UnknownOperationException",
            &format!("the double does not serve {other:?}"),
        ),
    }
}

fn confidence(item: &Value) -> f64 {
    item.get("Confidence")
        .and_then(Value::as_f64)
        .unwrap_or(0.0)
}

/// The answer without the items of `list` below `floor`.
fn at_least(mut answer: Value, list: &str, floor: f64) -> Value {
    if let Some(items) = answer.get_mut(list).and_then(Value::as_array_mut) {
        items.retain(|item| confidence(item) >= floor);
    }
    answer
}

/// The answer without the words below `floor`, and without the lines left with no word. The
/// API reference documents the word filter only; dropping emptied lines is the double's guess.
fn words_at_least(mut answer: Value, floor: f64) -> Value {
    let Some(detections) = answer
        .get_mut("TextDetections")
        .and_then(Value::as_array_mut)
    else {
        return answer;
    };
    let is_word = |d: &Value| d.get("Type").and_then(Value::as_str) == Some("WORD");
    detections.retain(|d| !is_word(d) || confidence(d) >= floor);
    let parents: Vec<Value> = detections
        .iter()
        .filter(|d| is_word(d))
        .filter_map(|d| d.get("ParentId").cloned())
        .collect();
    detections.retain(|d| is_word(d) || d.get("Id").is_some_and(|id| parents.contains(id)));
    answer
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

/// A DetectModerationLabels answer below Rekognition's default floor: a three-level chain at
/// about 45 % (the shipped policy blocks `Explicit` at 40) and a faint level-3 label.
pub fn detect_moderation_faint_example() -> Value {
    json!({
        "ModerationLabels": [
            {"Confidence": 45.2, "Name": "Explicit", "ParentName": "", "TaxonomyLevel": 1},
            {"Confidence": 45.2, "Name": "Explicit Nudity", "ParentName": "Explicit", "TaxonomyLevel": 2},
            {"Confidence": 44.8, "Name": "Exposed Female Nipple", "ParentName": "Explicit Nudity", "TaxonomyLevel": 3},
            {"Confidence": 3.1, "Name": "Drinking", "ParentName": "Alcohol Use", "TaxonomyLevel": 3}
        ],
        "ModerationModelVersion": "7.0"
    })
}

/// A DetectText answer with a line read at 62 %: below Rekognition's default word filter (80).
pub fn detect_text_faint_example() -> Value {
    json!({
        "TextDetections": [
            {"DetectedText": "SURF SHOP", "Type": "LINE", "Id": 0, "Confidence": 99.3,
             "Geometry": {"BoundingBox": bbox(0.10, 0.10, 0.40, 0.08), "Polygon": []}},
            {"DetectedText": "SALE", "Type": "LINE", "Id": 1, "Confidence": 62.4,
             "Geometry": {"BoundingBox": bbox(0.10, 0.30, 0.20, 0.08), "Polygon": []}},
            {"DetectedText": "SURF", "Type": "WORD", "Id": 2, "ParentId": 0, "Confidence": 99.4,
             "Geometry": {"BoundingBox": bbox(0.10, 0.10, 0.18, 0.08), "Polygon": []}},
            {"DetectedText": "SHOP", "Type": "WORD", "Id": 3, "ParentId": 0, "Confidence": 99.2,
             "Geometry": {"BoundingBox": bbox(0.30, 0.10, 0.20, 0.08), "Polygon": []}},
            {"DetectedText": "SALE", "Type": "WORD", "Id": 4, "ParentId": 1, "Confidence": 62.4,
             "Geometry": {"BoundingBox": bbox(0.10, 0.30, 0.20, 0.08), "Polygon": []}}
        ],
        "TextModelVersion": "3.0"
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
