//! The local adapters: the folder reader never leaves its folder; the SQLite store passes the
//! shared store suite, survives reopening, and keeps executions.

use chrono::Utc;
use spotlight_core::contracts::RecordStatus;
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
        status: "SUCCEEDED".into(),
        start_time: Utc::now(),
        stop_time: Some(Utc::now()),
        input: serde_json::json!({"bucket": record.bucket, "key": "a.jpg"}),
        output: Some(serde_json::json!({"ok": true})),
        error: None,
        cause: None,
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
        status: Some("failed".into()),
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
