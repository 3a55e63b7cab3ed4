//! Skips a developer sees. A test that cannot run here (no models, no `moto_server`) returns
//! early and passes, so it must say so where `cargo test` shows it: libtest captures what
//! `print!` and `eprint!` write and shows it only for a failing test, but a write to the
//! process's stderr handle itself is not captured, so the line appears in the terminal among
//! the results, with or without `--nocapture`, once for each test that skipped.

use std::io::Write as _;

/// Writes `SKIPPED <test>: <reason>` straight to the terminal. The test is named from its
/// thread, which libtest names after it.
pub fn skipped(reason: impl std::fmt::Display) {
    let current = std::thread::current();
    let test = current
        .name()
        .filter(|name| *name != "main")
        .unwrap_or("a test");
    // One write per line, so the lines of tests running side by side do not interleave.
    let line = format!("SKIPPED {test}: {reason}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}
