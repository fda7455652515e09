//! Token usage as reported by upstreams, in one shape for logs and statistics.

use serde_json::Value;

/// Token counts of one completion.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub cached_tokens: u64,
    pub reasoning_tokens: u64,
}

impl Usage {
    /// Reads an OpenAI `usage` object; `None` for null or a value without token counts.
    pub fn from_openai(value: &Value) -> Option<Self> {
        let obj = value.as_object()?;
        let n = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
        let prompt = obj.get("prompt_tokens")?;
        let prompt_tokens = prompt.as_u64()?;
        let completion_tokens = n(obj.get("completion_tokens"));
        Some(Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: obj.get("total_tokens").and_then(Value::as_u64).unwrap_or(prompt_tokens + completion_tokens),
            cached_tokens: n(obj.get("prompt_tokens_details").and_then(|d| d.get("cached_tokens"))),
            reasoning_tokens: n(obj.get("completion_tokens_details").and_then(|d| d.get("reasoning_tokens"))),
        })
    }
}
