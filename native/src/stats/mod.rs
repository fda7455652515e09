//! Statistics of the native binary: where records are kept (SQLite by default, PostgreSQL, or
//! nowhere). Records reach the one background writer through `queue`: a request only appends
//! to a buffer, so a burst costs memory for a moment, never a lost record or a wait.

mod postgres;
mod queue;
mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;

use uni_api_core::platform::StatsStore;

pub use self::postgres::PostgresStats;
use self::queue::Queue;
pub use self::sqlite::SqliteStats;

/// Where statistics go, from the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatsTarget {
    Disabled,
    Sqlite(PathBuf),
    Postgres(PostgresTarget, PostgresTls),
}

/// PostgreSQL connection settings; `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub enum PostgresTarget {
    /// A `tokio_postgres` connection string (URL or `key=value` form), TLS as its `sslmode` says.
    Url(String),
    Parts {
        host: String,
        port: u16,
        user: String,
        password: String,
        dbname: String,
        sslmode: SslMode,
    },
}

/// libpq's `sslmode`, which tokio-postgres knows only in part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    /// TLS when the server offers it, the certificate unchecked (the default).
    Prefer,
    /// TLS or no connection, the certificate unchecked.
    Require,
    /// TLS with the certificate checked against trusted authorities and the host name
    /// (`verify-ca` is taken as this stricter mode).
    VerifyFull,
}

impl SslMode {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" | "verify-full" => Self::VerifyFull,
            _ => return None,
        })
    }
}

/// Which certificate authorities a verifying TLS connection to PostgreSQL trusts: the system's,
/// plus those in `root_cert` (`DB_SSL_ROOT_CERT`, a PEM file) for servers with a private CA.
/// Naming a `root_cert` asks for verification, whatever the `sslmode`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PostgresTls {
    pub root_cert: Option<PathBuf>,
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
                let tls =
                    PostgresTls { root_cert: env("DB_SSL_ROOT_CERT").filter(|p| !p.is_empty()).map(PathBuf::from) };
                if let Some(url) = env("DATABASE_URL").filter(|u| !u.trim().is_empty()) {
                    return Ok(Self::Postgres(PostgresTarget::Url(url), tls));
                }
                let sslmode = match env("DB_SSLMODE").map(|m| m.trim().to_ascii_lowercase()) {
                    None => SslMode::Prefer,
                    Some(name) if name.is_empty() => SslMode::Prefer,
                    Some(name) => SslMode::parse(&name).ok_or_else(|| {
                        format!("DB_SSLMODE={name} is not supported (disable, prefer, require, verify-ca, verify-full)")
                    })?,
                };
                let port = match env("DB_PORT") {
                    None => 5432,
                    Some(p) => p.trim().parse().map_err(|_| format!("DB_PORT={p} is not a port number"))?,
                };
                Ok(Self::Postgres(
                    PostgresTarget::Parts {
                        host: env("DB_HOST").unwrap_or_else(|| "localhost".into()),
                        port,
                        user: env("DB_USER").unwrap_or_else(|| "postgres".into()),
                        password: env("DB_PASSWORD").unwrap_or_default(),
                        dbname: env("DB_NAME").unwrap_or_else(|| "uni_api".into()),
                        sslmode,
                    },
                    tls,
                ))
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
        Self::open_with_limit(target, queue::DEFAULT_LIMIT).await
    }

    /// As `open`, keeping at most `limit` records queued while the database is behind or away.
    pub async fn open_with_limit(target: &StatsTarget, limit: usize) -> Result<Option<Self>, String> {
        match target {
            StatsTarget::Disabled => Ok(None),
            StatsTarget::Sqlite(path) => {
                let store = SqliteStats::open(path, limit)?;
                let queue = store.queue();
                Ok(Some(Self { store: Arc::new(store), queue }))
            }
            StatsTarget::Postgres(pg, tls) => {
                let store = PostgresStats::connect(pg, tls, limit).await?;
                let queue = store.queue();
                Ok(Some(Self { store: Arc::new(store), queue }))
            }
        }
    }

    /// `STATS_QUEUE_LIMIT`, else the default.
    pub fn queue_limit(env: &dyn Fn(&str) -> Option<String>) -> Result<usize, String> {
        match env("STATS_QUEUE_LIMIT").map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
            None => Ok(queue::DEFAULT_LIMIT),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("STATS_QUEUE_LIMIT={v} is not a positive whole number")),
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

impl crate::metrics::QueueGauge for Stats {
    fn depth(&self) -> usize {
        self.queue.depth()
    }

    fn dropped(&self) -> u64 {
        self.queue.dropped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(vars: &[(&str, &str)]) -> Result<StatsTarget, String> {
        StatsTarget::from_env(&|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn the_environment_picks_the_store() {
        assert_eq!(target(&[]), Ok(StatsTarget::Sqlite("./data/stats.db".into())));
        assert_eq!(target(&[("DISABLE_DATABASE", "true"), ("DB_TYPE", "postgres")]), Ok(StatsTarget::Disabled));
        assert!(target(&[("DB_TYPE", "mysql")]).unwrap_err().contains("DB_TYPE=mysql"));
        let url = target(&[("DB_TYPE", "postgres"), ("DATABASE_URL", "postgres://u:p@db/x?sslmode=verify-full")]);
        assert_eq!(
            url,
            Ok(StatsTarget::Postgres(
                PostgresTarget::Url("postgres://u:p@db/x?sslmode=verify-full".into()),
                PostgresTls::default()
            ))
        );
    }

    #[test]
    fn postgres_parts_take_libpq_ssl_modes_and_a_root_certificate() {
        let parts = |vars: &[(&str, &str)]| match target(vars) {
            Ok(StatsTarget::Postgres(PostgresTarget::Parts { sslmode, .. }, tls)) => Ok((sslmode, tls.root_cert)),
            other => Err(format!("{other:?}")),
        };
        let pg = ("DB_TYPE", "postgres");
        assert_eq!(parts(&[pg]), Ok((SslMode::Prefer, None)));
        assert_eq!(parts(&[pg, ("DB_SSLMODE", "Verify-CA")]), Ok((SslMode::VerifyFull, None)));
        assert_eq!(
            parts(&[pg, ("DB_SSLMODE", "require"), ("DB_SSL_ROOT_CERT", "/etc/ca.pem")]),
            Ok((SslMode::Require, Some("/etc/ca.pem".into())))
        );
        assert!(parts(&[pg, ("DB_SSLMODE", "maybe")]).unwrap_err().contains("DB_SSLMODE=maybe"));
        let shown = format!("{:?}", target(&[pg, ("DB_PASSWORD", "hunter2")]));
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
