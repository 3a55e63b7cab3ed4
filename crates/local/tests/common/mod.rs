//! What the local analysers' tests share: the test photos, the models (fetched once per test
//! binary when required, else a skip), and one text comparison, so figures from different
//! tests can be compared.

// Each test binary compiles this module and uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use spotlight_local::engine::{Engine, Model, OrtEngine};
use spotlight_local::{fetch, FetchOptions, LocalConfig, LocalModels, ModelCache, ModelId};
use spotlight_testkit::skip::skipped;

/// The test photos (`tests/photos`).
pub fn photos() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/photos")
}

/// The model cache the tests read (`spotlight_testkit::models::dir`).
pub fn cache() -> ModelCache {
    ModelCache::new(spotlight_testkit::models::dir())
}

/// The loaded models, once per test binary; `None` (saying that the calling test skipped) when
/// they are absent and not required. With `SPOTLIGHT_REQUIRE_MODELS` they are fetched first and
/// a failure panics.
pub fn models() -> Option<Arc<LocalModels>> {
    static MODELS: OnceLock<Result<Arc<LocalModels>, String>> = OnceLock::new();
    let required = std::env::var_os("SPOTLIGHT_REQUIRE_MODELS").is_some();
    let loaded = MODELS.get_or_init(|| {
        let cache = cache();
        if required {
            fetch(&cache, &FetchOptions::default(), &mut |_| {}).map_err(|e| e.to_string())?;
        }
        LocalModels::load(LocalConfig::new(cache))
            .map(Arc::new)
            .map_err(|e| e.to_string())
    });
    match loaded {
        Ok(models) => Some(models.clone()),
        Err(e) if required => panic!("models required (SPOTLIGHT_REQUIRE_MODELS): {e}"),
        Err(e) => {
            skipped(spotlight_testkit::models::absent(e));
            None
        }
    }
}

/// One model on its own, on one thread per run, loaded from the cache (once [`models`] has made
/// sure it is there).
pub fn load_model(id: ModelId) -> Box<dyn Model> {
    let cache = cache();
    let library = cache
        .onnxruntime_library()
        .unwrap_or_else(|e| panic!("{e}"));
    let engine = OrtEngine::new(&library, 1).unwrap_or_else(|e| panic!("{e}"));
    engine
        .load(&cache.require(id).unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Levenshtein distance over characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// Lines joined by single spaces, whitespace collapsed; full-width punctuation (the recogniser's
/// Chinese character set has both) folded to ASCII.
pub fn normalise(lines: &[String]) -> String {
    let joined = lines
        .join(" ")
        .replace('，', ",")
        .replace('：', ":")
        .replace('；', ";");
    joined.split_whitespace().collect::<Vec<_>>().join(" ")
}
