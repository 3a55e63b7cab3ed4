//! Cold start of the built detector Lambdas: process start to first response, through the
//! Runtime API, against the Rekognition double, and each binary's size.
//!
//! ```sh
//! cargo build --features lambda --bins -p spotlight-detect-labels -p spotlight-detect-text
//! cargo run -p spotlight-testkit --example lambda_cold_start -- target/debug/detect-labels …
//! ```

use std::time::Instant;

use spotlight_testkit::{LambdaProcess, Outcome, RekognitionDouble};

fn main() {
    let binaries: Vec<String> = std::env::args().skip(1).collect();
    if binaries.is_empty() {
        eprintln!("usage: lambda_cold_start BINARY…");
        std::process::exit(2);
    }
    let double = RekognitionDouble::start();
    let payload = serde_json::json!({"image": {
        "bucket": "uploads", "key": "cold.jpg", "format": "JPEG", "sizeBytes": 1000,
        "width": 100, "height": 100, "revision": "0:"
    }});
    for binary in binaries {
        let mut samples = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let lambda = LambdaProcess::start(
                &binary,
                &[
                    ("AWS_ENDPOINT_URL_REKOGNITION", double.endpoint.clone()),
                    ("RUST_LOG", "warn".to_owned()),
                ],
            );
            let outcome = lambda.invoke(payload.clone());
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
            assert!(
                matches!(outcome, Outcome::Success(_)),
                "{binary}: {outcome:?}"
            );
        }
        samples.sort_by(f64::total_cmp);
        let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
        println!(
            "{binary}: cold start median {:.1} ms (min {:.1}, max {:.1}, 5 runs), binary {:.1} MiB",
            samples[2],
            samples[0],
            samples[4],
            size as f64 / 1048576.0
        );
    }
}
