//! The account of each request: one log line and one statistics record, written when the
//! request ends (for streams, when the stream ends), whatever the outcome.
//!
//! Invariant: nothing here waits. Records go to the stats port's queue; logs to `tracing`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::{HeaderMap, HeaderName};

use super::Inner;
use crate::doors::Door;
use crate::error::{Attempt, GatewayError};
use crate::log_text::LogText;
use crate::platform::{BoxFnOnce, UnixMillis};
use crate::stats::{AttemptRecord, Channel, RequestRecord};
use crate::stream::{StreamEnd, StreamReport};
use crate::usage::Usage;

/// The peer address of a request, put into its extensions by the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// What is known about a request from its arrival.
#[derive(Clone, Debug)]
pub(super) struct Ledger {
    pub started: UnixMillis,
    /// The API the client speaks; its errors are rendered in that API's shape.
    pub door: Door,
    pub endpoint: &'static str,
    pub client: usize,
    pub client_ip: Option<IpAddr>,
}

/// The channel that answered.
pub(super) struct Served<'a> {
    pub provider: &'a Arc<str>,
    pub upstream_model: &'a Arc<str>,
    /// Failed attempts before the one that answered.
    pub failed: &'a [Attempt],
    /// Which of the provider's keys answered, 1-based.
    pub key_number: Option<usize>,
}

impl Ledger {
    pub fn new(
        inner: &Inner,
        door: Door,
        endpoint: &'static str,
        client: usize,
        headers: &HeaderMap,
        peer: Option<&ClientAddr>,
    ) -> Self {
        // Only statistics use the address: without them, nothing is read or allocated for it.
        let client_ip = inner.platform.stats.as_ref().and_then(|_| client_ip(headers, peer));
        Self { started: inner.platform.runtime.now(), door, endpoint, client, client_ip }
    }

    fn record(&self, inner: &Inner, model: &str) -> RequestRecord {
        let key = &inner.config.clients[self.client];
        RequestRecord {
            at: self.started,
            endpoint: self.endpoint,
            role: key.role.clone(),
            key_id: key.fingerprint.clone(),
            model: model.to_owned(),
            client_ip: self.client_ip,
            ..RequestRecord::default()
        }
    }

    /// A request that got an error answer.
    pub fn failed(&self, inner: &Inner, model: &str, error: &GatewayError, flagged: bool) {
        let now = inner.platform.runtime.now();
        let status = error.status().as_u16();
        let mut record = self.record(inner, model);
        if let GatewayError::Upstream { attempts, .. } = error {
            record.failed = attempts.iter().map(failed_attempt).collect();
        }
        record.status = status;
        record.total_ms = now.0.saturating_sub(self.started.0);
        record.flagged = flagged;
        record.error = Some(error.to_string());
        let key = &inner.config.clients[self.client];
        tracing::info!(
            door = %self.door.name(), role = %key.role, endpoint = self.endpoint, model = %LogText(model), status,
            latency_ms = record.total_ms,
            tried = %record.tried(),
            error = %LogText(record.error.as_deref().unwrap_or_default()), "request failed"
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
        log_served(self.door, &record, served.key_number);
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
        let door = self.door;
        Box::new(move |report: StreamReport| {
            let end = runtime.now();
            record.total_ms = end.0.saturating_sub(record.at.0);
            record.usage = report.usage.unwrap_or_default();
            match report.end {
                StreamEnd::Completed => record.success = true,
                StreamEnd::Cancelled => record.error = Some("cancelled by the client".into()),
                StreamEnd::Failed(e) => record.error = Some(format!("the stream broke: {e}")),
            }
            log_stream(door, &record);
            if let Some(stats) = stats {
                stats.record(record);
            }
        })
    }

    fn answered(&self, inner: &Inner, model: &str, served: &Served<'_>) -> RequestRecord {
        let mut record = self.record(inner, model);
        record.served_by =
            Some(Channel { provider: served.provider.clone(), upstream_model: served.upstream_model.clone() });
        record.failed = served.failed.iter().map(failed_attempt).collect();
        record
    }
}

fn failed_attempt(a: &Attempt) -> AttemptRecord {
    AttemptRecord { channel: a.channel.clone(), status: a.status }
}

fn log_served(door: Door, record: &RequestRecord, key_number: Option<usize>) {
    let u = &record.usage;
    tracing::info!(
        door = %door.name(), role = %record.role, endpoint = %record.endpoint, model = %LogText(&record.model),
        channel = %ChannelName(record), key = key_number, status = record.status,
        attempts = record.attempt_count(), latency_ms = record.total_ms,
        prompt_tokens = u.prompt_tokens, completion_tokens = u.completion_tokens, "request served"
    );
}

fn log_stream(door: Door, record: &RequestRecord) {
    let u = &record.usage;
    tracing::info!(
        door = %door.name(), role = %record.role, model = %LogText(&record.model),
        channel = %ChannelName(record), status = record.status, attempts = record.attempt_count(),
        first_byte_ms = record.first_byte_ms,
        total_ms = record.total_ms, prompt_tokens = u.prompt_tokens, completion_tokens = u.completion_tokens,
        outcome = %LogText(record.error.as_deref().unwrap_or("completed")), "stream served"
    );
}

/// The channel that answered a record, for logs (`-` when none did).
struct ChannelName<'a>(&'a RequestRecord);

impl std::fmt::Display for ChannelName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0.served_by {
            Some(channel) => channel.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// The client's address: the first `X-Forwarded-For` hop or `X-Real-IP` (set by a reverse proxy
/// in front), else the peer the host saw. Used for statistics only, never for access decisions.
/// A forwarded value that is not an address (with or without a port) records no address rather
/// than the proxy's.
fn client_ip(headers: &HeaderMap, peer: Option<&ClientAddr>) -> Option<IpAddr> {
    // Names built once: looking a header up by `&str` parses the name on every request.
    const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
    const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
    let header =
        |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    let forwarded = header(&X_FORWARDED_FOR).and_then(|v| v.split(',').next()).or_else(|| header(&X_REAL_IP));
    match forwarded {
        Some(hop) => parse_address(hop.trim()),
        None => peer.map(|p| p.0),
    }
}

/// `203.0.113.7`, `2001:db8::1`, or either with a port (`203.0.113.7:4711`, `[2001:db8::1]:4711`).
fn parse_address(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>().ok().or_else(|| text.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_addresses_are_read_with_or_without_a_port() {
        let ip = |t: &str| parse_address(t).map(|a| a.to_string());
        assert_eq!(ip("203.0.113.7").as_deref(), Some("203.0.113.7"));
        assert_eq!(ip("203.0.113.7:4711").as_deref(), Some("203.0.113.7"));
        assert_eq!(ip("[2001:db8::1]:4711").as_deref(), Some("2001:db8::1"));
        assert_eq!(ip("2001:db8::1").as_deref(), Some("2001:db8::1"));
        assert_eq!(ip("unknown"), None);
    }
}
