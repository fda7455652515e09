//! PostgreSQL statistics, for several instances sharing one database: a writer task with its
//! own connection, and a reader connection.

mod rows;
mod tls;

use std::sync::Arc;

use tokio_postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;
use uni_api_core::platform::{BoxFuture, StatsStore, StoreError};
use uni_api_core::stats::sql::{SqlDialect, SqlValue};
use uni_api_core::stats::RequestRecord;

use self::rows::{borrowed, from_row, migrate, typed, write};
use self::tls::{client_config, connector, error_chain};
use super::queue::{self, Queue};
use super::{PostgresTarget, PostgresTls, SslMode};

pub struct PostgresStats {
    queue: Queue,
    reader: Arc<Client>,
}

impl PostgresStats {
    /// Connects, migrates the schema and starts the writer.
    pub async fn connect(target: &PostgresTarget, tls: &PostgresTls) -> Result<Self, String> {
        let shown = target.describe();
        let (config, sslmode, url_root_cert) =
            client_config(target).map_err(|e| format!("cannot connect to {shown}: {e}"))?;
        let tls = PostgresTls { root_cert: tls.root_cert.clone().or(url_root_cert) };
        let verify = sslmode == SslMode::VerifyFull || tls.root_cert.is_some();
        let tls = connector(verify, &tls)?;
        let cannot_connect = |e: tokio_postgres::Error| format!("cannot connect to {shown}: {}", error_chain(&e));
        let connect_once = || open(&config, &tls);
        let mut writer = connect_once().await.map_err(cannot_connect)?;
        migrate(&mut writer).await.map_err(|e| format!("cannot migrate the statistics schema in {shown}: {e}"))?;
        let reader = connect_once().await.map_err(cannot_connect)?;
        let (queue, mut intake) = queue::queue();
        tokio::spawn(async move {
            while let Some(batch) = intake.next().await {
                for records in batch.transactions() {
                    if let Err(e) = write(&mut writer, records).await {
                        queue::lost(&e, records.len());
                    }
                }
                intake.done(batch);
            }
        });
        Ok(Self { queue, reader: Arc::new(reader) })
    }

    pub(super) fn queue(&self) -> Queue {
        self.queue.clone()
    }
}

async fn open(config: &tokio_postgres::Config, tls: &MakeRustlsConnect) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(tls.clone()).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::error!(error = %e, "statistics database connection closed");
        }
    });
    Ok(client)
}

impl StatsStore for PostgresStats {
    fn dialect(&self) -> SqlDialect {
        SqlDialect::Postgres
    }

    fn record(&self, record: RequestRecord) {
        self.queue.push(record);
    }

    fn query<'a>(
        &'a self,
        sql: String,
        params: Vec<SqlValue>,
    ) -> BoxFuture<'a, Result<Vec<Vec<SqlValue>>, StoreError>> {
        Box::pin(async move {
            let fail = |e: tokio_postgres::Error| StoreError(format!("statistics query failed: {e}"));
            let statement = self.reader.prepare(&sql).await.map_err(fail)?;
            let params = typed(params, statement.params());
            let rows = self.reader.query(&statement, &borrowed(&params)).await.map_err(fail)?;
            Ok(rows.iter().map(from_row).collect())
        })
    }
}
