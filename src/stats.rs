//! Statistics on Workers: records kept in D1 (Cloudflare's SQLite), written after the response
//! with `waitUntil` so they never delay it, and read back for `/v1/stats` and `/v1/token_usage`.
//! Enabled by a D1 binding named `STATS_DB`; without one, statistics are off.

use std::cell::{Cell, RefCell};

use serde_json::Value;
use uni_api_core::platform::{BoxFuture, StatsStore, StoreError};
use uni_api_core::stats::sql::{self, SqlDialect, SqlParam, SqlValue};
use uni_api_core::stats::RequestRecord;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

pub const BINDING: &str = "STATS_DB";

/// Records an isolate keeps while D1 cannot take them; past it new ones are dropped and counted.
const QUEUE_LIMIT: usize = 10_000;

pub struct D1Stats {
    db: D1Database,
    queue: RefCell<Vec<RequestRecord>>,
    migrated: Cell<bool>,
    dropped: Cell<u64>,
}

impl D1Stats {
    pub fn new(db: D1Database) -> Self {
        Self { db, queue: RefCell::new(Vec::new()), migrated: Cell::new(false), dropped: Cell::new(0) }
    }

    /// Writes every queued record in one D1 batch. Called from `waitUntil` after a response,
    /// and before a statistics query. Records it could not write stay queued for the next flush:
    /// a stream the client abandoned may be let go of (and recorded) after its request ended,
    /// where no I/O is allowed, so its record waits for the next request to write it.
    pub async fn flush(&self) {
        let records = std::mem::take(&mut *self.queue.borrow_mut());
        if records.is_empty() {
            return;
        }
        if let Err(e) = self.write(&records).await {
            worker::console_warn!("uni-api: {} statistics records wait for the next write to D1: {e}", records.len());
            let mut queue = self.queue.borrow_mut();
            let newer = std::mem::replace(&mut *queue, records);
            queue.extend(newer);
            let excess = queue.len().saturating_sub(QUEUE_LIMIT);
            if excess > 0 {
                queue.truncate(QUEUE_LIMIT);
                self.count_dropped(excess);
            }
        }
    }

    fn count_dropped(&self, n: usize) {
        if self.dropped.get() == 0 {
            worker::console_error!("uni-api: statistics queue full ({QUEUE_LIMIT} records): new records are dropped");
        }
        self.dropped.set(self.dropped.get() + n as u64);
    }

    async fn write(&self, records: &[RequestRecord]) -> worker::Result<()> {
        self.migrate().await?;
        let mut statements = Vec::new();
        for record in records {
            statements
                .push(bind(self.db.prepare(sql::insert_request(SqlDialect::Sqlite)), &sql::request_params(record))?);
            for params in sql::attempt_params(record) {
                statements.push(bind(self.db.prepare(sql::insert_attempt(SqlDialect::Sqlite)), &params)?);
            }
        }
        self.db.batch(statements).await?;
        Ok(())
    }

    /// Creates or migrates the schema, once per isolate.
    async fn migrate(&self) -> worker::Result<()> {
        if self.migrated.get() {
            return Ok(());
        }
        self.db.prepare(sql::SCHEMA_TABLE).run().await?;
        let current = self.db.prepare(sql::SCHEMA_VERSION).raw::<Value>().await?;
        let current = current.first().and_then(|row| row.first()).and_then(Value::as_i64).unwrap_or(0);
        for (version, statements) in sql::migrations(SqlDialect::Sqlite, current) {
            let mut batch: Vec<D1PreparedStatement> = statements.iter().map(|s| self.db.prepare(s.as_str())).collect();
            batch.push(
                self.db.prepare(sql::record_version(SqlDialect::Sqlite)).bind(&[JsValue::from_f64(version as f64)])?,
            );
            self.db.batch(batch).await?;
        }
        let found = self.db.prepare(sql::original_tables(SqlDialect::Sqlite)).raw::<Value>().await?;
        let found: Vec<String> =
            found.iter().filter_map(|row| row.first().and_then(Value::as_str).map(str::to_owned)).collect();
        if let Some(note) = sql::original_tables_note(&found) {
            worker::console_log!("uni-api: {note}");
        }
        self.migrated.set(true);
        Ok(())
    }
}

fn bind(statement: D1PreparedStatement, params: &[SqlParam<'_>]) -> worker::Result<D1PreparedStatement> {
    let values: Vec<JsValue> = params
        .iter()
        .map(|p| match p {
            SqlParam::Null => JsValue::NULL,
            SqlParam::Int(n) => JsValue::from_f64(*n as f64),
            SqlParam::Text(t) => JsValue::from_str(t),
            SqlParam::Owned(t) => JsValue::from_str(t),
        })
        .collect();
    statement.bind(&values)
}

fn to_value(value: &SqlValue) -> JsValue {
    match value {
        SqlValue::Null => JsValue::NULL,
        SqlValue::Int(n) => JsValue::from_f64(*n as f64),
        SqlValue::Real(x) => JsValue::from_f64(*x),
        SqlValue::Text(t) => JsValue::from_str(t),
    }
}

fn from_json(value: Value) -> SqlValue {
    match value {
        Value::Null => SqlValue::Null,
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Int(i),
            None => SqlValue::Real(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => SqlValue::Text(s),
        other => SqlValue::Text(other.to_string()),
    }
}

impl StatsStore for D1Stats {
    fn dialect(&self) -> SqlDialect {
        SqlDialect::Sqlite
    }

    fn record(&self, record: RequestRecord) {
        let mut queue = self.queue.borrow_mut();
        if queue.len() >= QUEUE_LIMIT {
            drop(queue);
            self.count_dropped(1);
            return;
        }
        queue.push(record);
    }

    fn dropped(&self) -> u64 {
        self.dropped.get()
    }

    fn query<'a>(
        &'a self,
        sql: String,
        params: Vec<SqlValue>,
    ) -> BoxFuture<'a, Result<Vec<Vec<SqlValue>>, StoreError>> {
        Box::pin(async move {
            let fail = |e: worker::Error| StoreError(format!("D1 query failed: {e}"));
            // Records still queued from this isolate's requests are written first.
            self.flush().await;
            self.migrate().await.map_err(fail)?;
            let values: Vec<JsValue> = params.iter().map(to_value).collect();
            let rows = self.db.prepare(sql).bind(&values).map_err(fail)?.raw::<Value>().await.map_err(fail)?;
            Ok(rows.into_iter().map(|row| row.into_iter().map(from_json).collect()).collect())
        })
    }
}
