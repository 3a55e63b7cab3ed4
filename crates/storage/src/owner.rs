//! Which process runs an execution, and whether that process still lives.
//!
//! A process that starts executions takes an exclusive `flock` on a lock file of its own, in a
//! hidden folder beside the store (`.spotlight.sqlite.owners/<owner>.lock`), and keeps it for as
//! long as it lives; its `RUNNING` executions name that owner. The kernel drops the lock however
//! the process ends (SIGKILL, a crash, a power cut), so whoever can take it knows those executions
//! will never end. A pid could not say as much (pids are reused, and differ between PID
//! namespaces sharing a volume), nor could a heartbeat (a laptop asleep misses it while the
//! process lives on). SQLite's WAL mode already requires every process using a store to be on
//! one host, where these locks are all visible.

use std::fs::File;
use std::hash::BuildHasher as _;
use std::io;
use std::path::{Path, PathBuf};

/// This process's claim on its executions: the lock is held until it is dropped.
#[derive(Debug)]
pub(crate) struct Owner {
    id: String,
    path: PathBuf,
    _file: File,
}

/// What a lock file says about an owner.
pub(crate) enum Liveness {
    /// It still runs (or it cannot be told: then its executions are left alone).
    Alive,
    /// It has ended; the lock is held here (when its file still exists) until this is dropped.
    Gone(Option<File>),
}

/// The folder of the lock files of the store at `store` (a canonical path).
pub(crate) fn folder_for(store: &Path) -> PathBuf {
    let name = store
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Hidden, so that a store kept among the photos never has its lock files taken for photos.
    store.with_file_name(format!(".{name}.owners"))
}

fn lock_path(folder: &Path, id: &str) -> PathBuf {
    folder.join(format!("{id}.lock"))
}

/// An owner id from the store is only trusted as a file name when it has the shape this module
/// gives ids, so a tampered store cannot point the check at another file.
fn well_formed(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// The pid an owner id starts with, for the cause of an aborted execution.
pub(crate) fn pid_of(id: &str) -> Option<u32> {
    id.split('-').next().and_then(|p| p.parse().ok())
}

impl Owner {
    /// Creates and locks this process's lock file in `folder`.
    pub(crate) fn claim(folder: &Path) -> io::Result<Owner> {
        std::fs::create_dir_all(folder)?;
        let random = std::collections::hash_map::RandomState::new()
            .hash_one((std::time::SystemTime::now(), std::thread::current().id()));
        let id = format!("{}-{random:016x}", std::process::id());
        let path = lock_path(folder, &id);
        let file = File::create(&path)?;
        lock(&file)?;
        Ok(Owner {
            id,
            path,
            _file: file,
        })
    }

    /// The id its executions carry.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        // Removed while still locked: whoever opened it before sees it unlocked afterwards, and
        // finds none of this owner's executions still running (they all ended first).
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether the owner `id` of executions in the store whose lock files are in `folder` lives.
pub(crate) fn check(folder: &Path, id: &str) -> Liveness {
    if !well_formed(id) {
        return Liveness::Alive;
    }
    match File::open(lock_path(folder, id)) {
        // An owner creates its lock file before its first execution and removes it only on
        // its way out.
        Err(error) if error.kind() == io::ErrorKind::NotFound => Liveness::Gone(None),
        Err(error) => {
            tracing::warn!(%error, owner = id, "cannot tell whether an execution's process lives");
            Liveness::Alive
        }
        Ok(file) => match lock(&file) {
            Ok(()) => Liveness::Gone(Some(file)),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => Liveness::Alive,
            Err(error) => {
                tracing::warn!(%error, owner = id, "cannot tell whether an execution's process lives");
                Liveness::Alive
            }
        },
    }
}

/// Removes the lock file of an owner found gone (its lock held by `file`).
pub(crate) fn bury(folder: &Path, id: &str, file: Option<File>) {
    if file.is_some() {
        let _ = std::fs::remove_file(lock_path(folder, id));
    }
}

#[cfg(unix)]
fn lock(file: &File) -> io::Result<()> {
    rustix::fs::flock(file, rustix::fs::FlockOperation::NonBlockingLockExclusive)
        .map_err(io::Error::from)
}

#[cfg(not(unix))]
fn lock(_file: &File) -> io::Result<()> {
    // No flock here: every owner looks alive, so no execution is ever aborted under one.
    Err(io::ErrorKind::WouldBlock.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claimed_owner_is_alive_until_dropped_then_gone() {
        let dir = tempfile::tempdir().unwrap();
        let folder = folder_for(&dir.path().join("spotlight.sqlite"));
        let owner = Owner::claim(&folder).unwrap();
        assert_eq!(pid_of(owner.id()), Some(std::process::id()));
        // Another open file description of the same file: as another process would see it.
        assert!(matches!(check(&folder, owner.id()), Liveness::Alive));
        let id = owner.id().to_owned();
        drop(owner);
        assert!(matches!(check(&folder, &id), Liveness::Gone(None)));
    }

    #[test]
    fn an_unlocked_file_means_gone_and_odd_ids_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let folder = folder_for(&dir.path().join("s.sqlite"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(lock_path(&folder, "42-00ff"), b"").unwrap();
        let Liveness::Gone(file) = check(&folder, "42-00ff") else {
            panic!("an unlocked owner is gone");
        };
        bury(&folder, "42-00ff", file);
        assert!(!lock_path(&folder, "42-00ff").exists());
        assert!(matches!(
            check(&folder, "../../etc/passwd"),
            Liveness::Alive
        ));
    }
}
