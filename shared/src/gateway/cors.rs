//! CORS: which web pages may call the API from a browser, the answer to a preflight, and the
//! header every response carries. Browsers never send credentials on a preflight, so it is
//! answered before authentication; the real request that follows is authenticated as any other.

use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use crate::body::ResponseBody;
use crate::config::CorsOrigins;

/// The request headers a page may always send: every API's own auth and version headers. A
/// preflight also gets back whatever else it asks for (`Access-Control-Request-Headers`),
/// because `*` does not cover `Authorization`.
pub const ALLOWED_HEADERS: &str = "authorization, content-type, x-api-key, anthropic-version, anthropic-beta, \
     anthropic-dangerous-direct-browser-access, x-goog-api-key, x-goog-api-client, openai-organization, \
     openai-project, openai-beta, idempotency-key";
const ALLOWED_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
/// Response headers a page's script may read beyond the safelisted ones.
const EXPOSED_HEADERS: &str = "retry-after, content-length, idempotent-replayed";
/// How long a browser may reuse a preflight's answer (Chromium caps it at two hours).
const MAX_AGE_SECS: &str = "86400";
/// A longer `Access-Control-Request-Headers` is not echoed (browsers send a few names).
const MAX_REQUESTED_HEADERS: usize = 1024;

/// What CORS adds to the responses of one request, decided from its head before the request is
/// consumed, applied once by the host to whatever response it sends.
#[derive(Clone, Debug, Default)]
pub struct CorsStamp {
    allow_origin: Option<HeaderValue>,
    /// The answer depends on `Origin` (a list of origins): caches must key on it.
    varies: bool,
    /// The request came from a page (it has an `Origin`): only a browser reads the exposed
    /// headers, so other clients are spared the bytes.
    from_page: bool,
}

impl CorsStamp {
    /// Any page: what the gateway answers when it has no config to ask.
    pub fn any() -> Self {
        Self { allow_origin: Some(HeaderValue::from_static("*")), varies: false, from_page: true }
    }

    pub fn for_request(origins: &CorsOrigins, request: &HeaderMap) -> Self {
        let from_page = request.contains_key(ORIGIN);
        match origins {
            CorsOrigins::Any => Self { from_page, ..Self::any() },
            CorsOrigins::Off => Self::default(),
            CorsOrigins::Only(allowed) => {
                let origin = request
                    .get(ORIGIN)
                    .filter(|origin| origin.to_str().is_ok_and(|o| allowed.iter().any(|a| a.eq_ignore_ascii_case(o))));
                Self { allow_origin: origin.cloned(), varies: true, from_page }
            }
        }
    }

    pub fn apply<B>(&self, response: &mut http::Response<B>) {
        let headers = response.headers_mut();
        if let Some(origin) = &self.allow_origin {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            if self.from_page {
                headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED_HEADERS));
            }
        }
        if self.varies {
            headers.append(VARY, HeaderValue::from_static("origin"));
        }
    }
}

/// The 204 a preflight (`OPTIONS`, any path) gets, unless CORS is off.
pub fn preflight(origins: &CorsOrigins, method: &Method, request: &HeaderMap) -> Option<http::Response<ResponseBody>> {
    if *method != Method::OPTIONS || *origins == CorsOrigins::Off {
        return None;
    }
    let mut response = http::Response::new(ResponseBody::Full(bytes::Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    let allowed_headers = match requested_headers(request) {
        Some(extra) => HeaderValue::from_str(&format!("{ALLOWED_HEADERS}, {extra}")).ok(),
        None => None,
    };
    let headers = response.headers_mut();
    headers.insert(ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOWED_METHODS));
    headers.insert(
        ACCESS_CONTROL_ALLOW_HEADERS,
        allowed_headers.unwrap_or_else(|| HeaderValue::from_static(ALLOWED_HEADERS)),
    );
    headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE_SECS));
    headers.append(VARY, HeaderValue::from_static("access-control-request-headers"));
    CorsStamp::for_request(origins, request).apply(&mut response);
    Some(response)
}

/// The header names a preflight asks for, when they are plain names (token characters, commas
/// and spaces) of a sane length.
fn requested_headers(request: &HeaderMap) -> Option<&str> {
    let asked = request.get(ACCESS_CONTROL_REQUEST_HEADERS)?.to_str().ok()?.trim();
    let plain = asked.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_, ".contains(&b));
    (plain && !asked.is_empty() && asked.len() <= MAX_REQUESTED_HEADERS).then_some(asked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (http::HeaderName::from_static(k), HeaderValue::from_static(v))).collect()
    }

    fn stamped(origins: &CorsOrigins, headers: &HeaderMap) -> HeaderMap {
        let mut response = http::Response::new(());
        CorsStamp::for_request(origins, headers).apply(&mut response);
        response.headers().clone()
    }

    #[test]
    fn any_origin_is_star_a_list_echoes_its_members_and_off_adds_nothing() {
        let from = request(&[("origin", "https://chat.example.com")]);
        assert_eq!(stamped(&CorsOrigins::Any, &from)["access-control-allow-origin"], "*");
        let only = CorsOrigins::Only(vec!["https://chat.example.com".into()]);
        let got = stamped(&only, &from);
        assert_eq!(got["access-control-allow-origin"], "https://chat.example.com");
        assert_eq!(got["vary"], "origin");
        let stranger = stamped(&only, &request(&[("origin", "https://evil.example")]));
        assert!(stranger.get("access-control-allow-origin").is_none());
        assert!(stamped(&CorsOrigins::Off, &from).is_empty());
    }

    #[test]
    fn a_preflight_lists_the_apis_headers_and_echoes_plain_requested_ones() {
        let asked = request(&[("access-control-request-headers", "x-stainless-os, x-custom")]);
        let response = preflight(&CorsOrigins::Any, &Method::OPTIONS, &asked).unwrap();
        assert_eq!(response.status(), 204);
        let allowed = response.headers()["access-control-allow-headers"].to_str().unwrap();
        for name in ["authorization", "x-api-key", "anthropic-version", "x-goog-api-key", "x-stainless-os"] {
            assert!(allowed.contains(name), "{allowed}");
        }
        let odd = request(&[("access-control-request-headers", "x-a; drop=1")]);
        let response = preflight(&CorsOrigins::Any, &Method::OPTIONS, &odd).unwrap();
        assert_eq!(response.headers()["access-control-allow-headers"], ALLOWED_HEADERS);
        assert!(preflight(&CorsOrigins::Off, &Method::OPTIONS, &asked).is_none());
        assert!(preflight(&CorsOrigins::Any, &Method::POST, &asked).is_none());
    }
}
