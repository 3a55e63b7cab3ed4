//! Taking a photo down locally (issue 14): what `spotlight delete`, `watch` (a file gone from
//! its folder) and the console's Delete button share. The record and its index rows go, a
//! tombstone stays with the delete's time as its revision
//! ([`spotlight_core::revision::local_delete`]: it beats every analysis of an upload before
//! then and loses to an upload after), and the cached renditions of the photo go, so nothing
//! of it is served again. The photo file is never touched; its executions stay.

use std::path::Path;

use chrono::{DateTime, Utc};
use spotlight_core::ports::{DeleteOutcome, StoreError, Tombstone};
use spotlight_core::revision::local_delete;
use spotlight_storage::SqliteStore;

use crate::photos::Photos;

/// What a takedown did.
#[derive(Debug)]
pub struct TakenDown {
    /// What the store did.
    pub outcome: DeleteOutcome,
    /// The tombstone's revision.
    pub revision: String,
    /// Cached renditions removed.
    pub renditions_removed: usize,
}

/// Deletes `key` in `bucket` as of `now`, then the cached renditions of its photo in `photos`'
/// cache (a failure there is logged: the record is gone either way, and no rendition is
/// served without a record).
pub fn take_down(
    store: &SqliteStore,
    photos: &Photos,
    bucket: &str,
    key: &str,
    now: DateTime<Utc>,
) -> Result<TakenDown, StoreError> {
    let tombstone = Tombstone {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        revision: local_delete(now),
        deleted_at: now,
    };
    let outcome = store.remove(&tombstone)?;
    let mut renditions_removed = 0;
    if !matches!(outcome, DeleteOutcome::Stale) {
        // Cached under the photo's path: the folder's canonical path and the key, and the
        // file's resolved path too while it is there (a key through a link in the folder).
        let mut sources = vec![Path::new(bucket).join(key)];
        if let Ok(resolved) = spotlight_storage::resolve(bucket, key) {
            sources.push(resolved);
        }
        sources.dedup();
        for source in sources {
            match photos.forget(&source) {
                Ok(removed) => renditions_removed += removed,
                Err(error) => tracing::warn!(%error, cache = %photos.cache().display(),
                    "cannot remove the photo's cached renditions"),
            }
        }
    }
    Ok(TakenDown {
        outcome,
        revision: tombstone.revision,
        renditions_removed,
    })
}
