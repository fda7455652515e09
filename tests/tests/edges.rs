//! Health, bad input, provider headers and proxies, engines this build does not serve yet.

use serde_json::Value;
use uni_api_tests::{chat_body, error_code, Mock, TestGateway};

async fn simple(mock: &Mock, provider_extra: &str) -> TestGateway {
    let yaml = format!(
        "providers:\n  - provider: p\n    base_url: {}\n    api: sk-up\n    model: [m]\n{provider_extra}api_keys:\n  - api: k\n",
        mock.base()
    );
    TestGateway::start(&yaml).await
}

async fn raw_post(gw: &TestGateway, key: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let response = gw
        .http
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, serde_json::from_str(&response.text().await.unwrap()).unwrap())
}

#[tokio::test]
async fn healthz_needs_no_key() {
    let mock = Mock::start("p").await;
    let gw = simple(&mock, "").await;
    let response = gw.http.get(gw.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), r#"{"status":"ok"}"#);
}

#[tokio::test]
async fn bad_input_gets_clear_json_errors_and_the_gateway_keeps_serving() {
    let mock = Mock::start("p").await;
    let gw = simple(&mock, "").await;
    let cases: Vec<(Vec<u8>, u16, &str, &str)> = vec![
        (b"{not json".to_vec(), 400, "invalid_request", "not valid JSON"),
        (b"[1,2]".to_vec(), 400, "invalid_request", "JSON object"),
        (br#"{"messages":[]}"#.to_vec(), 400, "invalid_request", "`model` is required"),
        (br#"{"model":"m"}"#.to_vec(), 400, "invalid_request", "`messages`"),
        (br#"{"model":7,"messages":[]}"#.to_vec(), 400, "invalid_request", "`model` must be"),
        (vec![b' '; 33 * 1024 * 1024], 413, "request_too_large", "larger than"),
    ];
    for (body, status, code, message) in cases {
        let (got, reply) = raw_post(&gw, "k", body).await;
        assert_eq!((got, error_code(&reply)), (status, code), "{reply}");
        assert!(reply["error"]["message"].as_str().unwrap().contains(message), "{reply}");
    }
    assert_eq!(mock.count(), 0);
    let (status, body) = gw.get("/v1/embeddingz", "k").await;
    assert_eq!((status, error_code(&body)), (404, "unknown_url"));
    let response = gw.http.get(gw.url("/v1/chat/completions")).bearer_auth("k").send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(gw.chat("k", chat_body("m")).await.0, 200, "still serving");
}

#[tokio::test]
async fn provider_headers_are_added_to_upstream_requests() {
    let mock = Mock::start("p").await;
    let gw =
        simple(&mock, "    headers: { X-Team: research }\n    preferences:\n      headers: { X-Custom: '1' }\n").await;
    gw.chat("k", chat_body("m")).await;
    let sent = &mock.chat_requests()[0];
    assert_eq!(sent.header("x-team"), Some("research"));
    assert_eq!(sent.header("x-custom"), Some("1"));
}

#[tokio::test]
async fn an_http_proxy_carries_the_upstream_request() {
    if uni_api_tests::native_only("Workers cannot use proxies; the Worker refuses them at config load") {
        return;
    }
    let proxy = Mock::start("proxy").await;
    let yaml = format!(
        "providers:\n  - provider: p\n    base_url: http://upstream.invalid/v1\n    model: [m]\n    preferences: {{ proxy: 'http://{}' }}\napi_keys:\n  - api: k\n",
        proxy.addr
    );
    let gw = TestGateway::start(&yaml).await;
    let (status, body) = gw.chat("k", chat_body("m")).await;
    assert_eq!(status, 200, "{body}");
    let sent = &proxy.chat_requests()[0];
    assert_eq!(sent.uri, "http://upstream.invalid/v1/chat/completions");
}
