//! Admin and statistics endpoints: `/v1/generate-api-key`, `/v1/stats`, `/v1/token_usage`.

use bytes::Bytes;
use http::StatusCode;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{Inner, ResponseBody};
use crate::body::json_response;
use crate::error::GatewayError;
use crate::platform::{StatsStore, UnixMillis};
use crate::stats::key_fingerprint;
use crate::stats::sql::{self, Filter, GroupBy, SqlValue};

const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;
const KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

pub(super) fn require_admin(inner: &Inner, client: usize) -> Result<(), GatewayError> {
    if inner.config.clients[client].is_admin {
        Ok(())
    } else {
        Err(GatewayError::AdminOnly)
    }
}

fn stats_store(inner: &Inner) -> Result<&dyn StatsStore, GatewayError> {
    inner.platform.stats.as_deref().filter(|s| s.queryable()).ok_or(GatewayError::StatsDisabled)
}

fn ok(body: &Value) -> http::Response<ResponseBody> {
    json_response(StatusCode::OK, Bytes::from(body.to_string()))
}

/// `GET /v1/generate-api-key`: `sk-` and 48 letters and digits from the host's secure source.
pub(super) fn generate_api_key(inner: &Inner, client: usize) -> Result<http::Response<ResponseBody>, GatewayError> {
    require_admin(inner, client)?;
    let mut key = String::from("sk-");
    // Rejection sampling keeps every character equally likely (256 is not a multiple of 62).
    let limit = 256 - 256 % KEY_ALPHABET.len();
    while key.len() < 3 + 48 {
        let mut buf = [0u8; 64];
        inner.platform.runtime.fill_secure_random(&mut buf);
        for b in buf {
            if (b as usize) < limit && key.len() < 3 + 48 {
                key.push(KEY_ALPHABET[b as usize % KEY_ALPHABET.len()] as char);
            }
        }
    }
    Ok(ok(&json!({ "api_key": key })))
}

/// `GET /v1/stats?hours=N`: per model, channel and client key over the last N hours.
pub(super) async fn stats(
    inner: &Inner,
    client: usize,
    query: Option<&str>,
) -> Result<http::Response<ResponseBody>, GatewayError> {
    require_admin(inner, client)?;
    let store = stats_store(inner)?;
    let params = QueryParams::parse(query);
    let hours = match params.get("hours") {
        None => 24,
        Some(h) => h.parse::<u64>().ok().filter(|h| (1..=24 * 365).contains(h)).ok_or_else(|| {
            GatewayError::BadRequest(format!("`hours` must be a whole number from 1 to 8760, not `{h}`"))
        })?,
    };
    let now = inner.platform.runtime.now();
    let since = UnixMillis(now.0.saturating_sub(hours * HOUR_MS));
    let filter = Filter { since, ..Filter::default() };
    let dialect = store.dialect();
    let models = groups(store, GroupBy::Model, &filter).await?;
    let channels = groups(store, GroupBy::Channel, &filter).await?;
    let keys = groups(store, GroupBy::Key, &filter).await?;
    let (sql, values) = sql::channel_success(dialect, since);
    let rates: Vec<Value> = run(store, sql, values)
        .await?
        .iter()
        .map(|row| {
            let (attempts, successes) = (int(row, 1), int(row, 2));
            json!({
                "channel": text(row, 0), "attempts": attempts, "successes": successes,
                "failures": attempts - successes, "success_rate": ratio(successes, attempts),
            })
        })
        .collect();
    let body = json!({
        "object": "stats",
        "hours": hours,
        "since": rfc3339(since),
        "until": rfc3339(now),
        "totals": totals(&models),
        "models": models.iter().map(|g| g.to_json(&["model"])).collect::<Vec<_>>(),
        "channels": channels.iter().map(|g| g.to_json(&["channel"])).collect::<Vec<_>>(),
        "keys": keys.iter().map(|g| g.to_json(&["key_id", "role"])).collect::<Vec<_>>(),
        "channel_success_rates": rates,
        // Records the store could not keep (its queue was full while the database was away).
        "dropped_records": store.dropped(),
    });
    Ok(ok(&body))
}

/// `GET /v1/token_usage`: tokens per client key and model. Admins see every key (or the one
/// named by `key`); other keys see only themselves.
pub(super) async fn token_usage(
    inner: &Inner,
    client: usize,
    query: Option<&str>,
) -> Result<http::Response<ResponseBody>, GatewayError> {
    let store = stats_store(inner)?;
    let params = QueryParams::parse(query);
    let me = &inner.config.clients[client];
    let asked_key = params.get("key").or_else(|| params.get("api_key_param"));
    let key_id = match (me.is_admin, asked_key) {
        (true, None) => None,
        // A full key or its fingerprint: admins may name either.
        (true, Some(k)) if k.len() == 16 && k.bytes().all(|b| b.is_ascii_hexdigit()) => Some(k.to_ascii_lowercase()),
        (true, Some(k)) => Some(key_fingerprint(k)),
        (false, _) => Some(me.fingerprint.to_string()),
    };
    let now = inner.platform.runtime.now();
    let start = params.get("start").or_else(|| params.get("start_datetime"));
    let end = params.get("end").or_else(|| params.get("end_datetime"));
    let (since, until) = match (params.get("last_n_days"), start, end) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(GatewayError::BadRequest("`last_n_days` cannot be combined with `start` or `end`".into()));
        }
        (Some(days), None, None) => {
            let days = days.parse::<u64>().ok().filter(|d| (1..=3650).contains(d)).ok_or_else(|| {
                GatewayError::BadRequest(format!("`last_n_days` must be from 1 to 3650, not `{days}`"))
            })?;
            (UnixMillis(now.0.saturating_sub(days * DAY_MS)), None)
        }
        (None, start, end) => {
            let since = start.map(|s| parse_time(s, "start")).transpose()?;
            let until = end.map(|e| parse_time(e, "end")).transpose()?;
            (since.unwrap_or(UnixMillis(now.0.saturating_sub(30 * DAY_MS))), until)
        }
    };
    let model = params.get("model").map(str::to_owned);
    let filter = Filter { since, until, key_id: key_id.clone(), model: model.clone() };
    let rows = groups(store, GroupBy::KeyModel, &filter).await?;
    let usage: Vec<Value> = rows.iter().map(|g| g.to_json(&["key_id", "model", "role"])).collect();
    let body = json!({
        "object": "token_usage",
        "usage": usage,
        "query": {
            "start": rfc3339(since),
            "end": rfc3339(until.unwrap_or(now)),
            "key": if me.is_admin { key_id.map_or(Value::from("all"), Value::from) } else { Value::from("self") },
            "model": model,
        },
    });
    Ok(ok(&body))
}

/// One aggregate row: labels, then the sums.
struct Group {
    labels: Vec<String>,
    requests: i64,
    successes: i64,
    prompt: i64,
    completion: i64,
    cached: i64,
    reasoning: i64,
    avg_total_ms: Option<f64>,
    avg_first_byte_ms: Option<f64>,
}

impl Group {
    fn to_json(&self, names: &[&str]) -> Value {
        let mut out = Map::new();
        for (name, label) in names.iter().zip(&self.labels) {
            out.insert((*name).to_owned(), Value::from(label.as_str()));
        }
        out.insert("requests".into(), self.requests.into());
        out.insert("successes".into(), self.successes.into());
        out.insert("failures".into(), (self.requests - self.successes).into());
        out.insert("success_rate".into(), ratio(self.successes, self.requests));
        out.insert("prompt_tokens".into(), self.prompt.into());
        out.insert("completion_tokens".into(), self.completion.into());
        out.insert("total_tokens".into(), self.prompt.saturating_add(self.completion).into());
        out.insert("cached_tokens".into(), self.cached.into());
        out.insert("reasoning_tokens".into(), self.reasoning.into());
        out.insert("avg_latency_ms".into(), rounded(self.avg_total_ms));
        out.insert("avg_first_byte_ms".into(), rounded(self.avg_first_byte_ms));
        Value::Object(out)
    }
}

async fn groups(store: &dyn StatsStore, group: GroupBy, filter: &Filter) -> Result<Vec<Group>, GatewayError> {
    let (sql, values) = sql::aggregate(store.dialect(), group, filter);
    let rows = run(store, sql, values).await?;
    let n = group.label_count();
    Ok(rows
        .iter()
        .map(|row| {
            let mut labels: Vec<String> = (0..n).map(|i| text(row, i)).collect();
            if group == GroupBy::Channel {
                // provider and upstream model → one `provider/model` label.
                labels = vec![labels.join("/")];
            }
            Group {
                labels,
                requests: int(row, n),
                successes: int(row, n + 1),
                prompt: int(row, n + 2),
                completion: int(row, n + 3),
                cached: int(row, n + 4),
                reasoning: int(row, n + 5),
                avg_total_ms: row.get(n + 6).and_then(SqlValue::as_f64),
                avg_first_byte_ms: row.get(n + 7).and_then(SqlValue::as_f64),
            }
        })
        .collect())
}

fn totals(models: &[Group]) -> Value {
    let sum = |f: fn(&Group) -> i64| models.iter().map(f).fold(0i64, i64::saturating_add);
    let requests = sum(|g| g.requests);
    let successes = sum(|g| g.successes);
    let latency_sum: f64 = models.iter().map(|g| g.avg_total_ms.unwrap_or(0.0) * g.requests as f64).sum();
    json!({
        "requests": requests,
        "successes": successes,
        "failures": requests - successes,
        "success_rate": ratio(successes, requests),
        "prompt_tokens": sum(|g| g.prompt),
        "completion_tokens": sum(|g| g.completion),
        "total_tokens": sum(|g| g.prompt.saturating_add(g.completion)),
        "cached_tokens": sum(|g| g.cached),
        "reasoning_tokens": sum(|g| g.reasoning),
        "avg_latency_ms": if requests > 0 { rounded(Some(latency_sum / requests as f64)) } else { Value::Null },
    })
}

async fn run(store: &dyn StatsStore, sql: String, params: Vec<SqlValue>) -> Result<Vec<Vec<SqlValue>>, GatewayError> {
    store.query(sql, params).await.map_err(|e| GatewayError::StatsUnavailable(e.to_string()))
}

fn int(row: &[SqlValue], i: usize) -> i64 {
    row.get(i).map_or(0, SqlValue::as_i64)
}

fn text(row: &[SqlValue], i: usize) -> String {
    row.get(i).map(SqlValue::as_text).unwrap_or_default()
}

fn ratio(part: i64, whole: i64) -> Value {
    if whole == 0 {
        Value::Null
    } else {
        rounded(Some(part as f64 / whole as f64))
    }
}

/// Three decimals: enough for rates and milliseconds, short in JSON.
fn rounded(x: Option<f64>) -> Value {
    x.map_or(Value::Null, |x| Value::from((x * 1000.0).round() / 1000.0))
}

pub(super) fn rfc3339(t: UnixMillis) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.0) * 1_000_000)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Unix seconds, an RFC 3339 time, or a `YYYY-MM-DD` date (midnight UTC).
fn parse_time(value: &str, name: &str) -> Result<UnixMillis, GatewayError> {
    let bad = || {
        GatewayError::BadRequest(format!(
            "`{name}` must be unix seconds, an RFC 3339 time or YYYY-MM-DD, not `{value}`"
        ))
    };
    if let Ok(secs) = value.parse::<u64>() {
        return Ok(UnixMillis(secs.saturating_mul(1000)));
    }
    let parsed = OffsetDateTime::parse(value, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(&format!("{value}T00:00:00Z"), &Rfc3339));
    let millis = parsed.map_err(|_| bad())?.unix_timestamp_nanos() / 1_000_000;
    u64::try_from(millis).map(UnixMillis).map_err(|_| bad())
}

/// A URL query string, decoded.
struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    fn parse(query: Option<&str>) -> Self {
        Self(
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_three_forms() {
        assert_eq!(parse_time("1700000000", "start").unwrap(), UnixMillis(1_700_000_000_000));
        assert_eq!(parse_time("2024-01-02T00:00:00Z", "start").unwrap(), UnixMillis(1_704_153_600_000));
        assert_eq!(parse_time("2024-01-02", "start").unwrap(), UnixMillis(1_704_153_600_000));
        assert!(parse_time("yesterday", "start").is_err());
    }
}
