//! Readers of one `api.yaml` value into its meaning: scalars, seconds, per-model tables of
//! timeouts and rate limits, model lists with renames, URLs and proxies. Each names the key path
//! it read in its error.

use std::time::Duration;

use serde_json::Value;

use super::error::ConfigError;
use super::model::{CorsOrigins, ModelMapping};
use super::values::{parse_rate_limit, seconds, ModelTable};
use crate::scheduler::rate_window::RateRule;

/// A string, number or boolean as text; `None` for null.
pub(super) fn scalar(value: &Value, path: &str) -> Result<Option<String>, ConfigError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        _ => Err(ConfigError::invalid(path, "expected a single value, not a list or mapping")),
    }
}

pub(super) fn number(value: &Value, path: &str) -> Result<Option<f64>, ConfigError> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(n.as_f64()),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .map(Some)
            .map_err(|_| ConfigError::invalid(path, format!("`{s}` is not a number of seconds"))),
        _ => Err(ConfigError::invalid(path, "expected a number of seconds")),
    }
}

pub(super) fn duration(value: &Value, path: &str) -> Result<Option<Duration>, ConfigError> {
    number(value, path)?.map(|n| seconds(n).map_err(|m| ConfigError::invalid(path, m))).transpose()
}

pub(super) fn timeout_table(value: &Value, path: &str) -> Result<ModelTable<Duration>, ConfigError> {
    match value {
        Value::Null => Ok(ModelTable::default()),
        Value::Object(map) => {
            let mut entries = Vec::new();
            let mut default = None;
            for (k, v) in map {
                let d = duration(v, &format!("{path}.{k}"))?
                    .ok_or_else(|| ConfigError::invalid(format!("{path}.{k}"), "expected a number of seconds"))?;
                if d.is_zero() {
                    return Err(ConfigError::invalid(format!("{path}.{k}"), "a timeout must be more than 0 seconds"));
                }
                if k == "default" {
                    default = Some(d)
                } else {
                    entries.push((k.clone(), d))
                }
            }
            Ok(ModelTable::new(entries, default))
        }
        other => Ok(duration(other, path)?.map(ModelTable::uniform).unwrap_or_default()),
    }
}

/// A rate-limit value (one string, or a per-model table with `default`): its windows, and its
/// `tpr` budgets (tokens per request) when any part names one.
pub(super) struct LimitTables {
    pub rules: Option<ModelTable<Vec<RateRule>>>,
    pub tokens_per_request: Option<ModelTable<u64>>,
}

pub(super) fn limit_table(value: &Value, path: &str) -> Result<LimitTables, ConfigError> {
    let parse = |v: &Value, p: &str| -> Result<(Vec<RateRule>, Option<u64>), ConfigError> {
        let text = scalar(v, p)?.ok_or_else(|| ConfigError::invalid(p, "expected a limit such as 15/min"))?;
        parse_rate_limit(&text).map_err(|m| ConfigError::invalid(p, m))
    };
    let (rules, budgets) = match value {
        Value::Null => return Ok(LimitTables { rules: None, tokens_per_request: None }),
        Value::Object(map) => {
            let (mut rules, mut budgets) = (Vec::new(), Vec::new());
            let (mut default_rules, mut default_budget) = (None, None);
            for (k, v) in map {
                let (r, budget) = parse(v, &format!("{path}.{k}"))?;
                if k == "default" {
                    default_rules = Some(r);
                    default_budget = budget;
                } else {
                    rules.push((k.clone(), r));
                    if let Some(budget) = budget {
                        budgets.push((k.clone(), budget));
                    }
                }
            }
            (ModelTable::new(rules, default_rules), ModelTable::new(budgets, default_budget))
        }
        other => {
            let (r, budget) = parse(other, path)?;
            (ModelTable::uniform(r), budget.map_or_else(|| ModelTable::new(Vec::new(), None), ModelTable::uniform))
        }
    };
    // A table of `tpr` budgets alone limits no request rate: leave the windows out.
    let limits_rate = rules.values().any(|r| !r.is_empty());
    Ok(LimitTables {
        rules: limits_rate.then_some(rules),
        tokens_per_request: (!budgets.is_empty()).then_some(budgets),
    })
}

pub(super) fn model_mappings(entries: &[Value], path: &str) -> Result<Vec<ModelMapping>, ConfigError> {
    let mut out = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let epath = format!("{path}[{i}]");
        match entry {
            Value::Object(map) => {
                for (upstream, alias) in map {
                    let alias = scalar(alias, &format!("{epath}.{upstream}"))?
                        .filter(|a| !a.is_empty())
                        .ok_or_else(|| ConfigError::invalid(&epath, "a rename needs an alias: `upstream-id: alias`"))?;
                    out.push(ModelMapping { upstream: upstream.clone(), alias });
                }
            }
            other => {
                let name = scalar(other, &epath)?
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| ConfigError::invalid(&epath, "expected a model name"))?;
                out.push(ModelMapping { upstream: name.clone(), alias: name });
            }
        }
    }
    Ok(out)
}

pub(super) fn validate_url(url: &str) -> Result<(), String> {
    let uri: http::Uri = url.parse().map_err(|_| format!("`{url}` is not a valid URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some() => Ok(()),
        _ => Err(format!("`{url}` must be an http:// or https:// URL")),
    }
}

pub(super) fn proxy(url: &str, path: &str) -> Result<String, ConfigError> {
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("http" | "https" | "socks5" | "socks5h") => Ok(url.to_owned()),
        _ => Err(ConfigError::invalid(path, "a proxy must be an http://, https://, socks5:// or socks5h:// URL")),
    }
}

/// `cors_origins`: `"*"` (also the default), `false`, or a list of page origins.
pub(super) fn cors_origins(value: &Value, path: &str) -> Result<CorsOrigins, ConfigError> {
    let list = match value {
        Value::Null => return Ok(CorsOrigins::Any),
        Value::Bool(false) => return Ok(CorsOrigins::Off),
        Value::String(s) if s.trim() == "*" => return Ok(CorsOrigins::Any),
        Value::String(s) => vec![Value::String(s.clone())],
        Value::Array(list) => list.clone(),
        _ => return Err(ConfigError::invalid(path, "expected \"*\", false or a list of origins")),
    };
    let mut origins = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let Value::String(origin) = entry else {
            return Err(ConfigError::invalid(at, "expected an origin such as https://chat.example.com"));
        };
        let origin = origin.trim().to_ascii_lowercase();
        if origin == "*" {
            return Ok(CorsOrigins::Any);
        }
        if !is_origin(&origin) {
            return Err(ConfigError::invalid(
                at,
                format!("`{origin}` is not an origin (scheme://host[:port], no path), e.g. https://chat.example.com"),
            ));
        }
        origins.push(origin);
    }
    Ok(if origins.is_empty() { CorsOrigins::Off } else { CorsOrigins::Only(origins) })
}

/// `scheme://host[:port]` as browsers send it in `Origin`.
fn is_origin(text: &str) -> bool {
    let Some((scheme, authority)) = text.split_once("://") else { return false };
    !scheme.is_empty()
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        && !authority.is_empty()
        && authority.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
}
