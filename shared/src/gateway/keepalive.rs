//! `keepalive_interval`: a streaming request whose answer has not started within the interval
//! starts its response anyway, with SSE comments (`: keepalive`) repeated every interval while it
//! waits, so proxies that cut idle connections (Cloudflare's 100 s, Vercel's) keep it open
//! through long thinking. The attempts go on behind the comments, failover included; the status
//! (200) is committed, so a request that fails after all ends with an error event in its door's
//! shape instead of an error status.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::{select, Either};
use futures_util::StreamExt;
use http::{header, HeaderValue, StatusCode};

use super::accounting::Ledger;
use super::request::ClientRequest;
use super::route;
use super::{Inner, ResponseBody};
use crate::doors::{gemini, Door};
use crate::error::GatewayError;
use crate::platform::{boxed, boxed_stream, BoxFuture};
use crate::stream::StreamError;

const COMMENT: &[u8] = b": keepalive\n\n";

/// The interval for `request`: the shortest any of its candidate channels asks for; `None`
/// when none does or the request is not a server-sent-events stream.
pub(super) fn interval(inner: &Inner, client: usize, request: &ClientRequest) -> Option<Duration> {
    let config = &*inner.config;
    // A JSON-array Gemini stream cannot carry comments.
    if !request.stream || request.door == Door::Gemini(gemini::Framing::JsonArray) || !config.has_keepalive() {
        return None;
    }
    let candidates = inner.catalog().resolve(config, client, &request.model).ok()?;
    candidates
        .iter()
        .filter_map(|c| config.keepalive_interval(&config.providers[c.provider], &request.model, &c.upstream))
        .min()
}

/// Serves `request` (already past moderation) as `route::serve` does, starting the response
/// with keepalives if it has not started within `interval`.
pub(super) async fn serve(
    inner: Arc<Inner>,
    ledger: Ledger,
    request: ClientRequest,
    interval: Duration,
) -> http::Response<ResponseBody> {
    let door = request.door;
    let runtime = inner.platform.runtime.clone();
    let answer: BoxFuture<'static, Result<http::Response<ResponseBody>, GatewayError>> = boxed(async move {
        let key = &inner.config.clients[ledger.client];
        let outcome = route::route(&inner, &ledger, key, &request).await;
        if let Err(error) = &outcome {
            ledger.failed(&inner, &request.model, error, false);
        }
        outcome
    });
    let answer = match select(answer, runtime.sleep(interval)).await {
        Either::Left((outcome, _)) => return outcome.unwrap_or_else(|error| door.error_response(&error)),
        Either::Right(((), answer)) => answer,
    };
    let state = Waiting::Answer(answer, runtime.sleep(interval));
    let body = futures_util::stream::unfold(state, move |state| next(state, runtime.clone(), interval, door));
    let mut response = http::Response::new(ResponseBody::Stream(boxed_stream(body)));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// The next piece of the body: a keepalive when the interval passes first, else the answer's.
async fn next(
    state: Waiting,
    runtime: Arc<dyn crate::platform::Runtime>,
    interval: Duration,
    door: Door,
) -> Option<(Bytes, Waiting)> {
    match state {
        Waiting::Answer(answer, tick) => match select(answer, tick).await {
            Either::Right(((), answer)) => {
                Some((Bytes::from_static(COMMENT), Waiting::Answer(answer, runtime.sleep(interval))))
            }
            Either::Left((Ok(response), _)) => match response.into_body() {
                ResponseBody::Stream(mut frames) => {
                    let first = frames.next().await?;
                    Some((first, Waiting::Relaying(frames)))
                }
                // A streamed request is answered by a stream; anything else is passed whole.
                ResponseBody::Full(bytes) => Some((bytes, Waiting::Done)),
                ResponseBody::Relay(_) => None,
            },
            Either::Left((Err(error), _)) => {
                let failure = StreamError::Failed { code: error.code(), message: error.to_string() };
                Some((door.stream_error_frame(&failure), Waiting::Done))
            }
        },
        Waiting::Relaying(mut frames) => frames.next().await.map(|frame| (frame, Waiting::Relaying(frames))),
        Waiting::Done => None,
    }
}

enum Waiting {
    /// The answer is still being worked out; the next keepalive is due when `tick` ends.
    Answer(BoxFuture<'static, Result<http::Response<ResponseBody>, GatewayError>>, BoxFuture<'static, ()>),
    /// The answer's own frames, passed on as they come.
    Relaying(crate::platform::BoxStream<'static, Bytes>),
    Done,
}
