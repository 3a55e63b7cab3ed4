//! `spotlight delete KEY`, and the takedown `watch` does when a file leaves its folder: the
//! local counterpart of S3's `Object Deleted` on AWS (`functions/takedown`). The record and its
//! index rows go, the console's cached renditions of the photo go, and a tombstone stays with
//! the delete's time as its revision, so that an analysis of the file as it was (one still
//! running, or a later `run` of the folder) cannot bring the record back; a new upload (a file
//! written after the delete) can. The executions stay, marked as of a deleted photo. The photo
//! file itself is never touched: nothing is written inside a photo folder.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use spotlight_console::Photos;
use spotlight_core::ports::DeleteOutcome;
use spotlight_storage::SqliteStore;

use crate::cli::DeleteArgs;
use crate::commands::{local, serve, Exit};
use crate::output;

/// `spotlight delete`, resolved.
#[derive(Debug)]
pub struct Config {
    /// The arguments.
    pub args: DeleteArgs,
    /// The store.
    pub store: PathBuf,
}

/// What one takedown did.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Takedown {
    /// The record id.
    pub id: String,
    /// The folder.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// `REMOVED`, `TOMBSTONED`, `DUPLICATE` (deleted already) or `STALE` (the record is of a
    /// later upload than the delete, and stays).
    pub outcome: &'static str,
    /// The tombstone's revision.
    pub revision: String,
    /// When it was deleted.
    pub deleted_at: DateTime<Utc>,
    /// Cached renditions removed.
    pub renditions_removed: usize,
}

/// Deletes `key` in `bucket` as of `now`, and the console's cached renditions of its photo
/// in `thumbnails` ([`spotlight_console::takedown::take_down`]).
pub fn take_down(
    store: &SqliteStore,
    thumbnails: &Path,
    bucket: &str,
    key: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Takedown> {
    let photos = Photos::new(None, thumbnails.to_path_buf());
    let done = spotlight_console::takedown::take_down(store, &photos, bucket, key, now)?;
    Ok(Takedown {
        id: spotlight_core::record_id(bucket, key),
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        outcome: match done.outcome {
            DeleteOutcome::Removed(_) => "REMOVED",
            DeleteOutcome::Tombstoned => "TOMBSTONED",
            DeleteOutcome::Duplicate => "DUPLICATE",
            DeleteOutcome::Stale => "STALE",
        },
        revision: done.revision,
        deleted_at: now,
        renditions_removed: done.renditions_removed,
    })
}

/// A takedown for people to read.
pub fn describe(takedown: &Takedown) -> String {
    let path = Path::new(&takedown.bucket).join(&takedown.key);
    let what = match takedown.outcome {
        "REMOVED" => format!(
            "deleted: record, index and {} cached rendition(s) removed; its executions stay",
            takedown.renditions_removed
        ),
        "STALE" => "kept: the record is of a later upload than this delete".to_owned(),
        _ => "deleted already".to_owned(),
    };
    format!("{}\t{}\t{what}", path.display(), takedown.outcome)
}

/// Deletes the record the user names; exit 1 when there is none (or it stays, being newer).
pub fn execute(config: Config) -> anyhow::Result<Exit> {
    let store = local::open_existing_store(&config.store)?;
    let name = &config.args.key;
    let found = local::runtime()?.block_on(local::find_one_record(&store, name))?;
    let Some(record) = &found else {
        match local::find_tombstone(&store, name)?.as_slice() {
            [tombstone] => eprintln!(
                "{name:?} was deleted at {}",
                tombstone.deleted_at.to_rfc3339()
            ),
            _ => eprintln!("no record for {name:?}"),
        }
        return Ok(Exit::Failure);
    };
    let thumbnails = config
        .args
        .thumbnails
        .clone()
        .unwrap_or_else(serve::default_thumbnails);
    let takedown = take_down(&store, &thumbnails, &record.bucket, &record.key, Utc::now())?;
    let text = if config.args.json {
        serde_json::to_string(&takedown)?
    } else {
        describe(&takedown)
    };
    output::print(&format!("{text}\n"))?;
    Ok(if takedown.outcome == "STALE" {
        Exit::Failure
    } else {
        Exit::Success
    })
}
