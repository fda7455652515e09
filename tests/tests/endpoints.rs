//! Embeddings, image generation and moderation: JSON passthrough, routed, renamed and failed
//! over like chat.

use serde_json::{json, Value};
use uni_api_tests::{error_code, Mock, Reply, TestGateway};

async fn post(gw: &TestGateway, path: &str, body: Value) -> (u16, Value) {
    let response = gw.post(path, "k", body).await;
    let status = response.status().as_u16();
    (status, serde_json::from_str(&response.text().await.unwrap()).unwrap())
}

#[tokio::test]
async fn embeddings_images_and_moderations_pass_through_with_renames_and_failover() {
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    a.script([Reply::Json(503, json!({"error": {"message": "busy"}}))]);
    b.script([
        Reply::Json(200, json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}], "model": "text-embedding-3-small", "usage": {"prompt_tokens": 2, "total_tokens": 2}})),
        Reply::Json(200, json!({"created": 1, "data": [{"url": "https://img/1.png"}]})),
        Reply::Json(200, json!({"id": "modr-1", "model": "omni-moderation-latest", "results": [{"flagged": false}]})),
    ]);
    let yaml = format!(
        "providers:\n  - provider: a\n    base_url: {}/chat/completions\n    model: [{{text-embedding-3-small: embed}}]\n  - provider: b\n    base_url: {}\n    model: [{{text-embedding-3-small: embed}}, dall-e-3, omni-moderation-latest]\napi_keys:\n  - api: k\npreferences:\n  cooldown_period: 0\n",
        a.base(),
        b.base()
    );
    let gw = TestGateway::start(&yaml).await;

    let (status, reply) =
        post(&gw, "/v1/embeddings", json!({"model": "embed", "input": "hi", "encoding_format": "float"})).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["model"], "embed");
    assert_eq!(reply["data"][0]["embedding"], json!([0.1, 0.2]));
    assert_eq!(a.received()[0].path, "/v1/embeddings");
    let sent = &b.received()[0];
    assert_eq!(sent.path, "/v1/embeddings");
    assert_eq!(sent.body, json!({"model": "text-embedding-3-small", "input": "hi", "encoding_format": "float"}));

    let (status, reply) =
        post(&gw, "/v1/images/generations", json!({"model": "dall-e-3", "prompt": "a cat", "size": "1024x1024"})).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["data"][0]["url"], "https://img/1.png");
    assert_eq!(b.received()[1].path, "/v1/images/generations");

    let (status, reply) =
        post(&gw, "/v1/moderations", json!({"model": "omni-moderation-latest", "input": "hello"})).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["results"][0]["flagged"], false);
    assert_eq!(b.received()[2].path, "/v1/moderations");

    let (status, reply) = post(&gw, "/v1/embeddings", json!({"model": "nope", "input": "x"})).await;
    assert_eq!((status, error_code(&reply)), (404, "model_not_found"));
    let (status, reply) = post(&gw, "/v1/embeddings", json!({"input": "x"})).await;
    assert_eq!((status, error_code(&reply)), (400, "invalid_request"));
}

#[tokio::test]
async fn a_dialect_without_the_endpoint_is_skipped_without_a_cooldown() {
    let (claude, openai) = (Mock::start("claude").await, Mock::start("openai").await);
    let yaml = format!(
        "providers:\n  - provider: claude\n    base_url: {}/messages\n    model: [m]\n  - provider: openai\n    base_url: {}\n    model: [m]\napi_keys:\n  - api: k\n",
        claude.base(),
        openai.base()
    );
    let gw = TestGateway::start(&yaml).await;
    let (status, _) = post(&gw, "/v1/embeddings", json!({"model": "m", "input": "x"})).await;
    assert_eq!(status, 200);
    assert!(claude.received().is_empty(), "no request to a dialect that has no embeddings");
    // The Anthropic channel is not cooling down: chat still goes to it first.
    claude.script([Reply::Json(200, json!({"id": "msg", "type": "message", "role": "assistant", "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn"}))]);
    let (status, reply) = gw.chat("k", uni_api_tests::chat_body("m")).await;
    assert_eq!((status, reply["choices"][0]["message"]["content"].as_str()), (200, Some("hi")));
}

#[tokio::test]
async fn gemini_embeddings_are_translated_to_and_from_the_openai_shape() {
    let gemini = Mock::start("gemini").await;
    gemini.script([
        Reply::Json(200, json!({"embeddings": [{"values": [0.5, -0.25]}, {"values": [1.0, 0.0]}]})),
        Reply::Json(200, json!({"unexpected": true})),
    ]);
    let yaml = format!(
        "providers:\n  - provider: g\n    base_url: http://{}/v1beta\n    engine: gemini\n    api: AIza-test-key\n    model: [{{text-embedding-004: embed}}]\napi_keys:\n  - api: k\n",
        gemini.addr
    );
    let gw = TestGateway::start(&yaml).await;
    let (status, reply) =
        post(&gw, "/v1/embeddings", json!({"model": "embed", "input": ["one", "two"], "dimensions": 2})).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply,
        json!({"object": "list", "data": [
            {"object": "embedding", "index": 0, "embedding": [0.5, -0.25]},
            {"object": "embedding", "index": 1, "embedding": [1.0, 0.0]}
        ], "model": "embed", "usage": {"prompt_tokens": 0, "total_tokens": 0}})
    );
    let sent = &gemini.received()[0];
    assert_eq!(sent.path, "/v1beta/models/text-embedding-004:batchEmbedContents");
    assert_eq!(sent.header("x-goog-api-key"), Some("AIza-test-key"));
    assert!(!sent.uri.contains("AIza"), "the key never travels in the URL");
    assert_eq!(
        sent.body,
        json!({"requests": [
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "one"}]}, "outputDimensionality": 2},
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "two"}]}, "outputDimensionality": 2}
        ]})
    );

    // An answer without embeddings is a failed attempt (502), not an empty success.
    let (status, reply) = post(&gw, "/v1/embeddings", json!({"model": "embed", "input": "x"})).await;
    assert_eq!(status, 502, "{reply}");
    // Token ids cannot be sent to Gemini: a 400 that says so, and nothing goes out.
    let before = gemini.received().len();
    let (status, reply) = post(&gw, "/v1/embeddings", json!({"model": "embed", "input": [[1, 2, 3]]})).await;
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["error"]["code"], "invalid_request");
    assert!(reply["error"]["message"].as_str().unwrap().contains("embeds text only"), "{reply}");
    assert_eq!(gemini.received().len(), before);
}

#[tokio::test]
async fn token_id_embeddings_skip_gemini_channels_for_ones_that_take_them() {
    let (gemini, openai) = (Mock::start("gemini").await, Mock::start("openai").await);
    openai.script([Reply::Json(
        200,
        json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1]}], "model": "e3", "usage": {"prompt_tokens": 3, "total_tokens": 3}}),
    )]);
    let yaml = format!(
        "providers:\n  - provider: g\n    base_url: http://{}/v1beta\n    engine: gemini\n    api: AIza-test-key\n    model: [{{text-embedding-004: embed}}]\n  - provider: o\n    base_url: http://{}/v1\n    api: sk-o\n    model: [{{text-embedding-3-small: embed}}]\napi_keys:\n  - api: k\n    model: [g/embed, o/embed]\n    preferences: {{SCHEDULING_ALGORITHM: fixed_priority}}\n",
        gemini.addr, openai.addr
    );
    let gw = TestGateway::start(&yaml).await;
    let (status, reply) = post(&gw, "/v1/embeddings", json!({"model": "embed", "input": [1, 2, 3]})).await;
    assert_eq!(status, 200, "{reply}");
    assert!(gemini.received().is_empty(), "the Gemini channel comes first but cannot take token ids");
    let sent = &openai.received()[0];
    assert_eq!(sent.body, json!({"model": "text-embedding-3-small", "input": [1, 2, 3]}));

    // Skipping it was no failure: the Gemini channel is not cooling down and takes the next text.
    gemini.script([Reply::Json(200, json!({"embeddings": [{"values": [0.5]}]}))]);
    let (status, reply) = post(&gw, "/v1/embeddings", json!({"model": "embed", "input": "text"})).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(gemini.received().len(), 1);
}
