//! OpenAI chat request → Gemini `GenerateContentRequest`.
//!
//! * `assistant` → role `model`; `system`/`developer` → `systemInstruction`.
//! * Tool calls → `functionCall` parts (thought signatures restored from the call id; a call
//!   another vendor made gets Google's placeholder signature, which Gemini 3 models require on
//!   calls in the history); tool results → `functionResponse` parts named after the call they
//!   answer.
//! * Images: data URLs → `inlineData`, http(s) URLs → `fileData`.
//! * Function schemas are cleaned of keywords Gemini rejects; `tool_choice` → `toolConfig`.
//! * `response_format` JSON modes → `responseMimeType` / `responseSchema`.
//! * Thinking: `reasoning_effort`, or an alias ending in `-think-N` (budget N) / `-think`.
//! * An alias ending in `-search` adds the Google Search tool.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::{model_url, SIGNATURE_MARK};
use crate::adapters::raw::RawObject;
use crate::adapters::{key_header, post_json, read_messages, AdapterError, Built};
use crate::config::{Provider, Secret};
use crate::schema::openai::{parse_data_url, Content, Message, Part, Stop, Tool};

/// The signature Google documents for function calls Gemini did not make (a conversation
/// begun elsewhere): it tells the model to skip signature validation.
const FOREIGN_CALL_SIGNATURE: &str = "skip_thought_signature_validator";

/// Builds the upstream request for one attempt.
pub fn build_request(
    provider: &Provider,
    key: Option<&Secret>,
    body: &RawObject,
    upstream_model: &str,
    alias: &str,
    stream: bool,
) -> Built {
    let payload = payload(body, alias)?;
    post_json(
        provider,
        model_url(&provider.base_url, upstream_model, stream),
        key_header("x-goog-api-key", key),
        &payload,
    )
}

pub(crate) fn payload(body: &RawObject, alias: &str) -> Result<Value, AdapterError> {
    let messages = read_messages(body)?;
    let mut out = Map::new();
    let (system, contents) = convert_messages(&messages)?;
    out.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        out.insert("systemInstruction".into(), json!({ "parts": [{ "text": system }] }));
    }

    let mut generation = Map::new();
    for (from, to) in [("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK"), ("seed", "seed")] {
        if let Some(v) = body.present(from) {
            generation.insert(
                to.into(),
                serde_json::from_str(v.get()).map_err(|e| AdapterError::request(format!("`{from}`: {e}")))?,
            );
        }
    }
    if let Some(max) = body.field::<u64>("max_completion_tokens").or_else(|| body.field::<u64>("max_tokens")) {
        generation.insert("maxOutputTokens".into(), json!(max));
    }
    if let Some(stop) = body.field::<Stop>("stop") {
        generation.insert("stopSequences".into(), json!(stop.into_vec()));
    }
    if let Some(format) = body.field::<Value>("response_format") {
        match format.get("type").and_then(Value::as_str) {
            Some("json_object") => {
                generation.insert("responseMimeType".into(), json!("application/json"));
            }
            Some("json_schema") => {
                generation.insert("responseMimeType".into(), json!("application/json"));
                if let Some(schema) = format.get("json_schema").and_then(|s| s.get("schema")) {
                    generation.insert("responseSchema".into(), clean_schema(schema));
                }
            }
            _ => {}
        }
    }
    if let Some(thinking) = thinking_config(body.field::<String>("reasoning_effort").as_deref(), alias) {
        generation.insert("thinkingConfig".into(), thinking);
    }
    if !generation.is_empty() {
        out.insert("generationConfig".into(), Value::Object(generation));
    }

    let mut tools = Vec::new();
    let declared: Vec<Tool> = body.field("tools").unwrap_or_default();
    let declarations: Vec<Value> = declared
        .iter()
        .filter_map(Tool::as_function)
        .map(|f| {
            let mut d = json!({ "name": f.name });
            if let Some(desc) = &f.description {
                d["description"] = json!(desc);
            }
            if let Some(params) = f.parameters.as_ref().filter(|p| has_properties(p)) {
                d["parameters"] = clean_schema(params);
            }
            d
        })
        .collect();
    if !declarations.is_empty() {
        tools.push(json!({ "functionDeclarations": declarations }));
        if let Some(config) = tool_config(body.field::<Value>("tool_choice")) {
            out.insert("toolConfig".into(), config);
        }
    }
    if alias.to_ascii_lowercase().ends_with("-search") || declared.iter().any(Tool::is_web_search) {
        tools.push(json!({ "googleSearch": {} }));
    }
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
    }
    // The API's default filters refuse much ordinary text; the original gateway turns them off.
    out.insert(
        "safetySettings".into(),
        json!([
            { "category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF" },
            { "category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "OFF" },
            { "category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "threshold": "OFF" },
            { "category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "OFF" },
            { "category": "HARM_CATEGORY_CIVIC_INTEGRITY", "threshold": "BLOCK_NONE" },
        ]),
    );
    Ok(Value::Object(out))
}

fn convert_messages(messages: &[Message]) -> Result<(String, Vec<Value>), AdapterError> {
    let mut system = Vec::new();
    let mut names: HashMap<String, String> = HashMap::new();
    let mut contents: Vec<(String, Vec<Value>)> = Vec::new();
    for message in messages {
        let (role, parts) = match message.role.as_str() {
            "system" | "developer" => {
                if let Some(c) = &message.content {
                    system.push(c.text());
                }
                continue;
            }
            "assistant" => {
                let mut parts = content_parts(message.content.as_ref());
                for call in message.tool_calls.iter().flatten() {
                    names.insert(call.id.clone(), call.function.name.clone());
                    let args: Value = if call.function.arguments.trim().is_empty() {
                        json!({})
                    } else {
                        serde_json::from_str(&call.function.arguments).map_err(|_| {
                            AdapterError::request(format!("the arguments of tool call `{}` are not JSON", call.id))
                        })?
                    };
                    let mut part = json!({ "functionCall": { "name": call.function.name, "args": args } });
                    let signature = call.id.split_once(SIGNATURE_MARK).map_or(FOREIGN_CALL_SIGNATURE, |(_, s)| s);
                    part["thoughtSignature"] = json!(signature);
                    parts.push(part);
                }
                ("model", parts)
            }
            "tool" | "function" => {
                let id = message.tool_call_id.clone().unwrap_or_default();
                let name = names.get(&id).cloned().unwrap_or_else(|| id.clone());
                let text = message.content.as_ref().map(Content::text).unwrap_or_default();
                let response = serde_json::from_str::<Value>(&text)
                    .ok()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| json!({ "result": text }));
                ("user", vec![json!({ "functionResponse": { "name": name, "response": response } })])
            }
            _ => ("user", content_parts(message.content.as_ref())),
        };
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(parts),
            _ => contents.push((role.to_owned(), parts)),
        }
    }
    let contents = contents.into_iter().map(|(role, parts)| json!({ "role": role, "parts": parts })).collect();
    Ok((system.join("\n\n"), contents))
}

fn content_parts(content: Option<&Content>) -> Vec<Value> {
    match content {
        None => Vec::new(),
        Some(Content::Text(t)) if t.is_empty() => Vec::new(),
        Some(Content::Text(t)) => vec![json!({ "text": t })],
        Some(Content::Parts(parts)) => parts
            .iter()
            .filter_map(|p| match p {
                Part::Text { text } if !text.is_empty() => Some(json!({ "text": text })),
                Part::Text { .. } | Part::Other => None,
                Part::ImageUrl { image_url } => Some(match parse_data_url(&image_url.url) {
                    Some((mime, data)) => json!({ "inlineData": { "mimeType": mime, "data": data } }),
                    None => json!({ "fileData": { "mimeType": guess_mime(&image_url.url), "fileUri": image_url.url } }),
                }),
            })
            .collect(),
    }
}

fn guess_mime(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or(url).to_ascii_lowercase();
    if path.ends_with(".png") {
        "image/png"
    } else if path.ends_with(".webp") {
        "image/webp"
    } else if path.ends_with(".gif") {
        "image/gif"
    } else {
        "image/jpeg"
    }
}

fn has_properties(schema: &Value) -> bool {
    schema.get("properties").and_then(Value::as_object).is_some_and(|p| !p.is_empty())
}

/// Removes JSON-Schema keywords Gemini's schema subset rejects, recursively.
fn clean_schema(schema: &Value) -> Value {
    const REJECTED: [&str; 9] =
        ["$schema", "$id", "additionalProperties", "default", "examples", "strict", "$defs", "definitions", "title"];
    match schema {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                if REJECTED.contains(&k.as_str()) {
                    continue;
                }
                if k == "const" {
                    out.insert("enum".into(), json!([v]));
                    continue;
                }
                // Property names are data, not keywords: keep them all.
                let cleaned = if k == "properties" {
                    match v {
                        Value::Object(props) => {
                            Value::Object(props.iter().map(|(name, s)| (name.clone(), clean_schema(s))).collect())
                        }
                        other => other.clone(),
                    }
                } else {
                    clean_schema(v)
                };
                out.insert(k.clone(), cleaned);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(clean_schema).collect()),
        other => other.clone(),
    }
}

fn tool_config(choice: Option<Value>) -> Option<Value> {
    let config = match choice? {
        Value::String(s) => match s.as_str() {
            "auto" => json!({ "mode": "AUTO" }),
            "none" => json!({ "mode": "NONE" }),
            "required" => json!({ "mode": "ANY" }),
            _ => return None,
        },
        Value::Object(o) => {
            let name = o.get("function").and_then(|f| f.get("name")).and_then(Value::as_str)?;
            json!({ "mode": "ANY", "allowedFunctionNames": [name] })
        }
        _ => return None,
    };
    Some(json!({ "functionCallingConfig": config }))
}

/// `reasoning_effort` (`none`/`minimal` 0, `low` 1024, `medium` 8192, `high` 24576), else an
/// alias ending in `-think` (dynamic) or `-think-N` (budget N); thoughts are returned.
fn thinking_config(effort: Option<&str>, alias: &str) -> Option<Value> {
    let budget: i64 = match effort {
        Some("none") | Some("minimal") => 0,
        Some("low") => 1024,
        Some("medium") => 8192,
        Some("high") => 24576,
        _ => {
            let lower = alias.to_ascii_lowercase();
            let (_, tail) = lower.rsplit_once("-think")?;
            match tail.strip_prefix('-') {
                Some(n) => n.parse().ok()?,
                None if tail.is_empty() => -1,
                None => return None,
            }
        }
    };
    Some(json!({ "thinkingBudget": budget, "includeThoughts": budget != 0 }))
}
