//! Operating the native gateway as a process: config hot reload (file written in place or
//! replaced by a rename, SIGHUP, the admin endpoint, a bad config refused), state kept across a
//! reload, model discovery retried, graceful shutdown, and `/metrics`.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use uni_api_tests::process::GatewayProcess;
use uni_api_tests::sse::{content, ends_with_done};
use uni_api_tests::{chat_body, on_worker, stream_body, Mock, Reply, TestGateway};

const BIN: &str = env!("CARGO_BIN_EXE_uni-api-under-test");

/// One provider per mock, `m` served by each, key `admin-key` (admin) and `user-key`.
fn config(mocks: &[&Mock], extra_key_prefs: &str) -> String {
    let mut yaml = String::from("providers:\n");
    for m in mocks {
        yaml.push_str(&format!(
            "  - provider: {name}\n    base_url: {}\n    api: sk-up-{name}\n    model: [m]\n",
            m.base(),
            name = name_of(m)
        ));
    }
    yaml.push_str(&format!(
        "api_keys:\n  - api: admin-key\n    role: admin\n  - api: user-key\n    model: [all]\n{extra_key_prefs}preferences:\n  cooldown_period: 300\n"
    ));
    yaml
}

fn name_of(mock: &Mock) -> String {
    format!("p{}", mock.addr.port())
}

fn answered_by(body: &Value) -> String {
    body["choices"][0]["message"]["content"].as_str().unwrap_or_default().to_owned()
}

fn write(dir: &Path, text: &str) {
    std::fs::write(dir.join("api.yaml"), text).expect("write api.yaml");
}

/// Replaces api.yaml by a rename, as editors and ConfigMaps do.
fn replace(dir: &Path, text: &str) {
    let staged = dir.join(".api.yaml.new");
    std::fs::write(&staged, text).expect("write");
    std::fs::rename(&staged, dir.join("api.yaml")).expect("rename");
}

/// Sends requests until one is answered by `mock` (the new routing took effect).
async fn until_served_by(gw: &GatewayProcess, mock: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let (status, body) = gw.chat("user-key", chat_body("m")).await;
        if status == 200 && answered_by(&body) == format!("from {mock}") {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

/// An OpenAI stream of `n` content chunks `gap` apart, then `[DONE]`.
fn slow_stream(n: usize, gap: Duration) -> Reply {
    let mut frames: Vec<(Duration, String)> = (0..n)
        .map(|i| {
            let chunk = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [{"index": 0, "delta": {"content": format!("t{i} ")}, "finish_reason": null}]});
            (gap, chunk.to_string())
        })
        .collect();
    let last = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": n, "total_tokens": 3 + n}});
    frames.push((Duration::ZERO, last.to_string()));
    frames.push((Duration::ZERO, "[DONE]".into()));
    Reply::Stream(frames)
}

#[tokio::test]
async fn a_config_file_changed_mid_traffic_takes_effect_and_no_request_fails() {
    if on_worker() {
        return;
    }
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &config(&[&a], ""));
    let gw = Arc::new(GatewayProcess::spawn(BIN, dir.path(), &[], &[]).await);

    // A stream that runs across both reloads, under the config it started with.
    a.script([slow_stream(10, Duration::from_millis(100))]);
    let streaming = {
        let gw = gw.clone();
        tokio::spawn(async move { gw.chat_stream("user-key", stream_body("m")).await })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;

    // Steady traffic while the file changes.
    let failures = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let traffic = {
        let (gw, failures, sent, stop) = (gw.clone(), failures.clone(), sent.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let (status, body) = gw.chat("user-key", chat_body("m")).await;
                sent.fetch_add(1, Ordering::Relaxed);
                if status != 200 {
                    failures.fetch_add(1, Ordering::Relaxed);
                    eprintln!("failed during reload: {status} {body}");
                }
            }
        })
    };

    write(dir.path(), &config(&[&b], "")); // in place
    assert!(until_served_by(&gw, "b").await, "the in-place write was not applied:\n{}", gw.log());
    replace(dir.path(), &config(&[&a], "")); // by a rename
    assert!(until_served_by(&gw, "a").await, "the renamed file was not applied:\n{}", gw.log());

    stop.store(true, Ordering::Relaxed);
    traffic.await.unwrap();
    let (status, text) = streaming.await.unwrap();
    assert_eq!(status, 200);
    assert!(ends_with_done(&text), "the in-flight stream was cut: {text}");
    assert_eq!(content(&text).split_whitespace().count(), 10, "{text}");
    assert!(sent.load(Ordering::Relaxed) > 10, "too little traffic to mean anything");
    assert_eq!(failures.load(Ordering::Relaxed), 0, "requests failed during the reloads");
    assert!(gw.log().contains("config reloaded from api.yaml (file changed)"), "{}", gw.log());
}

#[tokio::test]
async fn sighup_and_the_endpoint_reload_and_a_bad_config_is_refused_with_the_running_one_kept() {
    if on_worker() {
        return;
    }
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &config(&[&a], ""));
    let mut gw = GatewayProcess::spawn(BIN, dir.path(), &[], &[("CONFIG_WATCH_DISABLED", "true")]).await;

    // Without the watcher a changed file waits for a signal.
    write(dir.path(), &config(&[&b], ""));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, body) = gw.chat("user-key", chat_body("m")).await;
    assert_eq!(answered_by(&body), "from a");
    gw.signal("HUP");
    assert!(until_served_by(&gw, "b").await, "SIGHUP did not reload:\n{}", gw.log());
    assert!(gw.log().contains("(SIGHUP)"), "{}", gw.log());

    // A bad config: refused with the path of the mistake; the running config stays.
    let bad = config(&[&a], "").replace("model: [m]", "model: [m]\n    preferences: { cooldown_period: soon }");
    write(dir.path(), &bad);
    gw.signal("HUP");
    assert!(gw.log_shows("refused, the running config stays", 1, Duration::from_secs(5)).await, "{}", gw.log());
    assert!(gw.log().contains("providers[0].preferences.cooldown_period"), "not path-precise:\n{}", gw.log());
    let (status, body) = gw.chat("user-key", chat_body("m")).await;
    assert_eq!((status, answered_by(&body)), (200, "from b".to_owned()));

    let reload = |key: &'static str| {
        let request = gw.http.post(gw.url("/v1/api_config/reload")).bearer_auth(key).send();
        async move {
            let response = request.await.unwrap();
            (response.status().as_u16(), uni_api_tests::json_of(response).await)
        }
    };
    let (status, body) = reload("admin-key").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "config_rejected");
    assert!(body["error"]["message"].as_str().unwrap().contains("providers[0].preferences.cooldown_period"), "{body}");
    let (status, body) = reload("user-key").await;
    assert_eq!(status, 403, "{body}");

    write(dir.path(), &config(&[&a, &b], ""));
    let (status, body) = reload("admin-key").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["status"].as_str(), body["providers"].as_u64()), (Some("applied"), Some(2)));

    gw.signal("TERM");
    assert_eq!(gw.exit_code(Duration::from_secs(10)).await, Some(0));
}

#[tokio::test]
async fn cooldowns_and_rate_windows_survive_a_reload() {
    if on_worker() {
        return;
    }
    let (a, b, c) = (Mock::start("a").await, Mock::start("b").await, Mock::start("c").await);
    a.script([Reply::Json(500, json!({"error": {"message": "down"}}))]);
    let dir = tempfile::tempdir().unwrap();
    let limited = "    preferences:\n      rate_limit: 3/min\n";
    write(dir.path(), &config(&[&a, &b], limited));
    let gw = GatewayProcess::spawn(BIN, dir.path(), &[], &[("CONFIG_WATCH_DISABLED", "true")]).await;

    // a fails and cools down for 300 s; b answers. That is one of user-key's three requests.
    let (status, body) = gw.chat("user-key", chat_body("m")).await;
    assert_eq!((status, answered_by(&body)), (200, "from b".to_owned()));
    let (_, body) = gw.chat("user-key", chat_body("m")).await;
    assert_eq!(answered_by(&body), "from b");

    // Reload with a new provider c listed first: a is still cooling down, the window still counts.
    write(dir.path(), &config(&[&c, &a, &b], limited));
    gw.signal("HUP");
    assert!(gw.log_shows("config reloaded from", 1, Duration::from_secs(5)).await, "{}", gw.log());
    let (status, _) = gw.chat("user-key", chat_body("m")).await;
    assert_eq!(status, 200);
    let (status, body) = gw.chat("user-key", chat_body("m")).await;
    assert_eq!(status, 429, "the rate window was reset by the reload: {body}");
    assert_eq!(a.count(), 1, "the cooling-down channel was tried again after the reload");
}

#[tokio::test]
async fn a_provider_whose_discovery_failed_at_start_is_retried_and_then_served() {
    if on_worker() {
        return;
    }
    let up = Mock::start("up").await;
    up.models(503, json!({"error": {"message": "starting"}}));
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &format!("providers:\n  - provider: d\n    base_url: {}\n    api: sk-up\napi_keys:\n  - api: k\n", up.base()),
    );
    let gw = GatewayProcess::spawn(BIN, dir.path(), &[], &[]).await;
    let (status, _) = gw.chat("k", chat_body("late-model")).await;
    assert_eq!(status, 404, "served before discovery succeeded");
    up.models(200, json!({"object": "list", "data": [{"id": "late-model", "object": "model"}]}));
    assert!(gw.log_shows("model discovery succeeded", 1, Duration::from_secs(20)).await, "{}", gw.log());
    let (status, body) = gw.chat("k", chat_body("late-model")).await;
    assert_eq!((status, answered_by(&body)), (200, "from up".to_owned()));
}

#[tokio::test]
async fn sigterm_lets_a_slow_stream_finish_and_writes_its_row() {
    if on_worker() {
        return;
    }
    let up = Mock::start("up").await;
    up.script([slow_stream(8, Duration::from_millis(150))]);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &config(&[&up], ""));
    let db = dir.path().join("data/stats.db");
    let mut gw = GatewayProcess::spawn(BIN, dir.path(), &[], &[("DISABLE_DATABASE", "false")]).await;
    let stream = gw
        .http
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth("user-key")
        .header("content-type", "application/json")
        .body(stream_body("m").to_string())
        .send();
    let response = stream.await.unwrap();
    assert_eq!(response.status(), 200);
    gw.signal("TERM");
    // New connections are refused while the stream drains.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(gw.http.get(gw.url("/healthz")).send().await.is_err(), "still accepting after SIGTERM");
    let text = response.text().await.unwrap();
    assert!(ends_with_done(&text), "the stream was cut by the shutdown: {text}");
    assert_eq!(content(&text).split_whitespace().count(), 8);
    assert_eq!(gw.exit_code(Duration::from_secs(15)).await, Some(0), "{}", gw.log());
    let rows: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM uni_api_requests WHERE success = 1 AND completion_tokens = 8", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(rows, 1, "the stream's row was not written before exit");
}

#[tokio::test]
async fn a_stream_still_open_after_the_drain_time_ends_with_an_error_event() {
    if on_worker() {
        return;
    }
    let up = Mock::start("up").await;
    up.script([slow_stream(40, Duration::from_millis(200))]);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &config(&[&up], ""));
    let mut gw = GatewayProcess::spawn(BIN, dir.path(), &[], &[("SHUTDOWN_TIMEOUT", "1")]).await;
    let response = gw
        .http
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth("user-key")
        .header("content-type", "application/json")
        .body(stream_body("m").to_string())
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    gw.signal("TERM");
    let text = response.text().await.expect("the stream ended cleanly, not cut");
    assert!(!ends_with_done(&text), "a fake end: {text}");
    assert!(text.contains("server_shutting_down"), "no error event: {text}");
    assert!(content(&text).split_whitespace().count() >= 2, "{text}");
    assert_eq!(gw.exit_code(Duration::from_secs(15)).await, Some(0), "{}", gw.log());
}

fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| l.starts_with(name) && !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let rest = series.strip_prefix(name)?;
        if !(rest.is_empty() || rest.starts_with('{')) {
            return None;
        }
        labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))).then(|| value.parse().ok())?
    })
}

#[tokio::test]
async fn metrics_count_a_known_sequence_of_requests() {
    if on_worker() {
        return;
    }
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    a.script([Reply::Json(500, json!({"error": {"message": "down"}}))]);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &config(&[&a, &b], ""));
    let gw = GatewayProcess::spawn(BIN, dir.path(), &[], &[]).await;
    let (pa, pb) = (name_of(&a), name_of(&b));

    for _ in 0..3 {
        let (status, _) = gw.chat("user-key", chat_body("m")).await;
        assert_eq!(status, 200);
    }
    let (status, _) = gw.chat("user-key", chat_body("no-such-model")).await;
    assert_eq!(status, 404);
    let (status, _) = gw.chat_stream("user-key", stream_body("m")).await;
    assert_eq!(status, 200);

    let scrape = |key: Option<&'static str>| {
        let mut request = gw.http.get(gw.url("/metrics"));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    assert_eq!(scrape(None).await.0, 401);
    assert_eq!(scrape(Some("user-key")).await.0, 403);
    let (status, text) = scrape(Some("admin-key")).await;
    assert_eq!(status, 200, "{text}");
    let chat = "/v1/chat/completions";
    let served_b = format!("{pb}/m");
    assert_eq!(
        metric(&text, "uni_api_requests_total", &[("endpoint", chat), ("channel", &served_b), ("status", "200")]),
        Some(4.0),
        "{text}"
    );
    assert_eq!(metric(&text, "uni_api_requests_total", &[("model", "other"), ("status", "404")]), Some(1.0), "{text}");
    assert_eq!(
        metric(&text, "uni_api_failed_attempts_total", &[("channel", &format!("{pa}/m")), ("status", "500")]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(metric(&text, "uni_api_failovers_total", &[("model", "m")]), Some(1.0), "{text}");
    assert_eq!(metric(&text, "uni_api_request_duration_seconds_count", &[("channel", &served_b)]), Some(4.0), "{text}");
    assert_eq!(
        metric(&text, "uni_api_time_to_first_token_seconds_count", &[("channel", &served_b)]),
        Some(4.0),
        "{text}"
    );
    assert!(
        metric(&text, "uni_api_tokens_total", &[("channel", &served_b), ("direction", "input")])
            .is_some_and(|n| n > 0.0),
        "{text}"
    );
    assert_eq!(metric(&text, "uni_api_cooldowns", &[("kind", "channel")]), Some(1.0), "{text}");
    let left = metric(&text, "uni_api_cooldown_remaining_seconds", &[("target", &format!("{pa}/m"))]).unwrap();
    assert!(left > 250.0 && left <= 300.0, "{left}");
    assert!(!text.contains("sk-up-"), "an upstream key in the metrics");

    // METRICS_PUBLIC: a scraper without a key.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &config(&[&b], ""));
    let public = GatewayProcess::spawn(BIN, dir.path(), &[], &[("METRICS_PUBLIC", "true")]).await;
    let response = public.http.get(public.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.contains("# TYPE uni_api_cooldowns gauge"), "{text}");
}

#[tokio::test]
async fn a_host_without_metrics_or_reload_answers_501_to_an_admin() {
    // The Worker (and an embedder that serves the core alone) answers these routes plainly.
    let up = Mock::start("up").await;
    let gw = TestGateway::start(&config(&[&up], "")).await;
    let (status, body) = gw.get("/metrics", "admin-key").await;
    assert_eq!(status, 501, "{body}");
    assert_eq!(body["error"]["code"], "not_implemented");
    let (status, _) = gw.get("/metrics", "user-key").await;
    assert_eq!(status, 403);
    let response = gw.post("/v1/api_config/reload", "admin-key", json!({})).await;
    assert_eq!(response.status(), 501);
}

#[tokio::test]
async fn a_configmap_style_symlink_switch_is_seen() {
    if on_worker() {
        return;
    }
    // As Kubernetes mounts a ConfigMap: api.yaml -> ..data/api.yaml, ..data -> ..v1; an update
    // writes ..v2 and renames a new ..data symlink over the old one.
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("..v1")).unwrap();
    std::fs::write(root.join("..v1/api.yaml"), config(&[&a], "")).unwrap();
    std::os::unix::fs::symlink("..v1", root.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/api.yaml", root.join("api.yaml")).unwrap();
    let gw = GatewayProcess::spawn(BIN, root, &[], &[]).await;
    let (_, body) = gw.chat("user-key", chat_body("m")).await;
    assert_eq!(answered_by(&body), "from a");

    std::fs::create_dir(root.join("..v2")).unwrap();
    std::fs::write(root.join("..v2/api.yaml"), config(&[&b], "")).unwrap();
    std::os::unix::fs::symlink("..v2", root.join("..data_tmp")).unwrap();
    std::fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
    std::fs::remove_dir_all(root.join("..v1")).unwrap();
    assert!(until_served_by(&gw, "b").await, "the ConfigMap update was not seen:\n{}", gw.log());
}

#[tokio::test]
async fn a_config_url_is_polled_with_a_conditional_get_and_a_change_is_applied() {
    if on_worker() {
        return;
    }
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use parking_lot::Mutex;

    #[derive(Default)]
    struct Served {
        text: String,
        version: u32,
        not_modified: usize,
        conditional: usize,
    }
    let served = Arc::new(Mutex::new(Served::default()));
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    served.lock().text = config(&[&a], "");
    let app = axum::Router::new().route(
        "/api.yaml",
        axum::routing::get({
            let served = served.clone();
            move |headers: HeaderMap| {
                let served = served.clone();
                async move {
                    let mut s = served.lock();
                    let etag = format!("\"v{}\"", s.version);
                    if let Some(seen) = headers.get("if-none-match") {
                        s.conditional += 1;
                        if seen.to_str().unwrap_or_default() == etag {
                            s.not_modified += 1;
                            return StatusCode::NOT_MODIFIED.into_response();
                        }
                    }
                    ([("etag", etag)], s.text.clone()).into_response()
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api.yaml", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let gw =
        GatewayProcess::spawn(BIN, dir.path(), &[], &[("CONFIG_URL", &url), ("CONFIG_RELOAD_INTERVAL", "1")]).await;
    let (_, body) = gw.chat("user-key", chat_body("m")).await;
    assert_eq!(answered_by(&body), "from a");
    let deadline = Instant::now() + Duration::from_secs(10);
    while served.lock().not_modified < 2 {
        assert!(Instant::now() < deadline, "no conditional GET answered 304:\n{}", gw.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!gw.log().contains("config reloaded"), "an unchanged URL was reloaded:\n{}", gw.log());
    {
        let mut s = served.lock();
        s.text = config(&[&b], "");
        s.version = 1;
    }
    assert!(until_served_by(&gw, "b").await, "the changed URL was not applied:\n{}", gw.log());
    assert!(gw.log().contains("(CONFIG_URL changed)"), "{}", gw.log());
    assert!(!gw.log().contains("/api.yaml"), "the URL's path is shown in the log:\n{}", gw.log());
}

#[tokio::test]
async fn a_config_file_that_is_there_wins_over_config_url() {
    if on_worker() {
        return;
    }
    // The original's restart script sets CONFIG_URL and mounts /home/api.yaml: the file wins.
    let a = Mock::start("a").await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &config(&[&a], ""));
    let gw =
        GatewayProcess::spawn(BIN, dir.path(), &[], &[("CONFIG_URL", "http://127.0.0.1:9/unreachable.yaml")]).await;
    let (status, body) = gw.chat("user-key", chat_body("m")).await;
    assert_eq!((status, answered_by(&body)), (200, "from a".to_owned()));
    assert!(gw.log().contains("config: ./api.yaml (a file is there, so CONFIG_URL is not used)"), "{}", gw.log());
}
