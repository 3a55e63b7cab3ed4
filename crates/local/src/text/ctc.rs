//! CTC decoding: the recogniser's per-step class probabilities to text, the spaces it dropped,
//! and each word's box from its characters' time steps.

use spotlight_core::contracts::TextWord;

use super::geometry::{aabb, Crop};
use super::Point;

#[derive(Debug, Default)]
pub(super) struct Read {
    pub(super) text: String,
    pub(super) confidence: f32,
    chars: Vec<Decoded>,
    /// Crop pixels per CTC time step.
    pub(super) x_per_step: f32,
}

#[derive(Debug)]
struct Decoded {
    text: String,
    step: usize,
    confidence: f32,
}

/// Greedy CTC: best class per step, repeats collapsed, blanks dropped; the confidence is the
/// mean probability of the characters kept.
pub(super) fn decode(rows: &[f32], classes: usize, charset: &[String], gap_spaces: bool) -> Read {
    let mut read = Read::default();
    // The class of the step before: a repeat of it is the same character, not a new one.
    let mut previous: Option<usize> = None;
    let mut sum = 0.0;
    let mut decoded = 0usize;
    for (t, row) in rows.chunks_exact(classes).enumerate() {
        let (best, p) =
            row.iter().enumerate().fold(
                (0, f32::MIN),
                |acc, (i, &p)| if p > acc.1 { (i, p) } else { acc },
            );
        if best != 0 && Some(best) != previous {
            if let Some(ch) = charset.get(best) {
                read.chars.push(Decoded {
                    text: ch.clone(),
                    step: t,
                    confidence: p,
                });
                read.text.push_str(ch);
                sum += p;
                decoded += 1;
            }
        }
        previous = Some(best);
    }
    if gap_spaces {
        insert_gap_spaces(&mut read);
    }
    read.confidence = if read.chars.is_empty() {
        0.0
    } else {
        sum / decoded as f32
    };
    read
}

/// Inserts a space where two characters' CTC peaks are much further apart than the line's
/// median gap (see [`TextModel::with_gap_spaces`]).
fn insert_gap_spaces(read: &mut Read) {
    let is_space = |d: &Decoded| d.text.trim().is_empty();
    // Where the recogniser wrote spaces itself, it saw them: trust it.
    if read.chars.iter().any(is_space) {
        return;
    }
    // Wide letters put their neighbours' peaks further away.
    let wide = |d: &Decoded| matches!(d.text.as_str(), "m" | "w" | "M" | "W" | "@" | "%");
    let mut gaps: Vec<usize> = read
        .chars
        .windows(2)
        .map(|w| w[1].step - w[0].step)
        .collect();
    if gaps.len() < 4 {
        return;
    }
    gaps.sort_unstable();
    let median = gaps[gaps.len() / 2] as f32;
    let threshold = (median * 1.5).max(median + 2.0);
    let mut chars = Vec::with_capacity(read.chars.len() + 8);
    let mut previous: Option<(usize, bool, f32)> = None;
    for d in read.chars.drain(..) {
        if let Some((step, previous_wide, confidence)) = previous {
            let allowance = if previous_wide || wide(&d) {
                median / 2.0
            } else {
                0.0
            };
            if (d.step - step) as f32 >= threshold + allowance {
                chars.push(Decoded {
                    text: " ".into(),
                    step: (step + d.step) / 2,
                    confidence: confidence.min(d.confidence),
                });
            }
        }
        previous = Some((d.step, wide(&d), d.confidence));
        chars.push(d);
    }
    read.text = chars.iter().map(|d| d.text.as_str()).collect();
    read.chars = chars;
}

/// The line's words (split on spaces) with boxes from their characters' CTC time steps.
pub(super) fn words(
    read: &Read,
    crop: &Crop,
    quad: &[Point; 4],
    to_fraction: &dyn Fn(Point) -> Point,
) -> Vec<TextWord> {
    let mut words = Vec::new();
    let mut current: Vec<&Decoded> = Vec::new();
    let crop_w = if crop.rotated {
        crop.image.height() as f32
    } else {
        crop.image.width() as f32
    };
    // Time steps per character, over the whole line.
    let pitch = match (read.chars.first(), read.chars.last()) {
        (Some(a), Some(b)) if read.chars.len() > 1 => {
            (b.step - a.step) as f32 / (read.chars.len() - 1) as f32
        }
        _ => 2.0,
    };
    let flush = |current: &mut Vec<&Decoded>, words: &mut Vec<TextWord>| {
        if current.is_empty() {
            return;
        }
        let text: String = current.iter().map(|d| d.text.as_str()).collect();
        let confidence =
            current.iter().map(|d| d.confidence).sum::<f32>() / current.len() as f32 * 100.0;
        let bounding_box = if crop.rotated {
            None
        } else {
            // CTC peaks sit near a character's middle: a word spans from half a character
            // before its first peak to half a character after its last.
            let first = current.first().map_or(0, |d| d.step) as f32 + 0.5;
            let last = current.last().map_or(0, |d| d.step) as f32 + 0.5;
            let (mut u0, mut u1) = (
                (first - pitch / 2.0) * read.x_per_step,
                (last + pitch / 2.0) * read.x_per_step,
            );
            if crop.flipped {
                (u0, u1) = (crop_w - u1, crop_w - u0);
            }
            let (t0, t1) = ((u0 / crop_w).clamp(0.0, 1.0), (u1 / crop_w).clamp(0.0, 1.0));
            let along =
                |a: Point, b: Point, t: f32| [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t];
            let corners = [
                along(quad[0], quad[1], t0),
                along(quad[0], quad[1], t1),
                along(quad[3], quad[2], t1),
                along(quad[3], quad[2], t0),
            ]
            .map(to_fraction);
            Some(aabb(&corners))
        };
        words.push(TextWord {
            text,
            confidence,
            bounding_box,
        });
        current.clear();
    };
    for d in &read.chars {
        if d.text.trim().is_empty() {
            flush(&mut current, &mut words);
        } else {
            current.push(d);
        }
    }
    flush(&mut current, &mut words);
    words
}
