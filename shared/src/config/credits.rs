//! Credits of paid keys: `preferences.model_price` (USD per million prompt and completion
//! tokens, by model prefix) and a key's `preferences.credits` and `created_at`.

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::error::ConfigError;
use crate::platform::UnixMillis;

/// USD per million tokens.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Price {
    pub prompt: f64,
    pub completion: f64,
}

/// The price when `model_price` names none for a model (the original's).
pub const FALLBACK_PRICE: Price = Price { prompt: 0.3, completion: 1.0 };

/// `model_price`: the first key (in config order) that is a prefix of the model, else `default`,
/// else [`FALLBACK_PRICE`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelPrices {
    entries: Vec<(String, Price)>,
    default: Option<Price>,
}

impl ModelPrices {
    pub fn price(&self, model: &str) -> Price {
        self.entries
            .iter()
            .find(|(prefix, _)| model.starts_with(prefix.as_str()))
            .map(|(_, price)| *price)
            .or(self.default)
            .unwrap_or(FALLBACK_PRICE)
    }

    /// USD for these tokens of `model`.
    pub fn cost(&self, model: &str, prompt_tokens: u64, completion_tokens: u64) -> f64 {
        let price = self.price(model);
        (prompt_tokens as f64 * price.prompt + completion_tokens as f64 * price.completion) / 1e6
    }
}

pub(super) fn model_prices(value: &Value, path: &str) -> Result<ModelPrices, ConfigError> {
    let map = match value {
        Value::Null => return Ok(ModelPrices::default()),
        Value::Object(map) => map,
        _ => return Err(ConfigError::invalid(path, "expected a mapping of model prefix to \"prompt,completion\"")),
    };
    let mut prices = ModelPrices::default();
    for (prefix, price) in map {
        let at = format!("{path}.{prefix}");
        let price = parse_price(price).ok_or_else(|| {
            ConfigError::invalid(&at, "expected \"PROMPT,COMPLETION\" in USD per million tokens, e.g. \"2.5,10\"")
        })?;
        if prefix == "default" {
            prices.default = Some(price);
        } else {
            prices.entries.push((prefix.clone(), price));
        }
    }
    Ok(prices)
}

fn parse_price(value: &Value) -> Option<Price> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let mut parts = text.split(',').map(|p| p.trim().parse::<f64>().ok().filter(|x| x.is_finite() && *x >= 0.0));
    let prompt = parts.next()??;
    let completion = match parts.next() {
        Some(part) => part?,
        None => prompt,
    };
    parts.next().is_none().then_some(Price { prompt, completion })
}

/// A key's `credits`: `None` (unlimited) when absent or negative.
pub(super) fn credits(value: &Value, path: &str) -> Result<Option<f64>, ConfigError> {
    let amount = match value {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match amount {
        Some(x) if x.is_finite() && x < 0.0 => Ok(None),
        Some(x) if x.is_finite() => Ok(Some(x)),
        _ => Err(ConfigError::invalid(path, "expected an amount in USD (negative: unlimited)")),
    }
}

/// A key's `created_at`: unix seconds, an RFC 3339 time or a `YYYY-MM-DD` date.
pub(super) fn created_at(value: &Value, path: &str) -> Result<Option<UnixMillis>, ConfigError> {
    let bad = || ConfigError::invalid(path, "expected unix seconds, an RFC 3339 time or YYYY-MM-DD");
    let text = match value {
        Value::Null => return Ok(None),
        Value::Number(n) => return n.as_u64().map(|s| Some(UnixMillis(s.saturating_mul(1000)))).ok_or_else(bad),
        Value::String(s) => s.trim(),
        _ => return Err(bad()),
    };
    let parsed = OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(&format!("{text}T00:00:00Z"), &Rfc3339))
        .or_else(|_| OffsetDateTime::parse(&format!("{}Z", text.replace(' ', "T")), &Rfc3339))
        .map_err(|_| bad())?;
    u64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).map(|ms| Some(UnixMillis(ms))).map_err(|_| bad())
}
