//! How the Responses door's tools are named in the hub, and back: a `namespace` tool's functions
//! become `<namespace>__<name>`, a `custom` (free-form) tool a function of one string `input`.
//! Replies turn hub calls back into `function_call` items with their namespace, or
//! `custom_tool_call` items with the free-form input.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::adapters::raw::RawObject;

/// The one parameter of a free-form tool's function in the hub.
pub const CUSTOM_INPUT: &str = "input";

/// The hub name of a function, in a namespace or not.
pub fn flat_name(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(namespace) => format!("{namespace}__{name}"),
        None => name.to_owned(),
    }
}

/// What a hub tool call is in the client's request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallKind<'a> {
    Function { namespace: Option<&'a str>, name: &'a str },
    Custom { name: &'a str },
}

/// The request's namespaced and free-form tools, by hub name.
#[derive(Clone, Debug, Default)]
pub struct ToolMap {
    custom: HashSet<String>,
    namespaced: HashMap<String, (String, String)>,
}

impl ToolMap {
    /// Reads `tools` (and the tools of `additional_tools` input items).
    pub fn of(body: &RawObject) -> Self {
        let mut map = Self::default();
        let mut tools: Vec<Value> = body.field("tools").unwrap_or_default();
        if let Some(Value::Array(items)) = body.field::<Value>("input") {
            for item in items.iter().filter(|i| i["type"] == "additional_tools") {
                tools.extend(item["tools"].as_array().cloned().unwrap_or_default());
            }
        }
        for tool in &tools {
            let name = tool["name"].as_str().unwrap_or_default();
            match tool["type"].as_str() {
                Some("custom") => {
                    map.custom.insert(name.to_owned());
                }
                Some("namespace") => {
                    for inner in tool["tools"].as_array().into_iter().flatten() {
                        let inner_name = inner["name"].as_str().unwrap_or_default();
                        map.namespaced
                            .insert(flat_name(Some(name), inner_name), (name.to_owned(), inner_name.to_owned()));
                    }
                }
                _ => {}
            }
        }
        map
    }

    /// What the hub call `name` is.
    pub fn call<'a>(&'a self, name: &'a str) -> CallKind<'a> {
        if self.custom.contains(name) {
            return CallKind::Custom { name };
        }
        match self.namespaced.get(name) {
            Some((namespace, inner)) => CallKind::Function { namespace: Some(namespace), name: inner },
            None => CallKind::Function { namespace: None, name },
        }
    }
}
