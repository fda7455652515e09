//! The `uni-api` binary: config sources, config errors, start-up, logs without secrets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_uni-api");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn write_config(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// Starts the binary and waits for its "listening" line; returns the child and the log so far.
fn start(args: &[&str], envs: &[(&str, &str)]) -> (Child, Vec<String>) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("DISABLE_DATABASE", "true")
        .envs(envs.iter().copied())
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    let mut reader = BufReader::new(stdout);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || Instant::now() > deadline {
            panic!("the gateway did not start: {lines:?}");
        }
        let done = line.contains("listening on");
        lines.push(line);
        if done {
            break;
        }
    }
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = reader.read_to_string(&mut rest);
    });
    (child, lines)
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn http(port: u16, request: &str) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out
}

fn chat_request(header: &str, body: &str) -> String {
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n{header}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn a_config_error_stops_start_naming_the_file_and_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        &dir,
        "bad.yaml",
        "providers:\n  - provider: a\n    base_url: http://127.0.0.1:9/v1\n    model: [m]\n    preferences:\n      model_timeout: { m: soon }\napi_keys:\n  - api: sk-secret-client\n",
    );
    let out =
        Command::new(BIN).args(["--config", &path, "--port", "0"]).env("DISABLE_DATABASE", "true").output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.yaml"), "{stderr}");
    assert!(stderr.contains("providers[0].preferences.model_timeout.m"), "{stderr}");
    assert!(!stderr.contains("sk-secret"), "{stderr}");

    let missing =
        Command::new(BIN).args(["--config", "/nonexistent/api.yaml"]).env("DISABLE_DATABASE", "true").output().unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read /nonexistent/api.yaml"));
}

#[test]
fn it_starts_from_config_url_warns_about_unknown_keys_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        &dir,
        "api.yaml",
        "providers:\n  - provider: a\n    base_url: http://127.0.0.1:9/v1\n    api: sk-secret-upstream\n    model: [m]\n    surprise: 1\napi_keys:\n  - api: sk-secret-client\n    role: tester\n",
    );
    let port = free_port();
    let (child, lines) = start(&["--host", "127.0.0.1"], &[("CONFIG_URL", &path), ("PORT", &port.to_string())]);
    let log = lines.join("");
    assert!(log.contains("providers[0].surprise: unknown key, ignored"), "{log}");
    let health = http(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let reply = http(port, &chat_request("Authorization: Bearer sk-secret-client", r#"{"model":"m","messages":[]}"#));
    assert!(reply.starts_with("HTTP/1.1 502"), "{reply}");
    assert!(!reply.contains("sk-secret"), "{reply}");
    stop(child);
}

#[test]
fn request_logs_name_the_role_and_never_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        &dir,
        "api.yaml",
        "providers:\n  - provider: a\n    base_url: http://127.0.0.1:9/v1\n    api: sk-secret-upstream\n    model: [m]\napi_keys:\n  - api: sk-secret-client\n    role: tester\n",
    );
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["--config", &path, "--host", "127.0.0.1", "--port", &port.to_string()])
        .env("DISABLE_DATABASE", "true")
        .env("RUST_LOG", "debug")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = http(port, &chat_request("x-api-key: sk-secret-client", r#"{"model":"m","messages":[]}"#));
    let forged =
        r#"{"model":"m\r\n2026-01-01T00:00:00Z  INFO forged line","messages":[{"role":"user","content":"hi"}]}"#;
    let _ = http(port, &chat_request("x-api-key: sk-secret-client", forged));
    let messages = r#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}"#;
    let _ = http(
        port,
        &chat_request("x-api-key: sk-secret-client", messages).replace("/v1/chat/completions", "/v1/messages"),
    );
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("role=tester"), "{log}");
    assert!(log.contains("model=m"), "{log}");
    assert!(log.contains("door=openai") && log.contains("door=anthropic"), "each line names the door: {log}");
    assert!(!log.contains("sk-secret"), "{log}");
    assert!(log.contains(r"m\r\n2026-01-01T00:00:00Z  INFO forged line"), "the model name is escaped: {log}");
    assert!(!log.lines().any(|l| l.starts_with("2026-01-01")), "no forged line: {log}");
}

/// Serves `body` once over HTTP on 127.0.0.1 and returns the URL.
fn serve_once(body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let reply = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    format!("http://127.0.0.1:{port}/configs/api.yaml?token=secret-token")
}

#[test]
fn config_url_may_be_an_http_url() {
    let url = serve_once("providers: []\napi_keys:\n  - api: sk-from-url\n".into());
    let port = free_port();
    let (child, lines) = start(&["--host", "127.0.0.1", "--port", &port.to_string()], &[("CONFIG_URL", &url)]);
    let log = lines.join("");
    assert!(log.contains("config http://127.0.0.1:"), "{log}");
    assert!(!log.contains("secret-token"), "the URL's query must not be logged: {log}");
    let reply = http(
        port,
        "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-from-url\r\nConnection: close\r\n\r\n",
    );
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    stop(child);
}

#[test]
fn sigterm_flushes_queued_statistics_to_the_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        &dir,
        "api.yaml",
        "providers:\n  - provider: a\n    base_url: http://127.0.0.1:9/v1\n    model: [m]\napi_keys:\n  - api: sk-secret-client\n    role: tester\n",
    );
    let db = dir.path().join("nested/stats.db");
    let port = free_port();
    let (child, lines) = start(
        &["--config", &path, "--host", "127.0.0.1", "--port", &port.to_string()],
        &[("DISABLE_DATABASE", "false"), ("DB_PATH", db.to_str().unwrap())],
    );
    assert!(lines.join("").contains("statistics: SQLite at"), "{lines:?}");
    for _ in 0..3 {
        let reply =
            http(port, &chat_request("Authorization: Bearer sk-secret-client", r#"{"model":"m","messages":[]}"#));
        assert!(reply.starts_with("HTTP/1.1 502"), "{reply}");
    }
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit after SIGTERM: {:?}", out.status);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (rows, role, status, key_id): (i64, String, i64, String) = conn
        .query_row("SELECT COUNT(*), MAX(role), MAX(status), MAX(key_id) FROM uni_api_requests", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap();
    assert_eq!((rows, role.as_str(), status), (3, "tester", 502));
    assert!(!key_id.contains("secret") && key_id.len() == 16, "{key_id}");
}
