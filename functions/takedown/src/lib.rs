//! The takedown function: S3 `Object Deleted` (an EventBridge rule invokes it directly) removes
//! the photo's record and its index items, and leaves a tombstone carrying the delete's
//! sequencer, so that an analysis of the deleted upload still running cannot write the record
//! back ([`spotlight_core::revision`]). The executions stay: their history is ops' audit.
//!
//! A Lambda rather than a state machine execution: a takedown is one conditional store write
//! with nothing to orchestrate, retry per step or trace state by state, so an execution would
//! only add its transitions' cost and latency. EventBridge retries the invocation, and the write
//! is idempotent (the same delete again is `DUPLICATE`).
//!
//! Which deletes take a photo down: a delete marker (a versioned bucket's plain `DeleteObject`,
//! or a lifecycle rule expiring the current version) and an unversioned object's delete always
//! do. One version removed for good (`Permanently Deleted` with a version id) does only when it
//! is the version the record describes: otherwise it is a replaced version expiring (the
//! bucket's `ExpireReplacedVersions` rule) while the photo itself is still there, and its
//! sequencer, later than the current upload's, would take that upload down.
#![warn(missing_docs)]

use spotlight_core::contracts::{S3ObjectDeletedEvent, TakedownAction, TakedownOutput};
use spotlight_core::ports::{DeleteOutcome, RecordStore, Tombstone};
use spotlight_core::revision::revision;
use spotlight_core::{record_id, StepError};

/// S3's `deletion-type` when one version is removed for good.
const PERMANENTLY_DELETED: &str = "Permanently Deleted";

/// Takes the deleted object's photo down, or says why not.
pub async fn handle<S: RecordStore>(
    event: S3ObjectDeletedEvent,
    store: &S,
) -> Result<TakedownOutput, StepError> {
    let detail = event.detail;
    let (bucket, key) = (detail.bucket.name, detail.object.key);
    // A sequencer S3 would never send falls back to the event's time, which ranks below every
    // upload's sequencer: such a delete takes nothing down rather than the wrong upload.
    let revision = revision(Some(&detail.object.sequencer), Some(event.time));
    let output = |action| TakedownOutput {
        id: record_id(&bucket, &key),
        bucket: bucket.clone(),
        key: key.clone(),
        revision: revision.clone(),
        action,
    };
    let removed_version = detail.object.version_id.filter(|version| version != "null");
    if let (Some(PERMANENTLY_DELETED), Some(version)) =
        (detail.deletion_type.as_deref(), &removed_version)
    {
        let stored = store.get(&bucket, &key).await?;
        let analysed = stored
            .as_ref()
            .and_then(|record| record.image.as_ref())
            .and_then(|image| image.version_id.as_deref());
        if analysed != Some(version.as_str()) {
            tracing::info!(%bucket, %key, %version, ?analysed,
                "another version than the recorded one was removed: the photo stays");
            return Ok(output(TakedownAction::Ignored));
        }
    }
    let tombstone = Tombstone {
        bucket: bucket.clone(),
        key: key.clone(),
        revision: revision.clone(),
        deleted_at: event.time,
    };
    let action = match store.delete(&tombstone).await? {
        DeleteOutcome::Removed(record) => {
            tracing::info!(%bucket, %key, execution = %record.execution.id, "photo taken down");
            TakedownAction::Removed
        }
        DeleteOutcome::Tombstoned => TakedownAction::Tombstoned,
        DeleteOutcome::Duplicate => TakedownAction::Duplicate,
        DeleteOutcome::Stale => {
            tracing::info!(%bucket, %key, "the record is of a later upload: it stays");
            TakedownAction::Stale
        }
    };
    Ok(output(action))
}

#[cfg(test)]
mod tests {
    use super::*;
    use spotlight_core::contracts::{ImageRecord, WriteOutcome};
    use spotlight_core::fakes::MemoryRecords;

    fn event(
        key: &str,
        sequencer: &str,
        version: Option<&str>,
        kind: &str,
    ) -> S3ObjectDeletedEvent {
        serde_json::from_value(serde_json::json!({
            "version": "0", "id": "e", "detail-type": "Object Deleted", "source": "aws.s3",
            "account": "123456789012", "time": "2026-11-25T10:05:00Z", "region": "us-east-1",
            "resources": [],
            "detail": {
                "version": "0", "bucket": {"name": "photos"},
                "object": {"key": key, "version-id": version, "sequencer": sequencer},
                "reason": "DeleteObject", "deletion-type": kind
            }
        }))
        .unwrap()
    }

    fn record(key: &str, sequencer: &str, version: &str) -> ImageRecord {
        let mut record = spotlight_core::store_suite::suite_record(
            key,
            1,
            0,
            spotlight_core::contracts::RecordStatus::Analyzed,
            true,
            Vec::new(),
            "",
        );
        record.bucket = "photos".to_owned();
        record.id = record_id("photos", key);
        record.revision = revision(Some(sequencer), None);
        if let Some(image) = &mut record.image {
            image.bucket = "photos".to_owned();
            image.version_id = Some(version.to_owned());
            image.revision.clone_from(&record.revision);
        }
        record
    }

    #[tokio::test]
    async fn a_replaced_version_expiring_leaves_the_photo() {
        let store = MemoryRecords::new();
        let current = record("a.jpg", "0A", "v2");
        assert_eq!(store.put(&current).await.unwrap(), WriteOutcome::Written);
        let expired = event("a.jpg", "0B", Some("v1"), PERMANENTLY_DELETED);
        let out = handle(expired, &store).await.unwrap();
        assert_eq!(out.action, TakedownAction::Ignored);
        assert_eq!(store.get("photos", "a.jpg").await.unwrap(), Some(current));

        // The recorded version removed for good: taken down.
        let gone = event("a.jpg", "0C", Some("v2"), PERMANENTLY_DELETED);
        assert_eq!(
            handle(gone, &store).await.unwrap().action,
            TakedownAction::Removed
        );
        assert_eq!(store.get("photos", "a.jpg").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_delete_marker_takes_the_photo_down_once() {
        let store = MemoryRecords::new();
        store.put(&record("b.jpg", "0A", "v1")).await.unwrap();
        let marker = event("b.jpg", "0B", Some("m1"), "Delete Marker Created");
        assert_eq!(
            handle(marker.clone(), &store).await.unwrap().action,
            TakedownAction::Removed
        );
        assert_eq!(
            handle(marker, &store).await.unwrap().action,
            TakedownAction::Duplicate
        );
        let old = event("b.jpg", "09", None, "Delete Marker Created");
        assert_eq!(
            handle(old, &store).await.unwrap().action,
            TakedownAction::Duplicate
        );
    }
}
