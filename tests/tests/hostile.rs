//! Hostile or broken input: what a client or an upstream sends to stall the gateway, grow its
//! memory, leak a key or bench a healthy channel, and the clear answer each gets instead.

use std::time::Duration;

use serde_json::{json, Value};
use uni_api_tests::sse::{chunks, ends_with_done};
use uni_api_tests::{chat_body, error_code, json_of, stream_body, Mock, Reply, TestGateway};

fn one_channel(mock: &Mock, extra: &str) -> String {
    format!("providers:\n  - provider: p\n    base_url: {}\n    api: sk-upstream-secret-123\n    model: [m]\napi_keys:\n  - api: k\n{extra}", mock.base())
}

async fn post_raw(gw: &TestGateway, body: String) -> (u16, Value) {
    let response = gw
        .http
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth("k")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, json_of(response).await)
}

#[tokio::test]
async fn a_body_of_many_keys_is_refused_in_linear_time() {
    let up = Mock::start("p").await;
    let gw = TestGateway::start(&one_channel(&up, "")).await;
    let mut body = String::from("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]");
    for i in 0..300_000 {
        body.push_str(&format!(",\"k{i}\":1"));
    }
    body.push('}');
    let (status, error) = post_raw(&gw, body).await;
    assert_eq!(status, 400, "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("more than 256 top-level fields"), "{error}");
    assert_eq!(up.received().len(), 0);
}

#[tokio::test]
async fn malformed_chat_requests_are_400s_naming_the_field() {
    let up = Mock::start("p").await;
    let gw = TestGateway::start(&one_channel(&up, "")).await;
    let cases = [
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "a"}, {"content": "no role"}]}),
            "`messages[1].role` is required",
        ),
        (json!({"model": "m", "messages": "hi"}), "`messages` must be a list"),
        (json!({"model": "m", "messages": [1, 2]}), "message objects"),
        (json!({"model": "m", "messages": [], "temperature": "hot"}), "`temperature` must be a number"),
        (json!({"model": "m", "messages": [], "top_p": [1]}), "`top_p` must be a number"),
        (json!({"model": "m", "messages": [], "max_tokens": 1.5}), "`max_tokens` must be a whole number"),
        (json!({"model": "m", "messages": [], "stream": "yes"}), "`stream` must be true or false"),
        (json!({"model": "x".repeat(300), "messages": []}), "`model` is longer than 256 bytes"),
    ];
    for (body, expected) in cases {
        let (status, error) = gw.chat("k", body.clone()).await;
        assert_eq!((status, error_code(&error)), (400, "invalid_request"), "{body}");
        assert!(error["error"]["message"].as_str().unwrap().contains(expected), "{body}: {error}");
    }
    assert_eq!(up.received().len(), 0, "nothing reached the upstream");
}

#[tokio::test]
async fn authorization_needs_its_bearer_scheme() {
    let up = Mock::start("p").await;
    let gw = TestGateway::start(&one_channel(&up, "")).await;
    let response = gw
        .http
        .post(gw.url("/v1/chat/completions"))
        .header("authorization", "k")
        .body(chat_body("m").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(error_code(&json_of(response).await), "invalid_authorization");
    let response = gw
        .http
        .post(gw.url("/v1/chat/completions"))
        .header("authorization", "bearer k")
        .body(chat_body("m").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the scheme's case does not matter");
}

#[tokio::test]
async fn a_request_no_adapter_can_translate_is_the_clients_400_and_benches_nothing() {
    let claude = Mock::start("claude").await;
    let yaml = format!(
        "providers:\n  - provider: c\n    base_url: {}/messages\n    model: [m]\napi_keys:\n  - api: k\npreferences:\n  cooldown_period: 300\n",
        claude.base()
    );
    let gw = TestGateway::start(&yaml).await;
    let body = json!({"model": "m", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "not json"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"}
    ]});
    let (status, error) = gw.chat("k", body).await;
    assert_eq!((status, error_code(&error)), (400, "invalid_request"), "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("not JSON"), "{error}");
    assert_eq!(claude.received().len(), 0);
    let (status, reply) = gw.chat("k", chat_body("m")).await;
    assert_eq!(status, 200, "the channel is healthy for everyone else: {reply}");
}

#[tokio::test]
async fn an_error_trigger_after_the_role_chunk_still_fails_over() {
    let a = Mock::start("a").await;
    let role = json!({"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]});
    let refusal = json!({"id": "c", "choices": [{"index": 0, "delta": {"content": "Your quota is exhausted"}, "finish_reason": null}]});
    let gap = Duration::from_millis(50);
    a.script([Reply::Stream(vec![
        (Duration::ZERO, role.to_string()),
        (gap, refusal.to_string()),
        (gap, "[DONE]".into()),
    ])]);
    let b = Mock::start("b").await;
    let yaml = format!(
        "providers:\n  - provider: a\n    base_url: {}\n    model: [m]\n  - provider: b\n    base_url: {}\n    model: [m]\napi_keys:\n  - api: k\npreferences:\n  error_triggers: [quota is exhausted]\n  cooldown_period: 0\n",
        a.base(),
        b.base()
    );
    let gw = TestGateway::start(&yaml).await;
    let (status, text) = gw.chat_stream("k", stream_body("m")).await;
    assert_eq!(status, 200);
    let said: String = chunks(&text).iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(said, "from b", "{text}");
    assert!(ends_with_done(&text));
}

#[tokio::test]
async fn an_upstream_echoing_its_key_in_a_4xx_does_not_hand_it_to_the_client() {
    let up = Mock::start("p").await;
    up.script([Reply::Json(
        400,
        json!({"error": {"message": "Incorrect API key provided: sk-upstream-secret-123. See docs."}}),
    )]);
    let gw = TestGateway::start(&one_channel(&up, "")).await;
    let (status, error) = gw.chat("k", chat_body("m")).await;
    assert_eq!(status, 400);
    let text = error.to_string();
    assert!(!text.contains("sk-upstream-secret-123"), "{text}");
    assert!(text.contains("Incorrect API key provided: ***"), "{text}");
}

#[tokio::test]
async fn an_event_larger_than_8_mib_ends_the_stream_with_an_error() {
    let up = Mock::start("p").await;
    let first = json!({"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "ok"}, "finish_reason": null}]});
    let huge = format!(
        "{{\"id\":\"c\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{}\"}}}}]}}",
        "x".repeat(9 * 1024 * 1024)
    );
    up.script([Reply::Stream(vec![(Duration::ZERO, first.to_string()), (Duration::from_millis(50), huge)])]);
    let gw = TestGateway::start(&one_channel(&up, "")).await;
    let (status, text) = gw.chat_stream("k", stream_body("m")).await;
    assert_eq!(status, 200);
    assert!(text.len() < 1024 * 1024, "the oversized event was not relayed ({} bytes)", text.len());
    let last = chunks(&text).pop().unwrap();
    assert_eq!(last["error"]["code"], "upstream_event_too_large", "{last}");
    assert!(!ends_with_done(&text));
}

/// A Gemini channel (which cannot fetch image URLs itself, so the gateway does).
fn gemini_channel(up: &Mock, prefs: &str) -> String {
    format!("providers:\n  - provider: g\n    base_url: http://{}/v1beta\n    api: AIza-k\n    model: [{{gemini-2.5-flash: vision}}]\napi_keys:\n  - api: k\npreferences:\n  cooldown_period: 0\n{prefs}", up.addr)
}

fn with_images(urls: &[String]) -> Value {
    let mut parts = vec![json!({"type": "text", "text": "what is it?"})];
    parts.extend(urls.iter().map(|u| json!({"type": "image_url", "image_url": {"url": u}})));
    json!({"model": "vision", "messages": [{"role": "user", "content": parts}]})
}

fn gemini_answer() -> Reply {
    Reply::Json(
        200,
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "seen"}]}, "finishReason": "STOP"}]}),
    )
}

#[tokio::test]
async fn image_urls_to_private_loopback_or_metadata_addresses_are_not_fetched() {
    let (up, images) = (Mock::start("g").await, Mock::start("img").await);
    up.always(gemini_answer());
    images.always(Reply::Raw(200, "image/png", "PNG".into()));
    let gw = TestGateway::start(&gemini_channel(&up, "")).await;
    let port = images.addr.port();
    let mut blocked = vec![
        format!("http://127.0.0.1:{port}/a.png"),
        format!("http://[::ffff:127.0.0.1]:{port}/a.png"),
        format!("http://[::1]:{port}/a.png"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/a.png".to_owned(),
    ];
    if !uni_api_tests::on_worker() {
        // A name is checked by what it resolves to (on Cloudflare, its network does not route
        // a Worker's fetch to private addresses; local workerd has no such guard).
        blocked.push(format!("http://localhost:{port}/a.png"));
    }
    for url in blocked {
        let (status, reply) = gw.chat("k", with_images(std::slice::from_ref(&url))).await;
        assert_eq!(status, 400, "{url}: {reply}");
        assert!(
            error_code(&reply) == "invalid_request" && reply.to_string().contains("could not be fetched"),
            "{reply}"
        );
    }
    assert!(images.received().is_empty(), "the gateway connected to a private address");
    assert!(up.received().is_empty());
}

#[tokio::test]
async fn an_allow_listed_address_is_fetched_and_failures_all_look_alike() {
    let (up, images) = (Mock::start("g").await, Mock::start("img").await);
    up.always(gemini_answer());
    let gw = TestGateway::start(&gemini_channel(&up, "  image_fetch_allow: [127.0.0.1]\n")).await;
    images.always(Reply::Raw(200, "image/png", "PNG".into()));
    let url = format!("http://127.0.0.1:{}/a.png", images.addr.port());
    assert_eq!(gw.chat("k", with_images(std::slice::from_ref(&url))).await.0, 200);

    // A closed port, a 404 and an answer that is not an image: one message, whatever happened.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let closed_url = format!("http://127.0.0.1:{closed}/a.png");
    images.always(Reply::Json(404, json!({})));
    let (_, missing) = gw.chat("k", with_images(std::slice::from_ref(&url))).await;
    images.always(Reply::Raw(200, "text/html", "<html>".into()));
    let (_, not_image) = gw.chat("k", with_images(std::slice::from_ref(&url))).await;
    let (status, refused) = gw.chat("k", with_images(std::slice::from_ref(&closed_url))).await;
    assert_eq!(status, 400);
    let message = |reply: &Value, url: &str| reply["error"]["message"].as_str().unwrap().replace(url, "URL");
    assert_eq!(message(&missing, &url), message(&refused, &closed_url), "{missing} vs {refused}");
    assert_eq!(message(&not_image, &url), message(&refused, &closed_url));
}

#[tokio::test]
async fn image_urls_are_capped_in_number_bytes_and_time() {
    let (up, images) = (Mock::start("g").await, Mock::start("img").await);
    up.always(gemini_answer());
    let prefs = "  image_fetch_allow: [127.0.0.1]\n  request_timeout: 2\n";
    let gw = TestGateway::start(&gemini_channel(&up, prefs)).await;
    let url = |i: usize| format!("http://127.0.0.1:{}/{i}.png", images.addr.port());

    let many: Vec<String> = (0..17).map(url).collect();
    let (status, reply) = gw.chat("k", with_images(&many)).await;
    assert_eq!(status, 400, "{reply}");
    assert!(reply.to_string().contains("at most 16"), "{reply}");
    assert!(images.received().is_empty(), "nothing is fetched for a request over the count");

    // 12 MB each: the second goes past 20 MB for the request.
    images.always(Reply::Raw(200, "image/png", "x".repeat(12 * 1024 * 1024)));
    let (status, reply) = gw.chat("k", with_images(&[url(1), url(2)])).await;
    assert_eq!(status, 400, "{reply}");
    assert!(reply.to_string().contains(&url(2)), "{reply}");

    images.always(Reply::Hang);
    let started = std::time::Instant::now();
    let (status, reply) = gw.chat("k", with_images(&[url(3)])).await;
    assert_eq!(status, 400, "{reply}");
    assert!(started.elapsed() < Duration::from_secs(8), "the fetch outlived the request's deadline");
    assert!(up.received().is_empty());
}

#[tokio::test]
async fn an_upstream_redirect_is_not_followed_so_the_key_stays_with_its_host() {
    let (up, elsewhere) = (Mock::start("p").await, Mock::start("elsewhere").await);
    up.always(Reply::Redirect(format!("{}/chat/completions", elsewhere.base())));
    let gw = TestGateway::start(&one_channel(&up, "")).await;
    let (status, reply) = gw.chat("k", chat_body("m")).await;
    assert!(status >= 500, "{status}: {reply}");
    assert!(elsewhere.received().is_empty(), "the request (and its key) followed the redirect");
    assert!(!reply.to_string().contains("sk-upstream-secret-123"));
}
