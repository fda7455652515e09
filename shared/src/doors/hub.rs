//! Reading the gateway's internal language, OpenAI chat completions, on the way out to a door
//! that speaks another API: a streamed chunk becomes a few neutral events, a whole completion a
//! neutral reply. Door encoders are state machines over these.

use serde::Deserialize;
use serde_json::Value;

use crate::stream::StreamError;
use crate::usage::Usage;

/// One thing a chat-completion chunk says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HubEvent {
    /// Assistant text.
    Text(String),
    /// Reasoning (thinking) text.
    Reasoning(String),
    /// A tool call begins: OpenAI's tool index, its id and the tool's name.
    ToolStart {
        index: usize,
        id: String,
        name: String,
    },
    /// More argument text of the tool call at `index`.
    ToolArguments {
        index: usize,
        arguments: String,
    },
    /// The completion's `finish_reason` (`stop`, `length`, `tool_calls`, `content_filter`).
    Finish(String),
    Usage(Usage),
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<Value>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Default, Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    /// OpenRouter and some others name it `reasoning`.
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

/// The events of one chunk, in the order a client should see them.
pub(crate) fn read_chunk(payload: &[u8], out: &mut Vec<HubEvent>) -> Result<(), StreamError> {
    let chunk: Chunk = serde_json::from_slice(payload)
        .map_err(|e| StreamError::Corrupt(format!("a completion chunk could not be read: {e}")))?;
    for choice in chunk.choices.into_iter().take(1) {
        let delta = choice.delta.unwrap_or_default();
        if let Some(text) = delta.reasoning_content.or(delta.reasoning).filter(|t| !t.is_empty()) {
            out.push(HubEvent::Reasoning(text));
        }
        if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
            out.push(HubEvent::Text(text));
        }
        for (n, call) in delta.tool_calls.into_iter().flatten().enumerate() {
            let index = call.index.unwrap_or(n);
            let (name, arguments) = match call.function {
                Some(f) => (f.name, f.arguments),
                None => (None, None),
            };
            if let Some(name) = name.filter(|n| !n.is_empty()) {
                let id = call.id.unwrap_or_else(|| format!("call_{index}"));
                out.push(HubEvent::ToolStart { index, id, name });
            }
            if let Some(arguments) = arguments.filter(|a| !a.is_empty()) {
                out.push(HubEvent::ToolArguments { index, arguments });
            }
        }
        if let Some(reason) = choice.finish_reason {
            out.push(HubEvent::Finish(reason));
        }
    }
    if let Some(usage) = chunk.usage.as_ref().and_then(Usage::from_openai) {
        out.push(HubEvent::Usage(usage));
    }
    Ok(())
}

/// A whole chat completion, read for a door.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct HubReply {
    pub id: String,
    pub text: String,
    pub reasoning: String,
    pub tool_calls: Vec<HubToolCall>,
    pub finish: Option<String>,
    pub usage: Option<Usage>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HubToolCall {
    pub id: String,
    pub name: String,
    /// JSON text.
    pub arguments: String,
}

#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    id: String,
    #[serde(default)]
    choices: Vec<CompletionChoice>,
    #[serde(default)]
    usage: Option<Value>,
}

#[derive(Deserialize)]
struct CompletionChoice {
    #[serde(default)]
    message: Option<CompletionMessage>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct CompletionMessage {
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<CompletionToolCall>>,
}

#[derive(Deserialize)]
struct CompletionToolCall {
    #[serde(default)]
    id: String,
    function: CompletionFunction,
}

#[derive(Deserialize)]
struct CompletionFunction {
    name: String,
    #[serde(default)]
    arguments: String,
}

/// Reads a chat completion (as the adapters produce it).
pub(crate) fn read_reply(body: &[u8]) -> Result<HubReply, String> {
    let completion: Completion =
        serde_json::from_slice(body).map_err(|e| format!("the completion could not be read: {e}"))?;
    let mut reply = HubReply {
        id: completion.id,
        usage: completion.usage.as_ref().and_then(Usage::from_openai),
        ..HubReply::default()
    };
    if let Some(choice) = completion.choices.into_iter().next() {
        reply.finish = choice.finish_reason;
        if let Some(message) = choice.message {
            reply.text = match message.content {
                Some(Value::String(text)) => text,
                Some(Value::Array(parts)) => {
                    parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("")
                }
                _ => String::new(),
            };
            reply.reasoning = message.reasoning_content.or(message.reasoning).unwrap_or_default();
            reply.tool_calls = message
                .tool_calls
                .into_iter()
                .flatten()
                .map(|c| HubToolCall { id: c.id, name: c.function.name, arguments: c.function.arguments })
                .collect();
        }
    }
    Ok(reply)
}

/// The arguments of a tool call as a JSON value (`{}` when empty, a string when not JSON).
pub(crate) fn arguments_value(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return Value::Object(Default::default());
    }
    serde_json::from_str(arguments).unwrap_or_else(|_| Value::String(arguments.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_become_events_in_order() {
        let mut out = Vec::new();
        read_chunk(
            br#"{"choices":[{"index":0,"delta":{"reasoning_content":"hm","content":"hi","tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\""}}]},"finish_reason":null}]}"#,
            &mut out,
        )
        .unwrap();
        read_chunk(br#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#, &mut out).unwrap();
        assert_eq!(
            out,
            vec![
                HubEvent::Reasoning("hm".into()),
                HubEvent::Text("hi".into()),
                HubEvent::ToolStart { index: 0, id: "c1".into(), name: "f".into() },
                HubEvent::ToolArguments { index: 0, arguments: "{\"a\"".into() },
                HubEvent::Finish("tool_calls".into()),
                HubEvent::Usage(Usage { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5, ..Usage::default() }),
            ]
        );
        assert!(matches!(read_chunk(b"nope", &mut out), Err(StreamError::Corrupt(_))));
    }
}
