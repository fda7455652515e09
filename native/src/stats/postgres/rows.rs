//! The statistics rows in PostgreSQL: schema migration, batched inserts and reading values back.

use futures_util::future::try_join_all;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row, Statement};
use uni_api_core::stats::sql::{self, SqlDialect, SqlParam, SqlValue};
use uni_api_core::stats::RequestRecord;

pub(super) async fn migrate(client: &mut Client) -> Result<(), tokio_postgres::Error> {
    client.batch_execute(sql::SCHEMA_TABLE).await?;
    let tx = client.transaction().await?;
    // One instance migrates at a time when several start together.
    tx.batch_execute("LOCK TABLE uni_api_schema IN EXCLUSIVE MODE").await?;
    let current: i64 = tx.query_one(sql::SCHEMA_VERSION, &[]).await?.get::<_, i32>(0).into();
    for (version, statements) in sql::migrations(SqlDialect::Postgres, current) {
        for statement in statements {
            tx.batch_execute(&statement).await?;
        }
        let version = i32::try_from(version).unwrap_or(i32::MAX);
        tx.execute(&sql::record_version(SqlDialect::Postgres), &[&version]).await?;
    }
    tx.commit().await?;
    let found = client.query(&sql::original_tables(SqlDialect::Postgres), &[]).await?;
    let found: Vec<String> = found.iter().map(|row| row.get(0)).collect();
    if let Some(note) = sql::original_tables_note(&found) {
        tracing::info!("{note}");
    }
    Ok(())
}

/// Request rows per insert statement (PostgreSQL allows 65,535 parameters; this uses 2,000).
const ROWS_PER_INSERT: usize = 100;

pub(super) async fn write(client: &mut Client, records: &[RequestRecord]) -> Result<(), tokio_postgres::Error> {
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
pub(super) fn typed(values: Vec<SqlValue>, types: &[Type]) -> Vec<Param> {
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

pub(super) fn borrowed(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
}

pub(super) fn from_row(row: &Row) -> Vec<SqlValue> {
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
