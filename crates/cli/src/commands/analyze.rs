//! `spotlight analyze`: what the local models make of images, and the verdict the moderation
//! policy reaches on each, without storing anything — the tool for seeing a model's view of a
//! photo or tuning thresholds.
//!
//! The verdict comes from [`ModerationPolicy::evaluate`], the function the record step applies,
//! with the moderation floor lowered to the policy's lowest threshold as `spotlight run` lowers
//! it: what `analyze` says is what a run would record.
//!
//! `--json` prints one object per image: the [`AnalysisReport`] fields, `path`, and `verdict`:
//!
//! ```json
//! {"verdict": "UNSAFE", "policyVersion": "2026-12-03.1",
//!  "decidedBy": [{"name": "Explicit", "confidence": 62.0, "threshold": 40.0}]}
//! ```
//!
//! `decidedBy` lists the labels at or over their block threshold for `UNSAFE`, those at or over
//! their review threshold for `NEEDS_REVIEW`, and nothing for `SAFE`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;
use spotlight_core::contracts::{FlaggedLabel, ModerationSummary, Verdict};
use spotlight_core::policy::ModerationPolicy;
use spotlight_local::analyzer::{analyze_file, AnalysisReport, LocalConfig, LocalModels};

use crate::cli::AnalyzeArgs;
use crate::commands::{local, models, Exit};
use crate::output;

/// The verdict on one image and the labels that decided it (`--json`'s `verdict`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct VerdictReport {
    verdict: Verdict,
    policy_version: String,
    decided_by: Vec<FlaggedLabel>,
}

impl From<ModerationSummary> for VerdictReport {
    fn from(summary: ModerationSummary) -> Self {
        let decided_by = match summary.verdict {
            Verdict::Unsafe => summary.flagged,
            Verdict::NeedsReview => summary.review_flagged,
            Verdict::Safe | Verdict::Unknown => Vec::new(),
        };
        VerdictReport {
            verdict: summary.verdict,
            policy_version: summary.policy_version,
            decided_by,
        }
    }
}

/// The policy to judge with, found as `spotlight run` finds it ([`local::policy_text`]): the
/// store is read only when it exists (`analyze` never creates one). An unreadable or invalid
/// file is an error (exit status 2), never a silent fallback.
fn load_policy(args: &AnalyzeArgs, store: &Path) -> anyhow::Result<ModerationPolicy> {
    let store = if store.exists() {
        Some(local::open_store(store)?)
    } else {
        None
    };
    match local::policy_text(args.policy.as_deref(), store.as_deref())? {
        Some((text, origin)) => ModerationPolicy::from_json(&text).context(origin),
        None => Ok(ModerationPolicy::shipped()),
    }
}

/// Analyses each image; exit 1 when any could not be analysed.
pub fn execute(args: AnalyzeArgs, store: PathBuf) -> anyhow::Result<Exit> {
    let policy = load_policy(&args, &store)?;
    let cache = models::ensure(args.offline)?;
    let loaded = LocalModels::load(
        LocalConfig {
            cache,
            ..LocalConfig::from_env()?
        }
        .reporting_for(&policy),
    )?;
    let mut exit = Exit::Success;
    for path in &args.images {
        let name = path.to_string_lossy();
        match analyze_file(&loaded, path) {
            Ok(report) => {
                let verdict = VerdictReport::from(policy.evaluate(Some(&report.moderation_labels)));
                let text = if args.json {
                    let mut line = serde_json::to_value(&report)?;
                    line["path"] = serde_json::Value::String(name.clone().into_owned());
                    line["verdict"] = serde_json::to_value(&verdict)?;
                    format!("{line}\n")
                } else {
                    describe(&name, &report, &verdict)
                };
                output::print(&text)?;
            }
            Err(error) => {
                exit = Exit::Failure;
                if args.json {
                    let line = serde_json::json!({ "path": name, "error": format!("{error:#}") });
                    output::print(&format!("{line}\n"))?;
                } else {
                    eprintln!("{name}: {error:#}");
                }
            }
        }
    }
    Ok(exit)
}

fn describe(name: &str, report: &AnalysisReport, verdict: &VerdictReport) -> String {
    let mut out = format!("{name}\n");
    out.push_str(&verdict_line(verdict));
    for label in &report.labels {
        out.push_str(&crate::commands::show::label_line(label));
    }
    if report.moderation_labels.is_empty() {
        out.push_str("  moderation nothing found\n");
    }
    for label in &report.moderation_labels {
        out.push_str(&format!(
            "  moderation {} {:.1}% (level {})\n",
            label.name, label.confidence, label.taxonomy_level
        ));
    }
    for line in &report.text_lines {
        out.push_str(&format!(
            "  text       {:?} {:.1}%\n",
            line.text, line.confidence
        ));
    }
    out
}

/// e.g. `  verdict    UNSAFE under policy 2026-12-03.1: Explicit 62.0% ≥ 40.0% (block)`.
fn verdict_line(verdict: &VerdictReport) -> String {
    let band = match verdict.verdict {
        Verdict::NeedsReview => "review",
        _ => "block",
    };
    let reasons: Vec<String> = verdict
        .decided_by
        .iter()
        .map(|f| {
            format!(
                "{} {:.1}% ≥ {:.1}% ({band})",
                f.name, f.confidence, f.threshold
            )
        })
        .collect();
    let because = if reasons.is_empty() {
        String::new()
    } else {
        format!(": {}", reasons.join(", "))
    };
    format!(
        "  verdict    {} under policy {}{because}\n",
        verdict.verdict.as_str(),
        verdict.policy_version
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flagged(name: &str, confidence: f32, threshold: f32) -> FlaggedLabel {
        FlaggedLabel {
            name: name.into(),
            confidence,
            threshold,
        }
    }

    fn summary(verdict: Verdict) -> ModerationSummary {
        ModerationSummary {
            labels: Vec::new(),
            verdict,
            flagged: vec![flagged("Violence", 70.0, 50.0)],
            review_flagged: vec![flagged("Gambling", 40.0, 35.0)],
            policy_version: "p.1".into(),
        }
    }

    #[test]
    fn the_labels_that_decided_are_those_of_the_verdicts_band() {
        let unsafe_ = VerdictReport::from(summary(Verdict::Unsafe));
        assert_eq!(
            verdict_line(&unsafe_),
            "  verdict    UNSAFE under policy p.1: Violence 70.0% ≥ 50.0% (block)\n"
        );
        let review = VerdictReport::from(summary(Verdict::NeedsReview));
        assert_eq!(
            verdict_line(&review),
            "  verdict    NEEDS_REVIEW under policy p.1: Gambling 40.0% ≥ 35.0% (review)\n"
        );
        let safe = VerdictReport::from(ModerationSummary {
            flagged: Vec::new(),
            review_flagged: Vec::new(),
            ..summary(Verdict::Safe)
        });
        assert_eq!(verdict_line(&safe), "  verdict    SAFE under policy p.1\n");
        assert!(safe.decided_by.is_empty());
    }
}
