//! `spotlight bench --console N`: how the web console holds up over N records. The pipeline
//! runs once on the given photos; their real records and execution histories are then copied
//! under new keys until the store holds N of each. Every search and page is then asked for
//! many times, in-process through the console's router (no network), and the p50/p99 times and
//! the size of each answer are printed.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use chrono::Duration;
use serde_json::{json, Value};
use spotlight_console::html::url_part;
use spotlight_console::{router, ConsoleState, Photos};
use spotlight_core::contracts::{ImageRecord, RecordStatus};
use spotlight_core::ports::{RecordStore, SearchQuery};
use spotlight_core::record_id;
use spotlight_core::revision::revision;
use spotlight_core::themes::Themes;
use spotlight_storage::{ExecutionFilter, SqliteStore};
use tower::ServiceExt as _;

use crate::cli::BenchArgs;
use crate::commands::bench::run_copies;
use crate::commands::{local, Exit};
use crate::output;

/// How many times each search and page is asked for.
const ROUNDS: usize = 200;

/// `{p50, p99}` in milliseconds, to the microsecond.
fn millis(samples: &mut [f64]) -> Value {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        (samples[index] * 1000.0).round() / 1000.0
    };
    json!({ "p50": at(0.5), "p99": at(0.99) })
}

/// Copies `templates` (with their histories) under new keys until the store holds `records`.
fn fill(
    store: &SqliteStore,
    templates: &[(ImageRecord, Option<Value>)],
    records: usize,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<()> {
    let have = templates.len();
    for index in have..records {
        let (template, history) = &templates[index % have];
        let mut record = template.clone();
        record.key = format!("copy-{index:06}-{}", template.key);
        record.id = record_id(&record.bucket, &record.key);
        record.uploaded_at = template.uploaded_at - Duration::seconds(index as i64);
        record.revision = revision(None, Some(record.uploaded_at));
        record.execution.id = format!("{}-copy-{index}", template.execution.id);
        if let Some(image) = record.image.as_mut() {
            image.key = record.key.clone();
            image.revision = record.revision.clone();
            image.uploaded_at = Some(record.uploaded_at);
        }
        runtime.block_on(store.put(&record))?;
        let mut summary = store
            .execution(&template.execution.id)?
            .map(|(summary, _)| summary)
            .context("a template record has no execution")?;
        summary.id = record.execution.id.clone();
        summary.key = record.key.clone();
        summary.record_id = record.id.clone();
        summary.start_time = record.uploaded_at;
        store.save_execution(&summary, history.as_ref())?;
    }
    Ok(())
}

/// Asks the console for `uri` [`ROUNDS`] times: times and the answer's size.
async fn measure(app: &axum::Router, uri: &str) -> anyhow::Result<(Value, usize)> {
    let mut samples = Vec::with_capacity(ROUNDS);
    let mut size = 0;
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let response = app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty())?)
            .await?;
        let status = response.status();
        let body = to_bytes(response.into_body(), usize::MAX).await?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(status == StatusCode::OK, "{uri} answered {status}");
        size = body.len();
    }
    Ok((millis(&mut samples), size))
}

/// Runs the console benchmark.
pub fn execute(args: &BenchArgs, records: usize) -> anyhow::Result<Exit> {
    anyhow::ensure!(records >= 1, "--console must be at least 1");
    let scratch = tempfile::tempdir().context("cannot make a scratch folder")?;
    let (store, results, _) = run_copies(args, scratch.path(), None)?;
    let runtime = local::runtime()?;
    let mut templates = Vec::new();
    for result in &results {
        let Some(record) = runtime.block_on(store.get(&result.bucket, &result.key))? else {
            continue;
        };
        let history = store
            .execution(&record.execution.id)?
            .and_then(|(_, history)| history);
        templates.push((record, history));
    }
    anyhow::ensure!(!templates.is_empty(), "the pipeline wrote no records");
    let filling = Instant::now();
    fill(&store, &templates, records, &runtime)?;
    let fill_seconds = filling.elapsed().as_secs_f64();

    // Queries that each find something: the first analysed photo's best label, a theme, a
    // word of its text, and the statuses.
    let analysed = templates
        .iter()
        .map(|(record, _)| record)
        .find(|r| r.status == RecordStatus::Analyzed && !r.labels.is_empty())
        .context("no photo was analysed")?;
    let label = analysed.labels[0].name.clone();
    let word = templates
        .iter()
        .filter_map(|(r, _)| r.text.as_ref())
        .flat_map(|t| t.full_text.split_whitespace())
        .find(|w| w.chars().all(char::is_alphanumeric) && w.len() >= 3)
        .map(str::to_owned);
    let themes = Themes::shipped();
    // Parsed as the console and the search function parse them: pages of 50.
    let mut asked: Vec<(String, Vec<(&str, String)>)> = vec![
        ("newest safe".to_owned(), vec![]),
        (format!("label {label:?}"), vec![("label", label.clone())]),
        (
            "theme \"animals\"".to_owned(),
            vec![("theme", "animals".to_owned())],
        ),
        (
            "rejected".to_owned(),
            vec![
                ("status", "REJECTED".to_owned()),
                ("includeUnsafe", "true".to_owned()),
            ],
        ),
    ];
    if let Some(word) = &word {
        asked.push((format!("text {word:?}"), vec![("text", word.clone())]));
    }
    let mut searches: Vec<(String, SearchQuery)> = Vec::new();
    for (name, params) in asked {
        let params: Vec<(String, String)> =
            params.into_iter().map(|(n, v)| (n.to_owned(), v)).collect();
        searches.push((name, spotlight_search::parse_query(&params, &themes)?));
    }
    let mut report = json!({
        "records": records,
        "fillSeconds": fill_seconds,
        "rounds": ROUNDS,
        "searches": {},
        "pages": {},
    });
    for (name, query) in &searches {
        let mut samples = Vec::with_capacity(ROUNDS);
        let mut found = 0;
        for _ in 0..ROUNDS {
            let started = Instant::now();
            let page = store.find(query)?;
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
            found = page.records.len();
        }
        report["searches"][name] = json!({ "ms": millis(&mut samples), "found": found });
    }

    let app = router(
        ConsoleState::new(Arc::clone(&store), themes.clone(), None)
            .with_photos(Photos::new(None, scratch.path().join("thumbnails")))
            .with_definition(serde_json::from_str(spotlight_pipeline::DEFINITION)?),
    );
    let deep_cursor = {
        // The 50th page of the gallery: paging must not slow down as it goes.
        let mut query = spotlight_search::parse_query(&[], &themes)?;
        for _ in 0..49 {
            match store.find(&query)?.next_cursor {
                Some(cursor) => query.cursor = Some(cursor),
                None => break,
            }
        }
        query.cursor
    };
    let mut pages = vec![
        ("gallery".to_owned(), "/".to_owned()),
        (
            format!("gallery, label {label:?}"),
            format!("/?label={}", url_part(&label)),
        ),
        (
            "gallery, theme animals".to_owned(),
            "/?theme=animals".to_owned(),
        ),
        (
            "photo page".to_owned(),
            format!("/records/{}", url_part(&analysed.id)),
        ),
        ("failures".to_owned(), "/failures".to_owned()),
        ("executions".to_owned(), "/executions".to_owned()),
        (
            "execution page".to_owned(),
            format!("/executions/{}", url_part(&analysed.execution.id)),
        ),
        (
            "api records, label".to_owned(),
            format!("/api/records?label={}", url_part(&label)),
        ),
        (
            "api records, labels AND NOT".to_owned(),
            format!(
                "/api/records?label={}&theme=animals&all=true&notLabel=Person",
                url_part(&label)
            ),
        ),
        // Ranked: every match is read and scored, so this one grows with the store.
        (
            "api records, query words".to_owned(),
            format!(
                "/api/records?query={}",
                url_part(&format!("{label} on a beach"))
            ),
        ),
    ];
    if let Some(cursor) = deep_cursor {
        pages.push((
            "gallery, 50th page".to_owned(),
            format!("/?cursor={}", url_part(&cursor)),
        ));
    }
    for (name, uri) in &pages {
        let (ms, bytes) = runtime.block_on(measure(&app, uri))?;
        report["pages"][name] = json!({ "ms": ms, "bytes": bytes });
    }
    let executions = store.executions(&ExecutionFilter::default())?.len();
    report["executions"] = json!(executions);

    if args.json {
        output::print(&format!("{report}\n"))?;
        return Ok(Exit::Success);
    }
    // `Value` prints without padding: the columns are numbers first.
    let ms = |entry: &Value, at: &str| entry["ms"][at].as_f64().unwrap_or(f64::NAN);
    let count = |value: &Value| value.as_u64().unwrap_or_default();
    let mut text = format!(
        "{records} records and {executions} executions (filled in {fill_seconds:.1} s); \
         each measured {ROUNDS} times\n\n{:<34}{:>9}{:>9}{:>9}\n",
        "search (store only)", "p50 ms", "p99 ms", "found"
    );
    for (name, _) in &searches {
        let entry = &report["searches"][name];
        text.push_str(&format!(
            "  {name:<32}{:>9.3}{:>9.3}{:>9}\n",
            ms(entry, "p50"),
            ms(entry, "p99"),
            count(&entry["found"])
        ));
    }
    text.push_str(&format!(
        "\n{:<34}{:>9}{:>9}{:>9}\n",
        "page (router, no network)", "p50 ms", "p99 ms", "bytes"
    ));
    for (name, _) in &pages {
        let entry = &report["pages"][name];
        text.push_str(&format!(
            "  {name:<32}{:>9.3}{:>9.3}{:>9}\n",
            ms(entry, "p50"),
            ms(entry, "p99"),
            count(&entry["bytes"])
        ));
    }
    output::print(&text)?;
    Ok(Exit::Success)
}
