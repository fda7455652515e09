//! Vertex AI through the native gateway: the service-account token exchange against a mock
//! token endpoint (with a key generated for the test, the assertion checked with its public
//! half), token reuse, regions with failover, and Gemini and Claude publishers.

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::sha2::Sha256;
use rsa::signature::Verifier;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use uni_api_tests::{chat_body, Mock, Reply, TestGateway};

/// A service-account key generated for this test run.
fn key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::new(&mut rand_core::OsRng, 2048).expect("generate a key"))
}

async fn gateway(up: &Mock, regions: &str, model: &str) -> TestGateway {
    gateway_with(up, regions, model, "").await
}

async fn gateway_with(up: &Mock, regions: &str, model: &str, extra: &str) -> TestGateway {
    let pem = key().to_pkcs8_pem(LineEnding::LF).unwrap();
    // The key goes in as the JSON key file has it: one line with `\n` escapes.
    let escaped = pem.trim().replace('\n', "\\n");
    let yaml = format!(
        "providers:\n  - provider: vertex\n    base_url: http://{addr}\n    project_id: proj-1\n    client_email: sa@proj-1.iam.gserviceaccount.com\n    private_key: \"{escaped}\"\n    token_uri: http://{addr}/token\n    region: {regions}\n    model: [{{{model}: m}}]\napi_keys:\n  - api: k\n{extra}",
        addr = up.addr
    );
    TestGateway::start(&yaml).await
}

fn token_reply() -> Reply {
    Reply::Json(200, json!({"access_token": "ya29.test-token", "expires_in": 3599, "token_type": "Bearer"}))
}

fn gemini_reply(text: &str) -> Reply {
    Reply::Json(
        200,
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}]}),
    )
}

/// Checks the JWT assertion a token request carried: signature and claims.
fn check_assertion(form: &str, audience: &str) {
    let assertion = form.split('&').find_map(|p| p.strip_prefix("assertion=")).expect("assertion in the form");
    assert!(form.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"), "{form}");
    let (signing_input, signature) = assertion.rsplit_once('.').unwrap();
    let key = VerifyingKey::<Sha256>::new(RsaPublicKey::from(key()));
    let signature = Signature::try_from(URL_SAFE_NO_PAD.decode(signature).unwrap().as_slice()).unwrap();
    key.verify(signing_input.as_bytes(), &signature).expect("the assertion is signed with the service account's key");
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(signing_input.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(claims["iss"], "sa@proj-1.iam.gserviceaccount.com");
    assert_eq!(claims["aud"], audience);
    assert_eq!(claims["scope"], "https://www.googleapis.com/auth/cloud-platform");
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 3600);
}

#[tokio::test]
async fn a_gemini_model_is_reached_with_a_cached_service_account_token() {
    let up = Mock::start("vertex").await;
    up.script([token_reply(), gemini_reply("one"), gemini_reply("two")]);
    let gw = gateway(&up, "us-central1", "gemini-2.5-flash").await;
    let (status, reply) = gw.chat("k", chat_body("m")).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["choices"][0]["message"]["content"], "one");
    let (_, reply) = gw.chat("k", chat_body("m")).await;
    assert_eq!(reply["choices"][0]["message"]["content"], "two");

    let received = up.received();
    assert_eq!(received.len(), 3, "the token is fetched once and reused");
    assert_eq!(received[0].path, "/token");
    assert_eq!(received[0].header("content-type"), Some("application/x-www-form-urlencoded"));
    for call in &received[1..] {
        assert_eq!(
            call.uri,
            "/v1/projects/proj-1/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent"
        );
        assert_eq!(call.header("authorization"), Some("Bearer ya29.test-token"));
        assert_eq!(call.body["contents"][0]["parts"][0]["text"], "hi");
    }
    check_assertion(&up.raw_bodies()[0], &format!("http://{}/token", up.addr));
}

#[tokio::test]
async fn regions_rotate_and_a_failing_region_fails_over_to_the_next() {
    let up = Mock::start("vertex").await;
    up.script([
        token_reply(),
        Reply::Json(503, json!({"error": {"message": "region busy"}})),
        gemini_reply("from the second"),
    ]);
    let gw = gateway(&up, "[europe-west1, us-east5]", "gemini-2.5-pro").await;
    let (status, reply) = gw.chat("k", chat_body("m")).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["choices"][0]["message"]["content"], "from the second");
    let regions: Vec<String> = up.received()[1..]
        .iter()
        .map(|r| r.path.split("/locations/").nth(1).unwrap().split('/').next().unwrap().to_owned())
        .collect();
    assert_eq!(regions, vec!["europe-west1", "us-east5"]);
}

#[tokio::test]
async fn claude_models_use_raw_predict_with_the_vertex_anthropic_version() {
    let up = Mock::start("vertex").await;
    up.script([
        token_reply(),
        Reply::Json(200, json!({"id": "msg_v", "type": "message", "role": "assistant", "content": [{"type": "text", "text": "Claude here"}],
                                 "stop_reason": "end_turn", "usage": {"input_tokens": 3, "output_tokens": 2}})),
    ]);
    let gw = gateway(&up, "global", "claude-sonnet-4@20250514").await;
    let (status, reply) = gw.chat("k", chat_body("m")).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["choices"][0]["message"]["content"], "Claude here");
    let call = &up.received()[1];
    assert_eq!(
        call.uri,
        "/v1/projects/proj-1/locations/global/publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict"
    );
    assert_eq!(call.body["anthropic_version"], "vertex-2023-10-16");
    assert!(call.body.get("model").is_none());
}

#[tokio::test]
async fn a_refused_service_account_is_a_clear_error_without_secrets() {
    let up = Mock::start("vertex").await;
    up.script([Reply::Json(400, json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}))]);
    let gw = gateway(&up, "global", "gemini-2.5-flash").await;
    let (status, reply) = gw.chat("k", chat_body("m")).await;
    assert_eq!(status, 502, "{reply}");
    let text = reply.to_string();
    assert!(text.contains("invalid_grant"), "{text}");
    assert!(!text.contains("PRIVATE KEY") && !text.contains("ya29"), "{text}");
}

#[tokio::test]
async fn claude_code_reaches_a_vertex_claude_model_in_its_own_format() {
    let up = Mock::start("vertex").await;
    up.script([token_reply()]);
    let gw = gateway(&up, "us-east5", "claude-sonnet-4-5@20250929").await;
    let body = json!({"model": "m", "max_tokens": 64, "stream": true, "messages": [{"role": "user", "content": "hi"}],
                      "system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}]});
    let response = gw
        .http
        .post(gw.url("/v1/messages?beta=true"))
        .header("x-api-key", "k")
        .header("anthropic-beta", "context-management-2025-06-27")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.contains("event: message_stop"), "{text}");
    assert!(text.contains("\"model\":\"m\""), "the reply names the client's model: {text}");
    let call = &up.received()[1];
    assert_eq!(
        call.path,
        "/v1/projects/proj-1/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict"
    );
    assert_eq!(call.header("authorization"), Some("Bearer ya29.test-token"));
    assert_eq!(call.header("anthropic-beta"), Some("context-management-2025-06-27"));
    let mut expected = body.clone();
    expected.as_object_mut().unwrap().remove("model");
    expected["anthropic_version"] = json!("vertex-2023-10-16");
    assert_eq!(call.body, expected, "the client's body, the model moved to the URL");
}

#[tokio::test]
async fn gemini_cli_reaches_a_vertex_gemini_model_in_its_own_format() {
    let up = Mock::start("vertex").await;
    up.script([token_reply()]);
    let gw = gateway(&up, "global", "gemini-2.5-pro").await;
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": {"thinkingConfig": {"thinkingBudget": 128}}});
    let response = gw
        .http
        .post(gw.url("/v1beta/models/m:generateContent"))
        .header("x-goog-api-key", "k")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let reply: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(reply["candidates"][0]["content"]["parts"][0]["text"], "from vertex");
    assert_eq!(reply["modelVersion"], "m");
    let call = &up.received()[1];
    assert_eq!(
        call.path,
        "/v1/projects/proj-1/locations/global/publishers/google/models/gemini-2.5-pro:generateContent"
    );
    assert_eq!(up.raw_bodies()[1], body.to_string(), "byte for byte");
}

#[tokio::test]
async fn a_hanging_token_endpoint_holds_a_request_no_longer_than_its_deadline() {
    let up = Mock::start("vertex").await;
    up.always(Reply::Hang);
    let gw = gateway_with(&up, "global", "gemini-2.5-flash", "preferences:\n  request_timeout: 1\n").await;
    let started = std::time::Instant::now();
    let ((a, first), (b, second)) = tokio::join!(gw.chat("k", chat_body("m")), async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        gw.chat("k", chat_body("m")).await
    });
    let waited = started.elapsed();
    assert!(waited < std::time::Duration::from_secs(10), "waited {waited:?}");
    for (status, reply) in [(a, first), (b, second)] {
        assert_eq!(status, 504, "{reply}");
        assert!(reply.to_string().contains("request_timeout"), "{reply}");
    }
}

#[tokio::test]
async fn a_failed_token_refresh_is_remembered_briefly_not_retried_by_every_request() {
    let up = Mock::start("vertex").await;
    up.script([Reply::Json(500, json!({"error": "internal"}))]);
    let gw = gateway(&up, "global", "gemini-2.5-flash").await;
    for _ in 0..3 {
        let (status, reply) = gw.chat("k", chat_body("m")).await;
        assert_eq!(status, 502, "{reply}");
        assert!(reply.to_string().contains("HTTP 500"), "{reply}");
    }
    let token_requests = up.received().iter().filter(|r| r.path == "/token").count();
    assert_eq!(token_requests, 1, "the token endpoint was asked again within the failure memory");
    if uni_api_tests::native_only("moves the gateway's clock") {
        return;
    }
    // After the memory (10 s) a refresh is tried again.
    up.script([token_reply(), gemini_reply("back")]);
    gw.advance(std::time::Duration::from_secs(11));
    let (status, reply) = gw.chat("k", chat_body("m")).await;
    assert_eq!(status, 200, "{reply}");
}
