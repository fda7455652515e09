//! Fakes for the ports: a manual clock with scripted randomness, for deterministic tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::platform::{BoxFuture, Runtime, UnixMillis};

/// A runtime whose clock moves only when told, and whose random numbers are a fixed sequence.
/// `sleep` never completes (tests drive time by hand), and spawned tasks are dropped.
pub struct ManualRuntime {
    now: AtomicU64,
    randoms: Mutex<Vec<u64>>,
}

impl ManualRuntime {
    pub fn new(start: u64) -> Self {
        Self { now: AtomicU64::new(start), randoms: Mutex::new(Vec::new()) }
    }

    pub fn advance(&self, d: Duration) {
        self.now.fetch_add(d.as_millis() as u64, Ordering::SeqCst);
    }

    /// Random numbers to hand out next, in order (then zeros).
    pub fn script_randoms(&self, values: &[u64]) {
        let mut r = self.randoms.lock().unwrap();
        r.extend(values.iter().rev());
    }
}

impl Runtime for ManualRuntime {
    fn now(&self) -> UnixMillis {
        UnixMillis(self.now.load(Ordering::SeqCst))
    }

    fn random_u64(&self) -> u64 {
        self.randoms.lock().unwrap().pop().unwrap_or(0)
    }

    fn sleep(&self, _duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(std::future::pending())
    }

    fn spawn(&self, _task: BoxFuture<'static, ()>) {}
}
