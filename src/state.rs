//! `StateStore` over Durable Objects: one object of class `GatewayState` per thing counted (a
//! rate window, a cooldown, a round-robin cursor), named by the core's store key, so limits and
//! cooldowns hold across isolates and regions without one global object.
//!
//! Each object runs the core's own `MemoryStore` arithmetic on its single thread, so every
//! read-compute-write is atomic. State lives in the object's memory: an object that sits idle
//! long enough to be evicted forgets (a cooldown may end early, a window restarts empty).

use std::time::Duration;

use futures_util::future::{join_all, select, Either};
use serde::{Deserialize, Serialize};
use uni_api_core::platform::{BoxFuture, MemoryStore, StateStore, StoreError, UnixMillis};
use uni_api_core::scheduler::{Admission, RateRule};
use worker::{
    durable_object, DurableObject, Env, Headers, Method, ObjectNamespace, Request, RequestInit, Response, State,
};

const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// One operation on one object.
#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Op {
    Admit { rules: Vec<(u32, u64)>, now: u64 },
    Cooldown { now: u64 },
    StartCooldown { until: u64 },
    Cursor,
}

#[derive(Serialize, Deserialize)]
struct Answer {
    /// Admit: `None` admitted, `Some(ms)` limited. Cooldown: the end, if cooling.
    value: Option<u64>,
}

/// The Durable Object class: one instance per store key.
#[durable_object]
pub struct GatewayState {
    store: MemoryStore,
}

impl DurableObject for GatewayState {
    fn new(_state: State, _env: Env) -> Self {
        Self { store: MemoryStore::new() }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        // The object serves one key; its name is the key, so the map inside holds one entry.
        const KEY: &str = "k";
        let op: Op = req.json().await?;
        let fail = |e: StoreError| worker::Error::RustError(e.to_string());
        let value = match op {
            Op::Admit { rules, now } => {
                let rules: Vec<RateRule> =
                    rules.into_iter().map(|(limit, window_ms)| RateRule { limit, window_ms }).collect();
                match self.store.admit(KEY, &rules, UnixMillis(now)).await.map_err(fail)? {
                    Admission::Admitted => None,
                    Admission::Limited { retry_after_ms } => Some(retry_after_ms),
                }
            }
            Op::Cooldown { now } => {
                let keys = [KEY.to_owned()];
                self.store
                    .cooldowns(&keys, UnixMillis(now))
                    .await
                    .map_err(fail)?
                    .first()
                    .copied()
                    .flatten()
                    .map(|u| u.0)
            }
            Op::StartCooldown { until } => {
                self.store.start_cooldown(KEY, UnixMillis(until)).await.map_err(fail)?;
                None
            }
            Op::Cursor => Some(self.store.next_cursor(KEY).await.map_err(fail)?),
        };
        Response::from_json(&Answer { value })
    }
}

/// The Worker's side: sends each operation to the object named by its key.
pub struct DurableStore {
    namespace: ObjectNamespace,
}

impl DurableStore {
    pub fn new(namespace: ObjectNamespace) -> Self {
        Self { namespace }
    }

    /// One operation, answered within `CALL_TIMEOUT` (else the core treats the store as down for
    /// this request: admitted, not cooling, rather than stalled).
    async fn call(&self, key: &str, op: &Op) -> Result<Option<u64>, StoreError> {
        match select(Box::pin(self.exchange(key, op)), worker::Delay::from(CALL_TIMEOUT)).await {
            Either::Left((answer, _)) => answer,
            Either::Right(_) => {
                Err(StoreError(format!("Durable Object did not answer within {} s", CALL_TIMEOUT.as_secs())))
            }
        }
    }

    async fn exchange(&self, key: &str, op: &Op) -> Result<Option<u64>, StoreError> {
        let fail = |e: worker::Error| StoreError(format!("Durable Object call failed: {e}"));
        let stub = self.namespace.id_from_name(key).and_then(|id| id.get_stub()).map_err(fail)?;
        let headers = Headers::new();
        headers.set("content-type", "application/json").map_err(fail)?;
        let body = serde_json::to_string(op).map_err(|e| StoreError(e.to_string()))?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_headers(headers).with_body(Some(body.into()));
        let request = Request::new_with_init("https://gateway-state/op", &init).map_err(fail)?;
        let mut response = stub.fetch_with_request(request).await.map_err(fail)?;
        if response.status_code() != 200 {
            let text = response.text().await.unwrap_or_default();
            return Err(StoreError(format!("Durable Object answered {}: {text}", response.status_code())));
        }
        let answer: Answer = response.json().await.map_err(fail)?;
        Ok(answer.value)
    }
}

impl StateStore for DurableStore {
    fn admit<'a>(
        &'a self,
        key: &'a str,
        rules: &'a [RateRule],
        now: UnixMillis,
    ) -> BoxFuture<'a, Result<Admission, StoreError>> {
        Box::pin(async move {
            let rules = rules.iter().map(|r| (r.limit, r.window_ms)).collect();
            Ok(match self.call(key, &Op::Admit { rules, now: now.0 }).await? {
                None => Admission::Admitted,
                Some(retry_after_ms) => Admission::Limited { retry_after_ms },
            })
        })
    }

    fn cooldowns<'a>(
        &'a self,
        keys: &'a [String],
        now: UnixMillis,
    ) -> BoxFuture<'a, Result<Vec<Option<UnixMillis>>, StoreError>> {
        Box::pin(async move {
            let op = Op::Cooldown { now: now.0 };
            let answers = join_all(keys.iter().map(|k| self.call(k, &op))).await;
            answers.into_iter().map(|a| a.map(|v| v.map(UnixMillis))).collect()
        })
    }

    fn start_cooldown<'a>(&'a self, key: &'a str, until: UnixMillis) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move { self.call(key, &Op::StartCooldown { until: until.0 }).await.map(|_| ()) })
    }

    fn next_cursor<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move { Ok(self.call(key, &Op::Cursor).await?.unwrap_or(0)) })
    }
}
