//! The response the core hands back to a host: status, headers and a body that is whole, a
//! stream of frames, or relayed upstream bytes.

use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};

use crate::platform::{BoxStream, ByteStream};

/// A response body: whole, or streamed chunk by chunk as the upstream produces it.
pub enum ResponseBody {
    Full(Bytes),
    Stream(BoxStream<'static, Bytes>),
    /// Upstream bytes relayed as they come (audio). An upstream failure mid-way is an error item:
    /// the host must abort the response so the client sees a broken transfer, not a clean end.
    Relay(ByteStream),
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Full(b) => write!(f, "Full({} bytes)", b.len()),
            Self::Stream(_) => f.write_str("Stream"),
            Self::Relay(_) => f.write_str("Relay"),
        }
    }
}

/// A JSON response with the given status.
pub fn json_response(status: StatusCode, body: Bytes) -> http::Response<ResponseBody> {
    let mut response = http::Response::new(ResponseBody::Full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
