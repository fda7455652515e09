//! The `uni-api` command: arguments, logging, the runtime, and the host wired around the core
//! (statistics, metrics, hot reload, graceful shutdown). `src/main.rs` only calls [`main`].

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use uni_api_core::platform::MemoryStore;

use crate::metrics::{MeteredStats, Metrics, QueueGauge};
use crate::reload::{self, Reloader};
use crate::runtime::Drain;
use crate::server::{self, MetricsEndpoint, Operations, ServerLimits};
use crate::stats::{Stats, StatsTarget};
use crate::{build_gateway, config_source, native_platform_with};

/// One OpenAI-compatible API over many LLM providers, configured by api.yaml.
#[derive(Parser, Debug)]
#[command(name = "uni-api", version, about)]
struct Args {
    /// Path of api.yaml (default: CONFIG_URL, else ./api.yaml).
    #[arg(long, short = 'c')]
    config: Option<String>,
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    host: String,
    /// Port to listen on.
    #[arg(long, short = 'p', env = "PORT", default_value_t = 8000)]
    port: u16,
    /// Ask a gateway on 127.0.0.1:PORT for /healthz and exit 0 if it answers 200 (the Docker
    /// image's HEALTHCHECK: the runtime image has no shell or curl).
    #[arg(long)]
    healthcheck: bool,
}

/// Runs the gateway until SIGTERM or Ctrl-C.
pub fn main() -> ExitCode {
    let args = Args::parse();
    if args.healthcheck {
        return healthcheck(args.port);
    }
    config_source::init_logging();
    // On one CPU a work-stealing scheduler only adds cross-thread hand-offs; use the
    // single-threaded one there, and one worker per CPU otherwise.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut builder = if cpus == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("uni-api: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("uni-api: {message}");
            ExitCode::FAILURE
        }
    }
}

/// One `GET /healthz` to the local gateway, within 3 s.
fn healthcheck(port: u16) -> ExitCode {
    use std::io::{Read, Write};
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let limit = std::time::Duration::from_secs(3);
    let answer = (|| -> std::io::Result<String> {
        let mut tcp = std::net::TcpStream::connect_timeout(&addr, limit)?;
        tcp.set_read_timeout(Some(limit))?;
        tcp.write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut head = [0u8; 64];
        let n = tcp.read(&mut head)?;
        Ok(String::from_utf8_lossy(&head[..n]).into_owned())
    })();
    match answer {
        Ok(head) if head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200") => ExitCode::SUCCESS,
        Ok(head) => {
            eprintln!("uni-api healthcheck: {}", head.lines().next().unwrap_or("no answer"));
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("uni-api healthcheck: {addr}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Whether an environment flag is set to a true value.
fn flag(env: &dyn Fn(&str) -> Option<String>, name: &str) -> bool {
    env(name).is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
}

async fn run(args: Args) -> Result<(), String> {
    let env: reload::Env = Arc::new(|name: &str| std::env::var(name).ok());
    let config_url = env("CONFIG_URL");
    let source = config_source::choose_here(args.config.as_deref(), config_url.as_deref());
    match (&source, &config_url) {
        (config_source::Source::File(path), Some(_))
            if args.config.is_none() && path == config_source::DEFAULT_FILE =>
        {
            tracing::info!("config: ./{path} (a file is there, so CONFIG_URL is not used)");
        }
        _ => tracing::info!("config: {source}"),
    }
    let text = config_source::read(&source).await?;
    let config = config_source::parse(&text, &source, &|name: &str| env(name))?;
    let providers = config.providers.len();
    let keys = config.clients.len();
    let limits = ServerLimits::from_env(&*env)?;
    let target = StatsTarget::from_env(&*env)?;
    let stats = Stats::open_with_limit(&target, Stats::queue_limit(&*env)?).await?.map(Arc::new);
    match &target {
        StatsTarget::Sqlite(path) => tracing::info!("statistics: SQLite at {}", path.display()),
        StatsTarget::Postgres(pg, _) => tracing::info!("statistics: {}", pg.describe()),
        StatsTarget::Disabled => tracing::info!("statistics: disabled (DISABLE_DATABASE)"),
    }
    let store = Arc::new(MemoryStore::new());
    let metrics = Arc::new(Metrics::new());
    let mut platform = native_platform_with(store.clone())?;
    platform.stats =
        Some(Arc::new(MeteredStats { metrics: metrics.clone(), database: stats.as_ref().map(|s| s.store()) }));
    let drain = Drain::new();
    platform.runtime = drain.wrap(platform.runtime);
    let runtime = platform.runtime.clone();
    let gateway = build_gateway(config, platform).await;
    reload::retry_discovery(gateway.clone());

    let reloader = Arc::new(Reloader::new(gateway.clone(), source.clone(), &text, env.clone(), Some(metrics.clone())));
    reload::reload_on_sighup(reloader.clone());
    match &source {
        config_source::Source::File(path) if !flag(&*env, "CONFIG_WATCH_DISABLED") => {
            if let Err(e) = reload::watch_file(reloader.clone(), std::path::Path::new(path)) {
                tracing::warn!("{e}; reload with SIGHUP or POST /v1/api_config/reload");
            }
        }
        config_source::Source::Url(_) => {
            if let Some(interval) = reload::url_interval(&*env)? {
                reload::poll_url(reloader.clone(), interval);
            }
        }
        config_source::Source::File(_) => {}
    }
    let operations = Operations {
        metrics: Some(Arc::new(MetricsEndpoint {
            metrics,
            store: Some(store),
            queue: stats.clone().map(|s| s as Arc<dyn QueueGauge>),
            runtime,
            public: flag(&*env, "METRICS_PUBLIC"),
        })),
        reloader: Some(reloader),
        drain: Some(drain),
    };

    let ip: std::net::IpAddr = args.host.parse().map_err(|_| format!("--host {} is not an IP address", args.host))?;
    let addr = SocketAddr::new(ip, args.port);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!("uni-api listening on http://{bound} ({providers} providers, {keys} client keys, config {source})");
    let drain = limits.shutdown_timeout;
    let served = server::serve_with(listener, gateway, limits, operations, shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"));
    if let Some(stats) = &stats {
        // Every request has ended: write what is still queued, but do not let a database that
        // stopped answering keep the process alive.
        if tokio::time::timeout(drain, stats.flush()).await.is_err() {
            tracing::warn!("statistics still queued after SHUTDOWN_TIMEOUT ({} s) were not written", drain.as_secs());
        }
    }
    served?;
    tracing::info!("uni-api stopped");
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM; in-flight requests then finish before the process exits.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: no new connections; requests in flight may finish");
}
