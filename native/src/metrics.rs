//! `/metrics`: the gateway's counters in the Prometheus text format.
//!
//! Every request's statistics record passes through [`MeteredStats`] on its way to the database
//! (or instead of it, with `DISABLE_DATABASE`), so the counters and `/v1/stats` always agree.
//! Gauges that describe a moment (cooldowns, the statistics queue) are read when scraped.
//!
//! Label values come from the config (channels) or from requests that resolved to a model the
//! config serves, so their number is bounded; past [`MAX_MODEL_LABELS`] distinct model names
//! the rest are counted under `model="other"`.

use std::collections::HashSet;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use uni_api_core::platform::{BoxFuture, MemoryStore, Runtime, StatsStore, StoreError};
use uni_api_core::stats::sql::{SqlDialect, SqlValue};
use uni_api_core::stats::RequestRecord;

/// Distinct `model` label values kept before new ones are counted as `other`.
pub const MAX_MODEL_LABELS: usize = 1000;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: &'static str,
    model: Arc<str>,
    channel: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabels {
    channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    channel: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    model: Arc<str>,
    channel: String,
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CooldownLabels {
    kind: &'static str,
    target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

fn latency_buckets() -> Histogram {
    // 50 ms … ~100 s: LLM calls span seconds; the lowest buckets catch cached and tiny replies.
    Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 100.0])
}

fn first_token_buckets() -> Histogram {
    Histogram::new([0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
}

/// What the statistics queue says at scrape time.
pub trait QueueGauge: Send + Sync {
    fn depth(&self) -> usize;
    fn dropped(&self) -> u64;
}

/// The gateway's counters and the registry that exposes them.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    failed_attempts: Family<AttemptLabels, Counter>,
    failovers: Family<ModelLabels, Counter>,
    latency: Family<ChannelLabels, Histogram, fn() -> Histogram>,
    first_token: Family<ChannelLabels, Histogram, fn() -> Histogram>,
    tokens: Family<TokenLabels, Counter>,
    cooldowns: Family<KindLabels, Gauge>,
    cooldown_remaining: Family<CooldownLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    queue_depth: Gauge,
    records_lost: Counter,
    reloads: Family<ResultLabels, Counter>,
    models: RwLock<HashSet<Arc<str>>>,
    /// Serializes scrapes: the moment gauges are rewritten before each encoding.
    scrape: Mutex<u64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("uni_api");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by endpoint, requested model, channel and status",
            requests.clone(),
        );
        let failed_attempts = Family::<AttemptLabels, Counter>::default();
        registry.register(
            "failed_attempts",
            "Upstream attempts that failed, by channel and upstream status (none: no answer)",
            failed_attempts.clone(),
        );
        let failovers = Family::<ModelLabels, Counter>::default();
        registry.register(
            "failovers",
            "Requests answered after at least one failed attempt, by model",
            failovers.clone(),
        );
        let latency = Family::<ChannelLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_buckets);
        registry.register_with_unit(
            "request_duration",
            "Time from request to the end of the answer, by the channel that answered",
            Unit::Seconds,
            latency.clone(),
        );
        let first_token =
            Family::<ChannelLabels, Histogram, fn() -> Histogram>::new_with_constructor(first_token_buckets);
        registry.register_with_unit(
            "time_to_first_token",
            "Time from request to the first byte of the answer, by channel",
            Unit::Seconds,
            first_token.clone(),
        );
        let tokens = Family::<TokenLabels, Counter>::default();
        registry.register("tokens", "Tokens used, by model, channel and direction (input, output)", tokens.clone());
        let cooldowns = Family::<KindLabels, Gauge>::default();
        registry.register("cooldowns", "Channels and upstream keys cooling down now", cooldowns.clone());
        let cooldown_remaining = Family::<CooldownLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register_with_unit(
            "cooldown_remaining",
            "Time left of each running cooldown (target: provider/model, or provider:key fingerprint)",
            Unit::Seconds,
            cooldown_remaining.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register("stats_queue_depth", "Statistics records waiting for the database", queue_depth.clone());
        let records_lost = Counter::default();
        registry.register(
            "stats_records_dropped",
            "Statistics records dropped because the queue was full (STATS_QUEUE_LIMIT)",
            records_lost.clone(),
        );
        let reloads = Family::<ResultLabels, Counter>::default();
        registry.register("config_reloads", "Config reloads, by result (applied, refused)", reloads.clone());
        Self {
            registry,
            requests,
            failed_attempts,
            failovers,
            latency,
            first_token,
            tokens,
            cooldowns,
            cooldown_remaining,
            queue_depth,
            records_lost,
            reloads,
            models: RwLock::default(),
            scrape: Mutex::new(0),
        }
    }

    /// Counts one finished request.
    pub fn observe(&self, record: &RequestRecord) {
        let model = self.model_label(record);
        let channel = record.served_by.as_ref().map(ToString::to_string).unwrap_or_default();
        for failed in &record.failed {
            let status = failed.status.map_or_else(|| "none".to_owned(), |s| s.to_string());
            self.failed_attempts.get_or_create(&AttemptLabels { channel: failed.channel.clone(), status }).inc();
        }
        if record.served_by.is_some() && !record.failed.is_empty() {
            self.failovers.get_or_create(&ModelLabels { model: model.clone() }).inc();
        }
        if record.served_by.is_some() {
            let labels = ChannelLabels { channel: channel.clone() };
            self.latency.get_or_create(&labels).observe(record.total_ms as f64 / 1000.0);
            if let Some(ms) = record.first_byte_ms {
                self.first_token.get_or_create(&labels).observe(ms as f64 / 1000.0);
            }
            for (direction, n) in [("input", record.usage.prompt_tokens), ("output", record.usage.completion_tokens)] {
                if n > 0 {
                    let labels = TokenLabels { model: model.clone(), channel: channel.clone(), direction };
                    self.tokens.get_or_create(&labels).inc_by(n);
                }
            }
        }
        let labels = RequestLabels { endpoint: record.endpoint, model, channel, status: record.status };
        self.requests.get_or_create(&labels).inc();
    }

    /// A config reload was applied or refused.
    pub fn reloaded(&self, applied: bool) {
        self.reloads.get_or_create(&ResultLabels { result: if applied { "applied" } else { "refused" } }).inc();
    }

    fn model_label(&self, record: &RequestRecord) -> Arc<str> {
        // A model no channel serves (a typo, a probe) is not worth a label of its own.
        if record.served_by.is_none() && record.failed.is_empty() && record.status == 404 {
            return Arc::from("other");
        }
        if let Some(known) = self.models.read().get(record.model.as_str()) {
            return known.clone();
        }
        let mut models = self.models.write();
        if models.len() >= MAX_MODEL_LABELS {
            return Arc::from("other");
        }
        let name: Arc<str> = Arc::from(record.model.as_str());
        models.insert(name.clone());
        name
    }

    /// The text exposition, with the moment gauges read now.
    pub fn render(&self, store: Option<&MemoryStore>, queue: Option<&dyn QueueGauge>, runtime: &dyn Runtime) -> String {
        let mut last_dropped = self.scrape.lock();
        let now = runtime.now();
        self.cooldown_remaining.clear();
        let (mut channels, mut keys) = (0, 0);
        for (key, until) in store.map(|s| s.cooling_down(now)).unwrap_or_default() {
            let Some((kind, target)) = uni_api_core::gateway::cooldown_subject(&key) else { continue };
            if kind == "channel" {
                channels += 1;
            } else {
                keys += 1;
            }
            let left = until.0.saturating_sub(now.0) as f64 / 1000.0;
            self.cooldown_remaining.get_or_create(&CooldownLabels { kind, target: target.to_owned() }).set(left);
        }
        self.cooldowns.get_or_create(&KindLabels { kind: "channel" }).set(channels);
        self.cooldowns.get_or_create(&KindLabels { kind: "key" }).set(keys);
        if let Some(queue) = queue {
            self.queue_depth.set(queue.depth() as i64);
            let dropped = queue.dropped();
            self.records_lost.inc_by(dropped.saturating_sub(*last_dropped));
            *last_dropped = dropped.max(*last_dropped);
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// The statistics port as the core sees it natively: every record is counted, then handed to
/// the database if there is one.
pub struct MeteredStats {
    pub metrics: Arc<Metrics>,
    pub database: Option<Arc<dyn StatsStore>>,
}

impl StatsStore for MeteredStats {
    fn dialect(&self) -> SqlDialect {
        self.database.as_ref().map_or(SqlDialect::Sqlite, |d| d.dialect())
    }

    fn record(&self, record: RequestRecord) {
        self.metrics.observe(&record);
        if let Some(database) = &self.database {
            database.record(record);
        }
    }

    fn query<'a>(
        &'a self,
        sql: String,
        params: Vec<SqlValue>,
    ) -> BoxFuture<'a, Result<Vec<Vec<SqlValue>>, StoreError>> {
        match &self.database {
            Some(database) => database.query(sql, params),
            None => Box::pin(std::future::ready(Err(StoreError("statistics are disabled".into())))),
        }
    }

    fn queryable(&self) -> bool {
        self.database.as_ref().is_some_and(|d| d.queryable())
    }

    fn dropped(&self) -> u64 {
        self.database.as_ref().map_or(0, |d| d.dropped())
    }
}
