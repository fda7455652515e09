//! The listening side: hyper's HTTP/1 and HTTP/2 server with its timers, a cap on open connections, a
//! write timeout, and a shutdown that lets requests finish within a deadline.
//!
//! | limit | environment | default | a client that … |
//! |---|---|---|---|
//! | connections | `MAX_CONNECTIONS` | 4096 | … is one too many waits in the kernel's backlog until one closes |
//! | header read | `HEADER_TIMEOUT` | 15 s | … sends its request head slowly, or idles on a kept-alive connection, is cut off |
//! | body idle | `BODY_TIMEOUT` | 30 s | … stops sending its body gets 408 |
//! | write | `WRITE_TIMEOUT` | 60 s | … stops reading its response is cut off; its upstream request is cancelled |
//! | drain | `SHUTDOWN_TIMEOUT` | 30 s | … is still being answered at shutdown is cut off after it |
//!
//! A request that needs a key and carries no valid one is answered 401 from its head; its body is
//! never read.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_io_timeout::TimeoutStream;
use uni_api_core::gateway::ClientAddr;
use uni_api_core::{Gateway, GatewayError, ResponseBody};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = UnsyncBoxBody<Bytes, BoxError>;

/// What one client may hold and for how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub write_timeout: Duration,
    pub shutdown_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            header_timeout: Duration::from_secs(15),
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

impl ServerLimits {
    /// The defaults, overridden by `MAX_CONNECTIONS` and the `*_TIMEOUT` variables (seconds).
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut limits = Self::default();
        let number = |name: &str| -> Result<Option<u64>, String> {
            match env(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .map(Some)
                    .ok_or_else(|| format!("{name}={v} is not a positive whole number")),
            }
        };
        if let Some(n) = number("MAX_CONNECTIONS")? {
            limits.max_connections = n as usize;
        }
        for (name, slot) in [
            ("HEADER_TIMEOUT", &mut limits.header_timeout),
            ("BODY_TIMEOUT", &mut limits.body_timeout),
            ("WRITE_TIMEOUT", &mut limits.write_timeout),
            ("SHUTDOWN_TIMEOUT", &mut limits.shutdown_timeout),
        ] {
            if let Some(secs) = number(name)? {
                *slot = Duration::from_secs(secs);
            }
        }
        Ok(limits)
    }
}

/// Serves `gateway` on `listener` until `shutdown`, then drains: no new connections, idle ones
/// closed, requests in flight given `shutdown_timeout` to finish.
pub async fn serve(
    listener: TcpListener,
    gateway: Gateway,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = Arc::new(limits);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = auto::Builder::new(TokioExecutor::new());
    // hyper's header-read timer also runs while a kept-alive connection waits for its next
    // request, so it closes idle connections too.
    http.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
    http.http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.header_timeout)
        .keep_alive_timeout(limits.header_timeout);
    tokio::pin!(shutdown);
    loop {
        // At the cap, new connections wait in the kernel's accept backlog.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.map_err(std::io::Error::other)?,
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait a moment rather than spin.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Without it small SSE frames wait for the peer's delayed ACK (up to 40 ms each).
        let _ = tcp.set_nodelay(true);
        let mut io = TimeoutStream::new(tcp);
        io.set_write_timeout(Some(limits.write_timeout));
        let io = TokioIo::new(Box::pin(io));
        let gateway = gateway.clone();
        let request_limits = limits.clone();
        let service = hyper::service::service_fn(move |request| {
            let gateway = gateway.clone();
            let limits = request_limits.clone();
            async move { Ok::<_, Infallible>(handle(&gateway, &limits, peer, request).await) }
        });
        let connection = graceful.watch(http.serve_connection(io, service).into_owned());
        tokio::spawn(async move {
            // Errors here are the client's (a reset, a timeout); the request log has the rest.
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    match tokio::time::timeout(limits.shutdown_timeout, graceful.shutdown()).await {
        Ok(()) => tracing::info!("every connection finished"),
        Err(_) => tracing::warn!(
            "connections still open after SHUTDOWN_TIMEOUT ({} s) were cut off",
            limits.shutdown_timeout.as_secs()
        ),
    }
    Ok(())
}

async fn handle(
    gateway: &Gateway,
    limits: &ServerLimits,
    peer: SocketAddr,
    request: http::Request<Incoming>,
) -> http::Response<Body> {
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(ClientAddr(peer.ip()));
    if let Some(refusal) = gateway.precheck(&parts) {
        return into_hyper(refusal);
    }
    let refuse = |error: GatewayError| into_hyper(gateway.error_response(parts.uri.path(), &error));
    let limit = gateway.max_body_bytes();
    let declared = parts.headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return refuse(GatewayError::PayloadTooLarge { limit });
    }
    let bytes = match read_body(body, limit, limits.body_timeout).await {
        Ok(bytes) => bytes,
        Err(error) => return refuse(error),
    };
    into_hyper(gateway.handle(http::Request::from_parts(parts, bytes)).await)
}

/// The whole body, at most `limit` bytes, each piece within `idle` of the one before.
async fn read_body(mut body: Incoming, limit: usize, idle: Duration) -> Result<Bytes, GatewayError> {
    let mut bytes = BytesMut::new();
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => return Err(GatewayError::BodyTimeout { secs: idle.as_secs() }),
            Ok(None) => return Ok(bytes.freeze()),
            Ok(Some(Err(e))) => return Err(GatewayError::BadRequest(format!("could not read the request body: {e}"))),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > limit {
                return Err(GatewayError::PayloadTooLarge { limit });
            }
            bytes.extend_from_slice(&data);
        }
    }
}

fn into_hyper(response: http::Response<ResponseBody>) -> http::Response<Body> {
    response.map(|body| match body {
        ResponseBody::Full(bytes) => Full::new(bytes).map_err(|never| match never {}).boxed_unsync(),
        ResponseBody::Stream(stream) => {
            StreamBody::new(stream.map(|frame| Ok::<_, BoxError>(Frame::data(frame)))).boxed_unsync()
        }
        // An error item makes hyper abort the response: the client sees a broken transfer.
        ResponseBody::Relay(stream) => {
            StreamBody::new(stream.map_ok(Frame::data).map_err(|e| Box::new(e) as BoxError)).boxed_unsync()
        }
    })
}
