//! Where one photo's analysis time goes, stage by stage, on one thread (decode, labels,
//! moderation, text with its detector runs and tiles), each file analysed `SPOTLIGHT_REPEAT`
//! times (default 3) and the fastest run printed:
//!
//! ```sh
//! SPOTLIGHT_MODEL_DIR=target/models cargo run --release -p spotlight-local --example stages -- photo.jpg
//! ```

use std::process::ExitCode;
use std::time::Instant;

use spotlight_local::{LocalConfig, LocalModels, Prepared};

fn ms(seconds: f64) -> f64 {
    seconds * 1000.0
}

fn main() -> ExitCode {
    let models = match LocalConfig::from_env().and_then(LocalModels::load) {
        Ok(models) => models,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let repeat: usize = std::env::var("SPOTLIGHT_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    println!(
        "photo\tdecode\tlabels\tmoderation\ttext\tdetector\tdet-Mpx\ttiles\tangle\trecognition"
    );
    for path in std::env::args().skip(1) {
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) => {
                eprintln!("{path}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut best: Option<[f64; 4]> = None;
        let mut timings = None;
        for _ in 0..repeat.max(1) {
            let started = Instant::now();
            let image = match Prepared::decode(&bytes) {
                Ok(image) => image,
                Err(e) => {
                    eprintln!("{path}: {e}");
                    break;
                }
            };
            let decoded = started.elapsed().as_secs_f64();
            let step = Instant::now();
            let labels = models.labels(&image).map(|_| step.elapsed().as_secs_f64());
            let step = Instant::now();
            let moderation = models
                .moderation(&image)
                .map(|_| step.elapsed().as_secs_f64());
            let step = Instant::now();
            let text = models.text_timed(&image);
            let read = step.elapsed().as_secs_f64();
            match (labels, moderation, text) {
                (Ok(labels), Ok(moderation), Ok((_, t))) => {
                    let run = [decoded, labels, moderation, read];
                    if best.is_none_or(|b| run.iter().sum::<f64>() < b.iter().sum::<f64>()) {
                        best = Some(run);
                        timings = Some(t);
                    }
                }
                (l, m, t) => {
                    eprintln!("{path}: {:?} {:?} {:?}", l.err(), m.err(), t.err());
                    break;
                }
            }
        }
        if let (Some([d, l, m, t]), Some(tt)) = (best, timings) {
            println!(
                "{path}\t{:.1}\t{:.1}\t{:.1}\t{:.1}\t{:.1}\t{:.2}\t{}/{}\t{:.1}\t{:.1}",
                ms(d),
                ms(l),
                ms(m),
                ms(t),
                ms(tt.detector_model),
                tt.detector_pixels as f64 / 1e6,
                tt.tiles_run,
                tt.tiles_total,
                ms(tt.angle),
                ms(tt.recognition),
            );
        }
    }
    ExitCode::SUCCESS
}
