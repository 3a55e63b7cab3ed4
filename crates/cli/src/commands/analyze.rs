//! `spotlight analyze`: what the local models make of images, without storing anything — the
//! tool for seeing a model's view of a photo or tuning thresholds.

use spotlight_local::analyzer::{analyze_file, LocalConfig, LocalModels};

use crate::cli::AnalyzeArgs;
use crate::commands::{models, Exit};
use crate::output;

/// Analyses each image; exit 1 when any could not be analysed.
pub fn execute(args: AnalyzeArgs) -> anyhow::Result<Exit> {
    let cache = models::ensure(args.offline)?;
    let loaded = LocalModels::load(LocalConfig {
        cache,
        ..LocalConfig::from_env()?
    })?;
    let mut exit = Exit::Success;
    for path in &args.images {
        let name = path.to_string_lossy();
        match analyze_file(&loaded, path) {
            Ok(report) => {
                let text = if args.json {
                    let mut line = serde_json::to_value(&report)?;
                    line["path"] = serde_json::Value::String(name.clone().into_owned());
                    format!("{line}\n")
                } else {
                    describe(&name, &report)
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

fn describe(name: &str, report: &spotlight_local::analyzer::AnalysisReport) -> String {
    let mut out = format!("{name}\n");
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
