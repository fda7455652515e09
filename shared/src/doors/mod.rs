//! Front doors: the API shapes clients speak to the gateway, the counterparts of the provider
//! adapters.
//!
//! A dialect adapter (`crate::adapters`) turns the gateway's internal language, OpenAI chat
//! completions (the hub), into one upstream's wire format and back. A door does the same on the
//! client side. For each request and channel the pipeline takes one of two paths:
//!
//! ```text
//! native:      door body ──(model replaced)──► upstream of the same API ──► relayed events
//! translated:  door body ─► to_chat ─► hub ─► dialect adapter ─► upstream
//!              upstream ─► dialect translator ─► hub chunks ─► door encoder ─► door events
//! ```
//!
//! Every door renders its errors in exactly one place (`<door>::error`).
//!
//! Invariant: a door decides nothing about routing; it only translates at the edge.

pub mod affinity;
pub mod chat;
pub mod gemini;
pub(crate) mod hub;
pub mod messages;
pub mod responses;

use std::collections::VecDeque;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};

use crate::adapters::raw::RawObject;
use crate::adapters::{vertex, AdapterError, Built, Dialect, ResponseCtx};
use crate::body::ResponseBody;
use crate::config::{Provider, Secret};
use crate::error::GatewayError;
use crate::sse::SseEvent;
use crate::stream::{Flow, FrameEncoder, StreamError, StreamTranslator};
use crate::usage::Usage;

/// The API a client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Door {
    /// OpenAI: chat completions and the other `/v1` endpoints (embeddings, images, audio,
    /// moderations, models, statistics). Chat completions are the hub itself.
    Chat,
    /// Anthropic Messages (`/v1/messages`): Claude Code.
    Messages,
    /// OpenAI Responses (`/v1/responses`): Codex.
    Responses,
    /// Gemini (`/v1beta/models/{model}:…`): Gemini CLI; streams framed as asked.
    Gemini(gemini::Framing),
}

/// What a native request carries besides its body.
pub struct NativeCall<'a> {
    pub body: &'a RawObject,
    pub upstream_model: &'a str,
    pub stream: bool,
    /// Vertex: the region of this attempt.
    pub region: Option<&'a str>,
    /// Client headers the upstream of the same API must see (`anthropic-beta`, …).
    pub forward: &'a [(HeaderName, HeaderValue)],
}

impl Door {
    /// The door a request path belongs to; errors a host renders before the core has routed the
    /// request (a body too large, an unreadable URL) use it.
    pub fn for_path(path: &str) -> Self {
        if path == "/v1/messages" || path.starts_with("/v1/messages/") {
            Self::Messages
        } else if path == "/v1/responses" || path.starts_with("/v1/responses/") {
            Self::Responses
        } else if path.starts_with("/v1beta/") || gemini::parse_path(path).is_some() {
            Self::Gemini(gemini::Framing::Sse)
        } else {
            Self::Chat
        }
    }

    /// A short name for logs and statistics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Chat => "openai",
            Self::Messages => "anthropic",
            Self::Responses => "responses",
            Self::Gemini(_) => "gemini",
        }
    }

    /// `error` as this door's API would answer it: status, headers and body.
    pub fn error_response(self, error: &GatewayError) -> http::Response<ResponseBody> {
        match self {
            // Responses errors are OpenAI's.
            Self::Chat | Self::Responses => chat::error::response(error),
            Self::Messages => messages::error::response(error),
            Self::Gemini(_) => gemini::error::response(error),
        }
    }

    /// Whether a channel speaks this door's own API, so the body goes through untouched.
    pub fn is_native_on(self, dialect: Dialect, upstream_model: &str) -> bool {
        match self {
            // Chat is the hub: every dialect adapter translates from it.
            Self::Chat => false,
            Self::Messages => {
                dialect == Dialect::Anthropic || (dialect == Dialect::Vertex && vertex::is_claude(upstream_model))
            }
            Self::Responses => matches!(dialect, Dialect::OpenAi | Dialect::OpenRouter),
            Self::Gemini(_) => {
                dialect == Dialect::Gemini || (dialect == Dialect::Vertex && !vertex::is_claude(upstream_model))
            }
        }
    }

    /// The client's body in the hub's language. `keep_reasoning`: carry the client's thinking
    /// settings as `reasoning_effort` (for dialects that map it to their own).
    pub fn to_chat(self, body: &RawObject, keep_reasoning: bool) -> Result<RawObject, AdapterError> {
        match self {
            Self::Chat => Ok(body.clone()),
            Self::Messages => messages::to_chat(body, keep_reasoning),
            // Responses clients set an effort on purpose: it is always carried.
            Self::Responses => responses::to_chat(body),
            Self::Gemini(_) => gemini::to_chat(body, keep_reasoning),
        }
    }

    /// The client's body as the hub request a translated channel of `dialect` is built from:
    /// `to_chat`, keeping the reasoning settings for dialects that map them, and saying `stream`
    /// (Gemini streams by method, not by a body field).
    pub fn hub_for(self, body: &RawObject, dialect: Dialect, stream: bool) -> Result<RawObject, AdapterError> {
        let mut hub = self.to_chat(body, keeps_reasoning(dialect))?;
        if stream && !hub.contains("stream") {
            let set = |hub: &mut RawObject, key: &str, value: serde_json::Value| hub.set(key, &value);
            set(&mut hub, "stream", serde_json::Value::Bool(true))
                .and_then(|()| set(&mut hub, "stream_options", serde_json::json!({ "include_usage": true })))
                .map_err(|e| AdapterError::config(e.to_string()))?;
        }
        Ok(hub)
    }

    /// A hub completion as this door's reply to `request` (the client's body).
    pub fn reply_from_chat(
        self,
        completion: Bytes,
        ctx: &ResponseCtx,
        request: &RawObject,
    ) -> Result<Bytes, AdapterError> {
        match self {
            Self::Chat => Ok(completion),
            Self::Messages => messages::reply_from_chat(&completion, ctx),
            Self::Responses => responses::reply_from_chat(&completion, ctx, request),
            Self::Gemini(_) => gemini::reply_from_chat(&completion, ctx),
        }
    }

    /// The writer of a translated stream's frames (hub chunks in) for `request`.
    pub fn encoder(self, ctx: ResponseCtx, request: &RawObject) -> Encoder {
        match self {
            Self::Chat => Encoder::Chat(chat::Frames::default()),
            Self::Messages => Encoder::Messages(messages::FromChat::new(ctx)),
            Self::Responses => Encoder::Responses(Box::new(responses::FromChat::new(ctx, request))),
            Self::Gemini(framing) => Encoder::Gemini(gemini::FromChat::new(ctx, framing)),
        }
    }

    /// The upstream request of a native call.
    pub fn build_native(self, provider: &Provider, key: Option<&Secret>, call: &NativeCall<'_>) -> Built {
        match self {
            Self::Chat => Err(AdapterError::config("chat completions are built by the dialect adapters")),
            Self::Messages => messages::native::build_request(
                provider,
                key,
                call.body,
                call.upstream_model,
                call.stream,
                call.region,
                call.forward,
            ),
            Self::Responses => {
                responses::native::build_request(provider, key, call.body, call.upstream_model, call.stream)
            }
            Self::Gemini(_) => {
                gemini::native::build_request(provider, key, call.body, call.upstream_model, call.stream, call.region)
            }
        }
    }

    /// A native non-streamed reply, checked, with the client's model name, and its usage.
    pub fn read_native_reply(self, body: &[u8], alias: &str) -> Result<(Bytes, Option<Usage>), AdapterError> {
        match self {
            Self::Chat => Err(AdapterError::config("chat completions are read by the dialect adapters")),
            Self::Messages => messages::native::read_reply(body, alias),
            Self::Responses => responses::native::read_reply(body, alias),
            Self::Gemini(_) => gemini::native::read_reply(body, alias),
        }
    }

    /// The relay of a native stream and the encoder that passes its frames on.
    pub fn relay(self, alias: &str) -> Option<(Relay, Encoder)> {
        match self {
            Self::Chat => None,
            Self::Messages => {
                Some((Relay::Messages(messages::native::Relay::new(alias)), Encoder::Native(NativeFrames::new(self))))
            }
            Self::Responses => {
                Some((Relay::Responses(responses::native::Relay::new(alias)), Encoder::Native(NativeFrames::new(self))))
            }
            Self::Gemini(framing) => Some((
                Relay::Gemini(gemini::native::Relay::new(alias)),
                Encoder::GeminiFrames(gemini::native::Frames::new(framing)),
            )),
        }
    }

    /// The event that ends a stream with `error`, in the door's shape.
    pub fn stream_error_frame(self, error: &StreamError) -> Bytes {
        match self {
            Self::Chat => chat::error::stream_frame(error),
            Self::Messages => messages::error::stream_frame(error),
            Self::Responses => responses::native::failed_frame(error),
            Self::Gemini(framing) => gemini::native::Frames::new(framing).failure(error),
        }
    }
}

/// Whether a dialect maps the hub's `reasoning_effort` to its own thinking settings (an
/// OpenAI-format model that does not reason would refuse it, so agents' implicit thinking
/// settings are not sent there).
pub fn keeps_reasoning(dialect: Dialect) -> bool {
    matches!(dialect, Dialect::Anthropic | Dialect::Gemini | Dialect::Vertex)
}

/// Every door's stream encoder behind one type, chosen by an exhaustive match.
pub enum Encoder {
    Chat(chat::Frames),
    Messages(messages::FromChat),
    Responses(Box<responses::FromChat>),
    Gemini(gemini::FromChat),
    /// A native Gemini stream's responses, framed as the client asked.
    GeminiFrames(gemini::native::Frames),
    /// A native stream's frames, already in the door's shape, passed on; errors in its shape.
    Native(NativeFrames),
}

/// Frames of a native stream, passed on as the relay wrote them.
pub struct NativeFrames {
    door: Door,
    content: bool,
}

impl NativeFrames {
    fn new(door: Door) -> Self {
        Self { door, content: false }
    }

    /// Whether a relayed frame carries model output: for Messages a content block, for
    /// Responses anything after the response's opening events.
    fn has_output(&self, frame: &[u8]) -> bool {
        match self.door {
            Door::Messages => frame.starts_with(b"event: content_block_"),
            Door::Responses => {
                !frame.starts_with(b"event: response.created") && !frame.starts_with(b"event: response.in_progress")
            }
            Door::Chat | Door::Gemini(_) => true,
        }
    }
}

impl FrameEncoder for Encoder {
    fn encode(&mut self, payload: Bytes, out: &mut VecDeque<Bytes>) -> Result<(), StreamError> {
        match self {
            Self::Chat(e) => e.encode(payload, out),
            Self::Messages(e) => e.encode(payload, out),
            Self::Responses(e) => e.encode(payload, out),
            Self::Gemini(e) => e.encode(payload, out),
            Self::GeminiFrames(e) => e.encode(payload, out),
            Self::Native(native) => {
                native.content = native.content || native.has_output(&payload);
                out.push_back(payload);
                Ok(())
            }
        }
    }

    fn end(&mut self, out: &mut VecDeque<Bytes>) {
        match self {
            Self::Chat(e) => e.end(out),
            Self::Messages(e) => e.end(out),
            Self::Responses(e) => e.end(out),
            Self::Gemini(e) => e.end(out),
            Self::GeminiFrames(e) => e.end(out),
            // The upstream's own terminal event has been relayed.
            Self::Native(_) => {}
        }
    }

    fn fail(&mut self, error: &StreamError, out: &mut VecDeque<Bytes>) {
        match self {
            Self::Chat(e) => e.fail(error, out),
            Self::Messages(e) => e.fail(error, out),
            Self::Responses(e) => e.fail(error, out),
            Self::Gemini(e) => e.fail(error, out),
            Self::GeminiFrames(e) => e.fail(error, out),
            Self::Native(native) => out.push_back(native.door.stream_error_frame(error)),
        }
    }

    fn content_started(&self) -> bool {
        match self {
            Self::Chat(e) => e.content_started(),
            Self::Messages(e) => e.content_started(),
            Self::Responses(e) => e.content_started(),
            Self::Gemini(e) => e.content_started(),
            Self::GeminiFrames(e) => e.content_started(),
            Self::Native(native) => native.content,
        }
    }
}

/// Every door's native stream relay behind one type.
pub enum Relay {
    Messages(messages::native::Relay),
    Responses(responses::native::Relay),
    Gemini(gemini::native::Relay),
}

impl StreamTranslator for Relay {
    fn on_event(&mut self, event: &SseEvent, out: &mut Vec<Bytes>) -> Result<Flow, StreamError> {
        match self {
            Self::Messages(r) => r.on_event(event, out),
            Self::Responses(r) => r.on_event(event, out),
            Self::Gemini(r) => r.on_event(event, out),
        }
    }

    fn finish(&mut self) -> Result<(), StreamError> {
        match self {
            Self::Messages(r) => r.finish(),
            Self::Responses(r) => r.finish(),
            Self::Gemini(r) => r.finish(),
        }
    }

    fn usage(&self) -> Option<Usage> {
        match self {
            Self::Messages(r) => r.usage(),
            Self::Responses(r) => r.usage(),
            Self::Gemini(r) => r.usage(),
        }
    }
}
