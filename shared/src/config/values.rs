//! Small validated value types of `api.yaml`: secrets, rate limits, per-model tables.

use std::fmt;
use std::time::Duration;

use subtle::ConstantTimeEq;

use crate::scheduler::rate_window::RateRule;

/// A credential. It cannot be printed: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The raw value, for the one place that puts it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares in time that depends only on the lengths, not on where the bytes differ.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(candidate).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A value chosen per model: an exact key wins, then the longest key that is a prefix of the
/// model (`gpt-4o` covers `gpt-4o-2024-08-06`), then `default`. Keys compare case-insensitively.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelTable<T> {
    entries: Vec<(String, T)>,
    default: Option<T>,
}

impl<T> Default for ModelTable<T> {
    fn default() -> Self {
        Self { entries: Vec::new(), default: None }
    }
}

impl<T> ModelTable<T> {
    /// A table with only a default.
    pub fn uniform(value: T) -> Self {
        Self { entries: Vec::new(), default: Some(value) }
    }

    pub fn new(entries: Vec<(String, T)>, default: Option<T>) -> Self {
        let entries = entries.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
        Self { entries, default }
    }

    /// Every value in the table, the default included.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().map(|(_, v)| v).chain(self.default.as_ref())
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.default.is_none()
    }

    /// The value for `model` from its own keys, ignoring `default`.
    pub fn specific(&self, model: &str) -> Option<&T> {
        if self.entries.is_empty() {
            return None;
        }
        let model = model.to_ascii_lowercase();
        if let Some((_, v)) = self.entries.iter().find(|(k, _)| *k == model) {
            return Some(v);
        }
        self.entries.iter().filter(|(k, _)| model.starts_with(k.as_str())).max_by_key(|(k, _)| k.len()).map(|(_, v)| v)
    }

    pub fn default_value(&self) -> Option<&T> {
        self.default.as_ref()
    }

    /// `specific`, else `default`.
    pub fn lookup(&self, model: &str) -> Option<&T> {
        self.specific(model).or(self.default.as_ref())
    }
}

/// Parses `15/min,1500/day` into rules. Units: s/sec/second, m/min/minute, h/hr/hour, d/day,
/// mo/month (30 days), y/year (365 days), each optionally plural. A `N/tpr` part (tokens per
/// request) is no window: it is returned as the budget.
pub fn parse_rate_limit(text: &str) -> Result<(Vec<RateRule>, Option<u64>), String> {
    let mut rules = Vec::new();
    let mut tokens_per_request = None;
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (count, unit) =
            part.split_once('/').ok_or_else(|| format!("`{part}` is not of the form COUNT/UNIT, e.g. 15/min"))?;
        let limit: u32 = count.trim().parse().map_err(|_| format!("`{count}` in `{part}` is not a whole number"))?;
        let unit = unit.trim().to_ascii_lowercase();
        let seconds: u64 = match unit.trim_end_matches('s') {
            "" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hr" | "hour" => 3_600,
            "d" | "day" => 86_400,
            "mo" | "month" => 2_592_000,
            "y" | "year" => 31_536_000,
            "tpr" => {
                tokens_per_request = Some(u64::from(limit));
                continue;
            }
            _ => {
                return Err(format!("unknown unit `{unit}` in `{part}` (use sec, min, hour, day, month, year or tpr)"))
            }
        };
        rules.push(RateRule { limit, window_ms: seconds * 1000 });
    }
    if rules.is_empty() && tokens_per_request.is_none() {
        return Err("empty rate limit".into());
    }
    Ok((rules, tokens_per_request))
}

/// Seconds from YAML (integer or fractional) as a `Duration`.
pub fn seconds(value: f64) -> Result<Duration, String> {
    if !value.is_finite() || value < 0.0 {
        return Err(format!("{value} is not a non-negative number of seconds"));
    }
    Ok(Duration::from_secs_f64(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_parse_every_unit_and_lists() {
        let (rules, tpr) = parse_rate_limit("15/min, 1500/day").unwrap();
        assert_eq!(tpr, None);
        assert_eq!(
            rules,
            vec![RateRule { limit: 15, window_ms: 60_000 }, RateRule { limit: 1500, window_ms: 86_400_000 }]
        );
        for (text, ms) in [
            ("1/s", 1_000),
            ("1/sec", 1_000),
            ("1/second", 1_000),
            ("1/hour", 3_600_000),
            ("1/hr", 3_600_000),
            ("1/month", 2_592_000_000),
            ("1/year", 31_536_000_000),
            ("1/minutes", 60_000),
        ] {
            assert_eq!(parse_rate_limit(text).unwrap().0[0].window_ms, ms, "{text}");
        }
    }

    #[test]
    fn bad_rate_limits_say_what_is_wrong() {
        assert!(parse_rate_limit("15 per minute").unwrap_err().contains("COUNT/UNIT"));
        assert!(parse_rate_limit("x/min").unwrap_err().contains("whole number"));
        assert!(parse_rate_limit("5/fortnight").unwrap_err().contains("unknown unit"));
        assert_eq!(
            parse_rate_limit("20/min, 8000/tpr").unwrap(),
            (vec![RateRule { limit: 20, window_ms: 60_000 }], Some(8000))
        );
        assert_eq!(parse_rate_limit("8000/tpr").unwrap(), (vec![], Some(8000)));
    }

    #[test]
    fn model_tables_prefer_exact_then_longest_prefix_then_default() {
        let t = ModelTable::new(
            vec![("gemini-1.5-pro".into(), 1000), ("gemini-1.5-pro-002".into(), 500), ("gemini".into(), 7)],
            Some(4),
        );
        assert_eq!(t.lookup("gemini-1.5-pro-002"), Some(&500));
        assert_eq!(t.lookup("gemini-1.5-pro-latest"), Some(&1000));
        assert_eq!(t.lookup("GEMINI-2.0"), Some(&7));
        assert_eq!(t.lookup("gpt-4o"), Some(&4));
        assert_eq!(t.specific("gpt-4o"), None);
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("sk-very-secret");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert!(s.matches(b"sk-very-secret"));
        assert!(!s.matches(b"sk-very-secreT"));
        assert!(!s.matches(b"sk-very"));
    }
}
