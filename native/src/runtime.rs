//! `Runtime` over tokio and the system clock.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng, TryRngCore};
use uni_api_core::platform::{BoxFuture, Runtime, UnixMillis};

/// The native runtime: wall clock, a seeded PRNG per thread, tokio timers and tasks.
#[derive(Debug, Default)]
pub struct TokioRuntime;

thread_local! {
    static RNG: std::cell::RefCell<StdRng> = std::cell::RefCell::new(StdRng::from_os_rng());
}

impl Runtime for TokioRuntime {
    fn now(&self) -> UnixMillis {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        UnixMillis(since_epoch.as_millis() as u64)
    }

    fn random_u64(&self) -> u64 {
        RNG.with(|rng| rng.borrow_mut().next_u64())
    }

    fn fill_secure_random(&self, buf: &mut [u8]) {
        // The OS source, read afresh for every key: no user-space state to leak or fork.
        rand::rngs::OsRng.try_fill_bytes(buf).expect("the operating system's random source failed");
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        tokio::spawn(task);
    }
}

/// The shutdown drain as the core sees it: once [`Drain::expire`] is called (SHUTDOWN_TIMEOUT
/// has passed), every wait of the core ends at once and the core reads it as a shutdown, so a
/// stream still open ends with the door's error event instead of being cut.
#[derive(Clone)]
pub struct Drain {
    expired: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for Drain {
    fn default() -> Self {
        Self::new()
    }
}

impl Drain {
    pub fn new() -> Self {
        Self { expired: Arc::new(tokio::sync::watch::Sender::new(false)) }
    }

    /// `runtime`, with its sleeps cut short once the drain expires.
    pub fn wrap(&self, runtime: Arc<dyn Runtime>) -> Arc<dyn Runtime> {
        Arc::new(DrainingRuntime { inner: runtime, expired: self.expired.subscribe() })
    }

    /// The drain time is over: end what is still waiting.
    pub fn expire(&self) {
        self.expired.send_replace(true);
    }
}

struct DrainingRuntime {
    inner: Arc<dyn Runtime>,
    expired: tokio::sync::watch::Receiver<bool>,
}

impl Runtime for DrainingRuntime {
    fn now(&self) -> UnixMillis {
        self.inner.now()
    }

    fn random_u64(&self) -> u64 {
        self.inner.random_u64()
    }

    fn fill_secure_random(&self, buf: &mut [u8]) {
        self.inner.fill_secure_random(buf)
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let sleep = self.inner.sleep(duration);
        let mut expired = self.expired.clone();
        Box::pin(async move {
            tokio::select! {
                () = sleep => {}
                _ = expired.wait_for(|expired| *expired) => {}
            }
        })
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        self.inner.spawn(task)
    }

    fn shares_work_across_requests(&self) -> bool {
        self.inner.shares_work_across_requests()
    }

    fn shutting_down(&self) -> bool {
        *self.expired.borrow()
    }
}
