//! A JSON object kept as its top-level fields in raw form.
//!
//! The gateway reads a handful of top-level fields (`model`, `stream`, `usage`, …) and passes
//! everything else through untouched. Keeping each field's JSON text instead of building a full
//! tree avoids allocating every message and content part of a long conversation twice, and keeps
//! unknown fields byte-for-byte as the client sent them.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;

/// The most top-level fields an object may have. Real requests have a few dozen; a cap keeps the
/// duplicate check (and the work a hostile body can cause) linear in the body's size.
pub const MAX_FIELDS: usize = 256;

/// Top-level fields of a JSON object, in order, each as raw JSON.
#[derive(Clone, Debug, Default)]
pub struct RawObject {
    fields: Vec<(String, Box<RawValue>)>,
}

impl RawObject {
    /// Parses `bytes` as a JSON object.
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    pub fn get(&self, key: &str) -> Option<&RawValue> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| &**v)
    }

    /// The field, unless absent or `null`.
    pub fn present(&self, key: &str) -> Option<&RawValue> {
        self.get(key).filter(|v| v.get() != "null")
    }

    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Deserializes one field; `None` if absent or of another shape.
    pub fn field<'a, T: Deserialize<'a>>(&'a self, key: &str) -> Option<T> {
        self.get(key).and_then(|v| serde_json::from_str(v.get()).ok())
    }

    /// Sets a field to the JSON encoding of `value`, keeping its position if it exists.
    pub fn set(&mut self, key: &str, value: &impl Serialize) -> Result<(), serde_json::Error> {
        let raw = serde_json::value::to_raw_value(value)?;
        match self.fields.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = raw,
            None => self.fields.push((key.to_owned(), raw)),
        }
        Ok(())
    }

    pub fn remove(&mut self, key: &str) {
        self.fields.retain(|(k, _)| k != key);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &RawValue)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), &**v))
    }

    /// The object as JSON with some fields replaced (in place, or appended when absent) and
    /// some left out; every other field is written byte for byte as it was read.
    pub fn to_vec_with(&self, replaced: &[(&str, &RawValue)], removed: &[&str]) -> Vec<u8> {
        let size = self.fields.iter().map(|(k, v)| k.len() + v.get().len() + 4).sum::<usize>() + 2;
        let mut out =
            Vec::with_capacity(size + replaced.iter().map(|(k, v)| k.len() + v.get().len() + 4).sum::<usize>());
        out.push(b'{');
        let mut first = true;
        let mut write = |out: &mut Vec<u8>, key: &str, value: &RawValue| {
            if !first {
                out.push(b',');
            }
            first = false;
            // Writing a string into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, key);
            out.push(b':');
            out.extend_from_slice(value.get().as_bytes());
        };
        for (key, value) in &self.fields {
            if removed.contains(&key.as_str()) {
                continue;
            }
            match replaced.iter().find(|(k, _)| k == key) {
                Some((_, new)) => write(&mut out, key, new),
                None => write(&mut out, key, value),
            }
        }
        for (key, value) in replaced {
            if !self.contains(key) {
                write(&mut out, key, value);
            }
        }
        out.push(b'}');
        out
    }

    pub fn to_vec(&self) -> Vec<u8> {
        // Serializing raw values cannot fail: they are valid JSON by construction.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl<'de> Deserialize<'de> for RawObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = RawObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawObject, A::Error> {
                let mut fields: Vec<(String, Box<RawValue>)> = Vec::with_capacity(16);
                while let Some(key) = map.next_key::<String>()? {
                    if fields.len() == MAX_FIELDS {
                        return Err(serde::de::Error::custom(format_args!(
                            "the object has more than {MAX_FIELDS} top-level fields"
                        )));
                    }
                    let value = map.next_value::<Box<RawValue>>()?;
                    // A repeated key keeps its last value, as JSON parsers commonly do.
                    fields.retain(|(k, _)| *k != key);
                    fields.push((key, value));
                }
                Ok(RawObject { fields })
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

impl Serialize for RawObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.fields.len()))?;
        for (k, v) in &self.fields {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_verbatim_and_can_be_replaced() {
        let text = br#"{"model":"a","messages":[{"role":"user","content":"h\u00e9"}],"x":{"deep":[1,2.50]},"n":null}"#;
        let mut obj = RawObject::parse(text).unwrap();
        assert_eq!(obj.field::<String>("model").as_deref(), Some("a"));
        assert!(obj.present("n").is_none() && obj.contains("n"));
        obj.set("model", &"b").unwrap();
        obj.set("extra", &true).unwrap();
        assert_eq!(
            String::from_utf8(obj.to_vec()).unwrap(),
            r#"{"model":"b","messages":[{"role":"user","content":"h\u00e9"}],"x":{"deep":[1,2.50]},"n":null,"extra":true}"#
        );
        let model = serde_json::value::to_raw_value("c").unwrap();
        let version = serde_json::value::to_raw_value("v1").unwrap();
        assert_eq!(
            String::from_utf8(obj.to_vec_with(&[("model", &model), ("version", &version)], &["x", "n"])).unwrap(),
            r#"{"model":"c","messages":[{"role":"user","content":"h\u00e9"}],"extra":true,"version":"v1"}"#
        );
        assert!(RawObject::parse(b"[1]").is_err());
        let many: String = (0..=MAX_FIELDS).map(|i| format!("\"k{i}\":1")).collect::<Vec<_>>().join(",");
        let error = RawObject::parse(format!("{{{many}}}").as_bytes()).unwrap_err();
        assert!(error.to_string().contains("more than 256 top-level fields"), "{error}");
        assert!(RawObject::parse(b"{\"a\":").is_err());
    }
}
