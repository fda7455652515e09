//! `HttpClient` over the Workers fetch API. Bodies stream in both directions' responses; a
//! dropped request (client gone, timeout) aborts the upstream fetch.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use js_sys::{Reflect, Uint8Array};
use uni_api_core::platform::{BoxFuture, ByteStream, HttpClient, SendOptions, TransportError, TransportErrorKind};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{AbortSignal, Fetch, Headers, Method, Request, RequestInit, RequestRedirect, ResponseBody};

#[derive(Debug, Default)]
pub struct FetchClient;

impl HttpClient for FetchClient {
    fn send(
        &self,
        request: http::Request<Bytes>,
        _options: SendOptions,
    ) -> BoxFuture<'_, Result<http::Response<ByteStream>, TransportError>> {
        // A provider with a proxy is left out at config load (see `config::check_platform`), so options carry none.
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
            let controller = web_sys::AbortController::new().map_err(|e| other_js(&e))?;
            let signal = AbortSignal::from(controller.signal());
            // Aborts the fetch (and its body stream) when this future or the body is dropped.
            let guard = AbortOnDrop(Some(controller));
            let response = Fetch::Request(outbound)
                .send_with_signal(&signal)
                .await
                .map_err(|e| TransportError::new(TransportErrorKind::Connect, e.to_string()))?;
            let mut builder = http::Response::builder().status(response.status_code());
            for (name, value) in response.headers().entries() {
                builder = builder.header(name, value);
            }
            let body: ByteStream = match response.body() {
                ResponseBody::Stream(stream) => Box::pin(UpstreamBody {
                    reader: stream.get_reader().unchecked_into(),
                    pending: None,
                    finished: false,
                    _abort: guard,
                }),
                ResponseBody::Body(bytes) => Box::pin(futures_util::stream::iter([Ok(Bytes::from(bytes.clone()))])),
                ResponseBody::Empty => Box::pin(futures_util::stream::empty()),
            };
            builder.body(body).map_err(|e| other(worker::Error::RustError(e.to_string())))
        })
    }
}

fn other(e: worker::Error) -> TransportError {
    TransportError::new(TransportErrorKind::Other, e.to_string())
}

fn other_js(e: &JsValue) -> TransportError {
    TransportError::new(TransportErrorKind::Other, js_error_text(e))
}

#[wasm_bindgen]
extern "C" {
    // Both throw when called outside a request's context: a body dropped after its request ended
    // (the client left and the runtime finalized the stream) runs its clean-up in global scope.
    // Declared with `catch`, so that stays an error value instead of an exception through Rust,
    // which in this panic=abort module would tear the whole instance down.
    /// An `AbortController`, through a method that may throw.
    type Abortable;
    #[wasm_bindgen(method, catch, js_name = abort)]
    fn try_abort(this: &Abortable) -> Result<(), JsValue>;
    /// A `ReadableStreamDefaultReader`, through a method that may throw.
    type Cancellable;
    #[wasm_bindgen(method, catch, js_name = cancel)]
    fn try_cancel(this: &Cancellable) -> Result<js_sys::Promise, JsValue>;
}

/// An upstream response body, read chunk by chunk. Dropped before its end (the client left, a
/// timeout), it cancels the body and aborts the fetch, and lets go of its reader without
/// `releaseLock()`: workerd throws from `releaseLock()` while a read is pending (as wasm-streams'
/// reader does when dropped), and a JavaScript exception inside this panic=abort module tears
/// the whole instance down, with every request it is serving and its queued statistics.
struct UpstreamBody {
    reader: web_sys::ReadableStreamDefaultReader,
    pending: Option<JsFuture>,
    finished: bool,
    _abort: AbortOnDrop,
}

impl Stream for UpstreamBody {
    type Item = Result<Bytes, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.finished {
            return Poll::Ready(None);
        }
        let read = match &mut this.pending {
            Some(read) => read,
            pending => pending.insert(JsFuture::from(this.reader.read())),
        };
        let outcome = match Pin::new(read).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(outcome) => outcome,
        };
        this.pending = None;
        let chunk = match outcome {
            Ok(chunk) => chunk,
            Err(error) => {
                this.finished = true;
                return Poll::Ready(Some(Err(TransportError::new(TransportErrorKind::Body, js_error_text(&error)))));
            }
        };
        if Reflect::get(&chunk, &JsValue::from_str("done")).map_or(true, |done| done.is_truthy()) {
            this.finished = true;
            return Poll::Ready(None);
        }
        let value = Reflect::get(&chunk, &JsValue::from_str("value")).unwrap_or(JsValue::UNDEFINED);
        Poll::Ready(Some(Ok(Bytes::from(value.unchecked_into::<Uint8Array>().to_vec()))))
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        if !self.finished {
            // A rejected cancel (the fetch already aborted or failed) is of no interest.
            if let Ok(cancelled) = self.reader.unchecked_ref::<Cancellable>().try_cancel() {
                wasm_bindgen_futures::spawn_local(async move {
                    let _ = JsFuture::from(cancelled).await;
                });
            }
        }
    }
}

fn js_error_text(error: &JsValue) -> String {
    match error.dyn_ref::<js_sys::Error>() {
        Some(error) => String::from(error.message()),
        None => error.as_string().unwrap_or_else(|| "the upstream body failed".to_owned()),
    }
}

struct AbortOnDrop(Option<web_sys::AbortController>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(controller) = self.0.take() {
            let _ = controller.unchecked_ref::<Abortable>().try_abort();
        }
    }
}
