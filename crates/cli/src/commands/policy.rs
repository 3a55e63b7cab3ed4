//! `spotlight policy apply`: a new moderation policy re-derives every stored verdict from the
//! stored moderation labels (no model runs), through the one derive function the record step
//! uses ([`spotlight_core::policy::reevaluate`]).
//!
//! The records are read a page at a time, newest upload first (the store's status index, as
//! the AWS re-evaluation reads DynamoDB's), and each page is written in one conditional batch:
//! a record is replaced only if it is still exactly the one read
//! ([`spotlight_core::ports::RecordStore::replace_unchanged`]), so an analysis, a review or a
//! delete that comes in between wins and the record is counted as skipped.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::PathBuf;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use spotlight_core::contracts::{ImageRecord, RecordStatus, Verdict};
use spotlight_core::policy::{reevaluate, ModerationPolicy};
use spotlight_core::ports::{RecordUpdate, SearchQuery, UpdateOutcome};

use crate::cli::PolicyApplyArgs;
use crate::commands::{local, Exit};
use crate::output;

/// Records read and written at a time.
const PAGE: usize = 200;

/// One kind of verdict change and how many photos it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// The model's verdict under the policy that judged the record.
    pub from: String,
    /// The model's verdict under the new policy.
    pub to: String,
    /// How many photos.
    pub count: usize,
}

/// What `policy apply` did (its `--json` output).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplySummary {
    /// The new policy's version.
    pub policy_version: String,
    /// The versions the records were judged by before, with how many records each.
    pub previous_versions: BTreeMap<String, usize>,
    /// Analysed records read.
    pub records: usize,
    /// Verdict changes, one entry per (from, to) pair.
    pub changes: Vec<Change>,
    /// Records whose verdict stays (their policy version still moves on).
    pub unchanged: usize,
    /// Records whose verdict changes but a reviewer's decision still overrides.
    pub overridden: usize,
    /// Records written.
    pub written: usize,
    /// Records that changed while this ran and were left as that made them.
    pub skipped: usize,
    /// Whether nothing was written (`--dry-run`).
    pub dry_run: bool,
}

fn verdict_name(verdict: Option<Verdict>) -> String {
    verdict
        .and_then(|v| serde_json::to_value(v).ok())
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "NONE".to_owned())
}

fn verdict_of(record: &ImageRecord) -> Option<Verdict> {
    record.moderation.as_ref().map(|m| m.verdict)
}

/// `spotlight policy apply`.
pub fn execute_apply(args: PolicyApplyArgs, store_path: PathBuf) -> anyhow::Result<Exit> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read the policy {}", args.file.display()))?;
    let policy = ModerationPolicy::from_json(&text)
        .with_context(|| format!("in {}", args.file.display()))?;
    let store = local::open_existing_store(&store_path)?;
    anyhow::ensure!(
        args.dry_run || !store.is_read_only(),
        "the store {} is read-only: nothing can be applied (--dry-run still reports)",
        store_path.display()
    );
    if !args.dry_run && std::env::var_os(local::ENV_POLICY).is_some() {
        tracing::warn!(
            "SPOTLIGHT_POLICY is set: later runs judge with that file, not with the policy applied here"
        );
    }
    let show_progress = !args.json && std::io::stderr().is_terminal();
    let bar = ProgressBar::with_draw_target(
        None,
        if show_progress {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos} records re-evaluated, {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );

    let mut summary = ApplySummary {
        policy_version: policy.version.clone(),
        dry_run: args.dry_run,
        ..ApplySummary::default()
    };
    let mut changes: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut cursor = None;
    loop {
        let page = store.find(&SearchQuery {
            status: Some(RecordStatus::Analyzed),
            safe_only: false,
            limit: Some(PAGE),
            cursor: cursor.take(),
            ..SearchQuery::default()
        })?;
        let mut updates = Vec::new();
        for record in page.records {
            summary.records += 1;
            let Some(moderation) = &record.moderation else {
                continue;
            };
            *summary
                .previous_versions
                .entry(moderation.policy_version.clone())
                .or_default() += 1;
            let mut updated = record.clone();
            let verdict_changed = reevaluate(&mut updated, &policy);
            if verdict_changed {
                let key = (
                    verdict_name(verdict_of(&record)),
                    verdict_name(verdict_of(&updated)),
                );
                *changes.entry(key).or_default() += 1;
                if updated.review.is_some() {
                    summary.overridden += 1;
                }
            } else {
                summary.unchanged += 1;
            }
            if updated != record {
                updates.push(RecordUpdate {
                    read: record,
                    updated,
                });
            }
        }
        if !args.dry_run && !updates.is_empty() {
            for outcome in store.replace(&updates)? {
                match outcome {
                    UpdateOutcome::Replaced => summary.written += 1,
                    UpdateOutcome::Changed => summary.skipped += 1,
                }
            }
        }
        bar.set_position(summary.records as u64);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    bar.finish_and_clear();
    summary.changes = changes
        .into_iter()
        .map(|((from, to), count)| Change { from, to, count })
        .collect();
    if !args.dry_run {
        store
            .save_policy(&text)
            .context("the verdicts are written, but the policy could not be saved")?;
    }
    if args.json {
        output::print(&format!("{}\n", serde_json::to_string(&summary)?))?;
    } else {
        output::print(&describe(&summary))?;
    }
    Ok(if summary.skipped > 0 {
        Exit::Failure
    } else {
        Exit::Success
    })
}

/// The summary for people: what changes, then what was done.
fn describe(summary: &ApplySummary) -> String {
    let changed: usize = summary.changes.iter().map(|c| c.count).sum();
    let previous: Vec<&str> = summary
        .previous_versions
        .keys()
        .map(String::as_str)
        .collect();
    let mut text = format!(
        "policy {} (records were judged by {}): {} analysed photos, {changed} verdicts change\n",
        summary.policy_version,
        if previous.is_empty() {
            "none".to_owned()
        } else {
            previous.join(", ")
        },
        summary.records,
    );
    let width = summary
        .changes
        .iter()
        .map(|c| c.from.len() + c.to.len() + 3)
        .max()
        .unwrap_or(0);
    for change in &summary.changes {
        // Padding counts characters: `→` is one.
        let arrow = format!("{} → {}", change.from, change.to);
        text.push_str(&format!("  {arrow:<width$}  {}\n", change.count));
    }
    if summary.overridden > 0 {
        text.push_str(&format!(
            "{} of them keep a reviewer's decision, which still wins\n",
            summary.overridden
        ));
    }
    if summary.dry_run {
        text.push_str("dry run: nothing written\n");
    } else {
        text.push_str(&format!(
            "written: {}; skipped (changed while this ran): {}; the policy is now the store's\n",
            summary.written, summary.skipped
        ));
    }
    text
}
