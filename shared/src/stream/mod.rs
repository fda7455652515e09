//! Streaming replies: one generic driver between an upstream translator and a door's encoder.
//!
//! ```text
//! upstream bytes ─► SseDecoder ─► translator.on_event ─► encoder.encode ─► frames ─► client
//!                                 translator.finish at EOF ─► encoder.end (e.g. data: [DONE])
//! ```
//! The driver owns the policy every dialect and door shares: idle timeouts, the end marker only
//! after a clean end, and the door's error frame (never a fake end) when the upstream breaks,
//! stalls or stops early. Translators (upstream side) and encoders (client side) are plain
//! state machines fed one item at a time; they do no I/O.

mod relay;

pub use relay::RelayBody;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::{select, Either};
use futures_util::{FutureExt, StreamExt};

use crate::platform::{BoxFnOnce, BoxStream, ByteStream, MaybeSend, Runtime};
use crate::sse::{SseDecoder, SseEvent};
use crate::usage::Usage;

/// Whether the translator expects more events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// The upstream sent its own terminal event.
    Done,
}

/// Why a stream could not be completed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("the upstream stream ended before the completion was finished")]
    Truncated,
    #[error("the upstream sent no data for {} s", .0.as_secs_f64())]
    Idle(Duration),
    #[error("the upstream connection broke: {0}")]
    Transport(String),
    #[error("the upstream sent a malformed event: {0}")]
    Corrupt(String),
    #[error("the upstream reported an error: {0}")]
    Upstream(String),
    #[error(transparent)]
    Oversized(#[from] crate::sse::Oversized),
    #[error("the gateway is shutting down and this stream ran past its drain time; retry the request")]
    ShuttingDown,
    /// The request failed after keepalives had already started the response: the failure it
    /// would have answered with, as an event (`code` is the error's usual code).
    #[error("{message}")]
    Failed { code: &'static str, message: String },
}

impl StreamError {
    /// Stable machine-readable code for the error event.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Truncated => "stream_truncated",
            Self::Idle(_) => "upstream_timeout",
            Self::Transport(_) => "upstream_connection_error",
            Self::Corrupt(_) => "upstream_malformed_event",
            Self::Upstream(_) => "upstream_error",
            Self::Oversized(_) => "upstream_event_too_large",
            Self::ShuttingDown => "server_shutting_down",
            Self::Failed { code, .. } => code,
        }
    }
}

/// One upstream dialect's stream re-expressed as OpenAI chat-completion chunks.
pub trait StreamTranslator: MaybeSend + 'static {
    /// Applies one event; pushes zero or more JSON chunk payloads (without `data: `) to `out`.
    fn on_event(&mut self, event: &SseEvent, out: &mut Vec<Bytes>) -> Result<Flow, StreamError>;
    /// Clean EOF without a terminal event: `Ok` only if the completion is known to be whole.
    fn finish(&mut self) -> Result<(), StreamError>;
    /// Usage reported so far.
    fn usage(&self) -> Option<Usage>;
}

/// A door's writer of client frames: the counterpart of a `StreamTranslator`.
pub trait FrameEncoder: MaybeSend + 'static {
    /// Turns one translator payload into zero or more complete client frames.
    fn encode(&mut self, payload: Bytes, out: &mut VecDeque<Bytes>) -> Result<(), StreamError>;
    /// The upstream finished cleanly: whatever closes the stream for this client.
    fn end(&mut self, out: &mut VecDeque<Bytes>);
    /// The stream broke after it started: the client's error frame(s). Nothing follows them.
    fn fail(&mut self, error: &StreamError, out: &mut VecDeque<Bytes>);
    /// Whether the frames written so far carry model output (text, reasoning or a tool call),
    /// not only the stream's opening.
    fn content_started(&self) -> bool;
}

/// Returns `Pending` once (after asking to be polled again), letting other ready tasks run.
#[derive(Default)]
struct YieldOnce {
    yielded: bool,
}

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.yielded {
            return std::task::Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// How a stream ended, for the request log and statistics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamEnd {
    Completed,
    Failed(StreamError),
    /// The client went away first; the upstream request was dropped with it.
    Cancelled,
}

/// Reported once when the stream is over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamReport {
    pub end: StreamEnd,
    pub usage: Option<Usage>,
}

/// The end of the upstream body.
enum UpstreamEnd {
    Eof,
    Broken(StreamError),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Open,
    Done,
    Failed,
}

/// Drives one upstream stream through a translator and a door's encoder.
pub struct Driver<T: StreamTranslator, E: FrameEncoder> {
    upstream: ByteStream,
    decoder: SseDecoder,
    translator: T,
    encoder: E,
    runtime: Arc<dyn Runtime>,
    idle_timeout: Duration,
    queue: VecDeque<Bytes>,
    /// Events read but not yet translated.
    events: VecDeque<SseEvent>,
    /// How the upstream ended, once it has, to act on after the events before it.
    upstream_end: Option<UpstreamEnd>,
    payloads: Vec<Bytes>,
    /// Whether a frame has gone to the client.
    sent_first: bool,
    /// Whether the host has had a turn to flush the first frame.
    flushed_first: bool,
    phase: Phase,
    failure: Option<StreamError>,
    on_end: Option<BoxFnOnce<StreamReport>>,
}

impl<T: StreamTranslator, E: FrameEncoder> Driver<T, E> {
    pub fn new(
        upstream: ByteStream,
        translator: T,
        encoder: E,
        runtime: Arc<dyn Runtime>,
        idle_timeout: Duration,
    ) -> Self {
        Self {
            upstream,
            decoder: SseDecoder::new(),
            translator,
            encoder,
            runtime,
            idle_timeout,
            queue: VecDeque::new(),
            events: VecDeque::new(),
            upstream_end: None,
            payloads: Vec::new(),
            sent_first: false,
            flushed_first: false,
            phase: Phase::Open,
            failure: None,
            on_end: None,
        }
    }

    /// Called once with the outcome when the stream ends or is dropped.
    pub fn on_end(&mut self, hook: BoxFnOnce<StreamReport>) {
        self.on_end = Some(hook);
    }

    /// Reads until the first frame that carries model output is ready (or the stream is over),
    /// without sending anything, so error triggers can be checked on it. An error here means
    /// nothing has reached the client yet, so the caller may still fail over.
    pub async fn prime(&mut self) -> Result<(), StreamError> {
        while self.phase == Phase::Open && !self.encoder.content_started() {
            self.fill().await?;
        }
        Ok(())
    }

    /// The frames read so far but not yet sent.
    pub fn pending(&self) -> impl Iterator<Item = &Bytes> {
        self.queue.iter()
    }

    pub fn usage(&self) -> Option<Usage> {
        self.translator.usage()
    }

    /// The client-facing byte stream: frames as they are produced, then the door's end marker or
    /// its error frame.
    pub fn into_stream(self) -> BoxStream<'static, Bytes> {
        crate::platform::boxed_stream(futures_util::stream::unfold(self, |mut driver| async move {
            driver.next_frame().await.map(|frame| (frame, driver))
        }))
    }

    async fn next_frame(&mut self) -> Option<Bytes> {
        loop {
            if !self.queue.is_empty() {
                self.sent_first = true;
                if self.queue.len() == 1 {
                    return self.queue.pop_front();
                }
                // Everything one upstream read produced goes out in one write.
                let size = self.queue.iter().map(Bytes::len).sum();
                let mut joined = bytes::BytesMut::with_capacity(size);
                self.queue.drain(..).for_each(|frame| joined.extend_from_slice(&frame));
                return Some(joined.freeze());
            }
            if self.phase != Phase::Open {
                self.report();
                return None;
            }
            if self.sent_first && !self.flushed_first {
                // A host writes frames as long as they are ready and flushes when the stream is
                // pending: give it that turn, so the first token leaves before the rest of its
                // burst is translated.
                self.flushed_first = true;
                YieldOnce::default().await;
            }
            if let Err(error) = self.fill().await {
                self.encoder.fail(&error, &mut self.queue);
                self.failure = Some(error);
                self.phase = Phase::Failed;
            }
        }
    }

    /// Makes progress: translates events already read, acts on the upstream's end once they
    /// are done, or reads more.
    async fn fill(&mut self) -> Result<(), StreamError> {
        if !self.events.is_empty() {
            return self.translate_pending();
        }
        match self.upstream_end.take() {
            Some(UpstreamEnd::Broken(error)) => Err(error),
            Some(UpstreamEnd::Eof) => {
                self.translator.finish()?;
                self.complete();
                Ok(())
            }
            None => self.read().await,
        }
    }

    /// Reads upstream bytes: waits at most the idle timeout for the first chunk, then takes
    /// every chunk that is already available, and decodes the events they complete.
    async fn read(&mut self) -> Result<(), StreamError> {
        let next = self.upstream.next();
        let timer = self.runtime.sleep(self.idle_timeout);
        let mut chunk = match select(next, timer).await {
            Either::Left((chunk, _)) => chunk,
            Either::Right(_) if self.runtime.shutting_down() => return Err(StreamError::ShuttingDown),
            Either::Right(_) => return Err(StreamError::Idle(self.idle_timeout)),
        };
        loop {
            let events = &mut self.events;
            match chunk {
                Some(Ok(bytes)) => {
                    if let Err(oversized) = self.decoder.feed(&bytes, &mut |e| events.push_back(e)) {
                        // Events decoded before the oversized one are still sent; then the error.
                        self.upstream_end = Some(UpstreamEnd::Broken(oversized.into()));
                        return Ok(());
                    }
                }
                Some(Err(e)) => {
                    // What arrived before the break is translated first; the error follows it.
                    self.upstream_end = Some(UpstreamEnd::Broken(StreamError::Transport(e.to_string())));
                    return Ok(());
                }
                None => {
                    self.upstream_end = Some(match self.decoder.finish(&mut |e| events.push_back(e)) {
                        Ok(()) => UpstreamEnd::Eof,
                        Err(oversized) => UpstreamEnd::Broken(oversized.into()),
                    });
                    return Ok(());
                }
            }
            // The host may hand chunks over from another task (hyper's connection task does):
            // let it run once before deciding that nothing more has arrived.
            match self.upstream.next().now_or_never() {
                Some(more) => chunk = more,
                None => {
                    YieldOnce::default().await;
                    match self.upstream.next().now_or_never() {
                        Some(more) => chunk = more,
                        None => return Ok(()),
                    }
                }
            }
        }
    }

    /// Translates pending events. Until the first frame has gone out, only until there is one
    /// that carries model output, so the first token leaves without waiting for the rest of its
    /// burst; after that, the whole burst, which then leaves as one write.
    fn translate_pending(&mut self) -> Result<(), StreamError> {
        while let Some(event) = self.events.pop_front() {
            if self.phase != Phase::Open {
                self.events.clear();
                break;
            }
            let flow = match self.translator.on_event(&event, &mut self.payloads) {
                Ok(flow) => flow,
                Err(error) => {
                    self.payloads.clear();
                    return Err(error);
                }
            };
            for payload in self.payloads.drain(..) {
                self.encoder.encode(payload, &mut self.queue)?;
            }
            if flow == Flow::Done {
                self.complete();
            }
            if !self.sent_first && !self.queue.is_empty() && self.encoder.content_started() {
                break;
            }
        }
        Ok(())
    }

    fn complete(&mut self) {
        self.encoder.end(&mut self.queue);
        self.phase = Phase::Done;
    }

    fn report(&mut self) {
        if let Some(hook) = self.on_end.take() {
            let end = match (self.phase, self.failure.take()) {
                (Phase::Done, _) => StreamEnd::Completed,
                (_, Some(error)) => StreamEnd::Failed(error),
                (_, None) => StreamEnd::Cancelled,
            };
            hook(StreamReport { end, usage: self.translator.usage() });
        }
    }
}

impl<T: StreamTranslator, E: FrameEncoder> Drop for Driver<T, E> {
    fn drop(&mut self) {
        if self.phase == Phase::Done && !self.queue.is_empty() {
            // Dropped before the last frames went out: the client left.
            self.phase = Phase::Open;
        }
        self.report();
    }
}
