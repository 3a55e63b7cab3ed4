//! When the store's file, not its data, is the problem: a full disk, a read-only file system or
//! file, an I/O error. SQLite reports these as `SQLITE_FULL`, `SQLITE_READONLY` and
//! `SQLITE_IOERR`; here they become a [`StoreFault`] that names the store and what to do, carried
//! as the source of the [`StoreError`](spotlight_core::ports::StoreError) so that a caller can
//! tell "the disk is full" from "this record is bad" (`anyhow::Error::chain` or
//! `std::error::Error::source`, then `downcast_ref::<StoreFault>()`).
//!
//! SQLite's own guarantees do the rest: a write that fails for want of space rolls back whole,
//! so every record committed before the disk filled stays intact and readable.

use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;
use spotlight_core::ports::StoreError;

/// What kept the store from being written (or read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultKind {
    /// `SQLITE_FULL`: no space left on the disk that holds the store.
    Full,
    /// `SQLITE_READONLY`, or a store opened read-only: the file or its file system takes no
    /// writes.
    ReadOnly,
    /// `SQLITE_IOERR`: the operating system failed a read or a write.
    Io,
}

impl FaultKind {
    /// The kind of fault behind a SQLite error, if it is one.
    pub fn of(error: &rusqlite::Error) -> Option<FaultKind> {
        match error.sqlite_error_code()? {
            ErrorCode::DiskFull => Some(FaultKind::Full),
            ErrorCode::ReadOnly => Some(FaultKind::ReadOnly),
            ErrorCode::SystemIoFailure => Some(FaultKind::Io),
            _ => None,
        }
    }
}

/// The store's file could not take a write (or give a read): names the store and the remedy.
#[derive(Debug, thiserror::Error)]
#[error("{}", describe(*kind, store))]
pub struct StoreFault {
    /// What happened.
    pub kind: FaultKind,
    /// The store's file.
    pub store: PathBuf,
    /// SQLite's own error, when SQLite reported it.
    #[source]
    pub source: Option<rusqlite::Error>,
}

fn describe(kind: FaultKind, store: &Path) -> String {
    let store = store.display();
    match kind {
        FaultKind::Full => format!(
            "the store {store} is full: the disk that holds it has no space left (records \
             written before are kept); free some space there, or use another store with \
             --store, and run again"
        ),
        FaultKind::ReadOnly => format!(
            "the store {store} is read-only: it can be searched but takes no writes; make it \
             (and its folder) writable, or use another store with --store"
        ),
        FaultKind::Io => format!(
            "the store {store} could not be read or written (an I/O error from the operating \
             system: is its disk failing, full or gone?); check the disk, then run again"
        ),
    }
}

/// `error` as a [`StoreError`]: a [`StoreFault`] naming `store` when SQLite says the file is the
/// problem, else the plain error, both prefixed with `what` was being done.
pub(crate) fn classify(store: &Path, what: &str, error: rusqlite::Error) -> StoreError {
    match FaultKind::of(&error) {
        Some(kind) => fault_error(what, kind, store, Some(error)),
        None => StoreError::new(format!("{what}: {error}"), error),
    }
}

/// A [`StoreError`] whose source is a [`StoreFault`].
pub(crate) fn fault_error(
    what: &str,
    kind: FaultKind,
    store: &Path,
    source: Option<rusqlite::Error>,
) -> StoreError {
    let fault = StoreFault {
        kind,
        store: store.to_path_buf(),
        source,
    };
    StoreError::new(format!("{what}: {fault}"), fault)
}

/// Whether this process may write `path` and create files beside it (SQLite's `-wal` and
/// `-shm`). `access(2)` answers for root too: a read-only file system is `EROFS` whoever asks.
pub(crate) fn writable(path: &Path) -> bool {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let may_write = |p: &Path| {
        #[cfg(unix)]
        {
            rustix::fs::access(p, rustix::fs::Access::WRITE_OK).is_ok()
        }
        #[cfg(not(unix))]
        {
            std::fs::metadata(p).is_ok_and(|m| !m.permissions().readonly())
        }
    };
    may_write(folder) && (!path.exists() || may_write(path))
}

/// The `file:` URI of `path` with `query`, escaped as SQLite's URI parser wants (`%`, `?`, `#`).
pub(crate) fn uri(path: &Path, query: &str) -> String {
    let mut text = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => text.push_str("%25"),
            '?' => text.push_str("%3f"),
            '#' => text.push_str("%23"),
            c => text.push(c),
        }
    }
    text.push('?');
    text.push_str(query);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_escape_what_sqlite_would_read_as_a_query() {
        assert_eq!(
            uri(Path::new("/a b/100%?#.sqlite"), "mode=ro"),
            "file:/a b/100%25%3f%23.sqlite?mode=ro"
        );
    }

    #[test]
    fn a_full_disk_names_the_store_and_the_remedy() {
        let error = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        let error = classify(
            Path::new("/data/spotlight.sqlite"),
            "writing the record",
            error,
        );
        let fault = std::error::Error::source(&error)
            .and_then(|s| s.downcast_ref::<StoreFault>())
            .map(|f| f.kind);
        assert_eq!(fault, Some(FaultKind::Full));
        assert!(error.message.contains("/data/spotlight.sqlite is full"));
        assert!(error.message.contains("free some space"));
    }
}
