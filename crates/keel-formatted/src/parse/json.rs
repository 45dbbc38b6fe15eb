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
                field_text(&record, field)
            });
            Ok(RawRecord {
                line: i as i64 + 1,
                raw: clip(&Value::Object(record).to_string()),
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
