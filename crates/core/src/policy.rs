//! The moderation policy: which moderation labels make an image unsafe.
//!
//! Fail closed: an image is safe only when moderation ran and found nothing at or above its
//! threshold. Unknown moderation is never safe.
//!
//! A policy may also give review thresholds: a label at or over its review threshold but under
//! its block threshold makes the verdict `NEEDS_REVIEW` (never safe until a person approves);
//! any label at or over its block threshold still makes it `UNSAFE`. Without review thresholds
//! (every policy file before issue 14) there is no such band.
//!
//! [`ModerationPolicy::evaluate`] is the one place a verdict is derived from moderation labels:
//! the record step calls it on the analyser's answer and a policy change on the stored labels
//! ([`reevaluate`]). The raw labels are stored beside the verdict, so
//! a new policy can re-evaluate old records without re-running a model.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::contracts::{FlaggedLabel, ImageRecord, ModerationLabel, ModerationSummary, Verdict};

/// The policy shipped in `config/moderation-policy.json`.
pub const DEFAULT_POLICY_JSON: &str = include_str!("../../../config/moderation-policy.json");

/// Per-label confidence thresholds, in percent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModerationPolicy {
    /// Stored with each verdict, so a record says which policy judged it.
    pub version: String,
    /// The threshold for labels with none of their own nor any ancestor's.
    pub default_min_confidence: f32,
    /// Thresholds by label name (any level of the taxonomy).
    #[serde(default)]
    pub min_confidence: BTreeMap<String, f32>,
    /// The review threshold for labels with none of their own nor any ancestor's; absent: no
    /// review band for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_min_confidence: Option<f32>,
    /// Review thresholds by label name, found as block thresholds are (own, ancestors').
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub review_min_confidence_by_label: BTreeMap<String, f32>,
}

/// A policy file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid moderation policy: {0}")]
pub struct PolicyError(String);

impl ModerationPolicy {
    /// The shipped policy.
    pub fn shipped() -> Self {
        // The shipped file is checked by a test; this cannot fail in a build that passed it.
        Self::from_json(DEFAULT_POLICY_JSON).unwrap_or_else(|_| ModerationPolicy {
            version: "fallback-strict".to_owned(),
            default_min_confidence: 0.0,
            min_confidence: BTreeMap::new(),
            review_min_confidence: None,
            review_min_confidence_by_label: BTreeMap::new(),
        })
    }

    /// Parses and checks a policy: thresholds are percentages.
    pub fn from_json(json: &str) -> Result<Self, PolicyError> {
        let policy: ModerationPolicy =
            serde_json::from_str(json).map_err(|e| PolicyError(e.to_string()))?;
        let all = std::iter::once(("default", policy.default_min_confidence))
            .chain(
                policy
                    .min_confidence
                    .iter()
                    .map(|(name, value)| (name.as_str(), *value)),
            )
            .chain(
                policy
                    .review_min_confidence
                    .map(|value| ("review default", value)),
            )
            .chain(
                policy
                    .review_min_confidence_by_label
                    .iter()
                    .map(|(name, value)| (name.as_str(), *value)),
            );
        for (name, value) in all {
            if !(0.0..=100.0).contains(&value) {
                return Err(PolicyError(format!(
                    "threshold for {name:?} is {value}, not a percentage"
                )));
            }
        }
        if policy.version.trim().is_empty() {
            return Err(PolicyError("the policy has no version".to_owned()));
        }
        Ok(policy)
    }

    /// The lowest threshold the policy applies to any label. An analyser that leaves out labels
    /// below some floor must keep that floor at or under this, or the policy never sees them.
    pub fn lowest_threshold(&self) -> f32 {
        self.min_confidence
            .values()
            .chain(self.review_min_confidence.iter())
            .chain(self.review_min_confidence_by_label.values())
            .copied()
            .fold(self.default_min_confidence, f32::min)
    }

    /// The threshold for a label on its own: see [`ModerationPolicy::threshold_among`].
    pub fn threshold(&self, label: &ModerationLabel) -> f32 {
        self.threshold_among(label, &[])
    }

    /// The threshold for a label reported beside `others` (the rest of the same answer): its
    /// own, else the nearest ancestor's that has one (parent, then grandparent: the top-level
    /// category), else the default. A label only names its parent, so the grandparent comes
    /// from `others` or, failing that, from [`TAXONOMY_V7`].
    pub fn threshold_among(&self, label: &ModerationLabel, others: &[ModerationLabel]) -> f32 {
        std::iter::once(label.name.as_str())
            .chain(ancestors(label, others))
            .find_map(|name| self.min_confidence.get(name))
            .copied()
            .unwrap_or(self.default_min_confidence)
    }

    /// The review threshold for a label reported beside `others`, found as
    /// [`ModerationPolicy::threshold_among`] finds the block threshold; `None`: no review band.
    pub fn review_threshold_among(
        &self,
        label: &ModerationLabel,
        others: &[ModerationLabel],
    ) -> Option<f32> {
        std::iter::once(label.name.as_str())
            .chain(ancestors(label, others))
            .find_map(|name| self.review_min_confidence_by_label.get(name))
            .copied()
            .or(self.review_min_confidence)
    }

    /// The verdict on an image. `None` means moderation did not run: never safe.
    pub fn evaluate(&self, labels: Option<&[ModerationLabel]>) -> ModerationSummary {
        let Some(labels) = labels else {
            return ModerationSummary {
                labels: Vec::new(),
                verdict: Verdict::Unknown,
                flagged: Vec::new(),
                policy_version: self.version.clone(),
                review_flagged: Vec::new(),
            };
        };
        let flagged: Vec<FlaggedLabel> = labels
            .iter()
            .filter_map(|label| {
                let threshold = self.threshold_among(label, labels);
                // A NaN confidence is an unusable result: flag it rather than trust it.
                (label.confidence.is_nan() || label.confidence >= threshold).then(|| FlaggedLabel {
                    name: label.name.clone(),
                    confidence: label.confidence,
                    threshold,
                })
            })
            .collect();
        let review_flagged: Vec<FlaggedLabel> = labels
            .iter()
            .filter(|label| !flagged.iter().any(|f| f.name == label.name))
            .filter_map(|label| {
                let threshold = self.review_threshold_among(label, labels)?;
                (label.confidence >= threshold).then(|| FlaggedLabel {
                    name: label.name.clone(),
                    confidence: label.confidence,
                    threshold,
                })
            })
            .collect();
        let verdict = if !flagged.is_empty() {
            Verdict::Unsafe
        } else if !review_flagged.is_empty() {
            Verdict::NeedsReview
        } else {
            Verdict::Safe
        };
        ModerationSummary {
            labels: labels.to_vec(),
            verdict,
            flagged,
            policy_version: self.version.clone(),
            review_flagged,
        }
    }
}

/// Re-derives a stored record's verdict under `policy` from its stored moderation labels,
/// without running a model. A reviewer's decision still overrides it (`safe` follows
/// [`ImageRecord::effective_safe`]). Returns whether the model's verdict changed; a record whose
/// moderation never ran is left as it is (unknown stays unknown).
pub fn reevaluate(record: &mut ImageRecord, policy: &ModerationPolicy) -> bool {
    let Some(moderation) = &record.moderation else {
        return false;
    };
    let before = moderation.verdict;
    let summary = policy.evaluate(Some(&moderation.labels));
    let changed = summary.verdict != before;
    record.moderation = Some(summary);
    record.safe = record.effective_safe();
    changed
}

/// Rekognition's moderation taxonomy, model version 7: every level-2 and level-3 label with its
/// parent (the developer guide's "Using the image and video moderation APIs" table). Used only
/// where an answer leaves a grandparent out; the answer itself wins where it names one, so a
/// newer model's taxonomy is followed as reported.
pub const TAXONOMY_V7: &[(&str, &str)] = &[
    ("Explicit Nudity", "Explicit"),
    ("Exposed Male Genitalia", "Explicit Nudity"),
    ("Exposed Female Genitalia", "Explicit Nudity"),
    ("Exposed Buttocks or Anus", "Explicit Nudity"),
    ("Exposed Female Nipple", "Explicit Nudity"),
    ("Explicit Sexual Activity", "Explicit"),
    ("Sex Toys", "Explicit"),
    (
        "Non-Explicit Nudity",
        "Non-Explicit Nudity of Intimate parts and Kissing",
    ),
    ("Bare Back", "Non-Explicit Nudity"),
    ("Exposed Male Nipple", "Non-Explicit Nudity"),
    ("Partially Exposed Buttocks", "Non-Explicit Nudity"),
    ("Partially Exposed Female Breast", "Non-Explicit Nudity"),
    ("Implied Nudity", "Non-Explicit Nudity"),
    (
        "Obstructed Intimate Parts",
        "Non-Explicit Nudity of Intimate parts and Kissing",
    ),
    ("Obstructed Female Nipple", "Obstructed Intimate Parts"),
    ("Obstructed Male Genitalia", "Obstructed Intimate Parts"),
    (
        "Kissing on the Lips",
        "Non-Explicit Nudity of Intimate parts and Kissing",
    ),
    ("Female Swimwear or Underwear", "Swimwear or Underwear"),
    ("Male Swimwear or Underwear", "Swimwear or Underwear"),
    ("Weapons", "Violence"),
    ("Graphic Violence", "Violence"),
    ("Weapon Violence", "Graphic Violence"),
    ("Physical Violence", "Graphic Violence"),
    ("Self-Harm", "Graphic Violence"),
    ("Blood & Gore", "Graphic Violence"),
    ("Explosions and Blasts", "Graphic Violence"),
    ("Death and Emaciation", "Visually Disturbing"),
    ("Emaciated Bodies", "Death and Emaciation"),
    ("Corpses", "Death and Emaciation"),
    ("Crashes", "Visually Disturbing"),
    ("Air Crash", "Crashes"),
    ("Products", "Drugs & Tobacco"),
    ("Pills", "Products"),
    ("Drugs & Tobacco Paraphernalia & Use", "Drugs & Tobacco"),
    ("Smoking", "Drugs & Tobacco Paraphernalia & Use"),
    ("Alcohol Use", "Alcohol"),
    ("Drinking", "Alcohol Use"),
    ("Alcoholic Beverages", "Alcohol"),
    ("Middle Finger", "Rude Gestures"),
    ("Nazi Party", "Hate Symbols"),
    ("White Supremacy", "Hate Symbols"),
    ("Extremist", "Hate Symbols"),
];

/// The top-level (level-1) categories of [`TAXONOMY_V7`].
pub const TOP_LEVEL_V7: &[&str] = &[
    "Explicit",
    "Non-Explicit Nudity of Intimate parts and Kissing",
    "Swimwear or Underwear",
    "Violence",
    "Visually Disturbing",
    "Drugs & Tobacco",
    "Alcohol",
    "Rude Gestures",
    "Gambling",
    "Hate Symbols",
];

/// More ancestors than any taxonomy has levels: a bound against a malformed answer, not a limit
/// a real one reaches (the cycle check below already ends every walk).
const MAX_ANCESTORS: usize = 8;

/// A label's ancestors, nearest first, up to its top-level category. Each step takes the parent
/// the label names, else the one the same answer gives for it, else the shipped taxonomy's. A
/// name that is its own parent (`Gambling` is named at two levels) or comes round again ends the
/// walk.
fn ancestors<'a>(label: &'a ModerationLabel, others: &'a [ModerationLabel]) -> Vec<&'a str> {
    let parent_of = |name: &str| -> Option<&'a str> {
        others
            .iter()
            .find(|other| other.name == name)
            .and_then(|other| other.parent_name.as_deref())
            .filter(|parent| !parent.is_empty())
            .or_else(|| {
                TAXONOMY_V7
                    .iter()
                    .find(|(child, _)| *child == name)
                    .map(|(_, parent)| *parent)
            })
    };
    let mut chain: Vec<&'a str> = Vec::new();
    let mut current: &'a str = &label.name;
    let mut next = label
        .parent_name
        .as_deref()
        .filter(|parent| !parent.is_empty())
        .or_else(|| parent_of(current));
    while let Some(parent) = next {
        if parent == label.name || chain.contains(&parent) || chain.len() == MAX_ANCESTORS {
            break;
        }
        chain.push(parent);
        current = parent;
        next = parent_of(current);
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(name: &str, parent: Option<&str>, confidence: f32) -> ModerationLabel {
        ModerationLabel {
            name: name.to_owned(),
            parent_name: parent.map(str::to_owned),
            confidence,
            taxonomy_level: if parent.is_some() { 2 } else { 1 },
        }
    }

    #[test]
    fn the_shipped_policy_parses() {
        let policy = ModerationPolicy::from_json(DEFAULT_POLICY_JSON).unwrap();
        assert_eq!(policy, ModerationPolicy::shipped());
        assert!(policy.min_confidence.contains_key("Explicit"));
    }

    #[test]
    fn unknown_moderation_is_never_safe() {
        let summary = ModerationPolicy::shipped().evaluate(None);
        assert_eq!(summary.verdict, Verdict::Unknown);
    }

    #[test]
    fn nothing_found_is_safe() {
        let summary = ModerationPolicy::shipped().evaluate(Some(&[]));
        assert_eq!(summary.verdict, Verdict::Safe);
        assert!(summary.flagged.is_empty());
    }

    #[test]
    fn thresholds_fall_back_from_label_to_parent_to_default() {
        let policy = ModerationPolicy::from_json(
            r#"{"version":"t","defaultMinConfidence":60,"minConfidence":{"Alcohol":90,"Beer":20}}"#,
        )
        .unwrap();
        assert_eq!(policy.threshold(&label("Beer", Some("Alcohol"), 0.0)), 20.0);
        assert_eq!(policy.threshold(&label("Wine", Some("Alcohol"), 0.0)), 90.0);
        assert_eq!(policy.threshold(&label("Gambling", None, 0.0)), 60.0);

        let summary = policy.evaluate(Some(&[
            label("Wine", Some("Alcohol"), 89.9),
            label("Gambling", None, 60.0),
        ]));
        assert_eq!(summary.verdict, Verdict::Unsafe);
        assert_eq!(summary.flagged.len(), 1);
        assert_eq!(summary.flagged[0].name, "Gambling");
    }

    fn level3(name: &str, parent: &str, confidence: f32) -> ModerationLabel {
        ModerationLabel {
            taxonomy_level: 3,
            ..label(name, Some(parent), confidence)
        }
    }

    #[test]
    fn a_level_three_label_falls_back_to_its_top_level_category() {
        // Issue 17: only the parent was looked at, so a level-3 label whose parent has no
        // threshold fell to the default, past its top-level category's.
        let policy = ModerationPolicy::from_json(
            r#"{"version":"t","defaultMinConfidence":90,"minConfidence":{"Violence":50,"Alcohol":95}}"#,
        )
        .unwrap();
        let gore = level3("Blood & Gore", "Graphic Violence", 60.0);
        assert_eq!(
            policy.threshold(&gore),
            50.0,
            "grandparent from the taxonomy"
        );
        let summary = policy.evaluate(Some(std::slice::from_ref(&gore)));
        assert_eq!(
            summary.verdict,
            Verdict::Unsafe,
            "a default above it fails open"
        );
        assert_eq!(summary.flagged[0].threshold, 50.0);
        // The other way round: a laxer category is not overridden by a stricter default.
        let drinking = level3("Drinking", "Alcohol Use", 92.0);
        assert_eq!(policy.evaluate(Some(&[drinking])).verdict, Verdict::Safe);
    }

    #[test]
    fn the_answer_names_the_grandparent_before_the_taxonomy() {
        // Names the shipped taxonomy does not know, as a newer model could report them.
        let policy = ModerationPolicy::from_json(
            r#"{"version":"t","defaultMinConfidence":80,"minConfidence":{"Top":30,"Violence":70}}"#,
        )
        .unwrap();
        let answer = [
            label("Top", None, 35.0),
            label("Middle", Some("Top"), 35.0),
            level3("Leaf", "Middle", 35.0),
        ];
        assert_eq!(policy.threshold_among(&answer[2], &answer), 30.0);
        assert_eq!(
            policy.threshold(&answer[2]),
            80.0,
            "alone, the walk stops at Middle"
        );
        let summary = policy.evaluate(Some(&answer));
        assert_eq!(summary.flagged.len(), 3, "{:?}", summary.flagged);
        // What the answer says wins over the shipped table.
        let moved = [
            label("Graphic Violence", Some("Top"), 40.0),
            level3("Blood & Gore", "Graphic Violence", 40.0),
        ];
        assert_eq!(policy.threshold_among(&moved[1], &moved), 30.0);
    }

    #[test]
    fn a_label_named_after_its_own_parent_or_a_loop_ends_the_walk() {
        let policy = ModerationPolicy::from_json(
            r#"{"version":"t","defaultMinConfidence":60,"minConfidence":{"Hate Symbols":10}}"#,
        )
        .unwrap();
        assert_eq!(
            policy.threshold(&label("Gambling", Some("Gambling"), 0.0)),
            60.0
        );
        let answer = [label("A", Some("B"), 0.0), label("B", Some("A"), 0.0)];
        assert_eq!(policy.threshold_among(&answer[0], &answer), 60.0);
        assert_eq!(policy.threshold(&label("Extremist", Some(""), 0.0)), 10.0);
    }

    #[test]
    fn every_taxonomy_label_reaches_a_top_level_category_within_three_levels() {
        for (name, parent) in TAXONOMY_V7 {
            let leaf = label(name, Some(parent), 0.0);
            let chain = ancestors(&leaf, &[]);
            let top = chain.last().copied().unwrap_or_default();
            assert!(TOP_LEVEL_V7.contains(&top), "{name} -> {chain:?}");
            assert!(chain.len() <= 2, "{name} -> {chain:?}");
        }
        let shipped = ModerationPolicy::shipped();
        for top in TOP_LEVEL_V7 {
            assert!(
                shipped.min_confidence.contains_key(*top),
                "the shipped policy sets {top}"
            );
        }
    }

    #[test]
    fn the_shipped_policy_flags_explicit_nudity_at_45_percent() {
        // Below Rekognition's old MinConfidence (55): only visible now every label comes back.
        let answer = [
            label("Explicit", None, 45.0),
            label("Explicit Nudity", Some("Explicit"), 45.0),
            level3("Exposed Female Nipple", "Explicit Nudity", 45.0),
        ];
        let summary = ModerationPolicy::shipped().evaluate(Some(&answer));
        assert_eq!(summary.verdict, Verdict::Unsafe);
        assert_eq!(summary.flagged.len(), 3);
        assert!(summary.flagged.iter().all(|f| f.threshold == 40.0));
    }

    #[test]
    fn a_nan_confidence_is_flagged() {
        let summary =
            ModerationPolicy::shipped().evaluate(Some(&[label("Violence", None, f32::NAN)]));
        assert_eq!(summary.verdict, Verdict::Unsafe);
    }

    #[test]
    fn a_label_between_its_review_and_block_thresholds_needs_review() {
        let policy = ModerationPolicy::from_json(
            r#"{"version":"t","defaultMinConfidence":80,"minConfidence":{"Violence":60},
                "reviewMinConfidence":50,"reviewMinConfidenceByLabel":{"Violence":30,"Weapons":45}}"#,
        )
        .unwrap();
        let verdict = |answer: &[ModerationLabel]| policy.evaluate(Some(answer)).verdict;
        assert_eq!(verdict(&[label("Gambling", None, 49.9)]), Verdict::Safe);
        assert_eq!(
            verdict(&[label("Gambling", None, 50.0)]),
            Verdict::NeedsReview
        );
        assert_eq!(verdict(&[label("Gambling", None, 80.0)]), Verdict::Unsafe);
        // Per label, through the ancestors as block thresholds are found.
        let gore = level3("Blood & Gore", "Graphic Violence", 31.0);
        assert_eq!(
            policy.review_threshold_among(&gore, &[]),
            Some(30.0),
            "the top-level category's"
        );
        assert_eq!(verdict(std::slice::from_ref(&gore)), Verdict::NeedsReview);
        assert_eq!(
            verdict(&[label("Weapons", Some("Violence"), 44.0)]),
            Verdict::Safe
        );
        let summary = policy.evaluate(Some(std::slice::from_ref(&gore)));
        assert_eq!(summary.review_flagged.len(), 1);
        assert_eq!(summary.review_flagged[0].threshold, 30.0);
        assert!(summary.flagged.is_empty());
        // UNSAFE wins over NEEDS_REVIEW, and a blocked label is not listed twice.
        let summary = policy.evaluate(Some(&[gore, label("Violence", None, 70.0)]));
        assert_eq!(summary.verdict, Verdict::Unsafe);
        assert_eq!(summary.flagged.len(), 1);
        assert_eq!(summary.review_flagged.len(), 1);
        // Unknown stays unknown.
        assert_eq!(policy.evaluate(None).verdict, Verdict::Unknown);
        // The analysers must keep labels down to the lowest review threshold.
        assert_eq!(policy.lowest_threshold(), 30.0);
    }

    #[test]
    fn a_policy_without_review_thresholds_has_no_review_band() {
        let old = ModerationPolicy::from_json(
            r#"{"version":"old","defaultMinConfidence":50,"minConfidence":{"Violence":60}}"#,
        )
        .unwrap();
        assert_eq!(old.review_min_confidence, None);
        for confidence in [0.0, 10.0, 49.9] {
            assert_eq!(
                old.evaluate(Some(&[label("Gambling", None, confidence)]))
                    .verdict,
                Verdict::Safe
            );
        }
        let json = serde_json::to_string(&old).unwrap();
        assert!(!json.contains("review"), "{json}");
        let bad = ModerationPolicy::from_json(
            r#"{"version":"t","defaultMinConfidence":50,"reviewMinConfidenceByLabel":{"X":101}}"#,
        );
        assert!(bad.unwrap_err().to_string().contains("not a percentage"));
    }

    #[test]
    fn reevaluating_a_record_keeps_the_reviewers_decision() {
        use crate::contracts::{RecordStatus, Review, ReviewDecision};
        let strict =
            ModerationPolicy::from_json(r#"{"version":"strict","defaultMinConfidence":20}"#)
                .unwrap();
        let lax =
            ModerationPolicy::from_json(r#"{"version":"lax","defaultMinConfidence":90}"#).unwrap();
        let mut record = crate::review::tests::record("k.jpg", Verdict::Safe, 0);
        assert_eq!(record.status, RecordStatus::Analyzed);
        record.moderation = Some(lax.evaluate(Some(&[label("Gambling", None, 50.0)])));
        record.safe = record.effective_safe();
        assert!(record.safe);
        assert!(reevaluate(&mut record, &strict), "SAFE -> UNSAFE");
        assert_eq!(record.model_verdict(), Verdict::Unsafe);
        assert!(!record.safe);
        record.review = Some(Review {
            decision: ReviewDecision::Approved,
            reviewer: "ana".into(),
            reviewed_at: chrono::DateTime::UNIX_EPOCH,
            note: None,
            model_verdict: Verdict::Unsafe,
            revision: record.revision.clone(),
            etag: None,
            version_id: None,
            sequence: 1,
        });
        assert!(!reevaluate(&mut record, &strict), "unchanged");
        assert!(record.safe, "the approval wins");
        assert_eq!(
            record
                .moderation
                .as_ref()
                .map(|m| m.policy_version.as_str()),
            Some("strict")
        );
    }

    #[test]
    fn thresholds_must_be_percentages() {
        let err = ModerationPolicy::from_json(r#"{"version":"t","defaultMinConfidence":150}"#);
        assert!(err.unwrap_err().to_string().contains("not a percentage"));
    }
}
