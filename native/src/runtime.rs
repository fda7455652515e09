//! `Runtime` over tokio and the system clock.

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
