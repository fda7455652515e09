//! Bytes relayed as they arrive (speech audio): cut off when the upstream goes quiet for the
//! idle timeout, and reported once by how they ended (completed, broken, stalled or cancelled).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::StreamExt;

use super::{StreamEnd, StreamError, StreamReport};
use crate::platform::{BoxFnOnce, ByteStream, Runtime, TransportError, TransportErrorKind};

/// An upstream body passed through untouched, with the stream driver's idle policy.
pub struct RelayBody {
    upstream: ByteStream,
    runtime: Arc<dyn Runtime>,
    idle_timeout: Duration,
    on_end: Option<BoxFnOnce<StreamReport>>,
}

impl RelayBody {
    pub fn new(upstream: ByteStream, runtime: Arc<dyn Runtime>, idle_timeout: Duration) -> Self {
        Self { upstream, runtime, idle_timeout, on_end: None }
    }

    /// Called once with the outcome when the body ends or is dropped.
    pub fn on_end(&mut self, hook: BoxFnOnce<StreamReport>) {
        self.on_end = Some(hook);
    }

    /// The client-facing bytes. An error item aborts the response: audio has no error frame,
    /// so a client sees a broken transfer rather than a clip that merely ends early.
    pub fn into_stream(self) -> ByteStream {
        crate::platform::boxed_stream(futures_util::stream::unfold(Some(self), |relay| async move {
            let mut relay = relay?;
            let next = relay.upstream.next();
            let timer = relay.runtime.sleep(relay.idle_timeout);
            let item = match select(next, timer).await {
                Either::Left((item, _)) => item,
                Either::Right(_) => {
                    let error = if relay.runtime.shutting_down() {
                        StreamError::ShuttingDown
                    } else {
                        StreamError::Idle(relay.idle_timeout)
                    };
                    let message = error.to_string();
                    relay.report(StreamEnd::Failed(error));
                    return Some((Err(TransportError::new(TransportErrorKind::Timeout, message)), None));
                }
            };
            match item {
                Some(Ok(bytes)) => Some((Ok(bytes), Some(relay))),
                Some(Err(e)) => {
                    relay.report(StreamEnd::Failed(StreamError::Transport(e.to_string())));
                    Some((Err(e), None))
                }
                None => {
                    relay.report(StreamEnd::Completed);
                    None
                }
            }
        }))
    }

    fn report(&mut self, end: StreamEnd) {
        if let Some(hook) = self.on_end.take() {
            hook(StreamReport { end, usage: None });
        }
    }
}

impl Drop for RelayBody {
    fn drop(&mut self) {
        // Dropped with its hook still set: the client went away before the end.
        self.report(StreamEnd::Cancelled);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use bytes::Bytes;
    use futures_util::stream;

    use super::*;
    use crate::testing::ManualRuntime;

    fn relay(items: Vec<Result<Bytes, TransportError>>, hang: bool) -> (RelayBody, Arc<Mutex<Vec<StreamEnd>>>) {
        let upstream = stream::iter(items);
        let upstream: ByteStream = if hang {
            crate::platform::boxed_stream(upstream.chain(stream::pending()))
        } else {
            crate::platform::boxed_stream(upstream)
        };
        let ends = Arc::new(Mutex::new(Vec::new()));
        let mut body = RelayBody::new(upstream, Arc::new(ManualRuntime::new(0)), Duration::from_secs(5));
        let seen = ends.clone();
        body.on_end(Box::new(move |report| seen.lock().unwrap().push(report.end)));
        (body, ends)
    }

    #[test]
    fn a_whole_relay_is_reported_completed_once() {
        let (body, ends) = relay(vec![Ok(Bytes::from_static(b"ID3"))], false);
        let got: Vec<_> = futures_executor::block_on(body.into_stream().collect());
        assert_eq!(got.len(), 1);
        assert_eq!(*ends.lock().unwrap(), vec![StreamEnd::Completed]);
    }

    #[test]
    fn a_broken_relay_ends_with_an_error_and_is_reported_failed() {
        let broken = TransportError::new(TransportErrorKind::Body, "reset");
        let (body, ends) = relay(vec![Ok(Bytes::from_static(b"ID3")), Err(broken)], false);
        let got: Vec<_> = futures_executor::block_on(body.into_stream().collect());
        assert!(got[1].is_err());
        assert!(matches!(ends.lock().unwrap()[..], [StreamEnd::Failed(StreamError::Transport(_))]));
    }

    #[test]
    fn a_relay_dropped_early_is_reported_cancelled() {
        let (body, ends) = relay(vec![Ok(Bytes::from_static(b"ID3"))], true);
        let mut stream = body.into_stream();
        assert!(futures_executor::block_on(stream.next()).unwrap().is_ok());
        drop(stream);
        assert_eq!(*ends.lock().unwrap(), vec![StreamEnd::Cancelled]);
    }
}
