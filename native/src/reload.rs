//! Config hot reload: the config is read again, validated, and swapped into the running gateway
//! on SIGHUP, when its file changes, every `CONFIG_RELOAD_INTERVAL` seconds for a `CONFIG_URL`
//! (a conditional GET), and on an admin's `POST /v1/api_config/reload`.
//!
//! A config that does not validate is refused with its path-precise error (logged, and returned
//! by the endpoint) and the running one stays. Requests run under the config they started with
//! (`Gateway::reload`), so a swap cuts nothing.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use sha2::{Digest, Sha256};
use uni_api_core::Gateway;

use crate::config_source::{self, Fetched, Source, Validators};
use crate::metrics::Metrics;

/// How often a `CONFIG_URL` is asked whether it changed, unless `CONFIG_RELOAD_INTERVAL` says.
pub const DEFAULT_URL_INTERVAL: Duration = Duration::from_secs(60);
/// Editors write a file in several steps; changes closer together than this are read once.
const SETTLE: Duration = Duration::from_millis(200);

/// What asked for a reload, for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Signal,
    FileChanged,
    UrlPoll,
    Endpoint,
}

impl Trigger {
    fn name(self) -> &'static str {
        match self {
            Self::Signal => "SIGHUP",
            Self::FileChanged => "file changed",
            Self::UrlPoll => "CONFIG_URL changed",
            Self::Endpoint => "POST /v1/api_config/reload",
        }
    }

    /// A signal or an admin asks for a reload whatever the source says; a watcher or a poll only
    /// acts on a change.
    fn forced(self) -> bool {
        matches!(self, Self::Signal | Self::Endpoint)
    }
}

/// A reload that was applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub providers: usize,
    pub client_keys: usize,
    pub warnings: Vec<String>,
}

/// How the config reads environment variables (`${VAR}` in api.yaml).
pub type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Reads the config source again and swaps the result into the gateway.
pub struct Reloader {
    gateway: Gateway,
    source: Source,
    env: Env,
    metrics: Option<Arc<Metrics>>,
    /// Held for a whole reload, so two triggers at once apply one after the other.
    last: tokio::sync::Mutex<Seen>,
}

/// What the source looked like when it was last read.
#[derive(Default)]
struct Seen {
    digest: Option<[u8; 32]>,
    validators: Validators,
}

impl Reloader {
    /// `text` is the config the gateway started with, so an unchanged file is not reloaded.
    pub fn new(gateway: Gateway, source: Source, text: &str, env: Env, metrics: Option<Arc<Metrics>>) -> Self {
        let seen = Seen { digest: Some(Sha256::digest(text.as_bytes()).into()), validators: Validators::default() };
        Self { gateway, source, env, metrics, last: tokio::sync::Mutex::new(seen) }
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Reads, validates and applies the config. `Ok(None)`: the source has not changed (only
    /// for triggers that are not forced).
    pub async fn reload(&self, trigger: Trigger) -> Result<Option<Applied>, String> {
        let mut seen = self.last.lock().await;
        let conditional = if trigger.forced() { None } else { Some(&seen.validators) };
        let (text, validators) = match config_source::fetch(&self.source, conditional).await {
            Ok(Fetched::Unchanged) => return Ok(None),
            Ok(Fetched::Text(text, validators)) => (text, validators),
            Err(e) => return Err(self.refused(trigger, e)),
        };
        let digest: [u8; 32] = Sha256::digest(text.as_bytes()).into();
        if !trigger.forced() && seen.digest == Some(digest) {
            seen.validators = validators;
            return Ok(None);
        }
        let env = &*self.env;
        let config = match config_source::parse(&text, &self.source, &|name: &str| env(name)) {
            Ok(config) => config,
            Err(e) => return Err(self.refused(trigger, e)),
        };
        let (providers, client_keys) = (config.providers.len(), config.clients.len());
        let warnings = self.gateway.reload(config).await;
        for warning in &warnings {
            tracing::warn!("{warning}");
        }
        *seen = Seen { digest: Some(digest), validators };
        if let Some(metrics) = &self.metrics {
            metrics.reloaded(true);
        }
        tracing::info!(
            "config reloaded from {} ({}): {providers} providers, {client_keys} client keys",
            self.source,
            trigger.name()
        );
        Ok(Some(Applied { providers, client_keys, warnings }))
    }

    fn refused(&self, trigger: Trigger, error: String) -> String {
        if let Some(metrics) = &self.metrics {
            metrics.reloaded(false);
        }
        tracing::error!("config reload ({}) refused, the running config stays: {error}", trigger.name());
        error
    }
}

/// Reloads on every SIGHUP until the process ends.
pub fn reload_on_sighup(reloader: Arc<Reloader>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; reload with POST /v1/api_config/reload");
            return;
        };
        while hangups.recv().await.is_some() {
            let _ = reloader.reload(Trigger::Signal).await;
        }
    });
    #[cfg(not(unix))]
    drop(reloader);
}

/// Watches the config file itself (not its folder, so a database or log written beside it
/// costs nothing). A file written in place raises a modify event; one replaced by a rename (as
/// editors do) or a Kubernetes ConfigMap whose symlink is switched ends the watch on the old
/// file, so after each event the path is watched again, which follows it to the new file.
pub fn watch_file(reloader: Arc<Reloader>, path: &Path) -> Result<(), String> {
    let path = path.to_path_buf();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access()) {
            let _ = tx.try_send(());
        }
    })
    .map_err(|e| format!("cannot watch {}: {e}", path.display()))?;
    watcher.watch(&path, RecursiveMode::NonRecursive).map_err(|e| format!("cannot watch {}: {e}", path.display()))?;
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            tokio::time::sleep(SETTLE).await;
            // The event may have been the old file going away: watch whatever the path names now
            // (an editor may take a moment to put the new file in place).
            let _ = watcher.unwatch(&path);
            let mut watching = false;
            for _ in 0..50 {
                if watcher.watch(&path, RecursiveMode::NonRecursive).is_ok() {
                    watching = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            while rx.try_recv().is_ok() {}
            if !watching {
                tracing::warn!("{} is gone; reload with SIGHUP once it is back", path.display());
                continue;
            }
            let _ = reloader.reload(Trigger::FileChanged).await;
        }
    });
    Ok(())
}

/// Asks a `CONFIG_URL` every `interval` whether it changed.
pub fn poll_url(reloader: Arc<Reloader>, interval: Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let _ = reloader.reload(Trigger::UrlPoll).await;
        }
    });
}

/// Retries model discovery for providers whose upstream could not list its models, with a
/// backoff from 5 s to 5 min, for whichever config is current.
pub fn retry_discovery(gateway: Gateway) {
    const FIRST: Duration = Duration::from_secs(5);
    const LONGEST: Duration = Duration::from_secs(300);
    tokio::spawn(async move {
        let mut wait = FIRST;
        loop {
            if gateway.undiscovered_providers() == 0 {
                wait = FIRST;
                tokio::time::sleep(FIRST).await;
                continue;
            }
            tokio::time::sleep(wait).await;
            let warnings = gateway.discover_models().await;
            if warnings.is_empty() {
                tracing::info!("model discovery succeeded for every provider");
                wait = FIRST;
            } else {
                wait = (wait * 2).min(LONGEST);
                tracing::warn!("model discovery still failing; next try in {} s", wait.as_secs());
            }
        }
    });
}

/// `CONFIG_RELOAD_INTERVAL` in seconds (0 turns polling off), else the default.
pub fn url_interval(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Duration>, String> {
    match env("CONFIG_RELOAD_INTERVAL").map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
        None => Ok(Some(DEFAULT_URL_INTERVAL)),
        Some(v) => match v.parse::<u64>() {
            Ok(0) => Ok(None),
            Ok(secs) => Ok(Some(Duration::from_secs(secs))),
            Err(_) => Err(format!("CONFIG_RELOAD_INTERVAL={v} is not a whole number of seconds")),
        },
    }
}
