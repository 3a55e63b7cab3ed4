//! Per-theme precision and recall of `spotlight search --theme` on the labelled evaluation set
//! (issue 12, "How it is checked"): real photographs from Debian packages and PyPI wheels, each
//! given the themes a person sees in it, in `tests/fixtures/eval/labels.json`.
//!
//! The real binary processes the folder with `spotlight run`, then each theme is searched with
//! `spotlight search --theme T --include-unsafe --json` (all verdicts: a photo the moderation
//! model wrongly blocks still counts as found, so the figure measures the labels, not the
//! policy) and compared with the people's labels. The table is printed; the test fails when a
//! theme's precision or recall falls below its floor in `labels.json` (`floors`: the measured
//! values rounded down to 0.05), so a change that makes search worse on real photos is caught.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use common::{json_lines, models_ready, output_text, spotlight, workspace};

fn eval_dir() -> PathBuf {
    workspace().join("crates/cli/tests/fixtures/eval")
}

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// The labelled set: each photo's file name and its themes, checked for consistency first, so a
/// typo in the labels fails loudly instead of quietly changing the figures.
struct EvalSet {
    themes: Vec<String>,
    photos: BTreeMap<String, BTreeSet<String>>,
    floors: BTreeMap<String, (f64, f64)>,
}

fn load_eval_set() -> EvalSet {
    let labels = read_json(&eval_dir().join("labels.json"));
    let themes: Vec<String> = labels["themes"]
        .as_array()
        .expect("labels.json: themes is a list")
        .iter()
        .map(|t| t.as_str().expect("a theme is a string").to_owned())
        .collect();
    let known: BTreeSet<&str> = themes.iter().map(String::as_str).collect();
    assert_eq!(
        known.len(),
        themes.len(),
        "labels.json: a theme is listed twice"
    );

    // Every theme measured must be a theme the shipped file defines, or search would fail.
    let shipped = read_json(&workspace().join("config/themes.json"));
    for theme in &themes {
        assert!(
            shipped["themes"].get(theme).is_some(),
            "labels.json measures `{theme}`, which config/themes.json does not define"
        );
    }

    let mut photos = BTreeMap::new();
    for photo in labels["photos"]
        .as_array()
        .expect("labels.json: photos is a list")
    {
        let file = photo["file"]
            .as_str()
            .expect("a photo has a file")
            .to_owned();
        assert!(
            eval_dir().join("photos").join(&file).is_file(),
            "labels.json names {file}, which is not in photos/"
        );
        for field in ["registry", "package", "version", "path", "sha256"] {
            assert!(
                photo["source"][field]
                    .as_str()
                    .is_some_and(|v| !v.is_empty()),
                "{file}: source.{field} is missing"
            );
        }
        assert!(
            photo["licence"].as_str().is_some_and(|v| !v.is_empty()),
            "{file}: no licence"
        );
        let mut set = BTreeSet::new();
        for theme in photo["themes"]
            .as_array()
            .expect("a photo's themes is a list")
        {
            let theme = theme.as_str().expect("a theme is a string");
            assert!(known.contains(theme), "{file}: unknown theme `{theme}`");
            assert!(set.insert(theme.to_owned()), "{file}: `{theme}` twice");
        }
        assert!(
            photos.insert(file.clone(), set).is_none(),
            "labels.json lists {file} twice"
        );
    }
    // And every photo in the folder is labelled: an unlabelled one would count as a negative.
    for entry in std::fs::read_dir(eval_dir().join("photos")).expect("photos/ exists") {
        let name = entry.expect("a directory entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            photos.contains_key(name.as_ref()),
            "photos/{name} has no entry in labels.json"
        );
    }

    let mut floors = BTreeMap::new();
    if let Some(table) = labels["floors"].as_object() {
        for (theme, floor) in table {
            assert!(
                known.contains(theme.as_str()),
                "floors: unknown theme `{theme}`"
            );
            let precision = floor["precision"].as_f64().expect("floors: precision");
            let recall = floor["recall"].as_f64().expect("floors: recall");
            floors.insert(theme.clone(), (precision, recall));
        }
    }
    EvalSet {
        themes,
        photos,
        floors,
    }
}

#[test]
fn the_evaluation_set_is_consistent() {
    let set = load_eval_set();
    assert!(
        set.photos.len() >= 50,
        "the set has {} photos",
        set.photos.len()
    );
    for theme in &set.themes {
        assert!(
            set.floors.contains_key(theme),
            "labels.json has no floor for `{theme}`"
        );
    }
}

/// One theme's figures: a photo is found when the search returns it.
struct Score {
    positives: usize,
    found: usize,
    true_positives: usize,
}

impl Score {
    /// Nothing found has no precision; it counts as 0 against a floor (its recall is 0 too).
    fn precision(&self) -> f64 {
        if self.found == 0 {
            0.0
        } else {
            self.true_positives as f64 / self.found as f64
        }
    }

    fn recall(&self) -> f64 {
        if self.positives == 0 {
            0.0
        } else {
            self.true_positives as f64 / self.positives as f64
        }
    }
}

#[test]
fn search_by_theme_finds_the_photos_people_would() {
    let set = load_eval_set();
    if !models_ready() {
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let folder = dir.path().join("uploads");
    std::fs::create_dir_all(&folder).expect("the upload folder");
    for file in set.photos.keys() {
        std::fs::copy(eval_dir().join("photos").join(file), folder.join(file))
            .unwrap_or_else(|e| panic!("copying {file}: {e}"));
    }
    let store = dir.path().join("spotlight.sqlite");
    let started = std::time::Instant::now();
    let run = spotlight(&store)
        .args(["run", "--json"])
        .arg(&folder)
        .output()
        .expect("running spotlight run");
    assert_eq!(run.status.code(), Some(0), "{}", output_text(&run));
    let analysed = started.elapsed();

    // (a) every photo produced a record, and an analysed one: these are ordinary photos.
    let results = json_lines(&String::from_utf8_lossy(&run.stdout));
    let by_key: BTreeMap<&str, &Value> = results
        .iter()
        .map(|r| (r["key"].as_str().expect("a result has a key"), r))
        .collect();
    for file in set.photos.keys() {
        let result = by_key
            .get(file.as_str())
            .unwrap_or_else(|| panic!("no record for {file}: {}", output_text(&run)));
        assert_eq!(result["status"], "ANALYZED", "{file}: {result}");
    }

    // The repository's themes file, named explicitly: the figures are about this file.
    let themes_file = workspace().join("config/themes.json");
    let mut scores = BTreeMap::new();
    let mut misses = Vec::new();
    for theme in &set.themes {
        let search = spotlight(&store)
            .args([
                "search",
                "--theme",
                theme,
                "--include-unsafe",
                "--json",
                "--themes",
            ])
            .arg(&themes_file)
            .output()
            .expect("running spotlight search");
        assert!(search.status.success(), "{}", output_text(&search));
        let found: BTreeSet<String> = json_lines(&String::from_utf8_lossy(&search.stdout))
            .iter()
            .map(|hit| {
                hit["record"]["key"]
                    .as_str()
                    .expect("a hit has a key")
                    .to_owned()
            })
            .collect();
        let positives: BTreeSet<&String> = set
            .photos
            .iter()
            .filter(|(_, themes)| themes.contains(theme))
            .map(|(file, _)| file)
            .collect();
        let true_positives = found.iter().filter(|f| positives.contains(f)).count();
        for file in &positives {
            if !found.contains(file.as_str()) {
                misses.push(format!("{theme}: missed {file}"));
            }
        }
        for file in &found {
            if !positives.contains(file) {
                misses.push(format!("{theme}: wrongly found {file}"));
            }
        }
        scores.insert(
            theme.clone(),
            Score {
                positives: positives.len(),
                found: found.len(),
                true_positives,
            },
        );
    }

    println!(
        "\nsearch --theme on {} photos (run took {:.1} s)",
        set.photos.len(),
        analysed.as_secs_f64()
    );
    println!(
        "{:<10} {:>9} {:>6} {:>4} {:>9} {:>7}",
        "theme", "positives", "found", "TP", "precision", "recall"
    );
    for theme in &set.themes {
        let s = &scores[theme];
        println!(
            "{:<10} {:>9} {:>6} {:>4} {:>9.2} {:>7.2}",
            theme,
            s.positives,
            s.found,
            s.true_positives,
            s.precision(),
            s.recall()
        );
    }
    println!("{}", misses.join("\n"));

    // (b) no theme below its floor. A small tolerance: the floors are rounded down already.
    let mut below = Vec::new();
    for theme in &set.themes {
        let s = &scores[theme];
        let &(precision, recall) = set
            .floors
            .get(theme)
            .unwrap_or_else(|| panic!("labels.json has no floor for `{theme}`"));
        if s.precision() + 1e-9 < precision || s.recall() + 1e-9 < recall {
            below.push(format!(
                "{theme}: precision {:.2} (floor {precision:.2}), recall {:.2} (floor {recall:.2})",
                s.precision(),
                s.recall()
            ));
        }
    }
    assert!(below.is_empty(), "below the floors:\n{}", below.join("\n"));
}
