//! A build against another (`BENCH_ONLY=baseline BENCH_BASELINE=path/to/older/uni-api`): the
//! two binaries alternate in rounds, each alone on the gateway core, with default settings
//! (SQLite statistics on), so a change on the request path is measured before and after.

use std::net::SocketAddr;
use std::time::Duration;

use super::{round_count, start_gateway, throughput, Stats, REQUEST, STREAM_REQUEST};

pub(crate) async fn report(
    current: &str,
    baseline: &str,
    core: &str,
    upstream: SocketAddr,
    dir: &std::path::Path,
    seconds: u64,
) {
    let window = Duration::from_secs(seconds);
    // Per round, per binary (baseline, current), per shape (non-streamed, streamed): (req/s, µs CPU).
    let mut rounds: Vec<[[(f64, f64); 2]; 2]> = Vec::new();
    let mut side: Vec<[[(f64, f64); 2]; 2]> = Vec::new();
    for _ in 0..round_count() {
        let mut round = [[(0.0, 0.0); 2]; 2];
        for (b, binary) in [baseline, current].into_iter().enumerate() {
            for (s, body) in [REQUEST, STREAM_REQUEST].into_iter().enumerate() {
                let gateway = start_gateway(binary, core, upstream, dir, Stats::Sqlite).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
                let before = gateway.cpu_seconds();
                let (done, time) = throughput(gateway.addr, body, 64, window).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
                let cpu = gateway.cpu_seconds() - before;
                round[b][s] = (done as f64 / time.as_secs_f64(), cpu * 1e6 / done.max(1) as f64);
                gateway.terminate();
            }
        }
        rounds.push(round);
        // Side by side on the same core, 32 connections each: the machine's noise hits both alike.
        let mut round = [[(0.0, 0.0); 2]; 2];
        for (s, body) in [REQUEST, STREAM_REQUEST].into_iter().enumerate() {
            let old = start_gateway(baseline, core, upstream, dir, Stats::Sqlite).await;
            let new = start_gateway(current, core, upstream, dir, Stats::Sqlite).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            let before = (old.cpu_seconds(), new.cpu_seconds());
            let ((old_done, old_time), (new_done, new_time)) =
                tokio::join!(throughput(old.addr, body, 32, window), throughput(new.addr, body, 32, window));
            tokio::time::sleep(Duration::from_millis(300)).await;
            let cpu = (old.cpu_seconds() - before.0, new.cpu_seconds() - before.1);
            round[0][s] = (old_done as f64 / old_time.as_secs_f64(), cpu.0 * 1e6 / old_done.max(1) as f64);
            round[1][s] = (new_done as f64 / new_time.as_secs_f64(), cpu.1 * 1e6 / new_done.max(1) as f64);
            old.terminate();
            new.terminate();
        }
        side.push(round);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    for (label, rounds) in
        [("alone, one after the other, c=64", &rounds), ("side by side on one core, c=32 each", &side)]
    {
        println!(
            "| {label}, SQLite statistics on (median of {} rounds) | baseline | this build | CPU per request |",
            rounds.len()
        );
        println!("|---|---:|---:|---:|");
        for (s, shape) in ["non-streamed", "streamed (20 chunks)"].into_iter().enumerate() {
            let cpu = |b: usize| median(rounds.iter().map(|r| r[b][s].1).collect());
            let rps = |b: usize| median(rounds.iter().map(|r| r[b][s].0).collect());
            let ratio = median(rounds.iter().map(|r| r[1][s].1 / r[0][s].1 - 1.0).collect());
            println!("| {shape}: CPU per request | {:.1} µs | {:.1} µs | {:+.1}% |", cpu(0), cpu(1), ratio * 100.0);
            println!("| {shape}: requests/s | {:.0} | {:.0} | |", rps(0), rps(1));
        }
        println!();
    }
    let observe_ns = observe_cost();
    let per_request = median(rounds.iter().map(|r| r[1][0].1).collect());
    println!(
        "| `/metrics` counting per request (`Metrics::observe`, in-process) | | {:.0} ns | {:.2}% of the non-streamed CPU |",
        observe_ns,
        observe_ns / 10.0 / per_request
    );
    println!();
    for (i, r) in rounds.iter().enumerate() {
        println!(
            "round {}: non-streamed {:.1} → {:.1} µs, streamed {:.1} → {:.1} µs",
            i + 1,
            r[0][0].1,
            r[1][0].1,
            r[0][1].1,
            r[1][1].1
        );
    }
}

/// Nanoseconds `Metrics::observe` takes for one request's record, over records spread across a
/// few models and channels as real traffic is.
fn observe_cost() -> f64 {
    use std::sync::Arc;
    use uni_api_core::stats::{Channel, RequestRecord};
    use uni_api_core::usage::Usage;
    let metrics = uni_api_native::metrics::Metrics::new();
    let records: Vec<RequestRecord> = (0..12)
        .map(|i| RequestRecord {
            endpoint: "/v1/chat/completions",
            model: format!("model-{}", i % 4),
            served_by: Some(Channel {
                provider: Arc::from(format!("provider-{}", i % 3)),
                upstream_model: Arc::from(format!("upstream-{}", i % 4)),
            }),
            status: 200,
            success: true,
            first_byte_ms: Some(120),
            total_ms: 900,
            usage: Usage { prompt_tokens: 30, completion_tokens: 60, total_tokens: 90, ..Usage::default() },
            ..RequestRecord::default()
        })
        .collect();
    let n = 300_000;
    let started = std::time::Instant::now();
    for i in 0..n {
        metrics.observe(&records[i % records.len()]);
    }
    started.elapsed().as_nanos() as f64 / n as f64
}
