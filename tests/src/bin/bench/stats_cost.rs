//! What statistics cost (`BENCH_ONLY=stats`, and the end of the full run): the native gateway
//! with statistics off and with SQLite, one after the other and side by side, in rounds.

use std::net::SocketAddr;
use std::time::Duration;

use super::{round_count, start_gateway, throughput, Gateway, Stats, REQUEST};

/// Throughput and CPU per request with statistics off and on, measured two ways per round:
/// one after the other (each gateway alone on its core), and side by side (both on the same
/// core at once, each driven by half the connections), where whatever else the machine is
/// doing slows both alike.
pub(crate) struct StatsCost {
    /// Per round: (requests/s, CPU µs per request), off then SQLite, each alone.
    alone: Vec<[(f64, f64); 2]>,
    /// The same, side by side.
    side_by_side: Vec<[(f64, f64); 2]>,
    /// Rows in the SQLite file after a graceful stop, and requests the SQLite gateways served.
    rows: u64,
    served: u64,
    /// Peak RSS in kB, off and on.
    rss: [u64; 2],
    /// CPU time of the SQLite writer thread per record written (rounds alone).
    writer_us_per_record: f64,
}

impl StatsCost {
    fn mean(rounds: &[[(f64, f64); 2]], mode: usize, pick: fn(&(f64, f64)) -> f64) -> f64 {
        rounds.iter().map(|r| pick(&r[mode])).sum::<f64>() / rounds.len().max(1) as f64
    }

    /// Median over rounds of `1 - on/off` requests/s and `on/off - 1` CPU per request.
    fn costs(rounds: &[[(f64, f64); 2]]) -> (f64, f64) {
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or(0.0)
        };
        (
            median(rounds.iter().map(|[off, on]| 1.0 - on.0 / off.0).collect()),
            median(rounds.iter().map(|[off, on]| on.1 / off.1 - 1.0).collect()),
        )
    }
}

/// The statistics comparison as Markdown tables, with each round's figures after them.
pub(crate) fn print_statistics_cost(cost: &StatsCost) {
    let mb = |kb: u64| kb as f64 / 1024.0;
    for (name, rounds) in [("alone, one after the other", &cost.alone), ("side by side", &cost.side_by_side)] {
        println!(
            "| statistics, c=64 non-streaming, {name} (mean of {} rounds) | requests/s | CPU per request |",
            rounds.len()
        );
        println!("|---|---:|---:|");
        for (mode, label) in [(0, "off (`DISABLE_DATABASE=true`)"), (1, "SQLite (default)")] {
            println!(
                "| {label} | {:.0} | {:.1} µs |",
                StatsCost::mean(rounds, mode, |r| r.0),
                StatsCost::mean(rounds, mode, |r| r.1)
            );
        }
        let (rps, cpu) = StatsCost::costs(rounds);
        println!(
            "| cost of statistics (median of per-round ratios) | {:.1}% fewer requests/s | {:+.1}% CPU |",
            rps * 100.0,
            cpu * 100.0
        );
        println!();
        for (i, [off, on]) in rounds.iter().enumerate() {
            println!(
                "round {}: off {:.0} req/s {:.1} µs, SQLite {:.0} req/s {:.1} µs: {:.1}% fewer requests/s, {:+.1}% CPU",
                i + 1,
                off.0,
                off.1,
                on.0,
                on.1,
                (1.0 - on.0 / off.0) * 100.0,
                (on.1 / off.1 - 1.0) * 100.0
            );
        }
        println!();
    }
    println!("peak RSS: {:.1} MB off, {:.1} MB with SQLite", mb(cost.rss[0]), mb(cost.rss[1]));
    println!(
        "records in the SQLite file after SIGTERM: {} of {} requests served by the statistics runs",
        cost.rows, cost.served
    );
    let on_cpu = StatsCost::mean(&cost.alone, 1, |r| r.1);
    println!(
        "SQLite writer thread: {:.2} µs CPU per record ({:.1}% of the CPU per request with statistics on)",
        cost.writer_us_per_record,
        cost.writer_us_per_record / on_cpu * 100.0
    );
    println!();
}

/// The name of the native gateway's statistics writer thread.
const WRITER_THREAD: &str = "uni-api-stats";

/// CPU seconds of each gateway and of its statistics writer, read after the writer has had
/// time to write its last batch (so its time covers every record served).
async fn settled_cpu(gateways: &[&Gateway]) -> Vec<(f64, f64)> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    gateways.iter().map(|g| (g.cpu_seconds(), g.thread_cpu_seconds(WRITER_THREAD))).collect()
}

pub(crate) async fn statistics_cost(
    binary: &str,
    core: &str,
    upstream: SocketAddr,
    dir: &std::path::Path,
    seconds: u64,
) -> StatsCost {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("stats.db{suffix}")));
    }
    let window = Duration::from_secs(seconds);
    let start = |mode| async move {
        let gateway = start_gateway(binary, core, upstream, dir, mode).await;
        if let Ok(writer_core) = std::env::var("BENCH_WRITER_CORE") {
            gateway.pin_threads(WRITER_THREAD, &writer_core);
        }
        gateway
    };
    let per_request =
        |done: u64, time: Duration, cpu: f64| (done as f64 / time.as_secs_f64(), cpu * 1e6 / done.max(1) as f64);
    let mut cost = StatsCost {
        alone: Vec::new(),
        side_by_side: Vec::new(),
        rows: 0,
        served: 0,
        rss: [0; 2],
        writer_us_per_record: 0.0,
    };
    let (mut writer_seconds, mut written_alone) = (0.0, 0);
    for _ in 0..round_count() {
        let mut alone = [(0.0, 0.0); 2];
        for (i, mode) in [Stats::Off, Stats::Sqlite].into_iter().enumerate() {
            let gateway = start(mode).await;
            let before = settled_cpu(&[&gateway]).await[0];
            let (done, time) = throughput(gateway.addr, REQUEST, 64, window).await;
            let after = settled_cpu(&[&gateway]).await[0];
            alone[i] = per_request(done, time, after.0 - before.0);
            cost.rss[i] = cost.rss[i].max(gateway.peak_rss_kb());
            if mode == Stats::Sqlite {
                cost.served += done;
                written_alone += done;
                writer_seconds += after.1 - before.1;
            }
            gateway.terminate();
        }
        cost.alone.push(alone);

        let (off, on) = (start(Stats::Off).await, start(Stats::Sqlite).await);
        let before = settled_cpu(&[&off, &on]).await;
        let ((off_done, off_time), (on_done, on_time)) =
            tokio::join!(throughput(off.addr, REQUEST, 32, window), throughput(on.addr, REQUEST, 32, window));
        let after = settled_cpu(&[&off, &on]).await;
        cost.side_by_side.push([
            per_request(off_done, off_time, after[0].0 - before[0].0),
            per_request(on_done, on_time, after[1].0 - before[1].0),
        ]);
        cost.served += on_done;
        off.terminate();
        on.terminate();
    }
    cost.rows = rusqlite::Connection::open(dir.join("stats.db"))
        .and_then(|c| c.query_row("SELECT COUNT(*) FROM uni_api_requests", [], |r| r.get::<_, i64>(0)))
        .map_or(0, |n| n as u64);
    cost.writer_us_per_record = writer_seconds * 1e6 / written_alone.max(1) as f64;
    cost
}
