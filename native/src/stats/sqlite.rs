//! SQLite statistics: one file in WAL mode, one writer thread, a separate reader connection.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::types::{ToSql, ToSqlOutput, Value, ValueRef};
use rusqlite::{params_from_iter, Connection};
use uni_api_core::platform::{BoxFuture, StatsStore, StoreError};
use uni_api_core::stats::sql::{self, SqlDialect, SqlParam, SqlValue};
use uni_api_core::stats::RequestRecord;

use super::queue::{self, Queue};

pub struct SqliteStats {
    queue: Queue,
    reader: Arc<Mutex<Connection>>,
}

impl SqliteStats {
    /// Opens or creates the database at `path` (and its folder), migrates it and starts the writer.
    pub fn open(path: &Path, limit: usize) -> Result<Self, String> {
        let shown = path.display();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let mut writer = connect(path).map_err(|e| format!("cannot open the statistics database {shown}: {e}"))?;
        migrate(&mut writer).map_err(|e| format!("cannot migrate the statistics database {shown}: {e}"))?;
        let reader = connect(path).map_err(|e| format!("cannot open the statistics database {shown}: {e}"))?;
        let (queue, mut intake) = queue::queue(limit);
        std::thread::Builder::new()
            .name("uni-api-stats".into())
            .spawn(move || {
                while let Some(batch) = intake.next_blocking() {
                    for records in batch.transactions() {
                        if let Err(e) = write(&mut writer, records) {
                            queue::lost(&e, records.len());
                        }
                    }
                    intake.done(batch);
                }
            })
            .map_err(|e| format!("cannot start the statistics writer: {e}"))?;
        Ok(Self { queue, reader: Arc::new(Mutex::new(reader)) })
    }

    pub(super) fn queue(&self) -> Queue {
        self.queue.clone()
    }
}

fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    // WAL lets readers run beside the writer; NORMAL sync is durable across process crashes.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // 1 MiB of page cache per connection: rows are appended, so a large cache buys nothing.
    conn.pragma_update(None, "cache_size", -1024)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.execute(sql::SCHEMA_TABLE, [])?;
    let current: i64 = conn.query_row(sql::SCHEMA_VERSION, [], |row| row.get(0))?;
    for (version, statements) in sql::migrations(SqlDialect::Sqlite, current) {
        let tx = conn.transaction()?;
        for statement in statements {
            tx.execute(&statement, [])?;
        }
        tx.execute(&sql::record_version(SqlDialect::Sqlite), [version])?;
        tx.commit()?;
    }
    let found = conn
        .prepare(&sql::original_tables(SqlDialect::Sqlite))?
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if let Some(note) = sql::original_tables_note(&found) {
        tracing::info!("{note}");
    }
    Ok(())
}

/// Request rows per insert statement: fewer statements, while each statement's bound text
/// still fits SQLite's per-connection lookaside memory (measured: 16 beats 1, 8 and 32).
const ROWS_PER_INSERT: usize = 16;

fn write(conn: &mut Connection, records: &[RequestRecord]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut many = tx.prepare_cached(&sql::insert_requests(SqlDialect::Sqlite, ROWS_PER_INSERT))?;
        let mut one = tx.prepare_cached(&sql::insert_request(SqlDialect::Sqlite))?;
        let mut attempts = tx.prepare_cached(&sql::insert_attempt(SqlDialect::Sqlite))?;
        for chunk in records.chunks(ROWS_PER_INSERT) {
            if chunk.len() == ROWS_PER_INSERT {
                many.execute(params_from_iter(chunk.iter().flat_map(|r| sql::request_params(r)).map(Param)))?;
            } else {
                for record in chunk {
                    one.execute(params_from_iter(sql::request_params(record).into_iter().map(Param)))?;
                }
            }
            for record in chunk {
                for params in sql::attempt_params(record) {
                    attempts.execute(params_from_iter(params.into_iter().map(Param)))?;
                }
            }
        }
    }
    tx.commit()
}

/// An insert parameter, bound straight from the record's fields.
struct Param<'a>(SqlParam<'a>);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match &self.0 {
            SqlParam::Null => ValueRef::Null,
            SqlParam::Int(n) => ValueRef::Integer(*n),
            SqlParam::Text(t) => ValueRef::Text(t.as_bytes()),
            SqlParam::Owned(t) => ValueRef::Text(t.as_bytes()),
        }))
    }
}

fn to_sqlite(value: SqlValue) -> Value {
    match value {
        SqlValue::Null => Value::Null,
        SqlValue::Int(n) => Value::Integer(n),
        SqlValue::Real(x) => Value::Real(x),
        SqlValue::Text(t) => Value::Text(t),
    }
}

fn from_sqlite(value: ValueRef<'_>) -> SqlValue {
    match value {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(n) => SqlValue::Int(n),
        ValueRef::Real(x) => SqlValue::Real(x),
        ValueRef::Text(t) | ValueRef::Blob(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
    }
}

impl StatsStore for SqliteStats {
    fn dialect(&self) -> SqlDialect {
        SqlDialect::Sqlite
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
        let reader = self.reader.clone();
        Box::pin(async move {
            let rows = tokio::task::spawn_blocking(move || -> rusqlite::Result<Vec<Vec<SqlValue>>> {
                let conn = reader.lock().unwrap_or_else(|e| e.into_inner());
                let mut statement = conn.prepare_cached(&sql)?;
                let width = statement.column_count();
                let mut rows = statement.query(params_from_iter(params.into_iter().map(to_sqlite)))?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    out.push((0..width).map(|i| row.get_ref(i).map(from_sqlite)).collect::<rusqlite::Result<_>>()?);
                }
                Ok(out)
            })
            .await
            .map_err(|e| StoreError(format!("statistics query task failed: {e}")))?;
            rows.map_err(|e| StoreError(format!("statistics query failed: {e}")))
        })
    }
}
