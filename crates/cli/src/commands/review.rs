//! `spotlight review`: the review queue, and a reviewer's decision on one photo.
//!
//! `list` prints the photos waiting for a person, NEEDS_REVIEW first, then the other unsafe
//! ones, oldest upload first: one line each (verdict, upload time, key, the labels that put it
//! there, the review token), or with `--json` one `{"record": …, "reviewToken": …}` per line.
//! `approve` and `reject` write the decision on the condition that the record is still what the
//! reviewer saw: the token given with `--expect` (from `list`), else the record as read now,
//! which must then carry no review yet — replacing someone's decision needs their token, so a
//! decision is never overwritten unseen. A conflict is exit status 1 with what is there now.

use std::path::PathBuf;

use chrono::Utc;
use spotlight_core::contracts::{ImageRecord, ReviewDecision};
use spotlight_core::ports::{RecordStore, SearchQuery};
use spotlight_core::review::{self, ReviewOutcome, ReviewRequest};

use crate::cli::{ReviewCommand, ReviewDecisionArgs, ReviewListArgs};
use crate::commands::{local, Exit};
use crate::output;

/// `spotlight review …`, resolved.
#[derive(Debug)]
pub enum Config {
    /// `review list`.
    List {
        /// The arguments.
        args: ReviewListArgs,
        /// The store.
        store: PathBuf,
    },
    /// `review approve` or `review reject`.
    Decide {
        /// Which.
        decision: ReviewDecision,
        /// The arguments.
        args: ReviewDecisionArgs,
        /// The store.
        store: PathBuf,
    },
}

impl Config {
    /// Checks the arguments before any work.
    pub fn from_cli(command: ReviewCommand, store: PathBuf) -> anyhow::Result<Config> {
        Ok(match command {
            ReviewCommand::List(args) => {
                anyhow::ensure!(args.limit != Some(0), "--limit must be at least 1");
                Config::List { args, store }
            }
            ReviewCommand::Approve(args) | ReviewCommand::Reject(args)
                if args.by.trim().is_empty() =>
            {
                anyhow::bail!("--by must name the reviewer")
            }
            ReviewCommand::Approve(args) => Config::Decide {
                decision: ReviewDecision::Approved,
                args,
                store,
            },
            ReviewCommand::Reject(args) => Config::Decide {
                decision: ReviewDecision::Rejected,
                args,
                store,
            },
        })
    }
}

/// Runs `spotlight review …`.
pub fn execute(config: Config) -> anyhow::Result<Exit> {
    match config {
        Config::List { args, store } => list(&args, &store),
        Config::Decide {
            decision,
            args,
            store,
        } => decide(decision, &args, &store),
    }
}

/// The queue: every unsafe ANALYZED record, then [`review::queue`]'s order.
pub async fn queue<S: RecordStore>(store: &S) -> anyhow::Result<Vec<ImageRecord>> {
    let mut candidates = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .search(&SearchQuery {
                unsafe_only: true,
                cursor: cursor.take(),
                limit: Some(500),
                ..SearchQuery::default()
            })
            .await?;
        candidates.extend(page.records);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(review::queue(candidates))
}

fn list(args: &ReviewListArgs, store: &std::path::Path) -> anyhow::Result<Exit> {
    let store = local::open_existing_store(store)?;
    let mut waiting = local::runtime()?.block_on(queue(&*store))?;
    if let Some(limit) = args.limit {
        waiting.truncate(limit);
    }
    let mut out = String::new();
    for record in &waiting {
        if args.json {
            let line = serde_json::json!({"record": record, "reviewToken": review::token(record)});
            out.push_str(&format!("{line}\n"));
        } else {
            let why: Vec<String> = record
                .moderation
                .iter()
                .flat_map(|m| m.flagged.iter().chain(&m.review_flagged))
                .map(|f| format!("{} {:.1}%", f.name, f.confidence))
                .collect();
            out.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\n",
                record.model_verdict().as_str(),
                record.uploaded_at.to_rfc3339(),
                record.key,
                why.join(", "),
                review::token(record),
            ));
        }
    }
    output::print(&out)?;
    if !args.json {
        eprintln!("{} waiting for review", waiting.len());
    }
    Ok(Exit::Success)
}

fn decide(
    decision: ReviewDecision,
    args: &ReviewDecisionArgs,
    store: &std::path::Path,
) -> anyhow::Result<Exit> {
    let store = local::open_existing_store(store)?;
    let runtime = local::runtime()?;
    let found = runtime.block_on(local::find_one_record(&store, &args.key))?;
    let Some(record) = &found else {
        eprintln!("no record for {:?}", args.key);
        return Ok(Exit::Failure);
    };
    let expect = match &args.expect {
        Some(token) => token.clone(),
        None => {
            if let Some(current) = &record.review {
                eprintln!(
                    "{} is already {} by {} at {}; to replace that decision, pass --expect {}",
                    record.key,
                    current.decision.as_str(),
                    current.reviewer,
                    current.reviewed_at.to_rfc3339(),
                    review::token(record)
                );
                return Ok(Exit::Failure);
            }
            review::token(record)
        }
    };
    let request = ReviewRequest::new(decision, &args.by, args.note.as_deref(), Utc::now(), expect)?;
    let outcome = runtime.block_on(store.review(&record.bucket, &record.key, &request))?;
    match outcome {
        ReviewOutcome::Reviewed(record) => {
            if args.json {
                output::print(&format!("{}\n", serde_json::to_string(&record)?))?;
            } else {
                output::print(&format!(
                    "{}\t{}\tby {}\n",
                    decision.as_str(),
                    record.key,
                    request.reviewer
                ))?;
            }
            Ok(Exit::Success)
        }
        ReviewOutcome::Conflict(current) => {
            let now = match &current.review {
                Some(r) => format!(
                    "{} by {} at {}",
                    r.decision.as_str(),
                    r.reviewer,
                    r.reviewed_at.to_rfc3339()
                ),
                None => format!("analysed again ({})", current.model_verdict().as_str()),
            };
            eprintln!(
                "conflict: {} changed since it was read: now {now}; nothing written. Look again \
                 (`spotlight show`), then pass --expect {} to decide on what is there now",
                current.key,
                review::token(&current)
            );
            Ok(Exit::Failure)
        }
        ReviewOutcome::NotFound => {
            eprintln!("no record for {:?} any more (deleted?)", args.key);
            Ok(Exit::Failure)
        }
        ReviewOutcome::NotReviewable(current) => {
            eprintln!(
                "{} is {}: only analysed photos are reviewed",
                current.key,
                current.status.as_str()
            );
            Ok(Exit::Failure)
        }
    }
}
