//! Newline-delimited JSON (NDJSON, JSON Lines): one JSON object per line, as the `sql`
//! collector lands table rows. A record's line is its 1-based physical line; blank lines are
//! skipped, and a line that is not a JSON object is rejected on its own, never the whole
//! object. Lines are read one at a time: no document tree of the whole object is built.
//!
//! See: <https://github.com/ndjson/ndjson-spec>

use serde_json::Value;

use crate::parse::{Parsed, RawRecord, Rejection, bound_values, clip, decode, json};
use crate::plan::{CanonicalColumn, DialectPlan};

/// Parses an NDJSON object.
pub fn parse(
    bytes: &[u8],
    dialect: &DialectPlan,
    columns: &[CanonicalColumn],
    original_name: &str,
) -> Parsed {
    let (text, had_errors) = decode(bytes, dialect.encoding);
    let mut out = Vec::new();
    // `split('\n')` rather than `lines()`: the count of pieces is the physical line number,
    // and a `\r` is only stripped where it ends a line.
    for (i, line) in text.split('\n').enumerate() {
        let line_no = i as i64 + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        out.push(parse_line(
            line,
            line_no,
            had_errors,
            dialect,
            columns,
            original_name,
        ));
    }
    out
}

fn parse_line(
    line: &str,
    line_no: i64,
    had_errors: bool,
    dialect: &DialectPlan,
    columns: &[CanonicalColumn],
    original_name: &str,
) -> Result<RawRecord, Rejection> {
    let reject = |rule: &str, reason: String| Rejection {
        line: line_no,
        raw: clip(line),
        column: None,
        rule: rule.into(),
        reason,
    };
    if had_errors && line.contains('\u{fffd}') {
        return Err(reject(
            "encoding",
            format!("bytes that are not valid {}", dialect.encoding.name()),
        ));
    }
    let value: Value =
        serde_json::from_str(line).map_err(|e| reject("json_syntax", e.to_string()))?;
    if let Some(key) = json::first_duplicate_key(line) {
        return Err(reject(
            "json_duplicate_key",
            format!("the key `{key}` occurs twice: which value is meant is unknown"),
        ));
    }
    let mut node = &value;
    for step in &dialect.path {
        node = node
            .get(step)
            .ok_or_else(|| reject("json_path", format!("no `{step}` in the line")))?;
    }
    let Value::Object(record) = node else {
        return Err(reject(
            "json_shape",
            format!("expected a JSON object, found {}", json::kind_of(node)),
        ));
    };
    let values = bound_values(dialect, columns.len(), original_name, |_, _, field| {
        json::field_text(record, field)
    });
    Ok(RawRecord {
        line: line_no,
        raw: clip(line),
        values,
    })
}
