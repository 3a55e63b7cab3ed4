//! The moderation policy: which moderation labels make an image unsafe.
//!
//! Fail closed: an image is safe only when moderation ran and found nothing at or above its
//! threshold. Unknown moderation is never safe. The raw labels are stored beside the verdict, so
//! a new policy can re-evaluate old records without re-running a model.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::contracts::{FlaggedLabel, ModerationLabel, ModerationSummary, Verdict};

/// The policy shipped in `config/moderation-policy.json`.
pub const DEFAULT_POLICY_JSON: &str = include_str!("../../../config/moderation-policy.json");

/// Per-label confidence thresholds, in percent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModerationPolicy {
    /// Stored with each verdict, so a record says which policy judged it.
    pub version: String,
    /// The threshold for labels with none of their own nor their parent's.
    pub default_min_confidence: f32,
    /// Thresholds by label name (any level of the taxonomy).
    #[serde(default)]
    pub min_confidence: BTreeMap<String, f32>,
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
        })
    }

    /// Parses and checks a policy: thresholds are percentages.
    pub fn from_json(json: &str) -> Result<Self, PolicyError> {
        let policy: ModerationPolicy =
            serde_json::from_str(json).map_err(|e| PolicyError(e.to_string()))?;
        let all = std::iter::once(("default", policy.default_min_confidence)).chain(
            policy
                .min_confidence
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

    /// The threshold for a label: its own, else its parent's, else the default.
    pub fn threshold(&self, label: &ModerationLabel) -> f32 {
        self.min_confidence
            .get(&label.name)
            .or_else(|| {
                label
                    .parent_name
                    .as_ref()
                    .and_then(|parent| self.min_confidence.get(parent))
            })
            .copied()
            .unwrap_or(self.default_min_confidence)
    }

    /// The verdict on an image. `None` means moderation did not run: never safe.
    pub fn evaluate(&self, labels: Option<&[ModerationLabel]>) -> ModerationSummary {
        let Some(labels) = labels else {
            return ModerationSummary {
                labels: Vec::new(),
                verdict: Verdict::Unknown,
                flagged: Vec::new(),
                policy_version: self.version.clone(),
            };
        };
        let flagged: Vec<FlaggedLabel> = labels
            .iter()
            .filter_map(|label| {
                let threshold = self.threshold(label);
                // A NaN confidence is an unusable result: flag it rather than trust it.
                (label.confidence.is_nan() || label.confidence >= threshold).then(|| FlaggedLabel {
                    name: label.name.clone(),
                    confidence: label.confidence,
                    threshold,
                })
            })
            .collect();
        ModerationSummary {
            labels: labels.to_vec(),
            verdict: if flagged.is_empty() {
                Verdict::Safe
            } else {
                Verdict::Unsafe
            },
            flagged,
            policy_version: self.version.clone(),
        }
    }
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

    #[test]
    fn a_nan_confidence_is_flagged() {
        let summary =
            ModerationPolicy::shipped().evaluate(Some(&[label("Violence", None, f32::NAN)]));
        assert_eq!(summary.verdict, Verdict::Unsafe);
    }

    #[test]
    fn thresholds_must_be_percentages() {
        let err = ModerationPolicy::from_json(r#"{"version":"t","defaultMinConfidence":150}"#);
        assert!(err.unwrap_err().to_string().contains("not a percentage"));
    }
}
