//! Credits of paid keys: a key with `preferences.credits` is refused (429) on every endpoint
//! but its own usage once what it spent since `created_at` (priced with `model_price`) exceeds
//! its credits plus those added with `/v1/add_credits`. Spend comes from the statistics the
//! gateway already records; added credits are kept in the statistics database, so they survive
//! restarts. A key's balance is re-read at most every [`FRESH_FOR_MS`]: requests racing within
//! that time (and records still being written) may overspend by a little.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use http::StatusCode;
use serde_json::{json, Value};

use super::Inner;
use crate::body::{json_response, ResponseBody};
use crate::config::ClientKey;
use crate::error::GatewayError;
use crate::platform::{StatsStore, UnixMillis};
use crate::stats::key_fingerprint;
use crate::stats::sql::{self, Filter, GroupBy, SqlValue};

/// How long a key's balance is trusted before it is read again.
pub const FRESH_FOR_MS: u64 = 2_000;
/// Spend is counted from `created_at`, else over the last 30 days.
const DEFAULT_WINDOW_MS: u64 = 30 * 24 * 3_600_000;

/// Balances read lately, by client index (bounded by the number of configured keys).
#[derive(Default)]
pub(super) struct Balances(Mutex<HashMap<usize, (Balance, UnixMillis)>>);

#[derive(Clone, Copy, Debug)]
struct Balance {
    spent: f64,
    added: f64,
}

impl Balances {
    fn cached(&self, client: usize, now: UnixMillis) -> Option<Balance> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&client).filter(|(_, at)| now.0.saturating_sub(at.0) < FRESH_FOR_MS).map(|(b, _)| *b)
    }

    fn keep(&self, client: usize, balance: Balance, now: UnixMillis) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(client, (balance, now));
    }

    fn forget(&self, client: usize) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&client);
    }
}

fn since(key: &ClientKey, now: UnixMillis) -> UnixMillis {
    key.credits_since.unwrap_or(UnixMillis(now.0.saturating_sub(DEFAULT_WINDOW_MS)))
}

/// What `key` spent since its `created_at`, and the credits added to it.
async fn read_balance(
    inner: &Inner,
    store: &dyn StatsStore,
    key: &ClientKey,
    now: UnixMillis,
) -> Result<Balance, String> {
    let filter = Filter { since: since(key, now), until: None, key_id: Some(key.fingerprint.to_string()), model: None };
    let (query, params) = sql::aggregate(store.dialect(), GroupBy::KeyModel, &filter);
    let rows = store.query(query, params).await.map_err(|e| e.to_string())?;
    let prices = &inner.config.global.model_price;
    // Rows: key_id, model, role, requests, successes, prompt, completion, ...
    let spent = rows
        .iter()
        .map(|row| {
            let model = row.get(1).map(SqlValue::as_text).unwrap_or_default();
            let tokens = |i: usize| row.get(i).map_or(0, |v| v.as_i64().max(0) as u64);
            prices.cost(&model, tokens(5), tokens(6))
        })
        .sum();
    let added = store
        .query(sql::credits_added(store.dialect()), vec![SqlValue::Text(key.fingerprint.to_string())])
        .await
        .map_err(|e| e.to_string())?
        .first()
        .and_then(|row| row.first())
        .and_then(SqlValue::as_f64)
        .unwrap_or(0.0);
    Ok(Balance { spent, added })
}

/// Refuses a request of a key whose credits are used up. Without statistics, or while they
/// cannot be read, credits are not enforced (the request is served).
pub(super) async fn check(inner: &Inner, client: usize) -> Result<(), GatewayError> {
    let key = &inner.config.clients[client];
    let Some(credits) = key.credits else { return Ok(()) };
    let Some(store) = inner.platform.stats.as_deref().filter(|s| s.queryable()) else { return Ok(()) };
    let now = inner.platform.runtime.now();
    let balance = match inner.balances.cached(client, now) {
        Some(balance) => balance,
        None => match read_balance(inner, store, key, now).await {
            Ok(balance) => {
                inner.balances.keep(client, balance, now);
                balance
            }
            Err(_) => return Ok(()),
        },
    };
    if balance.spent > credits + balance.added {
        return Err(GatewayError::CreditsExhausted(format!(
            "this key's credits are used up: ${:.4} spent of ${:.4}; ask the gateway's operator to add credits",
            balance.spent,
            credits + balance.added
        )));
    }
    Ok(())
}

fn stats_store(inner: &Inner) -> Result<&dyn StatsStore, GatewayError> {
    inner.platform.stats.as_deref().filter(|s| s.queryable()).ok_or(GatewayError::StatsDisabled)
}

/// `GET /v1/api_keys_states` (admin): every key's credits, spend and whether it may be used.
pub(super) async fn states(inner: &Inner) -> Result<http::Response<ResponseBody>, GatewayError> {
    let store = stats_store(inner)?;
    let now = inner.platform.runtime.now();
    let mut states = serde_json::Map::new();
    for (client, key) in inner.config.clients.iter().enumerate() {
        let balance = read_balance(inner, store, key, now).await.map_err(GatewayError::StatsUnavailable)?;
        inner.balances.keep(client, balance, now);
        let credits = key.credits.map(|c| c + balance.added);
        states.insert(
            key.fingerprint.to_string(),
            json!({
                "role": &*key.role,
                "credits": credits,
                "created_at": super::admin::rfc3339(since(key, now)),
                "total_cost": round_usd(balance.spent),
                "balance": credits.map(|c| round_usd(c - balance.spent)),
                "enabled": credits.is_none_or(|c| balance.spent <= c),
            }),
        );
    }
    Ok(json_response(StatusCode::OK, Bytes::from(json!({ "api_keys_states": states }).to_string())))
}

/// `POST /v1/add_credits?paid_key=KEY&amount=USD` (admin): raises a paid key's credits; kept in
/// the statistics database. `paid_key` is the key itself or its fingerprint.
pub(super) async fn add(inner: &Inner, query: Option<&str>) -> Result<http::Response<ResponseBody>, GatewayError> {
    let store = stats_store(inner)?;
    let params: HashMap<String, String> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let named = params.get("paid_key").or_else(|| params.get("key")).map(|k| k.trim()).filter(|k| !k.is_empty());
    let named =
        named.ok_or_else(|| GatewayError::BadRequest("`paid_key` (the key or its fingerprint) is required".into()))?;
    let amount = params
        .get("amount")
        .and_then(|a| a.trim().parse::<f64>().ok())
        .filter(|a| a.is_finite() && *a > 0.0 && *a <= 1e9)
        .ok_or_else(|| GatewayError::BadRequest("`amount` must be a positive number of USD".into()))?;
    let fingerprint = if named.len() == 16 && named.bytes().all(|b| b.is_ascii_hexdigit()) {
        named.to_ascii_lowercase()
    } else {
        key_fingerprint(named)
    };
    let (client, key) = inner
        .config
        .clients
        .iter()
        .enumerate()
        .find(|(_, k)| *k.fingerprint == *fingerprint)
        .ok_or_else(|| GatewayError::UnknownPaidKey("no configured key is that `paid_key`".into()))?;
    let Some(credits) = key.credits else {
        return Err(GatewayError::UnknownPaidKey(format!(
            "key `{}` ({}) has no `credits` configured: it is unlimited",
            key.fingerprint, key.role
        )));
    };
    let rows = store
        .query(sql::add_credits(store.dialect()), vec![SqlValue::Text(fingerprint.clone()), SqlValue::Real(amount)])
        .await
        .map_err(|e| GatewayError::StatsUnavailable(e.to_string()))?;
    let added = rows.first().and_then(|r| r.first()).and_then(SqlValue::as_f64).unwrap_or(amount);
    inner.balances.forget(client);
    let now = inner.platform.runtime.now();
    let spent = read_balance(inner, store, key, now).await.map(|b| b.spent).unwrap_or(0.0);
    let body = json!({
        "message": format!("added ${amount} to key {} ({})", key.fingerprint, key.role),
        "paid_key": fingerprint,
        "role": &*key.role,
        "new_credits": credits + added,
        "total_cost": round_usd(spent),
        "enabled": spent <= credits + added,
    });
    Ok(json_response(StatusCode::OK, Bytes::from(body.to_string())))
}

fn round_usd(x: f64) -> Value {
    Value::from((x * 1e6).round() / 1e6)
}
