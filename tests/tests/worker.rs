//! The Cloudflare Worker in a real local workerd (Miniflare), against mock upstreams on
//! 127.0.0.1: the same scenarios as the native tests, with state in Durable Objects.
//! Skipped with a notice when the Worker is not built; CI builds it and sets `REQUIRE_WORKER`.

use serde_json::{json, Value};
use uni_api_tests::sse::{chunks, ends_with_done};
use uni_api_tests::worker::WorkerGateway;
use uni_api_tests::{chat_body, error_code, stream_body, Mock, Reply};

#[tokio::test]
async fn auth_models_and_chat_streamed_and_not() {
    let mock = Mock::start("a").await;
    let yaml = format!(
        "providers:\n  - provider: a\n    base_url: {}\n    api: sk-upstream\n    model:\n      - gpt-4o-2024: gpt-4o\napi_keys:\n  - api: sk-client\n",
        mock.base()
    );
    let Some(gw) = WorkerGateway::start(&yaml) else { return };

    let response =
        gw.http.post(gw.url("/v1/chat/completions")).body(chat_body("gpt-4o").to_string()).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let (status, body) = gw.chat("sk-wrong", chat_body("gpt-4o")).await;
    assert_eq!((status, error_code(&body)), (401, "invalid_api_key"));

    let (status, models) = gw.get("/v1/models", "sk-client").await;
    assert_eq!(status, 200);
    assert_eq!(models["data"][0]["id"], "gpt-4o");

    let (status, body) = gw.chat("sk-client", chat_body("gpt-4o")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "gpt-4o");
    assert_eq!(body["choices"][0]["message"]["content"], "from a");
    let sent = &mock.chat_requests()[0];
    assert_eq!(sent.body["model"], "gpt-4o-2024");
    assert_eq!(sent.header("authorization"), Some("Bearer sk-upstream"));

    let (status, text) = gw.chat_stream("sk-client", stream_body("gpt-4o")).await;
    assert_eq!(status, 200);
    assert!(ends_with_done(&text), "{text}");
    let first: &Value = &chunks(&text)[0];
    assert_eq!(first["model"], "gpt-4o");

    let (status, body) = gw.chat("sk-client", chat_body("nope")).await;
    assert_eq!((status, error_code(&body)), (404, "model_not_found"));
    let response =
        gw.http.post(gw.url("/v1/chat/completions")).bearer_auth("sk-client").body("{not json").send().await.unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn failover_and_a_cooldown_that_holds_across_requests() {
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    a.script([Reply::Json(503, json!({"error": {"message": "overloaded"}}))]);
    let yaml = format!(
        "providers:\n  - provider: a\n    base_url: {}\n    model: [gpt-4o]\n  - provider: b\n    base_url: {}\n    model: [gpt-4o]\napi_keys:\n  - api: k\npreferences:\n  cooldown_period: 300\n",
        a.base(),
        b.base()
    );
    let Some(gw) = WorkerGateway::start(&yaml) else { return };
    let (status, body) = gw.chat("k", chat_body("gpt-4o")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "from b");
    assert_eq!((a.count(), b.count()), (1, 1));
    // a is cooling down (held by its Durable Object): the next requests go straight to b.
    for _ in 0..3 {
        let (status, body) = gw.chat("k", chat_body("gpt-4o")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["choices"][0]["message"]["content"], "from b");
    }
    assert_eq!((a.count(), b.count()), (1, 4));
}

#[tokio::test]
async fn client_and_upstream_key_rate_limits_answer_429() {
    let mock = Mock::start("a").await;
    let yaml = format!(
        "providers:\n  - provider: a\n    base_url: {}\n    model: [gpt-4o]\n  - provider: keyed\n    base_url: {}\n    api: [sk-up-1]\n    model: [{{gpt-4o: limited}}]\n    preferences:\n      api_key_rate_limit: 1/min\napi_keys:\n  - api: slow\n    model: [a/gpt-4o]\n    preferences:\n      rate_limit: 2/min\n  - api: fast\n",
        mock.base(),
        mock.base()
    );
    let Some(gw) = WorkerGateway::start(&yaml) else { return };
    for _ in 0..2 {
        assert_eq!(gw.chat("slow", chat_body("gpt-4o")).await.0, 200);
    }
    let response = gw.post("/v1/chat/completions", "slow", chat_body("gpt-4o")).await;
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    // The sliding window (current minute plus the weighted previous one) may ask for up to 1.5 min.
    assert!((1..=90).contains(&retry_after), "{retry_after}");
    // Another key is not limited by slow's limit.
    assert_eq!(gw.chat("fast", chat_body("gpt-4o")).await.0, 200);

    // The upstream key admits one request a minute; the second finds it at its limit.
    let before = mock.count();
    assert_eq!(gw.chat("fast", chat_body("limited")).await.0, 200);
    let (status, body) = gw.chat("fast", chat_body("limited")).await;
    assert_eq!(status, 429, "{body}");
    assert!(body["error"]["attempts"][0]["reason"].as_str().unwrap().contains("rate limit"), "{body}");
    assert_eq!(mock.count(), before + 1);
}

#[tokio::test]
async fn a_config_the_platform_cannot_serve_is_a_generic_503_with_the_detail_in_the_log() {
    let mock = Mock::start("a").await;
    // A global proxy would send every provider through it: refused rather than bypassed.
    let yaml = format!(
        "providers:\n  - provider: a\n    base_url: {}\n    model: [gpt-4o]\napi_keys:\n  - api: k\npreferences:\n  proxy: socks5://127.0.0.1:1080\n",
        mock.base()
    );
    let Some(gw) = WorkerGateway::start(&yaml) else { return };
    let (status, body) = gw.chat("k", chat_body("gpt-4o")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "config_unavailable", "{body}");
    // The config's contents are the operator's business: the reason goes to the Worker's log.
    assert!(!body.to_string().contains("socks5") && !body.to_string().contains("providers"), "{body}");
    let (status, _) = gw.get("/healthz", "k").await;
    assert_eq!(status, 503, "every request is refused until the config is fixed");
}

#[tokio::test]
async fn a_provider_with_a_proxy_is_left_out_and_the_rest_of_the_config_serves() {
    // One api.yaml for both hosts: natively `via-proxy` is used through its proxy; on Workers it
    // is left out, and only a model it alone serves says so.
    let (proxied, direct) = (Mock::start("proxied").await, Mock::start("direct").await);
    let yaml = format!(
        "providers:\n  - provider: via-proxy\n    base_url: {}\n    model: [only-proxied, shared]\n    preferences:\n      proxy: socks5://127.0.0.1:1080\n  - provider: direct\n    base_url: {}\n    model: [shared]\napi_keys:\n  - api: k\n",
        proxied.base(),
        direct.base()
    );
    let Some(gw) = WorkerGateway::start(&yaml) else { return };
    let (status, body) = gw.chat("k", chat_body("shared")).await;
    assert_eq!((status, body["choices"][0]["message"]["content"].as_str()), (200, Some("from direct")), "{body}");
    let (status, body) = gw.chat("k", chat_body("only-proxied")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "no_usable_channel", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("via-proxy") && message.contains("proxies"), "{message}");
    assert!(!message.contains("socks5://"), "the proxy's address is the operator's business: {message}");
    assert_eq!(proxied.count(), 0);
}

#[tokio::test]
async fn streams_arrive_chunk_by_chunk_and_a_broken_one_ends_with_an_error_event() {
    let mock = Mock::start("a").await;
    let chunk = |text: &str| {
        json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
               "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
        .to_string()
    };
    mock.script([Reply::StreamThenHang(vec![chunk("first")]), Reply::StreamThenBreak(vec![chunk("partial")])]);
    let yaml = format!(
        "providers:\n  - provider: a\n    base_url: {}\n    model: [gpt-4o]\napi_keys:\n  - api: k\npreferences:\n  model_timeout:\n    default: 30\n",
        mock.base()
    );
    let Some(gw) = WorkerGateway::start(&yaml) else { return };

    // The first chunk reaches the client while the upstream is still open: nothing is buffered.
    let mut response = gw.post("/v1/chat/completions", "k", stream_body("gpt-4o")).await;
    assert_eq!(response.status(), 200);
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), response.chunk())
        .await
        .expect("the first chunk arrives while the upstream still streams")
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&first).contains("first"), "{first:?}");
    drop(response);

    let (status, text) = gw.chat_stream("k", stream_body("gpt-4o")).await;
    assert_eq!(status, 200);
    assert!(text.contains("partial"), "{text}");
    assert!(!ends_with_done(&text), "a broken stream never ends with [DONE]: {text}");
    let last = chunks(&text).pop().unwrap();
    assert!(last["error"]["message"].is_string(), "{text}");
}

#[tokio::test]
async fn statistics_are_written_to_d1_after_the_response_and_answered_by_v1_stats() {
    let mock = Mock::start("a").await;
    let yaml = format!(
        "providers:\n  - provider: a\n    base_url: {}\n    model: [gpt-4o]\napi_keys:\n  - api: sk-admin\n    role: admin\n  - api: sk-team\n    role: team\n",
        mock.base()
    );
    let Some(gw) = WorkerGateway::start(&yaml) else { return };
    assert_eq!(gw.chat("sk-team", chat_body("gpt-4o")).await.0, 200);
    let (status, text) = gw.chat_stream("sk-team", stream_body("gpt-4o")).await;
    assert_eq!(status, 200);
    assert!(ends_with_done(&text));
    assert_eq!(gw.chat("sk-team", chat_body("nope")).await.0, 404);

    // Records are written in waitUntil, after each response: poll briefly until all three are in.
    let mut stats = Value::Null;
    for _ in 0..50 {
        let (status, body) = gw.get("/v1/stats", "sk-admin").await;
        assert_eq!(status, 200, "{body}");
        stats = body;
        if stats["totals"]["requests"] == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(stats["totals"]["requests"], 3, "{stats}");
    assert_eq!(stats["totals"]["successes"], 2);
    assert_eq!(stats["totals"]["prompt_tokens"], 6, "usage from the streamed and the whole answer");
    assert_eq!(stats["channels"][0]["channel"], "a/gpt-4o");
    assert_eq!(stats["keys"][0]["role"], "team");
    assert!(!stats.to_string().contains("sk-"), "{stats}");
    let (status, body) = gw.get("/v1/stats", "sk-team").await;
    assert_eq!((status, error_code(&body)), (403, "admin_only"));
    let (status, usage) = gw.get("/v1/token_usage", "sk-team").await;
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["usage"][0]["total_tokens"], 10, "{usage}");
}

#[tokio::test]
async fn models_are_discovered_from_a_provider_without_a_model_list() {
    let mock = Mock::start("a").await;
    mock.models(
        200,
        json!({"object": "list", "data": [{"id": "found-1", "object": "model"}, {"id": "found-2", "object": "model"}]}),
    );
    let yaml =
        format!("providers:\n  - provider: a\n    base_url: {}\n    api: sk-up\napi_keys:\n  - api: k\n", mock.base());
    let Some(gw) = WorkerGateway::start(&yaml) else { return };
    let (status, models) = gw.get("/v1/models", "k").await;
    assert_eq!(status, 200, "{models}");
    let ids: Vec<&str> = models["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["found-1", "found-2"]);
    assert_eq!(gw.chat("k", chat_body("found-2")).await.0, 200);
    assert_eq!(mock.chat_requests()[0].body["model"], "found-2");
}

#[tokio::test]
async fn a_config_url_that_fails_is_served_from_kv_whatever_its_age_and_never_shown_to_clients() {
    let (upstream, source) = (Mock::start("a").await, Mock::start("config").await);
    let yaml = format!(
        "providers:\n  - provider: a\n    base_url: {}\n    model: [gpt-4o]\napi_keys:\n  - api: k\n",
        upstream.base()
    );
    source.always(Reply::Raw(200, "text/yaml", yaml));
    let url = format!("http://{}/private/api.yaml?token=s3cret-token", source.addr);
    let persist = tempfile::tempdir().unwrap();
    // Refetch after 1 s, so the copy in KV is stale when the next Worker starts.
    let ttl = [("CONFIG_TTL", "1")];
    {
        let Some(gw) = WorkerGateway::start_from_url(&url, &ttl, persist.path()) else { return };
        assert_eq!(gw.chat("k", chat_body("gpt-4o")).await.0, 200);
    }
    source.always(Reply::Json(500, json!({"error": "down"})));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    // A new isolate, a stale KV copy, a source that fails: the KV copy serves.
    {
        let gw = WorkerGateway::start_from_url(&url, &ttl, persist.path()).unwrap();
        let (status, body) = gw.chat("k", chat_body("gpt-4o")).await;
        assert_eq!(status, 200, "{body}");
    }
    // The cache is keyed by the whole URL: another token does not get this config.
    let other = url.replace("s3cret-token", "other-token");
    let gw = WorkerGateway::start_from_url(&other, &ttl, persist.path()).unwrap();
    let (status, body) = gw.chat("k", chat_body("gpt-4o")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "config_unavailable", "{body}");
    let text = body.to_string();
    for part in ["127.0.0.1", "private", "api.yaml", "token", "500"] {
        assert!(!text.contains(part), "the client saw `{part}`: {text}");
    }
}
