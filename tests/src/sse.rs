//! Reading SSE as a client does.

use serde_json::Value;

/// The `data:` payloads of an SSE body, in order (`[DONE]` kept as the string).
pub fn data_lines(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim_start).collect();
            (!data.is_empty()).then(|| data.join("\n"))
        })
        .collect()
}

/// The JSON payloads (everything but `[DONE]`).
pub fn chunks(text: &str) -> Vec<Value> {
    data_lines(text)
        .into_iter()
        .filter(|d| d != "[DONE]")
        .map(|d| serde_json::from_str(&d).unwrap_or_else(|_| panic!("not JSON: {d}")))
        .collect()
}

/// Whether the stream ended with `[DONE]`.
pub fn ends_with_done(text: &str) -> bool {
    data_lines(text).last().is_some_and(|d| d == "[DONE]")
}

/// The concatenated `delta.content` of a stream.
pub fn content(text: &str) -> String {
    chunks(text).iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str().map(str::to_owned)).collect()
}
