//! The local adapters: the folder reader never leaves its folder; the SQLite store passes the
//! shared store suite, survives reopening, and keeps executions.

use chrono::Utc;
use spotlight_core::contracts::{ExecutionStatus, RecordStatus};
use spotlight_core::fakes::label;
use spotlight_core::ports::{ObjectReader, ReadError, RecordStore};
use spotlight_core::store_suite::{check_store, suite_record};
use spotlight_storage::{ExecutionFilter, ExecutionSummary, FolderObjects, SqliteStore};

#[tokio::test]
async fn the_sqlite_store_passes_the_store_suite() {
    check_store(&SqliteStore::in_memory().unwrap()).await;
}

#[tokio::test]
async fn a_sqlite_file_keeps_records_and_executions_across_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spotlight.sqlite");
    let record = suite_record(
        "a.jpg",
        1,
        1,
        RecordStatus::Analyzed,
        true,
        vec![label("Dog", 90.0, &[])],
        "",
    );
    let execution = ExecutionSummary {
        id: "exec-1".into(),
        bucket: record.bucket.clone(),
        key: record.key.clone(),
        record_id: record.id.clone(),
        status: ExecutionStatus::Succeeded,
        start_time: Utc::now(),
        stop_time: Some(Utc::now()),
        input: serde_json::json!({"bucket": record.bucket, "key": "a.jpg"}),
        output: Some(serde_json::json!({"ok": true})),
        error: None,
        cause: None,
        redrive_count: 0,
    };
    {
        let store = SqliteStore::open(&path).unwrap();
        store.put(&record).await.unwrap();
        store.remember_folder("/photos").unwrap();
        store
            .save_execution(
                &execution,
                Some(&serde_json::json!({"events": [{"type": "ExecutionStarted"}]})),
            )
            .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.get(&record.bucket, "a.jpg").await.unwrap(),
        Some(record.clone())
    );
    assert_eq!(store.folders().unwrap(), ["/photos"]);
    let listed = store.executions(&ExecutionFilter::default()).unwrap();
    assert_eq!(listed, std::slice::from_ref(&execution));
    let (found, history) = store.execution("exec-1").unwrap().unwrap();
    assert_eq!(found, execution);
    assert_eq!(history.unwrap()["events"][0]["type"], "ExecutionStarted");
    let failed_only = ExecutionFilter {
        status: Some(ExecutionStatus::Failed),
        ..ExecutionFilter::default()
    };
    assert!(store.executions(&failed_only).unwrap().is_empty());
    let window = |since: &str, until: &str| ExecutionFilter {
        since: Some(since.parse().unwrap()),
        until: Some(until.parse().unwrap()),
        ..ExecutionFilter::default()
    };
    let around = execution.start_time;
    let listed = store
        .executions(&window(
            &(around - chrono::Duration::seconds(1)).to_rfc3339(),
            &(around + chrono::Duration::seconds(1)).to_rfc3339(),
        ))
        .unwrap();
    assert_eq!(listed.len(), 1);
    let listed = store
        .executions(&window(
            &(around - chrono::Duration::seconds(2)).to_rfc3339(),
            &around.to_rfc3339(),
        ))
        .unwrap();
    assert!(
        listed.is_empty(),
        "until excludes an execution started at that time"
    );
    assert_eq!(store.saved_themes().unwrap(), None);
    store.save_themes(r#"{"themes":{"a":["A"]}}"#).unwrap();
    store.save_themes(r#"{"themes":{"b":["B"]}}"#).unwrap();
    assert_eq!(
        store.saved_themes().unwrap().as_deref(),
        Some(r#"{"themes":{"b":["B"]}}"#)
    );
    // WAL is a property of the file: a second, plain connection sees it.
    let plain = rusqlite::Connection::open(&path).unwrap();
    let journal: String = plain
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
}

#[tokio::test]
async fn a_folder_reads_files_by_relative_key_and_never_escapes() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.jpg"), b"secret").unwrap();
    std::fs::create_dir_all(root.path().join("sub dir")).unwrap();
    std::fs::write(root.path().join("sub dir/ünï +1.jpg"), b"0123456789").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        outside.path().join("secret.jpg"),
        root.path().join("link.jpg"),
    )
    .unwrap();
    let bucket = std::fs::canonicalize(root.path())
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let objects = FolderObjects::new();

    let head = objects.head(&bucket, "sub dir/ünï +1.jpg").await.unwrap();
    assert_eq!(head.size, 10);
    assert!(head.last_modified.is_some() && head.etag.is_some());
    assert_eq!(
        objects
            .read_range(&bucket, "sub dir/ünï +1.jpg", 2..5)
            .await
            .unwrap(),
        b"234"
    );
    assert_eq!(
        objects
            .read_range(&bucket, "sub dir/ünï +1.jpg", 8..100)
            .await
            .unwrap(),
        b"89"
    );
    assert!(objects
        .read_range(&bucket, "sub dir/ünï +1.jpg", 50..60)
        .await
        .unwrap()
        .is_empty());

    let secret = outside
        .path()
        .join("secret.jpg")
        .to_string_lossy()
        .into_owned();
    let escapes = [
        "../secret.jpg".to_owned(),
        "sub dir/../../secret.jpg".to_owned(),
        secret,
        "link.jpg".to_owned(),
        "sub dir".to_owned(),
        String::new(),
        "missing.jpg".to_owned(),
    ];
    for key in escapes {
        assert!(
            matches!(
                objects.head(&bucket, &key).await,
                Err(ReadError::NotFound(_))
            ),
            "{key:?} must not be readable"
        );
        assert!(matches!(
            objects.read_range(&bucket, &key, 0..4).await,
            Err(ReadError::NotFound(_))
        ));
    }
}

fn running(id: &str, key: &str) -> ExecutionSummary {
    ExecutionSummary {
        id: id.into(),
        bucket: "/photos".into(),
        key: key.into(),
        record_id: spotlight_core::record_id("/photos", key),
        status: ExecutionStatus::Running,
        start_time: Utc::now(),
        stop_time: None,
        input: serde_json::json!({"bucket": "/photos", "key": key}),
        output: None,
        error: None,
        cause: None,
        redrive_count: 0,
    }
}

#[test]
fn a_running_execution_is_aborted_once_its_owner_is_gone_never_before() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spotlight.sqlite");
    let owner = SqliteStore::open(&path).unwrap();
    owner
        .save_execution(&running("exec-1", "a.jpg"), None)
        .unwrap();
    let finished = ExecutionSummary {
        status: ExecutionStatus::Succeeded,
        stop_time: Some(Utc::now()),
        ..running("exec-2", "b.jpg")
    };
    owner
        .save_execution(&running("exec-2", "b.jpg"), None)
        .unwrap();
    owner.save_execution(&finished, None).unwrap();

    // Another opener while the owner lives: its execution is left running.
    let other = SqliteStore::open(&path).unwrap();
    assert_eq!(other.abort_abandoned().unwrap(), 0);
    let statuses = |store: &SqliteStore| {
        store
            .executions(&ExecutionFilter::default())
            .unwrap()
            .into_iter()
            .map(|e| (e.id, e.status))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    assert_eq!(statuses(&other)["exec-1"], ExecutionStatus::Running);

    // The owner goes without ending it (as a `run` that stopped at an error leaves the
    // photos still in flight); SIGKILL is the CLI's crash test.
    drop(owner);
    let aborted = other
        .executions(&ExecutionFilter {
            status: Some(ExecutionStatus::Aborted),
            ..ExecutionFilter::default()
        })
        .unwrap();
    assert_eq!(aborted.len(), 1, "{aborted:?}");
    assert_eq!(aborted[0].id, "exec-1");
    assert_eq!(aborted[0].error.as_deref(), Some("ExecutionAbandoned"));
    let cause = aborted[0].cause.as_deref().unwrap();
    assert!(
        cause.contains(&format!("pid {}", std::process::id())) && cause.contains("spotlight run"),
        "{cause}"
    );
    assert!(aborted[0].stop_time.is_some());
    assert_eq!(statuses(&other)["exec-2"], ExecutionStatus::Succeeded);
    // Reopening finds nothing more to do, and the lock files are gone.
    assert_eq!(
        SqliteStore::open(&path).unwrap().abort_abandoned().unwrap(),
        0
    );
    let owners = dir.path().join(".spotlight.sqlite.owners");
    assert_eq!(std::fs::read_dir(owners).unwrap().count(), 0);
}

#[test]
fn a_store_made_before_owners_opens_and_keeps_its_executions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    let old = rusqlite::Connection::open(&path).unwrap();
    old.execute_batch(
        "CREATE TABLE executions (id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL,
             record_id TEXT NOT NULL, status TEXT NOT NULL, start_time TEXT NOT NULL,
             stop_time TEXT, input TEXT NOT NULL, output TEXT, error TEXT, cause TEXT,
             history TEXT);
         INSERT INTO executions VALUES ('old-1', '/p', 'a.jpg', 'r', 'RUNNING',
             '2024-01-01T00:00:00+00:00', NULL, '{}', NULL, NULL, NULL, NULL);",
    )
    .unwrap();
    drop(old);
    let store = SqliteStore::open(&path).unwrap();
    // Without an owner it cannot be judged: left as it was.
    let listed = store.executions(&ExecutionFilter::default()).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, ExecutionStatus::Running);
    store
        .save_execution(&running("new-1", "b.jpg"), None)
        .unwrap();
    assert_eq!(
        store.executions(&ExecutionFilter::default()).unwrap().len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_connections_opening_and_writing_one_new_store_at_once_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.sqlite");
    let start = std::sync::Arc::new(std::sync::Barrier::new(8));
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let (path, start) = (path.clone(), std::sync::Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                // Opening a new file races to turn it to WAL, which takes an exclusive lock.
                let store = SqliteStore::open(&path).map_err(|e| format!("open: {e}"))?;
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                for n in 0..40 {
                    // Half the keys are shared by all writers, as two `run`s of one folder.
                    let key = if n % 2 == 0 {
                        format!("shared-{n}.jpg")
                    } else {
                        format!("own-{writer}-{n}.jpg")
                    };
                    let record = suite_record(
                        &key,
                        n,
                        1,
                        RecordStatus::Analyzed,
                        true,
                        vec![label("Dog", 90.0, &[])],
                        "hello world",
                    );
                    runtime
                        .block_on(store.put(&record))
                        .map_err(|e| format!("put: {e}"))?;
                    store
                        .save_execution(&running(&format!("e-{writer}-{n}"), &key), None)
                        .map_err(|e| format!("execution: {e}"))?;
                }
                Ok::<(), String>(())
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap().unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let all = spotlight_core::ports::SearchQuery {
        safe_only: false,
        ..Default::default()
    };
    assert_eq!(store.find(&all).unwrap().records.len(), 20 + 8 * 20);
    assert_eq!(
        store.executions(&ExecutionFilter::default()).unwrap().len(),
        8 * 40
    );
}

#[test]
fn a_redrive_claims_a_stopped_execution_once_and_an_old_store_gets_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spotlight.sqlite");
    // A store from before redrives: no redrive_count column.
    let old = rusqlite::Connection::open(&path).unwrap();
    old.execute_batch(
        "CREATE TABLE executions (id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL,
             record_id TEXT NOT NULL, status TEXT NOT NULL, start_time TEXT NOT NULL,
             stop_time TEXT, input TEXT NOT NULL, output TEXT, error TEXT, cause TEXT,
             history TEXT, owner TEXT);
         INSERT INTO executions VALUES ('failed-1', '/p', 'a.jpg', 'r', 'FAILED',
             '2024-01-01T00:00:00+00:00', '2024-01-01T00:00:01+00:00', '{}', NULL,
             'AnalyzerFailed', 'slow', NULL, NULL);",
    )
    .unwrap();
    drop(old);
    let store = SqliteStore::open(&path).unwrap();
    let (failed, _) = store.execution("failed-1").unwrap().unwrap();
    assert_eq!(failed.redrive_count, 0);

    // Claimed with the count read: RUNNING again, one more; a second claim with the same
    // count (another redrive at the same moment) is refused.
    assert!(store.begin_redrive("failed-1", 0).unwrap());
    let (claimed, _) = store.execution("failed-1").unwrap().unwrap();
    assert_eq!(claimed.status, ExecutionStatus::Running);
    assert_eq!(claimed.stop_time, None);
    assert_eq!(claimed.redrive_count, 1);
    assert!(!store.begin_redrive("failed-1", 0).unwrap());
    assert!(
        !store.begin_redrive("failed-1", 1).unwrap(),
        "it is RUNNING"
    );

    // Saved as it ended, the count kept; a succeeded one is never claimed.
    let ended = ExecutionSummary {
        status: ExecutionStatus::Succeeded,
        stop_time: Some(Utc::now()),
        ..claimed
    };
    store.save_execution(&ended, None).unwrap();
    let listed = store.executions(&ExecutionFilter::default()).unwrap();
    assert_eq!(listed[0].redrive_count, 1);
    assert!(!store.begin_redrive("failed-1", 1).unwrap());
    assert!(!store.begin_redrive("no-such", 0).unwrap());
}
