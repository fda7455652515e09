//! Client authentication: which configured key, if any, a request carries.

use http::HeaderMap;

use crate::config::Config;
use crate::error::GatewayError;

/// Finds the client key in `x-api-key`, `x-goog-api-key`, `Authorization: Bearer …` or, where
/// the API puts it there (Gemini), the `key` query parameter, and returns its index.
///
/// Every configured key is compared, each in constant time, so the answer's timing does not
/// reveal how much of a guess was right or which key it resembled.
pub fn authenticate(config: &Config, headers: &HeaderMap) -> Result<usize, GatewayError> {
    authenticate_with(config, headers, None)
}

/// `authenticate`, also accepting the key from a `key=` query (Gemini's clients send it so).
pub fn authenticate_with(config: &Config, headers: &HeaderMap, query: Option<&str>) -> Result<usize, GatewayError> {
    let from_query = query.and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "key").map(|(_, v)| v));
    let presented = match presented_key(headers)? {
        Some(key) => std::borrow::Cow::Borrowed(key),
        None => from_query.filter(|k| !k.is_empty()).ok_or(GatewayError::MissingKey)?,
    };
    let mut found = None;
    for (i, client) in config.clients.iter().enumerate() {
        if client.key.matches(presented.as_bytes()) && found.is_none() {
            found = Some(i);
        }
    }
    found.ok_or(GatewayError::InvalidKey)
}

/// The key a request presents, if any; an `Authorization` header without the `Bearer` scheme
/// (a bare key) is refused, as other OpenAI-compatible servers refuse it.
fn presented_key(headers: &HeaderMap) -> Result<Option<&str>, GatewayError> {
    for name in [X_API_KEY, X_GOOG_API_KEY] {
        if let Some(key) = headers.get(&name).and_then(|v| v.to_str().ok()).map(str::trim) {
            if !key.is_empty() {
                return Ok(Some(key));
            }
        }
    }
    let Some(auth) = headers.get(http::header::AUTHORIZATION) else { return Ok(None) };
    let auth = auth.to_str().map_err(|_| GatewayError::AuthorizationScheme)?.trim();
    match auth.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(Some(token.trim()))
        }
        _ => Err(GatewayError::AuthorizationScheme),
    }
}

// Names built once: looking a header up by `&str` parses the name on every request.
const X_API_KEY: http::HeaderName = http::HeaderName::from_static("x-api-key");
const X_GOOG_API_KEY: http::HeaderName = http::HeaderName::from_static("x-goog-api-key");
