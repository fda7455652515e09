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

    fn fill_secure_random(&self, buf: &mut [u8]) {
        // Deterministic on purpose: tests of the core check shapes, not entropy.
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37).wrapping_add(11);
        }
    }

    fn sleep(&self, _duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(std::future::pending())
    }

    fn spawn(&self, _task: BoxFuture<'static, ()>) {}
}

/// An `HttpClient` that answers from a script and records what it was sent.
#[derive(Default)]
pub struct FakeHttp {
    script: Mutex<std::collections::VecDeque<FakeReply>>,
    sent: Mutex<Vec<http::Request<bytes::Bytes>>>,
}

/// One scripted upstream answer.
#[derive(Clone, Debug)]
pub enum FakeReply {
    /// Status, content type and body, sent as one chunk.
    Body(u16, &'static str, String),
    /// The connection could not be made.
    Refused,
}

impl FakeHttp {
    pub fn new(replies: impl IntoIterator<Item = FakeReply>) -> Self {
        Self { script: Mutex::new(replies.into_iter().collect()), sent: Mutex::new(Vec::new()) }
    }

    pub fn push(&self, reply: FakeReply) {
        self.script.lock().unwrap().push_back(reply);
    }

    /// The URIs requested so far.
    pub fn uris(&self) -> Vec<String> {
        self.sent.lock().unwrap().iter().map(|r| r.uri().to_string()).collect()
    }
}

impl crate::platform::HttpClient for FakeHttp {
    fn send(
        &self,
        request: http::Request<bytes::Bytes>,
        _options: crate::platform::SendOptions,
    ) -> BoxFuture<'_, Result<http::Response<crate::platform::ByteStream>, crate::platform::TransportError>> {
        self.sent.lock().unwrap().push(request);
        let reply = self.script.lock().unwrap().pop_front().unwrap_or(FakeReply::Refused);
        Box::pin(async move {
            match reply {
                FakeReply::Refused => Err(crate::platform::TransportError::new(
                    crate::platform::TransportErrorKind::Connect,
                    "connection refused",
                )),
                FakeReply::Body(status, content_type, body) => {
                    let chunk: Result<bytes::Bytes, crate::platform::TransportError> = Ok(bytes::Bytes::from(body));
                    let stream: crate::platform::ByteStream = Box::pin(futures_util::stream::iter([chunk]));
                    let response = http::Response::builder()
                        .status(status)
                        .header(http::header::CONTENT_TYPE, content_type)
                        .body(stream)
                        .expect("valid response");
                    Ok(response)
                }
            }
        })
    }
}
