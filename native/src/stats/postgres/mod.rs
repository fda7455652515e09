//! PostgreSQL statistics, for several instances sharing one database: a writer task with its
//! own session, and a reader session. Either survives the database going away: the gateway
//! starts and serves without it, records wait in the bounded queue and are written when it is
//! back, and `/v1/stats` answers 503 with the reason meanwhile.

mod link;
mod rows;
mod tls;

use tokio_postgres::Client;
use uni_api_core::platform::{BoxFuture, StatsStore, StoreError};
use uni_api_core::stats::sql::{SqlDialect, SqlValue};
use uni_api_core::stats::RequestRecord;

use self::link::{is_transient, Connector, OpenError, STATEMENT_TIMEOUT};
use self::rows::{borrowed, from_row, migrate, typed, write};
use self::tls::{client_config, connector, error_chain};
use super::queue::{self, Intake, Queue};
use super::{PostgresTarget, PostgresTls, SslMode};

pub struct PostgresStats {
    queue: Queue,
    reader: Connector,
    /// The reader's session, opened on demand and replaced when it breaks.
    session: tokio::sync::Mutex<Option<Client>>,
}

impl PostgresStats {
    /// Starts the writer, connecting and migrating the schema if the database answers now; if it
    /// does not, the gateway still starts and records are written once it does. Only settings
    /// that can never work (an unreadable certificate file, a malformed URL) are errors here.
    pub async fn connect(target: &PostgresTarget, tls: &PostgresTls, limit: usize) -> Result<Self, String> {
        let shown = target.describe();
        let (config, sslmode, url_root_cert) =
            client_config(target).map_err(|e| format!("cannot connect to {shown}: {e}"))?;
        let tls = PostgresTls { root_cert: tls.root_cert.clone().or(url_root_cert) };
        let verify = sslmode == SslMode::VerifyFull || tls.root_cert.is_some();
        let tls = connector(verify, &tls)?;
        let writer = Connector::new(config.clone(), tls.clone(), shown.clone());
        let mut session = Writer { connector: writer, client: None, migrated: false };
        // Connected and migrated before the first request when the database is there; a
        // database that refuses us is a setting to fix now, one that is away is waited for.
        if let Err(e) = session.ready().await {
            if e.refused {
                return Err(format!("cannot connect to {shown}: {}", e.reason));
            }
        }
        let (queue, intake) = queue::queue(limit);
        tokio::spawn(session.run(intake));
        let reader = Connector::new(config, tls, shown);
        Ok(Self { queue, reader, session: tokio::sync::Mutex::new(None) })
    }

    pub(super) fn queue(&self) -> Queue {
        self.queue.clone()
    }

    async fn run_query(&self, sql: &str, params: Vec<SqlValue>) -> Result<Vec<Vec<SqlValue>>, String> {
        let mut session = self.session.lock().await;
        if session.as_ref().is_none_or(Client::is_closed) {
            *session = Some(self.reader.open().await.map_err(|e| e.reason)?);
        }
        let client = session.as_ref().expect("opened above");
        let work = async {
            let statement = client.prepare(sql).await?;
            let params = typed(params, statement.params());
            client.query(&statement, &borrowed(&params)).await
        };
        let outcome = tokio::time::timeout(STATEMENT_TIMEOUT, work).await;
        match outcome {
            Ok(Ok(rows)) => Ok(rows.iter().map(from_row).collect()),
            Ok(Err(e)) if !is_transient(&e) => Err(format!("statistics query failed: {}", error_chain(&e))),
            Ok(Err(e)) => {
                *session = None;
                Err(self.reader.failed(error_chain(&e)))
            }
            Err(_) => {
                *session = None;
                Err(self.reader.failed("a statistics query did not answer in time".into()))
            }
        }
    }
}

/// The writer task's session: records in, rows out, and back into the queue while the
/// database is away.
struct Writer {
    connector: Connector,
    client: Option<Client>,
    migrated: bool,
}

impl Writer {
    /// A session with the schema migrated, or why not.
    async fn ready(&mut self) -> Result<&mut Client, OpenError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = Some(self.connector.open().await?);
            self.migrated = false;
        }
        let client = self.client.as_mut().expect("opened above");
        if !self.migrated {
            match tokio::time::timeout(STATEMENT_TIMEOUT, migrate(client)).await {
                Ok(Ok(())) => self.migrated = true,
                Ok(Err(e)) => {
                    self.client = None;
                    let reason = format!("cannot migrate the statistics schema: {}", error_chain(&e));
                    return Err(OpenError { reason: self.connector.failed(reason), refused: !is_transient(&e) });
                }
                Err(_) => {
                    self.client = None;
                    let reason = self.connector.failed("the schema migration did not answer in time".into());
                    return Err(OpenError { reason, refused: false });
                }
            }
        }
        Ok(self.client.as_mut().expect("kept above"))
    }

    async fn run(mut self, mut intake: Intake) {
        let mut retry = false;
        loop {
            let batch = if retry {
                intake.retry_after(self.connector.wait()).await
            } else {
                match intake.next().await {
                    Some(batch) => batch,
                    None => return,
                }
            };
            retry = false;
            let mut written = 0;
            for records in batch.transactions() {
                let client = match self.ready().await {
                    Ok(client) => client,
                    Err(_) => {
                        retry = true;
                        break;
                    }
                };
                match tokio::time::timeout(STATEMENT_TIMEOUT, write(client, records)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) if !is_transient(&e) => queue::lost(&e, records.len()),
                    Ok(Err(e)) => {
                        self.client = None;
                        self.connector.failed(error_chain(&e));
                        retry = true;
                        break;
                    }
                    Err(_) => {
                        self.client = None;
                        self.connector.failed("writing statistics did not finish in time".into());
                        retry = true;
                        break;
                    }
                }
                written += records.len();
            }
            if retry {
                intake.requeue(batch, written);
            } else {
                intake.done(batch);
            }
        }
    }
}

impl StatsStore for PostgresStats {
    fn dialect(&self) -> SqlDialect {
        SqlDialect::Postgres
    }

    fn record(&self, record: RequestRecord) {
        self.queue.push(record);
    }

    fn dropped(&self) -> u64 {
        self.queue.dropped()
    }

    fn query<'a>(
        &'a self,
        sql: String,
        params: Vec<SqlValue>,
    ) -> BoxFuture<'a, Result<Vec<Vec<SqlValue>>, StoreError>> {
        Box::pin(async move { self.run_query(&sql, params).await.map_err(StoreError) })
    }
}
