//! A real browser for tests: Debian's headless Chromium driven through ChromeDriver with the
//! W3C WebDriver protocol, by the `fantoccini` client.
//!
//! [`Browser::start`] starts `chromedriver` on a free loopback port and opens a session in a
//! fresh, empty profile. Without ChromeDriver it returns `None` (the test says so and passes)
//! unless `SPOTLIGHT_REQUIRE_BROWSER` is set: the test command installs Chromium and sets it,
//! so there a missing browser fails the tests instead of skipping them. Dropping the
//! [`Browser`] ends the session and kills ChromeDriver and its Chromium (a watchdog does it too
//! if the test process dies without unwinding).
//!
//! The methods are blocking test steps over fantoccini's async client (a runtime of the
//! browser's own, so plain `#[test]`s drive it), and each panics with a message that says what
//! was asked and what the browser answered. ChromeDriver's two extensions the tests need, the
//! browser log and device emulation, are sent as custom commands.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::ElementRef;
use fantoccini::error::CmdError;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::moto::free_port;

/// How long [`Browser::find`] waits for an element to appear.
pub const FIND_PATIENCE: Duration = Duration::from_secs(10);

/// Environment variable: when set, a missing ChromeDriver or Chromium fails the test.
pub const ENV_REQUIRE_BROWSER: &str = "SPOTLIGHT_REQUIRE_BROWSER";

/// The desktop window the browser starts with.
pub const DESKTOP: (u32, u32) = (1280, 900);
/// A phone's viewport in CSS pixels (an iPhone 12–15 held upright).
pub const PHONE: (u32, u32) = (390, 844);

/// The flags Chromium needs on these machines: headless, as root, on a closed network (without
/// the background-networking flags it keeps trying to reach Google's hosts).
const CHROMIUM_FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// The W3C key under which an element reference travels.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One entry of the browser's log (console messages, failed loads, CSP violations).
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// `SEVERE`, `WARNING`, `INFO`, `DEBUG`.
    pub level: String,
    /// Where it came from: `console-api`, `network`, `security`, `javascript`, …
    pub source: String,
    /// The message, with the URL it is about.
    pub message: String,
}

/// A ChromeDriver command of the session that the W3C protocol lacks: `POST
/// /session/{id}/{path}` with a JSON body.
#[derive(Debug)]
struct ChromeCommand {
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for ChromeCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (::http::Method, Option<String>) {
        (::http::Method::POST, Some(self.body.to_string()))
    }
}

/// A headless Chromium session. Dropping it ends the session and ChromeDriver.
#[derive(Debug)]
pub struct Browser {
    runtime: tokio::runtime::Runtime,
    /// `None` once the session is closed.
    client: Option<Client>,
    /// The watchdog shell: its process group holds ChromeDriver and Chromium.
    driver: Child,
    /// Chromium's profile, empty at the start and removed at the end.
    profile: Option<tempfile::TempDir>,
}

/// An element of the current page.
#[derive(Debug, Clone)]
pub struct Element<'a> {
    browser: &'a Browser,
    inner: fantoccini::elements::Element,
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// What ChromeDriver said, without the native stack trace it appends.
fn said(error: &CmdError) -> String {
    error.to_string().lines().next().unwrap_or("").to_owned()
}

impl Browser {
    /// Starts ChromeDriver and opens a session in a fresh profile with a 1280×900 window and the
    /// browser log on. `None` when ChromeDriver is not installed and
    /// [`ENV_REQUIRE_BROWSER`] is unset; panics when it is set.
    pub fn start() -> Option<Browser> {
        let required = std::env::var_os(ENV_REQUIRE_BROWSER).is_some();
        // Debian's pair: /usr/bin/chromium and the chromedriver of the same version.
        let (Some(driver), Some(chromium)) = (which("chromedriver"), which("chromium")) else {
            assert!(
                !required,
                "chromedriver or chromium not found on PATH and {ENV_REQUIRE_BROWSER} is set \
                 (apt-get install chromium chromium-driver, or run scripts/test.sh)"
            );
            eprintln!(
                "chromedriver or chromium not found: skipping the browser test \
                 (apt-get install chromium chromium-driver, or run scripts/test.sh)"
            );
            return None;
        };
        Some(Self::launch(&driver, &chromium))
    }

    fn launch(driver: &Path, chromium: &Path) -> Browser {
        let port = free_port();
        // ChromeDriver in a process group of its own under a watchdog shell, which kills the
        // whole group (ChromeDriver and every Chromium process) when the test process is gone.
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(
                r#"parent=$1; shift; "$@" & child=$!
                while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.5; done
                kill -TERM 0"#,
            )
            .arg("watchdog")
            .arg(std::process::id().to_string())
            .arg(driver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", driver.display()));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("starting the browser's runtime: {e}"));
        let mut browser = Browser {
            runtime,
            client: None,
            driver: child,
            profile: None,
        };
        let profile = tempfile::Builder::new()
            .prefix("spotlight-chromium-")
            .tempdir()
            .unwrap_or_else(|e| panic!("creating a Chromium profile folder: {e}"));
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| (*f).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.push(format!("--window-size={},{}", DESKTOP.0, DESKTOP.1));
        browser.profile = Some(profile);
        let capabilities = json!({
            "browserName": "chrome",
            // An alert left open stays open, so `assert_no_dialog` sees it.
            "unhandledPromptBehavior": "ignore",
            "goog:chromeOptions": {
                "binary": chromium.to_string_lossy(),
                "args": args,
            },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("capabilities are an object literal");
        };
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(capabilities);
        let address = format!("http://127.0.0.1:{port}/");
        // ChromeDriver takes a moment to listen: until then a session cannot be asked for.
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            match browser.runtime.block_on(builder.connect(&address)) {
                Ok(client) => break client,
                Err(error) => {
                    if let Ok(Some(exit)) = browser.driver.try_wait() {
                        panic!("chromedriver exited at start: {exit}");
                    }
                    assert!(
                        Instant::now() < deadline,
                        "no Chromium session from chromedriver on port {port} within 30 s \
                         ({}): {error}",
                        chromium.display()
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        };
        browser.client = Some(client);
        browser
    }

    /// The fantoccini client, for anything the steps here do not offer (run its futures with
    /// [`Browser::block_on`]).
    pub fn client(&self) -> &Client {
        match &self.client {
            Some(client) => client,
            None => unreachable!("the session is open until the browser is dropped"),
        }
    }

    /// Runs a future of the client to completion.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    #[track_caller]
    fn must<T>(&self, what: &str, future: impl Future<Output = Result<T, CmdError>>) -> T {
        self.block_on(future)
            .unwrap_or_else(|e| panic!("WebDriver {what}: {}", said(&e)))
    }

    /// Opens `url` and waits for it to load.
    #[track_caller]
    pub fn goto(&self, url: &str) {
        self.must(&format!("goto {url}"), self.client().goto(url));
    }

    /// The URL of the current page.
    #[track_caller]
    pub fn current_url(&self) -> String {
        self.must("current URL", self.client().current_url())
            .to_string()
    }

    /// The title of the current page.
    #[track_caller]
    pub fn title(&self) -> String {
        self.must("title", self.client().title())
    }

    /// The current page's markup as the browser has it now.
    #[track_caller]
    pub fn source(&self) -> String {
        self.must("source", self.client().source())
    }

    /// The first element matching the CSS `selector`, waiting up to [`FIND_PATIENCE`] for it;
    /// panics when there is none by then. The wait is for pages still arriving: a click that
    /// submits a form can return before the browser has loaded the answer, and an element
    /// expected on that answer is not there yet (seen on a loaded CI machine). [`try_find`]
    /// does not wait, for checks that something is absent.
    ///
    /// [`try_find`]: Browser::try_find
    #[track_caller]
    pub fn find(&self, selector: &str) -> Element<'_> {
        let deadline = Instant::now() + FIND_PATIENCE;
        loop {
            if let Some(element) = self.try_find(selector) {
                return element;
            }
            if Instant::now() >= deadline {
                panic!("no element matches {selector:?} on {}", self.current_url());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The first element matching the CSS `selector`, if any.
    #[track_caller]
    pub fn try_find(&self, selector: &str) -> Option<Element<'_>> {
        self.find_all(selector).into_iter().next()
    }

    /// Every element matching the CSS `selector`, in document order.
    #[track_caller]
    pub fn find_all(&self, selector: &str) -> Vec<Element<'_>> {
        self.must(
            &format!("find {selector:?}"),
            self.client().find_all(Locator::Css(selector)),
        )
        .into_iter()
        .map(|inner| Element {
            browser: self,
            inner,
        })
        .collect()
    }

    /// The visible text of every element matching `selector`, in document order.
    #[track_caller]
    pub fn texts(&self, selector: &str) -> Vec<String> {
        self.find_all(selector).iter().map(Element::text).collect()
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page and returns what it
    /// returns. The page's Content-Security-Policy does not apply to it.
    #[track_caller]
    pub fn execute(&self, script: &str, args: &[Value]) -> Value {
        self.must("execute", self.client().execute(script, args.to_vec()))
    }

    /// The elements a script returns (a function body; `arguments` holds `args`), for what CSS
    /// cannot select.
    #[track_caller]
    pub fn find_by_script(&self, script: &str, args: &[Value]) -> Vec<Element<'_>> {
        let found = self.execute(script, args);
        let Value::Array(found) = found else {
            panic!("the script returned no list of elements: {found}");
        };
        found
            .iter()
            .map(|reference| {
                let id = reference[ELEMENT_KEY]
                    .as_str()
                    .unwrap_or_else(|| panic!("not an element reference: {reference}"));
                Element {
                    browser: self,
                    inner: fantoccini::elements::Element::from_element_id(
                        self.client().clone(),
                        ElementRef::from(id.to_owned()),
                    ),
                }
            })
            .collect()
    }

    /// Waits up to `timeout` for `done` to hold, checking every 50 ms; panics with `what`
    /// otherwise.
    #[track_caller]
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&Browser) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "waited {timeout:?} for {what} on {}",
                self.current_url()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The browser log since the last call (ChromeDriver hands each entry out once).
    #[track_caller]
    pub fn log(&self) -> Vec<LogEntry> {
        // ChromeDriver keeps the legacy log endpoint under its W3C `se/` prefix.
        let entries = self.must(
            "browser log",
            self.client().issue_cmd(ChromeCommand {
                path: "se/log",
                body: json!({ "type": "browser" }),
            }),
        );
        let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
        entries
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| LogEntry {
                        level: text(&e["level"]),
                        source: text(&e["source"]),
                        message: text(&e["message"]),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The `SEVERE` entries of the browser log since the last call: script errors, console
    /// errors, failed loads, Content-Security-Policy violations.
    #[track_caller]
    pub fn console_errors(&self) -> Vec<LogEntry> {
        self.log()
            .into_iter()
            .filter(|e| e.level == "SEVERE")
            .collect()
    }

    /// The text of the JavaScript dialog (alert, confirm, prompt) open now, if one is.
    #[track_caller]
    pub fn open_dialog(&self) -> Option<String> {
        match self.block_on(self.client().get_alert_text()) {
            Ok(text) => Some(text),
            Err(e) if e.is_no_such_alert() => None,
            Err(e) => panic!("asking for an open dialog: {}", said(&e)),
        }
    }

    /// Panics if a JavaScript dialog (alert, confirm, prompt) is open: the page ran a script.
    #[track_caller]
    pub fn assert_no_dialog(&self) {
        if let Some(text) = self.open_dialog() {
            panic!(
                "a dialog is open on {}: {text:?} (a script ran)",
                self.current_url()
            );
        }
    }

    /// Resizes the window to `width`×`height` (the desktop layout at that size; see
    /// [`Browser::emulate_phone`] for a phone's viewport).
    #[track_caller]
    pub fn set_window_size(&self, width: u32, height: u32) {
        self.must("window size", self.client().set_window_size(width, height));
    }

    fn devtools(&self, cmd: &str, params: Value) {
        self.must(
            cmd,
            self.client().issue_cmd(ChromeCommand {
                path: "goog/cdp/execute",
                body: json!({ "cmd": cmd, "params": params }),
            }),
        );
    }

    /// Makes the viewport a phone's: [`PHONE`] CSS pixels, a mobile browser (the page's
    /// `<meta name="viewport">` applies, scrollbars overlay). Undone by
    /// [`Browser::emulate_desktop`]. Reload or navigate to lay a page out again.
    #[track_caller]
    pub fn emulate_phone(&self) {
        self.devtools(
            "Emulation.setDeviceMetricsOverride",
            json!({
                "width": PHONE.0,
                "height": PHONE.1,
                "deviceScaleFactor": 2,
                "mobile": true,
            }),
        );
    }

    /// Back to the desktop window after [`Browser::emulate_phone`].
    #[track_caller]
    pub fn emulate_desktop(&self) {
        self.devtools("Emulation.clearDeviceMetricsOverride", json!({}));
    }

    /// The viewport's PNG, saved as `target/artifacts/<name>.png`; returns the path.
    #[track_caller]
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.must("screenshot", self.client().screenshot());
        let dir = artifacts_dir();
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        path
    }

    /// Ends the session and stops ChromeDriver and Chromium (what dropping does).
    pub fn close(self) {}
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Chromium closes with its session; then the rest of the group goes.
            let _ = self.runtime.block_on(client.close());
        }
        let _ = Command::new("sh")
            // dash's kill takes no `--`.
            .args(["-c", r#"kill -TERM "-$1""#, "kill"])
            .arg(self.driver.id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // The profile goes after Chromium, which writes to it until it ends.
        drop(self.profile.take());
    }
}

impl<'a> Element<'a> {
    #[track_caller]
    fn must<T>(&self, what: &str, future: impl Future<Output = Result<T, CmdError>>) -> T {
        self.browser.must(what, future)
    }

    /// The element's visible text, as a reader sees it.
    #[track_caller]
    pub fn text(&self) -> String {
        self.must("element text", self.inner.text())
    }

    /// The attribute `name` as written in the markup, if present.
    #[track_caller]
    pub fn attr(&self, name: &str) -> Option<String> {
        self.must(&format!("attribute {name:?}"), self.inner.attr(name))
    }

    /// The element's tag name, lower case.
    #[track_caller]
    pub fn tag(&self) -> String {
        self.must("tag name", self.inner.tag_name())
            .to_ascii_lowercase()
    }

    /// Whether a checkbox, radio button or option is selected.
    #[track_caller]
    pub fn is_selected(&self) -> bool {
        self.must("selected", self.inner.is_selected())
    }

    /// Clicks it (following a link or submitting a form waits for the new page to load).
    #[track_caller]
    pub fn click(&self) {
        self.must("click", self.inner.click());
    }

    /// Empties an input.
    #[track_caller]
    pub fn clear(&self) {
        self.must("clear", self.inner.clear());
    }

    /// Types `text` into it.
    #[track_caller]
    pub fn send_keys(&self, text: &str) {
        self.must("send keys", self.inner.send_keys(text));
    }

    /// The first element inside this one matching `selector`, if any.
    #[track_caller]
    pub fn try_find(&self, selector: &str) -> Option<Element<'a>> {
        self.find_all(selector).into_iter().next()
    }

    /// Every element inside this one matching `selector`.
    #[track_caller]
    pub fn find_all(&self, selector: &str) -> Vec<Element<'a>> {
        self.must(
            &format!("find {selector:?}"),
            self.inner.find_all(Locator::Css(selector)),
        )
        .into_iter()
        .map(|inner| Element {
            browser: self.browser,
            inner,
        })
        .collect()
    }
}

/// `<target>/artifacts`: the target folder is `CARGO_TARGET_DIR` (relative to the workspace
/// when relative), else the one holding the running test binary, else `<workspace>/target`.
pub fn artifacts_dir() -> PathBuf {
    target_dir().join("artifacts")
}

fn target_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        return if dir.is_absolute() {
            dir
        } else {
            workspace.join(dir)
        };
    }
    // Cargo marks its target folder with CACHEDIR.TAG; test binaries live in <target>/<profile>/deps.
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .find(|dir| dir.join("CACHEDIR.TAG").is_file())
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| workspace.join("target"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checks the console's tests rely on catch what they are for: a script that ran, an
    /// error in the log; screenshots are PNGs; the phone is a phone.
    #[test]
    fn the_browser_sees_dialogs_errors_and_sizes() {
        let Some(browser) = Browser::start() else {
            return;
        };
        browser.goto("data:text/html,<h1>quiet</h1><script>console.error('boom')</script>");
        assert_eq!(browser.find("h1").text(), "quiet");
        browser.assert_no_dialog();
        let errors = browser.console_errors();
        assert!(
            errors.len() == 1 && errors[0].message.contains("boom"),
            "{errors:?}"
        );
        assert!(browser.console_errors().is_empty(), "handed out once");

        let png = std::fs::read(browser.screenshot("testkit-browser")).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        let width = "data:text/html,<meta name=viewport content='width=device-width'>\
            <p>width</p>";
        browser.emulate_phone();
        browser.goto(width);
        assert_eq!(browser.execute("return window.innerWidth", &[]), PHONE.0);
        browser.emulate_desktop();
        browser.goto(width);
        assert_eq!(browser.execute("return window.innerWidth", &[]), DESKTOP.0);

        browser.goto("data:text/html,<img src=x onerror=alert(7)>");
        browser.wait_until("the alert to open", Duration::from_secs(10), |b| {
            b.open_dialog().is_some()
        });
        assert_eq!(browser.open_dialog().as_deref(), Some("7"));
        let seen = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            browser.assert_no_dialog();
        }));
        assert!(seen.is_err(), "assert_no_dialog missed an open alert");
        let err = browser
            .block_on(browser.client().title())
            .expect_err("an open alert blocks the page");
        assert!(err.is_unexpected_alert_open(), "{err}");
        browser.close();
    }
}
