//! The outbound HTTP port: send one upstream request, get status, headers and a body stream.

use std::fmt;

use bytes::Bytes;

use super::send::{BoxFuture, BoxStream, MaybeSend, MaybeSync};

/// A response body as it arrives from the network, chunk by chunk.
pub type ByteStream = BoxStream<'static, Result<Bytes, TransportError>>;

/// Per-request settings a host applies to the connection it opens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// `http://…`, `https://…` or `socks5://…` proxy for this upstream, already validated.
    pub proxy: Option<String>,
    /// Set for requests made on a client's behalf (image URLs): connect only to addresses these
    /// allow, checking every address a name resolves to. `None`: an upstream the operator named.
    pub destinations: Option<std::sync::Arc<super::Destinations>>,
}

impl SendOptions {
    /// For an upstream from the config, through `proxy` if one is set.
    pub fn upstream(proxy: Option<String>) -> Self {
        Self { proxy, destinations: None }
    }
}

/// Sends upstream requests. Implemented by the native shell (reqwest) and the Worker (fetch).
///
/// A non-2xx answer is a response, not an error: adapters need its body and headers to classify
/// it. Only failures to get an answer at all are `TransportError`s.
pub trait HttpClient: MaybeSend + MaybeSync {
    fn send(
        &self,
        request: http::Request<Bytes>,
        options: SendOptions,
    ) -> BoxFuture<'_, Result<http::Response<ByteStream>, TransportError>>;
}

/// What went wrong below HTTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportErrorKind {
    /// DNS, TCP or TLS could not be established.
    Connect,
    /// The host's own timeout fired.
    Timeout,
    /// The connection broke while the body was being read.
    Body,
    /// Anything else the host could not classify.
    Other,
}

/// A failure to exchange bytes with an upstream. The message never contains credentials.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct TransportError {
    pub kind: TransportErrorKind,
    pub message: String,
}

impl TransportError {
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "connect error",
            Self::Timeout => "timeout",
            Self::Body => "connection broke while reading the body",
            Self::Other => "transport error",
        })
    }
}
