//! The runtime port: wall clock, randomness, sleeping and background work.

use std::time::Duration;

use super::send::{BoxFuture, MaybeSend, MaybeSync};

/// Milliseconds since the Unix epoch. The core's only notion of time; it comes from `Runtime::now`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixMillis(pub u64);

impl UnixMillis {
    pub fn plus(self, d: Duration) -> Self {
        Self(self.0.saturating_add(d.as_millis() as u64))
    }

    /// Time from `self` until `later`, zero if `later` is not later.
    pub fn until(self, later: UnixMillis) -> Duration {
        Duration::from_millis(later.0.saturating_sub(self.0))
    }
}

/// What the host gives the core so that it never reaches for a clock, an RNG or a task spawner.
pub trait Runtime: MaybeSend + MaybeSync {
    /// Wall-clock time now.
    fn now(&self) -> UnixMillis;
    /// A uniformly random 64-bit number (not necessarily cryptographic).
    fn random_u64(&self) -> u64;
    /// Fills `buf` from a cryptographically secure source (new API keys).
    fn fill_secure_random(&self, buf: &mut [u8]);
    /// Completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
    /// Runs `task` in the background, detached from the current request.
    fn spawn(&self, task: BoxFuture<'static, ()>);
    /// Whether one request may wait for work another request is doing (a shared token
    /// refresh). Workers cannot: a request woken by another request's I/O is cancelled as hung.
    fn shares_work_across_requests(&self) -> bool {
        true
    }
    /// Whether the host's shutdown drain has run out: from then on its `sleep`s complete at once,
    /// and a wait that ends because of it is the gateway's (no cooldown, a "shutting down"
    /// error event on a stream), not the upstream's.
    fn shutting_down(&self) -> bool {
        false
    }
}
