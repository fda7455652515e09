//! `uni-api`: run the gateway natively.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use uni_api_core::Config;
use uni_api_native::server::{self, ServerLimits};
use uni_api_native::stats::{Stats, StatsTarget};
use uni_api_native::{build_gateway, config_source, native_platform};

// The gateway allocates small buffers per request; mimalloc serves them faster than glibc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .init();
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

async fn run(args: Args) -> Result<(), String> {
    let config_url = std::env::var("CONFIG_URL").ok();
    let source = config_source::choose(args.config.as_deref(), config_url.as_deref());
    let text = config_source::read(&source).await?;
    let env = |name: &str| std::env::var(name).ok();
    let config = Config::from_yaml_str(&text, &env).map_err(|e| format!("invalid config {source}: {e}"))?;
    for warning in config.warnings.iter().chain(config.implicit_admin_notice().as_ref()) {
        tracing::warn!("{source}: {warning}");
    }
    let providers = config.providers.len();
    let keys = config.clients.len();
    let limits = ServerLimits::from_env(&env)?;
    let target = StatsTarget::from_env(&env)?;
    let stats = Stats::open_with_limit(&target, Stats::queue_limit(&env)?).await?;
    match &target {
        StatsTarget::Sqlite(path) => tracing::info!("statistics: SQLite at {}", path.display()),
        StatsTarget::Postgres(pg, _) => tracing::info!("statistics: {}", pg.describe()),
        StatsTarget::Disabled => tracing::info!("statistics: disabled (DISABLE_DATABASE)"),
    }
    let mut platform = native_platform()?;
    platform.stats = stats.as_ref().map(Stats::store);
    let gateway = build_gateway(config, platform).await;

    let ip: std::net::IpAddr = args.host.parse().map_err(|_| format!("--host {} is not an IP address", args.host))?;
    let addr = SocketAddr::new(ip, args.port);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!("uni-api listening on http://{bound} ({providers} providers, {keys} client keys, config {source})");
    let drain = limits.shutdown_timeout;
    let served =
        server::serve(listener, gateway, limits, shutdown_signal()).await.map_err(|e| format!("server error: {e}"));
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
}
