//! What the local commands share: the store, the themes, a runtime, and how a record is named.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use spotlight_core::contracts::ImageRecord;
use spotlight_core::ports::RecordStore;
use spotlight_core::ports::StoreError;
use spotlight_core::themes::Themes;
use spotlight_storage::{FaultKind, SqliteStore, StoreFault};

/// Opens the store for writing, creating it if needed. A store that cannot be written (a
/// read-only file system, file or folder) is an error that names it, before any work is done.
pub fn open_store(path: &Path) -> anyhow::Result<Arc<SqliteStore>> {
    match SqliteStore::open(path) {
        Ok(store) => Ok(Arc::new(store)),
        Err(error) => Err(opening_failed(error, path)),
    }
}

/// Opens a store that must already exist (a query on a mistyped path should not create one),
/// for reading and writing when it can be written, else for reading only: a read-only store
/// still answers searches, and refuses writes naming itself.
pub fn open_existing_store(path: &Path) -> anyhow::Result<Arc<SqliteStore>> {
    anyhow::ensure!(
        path.exists(),
        "no store at {} (run `spotlight run <photos>` first, or pass --store)",
        path.display()
    );
    match SqliteStore::open(path) {
        Ok(store) => Ok(Arc::new(store)),
        Err(error) if fault_kind(&error) == Some(FaultKind::ReadOnly) => {
            tracing::info!(store = %path.display(), "the store is read-only: opened for reading");
            let store = SqliteStore::open_read_only(path).map_err(|e| opening_failed(e, path))?;
            Ok(Arc::new(store))
        }
        Err(error) => Err(opening_failed(error, path)),
    }
}

fn fault_kind(error: &StoreError) -> Option<FaultKind> {
    std::error::Error::source(error)
        .and_then(|s| s.downcast_ref::<StoreFault>())
        .map(|f| f.kind)
}

/// The fault itself when there is one (its message names the store and the remedy, so any
/// layer above it would only repeat it), else the error saying which store failed to open.
fn opening_failed(mut error: StoreError, path: &Path) -> anyhow::Error {
    match error.source.take().map(|s| s.downcast::<StoreFault>()) {
        Some(Ok(fault)) => anyhow::Error::new(*fault),
        other => {
            error.source = other.and_then(Result::err);
            anyhow::Error::new(error).context(format!("cannot open the store {}", path.display()))
        }
    }
}

/// The themes: from a file when one is named; else as last edited in the console, which saves
/// them in the store; else the shipped ones.
pub fn load_themes(path: Option<&Path>, store: Option<&SqliteStore>) -> anyhow::Result<Themes> {
    if let Some(path) = path {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the themes file {}", path.display()))?;
        return Themes::from_json(&text).with_context(|| format!("in {}", path.display()));
    }
    match store.map(SqliteStore::saved_themes).transpose()?.flatten() {
        Some(text) => Themes::from_json(&text).context("in the themes saved in the store"),
        None => Ok(Themes::shipped()),
    }
}

/// The moderation policy's JSON and where it came from: from a file when one is named
/// (`--policy`), else from `SPOTLIGHT_POLICY`, else as `spotlight policy apply` saved it in the
/// store; `None` means the shipped policy. One lookup for `run` and `analyze`, so both judge
/// with the same policy.
pub fn policy_text(
    path: Option<&Path>,
    store: Option<&SqliteStore>,
) -> anyhow::Result<Option<(String, String)>> {
    let named = path
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os(ENV_POLICY).map(PathBuf::from));
    if let Some(path) = named {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the policy {}", path.display()))?;
        return Ok(Some((text, path.display().to_string())));
    }
    let saved = store.map(SqliteStore::saved_policy).transpose()?.flatten();
    Ok(saved.map(|text| (text, "the policy saved in the store".to_owned())))
}

/// The environment variable naming a policy file that `run`, `watch` and `analyze` judge with.
pub const ENV_POLICY: &str = "SPOTLIGHT_POLICY";

/// A runtime for the async ports: the store and the pipeline.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The tombstones of the deleted photo a user means, named as [`find_record`] names a record;
/// a path to a file that is gone is taken apart against the folders as it is written.
pub fn find_tombstone(
    store: &SqliteStore,
    name: &str,
) -> anyhow::Result<Vec<spotlight_core::ports::Tombstone>> {
    if let Some(tombstone) = store.tombstone_of(name)? {
        return Ok(vec![tombstone]);
    }
    let mut found = Vec::new();
    for folder in store.folders()? {
        let key = match Path::new(name).strip_prefix(&folder) {
            Ok(relative) => relative.to_string_lossy().into_owned(),
            Err(_) => name.to_owned(),
        };
        if let Some(tombstone) = store.tombstone_of(&spotlight_core::record_id(&folder, &key))? {
            found.push(tombstone);
        }
    }
    Ok(found)
}

/// The one record `name` names ([`find_record`]), `None` when there is none; a name found in
/// several folders is an error that lists them, so the user can name one by path or id.
pub async fn find_one_record(
    store: &SqliteStore,
    name: &str,
) -> anyhow::Result<Option<ImageRecord>> {
    let mut found = find_record(store, name).await?;
    if found.len() > 1 {
        let places: Vec<String> = found
            .iter()
            .map(|r| format!("{} (id {})", r.bucket, r.id))
            .collect();
        anyhow::bail!(
            "{name:?} is in several folders: {}; name it by path or id",
            places.join(", ")
        );
    }
    Ok(found.pop())
}

/// Finds the record a user means: a record id, a path to the photo (inside a folder the store
/// has seen), or a key in one of those folders.
pub async fn find_record(store: &SqliteStore, name: &str) -> anyhow::Result<Vec<ImageRecord>> {
    if let Some((bucket, key)) = spotlight_core::parse_record_id(name) {
        if let Some(record) = store.get(&bucket, &key).await? {
            return Ok(vec![record]);
        }
    }
    let absolute = std::fs::canonicalize(name).ok();
    let mut found = Vec::new();
    for folder in store.folders()? {
        let key = match &absolute {
            Some(path) => match path.strip_prefix(&folder) {
                Ok(relative) => relative.to_string_lossy().into_owned(),
                Err(_) => continue,
            },
            None => name.to_owned(),
        };
        if let Some(record) = store.get(&folder, &key).await? {
            found.push(record);
        }
    }
    Ok(found)
}
