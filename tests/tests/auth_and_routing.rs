//! Client auth, permission rules, renames, `/v1/models` and model discovery.

use serde_json::json;
use uni_api_tests::{chat_body, error_code, Mock, TestGateway};

async fn two_providers() -> (Mock, Mock, TestGateway) {
    let a = Mock::start("a").await;
    let b = Mock::start("b").await;
    let yaml = format!(
        r#"
providers:
  - provider: pa
    base_url: {a}/chat/completions
    api: sk-up-a
    model:
      - gpt-4o
      - claude-3-5-sonnet-20240620: claude-3-5-sonnet
      - vendor/model-x
  - provider: pb
    base_url: {b}
    api: sk-up-b
    model: [gpt-4o, llama-3]
api_keys:
  - api: sk-all
  - api: sk-plain
    model: [gpt-4o]
  - api: sk-provider
    model: [pb/*]
  - api: sk-provider-model
    model: [pa/claude-3-5-sonnet]
  - api: sk-literal
    model: [<vendor/model-x>]
  - api: sk-via-key
    model: [sk-provider/*]
  - api: sk-loop
    model: [sk-loop2/*]
  - api: sk-loop2
    model: [sk-loop/*, pa/gpt-4o]
"#,
        a = a.base(),
        b = b.base()
    );
    let gw = TestGateway::start(&yaml).await;
    (a, b, gw)
}

#[tokio::test]
async fn a_missing_or_unknown_key_gets_401_and_no_upstream_call() {
    let (a, b, gw) = two_providers().await;
    let no_key =
        gw.http.post(gw.url("/v1/chat/completions")).body(chat_body("gpt-4o").to_string()).send().await.unwrap();
    assert_eq!(no_key.status(), 401);
    let body: serde_json::Value = no_key.json_body().await;
    assert_eq!(error_code(&body), "missing_api_key");
    assert_eq!(body["error"]["type"], "authentication_error");

    let (status, body) = gw.chat("sk-wrong", chat_body("gpt-4o")).await;
    assert_eq!((status, error_code(&body)), (401, "invalid_api_key"));
    let (status, _) = gw.get("/v1/models", "sk-wrong").await;
    assert_eq!(status, 401);
    assert_eq!(a.count() + b.count(), 0);
}

#[tokio::test]
async fn bearer_and_x_api_key_both_authenticate() {
    let (_a, _b, gw) = two_providers().await;
    let (status, _) = gw.chat("sk-all", chat_body("gpt-4o")).await;
    assert_eq!(status, 200);
    let response = gw
        .http
        .post(gw.url("/v1/chat/completions"))
        .header("x-api-key", "sk-plain")
        .header("content-type", "application/json")
        .body(chat_body("gpt-4o").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn renames_send_the_upstream_id_and_report_the_alias() {
    let (a, _b, gw) = two_providers().await;
    let (status, body) = gw.chat("sk-all", chat_body("claude-3-5-sonnet")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "claude-3-5-sonnet");
    assert_eq!(body["choices"][0]["message"]["content"], "from a");
    assert_eq!(a.chat_requests()[0].body["model"], "claude-3-5-sonnet-20240620");
    // The upstream id itself is not an alias, so it is unknown.
    let (status, body) = gw.chat("sk-all", chat_body("claude-3-5-sonnet-20240620")).await;
    assert_eq!((status, error_code(&body)), (404, "model_not_found"));
}

#[tokio::test]
async fn each_rule_form_selects_the_right_channels() {
    let (a, b, gw) = two_providers().await;
    // `gpt-4o` (plain) is served by pa first (fixed priority, config order).
    let (_, body) = gw.chat("sk-plain", chat_body("gpt-4o")).await;
    assert_eq!(body["choices"][0]["message"]["content"], "from a");
    // `pb/*` only reaches pb.
    let (_, body) = gw.chat("sk-provider", chat_body("gpt-4o")).await;
    assert_eq!(body["choices"][0]["message"]["content"], "from b");
    // `<vendor/model-x>` is a literal model name containing a slash.
    let (status, body) = gw.chat("sk-literal", chat_body("vendor/model-x")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(a.chat_requests().last().unwrap().body["model"], "vendor/model-x");
    // A key used as a channel: sk-via-key may use what sk-provider may use, resolved in-process.
    let (status, body) = gw.chat("sk-via-key", chat_body("llama-3")).await;
    assert_eq!((status, body["choices"][0]["message"]["content"].as_str()), (200, Some("from b")));
    // Keys that refer to each other do not loop.
    let (status, _) = gw.chat("sk-loop", chat_body("gpt-4o")).await;
    assert_eq!(status, 200);
    assert!(b.count() >= 2);
}

#[tokio::test]
async fn a_model_the_key_may_not_use_is_403_and_an_unknown_one_404() {
    let (a, b, gw) = two_providers().await;
    let (status, body) = gw.chat("sk-plain", chat_body("llama-3")).await;
    assert_eq!((status, error_code(&body)), (403, "model_not_allowed"));
    assert!(body["error"]["message"].as_str().unwrap().contains("llama-3"));
    let (status, body) = gw.chat("sk-provider-model", chat_body("gpt-4o")).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = gw.chat("sk-all", chat_body("gpt-9")).await;
    assert_eq!((status, error_code(&body)), (404, "model_not_found"));
    assert!(body["error"]["message"].as_str().unwrap().contains("gpt-9"));
    assert_eq!(a.count() + b.count(), 0);
}

#[tokio::test]
async fn models_lists_exactly_what_the_key_may_use() {
    let (_a, _b, gw) = two_providers().await;
    let ids = |body: serde_json::Value| -> Vec<String> {
        assert_eq!(body["object"], "list");
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                assert_eq!(m["object"], "model");
                m["id"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    let (status, body) = gw.get("/v1/models", "sk-all").await;
    assert_eq!(status, 200);
    assert_eq!(ids(body), vec!["gpt-4o", "claude-3-5-sonnet", "vendor/model-x", "llama-3"]);
    assert_eq!(ids(gw.get("/v1/models", "sk-plain").await.1), vec!["gpt-4o"]);
    assert_eq!(ids(gw.get("/v1/models", "sk-provider").await.1), vec!["gpt-4o", "llama-3"]);
    assert_eq!(ids(gw.get("/v1/models", "sk-provider-model").await.1), vec!["claude-3-5-sonnet"]);
    assert_eq!(ids(gw.get("/v1/models", "sk-literal").await.1), vec!["vendor/model-x"]);
    assert_eq!(ids(gw.get("/v1/models", "sk-via-key").await.1), vec!["gpt-4o", "llama-3"]);
}

#[tokio::test]
async fn providers_without_a_model_list_discover_it_at_start() {
    if uni_api_tests::native_only("the Worker discovers models on its first request, not at a start it does not have") {
        return;
    }
    let good = Mock::start("good").await;
    good.models(200, json!({"object": "list", "data": [{"id": "m1"}, {"id": "m2"}, {"id": "m1"}]}));
    let broken = Mock::start("broken").await;
    broken.models(500, json!({"error": {"message": "down"}}));
    let yaml = format!(
        "providers:\n  - provider: good\n    base_url: {}\n    api: sk-discover\n  - provider: broken\n    base_url: {}\n    api: sk-x\napi_keys:\n  - api: sk-k\n",
        good.base(),
        broken.base()
    );
    let gw = TestGateway::start(&yaml).await;
    let listing = &good.received()[0];
    assert_eq!(listing.path, "/v1/models");
    assert_eq!(listing.header("authorization"), Some("Bearer sk-discover"));
    let (_, body) = gw.get("/v1/models", "sk-k").await;
    let ids: Vec<&str> = body["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["m1", "m2"]);
    let (status, _) = gw.chat("sk-k", chat_body("m2")).await;
    assert_eq!(status, 200);
    assert_eq!(broken.count(), 0);
}

trait JsonBody {
    async fn json_body(self) -> serde_json::Value;
}

impl JsonBody for reqwest::Response {
    async fn json_body(self) -> serde_json::Value {
        serde_json::from_str(&self.text().await.unwrap()).unwrap()
    }
}
