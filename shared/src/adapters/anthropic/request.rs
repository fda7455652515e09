//! OpenAI chat request → Anthropic Messages request.
//!
//! * `system` and `developer` messages join (in order, blank-line separated) into `system`.
//! * Every tool call of an assistant message becomes a `tool_use` block with its own id; each
//!   `tool` message becomes a `tool_result` block for its `tool_call_id`. Consecutive messages of
//!   one role merge, as Anthropic requires alternating turns.
//! * Images: data URLs become base64 `image` blocks, http(s) URLs `url` image sources.
//! * `max_tokens` defaults per model family; `stop` → `stop_sequences`; `tool_choice` maps
//!   faithfully (`none` stays none, `required` is `any`).
//! * An alias containing `think` turns on extended thinking (budget 4096, or the alias's trailing
//!   number: `…-think-16000`); an explicit `thinking` object is passed through; else
//!   `reasoning_effort` sets a budget (`low` 1024, `medium` 8192, `high` 24576; `none` and
//!   `minimal` none).
//! * Fields Anthropic does not accept are not sent (it rejects unknown fields).

use http::HeaderValue;
use serde_json::{json, Map, Value};

use super::{messages_url, API_VERSION};
use crate::adapters::raw::RawObject;
use crate::adapters::{key_header, post_json, read_messages, AdapterError, Built};
use crate::config::{Provider, Secret};
use crate::schema::openai::{parse_data_url, Content, Message, Part, Stop, Tool};

const DEFAULT_THINKING_BUDGET: u64 = 4096;

/// Builds the upstream request for one attempt.
pub fn build_request(
    provider: &Provider,
    key: Option<&Secret>,
    body: &RawObject,
    upstream_model: &str,
    alias: &str,
    stream: bool,
) -> Built {
    let payload = payload(body, upstream_model, alias, stream)?;
    let mut request = post_json(provider, messages_url(&provider.base_url), key_header("x-api-key", key), &payload)?;
    request.headers_mut().insert("anthropic-version", HeaderValue::from_static(API_VERSION));
    Ok(request)
}

/// The Anthropic JSON body (public to the crate for golden tests).
pub(crate) fn payload(
    body: &RawObject,
    upstream_model: &str,
    alias: &str,
    stream: bool,
) -> Result<Value, AdapterError> {
    let messages = read_messages(body)?;
    let mut out = Map::new();
    out.insert("model".into(), json!(upstream_model));

    let (system, turns) = convert_messages(&messages)?;
    if !system.is_empty() {
        out.insert("system".into(), json!(system));
    }
    out.insert("messages".into(), Value::Array(turns));

    let requested_max = body.field::<u64>("max_tokens").or_else(|| body.field::<u64>("max_completion_tokens"));
    let mut max_tokens = requested_max.unwrap_or_else(|| default_max_tokens(upstream_model));

    if let Some(stop) = body.field::<Stop>("stop") {
        out.insert("stop_sequences".into(), json!(stop.into_vec()));
    }
    for field in ["temperature", "top_p", "top_k"] {
        if let Some(v) = body.present(field) {
            out.insert(
                field.into(),
                serde_json::from_str(v.get()).map_err(|e| AdapterError::request(format!("`{field}`: {e}")))?,
            );
        }
    }
    if let Some(user) = body.field::<String>("user") {
        out.insert("metadata".into(), json!({ "user_id": user }));
    }

    let tools: Vec<Tool> = body.field("tools").unwrap_or_default();
    if !tools.is_empty() {
        let mut converted: Vec<Value> = tools
            .iter()
            .filter_map(Tool::as_function)
            .map(|f| {
                let mut tool = json!({
                    "name": f.name,
                    "input_schema": f.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                });
                if let Some(d) = &f.description {
                    tool["description"] = json!(d);
                }
                tool
            })
            .collect();
        if tools.iter().any(Tool::is_web_search) {
            converted.push(json!({ "type": "web_search_20250305", "name": "web_search" }));
        }
        out.insert("tools".into(), Value::Array(converted));
        let parallel = body.field::<bool>("parallel_tool_calls");
        if let Some(choice) = tool_choice(body.field::<Value>("tool_choice"), parallel) {
            out.insert("tool_choice".into(), choice);
        }
    }

    let thinking = match body.field::<Value>("thinking") {
        Some(explicit) if explicit.is_object() => Some(explicit),
        _ => thinking_from_alias(alias).or_else(|| thinking_from_effort(body.field::<String>("reasoning_effort"))),
    };
    if let Some(thinking) = thinking {
        if let Some(budget) = thinking.get("budget_tokens").and_then(Value::as_u64) {
            // Anthropic requires max_tokens above the thinking budget.
            if max_tokens <= budget {
                max_tokens = budget + requested_max.unwrap_or(default_max_tokens(upstream_model)).min(8192);
            }
        }
        // Extended thinking accepts no sampling changes.
        for field in ["temperature", "top_p", "top_k"] {
            out.remove(field);
        }
        out.insert("thinking".into(), thinking);
    }
    out.insert("max_tokens".into(), json!(max_tokens));
    if stream {
        out.insert("stream".into(), json!(true));
    }
    Ok(Value::Object(out))
}

fn convert_messages(messages: &[Message]) -> Result<(String, Vec<Value>), AdapterError> {
    let mut system: Vec<String> = Vec::new();
    let mut turns: Vec<(String, Vec<Value>)> = Vec::new();
    for message in messages {
        let (role, blocks) = match message.role.as_str() {
            "system" | "developer" => {
                if let Some(content) = &message.content {
                    system.push(content.text());
                }
                continue;
            }
            "assistant" => ("assistant", assistant_blocks(message)?),
            "tool" | "function" => {
                let id = message.tool_call_id.clone().unwrap_or_default();
                let text = message.content.as_ref().map(Content::text).unwrap_or_default();
                ("user", vec![json!({ "type": "tool_result", "tool_use_id": id, "content": text })])
            }
            _ => ("user", content_blocks(message.content.as_ref())),
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, existing)) if last == role => existing.extend(blocks),
            _ => turns.push((role.to_owned(), blocks)),
        }
    }
    let turns = turns.into_iter().map(|(role, content)| json!({ "role": role, "content": content })).collect();
    Ok((system.join("\n\n"), turns))
}

fn assistant_blocks(message: &Message) -> Result<Vec<Value>, AdapterError> {
    let mut blocks = content_blocks(message.content.as_ref());
    for call in message.tool_calls.iter().flatten() {
        let input: Value = if call.function.arguments.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str(&call.function.arguments)
                .map_err(|_| AdapterError::request(format!("the arguments of tool call `{}` are not JSON", call.id)))?
        };
        blocks.push(json!({ "type": "tool_use", "id": call.id, "name": call.function.name, "input": input }));
    }
    Ok(blocks)
}

fn content_blocks(content: Option<&Content>) -> Vec<Value> {
    match content {
        None => Vec::new(),
        Some(Content::Text(t)) if t.is_empty() => Vec::new(),
        Some(Content::Text(t)) => vec![json!({ "type": "text", "text": t })],
        Some(Content::Parts(parts)) => parts
            .iter()
            .filter_map(|part| match part {
                Part::Text { text } if !text.is_empty() => Some(json!({ "type": "text", "text": text })),
                Part::Text { .. } | Part::Other => None,
                Part::ImageUrl { image_url } => Some(match parse_data_url(&image_url.url) {
                    Some((media_type, data)) => json!({
                        "type": "image",
                        "source": { "type": "base64", "media_type": media_type, "data": data }
                    }),
                    None => json!({ "type": "image", "source": { "type": "url", "url": image_url.url } }),
                }),
            })
            .collect(),
    }
}

fn tool_choice(choice: Option<Value>, parallel: Option<bool>) -> Option<Value> {
    let mut mapped = match choice? {
        Value::String(s) => match s.as_str() {
            "auto" => json!({ "type": "auto" }),
            "none" => json!({ "type": "none" }),
            "required" | "any" => json!({ "type": "any" }),
            _ => return None,
        },
        Value::Object(o) => {
            let name = o.get("function").and_then(|f| f.get("name")).and_then(Value::as_str)?;
            json!({ "type": "tool", "name": name })
        }
        _ => return None,
    };
    if parallel == Some(false) && mapped["type"] != "none" {
        mapped["disable_parallel_tool_use"] = json!(true);
    }
    Some(mapped)
}

/// `claude-…-think` → budget 4096; `claude-…-think-16000` → 16000.
fn thinking_from_alias(alias: &str) -> Option<Value> {
    let lower = alias.to_ascii_lowercase();
    if !lower.contains("think") {
        return None;
    }
    let budget = lower
        .rsplit('-')
        .next()
        .and_then(|tail| tail.parse::<u64>().ok())
        .filter(|b| *b >= 1024)
        .unwrap_or(DEFAULT_THINKING_BUDGET);
    Some(json!({ "type": "enabled", "budget_tokens": budget }))
}

/// OpenAI's `reasoning_effort` as a thinking budget.
fn thinking_from_effort(effort: Option<String>) -> Option<Value> {
    let budget = match effort?.as_str() {
        "low" => 1024,
        "medium" => 8192,
        "high" | "xhigh" => 24576,
        _ => return None,
    };
    Some(json!({ "type": "enabled", "budget_tokens": budget }))
}

/// The largest output each family allows by default.
fn default_max_tokens(model: &str) -> u64 {
    let m = model.to_ascii_lowercase();
    if m.contains("opus-4") {
        32_000
    } else if m.contains("sonnet-4") || m.contains("3-7-sonnet") || m.contains("haiku-4") {
        64_000
    } else if m.contains("3-5-sonnet") || m.contains("3-5-haiku") {
        8_192
    } else {
        4_096
    }
}
