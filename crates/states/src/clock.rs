//! Time, injected: the engine reads the time and sleeps only through a [`Clock`], so tests of
//! Wait states, retry backoff and timeouts can run on a virtual clock in no real time.

use crate::BoxFuture;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Where the engine gets the time and how it waits.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
    /// Waits for `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()>;
}

/// The wall clock, and tokio's timer for waiting.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that follows tokio's timer from a fixed origin. Under a paused runtime
/// (`tokio::time::pause()`, `#[tokio::test(start_paused = true)]`), tokio jumps time forward
/// whenever every task is waiting, so waits, backoff and timeouts take no real time while the
/// timestamps still advance exactly as they would have.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    origin: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading `origin` now. Call it inside the runtime whose time it follows.
    pub fn starting_at(origin: DateTime<Utc>) -> Self {
        TokioClock {
            origin,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now().saturating_duration_since(self.start);
        self.origin + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::MAX)
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_advances_with_paused_time() {
        let clock = TokioClock::starting_at(DateTime::UNIX_EPOCH);
        let before = std::time::Instant::now();
        clock.sleep(Duration::from_secs(3600)).await;
        assert_eq!(
            clock.now(),
            DateTime::UNIX_EPOCH + chrono::Duration::hours(1)
        );
        assert!(before.elapsed() < Duration::from_secs(5));
    }
}
