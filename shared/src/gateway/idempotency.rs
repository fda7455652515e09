//! `Idempotency-Key` on POST requests: a retry of a request the gateway already answered gets
//! that answer again instead of a second (billed) upstream call.
//!
//! An entry is keyed by a hash of the client's credential, the method, the path and the
//! idempotency key, and remembers a hash of the body. The first request runs; while it runs, a
//! repeat answers 409 (`idempotency_in_progress`); once it succeeded (2xx), a repeat with the
//! same body gets the stored status, content type and body back (streams as they were sent,
//! error event included) with `Idempotent-Replayed: true`, and a repeat with another body 409
//! (`idempotency_conflict`). A failure is not stored, so a retry runs again. Everything is
//! bounded: entries live `ttl`, at most `max_entries` of them, a response over
//! `max_response_bytes` is not stored, and stored bodies total at most `max_stored_bytes`
//! (oldest evicted first). The cache lives in one process: a host that runs many isolates or
//! instances (the Worker) does not enable it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::{header, HeaderValue, Method, StatusCode};
use sha2::{Digest, Sha256};

use super::ResponseBody;
use crate::error::GatewayError;
use crate::platform::{boxed_stream, BoxStream, Runtime, UnixMillis};

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// Set on a replayed response.
pub const REPLAYED: &str = "idempotent-replayed";
const MAX_KEY_LEN: usize = 128;

/// How much the cache may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdempotencyLimits {
    pub ttl: Duration,
    pub max_entries: usize,
    pub max_response_bytes: usize,
    pub max_stored_bytes: usize,
}

impl Default for IdempotencyLimits {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(900),
            max_entries: 4096,
            max_response_bytes: 16 * 1024 * 1024,
            max_stored_bytes: 128 * 1024 * 1024,
        }
    }
}

type Digest32 = [u8; 32];

/// The answers remembered for idempotency keys.
pub struct Replays {
    limits: IdempotencyLimits,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<Digest32, Entry>,
    stored_bytes: usize,
}

struct Entry {
    body: Digest32,
    /// When it was made: the oldest stored answer is evicted first.
    at: UnixMillis,
    answer: Option<Stored>,
}

struct Stored {
    status: StatusCode,
    content_type: Option<HeaderValue>,
    bytes: Bytes,
}

/// What `begin` decided for a request.
pub(super) enum Begin {
    /// Run the request, then hand its response to `finish`.
    Run(Ticket),
    /// Answer with this response (a replay, or a 409).
    Answer(Result<http::Response<ResponseBody>, GatewayError>),
}

/// A running request's claim on its key.
pub(super) struct Ticket {
    key: Digest32,
}

/// The cache key and body hash of a request that carries an `Idempotency-Key`; `Ok(None)` for
/// requests without one (or not POSTs); a malformed key is the client's error.
pub(super) fn key_of(request: &http::Request<Bytes>) -> Result<Option<(Digest32, Digest32)>, GatewayError> {
    if request.method() != Method::POST {
        return Ok(None);
    }
    let Some(value) = request.headers().get(HEADER) else { return Ok(None) };
    let key = value.as_bytes();
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.iter().all(|b| b.is_ascii_graphic()) {
        return Err(GatewayError::BadRequest(format!(
            "`Idempotency-Key` must be 1 to {MAX_KEY_LEN} visible ASCII characters"
        )));
    }
    let mut hasher = Sha256::new();
    // The credential, whichever way it is presented: keys of different clients never meet.
    for name in [header::AUTHORIZATION.as_str(), "x-api-key", "x-goog-api-key"] {
        hasher.update(request.headers().get(name).map_or(&b""[..], HeaderValue::as_bytes));
        hasher.update([0]);
    }
    hasher.update(request.uri().query().unwrap_or_default());
    hasher.update([0]);
    hasher.update(request.uri().path());
    hasher.update([0]);
    hasher.update(key);
    Ok(Some((hasher.finalize().into(), Sha256::digest(request.body()).into())))
}

impl Replays {
    pub fn new(limits: IdempotencyLimits) -> Self {
        Self { limits, state: Mutex::new(State::default()) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn begin(&self, key: Digest32, body: Digest32, now: UnixMillis) -> Begin {
        let ttl = self.limits.ttl.as_millis() as u64;
        let mut state = self.state();
        if let Some(entry) = state.entries.get(&key) {
            if entry.at.0.saturating_add(ttl) > now.0 {
                return Begin::Answer(match (&entry.answer, entry.body == body) {
                    (_, false) => Err(GatewayError::IdempotencyConflict(
                        "this Idempotency-Key was already used for a different request body".into(),
                    )),
                    (None, true) => Err(GatewayError::IdempotencyConflict(
                        "a request with this Idempotency-Key is still running; retry when it has finished".into(),
                    )),
                    (Some(stored), true) => Ok(replay(stored)),
                });
            }
            state.forget(&key);
        }
        if state.entries.len() >= self.limits.max_entries {
            state.entries.retain(|_, e| e.at.0.saturating_add(ttl) > now.0 || e.answer.is_none());
            state.stored_bytes = state.entries.values().filter_map(|e| e.answer.as_ref()).map(|a| a.bytes.len()).sum();
            while state.entries.len() >= self.limits.max_entries && state.evict_oldest() {}
            if state.entries.len() >= self.limits.max_entries {
                // Only running requests are held: serve this one without a claim.
                return Begin::Run(Ticket { key: [0; 32] });
            }
        }
        state.entries.insert(key, Entry { body, at: now, answer: None });
        Begin::Run(Ticket { key })
    }

    /// Stores a successful response as it passes (a stream as it is sent) and releases the
    /// claim of a failed one.
    pub(super) fn finish(
        self: &Arc<Self>,
        ticket: Ticket,
        response: http::Response<ResponseBody>,
        runtime: &Arc<dyn Runtime>,
    ) -> http::Response<ResponseBody> {
        if ticket.key == [0; 32] {
            return response;
        }
        let status = response.status();
        if !status.is_success() {
            self.state().forget(&ticket.key);
            return response;
        }
        let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
        let (parts, body) = response.into_parts();
        let body = match body {
            ResponseBody::Full(bytes) => {
                self.store(&ticket, status, content_type, bytes.clone(), runtime.now());
                ResponseBody::Full(bytes)
            }
            ResponseBody::Stream(frames) => {
                ResponseBody::Stream(self.clone().recording(ticket, status, content_type, frames, runtime.clone()))
            }
            relay @ ResponseBody::Relay(_) => {
                self.state().forget(&ticket.key);
                relay
            }
        };
        http::Response::from_parts(parts, body)
    }

    fn store(
        &self,
        ticket: &Ticket,
        status: StatusCode,
        content_type: Option<HeaderValue>,
        bytes: Bytes,
        now: UnixMillis,
    ) {
        let mut state = self.state();
        if bytes.len() > self.limits.max_response_bytes || !state.entries.contains_key(&ticket.key) {
            state.forget(&ticket.key);
            return;
        }
        while state.stored_bytes + bytes.len() > self.limits.max_stored_bytes && state.evict_oldest() {}
        if state.stored_bytes + bytes.len() > self.limits.max_stored_bytes {
            state.forget(&ticket.key);
            return;
        }
        state.stored_bytes += bytes.len();
        if let Some(entry) = state.entries.get_mut(&ticket.key) {
            // The answer lives `ttl` from when it was complete.
            entry.at = now;
            entry.answer = Some(Stored { status, content_type, bytes });
        }
    }

    /// The stream, passed on frame by frame, kept until it ends (stored then) or is dropped or
    /// grows past the limit (the claim is released then).
    fn recording(
        self: Arc<Self>,
        ticket: Ticket,
        status: StatusCode,
        content_type: Option<HeaderValue>,
        frames: BoxStream<'static, Bytes>,
        runtime: Arc<dyn Runtime>,
    ) -> BoxStream<'static, Bytes> {
        let recorder = Recorder {
            replays: self,
            ticket: Some(ticket),
            kept: Some(BytesMut::new()),
            status,
            content_type,
            runtime,
        };
        boxed_stream(futures_util::stream::unfold((frames, recorder), |(mut frames, mut recorder)| async move {
            match frames.next().await {
                Some(frame) => {
                    recorder.keep(&frame);
                    Some((frame, (frames, recorder)))
                }
                None => {
                    recorder.complete();
                    None
                }
            }
        }))
    }
}

struct Recorder {
    replays: Arc<Replays>,
    ticket: Option<Ticket>,
    /// `None` once the stream outgrew what may be stored.
    kept: Option<BytesMut>,
    status: StatusCode,
    content_type: Option<HeaderValue>,
    runtime: Arc<dyn Runtime>,
}

impl Recorder {
    fn keep(&mut self, frame: &Bytes) {
        if let Some(kept) = &mut self.kept {
            if kept.len() + frame.len() > self.replays.limits.max_response_bytes {
                self.kept = None;
            } else {
                kept.extend_from_slice(frame);
            }
        }
    }

    fn complete(&mut self) {
        if let (Some(ticket), Some(kept)) = (self.ticket.take(), self.kept.take()) {
            let content_type = self.content_type.take();
            self.replays.store(&ticket, self.status, content_type, kept.freeze(), self.runtime.now());
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // Not completed (the client went away, or the stream was too large): a retry runs again.
        if let Some(ticket) = self.ticket.take() {
            self.replays.state().forget(&ticket.key);
        }
    }
}

impl State {
    fn forget(&mut self, key: &Digest32) {
        if let Some(Entry { answer: Some(stored), .. }) = self.entries.remove(key) {
            self.stored_bytes -= stored.bytes.len();
        }
    }

    /// Drops the oldest stored answer; `false` when there is none.
    fn evict_oldest(&mut self) -> bool {
        let oldest =
            self.entries.iter().filter(|(_, e)| e.answer.is_some()).min_by_key(|(_, e)| e.at.0).map(|(k, _)| *k);
        match oldest {
            Some(key) => {
                self.forget(&key);
                true
            }
            None => false,
        }
    }
}

fn replay(stored: &Stored) -> http::Response<ResponseBody> {
    let mut response = http::Response::new(ResponseBody::Full(stored.bytes.clone()));
    *response.status_mut() = stored.status;
    let headers = response.headers_mut();
    if let Some(content_type) = &stored.content_type {
        headers.insert(header::CONTENT_TYPE, content_type.clone());
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(replays: &Replays, key: u8, size: usize, at: u64) {
        let ticket = match replays.begin([key; 32], [1; 32], UnixMillis(at)) {
            Begin::Run(ticket) => ticket,
            Begin::Answer(_) => panic!("key {key} already known"),
        };
        replays.store(&ticket, StatusCode::OK, None, Bytes::from(vec![b'x'; size]), UnixMillis(at));
    }

    fn is_replayed(replays: &Replays, key: u8, at: u64) -> bool {
        matches!(replays.begin([key; 32], [1; 32], UnixMillis(at)), Begin::Answer(Ok(_)))
    }

    #[test]
    fn stored_bytes_and_entries_stay_within_their_limits_oldest_evicted_first() {
        let limits = IdempotencyLimits {
            ttl: Duration::from_secs(60),
            max_entries: 3,
            max_response_bytes: 50,
            max_stored_bytes: 100,
        };
        let replays = Replays::new(limits);
        stored(&replays, 1, 40, 1);
        stored(&replays, 2, 40, 2);
        stored(&replays, 3, 40, 3); // 120 bytes would pass the total: the oldest goes
        assert!(!is_replayed(&replays, 1, 4) && is_replayed(&replays, 2, 4) && is_replayed(&replays, 3, 4));
        assert!(replays.state().stored_bytes <= 100);
        stored(&replays, 5, 60, 5); // over the per-answer limit: not kept
        assert!(!is_replayed(&replays, 5, 6));
        stored(&replays, 6, 1, 7);
        stored(&replays, 7, 1, 8);
        assert!(replays.state().entries.len() <= 3, "{}", replays.state().entries.len());
        // Past the TTL an answer is gone.
        assert!(!is_replayed(&replays, 7, 8 + 60_000));
    }
}
