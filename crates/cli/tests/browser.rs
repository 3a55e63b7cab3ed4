//! The web console in a real browser: `spotlight run` on real photos with the real models (two
//! of them showing markup, under markup file names, and one file that is no photo), then
//! `spotlight serve`, driven through headless Chromium with WebDriver — the gallery, a search,
//! a photo's page, its execution, review mode and a phone's screen — checking on every page that
//! no script ran and the browser logged no error, and saving screenshots to `target/artifacts`.
//!
//! Needs Chromium and ChromeDriver (Debian `chromium`, `chromium-driver`) and the models (like
//! `e2e.rs`). Without either the test says so and passes, unless `SPOTLIGHT_REQUIRE_BROWSER` /
//! `SPOTLIGHT_REQUIRE_MODELS` is set (the test command sets both).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use spotlight_testkit::{Browser, Console};

use common::{models_ready, workspace};

/// The hostile-text photos, under the hostile names they get in the photo folder, and what the
/// real OCR reads from them (`tests/browser/*.png`, drawn by
/// `cargo run -p spotlight-fixtures --example render_xss`).
const SCRIPT_KEY: &str = "<script>alert(1)<script>.png";
const ATTRIBUTE_KEY: &str = "\"><img src=x onerror=alert(1)>.png";
const HOSTILE: [(&str, &str, &[&str]); 2] = [
    ("xss-script.png", SCRIPT_KEY, &["<script>alert(1)</script>"]),
    (
        "xss-attribute.png",
        ATTRIBUTE_KEY,
        // The detector splits the line at the monospace font's wide spaces.
        &["\"><img", "src=x", "onerror=alert(1)>"],
    ),
];

/// Sample photos that stay safe under the test policy.
const SAFE_SAMPLES: [&str; 5] = [
    "chelsea.jpg",
    "china.jpg",
    "motorcycle.jpg",
    "rocket.jpg",
    "sign.png",
];
/// The one sample photo the test policy makes unsafe: open_nsfw gives it 1.53% (see
/// `tests/browser/policy.json`).
const UNSAFE: &str = "coffee.jpg";
/// Not an image: rejected.
const REJECTED: &str = "not-a-photo.jpg";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/browser")
        .join(name)
}

fn set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| (*k).to_owned()).collect()
}

/// The keys the default gallery must list: every analysed photo the policy finds safe.
fn safe_keys() -> BTreeSet<String> {
    let mut keys = set(&SAFE_SAMPLES);
    keys.extend(HOSTILE.iter().map(|(_, key, _)| (*key).to_owned()));
    keys
}

/// The photos, the hostile ones and the non-photo in a fresh folder, run through the real
/// pipeline into `dir/spotlight.sqlite` with the test policy.
fn run_photos(dir: &Path) -> PathBuf {
    let folder = dir.join("photos");
    std::fs::create_dir_all(&folder).unwrap();
    for name in SAFE_SAMPLES.iter().chain([&UNSAFE, &REJECTED]) {
        std::fs::copy(
            workspace().join("samples/photos").join(name),
            folder.join(name),
        )
        .unwrap();
    }
    for (file, key, _) in HOSTILE {
        std::fs::copy(fixture(file), folder.join(key)).unwrap();
    }
    let store = dir.join("spotlight.sqlite");
    let run = Command::new(env!("CARGO_BIN_EXE_spotlight"))
        .env("SPOTLIGHT_MODEL_DIR", spotlight_testkit::models::dir())
        .env("SPOTLIGHT_POLICY", fixture("policy.json"))
        // open_nsfw's scores on harmless photos are 0.0002–1.6%: report them from 1%.
        .env("SPOTLIGHT_MODERATION_MIN_CONFIDENCE", "1")
        .arg("--store")
        .arg(&store)
        .args(["run", "--json"])
        .arg(&folder)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    let results: Vec<Value> = String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let verdict = |key: &str| {
        let result = results
            .iter()
            .find(|r| r["key"] == key)
            .unwrap_or_else(|| panic!("no result for {key}: {results:?}"));
        (result["status"].clone(), result["safe"].clone())
    };
    for key in safe_keys() {
        assert_eq!(verdict(&key), ("ANALYZED".into(), true.into()), "{key}");
    }
    assert_eq!(verdict(UNSAFE), ("ANALYZED".into(), false.into()));
    assert_eq!(verdict(REJECTED).0, "REJECTED");
    assert!(
        stderr.contains("9 photos") && stderr.contains("8 analysed (7 safe), 1 rejected, 0 failed"),
        "{stderr}"
    );
    store
}

/// The checks every page gets: no dialog open (no script ran), no error in the browser log
/// (script errors, failed loads and Content-Security-Policy violations all land there), no
/// markup from a photo turned into elements. Counts the pages checked.
fn check_page(browser: &Browser, pages: &mut Vec<String>) {
    let url = browser.current_url();
    browser.assert_no_dialog();
    let errors = browser.console_errors();
    assert!(errors.is_empty(), "{url}: the browser logged {errors:#?}");
    assert!(
        browser.find_all("script").is_empty(),
        "{url}: a script element"
    );
    assert!(
        browser.find_all("img[src='x'], [onerror]").is_empty(),
        "{url}: markup from a photo became an element"
    );
    assert!(
        browser.find_all("main").len() == 1 && !browser.find("h1").text().is_empty(),
        "{url}: not a console page"
    );
    // Again: an image's error handler would have fired by now.
    browser.assert_no_dialog();
    pages.push(url);
}

/// Waits for every image on the page to load (scrolling to the end first, so lazy ones start)
/// and returns each one's `[src, naturalWidth, naturalHeight]`.
fn loaded_images(browser: &Browser) -> Vec<(String, u64, u64)> {
    browser.execute("window.scrollTo(0, document.body.scrollHeight)", &[]);
    browser.wait_until("the images to load", Duration::from_secs(60), |b| {
        b.execute("return [...document.images].every(i => i.complete)", &[]) == Value::Bool(true)
    });
    let images = browser.execute(
        "return [...document.images].map(i => [i.getAttribute('src'), i.naturalWidth, i.naturalHeight])",
        &[],
    );
    images
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i[0].as_str().unwrap().to_owned(),
                i[1].as_u64().unwrap(),
                i[2].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The keys of the gallery's cards, in page order.
fn card_keys(browser: &Browser) -> Vec<String> {
    browser
        .find_all("li.card")
        .iter()
        .map(|card| {
            card.try_find("a[href^='/records/'] .key")
                .unwrap_or_else(|| panic!("a card without a link: {}", card.text()))
                .text()
        })
        .collect()
}

fn card_set(browser: &Browser) -> BTreeSet<String> {
    let keys = card_keys(browser);
    let set: BTreeSet<String> = keys.iter().cloned().collect();
    assert_eq!(set.len(), keys.len(), "a photo listed twice: {keys:?}");
    set
}

/// Fills the gallery's search form (`fields` by input name; empty clears) and submits it.
fn search(browser: &Browser, fields: &[(&str, &str)]) {
    for (name, value) in fields {
        let input = browser.find(&format!("form.search input[name='{name}']"));
        input.clear();
        input.send_keys(value);
    }
    browser.find("form.search button[type='submit']").click();
}

/// Picks `option` of the search form's `select[name]`.
fn choose(browser: &Browser, select: &str, option: &str) {
    let options = browser.find_all(&format!("form.search select[name='{select}'] option"));
    let wanted = options
        .iter()
        .find(|o| o.text() == option)
        .unwrap_or_else(|| panic!("no option {option:?} in select {select:?}"));
    wanted.click();
    assert!(wanted.is_selected());
}

/// Clicks the gallery card of `key`.
fn open_card(browser: &Browser, key: &str) {
    let link = browser
        .find_all("li.card a[href^='/records/'] .key")
        .into_iter()
        .find(|a| a.text() == key)
        .unwrap_or_else(|| panic!("no card for {key:?}: {:?}", card_keys(browser)));
    link.click();
    assert!(
        browser.current_url().contains("/records/"),
        "{key}: {}",
        browser.current_url()
    );
}

/// The elements matching `selector` in the section of the page under the heading `h2` (up to
/// the next `h2`).
fn in_section<'a>(
    browser: &'a Browser,
    h2: &str,
    selector: &str,
) -> Vec<spotlight_testkit::Element<'a>> {
    let headings = browser.texts("main h2");
    assert!(
        headings.iter().any(|h| h == h2),
        "no {h2:?} section: {headings:?}"
    );
    browser.find_by_script(
        "const [title, selector] = arguments;
         const heading = [...document.querySelectorAll('main h2')]
             .find(h => h.textContent === title);
         const found = [];
         for (let n = heading.nextElementSibling; n && n.tagName !== 'H2'; n = n.nextElementSibling) {
             found.push(...(n.matches(selector) ? [n] : []), ...n.querySelectorAll(selector));
         }
         return found;",
        &[h2.into(), selector.into()],
    )
}

/// The text of each row of the page's table under its header row.
fn in_section_rows(browser: &Browser) -> Vec<String> {
    browser
        .find_all("main table tr")
        .iter()
        .filter(|row| row.find_all("th").is_empty())
        .map(|row| row.text())
        .collect()
}

/// The text of every table cell of the section under `h2`.
fn section_cells(browser: &Browser, h2: &str) -> Vec<String> {
    in_section(browser, h2, "td")
        .iter()
        .map(|td| td.text())
        .collect()
}

#[test]
fn the_console_in_a_browser_shows_photos_as_text_and_runs_no_script() {
    if !models_ready() {
        return;
    }
    let Some(browser) = Browser::start() else {
        return;
    };
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let store = run_photos(dir.path());
    let ran = started.elapsed();
    // Thumbnails go to the test's own folder, not the user's cache.
    let cache = dir.path().join("thumbnails");
    let console = Console::serve(
        Path::new(env!("CARGO_BIN_EXE_spotlight")),
        &store,
        &[
            "--bind",
            "127.0.0.1",
            "--thumbnails",
            &cache.to_string_lossy(),
        ],
    );
    let mut pages = Vec::new();

    // The gallery: the safe photos, neither the unsafe one nor the rejected file.
    browser.goto(&console.url("/"));
    check_page(&browser, &mut pages);
    assert_eq!(browser.title(), "Gallery · Spotlight");
    assert_eq!(card_set(&browser), safe_keys());
    assert!(browser.find_all("li.card.unsafe").is_empty());
    assert!(browser.try_find(".review").is_none(), "not in review mode");
    assert!(
        browser
            .find("main")
            .text()
            .contains("7 photos on this page."),
        "{}",
        browser.find("main").text()
    );
    // Every card shows a thumbnail drawn by the console: small, never the original.
    let thumbnails = loaded_images(&browser);
    assert_eq!(thumbnails.len(), safe_keys().len(), "{thumbnails:?}");
    for (src, width, height) in &thumbnails {
        assert!(
            src.starts_with("/records/") && src.ends_with("/thumbnail"),
            "{src}"
        );
        assert!(*width > 0 && *height > 0, "{src} did not load");
        assert!(*width <= 480 && *height <= 480, "{src} is {width}×{height}");
    }
    // Drawn into the cache folder; the photo folder holds its nine files and nothing more.
    let cached = std::fs::read_dir(&cache).unwrap().count();
    assert_eq!(cached, safe_keys().len());
    let in_folder = std::fs::read_dir(dir.path().join("photos"))
        .unwrap()
        .count();
    assert_eq!(in_folder, 9);
    browser.execute("window.scrollTo(0, 0)", &[]);
    browser.screenshot("gallery");

    // A search by label narrows the grid and says why each photo matched.
    search(&browser, &[("label", "vehicle")]);
    check_page(&browser, &mut pages);
    assert!(browser.current_url().contains("label=vehicle"));
    assert_eq!(card_set(&browser), set(&["motorcycle.jpg", "rocket.jpg"]));
    for why in browser.texts("li.card .why") {
        assert!(
            why.starts_with("Matched: ") && why.contains("Vehicle"),
            "{why}"
        );
    }
    // By the text the OCR read: the two photos of markup.
    search(&browser, &[("label", ""), ("text", "alert")]);
    check_page(&browser, &mut pages);
    assert_eq!(card_set(&browser), set(&[SCRIPT_KEY, ATTRIBUTE_KEY]));

    // A photo's page, reached from its card, and its execution, reached from the page.
    browser.goto(&console.url("/"));
    check_page(&browser, &mut pages);
    open_card(&browser, "chelsea.jpg");
    check_page(&browser, &mut pages);
    assert_eq!(browser.find("h1").text(), "chelsea.jpg");
    // Each label with its parents; the verdict with the policy that gave it.
    let labels = section_cells(&browser, "Labels");
    let cat = labels
        .iter()
        .position(|cell| cell == "Cat")
        .unwrap_or_else(|| panic!("no Cat: {labels:?}"));
    // The classifier's parents, then the one the object detector adds (Rekognition's `Pet`).
    assert_eq!(labels[cat + 2], "Mammal, Animal, Pet", "{labels:?}");
    let verdict = in_section(&browser, "Moderation", "p")
        .iter()
        .map(|p| p.text())
        .collect::<Vec<_>>();
    assert!(
        verdict.contains(&"Verdict SAFE under policy browser-test.1.".to_owned()),
        "{verdict:?}"
    );
    let preview = loaded_images(&browser);
    assert_eq!(preview.len(), 1, "{preview:?}");
    assert!(
        preview[0].0.ends_with("/preview") && preview[0].1 > 0,
        "{preview:?}"
    );
    // The detector's box over the cat, drawn exactly over the preview (same place and size).
    let overlay = browser.execute(
        "const i = document.querySelector('figure.boxed img.preview').getBoundingClientRect();\
         const s = document.querySelector('figure.boxed svg.boxes').getBoundingClientRect();\
         return [i.left, i.top, i.width, i.height, s.left, s.top, s.width, s.height,\
         document.querySelectorAll('svg.boxes rect').length]",
        &[],
    );
    let overlay: Vec<f64> = overlay
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(overlay[2] > 100.0 && overlay[8] >= 1.0, "{overlay:?}");
    for k in 0..4 {
        assert!((overlay[k] - overlay[k + 4]).abs() <= 1.5, "{overlay:?}");
    }
    let located = section_cells(&browser, "Located objects");
    assert!(located.contains(&"Cat".to_owned()), "{located:?}");
    browser.execute("window.scrollTo(0, 0)", &[]);
    browser.screenshot("photo-boxes");
    open_execution(&browser, "chelsea.jpg", &mut pages);
    let url = browser.current_url();
    browser.goto(url.split('#').next().unwrap_or(&url));
    // Tall enough for the whole graph.
    browser.set_window_size(1280, 1900);
    browser.screenshot("execution");
    browser.set_window_size(1280, 900);

    // The photos of markup: key and OCR text shown as text, on the photo's page and its
    // execution's.
    for (_, key, read) in HOSTILE {
        browser.goto(&console.url("/"));
        check_page(&browser, &mut pages);
        open_card(&browser, key);
        check_page(&browser, &mut pages);
        assert_eq!(browser.find("h1").text(), key);
        assert_eq!(browser.title(), format!("{key} · Spotlight"));
        let text = section_cells(&browser, "Text");
        for line in read {
            assert!(
                text.contains(&(*line).to_owned()),
                "{key}: OCR read {text:?}"
            );
        }
        if key == SCRIPT_KEY {
            browser.screenshot("photo");
        }
        open_execution(&browser, key, &mut pages);
    }

    // Review mode lists the unsafe photo and the rejected file too, marked as such.
    browser.goto(&console.url("/"));
    browser
        .find("form.search input[name='includeUnsafe']")
        .click();
    search(&browser, &[]);
    check_page(&browser, &mut pages);
    assert!(browser.find(".review").text().starts_with("Review mode"));
    let mut everything = safe_keys();
    everything.extend(set(&[UNSAFE, REJECTED]));
    assert_eq!(card_set(&browser), everything);
    let unsafe_cards = browser.find_all("li.card.unsafe");
    let unsafe_keys: BTreeSet<String> = unsafe_cards
        .iter()
        .map(|c| c.find_all("a[href^='/records/'] .key")[0].text())
        .collect();
    assert_eq!(unsafe_keys, set(&[UNSAFE, REJECTED]));
    // The status filter: only the rejected file.
    choose(&browser, "status", "REJECTED");
    search(&browser, &[]);
    check_page(&browser, &mut pages);
    assert!(browser.current_url().contains("status=REJECTED"));
    assert_eq!(card_keys(&browser), [REJECTED]);
    assert!(browser.find("li.card").text().contains("REJECTED"));
    open_card(&browser, REJECTED);
    check_page(&browser, &mut pages);
    assert!(
        browser
            .find("p.error")
            .text()
            .starts_with("ImageRejected.UnsupportedFormat"),
        "{}",
        browser.find("p.error").text()
    );
    // The unsafe photo's page says which moderation label the policy flagged.
    browser.goto(&console.url("/?includeUnsafe=true"));
    check_page(&browser, &mut pages);
    open_card(&browser, UNSAFE);
    check_page(&browser, &mut pages);
    let moderation = section_cells(&browser, "Moderation");
    assert!(
        moderation.contains(&"Explicit".to_owned()) && moderation.iter().any(|c| c == "over 1.4%"),
        "{moderation:?}"
    );

    // Failures: the rejected file, with its error and cause, and a re-run button that posts
    // (with the form's CSRF token) and says why nothing ran — the file has not changed.
    browser.find("header a[href='/failures']").click();
    check_page(&browser, &mut pages);
    let rows = browser.find_all("tr.failure");
    let keys: Vec<String> = rows.iter().map(|r| r.attr("data-key").unwrap()).collect();
    assert_eq!(keys, [REJECTED]);
    assert!(
        rows[0].text().contains("ImageRejected.UnsupportedFormat"),
        "{}",
        rows[0].text()
    );
    browser.screenshot("failures");
    rows[0].find_all("form[method='post'] button")[0].click();
    check_page(&browser, &mut pages);
    assert_eq!(browser.find("h1").text(), format!("Re-run of {REJECTED}"));
    assert!(
        browser
            .find("main")
            .text()
            .contains("Nothing ran: the file has not changed"),
        "{}",
        browser.find("main").text()
    );

    // Ops' list of executions: one per photo, newest first, filtered by status in the page.
    browser.find("header a[href='/executions']").click();
    check_page(&browser, &mut pages);
    let rows = in_section_rows(&browser);
    assert_eq!(rows.len(), 9, "{rows:#?}");
    assert!(
        rows.iter().all(|row| row.starts_with("SUCCEEDED")),
        "{rows:#?}"
    );
    let keys: BTreeSet<String> = browser
        .find_all("main table a[href^='/records/']")
        .iter()
        .map(|a| a.text())
        .collect();
    assert_eq!(keys, everything);
    browser.screenshot("executions");
    choose(&browser, "status", "FAILED");
    search(&browser, &[]);
    check_page(&browser, &mut pages);
    assert!(browser.current_url().contains("status=FAILED"));
    assert!(in_section_rows(&browser).is_empty());

    // Themes edited in the page (a POST with the form's CSRF token) apply to the next search.
    browser.find("header a[href='/themes']").click();
    check_page(&browser, &mut pages);
    let editor = browser.find("form.themes textarea[name='themes']");
    editor.send_keys("\nbikes: Motorcycle\n");
    browser.screenshot("themes");
    browser.find("form.themes button[type='submit']").click();
    check_page(&browser, &mut pages);
    assert!(
        browser
            .find("p.notice")
            .text()
            .starts_with("Saved 9 themes"),
        "{}",
        browser.find("main").text()
    );
    browser.goto(&console.url("/"));
    choose(&browser, "theme", "bikes");
    search(&browser, &[]);
    check_page(&browser, &mut pages);
    assert_eq!(card_set(&browser), set(&["motorcycle.jpg"]));

    // A phone: the gallery fits the screen's width.
    browser.emulate_phone();
    browser.goto(&console.url("/"));
    check_page(&browser, &mut pages);
    assert_eq!(card_set(&browser), safe_keys());
    let widths = browser.execute(
        "return [document.documentElement.scrollWidth, window.innerWidth]",
        &[],
    );
    let (scroll, viewport) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
    assert_eq!(viewport, 390, "{widths}");
    assert!(
        scroll <= viewport,
        "the gallery scrolls sideways on a phone: {widths}"
    );
    browser.screenshot("gallery-phone");
    browser.emulate_desktop();

    // Redrive: an execution whose process died before it ended (ABORTED, kept without a
    // history), redriven with its page's button (a POST with the form's CSRF token), succeeds
    // under the same id with a redrive count of 1, and offers no button any more.
    let aborted = abandoned_execution(&store, &dir.path().join("photos"), SAFE_SAMPLES[0]);
    browser.goto(&console.url("/executions?status=ABORTED"));
    check_page(&browser, &mut pages);
    browser.find("main table a[href^='/executions/']").click();
    check_page(&browser, &mut pages);
    assert!(browser.find("main dl").text().contains(&aborted));
    assert_eq!(browser.find("#redrive-count").text(), "0");
    browser.find("button#redrive").click();
    check_page(&browser, &mut pages);
    assert_eq!(browser.find("#redrive-count").text(), "1");
    assert!(
        browser.find("main dl").text().contains("SUCCEEDED"),
        "{}",
        browser.find("main dl").text()
    );
    assert!(browser.find_all("button#redrive").is_empty());
    browser.screenshot("execution-redriven");

    // Review: the queue holds the unsafe photo; the reviewer's name field has the focus, and
    // Enter there submits the form's first button, Approve (a POST with the CSRF token). The
    // approval beats the model in the gallery; a rejection from the photo's page undoes it.
    browser.find("header a[href='/review']").click();
    check_page(&browser, &mut pages);
    assert_eq!(browser.title(), "Review · Spotlight");
    let queued = |browser: &Browser| -> Vec<String> {
        browser
            .find_all("ol.queue li.queued .key")
            .iter()
            .map(|k| k.text())
            .collect()
    };
    assert_eq!(queued(&browser), [UNSAFE]);
    let focused = browser.execute("return document.activeElement.getAttribute('name')", &[]);
    assert_eq!(focused, "reviewer", "the first form takes the keyboard");
    browser.screenshot("review");
    browser
        .find("form.decision input[name='reviewer']")
        .send_keys("ana\u{E007}");
    check_page(&browser, &mut pages);
    assert!(
        browser
            .find("p.notice")
            .text()
            .contains(&format!("approved {UNSAFE}")),
        "{}",
        browser.find("main").text()
    );
    assert!(queued(&browser).is_empty());
    browser.goto(&console.url("/"));
    check_page(&browser, &mut pages);
    let mut approved = safe_keys();
    approved.insert(UNSAFE.to_owned());
    assert_eq!(card_set(&browser), approved, "the approval counts");
    open_card(&browser, UNSAFE);
    check_page(&browser, &mut pages);
    let review = browser.find("main").text();
    assert!(review.contains("Model: UNSAFE"), "{review}");
    assert!(review.contains("APPROVED by ana"), "{review}");
    browser
        .find("form.decision input[name='reviewer']")
        .send_keys("bo");
    browser.find("form.decision button.reject").click();
    check_page(&browser, &mut pages);
    assert!(browser.find("main").text().contains("REJECTED by bo"));
    browser.goto(&console.url("/"));
    check_page(&browser, &mut pages);
    assert_eq!(card_set(&browser), safe_keys(), "the rejection counts");

    assert_eq!(pages.len(), 34, "{pages:#?}");
    eprintln!(
        "spotlight run: {:.1} s; {} pages checked in {:.1} s; screenshots in {}",
        ran.as_secs_f64(),
        pages.len(),
        (started.elapsed() - ran).as_secs_f64(),
        spotlight_testkit::browser::artifacts_dir().display()
    );
    browser.close();
}

/// An execution of `key` kept RUNNING by a "process" that is gone (this test's store, dropped):
/// what a `run` killed mid-photo leaves behind. Its id.
fn abandoned_execution(store: &Path, photos: &Path, key: &str) -> String {
    let bucket = std::fs::canonicalize(photos)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let modified: chrono::DateTime<chrono::Utc> = std::fs::metadata(Path::new(&bucket).join(key))
        .unwrap()
        .modified()
        .unwrap()
        .into();
    let id = "arn:aws:states:local:123456789012:execution:spotlight-pipeline:\
              00000000-0000-4000-8000-00000000abcd"
        .to_owned();
    let opened = spotlight_storage::SqliteStore::open(store).unwrap();
    opened
        .save_execution(
            &spotlight_storage::ExecutionSummary {
                id: id.clone(),
                bucket: bucket.clone(),
                key: key.to_owned(),
                record_id: spotlight_core::record_id(&bucket, key),
                status: spotlight_core::contracts::ExecutionStatus::Running,
                start_time: chrono::Utc::now(),
                stop_time: None,
                input: serde_json::json!({
                    "bucket": bucket, "key": key, "eventTime": modified.to_rfc3339(),
                }),
                output: None,
                error: None,
                cause: None,
                redrive_count: 0,
            },
            None,
        )
        .unwrap();
    id
}

/// From a photo's page, follows the link to its execution and checks the execution's page;
/// leaves the browser there.
fn open_execution(browser: &Browser, key: &str, pages: &mut Vec<String>) {
    let link = browser.find("main a[href^='/executions/']");
    let id = link.text();
    assert!(id.starts_with("arn:aws:states:"), "{id}");
    link.click();
    check_page(browser, pages);
    assert_eq!(browser.find("h1").text(), format!("Execution of {key}"));
    assert!(browser.find("main dl").text().contains(&id));
    let states: BTreeSet<String> = in_section(browser, "States", "td:first-child")
        .iter()
        .map(|td| td.text())
        .collect();
    for state in [
        "Validate",
        "Analyze",
        "DetectLabels",
        "DetectModeration",
        "DetectText",
        "Record",
    ] {
        assert!(states.contains(state), "{key}: states {states:?}");
    }
    // The graph marks what happened to each state, and choosing one shows its input.
    let status = |state: &str| {
        browser
            .find(&format!("svg.graph g.node[data-state='{state}']"))
            .attr("data-status")
            .unwrap()
    };
    for state in ["Normalize", "Validate", "Analyze", "DetectLabels", "Record"] {
        assert_eq!(status(state), "succeeded", "{key}: {state}");
    }
    for state in ["RecordRejected", "RecordFailed", "Failed"] {
        assert_eq!(status(state), "not-run", "{key}: {state}");
    }
    let input = "section#state-DetectLabels pre";
    let shown = |b: &Browser| {
        b.execute(
            "return getComputedStyle(document.querySelector(arguments[0])).display",
            &[input.into()],
        )
    };
    assert_eq!(
        shown(browser),
        "none",
        "input shown before the state is chosen"
    );
    browser
        .find("svg.graph a[href='#state-DetectLabels']")
        .click();
    assert!(browser.current_url().ends_with("#state-DetectLabels"));
    assert_eq!(
        shown(browser),
        "block",
        "choosing the state shows its input"
    );
    assert!(browser.find(input).text().contains("\"bucket\""));
    // It links back to the photo.
    let back = browser.find("main dl a[href^='/records/']");
    assert_eq!(back.text(), key);
}
