//! `Runtime` over the Workers platform: `Date.now`, the Web Crypto random source, timers and
//! `spawn_local`.

use std::time::Duration;

use uni_api_core::platform::{BoxFuture, Runtime, UnixMillis};

#[derive(Debug, Default)]
pub struct WorkerRuntime;

impl Runtime for WorkerRuntime {
    fn now(&self) -> UnixMillis {
        UnixMillis(worker::Date::now().as_millis())
    }

    fn random_u64(&self) -> u64 {
        let mut buf = [0u8; 8];
        self.fill_secure_random(&mut buf);
        u64::from_le_bytes(buf)
    }

    fn fill_secure_random(&self, buf: &mut [u8]) {
        // crypto.getRandomValues; it cannot fail for buffers under 64 KiB.
        getrandom::fill(buf).expect("crypto.getRandomValues failed");
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(worker::Delay::from(duration))
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        wasm_bindgen_futures::spawn_local(task);
    }

    fn shares_work_across_requests(&self) -> bool {
        false
    }
}
