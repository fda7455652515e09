//! Statistics: every request recorded (streamed or not, failed or not) in a real SQLite file,
//! and in PostgreSQL when `TEST_DATABASE_URL` is set; `/v1/stats`, `/v1/token_usage`, admin
//! rules and `/v1/generate-api-key`; `DISABLE_DATABASE`.

use std::collections::HashSet;

use serde_json::{json, Value};
use uni_api_core::stats::{AttemptRecord, Channel, RequestRecord};
use uni_api_native::stats::{PostgresTarget, PostgresTls, Stats, StatsTarget};
use uni_api_tests::{chat_body, error_code, stream_body, Mock, Reply, TestGateway};

const ADMIN: &str = "sk-admin-key";
const TEAM: &str = "sk-team-key";

fn yaml(a: &Mock, b: &Mock) -> String {
    format!(
        "providers:\n  - provider: a\n    base_url: {}\n    model: [gpt-4o]\n  - provider: b\n    base_url: {}\n    model: [gpt-4o]\napi_keys:\n  - api: {ADMIN}\n    role: admin\n  - api: {TEAM}\n    role: team\npreferences:\n  cooldown_period: 0\n",
        a.base(),
        b.base()
    )
}

/// Three requests: one failed over from a to b, one streamed, one for an unknown model.
async fn traffic(gw: &TestGateway, a: &Mock) {
    a.script([Reply::Json(503, json!({"error": {"message": "busy"}}))]);
    let (status, body) = gw.chat(TEAM, chat_body("gpt-4o")).await;
    assert_eq!(status, 200, "{body}");
    let (status, text) = gw.chat_stream(TEAM, stream_body("gpt-4o")).await;
    assert_eq!(status, 200);
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let (status, _) = gw.chat(ADMIN, chat_body("no-such-model")).await;
    assert_eq!(status, 404);
}

/// What `/v1/stats` and `/v1/token_usage` answer after `traffic`.
async fn check_endpoints(gw: &TestGateway) {
    let (status, stats) = gw.get("/v1/stats?hours=1", ADMIN).await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["hours"], 1);
    assert_eq!(stats["totals"]["requests"], 3, "{stats}");
    assert_eq!(stats["totals"]["successes"], 2);
    assert_eq!(stats["totals"]["failures"], 1);
    assert_eq!(stats["totals"]["prompt_tokens"], 6);
    assert_eq!(stats["totals"]["completion_tokens"], 4);
    let gpt = stats["models"].as_array().unwrap().iter().find(|m| m["model"] == "gpt-4o").unwrap();
    assert_eq!((gpt["requests"].as_i64(), gpt["successes"].as_i64()), (Some(2), Some(2)), "{gpt}");
    assert!(gpt["avg_latency_ms"].as_f64().is_some());
    let unknown = stats["models"].as_array().unwrap().iter().find(|m| m["model"] == "no-such-model").unwrap();
    assert_eq!(unknown["failures"], 1);
    let channels: Vec<(&str, i64)> = stats["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["channel"].as_str().unwrap(), c["requests"].as_i64().unwrap()))
        .collect();
    assert_eq!(channels, vec![("a/gpt-4o", 1), ("b/gpt-4o", 1)], "{stats}");
    let rates: Vec<(&str, i64, i64)> = stats["channel_success_rates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["channel"].as_str().unwrap(), c["attempts"].as_i64().unwrap(), c["successes"].as_i64().unwrap()))
        .collect();
    assert_eq!(rates, vec![("a/gpt-4o", 2, 1), ("b/gpt-4o", 1, 1)], "{stats}");
    let roles: HashSet<&str> = stats["keys"].as_array().unwrap().iter().map(|k| k["role"].as_str().unwrap()).collect();
    assert_eq!(roles, HashSet::from(["team", "admin"]));
    assert!(!stats.to_string().contains("sk-"), "no key in stats: {stats}");

    let (status, denied) = gw.get("/v1/stats", TEAM).await;
    assert_eq!((status, error_code(&denied)), (403, "admin_only"));
    let (status, bad) = gw.get("/v1/stats?hours=soon", ADMIN).await;
    assert_eq!((status, error_code(&bad)), (400, "invalid_request"));

    // A non-admin sees only its own key, whatever it asks for.
    let (status, own) = gw.get(&format!("/v1/token_usage?key={ADMIN}"), TEAM).await;
    assert_eq!(status, 200, "{own}");
    assert_eq!(own["query"]["key"], "self");
    let rows = own["usage"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{own}");
    assert_eq!((rows[0]["role"].as_str(), rows[0]["model"].as_str()), (Some("team"), Some("gpt-4o")));
    assert_eq!((rows[0]["requests"].as_i64(), rows[0]["total_tokens"].as_i64()), (Some(2), Some(10)));

    let (_, all) = gw.get("/v1/token_usage", ADMIN).await;
    assert_eq!(all["usage"].as_array().unwrap().len(), 2, "{all}");
    let (_, filtered) = gw.get("/v1/token_usage?model=gpt-4o&last_n_days=1", ADMIN).await;
    assert_eq!(filtered["usage"].as_array().unwrap().len(), 1, "{filtered}");
    let (_, by_key) = gw.get(&format!("/v1/token_usage?key={ADMIN}"), ADMIN).await;
    assert_eq!(by_key["usage"].as_array().unwrap().len(), 1, "{by_key}");
    assert_eq!(by_key["usage"][0]["model"], "no-such-model");
    let (status, future) = gw.get("/v1/token_usage?start=2999-01-01", ADMIN).await;
    assert_eq!(status, 200);
    assert_eq!(future["usage"], json!([]));
    let (status, both) = gw.get("/v1/token_usage?last_n_days=2&start=1700000000", ADMIN).await;
    assert_eq!((status, error_code(&both)), (400, "invalid_request"));
}

#[tokio::test]
async fn sqlite_records_every_request_and_answers_stats() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/stats.db");
    let stats = Stats::open(&StatsTarget::Sqlite(path.clone())).await.unwrap().unwrap();
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    let gw = TestGateway::start_with_stats(&yaml(&a, &b), stats.store()).await;
    traffic(&gw, &a).await;
    stats.flush().await;

    // The rows themselves, read from the file.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut rows = conn
        .prepare(
            "SELECT endpoint, role, model, provider, upstream_model, status, success, attempts, tried, \
             first_byte_ms IS NOT NULL, prompt_tokens, completion_tokens, client_ip, key_id FROM uni_api_requests ORDER BY id",
        )
        .unwrap();
    type Row = (
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        i64,
        i64,
        i64,
        String,
        bool,
        i64,
        i64,
        Option<String>,
        String,
    );
    let rows: Vec<Row> = rows
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
                r.get(11)?,
                r.get(12)?,
                r.get(13)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 3);
    let failover = &rows[0];
    assert_eq!(
        (failover.0.as_str(), failover.1.as_str(), failover.2.as_str(), failover.3.as_deref(), failover.4.as_deref()),
        ("/v1/chat/completions", "team", "gpt-4o", Some("b"), Some("gpt-4o"))
    );
    assert_eq!((failover.5, failover.6, failover.7, failover.8.as_str()), (200, 1, 2, "a/gpt-4o,b/gpt-4o"));
    assert!(failover.9);
    assert_eq!((failover.10, failover.11), (3, 2));
    assert_eq!(failover.12.as_deref(), Some("127.0.0.1"));
    let streamed = &rows[1];
    assert_eq!((streamed.3.as_deref(), streamed.5, streamed.6, streamed.10, streamed.11), (Some("a"), 200, 1, 3, 2));
    let unknown = &rows[2];
    assert_eq!((unknown.1.as_str(), unknown.3.as_deref(), unknown.5, unknown.6), ("admin", None, 404, 0));
    assert_ne!(unknown.13, failover.13, "keys get different fingerprints");
    let dump: String = conn
        .query_row("SELECT group_concat(key_id || role || COALESCE(error, '')) FROM uni_api_requests", [], |r| r.get(0))
        .unwrap();
    assert!(!dump.contains("sk-"), "{dump}");

    check_endpoints(&gw).await;
}

#[tokio::test]
async fn a_burst_of_ten_thousand_records_loses_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stats.db");
    let stats = Stats::open(&StatsTarget::Sqlite(path.clone())).await.unwrap().unwrap();
    burst(&stats).await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    let (requests, attempts): (i64, i64) = conn
        .query_row("SELECT (SELECT COUNT(*) FROM uni_api_requests), (SELECT COUNT(*) FROM uni_api_attempts)", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((requests, attempts), (10_000, 10_000));
}

async fn burst(stats: &Stats) {
    let store = stats.store();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..2_500u64 {
                    store.record(RequestRecord {
                        at: uni_api_core::platform::UnixMillis(1_700_000_000_000 + i),
                        endpoint: "/v1/chat/completions",
                        model: format!("m{w}"),
                        status: 200,
                        success: true,
                        served_by: Some(Channel { provider: "q".into(), upstream_model: "m".into() }),
                        failed: vec![AttemptRecord { channel: "p/m".into(), status: Some(503) }],
                        ..RequestRecord::default()
                    });
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stats.flush().await;
}

#[tokio::test]
async fn the_same_holds_on_postgres_when_a_server_is_given() {
    let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
        assert!(std::env::var_os("REQUIRE_TEST_DATABASE").is_none(), "CI must set TEST_DATABASE_URL");
        eprintln!("TEST_DATABASE_URL is not set: skipping the PostgreSQL test");
        return;
    };
    let db_url = fresh_database(&url).await;
    let target = StatsTarget::Postgres(PostgresTarget::Url(db_url.clone()), PostgresTls::default());
    let stats = Stats::open(&target).await.unwrap().unwrap();
    // Opening again finds the schema in place (migrations run once).
    drop(Stats::open(&target).await.unwrap());
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    let gw = TestGateway::start_with_stats(&yaml(&a, &b), stats.store()).await;
    traffic(&gw, &a).await;
    stats.flush().await;
    check_endpoints(&gw).await;

    burst(&stats).await;
    let (client, connection) = tokio_postgres::connect(&db_url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let row = client.query_one("SELECT COUNT(*) FROM uni_api_requests WHERE model LIKE 'm%'", &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 10_000);
    let row = client.query_one("SELECT COUNT(*) FROM uni_api_schema", &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 2, "the migrations ran once (versions 2 and 3)");

    // TLS: scripts/start-postgres.sh serves it with a throwaway CA (the server's ssl_ca_file).
    let ssl: String = client.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    if ssl != "on" {
        assert!(std::env::var_os("REQUIRE_TEST_DATABASE").is_none(), "CI's server offers TLS");
        eprintln!("the PostgreSQL server offers no TLS: skipping the TLS checks");
        return;
    }
    let sessions = "SELECT COUNT(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
                    WHERE ssl AND datname = current_database()";
    let tls_sessions: i64 = client.query_one(sessions, &[]).await.unwrap().get(0);
    assert_eq!(
        tls_sessions, 2,
        "by default (prefer, as libpq) the store's writer and reader connect over TLS, unverified"
    );
    drop(stats);

    // verify-full checks the certificate: unknown CA refused, trusted through DB_SSL_ROOT_CERT.
    let ca: String = client.query_one("SHOW ssl_ca_file", &[]).await.unwrap().get(0);
    let verify = format!("{db_url}{}sslmode=verify-full", if db_url.contains('?') { '&' } else { '?' });
    let untrusted = StatsTarget::Postgres(PostgresTarget::Url(verify.clone()), PostgresTls::default());
    let error = Stats::open(&untrusted).await.err().expect("a certificate from an unknown CA is refused");
    assert!(error.contains("certificate") && !error.contains("postgres://postgres@"), "{error}");
    // libpq's own spelling in the URL works too.
    let in_url = PostgresTarget::Url(format!("{verify}&sslrootcert={ca}"));
    drop(Stats::open(&StatsTarget::Postgres(in_url, PostgresTls::default())).await.unwrap().unwrap());
    let tls = PostgresTls { root_cert: Some(ca.into()) };
    let stats = Stats::open(&StatsTarget::Postgres(PostgresTarget::Url(verify), tls)).await.unwrap().unwrap();
    stats.store().record(RequestRecord { model: "over-tls".into(), ..RequestRecord::default() });
    stats.flush().await;
    let row = client.query_one("SELECT COUNT(*) FROM uni_api_requests WHERE model = 'over-tls'", &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 1);
}

/// A new, empty database on the server of `url`, for this test run alone.
async fn fresh_database(url: &str) -> String {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("TEST_DATABASE_URL");
    tokio::spawn(connection);
    let name = format!("uni_api_test_{}_{}", std::process::id(), rand_suffix());
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos().into()
}

#[tokio::test]
async fn without_a_database_stats_answer_503_and_requests_still_work() {
    if uni_api_tests::native_only("the local Worker always has a D1 database bound") {
        return;
    }
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    let gw = TestGateway::start(&yaml(&a, &b)).await;
    let (status, body) = gw.chat(TEAM, chat_body("gpt-4o")).await;
    assert_eq!(status, 200, "{body}");
    for path in ["/v1/stats", "/v1/token_usage"] {
        let (status, body) = gw.get(path, ADMIN).await;
        assert_eq!((status, error_code(&body)), (503, "statistics_disabled"), "{path}");
    }
}

#[tokio::test]
async fn generate_api_key_is_for_admins_and_gives_fresh_keys() {
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    let gw = TestGateway::start(&yaml(&a, &b)).await;
    let mut seen = HashSet::new();
    for _ in 0..3 {
        let (status, body) = gw.get("/v1/generate-api-key", ADMIN).await;
        assert_eq!(status, 200, "{body}");
        let key = body["api_key"].as_str().unwrap().to_owned();
        assert_eq!(key.len(), 51, "{key}");
        assert!(key.starts_with("sk-") && key[3..].bytes().all(|b| b.is_ascii_alphanumeric()), "{key}");
        assert!(seen.insert(key));
    }
    let (status, body) = gw.get("/v1/generate-api-key", TEAM).await;
    assert_eq!((status, error_code(&body)), (403, "admin_only"));
    let response = gw.post("/v1/generate-api-key", ADMIN, Value::Null).await;
    assert_eq!(response.status(), 405);

    // With no `admin` role anywhere, the first key is the admin.
    let plain = format!(
        "providers:\n  - provider: a\n    base_url: {}\n    model: [gpt-4o]\napi_keys:\n  - api: first\n  - api: second\n",
        a.base()
    );
    let gw = TestGateway::start(&plain).await;
    assert_eq!(gw.get("/v1/generate-api-key", "first").await.0, 200);
    assert_eq!(gw.get("/v1/generate-api-key", "second").await.0, 403);
}

/// `url` with its `host:port` replaced by `addr`.
fn through(url: &str, addr: std::net::SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (userinfo, after) = rest.split_once('@').map_or(("", rest), |(u, a)| (u, a));
    let path = &after[after.find('/').unwrap_or(after.len())..];
    let at = if userinfo.is_empty() { String::new() } else { format!("{userinfo}@") };
    format!("{scheme}://{at}{addr}{path}")
}

#[tokio::test]
async fn postgres_statistics_survive_the_database_going_away() {
    let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
        assert!(std::env::var_os("REQUIRE_TEST_DATABASE").is_none(), "CI must set TEST_DATABASE_URL");
        eprintln!("TEST_DATABASE_URL is not set: skipping the PostgreSQL outage test");
        return;
    };
    if uni_api_tests::native_only("PostgreSQL statistics are the native gateway's") {
        return;
    }
    let db_url = fresh_database(&url).await;
    let config: tokio_postgres::Config = db_url.parse().unwrap();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let server: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // The database is away when the gateway starts.
    let switch = uni_api_tests::tcp_switch::TcpSwitch::start(server, false).await;
    let target = StatsTarget::Postgres(PostgresTarget::Url(through(&db_url, switch.addr)), PostgresTls::default());
    let started = std::time::Instant::now();
    let stats = Stats::open_with_limit(&target, 5).await.expect("starts without its database").unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    let gw = TestGateway::start_with_stats(&yaml(&a, &b), stats.store()).await;

    // Requests are served; /v1/stats says why it cannot answer.
    for _ in 0..7 {
        assert_eq!(gw.chat(TEAM, chat_body("gpt-4o")).await.0, 200);
    }
    let (status, body) = gw.get("/v1/stats", ADMIN).await;
    assert_eq!((status, error_code(&body)), (503, "statistics_unavailable"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("unreachable"), "{body}");

    // Back: the queued records (5 of 7: the queue holds 5) are written; the 2 dropped are counted.
    switch.set(true);
    let body = wait_for_stats(&gw, |body| body["totals"]["requests"] == 5).await;
    assert_eq!(body["dropped_records"], 2, "{body}");

    // Away again mid-flight (open sessions cut), and back: nothing more is lost.
    switch.set(false);
    for _ in 0..3 {
        assert_eq!(gw.chat(TEAM, chat_body("gpt-4o")).await.0, 200);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(gw.get("/v1/stats", ADMIN).await.0, 503);
    switch.set(true);
    let body = wait_for_stats(&gw, |body| body["totals"]["requests"] == 8).await;
    assert_eq!(body["dropped_records"], 2, "{body}");
}

/// Polls `/v1/stats` (the writer and reader retry with a backoff) until `done` holds.
async fn wait_for_stats(gw: &TestGateway, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (status, body) = gw.get("/v1/stats", ADMIN).await;
        if status == 200 && done(&body) {
            return body;
        }
        assert!(std::time::Instant::now() < deadline, "statistics did not recover: {status} {body}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn token_sums_saturate_instead_of_failing() {
    if uni_api_tests::native_only("reads the native gateway's SQLite file") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let stats = Stats::open(&StatsTarget::Sqlite(dir.path().join("s.db"))).await.unwrap().unwrap();
    for _ in 0..3 {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
        let at = uni_api_core::platform::UnixMillis(now);
        let mut record = RequestRecord { model: "huge".into(), key_id: "k".into(), at, ..RequestRecord::default() };
        record.usage.prompt_tokens = u64::MAX;
        record.usage.completion_tokens = u64::MAX / 2;
        stats.store().record(record);
    }
    stats.flush().await;
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    let gw = TestGateway::start_with_stats(&yaml(&a, &b), stats.store()).await;
    let (status, body) = gw.get("/v1/stats", ADMIN).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["totals"]["prompt_tokens"], i64::MAX, "{body}");
    assert_eq!(body["totals"]["total_tokens"], i64::MAX, "{body}");
}

#[tokio::test]
async fn on_postgres_the_originals_tables_stay_untouched_and_earlier_tables_are_renamed() {
    let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
        assert!(std::env::var_os("REQUIRE_TEST_DATABASE").is_none(), "CI must set TEST_DATABASE_URL");
        eprintln!("TEST_DATABASE_URL is not set: skipping the PostgreSQL test");
        return;
    };
    // A database the original uni-api wrote (its PostgreSQL tables, a row each with full keys).
    let original = fresh_database(&url).await;
    let (client, connection) = tokio_postgres::connect(&original, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(
            "CREATE TABLE request_stats (id SERIAL PRIMARY KEY, request_id VARCHAR, endpoint VARCHAR, model VARCHAR,
               api_key VARCHAR, total_tokens INTEGER, timestamp TIMESTAMPTZ DEFAULT now());
             CREATE INDEX ix_request_stats_model ON request_stats (model);
             CREATE TABLE channel_stats (id SERIAL PRIMARY KEY, request_id VARCHAR, provider VARCHAR, model VARCHAR,
               api_key VARCHAR, provider_api_key VARCHAR, success BOOLEAN, timestamp TIMESTAMPTZ DEFAULT now());
             INSERT INTO request_stats (request_id, endpoint, model, api_key, total_tokens)
               VALUES ('r1', 'POST /v1/chat/completions', 'gpt-4o', 'sk-original-client-key', 15);
             INSERT INTO channel_stats (request_id, provider, model, api_key, provider_api_key, success)
               VALUES ('r1', 'openai', 'gpt-4o', 'sk-original-client-key', 'sk-original-upstream-key', true);",
        )
        .await
        .unwrap();
    let target = StatsTarget::Postgres(PostgresTarget::Url(original.clone()), PostgresTls::default());
    let stats = Stats::open(&target).await.expect("the original's tables do not stop the start").unwrap();
    stats.store().record(RequestRecord { model: "ours".into(), ..RequestRecord::default() });
    stats.flush().await;
    let one = |sql: &'static str| {
        let client = &client;
        async move { client.query_one(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}")).get::<_, i64>(0) }
    };
    assert_eq!(one("SELECT COUNT(*) FROM request_stats WHERE api_key = 'sk-original-client-key'").await, 1);
    assert_eq!(one("SELECT COUNT(*) FROM request_stats").await, 1, "none of our rows in the original's table");
    assert_eq!(one("SELECT COUNT(*) FROM channel_stats").await, 1);
    assert_eq!(one("SELECT COUNT(*) FROM uni_api_requests WHERE model = 'ours'").await, 1);

    // A database an earlier version of this gateway wrote (schema version 1, its own old names).
    let earlier = fresh_database(&url).await;
    let (client, connection) = tokio_postgres::connect(&earlier, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(
            "CREATE TABLE uni_api_schema (version INTEGER NOT NULL);
             INSERT INTO uni_api_schema (version) VALUES (1);
             CREATE TABLE request_stats (id BIGSERIAL PRIMARY KEY, at_ms BIGINT NOT NULL, endpoint TEXT NOT NULL,
               role TEXT NOT NULL, key_id TEXT NOT NULL, model TEXT NOT NULL, provider TEXT, upstream_model TEXT,
               status INTEGER NOT NULL, success INTEGER NOT NULL, attempts INTEGER NOT NULL, tried TEXT NOT NULL,
               first_byte_ms BIGINT, total_ms BIGINT NOT NULL, prompt_tokens BIGINT NOT NULL,
               completion_tokens BIGINT NOT NULL, cached_tokens BIGINT NOT NULL, reasoning_tokens BIGINT NOT NULL,
               flagged INTEGER NOT NULL, client_ip TEXT, error TEXT);
             CREATE INDEX request_stats_at ON request_stats (at_ms);
             CREATE TABLE channel_attempts (id BIGSERIAL PRIMARY KEY, at_ms BIGINT NOT NULL, channel TEXT NOT NULL,
               model TEXT NOT NULL, status INTEGER, success INTEGER NOT NULL);
             CREATE INDEX channel_attempts_at ON channel_attempts (at_ms);
             INSERT INTO request_stats (at_ms, endpoint, role, key_id, model, status, success, attempts, tried,
               total_ms, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, flagged)
               VALUES (1700000000000, '/v1/chat/completions', 'admin', 'kid', 'old-model', 200, 1, 1, 'p', 12, 3, 4, 0, 0, 0);",
        )
        .await
        .unwrap();
    let target = StatsTarget::Postgres(PostgresTarget::Url(earlier), PostgresTls::default());
    let stats = Stats::open(&target).await.unwrap().unwrap();
    stats.store().record(RequestRecord { model: "new".into(), ..RequestRecord::default() });
    stats.flush().await;
    let one = |sql: &'static str| {
        let client = &client;
        async move { client.query_one(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}")).get::<_, i64>(0) }
    };
    assert_eq!(one("SELECT COUNT(*) FROM uni_api_requests WHERE model IN ('old-model', 'new')").await, 2);
    assert_eq!(one("SELECT CAST(MAX(version) AS BIGINT) FROM uni_api_schema").await, 3);
    assert_eq!(
        one("SELECT COUNT(*) FROM information_schema.tables WHERE table_name IN ('request_stats', 'channel_attempts')")
            .await,
        0
    );
}
