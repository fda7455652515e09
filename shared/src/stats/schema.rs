//! The statistics schema, its migrations, and the original uni-api's tables, which may share the
//! database (a data folder carried over from it) and are never touched.
//!
//! Version 1 (before this gateway kept its own names) used `request_stats`, the very name of
//! the original's request table: in an old data folder its migration failed and the gateway
//! could not start. Version 2 names every table `uni_api_*`: a fresh database gets them at once,
//! a version-1 database has its tables renamed, rows kept.

use super::sql::SqlDialect;

/// One row per client request.
pub const REQUESTS: &str = "uni_api_requests";
/// One row per failed upstream attempt.
pub const ATTEMPTS: &str = "uni_api_attempts";
/// Credits added to paid keys with `/v1/add_credits`, by key fingerprint (version 3).
pub const CREDITS: &str = "uni_api_credits";
/// The original uni-api's tables (they hold full client and upstream keys).
pub const ORIGINAL_TABLES: [&str; 2] = ["channel_stats", "request_stats"];

/// The table that records which schema version a database has.
pub const SCHEMA_TABLE: &str = "CREATE TABLE IF NOT EXISTS uni_api_schema (version INTEGER NOT NULL)";
pub const SCHEMA_VERSION: &str = "SELECT COALESCE(MAX(version), 0) FROM uni_api_schema";

/// The steps from a database at schema version `current` to the newest, in order: `(version,
/// statements)`. A host applies each in one transaction, then records its version.
pub fn migrations(dialect: SqlDialect, current: i64) -> Vec<(i64, Vec<String>)> {
    let mut steps = match current {
        0 => vec![(2, create(dialect))],
        1 => vec![(2, from_version_1())],
        _ => Vec::new(),
    };
    if current < 3 {
        steps.push((
            3,
            vec![format!(
                "CREATE TABLE IF NOT EXISTS {CREDITS} (key_id TEXT PRIMARY KEY, added DOUBLE PRECISION NOT NULL)"
            )],
        ));
    }
    steps
}

fn create(dialect: SqlDialect) -> Vec<String> {
    let pk = dialect.primary_key();
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {REQUESTS} (
                id {pk},
                at_ms BIGINT NOT NULL,
                endpoint TEXT NOT NULL,
                role TEXT NOT NULL,
                key_id TEXT NOT NULL,
                model TEXT NOT NULL,
                provider TEXT,
                upstream_model TEXT,
                status INTEGER NOT NULL,
                success INTEGER NOT NULL,
                attempts INTEGER NOT NULL,
                tried TEXT NOT NULL,
                first_byte_ms BIGINT,
                total_ms BIGINT NOT NULL,
                prompt_tokens BIGINT NOT NULL,
                completion_tokens BIGINT NOT NULL,
                cached_tokens BIGINT NOT NULL,
                reasoning_tokens BIGINT NOT NULL,
                flagged INTEGER NOT NULL,
                client_ip TEXT,
                error TEXT
            )"
        ),
        format!("CREATE INDEX IF NOT EXISTS {REQUESTS}_at ON {REQUESTS} (at_ms)"),
        format!(
            "CREATE TABLE IF NOT EXISTS {ATTEMPTS} (
                id {pk},
                at_ms BIGINT NOT NULL,
                channel TEXT NOT NULL,
                model TEXT NOT NULL,
                status INTEGER,
                success INTEGER NOT NULL
            )"
        ),
        format!("CREATE INDEX IF NOT EXISTS {ATTEMPTS}_at ON {ATTEMPTS} (at_ms)"),
    ]
}

/// Version 1's tables, renamed with their rows (SQLite, D1 and PostgreSQL alike).
fn from_version_1() -> Vec<String> {
    vec![
        format!("ALTER TABLE request_stats RENAME TO {REQUESTS}"),
        format!("ALTER TABLE channel_attempts RENAME TO {ATTEMPTS}"),
        "DROP INDEX IF EXISTS request_stats_at".into(),
        "DROP INDEX IF EXISTS channel_attempts_at".into(),
        format!("CREATE INDEX IF NOT EXISTS {REQUESTS}_at ON {REQUESTS} (at_ms)"),
        format!("CREATE INDEX IF NOT EXISTS {ATTEMPTS}_at ON {ATTEMPTS} (at_ms)"),
    ]
}

/// Lists which of the original's tables the database holds (one name per row), once migrated.
pub fn original_tables(dialect: SqlDialect) -> String {
    let names = ORIGINAL_TABLES.map(|t| format!("'{t}'")).join(", ");
    match dialect {
        SqlDialect::Sqlite => {
            format!("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ({names}) ORDER BY name")
        }
        SqlDialect::Postgres => format!(
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name IN ({names}) ORDER BY table_name"
        ),
    }
}

/// The log line for an original's tables found in the database, if any were.
pub fn original_tables_note(found: &[String]) -> Option<String> {
    (!found.is_empty()).then(|| {
        format!(
            "statistics: this database also holds the original uni-api's {} ({}); left untouched and not \
             imported (its rows hold full client and upstream API keys, which this gateway never stores; drop \
             the tables once you no longer need them). This gateway's statistics are in {REQUESTS} and {ATTEMPTS}",
            if found.len() == 1 { "table" } else { "tables" },
            found.join(", ")
        )
    })
}
