//! The analysers behind the three detector ports, sharing one decoded image per upload.

use std::collections::VecDeque;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use image::RgbImage;
use serde::Serialize;
use spotlight_core::contracts::{ImageFacts, Label, ModelInfo, ModerationLabel, TextLine};
use spotlight_core::error::RejectReason;
use spotlight_core::policy::ModerationPolicy;
use spotlight_core::ports::{
    DetectError, LabelDetector, ModerationDetector, ObjectReader, ReadError, TextDetector,
};

use crate::engine::{Engine, EngineError, OrtEngine};
use crate::labels::{merge_labels, LabelModel};
use crate::models::{FileState, ModelCache, ModelError, ModelId};
use crate::moderation::{Detection, NudeNet, OpenNsfw};
use crate::objects::ObjectDetector;
use crate::text::TextModel;

/// Environment variable: the moderation model, `open-nsfw` (default) or `nudenet`.
pub const ENV_MODERATION_MODEL: &str = "SPOTLIGHT_MODERATION_MODEL";
/// Environment variable: `1` to report NudeNet's faces as `Person`/`Face` labels.
pub const ENV_FACES: &str = "SPOTLIGHT_FACES";
/// Environment variable: the confidence (percent, 0–100) below which moderation findings are
/// not reported, instead of the default 20.
pub const ENV_MODERATION_MIN_CONFIDENCE: &str = "SPOTLIGHT_MODERATION_MIN_CONFIDENCE";
/// Environment variable: `0` (or `off`) to run the text detector at full size on every photo,
/// without the low-resolution presence pass first.
pub const ENV_TEXT_PRESENCE_PASS: &str = "SPOTLIGHT_TEXT_PRESENCE_PASS";
/// Environment variable: the deadline of one analysis in seconds (decimals allowed), instead of
/// [`DEFAULT_DEADLINE`].
pub const ENV_ANALYSIS_DEADLINE: &str = "SPOTLIGHT_ANALYSIS_DEADLINE";
/// How long one analysis (read, decode, one model) may take: just under the state machine's
/// `TimeoutSeconds` of 15 on the Detect tasks, so that a record's cause names the analysis that
/// overran (`AnalyzerFailed`) rather than a bare `States.Timeout`, while a normal photo's
/// slowest analysis (text, under 1 s on two idle cores) has fourteen times its time. It counts
/// from the analysis's turn to run (see [`LocalAnalyzer`]), not from the call; the state
/// machine's timeout counts from the task's start, the wait for a turn included.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(14);

/// Which model moderates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModerationModel {
    /// Yahoo open_nsfw (BSD-2-Clause weights): one NSFW score. The default.
    #[default]
    OpenNsfw,
    /// NudeNet 320n: body parts mapped to level-3 labels. Its wheel carries an AGPL-3.0
    /// licence: fetch it with the optional models and choose it knowingly.
    NudeNet,
}

impl ModerationModel {
    /// The model file it needs.
    pub fn model_id(self) -> ModelId {
        match self {
            ModerationModel::OpenNsfw => ModelId::OpenNsfw,
            ModerationModel::NudeNet => ModelId::NudeNet,
        }
    }
}

impl std::str::FromStr for ModerationModel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "open-nsfw" | "open_nsfw" | "opennsfw" => Ok(ModerationModel::OpenNsfw),
            "nudenet" | "nudenet-320n" => Ok(ModerationModel::NudeNet),
            other => Err(format!(
                "unknown moderation model {other:?}: use open-nsfw or nudenet"
            )),
        }
    }
}

/// How the local analysers are set up.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalConfig {
    /// Where the models are.
    pub cache: ModelCache,
    /// Which model moderates.
    pub moderation: ModerationModel,
    /// Report NudeNet's faces as `Person` and `Face` labels (needs the NudeNet model).
    pub faces: bool,
    /// Labels below this confidence (percent) are not reported. The classifier spreads its
    /// probability over 1000 fine classes, so this is lower than Rekognition's default 55.
    pub label_min_confidence: f32,
    /// Moderation findings below this confidence (percent) are not reported.
    pub moderation_min_confidence: f32,
    /// Lines of text below this confidence (percent) are dropped (the reference's 50).
    pub text_min_confidence: f32,
    /// Restore the spaces the recogniser drops, from gaps between characters (see
    /// [`TextModel::with_gap_spaces`]). On by default; off gives the reference's text.
    pub text_gap_spaces: bool,
    /// Look for text at low resolution first and run the text detector at full size only
    /// where that finds some (see [`TextModel::with_presence_pass`]). On by default.
    pub text_presence_pass: bool,
    /// Threads one model run uses. One by default: on a laptop's few cores, photos and the
    /// analyses of one photo running side by side ([`LocalConfig::analyses_at_once`]) use the
    /// cores better than one run split across them (which spends much of its time waiting for
    /// its slowest thread).
    pub threads: usize,
    /// How many analyses (model runs) go at once across all photos: the number of cores.
    pub analyses_at_once: usize,
    /// How long one analysis may take before it fails with `AnalyzerFailed`.
    pub deadline: Duration,
}

impl LocalConfig {
    /// The defaults, with the cache, moderation model, faces and moderation floor from the
    /// environment ([`crate::models::ENV_MODEL_DIR`], [`ENV_MODERATION_MODEL`], [`ENV_FACES`],
    /// [`ENV_MODERATION_MIN_CONFIDENCE`]).
    pub fn from_env() -> Result<Self, AnalyzeError> {
        let cache = ModelCache::from_env()?;
        let moderation = match std::env::var(ENV_MODERATION_MODEL) {
            Ok(v) if !v.is_empty() => v.parse().map_err(AnalyzeError::Config)?,
            _ => ModerationModel::default(),
        };
        let faces = std::env::var(ENV_FACES).is_ok_and(|v| v == "1" || v == "true");
        let defaults = LocalConfig::new(cache);
        let moderation_min_confidence = match std::env::var(ENV_MODERATION_MIN_CONFIDENCE) {
            Ok(v) if !v.trim().is_empty() => {
                parse_min_confidence(ENV_MODERATION_MIN_CONFIDENCE, &v)?
            }
            _ => defaults.moderation_min_confidence,
        };
        let deadline = match std::env::var(ENV_ANALYSIS_DEADLINE) {
            Ok(v) if !v.trim().is_empty() => parse_deadline(&v)?,
            _ => defaults.deadline,
        };
        let text_presence_pass = match std::env::var(ENV_TEXT_PRESENCE_PASS) {
            Ok(v) if !v.trim().is_empty() => parse_switch(ENV_TEXT_PRESENCE_PASS, &v)?,
            _ => defaults.text_presence_pass,
        };
        Ok(LocalConfig {
            text_presence_pass,
            moderation,
            faces,
            moderation_min_confidence,
            deadline,
            ..defaults
        })
    }

    /// The defaults with models in `cache`.
    pub fn new(cache: ModelCache) -> Self {
        LocalConfig {
            cache,
            moderation: ModerationModel::OpenNsfw,
            faces: false,
            label_min_confidence: 5.0,
            moderation_min_confidence: 20.0,
            text_min_confidence: 50.0,
            text_gap_spaces: true,
            text_presence_pass: true,
            threads: 1,
            analyses_at_once: std::thread::available_parallelism().map_or(2, |n| n.get()),
            deadline: DEFAULT_DEADLINE,
        }
    }
}

impl LocalConfig {
    /// These settings with the moderation floor lowered to `policy`'s lowest threshold, so a
    /// label the policy would block is never dropped before the policy sees it (fail closed
    /// whatever the policy file says).
    pub fn reporting_for(self, policy: &ModerationPolicy) -> Self {
        LocalConfig {
            moderation_min_confidence: self
                .moderation_min_confidence
                .min(policy.lowest_threshold()),
            ..self
        }
    }
}

/// An on/off setting from the environment variable `name`.
fn parse_switch(name: &str, value: &str) -> Result<bool, AnalyzeError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" => Ok(false),
        other => Err(AnalyzeError::Config(format!(
            "{name} must be on or off (1/0, true/false), not {other:?}"
        ))),
    }
}

/// A confidence floor in percent from the environment variable `name`: a number from 0 to 100.
fn parse_min_confidence(name: &str, value: &str) -> Result<f32, AnalyzeError> {
    match value.trim().parse::<f32>() {
        Ok(percent) if (0.0..=100.0).contains(&percent) => Ok(percent),
        _ => Err(AnalyzeError::Config(format!(
            "{name} must be a percentage from 0 to 100, not {value:?}"
        ))),
    }
}

/// A deadline in seconds, more than zero.
fn parse_deadline(value: &str) -> Result<Duration, AnalyzeError> {
    match value.trim().parse::<f64>().map(Duration::try_from_secs_f64) {
        Ok(Ok(deadline)) if !deadline.is_zero() => Ok(deadline),
        _ => Err(AnalyzeError::Config(format!(
            "{ENV_ANALYSIS_DEADLINE} must be a number of seconds above 0, not {value:?}"
        ))),
    }
}

/// Why the analysers could not be set up or could not analyse.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalyzeError {
    /// A model is missing or corrupt (the message names `spotlight models fetch`).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The engine failed to load or run a model.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The configuration is wrong.
    #[error("{0}")]
    Config(String),
    /// The image could not be read or analysed.
    #[error(transparent)]
    Detect(#[from] DetectError),
}

/// The loaded models: load once, share (`Arc`) between analysers and threads.
pub struct LocalModels {
    config: LocalConfig,
    engine_name: String,
    labels: LabelModel,
    objects: ObjectDetector,
    open_nsfw: Option<OpenNsfw>,
    nudenet: Option<NudeNet>,
    text: TextModel,
}

impl std::fmt::Debug for LocalModels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalModels")
            .field("config", &self.config)
            .field("engine", &self.engine_name)
            .finish_non_exhaustive()
    }
}

impl LocalModels {
    /// Loads every model the configuration needs with ONNX Runtime (the library from the cache,
    /// or `$SPOTLIGHT_ORT_LIB`). A missing model is [`AnalyzeError::Model`], whose message says
    /// to run `spotlight models fetch`.
    pub fn load(config: LocalConfig) -> Result<Self, AnalyzeError> {
        // Check every file first, so a missing model is reported before any is loaded.
        let library = config.cache.onnxruntime_library()?;
        let engine = OrtEngine::new(&library, config.threads)?;
        Self::load_with(config, &engine)
    }

    /// Loads every model the configuration needs with `engine`.
    pub fn load_with(config: LocalConfig, engine: &dyn Engine) -> Result<Self, AnalyzeError> {
        let cache = &config.cache;
        let need_nudenet = config.faces || config.moderation == ModerationModel::NudeNet;
        let mut needed = vec![
            ModelId::EfficientNetLite0,
            ModelId::SsdMobileNetV2Oidv4,
            ModelId::TextDetection,
            ModelId::TextAngle,
            ModelId::TextRecognition,
        ];
        needed.push(config.moderation.model_id());
        if need_nudenet && config.moderation != ModerationModel::NudeNet {
            needed.push(ModelId::NudeNet);
        }
        // A missing or truncated file is reported before any model is loaded; the hash is
        // checked as each one is read for loading.
        for &id in &needed {
            match cache.glance(id)? {
                FileState::Verified { .. } => {}
                FileState::Missing => {
                    return Err(AnalyzeError::Model(ModelError::Missing {
                        model: id,
                        dir: cache.dir().to_path_buf(),
                    }))
                }
                FileState::Corrupt { detail } => {
                    return Err(AnalyzeError::Model(ModelError::Corrupt {
                        model: id,
                        path: cache.path_of(id),
                        detail,
                    }))
                }
            }
        }
        let load_for =
            |id: ModelId, runs: usize| -> Result<Box<dyn crate::engine::Model>, AnalyzeError> {
                if !needed.contains(&id) {
                    return Err(AnalyzeError::Config(format!("{id} was not checked")));
                }
                let bytes = cache.read_verified(id)?;
                Ok(engine.load_bytes_for(&cache.path_of(id), &bytes, runs)?)
            };
        let load = |id: ModelId| load_for(id, 1);
        let load_text = || -> Result<TextModel, AnalyzeError> {
            Ok(TextModel::new(
                // The text detector is the one slow model (see
                // `TextModel::with_presence_pass`): photos analysed side by side each get a
                // session of it rather than queue for one.
                load_for(ModelId::TextDetection, config.analyses_at_once)?,
                load(ModelId::TextAngle)?,
                load(ModelId::TextRecognition)?,
            )?
            .with_gap_spaces(config.text_gap_spaces)
            .with_presence_pass(config.text_presence_pass))
        };
        // Loading (hashing, parsing, optimising the graphs) is most of a cold `spotlight
        // analyze`: the text models load on a second thread meanwhile.
        let (text, labels, objects) = std::thread::scope(|scope| {
            let text = scope.spawn(load_text);
            let labels = load(ModelId::EfficientNetLite0).and_then(|m| Ok(LabelModel::new(m)?));
            let objects =
                load(ModelId::SsdMobileNetV2Oidv4).and_then(|m| Ok(ObjectDetector::new(m)?));
            let text = text.join().unwrap_or_else(|_| {
                Err(AnalyzeError::Config(
                    "loading the text models panicked".into(),
                ))
            });
            (text, labels, objects)
        });
        let (text, labels, objects) = (text?, labels?, objects?);
        let open_nsfw = match config.moderation {
            ModerationModel::OpenNsfw => Some(OpenNsfw::new(load(ModelId::OpenNsfw)?)),
            ModerationModel::NudeNet => None,
        };
        let nudenet = if need_nudenet {
            Some(NudeNet::new(load(ModelId::NudeNet)?))
        } else {
            None
        };
        Ok(LocalModels {
            engine_name: engine.name(),
            config,
            labels,
            objects,
            open_nsfw,
            nudenet,
            text,
        })
    }

    /// The configuration the models were loaded with.
    pub fn config(&self) -> &LocalConfig {
        &self.config
    }

    /// The engine running them, e.g. `onnxruntime (libonnxruntime.so.1.32.0, 1 thread per run)`.
    pub fn engine_name(&self) -> &str {
        &self.engine_name
    }

    /// The labels models, as records name them: the classifier and the object detector.
    pub fn labels_model(&self) -> ModelInfo {
        let mut info = model_info(ModelId::EfficientNetLite0);
        let objects = ModelId::SsdMobileNetV2Oidv4;
        info.name = format!("{}+{}", info.name, objects.name());
        info.version = format!("{}+{}", info.version, objects.version());
        if self.config.faces {
            info.name.push_str("+nudenet-320n-faces");
        }
        info
    }

    /// The moderation model, as records name it.
    pub fn moderation_model(&self) -> ModelInfo {
        model_info(self.config.moderation.model_id())
    }

    /// The text models, as records name them.
    pub fn text_model(&self) -> ModelInfo {
        ModelInfo {
            name: "pp-ocrv4".into(),
            version: format!(
                "det {} rec {} cls {}",
                ModelId::TextDetection.version(),
                ModelId::TextRecognition.version(),
                ModelId::TextAngle.version()
            ),
        }
    }

    /// The labels of a decoded image: the classifier's and the object detector's (with their
    /// boxes), one entry per name, and `Person`/`Face` from NudeNet when enabled.
    pub fn labels(&self, image: &Prepared) -> Result<Vec<Label>, EngineError> {
        let classified = self
            .labels
            .labels(&image.rgb, self.config.label_min_confidence)?;
        let located = self
            .objects
            .labels(&image.rgb, self.config.label_min_confidence)?;
        let mut labels = merge_labels(vec![classified, located]);
        if self.config.faces {
            let faces =
                NudeNet::face_labels(self.nudenet(image)?, self.config.label_min_confidence);
            labels = merge_labels(vec![labels, faces]);
        }
        Ok(labels)
    }

    /// The moderation labels of a decoded image (empty when nothing reaches the floor).
    pub fn moderation(&self, image: &Prepared) -> Result<Vec<ModerationLabel>, EngineError> {
        let floor = self.config.moderation_min_confidence;
        match (self.config.moderation, &self.open_nsfw) {
            (ModerationModel::OpenNsfw, Some(model)) => {
                let p = model.score(OpenNsfw::preprocess(&image.rgb)?)?;
                Ok(OpenNsfw::labels_for(p, floor))
            }
            _ => Ok(NudeNet::moderation_labels(self.nudenet(image)?, floor)),
        }
    }

    /// The lines of text of a decoded image.
    pub fn text(&self, image: &Prepared) -> Result<Vec<TextLine>, EngineError> {
        self.text.read(&image.rgb, self.config.text_min_confidence)
    }

    /// [`text`](Self::text), and how long each stage took.
    pub fn text_timed(
        &self,
        image: &Prepared,
    ) -> Result<(Vec<TextLine>, crate::text::TextTimings), EngineError> {
        self.text
            .read_timed(&image.rgb, self.config.text_min_confidence)
    }

    /// NudeNet's detections, computed once per image (shared by labels and moderation).
    fn nudenet<'a>(&self, image: &'a Prepared) -> Result<&'a [Detection], EngineError> {
        let model = self
            .nudenet
            .as_ref()
            .ok_or_else(|| EngineError::new("NudeNet is not loaded"))?;
        let result = image
            .nudenet
            .get_or_init(|| model.detect(&image.rgb).map_err(|e| e.to_string()));
        result
            .as_deref()
            .map_err(|message| EngineError::new(message.clone()))
    }

    /// Everything about one decoded image: text on one thread while labels and moderation run
    /// on this one (each model run takes one thread; see [`LocalConfig::threads`]).
    pub fn analyze_image(&self, image: &Prepared) -> Result<AnalysisReport, EngineError> {
        let (labels, moderation_labels, text_lines) = std::thread::scope(|scope| {
            let text = scope.spawn(|| self.text(image));
            let labels = self.labels(image);
            let moderation = self.moderation(image);
            let text = text
                .join()
                .unwrap_or_else(|_| Err(EngineError::new("the text analysis panicked")));
            (labels, moderation, text)
        });
        Ok(AnalysisReport {
            labels: labels?,
            moderation_labels: moderation_labels?,
            text_lines: text_lines?,
        })
    }
}

fn model_info(id: ModelId) -> ModelInfo {
    ModelInfo {
        name: id.name().to_string(),
        version: id.version().to_string(),
    }
}

/// A decoded image, shared by the three analyses of one upload.
#[derive(Debug)]
pub struct Prepared {
    /// The pixels, upright, at most 2000 px a side: a larger photo is reduced once, as the
    /// text reader would reduce it (see [`crate::text::reduced_size`]), and every analyser
    /// starts from that copy rather than from the full photo.
    pub rgb: RgbImage,
    nudenet: OnceLock<Result<Vec<Detection>, String>>,
}

impl Prepared {
    /// Decodes `bytes` (see [`crate::image::decode`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, DetectError> {
        Ok(Prepared::from_rgb(crate::image::decode(bytes)?))
    }

    /// Wraps pixels already decoded (reducing a photo over 2000 px a side).
    pub fn from_rgb(rgb: RgbImage) -> Self {
        // Every analyser needs far fewer pixels than a phone photo has (224–300 px for labels,
        // moderation and objects; at most 2000 for text): one reduction here replaces one per
        // analyser, and the full photo (36 MB at 12 MP) is freed before any model runs.
        let rgb = match crate::text::reduced_size(rgb.width(), rgb.height()) {
            Some((width, height)) => crate::image::resize(&rgb, width, height, false),
            None => rgb,
        };
        Prepared {
            rgb,
            nudenet: OnceLock::new(),
        }
    }
}

/// What `spotlight analyze` prints for one image: labels, moderation labels, text lines.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisReport {
    /// Highest confidence first, parents included.
    pub labels: Vec<Label>,
    /// Rekognition's moderation taxonomy; empty when nothing was found.
    pub moderation_labels: Vec<ModerationLabel>,
    /// In reading order.
    pub text_lines: Vec<TextLine>,
}

/// Analyses one image file with already loaded models: decode once, then labels, moderation
/// and text. An image that is not a JPEG or PNG, is over 10,000 px a side or does not decode is
/// [`DetectError::Rejected`].
pub fn analyze_file(models: &LocalModels, path: &Path) -> Result<AnalysisReport, AnalyzeError> {
    let bytes = std::fs::read(path).map_err(|e| {
        let reason = if e.kind() == std::io::ErrorKind::NotFound {
            RejectReason::NotFound
        } else {
            RejectReason::Corrupt
        };
        DetectError::Rejected {
            reason,
            message: format!("cannot read {}: {e}", path.display()),
        }
    })?;
    let image = Prepared::decode(&bytes)?;
    Ok(models.analyze_image(&image)?)
}

/// Loads the models from the environment's configuration ([`LocalConfig::from_env`]) and
/// analyses one file. For many files, load [`LocalModels`] once and call [`analyze_file`].
pub fn analyze(path: &Path) -> Result<AnalysisReport, AnalyzeError> {
    let models = LocalModels::load(LocalConfig::from_env()?)?;
    analyze_file(&models, path)
}

/// Where the detectors get an image's bytes from.
pub trait ImageSource: Send + Sync + 'static {
    /// The whole object.
    fn read(&self, image: &ImageFacts)
        -> impl Future<Output = Result<Vec<u8>, DetectError>> + Send;
}

/// Any [`ObjectReader`] (S3, a folder adapter, a test fake): reads `0..size_bytes`.
///
/// Local mode reads its folders with `ReaderSource(spotlight_storage::FolderObjects::new())`,
/// the reader the validate step uses too, so a key resolves by one rule everywhere: never
/// outside its folder, not through `..`, an absolute path or a symlink that points out.
#[derive(Debug, Clone)]
pub struct ReaderSource<R>(pub R);

impl<R: ObjectReader + 'static> ImageSource for ReaderSource<R> {
    async fn read(&self, image: &ImageFacts) -> Result<Vec<u8>, DetectError> {
        self.0
            .read_range(&image.bucket, &image.key, 0..image.size_bytes)
            .await
            .map_err(|e| match e {
                ReadError::NotFound(message) => DetectError::Rejected {
                    reason: RejectReason::NotFound,
                    message,
                },
                other => DetectError::Failed {
                    message: "cannot read the image".into(),
                    source: Some(Box::new(other)),
                },
            })
    }
}

type CacheKey = (String, String, String);
type Slot = Arc<tokio::sync::OnceCell<Arc<Prepared>>>;

/// How many decoded images the analyser keeps: the three ports of one upload run together,
/// and a few uploads may be in flight.
const DECODED_IMAGES_KEPT: usize = 4;
/// The analyses of one upload (labels, moderation, text): once that many have taken its
/// decoded image, the cache lets go of it, so it is freed as soon as the last one ends.
const ANALYSES_PER_UPLOAD: usize = 3;

/// The three detector ports over local models. One decode per upload (bucket + key +
/// revision) is shared by the three calls, which the pipeline makes in parallel (taking turns:
/// see `spotlight_pipeline::Pipeline::analyses_at_once`). Each analysis has its own deadline.
pub struct LocalAnalyzer<S> {
    models: Arc<LocalModels>,
    source: S,
    /// Each decoded image with the number of analyses that have taken it.
    decoded: Mutex<VecDeque<(CacheKey, Slot, usize)>>,
}

impl<S: ImageSource> LocalAnalyzer<S> {
    /// Analysers over loaded models, reading images from `source`.
    pub fn new(models: Arc<LocalModels>, source: S) -> Self {
        LocalAnalyzer {
            models,
            source,
            decoded: Mutex::new(VecDeque::new()),
        }
    }

    /// The models.
    pub fn models(&self) -> &Arc<LocalModels> {
        &self.models
    }

    /// Where images are read from.
    pub fn source(&self) -> &S {
        &self.source
    }

    fn slot(&self, image: &ImageFacts) -> Slot {
        let key = (
            image.bucket.clone(),
            image.key.clone(),
            image.revision.clone(),
        );
        let mut decoded = match self.decoded.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(index) = decoded.iter().position(|(k, _, _)| *k == key) {
            let (_, slot, taken) = &mut decoded[index];
            *taken += 1;
            let slot = slot.clone();
            if *taken >= ANALYSES_PER_UPLOAD {
                decoded.remove(index);
            }
            return slot;
        }
        let slot = Slot::default();
        decoded.push_back((key, slot.clone(), 1));
        while decoded.len() > DECODED_IMAGES_KEPT {
            decoded.pop_front();
        }
        slot
    }

    /// The decoded image, read and decoded once (a failed read is not remembered).
    async fn prepared(&self, image: &ImageFacts) -> Result<Arc<Prepared>, DetectError> {
        let slot = self.slot(image);
        slot.get_or_try_init(|| async {
            let bytes = self.source.read(image).await?;
            blocking(move || Prepared::decode(&bytes).map(Arc::new)).await
        })
        .await
        .cloned()
    }

    async fn run<T: Send + 'static>(
        &self,
        image: &ImageFacts,
        what: &'static str,
        f: fn(&LocalModels, &Prepared) -> Result<T, EngineError>,
    ) -> Result<T, DetectError> {
        let started = Instant::now();
        let analysis = async {
            let prepared = self.prepared(image).await?;
            let models = self.models.clone();
            blocking(move || {
                f(&models, &prepared).map_err(|e| DetectError::Failed {
                    message: format!("local {what} analysis failed: {e}"),
                    source: Some(Box::new(e)),
                })
            })
            .await
        };
        // Past the deadline the blocking work cannot be stopped (neither the decoder nor a model
        // run checks for a stop), but the limits of `crate::image` bound what it can still
        // cost; the photo's execution moves on to a FAILED record at once.
        let deadline = self.models.config.deadline;
        let result = if tokio::runtime::Handle::try_current().is_ok() {
            match tokio::time::timeout(deadline, analysis).await {
                Ok(result) => result,
                Err(_) => Err(DetectError::Failed {
                    message: format!(
                        "local {what} analysis of {:?} did not finish within its deadline of \
                         {:.3} s ({ENV_ANALYSIS_DEADLINE}); the image may be built to exhaust \
                         the decoder or the model",
                        image.key,
                        deadline.as_secs_f64()
                    ),
                    source: None,
                }),
            }
        } else {
            analysis.await
        };
        tracing::debug!(
            what,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "analysed"
        );
        result
    }
}

/// Runs CPU-bound work off the async runtime when there is one.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DetectError> + Send + 'static,
) -> Result<T, DetectError> {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DetectError::Failed {
            message: "local analysis panicked".into(),
            source: Some(Box::new(e)),
        })?
}

impl<S: ImageSource> LabelDetector for LocalAnalyzer<S> {
    fn model(&self) -> ModelInfo {
        self.models.labels_model()
    }

    async fn detect_labels(&self, image: &ImageFacts) -> Result<Vec<Label>, DetectError> {
        self.run(image, "labels", LocalModels::labels).await
    }
}

impl<S: ImageSource> ModerationDetector for LocalAnalyzer<S> {
    fn model(&self) -> ModelInfo {
        self.models.moderation_model()
    }

    async fn detect_moderation_labels(
        &self,
        image: &ImageFacts,
    ) -> Result<Vec<ModerationLabel>, DetectError> {
        self.run(image, "moderation", LocalModels::moderation).await
    }
}

impl<S: ImageSource> TextDetector for LocalAnalyzer<S> {
    fn model(&self) -> ModelInfo {
        self.models.text_model()
    }

    async fn detect_text(&self, image: &ImageFacts) -> Result<Vec<TextLine>, DetectError> {
        self.run(image, "text", LocalModels::text).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_moderation_floor_never_hides_a_label_the_policy_blocks() {
        let configured = LocalConfig::new(ModelCache::new("unused"));
        assert_eq!(configured.moderation_min_confidence, 20.0);
        let shipped = configured
            .clone()
            .reporting_for(&ModerationPolicy::shipped());
        assert_eq!(
            shipped.moderation_min_confidence, 20.0,
            "shipped policy starts at 40"
        );
        let strict = ModerationPolicy::from_json(
            r#"{"version":"t","defaultMinConfidence":60,"minConfidence":{"Explicit":7.5}}"#,
        )
        .unwrap();
        let lowered = configured.reporting_for(&strict);
        assert_eq!(lowered.moderation_min_confidence, 7.5);
        assert_eq!(lowered.label_min_confidence, 5.0, "other floors unchanged");
    }

    #[test]
    fn a_photo_over_2000_px_is_reduced_once_as_the_text_reader_would() {
        for (w, h) in [(4032, 3024), (3000, 6000), (6000, 4000), (10_000, 120)] {
            let photo = Prepared::from_rgb(RgbImage::new(w, h));
            let (rw, rh) = photo.rgb.dimensions();
            // Multiples of 32, the longer side 2000 give or take the rounding, the aspect kept.
            assert!(rw % 32 == 0 && rh % 32 == 0, "{w}×{h} → {rw}×{rh}");
            assert!((1984..=2016).contains(&rw.max(rh)), "{w}×{h} → {rw}×{rh}");
            let aspect = |a: u32, b: u32| a as f32 / b as f32;
            assert!(
                (aspect(rw, rh) - aspect(w, h)).abs() / aspect(w, h) < 0.3,
                "{w}×{h} → {rw}×{rh}"
            );
            // The text reader would not reduce it again: it sees the size it would have made.
            let again = crate::text::reduced_size(rw, rh);
            assert!(again.is_none() || again == Some((rw, rh)), "{again:?}");
        }
        let small = Prepared::from_rgb(RgbImage::new(1999, 100));
        assert_eq!(small.rgb.dimensions(), (1999, 100), "kept as it is");
    }

    #[test]
    fn the_moderation_floor_is_a_percentage() {
        let name = ENV_MODERATION_MIN_CONFIDENCE;
        assert_eq!(parse_min_confidence(name, "0.5").unwrap(), 0.5);
        assert_eq!(parse_min_confidence(name, " 0 ").unwrap(), 0.0);
        assert_eq!(parse_min_confidence(name, "100").unwrap(), 100.0);
        for bad in ["-1", "100.5", "NaN", "inf", "lots", "20%"] {
            let err = parse_min_confidence(name, bad).unwrap_err();
            assert!(matches!(err, AnalyzeError::Config(_)), "{bad}: {err:?}");
            assert_eq!(
                err.to_string(),
                format!(
                    "SPOTLIGHT_MODERATION_MIN_CONFIDENCE must be a percentage from 0 to 100, \
                     not {bad:?}"
                ),
            );
        }
    }
}
