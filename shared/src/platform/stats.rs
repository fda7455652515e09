//! The statistics port: a queue for request records and a reader for aggregate queries.

use super::send::{BoxFuture, MaybeSend, MaybeSync};
use super::store::StoreError;
use crate::stats::sql::{SqlDialect, SqlValue};
use crate::stats::RequestRecord;

/// Where request records go. `record` must never wait: hosts queue the record and write it in
/// the background, in batches.
pub trait StatsStore: MaybeSend + MaybeSync {
    /// Which SQL the store speaks.
    fn dialect(&self) -> SqlDialect;

    /// Queues one record for writing.
    fn record(&self, record: RequestRecord);

    /// Runs a read-only query built by `stats::sql` and returns its rows.
    fn query<'a>(&'a self, sql: String, params: Vec<SqlValue>)
        -> BoxFuture<'a, Result<Vec<Vec<SqlValue>>, StoreError>>;

    /// Records dropped since start because the store could not keep up (its queue was full).
    /// `false` for a store that only observes records (metrics) and keeps no rows: `/v1/stats`
    /// then answers as when statistics are off.
    fn queryable(&self) -> bool {
        true
    }

    fn dropped(&self) -> u64 {
        0
    }
}
