//! `moto_server` (PyPI `moto[server]`) on a free loopback port: a real S3 and DynamoDB API.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A running moto server. It stops when the test process ends (a watchdog shell kills it when
/// its parent is gone), so one server can serve every test in a binary.
pub struct MotoServer {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    _child: Child,
}

/// The moto server shared by the tests of this process, or `None` when moto is not installed
/// and `SPOTLIGHT_REQUIRE_SERVERS` is unset; each caller that gets `None` says on the terminal
/// that it skipped ([`crate::skip`]). The test command installs moto and sets the variable, so
/// there a missing server fails the tests instead of skipping them.
pub fn moto() -> Option<&'static MotoServer> {
    static SERVER: OnceLock<Option<MotoServer>> = OnceLock::new();
    let server = SERVER.get_or_init(start).as_ref();
    if server.is_none() {
        crate::skip::skipped(
            "moto_server not found; set SPOTLIGHT_MOTO_SERVER or run scripts/test.sh \
             (with SPOTLIGHT_REQUIRE_SERVERS=1 a missing server fails the tests)",
        );
    }
    server
}

fn executable() -> Option<String> {
    if let Ok(path) = std::env::var("SPOTLIGHT_MOTO_SERVER") {
        return Some(path);
    }
    let found = Command::new("moto_server")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    found.then(|| "moto_server".to_owned())
}

fn start() -> Option<MotoServer> {
    let required = std::env::var_os("SPOTLIGHT_REQUIRE_SERVERS").is_some();
    let Some(executable) = executable() else {
        assert!(
            !required,
            "moto_server not found (set SPOTLIGHT_MOTO_SERVER or run scripts/test.sh)"
        );
        return None;
    };
    let port = free_port();
    let child = Command::new("sh")
        .arg("-c")
        .arg(r#"parent=$1; shift; "$@" & child=$!; trap 'kill $child 2>/dev/null' EXIT; while kill -0 "$parent" 2>/dev/null; do sleep 0.5; done"#)
        .arg("watchdog")
        .arg(std::process::id().to_string())
        .arg(&executable)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {executable}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(MotoServer {
        endpoint: format!("http://127.0.0.1:{port}"),
        _child: child,
    })
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A name no other test in this run uses, for buckets and tables.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}
