//! What the front doors cost (`BENCH_ONLY=doors`, and the end of the full run), statistics off:
//!
//! * CPU time per request at concurrency 64, in alternating rounds (medians): chat passthrough
//!   against each same-vendor door (Messages to an Anthropic channel, Responses and Gemini to
//!   their own), and Claude Code's ~48 KB request translated for an OpenAI-format channel
//!   against a chat request of the same size and content;
//! * time to first token at concurrency 1 (until the body holds the first token, "Hello"): the
//!   chat passthrough stream against the same stream translated into Messages events, for a
//!   burst and for events 1 ms apart, the requests of the four series interleaved.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use uni_api_core::adapters::raw::RawObject;
use uni_api_core::doors::Door;
use uni_api_tests::bodies;

use super::{client, latency_of, one_until, percentile, start_gateway, throughput_of, us, Call, Stats};

const ANTHROPIC_REPLY: &str = r#"{"id":"msg_bench","type":"message","role":"assistant","model":"bench-upstream","content":[{"type":"text","text":"Hello! How can I help you today?"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":9}}"#;
const RESPONSES_REPLY: &str = r#"{"id":"resp_bench","object":"response","created_at":1,"status":"completed","model":"bench-upstream","output":[{"id":"msg_bench","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hello! How can I help you today?","annotations":[]}]}],"usage":{"input_tokens":9,"input_tokens_details":{"cached_tokens":0},"output_tokens":9,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":18}}"#;
const GEMINI_REPLY: &str = r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Hello! How can I help you today?"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":9,"totalTokenCount":18},"modelVersion":"bench-upstream"}"#;

/// The mock's answer for a door's own API, by path (chat is answered by the main mock).
pub fn native_reply(path: &str) -> Option<&'static str> {
    if path.ends_with("/messages") {
        Some(ANTHROPIC_REPLY)
    } else if path.ends_with("/responses") {
        Some(RESPONSES_REPLY)
    } else if path.contains(":generateContent") {
        Some(GEMINI_REPLY)
    } else {
        None
    }
}

/// Channels of the other dialects on the same mock.
pub fn providers(upstream: SocketAddr) -> String {
    format!(
        "  - provider: claude\n    base_url: http://{upstream}/v1/messages\n    api: sk-bench-upstream\n    model:\n      - bench-upstream: bench-claude\n  - provider: gemini\n    base_url: http://{upstream}/v1beta\n    api: sk-bench-upstream\n    model:\n      - bench-upstream: bench-gemini\n"
    )
}

fn call(path: &str, key_header: &'static str, body: String) -> Call {
    Call { path: path.into(), key_header, body: Bytes::from(body) }
}

/// (name, call) of every CPU scenario.
fn scenarios() -> Vec<(&'static str, Call)> {
    let claude_code = bodies::claude_code("bench", false);
    let hub = Door::Messages
        .to_chat(&RawObject::parse(claude_code.to_string().as_bytes()).expect("body"), false)
        .expect("translation");
    vec![
        ("chat passthrough", Call::chat(super::REQUEST)),
        (
            "Messages → Anthropic (native)",
            call("/v1/messages", "x-api-key", bodies::messages_small("bench-claude", false).to_string()),
        ),
        (
            "Responses → OpenAI (native)",
            call("/v1/responses", "authorization", bodies::responses_small("bench").to_string()),
        ),
        (
            "Gemini → Gemini (native)",
            call("/v1beta/models/bench-gemini:generateContent", "x-goog-api-key", bodies::gemini_small().to_string()),
        ),
        (
            "Messages → OpenAI-format (translated)",
            call("/v1/messages", "x-api-key", bodies::messages_small("bench", false).to_string()),
        ),
        (
            "chat passthrough, Claude Code's size",
            call("/v1/chat/completions", "authorization", String::from_utf8(hub.to_vec()).expect("utf-8")),
        ),
        ("Messages → OpenAI-format, Claude Code's request", call("/v1/messages", "x-api-key", claude_code.to_string())),
    ]
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

pub async fn report(binary: &str, core: &str, upstream: SocketAddr, dir: &std::path::Path, seconds: u64, n: usize) {
    let gateway = start_gateway(binary, core, upstream, dir, Stats::Off).await;
    let scenarios = scenarios();
    let rounds = super::round_count().max(3);
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); scenarios.len()];
    let window = Duration::from_secs(seconds.clamp(1, 3));
    for _ in 0..rounds {
        for (i, (_, call)) in scenarios.iter().enumerate() {
            let before = gateway.cpu_seconds();
            let (done, _) = throughput_of(gateway.addr, call, 64, window).await;
            cpu[i].push((gateway.cpu_seconds() - before) * 1e6 / done.max(1) as f64);
        }
    }
    let cpu: Vec<f64> = cpu.into_iter().map(median).collect();
    let client = client();
    let mut latency = Vec::new();
    for (_, call) in &scenarios {
        latency.push(latency_of(&client, gateway.addr, call, n / 2, false).await.p50);
    }
    println!("| door scenario (statistics off) | bytes in | CPU per request, c=64 | against its baseline | latency p50, c=1 |");
    println!("|---|---:|---:|---:|---:|");
    for (i, (name, call)) in scenarios.iter().enumerate() {
        let baseline = if i >= 6 { cpu[5] } else { cpu[0] };
        let ratio = if i == 0 || i == 5 { "baseline".to_owned() } else { format!("{:.2}×", cpu[i] / baseline) };
        println!("| {name} | {} | {:.1} µs | {ratio} | {:.0} µs |", call.body.len(), cpu[i], us(latency[i]));
    }

    // Time to first token: the chat stream, and the same upstream stream as Messages events.
    let streams = [
        ("chat stream, burst", Call::chat(super::STREAM_REQUEST)),
        ("chat stream, paced 1 ms", Call::chat(super::PACED_REQUEST)),
        ("Messages from the same stream, burst", call("/v1/messages", "x-api-key", messages_stream(false))),
        ("Messages from the same stream, paced 1 ms", call("/v1/messages", "x-api-key", messages_stream(true))),
    ];
    // Interleaved, one request of each in turn, so the machine's drift hits every series alike.
    for (_, call) in &streams {
        let _ = latency_of(&client, gateway.addr, call, 100, true).await;
    }
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(n / 2); streams.len()];
    for _ in 0..n / 2 {
        for (i, (_, call)) in streams.iter().enumerate() {
            samples[i].push(one_until(&client, gateway.addr, call, Some(b"Hello")).await.1);
        }
    }
    let ttft: Vec<(Duration, Duration)> =
        samples.iter_mut().map(|s| (percentile(&mut s.clone(), 0.5), percentile(s, 0.99))).collect();
    println!();
    println!("| time to first token, c=1 | p50 | p99 | translated adds (p50) |");
    println!("|---|---:|---:|---:|");
    for (i, (name, _)) in streams.iter().enumerate() {
        let added = if i >= 2 { format!("{:.0} µs", us(ttft[i].0) - us(ttft[i - 2].0)) } else { String::new() };
        println!("| {name} | {:.0} µs | {:.0} µs | {added} |", us(ttft[i].0), us(ttft[i].1));
    }
    println!();
    gateway.terminate();
}

/// A streamed Messages request for the chat channel; `paced` asks the mock for events 1 ms apart.
fn messages_stream(paced: bool) -> String {
    let mut body = bodies::messages_small("bench", true);
    body["messages"][0]["content"] = "Hello there, how are you doing today?".into();
    if paced {
        // The mock paces streams whose request says "paced".
        body["system"] = "paced".into();
    }
    body.to_string()
}
