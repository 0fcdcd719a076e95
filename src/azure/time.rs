//! Time as a dependency: the client never calls `tokio::time::sleep` directly, so tests can
//! record the waits it asks for (and assert they equal `Retry-After`) without really sleeping.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

/// Sleeps and tells the time.
#[async_trait]
pub trait Sleeper: Send + Sync + 'static {
    /// Waits for `d`.
    async fn sleep(&self, d: Duration);
    /// A monotonic "now", consistent with [`Sleeper::sleep`].
    fn now(&self) -> Instant;
}

/// The production sleeper: `tokio::time` (so a paused tokio clock also works).
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioSleeper;

#[async_trait]
impl Sleeper for TokioSleeper {
    async fn sleep(&self, d: Duration) {
        if d.is_zero() {
            // A zero timer still waits for the next timer tick (about 1 ms); just yield.
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(d).await;
        }
    }
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

/// A test sleeper: records each requested wait, advances a virtual clock by it, and returns at
/// once (after yielding to the scheduler).
#[derive(Debug)]
pub struct RecordingSleeper {
    start: Instant,
    state: Mutex<(Duration, Vec<Duration>)>,
}

impl Default for RecordingSleeper {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            state: Mutex::new((Duration::ZERO, Vec::new())),
        }
    }
}

impl RecordingSleeper {
    /// A new recorder with an empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every wait requested so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.state.lock().map(|s| s.1.clone()).unwrap_or_default()
    }

    /// Sum of the waits requested so far (the virtual time elapsed).
    pub fn total(&self) -> Duration {
        self.state.lock().map(|s| s.0).unwrap_or_default()
    }

    /// Clears the log (the virtual clock keeps its value).
    pub fn clear(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.1.clear();
        }
    }
}

#[async_trait]
impl Sleeper for RecordingSleeper {
    async fn sleep(&self, d: Duration) {
        if let Ok(mut s) = self.state.lock() {
            s.0 += d;
            s.1.push(d);
        }
        tokio::task::yield_now().await;
    }
    fn now(&self) -> Instant {
        self.start + self.state.lock().map(|s| s.0).unwrap_or_default()
    }
}
