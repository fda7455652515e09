//! The OpenAI chat-completions dialect: URLs, the upstream request, the reply and its stream.
//!
//! Requests pass through with only `model` replaced (and usage asked for on streams); unknown
//! fields are kept verbatim. Replies report the client's alias as `model`.

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::raw::RawObject;
use super::urls;
use super::{AdapterError, Built};

use crate::config::{Provider, Secret};
use crate::sse::SseEvent;
use crate::stream::{Flow, StreamError, StreamTranslator};
use crate::usage::Usage;

/// `base_url` may be a full endpoint (used as written, even one of another dialect's shape) or an
/// API base such as `…/v1`.
pub fn chat_url(base_url: &str) -> String {
    match urls::named_endpoint(base_url) {
        Some(endpoint) => endpoint.to_owned(),
        None => sibling_url(base_url, "/chat/completions"),
    }
}

/// The sibling `/models` listing of a chat URL or base.
pub fn models_url(base_url: &str) -> String {
    sibling_url(base_url, "/models")
}

/// An endpoint beside the chat URL: `path` (e.g. `/embeddings`) under the API root, `/v1` added
/// to a bare origin.
pub fn sibling_url(base_url: &str, path: &str) -> String {
    let (root, _) = urls::split_endpoint(base_url);
    if has_path(root) {
        format!("{root}{path}")
    } else {
        format!("{root}/v1{path}")
    }
}

fn has_path(url: &str) -> bool {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    after_scheme.split_once('/').is_some_and(|(_, path)| !path.is_empty())
}

/// Builds the upstream request for one attempt.
pub fn build_request(
    provider: &Provider,
    key: Option<&Secret>,
    body: &RawObject,
    upstream_model: &str,
    stream: bool,
) -> Built {
    let auth = key.map(|k| (AUTHORIZATION.as_str(), format!("Bearer {}", k.expose())));
    build_request_to(provider, chat_url(&provider.base_url), auth, body, upstream_model, stream)
}

/// Fields an OpenAI-compatible host answers 400 for, dropped rather than failing the request.
fn rejected_fields(base_url: &str) -> &'static [&'static str] {
    let host = base_url.split_once("://").map_or(base_url, |(_, rest)| rest).split(['/', ':']).next().unwrap_or("");
    match host {
        // Groq: "logprobs, logit_bias and top_logprobs are not supported".
        "api.groq.com" => &["logprobs", "logit_bias", "top_logprobs"],
        // xAI: reasoning models refuse the penalty parameters.
        "api.x.ai" => &["presence_penalty", "frequency_penalty"],
        _ => &[],
    }
}

/// The OpenAI-format request to `url`, with the key in the given header (name, full value).
pub(crate) fn build_request_to(
    provider: &Provider,
    url: String,
    auth: Option<(&str, String)>,
    body: &RawObject,
    upstream_model: &str,
    stream: bool,
) -> Built {
    let skip = rejected_fields(&provider.base_url);
    let bytes = serde_json::to_vec(&UpstreamBody { body, model: upstream_model, stream, skip })
        .map_err(|e| AdapterError::config(e.to_string()))?;
    let mut builder = http::Request::builder().method(Method::POST).uri(url).header(CONTENT_TYPE, "application/json");
    if let Some((name, value)) = auth.filter(|(_, v)| !v.is_empty() && v != "Bearer ") {
        let value = HeaderValue::try_from(value)
            .map_err(|_| AdapterError::config("the upstream key contains characters not allowed in a header"))?;
        builder = builder.header(name, value);
    }
    if stream {
        builder = builder.header(http::header::ACCEPT, "text/event-stream");
    }
    let mut request = builder.body(Bytes::from(bytes)).map_err(|e| AdapterError::config(e.to_string()))?;
    for (name, value) in &provider.headers {
        request.headers_mut().insert(name.clone(), value.clone());
    }
    Ok(request)
}

/// The client's body as the upstream must see it, serialized without copying the client's map:
/// `model` becomes the upstream id and, on streams, `stream_options.include_usage` is set so
/// usage is always recorded (the translator forwards it only if the client asked).
struct UpstreamBody<'a> {
    body: &'a RawObject,
    model: &'a str,
    stream: bool,
    /// Fields this upstream rejects.
    skip: &'static [&'static str],
}

impl serde::Serialize for UpstreamBody<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        let mut options_seen = false;
        for (key, value) in self.body.iter() {
            if self.skip.contains(&key) {
                continue;
            }
            match key {
                "model" => map.serialize_entry(key, self.model)?,
                "stream_options" if self.stream => {
                    options_seen = true;
                    let mut options: Map<String, Value> = serde_json::from_str(value.get()).unwrap_or_default();
                    options.insert("include_usage".into(), Value::Bool(true));
                    map.serialize_entry(key, &options)?;
                }
                _ => map.serialize_entry(key, value)?,
            }
        }
        if !self.body.contains("model") {
            map.serialize_entry("model", self.model)?;
        }
        if self.stream && !options_seen {
            map.serialize_entry("stream_options", &serde_json::json!({ "include_usage": true }))?;
        }
        map.end()
    }
}

/// A non-streamed reply: checks it is a completion, reports the alias, extracts usage.
pub fn parse_response(body: &[u8], alias: &str) -> Result<(Bytes, Option<Usage>), String> {
    let mut reply =
        RawObject::parse(body).map_err(|e| format!("the upstream answered with invalid JSON or not an object: {e}"))?;
    if let Some(error) = reply.present("error") {
        return Err(format!("the upstream answered with an error: {}", raw_error_message(error)));
    }
    if !reply.contains("choices") {
        return Err("the upstream answer has no `choices`".into());
    }
    if reply.contains("model") {
        reply.set("model", &alias).map_err(|e| e.to_string())?;
    }
    let usage = reply.field::<Value>("usage").as_ref().and_then(Usage::from_openai);
    Ok((Bytes::from(reply.to_vec()), usage))
}

fn raw_error_message(error: &RawValue) -> String {
    serde_json::from_str::<Value>(error.get()).map(|v| error_message(&v)).unwrap_or_else(|_| error.get().to_owned())
}

/// The human part of an OpenAI-style error value.
pub fn error_message(error: &Value) -> String {
    match error {
        Value::String(s) => s.clone(),
        Value::Object(o) => {
            o.get("message").and_then(Value::as_str).map(str::to_owned).unwrap_or_else(|| error.to_string())
        }
        other => other.to_string(),
    }
}

/// Model ids from an OpenAI `/models` listing.
pub fn parse_model_list(body: &[u8]) -> Result<Vec<String>, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let data = value.get("data").and_then(Value::as_array).ok_or("no `data` list in the answer")?;
    let mut ids: Vec<String> = Vec::with_capacity(data.len());
    for id in data.iter().filter_map(|m| m.get("id").and_then(Value::as_str)) {
        if !ids.iter().any(|known| known == id) {
            ids.push(id.to_owned());
        }
    }
    Ok(ids)
}

/// OpenAI chunks in, OpenAI chunks out: `model` becomes the alias, usage is captured, and the
/// usage-only chunk is dropped unless the client asked for it.
///
/// | upstream event                  | output                                        |
/// |---------------------------------|-----------------------------------------------|
/// | chunk                           | the chunk, `model` = alias                    |
/// | usage-only chunk (`choices: []`) | forwarded only if the client asked for usage |
/// | `{"error": …}`                  | `StreamError::Upstream`                       |
/// | `[DONE]`                        | end of stream                                 |
/// | EOF without `[DONE]`            | end if a `finish_reason` was seen, else `Truncated` |
pub struct PassthroughTranslator {
    alias: String,
    client_wants_usage: bool,
    usage: Option<Usage>,
    saw_finish: bool,
    /// Azure: drop content-filter annotations and the filter-only first chunk.
    strip_filters: bool,
}

/// Just enough of a streamed choice to see whether the completion finished.
#[derive(Deserialize)]
struct ChoiceProbe<'a> {
    #[serde(borrow, default)]
    finish_reason: Option<&'a RawValue>,
}

impl PassthroughTranslator {
    pub fn new(alias: impl Into<String>, client_wants_usage: bool) -> Self {
        Self { alias: alias.into(), client_wants_usage, usage: None, saw_finish: false, strip_filters: false }
    }

    /// For Azure OpenAI, whose chunks carry content-filter results clients do not expect.
    pub fn stripping_content_filters(mut self) -> Self {
        self.strip_filters = true;
        self
    }
}

/// Removes Azure's content-filter fields from a completion or chunk.
pub(crate) fn strip_content_filters(object: &mut RawObject) -> Result<(), serde_json::Error> {
    object.remove("prompt_filter_results");
    object.remove("prompt_annotations");
    if let Some(mut choices) = object.field::<Vec<Value>>("choices") {
        for choice in &mut choices {
            if let Some(c) = choice.as_object_mut() {
                c.remove("content_filter_results");
                c.remove("content_filter_result");
            }
        }
        object.set("choices", &choices)?;
    }
    Ok(())
}

impl StreamTranslator for PassthroughTranslator {
    fn on_event(&mut self, event: &SseEvent, out: &mut Vec<Bytes>) -> Result<Flow, StreamError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            return Ok(Flow::Done);
        }
        if data.is_empty() {
            return Ok(Flow::Continue);
        }
        let mut chunk = RawObject::parse(data.as_bytes())
            .map_err(|e| StreamError::Corrupt(format!("an upstream chunk is not a JSON object: {e}")))?;
        if let Some(error) = chunk.present("error") {
            return Err(StreamError::Upstream(raw_error_message(error)));
        }
        if chunk.contains("model") {
            chunk.set("model", &self.alias).map_err(|e| StreamError::Corrupt(e.to_string()))?;
        }
        if self.strip_filters {
            let filter_only = chunk.field::<Vec<IgnoredAny>>("choices").is_some_and(|c| c.is_empty())
                && chunk.present("usage").is_none();
            if filter_only {
                return Ok(Flow::Continue);
            }
            strip_content_filters(&mut chunk).map_err(|e| StreamError::Corrupt(e.to_string()))?;
        }
        let choices: Vec<ChoiceProbe<'_>> = chunk.field("choices").unwrap_or_default();
        if choices.iter().any(|c| c.finish_reason.is_some()) {
            self.saw_finish = true;
        }
        let usage = chunk.present("usage").and_then(|u| serde_json::from_str::<Value>(u.get()).ok());
        if let Some(usage) = usage.as_ref().and_then(Usage::from_openai) {
            self.usage = Some(usage);
        }
        if !self.client_wants_usage {
            if choices.is_empty() && usage.is_some() {
                return Ok(Flow::Continue);
            }
            chunk.remove("usage");
        }
        out.push(Bytes::from(chunk.to_vec()));
        Ok(Flow::Continue)
    }

    fn finish(&mut self) -> Result<(), StreamError> {
        if self.saw_finish {
            Ok(())
        } else {
            Err(StreamError::Truncated)
        }
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_accept_a_full_endpoint_or_a_base() {
        assert_eq!(chat_url("https://a.io/v1/chat/completions"), "https://a.io/v1/chat/completions");
        assert_eq!(chat_url("https://a.io/v1"), "https://a.io/v1/chat/completions");
        assert_eq!(chat_url("https://a.io/v1/"), "https://a.io/v1/chat/completions");
        assert_eq!(chat_url("https://a.io"), "https://a.io/v1/chat/completions");
        assert_eq!(chat_url("http://127.0.0.1:9/openai/v1"), "http://127.0.0.1:9/openai/v1/chat/completions");
        assert_eq!(models_url("https://a.io/v1/chat/completions"), "https://a.io/v1/models");
        assert_eq!(models_url("https://a.io/v1"), "https://a.io/v1/models");
        assert_eq!(models_url("https://a.io"), "https://a.io/v1/models");
        // A full endpoint of another shape (an `engine:` forcing this dialect) is used as written.
        assert_eq!(chat_url("https://x.io/v1/messages"), "https://x.io/v1/messages");
        assert_eq!(models_url("https://x.io/v1/messages"), "https://x.io/v1/models");
        assert_eq!(sibling_url("https://x.io/v1/messages", "/embeddings"), "https://x.io/v1/embeddings");
        assert_eq!(sibling_url("https://a.io/v1/chat/completions", "/embeddings"), "https://a.io/v1/embeddings");
    }

    fn feed(t: &mut PassthroughTranslator, data: &str) -> (Result<Flow, StreamError>, Vec<String>) {
        let mut out = Vec::new();
        let flow = t.on_event(&SseEvent { event: None, data: data.into() }, &mut out);
        (flow, out.into_iter().map(|b| String::from_utf8(b.to_vec()).unwrap()).collect())
    }

    #[test]
    fn passthrough_rewrites_model_and_keeps_everything_else() {
        let mut t = PassthroughTranslator::new("alias", false);
        let (flow, out) = feed(
            &mut t,
            r#"{"id":"x","model":"up","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}],"usage":null,"extra":[1]}"#,
        );
        assert_eq!(flow, Ok(Flow::Continue));
        assert_eq!(
            out,
            vec![
                r#"{"id":"x","model":"alias","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}],"extra":[1]}"#
            ]
        );
        assert_eq!(t.finish(), Err(StreamError::Truncated), "no finish_reason yet");
        let (_, out) = feed(&mut t, r#"{"model":"up","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#);
        assert_eq!(out.len(), 1);
        let (_, out) = feed(
            &mut t,
            r#"{"model":"up","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":2}}}"#,
        );
        assert!(out.is_empty(), "the usage chunk is withheld from a client that did not ask");
        assert_eq!(t.usage().map(|u| (u.prompt_tokens, u.completion_tokens, u.cached_tokens)), Some((3, 4, 2)));
        assert_eq!(feed(&mut t, "[DONE]").0, Ok(Flow::Done));
        assert_eq!(t.finish(), Ok(()));
    }

    #[test]
    fn passthrough_forwards_usage_when_asked_and_reports_errors_and_garbage() {
        let mut t = PassthroughTranslator::new("a", true);
        let (_, out) = feed(
            &mut t,
            r#"{"model":"up","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#,
        );
        assert_eq!(
            out,
            vec![r#"{"model":"a","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#]
        );
        assert_eq!(feed(&mut t, r#"{"error":{"message":"boom"}}"#).0, Err(StreamError::Upstream("boom".into())));
        assert!(matches!(feed(&mut t, "not json").0, Err(StreamError::Corrupt(_))));
    }

    #[test]
    fn replies_report_the_alias_and_usage_or_fail_clearly() {
        let (body, usage) =
            parse_response(br#"{"model":"up","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1}}"#, "al")
                .unwrap();
        assert_eq!(&body[..], br#"{"model":"al","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1}}"#);
        assert_eq!(usage.unwrap().total_tokens, 6);
        assert!(parse_response(b"{oops", "a").unwrap_err().contains("invalid JSON"));
        assert!(parse_response(br#"{"error":{"message":"quota"}}"#, "a").unwrap_err().contains("quota"));
        assert!(parse_response(br#"{"object":"x"}"#, "a").unwrap_err().contains("choices"));
    }

    #[test]
    fn fields_a_host_rejects_are_dropped() {
        let config = crate::Config::from_yaml_str(
            "providers:\n  - provider: groq\n    base_url: https://api.groq.com/openai/v1\n    model: [m]\n  - provider: o\n    base_url: https://api.openai.com/v1\n    model: [m]\napi_keys: [{api: k}]",
            &|_| None,
        )
        .unwrap();
        let body =
            RawObject::parse(br#"{"model":"m","messages":[],"logprobs":true,"logit_bias":{"1":2},"seed":3}"#).unwrap();
        let groq = build_request(&config.providers[0], None, &body, "m", false).unwrap();
        assert_eq!(&groq.body()[..], br#"{"model":"m","messages":[],"seed":3}"#);
        let openai = build_request(&config.providers[1], None, &body, "m", false).unwrap();
        assert_eq!(&openai.body()[..], br#"{"model":"m","messages":[],"logprobs":true,"logit_bias":{"1":2},"seed":3}"#);
    }

    #[test]
    fn model_lists_are_deduplicated_in_order() {
        let body = br#"{"object":"list","data":[{"id":"b"},{"id":"a"},{"id":"b"}]}"#;
        assert_eq!(parse_model_list(body).unwrap(), vec!["b", "a"]);
        assert!(parse_model_list(b"{}").is_err());
    }
}
