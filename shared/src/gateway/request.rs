//! What the client asked for, read once from its body: the model, whether it streams, what the
//! routing must know (tools, token inputs), and the body itself, kept raw.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::de::IgnoredAny;
use serde_json::Value;

use super::Inner;
use crate::adapters::multipart::Form;
use crate::adapters::raw::RawObject;
use crate::adapters::Endpoint;
use crate::doors::affinity::conversation_key;
use crate::doors::gemini::Framing;
use crate::doors::Door;
use crate::error::GatewayError;

/// Just the `type` of each tool, read without building the schemas.
#[derive(serde::Deserialize)]
struct ToolType<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<std::borrow::Cow<'a, str>>,
}

/// The types of the body's `tools` (a tool without one is `None`).
fn tool_types(body: &RawObject) -> Vec<ToolType<'_>> {
    body.get("tools").and_then(|t| serde_json::from_str(t.get()).ok()).unwrap_or_default()
}

fn is_web_search(tool: &ToolType<'_>) -> bool {
    tool.kind.as_deref().is_some_and(|k| k.starts_with("web_search"))
}

/// One client request, parsed.
pub(super) struct ClientRequest {
    pub door: Door,
    pub endpoint: Endpoint,
    /// The body as the client sent it, top-level fields kept raw.
    pub body: RawObject,
    pub model: String,
    /// The client's form, for `multipart/form-data` endpoints (transcriptions).
    pub form: Option<Form>,
    pub stream: bool,
    /// The client asked for the usage chunk (`stream_options.include_usage`).
    pub wants_usage: bool,
    pub has_tools: bool,
    /// The conversation carries an image (an `image_url`, `image` or `input_image` part, or
    /// Gemini inline or file data of an image type).
    pub has_images: bool,
    /// Embeddings asked for token ids (`[1, 2]`, `[[1, 2]]`) rather than text.
    pub token_input: bool,
    /// The request declares the vendor's web search tool, which only some dialects serve.
    pub needs_web_search: bool,
    /// A tool type only a channel of the door's own API can run (Responses' `file_search`, …).
    pub native_only_tool: Option<String>,
    /// Client headers an upstream of the door's own API must see (`anthropic-beta`, …).
    pub forward: Vec<(HeaderName, HeaderValue)>,
    /// The conversation the request belongs to (see `doors::affinity`).
    pub conversation: Option<u64>,
}

impl ClientRequest {
    /// A non-streamed request the gateway makes itself (the moderation check).
    pub fn internal(endpoint: Endpoint, body: RawObject, model: &str) -> Self {
        Self {
            door: Door::Chat,
            endpoint,
            body,
            model: model.to_owned(),
            form: None,
            stream: false,
            wants_usage: false,
            has_tools: false,
            has_images: false,
            token_input: false,
            needs_web_search: false,
            native_only_tool: None,
            forward: Vec::new(),
            conversation: None,
        }
    }

    /// Reads a Gemini-door request for `model` (from the path); `stream` from the method,
    /// `sse` from `?alt=sse`.
    pub fn read_gemini(
        headers: &HeaderMap,
        model: &str,
        stream: bool,
        sse: bool,
        body: &[u8],
    ) -> Result<Self, GatewayError> {
        if model.len() > MAX_MODEL_BYTES {
            return Err(GatewayError::BadRequest(format!("the model name is longer than {MAX_MODEL_BYTES} bytes")));
        }
        let body = json_object(body)?;
        if !body.present("contents").is_some_and(|c| c.get().starts_with('[')) {
            return Err(GatewayError::BadRequest("`contents` must be a list of contents".into()));
        }
        let tools: Vec<Value> = body.field("tools").unwrap_or_default();
        let framing = if sse { Framing::Sse } else { Framing::JsonArray };
        let door = Door::Gemini(framing);
        Ok(Self {
            door,
            endpoint: Endpoint::Chat,
            stream,
            wants_usage: true,
            has_images: carries_image(&body, "contents"),
            has_tools: tools
                .iter()
                .any(|t| t.get("functionDeclarations").or_else(|| t.get("function_declarations")).is_some()),
            needs_web_search: tools.iter().any(|t| t.get("googleSearch").or_else(|| t.get("google_search")).is_some()),
            native_only_tool: crate::doors::gemini::unservable_tool(&body),
            form: None,
            token_input: false,
            forward: Vec::new(),
            conversation: conversation_key(door, headers, &body),
            model: model.to_owned(),
            body,
        })
    }

    /// Reads a Responses-door request.
    pub fn read_responses(headers: &HeaderMap, body: &[u8]) -> Result<Self, GatewayError> {
        let body = json_object(body)?;
        let model = required_model(&body)?;
        match body.present("input").map(|i| i.get().as_bytes()[0]) {
            None | Some(b'"' | b'[') => {}
            Some(_) => return Err(GatewayError::BadRequest("`input` must be a string or a list of items".into())),
        }
        let tools = tool_types(&body);
        let (has_tools, needs_web_search) = (!tools.is_empty(), tools.iter().any(is_web_search));
        let native_only_tool = tools
            .iter()
            .map(|t| t.kind.as_deref().unwrap_or("function"))
            .find(|kind| !crate::doors::responses::is_translatable_tool(kind))
            .map(str::to_owned);
        drop(tools);
        let extra_tools = body.get("input").is_some_and(|i| i.get().contains("\"additional_tools\""));
        Ok(Self {
            door: Door::Responses,
            endpoint: Endpoint::Chat,
            stream: body.field::<bool>("stream").unwrap_or(false),
            wants_usage: true,
            has_tools: has_tools || extra_tools,
            has_images: carries_image(&body, "input"),
            needs_web_search,
            native_only_tool,
            form: None,
            token_input: false,
            forward: Vec::new(),
            conversation: conversation_key(Door::Responses, headers, &body),
            model,
            body,
        })
    }

    /// Reads a Messages-door request (Anthropic's shape).
    pub fn read_messages(headers: &HeaderMap, body: &[u8]) -> Result<Self, GatewayError> {
        let body = json_object(body)?;
        let model = required_model(&body)?;
        if !body.present("messages").is_some_and(|m| m.get().starts_with('[')) {
            return Err(GatewayError::BadRequest("`messages` must be a list of messages".into()));
        }
        let tools = tool_types(&body);
        let (has_tools, needs_web_search) = (!tools.is_empty(), tools.iter().any(is_web_search));
        drop(tools);
        let forward = ["anthropic-version", "anthropic-beta"]
            .into_iter()
            .filter_map(|name| {
                let value = headers.get(name)?.clone();
                Some((HeaderName::from_static(name), value))
            })
            .collect();
        Ok(Self {
            door: Door::Messages,
            endpoint: Endpoint::Chat,
            stream: body.field::<bool>("stream").unwrap_or(false),
            wants_usage: true,
            has_tools,
            has_images: carries_image(&body, "messages"),
            needs_web_search,
            native_only_tool: None,
            form: None,
            token_input: false,
            forward,
            conversation: conversation_key(Door::Messages, headers, &body),
            model,
            body,
        })
    }

    /// Reads an OpenAI-door request: a JSON body, or the form of a transcription.
    pub async fn read(
        inner: &Inner,
        endpoint: Endpoint,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Self, GatewayError> {
        if endpoint == Endpoint::Transcriptions {
            let content_type = headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
            read_form(inner, content_type, body).await
        } else {
            read_json(&body, endpoint)
        }
    }
}

/// A transcription form: `file` and `model` required, every other field passed on.
async fn read_form(inner: &Inner, content_type: Option<&str>, body: Bytes) -> Result<ClientRequest, GatewayError> {
    let limit = inner.config.global.max_audio_bytes;
    if body.len() > limit {
        return Err(GatewayError::PayloadTooLarge { limit });
    }
    let content_type = content_type.unwrap_or_default();
    let form = Form::parse(content_type, body).await.map_err(GatewayError::BadRequest)?;
    if !form.has_file("file") {
        return Err(GatewayError::BadRequest(
            "`file` is required (an audio file in a form field called `file`)".into(),
        ));
    }
    let model = match form.text("model") {
        Some(m) if !m.trim().is_empty() => m.trim().to_owned(),
        _ => return Err(GatewayError::BadRequest("`model` is required".into())),
    };
    let body = RawObject::parse(b"{}").map_err(|e| GatewayError::Internal(e.to_string()))?;
    let mut request = ClientRequest::internal(Endpoint::Transcriptions, body, &model);
    request.form = Some(form);
    Ok(request)
}

/// The longest model name accepted (real ones are under 100 bytes).
pub(super) const MAX_MODEL_BYTES: usize = 256;

/// A JSON body as a raw object, or the 400 that says why it is not one.
pub(super) fn json_object(body: &[u8]) -> Result<RawObject, GatewayError> {
    RawObject::parse(body).map_err(|e| {
        GatewayError::BadRequest(if e.to_string().contains("top-level fields") {
            format!("the request body is refused: {e}")
        } else if e.is_data() {
            "the request body must be a JSON object".to_owned()
        } else {
            format!("the request body is not valid JSON: {e}")
        })
    })
}

/// The body's `model`, required and a non-empty string.
pub(super) fn required_model(body: &RawObject) -> Result<String, GatewayError> {
    match body.present("model") {
        None => Err(GatewayError::BadRequest("`model` is required".into())),
        Some(raw) => match serde_json::from_str::<String>(raw.get()) {
            Ok(m) if m.len() > MAX_MODEL_BYTES => {
                Err(GatewayError::BadRequest(format!("`model` is longer than {MAX_MODEL_BYTES} bytes")))
            }
            Ok(m) if !m.is_empty() => Ok(m),
            _ => Err(GatewayError::BadRequest("`model` must be a non-empty string".into())),
        },
    }
}

/// One message of a chat request, as far as validation looks at it.
#[derive(serde::Deserialize)]
struct MessageProbe<'a> {
    #[serde(borrow, default)]
    role: Option<std::borrow::Cow<'a, str>>,
}

/// The chat request's shape, checked before any upstream call, with a 400 naming the field. It
/// reads `messages` once more without building it (no tree), and a few scalar fields.
fn check_chat(body: &RawObject) -> Result<(), GatewayError> {
    let bad = |message: String| Err(GatewayError::BadRequest(message));
    let messages = match body.present("messages") {
        Some(raw) if raw.get().starts_with('[') => raw,
        _ => return bad("`messages` must be a list of messages".into()),
    };
    let probes: Vec<MessageProbe<'_>> = match serde_json::from_str(messages.get()) {
        Ok(probes) => probes,
        Err(_) => return bad("`messages` must be a list of message objects, each with a string `role`".into()),
    };
    if let Some(i) = probes.iter().position(|m| m.role.as_deref().is_none_or(str::is_empty)) {
        return bad(format!("`messages[{i}].role` is required"));
    }
    for field in ["temperature", "top_p", "frequency_penalty", "presence_penalty"] {
        if body.present(field).is_some_and(|v| serde_json::from_str::<f64>(v.get()).is_err()) {
            return bad(format!("`{field}` must be a number"));
        }
    }
    for field in ["max_tokens", "max_completion_tokens", "n"] {
        if body.present(field).is_some_and(|v| serde_json::from_str::<u64>(v.get()).is_err()) {
            return bad(format!("`{field}` must be a whole number"));
        }
    }
    if body.present("stream").is_some_and(|v| v.get() != "true" && v.get() != "false") {
        return bad("`stream` must be true or false".into());
    }
    Ok(())
}

fn read_json(body: &[u8], endpoint: Endpoint) -> Result<ClientRequest, GatewayError> {
    let body = json_object(body)?;
    let model = required_model(&body)?;
    let chat = endpoint == Endpoint::Chat;
    if chat {
        check_chat(&body)?;
    }
    // Only chat is streamed; the other endpoints answer one JSON document.
    let stream = chat && body.field::<bool>("stream").unwrap_or(false);
    let wants_usage = body
        .field::<Value>("stream_options")
        .and_then(|o| o.get("include_usage").and_then(Value::as_bool))
        .unwrap_or(false);
    let has_tools =
        chat && ["tools", "functions"].iter().any(|k| body.field::<Vec<IgnoredAny>>(k).is_some_and(|t| !t.is_empty()));
    let has_images = chat && carries_image(&body, "messages");
    let token_input =
        endpoint == Endpoint::Embeddings && body.present("input").is_some_and(|raw| is_token_list(raw.get()));
    Ok(ClientRequest {
        door: Door::Chat,
        endpoint,
        conversation: if chat { conversation_key(Door::Chat, &HeaderMap::new(), &body) } else { None },
        body,
        model,
        form: None,
        stream,
        wants_usage,
        has_tools,
        has_images,
        token_input,
        needs_web_search: false,
        native_only_tool: None,
        forward: Vec::new(),
    })
}

/// Whether `field` of the body holds an image in any door's spelling. A text without the word
/// "image" (almost every request) is answered without parsing it.
fn carries_image(body: &RawObject, field: &str) -> bool {
    let Some(raw) = body.present(field) else { return false };
    if memchr::memmem::find(raw.get().as_bytes(), b"image").is_none() {
        return false;
    }
    serde_json::from_str::<Value>(raw.get()).is_ok_and(|v| holds_image(&v))
}

fn holds_image(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().any(holds_image),
        Value::Object(map) => {
            let typed = map.get("type").and_then(Value::as_str);
            if matches!(typed, Some("image_url" | "image" | "input_image")) {
                return true;
            }
            let inline = ["inlineData", "inline_data", "fileData", "file_data"].iter().filter_map(|k| map.get(*k));
            for data in inline {
                let mime = data.get("mimeType").or_else(|| data.get("mime_type")).and_then(Value::as_str);
                if mime.is_some_and(|m| m.starts_with("image/")) {
                    return true;
                }
            }
            map.values().any(|v| matches!(v, Value::Array(_) | Value::Object(_)) && holds_image(v))
        }
        _ => false,
    }
}

/// Whether an embeddings `input` is token ids: a list whose first item is a number or a list.
/// (OpenAI takes a string, a list of strings, a list of ids or a list of id lists, never mixed;
/// looking at the raw text spares parsing a large input twice.)
fn is_token_list(raw_input: &str) -> bool {
    raw_input
        .trim_start()
        .strip_prefix('[')
        .map(str::trim_start)
        .and_then(|rest| rest.chars().next())
        .is_some_and(|first| first.is_ascii_digit() || first == '-' || first == '[')
}

#[cfg(test)]
mod tests {
    use super::is_token_list;

    #[test]
    fn token_inputs_are_told_from_text() {
        assert!(is_token_list("[1, 2, 3]"));
        assert!(is_token_list(" [ [1, 2], [3] ]"));
        assert!(!is_token_list(r#"["one", "two"]"#));
        assert!(!is_token_list(r#""text""#));
        assert!(!is_token_list("[]"));
    }
}
