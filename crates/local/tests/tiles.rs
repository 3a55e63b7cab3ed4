//! The tiled full-size text detection on 12 MP photos: it reads what the whole-image detection
//! reads, with fewer tiles than the grid has when the text is in one corner, and a line across
//! a tile boundary whole. Models as in `tests.rs` (skipped without them unless
//! `SPOTLIGHT_REQUIRE_MODELS` is set).
//!
//! `cargo test --test tiles -- --ignored tile_candidates --nocapture` prints, for tile sizes
//! (`SPOTLIGHT_TILE_CANDIDATES`, e.g. `512:32,768:64`), the rendered text's CER and what the
//! detector cost on the 12 MP cases.

mod common;

use std::path::Path;

use image::RgbImage;
use spotlight_local::text::{TextModel, TextTimings, TILE_CORE, TILE_MARGIN};
use spotlight_local::{ModelId, Prepared};

use common::{edit_distance, load_model, models, normalise, photos};

/// The three text models on one thread per run (as `LocalConfig` loads them), or `None` when
/// they are absent and not required.
fn text_model() -> Option<TextModel> {
    models()?;
    Some(
        TextModel::new(
            load_model(ModelId::TextDetection),
            load_model(ModelId::TextAngle),
            load_model(ModelId::TextRecognition),
        )
        .unwrap_or_else(|e| panic!("{e}")),
    )
}

fn open(path: &Path) -> RgbImage {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Prepared::decode(&bytes)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .rgb
}

/// `photo` stretched to 4000×3000 (12 MP) with `text` pasted, `scale` times its size, with its
/// centre at (`cx`, `cy`) as fractions of the photo.
fn twelve_mp(photo: &str, text: Option<(&str, u32, f32, f32)>) -> RgbImage {
    let (w, h) = (4000, 3000);
    let mut img = spotlight_local::image::resize(&open(&photos().join(photo)), w, h, false);
    if let Some((name, scale, cx, cy)) = text {
        let sign = open(&photos().join("text").join(name));
        let sign = spotlight_local::image::resize(
            &sign,
            sign.width() * scale,
            sign.height() * scale,
            false,
        );
        let x = (cx * w as f32) as i64 - i64::from(sign.width() / 2);
        let y = (cy * h as f32) as i64 - i64::from(sign.height() / 2);
        image::imageops::replace(&mut img, &sign, x, y);
    }
    img
}

fn read(model: &TextModel, img: &RgbImage) -> (String, TextTimings) {
    let (lines, timings) = model
        .read_timed(img, 50.0)
        .unwrap_or_else(|e| panic!("{e}"));
    let texts: Vec<String> = lines.into_iter().map(|l| l.text).collect();
    (normalise(&texts), timings)
}

fn cer(got: &str, truth: &str) -> f64 {
    edit_distance(got, truth) as f64 / truth.chars().count().max(1) as f64
}

/// The sign in the top-left corner of a 12 MP photo of a cat: the tiles read what the whole
/// image reads, and only the tiles near the sign run.
#[test]
fn text_in_one_corner_of_a_12_mp_photo_is_read_from_a_few_tiles_as_from_the_whole_image() {
    let Some(model) = text_model() else { return };
    let img = twelve_mp("chelsea.jpg", Some(("sign.png", 1, 0.1, 0.08)));
    let (tiled, t) = read(&model, &img);
    let model = model.with_tiled_detection(false);
    let (whole, w) = read(&model, &img);
    println!("tiled: {tiled} ({t:?})\nwhole: {whole} ({w:?})");
    assert!(whole.contains("OPEN DAILY"), "{whole}");
    assert!(
        cer(&tiled, &whole) <= 0.005,
        "tiled {tiled:?} vs whole {whole:?}"
    );
    assert!(t.full_detection && w.full_detection);
    assert!(
        t.tiles_run >= 1 && t.tiles_run < t.tiles_total,
        "{} of {} tiles ran",
        t.tiles_run,
        t.tiles_total
    );
    assert_eq!((w.tiles_run, w.tiles_total), (0, 0), "whole image");
    assert!(t.detector_pixels < w.detector_pixels, "{t:?} vs {w:?}");
}

/// A line drawn across the corner where four tiles meet is read whole, as the whole-image
/// detection reads it, and every tile it touches ran.
#[test]
fn a_line_across_tile_boundaries_is_read_whole() {
    let Some(model) = text_model() else { return };
    // A 4000×3000 photo is read at 2016×1504; 768 px cores split that at x = 672 and 1344 and
    // at y = 768, i.e. at (2667, 1532) of the photo for the second corner.
    assert_eq!(
        (TILE_CORE, TILE_MARGIN),
        (768, 128),
        "boundaries computed for these"
    );
    let img = twelve_mp(
        "chelsea.jpg",
        Some(("banner.png", 2, 1344.0 / 2016.0, 768.0 / 1504.0)),
    );
    let (tiled, t) = read(&model, &img);
    let model = model.with_tiled_detection(false);
    let (whole, w) = read(&model, &img);
    println!("tiled: {tiled} ({t:?})\nwhole: {whole} ({w:?})");
    assert!(whole.contains("WELCOME TO THE HARBOU"), "{whole}");
    assert!(
        tiled.contains("WELCOME TO THE HARBOU"),
        "one line, read whole: {tiled}"
    );
    assert!(
        cer(&tiled, &whole) <= 0.005,
        "tiled {tiled:?} vs whole {whole:?}"
    );
    assert!(
        t.tiles_run >= 4 && t.tiles_run < t.tiles_total,
        "{} of {} tiles ran",
        t.tiles_run,
        t.tiles_total
    );
}

/// Measurements for choosing the tile size (not a check: run with `--ignored`).
#[test]
#[ignore = "a measurement, run by hand"]
fn tile_candidates() {
    let Some(model) = text_model() else { return };
    let candidates = std::env::var("SPOTLIGHT_TILE_CANDIDATES")
        .unwrap_or_else(|_| "0:0,512:32,512:64,640:64,768:32,768:64,768:96,1024:64".into());
    let truth =
        std::fs::read_to_string(photos().join("text/TRUTH.tsv")).unwrap_or_else(|e| panic!("{e}"));
    let fixtures: Vec<(String, String)> = truth
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once('\t'))
        .map(|(image, lines)| {
            let lines: Vec<String> = lines.split('|').map(str::to_string).collect();
            (image.to_string(), normalise(&lines))
        })
        .collect();
    let fixture_images: Vec<RgbImage> = fixtures
        .iter()
        .map(|(image, _)| open(&photos().join("text").join(image)))
        .collect();
    let cases: Vec<(&str, RgbImage)> = vec![
        ("sign 12MP", {
            let sign = open(&photos().join("text/sign.png"));
            spotlight_local::image::resize(&sign, 4000, 3000, false)
        }),
        ("grace 12MP", twelve_mp("grace_hopper.jpg", None)),
        (
            "corner 12MP",
            twelve_mp("chelsea.jpg", Some(("sign.png", 1, 0.1, 0.08))),
        ),
        (
            "crossing 12MP",
            twelve_mp(
                "chelsea.jpg",
                Some(("banner.png", 2, 1344.0 / 2016.0, 768.0 / 1504.0)),
            ),
        ),
        ("paragraph 12MP", {
            let p = open(&photos().join("text/paragraph.png"));
            spotlight_local::image::resize(&p, 4000, 2100, false)
        }),
    ];
    let mut model = Some(model);
    let mut untiled_text: Vec<String> = Vec::new();
    for candidate in candidates.split(',') {
        let (core, margin) = candidate.split_once(':').unwrap_or((candidate, "64"));
        let core: u32 = core.parse().unwrap_or(0);
        let margin: u32 = margin.parse().unwrap_or(64);
        let Some(m) = model.take() else { return };
        let m = if core == 0 {
            m.with_tiled_detection(false)
        } else {
            m.with_tiled_detection(true).with_tile_size(core, margin)
        };
        let (mut errors, mut total) = (0, 0);
        let mut changed = Vec::new();
        for ((image, want), img) in fixtures.iter().zip(&fixture_images) {
            let (got, _) = read(&m, img);
            errors += edit_distance(&got, want);
            total += want.chars().count();
            changed.push((image.clone(), got));
        }
        println!(
            "== core {core} margin {margin}: fixtures CER {:.4}",
            errors as f64 / total as f64
        );
        for (i, (name, img)) in cases.iter().enumerate() {
            let (got, t) = read(&m, img);
            if core == 0 {
                untiled_text.push(got.clone());
            }
            let base = untiled_text.get(i).cloned().unwrap_or_default();
            println!(
                "  {name:15} det {:.3} s, {:.2} Mpx, tiles {}/{}, CER vs whole {:.4}: {}",
                t.detector_model,
                t.detector_pixels as f64 / 1e6,
                t.tiles_run,
                t.tiles_total,
                cer(&got, &base),
                if got == base && core != 0 {
                    "same".to_string()
                } else {
                    got
                }
            );
        }
        for (name, got) in changed {
            println!("  {name}: {got}");
        }
        model = Some(m);
    }
}
