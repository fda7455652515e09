//! Browser front-ends: CORS preflights, and `fetch()` from a page on another origin in headless
//! Chromium reaching every API (issue #14, point 1). Runs against the native gateway and, with
//! `UNI_API_TEST_TARGET=worker`, the Worker.

use serde_json::{json, Value};
use uni_api_tests::browser::{call, driver, fetch_from_page, page_server};
use uni_api_tests::{chat_body, stream_body, Mock, TestGateway};

fn yaml(mock: &Mock, cors: &str) -> String {
    format!(
        "providers:
  - provider: p
    base_url: {}
    api: sk-up
    model: [m]
api_keys:
  - api: sk-page
  - api: sk-limited
    preferences:
      rate_limit: 1/min
{cors}",
        mock.base()
    )
}

#[tokio::test]
async fn a_preflight_answers_204_and_every_response_carries_the_origin_header() {
    let mock = Mock::start("p").await;
    let gw = TestGateway::start(&yaml(&mock, "")).await;
    let preflight = gw
        .http
        .request(reqwest::Method::OPTIONS, gw.url("/v1/chat/completions"))
        .header("origin", "https://chat.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type, x-stainless-lang")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    let headers = preflight.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    let methods = headers["access-control-allow-methods"].to_str().unwrap();
    assert!(methods.contains("POST") && methods.contains("GET"), "{methods}");
    let allowed = headers["access-control-allow-headers"].to_str().unwrap().to_owned();
    for name in ["authorization", "x-api-key", "anthropic-version", "x-goog-api-key", "x-stainless-lang"] {
        assert!(allowed.contains(name), "{name} in {allowed}");
    }
    assert!(preflight.text().await.unwrap().is_empty());
    assert!(mock.received().is_empty(), "a preflight never reaches an upstream");

    // Answers of every kind carry it: a completion, a stream, an auth error, an unknown route.
    let ok = gw.post("/v1/chat/completions", "sk-page", chat_body("m")).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["access-control-allow-origin"], "*");
    let streamed = gw.post("/v1/chat/completions", "sk-page", stream_body("m")).await;
    assert_eq!(streamed.headers()["access-control-allow-origin"], "*");
    let unauthorized = gw.post("/v1/chat/completions", "sk-wrong", chat_body("m")).await;
    assert_eq!(unauthorized.status(), 401);
    assert_eq!(unauthorized.headers()["access-control-allow-origin"], "*");
    let unknown = gw.http.get(gw.url("/v1/nothing-here")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(unknown.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn cors_off_adds_nothing_and_options_is_not_a_method() {
    let mock = Mock::start("p").await;
    let gw = TestGateway::start(&yaml(&mock, "preferences:\n  cors_origins: false\n")).await;
    let preflight = gw.http.request(reqwest::Method::OPTIONS, gw.url("/v1/chat/completions")).send().await.unwrap();
    assert_eq!(preflight.status(), 405);
    assert!(preflight.headers().get("access-control-allow-origin").is_none());
    let ok = gw.post("/v1/chat/completions", "sk-page", chat_body("m")).await;
    assert_eq!(ok.status(), 200);
    assert!(ok.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_page_on_another_origin_calls_every_api_from_chromium() {
    let Some(driver) = driver() else { return };
    let page = page_server().await;
    let mock = Mock::start("p").await;
    let gw = TestGateway::start(&yaml(&mock, "")).await;
    let bearer = |key: &str| json!({"authorization": format!("Bearer {key}"), "content-type": "application/json"});
    let calls = [
        call(gw.url("/v1/chat/completions"), "POST", bearer("sk-page"), Some(chat_body("m"))),
        call(gw.url("/v1/chat/completions"), "POST", bearer("sk-page"), Some(stream_body("m"))),
        call(
            gw.url("/v1/messages"),
            "POST",
            json!({"x-api-key": "sk-page", "anthropic-version": "2023-06-01", "content-type": "application/json"}),
            Some(json!({"model": "m", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]})),
        ),
        call(
            gw.url("/v1beta/models/m:generateContent"),
            "POST",
            json!({"x-goog-api-key": "sk-page", "content-type": "application/json"}),
            Some(json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})),
        ),
        call(gw.url("/v1/models"), "GET", json!({"authorization": "Bearer sk-page"}), None),
        call(gw.url("/v1/chat/completions"), "POST", bearer("sk-wrong"), Some(chat_body("m"))),
        call(gw.url("/v1/chat/completions"), "POST", bearer("sk-limited"), Some(chat_body("m"))),
        call(gw.url("/v1/chat/completions"), "POST", bearer("sk-limited"), Some(chat_body("m"))),
    ];
    let (origin, results) = fetch_from_page(&driver, page, &calls).await;
    assert_eq!(origin, format!("http://{page}"));
    assert_ne!(origin, format!("http://{}", gw.addr), "the page is on another origin than the gateway");
    let body =
        |i: usize| -> Value { serde_json::from_str(results[i]["body"].as_str().unwrap_or("")).unwrap_or(Value::Null) };
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result["ok"], true, "call {i} was blocked: {result}");
    }
    assert_eq!(results[0]["status"], 200, "{}", results[0]);
    assert_eq!(body(0)["choices"][0]["message"]["content"], "from p");
    let stream = results[1]["body"].as_str().unwrap();
    let said: String = stream
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line.strip_prefix("data: ")?).ok())
        .filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(said, "from p", "{stream}");
    assert!(stream.trim_end().ends_with("data: [DONE]"), "{stream}");
    assert_eq!(results[2]["status"], 200, "{}", results[2]);
    assert_eq!(body(2)["type"], "message");
    assert_eq!(results[3]["status"], 200, "{}", results[3]);
    assert_eq!(body(3)["candidates"][0]["content"]["parts"][0]["text"], "from p");
    assert_eq!(results[4]["status"], 200);
    assert_eq!(body(4)["data"][0]["id"], "m");
    // Errors are readable by the page too, with what it needs to react.
    assert_eq!(results[5]["status"], 401);
    assert!(body(5)["error"]["message"].is_string(), "{}", results[5]);
    assert_eq!(results[6]["status"], 200);
    assert_eq!(results[7]["status"], 429, "{}", results[7]);
    let retry_after = results[7]["headers"]["retry-after"].as_str().expect("Retry-After is exposed to the page");
    assert!(retry_after.parse::<u64>().is_ok_and(|s| (1..=60).contains(&s)), "{retry_after}");
    assert_eq!(mock.chat_requests().len(), 4 + 1, "chat, stream, messages, gemini and one limited call");
}

#[tokio::test]
async fn a_list_of_origins_lets_only_its_pages_in() {
    let Some(driver) = driver() else { return };
    let page = page_server().await;
    let listed = Mock::start("p").await;
    let gw = TestGateway::start(&yaml(&listed, &format!("preferences:\n  cors_origins: [http://{page}]\n"))).await;
    let other = Mock::start("p").await;
    let closed = TestGateway::start(&yaml(&other, "preferences:\n  cors_origins: [https://chat.example.com]\n")).await;
    let headers = json!({"authorization": "Bearer sk-page", "content-type": "application/json"});
    let calls = [
        call(gw.url("/v1/chat/completions"), "POST", headers.clone(), Some(chat_body("m"))),
        call(closed.url("/v1/chat/completions"), "POST", headers, Some(chat_body("m"))),
    ];
    let (_, results) = fetch_from_page(&driver, page, &calls).await;
    assert_eq!(results[0]["ok"], true, "{}", results[0]);
    assert_eq!(results[0]["status"], 200);
    assert_eq!(results[1]["ok"], false, "a page not on the list is refused by the browser: {}", results[1]);
    assert!(other.received().is_empty(), "its preflight failed, so the request never left the browser");
}
