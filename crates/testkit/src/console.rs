//! `spotlight serve` as a child process on a free port, for the CLI's tests of the console.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running `spotlight serve`; killed when dropped.
#[derive(Debug)]
pub struct Console {
    child: Child,
    /// `http://host:port`, as the console printed it.
    pub base: String,
    /// What it printed up to its address (the access token among it, when it made one).
    pub said: String,
}

impl Console {
    /// Starts `binary --store <store> serve --port 0 <extra>…` and waits for the line that
    /// gives its address.
    pub fn serve(binary: &Path, store: &Path, extra: &[&str]) -> Console {
        let mut child = Command::new(binary)
            .arg("--store")
            .arg(store)
            .args(["serve", "--port", "0"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {} serve: {e}", binary.display()));
        let Some(stderr) = child.stderr.take() else {
            unreachable!("stderr is piped");
        };
        let mut lines = BufReader::new(stderr).lines();
        let mut said = String::new();
        let base = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                panic!("spotlight serve ended without an address: {said}");
            };
            said.push_str(&line);
            said.push('\n');
            // "Spotlight console on http://127.0.0.1:PORT (Ctrl-C to stop)"
            if let Some((_, rest)) = line.split_once("Spotlight console on ") {
                break rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
            }
        };
        // Keep reading, so the console never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Console { child, base, said }
    }

    /// The process id of the server.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `host:port`.
    pub fn authority(&self) -> &str {
        self.base.split_once("://").map_or(&self.base, |(_, a)| a)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.authority()
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse().ok())
            .unwrap_or_else(|| panic!("no port in {}", self.base))
    }

    /// `GET path` with `headers`: the status code and the body.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        crate::http::get(self.authority(), path, headers)
    }

    /// `GET path` with `headers`: the status code and the body's bytes.
    pub fn get_bytes(&self, path: &str, headers: &[(&str, &str)]) -> (u16, Vec<u8>) {
        crate::http::get_bytes(self.authority(), path, headers)
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
