//! The cache directory: where each model lives, and whether the file there is the pinned one
//! (hashed as it is read for loading).

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{io_err, ModelError, ModelId, ModelSpec, ENV_MODEL_DIR, ENV_ORT_LIB};

/// The model cache: one directory holding the verified files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelCache {
    dir: PathBuf,
}

impl ModelCache {
    /// A cache in `dir` (created by [`super::fetch`] when absent).
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
    /// the error that says to run [`super::FETCH_COMMAND`].
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

pub(super) fn non_empty_env(name: &str) -> Option<String> {
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

pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub(super) fn sha256_file(path: &Path) -> Result<String, ModelError> {
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
}
