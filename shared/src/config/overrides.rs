//! `post_body_parameter_overrides`: read once into entries to merge and removals to make.
//!
//! A top-level key is either a body field to merge (`thinking: {...}`, `stream_options: {...}`)
//! or, when it names one of the provider's models (decided per request, as discovered models are
//! known only then), that model's own overrides. `__remove__` at either level lists top-level
//! keys to drop or structured removals (`{path, where, where_any, drop_empty}`).

use serde_json::{Map, Value};

use super::error::ConfigError;

/// A provider's overrides, as configured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BodyOverrides {
    /// Every top-level key but `__remove__`, in config order.
    pub entries: Vec<OverrideEntry>,
    /// The global `__remove__`.
    pub remove: Vec<Removal>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OverrideEntry {
    pub key: String,
    /// Merged into the body when `key` is not one of the provider's models.
    pub value: Value,
    /// When `key` names a model: its fields to merge and its `__remove__` (a mapping value only).
    pub as_model: Option<ModelOverrides>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelOverrides {
    pub merge: Map<String, Value>,
    pub remove: Vec<Removal>,
}

/// One `__remove__` item.
#[derive(Clone, Debug, PartialEq)]
pub enum Removal {
    /// A top-level key.
    Key(String),
    /// `path` (dot-separated; a number indexes a list): removed, or with `matching`, the list
    /// there loses the elements that match (and is removed when left empty if `drop_empty`).
    Path { path: Vec<String>, matching: Vec<Matcher>, drop_empty: bool },
}

/// What a list element must look like to be removed.
#[derive(Clone, Debug, PartialEq)]
pub enum Matcher {
    /// `where: {type: function}`: an object with these fields equal.
    Fields(Map<String, Value>),
    /// `where: google_search`: that string itself, or an object with that key.
    Named(String),
}

/// The key of `post_body_parameter_overrides` that removes instead of merging.
pub const REMOVE: &str = "__remove__";

/// Reads `preferences.post_body_parameter_overrides` at `path`; `warn` gets non-fatal findings.
pub(super) fn body_overrides(
    value: &Value,
    path: &str,
    warn: &mut Vec<String>,
) -> Result<Option<BodyOverrides>, ConfigError> {
    let map = match value {
        Value::Null => return Ok(None),
        Value::Object(map) if map.is_empty() => return Ok(None),
        Value::Object(map) => map,
        _ => return Err(ConfigError::invalid(path, "expected a mapping of body fields (and model names)")),
    };
    let mut overrides = BodyOverrides::default();
    for (key, value) in map {
        let at = format!("{path}.{key}");
        if key == REMOVE {
            overrides.remove = removals(value, &at)?;
            continue;
        }
        if key == "stream" {
            warn.push(format!("{at}: the client's request decides whether the upstream streams; ignored"));
            continue;
        }
        let as_model = match value {
            Value::Object(fields) => {
                let mut model = ModelOverrides::default();
                for (field, value) in fields {
                    let field_at = format!("{at}.{field}");
                    match field.as_str() {
                        REMOVE => model.remove = removals(value, &field_at)?,
                        // Only meaningful if `key` is a model; as a body field it merges as given.
                        "stream" => {}
                        _ => {
                            model.merge.insert(field.clone(), value.clone());
                        }
                    }
                }
                Some(model)
            }
            _ => None,
        };
        overrides.entries.push(OverrideEntry { key: key.clone(), value: value.clone(), as_model });
    }
    Ok(Some(overrides))
}

fn removals(value: &Value, path: &str) -> Result<Vec<Removal>, ConfigError> {
    let items = match value {
        Value::Array(items) => items.as_slice(),
        single => std::slice::from_ref(single),
    };
    items.iter().enumerate().map(|(i, item)| removal(item, &format!("{path}[{i}]"))).collect()
}

fn removal(item: &Value, path: &str) -> Result<Removal, ConfigError> {
    let spec = match item {
        Value::String(key) if !key.is_empty() => return Ok(Removal::Key(key.clone())),
        Value::Object(spec) => spec,
        _ => return Err(ConfigError::invalid(path, "expected a key name or {path, where, where_any, drop_empty}")),
    };
    let target = match spec.get("path") {
        Some(Value::String(p)) if !p.is_empty() => p.split('.').map(str::to_owned).collect(),
        _ => return Err(ConfigError::invalid(format!("{path}.path"), "expected a dotted path such as tools or a.b")),
    };
    let mut matching = Vec::new();
    if let Some(condition) = spec.get("where") {
        matching.push(matcher(condition, &format!("{path}.where"))?);
    }
    match spec.get("where_any") {
        None => {}
        Some(Value::Array(conditions)) => {
            for (i, condition) in conditions.iter().enumerate() {
                matching.push(matcher(condition, &format!("{path}.where_any[{i}]"))?);
            }
        }
        Some(_) => return Err(ConfigError::invalid(format!("{path}.where_any"), "expected a list of conditions")),
    }
    let drop_empty = match spec.get("drop_empty") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ConfigError::invalid(format!("{path}.drop_empty"), "expected true or false")),
    };
    for key in spec.keys() {
        if !matches!(key.as_str(), "path" | "where" | "where_any" | "drop_empty") {
            return Err(ConfigError::invalid(
                format!("{path}.{key}"),
                "unknown key (use path, where, where_any, drop_empty)",
            ));
        }
    }
    Ok(Removal::Path { path: target, matching, drop_empty })
}

fn matcher(condition: &Value, path: &str) -> Result<Matcher, ConfigError> {
    match condition {
        Value::Object(fields) => Ok(Matcher::Fields(fields.clone())),
        Value::String(name) => Ok(Matcher::Named(name.clone())),
        _ => Err(ConfigError::invalid(path, "expected {field: value, ...} or a name")),
    }
}
