//! Whose fault it is when an adapter cannot build an upstream request or read an answer.
//!
//! The gateway acts on the fault, not on the text: a request the client got wrong is answered
//! 400 to that client and never benches a channel that is healthy for everyone else.

use bytes::Bytes;

/// Why an adapter failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdapterError {
    /// The client's request cannot be expressed in this dialect (a message without a role, tool
    /// arguments that are not JSON): a 400 to that client, no cooldown.
    #[error("{0}")]
    Request(String),
    /// This channel's configuration cannot serve the request (a key that is not a valid header
    /// value, no service account, an endpoint the dialect lacks): the channel is skipped, no
    /// cooldown.
    #[error("{0}")]
    Config(String),
    /// The upstream's answer is unusable: the attempt failed and the channel is to blame.
    #[error("{0}")]
    Upstream(String),
}

impl AdapterError {
    pub fn request(message: impl Into<String>) -> Self {
        Self::Request(message.into())
    }

    pub fn config(message: impl Into<String>) -> Self {
        Self::Config(message.into())
    }

    pub fn upstream(message: impl Into<String>) -> Self {
        Self::Upstream(message.into())
    }
}

/// An upstream request, or why it cannot be built.
pub type Built = Result<http::Request<Bytes>, AdapterError>;
