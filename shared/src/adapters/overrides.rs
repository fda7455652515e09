//! `post_body_parameter_overrides` applied to an upstream request's JSON body, after the
//! request was translated for its dialect: global fields deep-merged, the global `__remove__`,
//! then the requested model's own fields and its `__remove__`. Bodies of providers without
//! overrides are never parsed here.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use serde_json::Value;

use crate::config::{BodyOverrides, Matcher, Removal};

/// Applies `overrides` to a JSON request body (other bodies, such as a multipart upload, pass
/// unchanged). `alias` is the model the client asked for; `is_model` tells whether a top-level
/// key names a model of this provider (then it holds that model's overrides, not a field).
pub fn apply_to_request(
    overrides: &BodyOverrides,
    alias: &str,
    is_model: impl Fn(&str) -> bool,
    request: http::Request<Bytes>,
) -> http::Request<Bytes> {
    let is_json = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return request;
    }
    let (mut parts, body) = request.into_parts();
    let Ok(mut value) = serde_json::from_slice::<Value>(&body) else {
        return http::Request::from_parts(parts, body);
    };
    apply(overrides, alias, is_model, &mut value);
    let body = Bytes::from(serde_json::to_vec(&value).unwrap_or_else(|_| body.to_vec()));
    if parts.headers.contains_key(CONTENT_LENGTH) {
        parts.headers.insert(CONTENT_LENGTH, body.len().into());
    }
    http::Request::from_parts(parts, body)
}

/// Applies `overrides` to `body` (a JSON object; anything else is left alone).
pub fn apply(overrides: &BodyOverrides, alias: &str, is_model: impl Fn(&str) -> bool, body: &mut Value) {
    if !body.is_object() {
        return;
    }
    let mut own = None;
    for entry in &overrides.entries {
        if is_model(&entry.key) {
            if entry.key == alias {
                own = entry.as_model.as_ref();
            }
            continue;
        }
        merge_field(body, &entry.key, &entry.value);
    }
    remove_all(body, &overrides.remove);
    if let Some(own) = own {
        for (key, value) in &own.merge {
            merge_field(body, key, value);
        }
        remove_all(body, &own.remove);
    }
}

/// Mappings merge into mappings, key by key and deeply; any other value replaces what was there.
fn merge_field(target: &mut Value, key: &str, value: &Value) {
    let Value::Object(fields) = target else { return };
    match (fields.get_mut(key), value) {
        (Some(existing @ Value::Object(_)), Value::Object(incoming)) => {
            for (k, v) in incoming {
                merge_field(existing, k, v);
            }
        }
        _ => {
            fields.insert(key.to_owned(), value.clone());
        }
    }
}

fn remove_all(body: &mut Value, removals: &[Removal]) {
    for removal in removals {
        match removal {
            Removal::Key(key) => {
                if let Value::Object(fields) = body {
                    fields.remove(key);
                }
            }
            Removal::Path { path, matching, drop_empty } => remove_at(body, path, matching, *drop_empty),
        }
    }
}

/// Removes what `path` names under `target`; a step that is not there means nothing to remove.
fn remove_at(target: &mut Value, path: &[String], matching: &[Matcher], drop_empty: bool) {
    let [step, rest @ ..] = path else { return };
    if !rest.is_empty() {
        if let Some(next) = child(target, step) {
            remove_at(next, rest, matching, drop_empty);
        }
        return;
    }
    match target {
        Value::Object(map) if matching.is_empty() => {
            map.remove(step.as_str());
        }
        Value::Object(map) => {
            if let Some(Value::Array(items)) = map.get_mut(step.as_str()) {
                items.retain(|item| !matching.iter().any(|m| matches(m, item)));
                if drop_empty && items.is_empty() {
                    map.remove(step.as_str());
                }
            }
        }
        Value::Array(items) if matching.is_empty() => {
            if let Some(i) = step.parse::<usize>().ok().filter(|&i| i < items.len()) {
                items.remove(i);
            }
        }
        _ => {}
    }
}

fn child<'a>(value: &'a mut Value, step: &str) -> Option<&'a mut Value> {
    match value {
        Value::Object(map) => map.get_mut(step),
        Value::Array(items) => step.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
        _ => None,
    }
}

fn matches(matcher: &Matcher, item: &Value) -> bool {
    match (matcher, item) {
        (Matcher::Named(name), Value::String(s)) => s == name,
        (Matcher::Named(name), Value::Object(map)) => map.contains_key(name),
        (Matcher::Fields(want), Value::Object(map)) => want.iter().all(|(k, v)| map.get(k) == Some(v)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::Config;

    fn overrides(yaml: &str) -> BodyOverrides {
        let config = format!(
            "providers:\n  - provider: p\n    base_url: http://127.0.0.1:9/v1\n    model: [m, other]\n    preferences:\n      post_body_parameter_overrides: {yaml}\napi_keys: [{{api: k}}]\n"
        );
        let config = Config::from_yaml_str(&config, &|_| None).unwrap();
        config.providers[0].body_overrides.clone().unwrap()
    }

    fn applied(yaml: &str, alias: &str, mut body: Value) -> Value {
        apply(&overrides(yaml), alias, |k| k == "m" || k == "other", &mut body);
        body
    }

    #[test]
    fn globals_merge_deeply_then_the_models_own_entry_applies() {
        let yaml = "{ generationConfig: { thinkingConfig: { thinkingBudget: 1024 } }, temperature: 0.1, \
                    m: { temperature: 0.7, stream_options: { include_usage: true } }, other: { top_k: 3 } }";
        let body = json!({"model": "up", "generationConfig": {"maxOutputTokens": 10}, "temperature": 1});
        assert_eq!(
            applied(yaml, "m", body.clone()),
            json!({"model": "up", "generationConfig": {"maxOutputTokens": 10, "thinkingConfig": {"thinkingBudget": 1024}},
                   "temperature": 0.7, "stream_options": {"include_usage": true}})
        );
        assert_eq!(applied(yaml, "unlisted", body)["temperature"], 0.1, "another model gets only the globals");
    }

    #[test]
    fn removals_drop_keys_paths_and_matching_list_elements() {
        let yaml = "{ __remove__: [response_format, { path: generationConfig.topK }], \
                    m: { __remove__: [{ path: tools, where: google_search }, \
                                      { path: tools, where_any: [{ type: web_search }], drop_empty: true }] } }";
        let body = json!({
            "response_format": {"type": "json_object"},
            "generationConfig": {"topK": 3, "topP": 0.5},
            "tools": [{"google_search": {}}, {"type": "web_search"}]
        });
        assert_eq!(applied(yaml, "m", body.clone()), json!({"generationConfig": {"topP": 0.5}}));
        let kept = applied(yaml, "other", body);
        assert_eq!(kept["tools"].as_array().unwrap().len(), 2, "another model's removals do not apply");
        assert!(kept.get("response_format").is_none());
    }

    #[test]
    fn a_missing_path_or_a_non_list_is_left_alone_and_indexes_reach_into_lists() {
        let yaml = "{ __remove__: [{ path: a.b.c }, { path: x, where: y }, { path: messages.0.name }] }";
        let body = json!({"x": 1, "messages": [{"role": "user", "name": "n"}]});
        assert_eq!(applied(yaml, "m", body), json!({"x": 1, "messages": [{"role": "user"}]}));
    }

    #[test]
    fn bad_removals_are_config_errors_with_their_path_and_stream_is_not_overridden() {
        let config = |o: &str| {
            Config::from_yaml_str(
                &format!("providers:\n  - provider: p\n    base_url: http://127.0.0.1:9/v1\n    model: [m]\n    preferences:\n      post_body_parameter_overrides: {o}\napi_keys: [{{api: k}}]\n"),
                &|_| None,
            )
        };
        let err = config("{ __remove__: [{ where: x }] }").unwrap_err().to_string();
        assert!(err.contains("post_body_parameter_overrides.__remove__[0].path"), "{err}");
        let warned = config("{ stream: true }").unwrap();
        assert!(warned.warnings[0].contains("post_body_parameter_overrides.stream"), "{:?}", warned.warnings);
        assert!(warned.providers[0].body_overrides.as_ref().unwrap().entries.is_empty());
    }
}
