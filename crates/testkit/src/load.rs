//! A load client for the console: many clients at once over loopback, on hyper-util's
//! keep-alive HTTP/1 client, each response read whole (a body cut short is a failure, not a
//! sample), latencies kept per route.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{header, Request};
use http_body_util::BodyExt as _;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// One answer, read whole.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// `Retry-After`, when the server sent one.
    pub retry_after: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// A keep-alive HTTP/1 client for one server (`http://host:port`), cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: Client<HttpConnector, String>,
    base: Arc<str>,
}

impl HttpClient {
    /// A client for the server at `base`.
    pub fn new(base: &str) -> Self {
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1024)
            .build_http();
        HttpClient {
            client,
            base: Arc::from(base.trim_end_matches('/')),
        }
    }

    /// `GET path`, the body read to its end; an error says what went wrong on the way.
    pub async fn get(&self, path: &str) -> Result<Answer, String> {
        let request = Request::get(format!("{}{path}", self.base))
            .body(String::new())
            .map_err(|e| format!("GET {path}: {e}"))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("GET {path}: {e:?}"))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("GET {path}: the body was cut short: {e:?}"))?
            .to_bytes()
            .to_vec();
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }
}

/// A kind of page, and the paths the clients take turns asking for.
#[derive(Debug, Clone)]
pub struct Route {
    /// What the report calls it.
    pub name: String,
    /// Paths of this kind (at least one).
    pub paths: Vec<String>,
}

/// What one route got during a run.
#[derive(Debug, Clone, Default)]
pub struct RouteReport {
    /// Each answered request's time, in milliseconds, in the order they ended.
    pub millis: Vec<f64>,
    /// How many answers had each status code.
    pub statuses: BTreeMap<u16, usize>,
    /// Body bytes read.
    pub bytes: u64,
    /// Requests that got no whole answer, and why.
    pub failures: Vec<String>,
}

impl RouteReport {
    /// The `q` quantile of the times (0.5 for the median), in milliseconds; NaN when none.
    pub fn quantile(&self, q: f64) -> f64 {
        let mut sorted = self.millis.clone();
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            return f64::NAN;
        }
        let index = ((sorted.len() - 1) as f64 * q).round() as usize;
        sorted[index.min(sorted.len() - 1)]
    }
}

/// `clients` clients, each asking for one path after another (every route in turn) until
/// `duration` has passed; what each route got.
pub async fn hammer(
    client: &HttpClient,
    routes: &[Route],
    clients: usize,
    duration: Duration,
) -> BTreeMap<String, RouteReport> {
    let until = Instant::now() + duration;
    let routes: Arc<[Route]> = Arc::from(routes);
    let mut tasks = tokio::task::JoinSet::new();
    for number in 0..clients {
        let (client, routes) = (client.clone(), Arc::clone(&routes));
        tasks.spawn(async move {
            let mut seen: Vec<RouteReport> = vec![RouteReport::default(); routes.len()];
            // Clients start on different routes and paths, so that they do not move in step.
            let mut turn = number;
            while Instant::now() < until && !routes.is_empty() {
                let which = turn % routes.len();
                let route = &routes[which];
                let path = &route.paths[(turn / routes.len() + number * 7) % route.paths.len()];
                let started = Instant::now();
                let answer = client.get(path).await;
                let report = &mut seen[which];
                match answer {
                    Ok(answer) => {
                        report.millis.push(started.elapsed().as_secs_f64() * 1000.0);
                        *report.statuses.entry(answer.status).or_default() += 1;
                        report.bytes += answer.body.len() as u64;
                    }
                    Err(error) => report.failures.push(error),
                }
                turn += 1;
            }
            seen
        });
    }
    let mut merged: BTreeMap<String, RouteReport> = routes
        .iter()
        .map(|r| (r.name.clone(), RouteReport::default()))
        .collect();
    while let Some(joined) = tasks.join_next().await {
        let Ok(seen) = joined else {
            panic!("a load client panicked");
        };
        for (route, got) in routes.iter().zip(seen) {
            let Some(report) = merged.get_mut(&route.name) else {
                continue;
            };
            report.millis.extend(got.millis);
            for (status, count) in got.statuses {
                *report.statuses.entry(status).or_default() += count;
            }
            report.bytes += got.bytes;
            report.failures.extend(got.failures);
        }
    }
    merged
}

/// A process's `VmHWM` (peak resident memory) and `Threads` from `/proc/<pid>/status`, in KiB
/// and threads; `None` when the process is gone or this is not Linux.
pub fn process_status(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    Some((field("VmHWM:")?, field("Threads:")?))
}

/// The CPU time a process has used so far (user and system), from `/proc/<pid>/stat`;
/// `None` when the process is gone or this is not Linux.
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name (field 2) may hold spaces: count from the parenthesis that closes it.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15, in USER_HZ ticks (100 a second on Linux).
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}
