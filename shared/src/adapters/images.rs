//! Remote images in a chat request: finding them, and replacing them with inlined data URLs for
//! dialects whose upstreams cannot (Gemini, Vertex) or not always (Anthropic-format proxies)
//! fetch a URL themselves.

use std::collections::HashMap;

use serde_json::Value;

use super::raw::RawObject;
use super::Dialect;

/// Whether a channel of this dialect needs http(s) images inlined.
pub fn needs_inlining(dialect: Dialect) -> bool {
    matches!(dialect, Dialect::Anthropic | Dialect::Gemini | Dialect::Vertex)
}

/// The http(s) image URLs of `messages`, each once, in order.
pub fn remote_image_urls(body: &RawObject) -> Vec<String> {
    let mut urls: Vec<String> = Vec::new();
    let messages: Vec<Value> = body.field("messages").unwrap_or_default();
    for part in messages.iter().filter_map(|m| m.get("content")).filter_map(Value::as_array).flatten() {
        if let Some(url) = image_url(part) {
            if (url.starts_with("http://") || url.starts_with("https://")) && !urls.iter().any(|u| u == url) {
                urls.push(url.to_owned());
            }
        }
    }
    urls
}

/// `body` with every image URL found in `data_urls` replaced by its data URL.
pub fn with_inlined_images(body: &RawObject, data_urls: &HashMap<String, String>) -> Result<RawObject, String> {
    let mut messages: Vec<Value> = body.field("messages").unwrap_or_default();
    for part in messages.iter_mut().filter_map(|m| m.get_mut("content")).filter_map(Value::as_array_mut).flatten() {
        let Some(url) = image_url(part) else { continue };
        if let Some(data) = data_urls.get(url) {
            part["image_url"]["url"] = Value::String(data.clone());
        }
    }
    let mut out = body.clone();
    out.set("messages", &messages).map_err(|e| e.to_string())?;
    Ok(out)
}

fn image_url(part: &Value) -> Option<&str> {
    (part.get("type").and_then(Value::as_str) == Some("image_url"))
        .then(|| part.get("image_url").and_then(|i| i.get("url")).and_then(Value::as_str))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_images_are_found_once_and_replaced() {
        let body = RawObject::parse(
            br#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"image_url","image_url":{"url":"https://a/1.png"}},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}]},{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://a/1.png"}}]}]}"#,
        )
        .unwrap();
        assert_eq!(remote_image_urls(&body), vec!["https://a/1.png"]);
        let map = HashMap::from([("https://a/1.png".to_owned(), "data:image/png;base64,BB==".to_owned())]);
        let out = with_inlined_images(&body, &map).unwrap();
        assert!(remote_image_urls(&out).is_empty());
        assert_eq!(String::from_utf8(out.to_vec()).unwrap().matches("BB==").count(), 2);
    }
}
