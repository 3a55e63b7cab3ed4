//! The inference engine behind one trait: ONNX Runtime, through the `ort` crate, loading the
//! shared library fetched from the `onnxruntime` wheel. The analysers only see [`Engine`] and
//! [`Model`] (a float tensor in, float tensors out), so another engine needs no analyser change.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// A dense float32 tensor, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// The dimensions.
    pub shape: Vec<usize>,
    /// The values, `shape.iter().product()` of them.
    pub data: Vec<f32>,
}

impl Tensor {
    /// A tensor; fails when `data` does not fill `shape`.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Self, EngineError> {
        if shape.iter().product::<usize>() != data.len() {
            return Err(EngineError::new(format!(
                "tensor of shape {shape:?} given {} values",
                data.len()
            )));
        }
        Ok(Tensor { shape, data })
    }
}

/// An engine failure: loading a library or a model, or running one.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct EngineError {
    message: String,
}

impl EngineError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        EngineError {
            message: message.into(),
        }
    }
}

/// A loaded model with one float input.
pub trait Model: Send + Sync {
    /// Runs the model on `input`; the outputs in the model's order.
    fn run(&self, input: Tensor) -> Result<Vec<Tensor>, EngineError>;
    /// A custom metadata property of the ONNX file (e.g. the recogniser's `character`).
    fn metadata(&self, key: &str) -> Result<Option<String>, EngineError>;
}

/// Loads models.
pub trait Engine: Send + Sync {
    /// e.g. `onnxruntime (libonnxruntime.so.1.32.0, 1 thread per run)`.
    fn name(&self) -> String;
    /// Loads the ONNX file at `path`.
    fn load(&self, path: &Path) -> Result<Box<dyn Model>, EngineError>;
    /// Loads an ONNX model from its bytes (already checked against their pinned hash);
    /// `origin` names it in errors.
    fn load_bytes(&self, origin: &Path, bytes: &[u8]) -> Result<Box<dyn Model>, EngineError>;
    /// [`load_bytes`](Engine::load_bytes) for a model that may run on `runs` images at once
    /// (an engine whose models run one image at a time loads it that many times).
    fn load_bytes_for(
        &self,
        origin: &Path,
        bytes: &[u8],
        runs: usize,
    ) -> Result<Box<dyn Model>, EngineError> {
        let _ = runs;
        self.load_bytes(origin, bytes)
    }
}

/// ONNX Runtime, loaded at run time from a shared library (`load-dynamic`), every session
/// sharing one pool of intra-op threads.
#[derive(Debug)]
pub struct OrtEngine {
    library: PathBuf,
    intra_threads: usize,
}

/// ONNX Runtime allows one environment per process, so the first library loaded is the one used.
static ORT_ENVIRONMENT: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

impl OrtEngine {
    /// Loads ONNX Runtime from `library` with a pool of `intra_threads` threads. ONNX Runtime
    /// allows one environment per process: the first call's library and thread count hold for
    /// the life of the process.
    pub fn new(library: &Path, intra_threads: usize) -> Result<Self, EngineError> {
        let env = ORT_ENVIRONMENT.get_or_init(|| {
            let builder = ort::init_from(library).map_err(|e| {
                format!(
                    "could not load ONNX Runtime from {}: {e}",
                    library.display()
                )
            })?;
            // One pool of `intra_threads` threads shared by every session: with a pool per
            // session, the pool of the model that just ran keeps spinning on the two cores while
            // the next model's pool starts, and the whole-image time suffers. (The options can
            // only be made once the library is loaded.)
            let pool = ort::environment::GlobalThreadPoolOptions::default()
                .with_intra_threads(intra_threads)
                .and_then(|p| p.with_inter_threads(1))
                // A spinning pool thread takes the core another photo's analysis could use.
                .and_then(|p| p.with_spin_control(false))
                .map_err(|e| format!("could not configure ONNX Runtime's threads: {e}"))?;
            builder
                .with_name("spotlight")
                .with_global_thread_pool(pool)
                .build()
                .map_err(|e| format!("could not start ONNX Runtime: {e}"))
        });
        match env {
            Ok(_) => Ok(OrtEngine {
                library: library.to_path_buf(),
                intra_threads,
            }),
            Err(message) => Err(EngineError::new(message.clone())),
        }
    }

    fn environment(&self) -> Result<&'static ort::environment::Environment, EngineError> {
        match ORT_ENVIRONMENT.get() {
            Some(Ok(env)) => Ok(env),
            Some(Err(message)) => Err(EngineError::new(message.clone())),
            None => Err(EngineError::new("ONNX Runtime was not loaded")),
        }
    }
}

impl Engine for OrtEngine {
    fn name(&self) -> String {
        let file = self
            .library
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let threads = match self.intra_threads {
            1 => "1 thread per run".to_owned(),
            n => format!("{n} threads per run"),
        };
        format!("onnxruntime ({file}, {threads})")
    }

    fn load(&self, path: &Path) -> Result<Box<dyn Model>, EngineError> {
        let session = self
            .builder(path)?
            .commit_from_file(path)
            .map_err(|e| load_failed(path, e))?;
        Ok(Box::new(OrtModel::new(vec![Mutex::new(session)])))
    }

    fn load_bytes(&self, origin: &Path, bytes: &[u8]) -> Result<Box<dyn Model>, EngineError> {
        self.load_bytes_for(origin, bytes, 1)
    }

    /// One session per run at once: a session runs one image at a time.
    fn load_bytes_for(
        &self,
        origin: &Path,
        bytes: &[u8],
        runs: usize,
    ) -> Result<Box<dyn Model>, EngineError> {
        // ONNX Runtime copies what it needs: the bytes may go once the session exists.
        let sessions = (0..runs.max(1))
            .map(|_| {
                self.builder(origin)?
                    .commit_from_memory(bytes)
                    .map(Mutex::new)
                    .map_err(|e| load_failed(origin, e))
            })
            .collect::<Result<_, _>>()?;
        Ok(Box::new(OrtModel::new(sessions)))
    }
}

impl OrtEngine {
    fn builder(&self, origin: &Path) -> Result<ort::session::builder::SessionBuilder, EngineError> {
        ort::session::Session::builder(self.environment()?)
            .map_err(|e| load_failed(origin, e))?
            .with_optimization_level(ort::session::builder::GraphOptimizationLevel::Level3)
            .map_err(|e| load_failed(origin, e.into()))?
            // ONNX Runtime's memory pattern plans and keeps one set of buffers per input shape;
            // every photo gives the text models new shapes, so the plans only pile up (peak
            // memory 689 → 467 MiB over a bench batch, at no measurable cost in time).
            .with_memory_pattern(false)
            .map_err(|e| load_failed(origin, e.into()))
    }
}

fn load_failed(origin: &Path, error: ort::Error) -> EngineError {
    EngineError::new(format!(
        "could not load model {}: {error}",
        origin.display()
    ))
}

struct OrtModel {
    // `Session::run` takes `&mut self`: one image at a time per session, so a model that may
    // run on several images at once has one session for each.
    sessions: Vec<Mutex<ort::session::Session>>,
    next: std::sync::atomic::AtomicUsize,
}

impl OrtModel {
    fn new(sessions: Vec<Mutex<ort::session::Session>>) -> Self {
        OrtModel {
            sessions,
            next: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// A free session if there is one, else the next in turn (waiting for it).
    fn session(&self) -> Result<std::sync::MutexGuard<'_, ort::session::Session>, EngineError> {
        let poisoned = |_| EngineError::new("a previous inference panicked");
        for session in &self.sessions {
            match session.try_lock() {
                Ok(guard) => return Ok(guard),
                Err(std::sync::TryLockError::WouldBlock) => continue,
                Err(std::sync::TryLockError::Poisoned(e)) => return Err(poisoned(e)),
            }
        }
        let turn = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.sessions
            .get(turn % self.sessions.len().max(1))
            .ok_or_else(|| EngineError::new("the model has no session"))?
            .lock()
            .map_err(poisoned)
    }
}

impl Model for OrtModel {
    fn run(&self, input: Tensor) -> Result<Vec<Tensor>, EngineError> {
        let fail = |e: ort::Error| EngineError::new(format!("inference failed: {e}"));
        let value = ort::value::Tensor::from_array((input.shape, input.data)).map_err(fail)?;
        let mut session = self.session()?;
        let outputs = session.run(ort::inputs![value]).map_err(fail)?;
        let mut tensors = Vec::with_capacity(outputs.len());
        for (_, value) in outputs.iter() {
            let (shape, data) = value.try_extract_tensor::<f32>().map_err(fail)?;
            let shape = shape
                .iter()
                .map(|&d| usize::try_from(d).unwrap_or(0))
                .collect();
            tensors.push(Tensor {
                shape,
                data: data.to_vec(),
            });
        }
        Ok(tensors)
    }

    fn metadata(&self, key: &str) -> Result<Option<String>, EngineError> {
        let session = self.session()?;
        let metadata = session
            .metadata()
            .map_err(|e| EngineError::new(format!("could not read model metadata: {e}")))?;
        Ok(metadata.custom(key))
    }
}
