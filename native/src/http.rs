//! `HttpClient` for the native build: hyper's pooled client for direct upstreams (the hot path:
//! `http::Request` in, no URL re-parsing), reqwest for upstreams behind an http or SOCKS5 proxy.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::time::Duration;

use crate::guarded::GuardedClients;
use bytes::Bytes;
use futures_util::StreamExt;
use http::header::USER_AGENT;
use http::HeaderValue;
use http_body_util::{BodyStream, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use parking_lot::Mutex;
use uni_api_core::platform::{BoxFuture, ByteStream, HttpClient, SendOptions, TransportError, TransportErrorKind};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
const POOL_MAX_IDLE_PER_HOST: usize = 256;
/// Bounds the URL cache of the proxied path: a config has few distinct upstream URLs.
const MAX_CACHED_URLS: usize = 1024;
const AGENT: &str = concat!("uni-api/", env!("CARGO_PKG_VERSION"));

type DirectClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The native outbound client.
pub struct NativeHttpClient {
    direct: DirectClient,
    /// One pooled reqwest client per proxy URL, created on first use.
    proxied: Mutex<HashMap<String, reqwest::Client>>,
    urls: Mutex<HashMap<String, reqwest::Url>>,
    /// For requests on a client's behalf: only the addresses they may reach.
    guarded: GuardedClients,
}

impl NativeHttpClient {
    pub fn new() -> Result<Self, String> {
        // (Fallible for future TLS options; building the verifier itself cannot fail today.)
        install_crypto_provider();
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_platform_verifier()
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let direct = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            .pool_timer(TokioTimer::new())
            .build(https);
        Ok(Self {
            direct,
            proxied: Mutex::new(HashMap::new()),
            urls: Mutex::new(HashMap::new()),
            guarded: GuardedClients::default(),
        })
    }

    async fn send_direct(
        &self,
        mut request: http::Request<Bytes>,
    ) -> Result<http::Response<ByteStream>, TransportError> {
        if !request.headers().contains_key(USER_AGENT) {
            request.headers_mut().insert(USER_AGENT, HeaderValue::from_static(AGENT));
        }
        let response = self.direct.request(request.map(Full::new)).await.map_err(|e| {
            let kind = if e.is_connect() { TransportErrorKind::Connect } else { TransportErrorKind::Other };
            TransportError::new(kind, describe(&e))
        })?;
        let (parts, body) = response.into_parts();
        let stream = BodyStream::new(body).filter_map(|frame| async move {
            match frame {
                Ok(frame) => frame.into_data().ok().map(Ok),
                Err(e) => Some(Err(TransportError::new(TransportErrorKind::Body, describe(&e)))),
            }
        });
        Ok(http::Response::from_parts(parts, Box::pin(stream) as ByteStream))
    }

    async fn send_proxied(
        &self,
        request: http::Request<Bytes>,
        proxy: &str,
    ) -> Result<http::Response<ByteStream>, TransportError> {
        let client = self.proxied_client(proxy)?;
        self.send_reqwest(&client, request).await
    }

    async fn send_reqwest(
        &self,
        client: &reqwest::Client,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<ByteStream>, TransportError> {
        let (parts, body) = request.into_parts();
        let mut outbound = reqwest::Request::new(parts.method, self.url(&parts.uri)?);
        *outbound.headers_mut() = parts.headers;
        *outbound.body_mut() = Some(body.into());
        let response = client.execute(outbound).await.map_err(|e| reqwest_error(&e))?;
        let mut builder = http::Response::builder().status(response.status()).version(response.version());
        if let Some(headers) = builder.headers_mut() {
            *headers = response.headers().clone();
        }
        let body: ByteStream = Box::pin(response.bytes_stream().map(|chunk| chunk.map_err(|e| reqwest_error(&e))));
        builder.body(body).map_err(|e| TransportError::new(TransportErrorKind::Other, e.to_string()))
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

    fn proxied_client(&self, proxy: &str) -> Result<reqwest::Client, TransportError> {
        let mut clients = self.proxied.lock();
        if let Some(client) = clients.get(proxy) {
            return Ok(client.clone());
        }
        let proxy_setting = reqwest::Proxy::all(proxy)
            .map_err(|_| TransportError::new(TransportErrorKind::Other, "invalid proxy URL"))?;
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            .user_agent(AGENT)
            // An API that redirects a POST is misconfigured; following it would resend the body
            // and credentials elsewhere. A 3xx is reported as a failed attempt instead.
            .redirect(reqwest::redirect::Policy::none())
            .proxy(proxy_setting)
            .build()
            .map_err(|e| TransportError::new(TransportErrorKind::Other, describe(&e)))?;
        clients.insert(proxy.to_owned(), client.clone());
        Ok(client)
    }
}

impl HttpClient for NativeHttpClient {
    fn send(
        &self,
        request: http::Request<Bytes>,
        options: SendOptions,
    ) -> BoxFuture<'_, Result<http::Response<ByteStream>, TransportError>> {
        Box::pin(async move {
            match (options.destinations, options.proxy) {
                (Some(destinations), proxy) => {
                    let client = self.guarded.client(&destinations, proxy.as_deref(), AGENT)?;
                    self.send_reqwest(&client, request).await
                }
                (None, None) => self.send_direct(request).await,
                (None, Some(proxy)) => self.send_proxied(request, &proxy).await,
            }
        })
    }
}

fn reqwest_error(error: &reqwest::Error) -> TransportError {
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

/// The error's causes, innermost last, without any URL (query strings may carry upstream keys).
fn describe(error: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    if parts.is_empty() {
        // Top-level reqwest errors name the URL; hyper's do not, but say little. Keep it generic.
        return "the request failed".into();
    }
    parts.join(": ")
}

/// Installs rustls' ring provider for the process (reqwest needs one); idempotent.
pub fn install_crypto_provider() {
    // Ignoring the result: another part of the process may have installed one already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
