//! `RecordStore` on one SQLite file (WAL mode, so a reader such as the console never blocks the
//! pipeline), with the same semantics as the DynamoDB store: the shared store suite runs
//! against both. Executions and their event histories are stored beside the records, and the
//! store remembers the folders it has seen.
//!
//! Writes are decided by [`decide_write_after`] (newest wins, and a deleted key's tombstone
//! beats every older upload) inside one `IMMEDIATE` transaction, so two processes writing the
//! same record cannot both win.
//!
//! Several processes share one store (`run`s, a `watch`, `serve`): each waits its turn through
//! SQLite's busy timeout, and an operation SQLite still answers "busy" (it skips the wait where
//! waiting could deadlock, or while another connection recovers the WAL after a crash) is tried
//! again a few times after a random pause, so "database is locked" never reaches a user as such.
//!
//! An execution is saved `RUNNING` when it starts, naming the process that runs it
//! ([`crate::owner`]); when that process has ended without ending it, the next process to open the
//! store marks it `ABORTED` with a cause, as Step Functions shows a stopped execution.

use std::hash::BuildHasher as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, TransactionBehavior};
use spotlight_core::contracts::{
    ExecutionStatus, ExecutionSummary, ImageRecord, RecordStatus, UnknownExecutionStatus,
    WriteOutcome,
};
use spotlight_core::ports::{DeleteOutcome, Tombstone};
use spotlight_core::ports::{Page, PageFiller, RecordStore, SearchQuery, StoreError};
use spotlight_core::ports::{RecordUpdate, UpdateOutcome};
use spotlight_core::review::{self, ReviewOutcome, ReviewRequest};
use spotlight_core::revision::{decide_write_after, delete_removes};
use spotlight_core::{record_id, search};

mod events;

pub use events::{Delivery, DeliveryStatus, EventFilter, LoggedEvent};

use crate::fault::{self, FaultKind};
use crate::owner::{self, Liveness, Owner};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS records (
    id              TEXT PRIMARY KEY,
    bucket          TEXT NOT NULL,
    key             TEXT NOT NULL,
    status          TEXT NOT NULL,
    safe            INTEGER NOT NULL,
    revision        TEXT NOT NULL,
    execution_id    TEXT NOT NULL,
    uploaded_micros INTEGER NOT NULL,
    record          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_status ON records (status, safe, uploaded_micros DESC, id);
CREATE INDEX IF NOT EXISTS records_by_time ON records (uploaded_micros DESC, id);
-- One row per label name or parent, with the best confidence of the labels carrying it.
CREATE TABLE IF NOT EXISTS record_labels (
    record_id  TEXT NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    confidence REAL NOT NULL,
    PRIMARY KEY (record_id, name)
);
CREATE INDEX IF NOT EXISTS record_labels_by_name ON record_labels (name, confidence);
CREATE TABLE IF NOT EXISTS record_words (
    record_id TEXT NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    word      TEXT NOT NULL,
    PRIMARY KEY (record_id, word)
);
CREATE INDEX IF NOT EXISTS record_words_by_word ON record_words (word);
CREATE TABLE IF NOT EXISTS folders (
    path       TEXT PRIMARY KEY,
    first_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS executions (
    id          TEXT PRIMARY KEY,
    bucket      TEXT NOT NULL,
    key         TEXT NOT NULL,
    record_id   TEXT NOT NULL,
    status      TEXT NOT NULL,
    start_time  TEXT NOT NULL,
    stop_time   TEXT,
    input       TEXT NOT NULL,
    output      TEXT,
    error       TEXT,
    cause       TEXT,
    history     TEXT,
    owner       TEXT
);
-- The themes as edited in the console: one row, the themes file's JSON.
CREATE TABLE IF NOT EXISTS themes (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    json    TEXT NOT NULL,
    saved   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_by_time ON executions (start_time DESC);
-- The moderation policy in force, as `spotlight policy apply` left it: one row, the policy
-- file's JSON (SPOTLIGHT_POLICY, when set, still wins).
CREATE TABLE IF NOT EXISTS policy (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    json    TEXT NOT NULL,
    applied TEXT NOT NULL
);
-- The event log (see `events`): AUTOINCREMENT, so a sequence number is never reused and a
-- follower that has seen N never misses what comes after.
CREATE TABLE IF NOT EXISTS events (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    bus            TEXT NOT NULL,
    put_at         TEXT NOT NULL,
    event          TEXT NOT NULL,
    webhook        TEXT,
    delivery       TEXT,
    attempts       INTEGER,
    delivery_error TEXT
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (put_at);
CREATE INDEX IF NOT EXISTS executions_by_record ON executions (record_id, start_time DESC);
-- Deleted keys (takedown): the delete's revision, so an older analysis cannot write the record
-- again; a later upload's record replaces the row.
CREATE TABLE IF NOT EXISTS tombstones (
    id         TEXT PRIMARY KEY,
    bucket     TEXT NOT NULL,
    key        TEXT NOT NULL,
    revision   TEXT NOT NULL,
    deleted_at TEXT NOT NULL
);
"#;

/// Records, executions and folders in one SQLite file.
pub struct SqliteStore {
    connection: Mutex<Connection>,
    /// The file's canonical path (none in memory): named in errors; the owners' locks are beside it.
    path: Option<PathBuf>,
    /// This process's claim on the executions it starts, taken at the first one.
    owner: OnceLock<Option<Owner>>,
    /// Opened by [`SqliteStore::open_read_only`]: SQLite refuses every write (`query_only`).
    read_only: bool,
    /// The first fault of the file a statement met (a full disk…), so a caller can stop rather
    /// than fail photo after photo the same way.
    fault: OnceLock<FaultKind>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn store_error(what: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |error| StoreError::new(format!("{what}: {error}"), error)
}

/// How long one statement waits for another process's write lock before SQLite answers "busy".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts at an operation SQLite answers "busy" or "locked" (the first included).
const BUSY_ATTEMPTS: u32 = 6;
/// The error of an execution whose process ended before it did. Step Functions has no such
/// case (its executions outlive any client); the name is ours, in the style of our error names.
pub const ABANDONED_ERROR: &str = "ExecutionAbandoned";

/// A failed SQLite call and what it was doing, for [`SqliteStore::retry`].
struct Failure {
    what: &'static str,
    error: rusqlite::Error,
}

trait At<T> {
    fn at(self, what: &'static str) -> Result<T, Failure>;
}

impl<T> At<T> for rusqlite::Result<T> {
    fn at(self, what: &'static str) -> Result<T, Failure> {
        self.map_err(|error| Failure { what, error })
    }
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// A random pause below a cap that doubles with each attempt ("full jitter"), so that processes
/// that collided do not collide again in step.
fn jitter(attempt: u32) -> Duration {
    let cap = 20u64 << attempt.min(5);
    let random = std::collections::hash_map::RandomState::new().hash_one((
        attempt,
        std::time::Instant::now(),
        std::thread::current().id(),
    ));
    Duration::from_millis(random % (cap + 1))
}

/// Which executions to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecutionFilter {
    /// Only this status.
    pub status: Option<ExecutionStatus>,
    /// Only those that started at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only those that started before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only those for this record.
    pub record_id: Option<String>,
    /// At most this many, newest first.
    pub limit: Option<usize>,
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        // A store this process cannot write is refused before any work is done, naming it;
        // the read commands then open it with `open_read_only`.
        let opening = format!("opening {}", path.display());
        let read_only = || fault::fault_error(&opening, FaultKind::ReadOnly, path, None);
        if path.exists() && !fault::writable(path) {
            return Err(read_only());
        }
        let connection = Connection::open(path).map_err(|e| fault::classify(path, &opening, e))?;
        // SQLite quietly opens a file it cannot write for reading only.
        if connection.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
            return Err(read_only());
        }
        // Canonical, so that two processes naming the store differently find the same locks.
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let store = Self::prepare(connection, Some(canonical))?;
        // Marked now, so that every command shows such an execution as it is. A store that
        // cannot be written is still served; the next writable open marks them.
        if let Err(error) = store.abort_abandoned() {
            tracing::warn!(%error, "cannot mark the executions of ended processes ABORTED");
        }
        Ok(store)
    }

    /// A store that lives in memory only (for tests).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::prepare(
            Connection::open_in_memory().map_err(store_error("opening SQLite"))?,
            None,
        )
    }

    fn prepare(connection: Connection, path: Option<PathBuf>) -> Result<Self, StoreError> {
        // The busy timeout first: turning a new file to WAL takes an exclusive lock, which a
        // second process opening the same new store at that moment must wait for, not fail on.
        connection
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(store_error("setting the busy timeout"))?;
        let store = SqliteStore {
            connection: Mutex::new(connection),
            path,
            owner: OnceLock::new(),
            read_only: false,
            fault: OnceLock::new(),
        };
        store.retry(|connection| {
            // WAL: readers (the console, `search`) never block the pipeline's writes.
            connection
                .pragma_update(None, "journal_mode", "WAL")
                .at("enabling WAL")?;
            connection
                .pragma_update(None, "foreign_keys", "ON")
                .at("enabling foreign keys")?;
            connection.execute_batch(SCHEMA).at("creating the schema")?;
            migrate(connection).at("updating the schema")
        })?;
        Ok(store)
    }

    /// Runs `operation` on the connection, again after a random pause while SQLite answers
    /// "busy" (at most [`BUSY_ATTEMPTS`] times in all), so that contention costs time, not an
    /// error; an operation must therefore be whole (a transaction it commits, or one statement).
    fn retry<T>(
        &self,
        mut operation: impl FnMut(&mut Connection) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        let mut connection = self.lock();
        let mut attempt = 1;
        loop {
            match operation(&mut connection) {
                Ok(value) => return Ok(value),
                Err(Failure { what, error }) if is_busy(&error) && attempt < BUSY_ATTEMPTS => {
                    tracing::debug!(what, attempt, "the store is busy: trying again");
                    std::thread::sleep(jitter(attempt));
                    attempt += 1;
                }
                Err(Failure { what, error }) if is_busy(&error) => {
                    let store = self
                        .path
                        .as_ref()
                        .map_or_else(|| "in memory".to_owned(), |p| p.display().to_string());
                    return Err(StoreError::new(
                        format!(
                            "{what}: the store {store} stayed busy: other processes kept it \
                             locked through {BUSY_ATTEMPTS} waits of {} s; nothing was written",
                            BUSY_TIMEOUT.as_secs()
                        ),
                        error,
                    ));
                }
                Err(Failure { what, error }) => return Err(self.classify(what, error)),
            }
        }
    }

    /// This process's owner id for the executions it starts, claimed at the first one; none
    /// in memory, or when the lock file cannot be made (those executions then never look
    /// abandoned: they stay `RUNNING` if the process dies first).
    fn owner_id(&self) -> Option<&str> {
        self.owner
            .get_or_init(|| {
                let folder = owner::folder_for(self.path.as_ref()?);
                Owner::claim(&folder)
                    .map_err(|error| {
                        tracing::warn!(%error, folder = %folder.display(),
                            "cannot lock an owner file: executions of this process will not be \
                             marked ABORTED if it is killed");
                    })
                    .ok()
            })
            .as_ref()
            .map(Owner::id)
    }

    /// Marks `ABORTED` every execution still `RUNNING` whose process has ended (killed,
    /// crashed, the machine stopped), with the time it was noticed as its stop time and an
    /// error and cause, as Step Functions shows an execution that was stopped (`ABORTED`, an
    /// `ExecutionAborted` event carrying error and cause). Executions of a process that still
    /// runs are left alone. Returns how many were marked.
    pub fn abort_abandoned(&self) -> Result<usize, StoreError> {
        let Some(path) = self.path.as_ref().filter(|_| !self.read_only) else {
            return Ok(0);
        };
        let folder = owner::folder_for(path);
        let owners: Vec<String> = self.retry(|connection| {
            let mut statement = connection
                .prepare(
                    "SELECT DISTINCT owner FROM executions
                     WHERE status = 'RUNNING' AND owner IS NOT NULL",
                )
                .at("listing running executions")?;
            let rows = statement
                .query_map([], |row| row.get(0))
                .at("listing running executions")?;
            rows.collect::<Result<_, _>>()
                .at("listing running executions")
        })?;
        let own = self.owner.get().and_then(Option::as_ref).map(Owner::id);
        let mut aborted = 0;
        for id in owners.iter().filter(|id| Some(id.as_str()) != own) {
            let Liveness::Gone(lock) = owner::check(&folder, id) else {
                continue;
            };
            let process = owner::pid_of(id).map_or_else(String::new, |pid| format!(" (pid {pid})"));
            let cause = format!(
                "The process that ran this execution{process} ended before the execution did \
                 (killed, crashed, or the machine stopped); noticed when the store was next \
                 opened. Whatever it had not finished was not written: `spotlight run` on the \
                 photo runs it again."
            );
            let now = Utc::now().to_rfc3339();
            aborted += self.retry(|connection| {
                connection
                    .execute(
                        "UPDATE executions SET status = 'ABORTED', stop_time = ?1, error = ?2,
                                               cause = ?3, owner = NULL
                         WHERE status = 'RUNNING' AND owner = ?4",
                        params![now, ABANDONED_ERROR, cause, id],
                    )
                    .at("marking executions ABORTED")
            })?;
            owner::bury(&folder, id, lock);
        }
        if aborted > 0 {
            tracing::warn!(
                aborted,
                "executions whose process had ended were marked ABORTED"
            );
        }
        Ok(aborted)
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite itself consistent (transactions roll
        // back on drop), so the connection stays usable.
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers a photo folder, so the console finds the photos without being told.
    pub fn remember_folder(&self, path: &str) -> Result<(), StoreError> {
        let now = Utc::now().to_rfc3339();
        self.retry(|connection| {
            connection
                .execute(
                    "INSERT OR IGNORE INTO folders (path, first_seen) VALUES (?1, ?2)",
                    params![path, now],
                )
                .at("remembering a folder")
        })?;
        Ok(())
    }

    /// The photo folders seen so far.
    pub fn folders(&self) -> Result<Vec<String>, StoreError> {
        self.retry(|connection| {
            let mut statement = connection
                .prepare("SELECT path FROM folders ORDER BY path")
                .at("listing folders")?;
            let rows = statement
                .query_map([], |row| row.get(0))
                .at("listing folders")?;
            rows.collect::<Result<_, _>>().at("listing folders")
        })
    }

    /// The themes saved by [`SqliteStore::save_themes`], as JSON, if any were.
    pub fn saved_themes(&self) -> Result<Option<String>, StoreError> {
        self.saved_document(Document::Themes)
    }

    /// Saves the themes (the themes file's JSON), replacing those saved before.
    pub fn save_themes(&self, json: &str) -> Result<(), StoreError> {
        self.save_document(Document::Themes, json)
    }

    /// A one-row settings table's JSON, if it was ever saved.
    fn saved_document(&self, document: Document) -> Result<Option<String>, StoreError> {
        let Documented { table, reading, .. } = document.table();
        let sql = format!("SELECT json FROM {table} WHERE id = 1");
        self.retry(|connection| {
            connection
                .query_row(&sql, [], |row| row.get(0))
                .optional()
                .at(reading)
        })
    }

    /// Replaces a one-row settings table's JSON, stamping when.
    fn save_document(&self, document: Document, json: &str) -> Result<(), StoreError> {
        let Documented {
            table,
            stamp,
            saving,
            ..
        } = document.table();
        let sql = format!(
            "INSERT INTO {table} (id, json, {stamp}) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET json = excluded.json, {stamp} = excluded.{stamp}"
        );
        let now = Utc::now().to_rfc3339();
        self.retry(|connection| connection.execute(&sql, params![json, now]).at(saving))?;
        Ok(())
    }

    /// Saves an execution (again, as it progresses), with its history when it has one. A
    /// `RUNNING` one is saved as this process's, so that it is marked `ABORTED` should the
    /// process end first ([`SqliteStore::abort_abandoned`]).
    pub fn save_execution(
        &self,
        execution: &ExecutionSummary,
        history: Option<&serde_json::Value>,
    ) -> Result<(), StoreError> {
        let json = |v: &serde_json::Value| v.to_string();
        let owner = if execution.status == ExecutionStatus::Running {
            self.owner_id()
        } else {
            None
        };
        let (input, output, history) = (
            json(&execution.input),
            execution.output.as_ref().map(json),
            history.map(json),
        );
        self.retry(|connection| {
            connection
                .execute(
                    "INSERT INTO executions (id, bucket, key, record_id, status, start_time,
                                             stop_time, input, output, error, cause, history,
                                             owner, redrive_count)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                     ON CONFLICT (id) DO UPDATE SET
                         status = excluded.status, stop_time = excluded.stop_time,
                         output = excluded.output, error = excluded.error, cause = excluded.cause,
                         history = COALESCE(excluded.history, executions.history),
                         owner = excluded.owner, redrive_count = excluded.redrive_count",
                    params![
                        execution.id,
                        execution.bucket,
                        execution.key,
                        execution.record_id,
                        execution.status.as_str(),
                        execution.start_time.to_rfc3339(),
                        execution.stop_time.map(|t| t.to_rfc3339()),
                        input,
                        output,
                        execution.error,
                        execution.cause,
                        history,
                        owner,
                        execution.redrive_count,
                    ],
                )
                .at("saving an execution")
        })?;
        Ok(())
    }

    /// Claims a stopped execution for its redrive: `RUNNING` again as this process's, its
    /// redrive count one more, in one statement that only succeeds while it is still `FAILED`,
    /// `TIMED_OUT` or `ABORTED` with the count `seen`, so two redrives of the same execution at
    /// once cannot both run it. False when it was not so (someone else redrives it, or it is no
    /// longer redrivable).
    pub fn begin_redrive(&self, id: &str, seen: u32) -> Result<bool, StoreError> {
        let owner = self.owner_id();
        let changed = self.retry(|connection| {
            connection
                .execute(
                    "UPDATE executions SET status = 'RUNNING', stop_time = NULL, owner = ?1,
                                           redrive_count = redrive_count + 1
                     WHERE id = ?2 AND redrive_count = ?3
                       AND status IN ('FAILED', 'TIMED_OUT', 'ABORTED')",
                    params![owner, id, seen],
                )
                .at("starting a redrive")
        })?;
        Ok(changed == 1)
    }

    /// Executions, newest first; those whose process has ended are marked `ABORTED` first.
    pub fn executions(
        &self,
        filter: &ExecutionFilter,
    ) -> Result<Vec<ExecutionSummary>, StoreError> {
        // Here too, not only at open: the console stays open while `run`s come and go.
        if let Err(error) = self.abort_abandoned() {
            tracing::warn!(%error, "cannot mark the executions of ended processes ABORTED");
        }
        let mut sql = "SELECT id, bucket, key, record_id, status, start_time, stop_time, input,
                              output, error, cause, redrive_count
                       FROM executions WHERE 1 = 1"
            .to_owned();
        let mut values: Vec<String> = Vec::new();
        if let Some(status) = filter.status {
            sql.push_str(" AND status = ?");
            values.push(status.as_str().to_owned());
        }
        if let Some(since) = filter.since {
            sql.push_str(" AND start_time >= ?");
            values.push(since.to_rfc3339());
        }
        if let Some(until) = filter.until {
            sql.push_str(" AND start_time < ?");
            values.push(until.to_rfc3339());
        }
        if let Some(record) = &filter.record_id {
            sql.push_str(" AND record_id = ?");
            values.push(record.clone());
        }
        sql.push_str(" ORDER BY start_time DESC, id");
        if let Some(limit) = filter.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        self.retry(|connection| {
            let mut statement = connection.prepare(&sql).at("listing executions")?;
            let rows = statement
                .query_map(params_from_iter(values.iter()), execution_row)
                .at("listing executions")?;
            rows.collect::<Result<_, _>>().at("listing executions")
        })
    }

    /// One execution and its history (`{"events": [...]}`), if it was kept.
    pub fn execution(
        &self,
        id: &str,
    ) -> Result<Option<(ExecutionSummary, Option<serde_json::Value>)>, StoreError> {
        self.retry(|connection| {
            connection
                .query_row(
                    "SELECT id, bucket, key, record_id, status, start_time, stop_time, input,
                            output, error, cause, redrive_count, history
                     FROM executions WHERE id = ?1",
                    params![id],
                    |row| {
                        let summary = execution_row(row)?;
                        let history: Option<String> = row.get(12)?;
                        Ok((summary, history.and_then(|h| serde_json::from_str(&h).ok())))
                    },
                )
                .optional()
                .at("reading an execution")
        })
    }

    fn write(&self, record: &ImageRecord) -> Result<WriteOutcome, StoreError> {
        let json = serde_json::to_string(record)
            .map_err(|e| StoreError::new("serialising the record", e))?;
        let labels = label_index(record);
        let words = record
            .text
            .as_ref()
            .map(|text| search::words(&text.full_text))
            .unwrap_or_default();
        self.retry(|connection| {
            let transaction = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .at("starting a write")?;
            let stored: Option<String> = transaction
                .query_row(
                    "SELECT record FROM records WHERE id = ?1",
                    params![record.id],
                    |row| row.get(0),
                )
                .optional()
                .at("reading the stored record")?;
            let stored: Option<ImageRecord> = stored.and_then(|s| serde_json::from_str(&s).ok());
            let deleted = tombstone_revision(&transaction, &record.id)?;
            let outcome = decide_write_after(stored.as_ref(), deleted.as_deref(), record);
            if outcome != WriteOutcome::Written {
                return Ok(outcome);
            }
            transaction
                .execute("DELETE FROM tombstones WHERE id = ?1", params![record.id])
                .at("clearing the tombstone")?;
            // A review belongs to its upload: kept for the same object, else to the history.
            let carried = stored.as_ref().map(|stored| {
                let mut carried = record.clone();
                spotlight_core::review::carry(stored, &mut carried);
                carried
            });
            let carried_json = carried.as_ref().map(to_json).transpose()?;
            let record = carried.as_ref().unwrap_or(record);
            let json = carried_json.as_ref().unwrap_or(&json);
            transaction
                .execute(
                    "INSERT INTO records (id, bucket, key, status, safe, revision, execution_id,
                                          uploaded_micros, record)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT (id) DO UPDATE SET
                         status = excluded.status, safe = excluded.safe,
                         revision = excluded.revision, execution_id = excluded.execution_id,
                         uploaded_micros = excluded.uploaded_micros, record = excluded.record",
                    params![
                        record.id,
                        record.bucket,
                        record.key,
                        record.status.as_str(),
                        record.safe,
                        record.revision,
                        record.execution.id,
                        record.uploaded_at.timestamp_micros(),
                        json,
                    ],
                )
                .at("writing the record")?;
            for table in ["record_labels", "record_words"] {
                transaction
                    .execute(
                        &format!("DELETE FROM {table} WHERE record_id = ?1"),
                        params![record.id],
                    )
                    .at("clearing the index")?;
            }
            for (name, confidence) in &labels {
                transaction
                    .execute(
                        "INSERT INTO record_labels (record_id, name, confidence)
                         VALUES (?1, ?2, ?3)",
                        params![record.id, name, f64::from(*confidence)],
                    )
                    .at("indexing labels")?;
            }
            for word in &words {
                transaction
                    .execute(
                        "INSERT OR IGNORE INTO record_words (record_id, word) VALUES (?1, ?2)",
                        params![record.id, word],
                    )
                    .at("indexing words")?;
            }
            transaction.commit().at("committing the record")?;
            Ok(WriteOutcome::Written)
        })
    }

    /// [`RecordStore::search`] without the future, for callers on a blocking thread.
    pub fn find(&self, query: &SearchQuery) -> Result<Page, StoreError> {
        let mut sql = "SELECT record FROM records r WHERE 1 = 1".to_owned();
        let mut values: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(status) = query.status {
            sql.push_str(" AND r.status = ?");
            values.push(status.as_str().to_owned().into());
        }
        if query.safe_only {
            sql.push_str(" AND r.safe = 1");
        }
        if query.unsafe_only {
            sql.push_str(" AND r.safe = 0 AND r.status = ?");
            values.push(RecordStatus::Analyzed.as_str().to_owned().into());
        }
        if let Some(verdict) = query.verdict {
            // The verdict that counts, as `ImageRecord::verdict` says: the review's, else the
            // model's, else UNKNOWN.
            sql.push_str(
                " AND (CASE json_extract(r.record, '$.review.decision')
                         WHEN 'APPROVED' THEN 'SAFE' WHEN 'REJECTED' THEN 'UNSAFE'
                         ELSE coalesce(json_extract(r.record, '$.moderation.verdict'), 'UNKNOWN')
                       END) = ?",
            );
            values.push(verdict.as_str().to_owned().into());
        }
        // The label clauses of `search::matches`: one EXISTS for any of `labels`, one per group
        // of `all_labels`, one NOT EXISTS for `not_labels`.
        let clauses = (!query.labels.is_empty())
            .then_some(("EXISTS", &query.labels))
            .into_iter()
            .chain(query.all_labels.iter().map(|group| ("EXISTS", group)))
            .chain((!query.not_labels.is_empty()).then_some(("NOT EXISTS", &query.not_labels)));
        for (test, names) in clauses {
            let marks = vec!["?"; names.len()].join(", ");
            sql.push_str(&format!(
                " AND {test} (SELECT 1 FROM record_labels l WHERE l.record_id = r.id
                              AND l.name IN ({marks}) AND l.confidence >= ?)"
            ));
            values.extend(names.iter().map(|l| l.to_lowercase().into()));
            values.push(f64::from(query.min_confidence).into());
        }
        if let Some(text) = &query.text {
            let mut wanted = search::words(text);
            wanted.sort();
            wanted.dedup();
            if wanted.is_empty() {
                return Ok(Page {
                    records: Vec::new(),
                    next_cursor: None,
                });
            }
            let marks = vec!["?"; wanted.len()].join(", ");
            sql.push_str(&format!(
                " AND (SELECT COUNT(*) FROM record_words w WHERE w.record_id = r.id
                       AND w.word IN ({marks})) = ?"
            ));
            let count = wanted.len() as i64;
            values.extend(wanted.into_iter().map(Into::into));
            values.push(count.into());
        }
        if let Some(needles) = word_needles(query) {
            // Only records whose JSON holds one of the words (or a theme's label) can meet
            // it: a cheap scan that spares parsing the rest. `search::matches` decides.
            let likes = vec!["r.record LIKE ? ESCAPE '\\'"; needles.len()].join(" OR ");
            sql.push_str(&format!(" AND ({likes})"));
            values.extend(needles.into_iter().map(Into::into));
        }
        if let Some(cursor) = &query.cursor {
            let Some((micros, id)) = cursor
                .split_once(':')
                .and_then(|(m, id)| Some((m.parse::<i64>().ok()?, id.to_owned())))
            else {
                return Ok(Page {
                    records: Vec::new(),
                    next_cursor: None,
                });
            };
            sql.push_str(" AND (r.uploaded_micros < ? OR (r.uploaded_micros = ? AND r.id > ?))");
            values.extend([micros.into(), micros.into(), id.into()]);
        }
        sql.push_str(" ORDER BY r.uploaded_micros DESC, r.id ASC");
        // A `query` search's words are matched here, on each record read (labels, themes
        // and text together), so SQL cannot count the page for it.
        let words = !query.words.is_empty();
        if let Some(limit) = query.limit.filter(|_| !words) {
            // One more than asked: whether it exists says whether there is a next page.
            sql.push_str(&format!(" LIMIT {}", limit.saturating_add(1)));
        }
        self.retry(|connection| {
            let mut statement = connection.prepare(&sql).at("searching")?;
            let rows = statement
                .query_map(params_from_iter(values.iter()), |row| {
                    row.get::<_, String>(0)
                })
                .at("searching")?;
            let mut page = PageFiller::new(query);
            for row in rows {
                let json = row.at("searching")?;
                match serde_json::from_str::<ImageRecord>(&json) {
                    Ok(record) if words && !search::matches(&record, query) => {}
                    Ok(record) => {
                        if !page.offer(record, json.len()) {
                            break;
                        }
                    }
                    // A row written by a newer version of the record type: skip it, not the
                    // search.
                    Err(error) => {
                        tracing::warn!(%error, "skipping a stored record that does not parse")
                    }
                }
            }
            Ok(page.finish())
        })
    }
}

/// `LIKE` patterns of which a record meeting one of the query's words matches at least one,
/// or `None` when there are no words or a pattern could miss. A word's [`search::stem`] begins
/// every form that folds to it, and LIKE ignores ASCII case; a theme's word needs one of its labels in the record. Non-ASCII needles,
/// whose case LIKE does not fold, turn the filter off.
fn word_needles(query: &SearchQuery) -> Option<Vec<String>> {
    if query.words.is_empty() {
        return None;
    }
    let mut needles = Vec::new();
    for word in &query.words {
        needles.push(search::stem(&word.word).to_owned());
        if let Some((_, labels)) = &word.theme {
            needles.extend(labels.iter().cloned());
        }
    }
    // JSON escapes quotes, backslashes and control characters: such a needle could miss.
    let plain = |c: char| c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\';
    if needles
        .iter()
        .any(|n| n.is_empty() || !n.chars().all(plain))
    {
        return None;
    }
    let escape = |needle: &str| {
        let mut pattern = String::from("%");
        for c in needle.chars() {
            if matches!(c, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        pattern
    };
    Some(needles.iter().map(|n| escape(n)).collect())
}

/// Each label name and parent, lower-cased, with the best confidence of the labels carrying it.
fn label_index(record: &ImageRecord) -> Vec<(String, f32)> {
    let mut index: Vec<(String, f32)> = Vec::new();
    for label in &record.labels {
        for name in std::iter::once(&label.name).chain(&label.parents) {
            let name = name.to_lowercase();
            match index.iter_mut().find(|(n, _)| *n == name) {
                Some((_, best)) => *best = best.max(label.confidence),
                None => index.push((name, label.confidence)),
            }
        }
    }
    index
}

/// Adds what later versions added to a store made by an earlier one. The column is added in a
/// write transaction that looks again, so two processes opening an old store at once cannot
/// both add it.
fn migrate(connection: &mut Connection) -> rusqlite::Result<()> {
    let has_owner = |connection: &Connection| {
        connection.query_row(
            "SELECT COUNT(*) FROM pragma_table_info('executions') WHERE name = 'owner'",
            [],
            |row| row.get::<_, i64>(0).map(|n| n > 0),
        )
    };
    if !has_owner(connection)? {
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if !has_owner(&transaction)? {
            transaction.execute_batch("ALTER TABLE executions ADD COLUMN owner TEXT")?;
        }
        transaction.commit()?;
    }
    // Redrives (`spotlight executions redrive`) came later still.
    let has_redrive_count = |connection: &Connection| {
        connection.query_row(
            "SELECT COUNT(*) FROM pragma_table_info('executions') WHERE name = 'redrive_count'",
            [],
            |row| row.get::<_, i64>(0).map(|n| n > 0),
        )
    };
    if !has_redrive_count(connection)? {
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if !has_redrive_count(&transaction)? {
            transaction.execute_batch(
                "ALTER TABLE executions ADD COLUMN redrive_count INTEGER NOT NULL DEFAULT 0",
            )?;
        }
        transaction.commit()?;
    }
    connection.execute_batch(
        "CREATE INDEX IF NOT EXISTS executions_running ON executions (owner)
         WHERE status = 'RUNNING'",
    )
}

fn execution_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ExecutionSummary> {
    let time = |text: String| DateTime::parse_from_rfc3339(&text).map(|t| t.with_timezone(&Utc));
    let start: String = row.get(5)?;
    let stop: Option<String> = row.get(6)?;
    let input: String = row.get(7)?;
    let output: Option<String> = row.get(8)?;
    let status: String = row.get(4)?;
    Ok(ExecutionSummary {
        id: row.get(0)?,
        bucket: row.get(1)?,
        key: row.get(2)?,
        record_id: row.get(3)?,
        status: status.parse().map_err(|e: UnknownExecutionStatus| {
            rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, Box::new(e))
        })?,
        start_time: time(start).unwrap_or_default(),
        stop_time: stop.and_then(|s| time(s).ok()),
        input: serde_json::from_str(&input).unwrap_or(serde_json::Value::Null),
        output: output.and_then(|o| serde_json::from_str(&o).ok()),
        error: row.get(9)?,
        cause: row.get(10)?,
        redrive_count: row.get(11)?,
    })
}

impl RecordStore for SqliteStore {
    async fn put(&self, record: &ImageRecord) -> Result<WriteOutcome, StoreError> {
        self.write(record)
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Option<ImageRecord>, StoreError> {
        self.record(bucket, key)
    }

    async fn search(&self, query: &SearchQuery) -> Result<Page, StoreError> {
        self.find(query)
    }

    async fn delete(&self, tombstone: &Tombstone) -> Result<DeleteOutcome, StoreError> {
        self.remove(tombstone)
    }

    async fn tombstone(&self, bucket: &str, key: &str) -> Result<Option<Tombstone>, StoreError> {
        self.tombstone_of(&record_id(bucket, key))
    }

    async fn replace_unchanged(
        &self,
        updates: &[RecordUpdate],
    ) -> Result<Vec<UpdateOutcome>, StoreError> {
        self.replace(updates)
    }

    async fn review(
        &self,
        bucket: &str,
        key: &str,
        request: &ReviewRequest,
    ) -> Result<ReviewOutcome, StoreError> {
        self.decide_review(bucket, key, request)
    }
}

impl SqliteStore {
    /// [`RecordStore::review`] without the future: the record is read, judged and rewritten in
    /// one `IMMEDIATE` transaction, so the token it is judged by is the one it replaces.
    pub fn decide_review(
        &self,
        bucket: &str,
        key: &str,
        request: &ReviewRequest,
    ) -> Result<ReviewOutcome, StoreError> {
        let id = record_id(bucket, key);
        self.retry(|connection| {
            let transaction = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .at("starting a review")?;
            let stored: Option<String> = transaction
                .query_row(
                    "SELECT record FROM records WHERE id = ?1",
                    params![id],
                    |row| row.get(0),
                )
                .optional()
                .at("reading the stored record")?;
            let Some(stored) = stored.and_then(|s| serde_json::from_str::<ImageRecord>(&s).ok())
            else {
                return Ok(ReviewOutcome::NotFound);
            };
            let outcome = review::decide(&stored, request);
            if let ReviewOutcome::Reviewed(record) = &outcome {
                // Labels and words are unchanged: only the verdict that counts moves.
                transaction
                    .execute(
                        "UPDATE records SET safe = ?2, record = ?3 WHERE id = ?1",
                        params![id, record.safe, to_json(record)?],
                    )
                    .at("writing the review")?;
                transaction.commit().at("committing the review")?;
            }
            Ok(outcome)
        })
    }
}

impl SqliteStore {
    /// The moderation policy `spotlight policy apply` saved, as JSON, if any was.
    pub fn saved_policy(&self) -> Result<Option<String>, StoreError> {
        self.saved_document(Document::Policy)
    }

    /// Saves the policy in force (the policy file's JSON), replacing the one saved before.
    pub fn save_policy(&self, json: &str) -> Result<(), StoreError> {
        self.save_document(Document::Policy, json)
    }

    /// [`RecordStore::replace_unchanged`] without the future: one transaction, in which each
    /// record is compared with the one read and, when still the same, rewritten with its index.
    pub fn replace(&self, updates: &[RecordUpdate]) -> Result<Vec<UpdateOutcome>, StoreError> {
        updates
            .iter()
            .try_for_each(spotlight_core::ports::check_update)?;
        let rows = updates
            .iter()
            .map(|update| {
                serde_json::to_string(&update.updated)
                    .map_err(|e| StoreError::new("serialising the record", e))
            })
            .collect::<Result<Vec<String>, _>>()?;
        self.retry(|connection| {
            let transaction = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .at("starting an update")?;
            let mut outcomes = Vec::with_capacity(updates.len());
            for (update, json) in updates.iter().zip(&rows) {
                let stored: Option<String> = transaction
                    .query_row(
                        "SELECT record FROM records WHERE id = ?1",
                        params![update.read.id],
                        |row| row.get(0),
                    )
                    .optional()
                    .at("reading the stored record")?;
                let same = stored
                    .and_then(|s| serde_json::from_str::<ImageRecord>(&s).ok())
                    .is_some_and(|stored| stored == update.read);
                if !same {
                    outcomes.push(UpdateOutcome::Changed);
                    continue;
                }
                let record = &update.updated;
                transaction
                    .execute(
                        "UPDATE records SET status = ?2, safe = ?3, uploaded_micros = ?4,
                                            record = ?5
                         WHERE id = ?1",
                        params![
                            record.id,
                            record.status.as_str(),
                            record.safe,
                            record.uploaded_at.timestamp_micros(),
                            json,
                        ],
                    )
                    .at("updating the record")?;
                reindex(&transaction, record)?;
                outcomes.push(UpdateOutcome::Replaced);
            }
            transaction.commit().at("committing the updates")?;
            Ok(outcomes)
        })
    }
}

/// A record as its row keeps it, inside a transaction (an error there is a failed operation).
fn to_json(record: &ImageRecord) -> Result<String, Failure> {
    serde_json::to_string(record)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
        .at("serialising the record")
}

/// Rewrites the label and word index of `record`, inside the caller's transaction.
fn reindex(transaction: &rusqlite::Transaction<'_>, record: &ImageRecord) -> Result<(), Failure> {
    for table in ["record_labels", "record_words"] {
        transaction
            .execute(
                &format!("DELETE FROM {table} WHERE record_id = ?1"),
                params![record.id],
            )
            .at("clearing the index")?;
    }
    for (name, confidence) in label_index(record) {
        transaction
            .execute(
                "INSERT INTO record_labels (record_id, name, confidence) VALUES (?1, ?2, ?3)",
                params![record.id, name, f64::from(confidence)],
            )
            .at("indexing labels")?;
    }
    let words = record
        .text
        .as_ref()
        .map(|text| search::words(&text.full_text))
        .unwrap_or_default();
    for word in &words {
        transaction
            .execute(
                "INSERT OR IGNORE INTO record_words (record_id, word) VALUES (?1, ?2)",
                params![record.id, word],
            )
            .at("indexing words")?;
    }
    Ok(())
}

/// The revision of the tombstone of record `id`, if the key is deleted.
fn tombstone_revision(
    transaction: &rusqlite::Transaction<'_>,
    id: &str,
) -> Result<Option<String>, Failure> {
    transaction
        .query_row(
            "SELECT revision FROM tombstones WHERE id = ?1",
            params![id],
            |row| row.get(0),
        )
        .optional()
        .at("reading the tombstone")
}

impl SqliteStore {
    /// [`RecordStore::delete`] without the future, for callers on a blocking thread: in one
    /// `IMMEDIATE` transaction, so a record write and a delete of one key never interleave.
    pub fn remove(&self, tombstone: &Tombstone) -> Result<DeleteOutcome, StoreError> {
        let id = record_id(&tombstone.bucket, &tombstone.key);
        self.retry(|connection| {
            let transaction = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .at("starting a delete")?;
            let stored: Option<String> = transaction
                .query_row(
                    "SELECT record FROM records WHERE id = ?1",
                    params![id],
                    |row| row.get(0),
                )
                .optional()
                .at("reading the stored record")?;
            let stored: Option<ImageRecord> = stored.and_then(|s| serde_json::from_str(&s).ok());
            if stored
                .as_ref()
                .is_some_and(|stored| !delete_removes(stored, &tombstone.revision))
            {
                return Ok(DeleteOutcome::Stale);
            }
            let deleted = tombstone_revision(&transaction, &id)?;
            if deleted.is_some_and(|deleted| deleted >= tombstone.revision) {
                return Ok(DeleteOutcome::Duplicate);
            }
            transaction
                .execute(
                    "INSERT INTO tombstones (id, bucket, key, revision, deleted_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (id) DO UPDATE SET
                         revision = excluded.revision, deleted_at = excluded.deleted_at",
                    params![
                        id,
                        tombstone.bucket,
                        tombstone.key,
                        tombstone.revision,
                        tombstone.deleted_at.to_rfc3339(),
                    ],
                )
                .at("writing the tombstone")?;
            // The index rows go with the record (ON DELETE CASCADE), named here all the same
            // so that nothing depends on the foreign-keys pragma.
            for table in ["record_labels", "record_words"] {
                transaction
                    .execute(
                        &format!("DELETE FROM {table} WHERE record_id = ?1"),
                        params![id],
                    )
                    .at("deleting the index")?;
            }
            transaction
                .execute("DELETE FROM records WHERE id = ?1", params![id])
                .at("deleting the record")?;
            transaction.commit().at("committing the delete")?;
            Ok(match stored {
                Some(record) => DeleteOutcome::Removed(Box::new(record)),
                None => DeleteOutcome::Tombstoned,
            })
        })
    }

    /// The tombstone of record `id` ([`RecordStore::tombstone`] by id), for callers on a
    /// blocking thread: `show`, the executions of a deleted photo.
    pub fn tombstone_of(&self, id: &str) -> Result<Option<Tombstone>, StoreError> {
        self.retry(|connection| {
            connection
                .query_row(
                    "SELECT bucket, key, revision, deleted_at FROM tombstones WHERE id = ?1",
                    params![id],
                    |row| {
                        let deleted_at: String = row.get(3)?;
                        Ok(Tombstone {
                            bucket: row.get(0)?,
                            key: row.get(1)?,
                            revision: row.get(2)?,
                            deleted_at: DateTime::parse_from_rfc3339(&deleted_at)
                                .map(|t| t.with_timezone(&Utc))
                                .unwrap_or_default(),
                        })
                    },
                )
                .optional()
                .at("reading a tombstone")
        })
    }
}

impl SqliteStore {
    /// [`RecordStore::get`] without the future, for callers on a blocking thread.
    pub fn record(&self, bucket: &str, key: &str) -> Result<Option<ImageRecord>, StoreError> {
        let id = record_id(bucket, key);
        let json: Option<String> = self.retry(|connection| {
            connection
                .query_row(
                    "SELECT record FROM records WHERE id = ?1",
                    params![id],
                    |row| row.get(0),
                )
                .optional()
                .at("reading a record")
        })?;
        json.map(|j| {
            serde_json::from_str(&j).map_err(|e| StoreError::new("parsing a stored record", e))
        })
        .transpose()
    }
}

impl SqliteStore {
    /// Opens the existing store at `path` for reading only, even where nothing can be written
    /// (a read-only file system, file or folder): searches, records and executions are served;
    /// SQLite refuses every write (`query_only`), reported as [`FaultKind::ReadOnly`]. A WAL
    /// database needs its `-shm` file: when the `-wal` and `-shm` files are there SQLite reads
    /// them without writing (3.22 and later); when they are not, on a read-only file system it
    /// could not create them, so the file is opened `immutable` — exact there, since nobody can
    /// change it — and only when no WAL content would be skipped.
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        let opening = format!("opening {} for reading", path.display());
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
            | rusqlite::OpenFlags::SQLITE_OPEN_URI
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        // Opening is lazy: the first read is what needs the `-shm`.
        let probe = |connection: Connection| -> rusqlite::Result<Connection> {
            connection.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
            Ok(connection)
        };
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let wal_holds_data = std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0);
        let connection =
            match Connection::open_with_flags(fault::uri(path, "mode=ro"), flags).and_then(probe) {
                Ok(connection) => connection,
                Err(error)
                    if !wal_holds_data
                        && error.sqlite_error_code() == Some(rusqlite::ErrorCode::CannotOpen) =>
                {
                    Connection::open_with_flags(fault::uri(path, "immutable=1"), flags)
                        .and_then(probe)
                        .map_err(|e| fault::classify(path, &opening, e))?
                }
                Err(error) => return Err(fault::classify(path, &opening, error)),
            };
        connection
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(store_error("setting the busy timeout"))?;
        connection
            .pragma_update(None, "query_only", "ON")
            .map_err(store_error("making the store query-only"))?;
        Ok(SqliteStore {
            connection: Mutex::new(connection),
            path: Some(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())),
            owner: OnceLock::new(),
            read_only: true,
            fault: OnceLock::new(),
        })
    }

    /// Whether the store was opened by [`SqliteStore::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The first fault of the file (full disk, read-only, I/O error) a statement met since the
    /// store was opened.
    pub fn fault(&self) -> Option<FaultKind> {
        self.fault.get().copied()
    }

    /// A SQLite error met while doing `what`: a [`crate::StoreFault`] naming the store when the
    /// file is the problem (and remembered, see [`SqliteStore::fault`]), else as it is.
    fn classify(&self, what: &str, error: rusqlite::Error) -> StoreError {
        if let Some(kind) = FaultKind::of(&error) {
            let _ = self.fault.set(kind);
        }
        let store = self.path.as_deref().unwrap_or(Path::new(":memory:"));
        fault::classify(store, what, error)
    }
}

/// The one-row settings tables, each a JSON document the CLI saved.
#[derive(Debug, Clone, Copy)]
enum Document {
    Themes,
    Policy,
}

/// Where a [`Document`] is kept, and its words in messages.
struct Documented {
    table: &'static str,
    /// The column stamped with the time it is saved.
    stamp: &'static str,
    reading: &'static str,
    saving: &'static str,
}

impl Document {
    fn table(self) -> Documented {
        match self {
            Document::Themes => Documented {
                table: "themes",
                stamp: "saved",
                reading: "reading the themes",
                saving: "saving the themes",
            },
            Document::Policy => Documented {
                table: "policy",
                stamp: "applied",
                reading: "reading the policy",
                saving: "saving the policy",
            },
        }
    }
}
