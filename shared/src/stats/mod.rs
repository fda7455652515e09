//! Usage statistics: the record kept for every request and the SQL that stores and queries it.
//!
//! The core builds records and SQL; a host's `platform::StatsStore` queues the records, writes
//! them in batches off the request path, and runs read queries. Both SQLite (native, D1) and
//! PostgreSQL speak the SQL in `sql`, so every host answers `/v1/stats` alike.

pub mod sql;

use crate::platform::UnixMillis;
use crate::usage::Usage;

/// One client request, as stored. Never holds a key: the client is named by its role and a
/// one-way fingerprint of its key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestRecord {
    pub at: UnixMillis,
    /// `/v1/chat/completions`, `/v1/embeddings`, …
    pub endpoint: String,
    pub role: String,
    pub key_id: String,
    /// The model the client asked for.
    pub model: String,
    /// Provider name and upstream model of the attempt that answered, if one did.
    pub provider: Option<String>,
    pub upstream_model: Option<String>,
    /// The status the client saw (200 for a stream that started, even if it broke later).
    pub status: u16,
    /// Answered completely: a stream that broke or was cancelled mid-way is not a success.
    pub success: bool,
    pub attempts: Vec<AttemptRecord>,
    /// Time to the first byte sent to the client.
    pub first_byte_ms: Option<u64>,
    pub total_ms: u64,
    pub usage: Usage,
    /// Rejected by the moderation check.
    pub flagged: bool,
    pub client_ip: Option<String>,
    /// What went wrong, without secrets.
    pub error: Option<String>,
}

/// One upstream attempt of a request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttemptRecord {
    /// `provider/upstream-model`.
    pub channel: String,
    pub status: Option<u16>,
    pub success: bool,
}

/// The one-way name of a client key in statistics: 16 hex digits of its SHA-256.
pub fn key_fingerprint(key: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(key.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}
