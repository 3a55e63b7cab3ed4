//! The models for the CLI's end-to-end tests: where they are, and whether they are there.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Environment variable: when set, the tests fetch the models and fail without them.
pub const ENV_REQUIRE_MODELS: &str = "SPOTLIGHT_REQUIRE_MODELS";

/// The model cache the tests use: `SPOTLIGHT_MODEL_DIR` (relative to the workspace when
/// relative), else `<workspace>/target/models`.
pub fn dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match std::env::var_os("SPOTLIGHT_MODEL_DIR") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        Some(dir) => workspace.join(dir),
        None => workspace.join("target/models"),
    }
}

/// Whether the models are in [`dir`], asking the `spotlight` binary once per test process:
/// with [`ENV_REQUIRE_MODELS`] set it fetches them (and panics if that fails); otherwise a
/// missing model makes the caller skip, with a notice.
pub fn ready(spotlight: &Path) -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        if std::env::var_os(ENV_REQUIRE_MODELS).is_some() {
            let status = Command::new(spotlight)
                .env("SPOTLIGHT_MODEL_DIR", dir())
                .args(["models", "fetch"])
                .status()
                .unwrap_or_else(|e| panic!("running {}: {e}", spotlight.display()));
            assert!(status.success(), "spotlight models fetch failed");
            return true;
        }
        let listed = Command::new(spotlight)
            .env("SPOTLIGHT_MODEL_DIR", dir())
            .args(["models", "list", "--json"])
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", spotlight.display()));
        let ready = String::from_utf8_lossy(&listed.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .all(|m| m["optional"] == true || m["state"] == "present");
        if !ready {
            eprintln!(
                "the models are not in {}: skipping (run `spotlight models fetch`)",
                dir().display()
            );
        }
        ready
    })
}
