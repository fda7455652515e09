//! Errors in Google's shape: `{"error":{"code","message","status"}}`, with the canonical status
//! name for the HTTP status (`INVALID_ARGUMENT`, `UNAUTHENTICATED`, `PERMISSION_DENIED`,
//! `NOT_FOUND`, `RESOURCE_EXHAUSTED`, `INTERNAL`, `UNAVAILABLE`, `DEADLINE_EXCEEDED`); a
//! stream that breaks ends with the same object as its last element.

use bytes::Bytes;
use http::StatusCode;
use serde_json::{json, Value};

use crate::body::{json_response, ResponseBody};
use crate::doors::chat::error::{attempts_json, with_retry_after};
use crate::error::GatewayError;
use crate::stream::StreamError;

fn status_name(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 405 | 413 | 422 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        402 | 403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        426 => "FAILED_PRECONDITION",
        429 => "RESOURCE_EXHAUSTED",
        501 => "UNIMPLEMENTED",
        503 | 529 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    }
}

pub fn response(error: &GatewayError) -> http::Response<ResponseBody> {
    let status = match error.status().as_u16() {
        // Google has no 502; an upstream failure is its INTERNAL 500.
        502 => StatusCode::INTERNAL_SERVER_ERROR,
        _ => error.status(),
    };
    let mut object = json!({ "code": status.as_u16(), "message": error.to_string(), "status": status_name(status) });
    if let Some(attempts) = attempts_json(error) {
        object["details"] = json!([{ "reason": error.code(), "attempts": attempts }]);
    }
    let mut response = json_response(status, Bytes::from(json!({ "error": object }).to_string()));
    with_retry_after(&mut response, error);
    response
}

/// The error element that ends a broken stream.
pub fn stream_error(error: &StreamError) -> Value {
    let (code, status) = match error {
        StreamError::Idle(_) => (504, "DEADLINE_EXCEEDED"),
        _ => (500, "INTERNAL"),
    };
    json!({ "error": { "code": code, "message": error.to_string(), "status": status } })
}
