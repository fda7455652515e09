//! `ENABLE_MODERATION`: the last user message is checked first; flagged requests are refused
//! with their categories, recorded as flagged, and never reach the chat upstream.

use serde_json::json;
use uni_api_native::stats::{Stats, StatsTarget};
use uni_api_tests::{chat_body, error_code, Mock, Reply, TestGateway};

fn yaml(mock: &Mock) -> String {
    format!(
        "providers:\n  - provider: a\n    base_url: {}\n    model: [gpt-4o, omni-moderation-latest]\napi_keys:\n  - api: checked\n    preferences:\n      ENABLE_MODERATION: true\n  - api: limited\n    model: [a/gpt-4o]\n    preferences:\n      ENABLE_MODERATION: true\n  - api: free\n",
        mock.base()
    )
}

#[tokio::test]
async fn a_flagged_request_is_refused_with_its_categories_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stats.db");
    let stats = Stats::open(&StatsTarget::Sqlite(path.clone())).await.unwrap().unwrap();
    let mock = Mock::start("a").await;
    mock.script([
        Reply::Json(200, json!({"id": "modr-1", "model": "omni-moderation-latest", "results": [{"flagged": true, "categories": {"violence": true, "hate": false, "harassment": true}}]})),
        Reply::Json(200, json!({"id": "modr-2", "model": "omni-moderation-latest", "results": [{"flagged": false, "categories": {"violence": false}}]})),
    ]);
    let gw = TestGateway::start_with_stats(&yaml(&mock), stats.store()).await;
    let body = json!({"model": "gpt-4o", "messages": [
        {"role": "user", "content": "earlier"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "something bad"}, {"type": "text", "text": "and more"}]}
    ]});
    let (status, reply) = gw.chat("checked", body.clone()).await;
    assert_eq!((status, error_code(&reply)), (400, "content_flagged"), "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("violence, harassment") && !message.contains("hate"), "{message}");
    assert_eq!(mock.count(), 0, "a flagged request never reaches the chat upstream");
    let check = &mock.received()[0];
    assert_eq!(check.path, "/v1/moderations");
    assert_eq!(check.body, json!({"model": "omni-moderation-latest", "input": "something bad\nand more"}));

    let (status, reply) = gw.chat("checked", body).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(mock.count(), 1);

    // Keys without moderation are not checked.
    let (status, _) = gw.chat("free", chat_body("gpt-4o")).await;
    assert_eq!(status, 200);
    assert_eq!(mock.received().iter().filter(|r| r.path.ends_with("/moderations")).count(), 2);

    stats.flush().await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    let flagged: Vec<(String, i64, i64)> = conn
        .prepare("SELECT endpoint, status, flagged FROM uni_api_requests ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let chat = "/v1/chat/completions".to_owned();
    let moderations = "/v1/moderations".to_owned();
    assert_eq!(
        flagged,
        vec![
            (moderations.clone(), 200, 0),
            (chat.clone(), 400, 1),
            (moderations, 200, 0),
            (chat.clone(), 200, 0),
            (chat, 200, 0)
        ]
    );
}

#[tokio::test]
async fn a_key_that_reaches_no_moderation_model_gets_a_clear_error() {
    let mock = Mock::start("a").await;
    let gw = TestGateway::start(&yaml(&mock)).await;
    let (status, reply) = gw.chat("limited", chat_body("gpt-4o")).await;
    assert_eq!(status, 500, "{reply}");
    assert!(reply["error"]["message"].as_str().unwrap().contains("no moderation model"), "{reply}");
    assert!(mock.received().is_empty());
}

#[tokio::test]
async fn a_failing_moderation_check_fails_the_request_closed() {
    let mock = Mock::start("a").await;
    mock.script([Reply::Json(500, json!({"error": {"message": "down"}}))]);
    let gw = TestGateway::start(&yaml(&mock)).await;
    let (status, reply) = gw.chat("checked", chat_body("gpt-4o")).await;
    assert_eq!(status, 502, "{reply}");
    assert!(reply["error"]["message"].as_str().unwrap().contains("moderation check failed"), "{reply}");
    assert_eq!(mock.count(), 0);
}
