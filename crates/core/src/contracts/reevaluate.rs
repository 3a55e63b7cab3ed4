//! The re-evaluation function's input and output (issue 14, a policy change on AWS): the
//! `statemachine/reevaluate.asl.json` loop reads the records a page at a time, and its Map
//! re-derives each page's chunks of records under the policy in force.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the re-evaluation function is asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum ReevaluateInput {
    /// The next page of analysed records (a query of the status index, never a Scan), as
    /// chunks of record ids; the previous page's chunk tallies are added to the totals.
    Page {
        /// Where the previous page stopped; null for the first.
        #[schemars(with = "crate::contracts::record::NullableString")]
        cursor: Option<String>,
        /// The totals so far; null for the first page.
        #[serde(default)]
        totals: Option<Tally>,
        /// The previous page's chunk tallies (the Map's output).
        #[serde(default)]
        results: Vec<Tally>,
    },
    /// Re-derive and (unless a dry run) conditionally rewrite these records.
    Chunk {
        /// Record ids.
        ids: Vec<String>,
        /// Report only.
        #[serde(default, rename = "dryRun")]
        dry_run: bool,
    },
    /// The totals with the last page's chunk tallies added.
    Total {
        /// The totals so far.
        #[serde(default)]
        totals: Option<Tally>,
        /// The last page's chunk tallies.
        #[serde(default)]
        results: Vec<Tally>,
    },
}

/// One page of the re-evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReevaluatePage {
    /// The page's record ids, in chunks for the Map.
    pub chunks: Vec<Vec<String>>,
    /// Where the next page starts; null after the last.
    #[schemars(with = "crate::contracts::record::NullableString")]
    pub cursor: Option<String>,
    /// Whether there is a next page.
    pub more: bool,
    /// The totals so far.
    pub totals: Tally,
}

/// What the re-evaluation function answers: a page for `page`, a tally for `chunk` and `total`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ReevaluateOutput {
    /// For `page`.
    Page(ReevaluatePage),
    /// For `chunk` and `total`.
    Tally(Tally),
}

/// What re-evaluating some records did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tally {
    /// The policy applied.
    pub policy_version: String,
    /// Records read.
    pub records: u64,
    /// Verdict changes by kind, e.g. `"SAFE→UNSAFE": 2`.
    pub changes: BTreeMap<String, u64>,
    /// Records whose verdict stays.
    pub unchanged: u64,
    /// Changed records whose reviewer's decision still overrides the verdict.
    pub overridden: u64,
    /// Records rewritten.
    pub written: u64,
    /// Records that changed since they were read (left as that made them).
    pub skipped: u64,
}

impl Tally {
    /// Adds `other` in.
    pub fn add(&mut self, other: &Tally) {
        if self.policy_version.is_empty() {
            self.policy_version.clone_from(&other.policy_version);
        }
        self.records += other.records;
        self.unchanged += other.unchanged;
        self.overridden += other.overridden;
        self.written += other.written;
        self.skipped += other.skipped;
        for (change, count) in &other.changes {
            *self.changes.entry(change.clone()).or_default() += count;
        }
    }
}
