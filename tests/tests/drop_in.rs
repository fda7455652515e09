//! A config written for the original uni-api works as its users expect (issue #14's drop-in points).

use std::time::Duration;

use serde_json::json;
use uni_api_tests::{chat_body, Mock, Reply, TestGateway};

fn openai_completion(text: &str) -> serde_json::Value {
    json!({
        "id": "c1", "object": "chat.completion", "created": 1, "model": "up",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    })
}

#[tokio::test]
async fn a_forced_engine_uses_a_full_endpoint_url_as_written() {
    // The seed's example: `engine: openrouter` on a `…/v1/messages` URL sends OpenAI chat there.
    let openrouter_style = Mock::start("openrouter-style").await;
    openrouter_style.always(Reply::Json(200, openai_completion("from the messages URL")));
    // And the other way round: `engine: claude` on a `…/chat/completions` URL.
    let claude_style = Mock::start("claude-style").await;
    let yaml = format!(
        "providers:
  - provider: other-provider
    base_url: {}/messages
    api: sk-up
    model: [{{causallm-35b-beta2ep-q6k: causallm-35b}}]
    engine: openrouter
  - provider: claude-on-chat-url
    base_url: {}/chat/completions/
    api: sk-up
    model: [claude-x]
    engine: claude
api_keys:
  - api: k
",
        openrouter_style.base(),
        claude_style.base()
    );
    let gw = TestGateway::start(&yaml).await;

    let (status, body) = gw.chat("k", chat_body("causallm-35b")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "from the messages URL");
    let got = openrouter_style.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/v1/messages", "the URL is used as written");
    assert_eq!(got[0].body["model"], "causallm-35b-beta2ep-q6k");
    assert!(got[0].body["messages"].is_array(), "an OpenAI chat body: {}", got[0].body);
    assert_eq!(got[0].header("authorization"), Some("Bearer sk-up"));

    let received_before = claude_style.received().len();
    let (status, body) = gw.chat("k", chat_body("claude-x")).await;
    assert_eq!(status, 200, "{body}");
    let got = &claude_style.received()[received_before..];
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].path, "/v1/chat/completions", "the URL is used as written");
    assert_eq!(got[0].header("x-api-key"), Some("sk-up"), "Anthropic's auth");
    assert!(got[0].body["max_tokens"].is_u64(), "an Anthropic Messages body: {}", got[0].body);
}

#[tokio::test]
async fn rate_limits_are_true_sliding_windows_and_retry_after_stays_within_the_window() {
    if uni_api_tests::native_only("moves the gateway's clock; the Worker uses the real clock") {
        return;
    }
    let mock = Mock::start("p").await;
    let yaml = format!(
        "providers:\n  - provider: p\n    base_url: {}\n    model: [m]\napi_keys:\n  - api: k\n    preferences: {{ rate_limit: 5/min }}\n",
        mock.base()
    );
    let gw = TestGateway::start(&yaml).await;
    // A burst of five in the last second of a clock minute, the moment a fixed-window estimate
    // starts admitting again too early.
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    gw.advance(Duration::from_millis(60_000 - now_ms % 60_000 - 1_000));
    for _ in 0..5 {
        assert_eq!(gw.chat("k", chat_body("m")).await.0, 200);
    }
    gw.advance(Duration::from_secs(30));
    let refused = gw.post("/v1/chat/completions", "k", chat_body("m")).await;
    assert_eq!(refused.status(), 429, "only five in any minute");
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((29..=30).contains(&retry_after), "when the first of the burst is a minute old: {retry_after}");
    gw.advance(Duration::from_secs(retry_after));
    assert_eq!(gw.chat("k", chat_body("m")).await.0, 200, "Retry-After was enough");
    assert_eq!(mock.count(), 6);
}

#[tokio::test]
async fn a_tpr_budget_skips_channels_a_prompt_is_too_large_for_and_413_when_none_is_left() {
    let small = Mock::start("small").await;
    let large = Mock::start("large").await;
    let yaml = format!(
        "providers:
  - provider: small
    base_url: {}
    api: sk-small
    model: [m]
    preferences: {{ api_key_rate_limit: 100/tpr }}
  - provider: large
    base_url: {}
    api: sk-large
    model: [m]
    preferences: {{ api_key_rate_limit: '20/min, 1000/tpr' }}
api_keys:
  - api: k
    preferences: {{ SCHEDULING_ALGORITHM: fixed_priority }}
",
        small.base(),
        large.base()
    );
    let gw = TestGateway::start(&yaml).await;
    let ask = |chars: usize| json!({"model": "m", "messages": [{"role": "user", "content": "x".repeat(chars)}]});
    let (status, body) = gw.chat("k", ask(40)).await; // ~10 tokens: the first channel takes it
    assert_eq!((status, body["choices"][0]["message"]["content"].as_str()), (200, Some("from small")));
    let (status, body) = gw.chat("k", ask(2_000)).await; // ~500 tokens: over the small budget
    assert_eq!((status, body["choices"][0]["message"]["content"].as_str()), (200, Some("from large")));
    let (status, body) = gw.chat("k", ask(8_000)).await; // ~2000 tokens: over both
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "over_token_budget");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("2000 tokens") && message.contains("1000"), "{message}");
    // The Messages door answers in Anthropic's shape.
    let anthropic =
        json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x".repeat(8_000)}]});
    let (status, body) = gw.messages("k", &anthropic).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "request_too_large");
    assert_eq!((small.count(), large.count()), (1, 1), "a refused request reaches no upstream");
}

const BIN: &str = env!("CARGO_BIN_EXE_uni-api-under-test");

/// The original uni-api's statistics tables, as its SQLite `stats.db` has them, with one row each
/// (holding full keys, as the original stores them).
const ORIGINAL_SCHEMA: &str = "
CREATE TABLE request_stats (id INTEGER PRIMARY KEY, request_id TEXT, trace_id TEXT, endpoint TEXT,
  client_ip TEXT, process_time FLOAT, first_response_time FLOAT, provider TEXT, model TEXT, api_key TEXT,
  is_flagged BOOLEAN, text TEXT, prompt_tokens INTEGER, completion_tokens INTEGER, total_tokens INTEGER,
  prompt_price FLOAT, completion_price FLOAT, timing_spans TEXT, timestamp DATETIME DEFAULT CURRENT_TIMESTAMP);
CREATE INDEX ix_request_stats_model ON request_stats (model);
CREATE TABLE channel_stats (id INTEGER PRIMARY KEY, request_id TEXT, provider TEXT, model TEXT, api_key TEXT,
  provider_api_key TEXT, success BOOLEAN, timestamp DATETIME DEFAULT CURRENT_TIMESTAMP);
INSERT INTO request_stats (request_id, endpoint, provider, model, api_key, prompt_tokens, completion_tokens, total_tokens)
  VALUES ('r1', 'POST /v1/chat/completions', 'openai', 'gpt-4o', 'sk-original-client-key', 10, 5, 15);
INSERT INTO channel_stats (request_id, provider, model, api_key, provider_api_key, success)
  VALUES ('r1', 'openai', 'gpt-4o', 'sk-original-client-key', 'sk-original-upstream-key', 1);
";

/// This gateway's own schema before its tables had their own names (version 1).
const VERSION_1_SCHEMA: &str = "
CREATE TABLE uni_api_schema (version INTEGER NOT NULL);
INSERT INTO uni_api_schema (version) VALUES (1);
CREATE TABLE request_stats (id INTEGER PRIMARY KEY, at_ms BIGINT NOT NULL, endpoint TEXT NOT NULL, role TEXT NOT NULL,
  key_id TEXT NOT NULL, model TEXT NOT NULL, provider TEXT, upstream_model TEXT, status INTEGER NOT NULL,
  success INTEGER NOT NULL, attempts INTEGER NOT NULL, tried TEXT NOT NULL, first_byte_ms BIGINT, total_ms BIGINT NOT NULL,
  prompt_tokens BIGINT NOT NULL, completion_tokens BIGINT NOT NULL, cached_tokens BIGINT NOT NULL,
  reasoning_tokens BIGINT NOT NULL, flagged INTEGER NOT NULL, client_ip TEXT, error TEXT);
CREATE INDEX request_stats_at ON request_stats (at_ms);
CREATE TABLE channel_attempts (id INTEGER PRIMARY KEY, at_ms BIGINT NOT NULL, channel TEXT NOT NULL, model TEXT NOT NULL,
  status INTEGER, success INTEGER NOT NULL);
CREATE INDEX channel_attempts_at ON channel_attempts (at_ms);
INSERT INTO request_stats (at_ms, endpoint, role, key_id, model, provider, upstream_model, status, success, attempts, tried,
  total_ms, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, flagged)
  VALUES (1700000000000, '/v1/chat/completions', 'admin', 'kid', 'old-model', 'p', 'old-model', 200, 1, 1, 'p', 12, 3, 4, 0, 0, 0);
INSERT INTO channel_attempts (at_ms, channel, model, status, success) VALUES (1700000000000, 'q/old-model', 'old-model', 503, 0);
";

/// A folder laid out as the original's volume: `api.yaml`, and `data/stats.db` built by `schema`.
fn data_folder(mock: &Mock, schema: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "providers:\n  - provider: p\n    base_url: {}\n    model: [m]\napi_keys:\n  - api: sk-admin\n    role: admin\n",
        mock.base()
    );
    std::fs::write(dir.path().join("api.yaml"), yaml).unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    rusqlite::Connection::open(dir.path().join("data/stats.db")).unwrap().execute_batch(schema).unwrap();
    dir
}

fn count(db: &rusqlite::Connection, sql: &str) -> i64 {
    db.query_row(sql, [], |r| r.get(0)).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test]
async fn the_originals_data_folder_does_not_stop_the_start_and_its_rows_stay_untouched() {
    if uni_api_tests::on_worker() {
        return;
    }
    let mock = Mock::start("p").await;
    let dir = data_folder(&mock, ORIGINAL_SCHEMA);
    let mut gw =
        uni_api_tests::process::GatewayProcess::spawn(BIN, dir.path(), &[], &[("DISABLE_DATABASE", "false")]).await;
    assert_eq!(gw.chat("sk-admin", chat_body("m")).await.0, 200);
    let (status, stats) = gw.get("/v1/stats", "sk-admin").await;
    assert_eq!(status, 200, "{stats}");
    gw.signal("TERM");
    assert_eq!(gw.exit_code(Duration::from_secs(15)).await, Some(0), "{}", gw.log());
    let log = gw.log();
    assert!(
        log.contains("the original uni-api's tables (channel_stats, request_stats); left untouched and not imported"),
        "the log says what was found and done:\n{log}"
    );
    assert!(!log.contains("sk-original"), "no key of the original's rows is logged:\n{log}");
    let db = rusqlite::Connection::open(dir.path().join("data/stats.db")).unwrap();
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM request_stats WHERE api_key = 'sk-original-client-key' AND total_tokens = 15"),
        1
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM request_stats"), 1, "the original's table got no rows of ours");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM channel_stats WHERE provider_api_key = 'sk-original-upstream-key'"), 1);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM uni_api_requests WHERE model = 'm' AND success = 1"), 1);
}

#[tokio::test]
async fn a_database_of_the_earlier_schema_keeps_its_rows_under_the_new_names() {
    if uni_api_tests::on_worker() {
        return;
    }
    let mock = Mock::start("p").await;
    let dir = data_folder(&mock, VERSION_1_SCHEMA);
    let mut gw =
        uni_api_tests::process::GatewayProcess::spawn(BIN, dir.path(), &[], &[("DISABLE_DATABASE", "false")]).await;
    assert_eq!(gw.chat("sk-admin", chat_body("m")).await.0, 200);
    gw.signal("TERM");
    assert_eq!(gw.exit_code(Duration::from_secs(15)).await, Some(0), "{}", gw.log());
    assert!(!gw.log().contains("original uni-api"), "our own old tables are not the original's:\n{}", gw.log());
    let db = rusqlite::Connection::open(dir.path().join("data/stats.db")).unwrap();
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM uni_api_requests WHERE model = 'old-model' AND completion_tokens = 4"),
        1
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM uni_api_requests WHERE model = 'm'"), 1);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM uni_api_attempts WHERE channel = 'q/old-model'"), 1);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('request_stats', 'channel_attempts')"), 0);
    assert_eq!(count(&db, "SELECT MAX(version) FROM uni_api_schema"), 3);
}

#[tokio::test]
async fn post_body_parameter_overrides_reach_the_upstream_at_every_door_and_endpoint() {
    let openai = Mock::start("openai").await;
    let claude = Mock::start("claude").await;
    let yaml = format!(
        "providers:
  - provider: openai
    base_url: {}
    api: sk-o
    model: [gpt-x, text-embedding-3-small]
    preferences:
      post_body_parameter_overrides:
        stream_options: {{ include_usage: true }}
        __remove__: [user]
        gpt-x: {{ service_tier: flex, __remove__: [{{ path: tools, where: {{ type: web_search_preview }}, drop_empty: true }}] }}
        text-embedding-3-small: {{ dimensions: 256 }}
  - provider: claude
    base_url: {}/messages
    api: sk-c
    model: [claude-x]
    preferences:
      post_body_parameter_overrides:
        claude-x: {{ thinking: {{ type: enabled, budget_tokens: 2048 }}, __remove__: [temperature] }}
api_keys:
  - api: k
",
        openai.base(),
        claude.base()
    );
    let gw = TestGateway::start(&yaml).await;
    let chat = json!({"model": "gpt-x", "user": "u-1", "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "web_search_preview"}]});
    let (status, body) = gw.chat("k", chat).await;
    assert_eq!(status, 200, "{body}");
    let sent = &openai.received()[0].body;
    assert_eq!(sent["service_tier"], "flex");
    assert_eq!(sent["stream_options"]["include_usage"], true);
    assert!(sent.get("user").is_none() && sent.get("tools").is_none(), "{sent}");
    assert_eq!(sent["model"], "gpt-x");

    let response = gw.post("/v1/embeddings", "k", json!({"model": "text-embedding-3-small", "input": "x"})).await;
    assert_eq!(response.status(), 200);
    let sent = &openai.received()[1].body;
    assert_eq!((sent["dimensions"].as_u64(), sent.get("service_tier")), (Some(256), None), "{sent}");

    // The Messages door to an Anthropic channel (sent natively) and the chat door (translated).
    let (status, body) = gw
        .messages(
            "k",
            &json!({"model": "claude-x", "max_tokens": 4096, "temperature": 0.3,
            "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = gw
        .chat("k", json!({"model": "claude-x", "temperature": 0.3, "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(status, 200, "{body}");
    for sent in claude.received() {
        assert_eq!(sent.path, "/v1/messages");
        assert_eq!(sent.body["thinking"], json!({"type": "enabled", "budget_tokens": 2048}), "{}", sent.body);
        assert!(sent.body.get("temperature").is_none(), "{}", sent.body);
        assert!(sent.body.get("stream_options").is_none(), "another provider's overrides stay there");
    }
    assert_eq!(claude.received().len(), 2);
}

fn openai_chunk(content: &str, finish: serde_json::Value) -> String {
    json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "up",
           "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]})
    .to_string()
}

/// A stream whose first chunk comes after `wait` (long thinking), then two more and `[DONE]`.
fn thinking_stream(wait: Duration) -> Reply {
    Reply::Stream(vec![
        (wait, openai_chunk("Hel", serde_json::Value::Null)),
        (Duration::ZERO, openai_chunk("lo", json!("stop"))),
        (Duration::ZERO, "[DONE]".into()),
    ])
}

fn keepalive_yaml(first: &Mock, second: &Mock, global: &str) -> String {
    format!(
        "providers:
  - provider: slow
    base_url: {}
    model: [m]
    preferences: {{ model_timeout: {{ default: 1.5 }} }}
  - provider: second
    base_url: {}
    model: [m]
api_keys:
  - api: k
    preferences: {{ SCHEDULING_ALGORITHM: fixed_priority }}
preferences:
  keepalive_interval: {global}
  cooldown_period: 0
",
        first.base(),
        second.base()
    )
}

#[tokio::test]
async fn keepalive_comments_hold_a_slow_stream_open_and_failover_still_works_behind_them() {
    let slow = Mock::start("slow").await;
    let second = Mock::start("second").await;
    let gw = TestGateway::start(&keepalive_yaml(&slow, &second, "0.2")).await;

    // Long thinking on the first channel: comments every 0.2 s, then its answer, whole.
    slow.script([thinking_stream(Duration::from_millis(900))]);
    let (status, text) = gw.chat_stream("k", uni_api_tests::stream_body("m")).await;
    assert_eq!(status, 200);
    let comments = text.matches(": keepalive\n\n").count();
    assert!((2..=6).contains(&comments), "{comments} keepalives in {text:?}");
    assert!(text.starts_with(": keepalive\n\n"), "{text:?}");
    assert_eq!(uni_api_tests::sse::content(&text), "Hello");
    assert!(uni_api_tests::sse::ends_with_done(&text), "{text:?}");

    // The first channel times out after 1.5 s of silence: the second answers behind the comments.
    slow.script([Reply::Hang]);
    second.script([thinking_stream(Duration::from_millis(300))]);
    let (status, text) = gw.chat_stream("k", uni_api_tests::stream_body("m")).await;
    assert_eq!(status, 200);
    assert!(text.matches(": keepalive\n\n").count() >= 5, "{text:?}");
    assert_eq!(uni_api_tests::sse::content(&text), "Hello", "{text:?}");
    assert!(uni_api_tests::sse::ends_with_done(&text));

    // An answer that starts within the interval has no comments; a non-streamed request neither.
    slow.script([thinking_stream(Duration::ZERO)]);
    let (_, text) = gw.chat_stream("k", uni_api_tests::stream_body("m")).await;
    assert!(!text.contains("keepalive") && text.starts_with("data: "), "{text:?}");
    slow.script([Reply::Delay(Duration::from_millis(600))]);
    let (status, body) = gw.chat("k", chat_body("m")).await;
    assert_eq!((status, body["choices"][0]["message"]["content"].as_str()), (200, Some("from slow")));
}

#[tokio::test]
async fn a_request_that_fails_after_keepalives_ends_with_an_error_event_in_its_doors_shape() {
    let slow = Mock::start("slow").await;
    let second = Mock::start("second").await;
    let gw = TestGateway::start(&keepalive_yaml(&slow, &second, "{ m: 0.2 }")).await;
    slow.always(Reply::Hang);
    second.always(Reply::Delay(Duration::from_millis(400)));
    second.script([Reply::Json(429, json!({"error": {"message": "slow down"}}))]);
    // Chat: a `data:` error object, and no `[DONE]`.
    let (status, text) = gw.chat_stream("k", uni_api_tests::stream_body("m")).await;
    assert_eq!(status, 200, "committed by the keepalives");
    assert!(text.starts_with(": keepalive\n\n"), "{text:?}");
    assert!(!uni_api_tests::sse::ends_with_done(&text), "never a fake end: {text:?}");
    let events = uni_api_tests::sse::chunks(&text);
    let error = &events.last().expect("an error event")["error"];
    assert!(error["code"].as_str().unwrap().starts_with("upstream_"), "the failure's own code: {text:?}");
    assert!(error["message"].as_str().unwrap().contains("attempts"), "{text:?}");

    // Messages: Anthropic's `event: error`.
    second.script([Reply::Json(500, json!({"error": {"message": "boom"}}))]);
    let response = gw
        .post_anthropic(
            "/v1/messages",
            "k",
            &json!({"model": "m", "max_tokens": 10, "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.starts_with(": keepalive\n\n"), "{text:?}");
    assert!(text.contains("event: error\n"), "{text:?}");
    assert!(!text.contains("message_stop"), "{text:?}");
}

async fn post_with_key(
    gw: &TestGateway,
    path: &str,
    key: &str,
    idempotency: &str,
    body: &serde_json::Value,
) -> reqwest::Response {
    gw.http
        .post(gw.url(path))
        .bearer_auth(key)
        .header("idempotency-key", idempotency)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body() {
    if uni_api_tests::native_only("the Worker does not keep idempotent answers (documented)") {
        return;
    }
    let mock = Mock::start("p").await;
    let yaml = format!(
        "providers:\n  - provider: p\n    base_url: {}\n    model: [m]\napi_keys:\n  - api: k\n  - api: k2\npreferences:\n  cooldown_period: 0\n",
        mock.base()
    );
    let gw = TestGateway::start(&yaml).await;
    let body = chat_body("m");
    let first = post_with_key(&gw, "/v1/chat/completions", "k", "order-1", &body).await;
    assert_eq!(first.status(), 200);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first = first.text().await.unwrap();
    let again = post_with_key(&gw, "/v1/chat/completions", "k", "order-1", &body).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["content-type"], "application/json");
    assert_eq!(again.text().await.unwrap(), first, "the very same answer");
    assert_eq!(mock.count(), 1, "one upstream call for both");

    // Another body under the same key: 409, in the API's own shape.
    let other = post_with_key(&gw, "/v1/chat/completions", "k", "order-1", &chat_body("m2")).await;
    assert_eq!(other.status(), 409);
    let error = uni_api_tests::json_of(other).await;
    assert_eq!(error["error"]["code"], "idempotency_conflict", "{error}");
    // Another client's key never meets this one.
    assert!(post_with_key(&gw, "/v1/chat/completions", "k2", "order-1", &body)
        .await
        .headers()
        .get("idempotent-replayed")
        .is_none());
    assert_eq!(mock.count(), 2);

    // A stream is replayed as it was sent.
    let streamed = uni_api_tests::stream_body("m");
    let first = post_with_key(&gw, "/v1/chat/completions", "k", "stream-1", &streamed).await.text().await.unwrap();
    let again = post_with_key(&gw, "/v1/chat/completions", "k", "stream-1", &streamed).await;
    assert_eq!(again.headers()["content-type"], "text/event-stream");
    assert_eq!(again.text().await.unwrap(), first);
    assert!(uni_api_tests::sse::ends_with_done(&first));
    assert_eq!(mock.count(), 3);

    // A failure is not kept: the retry runs again.
    mock.script([Reply::Json(500, json!({"error": {"message": "boom"}}))]);
    assert_eq!(post_with_key(&gw, "/v1/chat/completions", "k", "retry-1", &body).await.status(), 502);
    assert_eq!(post_with_key(&gw, "/v1/chat/completions", "k", "retry-1", &body).await.status(), 200);
    assert_eq!(mock.count(), 5);

    // While the first still runs, a repeat is told so; after the TTL the key is fresh.
    mock.script([Reply::Delay(Duration::from_millis(500))]);
    let running = post_with_key(&gw, "/v1/chat/completions", "k", "slow-1", &body);
    let repeat = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        post_with_key(&gw, "/v1/chat/completions", "k", "slow-1", &body).await
    };
    let (running, repeat) = tokio::join!(running, repeat);
    assert_eq!((running.status(), repeat.status()), (reqwest::StatusCode::OK, reqwest::StatusCode::CONFLICT));
    gw.advance(Duration::from_secs(901));
    assert!(post_with_key(&gw, "/v1/chat/completions", "k", "order-1", &body)
        .await
        .headers()
        .get("idempotent-replayed")
        .is_none());

    // The Messages door answers a conflict in Anthropic's shape; a bad key is a 400.
    let message = json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(post_with_key(&gw, "/v1/messages", "k", "msg-1", &message).await.status(), 200);
    let mut changed = message.clone();
    changed["max_tokens"] = json!(11);
    let conflict = post_with_key(&gw, "/v1/messages", "k", "msg-1", &changed).await;
    assert_eq!(conflict.status(), 409);
    let error = uni_api_tests::json_of(conflict).await;
    assert_eq!(error["type"], "error", "{error}");
    let bad = post_with_key(&gw, "/v1/chat/completions", "k", &"x".repeat(129), &body).await;
    assert_eq!(bad.status(), 400);
}
