//! Chat completions to a Gemini API upstream through the native gateway.

use std::time::Duration;

use serde_json::json;
use uni_api_tests::sse::{content, ends_with_done};
use uni_api_tests::{chat_body, stream_body, Mock, Reply, TestGateway};

async fn gateway(up: &Mock) -> TestGateway {
    let yaml = format!(
        "providers:\n  - provider: gemini\n    base_url: http://{}/v1beta\n    api: AIza-test-key\n    model:\n      - gemini-2.5-flash: flash\napi_keys:\n  - api: k\npreferences:\n  image_fetch_allow: [127.0.0.1]\n",
        up.addr
    );
    TestGateway::start(&yaml).await
}

#[tokio::test]
async fn a_completion_goes_to_generate_content_with_the_key_in_a_header() {
    let up = Mock::start("gemini").await;
    up.script([Reply::Json(
        200,
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Salut"}]}, "finishReason": "STOP"}],
               "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4}}),
    )]);
    let gw = gateway(&up).await;
    let (status, reply) = gw.chat("k", chat_body("flash")).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["model"], "flash");
    assert_eq!(reply["choices"][0]["message"]["content"], "Salut");
    assert_eq!(reply["usage"]["total_tokens"], 4);
    let sent = &up.received()[0];
    assert_eq!(sent.uri, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(sent.header("x-goog-api-key"), Some("AIza-test-key"));
    assert_eq!(sent.body["contents"], json!([{"role": "user", "parts": [{"text": "hi"}]}]));
}

#[tokio::test]
async fn a_stream_uses_sse_and_ends_with_done() {
    let up = Mock::start("gemini").await;
    let event = |text: &str, finish: Option<&str>| {
        let mut c = json!({"content": {"role": "model", "parts": [{"text": text}]}});
        if let Some(f) = finish {
            c["finishReason"] = json!(f);
        }
        (Duration::ZERO, json!({"candidates": [c]}).to_string())
    };
    up.script([Reply::Stream(vec![event("Bon", None), event("jour", Some("STOP"))])]);
    let gw = gateway(&up).await;
    let (status, text) = gw.chat_stream("k", stream_body("flash")).await;
    assert_eq!(status, 200);
    assert_eq!(content(&text), "Bonjour");
    assert!(ends_with_done(&text), "{text}");
    assert_eq!(up.received()[0].uri, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
}

#[tokio::test]
async fn http_images_are_fetched_and_inlined_because_gemini_cannot_fetch_them() {
    let up = Mock::start("gemini").await;
    let images = Mock::start("images").await;
    images.always(Reply::Raw(200, "image/png", "PNGDATA".into()));
    up.script([Reply::Json(
        200,
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "a cat"}]}, "finishReason": "STOP"}]}),
    )]);
    let gw = gateway(&up).await;
    let image_url = format!("http://{}/cat.png?sig=secret", images.addr);
    let mut body = chat_body("flash");
    body["messages"] = json!([{"role": "user", "content": [{"type": "text", "text": "what is it?"}, {"type": "image_url", "image_url": {"url": image_url}}]}]);
    let (status, reply) = gw.chat("k", body.clone()).await;
    assert_eq!(status, 200, "{reply}");
    let part = &up.received()[0].body["contents"][0]["parts"][1];
    assert_eq!(part, &json!({"inlineData": {"mimeType": "image/png", "data": "UE5HREFUQQ=="}}));

    // An image that cannot be fetched is the request's fault, found before any upstream call.
    images.always(Reply::Json(404, json!({})));
    let (status, reply) = gw.chat("k", body).await;
    assert_eq!(status, 400, "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("could not be fetched") && !message.contains("secret"), "{message}");
    assert_eq!(up.received().len(), 1);
}
