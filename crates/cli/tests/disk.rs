//! A full disk and a read-only store (issue 18), on real file systems the test mounts: a tiny
//! tmpfs that fills up under `spotlight run`, and the same tmpfs remounted read-only.
//!
//! Mounting needs root (CI runs as root). Without it these tests say they skipped, unless
//! `SPOTLIGHT_REQUIRE_ROOT` or `SPOTLIGHT_REQUIRE_SERVERS` is set (the test command sets the
//! latter): then they fail.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use common::{first_result_then_kill, json_lines, output_text, spotlight, workspace};

/// A tmpfs of a given size mounted on a fresh folder; unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (after saying so) when mounting is refused and no variable requires it.
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output();
        let refused = match &mounted {
            Ok(output) if output.status.success() => return Some(Tmpfs { dir }),
            Ok(output) => String::from_utf8_lossy(&output.stderr).into_owned(),
            Err(e) => e.to_string(),
        };
        let required = ["SPOTLIGHT_REQUIRE_ROOT", "SPOTLIGHT_REQUIRE_SERVERS"]
            .iter()
            .any(|v| std::env::var_os(v).is_some());
        assert!(
            !required,
            "cannot mount a tmpfs (root is needed; SPOTLIGHT_REQUIRE_ROOT or \
             SPOTLIGHT_REQUIRE_SERVERS is set): {refused}"
        );
        eprintln!("SKIPPED: cannot mount a tmpfs (needs root): {refused}");
        None
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(self.path())
            .status()
            .unwrap();
        assert!(status.success(), "remount,{options}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.path()).status();
    }
}

/// `count` photos the validator rejects quickly (1×1 PNGs), so that filling the disk costs no
/// analysis time: each still gets its execution, history and record.
fn tiny_photos(folder: &Path, count: usize) -> Vec<PathBuf> {
    std::fs::create_dir_all(folder).unwrap();
    (0..count)
        .map(|i| {
            let path = folder.join(format!("tiny-{i:02}.png"));
            std::fs::write(&path, spotlight_fixtures::png(1, 1)).unwrap();
            path
        })
        .collect()
}

fn open(store: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(store, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap()
}

fn integrity(store: &Path) -> String {
    open(store)
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap()
}

/// Every record, by its photo's path, as stored (its JSON parsed: a half-written one would not
/// parse).
fn records(store: &Path) -> std::collections::BTreeMap<String, Value> {
    let connection = open(store);
    let mut statement = connection
        .prepare("SELECT bucket || '/' || key, record FROM records")
        .unwrap();
    let rows = statement
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })
        .unwrap();
    rows.map(|row| {
        let (key, json) = row.unwrap();
        (key, serde_json::from_str(&json).unwrap())
    })
    .collect()
}

/// Fills `dir`'s file system, then frees `leave` bytes.
fn fill(dir: &Path, leave: u64) -> PathBuf {
    let filler = dir.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let block = vec![0xA5u8; 4096];
    while file.write_all(&block).is_ok() {}
    let len = file.metadata().unwrap().len();
    file.set_len(len.saturating_sub(leave)).unwrap();
    filler
}

#[test]
fn a_full_disk_stops_run_naming_the_store_and_the_photos_not_written_and_keeps_the_rest() {
    if !spotlight_testkit::models::ready(Path::new(env!("CARGO_BIN_EXE_spotlight"))) {
        return;
    }
    let Some(disk) = Tmpfs::mount("8m") else {
        return;
    };
    let photos = tempfile::tempdir().unwrap();
    let store = disk.path().join("spotlight.sqlite");

    // Room enough: the first photos are written.
    let first = photos.path().join("first");
    tiny_photos(&first, 3);
    std::fs::copy(
        workspace().join("samples/photos/coffee.jpg"),
        first.join("coffee.jpg"),
    )
    .unwrap();
    let run = spotlight(&store)
        .args(["run", "--offline", "--json"])
        .arg(&first)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", output_text(&run));
    let before = records(&store);
    assert_eq!(before.len(), 4, "{before:?}");

    // Then the disk fills up under the next run.
    let second = photos.path().join("second");
    let batch = tiny_photos(&second, 40);
    // SQLite's -shm takes 32 KiB of it; the WAL gets the rest, a few photos' worth.
    let filler = fill(disk.path(), 96 * 1024);
    let run = spotlight(&store)
        .args(["run", "--offline", "--json"])
        .arg(&second)
        .output()
        .unwrap();
    let said = output_text(&run);
    assert_eq!(run.status.code(), Some(2), "{said}");
    let stderr = String::from_utf8_lossy(&run.stderr);
    let canonical = std::fs::canonicalize(&store).unwrap();
    assert!(
        stderr.contains(&format!("the store {} is full", canonical.display()))
            && stderr.contains("free some space"),
        "{said}"
    );
    let not_written: BTreeSet<PathBuf> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("not written: "))
        .map(PathBuf::from)
        .collect();
    assert!(!not_written.is_empty(), "{said}");
    assert!(
        stderr.contains(&format!(
            "{} of {} photos were not written",
            not_written.len(),
            batch.len()
        )),
        "{said}"
    );

    // Nothing written before is lost, nothing is half written, and every photo of the run is
    // either written whole or named as not written.
    assert_eq!(integrity(&store), "ok");
    let after = records(&store);
    for (key, record) in &before {
        assert_eq!(after.get(key), Some(record), "{key} changed or was lost");
    }
    for photo in &batch {
        let canonical = std::fs::canonicalize(photo).unwrap();
        let key = canonical.to_string_lossy().into_owned();
        match after.get(&key) {
            Some(record) if record["status"] == "REJECTED" => {
                assert!(!not_written.contains(&canonical), "{key} is written");
            }
            _ => assert!(not_written.contains(&canonical), "{key}: {said}"),
        }
    }
    eprintln!(
        "disk full after {} of {} photos; {} named as not written",
        batch.len() - not_written.len(),
        batch.len(),
        not_written.len()
    );

    // Space again: the same run finishes the rest, one record per photo.
    std::fs::remove_file(filler).unwrap();
    let rerun = spotlight(&store)
        .args(["run", "--offline", "--json"])
        .arg(&second)
        .output()
        .unwrap();
    assert_eq!(rerun.status.code(), Some(0), "{}", output_text(&rerun));
    assert_eq!(integrity(&store), "ok");
    let last = records(&store);
    assert_eq!(last.len(), before.len() + batch.len());
    let ids: BTreeSet<&str> = last.values().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), last.len());
}

#[test]
fn a_read_only_store_serves_searches_and_refuses_writes_naming_itself() {
    if !spotlight_testkit::models::ready(Path::new(env!("CARGO_BIN_EXE_spotlight"))) {
        return;
    }
    let Some(disk) = Tmpfs::mount("16m") else {
        return;
    };
    let photos = tempfile::tempdir().unwrap();
    let folder = photos.path().join("photos");
    tiny_photos(&folder, 1);
    for name in ["coffee.jpg", "rocket.jpg"] {
        std::fs::copy(
            workspace().join("samples/photos").join(name),
            folder.join(name),
        )
        .unwrap();
    }
    let store = disk.path().join("spotlight.sqlite");
    let run = spotlight(&store)
        .args(["run", "--offline", "--json"])
        .arg(&folder)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", output_text(&run));

    // A last photo whose run is killed once its record is in: its commit sits in the WAL, which
    // a read-only open must still read (an `immutable` open would not).
    let late = photos.path().join("late");
    tiny_photos(&late, 1);
    for name in ["chelsea.jpg", "china.jpg"] {
        std::fs::copy(
            workspace().join("samples/photos").join(name),
            late.join(name),
        )
        .unwrap();
    }
    let killed_after = first_result_then_kill(
        spotlight(&store)
            .args(["run", "--offline", "--json", "--concurrency", "1"])
            .arg(&late),
    );
    let mut wal = store.as_os_str().to_owned();
    wal.push("-wal");
    assert!(
        std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0),
        "the killed run left its WAL"
    );

    disk.remount("ro");
    let before = std::fs::read(&store).unwrap();

    let search = spotlight(&store)
        .args(["search", "--include-unsafe", "--json"])
        .output()
        .unwrap();
    assert_eq!(search.status.code(), Some(0), "{}", output_text(&search));
    let found: BTreeSet<String> = json_lines(&String::from_utf8_lossy(&search.stdout))
        .iter()
        .map(|r| r["record"]["key"].as_str().unwrap().to_owned())
        .collect();
    for key in ["coffee.jpg", "rocket.jpg", "tiny-00.png"] {
        assert!(found.contains(key), "{key}: {}", output_text(&search));
    }
    let late_key = killed_after["key"].as_str().unwrap();
    assert!(found.contains(late_key), "the WAL's {late_key}: {found:?}");

    let show = spotlight(&store)
        .args(["show", "--json"])
        .arg(folder.join("coffee.jpg"))
        .output()
        .unwrap();
    assert_eq!(show.status.code(), Some(0), "{}", output_text(&show));
    let executions = spotlight(&store)
        .args(["executions", "list", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        executions.status.code(),
        Some(0),
        "{}",
        output_text(&executions)
    );
    assert!(
        json_lines(&String::from_utf8_lossy(&executions.stdout)).len() >= 4,
        "{}",
        output_text(&executions)
    );

    let console = spotlight_testkit::console::Console::serve(
        Path::new(env!("CARGO_BIN_EXE_spotlight")),
        &store,
        &[],
    );
    let (status, body) = console.get("/", &[]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("coffee.jpg"), "{body}");
    let (status, body) = console.get("/api/records?includeUnsafe=true", &[]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("rocket.jpg"), "{body}");
    let (status, body) = console.get("/executions", &[]);
    assert_eq!(status, 200, "{body}");
    drop(console);

    // A write is refused at once, naming the store, before any photo or model is touched:
    // with no models at all it never gets far enough to miss them.
    let no_models = photos.path().join("no-models");
    std::fs::create_dir_all(&no_models).unwrap();
    let more = photos.path().join("more");
    tiny_photos(&more, 2);
    let run = spotlight(&store)
        .env("SPOTLIGHT_MODEL_DIR", &no_models)
        .args(["run", "--offline"])
        .arg(&more)
        .output()
        .unwrap();
    let said = output_text(&run);
    assert_eq!(run.status.code(), Some(2), "{said}");
    let canonical = std::fs::canonicalize(&store).unwrap();
    assert!(
        said.contains(&format!("the store {} is read-only", store.display()))
            || said.contains(&format!("the store {} is read-only", canonical.display())),
        "{said}"
    );
    assert!(!said.contains("model"), "stopped before the models: {said}");
    assert!(run.stdout.is_empty(), "{said}");
    assert_eq!(std::fs::read(&store).unwrap(), before);
}
