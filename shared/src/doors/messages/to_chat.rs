//! Anthropic Messages request → OpenAI chat request (the hub), for channels of another vendor.
//!
//! * `system` (a string or text blocks) → a leading `system` message; a `role: "system"` turn
//!   inside `messages` (Claude Code sends one) stays a `system` message at its place.
//! * User turns: `tool_result` blocks → `tool` messages (first, as OpenAI wants them right after
//!   the assistant's calls); text, images (base64 → data URL, url → URL) and text documents → one
//!   user message. Text-only turns become one string.
//! * Assistant turns: text → `content`, `tool_use` → `tool_calls`. Thinking blocks carry another
//!   vendor's signature and are left out.
//! * Tools: custom tools → functions (`input_schema` → `parameters`; `cache_control`,
//!   `defer_loading` and other Anthropic-only keys dropped); `web_search_*` → the gateway's
//!   `web_search` tool (served as Gemini's Google Search or Claude's web search); other
//!   Anthropic-defined tools (`bash_*`, `text_editor_*`, `computer_*`, …) are left out.
//! * `tool_choice` → `auto` / `required` / `none` / a named function;
//!   `disable_parallel_tool_use` → `parallel_tool_calls: false`.
//! * `max_tokens` up to 16,384 is kept; a larger value (agents send the Claude model's ceiling,
//!   e.g. 32,000 or 128,000) is left out so the upstream uses its own maximum instead of
//!   refusing the request. `stop_sequences` → `stop`; `temperature`, `top_p` kept; `top_k`,
//!   `metadata`, `cache_control`, `context_management`, `service_tier` dropped.
//! * `thinking` / `output_config.effort` → `reasoning_effort`, only when `keep_reasoning` (the
//!   channel's dialect maps it to its own thinking settings).

use std::borrow::Cow;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::adapters::raw::RawObject;
use crate::adapters::AdapterError;

/// The largest `max_tokens` passed to another vendor (see the module doc).
pub const MAX_FORWARDED_MAX_TOKENS: u64 = 16_384;

// The request is read without building JSON trees: blocks borrow from the body, and what goes
// out unchanged (a lone text, tool names and schemas) is copied as the client wrote it.

#[derive(Deserialize)]
struct Turn<'a> {
    #[serde(borrow, default)]
    role: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
}

/// Any content block; fields a block type does not have stay `None`.
#[derive(Deserialize)]
struct Block<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    text: Option<&'a RawValue>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    input: Option<&'a RawValue>,
    #[serde(borrow, default)]
    tool_use_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
    #[serde(borrow, default)]
    source: Option<&'a RawValue>,
}

impl Block<'_> {
    fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or("text")
    }
}

#[derive(Deserialize)]
struct Tool<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    description: Option<&'a RawValue>,
    #[serde(borrow, default)]
    input_schema: Option<&'a RawValue>,
}

/// Text as the hub gets it: copied JSON, or made here.
enum Text<'a> {
    Raw(&'a RawValue),
    Owned(String),
}

impl Serialize for Text<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Text::Raw(raw) => raw.serialize(s),
            Text::Owned(text) => s.serialize_str(text),
        }
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Part<'a> {
    Text { text: Text<'a> },
    ImageUrl { image_url: ImageUrl },
}

#[derive(Serialize)]
struct ImageUrl {
    url: String,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Content<'a> {
    Text(Text<'a>),
    Parts(Vec<Part<'a>>),
}

#[derive(Serialize)]
struct Call<'a> {
    id: &'a RawValue,
    #[serde(rename = "type")]
    kind: &'static str,
    function: CallFunction<'a>,
}

#[derive(Serialize)]
struct CallFunction<'a> {
    name: &'a RawValue,
    /// The input object's JSON text, as OpenAI carries arguments.
    arguments: &'a str,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    /// `null` for an assistant turn of tool calls only.
    content: Option<Content<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<Call<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a RawValue>,
}

impl<'a> Message<'a> {
    fn text(role: &'static str, content: Content<'a>) -> Self {
        Self { role, content: Some(content), tool_calls: Vec::new(), tool_call_id: None }
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutTool<'a> {
    Function {
        #[serde(rename = "type")]
        kind: &'static str,
        function: OutFunction<'a>,
    },
    WebSearch {
        #[serde(rename = "type")]
        kind: &'static str,
    },
}

#[derive(Serialize)]
struct OutFunction<'a> {
    name: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a RawValue>,
    parameters: Cow<'a, RawValue>,
}

/// Translates the client's Messages body.
pub fn to_chat(body: &RawObject, keep_reasoning: bool) -> Result<RawObject, AdapterError> {
    let mut out = RawObject::default();
    let set = |out: &mut RawObject, key: &str, value: &dyn erased::Erased| {
        value.set_into(out, key).map_err(|e| AdapterError::request(e.to_string()))
    };
    if let Some(model) = body.get("model") {
        set(&mut out, "model", &model)?;
    }

    let mut messages: Vec<Message<'_>> = Vec::new();
    if let Some(system) = body.get("system") {
        if let Some(text) = joined_text(system).map_err(AdapterError::request)? {
            messages.push(Message::text("system", Content::Text(text)));
        }
    }
    let turns: Vec<Turn<'_>> = match body.get("messages") {
        Some(raw) => serde_json::from_str(raw.get())
            .map_err(|e| AdapterError::request(format!("`messages` could not be read: {e}")))?,
        None => return Err(AdapterError::request("`messages` must be a list of messages")),
    };
    for (i, turn) in turns.iter().enumerate() {
        convert_turn(turn, &mut messages).map_err(|e| AdapterError::request(format!("messages[{i}]: {e}")))?;
    }
    set(&mut out, "messages", &messages)?;

    if let Some(max) = body.field::<u64>("max_tokens").filter(|m| *m <= MAX_FORWARDED_MAX_TOKENS) {
        set(&mut out, "max_tokens", &max)?;
    }
    for field in ["temperature", "top_p"] {
        if let Some(value) = body.get(field).filter(|v| v.get().starts_with(|c: char| c.is_ascii_digit() || c == '-')) {
            set(&mut out, field, &value)?;
        }
    }
    if let Some(stops) = body.field::<Vec<String>>("stop_sequences").filter(|s| !s.is_empty()) {
        set(&mut out, "stop", &stops)?;
    }
    if body.field::<bool>("stream").unwrap_or(false) {
        set(&mut out, "stream", &true)?;
        set(&mut out, "stream_options", &json!({ "include_usage": true }))?;
    }

    let tools: Vec<Tool<'_>> = match body.get("tools") {
        Some(raw) => serde_json::from_str(raw.get()).map_err(|e| AdapterError::request(format!("`tools`: {e}")))?,
        None => Vec::new(),
    };
    let converted: Vec<OutTool<'_>> = tools.iter().filter_map(convert_tool).collect();
    if !converted.is_empty() {
        set(&mut out, "tools", &converted)?;
        if let Some(choice) = body.field::<Value>("tool_choice") {
            if let Some(mapped) = tool_choice(&choice) {
                set(&mut out, "tool_choice", &mapped)?;
            }
            if choice.get("disable_parallel_tool_use").and_then(Value::as_bool) == Some(true) {
                set(&mut out, "parallel_tool_calls", &false)?;
            }
        }
    }
    if keep_reasoning {
        if let Some(effort) = reasoning_effort(body) {
            set(&mut out, "reasoning_effort", &effort)?;
        }
    }
    Ok(out)
}

/// Setting a field from values of different types through one closure.
mod erased {
    use crate::adapters::raw::RawObject;

    pub trait Erased {
        fn set_into(&self, out: &mut RawObject, key: &str) -> Result<(), serde_json::Error>;
    }

    impl<T: serde::Serialize> Erased for T {
        fn set_into(&self, out: &mut RawObject, key: &str) -> Result<(), serde_json::Error> {
            out.set(key, self)
        }
    }
}

/// The text of a string or of text blocks (joined by blank lines); `None` when empty. A lone
/// string is copied as written.
fn joined_text(value: &RawValue) -> Result<Option<Text<'_>>, String> {
    let raw = value.get().trim_start();
    if raw.starts_with('"') {
        return Ok((raw.len() > 2).then_some(Text::Raw(value)));
    }
    if !raw.starts_with('[') {
        return Ok(None);
    }
    let blocks: Vec<Block<'_>> = serde_json::from_str(raw).map_err(|e| e.to_string())?;
    let texts: Vec<&RawValue> = blocks.iter().filter(|b| b.kind() == "text").filter_map(|b| b.text).collect();
    Ok(match texts.as_slice() {
        [] => None,
        [one] => Some(Text::Raw(one)),
        many => Some(Text::Owned(join(many)?)),
    })
}

/// JSON strings joined by blank lines.
fn join(texts: &[&RawValue]) -> Result<String, String> {
    let mut joined = String::new();
    for (i, text) in texts.iter().enumerate() {
        if i > 0 {
            joined.push_str("\n\n");
        }
        let text: Cow<'_, str> = serde_json::from_str(text.get()).map_err(|e| e.to_string())?;
        joined.push_str(&text);
    }
    Ok(joined)
}

fn blocks_of<'a>(content: Option<&'a RawValue>) -> Result<Vec<Block<'a>>, String> {
    let Some(content) = content else { return Ok(Vec::new()) };
    let raw = content.get().trim_start();
    if raw.starts_with('"') {
        return Ok(vec![Block {
            kind: None,
            text: Some(content),
            id: None,
            name: None,
            input: None,
            tool_use_id: None,
            content: None,
            source: None,
        }]);
    }
    if raw == "null" {
        return Ok(Vec::new());
    }
    serde_json::from_str(raw).map_err(|_| "`content` must be a string or a list of blocks".to_owned())
}

fn convert_turn<'a>(turn: &Turn<'a>, out: &mut Vec<Message<'a>>) -> Result<(), String> {
    let role = turn.role.as_deref().ok_or("`role` is required")?;
    let blocks = blocks_of(turn.content)?;
    match role {
        "system" => {
            let texts: Vec<&RawValue> = blocks.iter().filter(|b| b.kind() == "text").filter_map(|b| b.text).collect();
            match texts.as_slice() {
                [] => {}
                [one] => out.push(Message::text("system", Content::Text(Text::Raw(one)))),
                many => out.push(Message::text("system", Content::Text(Text::Owned(join(many)?)))),
            }
        }
        "user" => {
            let mut parts: Vec<Part<'a>> = Vec::new();
            for block in blocks {
                match block.kind() {
                    "tool_result" => {
                        let id = block.tool_use_id.ok_or("a `tool_result` block needs a `tool_use_id`")?;
                        let content = match block.content {
                            Some(content) => joined_text(content)?.unwrap_or(Text::Owned(String::new())),
                            None => Text::Owned(String::new()),
                        };
                        out.push(Message {
                            role: "tool",
                            content: Some(Content::Text(content)),
                            tool_calls: Vec::new(),
                            tool_call_id: Some(id),
                        });
                    }
                    "text" => {
                        if let Some(text) = block.text.filter(|t| t.get().len() > 2) {
                            parts.push(Part::Text { text: Text::Raw(text) });
                        }
                    }
                    "image" => parts.extend(block.source.and_then(image_part)),
                    "document" => parts.extend(block.source.and_then(document_part)),
                    // Thinking, server-tool results and other Anthropic-only blocks have no
                    // counterpart in another vendor's request.
                    _ => {}
                }
            }
            if !parts.is_empty() {
                out.push(Message::text("user", simplify(parts)?));
            }
        }
        "assistant" => {
            let mut texts: Vec<&RawValue> = Vec::new();
            let mut calls = Vec::new();
            for block in &blocks {
                match block.kind() {
                    "text" => texts.extend(block.text.filter(|t| t.get().len() > 2)),
                    "tool_use" => {
                        let id = block.id.ok_or("a `tool_use` block needs an `id`")?;
                        let name = block.name.ok_or("a `tool_use` block needs a `name`")?;
                        let arguments = block.input.map_or("{}", |i| i.get());
                        calls.push(Call { id, kind: "function", function: CallFunction { name, arguments } });
                    }
                    _ => {}
                }
            }
            let content = match texts.as_slice() {
                [] if calls.is_empty() => return Ok(()),
                [] => None,
                [one] => Some(Content::Text(Text::Raw(one))),
                many => Some(Content::Text(Text::Owned(
                    many.iter()
                        .map(|t| serde_json::from_str::<Cow<'_, str>>(t.get()).map_err(|e| e.to_string()))
                        .collect::<Result<Vec<_>, _>>()?
                        .concat(),
                ))),
            };
            out.push(Message { role: "assistant", content, tool_calls: calls, tool_call_id: None });
        }
        other => return Err(format!("unknown role `{other}`")),
    }
    Ok(())
}

#[derive(Deserialize)]
struct Source {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    content: Option<Value>,
}

fn image_part(source: &RawValue) -> Option<Part<'static>> {
    let source: Source = serde_json::from_str(source.get()).ok()?;
    let url = match source.kind.as_str() {
        "base64" => format!("data:{};base64,{}", source.media_type?, source.data?),
        "url" => source.url?,
        _ => return None,
    };
    Some(Part::ImageUrl { image_url: ImageUrl { url } })
}

/// Text documents become text; PDFs and files by reference have no portable form.
fn document_part(source: &RawValue) -> Option<Part<'static>> {
    let source: Source = serde_json::from_str(source.get()).ok()?;
    let text = match source.kind.as_str() {
        "text" => source.data?,
        "content" => match source.content? {
            Value::String(s) => s,
            Value::Array(blocks) => {
                blocks.iter().filter_map(|b| b.get("text")?.as_str()).collect::<Vec<_>>().join("\n\n")
            }
            _ => return None,
        },
        _ => return None,
    };
    Some(Part::Text { text: Text::Owned(text) })
}

/// Text-only parts are sent as one string, as every OpenAI-compatible server accepts.
fn simplify(parts: Vec<Part<'_>>) -> Result<Content<'_>, String> {
    if !parts.iter().all(|p| matches!(p, Part::Text { .. })) {
        return Ok(Content::Parts(parts));
    }
    let mut texts: Vec<&RawValue> = Vec::new();
    let mut owned = Vec::new();
    for part in &parts {
        match part {
            Part::Text { text: Text::Raw(raw) } => texts.push(raw),
            Part::Text { text: Text::Owned(text) } => owned.push(text.clone()),
            Part::ImageUrl { .. } => {}
        }
    }
    if owned.is_empty() && texts.len() == 1 {
        return Ok(Content::Text(Text::Raw(texts[0])));
    }
    let mut joined: Vec<String> = Vec::new();
    for part in parts {
        match part {
            Part::Text { text: Text::Raw(raw) } => {
                joined.push(serde_json::from_str::<String>(raw.get()).map_err(|e| e.to_string())?)
            }
            Part::Text { text: Text::Owned(text) } => joined.push(text),
            Part::ImageUrl { .. } => {}
        }
    }
    Ok(Content::Text(Text::Owned(joined.join("\n\n"))))
}

fn convert_tool<'a>(tool: &Tool<'a>) -> Option<OutTool<'a>> {
    let kind = tool.kind.as_deref().unwrap_or("custom");
    if kind.starts_with("web_search") {
        return Some(OutTool::WebSearch { kind: "web_search" });
    }
    if kind != "custom" {
        return None;
    }
    let parameters = match tool.input_schema {
        Some(schema) => Cow::Borrowed(schema),
        None => Cow::Owned(RawValue::from_string(r#"{"type":"object","properties":{}}"#.to_owned()).ok()?),
    };
    Some(OutTool::Function {
        kind: "function",
        function: OutFunction { name: tool.name?, description: tool.description, parameters },
    })
}

fn tool_choice(choice: &Value) -> Option<Value> {
    Some(match choice.get("type").and_then(Value::as_str)? {
        "auto" => json!("auto"),
        "any" => json!("required"),
        "none" => json!("none"),
        "tool" => json!({ "type": "function", "function": { "name": choice.get("name")?.as_str()? } }),
        _ => return None,
    })
}

/// `thinking` (a budget, or adaptive with `output_config.effort`) as an OpenAI effort level.
fn reasoning_effort(body: &RawObject) -> Option<&'static str> {
    let effort =
        body.field::<Value>("output_config").and_then(|c| c.get("effort").and_then(Value::as_str).map(str::to_owned));
    let from_effort = |e: &str| match e {
        "low" => "low",
        "high" | "max" => "high",
        _ => "medium",
    };
    match body.field::<Value>("thinking") {
        Some(thinking) => match thinking.get("type").and_then(Value::as_str) {
            Some("enabled") => Some(match thinking.get("budget_tokens").and_then(Value::as_u64).unwrap_or(0) {
                0..4096 => "low",
                4096..16384 => "medium",
                _ => "high",
            }),
            Some("adaptive") => Some(effort.as_deref().map_or("medium", from_effort)),
            _ => None,
        },
        None => effort.as_deref().map(from_effort),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translate(body: Value, keep_reasoning: bool) -> Value {
        let raw = RawObject::parse(body.to_string().as_bytes()).unwrap();
        serde_json::from_slice(&to_chat(&raw, keep_reasoning).unwrap().to_vec()).unwrap()
    }

    #[test]
    fn claude_code_shapes_translate() {
        let out = translate(
            json!({
                "model": "m", "max_tokens": 32000, "stream": true,
                "system": [{"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "b"}],
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "there", "cache_control": {"type": "ephemeral"}}]},
                    {"role": "system", "content": [{"type": "text", "text": "# Environment"}]},
                    {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "s"}, {"type": "text", "text": "ok"}, {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"cmd": "ls"}}]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "out", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "next"}]}
                ],
                "tools": [{"name": "Bash", "description": "run", "input_schema": {"type": "object"}, "defer_loading": true}, {"type": "bash_20250124", "name": "bash"}],
                "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
                "thinking": {"type": "enabled", "budget_tokens": 31999},
                "metadata": {"user_id": "{\"session_id\":\"x\"}"}
            }),
            true,
        );
        assert_eq!(
            out,
            json!({
                "model": "m",
                "messages": [
                    {"role": "system", "content": "a\n\nb"},
                    {"role": "user", "content": "hi\n\nthere"},
                    {"role": "system", "content": "# Environment"},
                    {"role": "assistant", "content": "ok", "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "Bash", "arguments": "{\"cmd\":\"ls\"}"}}]},
                    {"role": "tool", "tool_call_id": "toolu_1", "content": "out"},
                    {"role": "user", "content": "next"}
                ],
                "stream": true, "stream_options": {"include_usage": true},
                "tools": [{"type": "function", "function": {"name": "Bash", "description": "run", "parameters": {"type": "object"}}}],
                "tool_choice": "auto", "parallel_tool_calls": false,
                "reasoning_effort": "high"
            })
        );
    }

    #[test]
    fn small_budgets_images_and_bad_turns() {
        let out = translate(
            json!({"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAA"}},
                {"type": "text", "text": "what?"}]}],
                "thinking": {"type": "adaptive"}, "output_config": {"effort": "low"}}),
            false,
        );
        assert_eq!(out["max_tokens"], 100);
        assert_eq!(out["messages"][0]["content"][0]["image_url"]["url"], "data:image/png;base64,AAA");
        assert!(out.get("reasoning_effort").is_none(), "not kept for this dialect");
        let bad = RawObject::parse(br#"{"model":"m","messages":[{"content":"x"}]}"#).unwrap();
        assert_eq!(to_chat(&bad, false).unwrap_err(), AdapterError::request("messages[0]: `role` is required"));
    }
}
