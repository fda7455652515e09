//! `HttpClient` over reqwest (rustls, HTTP/1.1 and HTTP/2, http and SOCKS5 proxies).

use std::collections::HashMap;
use std::error::Error as _;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use parking_lot::Mutex;
use uni_api_core::platform::{BoxFuture, ByteStream, HttpClient, SendOptions, TransportError, TransportErrorKind};

/// One pooled client per proxy setting, created on first use.
pub struct ReqwestClient {
    clients: Mutex<HashMap<Option<String>, reqwest::Client>>,
    /// Upstream URLs repeat on every request; parsing one (with IDNA host processing) costs more
    /// than looking it up.
    urls: Mutex<HashMap<String, reqwest::Url>>,
}

/// Bounds the URL cache: a config has few distinct upstream URLs.
const MAX_CACHED_URLS: usize = 1024;

impl ReqwestClient {
    pub fn new() -> Self {
        install_crypto_provider();
        Self { clients: Mutex::new(HashMap::new()), urls: Mutex::new(HashMap::new()) }
    }

    fn url(&self, uri: &http::Uri) -> Result<reqwest::Url, TransportError> {
        let text = uri.to_string();
        let mut urls = self.urls.lock();
        if let Some(url) = urls.get(&text) {
            return Ok(url.clone());
        }
        let url = reqwest::Url::parse(&text)
            .map_err(|_| TransportError::new(TransportErrorKind::Other, "invalid upstream URL"))?;
        if urls.len() >= MAX_CACHED_URLS {
            urls.clear();
        }
        urls.insert(text, url.clone());
        Ok(url)
    }

    fn client(&self, proxy: Option<&String>) -> Result<reqwest::Client, TransportError> {
        let mut clients = self.clients.lock();
        if let Some(client) = clients.get(&proxy.cloned()) {
            return Ok(client.clone());
        }
        let mut builder = reqwest::Client::builder()
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(15))
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            // An API that redirects a POST is misconfigured; following it would resend the body
            // and credentials elsewhere. A 3xx is reported as a failed attempt instead.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("uni-api/", env!("CARGO_PKG_VERSION")));
        builder = match proxy {
            Some(url) => builder.proxy(
                reqwest::Proxy::all(url)
                    .map_err(|_| TransportError::new(TransportErrorKind::Other, "invalid proxy URL"))?,
            ),
            // Upstreams are configured explicitly; ignore HTTP(S)_PROXY so behaviour does not
            // depend on the environment the binary happens to start in.
            None => builder.no_proxy(),
        };
        let client = builder.build().map_err(|e| TransportError::new(TransportErrorKind::Other, describe(&e)))?;
        clients.insert(proxy.cloned(), client.clone());
        Ok(client)
    }
}

impl Default for ReqwestClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClient for ReqwestClient {
    fn send(
        &self,
        request: http::Request<Bytes>,
        options: SendOptions,
    ) -> BoxFuture<'_, Result<http::Response<ByteStream>, TransportError>> {
        Box::pin(async move {
            let client = self.client(options.proxy.as_ref())?;
            let (parts, body) = request.into_parts();
            let mut request = reqwest::Request::new(parts.method, self.url(&parts.uri)?);
            *request.headers_mut() = parts.headers;
            *request.body_mut() = Some(body.into());
            let response = client.execute(request).await.map_err(|e| transport_error(&e))?;
            let mut builder = http::Response::builder().status(response.status()).version(response.version());
            if let Some(headers) = builder.headers_mut() {
                *headers = response.headers().clone();
            }
            let body: ByteStream =
                Box::pin(response.bytes_stream().map(|chunk| chunk.map_err(|e| transport_error(&e))));
            builder.body(body).map_err(|e| TransportError::new(TransportErrorKind::Other, e.to_string()))
        })
    }
}

fn transport_error(error: &reqwest::Error) -> TransportError {
    let kind = if error.is_timeout() {
        TransportErrorKind::Timeout
    } else if error.is_connect() {
        TransportErrorKind::Connect
    } else if error.is_body() || error.is_decode() {
        TransportErrorKind::Body
    } else {
        TransportErrorKind::Other
    };
    TransportError::new(kind, describe(error))
}

/// The error and its causes, without the URL (query strings may carry upstream keys).
fn describe(error: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut source = error.source();
    while let Some(cause) = source {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if text.is_empty() {
        text = if error.is_connect() { "could not connect".into() } else { "request failed".into() };
    }
    text
}

fn install_crypto_provider() {
    // Ignoring the result: another part of the process may have installed one already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
