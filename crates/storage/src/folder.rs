//! `ObjectReader` on a folder: the bucket is a folder's canonical path and a key a path
//! relative to it. A key can never reach outside its folder — not with `..`, an absolute path,
//! or a symlink that points out — and such a key reads as not found.

use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Utc};
use spotlight_core::ports::{ObjectHead, ObjectReader, ReadError};

/// Reads objects from folders on this machine.
#[derive(Debug, Clone, Default)]
pub struct FolderObjects;

impl FolderObjects {
    /// A reader for any folder.
    pub fn new() -> Self {
        FolderObjects
    }
}

/// The file a key names inside a folder, or `NotFound` if it is not a file inside it.
pub fn resolve(bucket: &str, key: &str) -> Result<PathBuf, ReadError> {
    let not_found = || ReadError::NotFound(format!("{key:?} in {bucket:?}"));
    let relative = Path::new(key);
    let plain = !key.is_empty()
        && relative
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !plain {
        return Err(not_found());
    }
    let root = std::fs::canonicalize(bucket).map_err(|_| not_found())?;
    let path = std::fs::canonicalize(root.join(relative)).map_err(|_| not_found())?;
    if !path.starts_with(&root) || !path.is_file() {
        return Err(not_found());
    }
    Ok(path)
}

fn io_error(what: String, error: std::io::Error) -> ReadError {
    ReadError::Other {
        message: what,
        source: Some(Box::new(error)),
    }
}

/// The head of a file: its size, modification time, and an ETag from both.
pub fn file_head(path: &Path) -> Result<ObjectHead, ReadError> {
    let metadata = std::fs::metadata(path)
        .map_err(|e| io_error(format!("reading the metadata of {}", path.display()), e))?;
    let modified: Option<DateTime<Utc>> = metadata.modified().ok().map(DateTime::from);
    let etag = modified.map(|m| format!("\"{:x}-{:x}\"", metadata.len(), m.timestamp_micros()));
    Ok(ObjectHead {
        size: metadata.len(),
        etag,
        version_id: None,
        last_modified: modified,
    })
}

impl ObjectReader for FolderObjects {
    async fn head(&self, bucket: &str, key: &str) -> Result<ObjectHead, ReadError> {
        let path = resolve(bucket, key)?;
        file_head(&path)
    }

    async fn read_range(
        &self,
        bucket: &str,
        key: &str,
        range: Range<u64>,
    ) -> Result<Vec<u8>, ReadError> {
        let path = resolve(bucket, key)?;
        let mut file = std::fs::File::open(&path)
            .map_err(|e| io_error(format!("opening {}", path.display()), e))?;
        let length = range.end.saturating_sub(range.start);
        file.seek(SeekFrom::Start(range.start))
            .map_err(|e| io_error(format!("seeking in {}", path.display()), e))?;
        let mut bytes = Vec::new();
        file.take(length)
            .read_to_end(&mut bytes)
            .map_err(|e| io_error(format!("reading {}", path.display()), e))?;
        Ok(bytes)
    }
}
