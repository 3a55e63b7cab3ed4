//! What the CLI's end-to-end tests share: the built `spotlight` binary on a store, the
//! repository root, the models check, and readers of a command's output.

// Each test binary compiles this module and uses part of it.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The repository root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The built `spotlight` on `store`, with the shared model cache, and none of the settings a
/// developer's shell may carry that would change what the test sees.
pub fn spotlight(store: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_spotlight"));
    command
        .env("SPOTLIGHT_MODEL_DIR", spotlight_testkit::models::dir())
        .env_remove("SPOTLIGHT_STORE")
        .env_remove("SPOTLIGHT_ANALYSIS_DEADLINE")
        .env_remove("SPOTLIGHT_WEBHOOK")
        .arg("--store")
        .arg(store);
    command
}

/// Whether the models are there (fetching them when the run requires them).
pub fn models_ready() -> bool {
    spotlight_testkit::models::ready(Path::new(env!("CARGO_BIN_EXE_spotlight")))
}

/// A finished command's exit code and output, for assertion messages.
pub fn output_text(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `--json` output: one object a line.
pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Starts `command` (a `run --json`), waits for its first per-photo result, then kills it with
/// SIGKILL (no handler, no cleanup: as a crash) and returns that result.
pub fn first_result_then_kill(command: &mut Command) -> Value {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    serde_json::from_str(&first).unwrap()
}
