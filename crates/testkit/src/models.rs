//! The models for the CLI's end-to-end tests: where they are, and whether they are there.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Environment variable: when set, the tests fetch the models and fail without them.
pub const ENV_REQUIRE_MODELS: &str = "SPOTLIGHT_REQUIRE_MODELS";

/// The model cache the tests use: `SPOTLIGHT_MODEL_DIR` (relative to the workspace when
/// relative), else (unset or empty) `<workspace>/target/models`.
pub fn dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match std::env::var_os("SPOTLIGHT_MODEL_DIR") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        Some(dir) if !dir.is_empty() => workspace.join(dir),
        _ => workspace.join("target/models"),
    }
}

/// Why a test that needs the models does not run, for [`crate::skip::skipped`].
pub fn absent(detail: impl std::fmt::Display) -> String {
    format!(
        "models not found at {} ({detail}); set SPOTLIGHT_MODEL_DIR or run `spotlight models \
         fetch` ({ENV_REQUIRE_MODELS}=1 makes this a failure)",
        dir().display()
    )
}

/// Whether the models are in [`dir`], asking the `spotlight` binary once per test process:
/// with [`ENV_REQUIRE_MODELS`] set it fetches them (and panics if that fails); otherwise a
/// missing model makes the caller skip, and each caller that skips says so on the terminal
/// ([`crate::skip`]).
pub fn ready(spotlight: &Path) -> bool {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        if std::env::var_os(ENV_REQUIRE_MODELS).is_some() {
            let status = Command::new(spotlight)
                .env("SPOTLIGHT_MODEL_DIR", dir())
                .args(["models", "fetch"])
                .status()
                .unwrap_or_else(|e| panic!("running {}: {e}", spotlight.display()));
            assert!(status.success(), "spotlight models fetch failed");
            return Ok(());
        }
        let listed = Command::new(spotlight)
            .env("SPOTLIGHT_MODEL_DIR", dir())
            .args(["models", "list", "--json"])
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", spotlight.display()));
        let missing: Vec<String> = String::from_utf8_lossy(&listed.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m["optional"] != true && m["state"] != "present")
            .map(|m| m["name"].as_str().unwrap_or("a model").to_owned())
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(absent(format!("missing: {}", missing.join(", "))))
        }
    });
    match ready {
        Ok(()) => true,
        Err(reason) => {
            crate::skip::skipped(reason);
            false
        }
    }
}
