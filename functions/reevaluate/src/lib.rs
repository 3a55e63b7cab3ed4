//! The re-evaluation step (issue 14): a new moderation policy re-derives every stored verdict
//! from the stored moderation labels, without running a model, through the one derive function
//! the record step uses ([`spotlight_core::policy::reevaluate`]).
//!
//! `statemachine/reevaluate.asl.json` drives it on AWS: a loop asks for a page of analysed
//! records (a Query of the status index through [`RecordStore::search`], never a Scan), then a
//! Map re-derives the page's chunks at once, each chunk written conditionally
//! ([`RecordStore::replace_unchanged`]: a record that changed since it was read — a new
//! analysis, a review, a delete — is left as that made it and counted as skipped).
//!
//! The policy is the record function's (`MODERATION_POLICY_JSON` and
//! `MODERATION_DEFAULT_MIN_CONFIDENCE`, the same stack parameters), so after a deployment
//! changes it one execution brings every stored verdict in line with new ones.
#![warn(missing_docs)]

use spotlight_core::contracts::{
    ImageRecord, RecordStatus, ReevaluateInput, ReevaluateOutput, ReevaluatePage, Tally, Verdict,
};
use spotlight_core::policy::{reevaluate, ModerationPolicy, PolicyError};
use spotlight_core::ports::{RecordStore, RecordUpdate, SearchQuery, UpdateOutcome};
use spotlight_core::StepError;

/// Records a page holds, at most.
pub const PAGE: usize = 100;
/// Records a chunk (one Map iteration) holds, at most.
pub const CHUNK: usize = 25;

/// The policy applied and the page sizes.
#[derive(Debug, Clone)]
pub struct ReevaluateConfig {
    /// The policy in force.
    pub policy: ModerationPolicy,
    /// Records a page holds.
    pub page: usize,
    /// Records a chunk holds.
    pub chunk: usize,
}

impl ReevaluateConfig {
    /// The configuration from deployment settings, read as the record function reads them:
    /// a policy as JSON (empty: the shipped one) and a default threshold that overrides it,
    /// changing its version.
    pub fn from_settings(
        policy_json: Option<&str>,
        default_min_confidence: Option<&str>,
    ) -> Result<Self, PolicyError> {
        let mut policy = match policy_json.map(str::trim).filter(|s| !s.is_empty()) {
            Some(json) => ModerationPolicy::from_json(json)?,
            None => ModerationPolicy::shipped(),
        };
        if let Some(value) = default_min_confidence
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .and_then(|s| s.parse::<f32>().ok())
            .filter(|v| (0.0..=100.0).contains(v))
        {
            if value != policy.default_min_confidence {
                policy.default_min_confidence = value;
                policy.version = format!("{};default={value}", policy.version);
            }
        }
        Ok(Self::new(policy))
    }

    /// `policy`, with the default page sizes.
    pub fn new(policy: ModerationPolicy) -> Self {
        ReevaluateConfig {
            policy,
            page: PAGE,
            chunk: CHUNK,
        }
    }
}

fn verdict_name(verdict: Option<Verdict>) -> String {
    verdict
        .and_then(|v| serde_json::to_value(v).ok())
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "NONE".to_owned())
}

fn summed(totals: Option<Tally>, results: &[Tally], policy: &ModerationPolicy) -> Tally {
    let mut totals = totals.unwrap_or_else(|| Tally {
        policy_version: policy.version.clone(),
        ..Tally::default()
    });
    for result in results {
        totals.add(result);
    }
    totals
}

/// Does one action of the re-evaluation.
pub async fn handle<S: RecordStore>(
    input: ReevaluateInput,
    store: &S,
    config: &ReevaluateConfig,
) -> Result<ReevaluateOutput, StepError> {
    match input {
        ReevaluateInput::Page {
            cursor,
            totals,
            results,
        } => {
            let page = store
                .search(&SearchQuery {
                    status: Some(RecordStatus::Analyzed),
                    safe_only: false,
                    limit: Some(config.page.max(1)),
                    cursor,
                    ..SearchQuery::default()
                })
                .await?;
            let ids: Vec<String> = page
                .records
                .iter()
                .filter(|r| r.moderation.is_some())
                .map(|r| r.id.clone())
                .collect();
            Ok(ReevaluateOutput::Page(ReevaluatePage {
                chunks: ids
                    .chunks(config.chunk.max(1))
                    .map(<[String]>::to_vec)
                    .collect(),
                more: page.next_cursor.is_some(),
                cursor: page.next_cursor,
                totals: summed(totals, &results, &config.policy),
            }))
        }
        ReevaluateInput::Total { totals, results } => Ok(ReevaluateOutput::Tally(summed(
            totals,
            &results,
            &config.policy,
        ))),
        ReevaluateInput::Chunk { ids, dry_run } => {
            let mut tally = Tally {
                policy_version: config.policy.version.clone(),
                ..Tally::default()
            };
            let mut updates = Vec::new();
            for id in &ids {
                let Some((bucket, key)) = spotlight_core::parse_record_id(id) else {
                    continue;
                };
                let Some(record) = store.get(&bucket, &key).await? else {
                    // Deleted since the page was read.
                    tally.skipped += 1;
                    continue;
                };
                if let Some(update) = rederive(record, &config.policy, &mut tally) {
                    updates.push(update);
                }
            }
            if !dry_run && !updates.is_empty() {
                for outcome in store.replace_unchanged(&updates).await? {
                    match outcome {
                        UpdateOutcome::Replaced => tally.written += 1,
                        UpdateOutcome::Changed => tally.skipped += 1,
                    }
                }
            }
            Ok(ReevaluateOutput::Tally(tally))
        }
    }
}

/// Re-derives one record, counts what changes, and returns the update to write, if any (the
/// policy version moves on even where the verdict stays).
fn rederive(
    record: ImageRecord,
    policy: &ModerationPolicy,
    tally: &mut Tally,
) -> Option<RecordUpdate> {
    let before = record.moderation.as_ref()?.verdict;
    tally.records += 1;
    let mut updated = record.clone();
    if reevaluate(&mut updated, policy) {
        let after = updated.moderation.as_ref().map(|m| m.verdict);
        let change = format!("{}→{}", verdict_name(Some(before)), verdict_name(after));
        *tally.changes.entry(change).or_default() += 1;
        if updated.review.is_some() {
            tally.overridden += 1;
        }
    } else {
        tally.unchanged += 1;
    }
    (updated != record).then_some(RecordUpdate {
        read: record,
        updated,
    })
}
