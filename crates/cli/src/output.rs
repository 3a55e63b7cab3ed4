//! Writing data to standard output. A closed pipe (`spotlight … | head`) is not an error: the
//! reader has all it wanted, so the rest is dropped silently.

use anyhow::Context as _;
use std::io::{self, Write};

/// Writes `text` to standard output and flushes it.
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to standard output"),
    }
}
