//! Chat completions to OpenAI-format upstreams: passthrough, streams chunk by chunk, usage,
//! truncation and client disconnects.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use uni_api_tests::sse::{chunks, content, data_lines, ends_with_done};
use uni_api_tests::{chat_body, stream_body, Mock, Reply, TestGateway};

async fn one(mock: &Mock, extra: &str) -> TestGateway {
    let yaml = format!(
        "providers:\n  - provider: up\n    base_url: {}\n    api: sk-up\n    model: [{{gpt-4o-2024: gpt-4o}}]\n{extra}api_keys:\n  - api: sk-k\n",
        mock.base()
    );
    TestGateway::start(&yaml).await
}

fn chunk(content: &str, finish: Value) -> String {
    json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-2024",
           "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]})
    .to_string()
}

#[tokio::test]
async fn unknown_fields_pass_through_and_only_model_is_replaced() {
    let mock = Mock::start("up").await;
    let gw = one(&mock, "").await;
    let body = json!({
        "model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "temperature": 0.2, "seed": 7, "logit_bias": {"50256": -100}, "vendor_extension": {"x": [1, 2]},
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    });
    let (status, reply) = gw.chat("sk-k", body.clone()).await;
    assert_eq!(status, 200, "{reply}");
    let sent = &mock.chat_requests()[0];
    let mut expected = body;
    expected["model"] = json!("gpt-4o-2024");
    assert_eq!(sent.body, expected);
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.header("authorization"), Some("Bearer sk-up"));
    assert_eq!(reply["model"], "gpt-4o");
    assert_eq!(reply["usage"]["total_tokens"], 5);
}

#[tokio::test]
async fn a_stream_is_rewritten_and_ends_with_done() {
    let mock = Mock::start("up").await;
    let gw = one(&mock, "").await;
    let (status, text) = gw.chat_stream("sk-k", stream_body("gpt-4o")).await;
    assert_eq!(status, 200);
    assert_eq!(content(&text), "from up");
    let chunks = chunks(&text);
    assert!(chunks.iter().all(|c| c["model"] == "gpt-4o"), "{text}");
    assert!(ends_with_done(&text));
    // Usage was asked of the upstream but not forwarded: the client did not ask for it.
    let sent = &mock.chat_requests()[0];
    assert_eq!(sent.body["stream_options"]["include_usage"], true);
    assert!(chunks.iter().all(|c| c.get("usage").is_none()), "{text}");
}

#[tokio::test]
async fn the_usage_chunk_reaches_clients_that_ask_for_it() {
    let mock = Mock::start("up").await;
    let gw = one(&mock, "").await;
    let mut body = stream_body("gpt-4o");
    body["stream_options"] = json!({"include_usage": true});
    let (_, text) = gw.chat_stream("sk-k", body).await;
    let chunks = chunks(&text);
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["total_tokens"], 5);
    assert!(ends_with_done(&text));
}

#[tokio::test]
async fn chunks_reach_the_client_as_they_arrive() {
    let mock = Mock::start("up").await;
    mock.script([Reply::Stream(vec![
        (Duration::ZERO, chunk("first", Value::Null)),
        (Duration::from_millis(800), chunk("second", json!("stop"))),
        (Duration::ZERO, "[DONE]".into()),
    ])]);
    let gw = one(&mock, "").await;
    let start = Instant::now();
    let response = gw.post("/v1/chat/completions", "sk-k", stream_body("gpt-4o")).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    let first_at = start.elapsed();
    assert!(String::from_utf8_lossy(&first).contains("first"));
    assert!(first_at < Duration::from_millis(600), "first chunk took {first_at:?}: buffered?");
    let mut rest = Vec::new();
    while let Some(part) = body.next().await {
        rest.extend_from_slice(&part.unwrap());
    }
    assert!(start.elapsed() >= Duration::from_millis(800));
    assert!(String::from_utf8_lossy(&rest).contains("second"));
}

#[tokio::test]
async fn a_stream_that_breaks_mid_way_ends_with_an_error_event_not_done() {
    let mock = Mock::start("up").await;
    mock.script([Reply::StreamThenBreak(vec![chunk("partial", Value::Null)])]);
    let gw = one(&mock, "").await;
    let (status, text) = gw.chat_stream("sk-k", stream_body("gpt-4o")).await;
    assert_eq!(status, 200);
    let lines = data_lines(&text);
    assert!(!ends_with_done(&text), "{text}");
    let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "upstream_connection_error", "{text}");
    assert_eq!(content(&text), "partial");
}

#[tokio::test]
async fn a_stream_that_stops_without_finishing_is_reported_as_truncated() {
    let mock = Mock::start("up").await;
    // The second chunk comes later, so the first has been sent when the upstream stops.
    mock.script([Reply::Stream(vec![
        (Duration::ZERO, chunk("a", Value::Null)),
        (Duration::from_millis(150), chunk("b", Value::Null)),
    ])]);
    let gw = one(&mock, "").await;
    let (_, text) = gw.chat_stream("sk-k", stream_body("gpt-4o")).await;
    assert_eq!(content(&text), "ab");
    let last: Value = serde_json::from_str(data_lines(&text).last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "stream_truncated");
    assert!(!ends_with_done(&text));
    // A stream that finished (finish_reason) but omitted [DONE] is complete, not truncated.
    mock.script([Reply::Stream(vec![(Duration::ZERO, chunk("a", json!("stop")))])]);
    let (_, text) = gw.chat_stream("sk-k", stream_body("gpt-4o")).await;
    assert!(ends_with_done(&text), "{text}");
}

#[tokio::test]
async fn a_stream_that_goes_silent_ends_with_a_timeout_error_event() {
    let mock = Mock::start("up").await;
    mock.script([Reply::StreamThenHang(vec![chunk("x", Value::Null)])]);
    let gw = one(&mock, "preferences:\n  model_timeout: { default: 1 }\n").await;
    let start = Instant::now();
    let (_, text) = gw.chat_stream("sk-k", stream_body("gpt-4o")).await;
    let last: Value = serde_json::from_str(data_lines(&text).last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "upstream_timeout", "{text}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn an_error_event_from_the_upstream_mid_stream_is_passed_on_as_an_error() {
    let mock = Mock::start("up").await;
    mock.script([Reply::Stream(vec![
        (Duration::ZERO, chunk("a", Value::Null)),
        (Duration::from_millis(150), json!({"error": {"message": "overloaded"}}).to_string()),
    ])]);
    let gw = one(&mock, "").await;
    let (_, text) = gw.chat_stream("sk-k", stream_body("gpt-4o")).await;
    let last: Value = serde_json::from_str(data_lines(&text).last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "upstream_error");
    assert!(last["error"]["message"].as_str().unwrap().contains("overloaded"));
}

#[tokio::test]
async fn a_client_that_disconnects_cancels_the_upstream_request() {
    if uni_api_tests::native_only("local workerd does not pass a client's disconnect on to the upstream fetch in time")
    {
        return;
    }
    let mock = Mock::start("up").await;
    mock.script([Reply::Stream(vec![
        (Duration::ZERO, chunk("a", Value::Null)),
        (Duration::from_secs(30), chunk("b", json!("stop"))),
    ])]);
    let gw = one(&mock, "").await;
    let response = gw.post("/v1/chat/completions", "sk-k", stream_body("gpt-4o")).await;
    let mut body = response.bytes_stream();
    let _ = body.next().await.unwrap().unwrap();
    drop(body);
    let deadline = Instant::now() + Duration::from_secs(5);
    while mock.cancelled_streams.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the upstream stream was not cancelled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn base_url_may_be_a_v1_base_or_a_full_endpoint() {
    let mock = Mock::start("up").await;
    for base in [mock.base(), format!("{}/chat/completions", mock.base()), format!("{}/", mock.base())] {
        let yaml =
            format!("providers:\n  - provider: up\n    base_url: {base}\n    model: [m]\napi_keys:\n  - api: k\n");
        let gw = TestGateway::start(&yaml).await;
        let (status, _) = gw.chat("k", chat_body("m")).await;
        assert_eq!(status, 200, "{base}");
    }
    assert!(mock.chat_requests().iter().all(|r| r.path == "/v1/chat/completions"));
    // No key configured: no Authorization header is invented.
    assert!(mock.chat_requests()[0].header("authorization").is_none());
}
