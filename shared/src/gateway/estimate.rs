//! A request's prompt size in tokens, estimated without a tokenizer: for `tpr` budgets
//! (`api_key_rate_limit: 8000/tpr`), which skip channels whose budget a request would exceed.
//!
//! The estimate is the text a model reads, in characters, divided by four (about what English
//! text averages; the original counts the same way): every string under a `content` or `text`
//! key, and the system prompt and string inputs, of whichever door's shape the body has. Images,
//! audio and tool schemas are not counted.

use serde_json::Value;

use crate::adapters::raw::RawObject;

/// Top-level fields holding conversation text, in every door's shape.
const CONVERSATION_FIELDS: [&str; 8] =
    ["messages", "system", "input", "instructions", "prompt", "contents", "systemInstruction", "system_instruction"];
const CHARS_PER_TOKEN: u64 = 4;
/// Conversations nest a few levels (message → content part → text); deeper is not text.
const MAX_DEPTH: usize = 8;

/// Estimated prompt tokens of `body` (rounded up).
pub(super) fn prompt_tokens(body: &RawObject) -> u64 {
    let mut chars = 0u64;
    for field in CONVERSATION_FIELDS {
        if let Some(value) = body.get(field).and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok()) {
            chars += match &value {
                Value::String(text) => text.chars().count() as u64,
                other => text_chars(other, 0),
            };
        }
    }
    chars.div_ceil(CHARS_PER_TOKEN)
}

/// Characters of the strings under `content` / `text` keys, or items of string lists.
fn text_chars(value: &Value, depth: usize) -> u64 {
    if depth > MAX_DEPTH {
        return 0;
    }
    match value {
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => text.chars().count() as u64,
                other => text_chars(other, depth + 1),
            })
            .sum(),
        Value::Object(map) => map
            .iter()
            .map(|(key, value)| match (key.as_str(), value) {
                ("content" | "text", Value::String(text)) => text.chars().count() as u64,
                ("content" | "parts", nested) => text_chars(nested, depth + 1),
                _ => 0,
            })
            .sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(body: Value) -> u64 {
        prompt_tokens(&RawObject::parse(body.to_string().as_bytes()).unwrap())
    }

    #[test]
    fn every_doors_text_counts_and_images_do_not() {
        let text = "x".repeat(400); // 100 tokens
        let image = format!("data:image/png;base64,{}", "A".repeat(40_000));
        let chat = serde_json::json!({"model": "m", "messages": [
            {"role": "system", "content": text},
            {"role": "user", "content": [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": image}}]}
        ]});
        assert_eq!(tokens(chat), 200);
        let messages = serde_json::json!({"model": "m", "system": [{"type": "text", "text": text}],
            "messages": [{"role": "user", "content": text}]});
        assert_eq!(tokens(messages), 200);
        let responses = serde_json::json!({"model": "m", "instructions": text, "input": text});
        assert_eq!(tokens(responses), 200);
        let gemini = serde_json::json!({"systemInstruction": {"parts": [{"text": text}]},
            "contents": [{"role": "user", "parts": [{"text": text}, {"inlineData": {"mimeType": "image/png", "data": image}}]}]});
        assert_eq!(tokens(gemini), 200);
        assert_eq!(tokens(serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})), 1);
    }
}
