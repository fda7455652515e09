//! The validated configuration: what `api.yaml` means, built once at load and then trusted.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};

use super::values::{ModelTable, Secret};
use crate::adapters::Dialect;
use crate::scheduler::rate_window::RateRule;

/// Default time an upstream may take before it is abandoned (`TIMEOUT` overrides it).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(100);
/// Default channel cooldown after a failure.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(300);
/// OpenAI's own limit for audio uploads, in MB.
pub const DEFAULT_MAX_AUDIO_MB: usize = 25;

/// The whole gateway configuration.
#[derive(Debug)]
pub struct Config {
    pub providers: Vec<Provider>,
    pub clients: Vec<ClientKey>,
    pub global: GlobalPreferences,
    /// Non-fatal findings (unknown keys, ignored values), each with its key path.
    pub warnings: Vec<String>,
}

/// One upstream account: a channel per model it serves.
#[derive(Debug)]
pub struct Provider {
    /// Shared with every statistics record that names the provider.
    pub name: Arc<str>,
    pub base_url: String,
    pub dialect: Dialect,
    pub keys: Vec<Secret>,
    /// Per key, a one-way fingerprint: its name in the state store, so cooldowns and rate
    /// windows follow the key itself across a reload that reorders or removes keys.
    pub key_ids: Vec<Arc<str>>,
    pub models: ModelSource,
    /// `false`: skip this channel for requests that carry tools.
    pub tools: bool,
    /// `false`: skip this channel for requests that carry images.
    pub image: bool,
    /// Why this host cannot use the provider (a proxy on Cloudflare Workers), if it cannot:
    /// it is skipped, and a model only it serves answers 503 with the reason.
    pub left_out: Option<Arc<str>>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `preferences.post_body_parameter_overrides`: applied to every JSON body sent upstream,
    /// after translation.
    pub body_overrides: Option<super::BodyOverrides>,
    pub proxy: Option<String>,
    /// Per upstream key, looked up by upstream model id.
    pub key_rate_limit: Option<ModelTable<Vec<RateRule>>>,
    /// The `N/tpr` budget of `api_key_rate_limit`, looked up by upstream model id: a request whose
    /// estimated prompt tokens exceed it skips this channel.
    pub tokens_per_request: Option<ModelTable<u64>>,
    /// How long a key sits out after a 429 (zero: never).
    pub key_cooldown: Duration,
    pub key_schedule: KeySchedule,
    /// This provider's own `model_timeout` table (possibly empty).
    pub model_timeout: ModelTable<Duration>,
    /// This provider's own `keepalive_interval` table (possibly empty).
    pub keepalive_interval: ModelTable<Duration>,
    /// Overrides the global channel cooldown.
    pub cooldown_period: Option<Duration>,
    /// Cloudflare `cf_account_id` (required for the Cloudflare dialect).
    pub account_id: Option<String>,
    /// Vertex AI service account (required for the Vertex dialect).
    pub vertex: Option<VertexAccount>,
}

/// A Google Cloud service account for Vertex AI.
#[derive(Debug)]
pub struct VertexAccount {
    pub project_id: String,
    pub client_email: String,
    /// PEM (PKCS#8), as in the service-account key file.
    pub private_key: Secret,
    /// One or more regions; requests rotate over them and fail over to the next.
    pub regions: Vec<String>,
    /// The OAuth token endpoint (`token_uri` of the key file).
    pub token_uri: String,
}

/// Google's OAuth token endpoint, the default `token_uri`.
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// Where a provider's model list comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelSource {
    Listed(Vec<ModelMapping>),
    /// No `model:` key: ask the upstream's `/models` at start.
    Discover,
}

/// `upstream-id: alias`: clients say `alias`, the upstream receives `upstream`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelMapping {
    pub upstream: String,
    pub alias: String,
}

/// How upstream keys of one provider take turns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySchedule {
    RoundRobin,
    Random,
    FixedPriority,
}

/// A key clients use to call the gateway.
#[derive(Debug)]
pub struct ClientKey {
    pub key: Secret,
    /// Display name in logs and statistics (default: a short, non-secret label).
    /// Shared with every statistics record of the key, as is the fingerprint.
    pub role: Arc<str>,
    /// The key's name in statistics: a one-way fingerprint (`stats::key_fingerprint`).
    pub fingerprint: Arc<str>,
    pub is_admin: bool,
    pub rules: Vec<ModelRule>,
    pub scheduling: Scheduling,
    pub auto_retry: AutoRetry,
    /// Per client key, looked up by requested model.
    pub rate_limit: Option<ModelTable<Vec<RateRule>>>,
    pub moderation: bool,
    /// `preferences.credits` in USD (`None`: unlimited); spend is counted since `credits_since`.
    pub credits: Option<f64>,
    /// `preferences.created_at`; `None`: the last 30 days.
    pub credits_since: Option<crate::platform::UnixMillis>,
}

/// One entry of `api_keys[].model`, in priority order, with its optional weight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelRule {
    pub target: RuleTarget,
    pub weight: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleTarget {
    /// `all`: every model of every provider.
    All,
    /// `gpt-4o`: that model from every provider offering it.
    Model(String),
    /// `openai/*`.
    ProviderAll(String),
    /// `openai/gpt-4o` (the model part may contain more slashes).
    ProviderModel(String, String),
    /// `<vendor/model>`: a model name containing a slash, from any provider.
    Literal(String),
    /// `sk-other/*`: whatever client key `#index` may use, resolved in-process.
    ClientAll(usize),
    /// `sk-other/gpt-4o`.
    ClientModel(usize, String),
}

/// How a client key orders the channels that serve a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheduling {
    FixedPriority,
    RoundRobin,
    WeightedRoundRobin,
    Lottery,
    Random,
}

/// `AUTO_RETRY`: whether a failed attempt moves on to the next channel or key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoRetry {
    Enabled,
    Disabled,
    /// At most this many retries after the first attempt.
    Limit(u32),
}

impl AutoRetry {
    /// How many attempts one request may make in total.
    pub fn max_attempts(self) -> usize {
        match self {
            Self::Enabled => usize::MAX,
            Self::Disabled => 1,
            Self::Limit(n) => n as usize + 1,
        }
    }
}

/// Top-level `preferences`.
#[derive(Debug)]
pub struct GlobalPreferences {
    pub model_timeout: ModelTable<Duration>,
    /// How long a stream may wait for its first chunk before SSE keepalive comments start.
    pub keepalive_interval: ModelTable<Duration>,
    /// From `TIMEOUT`, else 100 s: the last fallback of every timeout lookup.
    pub fallback_timeout: Duration,
    /// How long one client request may wait for an answer across all its attempts
    /// (`preferences.request_timeout`; default three times the longest timeout configured).
    pub request_timeout: Duration,
    /// Where image URLs may be fetched beyond public addresses (`preferences.image_fetch_allow`).
    pub image_destinations: std::sync::Arc<crate::platform::Destinations>,
    pub cooldown_period: Duration,
    pub error_triggers: Vec<String>,
    pub proxy: Option<String>,
    /// One limiter shared by every client key, looked up by requested model.
    pub rate_limit: Option<ModelTable<Vec<RateRule>>>,
    /// Largest audio upload (`/v1/audio/transcriptions`) accepted, in bytes (default 25 MB).
    pub max_audio_bytes: usize,
    /// USD per million tokens by model prefix, for credits (`preferences.model_price`).
    pub model_price: super::ModelPrices,
    /// Which web pages may call the API from a browser (`preferences.cors_origins`).
    pub cors_origins: CorsOrigins,
}

/// The origins CORS lets call the gateway from a page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Any page (`*`, the default, as the original's).
    #[default]
    Any,
    /// Only these origins (`scheme://host[:port]`, lowercase), each answered with itself.
    Only(Vec<String>),
    /// No CORS headers at all; `OPTIONS` is an unknown method (`cors_origins: false`).
    Off,
}

impl Config {
    /// Timeout for a request to `provider` for `model` (the client's alias) / `upstream` (its id):
    /// channel model > channel default > global model > global default > `TIMEOUT` > 100 s.
    pub fn timeout(&self, provider: &Provider, model: &str, upstream: &str) -> Duration {
        let own = &provider.model_timeout;
        let global = &self.global.model_timeout;
        own.specific(model)
            .or_else(|| own.specific(upstream))
            .or(own.default_value())
            .or_else(|| global.specific(model))
            .or_else(|| global.specific(upstream))
            .or(global.default_value())
            .copied()
            .unwrap_or(self.global.fallback_timeout)
    }

    /// The keepalive interval for `provider` serving `model` (alias) / `upstream`, looked up as
    /// timeouts are (channel table, then the global one); `None` when none is set or it is not
    /// shorter than or equal to the channel's timeout (it would never fire).
    pub fn keepalive_interval(&self, provider: &Provider, model: &str, upstream: &str) -> Option<Duration> {
        let own = &provider.keepalive_interval;
        let global = &self.global.keepalive_interval;
        let interval = own
            .specific(model)
            .or_else(|| own.specific(upstream))
            .or(own.default_value())
            .or_else(|| global.specific(model))
            .or_else(|| global.specific(upstream))
            .or(global.default_value())
            .copied()?;
        (!interval.is_zero() && interval <= self.timeout(provider, model, upstream)).then_some(interval)
    }

    /// Whether any provider or the global preferences set `keepalive_interval`.
    pub fn has_keepalive(&self) -> bool {
        !self.global.keepalive_interval.is_empty() || self.providers.iter().any(|p| !p.keepalive_interval.is_empty())
    }

    /// Cooldown after a channel failure for `provider` (zero: never cool down).
    pub fn cooldown_period(&self, provider: &Provider) -> Duration {
        provider.cooldown_period.unwrap_or(self.global.cooldown_period)
    }

    pub fn admin_exists(&self) -> bool {
        self.clients.iter().any(|c| c.is_admin)
    }

    /// When no key has `role: admin`, the first key is the admin: the notice hosts log at start.
    pub fn implicit_admin_notice(&self) -> Option<String> {
        let first = self.clients.first()?;
        (first.is_admin && !first.role.trim().eq_ignore_ascii_case("admin")).then(|| {
            format!(
                "api_keys: no key has `role: admin`, so the first key (role `{}`) is the admin; give the admin key \
                 that role to make it explicit",
                first.role
            )
        })
    }
}
