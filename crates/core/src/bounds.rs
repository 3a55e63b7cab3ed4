//! The size bounds on analyser results, and the trimming that keeps results inside them.
//!
//! Step Functions passes at most 256 KiB between states, and the `Analyze` state's output
//! carries all three results, so each result is kept to [`MAX_RESULT_BYTES`] serialised: the
//! top [`MAX_LABELS`] labels, the first [`MAX_TEXT_LINES`] lines, every moderation label. What a
//! bound removes is reported in a [`Trimmed`], never dropped silently.

use serde::Serialize;

use crate::contracts::{Label, ModerationLabel, TextLine, Trimmed};

/// The most a single analyser result may take, serialised.
pub const MAX_RESULT_BYTES: usize = 64 * 1024;
/// The most labels a result keeps.
pub const MAX_LABELS: usize = 50;
/// The most text lines a result keeps.
pub const MAX_TEXT_LINES: usize = 100;
/// Room kept for the result's envelope (model name, trimming note).
const ENVELOPE_BYTES: usize = 1024;

/// Confidences are percentages; anything else (NaN, negative, over 100) is clamped.
pub fn clamp_confidence(confidence: f32) -> f32 {
    if confidence.is_nan() {
        0.0
    } else {
        confidence.clamp(0.0, 100.0)
    }
}

/// Labels sorted by confidence, one per name, within both bounds.
pub fn bound_labels(labels: Vec<Label>) -> (Vec<Label>, Option<Trimmed>) {
    let mut labels: Vec<Label> = labels
        .into_iter()
        .filter(|l| !l.name.trim().is_empty())
        .map(|mut l| {
            l.confidence = clamp_confidence(l.confidence);
            for instance in &mut l.instances {
                instance.confidence = clamp_confidence(instance.confidence);
            }
            l
        })
        .collect();
    labels.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    let mut seen = std::collections::HashSet::new();
    labels.retain(|l| seen.insert(l.name.clone()));
    bound(labels, MAX_LABELS, "labels")
}

/// Moderation labels sorted by confidence. All are kept: the taxonomy bounds their number.
pub fn sort_moderation_labels(labels: Vec<ModerationLabel>) -> Vec<ModerationLabel> {
    let mut labels: Vec<ModerationLabel> = labels
        .into_iter()
        .map(|mut l| {
            l.confidence = clamp_confidence(l.confidence);
            l
        })
        .collect();
    labels.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    labels
}

/// Text lines in reading order (top to bottom, then left to right), within both bounds.
pub fn bound_text_lines(lines: Vec<TextLine>) -> (Vec<TextLine>, Option<Trimmed>) {
    let mut lines: Vec<TextLine> = lines
        .into_iter()
        .filter(|l| !l.text.trim().is_empty())
        .map(|mut l| {
            l.confidence = clamp_confidence(l.confidence);
            for word in &mut l.words {
                word.confidence = clamp_confidence(word.confidence);
            }
            l
        })
        .collect();
    lines.sort_by(|a, b| {
        a.bounding_box
            .top
            .total_cmp(&b.bounding_box.top)
            .then(a.bounding_box.left.total_cmp(&b.bounding_box.left))
    });
    bound(lines, MAX_TEXT_LINES, "text lines")
}

fn bound<T: Serialize>(
    mut items: Vec<T>,
    max_items: usize,
    what: &str,
) -> (Vec<T>, Option<Trimmed>) {
    let total = items.len();
    let mut cut_by = None;
    if items.len() > max_items {
        items.truncate(max_items);
        cut_by = Some(format!("top {max_items} {what}"));
    }
    let budget = MAX_RESULT_BYTES - ENVELOPE_BYTES;
    let mut used: usize = 2; // the brackets of the array
    let mut fits = items.len();
    for (index, item) in items.iter().enumerate() {
        // An item that cannot be serialised counts as too big, so it is cut, not kept unseen.
        let size = serde_json::to_vec(item).map_or(usize::MAX, |v| v.len() + 1);
        used = used.saturating_add(size);
        if used > budget {
            fits = index;
            break;
        }
    }
    if fits < items.len() {
        items.truncate(fits);
        cut_by = Some(format!("{} KiB", MAX_RESULT_BYTES / 1024));
    }
    let trimmed = cut_by.map(|bound| Trimmed {
        total: u32::try_from(total).unwrap_or(u32::MAX),
        kept: u32::try_from(items.len()).unwrap_or(u32::MAX),
        bound,
    });
    (items, trimmed)
}
