//! Hostile files through the real `spotlight` binary (issue 18): files built to hurt a decoder,
//! a file that grows while it is read, a FIFO named `.jpg`, symlink loops in a watched folder.
//! Each gets exactly one REJECTED or FAILED record with a clear reason, and the process ends on
//! its own. A process still running after [`CEILING`] is killed and fails the test: only a hang
//! gets near it. Each file's wall time and peak RSS (from `wait4`) are printed, never asserted.
//!
//! Needs the models, like `e2e.rs` (the pipeline loads them before reading any photo).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use spotlight_fixtures as fixtures;

use common::{models_ready, spotlight};

/// Far above any photo's time (about 2 s with the models' loading); reached only by a hang.
const CEILING: Duration = Duration::from_secs(60);

struct Measured {
    code: Option<i32>,
    wall: Duration,
    peak_rss_mib: f64,
    stdout: String,
    stderr: String,
}

/// Runs `command` to its end, or kills it at [`CEILING`] and panics; its peak RSS comes from
/// the kernel's accounting of the reaped child (`wait4`), so nothing is missed between polls.
// The child is reaped by `wait4` (for its rusage), which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn run_measured(mut command: Command, what: &str) -> Measured {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command.spawn().expect("spawn spotlight");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let pid = child.id() as libc::pid_t;
    let (status, usage) = loop {
        let mut status = 0;
        // SAFETY: an all-zero rusage is valid; wait4 writes it for our own child.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if reaped == pid {
            break (status, usage);
        }
        assert!(reaped == 0, "wait4: {}", std::io::Error::last_os_error());
        if started.elapsed() > CEILING {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {CEILING:?}, killed (a hang)");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let wall = started.elapsed();
    Measured {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        wall,
        // ru_maxrss is in KiB on Linux.
        peak_rss_mib: usage.ru_maxrss as f64 / 1024.0,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// The stored record of `key` in `folder`, through `spotlight show`.
fn record(store: &Path, folder: &Path, key: &str) -> Value {
    let output = spotlight(store)
        .args(["show", "--json"])
        .arg(spotlight_core::record_id(&folder.to_string_lossy(), key))
        .output()
        .expect("spotlight show");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "show {key}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Every record's key in the store, once per record: REJECTED, FAILED and ANALYZED (unsafe too).
fn all_keys(store: &Path) -> Vec<String> {
    let mut keys = Vec::new();
    for status in ["rejected", "failed", "analyzed"] {
        let output = spotlight(store)
            .args(["search", "--include-unsafe", "--json", "--status", status])
            .output()
            .expect("spotlight search");
        assert!(output.status.success(), "search --status {status}");
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            keys.push(
                value["record"]["key"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
    }
    keys.sort();
    keys
}

/// A file written in 4 KiB appends every 2 ms, as an upload in progress: a real JPEG, then
/// noise, so that at no moment is it a complete image. Its end marker falls 2 KiB before the end
/// of an append and 1,000 bytes past a page boundary (a reader may see a write half done, but
/// only up to a page), and the noise holds no `FF` byte, so no tail the reader sees can hold an
/// end marker. Stops at `stop` or after 8 MB.
fn grow(path: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    let image = fixtures::jpeg(1200, 900);
    // A comment segment after SOI puts the JPEG's length at 1,000 past a multiple of 4,096.
    let padding = (1000 + 2 * 4096 - (image.len() + 4) % 4096) % 4096;
    let mut jpeg = image[..2].to_vec();
    jpeg.extend_from_slice(&[0xff, 0xfe]);
    jpeg.extend_from_slice(&((padding + 2) as u16).to_be_bytes());
    jpeg.extend(std::iter::repeat_n(b' ', padding));
    jpeg.extend_from_slice(&image[2..]);
    assert_eq!(jpeg.len() % 4096, 1000);
    let mut stream = jpeg.clone();
    stream.extend(
        fixtures::noise(8_000_000 - jpeg.len(), 18)
            .into_iter()
            .map(|b| b & 0x7f),
    );
    let first = jpeg.len() % 4096 + 2048;
    let mut file = std::fs::File::create(&path).expect("create the growing file");
    file.write_all(&stream[..first]).expect("first append");
    std::thread::spawn(move || {
        let mut written = first;
        for chunk in stream[first..].chunks(4096) {
            if stop.load(Ordering::Relaxed) || file.write_all(chunk).is_err() {
                break;
            }
            written += chunk.len();
            std::thread::sleep(Duration::from_millis(2));
        }
        written
    })
}

fn mkfifo(path: &Path) {
    let name = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("no NUL");
    // SAFETY: a valid NUL-terminated path.
    let made = unsafe { libc::mkfifo(name.as_ptr(), 0o644) };
    assert_eq!(made, 0, "mkfifo: {}", std::io::Error::last_os_error());
}

#[test]
fn each_hostile_file_gets_one_rejected_or_failed_record_in_bounded_time_and_memory() {
    if !models_ready() {
        eprintln!("skipped: no models (run `spotlight models fetch`)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = std::fs::canonicalize(dir.path())
        .expect("canonical")
        .join("hostile");
    std::fs::create_dir_all(&folder).expect("folder");
    let store = dir.path().join("spotlight.sqlite");

    // (file, bytes, the error name, words its cause must hold)
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "progressive-5000-scans.jpg",
            fixtures::progressive_jpeg_bomb(512, 512, 5_000),
            "ImageRejected.Corrupt",
            "5001 scans",
        ),
        (
            "declares-65535x65535.jpg",
            fixtures::jpeg_claiming(65_535, 65_535),
            "ImageRejected.TooLarge",
            "65535×65535",
        ),
        (
            "chunk-length-past-eof.png",
            fixtures::png_lying_chunk_length(1_000_000),
            "ImageRejected.Corrupt",
            "past the end of the file",
        ),
        (
            "chunk-length-huge.png",
            fixtures::png_lying_chunk_length(u32::MAX),
            "ImageRejected.Corrupt",
            "at most 2^31",
        ),
        (
            "ztxt-50mb.png",
            fixtures::png_metadata_bomb(b"zTXt", 50_000_000),
            "ImageRejected.TooLarge",
            "zTXt chunk inflates",
        ),
        (
            "iccp-50mb.png",
            fixtures::png_metadata_bomb(b"iCCP", 50_000_000),
            "ImageRejected.TooLarge",
            "iCCP chunk inflates",
        ),
        (
            "exif-ifd-loop.jpg",
            fixtures::jpeg_with_exif_loop(),
            "ImageRejected.Corrupt",
            "loop",
        ),
    ];
    for (name, bytes, _, _) in &cases {
        std::fs::write(folder.join(name), bytes).expect("write a hostile file");
    }
    mkfifo(&folder.join("fifo.jpg"));

    let mut table = vec![format!(
        "{:<28} {:>10} {:>8} {:>9}  outcome",
        "file", "bytes", "wall s", "peak MiB"
    )];
    let mut check = |name: &str, bytes: usize, expected: &[&str], words: &str| {
        let mut command = spotlight(&store);
        command.args(["run", "--json"]).arg(folder.join(name));
        let measured = run_measured(command, name);
        let record = record(&store, &folder, name);
        let status = record["status"].as_str().unwrap_or_default().to_owned();
        let error = record["error"]["error"].as_str().unwrap_or_default();
        let cause = record["error"]["cause"].as_str().unwrap_or_default();
        table.push(format!(
            "{name:<28} {bytes:>10} {:>8.2} {:>9.0}  {status} {error}: {cause}",
            measured.wall.as_secs_f64(),
            measured.peak_rss_mib
        ));
        assert!(
            measured.code.is_some(),
            "{name}: ended by a signal\n{}",
            measured.stderr
        );
        assert!(
            matches!(status.as_str(), "REJECTED" | "FAILED"),
            "{name}: {record}\n{}",
            measured.stdout
        );
        assert!(expected.contains(&error), "{name}: {error}: {cause}");
        assert!(cause.contains(words), "{name}: {cause}");
    };
    for (name, bytes, error, words) in &cases {
        check(name, bytes.len(), &[error], words);
    }
    check(
        "fifo.jpg",
        0,
        &["ImageRejected.NotFound"],
        "a FIFO (named pipe)",
    );

    // A file that grows while it is read: whatever moment the run looks, it is not a complete
    // image; the record says so and the run does not chase the writer.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = grow(folder.join("growing.jpg"), Arc::clone(&stop));
    check(
        "growing.jpg",
        0,
        &[
            "ImageRejected.Corrupt",
            "ImageRejected.TooLarge",
            "AnalyzerFailed",
        ],
        "",
    );
    stop.store(true, Ordering::Relaxed);
    let grown = writer.join().expect("writer");
    table.push(format!("(growing.jpg had grown to {grown} bytes)"));
    println!("{}", table.join("\n"));

    let mut expected: Vec<String> = cases.iter().map(|c| c.0.to_owned()).collect();
    expected.extend(["fifo.jpg".to_owned(), "growing.jpg".to_owned()]);
    expected.sort();
    assert_eq!(all_keys(&store), expected, "exactly one record per file");
}

#[test]
fn a_watched_folder_with_symlink_loops_and_a_fifo_never_hangs_and_records_each_once() {
    if !models_ready() {
        eprintln!("skipped: no models (run `spotlight models fetch`)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let inbox = std::fs::canonicalize(dir.path())
        .expect("canonical")
        .join("inbox");
    std::fs::create_dir_all(&inbox).expect("inbox");
    let store = dir.path().join("spotlight.sqlite");
    std::os::unix::fs::symlink("loop-b.jpg", inbox.join("loop-a.jpg")).expect("symlink");
    std::os::unix::fs::symlink("loop-a.jpg", inbox.join("loop-b.jpg")).expect("symlink");
    std::os::unix::fs::symlink("..", inbox.join("up")).expect("symlink");
    mkfifo(&inbox.join("pipe.jpg"));
    std::fs::write(inbox.join("ok.png"), fixtures::png(200, 150)).expect("photo");

    let started = Instant::now();
    let mut watch = spotlight(&store)
        .args(["watch", "--json", "--interval", "100"])
        .arg(&inbox)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn watch");
    let stdout = watch.stdout.take().expect("stdout");
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut results: Vec<Value> = Vec::new();
    while results.len() < 4 && started.elapsed() < CEILING {
        if let Ok(line) = received.recv_timeout(Duration::from_millis(200)) {
            results.push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")));
        }
    }
    // A few more polls: nothing is run twice, and `up` (the parent) is never walked into.
    std::thread::sleep(Duration::from_millis(600));
    while let Ok(line) = received.try_recv() {
        results.push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")));
    }
    let elapsed = started.elapsed();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(watch.id() as libc::pid_t, libc::SIGINT) };
    let status = watch.wait().expect("wait for watch");
    println!(
        "watch: {} results in {:.2} s, then stopped by SIGINT ({status})",
        results.len(),
        elapsed.as_secs_f64()
    );
    let mut keys: Vec<&str> = results
        .iter()
        .map(|r| r["key"].as_str().unwrap_or_default())
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["loop-a.jpg", "loop-b.jpg", "ok.png", "pipe.jpg"]);
    assert!(status.success(), "{status}");
    for (key, words) in [
        ("loop-a.jpg", "symbolic links"),
        ("loop-b.jpg", "symbolic links"),
        ("pipe.jpg", "a FIFO (named pipe), not a regular file"),
    ] {
        let record = record(&store, &inbox, key);
        assert_eq!(record["status"], "REJECTED", "{key}: {record}");
        assert_eq!(
            record["error"]["error"], "ImageRejected.NotFound",
            "{record}"
        );
        let cause = record["error"]["cause"].as_str().unwrap_or_default();
        assert!(cause.contains(words), "{key}: {cause}");
    }
    assert_eq!(
        all_keys(&store),
        ["loop-a.jpg", "loop-b.jpg", "ok.png", "pipe.jpg"],
        "one record each"
    );
}
