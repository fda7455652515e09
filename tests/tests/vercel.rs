//! The Vercel function (`api/index.rs`): its handler called in-process, and the function binary
//! served by `vercel_runtime`'s own local runner (`VERCEL_DEV_PORT`), against mock upstreams.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use uni_api_native::vercel::Function;
use uni_api_tests::process::free_port;
use uni_api_tests::sse::{content, ends_with_done};
use uni_api_tests::{chat_body, on_worker, stream_body, Client, Mock, Reply};

const BIN: &str = env!("CARGO_BIN_EXE_uni-api-vercel-under-test");

fn yaml(mock: &Mock, model: &str) -> String {
    format!("providers:\n  - provider: up\n    base_url: {}\n    api: sk-up\n    model: [{model}]\napi_keys:\n  - api: sk-client\n", mock.base())
}

fn post(path: &str, body: &Value) -> http::Request<Full<Bytes>> {
    http::Request::post(path)
        .header("authorization", "Bearer sk-client")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn chunk(text: &str) -> String {
    json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
    .to_string()
}

#[tokio::test]
async fn the_handler_serves_every_route_through_the_core_and_streams_as_it_goes() {
    if on_worker() {
        return;
    }
    let up = Mock::start("up").await;
    let config = yaml(&up, "m");
    let env = move |name: &str| (name == "API_YAML").then(|| config.clone());
    let function = Function::from_env(&env).await.expect("function");

    let response = function.handle(post("/v1/chat/completions", &chat_body("m")), None).await;
    assert_eq!(response.status(), 200);
    let body: Value = serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "from up");

    // Called at its own URL (no rewrite), the function serves the path after it.
    let request = http::Request::get("/api/index/v1/models")
        .header("authorization", "Bearer sk-client")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = function.handle(request, None).await;
    assert_eq!(response.status(), 200);
    let models: Value = serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(models["data"][0]["id"], "m");

    // A stream whose upstream then hangs: the first frame arrives anyway (nothing is buffered).
    up.script([Reply::StreamThenHang(vec![chunk("first ")])]);
    let response = function.handle(post("/v1/chat/completions", &stream_body("m")), None).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .expect("the first frame waited for the end of the stream")
        .unwrap()
        .unwrap();
    let text = String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap();
    assert!(text.contains("first"), "{text}");

    // A bad key is refused before the body is read, in the API's own shape.
    let mut request = post("/v1/messages", &json!({}));
    request.headers_mut().insert("authorization", "Bearer wrong".parse().unwrap());
    let response = function.handle(request, None).await;
    assert_eq!(response.status(), 401);
    let body: Value = serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["type"], "error", "Anthropic's error shape: {body}");
}

#[tokio::test]
async fn the_config_can_come_from_config_url() {
    if on_worker() {
        return;
    }
    let up = Mock::start("up").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("from-url.yaml");
    std::fs::write(&path, yaml(&up, "m")).unwrap();
    let path = path.to_string_lossy().into_owned();
    let env = move |name: &str| (name == "CONFIG_URL").then(|| path.clone());
    let function = Function::from_env(&env).await.expect("function");
    let response = function.handle(post("/v1/chat/completions", &chat_body("m")), None).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn statistics_go_to_postgres_when_database_url_is_set() {
    if on_worker() {
        return;
    }
    let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
        assert!(std::env::var_os("REQUIRE_TEST_DATABASE").is_none(), "CI must set TEST_DATABASE_URL");
        eprintln!("TEST_DATABASE_URL is not set: skipping the Vercel PostgreSQL test");
        return;
    };
    let up = Mock::start("up").await;
    let model = format!("vercel-{}-{}", std::process::id(), rand_nanos());
    let config = yaml(&up, &model);
    let database = url.clone();
    let env = move |name: &str| match name {
        "API_YAML" => Some(config.clone()),
        "DATABASE_URL" => Some(database.clone()),
        _ => None,
    };
    let function = Function::from_env(&env).await.expect("function");
    let (finished, done) = tokio::sync::oneshot::channel();
    let response = function.handle(post("/v1/chat/completions", &chat_body(&model)), Some(finished)).await;
    assert_eq!(response.status(), 200);
    drop(response.into_body().collect().await.unwrap());
    done.await.expect("told when the body was sent");
    function.flush().await;
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let row = client.query_one("SELECT COUNT(*) FROM uni_api_requests WHERE model = $1", &[&model]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 1);

    // Without DATABASE_URL (or with DISABLE_DATABASE) statistics are off: /v1/stats says so.
    let up2 = Mock::start("up2").await;
    let config = yaml(&up2, "m");
    let env = move |name: &str| match name {
        "API_YAML" => Some(config.clone()),
        "DATABASE_URL" => Some(url.clone()),
        "DISABLE_DATABASE" => Some("true".into()),
        _ => None,
    };
    let function = Function::from_env(&env).await.expect("function");
    let request = http::Request::get("/v1/stats")
        .header("authorization", "Bearer sk-client")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(function.handle(request, None).await.status(), 503);
}

fn rand_nanos() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos().into()
}

#[tokio::test]
async fn the_function_binary_serves_through_vercels_runtime() {
    if on_worker() {
        return;
    }
    let up = Mock::start("up").await;
    let port = free_port();
    let mut child = tokio::process::Command::new(BIN)
        .env_clear()
        .env("VERCEL_DEV_PORT", port.to_string())
        .env("API_YAML", yaml(&up, "m"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the function");
    let client = Client::new(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    let mut ready = false;
    for _ in 0..200 {
        if let Ok(response) = client.http.get(client.url("/_vercel/ping")).send().await {
            ready = response.status() == 200;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(ready, "the runtime did not start");
    let (status, body) = client.chat("sk-client", chat_body("m")).await;
    assert_eq!((status, body["choices"][0]["message"]["content"].as_str()), (200, Some("from up")), "{body}");
    let (status, text) = client.chat_stream("sk-client", stream_body("m")).await;
    assert_eq!(status, 200);
    assert!(ends_with_done(&text) && content(&text) == "from up", "{text}");
    let (status, _) = client.chat("wrong-key", chat_body("m")).await;
    assert_eq!(status, 401);
    child.kill().await.unwrap();
}
