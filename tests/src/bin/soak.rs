//! Soak: minutes of mixed traffic against the native binary or the Worker in local workerd,
//! watching the gateway process's memory and file descriptors and checking that every request
//! it served is in its statistics. Run by `scripts/soak.sh`; prints a Markdown table row.
//!
//! The mix, round-robin over the client tasks: whole and streamed completions, a channel that
//! always fails (every such request fails over), streams the client abandons after the first
//! chunk, malformed JSON, a new made-up model name every time, a wrong key, and Claude Code's
//! Messages door streaming.
//!
//! Usage: uni-api-soak (native BINARY | worker) [SECONDS] [CONCURRENCY]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{json, Value};
use uni_api_tests::{Mock, Reply};

const KEY: &str = "sk-soak";
const ADMIN: &str = "sk-soak-admin";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    Chat,
    Stream,
    Failover,
    StreamFailover,
    Abandon,
    BadJson,
    NewModel,
    WrongKey,
    Messages,
}

const MIX: [Op; 9] = [
    Op::Chat,
    Op::Stream,
    Op::Failover,
    Op::StreamFailover,
    Op::Abandon,
    Op::BadJson,
    Op::NewModel,
    Op::WrongKey,
    Op::Messages,
];

impl Op {
    fn expected_status(self) -> u16 {
        match self {
            Self::BadJson => 400,
            Self::NewModel => 404,
            Self::WrongKey => 401,
            _ => 200,
        }
    }

    /// Whether the gateway keeps a statistics row for it (everything past authentication).
    fn recorded(self) -> bool {
        self != Self::WrongKey
    }
}

/// One sample of the gateway process.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    rss_kb: u64,
    fds: u64,
}

fn sample(pid: u32) -> Sample {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64);
    Sample { rss_kb, fds }
}

/// The first descendant of `pid` whose command is `name` (workerd under node under the script).
fn descendant(pid: u32, name: &str) -> Option<u32> {
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            let Some((comm, rest)) = stat.split_once(") ") else { continue };
            let ppid: u32 = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
            if ppid == parent {
                if comm.rsplit('(').next() == Some(name) {
                    return Some(child);
                }
                frontier.push(child);
            }
        }
    }
    None
}

struct Gateway {
    child: Child,
    /// The process that serves (the binary, or workerd).
    pid: u32,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

fn config(good: &Mock, broken: &Mock, slow: &Mock) -> String {
    format!(
        "providers:\n  - provider: broken\n    base_url: {}\n    model: [m]\n  - provider: good\n    base_url: {}\n    model: [m, n]\n  - provider: slow\n    base_url: {}\n    model: [slow]\napi_keys:\n  - api: {ADMIN}\n    role: admin\n  - api: {KEY}\n    role: soak\npreferences:\n  cooldown_period: 0\n",
        broken.base(),
        good.base(),
        slow.base()
    )
}

fn start(target: &str, binary: Option<&str>, yaml: &str) -> Gateway {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("api.yaml");
    std::fs::write(&path, yaml).expect("config");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    if target == "native" {
        let child = Command::new(binary.expect("the native binary"))
            .args(["--config", path.to_str().unwrap(), "--host", "127.0.0.1", "--port", &port.to_string()])
            .env("RUST_LOG", "warn")
            .env("DB_PATH", dir.path().join("stats.db"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the gateway");
        let pid = child.id();
        return Gateway { child, pid, port, _dir: dir };
    }
    let mut child = Command::new("bash")
        .args(["scripts/worker-local.sh", "--config", path.to_str().unwrap(), "--port", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start scripts/worker-local.sh");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.starts_with("ready on") => break,
            Some(Ok(_)) => {}
            _ => panic!("the Worker did not start"),
        }
    }
    // The Worker's log (its console) goes on to stderr, as the native binary's does.
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            eprintln!("{line}");
        }
    });
    let pid = descendant(child.id(), "workerd").expect("workerd under the Worker's runner");
    Gateway { child, pid, port, _dir: dir }
}

#[derive(Default)]
struct Tally {
    by_op: BTreeMap<Op, u64>,
    unexpected: Vec<String>,
}

async fn run_op(http: &reqwest::Client, base: &str, op: Op, n: u64) -> Result<(), String> {
    let chat = |model: &str, stream: bool| json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]});
    let (path, key, body): (&str, &str, String) = match op {
        Op::Chat => ("/v1/chat/completions", KEY, chat("n", false).to_string()),
        Op::Stream => ("/v1/chat/completions", KEY, chat("n", true).to_string()),
        Op::Failover => ("/v1/chat/completions", KEY, chat("m", false).to_string()),
        Op::StreamFailover => ("/v1/chat/completions", KEY, chat("m", true).to_string()),
        Op::Abandon => ("/v1/chat/completions", KEY, chat("slow", true).to_string()),
        Op::BadJson => ("/v1/chat/completions", KEY, "{\"model\": \"n\", \"messages\": [".into()),
        Op::NewModel => ("/v1/chat/completions", KEY, chat(&format!("made-up-{n}"), false).to_string()),
        Op::WrongKey => ("/v1/chat/completions", "sk-wrong", chat("n", false).to_string()),
        Op::Messages => (
            "/v1/messages",
            KEY,
            json!({"model": "n", "max_tokens": 64, "stream": true, "messages": [{"role": "user", "content": "hi"}]})
                .to_string(),
        ),
    };
    let response = http
        .post(format!("{base}{path}"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .header("anthropic-version", "2023-06-01")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("{op:?}: {e}"))?;
    let status = response.status().as_u16();
    if status != op.expected_status() {
        let text = response.text().await.unwrap_or_default();
        return Err(format!("{op:?}: HTTP {status}: {}", text.chars().take(200).collect::<String>()));
    }
    match op {
        Op::Abandon => {
            let mut response = response;
            response.chunk().await.map_err(|e| format!("{op:?}: {e}"))?;
            drop(response); // the client leaves mid-stream
        }
        Op::Stream | Op::StreamFailover | Op::Messages => {
            let text = response.text().await.map_err(|e| format!("{op:?}: {e}"))?;
            let end = if op == Op::Messages { "message_stop" } else { "[DONE]" };
            if !text.contains(end) {
                return Err(format!("{op:?}: the stream did not end with {end}"));
            }
        }
        _ => {
            response.bytes().await.map_err(|e| format!("{op:?}: {e}"))?;
        }
    }
    Ok(())
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let target = args.first().map(String::as_str).unwrap_or("native");
    let (binary, rest) = if target == "native" {
        (args.get(1).map(String::as_str), &args[2.min(args.len())..])
    } else {
        (None, &args[1.min(args.len())..])
    };
    let seconds: u64 = rest.first().and_then(|s| s.parse().ok()).unwrap_or(600);
    let concurrency: u64 = rest.get(1).and_then(|s| s.parse().ok()).unwrap_or(8);

    uni_api_native::http::install_crypto_provider();
    let (good, broken, slow) = (Mock::start("good").await, Mock::start("broken").await, Mock::start("slow").await);
    for mock in [&good, &broken, &slow] {
        mock.forget_requests();
    }
    broken.always(Reply::Json(500, json!({"error": {"message": "down"}})));
    let chunk = |i: usize| {
        json!({"id": "s", "object": "chat.completion.chunk", "created": 1, "model": "slow",
               "choices": [{"index": 0, "delta": {"content": format!("{i} ")}, "finish_reason": null}]})
        .to_string()
    };
    slow.always(Reply::Stream((0..40).map(|i| (Duration::from_millis(25), chunk(i))).collect()));
    let gateway = start(target, binary, &config(&good, &broken, &slow));
    let base = format!("http://127.0.0.1:{}", gateway.port);
    let http = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(64).build().unwrap();
    for _ in 0..200 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let warm_up = Duration::from_secs((seconds / 5).clamp(5, 60));
    let counter = Arc::new(AtomicU64::new(0));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let samples = Arc::new(Mutex::new(Vec::<(Duration, Sample)>::new()));
    let sampler = {
        let samples = samples.clone();
        let pid = gateway.pid;
        tokio::spawn(async move {
            loop {
                samples.lock().push((started.elapsed(), sample(pid)));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    // SOAK_ONLY=Abandon,Stream narrows the mix (to find which kind of request misbehaves).
    let mix: Arc<Vec<Op>> = Arc::new(match std::env::var("SOAK_ONLY") {
        Ok(only) => MIX.into_iter().filter(|op| only.split(',').any(|o| o.trim() == format!("{op:?}"))).collect(),
        Err(_) => MIX.to_vec(),
    });
    assert!(!mix.is_empty(), "SOAK_ONLY names none of {MIX:?}");
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let mix = mix.clone();
            let (http, base, counter, tally) = (http.clone(), base.clone(), counter.clone(), tally.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let op = mix[(n % mix.len() as u64) as usize];
                    let outcome = run_op(&http, &base, op, n).await;
                    let mut tally = tally.lock();
                    *tally.by_op.entry(op).or_default() += 1;
                    if let Err(e) = outcome {
                        tally.unexpected.push(e);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    // Idle: kept-alive connections and abandoned streams settle before the last sample.
    drop(http);
    tokio::time::sleep(Duration::from_secs(3)).await;
    sampler.abort();
    let end = sample(gateway.pid);

    let tally = std::mem::take(&mut *tally.lock());
    let total: u64 = tally.by_op.values().sum();
    let expected: u64 = tally.by_op.iter().filter(|(op, _)| op.recorded()).map(|(_, n)| n).sum();
    // Abandoned streams (model `slow`) are counted apart: natively each is recorded as soon as
    // its client leaves; workerd lets go of one (and so records it) only when it collects it.
    let abandoned = tally.by_op.get(&Op::Abandon).copied().unwrap_or(0);
    let admin = reqwest::Client::builder().no_proxy().build().unwrap();
    let (mut recorded, mut abandoned_recorded) = (0, 0);
    for _ in 0..60 {
        let stats: Value = match admin.get(format!("{base}/v1/stats?hours=1")).bearer_auth(ADMIN).send().await {
            Ok(r) => serde_json::from_slice(&r.bytes().await.unwrap_or_default()).unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        recorded = stats["totals"]["requests"].as_u64().unwrap_or(0);
        abandoned_recorded = stats["models"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["model"] == "slow")
            .and_then(|m| m["requests"].as_u64())
            .unwrap_or(0);
        if recorded >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let unreleased = abandoned.saturating_sub(abandoned_recorded);
    let pending = if unreleased > 0 { format!(" ({unreleased} abandoned not yet collected)") } else { String::new() };
    let samples = samples.lock().clone();
    let after_warm_up: Vec<Sample> = samples.iter().filter(|(t, _)| *t >= warm_up).map(|(_, s)| *s).collect();
    let first = after_warm_up.first().copied().unwrap_or(end);
    let peak = samples.iter().map(|(_, s)| s.rss_kb).max().unwrap_or(0).max(end.rss_kb);
    let rate = total as f64 / seconds as f64;
    println!(
        "| {target} | {seconds} s | {total} ({rate:.0}/s) | {} | {} | {} | {} | {} → {} | {expected} / {recorded}{pending} | {} |",
        mb(samples.first().map_or(0, |(_, s)| s.rss_kb)),
        mb(first.rss_kb),
        mb(peak),
        mb(end.rss_kb),
        first.fds,
        end.fds,
        tally.unexpected.len()
    );
    for (op, n) in &tally.by_op {
        eprintln!("  {op:?}: {n}");
    }
    for e in tally.unexpected.iter().take(10) {
        eprintln!("  unexpected: {e}");
    }
    let mut failed = Vec::new();
    if !tally.unexpected.is_empty() {
        failed.push(format!("{} requests got an unexpected answer", tally.unexpected.len()));
    }
    let allowed_gap = if target == "worker" { unreleased } else { 0 };
    if recorded + allowed_gap != expected {
        failed.push(format!("{expected} requests served past authentication, {recorded} in the statistics"));
    }
    // Kept-alive and pooled connections come and go; a leak grows with the request count.
    if end.fds > first.fds + 64 {
        failed.push(format!("file descriptors grew from {} to {}", first.fds, end.fds));
    }
    if target == "native" && end.rss_kb > first.rss_kb * 3 / 2 + 16 * 1024 {
        failed.push(format!("memory grew after warm-up from {} to {}", mb(first.rss_kb), mb(end.rss_kb)));
    }
    drop(gateway);
    if !failed.is_empty() {
        eprintln!("soak ({target}) failed: {}", failed.join("; "));
        std::process::exit(1);
    }
}
