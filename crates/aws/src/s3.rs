//! `ObjectReader` on S3: HeadObject and ranged GetObject, nothing downloaded whole, of the
//! latest version or of the one a request names.

use std::ops::Range;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::head_object::HeadObjectError;
use aws_sdk_s3::Client;
use chrono::DateTime;
use spotlight_core::ports::{ObjectHead, ObjectReader, ReadError};

/// Reads objects from S3.
#[derive(Clone, Debug)]
pub struct S3Objects {
    client: Client,
}

impl S3Objects {
    /// Reads through `client`.
    pub fn new(client: Client) -> Self {
        S3Objects { client }
    }
}

fn other<E>(what: &str, error: E) -> ReadError
where
    E: std::error::Error + Send + Sync + 'static,
{
    ReadError::Other {
        message: what.to_owned(),
        source: Some(Box::new(error)),
    }
}

impl ObjectReader for S3Objects {
    async fn head(&self, bucket: &str, key: &str) -> Result<ObjectHead, ReadError> {
        self.head_version(bucket, key, None).await
    }

    async fn read_range(
        &self,
        bucket: &str,
        key: &str,
        range: Range<u64>,
    ) -> Result<Vec<u8>, ReadError> {
        self.read_version_range(bucket, key, None, range).await
    }

    async fn head_version(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<ObjectHead, ReadError> {
        let output = self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(version.map(str::to_owned))
            .send()
            .await
            .map_err(|error| match &error {
                SdkError::ServiceError(service)
                    if matches!(service.err(), HeadObjectError::NotFound(_)) =>
                {
                    ReadError::NotFound(location(bucket, key, version))
                }
                _ => other("HeadObject failed", error),
            })?;
        Ok(ObjectHead {
            size: output
                .content_length()
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
            etag: output.e_tag().map(str::to_owned),
            version_id: output.version_id().map(str::to_owned),
            last_modified: output
                .last_modified()
                .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
        })
    }

    async fn read_version_range(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        range: Range<u64>,
    ) -> Result<Vec<u8>, ReadError> {
        if range.is_empty() {
            return Ok(Vec::new());
        }
        // HTTP ranges are inclusive at both ends.
        let header = format!("bytes={}-{}", range.start, range.end - 1);
        let result = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(version.map(str::to_owned))
            .range(header)
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(SdkError::ServiceError(service))
                if matches!(service.err(), GetObjectError::NoSuchKey(_))
                    || service.err().code() == Some("NoSuchVersion") =>
            {
                return Err(ReadError::NotFound(location(bucket, key, version)))
            }
            // 416: the range starts past the end; like a slice, that is empty.
            Err(SdkError::ServiceError(service)) if service.raw().status().as_u16() == 416 => {
                return Ok(Vec::new())
            }
            Err(error) => return Err(other("GetObject failed", error)),
        };
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|e| other("reading the GetObject body failed", e))?;
        Ok(bytes.into_bytes().to_vec())
    }
}

fn location(bucket: &str, key: &str, version: Option<&str>) -> String {
    match version {
        Some(version) => format!("s3://{bucket}/{key} (version {version})"),
        None => format!("s3://{bucket}/{key}"),
    }
}
