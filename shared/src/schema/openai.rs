//! The OpenAI chat-completions request, as read by adapters that translate it to another dialect.

use serde::Deserialize;
use serde_json::Value;

/// One message of `messages`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Message {
    pub role: String,
    #[serde(default)]
    pub content: Option<Content>,
    #[serde(default)]
    pub tool_calls: Option<Vec<ToolCall>>,
    #[serde(default)]
    pub tool_call_id: Option<String>,
    /// Reasoning of an earlier assistant turn, as gateways return it.
    #[serde(default)]
    pub reasoning_content: Option<String>,
}

/// `content`: a string or a list of parts.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Part>),
}

impl Content {
    /// All text parts joined (images and other parts are left out).
    pub fn text(&self) -> String {
        match self {
            Content::Text(t) => t.clone(),
            Content::Parts(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    Part::Text { text } => Some(text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(""),
        }
    }
}

/// One content part.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type")]
pub enum Part {
    #[serde(rename = "text")]
    Text { text: String },
    #[serde(rename = "image_url")]
    ImageUrl { image_url: ImageUrl },
    /// Audio, files and parts this gateway does not translate.
    #[serde(other)]
    Other,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ImageUrl {
    pub url: String,
}

/// An assistant's call of a tool.
#[derive(Clone, Debug, Deserialize)]
pub struct ToolCall {
    #[serde(default)]
    pub id: String,
    pub function: FunctionCall,
}

#[derive(Clone, Debug, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    /// JSON text, as OpenAI sends it.
    #[serde(default)]
    pub arguments: String,
}

/// One entry of `tools`: a function, or `{"type": "web_search"}` (the gateway's name for a
/// vendor's own search tool, which the door translations emit).
#[derive(Clone, Debug, Deserialize)]
pub struct Tool {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub function: Option<FunctionDef>,
}

impl Tool {
    /// The function, for `type: "function"` (or untyped) entries.
    pub fn as_function(&self) -> Option<&FunctionDef> {
        self.function.as_ref().filter(|_| self.kind.is_empty() || self.kind == "function")
    }

    pub fn is_web_search(&self) -> bool {
        self.kind == WEB_SEARCH_TOOL
    }
}

/// The tool type the doors use for a vendor's built-in web search.
pub const WEB_SEARCH_TOOL: &str = "web_search";

#[derive(Clone, Debug, Deserialize)]
pub struct FunctionDef {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Option<Value>,
}

/// `stop`: one string or several.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s],
            Stop::Many(v) => v,
        }
    }
}

/// A `data:` URL split into media type and base64 payload.
pub fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media_type = meta.strip_suffix(";base64")?;
    Some((media_type, data))
}
