//! Connections that come back: each attempt bounded by `CONNECT_TIMEOUT`, each session given a
//! server-side `statement_timeout`, and after a failure no new attempt before a backoff (1 s,
//! doubling to 30 s) — meanwhile callers get the last reason at once instead of waiting on a
//! database that is away.

use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio_postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::tls::error_chain;

pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest one statement may run, on the server and as the client waits for it.
pub(super) const STATEMENT_TIMEOUT: Duration = Duration::from_secs(15);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Why there is no session.
#[derive(Debug)]
pub(super) struct OpenError {
    pub reason: String,
    /// The database answered and said no (a login or TLS certificate refused, a missing
    /// database): settings to fix, not an outage to wait out.
    pub refused: bool,
}

/// Opens connections to one database, with a backoff after failures.
pub(super) struct Connector {
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    /// Host, port and database, for messages.
    shown: String,
    backoff: Mutex<Backoff>,
}

#[derive(Default)]
struct Backoff {
    retry_at: Option<Instant>,
    delay: Duration,
    reason: String,
}

impl Connector {
    pub fn new(mut config: tokio_postgres::Config, tls: MakeRustlsConnect, shown: String) -> Self {
        config.connect_timeout(CONNECT_TIMEOUT);
        Self { config, tls, shown, backoff: Mutex::new(Backoff::default()) }
    }

    /// A new session, or why there is none (at once while backing off).
    pub async fn open(&self) -> Result<Client, OpenError> {
        if let Some(reason) = self.backing_off() {
            return Err(OpenError { reason, refused: false });
        }
        let fail = |e: tokio_postgres::Error| (error_chain(&e), is_refusal(&e));
        let attempt = async {
            let (client, connection) = self.config.connect(self.tls.clone()).await.map_err(fail)?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(error = %e, "statistics database connection closed");
                }
            });
            let limit = format!("SET statement_timeout = {}", STATEMENT_TIMEOUT.as_millis());
            client.batch_execute(&limit).await.map_err(fail)?;
            Ok::<_, (String, bool)>(client)
        };
        let outcome = match tokio::time::timeout(CONNECT_TIMEOUT + STATEMENT_TIMEOUT, attempt).await {
            Ok(outcome) => outcome,
            Err(_) => Err(("the database did not answer in time".to_owned(), false)),
        };
        match outcome {
            Ok(client) => {
                let was_down = std::mem::take(&mut *self.backoff.lock()).retry_at.is_some();
                if was_down {
                    tracing::info!("statistics database {} is reachable again", self.shown);
                }
                Ok(client)
            }
            Err((reason, refused)) => Err(OpenError { reason: self.failed(reason), refused }),
        }
    }

    /// Records a failure (of a connect, or of a session found broken) and starts or extends
    /// the backoff; returns the reason as callers should see it.
    pub fn failed(&self, error: String) -> String {
        let reason = format!("the statistics database {} is unreachable: {error}", self.shown);
        let mut backoff = self.backoff.lock();
        if backoff.retry_at.is_none() {
            tracing::warn!("{reason}; retrying with a backoff, requests are served meanwhile");
        }
        backoff.delay = if backoff.delay.is_zero() { FIRST_BACKOFF } else { (backoff.delay * 2).min(MAX_BACKOFF) };
        backoff.retry_at = Some(Instant::now() + backoff.delay);
        backoff.reason = reason.clone();
        reason
    }

    /// How long until the next attempt is allowed.
    pub fn wait(&self) -> Duration {
        self.backoff.lock().retry_at.map_or(FIRST_BACKOFF, |at| at.saturating_duration_since(Instant::now()))
    }

    fn backing_off(&self) -> Option<String> {
        let backoff = self.backoff.lock();
        backoff.retry_at.filter(|at| Instant::now() < *at).map(|_| backoff.reason.clone())
    }
}

/// Whether an error means the session (or the database) is gone, so the work should be tried
/// again later, rather than that this statement was refused (which trying again cannot fix).
pub(super) fn is_transient(error: &tokio_postgres::Error) -> bool {
    match error.as_db_error() {
        // I/O, protocol and closed-connection errors carry no database error.
        None => true,
        // Connection exceptions, operator intervention (shutdown, statement timeout),
        // insufficient resources, transaction rollback (serialization, deadlock).
        Some(db) => matches!(&db.code().code()[..2], "08" | "57" | "53" | "40"),
    }
}

/// Whether a connect failed because the server refused it: it answered with an error (bad
/// password, no such database) or its TLS certificate was not trusted.
fn is_refusal(error: &tokio_postgres::Error) -> bool {
    if error.as_db_error().is_some() {
        return true;
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.is::<rustls::Error>() {
            return true;
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if io.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
                return true;
            }
        }
        source = cause.source();
    }
    false
}
