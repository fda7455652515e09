//! Which conversation a request belongs to, so that its turns go to the same channel and
//! upstream key while those are healthy and the provider's prompt cache keeps hitting.
//!
//! | door      | conversation named by                                                  |
//! |-----------|------------------------------------------------------------------------|
//! | Messages  | `X-Claude-Code-Session-Id`, else `metadata.user_id`, else the prompt    |
//! | Responses | `prompt_cache_key`, else the `session-id` header, else the prompt       |
//! | Gemini    | the prompt                                                              |
//! | Chat      | `prompt_cache_key` only (plain chat keeps the key's scheduling)         |
//!
//! "The prompt" is the system prompt and the first turn, which stay the same for a whole
//! conversation. The key is a 64-bit XXH3 hash: stable across processes and versions, so
//! several gateway instances send one conversation to the same channel without sharing state.

use http::{HeaderMap, HeaderName};

use super::Door;
use crate::adapters::raw::RawObject;

/// The gateway's stable 64-bit hash (XXH3).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

// Names built once: looking a header up by `&str` parses the name on every request.
const CLAUDE_CODE_SESSION: HeaderName = HeaderName::from_static("x-claude-code-session-id");
const SESSION_ID: HeaderName = HeaderName::from_static("session-id");
const SESSION_ID_UNDERSCORE: HeaderName = HeaderName::from_static("session_id");

/// The conversation key of a request, if its door names one.
pub fn conversation_key(door: Door, headers: &HeaderMap, body: &RawObject) -> Option<u64> {
    let header = |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty());
    let named = |name: &str| body.field::<String>(name).filter(|v| !v.is_empty());
    let explicit = match door {
        Door::Chat => return named("prompt_cache_key").map(|k| stable_hash(k.as_bytes())),
        Door::Messages => header(&CLAUDE_CODE_SESSION).map(str::to_owned).or_else(|| {
            body.field::<serde_json::Value>("metadata")
                .and_then(|m| m.get("user_id").and_then(|u| u.as_str()).map(str::to_owned))
                .filter(|u| !u.is_empty())
        }),
        Door::Responses => named("prompt_cache_key")
            .or_else(|| header(&SESSION_ID).or_else(|| header(&SESSION_ID_UNDERSCORE)).map(str::to_owned)),
        Door::Gemini(_) => None,
    };
    if let Some(name) = explicit {
        return Some(stable_hash(name.as_bytes()));
    }
    let (system, turns) = match door {
        Door::Messages => ("system", "messages"),
        Door::Responses => ("instructions", "input"),
        Door::Gemini(_) => ("systemInstruction", "contents"),
        Door::Chat => return None,
    };
    let system = body.get(system).map(|v| v.get()).unwrap_or("");
    let first = body.get(turns).map(|v| first_item(v.get())).unwrap_or("");
    if system.is_empty() && first.is_empty() {
        return None;
    }
    Some(stable_hash(system.as_bytes()) ^ stable_hash(first.as_bytes()).rotate_left(1))
}

/// The first item of a JSON list as raw text (the whole value when it is not a list).
fn first_item(raw: &str) -> &str {
    let Some(rest) = raw.trim_start().strip_prefix('[') else { return raw };
    let bytes = rest.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            // Skip a whole string: its brackets and commas are text.
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'[' | b'{' => depth += 1,
            b']' | b'}' | b',' if depth == 0 => return rest[..i].trim(),
            b']' | b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(door: Door, headers: &[(&str, &str)], body: &str) -> Option<u64> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        conversation_key(door, &map, &RawObject::parse(body.as_bytes()).unwrap())
    }

    #[test]
    fn a_conversation_keeps_its_key_as_it_grows() {
        let turn1 = r#"{"system":"s","messages":[{"role":"user","content":"a, [b]"}]}"#;
        let turn2 =
            r#"{"system":"s","messages":[{"role":"user","content":"a, [b]"},{"role":"assistant","content":"x"}]}"#;
        let other = r#"{"system":"s","messages":[{"role":"user","content":"c"}]}"#;
        assert_eq!(key(Door::Messages, &[], turn1), key(Door::Messages, &[], turn2));
        assert_ne!(key(Door::Messages, &[], turn1), key(Door::Messages, &[], other));
        assert_eq!(
            key(Door::Messages, &[("x-claude-code-session-id", "abc")], turn1),
            key(Door::Messages, &[("x-claude-code-session-id", "abc")], other)
        );
        assert_eq!(key(Door::Chat, &[], turn1), None);
        assert!(key(Door::Chat, &[], r#"{"prompt_cache_key":"k"}"#).is_some());
        assert_eq!(first_item(r#"[{"a":"],"}, 2]"#), r#"{"a":"],"}"#);
    }
}
