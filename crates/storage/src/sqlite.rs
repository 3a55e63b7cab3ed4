//! `RecordStore` on one SQLite file (WAL mode, so a reader such as the console never blocks the
//! pipeline), with the same semantics as the DynamoDB store: the shared store suite runs
//! against both. Executions and their event histories are stored beside the records, and the
//! store remembers the folders it has seen.
//!
//! Writes are decided by [`decide_write`] inside one `IMMEDIATE` transaction, so two processes
//! writing the same record cannot both win.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, TransactionBehavior};
use spotlight_core::contracts::{ExecutionSummary, ImageRecord, RecordStatus, WriteOutcome};
use spotlight_core::ports::{Page, PageFiller, RecordStore, SearchQuery, StoreError};
use spotlight_core::revision::decide_write;
use spotlight_core::{record_id, search};

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
    history     TEXT
);
-- The themes as edited in the console: one row, the themes file's JSON.
CREATE TABLE IF NOT EXISTS themes (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    json    TEXT NOT NULL,
    saved   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_by_time ON executions (start_time DESC);
CREATE INDEX IF NOT EXISTS executions_by_record ON executions (record_id, start_time DESC);
"#;

/// Records, executions and folders in one SQLite file.
pub struct SqliteStore {
    connection: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn store_error(what: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |error| StoreError::new(format!("{what}: {error}"), error)
}

/// Which executions to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecutionFilter {
    /// Only this status.
    pub status: Option<String>,
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
        let connection = Connection::open(path)
            .map_err(|e| StoreError::new(format!("opening {}: {e}", path.display()), e))?;
        Self::prepare(connection)
    }

    /// A store that lives in memory only (for tests).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::prepare(Connection::open_in_memory().map_err(store_error("opening SQLite"))?)
    }

    fn prepare(connection: Connection) -> Result<Self, StoreError> {
        // WAL: readers (the console, `search`) never block the pipeline's writes; a busy
        // timeout lets two writing processes take turns instead of failing.
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(store_error("enabling WAL"))?;
        connection
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(store_error("setting the busy timeout"))?;
        connection
            .pragma_update(None, "foreign_keys", "ON")
            .map_err(store_error("enabling foreign keys"))?;
        connection
            .execute_batch(SCHEMA)
            .map_err(store_error("creating the schema"))?;
        Ok(SqliteStore {
            connection: Mutex::new(connection),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite itself consistent (transactions roll
        // back on drop), so the connection stays usable.
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers a photo folder, so the console finds the photos without being told.
    pub fn remember_folder(&self, path: &str) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "INSERT OR IGNORE INTO folders (path, first_seen) VALUES (?1, ?2)",
                params![path, Utc::now().to_rfc3339()],
            )
            .map_err(store_error("remembering a folder"))?;
        Ok(())
    }

    /// The photo folders seen so far.
    pub fn folders(&self) -> Result<Vec<String>, StoreError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare("SELECT path FROM folders ORDER BY path")
            .map_err(store_error("listing folders"))?;
        let rows = statement
            .query_map([], |row| row.get(0))
            .map_err(store_error("listing folders"))?;
        rows.collect::<Result<_, _>>()
            .map_err(store_error("listing folders"))
    }

    /// The themes saved by [`SqliteStore::save_themes`], as JSON, if any were.
    pub fn saved_themes(&self) -> Result<Option<String>, StoreError> {
        self.lock()
            .query_row("SELECT json FROM themes WHERE id = 1", [], |row| row.get(0))
            .optional()
            .map_err(store_error("reading the themes"))
    }

    /// Saves the themes (the themes file's JSON), replacing those saved before.
    pub fn save_themes(&self, json: &str) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "INSERT INTO themes (id, json, saved) VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET json = excluded.json, saved = excluded.saved",
                params![json, Utc::now().to_rfc3339()],
            )
            .map_err(store_error("saving the themes"))?;
        Ok(())
    }

    /// Saves an execution (again, as it progresses), with its history when it has one.
    pub fn save_execution(
        &self,
        execution: &ExecutionSummary,
        history: Option<&serde_json::Value>,
    ) -> Result<(), StoreError> {
        let json = |v: &serde_json::Value| v.to_string();
        self.lock()
            .execute(
                "INSERT INTO executions (id, bucket, key, record_id, status, start_time, stop_time,
                                         input, output, error, cause, history)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (id) DO UPDATE SET
                     status = excluded.status, stop_time = excluded.stop_time,
                     output = excluded.output, error = excluded.error, cause = excluded.cause,
                     history = COALESCE(excluded.history, executions.history)",
                params![
                    execution.id,
                    execution.bucket,
                    execution.key,
                    execution.record_id,
                    execution.status,
                    execution.start_time.to_rfc3339(),
                    execution.stop_time.map(|t| t.to_rfc3339()),
                    json(&execution.input),
                    execution.output.as_ref().map(json),
                    execution.error,
                    execution.cause,
                    history.map(json),
                ],
            )
            .map_err(store_error("saving an execution"))?;
        Ok(())
    }

    /// Executions, newest first.
    pub fn executions(
        &self,
        filter: &ExecutionFilter,
    ) -> Result<Vec<ExecutionSummary>, StoreError> {
        let mut sql = "SELECT id, bucket, key, record_id, status, start_time, stop_time, input,
                              output, error, cause
                       FROM executions WHERE 1 = 1"
            .to_owned();
        let mut values: Vec<String> = Vec::new();
        if let Some(status) = &filter.status {
            sql.push_str(" AND status = ?");
            values.push(status.to_ascii_uppercase());
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
        let connection = self.lock();
        let mut statement = connection
            .prepare(&sql)
            .map_err(store_error("listing executions"))?;
        let rows = statement
            .query_map(params_from_iter(values.iter()), execution_row)
            .map_err(store_error("listing executions"))?;
        rows.collect::<Result<_, _>>()
            .map_err(store_error("listing executions"))
    }

    /// One execution and its history (`{"events": [...]}`), if it was kept.
    pub fn execution(
        &self,
        id: &str,
    ) -> Result<Option<(ExecutionSummary, Option<serde_json::Value>)>, StoreError> {
        let connection = self.lock();
        connection
            .query_row(
                "SELECT id, bucket, key, record_id, status, start_time, stop_time, input, output,
                        error, cause, history
                 FROM executions WHERE id = ?1",
                params![id],
                |row| {
                    let summary = execution_row(row)?;
                    let history: Option<String> = row.get(11)?;
                    Ok((summary, history.and_then(|h| serde_json::from_str(&h).ok())))
                },
            )
            .optional()
            .map_err(store_error("reading an execution"))
    }

    fn write(&self, record: &ImageRecord) -> Result<WriteOutcome, StoreError> {
        let json = serde_json::to_string(record)
            .map_err(|e| StoreError::new("serialising the record", e))?;
        let mut connection = self.lock();
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(store_error("starting a write"))?;
        let stored: Option<String> = transaction
            .query_row(
                "SELECT record FROM records WHERE id = ?1",
                params![record.id],
                |row| row.get(0),
            )
            .optional()
            .map_err(store_error("reading the stored record"))?;
        let stored: Option<ImageRecord> = stored.and_then(|s| serde_json::from_str(&s).ok());
        let outcome = decide_write(stored.as_ref(), record);
        if outcome != WriteOutcome::Written {
            return Ok(outcome);
        }
        transaction
            .execute(
                "INSERT INTO records (id, bucket, key, status, safe, revision, execution_id,
                                      uploaded_micros, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (id) DO UPDATE SET
                     status = excluded.status, safe = excluded.safe, revision = excluded.revision,
                     execution_id = excluded.execution_id,
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
            .map_err(store_error("writing the record"))?;
        for table in ["record_labels", "record_words"] {
            transaction
                .execute(
                    &format!("DELETE FROM {table} WHERE record_id = ?1"),
                    params![record.id],
                )
                .map_err(store_error("clearing the index"))?;
        }
        for (name, confidence) in label_index(record) {
            transaction
                .execute(
                    "INSERT INTO record_labels (record_id, name, confidence) VALUES (?1, ?2, ?3)",
                    params![record.id, name, f64::from(confidence)],
                )
                .map_err(store_error("indexing labels"))?;
        }
        if let Some(text) = &record.text {
            for word in search::words(&text.full_text) {
                transaction
                    .execute(
                        "INSERT OR IGNORE INTO record_words (record_id, word) VALUES (?1, ?2)",
                        params![record.id, word],
                    )
                    .map_err(store_error("indexing words"))?;
            }
        }
        transaction
            .commit()
            .map_err(store_error("committing the record"))?;
        Ok(WriteOutcome::Written)
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
        if !query.labels.is_empty() {
            let marks = vec!["?"; query.labels.len()].join(", ");
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM record_labels l WHERE l.record_id = r.id
                              AND l.name IN ({marks}) AND l.confidence >= ?)"
            ));
            values.extend(query.labels.iter().map(|l| l.to_lowercase().into()));
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
        if let Some(limit) = query.limit {
            // One more than asked: whether it exists says whether there is a next page.
            sql.push_str(&format!(" LIMIT {}", limit.saturating_add(1)));
        }
        let connection = self.lock();
        let mut statement = connection.prepare(&sql).map_err(store_error("searching"))?;
        let rows = statement
            .query_map(params_from_iter(values.iter()), |row| {
                row.get::<_, String>(0)
            })
            .map_err(store_error("searching"))?;
        let mut page = PageFiller::new(query);
        for row in rows {
            let json = row.map_err(store_error("searching"))?;
            match serde_json::from_str::<ImageRecord>(&json) {
                Ok(record) => {
                    if !page.offer(record, json.len()) {
                        break;
                    }
                }
                // A row written by a newer version of the record type: skip it, not the search.
                Err(error) => {
                    tracing::warn!(%error, "skipping a stored record that does not parse")
                }
            }
        }
        Ok(page.finish())
    }
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

fn execution_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ExecutionSummary> {
    let time = |text: String| DateTime::parse_from_rfc3339(&text).map(|t| t.with_timezone(&Utc));
    let start: String = row.get(5)?;
    let stop: Option<String> = row.get(6)?;
    let input: String = row.get(7)?;
    let output: Option<String> = row.get(8)?;
    Ok(ExecutionSummary {
        id: row.get(0)?,
        bucket: row.get(1)?,
        key: row.get(2)?,
        record_id: row.get(3)?,
        status: row.get(4)?,
        start_time: time(start).unwrap_or_default(),
        stop_time: stop.and_then(|s| time(s).ok()),
        input: serde_json::from_str(&input).unwrap_or(serde_json::Value::Null),
        output: output.and_then(|o| serde_json::from_str(&o).ok()),
        error: row.get(9)?,
        cause: row.get(10)?,
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
}

impl SqliteStore {
    /// [`RecordStore::get`] without the future, for callers on a blocking thread.
    pub fn record(&self, bucket: &str, key: &str) -> Result<Option<ImageRecord>, StoreError> {
        let id = record_id(bucket, key);
        let json: Option<String> = self
            .lock()
            .query_row(
                "SELECT record FROM records WHERE id = ?1",
                params![id],
                |row| row.get(0),
            )
            .optional()
            .map_err(store_error("reading a record"))?;
        json.map(|j| {
            serde_json::from_str(&j).map_err(|e| StoreError::new("parsing a stored record", e))
        })
        .transpose()
    }
}
