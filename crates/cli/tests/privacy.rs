//! Issue 14, point 6: nothing served to a browser or an API client carries a photo's GPS or
//! camera metadata, and the store keeps none. A real photo carrying GPS, camera and lens serials,
//! XMP, IPTC, a comment and an EXIF thumbnail (`spotlight_fixtures::PHOTO_WITH_METADATA`) goes
//! through `spotlight run`; then every page, image and API answer of `spotlight serve` that a
//! crawl from the gallery reaches, the JSON API, the exports and the CLI's outputs are read for
//! it, and so is the SQLite file.

mod common;

use std::collections::{BTreeSet, VecDeque};
use std::path::Path;

use serde_json::Value;
use spotlight_fixtures::image::RgbImage;
use spotlight_fixtures::{metadata_in_jpeg, needles_in, PHOTO_WITH_METADATA};

use common::{json_lines, models_ready, output_text, spotlight};

/// `text` as one percent-encoded path segment or query value.
fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'~' | b'.' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The same-origin links (`href` and `src`) of an HTML page, unescaped.
fn links(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["href=\"", "src=\""] {
        for (at, _) in html.match_indices(attribute) {
            let rest = &html[at + attribute.len()..];
            let Some(end) = rest.find('"') else { continue };
            let link = rest[..end].replace("&amp;", "&");
            if link.starts_with('/') && !link.starts_with("//") {
                found.push(link);
            }
        }
    }
    found
}

/// What in a served answer carries the photo's metadata, if anything: a JPEG is read segment by
/// segment, anything else for the metadata's bytes.
fn leaks(body: &[u8]) -> Vec<String> {
    if body.starts_with(&[0xff, 0xd8]) {
        metadata_in_jpeg(body)
    } else {
        needles_in(body)
    }
}

/// The mean difference per channel between two pictures of one size.
fn mean_difference(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / a.as_raw().len() as f64
}

#[test]
fn no_answer_and_no_stored_record_carries_the_photos_metadata() {
    if !models_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("photos");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("paris.jpg"), PHOTO_WITH_METADATA).unwrap();
    let store = dir.path().join("spotlight.sqlite");
    let run = spotlight(&store)
        .args(["run", "--json"])
        .arg(&folder)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", output_text(&run));
    let results = json_lines(&String::from_utf8_lossy(&run.stdout));
    assert_eq!(results.len(), 1, "{}", output_text(&run));
    assert_eq!(results[0]["status"], "ANALYZED", "{}", results[0]);
    let execution = results[0]["executionId"].as_str().unwrap().to_owned();

    // The CLI's outputs and the store.
    let mut cli_outputs = Vec::new();
    for args in [
        vec!["show", "paris.jpg", "--json"],
        vec!["search", "--json", "--include-unsafe"],
        vec!["executions", "list", "--json"],
        vec!["executions", "show", &execution, "--events", "--json"],
    ] {
        let out = spotlight(&store).args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", output_text(&out));
        assert_eq!(needles_in(&out.stdout), Vec::<String>::new(), "{args:?}");
        cli_outputs.push(out.stdout);
    }
    let record: Value = serde_json::from_slice(&cli_outputs[0]).unwrap();
    let id = record["id"].as_str().unwrap().to_owned();
    assert_eq!(record["image"]["width"], 512, "{record}");
    // Every file the store wrote (the database, its journal, what it keeps beside it).
    let mut stored = Vec::new();
    let mut folders = vec![dir.path().to_path_buf()];
    while let Some(folder_now) = folders.pop() {
        for entry in std::fs::read_dir(&folder_now).unwrap() {
            let path = entry.unwrap().path();
            if path == folder {
                continue;
            }
            if path.is_dir() {
                folders.push(path);
            } else {
                stored.push(path);
            }
        }
    }
    assert!(stored.iter().any(|p| p == &store), "{stored:?}");
    for file in &stored {
        let bytes = std::fs::read(file).unwrap();
        assert_eq!(
            needles_in(&bytes),
            Vec::<String>::new(),
            "{}",
            file.display()
        );
    }
    // And cell by cell, in case a column were ever stored compressed.
    let connection = rusqlite::Connection::open(&store).unwrap();
    let tables: Vec<String> = connection
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut cells = Vec::new();
    for table in &tables {
        let mut rows = connection
            .prepare(&format!("SELECT * FROM \"{table}\""))
            .unwrap();
        let columns = rows.column_count();
        let mut rows = rows.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for column in 0..columns {
                match row.get_ref(column).unwrap() {
                    rusqlite::types::ValueRef::Text(bytes)
                    | rusqlite::types::ValueRef::Blob(bytes) => {
                        cells.extend_from_slice(bytes);
                        cells.push(b'\n');
                    }
                    _ => {}
                }
            }
        }
    }
    assert!(
        cells.windows(9).any(|w| w == b"paris.jpg"),
        "the cells read hold the record"
    );
    assert_eq!(needles_in(&cells), Vec::<String>::new());
    // No field of the record names GPS or camera metadata, whatever its value.
    let text = serde_json::to_string(&record).unwrap().to_lowercase();
    for word in ["gps", "exif", "xmp", "iptc", "serial", "latitude"] {
        assert!(!text.contains(word), "{word} in {record}");
    }

    // The console, over HTTP: a crawl from the gallery in review mode reaches every page and
    // image it links to; the JSON API and the exports are asked for by name.
    let thumbnails = dir.path().join("thumbnails");
    let console = spotlight_testkit::Console::serve(
        Path::new(env!("CARGO_BIN_EXE_spotlight")),
        &store,
        &["--thumbnails", thumbnails.to_str().unwrap()],
    );
    let record_path = format!("/records/{}", segment(&id));
    let mut queue: VecDeque<String> = [
        "/?includeUnsafe=true".to_owned(),
        "/".to_owned(),
        format!("{record_path}?includeUnsafe=true"),
        "/failures".to_owned(),
        "/executions".to_owned(),
        format!("/executions/{}", segment(&execution)),
        "/api/records?includeUnsafe=true".to_owned(),
        "/api/records?includeUnsafe=true&label=Coffee".to_owned(),
        format!("/api/records/{}", segment(&id)),
        "/api/executions".to_owned(),
        format!("/api/executions/{}/history", segment(&execution)),
        "/api/themes".to_owned(),
        format!("/export?format=json&id={}", segment(&id)),
        format!("/export?format=csv&id={}", segment(&id)),
    ]
    .into();
    let mut seen: BTreeSet<String> = queue.iter().cloned().collect();
    let mut images = Vec::new();
    let mut answered = 0;
    while let Some(path) = queue.pop_front() {
        // Enough to reach every kind of page from one photo's, without walking every filter.
        if answered == 300 {
            break;
        }
        let (status, body) = console.get_bytes(&path, &[]);
        answered += 1;
        assert!(status < 500, "GET {path}: {status}");
        assert_eq!(leaks(&body), Vec::<String>::new(), "GET {path}");
        if body.starts_with(&[0xff, 0xd8]) {
            images.push((path.clone(), body));
            continue;
        }
        for link in links(&String::from_utf8_lossy(&body)) {
            if seen.insert(link.clone()) {
                queue.push_back(link);
            }
        }
    }
    // Both renditions were reached by the crawl, and they are the photo: the preview at its
    // own size with its own pixels (but for JPEG's loss), the thumbnail shrunk.
    let original = spotlight_fixtures::image::load_from_memory(PHOTO_WITH_METADATA)
        .unwrap()
        .into_rgb8();
    let rendition = |name: &str| {
        let (path, jpeg) = images
            .iter()
            .find(|(path, _)| path.contains(&format!("/{name}")))
            .unwrap_or_else(|| panic!("the crawl reached no {name}: {seen:#?}"));
        let drawn = spotlight_fixtures::image::load_from_memory(jpeg)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .into_rgb8();
        (path.clone(), drawn)
    };
    let (path, preview) = rendition("preview");
    assert_eq!(preview.dimensions(), original.dimensions(), "{path}");
    let difference = mean_difference(&preview, &original);
    assert!(difference < 4.0, "{path} differs by {difference} a channel");
    let (path, thumbnail) = rendition("thumbnail");
    assert_eq!(thumbnail.width(), 480, "{path}");
    let shrunk = spotlight_fixtures::image::imageops::thumbnail(
        &original,
        thumbnail.width(),
        thumbnail.height(),
    );
    let difference = mean_difference(&thumbnail, &shrunk);
    assert!(difference < 6.0, "{path} differs by {difference} a channel");
    // The API's answers were read too, and they describe the photo.
    let (status, body) = console.get(&format!("/api/records/{}", segment(&id)), &[]);
    assert_eq!(status, 200, "{body}");
    let served: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(served["key"], "paris.jpg", "{served}");
    // Nothing the console drew, cached or not, carries the metadata either.
    for entry in std::fs::read_dir(&thumbnails).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(
            metadata_in_jpeg(&std::fs::read(&path).unwrap()),
            Vec::<String>::new(),
            "{}",
            path.display()
        );
    }
}
