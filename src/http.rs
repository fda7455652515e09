//! `HttpClient` over the Workers fetch API. Bodies stream in both directions' responses; a
//! dropped request (client gone, timeout) aborts the upstream fetch.

use bytes::Bytes;
use futures_util::StreamExt;
use uni_api_core::platform::{BoxFuture, ByteStream, HttpClient, SendOptions, TransportError, TransportErrorKind};
use worker::{AbortController, Fetch, Headers, Method, Request, RequestInit, RequestRedirect};

#[derive(Debug, Default)]
pub struct FetchClient;

impl HttpClient for FetchClient {
    fn send(
        &self,
        request: http::Request<Bytes>,
        _options: SendOptions,
    ) -> BoxFuture<'_, Result<http::Response<ByteStream>, TransportError>> {
        // Proxies are refused at config load (see `config::check_platform`), so options carry none.
        // `options.destinations` needs no check here: the core refuses private literal addresses,
        // and Cloudflare's network does not route a Worker's fetch to private ones.
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let headers = Headers::new();
            for (name, value) in &parts.headers {
                if let Ok(value) = value.to_str() {
                    headers.append(name.as_str(), value).map_err(other)?;
                }
            }
            let mut init = RequestInit::new();
            // As natively: a redirect is an answer, not followed, so a key never goes to another
            // host (and an image URL cannot bounce to an address its check did not see).
            init.with_method(Method::from(parts.method.as_str().to_owned()))
                .with_headers(headers)
                .with_redirect(RequestRedirect::Manual);
            if !body.is_empty() {
                init.with_body(Some(js_sys::Uint8Array::from(body.as_ref()).into()));
            }
            let outbound = Request::new_with_init(&parts.uri.to_string(), &init).map_err(other)?;
            let controller = AbortController::default();
            let signal = controller.signal();
            // Aborts the fetch (and its body stream) when this future or the body is dropped.
            let guard = AbortOnDrop(Some(controller));
            let mut response = Fetch::Request(outbound)
                .send_with_signal(&signal)
                .await
                .map_err(|e| TransportError::new(TransportErrorKind::Connect, e.to_string()))?;
            let mut builder = http::Response::builder().status(response.status_code());
            for (name, value) in response.headers().entries() {
                builder = builder.header(name, value);
            }
            let stream = response.stream().map_err(other)?;
            let body: ByteStream = Box::pin(stream.map(move |chunk| {
                let _keep = &guard;
                chunk.map(Bytes::from).map_err(|e| TransportError::new(TransportErrorKind::Body, e.to_string()))
            }));
            builder.body(body).map_err(|e| other(worker::Error::RustError(e.to_string())))
        })
    }
}

fn other(e: worker::Error) -> TransportError {
    TransportError::new(TransportErrorKind::Other, e.to_string())
}

struct AbortOnDrop(Option<AbortController>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(controller) = self.0.take() {
            controller.abort();
        }
    }
}
