//! A mock OpenAI-format upstream on 127.0.0.1 that records every request and answers from a
//! script: normal completions and streams by default, or failures on command.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::speak::{self, Said};

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A completion saying "from <mock name>", in the dialect the request path names (OpenAI
    /// chat, Anthropic Messages, Gemini, OpenAI Responses), streamed if the request asked to.
    Normal,
    /// The same with this text or tool call.
    Says(Said),
    /// Status and JSON body.
    Json(u16, Value),
    /// Status, content type and raw body.
    Raw(u16, &'static str, String),
    /// SSE frames sent as given (each is a full `data: …` payload without the `data: ` prefix),
    /// each after its delay. No `[DONE]` unless listed.
    Stream(Vec<(Duration, String)>),
    /// The frames, then the connection breaks mid-body.
    StreamThenBreak(Vec<String>),
    /// The frames, then silence with the connection open.
    StreamThenHang(Vec<String>),
    /// 307 to this URL.
    Redirect(String),
    /// This SSE frame, again and again, as fast as the reader takes it, never ending.
    Endless(String),
    /// Never answers.
    Hang,
    /// Answers `Normal` after the delay.
    Delay(Duration),
}

/// What the mock received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub uri: String,
    pub headers: http::HeaderMap,
    pub body: Value,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
struct MockState {
    name: String,
    script: VecDeque<Reply>,
    fallback: Option<Reply>,
    models: Option<(u16, Value)>,
    received: Vec<Recorded>,
    raw_bodies: Vec<String>,
    /// Keeps no record of requests (long runs: the soak).
    forgetful: bool,
}

/// A running mock upstream.
#[derive(Clone)]
pub struct Mock {
    pub addr: SocketAddr,
    state: Arc<Mutex<MockState>>,
    /// Streams whose body was dropped before it finished (the client went away).
    pub cancelled_streams: Arc<AtomicUsize>,
}

impl Mock {
    pub async fn start(name: &str) -> Self {
        let state = Arc::new(Mutex::new(MockState { name: name.into(), ..Default::default() }));
        let cancelled_streams = Arc::new(AtomicUsize::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind mock");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new().fallback(handle).with_state((state.clone(), cancelled_streams.clone()));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, state, cancelled_streams }
    }

    /// `http://127.0.0.1:PORT/v1`.
    pub fn base(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Answers the next requests with these replies, in order (then `Normal` or the fallback).
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.lock().script.extend(replies);
    }

    /// Answers every unscripted request with `reply`.
    pub fn always(&self, reply: Reply) {
        self.state.lock().fallback = Some(reply);
    }

    /// What `GET …/models` answers.
    pub fn models(&self, status: u16, body: Value) {
        self.state.lock().models = Some((status, body));
    }

    /// Every request body as text, in order (for non-JSON bodies such as forms).
    pub fn raw_bodies(&self) -> Vec<String> {
        self.state.lock().raw_bodies.clone()
    }

    pub fn received(&self) -> Vec<Recorded> {
        self.state.lock().received.clone()
    }

    /// Chat requests received (not model listings).
    pub fn chat_requests(&self) -> Vec<Recorded> {
        self.received().into_iter().filter(|r| r.path.ends_with("/chat/completions")).collect()
    }

    /// Stops recording requests, so a long run does not grow the mock's memory.
    pub fn forget_requests(&self) {
        self.state.lock().forgetful = true;
    }

    pub fn count(&self) -> usize {
        self.chat_requests().len()
    }
}

type Shared = (Arc<Mutex<MockState>>, Arc<AtomicUsize>);

async fn handle(State((state, cancelled)): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let raw_body = String::from_utf8_lossy(&bytes).into_owned();
    let path = parts.uri.path().to_owned();
    let (reply, name, models) = {
        let mut s = state.lock();
        if !s.forgetful {
            s.received.push(Recorded {
                method: parts.method.to_string(),
                path: path.clone(),
                uri: parts.uri.to_string(),
                headers: parts.headers.clone(),
                body: body.clone(),
            });
            s.raw_bodies.push(raw_body);
        }
        let reply = s.script.pop_front().or_else(|| s.fallback.clone()).unwrap_or(Reply::Normal);
        (reply, s.name.clone(), s.models.clone())
    };
    if path.ends_with("/models") {
        let (status, listing) = models.unwrap_or((404, json!({"error": {"message": "no listing"}})));
        return json_reply(status, &listing);
    }
    if path.ends_with("/count_tokens") {
        return json_reply(200, &json!({"input_tokens": 42}));
    }
    if path.ends_with(":countTokens") {
        return json_reply(200, &json!({"totalTokens": 42}));
    }
    respond(reply, &name, &path, &body, cancelled).await
}

async fn respond(reply: Reply, name: &str, path: &str, request: &Value, cancelled: Arc<AtomicUsize>) -> Response {
    match reply {
        Reply::Normal => says(&Said::Text(format!("from {name}")), path, request, cancelled),
        Reply::Says(said) => says(&said, path, request, cancelled),
        Reply::Json(status, body) => json_reply(status, &body),
        Reply::Raw(status, content_type, body) => Response::builder()
            .status(status)
            .header("content-type", content_type)
            .body(Body::from(body))
            .expect("response"),
        Reply::Stream(frames) => sse(
            frames.into_iter().map(|(d, f)| (d, format!("data: {f}\n\n"))).collect::<Vec<_>>(),
            End::Close,
            cancelled,
        ),
        Reply::StreamThenBreak(frames) => sse(
            frames.into_iter().map(|f| (Duration::ZERO, format!("data: {f}\n\n"))).collect::<Vec<_>>(),
            End::Break,
            cancelled,
        ),
        Reply::StreamThenHang(frames) => sse(
            frames.into_iter().map(|f| (Duration::ZERO, format!("data: {f}\n\n"))).collect::<Vec<_>>(),
            End::Hang,
            cancelled,
        ),
        Reply::Redirect(location) => {
            Response::builder().status(307).header("location", location).body(Body::empty()).expect("response")
        }
        Reply::Endless(frame) => {
            sse(std::iter::repeat((Duration::ZERO, format!("data: {frame}\n\n"))), End::Close, cancelled)
        }
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            json_reply(500, &json!({}))
        }
        Reply::Delay(d) => {
            tokio::time::sleep(d).await;
            says(&Said::Text(format!("from {name}")), path, request, cancelled)
        }
    }
}

/// An answer in the dialect of `path`, streamed when the request asks (Gemini: by its method).
fn says(said: &Said, path: &str, request: &Value, cancelled: Arc<AtomicUsize>) -> Response {
    let dialect = speak::Dialect::of(path);
    let model = match &request["model"] {
        Value::Null => json!(path.rsplit('/').next().unwrap_or("").split(':').next().unwrap_or("")),
        model => model.clone(),
    };
    let stream = match dialect {
        speak::Dialect::Gemini => path.contains(":stream"),
        _ => request["stream"] == json!(true),
    };
    if !stream {
        return json_reply(200, &speak::whole(dialect, said, &model));
    }
    let include_usage = request["stream_options"]["include_usage"] == json!(true);
    let body = speak::streamed(dialect, said, &model, include_usage);
    sse(vec![(Duration::ZERO, body)], End::Close, cancelled)
}

fn json_reply(status: u16, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("response")
}

enum End {
    Close,
    Break,
    Hang,
}

/// Counts a stream as cancelled if it is dropped before it ends by itself.
struct DropGuard {
    finished: bool,
    cancelled: Arc<AtomicUsize>,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn sse(
    frames: impl IntoIterator<Item = (Duration, String), IntoIter: Send + 'static> + 'static,
    end: End,
    cancelled: Arc<AtomicUsize>,
) -> Response {
    let stream = async_stream(frames, end, cancelled);
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(stream))
        .expect("response")
}

fn async_stream(
    frames: impl IntoIterator<Item = (Duration, String), IntoIter: Send + 'static> + 'static,
    end: End,
    cancelled: Arc<AtomicUsize>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let guard = DropGuard { finished: false, cancelled };
    let state = (frames.into_iter(), Some(end), guard);
    futures_util::stream::unfold(state, |(mut frames, mut end, mut guard)| async move {
        if let Some((delay, frame)) = frames.next() {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            return Some((Ok(Bytes::from(frame)), (frames, end, guard)));
        }
        match end.take()? {
            End::Close => {
                guard.finished = true;
                drop(guard);
                None
            }
            End::Break => {
                // Give the frames time to reach the wire before the connection breaks.
                tokio::time::sleep(Duration::from_millis(200)).await;
                guard.finished = true;
                Some((Err(std::io::Error::other("connection broken on purpose")), (frames, None, guard)))
            }
            End::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                None
            }
        }
    })
}
