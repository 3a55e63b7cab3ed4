//! The `validate_header` fuzz target's corpus (`fuzz/corpus/validate_header/`), replayed as
//! ordinary tests, and the regressions the fuzzer found, each named after what it found. The
//! fuzzing itself is `bash scripts/fuzz.sh`.

use std::path::PathBuf;

#[test]
fn validate_header_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/validate_header");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    entries.sort();
    assert!(!entries.is_empty(), "no corpus in {}", dir.display());
    let failed: Vec<String> = entries
        .iter()
        .filter(|path| {
            let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            std::panic::catch_unwind(|| spotlight_validate::fuzz::header(&bytes)).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} inputs failed:\n{}",
        failed.len(),
        entries.len(),
        failed.join("\n")
    );
}
