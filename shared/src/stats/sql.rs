//! The statistics schema, its migrations, the inserts and the aggregate queries, in the two SQL
//! dialects the hosts run (SQLite, also Cloudflare D1; PostgreSQL).
//!
//! Placeholders differ (`?1` vs `$1`); everything else is the common subset of both.

use super::{RequestRecord, UnixMillis};

pub use super::schema::{
    migrations, original_tables, original_tables_note, ATTEMPTS, CREDITS, ORIGINAL_TABLES, REQUESTS, SCHEMA_TABLE,
    SCHEMA_VERSION,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqlDialect {
    Sqlite,
    Postgres,
}

impl SqlDialect {
    pub(super) fn placeholder(self, n: usize) -> String {
        match self {
            Self::Sqlite => format!("?{n}"),
            Self::Postgres => format!("${n}"),
        }
    }

    /// `INSERT INTO`, in SQLite as `INSERT OR FAIL INTO`: a row that broke a constraint would
    /// stop the statement without undoing the rows before it, so SQLite keeps no statement
    /// journal for multi-row inserts (no row can break one: every NOT NULL column is bound).
    fn insert_into(self) -> &'static str {
        match self {
            Self::Sqlite => "INSERT OR FAIL INTO",
            Self::Postgres => "INSERT INTO",
        }
    }

    pub(super) fn primary_key(self) -> &'static str {
        match self {
            Self::Sqlite => "INTEGER PRIMARY KEY",
            Self::Postgres => "BIGSERIAL PRIMARY KEY",
        }
    }
}

/// A parameter or a column value.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl SqlValue {
    pub fn as_i64(&self) -> i64 {
        match self {
            Self::Int(n) => *n,
            Self::Real(x) => *x as i64,
            Self::Text(t) => t.parse().unwrap_or(0),
            Self::Null => 0,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Int(n) => Some(*n as f64),
            Self::Real(x) => Some(*x),
            Self::Text(t) => t.parse().ok(),
            Self::Null => None,
        }
    }

    pub fn as_text(&self) -> String {
        match self {
            Self::Text(t) => t.clone(),
            Self::Int(n) => n.to_string(),
            Self::Real(x) => x.to_string(),
            Self::Null => String::new(),
        }
    }

    fn count(n: u64) -> Self {
        Self::Int(count(n))
    }
}

/// A count or a time as SQL's BIGINT (saturating: no count comes near the limit).
fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A parameter of an insert, borrowing from the record it writes.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlParam<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    Owned(String),
}

impl SqlParam<'_> {
    fn count(n: u64) -> Self {
        Self::Int(count(n))
    }

    /// As an owned value (for hosts whose drivers want one).
    pub fn to_value(&self) -> SqlValue {
        match self {
            Self::Null => SqlValue::Null,
            Self::Int(n) => SqlValue::Int(*n),
            Self::Text(t) => SqlValue::Text((*t).to_owned()),
            Self::Owned(t) => SqlValue::Text(t.clone()),
        }
    }
}

/// The statement that records a schema version.
pub fn record_version(dialect: SqlDialect) -> String {
    format!("INSERT INTO uni_api_schema (version) VALUES ({})", dialect.placeholder(1))
}

/// Adds `$2` USD to key `$1`'s credits and returns its new total of added credits.
pub fn add_credits(dialect: SqlDialect) -> String {
    let (key, amount) = (dialect.placeholder(1), dialect.placeholder(2));
    format!(
        "INSERT INTO {CREDITS} (key_id, added) VALUES ({key}, {amount}) \
         ON CONFLICT (key_id) DO UPDATE SET added = {CREDITS}.added + excluded.added RETURNING added"
    )
}

/// The credits added to key `$1` (no row: none).
pub fn credits_added(dialect: SqlDialect) -> String {
    format!("SELECT added FROM {CREDITS} WHERE key_id = {}", dialect.placeholder(1))
}

/// Columns of a request row, and so parameters per row of an insert.
pub const REQUEST_WIDTH: usize = 20;

const REQUEST_COLUMNS: [&str; REQUEST_WIDTH] = [
    "at_ms",
    "endpoint",
    "role",
    "key_id",
    "model",
    "provider",
    "upstream_model",
    "status",
    "success",
    "attempts",
    "tried",
    "first_byte_ms",
    "total_ms",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "flagged",
    "client_ip",
    "error",
];

/// The insert for one request row; its parameters come from `request_params`.
pub fn insert_request(dialect: SqlDialect) -> String {
    insert_requests(dialect, 1)
}

/// One insert for `rows` request rows: the parameters of each row, one after the other. Hosts
/// batch rows this way because one statement per row costs more than the row itself.
pub fn insert_requests(dialect: SqlDialect, rows: usize) -> String {
    let width = REQUEST_COLUMNS.len();
    let tuples: Vec<String> = (0..rows)
        .map(|row| {
            let marks: Vec<String> = (1..=width).map(|n| dialect.placeholder(row * width + n)).collect();
            format!("({})", marks.join(", "))
        })
        .collect();
    format!("{} {REQUESTS} ({}) VALUES {}", dialect.insert_into(), REQUEST_COLUMNS.join(", "), tuples.join(", "))
}

pub fn request_params(record: &RequestRecord) -> [SqlParam<'_>; REQUEST_WIDTH] {
    let u = &record.usage;
    fn text(t: &Option<String>) -> SqlParam<'_> {
        t.as_deref().map_or(SqlParam::Null, SqlParam::Text)
    }
    let served = record.served_by.as_ref();
    [
        SqlParam::count(record.at.0),
        SqlParam::Text(record.endpoint),
        SqlParam::Text(&record.role),
        SqlParam::Text(&record.key_id),
        SqlParam::Text(&record.model),
        served.map_or(SqlParam::Null, |c| SqlParam::Text(&c.provider)),
        served.map_or(SqlParam::Null, |c| SqlParam::Text(&c.upstream_model)),
        SqlParam::Int(record.status.into()),
        SqlParam::Int(record.success.into()),
        SqlParam::count(record.attempt_count() as u64),
        SqlParam::Owned(record.tried()),
        record.first_byte_ms.map_or(SqlParam::Null, SqlParam::count),
        SqlParam::count(record.total_ms),
        SqlParam::count(u.prompt_tokens),
        SqlParam::count(u.completion_tokens),
        SqlParam::count(u.cached_tokens),
        SqlParam::count(u.reasoning_tokens),
        SqlParam::Int(record.flagged.into()),
        record.client_ip.map_or(SqlParam::Null, |ip| SqlParam::Owned(ip.to_string())),
        text(&record.error),
    ]
}

/// The insert for one attempt row: one per entry of `RequestRecord::failed`. The attempt that
/// answered is the request row itself (`provider`, `upstream_model`), so the common
/// one-attempt request costs one row.
pub fn insert_attempt(dialect: SqlDialect) -> String {
    let p = |n| dialect.placeholder(n);
    format!(
        "{} {ATTEMPTS} (at_ms, channel, model, status, success) VALUES ({}, {}, {}, {}, 0)",
        dialect.insert_into(),
        p(1),
        p(2),
        p(3),
        p(4),
    )
}

pub fn attempt_params(record: &RequestRecord) -> impl Iterator<Item = [SqlParam<'_>; 4]> + '_ {
    record.failed.iter().map(|a| {
        [
            SqlParam::count(record.at.0),
            SqlParam::Text(&a.channel),
            SqlParam::Text(&record.model),
            a.status.map_or(SqlParam::Null, |s| SqlParam::Int(s.into())),
        ]
    })
}

/// What request rows are summed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    Model,
    /// The channel that answered (`provider/upstream-model`); requests no channel answered are left out.
    Channel,
    /// The client key (its fingerprint, with its role).
    Key,
    /// Client key and model, for `/v1/token_usage`.
    KeyModel,
}

impl GroupBy {
    /// The label columns, in output order.
    fn labels(self) -> &'static [&'static str] {
        match self {
            Self::Model => &["model"],
            Self::Channel => &["provider", "upstream_model"],
            Self::Key => &["key_id"],
            Self::KeyModel => &["key_id", "model"],
        }
    }

    pub fn label_count(self) -> usize {
        self.labels().len() + usize::from(matches!(self, Self::Key | Self::KeyModel))
    }
}

/// Which rows a query covers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub since: UnixMillis,
    /// Exclusive end; `None` is now.
    pub until: Option<UnixMillis>,
    pub key_id: Option<String>,
    pub model: Option<String>,
}

/// Sums of one group: labels, then `requests, successes, prompt, completion, cached, reasoning,
/// avg total ms, avg first-byte ms`. Keys also get their role (after the labels).
pub fn aggregate(dialect: SqlDialect, group: GroupBy, filter: &Filter) -> (String, Vec<SqlValue>) {
    let labels = group.labels().join(", ");
    let role = if matches!(group, GroupBy::Key | GroupBy::KeyModel) { ", MAX(role)" } else { "" };
    let mut params = vec![SqlValue::count(filter.since.0)];
    let mut conditions = vec![format!("at_ms >= {}", dialect.placeholder(1))];
    let mut push = |condition: &str, value: SqlValue| {
        params.push(value);
        conditions.push(format!("{condition} {}", dialect.placeholder(params.len())));
    };
    if let Some(until) = filter.until {
        push("at_ms <", SqlValue::count(until.0));
    }
    if let Some(key) = &filter.key_id {
        push("key_id =", SqlValue::Text(key.clone()));
    }
    if let Some(model) = &filter.model {
        push("model =", SqlValue::Text(model.clone()));
    }
    if group == GroupBy::Channel {
        conditions.push("provider IS NOT NULL".into());
    }
    // Casts keep PostgreSQL from answering NUMERIC for sums and averages. Token sums are taken
    // in floating point, which cannot overflow (an integer SUM errors past 2^63 in SQLite and
    // PostgreSQL alike); the reader saturates them back to integers.
    let sql = format!(
        "SELECT {labels}{role}, COUNT(*), CAST(SUM(success) AS BIGINT), \
         SUM(CAST(prompt_tokens AS DOUBLE PRECISION)), SUM(CAST(completion_tokens AS DOUBLE PRECISION)), \
         SUM(CAST(cached_tokens AS DOUBLE PRECISION)), SUM(CAST(reasoning_tokens AS DOUBLE PRECISION)), \
         CAST(AVG(total_ms) AS DOUBLE PRECISION), CAST(AVG(first_byte_ms) AS DOUBLE PRECISION) \
         FROM {REQUESTS} WHERE {} GROUP BY {labels} ORDER BY COUNT(*) DESC, {labels}",
        conditions.join(" AND ")
    );
    (sql, params)
}

/// Attempts and successes per channel since `since`: answers from the request rows, failures
/// from the attempt rows.
pub fn channel_success(dialect: SqlDialect, since: UnixMillis) -> (String, Vec<SqlValue>) {
    let p = dialect.placeholder(1);
    let sql = format!(
        "SELECT channel, COUNT(*), CAST(SUM(success) AS BIGINT) FROM ( \
           SELECT provider || '/' || upstream_model AS channel, 1 AS success FROM {REQUESTS} \
             WHERE at_ms >= {p} AND provider IS NOT NULL \
           UNION ALL \
           SELECT channel, 0 AS success FROM {ATTEMPTS} WHERE at_ms >= {p} AND success = 0 \
         ) AS tried GROUP BY channel ORDER BY COUNT(*) DESC, channel"
    );
    (sql, vec![SqlValue::count(since.0)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_dialect() {
        let filter = Filter { key_id: Some("k".into()), model: Some("m".into()), ..Filter::default() };
        let (sqlite, params) = aggregate(SqlDialect::Sqlite, GroupBy::KeyModel, &filter);
        assert!(sqlite.contains("at_ms >= ?1 AND key_id = ?2 AND model = ?3"), "{sqlite}");
        assert_eq!(params.len(), 3);
        let (pg, _) = aggregate(SqlDialect::Postgres, GroupBy::KeyModel, &filter);
        assert!(pg.contains("at_ms >= $1 AND key_id = $2 AND model = $3"), "{pg}");
        assert!(insert_request(SqlDialect::Postgres).ends_with("$20)"));
        assert!(insert_requests(SqlDialect::Sqlite, 3).ends_with(
            "?41, ?42, ?43, ?44, ?45, ?46, ?47, ?48, ?49, ?50, ?51, ?52, ?53, ?54, ?55, ?56, ?57, ?58, ?59, ?60)"
        ));
    }

    #[test]
    fn request_params_match_the_columns() {
        let record = RequestRecord::default();
        assert_eq!(request_params(&record).len(), REQUEST_COLUMNS.len());
    }
}
