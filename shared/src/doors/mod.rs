//! Front doors: the API shapes clients speak to the gateway, the counterparts of the provider
//! adapters.
//!
//! A dialect adapter (`crate::adapters`) turns the gateway's internal language, OpenAI chat
//! completions, into one upstream's wire format and back. A door does the same on the client
//! side: it reads a request in its API's shape, and writes replies, stream frames and errors in
//! that shape. Every door renders its errors in exactly one place (`<door>::error`).
//!
//! Invariant: a door decides nothing about routing; it only translates at the edge.

pub mod chat;

use std::collections::VecDeque;

use bytes::Bytes;

use crate::body::ResponseBody;
use crate::error::GatewayError;
use crate::stream::{FrameEncoder, StreamError};

/// The API a client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Door {
    /// OpenAI: chat completions and the other `/v1` endpoints (embeddings, images, audio,
    /// moderations, models, statistics).
    Chat,
}

impl Door {
    /// The door a request path belongs to; errors a host renders before the core has routed the
    /// request (a body too large, an unreadable URL) use it.
    pub fn for_path(_path: &str) -> Self {
        Self::Chat
    }

    /// A short name for logs and statistics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Chat => "openai",
        }
    }

    /// `error` as this door's API would answer it: status, headers and body.
    pub fn error_response(self, error: &GatewayError) -> http::Response<ResponseBody> {
        match self {
            Self::Chat => chat::error::response(error),
        }
    }

    /// The writer of a streamed reply's frames for this door.
    pub fn encoder(self) -> Encoder {
        match self {
            Self::Chat => Encoder::Chat(chat::Frames),
        }
    }
}

/// Every door's stream encoder behind one type, chosen by an exhaustive match.
pub enum Encoder {
    Chat(chat::Frames),
}

impl FrameEncoder for Encoder {
    fn encode(&mut self, payload: Bytes, out: &mut VecDeque<Bytes>) -> Result<(), StreamError> {
        match self {
            Self::Chat(e) => e.encode(payload, out),
        }
    }

    fn end(&mut self, out: &mut VecDeque<Bytes>) {
        match self {
            Self::Chat(e) => e.end(out),
        }
    }

    fn fail(&mut self, error: &StreamError, out: &mut VecDeque<Bytes>) {
        match self {
            Self::Chat(e) => e.fail(error, out),
        }
    }
}
