//! `spotlight events`: the result events the local pipeline put, from the store's event log;
//! and the local bus that writes that log and POSTs each event to a webhook.
//!
//! The state machine's `PublishResult` state puts one event per execution on the bus its
//! `${ResultEventBusName}` names. On AWS that is EventBridge; locally it is [`LocalBus`]: the
//! event is appended to the log in the store first (so it is never lost and survives restarts),
//! then, when `SPOTLIGHT_WEBHOOK` names one, POSTed to a webhook on loopback, a few times if it
//! fails. A webhook that never answers marks the event `UNDELIVERED` in the log; it never fails
//! the execution.
//!
//! `--json` prints JSON Lines, one object per event:
//! `{"seq": 7, "bus": "spotlight-results", "event": {…EventBridge's envelope…}, "webhook": null |
//! {"url", "status": "DELIVERED" | "UNDELIVERED", "attempts", "error"}}`. The `event` is what a
//! rule's target receives on AWS and what the webhook receives locally.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use spotlight_pipeline::{EntryError, EventBus};
use spotlight_states::BoxFuture;
use spotlight_storage::{Delivery, DeliveryStatus, EventFilter, LoggedEvent, SqliteStore};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::cli::EventsArgs;
use crate::commands::{local, Exit};

/// The environment variable naming the webhook.
pub const WEBHOOK_ENV: &str = "SPOTLIGHT_WEBHOOK";
/// Attempts at a webhook delivery, the first included.
const WEBHOOK_ATTEMPTS: u32 = 3;
/// How long one attempt may take, connecting, sending and reading the status line: a program
/// on loopback answers in milliseconds. With the pauses between attempts, a whole delivery
/// (under 4 s) stays inside `PublishResult`'s `TimeoutSeconds` of 5.
const WEBHOOK_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);
/// The pause before the second attempt; it doubles before each further one.
const WEBHOOK_FIRST_PAUSE: Duration = Duration::from_millis(200);
/// How often `--follow` looks for new events.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(200);

/// A webhook: `http://` on a loopback address only. The events carry photo keys and record
/// ids: a local tool sends them to a program on the same machine, never across a network, and
/// it has no TLS client for one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    url: String,
    host: String,
    port: u16,
    target: String,
}

impl Webhook {
    /// Checks `text`: an `http://` URL whose host is `localhost` or a loopback address.
    pub fn parse(text: &str) -> anyhow::Result<Webhook> {
        let refuse = |why: &str| anyhow::anyhow!("{WEBHOOK_ENV}={text:?} {why}");
        let url = url::Url::parse(text).map_err(|e| refuse(&format!("is not a URL: {e}")))?;
        if url.scheme() != "http" {
            return Err(refuse(
                "must be an http:// URL (the webhook is on loopback)",
            ));
        }
        let loopback = match url.host() {
            Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        if !loopback {
            return Err(refuse(
                "must name localhost or a loopback address (127.0.0.1, [::1]): events are sent to \
                 this machine only",
            ));
        }
        let host = url.host_str().unwrap_or("localhost").to_owned();
        let mut target = url.path().to_owned();
        if let Some(query) = url.query() {
            target = format!("{target}?{query}");
        }
        Ok(Webhook {
            url: url.to_string(),
            port: url.port_or_known_default().unwrap_or(80),
            host,
            target,
        })
    }

    /// The webhook `SPOTLIGHT_WEBHOOK` names, if any (an empty value is none).
    pub fn from_env() -> anyhow::Result<Option<Webhook>> {
        match std::env::var(WEBHOOK_ENV) {
            Ok(text) if !text.trim().is_empty() => Webhook::parse(text.trim()).map(Some),
            _ => Ok(None),
        }
    }

    async fn addresses(&self) -> std::io::Result<Vec<SocketAddr>> {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        let found = tokio::net::lookup_host((host, self.port)).await?;
        // `localhost` could be mapped elsewhere in /etc/hosts: only loopback answers count.
        let loopback: Vec<SocketAddr> = found.filter(|a| a.ip().is_loopback()).collect();
        if loopback.is_empty() {
            return Err(std::io::Error::other(format!(
                "{host} resolves to no loopback address"
            )));
        }
        Ok(loopback)
    }

    /// One POST of `body`; `Ok` when the webhook answered 2xx.
    async fn post_once(&self, body: &str) -> Result<(), String> {
        let addresses = self.addresses().await.map_err(|e| e.to_string())?;
        let mut stream = tokio::net::TcpStream::connect(&addresses[..])
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let request = format!(
            "POST {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nUser-Agent: spotlight/{}\r\nConnection: close\r\n\r\n{body}",
            self.target,
            self.host,
            self.port,
            body.len(),
            env!("CARGO_PKG_VERSION"),
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("cannot send: {e}"))?;
        // Only the status line matters; the rest of the answer is not read.
        let mut head = Vec::new();
        let mut buffer = [0u8; 512];
        while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 8192 {
            let read = stream
                .read(&mut buffer)
                .await
                .map_err(|e| format!("cannot read the answer: {e}"))?;
            if read == 0 {
                break;
            }
            head.extend_from_slice(&buffer[..read]);
        }
        let text = String::from_utf8_lossy(&head);
        let status_line = text.lines().next().unwrap_or_default().to_owned();
        let code = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok());
        match code {
            Some(code) if (200..300).contains(&code) => Ok(()),
            Some(_) => Err(format!("answered {status_line:?}")),
            None => Err(format!("no HTTP answer (got {status_line:?})")),
        }
    }

    /// POSTs `body`, up to [`WEBHOOK_ATTEMPTS`] times with pauses between; how it went.
    pub async fn deliver(&self, body: &str) -> Delivery {
        let mut pause = WEBHOOK_FIRST_PAUSE;
        let mut error = None;
        for attempt in 1..=WEBHOOK_ATTEMPTS {
            let outcome = tokio::time::timeout(WEBHOOK_ATTEMPT_TIMEOUT, self.post_once(body))
                .await
                .unwrap_or_else(|_| {
                    Err(format!(
                        "no answer within {} s",
                        WEBHOOK_ATTEMPT_TIMEOUT.as_secs()
                    ))
                });
            match outcome {
                Ok(()) => {
                    return Delivery {
                        url: self.url.clone(),
                        status: DeliveryStatus::Delivered,
                        attempts: attempt,
                        error: None,
                    }
                }
                Err(why) => {
                    tracing::warn!(webhook = %self.url, attempt, error = %why, "webhook delivery failed");
                    error = Some(why);
                }
            }
            if attempt < WEBHOOK_ATTEMPTS {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
        Delivery {
            url: self.url.clone(),
            status: DeliveryStatus::Undelivered,
            attempts: WEBHOOK_ATTEMPTS,
            error,
        }
    }
}

/// The local event bus: the store's event log, then the webhook.
pub struct LocalBus {
    store: Arc<SqliteStore>,
    webhook: Option<Webhook>,
}

impl LocalBus {
    /// A bus over `store`'s log, POSTing to `webhook` when given.
    pub fn new(store: Arc<SqliteStore>, webhook: Option<Webhook>) -> Self {
        LocalBus { store, webhook }
    }
}

impl EventBus for LocalBus {
    fn put<'a>(&'a self, bus: &'a str, event: &'a Value) -> BoxFuture<'a, Result<(), EntryError>> {
        Box::pin(async move {
            // Logged first: a refused entry is retried by the state machine and, failing
            // that, marked undelivered in the execution's output; a logged one is never lost.
            let seq = self
                .store
                .append_event(bus, event)
                .map_err(|e| EntryError::new("InternalFailure", e.to_string()))?;
            if let Some(webhook) = &self.webhook {
                let delivery = webhook.deliver(&event.to_string()).await;
                if let Err(error) = self.store.record_delivery(seq, &delivery) {
                    tracing::warn!(%error, seq, "cannot note the webhook delivery in the event log");
                }
            }
            Ok(())
        })
    }
}

/// `spotlight events`, resolved.
#[derive(Debug)]
pub struct Config {
    store: PathBuf,
    since: Option<DateTime<Utc>>,
    follow: bool,
    json: bool,
}

impl Config {
    /// Checks the arguments before any work.
    pub fn from_cli(args: EventsArgs, store: PathBuf) -> anyhow::Result<Config> {
        let since = args
            .since
            .as_deref()
            .map(|text| {
                DateTime::parse_from_rfc3339(text)
                    .map(|t| t.with_timezone(&Utc))
                    .with_context(|| format!("--since must be an RFC 3339 time, not {text:?}"))
            })
            .transpose()?;
        Ok(Config {
            store,
            since,
            follow: args.follow,
            json: args.json,
        })
    }
}

fn json_line(logged: &LoggedEvent) -> String {
    let webhook = logged.delivery.as_ref().map(|d| {
        json!({
            "url": d.url,
            "status": d.status.as_str(),
            "attempts": d.attempts,
            "error": d.error,
        })
    });
    json!({
        "seq": logged.seq,
        "bus": logged.bus,
        "event": logged.event,
        "webhook": webhook,
    })
    .to_string()
}

fn text_line(logged: &LoggedEvent) -> String {
    let event = &logged.event;
    let detail = &event["detail"];
    let field = |value: &Value| value.as_str().unwrap_or("-").to_owned();
    let themes: Vec<&str> = detail["themes"]
        .as_array()
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let outcome = match detail["error"].as_str() {
        Some(error) => format!("{} ({error})", field(&detail["status"])),
        None => field(&detail["status"]),
    };
    let webhook = logged.delivery.as_ref().map_or("-", |d| d.status.as_str());
    format!(
        "{}\t{outcome}\t{}\t{}\t{}\t{}\twebhook {webhook}\n",
        field(&event["time"]),
        field(&detail["verdict"]),
        field(&detail["key"]),
        if themes.is_empty() {
            "-".to_owned()
        } else {
            themes.join(",")
        },
        field(&detail["execution"]["name"]),
    )
}

/// Prints `events`; `false` once standard output is closed (`… | head -1`): the reader has
/// what it wanted, so a follower stops rather than tail into nothing.
fn print(events: &[LoggedEvent], json: bool) -> anyhow::Result<bool> {
    use std::io::Write as _;
    let mut text = String::new();
    for logged in events {
        if json {
            text.push_str(&json_line(logged));
            text.push('\n');
        } else {
            text.push_str(&text_line(logged));
        }
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write to standard output")),
    }
}

/// Runs `spotlight events`.
pub fn execute(config: Config) -> anyhow::Result<Exit> {
    // A follower may start before the first run: it creates the store and waits.
    let store = if config.follow {
        local::open_store(&config.store)?
    } else {
        local::open_existing_store(&config.store)?
    };
    let mut filter = EventFilter {
        after: None,
        since: config.since,
        limit: None,
    };
    let events = store.events(&filter)?;
    if !print(&events, config.json)? || !config.follow {
        return Ok(Exit::Success);
    }
    // The filter keeps --since, so an older event is not shown later either.
    let mut last = events.last().map_or(0, |logged| logged.seq);
    local::runtime()?.block_on(async {
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return anyhow::Ok(()),
                () = tokio::time::sleep(FOLLOW_INTERVAL) => {}
            }
            filter.after = Some(last);
            let new = store.events(&filter)?;
            if let Some(logged) = new.last() {
                last = logged.seq;
                if !print(&new, config.json)? {
                    return Ok(());
                }
            }
        }
    })?;
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_is_http_on_loopback_only() {
        for accepted in [
            "http://127.0.0.1:9000/spotlight",
            "http://localhost/hook?token=x",
            "http://[::1]:8080/",
            "http://127.0.0.2:1/",
        ] {
            let webhook = Webhook::parse(accepted).unwrap();
            assert!(webhook.url.starts_with("http://"), "{accepted}");
        }
        let parsed = Webhook::parse("http://localhost/hook?token=x").unwrap();
        assert_eq!(
            (parsed.host.as_str(), parsed.port, parsed.target.as_str()),
            ("localhost", 80, "/hook?token=x")
        );
        for refused in [
            "https://127.0.0.1/hook",
            "http://192.168.1.2/hook",
            "http://example.com/hook",
            "http://localhost.example.com/",
            "ftp://127.0.0.1/",
            "127.0.0.1:9000",
        ] {
            assert!(Webhook::parse(refused).is_err(), "{refused}");
        }
    }
}
