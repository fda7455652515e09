//! `api.yaml` text → validated `Config`: YAML, `${VAR}` expansion, raw mirror, then meaning.

use std::collections::HashSet;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use serde_json::Value;

use super::credits;
use super::error::ConfigError;
use super::fields::{
    cors_origins, duration, limit_table, model_mappings, number, proxy, scalar, timeout_table, validate_url,
};
use super::model::*;
use super::overrides;
use super::raw::*;
use super::values::{seconds, ModelTable, Secret};
use crate::adapters::Dialect;
use crate::scheduler::rate_window::RateRule;

/// Where `${VAR}` values come from; the host passes its environment (the core reads none).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

impl Config {
    /// Parses and validates `api.yaml`. `env` resolves `${VAR}` / `${VAR:-default}` and `TIMEOUT`.
    pub fn from_yaml_str(text: &str, env: EnvLookup<'_>) -> Result<Config, ConfigError> {
        // YAML 1.2 booleans, as the original's ruamel.yaml reads them: a model named `n`, `no`
        // or `on` stays a string.
        let options = serde_saphyr::options! { strict_booleans: true };
        let mut value: Value =
            serde_saphyr::from_str_with_options(text, options).map_err(|e| ConfigError::Yaml(e.to_string()))?;
        if value.is_null() {
            return Err(ConfigError::invalid("(file)", "the configuration is empty"));
        }
        if !value.is_object() {
            return Err(ConfigError::invalid("(file)", "expected a mapping with `providers` and `api_keys`"));
        }
        let mut warnings = Vec::new();
        expand_env(&mut value, env, &mut warnings);
        drop_null_keys(&mut value);

        let mut unknown = Vec::new();
        let mut on_unknown = |path: serde_ignored::Path<'_>| unknown.push(ignored_path(&path));
        let ignored = serde_ignored::Deserializer::new(value, &mut on_unknown);
        let raw: RawConfig = serde_path_to_error::deserialize(ignored)
            .map_err(|e| ConfigError::invalid(error_path(e.path()), e.inner().to_string()))?;
        warnings.extend(unknown.into_iter().map(|p| format!("{p}: unknown key, ignored")));

        let fallback_timeout = match env("TIMEOUT").filter(|t| !t.trim().is_empty()) {
            Some(t) => t
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("`{t}` is not a number of seconds"))
                .and_then(seconds)
                .map_err(|m| ConfigError::invalid("TIMEOUT (environment)", m))?,
            None => DEFAULT_TIMEOUT,
        };
        Builder { warnings }.build(raw, fallback_timeout)
    }
}

struct Builder {
    warnings: Vec<String>,
}

impl Builder {
    fn build(mut self, raw: RawConfig, fallback_timeout: Duration) -> Result<Config, ConfigError> {
        if raw.api_keys.is_empty() {
            return Err(ConfigError::invalid("api_keys", "at least one client key is required"));
        }
        let mut global = self.global(raw.preferences, fallback_timeout)?;
        let providers =
            raw.providers.into_iter().enumerate().map(|(i, p)| self.provider(i, p)).collect::<Result<Vec<_>, _>>()?;
        if global.request_timeout.is_zero() {
            // Room for a few slow attempts, and never shorter than one attempt may take.
            let longest = providers
                .iter()
                .flat_map(|p| p.model_timeout.values())
                .chain(global.model_timeout.values())
                .fold(fallback_timeout, |a, b| a.max(*b));
            global.request_timeout = longest * 3;
        }

        let mut client_keys = Vec::with_capacity(raw.api_keys.len());
        for (i, key) in raw.api_keys.iter().enumerate() {
            let path = format!("api_keys[{i}].api");
            let value = scalar(&key.api, &path)?
                .filter(|k| !k.is_empty())
                .ok_or_else(|| ConfigError::invalid(&path, "a client key is required"))?;
            if client_keys.contains(&value) {
                return Err(ConfigError::invalid(&path, "this key is listed twice"));
            }
            client_keys.push(value);
        }
        let provider_names: HashSet<&str> = providers.iter().map(|p| &*p.name).collect();
        let mut clients = Vec::with_capacity(raw.api_keys.len());
        for (i, key) in raw.api_keys.into_iter().enumerate() {
            let client = self.client(i, key, &client_keys, &provider_names)?;
            clients.push(client);
        }
        if !clients.iter().any(|c| c.is_admin) {
            clients[0].is_admin = true;
        }
        Ok(Config { providers, clients, global, warnings: self.warnings })
    }

    fn global(
        &mut self,
        raw: RawGlobalPreferences,
        fallback_timeout: Duration,
    ) -> Result<GlobalPreferences, ConfigError> {
        let path = "preferences";
        Ok(GlobalPreferences {
            model_timeout: timeout_table(&raw.model_timeout, &format!("{path}.model_timeout"))?,
            keepalive_interval: timeout_table(&raw.keepalive_interval, &format!("{path}.keepalive_interval"))?,
            fallback_timeout,
            // Set in `build` once every provider's timeouts are known, unless given here.
            request_timeout: match duration(&raw.request_timeout, &format!("{path}.request_timeout"))? {
                Some(d) if d.is_zero() => {
                    return Err(ConfigError::invalid(
                        format!("{path}.request_timeout"),
                        "a timeout must be more than 0 seconds",
                    ))
                }
                Some(d) => d,
                None => Duration::ZERO,
            },
            image_destinations: std::sync::Arc::new(
                crate::platform::Destinations::new(raw.image_fetch_allow.as_deref().unwrap_or_default())
                    .map_err(|m| ConfigError::invalid(format!("{path}.image_fetch_allow"), m))?,
            ),
            cooldown_period: duration(&raw.cooldown_period, &format!("{path}.cooldown_period"))?
                .unwrap_or(DEFAULT_COOLDOWN),
            error_triggers: raw.error_triggers.unwrap_or_default().into_iter().filter(|t| !t.is_empty()).collect(),
            proxy: raw.proxy.map(|p| proxy(&p, &format!("{path}.proxy"))).transpose()?,
            rate_limit: self.windows_only(&raw.rate_limit, &format!("{path}.rate_limit"))?,
            cors_origins: cors_origins(&raw.cors_origins, &format!("{path}.cors_origins"))?,
            model_price: credits::model_prices(&raw.model_price, &format!("{path}.model_price"))?,
            max_audio_bytes: match number(&raw.max_audio_upload_mb, &format!("{path}.max_audio_upload_mb"))? {
                None => DEFAULT_MAX_AUDIO_MB * 1024 * 1024,
                Some(mb) if mb > 0.0 && mb <= 1024.0 => (mb * 1024.0 * 1024.0) as usize,
                Some(_) => {
                    return Err(ConfigError::invalid(
                        format!("{path}.max_audio_upload_mb"),
                        "expected a size in MB from 1 to 1024",
                    ))
                }
            },
        })
    }

    fn provider(&mut self, i: usize, raw: RawProvider) -> Result<Provider, ConfigError> {
        let path = format!("providers[{i}]");
        let name = scalar(&raw.provider, &format!("{path}.provider"))?
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ConfigError::invalid(format!("{path}.provider"), "a provider name is required"))?;
        if name.contains('/') {
            return Err(ConfigError::invalid(format!("{path}.provider"), "a provider name cannot contain `/`"));
        }
        let has_vertex = !raw.project_id.is_null();
        let has_cloudflare = !raw.cf_account_id.is_null();
        let mut base_url = raw.base_url.as_deref().unwrap_or_default().trim().to_owned();
        let dialect = Dialect::detect(&base_url, raw.engine.as_deref(), has_vertex, has_cloudflare)
            .map_err(|m| ConfigError::invalid(format!("{path}.engine"), m))?;
        let account_id = scalar(&raw.cf_account_id, &format!("{path}.cf_account_id"))?.filter(|a| !a.is_empty());
        let vertex = if dialect == Dialect::Vertex { Some(vertex_account(&raw, &path)?) } else { None };
        if dialect == Dialect::Cloudflare {
            if account_id.is_none() {
                return Err(ConfigError::invalid(
                    format!("{path}.cf_account_id"),
                    "Cloudflare Workers AI needs the account id",
                ));
            }
            if base_url.is_empty() {
                base_url = "https://api.cloudflare.com".to_owned();
            }
        }
        if base_url.is_empty() && dialect.needs_base_url() {
            return Err(ConfigError::invalid(format!("{path}.base_url"), "an upstream URL is required"));
        }
        if !base_url.is_empty() {
            validate_url(&base_url).map_err(|m| ConfigError::invalid(format!("{path}.base_url"), m))?;
        }
        let keys = match &raw.api {
            Value::Null => Vec::new(),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(k, v)| scalar(v, &format!("{path}.api[{k}]")).map(|s| Secret::new(s.unwrap_or_default())))
                .collect::<Result<Vec<_>, _>>()?,
            other => vec![Secret::new(scalar(other, &format!("{path}.api"))?.unwrap_or_default())],
        };
        let models = match raw.model {
            None => ModelSource::Discover,
            Some(entries) => ModelSource::Listed(model_mappings(&entries, &format!("{path}.model"))?),
        };
        let prefs = raw.preferences;
        let mut headers = Vec::new();
        for (source, map) in [("headers", raw.headers), ("preferences.headers", prefs.headers)] {
            for (k, v) in map.unwrap_or_default() {
                let hpath = format!("{path}.{source}.{k}");
                let name = HeaderName::try_from(k.as_str())
                    .map_err(|_| ConfigError::invalid(&hpath, "not a valid header name"))?;
                let text = scalar(&v, &hpath)?.unwrap_or_default();
                let value = HeaderValue::try_from(text.as_str())
                    .map_err(|_| ConfigError::invalid(&hpath, "not a valid header value"))?;
                headers.push((name, value));
            }
        }
        let ppath = format!("{path}.preferences");
        let key_limits = limit_table(&prefs.api_key_rate_limit, &format!("{ppath}.api_key_rate_limit"))?;
        let key_schedule = match prefs.api_key_schedule_algorithm.as_deref().map(str::trim) {
            None | Some("round_robin") => KeySchedule::RoundRobin,
            Some("random") => KeySchedule::Random,
            Some("fixed_priority") => KeySchedule::FixedPriority,
            Some("smart_round_robin") => {
                self.warnings
                    .push(format!("{ppath}.api_key_schedule_algorithm: smart_round_robin is served as round_robin"));
                KeySchedule::RoundRobin
            }
            Some(other) => {
                return Err(ConfigError::invalid(
                    format!("{ppath}.api_key_schedule_algorithm"),
                    format!("unknown algorithm `{other}` (use round_robin, random or fixed_priority)"),
                ))
            }
        };
        Ok(Provider {
            name: name.into(),
            base_url,
            dialect,
            key_ids: keys.iter().map(|k| crate::stats::key_fingerprint(k.expose()).into()).collect(),
            keys,
            models,
            tools: raw.tools.unwrap_or(true),
            image: raw.image.unwrap_or(true),
            left_out: None,
            headers,
            body_overrides: overrides::body_overrides(
                &prefs.post_body_parameter_overrides,
                &format!("{ppath}.post_body_parameter_overrides"),
                &mut self.warnings,
            )?,
            proxy: prefs.proxy.map(|p| proxy(&p, &format!("{ppath}.proxy"))).transpose()?,
            key_rate_limit: key_limits.rules,
            tokens_per_request: key_limits.tokens_per_request,
            key_cooldown: duration(&prefs.api_key_cooldown_period, &format!("{ppath}.api_key_cooldown_period"))?
                .unwrap_or(Duration::ZERO),
            key_schedule,
            model_timeout: timeout_table(&prefs.model_timeout, &format!("{ppath}.model_timeout"))?,
            keepalive_interval: timeout_table(&prefs.keepalive_interval, &format!("{ppath}.keepalive_interval"))?,
            cooldown_period: duration(&prefs.cooldown_period, &format!("{ppath}.cooldown_period"))?,
            account_id,
            vertex,
        })
    }

    fn client(
        &mut self,
        i: usize,
        raw: RawApiKey,
        client_keys: &[String],
        provider_names: &HashSet<&str>,
    ) -> Result<ClientKey, ConfigError> {
        let path = format!("api_keys[{i}]");
        let rules = match raw.model {
            None => vec![ModelRule { target: RuleTarget::All, weight: None }],
            Some(entries) => {
                let mut rules = Vec::with_capacity(entries.len());
                for (r, entry) in entries.iter().enumerate() {
                    let rpath = format!("{path}.model[{r}]");
                    let (text, weight) = match entry {
                        Value::Object(map) if map.len() == 1 => {
                            let (k, v) = map.iter().next().expect("one entry");
                            let weight = v.as_u64().filter(|w| *w > 0 && *w <= u32::MAX as u64).ok_or_else(|| {
                                ConfigError::invalid(&rpath, "a weight must be a positive whole number")
                            })?;
                            (k.clone(), Some(weight as u32))
                        }
                        other => (
                            scalar(other, &rpath)?
                                .ok_or_else(|| ConfigError::invalid(&rpath, "expected a model rule"))?,
                            None,
                        ),
                    };
                    let target = self.rule(text.trim(), &rpath, client_keys, provider_names);
                    rules.push(ModelRule { target, weight });
                }
                rules
            }
        };
        let prefs = raw.preferences;
        let ppath = format!("{path}.preferences");
        let scheduling = match prefs.scheduling_algorithm.as_deref().map(str::trim) {
            None | Some("fixed_priority") => Scheduling::FixedPriority,
            Some("round_robin") => Scheduling::RoundRobin,
            Some("weighted_round_robin") => Scheduling::WeightedRoundRobin,
            Some("lottery") => Scheduling::Lottery,
            Some("random") => Scheduling::Random,
            Some("smart_round_robin") => Scheduling::WeightedRoundRobin,
            Some(other) => {
                return Err(ConfigError::invalid(
                    format!("{ppath}.SCHEDULING_ALGORITHM"),
                    format!("unknown algorithm `{other}` (use fixed_priority, round_robin, weighted_round_robin, lottery or random)"),
                ))
            }
        };
        let auto_retry = match &prefs.auto_retry {
            Value::Null | Value::Bool(true) => AutoRetry::Enabled,
            Value::Bool(false) => AutoRetry::Disabled,
            Value::Number(n) => match n.as_u64() {
                Some(0) => AutoRetry::Disabled,
                Some(n) => AutoRetry::Limit(n.min(u32::MAX as u64) as u32),
                None => {
                    return Err(ConfigError::invalid(
                        format!("{ppath}.AUTO_RETRY"),
                        "expected true, false or a number of retries",
                    ))
                }
            },
            Value::String(s) if s.eq_ignore_ascii_case("true") => AutoRetry::Enabled,
            Value::String(s) if s.eq_ignore_ascii_case("false") => AutoRetry::Disabled,
            _ => {
                return Err(ConfigError::invalid(
                    format!("{ppath}.AUTO_RETRY"),
                    "expected true, false or a number of retries",
                ))
            }
        };
        let role = raw.role.filter(|r| !r.trim().is_empty()).unwrap_or_else(|| format!("key{}", i + 1));
        Ok(ClientKey {
            key: Secret::new(client_keys[i].clone()),
            fingerprint: crate::stats::key_fingerprint(&client_keys[i]).into(),
            // Exactly `admin`: a role that merely contains the word (`sysadmin-bot`) is no admin.
            is_admin: role.trim().eq_ignore_ascii_case("admin"),
            role: role.into(),
            rules,
            scheduling,
            auto_retry,
            rate_limit: self.windows_only(&prefs.rate_limit, &format!("{ppath}.rate_limit"))?,
            moderation: prefs.enable_moderation.unwrap_or(false),
            credits: credits::credits(&prefs.credits, &format!("{ppath}.credits"))?,
            credits_since: credits::created_at(&prefs.created_at, &format!("{ppath}.created_at"))?,
        })
    }

    /// A client's or the global rate limit: windows only; a `tpr` budget there (the original
    /// reads it only on a provider's `api_key_rate_limit`) is ignored with a warning.
    fn windows_only(&mut self, value: &Value, path: &str) -> Result<Option<ModelTable<Vec<RateRule>>>, ConfigError> {
        let tables = limit_table(value, path)?;
        if tables.tokens_per_request.is_some() {
            self.warnings.push(format!(
                "{path}: `tpr` (tokens per request) applies to a provider's api_key_rate_limit only; ignored here"
            ));
        }
        Ok(tables.rules)
    }

    fn rule(&mut self, text: &str, path: &str, client_keys: &[String], providers: &HashSet<&str>) -> RuleTarget {
        if text == "all" || text == "*" {
            return RuleTarget::All;
        }
        if let Some(inner) = text.strip_prefix('<').and_then(|t| t.strip_suffix('>')) {
            return RuleTarget::Literal(inner.to_owned());
        }
        let Some((prefix, model)) = text.split_once('/') else {
            return RuleTarget::Model(text.to_owned());
        };
        if let Some(k) = client_keys.iter().position(|k| k == prefix) {
            return if model == "*" { RuleTarget::ClientAll(k) } else { RuleTarget::ClientModel(k, model.to_owned()) };
        }
        if providers.contains(prefix) {
            return if model == "*" {
                RuleTarget::ProviderAll(prefix.to_owned())
            } else {
                RuleTarget::ProviderModel(prefix.to_owned(), model.to_owned())
            };
        }
        if model == "*" {
            // Never echo the text: it may be a mistyped client key.
            self.warnings.push(format!("{path}: no provider or client key by that name; the rule matches nothing"));
        }
        RuleTarget::Model(text.to_owned())
    }
}

fn vertex_account(raw: &RawProvider, path: &str) -> Result<VertexAccount, ConfigError> {
    let required = |value: &Value, key: &str| -> Result<String, ConfigError> {
        scalar(value, &format!("{path}.{key}"))?.filter(|v| !v.trim().is_empty()).ok_or_else(|| {
            ConfigError::invalid(format!("{path}.{key}"), "required for Vertex AI (from the service-account key file)")
        })
    };
    let project_id = required(&raw.project_id, "project_id")?;
    let client_email = required(&raw.client_email, "client_email")?;
    // Keys pasted from the JSON key file often keep `\n` escapes; PEM needs real newlines.
    let private_key = required(&raw.private_key, "private_key")?.replace("\\n", "\n");
    if !private_key.contains("PRIVATE KEY-----") {
        return Err(ConfigError::invalid(
            format!("{path}.private_key"),
            "expected a PEM private key (-----BEGIN PRIVATE KEY-----)",
        ));
    }
    let regions = match &raw.region {
        Value::Null => vec!["global".to_owned()],
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, r)| scalar(r, &format!("{path}.region[{i}]")).map(Option::unwrap_or_default))
            .collect::<Result<Vec<_>, _>>()?,
        other => vec![scalar(other, &format!("{path}.region"))?.unwrap_or_default()],
    };
    if regions.is_empty() || regions.iter().any(|r| r.trim().is_empty()) {
        return Err(ConfigError::invalid(format!("{path}.region"), "a region name or a list of them"));
    }
    let token_uri =
        scalar(&raw.token_uri, &format!("{path}.token_uri"))?.unwrap_or_else(|| GOOGLE_TOKEN_URI.to_owned());
    validate_url(&token_uri).map_err(|m| ConfigError::invalid(format!("{path}.token_uri"), m))?;
    Ok(VertexAccount { project_id, client_email, private_key: Secret::new(private_key), regions, token_uri })
}

/// `preferences:` with nothing under it is YAML null; it means the same as leaving the key out.
fn drop_null_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_null_keys);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null_keys),
        _ => {}
    }
}

/// Replaces `${VAR}` and `${VAR:-default}` in every string. Unset variables without a default
/// become empty strings and a warning naming the variable (never its value).
fn expand_env(value: &mut Value, env: EnvLookup<'_>, warnings: &mut Vec<String>) {
    match value {
        Value::String(s) if s.contains("${") => *s = expand_str(s, env, warnings),
        Value::Array(items) => items.iter_mut().for_each(|v| expand_env(v, env, warnings)),
        Value::Object(map) => map.values_mut().for_each(|v| expand_env(v, env, warnings)),
        _ => {}
    }
}

fn expand_str(s: &str, env: EnvLookup<'_>, warnings: &mut Vec<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let expr = &after[..end];
        let (name, default) = match expr.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (expr, None),
        };
        match (env(name.trim()), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                warnings.push(format!("environment variable {} is not set; used an empty string", name.trim()))
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn ignored_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", ignored_path(parent)),
        Path::Map { parent, key } => {
            let p = ignored_path(parent);
            if p.is_empty() {
                key.to_string()
            } else {
                format!("{p}.{key}")
            }
        }
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => {
            ignored_path(parent)
        }
    }
}

fn error_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Enum { variant } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(variant);
            }
            Segment::Unknown => out.push_str(".?"),
        }
    }
    if out.is_empty() {
        "(file)".into()
    } else {
        out
    }
}
