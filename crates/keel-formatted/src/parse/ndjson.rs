//! Newline-delimited JSON (NDJSON, JSON Lines): one JSON object per line, as the `sql`
//! collector lands table rows. A record's line is its 1-based physical line; blank lines are
//! skipped, and a line that is not a JSON object is rejected on its own, never the whole
//! object. Lines are read one at a time: no document tree of the whole object is built.
//!
//! See: <https://github.com/ndjson/ndjson-spec>

use serde_json::Value;

use crate::parse::{
    Blocks, MAX_RECORD_BYTES, Parsed, RawRecord, Rejection, bound_values, clip, json,
};
use crate::plan::{CanonicalColumn, DialectPlan};

/// Parses an NDJSON stream, handing each line's record (or rejection) to `out` as it is
/// read; what is held is one block and the line that straddles it. A line longer than
/// [`MAX_RECORD_BYTES`] is rejected (`size_limit`) and skipped.
///
/// # Errors
/// When `input` fails (a corrupt compressed stream under it).
pub fn parse_stream(
    input: impl std::io::Read,
    dialect: &DialectPlan,
    columns: &[CanonicalColumn],
    original_name: &str,
    mut out: impl FnMut(Result<RawRecord, Rejection>),
) -> std::io::Result<()> {
    let mut blocks = Blocks::new(input, dialect.encoding);
    let mut line_no = 0i64;
    // Inside an over-long line already rejected: its rest is dropped.
    let mut skipping = false;
    while !blocks.eof {
        blocks.fill()?;
        let (eof, had_errors) = (blocks.eof, blocks.had_errors);
        let text = &blocks.text;
        let mut start = 0;
        loop {
            let (line, next) = match text[start..].find('\n') {
                Some(i) => (&text[start..start + i], start + i + 1),
                None if eof && start < text.len() => (&text[start..], text.len()),
                None => break,
            };
            start = next;
            if skipping {
                skipping = false;
                continue;
            }
            line_no += 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            if !line.trim().is_empty() {
                out(parse_line(
                    line,
                    line_no,
                    had_errors,
                    dialect,
                    columns,
                    original_name,
                ));
            }
        }
        blocks.text.drain(..start);
        if !skipping && blocks.text.len() > MAX_RECORD_BYTES {
            line_no += 1;
            out(Err(Rejection {
                line: line_no,
                raw: clip(&blocks.text),
                column: None,
                rule: "size_limit".into(),
                reason: format!("the line is longer than {MAX_RECORD_BYTES} bytes"),
            }));
            skipping = true;
        }
        if skipping {
            blocks.text.clear();
        }
    }
    Ok(())
}

/// Parses an NDJSON object held in memory.
pub fn parse(
    bytes: &[u8],
    dialect: &DialectPlan,
    columns: &[CanonicalColumn],
    original_name: &str,
) -> Parsed {
    let mut out = Vec::new();
    // Reading a slice cannot fail.
    let _ = parse_stream(bytes, dialect, columns, original_name, |r| {
        out.push(r.map(RawRecord::into_owned));
    });
    out
}

fn parse_line(
    line: &str,
    line_no: i64,
    had_errors: bool,
    dialect: &DialectPlan,
    columns: &[CanonicalColumn],
    original_name: &str,
) -> Result<RawRecord<'static>, Rejection> {
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
        json::field_text(record, field).map(std::borrow::Cow::Owned)
    });
    Ok(RawRecord {
        line: line_no,
        raw: clip(line).into(),
        values,
    })
}
