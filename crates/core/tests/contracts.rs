//! The contracts: the committed JSON Schemas match the types, and real payloads round-trip.
//!
//! Regenerate the schemas after changing a contract type:
//! `SPOTLIGHT_UPDATE_CONTRACTS=1 cargo test -p spotlight-core --test contracts`.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use spotlight_core::contracts::{schemas, ObjectRequest, PipelineInput};
use spotlight_core::{ErrorName, StepError};

fn contracts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts")
}

#[test]
fn committed_schemas_match_the_types() {
    let dir = contracts_dir();
    let update = std::env::var_os("SPOTLIGHT_UPDATE_CONTRACTS").is_some();
    let mut drifted = Vec::new();
    let generated = schemas();
    for schema in &generated {
        let path = dir.join(schema.file);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed == schema.json {
            continue;
        }
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &schema.json).unwrap();
        } else {
            let line = committed
                .lines()
                .zip(schema.json.lines())
                .position(|(a, b)| a != b)
                .map_or_else(|| "its length".to_owned(), |n| format!("line {}", n + 1));
            drifted.push(format!(
                "contracts/{} (first difference at {line})",
                schema.file
            ));
        }
    }
    let known: Vec<&str> = generated.iter().map(|s| s.file).collect();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".schema.json") && !known.contains(&name.as_str()) {
            drifted.push(format!("contracts/{name} (no type generates it any more)"));
        }
    }
    assert!(
        drifted.is_empty(),
        "contract schemas drifted from the types:\n  {}\nRegenerate them with: \
         SPOTLIGHT_UPDATE_CONTRACTS=1 cargo test -p spotlight-core --test contracts",
        drifted.join("\n  ")
    );
}

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(json: &str) -> T {
    let parsed: T = serde_json::from_str(json).unwrap();
    let again: T = serde_json::from_str(&serde_json::to_string(&parsed).unwrap()).unwrap();
    assert_eq!(parsed, again);
    parsed
}

#[test]
fn an_eventbridge_object_created_event_round_trips_and_normalises() {
    let input: PipelineInput = round_trip(include_str!("fixtures/eventbridge-object-created.json"));
    let PipelineInput::Event(_) = &input else {
        panic!("parsed as the wrong shape: {input:?}");
    };
    let request = input.into_request();
    assert_eq!(request.bucket, "amzn-s3-demo-bucket1");
    assert_eq!(
        request.key, "photos/beach day+1 ünï.jpg",
        "keys stay as delivered"
    );
    assert_eq!(request.sequencer.as_deref(), Some("617f08299329d189"));
    assert_eq!(request.size, Some(5));
    assert_eq!(
        request.version_id.as_deref(),
        Some("IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"),
        "the steps read the version the event is about"
    );
}

#[test]
fn a_plain_request_round_trips() {
    let input: PipelineInput = round_trip(include_str!("fixtures/object-request.json"));
    assert_eq!(
        input.into_request(),
        ObjectRequest::new("uploads", "a b+c/猫.png")
    );
}

#[test]
fn a_reprocess_request_round_trips_with_the_analysers_it_asks_for() {
    // The StartExecution input infra/README.md documents ("Reprocessing").
    let input: PipelineInput = round_trip(include_str!("fixtures/reprocess-request.json"));
    let request = input.into_request();
    assert_eq!(request.bucket, "uploads");
    assert_eq!(
        request.version_id.as_deref(),
        Some("IYV3p45BT0ac8hjHg1houSdS1a.Mro8e")
    );
    assert_eq!(
        request.reprocess.map(|r| r.analysers),
        Some(vec![spotlight_core::contracts::Analyser::Text])
    );
    let unknown = r#"{"bucket": "b", "key": "k", "reprocess": {"analysers": ["faces"]}}"#;
    assert!(serde_json::from_str::<ObjectRequest>(unknown).is_err());
}

#[test]
fn error_names_are_exactly_the_designs() {
    let names: Vec<&str> = ErrorName::ALL.iter().map(|n| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "ImageRejected.NotFound",
            "ImageRejected.UnsupportedFormat",
            "ImageRejected.TooLarge",
            "ImageRejected.TooSmall",
            "ImageRejected.Corrupt",
            "AnalyzerThrottled",
            "AnalyzerFailed",
            "StoreFailed",
        ]
    );
    for name in ErrorName::ALL {
        assert_eq!(ErrorName::parse(name.as_str()), Some(name));
        assert_eq!(
            serde_json::to_value(name).unwrap(),
            serde_json::Value::String(name.as_str().to_owned())
        );
    }
}

#[test]
fn a_step_error_reaches_lambda_with_its_name() {
    let error = StepError::rejected(spotlight_core::RejectReason::TooSmall, "1×1 px");
    let lambda = error.to_lambda_error();
    assert_eq!(lambda.error_type, "ImageRejected.TooSmall");
    assert_eq!(lambda.error_message, "1×1 px");
}

#[test]
fn an_s3_notification_round_trips_and_its_key_is_decoded() {
    let input: PipelineInput = round_trip(include_str!("fixtures/s3-notification.json"));
    let PipelineInput::Notification(_) = &input else {
        panic!("parsed as the wrong shape: {input:?}");
    };
    let request = input.into_request();
    assert_eq!(
        request.key, "beach+day%2B1+%C3%BCn%C3%AF.jpg",
        "kept as delivered"
    );
    assert_eq!(
        request.object_key(),
        "beach day+1 ünï.jpg",
        "decoded for use"
    );
    assert_eq!(request.sequencer.as_deref(), Some("0055AED6DCD90281E5"));
}

#[test]
fn an_s3_notification_carries_its_version_and_null_means_none() {
    let notification = |version: &str| {
        format!(
            r#"{{"Records": [{{"eventName": "ObjectCreated:Put",
                "eventTime": "2026-11-25T10:00:00.000Z",
                "s3": {{"bucket": {{"name": "b"}}, "object": {{"key": "k.jpg",
                    "versionId": {version}, "sequencer": "0055AED6DCD90281E5"}}}}}}]}}"#
        )
    };
    let versioned: PipelineInput =
        round_trip(&notification("\"3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY\""));
    assert_eq!(
        versioned.into_request().version_id.as_deref(),
        Some("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY")
    );
    let unversioned: PipelineInput = serde_json::from_str(&notification("null")).unwrap();
    assert_eq!(unversioned.into_request().version_id, None);
}

#[test]
fn an_eventbridge_object_deleted_event_round_trips() {
    use spotlight_core::contracts::S3ObjectDeletedEvent;
    let event: S3ObjectDeletedEvent =
        round_trip(include_str!("fixtures/eventbridge-object-deleted.json"));
    assert_eq!(event.detail_type, "Object Deleted");
    assert_eq!(event.detail.object.key, "beach/sunset 1.jpg");
    assert_eq!(event.detail.object.sequencer, "0062E99A88DC4075");
    assert_eq!(
        event.detail.deletion_type.as_deref(),
        Some("Delete Marker Created")
    );
}
