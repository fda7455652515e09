//! The native server against slow, idle, greedy and absent clients: each is cut off or made to
//! wait by a limit (see `native/src/server.rs`), and the gateway keeps serving everyone else.
//! Spoken over raw TCP, because an HTTP client library will not misbehave on request.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use uni_api_tests::{native_only, Mock, Reply, ServerLimits, TestGateway};

const PATIENCE: Duration = Duration::from_secs(10);

fn yaml(mock: &Mock) -> String {
    format!(
        "providers:\n  - provider: p\n    base_url: {}\n    api: sk-up\n    model: [m]\napi_keys:\n  - api: k\n",
        mock.base()
    )
}

fn limits(change: impl FnOnce(&mut ServerLimits)) -> ServerLimits {
    let mut limits = ServerLimits::default();
    change(&mut limits);
    limits
}

async fn gateway(change: impl FnOnce(&mut ServerLimits)) -> (Mock, TestGateway) {
    let mock = Mock::start("p").await;
    let gw = TestGateway::start_with_limits(&yaml(&mock), limits(change)).await;
    (mock, gw)
}

/// Reads until the server closes the connection (or `PATIENCE` runs out: a test failure).
async fn read_until_closed(tcp: &mut TcpStream) -> String {
    let mut all = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match tokio::time::timeout(PATIENCE, tcp.read(&mut buf)).await {
            Err(_) => panic!(
                "the connection was still open after {PATIENCE:?}; read so far: {}",
                String::from_utf8_lossy(&all)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => return String::from_utf8_lossy(&all).into_owned(),
            Ok(Ok(n)) => all.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads one response head and its `Content-Length` body from a kept-alive connection.
async fn read_response(tcp: &mut TcpStream) -> String {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(PATIENCE, tcp.read(&mut buf)).await.expect("an answer in time").expect("read");
        assert!(n > 0, "closed before a whole response: {}", String::from_utf8_lossy(&all));
        all.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&all).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
    }
}

fn status_of(response: &str) -> u16 {
    response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status line in {response:?}"))
}

#[tokio::test]
async fn a_request_head_sent_too_slowly_is_cut_off() {
    if native_only("inbound connections at the edge are Cloudflare's") {
        return;
    }
    let (_mock, gw) = gateway(|l| l.header_timeout = Duration::from_secs(1)).await;
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    tcp.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let started = Instant::now();
    read_until_closed(&mut tcp).await;
    assert!(started.elapsed() >= Duration::from_millis(900), "cut off before the timeout: {:?}", started.elapsed());
    // Everyone else is still served.
    assert_eq!(gw.get("/healthz", "k").await.0, 200);
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    if native_only("inbound connections at the edge are Cloudflare's") {
        return;
    }
    let (_mock, gw) = gateway(|l| l.header_timeout = Duration::from_secs(1)).await;
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    assert_eq!(status_of(&read_response(&mut tcp).await), 200);
    // The connection stays open for a next request only as long as the header timeout.
    assert_eq!(read_until_closed(&mut tcp).await, "");
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_answered_408() {
    if native_only("inbound connections at the edge are Cloudflare's") {
        return;
    }
    let (mock, gw) = gateway(|l| l.body_timeout = Duration::from_secs(1)).await;
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    tcp.write_all(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"model\":",
    )
    .await
    .unwrap();
    let response = read_response(&mut tcp).await;
    assert_eq!(status_of(&response), 408, "{response}");
    assert!(response.contains("\"code\":\"request_timeout\""), "{response}");
    assert!(mock.received().is_empty());
}

#[tokio::test]
async fn a_request_without_a_valid_key_is_refused_before_its_body_is_read() {
    if native_only("the Worker's body arrives through workerd") {
        return;
    }
    // The body timeout is long: a 401 that comes at once did not wait for the body.
    let (mock, gw) = gateway(|l| l.body_timeout = Duration::from_secs(60)).await;
    for auth in ["", "Authorization: Bearer wrong\r\n", "Authorization: k\r\n"] {
        let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
        let head = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n"
        );
        tcp.write_all(head.as_bytes()).await.unwrap();
        let started = Instant::now();
        let response = read_response(&mut tcp).await;
        assert_eq!(status_of(&response), 401, "{auth:?}: {response}");
        assert!(started.elapsed() < Duration::from_secs(5), "{auth:?} waited {:?}", started.elapsed());
    }
    assert!(mock.received().is_empty());
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    if native_only("inbound connections at the edge are Cloudflare's") {
        return;
    }
    let (_mock, gw) = gateway(|l| l.max_connections = 2).await;
    let first = TcpStream::connect(gw.addr).await.unwrap();
    let _second = TcpStream::connect(gw.addr).await.unwrap();
    // The kernel completes the handshake; the gateway does not take the connection yet.
    let mut third = TcpStream::connect(gw.addr).await.unwrap();
    third.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(700), third.read(&mut buf)).await;
    assert!(early.is_err(), "the third connection was served past a cap of two: {early:?}");
    drop(first);
    assert_eq!(status_of(&read_response(&mut third).await), 200);
}

#[tokio::test]
async fn a_client_that_stops_reading_its_stream_is_cut_off_and_the_upstream_cancelled() {
    if native_only("the Worker's writes are workerd's") {
        return;
    }
    let (mock, gw) = gateway(|l| l.write_timeout = Duration::from_secs(1)).await;
    let chunk = serde_json::json!({
        "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"content": "x".repeat(8 * 1024)}, "finish_reason": null}]
    });
    mock.script([Reply::Endless(chunk.to_string())]);
    let body = r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    // Never read: the socket buffers fill, the gateway's write waits, the write timeout fires.
    let deadline = Instant::now() + Duration::from_secs(20);
    while mock.cancelled_streams.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the upstream stream was still being read after 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(gw.get("/healthz", "k").await.0, 200);
}

#[tokio::test]
async fn shutdown_is_not_held_up_by_connections_that_never_sent_a_request() {
    if native_only("a Worker has no process to stop") {
        return;
    }
    let mock = Mock::start("p").await;
    let config = uni_api_core::Config::from_yaml_str(&yaml(&mock), &|_| None).unwrap();
    let gateway = uni_api_native::build_gateway(config, uni_api_native::native_platform().unwrap()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // Timers far longer than the test: only the shutdown itself can end these connections.
    let limits = limits(|l| {
        l.header_timeout = Duration::from_secs(300);
        l.shutdown_timeout = Duration::from_secs(300);
    });
    let server = tokio::spawn(uni_api_native::server::serve(listener, gateway, limits, async {
        let _ = stopped.await;
    }));
    let _silent = TcpStream::connect(addr).await.unwrap();
    let mut kept_alive = TcpStream::connect(addr).await.unwrap();
    kept_alive.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    assert_eq!(status_of(&read_response(&mut kept_alive).await), 200);
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    let finished = tokio::time::timeout(PATIENCE, server).await;
    assert!(finished.is_ok(), "the server was still running {PATIENCE:?} after shutdown began");
    finished.unwrap().unwrap().unwrap();
}
