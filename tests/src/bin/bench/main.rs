//! Load benchmark: direct-to-mock vs through the gateway, on loopback.
//!
//! Run with `scripts/bench.sh`, which builds in release mode and pins this process (mock
//! upstream + load generator) to one core and the gateway to the other. Prints a Markdown
//! report: added latency at concurrency 1 (p50/p99), throughput and gateway CPU time per
//! request at concurrency 64, time-to-first-token overhead for streams, start-up time and peak
//! RSS. Every loop is bounded in count and time, and all traffic stays on 127.0.0.1.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::Response;
use axum::Router;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

mod baseline;
mod doors;
mod stats_cost;

use stats_cost::{print_statistics_cost, statistics_cost};

/// Rounds of the alternating comparisons (`BENCH_ROUNDS`, default 5).
fn round_count() -> usize {
    std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(5)
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

const COMPLETION: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1,"model":"bench-upstream","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":9,"total_tokens":18}}"#;
const REQUEST: &str = r#"{"model":"bench","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Hello there, how are you doing today?"}],"temperature":0.7}"#;
const STREAM_REQUEST: &str =
    r#"{"model":"bench","stream":true,"messages":[{"role":"user","content":"Hello there, how are you doing today?"}]}"#;
/// Like a real model: events 1 ms apart (the mock paces streams whose request says "paced").
const PACED_REQUEST: &str = r#"{"model":"bench","stream":true,"user":"paced","messages":[{"role":"user","content":"Hello there, how are you doing today?"}]}"#;

fn stream_frames() -> Vec<String> {
    let mut frames: Vec<String> = ["Hello", "!", " How", " can", " I", " help", " you", " today", "?"]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let role = if i == 0 { r#""role":"assistant","# } else { "" };
            format!(
                "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"bench-upstream\",\"choices\":[{{\"index\":0,\"delta\":{{{role}\"content\":\"{t}\"}},\"finish_reason\":null}}]}}\n\n"
            )
        })
        .collect();
    frames.push("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"bench-upstream\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n".into());
    frames.push("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"bench-upstream\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":9,\"total_tokens\":18}}\n\n".into());
    frames.push("data: [DONE]\n\n".into());
    frames
}

async fn mock(request: axum::extract::Request) -> Response {
    let path = request.uri().path().to_owned();
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    if let Some(reply) = doors::native_reply(&path) {
        return Response::builder()
            .header("content-type", "application/json")
            .body(Body::from(reply))
            .expect("response");
    }
    let streaming = memchr_contains(&body, b"\"stream\":true");
    if streaming {
        let frames = stream_frames();
        let paced = memchr_contains(&body, b"paced");
        let stream = futures_util::stream::iter(frames).then(move |f| async move {
            if paced {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Ok::<_, std::io::Error>(Bytes::from(f))
        });
        return Response::builder()
            .header("content-type", "text/event-stream")
            .body(Body::from_stream(stream))
            .expect("response");
    }
    Response::builder().header("content-type", "application/json").body(Body::from(COMPLETION)).expect("response")
}

fn memchr_contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

struct Gateway {
    child: Child,
    addr: SocketAddr,
    started_in: Duration,
}

/// User + system time from a `/proc/…/stat` file.
fn cpu_seconds_in(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name: utime and stime are the 14th and 15th fields overall.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let hz = 100.0; // USER_HZ on Linux
    (ticks(11) + ticks(12)) / hz
}

impl Gateway {
    fn cpu_seconds(&self) -> f64 {
        cpu_seconds_in(&format!("/proc/{}/stat", self.child.id()))
    }

    /// Moves the gateway's threads named `name` to `core` (diagnostics: `BENCH_WRITER_CORE`
    /// shows what the statistics writer costs when it does not share the gateway's core).
    fn pin_threads(&self, name: &str, core: &str) {
        for tid in self.thread_ids(name) {
            let _ = Command::new("taskset").args(["-p", "-c", core, &tid]).stdout(Stdio::null()).status();
        }
    }

    fn thread_ids(&self, name: &str) -> Vec<String> {
        let tasks = format!("/proc/{}/task", self.child.id());
        let Ok(entries) = std::fs::read_dir(&tasks) else { return Vec::new() };
        entries
            .flatten()
            .filter(|e| std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == name))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// CPU time of the gateway's threads named `name` (the statistics writer is `uni-api-stats`).
    fn thread_cpu_seconds(&self, name: &str) -> f64 {
        let tasks = format!("/proc/{}/task", self.child.id());
        self.thread_ids(name).iter().map(|tid| cpu_seconds_in(&format!("{tasks}/{tid}/stat"))).sum()
    }

    fn peak_rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

impl Gateway {
    /// SIGTERM and wait: the gateway drains and flushes its statistics.
    fn terminate(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the gateway keeps statistics in a run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stats {
    Off,
    Sqlite,
}

async fn start_gateway(binary: &str, core: &str, upstream: SocketAddr, dir: &std::path::Path, stats: Stats) -> Gateway {
    let config = format!(
        "providers:\n  - provider: mock\n    base_url: http://{upstream}/v1\n    api: sk-bench-upstream\n    model:\n      - bench-upstream: bench\n{}api_keys:\n  - api: sk-bench\n    role: bench\n",
        doors::providers(upstream)
    );
    let path = dir.join("bench.yaml");
    std::fs::write(&path, config).expect("write config");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = Instant::now();
    let child = Command::new("taskset")
        .args([
            "-c",
            core,
            binary,
            "--config",
            path.to_str().unwrap(),
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .env("RUST_LOG", std::env::var("BENCH_GATEWAY_LOG").unwrap_or_else(|_| "info".into()))
        .env("DISABLE_DATABASE", if stats == Stats::Off { "true" } else { "false" })
        .env("DB_PATH", dir.join("stats.db"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start gateway (is taskset installed?)");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let client = client();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let req = http::Request::get(format!("http://{addr}/healthz")).body(Full::new(Bytes::new())).unwrap();
        if let Ok(resp) = client.request(req).await {
            if resp.status() == 200 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the gateway did not start");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Gateway { child, addr, started_in: started.elapsed() }
}

/// A do-nothing nginx reverse proxy in front of the same mock, for calibration: what any proxy
/// hop costs on this machine. Started only when `BENCH_NGINX` names the nginx binary.
async fn start_nginx(nginx: &str, core: &str, upstream: SocketAddr, dir: &std::path::Path) -> Gateway {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let d = dir.display();
    let config = format!(
        "daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/nginx-error.log;\n\
         events {{ worker_connections 4096; }}\n\
         http {{ access_log off; client_body_temp_path {d}/cb; proxy_temp_path {d}/px; fastcgi_temp_path {d}/fc; uwsgi_temp_path {d}/uw; scgi_temp_path {d}/sc;\n\
           upstream up {{ server {upstream}; keepalive 256; }}\n\
           server {{ listen 127.0.0.1:{port}; tcp_nodelay on;\n\
             location / {{ proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_buffering off; }} }} }}\n"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, config).expect("write nginx config");
    let started = Instant::now();
    let child = Command::new("taskset")
        .args(["-c", core, nginx, "-c", path.to_str().unwrap(), "-p", dir.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let client = client();
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.request(Call::chat(REQUEST).request(addr)).await.map(|r| r.status() != 200).unwrap_or(true) {
        assert!(Instant::now() < deadline, "nginx did not start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Gateway { child, addr, started_in: started.elapsed() }
}

fn client() -> HttpClient {
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).pool_max_idle_per_host(1024).build(connector)
}

/// One kind of request: where it goes, how it names the key, and its body.
#[derive(Clone)]
struct Call {
    path: String,
    key_header: &'static str,
    body: Bytes,
}

impl Call {
    /// A chat completion.
    fn chat(body: &'static str) -> Self {
        Self {
            path: "/v1/chat/completions".into(),
            key_header: "authorization",
            body: Bytes::from_static(body.as_bytes()),
        }
    }

    fn request(&self, addr: SocketAddr) -> http::Request<Full<Bytes>> {
        let key = if self.key_header == "authorization" { "Bearer sk-bench" } else { "sk-bench" };
        http::Request::post(format!("http://{addr}{}", self.path))
            .header(self.key_header, key)
            .header("content-type", "application/json")
            .body(Full::new(self.body.clone()))
            .unwrap()
    }
}

/// Sends one request; returns (time to first body byte, total time).
async fn one(client: &HttpClient, addr: SocketAddr, call: &Call) -> (Duration, Duration) {
    let (first, _, total) = one_until(client, addr, call, None).await;
    (first, total)
}

/// Sends one request; returns (time to first body byte, time until the body holds `marker`,
/// total time).
async fn one_until(
    client: &HttpClient,
    addr: SocketAddr,
    call: &Call,
    marker: Option<&[u8]>,
) -> (Duration, Duration, Duration) {
    let start = Instant::now();
    let response = client.request(call.request(addr)).await.expect("request");
    assert!(response.status().is_success(), "status {} for {}", response.status(), call.path);
    let mut body = response.into_body();
    let (mut first, mut marked) = (None, None);
    let mut seen = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("body");
        if let Some(data) = frame.data_ref().filter(|d| !d.is_empty()) {
            first.get_or_insert_with(|| start.elapsed());
            if let (Some(marker), None) = (marker, marked) {
                seen.extend_from_slice(data);
                if memchr_contains(&seen, marker) {
                    marked = Some(start.elapsed());
                }
            }
        }
    }
    let total = start.elapsed();
    (first.unwrap_or(total), marked.unwrap_or(total), total)
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[i]
}

struct Latency {
    p50: Duration,
    p99: Duration,
}

async fn latency(client: &HttpClient, addr: SocketAddr, body: &'static str, n: usize, first_byte: bool) -> Latency {
    latency_of(client, addr, &Call::chat(body), n, first_byte).await
}

async fn latency_of(client: &HttpClient, addr: SocketAddr, call: &Call, n: usize, first_byte: bool) -> Latency {
    for _ in 0..200 {
        one(client, addr, call).await;
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let (ttfb, total) = one(client, addr, call).await;
        samples.push(if first_byte { ttfb } else { total });
    }
    Latency { p50: percentile(&mut samples, 0.5), p99: percentile(&mut samples, 0.99) }
}

async fn throughput(addr: SocketAddr, body: &'static str, concurrency: usize, duration: Duration) -> (u64, Duration) {
    throughput_of(addr, &Call::chat(body), concurrency, duration).await
}

async fn throughput_of(addr: SocketAddr, call: &Call, concurrency: usize, duration: Duration) -> (u64, Duration) {
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let stop_at = start + duration;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let done = done.clone();
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let client = client();
            while Instant::now() < stop_at {
                one(&client, addr, &call).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.expect("load task");
    }
    (done.load(Ordering::Relaxed), start.elapsed())
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Everything measured against one target (the mock itself, nginx, or uni-api).
struct Report {
    latency: Latency,
    ttft: Latency,
    paced_ttft: Latency,
    stream: Latency,
    rps: f64,
    stream_rps: f64,
    cpu_per_request: f64,
    cpu_per_stream: f64,
}

async fn measure(client: &HttpClient, process: Option<&Gateway>, addr: SocketAddr, n: usize, seconds: u64) -> Report {
    let cpu = || process.map(Gateway::cpu_seconds).unwrap_or(0.0);
    let plain = latency(client, addr, REQUEST, n, false).await;
    let ttft = latency_of_stream(client, addr, n / 2, true).await;
    let paced_ttft = latency(client, addr, PACED_REQUEST, n / 4, true).await;
    let stream = latency_of_stream(client, addr, n / 2, false).await;
    let c0 = cpu();
    let (done, time) = throughput(addr, REQUEST, 64, Duration::from_secs(seconds)).await;
    let c1 = cpu();
    let (stream_done, stream_time) = throughput(addr, STREAM_REQUEST, 64, Duration::from_secs(seconds)).await;
    let c2 = cpu();
    Report {
        latency: plain,
        ttft,
        paced_ttft,
        stream,
        rps: done as f64 / time.as_secs_f64(),
        stream_rps: stream_done as f64 / stream_time.as_secs_f64(),
        cpu_per_request: (c1 - c0) * 1e6 / done.max(1) as f64,
        cpu_per_stream: (c2 - c1) * 1e6 / stream_done.max(1) as f64,
    }
}

async fn latency_of_stream(client: &HttpClient, addr: SocketAddr, n: usize, first_byte: bool) -> Latency {
    latency(client, addr, STREAM_REQUEST, n, first_byte).await
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let binary = args
        .iter()
        .position(|a| a == "--gateway")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "target/release/uni-api".into());
    let core = std::env::var("BENCH_GATEWAY_CORE").unwrap_or_else(|_| "0".into());
    let n: usize = std::env::var("BENCH_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    let seconds: u64 = std::env::var("BENCH_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind mock");
    let upstream = listener.local_addr().unwrap();
    let app = Router::new().fallback(mock);
    tokio::spawn(async move {
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let _ = axum::serve(listener, app).await;
    });

    let dir = std::env::temp_dir().join(format!("uni-api-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "doors") {
        doors::report(&binary, &core, upstream, &dir, seconds, n).await;
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "baseline") {
        let baseline =
            std::env::var("BENCH_BASELINE").expect("BENCH_ONLY=baseline needs BENCH_BASELINE=path/to/older/uni-api");
        baseline::report(&binary, &baseline, &core, upstream, &dir, seconds).await;
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "stats") {
        print_statistics_cost(&statistics_cost(&binary, &core, upstream, &dir, seconds).await);
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let client = client();
    let direct = measure(&client, None, upstream, n, seconds).await;
    let nginx = match std::env::var("BENCH_NGINX") {
        Ok(bin) if !bin.is_empty() => {
            let proxy = start_nginx(&bin, &core, upstream, &dir).await;
            Some((measure(&client, Some(&proxy), proxy.addr, n, seconds).await, proxy.peak_rss_kb()))
        }
        _ => None,
    };
    let gateway = start_gateway(&binary, &core, upstream, &dir, Stats::Sqlite).await;
    let ours = measure(&client, Some(&gateway), gateway.addr, n, seconds).await;
    let rss = gateway.peak_rss_kb();
    let started_in = gateway.started_in;
    gateway.terminate();
    let only_proxy = std::env::var("BENCH_ONLY").is_ok_and(|v| v == "proxy");
    let stats_cost =
        if only_proxy { None } else { Some(statistics_cost(&binary, &core, upstream, &dir, seconds).await) };

    let (nginx_head, nginx_sep) =
        if nginx.is_some() { (" nginx proxy | nginx adds |", "---:|---:|") } else { ("", "") };
    println!("| measure | direct to mock |{nginx_head} uni-api | uni-api adds |");
    println!("|---|---:|{nginx_sep}---:|---:|");
    let row = |name: &str, pick: &dyn Fn(&Report) -> Duration| {
        let d = us(pick(&direct));
        let g = us(pick(&ours));
        let nginx_cols = nginx
            .as_ref()
            .map(|(r, _)| format!(" {:.0} µs | {:.0} µs |", us(pick(r)), us(pick(r)) - d))
            .unwrap_or_default();
        println!("| {name} | {d:.0} µs |{nginx_cols} {g:.0} µs | {:.0} µs |", g - d);
    };
    row("non-streaming latency p50, concurrency 1", &|r| r.latency.p50);
    row("non-streaming latency p99, concurrency 1", &|r| r.latency.p99);
    row("time to first token p50, paced stream (1 ms apart)", &|r| r.paced_ttft.p50);
    row("time to first token p99, paced stream (1 ms apart)", &|r| r.paced_ttft.p99);
    row("time to first byte p50, 12-event burst", &|r| r.ttft.p50);
    row("whole stream p50 (12 events)", &|r| r.stream.p50);
    let nginx_rate =
        |f: &dyn Fn(&Report) -> f64| nginx.as_ref().map(|(r, _)| format!(" {:.0} | |", f(r))).unwrap_or_default();
    println!(
        "| non-streaming requests/s, concurrency 64 | {:.0} |{} {:.0} | |",
        direct.rps,
        nginx_rate(&|r| r.rps),
        ours.rps
    );
    println!(
        "| streamed requests/s, concurrency 64 | {:.0} |{} {:.0} | |",
        direct.stream_rps,
        nginx_rate(&|r| r.stream_rps),
        ours.stream_rps
    );
    println!();
    let nginx_fig =
        |f: &dyn Fn(&Report) -> String| nginx.as_ref().map(|(r, _)| format!(" {} |", f(r))).unwrap_or_default();
    println!("| proxy figure |{} uni-api |", if nginx.is_some() { " nginx |" } else { "" });
    println!("|---|{}---:|", if nginx.is_some() { "---:|" } else { "" });
    println!(
        "| CPU time per non-streaming request (c=64) |{} {:.1} µs |",
        nginx_fig(&|r| format!("{:.1} µs", r.cpu_per_request)),
        ours.cpu_per_request
    );
    println!(
        "| CPU time per streamed request (c=64, 12 events) |{} {:.1} µs |",
        nginx_fig(&|r| format!("{:.1} µs", r.cpu_per_stream)),
        ours.cpu_per_stream
    );
    let nginx_rss = nginx.as_ref().map(|(_, kb)| format!(" {:.1} MB |", *kb as f64 / 1024.0)).unwrap_or_default();
    println!("| peak RSS |{nginx_rss} {:.1} MB |", rss as f64 / 1024.0);
    println!(
        "| start to first served request |{} {:.0} ms |",
        if nginx.is_some() { " |" } else { "" },
        started_in.as_secs_f64() * 1000.0
    );
    println!();
    if let Some(stats_cost) = &stats_cost {
        print_statistics_cost(stats_cost);
        doors::report(&binary, &core, upstream, &dir, seconds, n).await;
    }
    println!(
        "requests: {n} sequential per latency row, {seconds} s per throughput row; gateway log level {}",
        std::env::var("BENCH_GATEWAY_LOG").unwrap_or_else(|_| "info".into())
    );
    if std::env::var_os("BENCH_WORKER").is_some() {
        worker_latency(&client, upstream, &dir, &direct, n).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// With `BENCH_WORKER=1`: the built Worker in local workerd (`scripts/worker-local.sh`), same mock,
/// same requests, concurrency 1.
async fn worker_latency(client: &HttpClient, upstream: SocketAddr, dir: &std::path::Path, direct: &Report, n: usize) {
    use std::io::BufRead;
    let config = dir.join("worker.yaml");
    let yaml = format!(
        "providers:\n  - provider: mock\n    base_url: http://{upstream}/v1\n    api: sk-bench-upstream\n    model:\n      - bench-upstream: bench\n{}api_keys:\n  - api: sk-bench\n    role: bench\n",
        doors::providers(upstream)
    );
    std::fs::write(&config, yaml).expect("write worker config");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new("bash")
        .args(["scripts/worker-local.sh", "--config", config.to_str().unwrap(), "--port", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the Worker");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    while let Some(Ok(line)) = lines.next() {
        if line.starts_with("ready on") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let worker = latency(client, addr, REQUEST, n, false).await;
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    println!();
    println!("| Worker in local workerd (c=1, non-streaming) | direct to mock | Worker | Worker adds |");
    println!("|---|---:|---:|---:|");
    for (name, d, w) in [("p50", direct.latency.p50, worker.p50), ("p99", direct.latency.p99, worker.p99)] {
        println!("| latency {name} | {:.0} µs | {:.0} µs | {:.0} µs |", us(d), us(w), us(w) - us(d));
    }
}
