//! Usage statistics: the record kept for every request and the SQL that stores and queries it.
//!
//! The core builds records and SQL; a host's `platform::StatsStore` queues the records, writes
//! them in batches off the request path, and runs read queries. Both SQLite (native, D1) and
//! PostgreSQL speak the SQL in `sql`, so every host answers `/v1/stats` alike.

mod schema;
pub mod sql;

use std::net::IpAddr;
use std::sync::Arc;

use crate::platform::UnixMillis;
use crate::usage::Usage;

/// One client request, as stored. Never holds a key: the client is named by its role and a
/// one-way fingerprint of its key.
///
/// Names the configuration already holds (role, fingerprint, provider, upstream model) are
/// shared with it, so a record costs few allocations on the request path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestRecord {
    pub at: UnixMillis,
    /// `/v1/chat/completions`, `/v1/embeddings`, …
    pub endpoint: &'static str,
    pub role: Arc<str>,
    pub key_id: Arc<str>,
    /// The model the client asked for.
    pub model: String,
    /// The channel that answered, if one did.
    pub served_by: Option<Channel>,
    /// The status the client saw (200 for a stream that started, even if it broke later).
    pub status: u16,
    /// Answered completely: a stream that broke or was cancelled mid-way is not a success.
    pub success: bool,
    /// Attempts that failed, in order, before the answer (or before giving up).
    pub failed: Vec<AttemptRecord>,
    /// Time to the first byte sent to the client.
    pub first_byte_ms: Option<u64>,
    pub total_ms: u64,
    pub usage: Usage,
    /// Rejected by the moderation check.
    pub flagged: bool,
    pub client_ip: Option<IpAddr>,
    /// What went wrong, without secrets.
    pub error: Option<String>,
}

/// A provider and the upstream model it was asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Channel {
    pub provider: Arc<str>,
    pub upstream_model: Arc<str>,
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.provider, self.upstream_model)
    }
}

impl RequestRecord {
    /// Every attempt made: the failed ones, then the one that answered.
    pub fn attempt_count(&self) -> usize {
        self.failed.len() + usize::from(self.served_by.is_some())
    }

    /// The channels tried, in order, comma-separated (`provider/model,provider/model`).
    pub fn tried(&self) -> String {
        let mut out = String::new();
        for channel in self.failed.iter().map(|a| a.channel.as_str()) {
            push_listed(&mut out, channel);
        }
        if let Some(served) = &self.served_by {
            push_listed(&mut out, served);
        }
        out
    }
}

fn push_listed(out: &mut String, item: impl std::fmt::Display) {
    use std::fmt::Write;
    if !out.is_empty() {
        out.push(',');
    }
    let _ = write!(out, "{item}");
}

/// A failed upstream attempt of a request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttemptRecord {
    /// `provider/upstream-model`.
    pub channel: String,
    /// The upstream's status, if it answered at all.
    pub status: Option<u16>,
}

/// The one-way name of a client key in statistics: 16 hex digits of its SHA-256.
pub fn key_fingerprint(key: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(key.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}
