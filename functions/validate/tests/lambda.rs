//! The built `validate` binary, driven through the Lambda Runtime API, reading from moto's S3.

use serde_json::json;
use spotlight_aws::aws_sdk_s3::primitives::ByteStream;
use spotlight_aws::lambda::loopback_s3_client;
use spotlight_testkit::{moto, unique_name, LambdaProcess, Outcome};

#[tokio::test]
async fn the_lambda_binary_validates_and_rejects_with_typed_errors() {
    let Some(moto) = moto() else { return };
    let s3 = loopback_s3_client(&moto.endpoint);
    let bucket = unique_name("uploads");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let good_key = "photos/beach day+1 ünï.jpg";
    for (key, bytes) in [
        (good_key, spotlight_fixtures::jpeg(640, 480)),
        ("tiny.png", spotlight_fixtures::png(1, 1)),
    ] {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .unwrap();
    }
    let lambda = LambdaProcess::start(
        env!("CARGO_BIN_EXE_validate"),
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
            ("SPOTLIGHT_S3_FORCE_PATH_STYLE", "true".to_owned()),
        ],
    );

    let Outcome::Success(facts) = lambda.invoke(json!({"bucket": bucket, "key": good_key})) else {
        panic!("the JPEG should validate");
    };
    assert_eq!(facts["format"], "JPEG");
    assert_eq!(
        (facts["width"].as_u64(), facts["height"].as_u64()),
        (Some(640), Some(480))
    );
    assert_eq!(facts["key"], good_key);
    assert!(facts["etag"].is_string());

    let outcome = lambda.invoke(json!({"bucket": bucket, "key": "tiny.png"}));
    let Outcome::Error {
        error_type,
        error_message,
    } = outcome
    else {
        panic!("a 1×1 PNG should be rejected, got {outcome:?}");
    };
    assert_eq!(error_type, "ImageRejected.TooSmall");
    assert!(error_message.contains("1×1"), "{error_message}");

    let outcome = lambda.invoke(json!({"bucket": bucket, "key": "gone.jpg"}));
    assert!(
        matches!(&outcome, Outcome::Error { error_type, .. } if error_type == "ImageRejected.NotFound"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn the_lambda_binary_reads_the_version_the_event_names_not_the_latest() {
    use spotlight_aws::aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    let Some(moto) = moto() else { return };
    let s3 = loopback_s3_client(&moto.endpoint);
    let bucket = unique_name("versioned");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let key = "photos/überschrieben 1.jpg";
    let mut versions = Vec::new();
    for bytes in [
        spotlight_fixtures::jpeg(640, 480),
        spotlight_fixtures::png(320, 200),
    ] {
        let put = s3
            .put_object()
            .bucket(&bucket)
            .key(key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .unwrap();
        versions.push(put.version_id().unwrap().to_owned());
    }
    let lambda = LambdaProcess::start(
        env!("CARGO_BIN_EXE_validate"),
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
            ("SPOTLIGHT_S3_FORCE_PATH_STYLE", "true".to_owned()),
        ],
    );
    let facts = |request: serde_json::Value| match lambda.invoke(request) {
        Outcome::Success(facts) => facts,
        other => panic!("should validate, got {other:?}"),
    };

    // The first upload's event names v1: v1 is read (its header, its tail) though v2 is latest.
    let v1 = facts(json!({"bucket": bucket, "key": key, "versionId": versions[0]}));
    assert_eq!(v1["format"], "JPEG");
    assert_eq!(
        (v1["width"].as_u64(), v1["height"].as_u64()),
        (Some(640), Some(480))
    );
    assert_eq!(
        v1["versionId"], versions[0],
        "Rekognition is told to read v1 too"
    );

    // A re-run names no version: the latest is read, and the facts pin the version it was.
    let latest = facts(json!({"bucket": bucket, "key": key}));
    assert_eq!(latest["format"], "PNG");
    assert_eq!(latest["versionId"], versions[1]);

    // The version the event names was deleted since: the upload is gone, as for a deleted key.
    s3.delete_object()
        .bucket(&bucket)
        .key(key)
        .version_id(&versions[0])
        .send()
        .await
        .unwrap();
    let outcome = lambda.invoke(json!({"bucket": bucket, "key": key, "versionId": versions[0]}));
    assert!(
        matches!(&outcome, Outcome::Error { error_type, .. } if error_type == "ImageRejected.NotFound"),
        "{outcome:?}"
    );
}
