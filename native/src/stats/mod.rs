//! Statistics of the native binary: where records are kept (SQLite by default, PostgreSQL, or
//! nowhere), and the queue that carries them from requests to one background writer.
//!
//! Invariant: a request only pushes onto an unbounded queue; the writer drains it in batches of
//! up to `BATCH` rows per transaction, so a burst costs memory for a moment, never a lost record.
//! The writer waits `BATCH_WINDOW` after the first record of a batch: under load that turns
//! thousands of wake-ups and transactions per second into a few (see BENCHMARKS.md).

mod postgres;
mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use uni_api_core::platform::StatsStore;
use uni_api_core::stats::RequestRecord;

pub use self::postgres::PostgresStats;
pub use self::sqlite::SqliteStats;

/// Most records written in one transaction.
const BATCH: usize = 5000;
/// How long the writer lets records gather before writing them.
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(100);

/// Where statistics go, from the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatsTarget {
    Disabled,
    Sqlite(PathBuf),
    /// A `tokio_postgres` connection string (URL or `key=value` form).
    Postgres(PostgresTarget),
}

/// PostgreSQL connection settings; `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub enum PostgresTarget {
    Url(String),
    Parts { host: String, port: u16, user: String, password: String, dbname: String },
}

impl std::fmt::Debug for PostgresTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl PostgresTarget {
    /// Host, port and database, for logs.
    pub fn describe(&self) -> String {
        match self {
            Self::Url(url) => match url.parse::<tokio_postgres::Config>() {
                Ok(c) => {
                    let host = c.get_hosts().first().map_or("?".to_owned(), |h| match h {
                        tokio_postgres::config::Host::Tcp(h) => h.clone(),
                        #[cfg(unix)]
                        tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
                    });
                    let port = c.get_ports().first().copied().unwrap_or(5432);
                    format!("postgres://{host}:{port}/{}", c.get_dbname().unwrap_or(""))
                }
                Err(_) => "postgres (unparsable DATABASE_URL)".into(),
            },
            Self::Parts { host, port, dbname, .. } => format!("postgres://{host}:{port}/{dbname}"),
        }
    }
}

impl StatsTarget {
    /// Reads `DISABLE_DATABASE`, `DB_TYPE`, `DB_PATH`, `DATABASE_URL` and `DB_HOST`/`DB_PORT`/
    /// `DB_USER`/`DB_PASSWORD`/`DB_NAME`.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, String> {
        let flag = |name: &str| {
            env(name).is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
        };
        if flag("DISABLE_DATABASE") {
            return Ok(Self::Disabled);
        }
        let kind = env("DB_TYPE").map(|v| v.trim().to_ascii_lowercase()).unwrap_or_default();
        match kind.as_str() {
            "" | "sqlite" => {
                Ok(Self::Sqlite(env("DB_PATH").map_or_else(|| PathBuf::from("./data/stats.db"), PathBuf::from)))
            }
            "postgres" | "postgresql" => {
                if let Some(url) = env("DATABASE_URL").filter(|u| !u.trim().is_empty()) {
                    return Ok(Self::Postgres(PostgresTarget::Url(url)));
                }
                let port = match env("DB_PORT") {
                    None => 5432,
                    Some(p) => p.trim().parse().map_err(|_| format!("DB_PORT={p} is not a port number"))?,
                };
                Ok(Self::Postgres(PostgresTarget::Parts {
                    host: env("DB_HOST").unwrap_or_else(|| "localhost".into()),
                    port,
                    user: env("DB_USER").unwrap_or_else(|| "postgres".into()),
                    password: env("DB_PASSWORD").unwrap_or_default(),
                    dbname: env("DB_NAME").unwrap_or_else(|| "uni_api".into()),
                }))
            }
            other => Err(format!("DB_TYPE={other} is not supported (use sqlite or postgres)")),
        }
    }
}

/// An open statistics store and its writer.
pub struct Stats {
    store: Arc<dyn StatsStore>,
    queue: Queue,
}

impl Stats {
    /// Opens (creating and migrating) the target's database; `None` when statistics are off.
    pub async fn open(target: &StatsTarget) -> Result<Option<Self>, String> {
        match target {
            StatsTarget::Disabled => Ok(None),
            StatsTarget::Sqlite(path) => {
                let store = SqliteStats::open(path)?;
                let queue = store.queue();
                Ok(Some(Self { store: Arc::new(store), queue }))
            }
            StatsTarget::Postgres(pg) => {
                let store = PostgresStats::connect(pg).await?;
                let queue = store.queue();
                Ok(Some(Self { store: Arc::new(store), queue }))
            }
        }
    }

    pub fn store(&self) -> Arc<dyn StatsStore> {
        self.store.clone()
    }

    /// Waits until every record queued so far is written.
    pub async fn flush(&self) {
        self.queue.flush().await;
    }
}

/// What the writer receives.
enum Command {
    Record(Box<RequestRecord>),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

/// The sending side of a writer's queue.
#[derive(Clone)]
struct Queue(mpsc::UnboundedSender<Command>);

impl Queue {
    fn push(&self, record: RequestRecord) {
        if self.0.send(Command::Record(Box::new(record))).is_err() {
            tracing::error!("statistics writer has stopped; a record was not kept");
        }
    }

    async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.0.send(Command::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// Whether the writer should let more records gather before taking a batch: not for a flush,
/// and not while it is behind (its last batch was full), so a sustained burst is written as
/// fast as the database allows.
fn worth_waiting(first: &Command, last_batch: usize) -> bool {
    matches!(first, Command::Record(_)) && last_batch < BATCH
}

/// The next batch: the first command, then whatever else is already queued.
fn take_batch(
    first: Command,
    rx: &mut mpsc::UnboundedReceiver<Command>,
) -> (Vec<RequestRecord>, Vec<oneshot::Sender<()>>) {
    let mut records = Vec::new();
    let mut acks = Vec::new();
    let mut next = Some(first);
    while let Some(command) = next {
        match command {
            Command::Record(r) => records.push(*r),
            // Everything before the flush is in this batch; answer after writing it.
            Command::Flush(ack) => acks.push(ack),
        }
        next = if records.len() < BATCH { rx.try_recv().ok() } else { None };
    }
    (records, acks)
}
