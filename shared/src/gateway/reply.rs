//! A successful attempt and the client's HTTP response made from it: a whole body, a stream of
//! the door's frames, or relayed bytes.

use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};

use super::ResponseBody;
use crate::adapters::Translator;
use crate::body::json_response;
use crate::doors::{Encoder, Relay};
use crate::sse::SseEvent;
use crate::stream::{Driver, Flow, RelayBody, StreamError, StreamTranslator};
use crate::usage::Usage;

/// The stream driver of every reply: an upstream translator feeding a door's encoder.
pub(super) type ReplyDriver = Driver<Upstream, Encoder>;

/// What reads the upstream's events: a dialect translator (to hub chunks), or a door's relay
/// of a stream already in the client's API.
pub(super) enum Upstream {
    Dialect(Translator),
    Relay(Relay),
}

impl StreamTranslator for Upstream {
    fn on_event(&mut self, event: &SseEvent, out: &mut Vec<Bytes>) -> Result<Flow, StreamError> {
        match self {
            Self::Dialect(t) => t.on_event(event, out),
            Self::Relay(r) => r.on_event(event, out),
        }
    }

    fn finish(&mut self) -> Result<(), StreamError> {
        match self {
            Self::Dialect(t) => t.finish(),
            Self::Relay(r) => r.finish(),
        }
    }

    fn usage(&self) -> Option<Usage> {
        match self {
            Self::Dialect(t) => t.usage(),
            Self::Relay(r) => r.usage(),
        }
    }
}

/// What an attempt produced.
pub(super) enum Reply {
    /// A whole answer; JSON unless the upstream said otherwise (transcriptions as text).
    Full {
        body: Bytes,
        usage: Option<Usage>,
        content_type: Option<HeaderValue>,
    },
    Stream(Box<ReplyDriver>),
    /// Bytes relayed as they arrive (speech audio), with the upstream's content type.
    Relay {
        body: RelayBody,
        content_type: HeaderValue,
    },
}

/// A reply and the upstream key that produced it.
pub(super) struct Success {
    pub reply: Reply,
    /// Which of the provider's keys answered, 1-based (never the key itself).
    pub key_number: Option<usize>,
}

impl Success {
    pub fn into_http(self) -> http::Response<ResponseBody> {
        match self.reply {
            Reply::Full { body, content_type, .. } => {
                let mut response = json_response(StatusCode::OK, body);
                if let Some(content_type) = content_type {
                    response.headers_mut().insert(header::CONTENT_TYPE, content_type);
                }
                response
            }
            Reply::Relay { body, content_type } => {
                let mut response = http::Response::new(ResponseBody::Relay(body.into_stream()));
                response.headers_mut().insert(header::CONTENT_TYPE, content_type);
                response
            }
            Reply::Stream(driver) => {
                let mut response = http::Response::new(ResponseBody::Stream(driver.into_stream()));
                let headers = response.headers_mut();
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                // Ask reverse proxies (nginx) not to buffer the stream.
                headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
                response
            }
        }
    }
}
