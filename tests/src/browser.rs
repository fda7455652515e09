//! Headless Chromium (Debian's `chromium`, driven by playwright-core from `tools/browser`) making
//! `fetch()` calls from a page on another origin, as a browser front-end does.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// The driver script, when Chromium and playwright-core are installed; else `None` (the test is
/// skipped, unless `REQUIRE_BROWSER=1`, as CI sets, makes that a failure).
pub fn driver() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if dir.join("node_modules/playwright-core").exists() && Path::new(&chromium).exists() {
        return Some(dir.join("fetch-from-page.mjs"));
    }
    if std::env::var("REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
        panic!("REQUIRE_BROWSER=1 but Chromium or playwright-core is missing: apt-get install chromium; npm ci --prefix tools/browser");
    }
    eprintln!("no browser (apt-get install chromium; npm ci --prefix tools/browser): skipped");
    None
}

/// One `fetch()` the page makes.
pub fn call(url: String, method: &str, headers: Value, body: Option<Value>) -> Value {
    json!({"url": url, "method": method, "headers": headers, "body": body.map(|b| b.to_string())})
}

/// A blank page served on its own port of 127.0.0.1: an origin other than the gateway's.
pub async fn page_server() -> SocketAddr {
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(|| async {
            axum::response::Html("<!doctype html><title>chat front-end</title><p>page</p>")
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Opens `page` in Chromium and makes `calls` from it; returns the page's origin and each call's
/// outcome (`{"ok": true, "status", "headers", "body"}` or `{"ok": false, "error"}`).
pub async fn fetch_from_page(driver: &Path, page: SocketAddr, calls: &[Value]) -> (String, Vec<Value>) {
    let output = tokio::process::Command::new("node")
        .arg(driver)
        .arg(format!("http://{page}/"))
        .arg(Value::Array(calls.to_vec()).to_string())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(120), output)
        .await
        .expect("Chromium finished within 120 s")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "driver failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("the driver prints JSON");
    let origin = report["origin"].as_str().unwrap_or_default().to_owned();
    (origin, report["results"].as_array().cloned().unwrap_or_default())
}
