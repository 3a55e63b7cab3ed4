//! The console's HTTP server: hyper's HTTP/1 connections over a TCP listener, with the limits
//! that keep many tabs, slow clients and a burst of first-time thumbnails from exhausting the
//! process. `axum::serve` sets no timeout at all, so a client that sends half a request line,
//! or asks for a page and never reads it, would hold its connection (and the response in
//! memory) for ever.
//!
//! What bounds what:
//! - connections: at most [`Limits::connections`] open at once; further ones wait in the
//!   kernel's listen backlog, unread, until one closes;
//! - a request's head must arrive within [`Limits::header_read`] (hyper's header-read timeout,
//!   which also closes a keep-alive connection idle that long);
//! - a write that makes no progress for [`Limits::write_stall`] ends the connection
//!   ([`Stalls`]), so a client that never reads its response frees it;
//! - a request's body and its handler get [`Limits::request`] (`crate::deadline`);
//! - photos are drawn [`Limits::drawing`] at a time, with at most [`Limits::drawing_queue`]
//!   waiting up to [`Limits::drawing_wait`]; the rest are told `503` with `Retry-After`;
//! - blocking work (SQLite, files, drawing) runs on at most [`Limits::blocking_threads`]
//!   threads: the binary that builds the runtime applies it.

use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::Sleep;

/// How much the console lets its clients take. [`Limits::default`] suits a console on a
/// laptop or a small server; tests shorten the times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most connections open at once.
    pub connections: usize,
    /// Longest a client may take to send a request's head, and longest a kept-alive
    /// connection may sit idle.
    pub header_read: Duration,
    /// Longest a write to a client may make no progress before the connection is dropped.
    pub write_stall: Duration,
    /// Longest a request may take to arrive whole and be answered (re-runs excepted: they run
    /// the pipeline, which bounds itself). Past it the answer is `503`.
    pub request: Duration,
    /// Largest request body (forms only: themes, sign-in, re-run).
    pub body_bytes: usize,
    /// Photos drawn at once: decoding takes a core and up to a few hundred MiB each.
    pub drawing: usize,
    /// Requests that may wait for a turn to draw; more are answered `503` at once.
    pub drawing_queue: usize,
    /// Longest a request waits for a turn to draw before it is answered `503`.
    pub drawing_wait: Duration,
    /// Most threads for blocking work (SQLite calls, file reads, drawing). The store is one
    /// connection behind a lock, so more threads would only wait on it.
    pub blocking_threads: usize,
}

impl Default for Limits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Limits {
            connections: 512,
            header_read: Duration::from_secs(10),
            write_stall: Duration::from_secs(20),
            request: Duration::from_secs(30),
            body_bytes: 2 * 1024 * 1024,
            drawing: cores.clamp(1, 8),
            // A gallery page holds 50 thumbnails and a browser asks for 6 at a time: a queue
            // this long serves about ten tabs opened at once before any is told to retry.
            drawing_queue: 64,
            drawing_wait: Duration::from_secs(10),
            blocking_threads: 16,
        }
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes, then lets the
/// connections finish what they are doing (each is bounded by the limits above).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = limits.connections.max(1);
    let open = Arc::new(Semaphore::new(slots));
    let (closing, closed) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&open).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let mut closed = closed.clone();
        let (header_read, write_stall) = (limits.header_read, limits.write_stall);
        tokio::spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
            let io = TokioIo::new(Stalls::new(stream, write_stall));
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_read);
            let mut connection = pin!(builder.serve_connection(io, service));
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%error, "a console connection ended");
                    }
                }
                _ = closed.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    drop(listener);
    drop(closing);
    // Every connection holds a slot until it ends: having them all back means all are done.
    let _ = open
        .acquire_many(u32::try_from(slots).unwrap_or(u32::MAX))
        .await;
    Ok(())
}

/// A failed `accept` is the client's problem when it hung up already; otherwise (out of file
/// descriptors, mostly) waiting a moment lets connections close before the next try.
async fn accept_failed(error: io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "the console cannot accept a connection");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// A TCP stream whose writes fail with `TimedOut` once they have made no progress for a
/// while: hyper itself waits for ever on a client that does not read.
pub(crate) struct Stalls {
    stream: TcpStream,
    limit: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl Stalls {
    fn new(stream: TcpStream, limit: Duration) -> Self {
        Stalls {
            stream,
            limit,
            stalled: None,
        }
    }

    /// What a write (or flush) returned, turned into `TimedOut` when it has been pending for
    /// longer than the limit.
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let limit = self.limit;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        ready!(stalled.as_mut().poll(cx));
        self.stalled = None;
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the client read nothing for {limit:?}"),
        )))
    }
}

impl AsyncRead for Stalls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stalls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_flush(cx);
        self.watch(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_shutdown(cx);
        self.watch(cx, poll)
    }
}
