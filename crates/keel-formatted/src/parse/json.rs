//! JSON documents holding records (an array of objects) or columns (an object of
//! equal-length arrays, as weather archive APIs answer), at a declared path. A record's
//! "line" is its 1-based index in the document.

use serde_json::{Map, Value};

use crate::parse::{Parsed, RawRecord, Rejection, bound_values, clip, decode};
use crate::plan::{CanonicalColumn, DialectPlan};
use keel_core::spec::JsonLayout;

/// Parses a JSON object.
pub fn parse(
    bytes: &[u8],
    dialect: &DialectPlan,
    columns: &[CanonicalColumn],
    original_name: &str,
) -> Parsed {
    let (text, _) = decode(bytes, dialect.encoding);
    let whole = |rule: &str, reason: String| {
        vec![Err(Rejection {
            line: 0,
            raw: clip(&text),
            column: None,
            rule: rule.into(),
            reason,
        })]
    };
    let doc: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => return whole("json_syntax", e.to_string()),
    };
    if let Some(key) = first_duplicate_key(&text) {
        return whole(
            "json_duplicate_key",
            format!("the key `{key}` occurs twice: which value is meant is unknown"),
        );
    }
    let mut node = &doc;
    for step in &dialect.path {
        match node.get(step) {
            Some(n) => node = n,
            None => return whole("json_path", format!("no `{step}` in the document")),
        }
    }
    let records: Vec<Map<String, Value>> = match (dialect.layout, node) {
        (JsonLayout::Records, Value::Array(items)) => items
            .iter()
            .map(|v| v.as_object().cloned().unwrap_or_default())
            .collect(),
        (JsonLayout::Columns, Value::Object(arrays)) => match transpose(arrays) {
            Ok(rows) => rows,
            Err(reason) => return whole("json_shape", reason),
        },
        _ => {
            return whole(
                "json_shape",
                format!(
                    "expected {:?} at `{}`",
                    dialect.layout,
                    dialect.path.join(".")
                ),
            );
        }
    };
    records
        .into_iter()
        .enumerate()
        .map(|(i, record)| {
            let values = bound_values(dialect, columns.len(), original_name, |_, _, field| {
                field_text(&record, field).map(std::borrow::Cow::Owned)
            });
            Ok(RawRecord {
                line: i as i64 + 1,
                raw: clip(&Value::Object(record).to_string()).into(),
                values,
            })
        })
        .collect()
}

/// The text of a record's field: a string as it is, other values as JSON text, `null` and
/// an absent field as no value. Shared with [`super::ndjson`].
pub(crate) fn field_text(record: &Map<String, Value>, field: &str) -> Option<String> {
    match record.get(field)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        // `1990.0` is the integer 1990 in JSON's number model: an int64 column takes it.
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
                format!("{}", f as i64)
            }
            _ => n.to_string(),
        }),
        other => Some(other.to_string()),
    }
}

/// What kind of JSON value `v` is, for messages.
pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Turns an object of equal-length arrays into one object per index.
fn transpose(arrays: &Map<String, Value>) -> Result<Vec<Map<String, Value>>, String> {
    let mut len: Option<usize> = None;
    for (name, v) in arrays {
        let Value::Array(a) = v else {
            return Err(format!("`{name}` is not an array"));
        };
        match len {
            None => len = Some(a.len()),
            Some(l) if l != a.len() => {
                return Err(format!("`{name}` has {} values, others {l}", a.len()));
            }
            _ => {}
        }
    }
    let len = len.unwrap_or(0);
    Ok((0..len)
        .map(|i| {
            arrays
                .iter()
                .map(|(name, v)| (name.clone(), v.get(i).cloned().unwrap_or(Value::Null)))
                .collect()
        })
        .collect())
}

/// The first key that occurs twice in one object anywhere in `text` (a JSON value), as
/// `path.key`. `serde_json` keeps the last of duplicate keys silently; keel refuses to choose
/// (RELIABILITY C9). `None` also when `text` is not JSON: the parse reports that.
pub fn first_duplicate_key(text: &str) -> Option<String> {
    use serde::Deserializer as _;
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_any(DuplicateFinder(String::new()))
        .ok()
        .flatten()
}

/// Visits a JSON value and returns the first duplicate key found, with its path.
struct DuplicateFinder(String);

impl<'de> serde::de::DeserializeSeed<'de> for DuplicateFinder {
    type Value = Option<String>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for DuplicateFinder {
    type Value = Option<String>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen = std::collections::HashSet::new();
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.0.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.0)
            };
            let inner = map.next_value_seed(DuplicateFinder(path.clone()))?;
            if found.is_none() {
                found = if seen.insert(key) { inner } else { Some(path) };
            }
        }
        Ok(found)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        let mut i = 0;
        while let Some(inner) =
            seq.next_element_seed(DuplicateFinder(format!("{}[{i}]", self.0)))?
        {
            found = found.or(inner);
            i += 1;
        }
        Ok(found)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::first_duplicate_key;

    #[test]
    fn duplicate_keys_are_found_at_any_depth() {
        assert_eq!(first_duplicate_key(r#"{"a": 1, "b": 2}"#), None);
        assert_eq!(
            first_duplicate_key(r#"{"a": 1, "a": 2}"#).as_deref(),
            Some("a")
        );
        assert_eq!(
            first_duplicate_key(r#"{"a": {"x": [1, {"k": 1, "k": 2}]}}"#).as_deref(),
            Some("a.x[1].k")
        );
        assert_eq!(first_duplicate_key("not json"), None);
    }
}
