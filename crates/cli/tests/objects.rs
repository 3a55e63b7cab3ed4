//! The local pipeline's records carry the object detector's located labels: a photo of a
//! person is stored with `Person` and its box, and a search by that label finds it.

mod common;

use serde_json::Value;

use common::{json_lines, models_ready, output_text, spotlight, workspace};

#[test]
fn a_photo_of_a_person_is_recorded_with_person_and_its_box() {
    if !models_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("inbox");
    std::fs::create_dir_all(&folder).unwrap();
    for name in ["astronaut.jpg", "chelsea.jpg"] {
        std::fs::copy(
            workspace().join("crates/local/tests/photos").join(name),
            folder.join(name),
        )
        .unwrap();
    }
    let store = dir.path().join("spotlight.sqlite");
    let run = spotlight(&store)
        .args(["run", "--json"])
        .arg(&folder)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", output_text(&run));

    let search = spotlight(&store)
        .args(["search", "--label", "Person", "--json"])
        .output()
        .unwrap();
    assert!(search.status.success(), "{}", output_text(&search));
    let hits = json_lines(&String::from_utf8_lossy(&search.stdout));
    let keys: Vec<&str> = hits
        .iter()
        .map(|h| h["record"]["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["astronaut.jpg"], "only the astronaut is a person");

    let record = &hits[0]["record"];
    let person: Vec<&Value> = record["labels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["name"] == "Person")
        .collect();
    assert_eq!(person.len(), 1, "one entry per name: {record}");
    let person = person[0];
    assert_eq!(person["categories"][0], "Person Description", "{person}");
    let instances = person["instances"].as_array().unwrap();
    assert!(!instances.is_empty(), "{person}");
    let first = &instances[0];
    let b = &first["boundingBox"];
    let (left, top) = (b["left"].as_f64().unwrap(), b["top"].as_f64().unwrap());
    let (width, height) = (b["width"].as_f64().unwrap(), b["height"].as_f64().unwrap());
    // Ratios of the image: the astronaut fills its left two thirds, top to bottom.
    assert!(
        (0.0..0.2).contains(&left) && (0.0..0.2).contains(&top),
        "{b}"
    );
    assert!(width > 0.5 && height > 0.8 && left + width <= 1.0, "{b}");
    assert!(first["confidence"].as_f64().unwrap() >= 50.0, "{first}");
    let models = record["models"].as_array().unwrap();
    assert!(
        models
            .iter()
            .any(|m| m["model"]["name"] == "efficientnet-lite0+ssd-mobilenetv2-oidv4"),
        "the record names both label models: {record}"
    );
}
