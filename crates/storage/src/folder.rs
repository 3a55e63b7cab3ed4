//! `ObjectReader` on a folder: the bucket is a folder's canonical path and a key a path
//! relative to it. A key can never reach outside its folder — not with `..`, an absolute path,
//! or a symlink that points out — and such a key reads as not found. So does anything that is
//! not a regular file (a FIFO, a socket, a device, a symlink loop), saying what it is; a FIFO is
//! never opened in a way that could block.

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

/// The file a key names inside a folder, or `NotFound` (saying why) if it is not a regular file
/// inside it.
pub fn resolve(bucket: &str, key: &str) -> Result<PathBuf, ReadError> {
    let relative = Path::new(key);
    let plain = !key.is_empty()
        && relative
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !plain {
        return Err(ReadError::NotFound("the key leaves its folder".to_owned()));
    }
    let root = std::fs::canonicalize(bucket)
        .map_err(|e| ReadError::NotFound(format!("the folder: {e}")))?;
    // A symlink loop fails here (ELOOP), before anything is opened.
    let path = std::fs::canonicalize(root.join(relative))
        .map_err(|e| ReadError::NotFound(e.to_string()))?;
    if !path.starts_with(&root) {
        return Err(ReadError::NotFound(
            "a link that leads outside its folder".to_owned(),
        ));
    }
    let metadata = std::fs::metadata(&path).map_err(|e| ReadError::NotFound(e.to_string()))?;
    if !metadata.is_file() {
        return Err(ReadError::NotFound(format!(
            "{}, not a regular file",
            describe(metadata.file_type())
        )));
    }
    Ok(path)
}

/// What a file that is not a regular file is, for a user.
fn describe(kind: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_block_device() || kind.is_char_device() {
            return "a device";
        }
    }
    if kind.is_dir() {
        "a folder"
    } else {
        "a special file"
    }
}

/// Opens a file `resolve` found, for reading. Non-blocking, so a FIFO put in its place since
/// (which an ordinary open would wait on for a writer, forever) is opened at once, then refused
/// as not a regular file; a regular file reads as usual.
fn open_regular(path: &Path) -> Result<std::fs::File, ReadError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    }
    let file = options
        .open(path)
        .map_err(|e| io_error(format!("opening {}", path.display()), e))?;
    let metadata = file
        .metadata()
        .map_err(|e| io_error(format!("reading the metadata of {}", path.display()), e))?;
    if !metadata.is_file() {
        return Err(ReadError::NotFound(format!(
            "{}, not a regular file",
            describe(metadata.file_type())
        )));
    }
    Ok(file)
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
        let mut file = open_regular(&path)?;
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
