//! The account of each request: one log line and one statistics record, written when the
//! request ends (for streams, when the stream ends), whatever the outcome.
//!
//! Invariant: nothing here waits. Records go to the stats port's queue; logs to `tracing`.

use http::HeaderMap;

use super::Inner;
use crate::error::{Attempt, GatewayError};
use crate::platform::{BoxFnOnce, UnixMillis};
use crate::stats::{AttemptRecord, RequestRecord};
use crate::stream::{StreamEnd, StreamReport};
use crate::usage::Usage;

/// The peer address of a request, put into its extensions by the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::IpAddr);

/// What is known about a request from its arrival.
#[derive(Clone, Debug)]
pub(super) struct Ledger {
    pub started: UnixMillis,
    pub endpoint: &'static str,
    pub client: usize,
    pub client_ip: Option<String>,
}

/// The channel that answered.
pub(super) struct Served<'a> {
    pub provider: &'a str,
    pub upstream_model: &'a str,
    /// Failed attempts before the one that answered.
    pub failed: &'a [Attempt],
    /// Which of the provider's keys answered, 1-based.
    pub key_number: Option<usize>,
}

impl Ledger {
    pub fn new(
        inner: &Inner,
        endpoint: &'static str,
        client: usize,
        headers: &HeaderMap,
        peer: Option<&ClientAddr>,
    ) -> Self {
        // Only statistics use the address: without them, nothing is read or allocated for it.
        let client_ip = inner.platform.stats.as_ref().and_then(|_| client_ip(headers, peer));
        Self { started: inner.platform.runtime.now(), endpoint, client, client_ip }
    }

    fn record(&self, inner: &Inner, model: &str) -> RequestRecord {
        let key = &inner.config.clients[self.client];
        RequestRecord {
            at: self.started,
            endpoint: self.endpoint.to_owned(),
            role: key.role.clone(),
            key_id: key.fingerprint.clone(),
            model: model.to_owned(),
            client_ip: self.client_ip.clone(),
            ..RequestRecord::default()
        }
    }

    /// A request that got an error answer.
    pub fn failed(&self, inner: &Inner, model: &str, error: &GatewayError, flagged: bool) {
        let now = inner.platform.runtime.now();
        let status = error.status().as_u16();
        let mut record = self.record(inner, model);
        if let GatewayError::Upstream { attempts, .. } = error {
            record.attempts = attempts.iter().map(failed_attempt).collect();
        }
        record.status = status;
        record.total_ms = now.0.saturating_sub(self.started.0);
        record.flagged = flagged;
        record.error = Some(error.to_string());
        let key = &inner.config.clients[self.client];
        tracing::info!(
            role = %key.role, endpoint = self.endpoint, model = %model, status, latency_ms = record.total_ms,
            tried = %record.attempts.iter().map(|a| a.channel.as_str()).collect::<Vec<_>>().join(","),
            error = %error, "request failed"
        );
        if let Some(stats) = &inner.platform.stats {
            stats.record(record);
        }
    }

    /// A whole (non-streamed) answer.
    pub fn served(&self, inner: &Inner, model: &str, served: &Served<'_>, usage: Option<Usage>) {
        let now = inner.platform.runtime.now();
        let mut record = self.answered(inner, model, served);
        record.status = 200;
        record.success = true;
        record.first_byte_ms = Some(now.0.saturating_sub(self.started.0));
        record.total_ms = now.0.saturating_sub(self.started.0);
        record.usage = usage.unwrap_or_default();
        log_served(&record, served.key_number);
        if let Some(stats) = &inner.platform.stats {
            stats.record(record);
        }
    }

    /// The hook that accounts for a stream when it ends (completed, broken or cancelled).
    pub fn stream_end(&self, inner: &Inner, model: &str, served: &Served<'_>) -> BoxFnOnce<StreamReport> {
        let now = inner.platform.runtime.now();
        let mut record = self.answered(inner, model, served);
        record.status = 200;
        record.first_byte_ms = Some(now.0.saturating_sub(self.started.0));
        let runtime = inner.platform.runtime.clone();
        let stats = inner.platform.stats.clone();
        Box::new(move |report: StreamReport| {
            let end = runtime.now();
            record.total_ms = end.0.saturating_sub(record.at.0);
            record.usage = report.usage.unwrap_or_default();
            match report.end {
                StreamEnd::Completed => record.success = true,
                StreamEnd::Cancelled => record.error = Some("cancelled by the client".into()),
                StreamEnd::Failed(e) => record.error = Some(format!("the stream broke: {e}")),
            }
            log_stream(&record);
            if let Some(stats) = stats {
                stats.record(record);
            }
        })
    }

    fn answered(&self, inner: &Inner, model: &str, served: &Served<'_>) -> RequestRecord {
        let mut record = self.record(inner, model);
        record.provider = Some(served.provider.to_owned());
        record.upstream_model = Some(served.upstream_model.to_owned());
        record.attempts = served.failed.iter().map(failed_attempt).collect();
        // Channels skipped without a call are listed too (status none): they explain the route taken.
        record.attempts.push(AttemptRecord {
            channel: format!("{}/{}", served.provider, served.upstream_model),
            status: Some(200),
            success: true,
        });
        record
    }
}

fn failed_attempt(a: &Attempt) -> AttemptRecord {
    AttemptRecord { channel: a.channel.clone(), status: a.status, success: false }
}

fn log_served(record: &RequestRecord, key_number: Option<usize>) {
    let u = &record.usage;
    tracing::info!(
        role = %record.role, endpoint = %record.endpoint, model = %record.model,
        channel = %format_args!("{}/{}", record.provider.as_deref().unwrap_or("-"), record.upstream_model.as_deref().unwrap_or("-")),
        key = key_number, status = record.status, attempts = record.attempts.len(), latency_ms = record.total_ms,
        prompt_tokens = u.prompt_tokens, completion_tokens = u.completion_tokens, "request served"
    );
}

fn log_stream(record: &RequestRecord) {
    let u = &record.usage;
    tracing::info!(
        role = %record.role, model = %record.model,
        channel = %format_args!("{}/{}", record.provider.as_deref().unwrap_or("-"), record.upstream_model.as_deref().unwrap_or("-")),
        status = record.status, attempts = record.attempts.len(), first_byte_ms = record.first_byte_ms,
        total_ms = record.total_ms, prompt_tokens = u.prompt_tokens, completion_tokens = u.completion_tokens,
        outcome = record.error.as_deref().unwrap_or("completed"), "stream served"
    );
}

/// The client's address: the first `X-Forwarded-For` hop or `X-Real-IP` (set by a reverse proxy
/// in front), else the peer the host saw. Used for statistics only, never for access decisions.
fn client_ip(headers: &HeaderMap, peer: Option<&ClientAddr>) -> Option<String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    header("x-forwarded-for")
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_owned())
        .or_else(|| header("x-real-ip").map(str::to_owned))
        .or_else(|| peer.map(|p| p.0.to_string()))
}
