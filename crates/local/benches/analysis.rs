//! Per-model latency and whole-image analysis time, beside the reference runtime (onnxruntime
//! from PyPI, run by `benches/reference.py`) on the same shapes and the same images.
//!
//! ```sh
//! SPOTLIGHT_MODEL_DIR=target/models SPOTLIGHT_REFERENCE_PYTHON=/path/to/venv/bin/python \
//!     cargo bench -p spotlight-local [-- IMAGE...]
//! ```
//!
//! Median of 5 runs after one warm-up. The reference's venv needs `onnxruntime==1.32.0`,
//! `rapidocr-onnxruntime==1.4.4` and `pillow`; without it only our own numbers are printed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use spotlight_local::engine::{Engine, Model, OrtEngine, Tensor};
use spotlight_local::{LocalConfig, LocalModels, ModelCache, ModelId, Prepared};

const RUNS: usize = 5;

fn median_ms(mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[RUNS / 2]
}

/// The fixed shapes each model is timed on (the issue's: NudeNet 320², det 640², rec 48×320).
fn fixed_shapes() -> Vec<(ModelId, Vec<usize>)> {
    vec![
        (ModelId::EfficientNetLite0, vec![1, 3, 224, 224]),
        (ModelId::OpenNsfw, vec![1, 224, 224, 3]),
        (ModelId::NudeNet, vec![1, 3, 320, 320]),
        (ModelId::TextDetection, vec![1, 3, 640, 640]),
        (ModelId::TextAngle, vec![1, 3, 48, 192]),
        (ModelId::TextRecognition, vec![1, 3, 48, 320]),
    ]
}

fn input(shape: &[usize]) -> Option<Tensor> {
    let n: usize = shape.iter().product();
    // Deterministic values in [-1, 1): latency does not depend on them.
    let data = (0..n)
        .map(|i| ((i.wrapping_mul(2_654_435_761) % 2000) as f32 / 1000.0) - 1.0)
        .collect();
    Tensor::new(shape.to_vec(), data).ok()
}

fn per_model(engine: &dyn Engine, cache: &ModelCache) -> Vec<(ModelId, Vec<usize>, Option<f64>)> {
    fixed_shapes()
        .into_iter()
        .map(|(id, shape)| {
            let ms = cache
                .require(id)
                .ok()
                .and_then(|path| engine.load(&path).ok())
                .and_then(|model: Box<dyn Model>| {
                    let x = input(&shape)?;
                    Some(median_ms(|| {
                        let _ = model.run(x.clone());
                    }))
                });
            (id, shape, ms)
        })
        .collect()
}

/// The reference's numbers for one image, as `benches/reference.py bench` prints them.
fn reference(
    python: &str,
    cache: &ModelCache,
    image: &Path,
    det: (usize, usize),
) -> Option<serde_json::Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/reference.py");
    let output = Command::new(python)
        .arg(script)
        .args(["bench", "--models"])
        .arg(cache.dir())
        .arg("--image")
        .arg(image)
        .args([
            "--runs",
            &RUNS.to_string(),
            "--det",
            &format!("{}x{}", det.0, det.1),
        ])
        .output()
        .ok()?;
    if !output.status.success() {
        eprintln!(
            "reference unavailable ({python}): {}",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
        return None;
    }
    serde_json::from_slice(&output.stdout).ok()
}

fn ratio(ours: Option<f64>, reference: Option<f64>) -> String {
    match (ours, reference) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "—".into(),
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{v:.1} ms"))
}

fn main() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = std::env::var("SPOTLIGHT_MODEL_DIR")
        .ok()
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/models"));
    let cache = ModelCache::new(if dir.is_absolute() {
        dir
    } else {
        workspace.join(dir)
    });
    let python = std::env::var("SPOTLIGHT_REFERENCE_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut images: Vec<PathBuf> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .collect();
    if images.is_empty() {
        let photos = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/photos");
        images = vec![photos.join("coffee.jpg"), photos.join("text/menu.png")];
    }

    let engine = match cache
        .onnxruntime_library()
        .map_err(|e| e.to_string())
        .and_then(|lib| OrtEngine::new(&lib, 2).map_err(|e| e.to_string()))
    {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("skipped: {e}");
            return;
        }
    };
    let models = match LocalModels::load_with(LocalConfig::new(cache.clone()), &engine) {
        Ok(models) => models,
        Err(e) => {
            eprintln!("skipped: {e}");
            return;
        }
    };
    println!(
        "engine: {} · {RUNS} runs, median, after one warm-up",
        engine.name()
    );

    // Reference per-model numbers come with the first image's run (same fixed shapes).
    let first_reference = images
        .first()
        .and_then(|img| reference(&python, &cache, img, (640, 640)));
    let ours = per_model(&engine, &cache);
    println!("\nper model, fixed input shapes");
    println!(
        "{:<18} {:<16} {:>11} {:>13} {:>7}",
        "model", "shape", "ort (ours)", "reference", "ratio"
    );
    for (id, shape, ours_ms) in &ours {
        let reference_ms = first_reference
            .as_ref()
            .and_then(|r| r["per_model"][id.name()]["ms"].as_f64());
        let shape_text = shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("×");
        println!(
            "{:<18} {:<16} {:>11} {:>13} {:>7}",
            id.name(),
            shape_text,
            ms(*ours_ms),
            ms(reference_ms),
            ratio(*ours_ms, reference_ms)
        );
    }

    println!("\nwhole image: read + decode + labels + moderation + text");
    for image in &images {
        let Ok(bytes) = std::fs::read(image) else {
            eprintln!("cannot read {}", image.display());
            continue;
        };
        let name = image
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned());
        let mut det_shape = (640, 640);
        let mut stages = (0.0, 0.0, 0.0);
        let whole = median_ms(|| {
            let Ok(prepared) = Prepared::decode(&bytes) else {
                return;
            };
            let t = Instant::now();
            let _ = models.labels(&prepared);
            let labels = t.elapsed().as_secs_f64() * 1000.0;
            let t = Instant::now();
            let _ = models.moderation(&prepared);
            let moderation = t.elapsed().as_secs_f64() * 1000.0;
            let t = Instant::now();
            let _ = models.text(&prepared);
            let text = t.elapsed().as_secs_f64() * 1000.0;
            det_shape = detection_shape(prepared.rgb.width(), prepared.rgb.height());
            stages = (labels, moderation, text);
        });
        let reference_ms = if Some(image) == images.first() {
            first_reference.as_ref()
        } else {
            None
        }
        .cloned()
        .or_else(|| reference(&python, &cache, image, det_shape))
        .and_then(|r| r["whole_image_ms"].as_f64());
        println!(
            "{name:<14} ours {:>9} (labels {:.1}, moderation {:.1}, text {:.1}; text detection at {}×{})   reference {:>9}   ratio {}",
            ms(Some(whole)),
            stages.0,
            stages.1,
            stages.2,
            det_shape.0,
            det_shape.1,
            ms(reference_ms),
            ratio(Some(whole), reference_ms)
        );
    }
}

/// The detection input the text pipeline uses for an image (to give the reference the same).
fn detection_shape(w: u32, h: u32) -> (usize, usize) {
    let round32 = |v: f32| ((v / 32.0).round() as usize * 32).max(32);
    let (mut w, mut h) = (w as f32, h as f32);
    if w.max(h) > 2000.0 {
        let r = 2000.0 / w.max(h);
        (w, h) = (round32(w * r) as f32, round32(h * r) as f32);
    }
    let r = if w.min(h) < 736.0 {
        736.0 / w.min(h)
    } else {
        1.0
    };
    (round32((h * r).floor()), round32((w * r).floor()))
}
