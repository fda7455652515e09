//! Credits of paid keys (issue #14, point 11): spend from the statistics, 429 once used up on
//! every endpoint but the key's own usage, `/v1/api_keys_states`, `/v1/add_credits` kept across
//! a restart. SQLite natively, PostgreSQL when `TEST_DATABASE_URL` is set, D1 on the Worker.

use std::time::Duration;

use serde_json::{json, Value};
use uni_api_core::stats::key_fingerprint;
use uni_api_native::stats::{PostgresTarget, PostgresTls, Stats, StatsTarget};
use uni_api_tests::{chat_body, error_code, json_of, Mock, Reply, TestGateway};

/// One token costs $1 (prompt and completion): the mock's usage of a few tokens spends the
/// paid key's $3 of credits at once.
fn yaml(mock: &Mock) -> String {
    format!(
        "providers:\n  - provider: p\n    base_url: {}\n    model: [m, cheap]\napi_keys:
  - api: sk-admin
    role: admin
  - api: sk-paid
    role: paid
    preferences: {{ credits: 3, created_at: '2020-01-01' }}
  - api: sk-free
preferences:
  model_price: {{ m: '1000000,1000000', default: '0,0' }}
",
        mock.base()
    )
}

fn answer_with_tokens() -> Reply {
    Reply::Json(
        200,
        json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
               "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}),
    )
}

/// Waits until the gateway refuses `key` (the record is written and the cached balance expired).
async fn until_refused(gw: &TestGateway, key: &str) -> (u16, Value) {
    for _ in 0..50 {
        let (status, body) = gw.get("/v1/models", key).await;
        if status != 200 {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the paid key was never refused");
}

async fn exercise(gw: &TestGateway, mock: &Mock) {
    mock.always(answer_with_tokens());
    let paid = key_fingerprint("sk-paid");
    // Spending is allowed while credits last: this request costs $5 of $3.
    let (status, body) = gw.chat("sk-paid", chat_body("m")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = until_refused(gw, "sk-paid").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(error_code(&body), "insufficient_quota");
    assert!(body["error"]["message"].as_str().unwrap().contains("credits are used up"), "{body}");
    // On every endpoint, in each API's shape; its own usage stays readable.
    let (status, _) = gw.chat("sk-paid", chat_body("cheap")).await;
    assert_eq!(status, 429);
    let (status, body) = gw
        .messages(
            "sk-paid",
            &json!({"model": "cheap", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!((status, body["error"]["type"].as_str()), (429, Some("rate_limit_error")), "{body}");
    let (status, usage) = gw.get("/v1/token_usage", "sk-paid").await;
    assert_eq!(status, 200, "{usage}");
    // Other keys are not affected.
    assert_eq!(gw.chat("sk-free", chat_body("m")).await.0, 200);

    // The admin sees the state of every key, by fingerprint and role (never the key).
    let (status, states) = gw.get("/v1/api_keys_states", "sk-admin").await;
    assert_eq!(status, 200, "{states}");
    let state = &states["api_keys_states"][&paid];
    assert_eq!((state["role"].as_str(), state["credits"].as_f64()), (Some("paid"), Some(3.0)), "{states}");
    assert_eq!((state["total_cost"].as_f64(), state["enabled"].as_bool()), (Some(5.0), Some(false)), "{states}");
    assert!(state["created_at"].as_str().unwrap().starts_with("2020-01-01"), "{states}");
    assert!(!states.to_string().contains("sk-paid"), "{states}");
    assert_eq!(gw.get("/v1/api_keys_states", "sk-free").await.0, 403);

    // Adding credits lets it spend again.
    let add = |key: &str, query: &str| {
        gw.http.post(gw.url(&format!("/v1/add_credits?{query}"))).bearer_auth(key.to_owned()).send()
    };
    assert_eq!(add("sk-free", "paid_key=sk-paid&amount=10").await.unwrap().status(), 403);
    assert_eq!(add("sk-admin", "paid_key=sk-free&amount=10").await.unwrap().status(), 404, "an unlimited key");
    assert_eq!(add("sk-admin", "paid_key=sk-paid&amount=-1").await.unwrap().status(), 400);
    let added = json_of(add("sk-admin", &format!("paid_key={paid}&amount=10")).await.unwrap()).await;
    assert_eq!((added["new_credits"].as_f64(), added["enabled"].as_bool()), (Some(13.0), Some(true)), "{added}");
    assert_eq!(gw.chat("sk-paid", chat_body("m")).await.0, 200, "credits were added");
}

#[tokio::test]
async fn a_paid_key_is_refused_once_its_credits_are_spent_until_credits_are_added() {
    let mock = Mock::start("p").await;
    if uni_api_tests::on_worker() {
        // The Worker keeps statistics and added credits in D1.
        let gw = TestGateway::start(&yaml(&mock)).await;
        exercise(&gw, &mock).await;
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let target = StatsTarget::Sqlite(dir.path().join("stats.db"));
    let stats = Stats::open(&target).await.unwrap().unwrap();
    let gw = TestGateway::start_with_stats(&yaml(&mock), stats.store()).await;
    exercise(&gw, &mock).await;
    stats.flush().await;
    drop(gw);
    drop(stats);

    // A restart keeps the added credits: $13 against $10 spent.
    let stats = Stats::open(&target).await.unwrap().unwrap();
    let gw = TestGateway::start_with_stats(&yaml(&mock), stats.store()).await;
    let (status, states) = gw.get("/v1/api_keys_states", "sk-admin").await;
    assert_eq!(status, 200);
    let state = &states["api_keys_states"][key_fingerprint("sk-paid")];
    assert_eq!((state["credits"].as_f64(), state["total_cost"].as_f64()), (Some(13.0), Some(10.0)), "{states}");
    assert_eq!(state["enabled"], true);
}

#[tokio::test]
async fn credits_work_on_postgres_too() {
    let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
        assert!(std::env::var_os("REQUIRE_TEST_DATABASE").is_none(), "CI must set TEST_DATABASE_URL");
        eprintln!("TEST_DATABASE_URL is not set: skipping the PostgreSQL test");
        return;
    };
    if uni_api_tests::on_worker() {
        return;
    }
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let name = format!("uni_api_credits_{}_{nanos}", std::process::id());
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    let db = match url.split_once('?') {
        Some((base, q)) => format!("{}/{name}?{q}", base.rsplit_once('/').unwrap().0),
        None => format!("{}/{name}", url.rsplit_once('/').unwrap().0),
    };
    let target = StatsTarget::Postgres(PostgresTarget::Url(db), PostgresTls::default());
    let stats = Stats::open(&target).await.unwrap().unwrap();
    let mock = Mock::start("p").await;
    let gw = TestGateway::start_with_stats(&yaml(&mock), stats.store()).await;
    exercise(&gw, &mock).await;
}
