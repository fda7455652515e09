//! Gemini `GenerateContentResponse` → OpenAI completion. The same reading serves each streamed
//! chunk, since Gemini streams whole responses with partial content.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{finish_reason, SIGNATURE_MARK};
use crate::adapters::usage_json;
use crate::adapters::ResponseCtx;
use crate::usage::Usage;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerateResponse {
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    #[serde(default)]
    pub usage_metadata: Option<UsageMetadata>,
    #[serde(default)]
    pub prompt_feedback: Option<PromptFeedback>,
    #[serde(default)]
    pub response_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PromptFeedback {
    #[serde(default)]
    pub block_reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Candidate {
    #[serde(default)]
    pub content: Option<CandidateContent>,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct CandidateContent {
    #[serde(default)]
    pub parts: Vec<GeminiPart>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GeminiPart {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub thought: bool,
    #[serde(default)]
    pub function_call: Option<FunctionCall>,
    #[serde(default)]
    pub thought_signature: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct FunctionCall {
    pub name: String,
    #[serde(default)]
    pub args: Value,
}

#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UsageMetadata {
    #[serde(default)]
    pub prompt_token_count: u64,
    #[serde(default)]
    pub candidates_token_count: u64,
    #[serde(default)]
    pub total_token_count: u64,
    #[serde(default)]
    pub cached_content_token_count: u64,
    #[serde(default)]
    pub thoughts_token_count: u64,
}

impl UsageMetadata {
    /// OpenAI counts reasoning within completion tokens; Gemini reports thoughts separately.
    pub(crate) fn to_usage(self) -> Usage {
        let completion = self.candidates_token_count + self.thoughts_token_count;
        Usage {
            prompt_tokens: self.prompt_token_count,
            completion_tokens: completion,
            total_tokens: self.total_token_count.max(self.prompt_token_count + completion),
            cached_tokens: self.cached_content_token_count,
            reasoning_tokens: self.thoughts_token_count,
        }
    }
}

/// What one response (or streamed chunk) says, in OpenAI terms.
#[derive(Default)]
pub(crate) struct Reading {
    pub text: String,
    pub reasoning: String,
    /// `(name, arguments JSON, thought signature)`.
    pub calls: Vec<(String, String, Option<String>)>,
    pub finish: Option<&'static str>,
}

impl GenerateResponse {
    pub(crate) fn read(&self) -> Reading {
        let mut reading = Reading::default();
        if let Some(reason) = self.prompt_feedback.as_ref().and_then(|f| f.block_reason.as_ref()) {
            let _ = reason;
            reading.finish = Some("content_filter");
        }
        let Some(candidate) = self.candidates.first() else { return reading };
        for part in candidate.content.iter().flat_map(|c| &c.parts) {
            if let Some(call) = &part.function_call {
                let args = if call.args.is_null() { "{}".to_owned() } else { call.args.to_string() };
                reading.calls.push((call.name.clone(), args, part.thought_signature.clone()));
            } else if let Some(text) = &part.text {
                if part.thought {
                    reading.reasoning.push_str(text);
                } else {
                    reading.text.push_str(text);
                }
            }
        }
        if let Some(reason) = &candidate.finish_reason {
            reading.finish = Some(finish_reason(reason));
        }
        reading
    }
}

/// A tool-call id: `call_<nonce>_<n>`, carrying the thought signature when there is one.
pub(crate) fn call_id(nonce: u64, n: usize, signature: Option<&str>) -> String {
    match signature {
        Some(sig) => format!("call_{nonce:x}_{n}{SIGNATURE_MARK}{sig}"),
        None => format!("call_{nonce:x}_{n}"),
    }
}

/// Translates a non-streamed Gemini reply.
pub fn parse_response(body: &[u8], ctx: &ResponseCtx) -> Result<(Bytes, Option<Usage>), String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the upstream answered with invalid JSON: {e}"))?;
    if let Some(error) = value.get("error") {
        let message = error.get("message").and_then(Value::as_str).unwrap_or("unknown error");
        return Err(format!("the upstream answered with an error: {message}"));
    }
    let response: GenerateResponse =
        serde_json::from_value(value).map_err(|e| format!("the upstream answer is not a Gemini response: {e}"))?;
    let reading = response.read();
    if response.candidates.is_empty() && reading.finish.is_none() {
        return Err("the upstream answer has no candidates".into());
    }
    let tool_calls: Vec<Value> = reading
        .calls
        .iter()
        .enumerate()
        .map(|(n, (name, args, sig))| {
            json!({ "id": call_id(ctx.nonce, n, sig.as_deref()), "type": "function", "function": { "name": name, "arguments": args } })
        })
        .collect();
    let mut message = json!({
        "role": "assistant",
        "content": if reading.text.is_empty() && !tool_calls.is_empty() { Value::Null } else { json!(reading.text) },
        "refusal": null,
    });
    if !reading.reasoning.is_empty() {
        message["reasoning_content"] = json!(reading.reasoning);
    }
    let finish = if tool_calls.is_empty() { reading.finish.unwrap_or("stop") } else { "tool_calls" };
    if !tool_calls.is_empty() {
        message["tool_calls"] = json!(tool_calls);
    }
    let usage = response.usage_metadata.map(UsageMetadata::to_usage);
    let mut completion = json!({
        "id": ctx.completion_id(response.response_id.as_deref().unwrap_or("")),
        "object": "chat.completion",
        "created": ctx.created,
        "model": ctx.alias,
        "choices": [{ "index": 0, "message": message, "logprobs": null, "finish_reason": finish }],
    });
    if let Some(u) = &usage {
        completion["usage"] = usage_json(u);
    }
    Ok((Bytes::from(completion.to_string()), usage))
}
