//! Client authentication: which configured key, if any, a request carries.

use http::HeaderMap;

use crate::config::Config;
use crate::error::GatewayError;

/// Finds the client key in `x-api-key` or `Authorization: Bearer …` and returns its index.
///
/// Every configured key is compared, each in constant time, so the answer's timing does not
/// reveal how much of a guess was right or which key it resembled.
pub fn authenticate(config: &Config, headers: &HeaderMap) -> Result<usize, GatewayError> {
    let presented = presented_key(headers).ok_or(GatewayError::MissingKey)?;
    let mut found = None;
    for (i, client) in config.clients.iter().enumerate() {
        if client.key.matches(presented.as_bytes()) && found.is_none() {
            found = Some(i);
        }
    }
    found.ok_or(GatewayError::InvalidKey)
}

fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim) {
        if !key.is_empty() {
            return Some(key);
        }
    }
    let auth = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?.trim();
    // Any scheme is accepted (`Bearer`, `bearer`, …), as clients vary.
    let token = auth.split_once(' ').map_or(auth, |(_, token)| token).trim();
    (!token.is_empty()).then_some(token)
}
