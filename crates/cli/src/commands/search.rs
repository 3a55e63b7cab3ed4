//! `spotlight search`: marketing's questions over the records, with the same query semantics
//! (and the same parser) as the search Lambda.
//!
//! Human output: one line per record — key, status, verdict, and the labels that matched (and,
//! for `--query`, each word with what it met and its weight, ranked: most words met first).
//! `--json`: JSON Lines, one `{"record": …, "matchedLabels": […]}` per line, with
//! `"matchedWords"` for `--query`.

use std::path::PathBuf;

use anyhow::Context as _;
use spotlight_core::ports::{RecordStore, SearchQuery};

use crate::cli::SearchArgs;
use crate::commands::{local, Exit};
use crate::output;

/// `spotlight search`, resolved.
#[derive(Debug)]
pub struct Config {
    store: PathBuf,
    query: SearchQuery,
    json: bool,
}

impl Config {
    /// Checks the query before any work.
    pub fn from_cli(args: SearchArgs, store: PathBuf) -> anyhow::Result<Config> {
        // The console saves edited themes in the store; a search must expand them the same way.
        let saved = match &args.themes {
            None if store.exists() => Some(local::open_existing_store(&store)?),
            _ => None,
        };
        let themes = local::load_themes(args.themes.as_deref(), saved.as_deref())?;
        let labels = args.label.into_iter().map(|l| ("label", l));
        let excluded = args.not_label.into_iter().map(|l| ("notLabel", l));
        let mut pairs: Vec<(String, String)> = labels
            .chain(excluded)
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        if args.all {
            pairs.push(("all".to_owned(), "true".to_owned()));
        }
        let optional = [
            ("theme", args.theme),
            ("minConfidence", args.min_confidence),
            ("text", args.text),
            ("query", args.query),
            ("status", args.status),
            ("verdict", args.verdict),
        ];
        pairs.extend(
            optional
                .into_iter()
                .filter_map(|(name, value)| Some((name.to_owned(), value?))),
        );
        if args.include_unsafe {
            pairs.push(("includeUnsafe".to_owned(), "true".to_owned()));
        }
        let mut query = spotlight_search::parse_query(&pairs, &themes).context("invalid search")?;
        // The CLI returns every match unless asked for fewer.
        query.limit = args.limit;
        anyhow::ensure!(args.limit != Some(0), "--limit must be at least 1");
        Ok(Config {
            store,
            query,
            json: args.json,
        })
    }
}

/// Runs the search and prints the records.
pub fn execute(config: Config) -> anyhow::Result<Exit> {
    let store = local::open_existing_store(&config.store)?;
    let asked = spotlight_search::store_query(&config.query);
    let page = local::runtime()?.block_on(store.search(&asked))?;
    let (hits, _) = spotlight_search::ranked_hits(page, &config.query);
    let mut text = String::new();
    let count = hits.len();
    for hit in hits {
        if config.json {
            text.push_str(&serde_json::to_string(&hit)?);
            text.push('\n');
        } else {
            let (record, matched) = (&hit.record, &hit.matched_labels);
            let verdict = if record.safe { "safe" } else { "not safe" };
            let labels = matched
                .iter()
                .map(|m| format!("{} {:.0}%", m.name, m.confidence));
            let words = hit.matched_words.iter().map(ToString::to_string);
            let why: Vec<String> = labels.chain(words).collect();
            let path = std::path::Path::new(&record.bucket).join(&record.key);
            text.push_str(&format!(
                "{}\t{}\t{verdict}",
                path.display(),
                record.status.as_str()
            ));
            if !why.is_empty() {
                text.push_str(&format!("\t{}", why.join(", ")));
            }
            text.push('\n');
        }
    }
    if !config.json {
        text.push_str(&format!(
            "{count} record{}\n",
            if count == 1 { "" } else { "s" }
        ));
    }
    output::print(&text)?;
    Ok(Exit::Success)
}
