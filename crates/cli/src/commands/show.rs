//! `spotlight show`: one record, in full.

use std::path::PathBuf;

use spotlight_core::contracts::ImageRecord;

use crate::cli::ShowArgs;
use crate::commands::{local, Exit};
use crate::output;

/// `spotlight show`, resolved.
#[derive(Debug)]
pub struct Config {
    /// The arguments.
    pub args: ShowArgs,
    /// The store.
    pub store: PathBuf,
}

/// Prints the record, or says there is none (exit 1) or that the name is ambiguous (exit 2).
pub fn execute(config: Config) -> anyhow::Result<Exit> {
    let store = local::open_existing_store(&config.store)?;
    let name = &config.args.key;
    let found = local::runtime()?.block_on(local::find_one_record(&store, name))?;
    let Some(record) = &found else {
        match local::find_tombstone(&store, name)?.as_slice() {
            [tombstone] => eprintln!(
                "no record for {name:?}: the photo was deleted at {}",
                tombstone.deleted_at.to_rfc3339()
            ),
            _ => eprintln!("no record for {name:?}"),
        }
        return Ok(Exit::Failure);
    };
    if config.args.json {
        output::print(&format!("{}\n", serde_json::to_string(record)?))?;
    } else {
        output::print(&describe(record))?;
    }
    Ok(Exit::Success)
}

/// A label with its confidence and parents, as `show` and `analyze` print it.
pub fn label_line(label: &spotlight_core::contracts::Label) -> String {
    let parents: String = label.parents.iter().map(|p| format!(" ← {p}")).collect();
    format!(
        "  label      {} {:.1}%{parents}\n",
        label.name, label.confidence
    )
}

/// A record for people to read.
pub fn describe(record: &ImageRecord) -> String {
    let mut out = String::new();
    let path = std::path::Path::new(&record.bucket).join(&record.key);
    out.push_str(&format!("{}\n", path.display()));
    out.push_str(&format!("  id         {}\n", record.id));
    out.push_str(&format!("  status     {}\n", record.status.as_str()));
    if let Some(image) = &record.image {
        out.push_str(&format!(
            "  image      {} {}×{}, {} bytes\n",
            image.format.as_str(),
            image.width,
            image.height,
            image.size_bytes
        ));
    }
    if let Some(error) = &record.error {
        out.push_str(&format!("  error      {}: {}\n", error.error, error.cause));
    }
    let verdict = match &record.moderation {
        Some(m) => format!("{} (policy {})", m.verdict.as_str(), m.policy_version),
        None => "UNKNOWN (not moderated)".to_owned(),
    };
    match &record.review {
        // The reviewer's decision counts; the model's verdict is shown beside it.
        Some(review) => out.push_str(&format!(
            "  safe       {} — {} by {}; model: {verdict}\n",
            record.safe,
            review.decision.as_str(),
            review.reviewer
        )),
        None => out.push_str(&format!("  safe       {} — {verdict}\n", record.safe)),
    }
    let earlier = record
        .review_history
        .iter()
        .rev()
        .map(|r| (r, "earlier   "));
    for (review, when) in record
        .review
        .iter()
        .map(|r| (r, "review    "))
        .chain(earlier)
    {
        let note = review
            .note
            .as_deref()
            .map(|n| format!(": {n:?}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {when} {} by {} at {} (model said {}){note}\n",
            review.decision.as_str(),
            review.reviewer,
            review.reviewed_at.to_rfc3339(),
            review.model_verdict.as_str()
        ));
    }
    if record.status == spotlight_core::contracts::RecordStatus::Analyzed {
        out.push_str(&format!(
            "  review token {}\n",
            spotlight_core::review::token(record)
        ));
    }
    for label in &record.labels {
        out.push_str(&label_line(label));
    }
    if let Some(moderation) = &record.moderation {
        for label in &moderation.labels {
            out.push_str(&format!(
                "  moderation {} {:.1}%\n",
                label.name, label.confidence
            ));
        }
    }
    if let Some(text) = &record.text {
        for line in &text.lines {
            out.push_str(&format!(
                "  text       {:?} {:.1}%\n",
                line.text, line.confidence
            ));
        }
    }
    if !record.themes.is_empty() {
        out.push_str(&format!("  themes     {}\n", record.themes.join(", ")));
    }
    for note in &record.trimmed {
        out.push_str(&format!(
            "  trimmed    {:?}: kept {} of {} ({})\n",
            note.analyser, note.trimmed.kept, note.trimmed.total, note.trimmed.bound
        ));
    }
    out.push_str(&format!("  execution  {}\n", record.execution.id));
    out.push_str(&format!(
        "  analysed   {}\n",
        record.analysed_at.to_rfc3339()
    ));
    out
}
