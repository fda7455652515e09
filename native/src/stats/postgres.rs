//! PostgreSQL statistics, for several instances sharing one database: a writer task with its
//! own connection, and a reader connection.

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::future::try_join_all;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;
use uni_api_core::platform::{BoxFuture, StatsStore, StoreError};
use uni_api_core::stats::sql::{self, SqlDialect, SqlParam, SqlValue};
use uni_api_core::stats::RequestRecord;

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

/// The driver's configuration, its `sslmode`, and a `sslrootcert` named in the connection string.
fn client_config(target: &PostgresTarget) -> Result<(tokio_postgres::Config, SslMode, Option<PathBuf>), String> {
    let (mut config, sslmode, root_cert) = match target {
        PostgresTarget::Url(url) => {
            let libpq = LibpqOptions::take_from(url);
            let config: tokio_postgres::Config = libpq.rest.parse().map_err(|e| format!("DATABASE_URL: {e}"))?;
            let sslmode = match (libpq.verify, config.get_ssl_mode()) {
                (true, _) => SslMode::VerifyFull,
                (false, tokio_postgres::config::SslMode::Disable) => SslMode::Disable,
                (false, tokio_postgres::config::SslMode::Require) => SslMode::Require,
                (false, _) => SslMode::Prefer,
            };
            (config, sslmode, libpq.root_cert)
        }
        PostgresTarget::Parts { host, port, user, password, dbname, sslmode } => {
            let mut c = tokio_postgres::Config::new();
            c.host(host).port(*port).user(user).password(password).dbname(dbname);
            (c, *sslmode, None)
        }
    };
    config.ssl_mode(match sslmode {
        SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        SslMode::Require | SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
    });
    Ok((config, sslmode, root_cert))
}

/// libpq options that tokio-postgres refuses, taken out of a connection string (URL or
/// `key=value` form): a verifying `sslmode` (left as `require`, which the driver knows) and
/// `sslrootcert`. Strings without them are passed on untouched.
#[derive(Debug, PartialEq, Eq)]
struct LibpqOptions {
    rest: String,
    verify: bool,
    root_cert: Option<PathBuf>,
}

impl LibpqOptions {
    fn take_from(conn: &str) -> Self {
        let mut found = Self { rest: conn.to_owned(), verify: false, root_cert: None };
        let needed = ["sslmode=verify-full", "sslmode=verify-ca", "sslrootcert="].iter().any(|o| conn.contains(o));
        if !needed {
            return found;
        }
        let is_url = conn.starts_with("postgres://") || conn.starts_with("postgresql://");
        let mut keep = |option: &str| match option.split_once('=') {
            Some(("sslmode", "verify-full" | "verify-ca")) => {
                found.verify = true;
                Some("sslmode=require".to_owned())
            }
            Some(("sslrootcert", path)) => {
                found.root_cert = Some(PathBuf::from(if is_url {
                    percent_encoding::percent_decode_str(path).decode_utf8_lossy().into_owned()
                } else {
                    path.to_owned()
                }));
                None
            }
            _ => Some(option.to_owned()),
        };
        let rest = match conn.split_once('?') {
            Some((base, query)) if is_url => {
                let kept: Vec<String> = query.split('&').filter_map(&mut keep).collect();
                if kept.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
            _ if is_url => conn.to_owned(),
            _ => conn.split_whitespace().filter_map(&mut keep).collect::<Vec<_>>().join(" "),
        };
        found.rest = rest;
        found
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

/// TLS as libpq does it: `prefer` and `require` encrypt without checking the server's
/// certificate; `verify-full` (or a `DB_SSL_ROOT_CERT`) checks it against the system's
/// certificate authorities and those of `DB_SSL_ROOT_CERT`, and the host name.
fn connector(verify: bool, tls: &PostgresTls) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS for PostgreSQL: {e}"))?;
    if !verify {
        let config =
            builder.dangerous().with_custom_certificate_verifier(Arc::new(EncryptOnly(provider))).with_no_client_auth();
        return Ok(MakeRustlsConnect::new(config));
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = &tls.root_cert {
        let shown = path.display();
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("cannot read certificates from DB_SSL_ROOT_CERT={shown}: {e}"))?;
        if certs.is_empty() {
            return Err(format!("DB_SSL_ROOT_CERT={shown} holds no PEM certificate"));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| format!("DB_SSL_ROOT_CERT={shown}: {e}"))?;
        }
    }
    Ok(MakeRustlsConnect::new(builder.with_root_certificates(roots).with_no_client_auth()))
}

/// libpq's `prefer`/`require`: the handshake's signatures are checked (the session is really
/// encrypted with the holder of the presented key), the certificate's issuer and name are not.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// An error with its causes (a TLS failure's reason sits in the source).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let shown = cause.to_string();
        if !text.contains(&shown) {
            text.push_str(": ");
            text.push_str(&shown);
        }
        source = cause.source();
    }
    text
}

async fn migrate(client: &mut Client) -> Result<(), tokio_postgres::Error> {
    client.batch_execute(sql::SCHEMA_TABLE).await?;
    let tx = client.transaction().await?;
    // One instance migrates at a time when several start together.
    tx.batch_execute("LOCK TABLE uni_api_schema IN EXCLUSIVE MODE").await?;
    let current: i64 = tx.query_one(sql::SCHEMA_VERSION, &[]).await?.get::<_, i32>(0).into();
    for (version, statements) in sql::migrations(SqlDialect::Postgres) {
        if version <= current {
            continue;
        }
        for statement in statements {
            tx.batch_execute(&statement).await?;
        }
        let version = i32::try_from(version).unwrap_or(i32::MAX);
        tx.execute(&sql::record_version(SqlDialect::Postgres), &[&version]).await?;
    }
    tx.commit().await
}

/// Request rows per insert statement (PostgreSQL allows 65,535 parameters; this uses 2,000).
const ROWS_PER_INSERT: usize = 100;

async fn write(client: &mut Client, records: &[RequestRecord]) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    let many = if records.len() >= ROWS_PER_INSERT {
        Some(tx.prepare(&sql::insert_requests(SqlDialect::Postgres, ROWS_PER_INSERT)).await?)
    } else {
        None
    };
    let one = tx.prepare(&sql::insert_request(SqlDialect::Postgres)).await?;
    let attempts = tx.prepare(&sql::insert_attempt(SqlDialect::Postgres)).await?;
    let mut jobs: Vec<(&Statement, Vec<Param>)> = Vec::new();
    for chunk in records.chunks(ROWS_PER_INSERT) {
        match &many {
            Some(many) if chunk.len() == ROWS_PER_INSERT => {
                let values = chunk.iter().flat_map(sql::request_params).map(|p| p.to_value()).collect();
                jobs.push((many, typed(values, many.params())));
            }
            _ => {
                for record in chunk {
                    let values = sql::request_params(record).iter().map(SqlParam::to_value).collect();
                    jobs.push((&one, typed(values, one.params())));
                }
            }
        }
        for values in chunk.iter().flat_map(sql::attempt_params) {
            jobs.push((&attempts, typed(values.iter().map(SqlParam::to_value).collect(), attempts.params())));
        }
    }
    // Sent together, the inserts are pipelined on the connection: one round trip for the batch
    // rather than one per statement.
    let params: Vec<_> = jobs.iter().map(|(_, p)| borrowed(p)).collect();
    try_join_all(jobs.iter().zip(&params).map(|((statement, _), params)| tx.execute(*statement, params))).await?;
    tx.commit().await
}

type Param = Box<dyn ToSql + Sync + Send>;

/// Converts values to the Rust types PostgreSQL expects for each parameter (INT4 vs INT8, a
/// NULL typed as its column).
fn typed(values: Vec<SqlValue>, types: &[Type]) -> Vec<Param> {
    values
        .into_iter()
        .zip(types)
        .map(|(value, ty)| -> Param {
            match (*ty == Type::INT4, *ty == Type::INT8, *ty == Type::FLOAT8) {
                (true, _, _) => Box::new(value_opt(&value).map(|v| i32::try_from(v.as_i64()).unwrap_or(i32::MAX))),
                (_, true, _) => Box::new(value_opt(&value).map(SqlValue::as_i64)),
                (_, _, true) => Box::new(value_opt(&value).and_then(SqlValue::as_f64)),
                _ => Box::new(value_opt(&value).map(SqlValue::as_text)),
            }
        })
        .collect()
}

fn value_opt(value: &SqlValue) -> Option<&SqlValue> {
    (*value != SqlValue::Null).then_some(value)
}

fn borrowed(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
}

fn from_row(row: &Row) -> Vec<SqlValue> {
    (0..row.len())
        .map(|i| {
            let ty = row.columns()[i].type_();
            let value = if *ty == Type::INT8 {
                row.try_get::<_, Option<i64>>(i).ok().flatten().map(SqlValue::Int)
            } else if *ty == Type::INT4 {
                row.try_get::<_, Option<i32>>(i).ok().flatten().map(|n| SqlValue::Int(n.into()))
            } else if *ty == Type::FLOAT8 {
                row.try_get::<_, Option<f64>>(i).ok().flatten().map(SqlValue::Real)
            } else {
                row.try_get::<_, Option<String>>(i).ok().flatten().map(SqlValue::Text)
            };
            value.unwrap_or(SqlValue::Null)
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_only_options_are_taken_out_of_connection_strings() {
        let url = "postgres://u:p@db:5432/x?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=a";
        assert_eq!(
            LibpqOptions::take_from(url),
            LibpqOptions {
                rest: "postgres://u:p@db:5432/x?sslmode=require&application_name=a".into(),
                verify: true,
                root_cert: Some("/etc/ca.pem".into()),
            }
        );
        let pairs = "host=db user=u sslmode=verify-ca sslrootcert=/etc/ca.pem";
        assert_eq!(
            LibpqOptions::take_from(pairs),
            LibpqOptions {
                rest: "host=db user=u sslmode=require".into(),
                verify: true,
                root_cert: Some("/etc/ca.pem".into())
            }
        );
        let plain = "host=db password='two words' sslmode=require";
        assert_eq!(LibpqOptions::take_from(plain), LibpqOptions { rest: plain.into(), verify: false, root_cert: None });
        assert_eq!(LibpqOptions::take_from("postgres://db/x?sslrootcert=ca.pem").rest, "postgres://db/x");
    }
}
