//! `spotlight bench`: the local pipeline's throughput on this machine — images per second,
//! p50/p99 of each step (from the executions' histories), the process's peak memory, and what
//! the batch would cost on AWS (the executions' cost reports summed, and per photo).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use serde_json::Value;
use spotlight_core::contracts::ExecutionStatus;
use spotlight_states::cost::CostTotals;
use spotlight_states::ExecutionHistory;

use crate::cli::BenchArgs;
use crate::commands::runner::{collect_photos, run_all, PhotoResult};
use crate::commands::{bench_console, bench_store, executions, local, run, Exit};
use crate::output;

const STEPS: [&str; 5] = [
    "Validate",
    "DetectLabels",
    "DetectModeration",
    "DetectText",
    "Record",
];

/// Runs the pipeline on `images` copies of the given photos (one of each when `None`) in a
/// scratch folder and store, and returns the store, the results and how long they took.
pub fn run_copies(
    args: &BenchArgs,
    scratch: &std::path::Path,
    images: Option<usize>,
) -> anyhow::Result<(Arc<spotlight_storage::SqliteStore>, Vec<PhotoResult>, Took)> {
    let store_path = scratch.join("bench.sqlite");
    let sources: Vec<_> = collect_photos(&args.paths, &store_path)?
        .into_iter()
        .filter(|p| {
            let name = p.key.to_ascii_lowercase();
            name.ends_with(".jpg") || name.ends_with(".jpeg") || name.ends_with(".png")
        })
        .collect();
    anyhow::ensure!(
        !sources.is_empty(),
        "no JPEG or PNG photos in the given paths"
    );
    let folder = scratch.join("photos");
    std::fs::create_dir_all(&folder)?;
    let resized = match args.megapixels {
        Some(megapixels) => Some(resize_all(&sources, megapixels, scratch)?),
        None => None,
    };
    for i in 0..images.unwrap_or(sources.len()) {
        let source = &sources[i % sources.len()];
        let name = format!("{i:04}-{}", source.key.replace('/', "_"));
        match resized
            .as_ref()
            .and_then(|paths| paths[i % sources.len()].as_ref())
        {
            Some(path) => std::fs::copy(path, folder.join(format!("{name}.jpg")))?,
            None => std::fs::copy(&source.path, folder.join(name))?,
        };
    }
    let photos = collect_photos(std::slice::from_ref(&folder), &store_path)?;
    let store = local::open_store(&store_path)?;
    store.remember_folder(&std::fs::canonicalize(&folder)?.to_string_lossy())?;
    let runner = run::local_runner(Arc::clone(&store), false)?;
    let (started, cpu_before) = (Instant::now(), cpu_seconds());
    let results =
        local::runtime()?.block_on(run_all(&runner, photos, args.concurrency, |_, _| Ok(())))?;
    let took = Took {
        seconds: started.elapsed().as_secs_f64(),
        cpu_seconds: cpu_seconds()
            .zip(cpu_before)
            .map(|(after, before)| after - before),
    };
    Ok((store, results, took))
}

/// How long a batch took.
#[derive(Debug, Clone, Copy)]
pub struct Took {
    /// Wall-clock seconds.
    pub seconds: f64,
    /// CPU seconds the process used meanwhile (every thread), where the system tells it.
    pub cpu_seconds: Option<f64>,
}

/// Each source re-encoded as a JPEG of about `megapixels` (aspect kept, Triangle filter,
/// quality 90) in `scratch`; `None` for a file that does not decode (it is copied as it is, so
/// the batch keeps its rejected uploads).
fn resize_all(
    sources: &[crate::commands::runner::Photo],
    megapixels: f64,
    scratch: &std::path::Path,
) -> anyhow::Result<Vec<Option<std::path::PathBuf>>> {
    anyhow::ensure!(
        megapixels > 0.0 && megapixels <= 100.0,
        "--megapixels must be over 0 and at most 100"
    );
    let dir = scratch.join("resized");
    std::fs::create_dir_all(&dir)?;
    let mut paths = Vec::with_capacity(sources.len());
    for (i, source) in sources.iter().enumerate() {
        let Ok(image) = image::open(&source.path) else {
            paths.push(None);
            continue;
        };
        let scale =
            (megapixels * 1e6 / (f64::from(image.width()) * f64::from(image.height()))).sqrt();
        let (w, h) = (
            (f64::from(image.width()) * scale).round().max(1.0) as u32,
            (f64::from(image.height()) * scale).round().max(1.0) as u32,
        );
        let rgb = image
            .resize_exact(w, h, image::imageops::FilterType::Triangle)
            .into_rgb8();
        let path = dir.join(format!("{i}.jpg"));
        let file = std::io::BufWriter::new(std::fs::File::create(&path)?);
        image::codecs::jpeg::JpegEncoder::new_with_quality(file, 90)
            .encode_image(&rgb)
            .with_context(|| format!("cannot encode {}", path.display()))?;
        paths.push(Some(path));
    }
    Ok(paths)
}

/// Seconds of CPU the process has used so far (user + system, every thread).
fn cpu_seconds() -> Option<f64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is always valid.
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return None;
        }
        usage.assume_init()
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Some(seconds(usage.ru_utime) + seconds(usage.ru_stime))
}

/// Runs the benchmark and prints what it measured.
pub fn execute(args: BenchArgs) -> anyhow::Result<Exit> {
    if let Some(records) = args.console {
        return bench_console::execute(&args, records);
    }
    if let Some(writers) = args.store_writes {
        return bench_store::execute(&args, writers);
    }
    anyhow::ensure!(
        args.images >= 1 && args.concurrency >= 1,
        "--images and --concurrency must be at least 1"
    );
    let scratch = tempfile::tempdir().context("cannot make a scratch folder")?;
    let (store, results, took) = run_copies(&args, scratch.path(), Some(args.images))?;
    let seconds = took.seconds;
    let cpu_ms_per_image = took
        .cpu_seconds
        .map(|cpu| (cpu * 1000.0 / results.len().max(1) as f64).round());

    let mut per_step: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut per_image = Vec::new();
    let mut cost = CostTotals::default();
    for result in &results {
        per_image.push(result.millis as f64);
        let Some(id) = &result.execution_id else {
            continue;
        };
        let Some((_, Some(history))) = store.execution(id)? else {
            continue;
        };
        let history: ExecutionHistory = serde_json::from_value(history)?;
        cost.add(&executions::cost_of(&history.events)?);
        for row in executions::state_rows(&history.events) {
            let step = STEPS.iter().find(|s| **s == row.name);
            if let (Some(step), Some(exited)) = (step, row.exited) {
                let micros = (exited - row.entered).num_microseconds().unwrap_or(0);
                per_step
                    .entry(step)
                    .or_default()
                    .push(micros as f64 / 1000.0);
            }
        }
    }
    let peak_rss_mb = peak_rss_kib().map(|kib| kib as f64 / 1024.0);
    let failed = results
        .iter()
        .filter(|r| r.execution_status != Some(ExecutionStatus::Succeeded))
        .count();
    let mut report = serde_json::json!({
        "images": results.len(),
        "failed": failed,
        "concurrency": args.concurrency,
        "seconds": seconds,
        "imagesPerSecond": results.len() as f64 / seconds,
        "perImageMs": percentiles(&mut per_image),
        "peakRssMiB": peak_rss_mb,
        "cpuMsPerImage": cpu_ms_per_image,
        "megapixels": args.megapixels,
        "steps": {},
        "cost": cost,
    });
    for (step, samples) in &mut per_step {
        report["steps"][*step] = percentiles(samples);
    }
    if args.json {
        output::print(&format!("{report}\n"))?;
    } else {
        let mut text = format!(
            "{} images{} ({} failed) in {seconds:.1} s with {} at once: {:.2} images/s; per image p50 {} ms, p99 {} ms, CPU {}; peak memory {}\n",
            results.len(),
            args.megapixels.map_or_else(String::new, |mp| format!(" of {mp} MP")),
            failed,
            args.concurrency,
            results.len() as f64 / seconds,
            report["perImageMs"]["p50"],
            report["perImageMs"]["p99"],
            cpu_ms_per_image.map_or_else(|| "unknown".to_owned(), |ms| format!("{ms} ms")),
            peak_rss_mb.map_or_else(|| "unknown".to_owned(), |mb| format!("{mb:.0} MiB")),
        );
        for step in STEPS {
            let numbers = &report["steps"][step];
            text.push_str(&format!(
                "  {step:<17} p50 {:>8} ms   p99 {:>8} ms\n",
                numbers["p50"], numbers["p99"]
            ));
        }
        text.push_str(&describe_cost(&cost));
        output::print(&text)?;
    }
    Ok(Exit::Success)
}

/// The batch's cost line: per photo and in total, at the shipped prices.
fn describe_cost(cost: &CostTotals) -> String {
    let usd = executions::usd;
    let express = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), usd);
    format!(
        "  cost per photo    Standard {} / Express {} (Lambda {}, Rekognition {}); batch of {}: \
         Standard {} / Express {}; {} transitions, {} retries, peak payload {} bytes\n",
        usd(cost.usd_per_execution.total_standard),
        express(cost.usd_per_execution.total_express),
        usd(cost.usd_per_execution.lambda),
        usd(cost.usd_per_execution.rekognition),
        cost.executions,
        usd(cost.usd.total_standard),
        express(cost.usd.total_express),
        cost.transitions,
        cost.retries,
        cost.peak_payload_bytes,
    )
}

/// `{p50, p99, n}` of `samples`, rounded to a tenth.
pub fn percentiles(samples: &mut [f64]) -> Value {
    if samples.is_empty() {
        return Value::Null;
    }
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        (samples[index] * 10.0).round() / 10.0
    };
    serde_json::json!({ "p50": at(0.5), "p99": at(0.99), "n": samples.len() })
}

/// The process's peak resident memory (`VmHWM`), where the system tells it.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
