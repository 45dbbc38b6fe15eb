//! Delimited text: split with the `csv` crate per the dialect, header mapped to canonical
//! columns, every record kept with its line number and raw text.

use crate::parse::{Parsed, RawRecord, Rejection, bound_values, clip, decode};
use crate::plan::{CanonicalColumn, DialectPlan};

/// Parses a delimited-text object.
pub fn parse(
    bytes: &[u8],
    dialect: &DialectPlan,
    columns: &[CanonicalColumn],
    original_name: &str,
) -> Parsed {
    let (text, had_errors) = decode(bytes, dialect.encoding);
    let text: &str = &text;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(dialect.delimiter)
        .quote(dialect.quote)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut header: Option<Vec<String>> = None;
    // Index in the record of each canonical column's field, or why it is missing.
    let mut field_index: Vec<Option<usize>> = Vec::new();
    let mut missing: Vec<(usize, String)> = Vec::new();
    loop {
        let start = reader.position().byte() as usize;
        let line = reader.position().line() as i64;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let end = (reader.position().byte() as usize).min(text.len());
                out.push(Err(Rejection {
                    line,
                    raw: clip(raw_between(text, start, end)),
                    column: None,
                    rule: "csv_syntax".into(),
                    reason: e.to_string(),
                }));
                continue;
            }
        }
        let line = record.position().map(|p| p.line() as i64).unwrap_or(line);
        let start = record
            .position()
            .map(|p| p.byte() as usize)
            .unwrap_or(start);
        let end = (reader.position().byte() as usize).min(text.len());
        let (line, start) = skip_terminator(text, line, start, end);
        let raw = raw_between(text, start, end);
        let Some(names) = &header else {
            let names: Vec<String> = record
                .iter()
                .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
                .collect();
            (field_index, missing) = map_header(&names, dialect, columns);
            header = Some(names);
            continue;
        };
        if record.len() != names.len() {
            out.push(Err(Rejection {
                line,
                raw: clip(raw),
                column: None,
                rule: "field_count".into(),
                reason: format!("expected {} fields, found {}", names.len(), record.len()),
            }));
            continue;
        }
        if let Some((idx, field)) = missing.first() {
            out.push(Err(Rejection {
                line,
                raw: clip(raw),
                column: Some(columns[*idx].name.clone()),
                rule: "missing_column".into(),
                reason: format!("the header has no field `{field}`"),
            }));
            continue;
        }
        if had_errors && raw.contains('\u{fffd}') {
            out.push(Err(Rejection {
                line,
                raw: clip(raw),
                column: None,
                rule: "encoding".into(),
                reason: format!("bytes that are not valid {}", dialect.encoding.name()),
            }));
            continue;
        }
        let values = bound_values(dialect, columns.len(), original_name, |i, _| {
            field_index[i]
                .and_then(|fi| record.get(fi))
                .map(str::to_string)
        });
        out.push(Ok(RawRecord {
            line,
            raw: clip(raw),
            values,
        }));
    }
    out
}

/// The field index of each canonical column, and the required fields the header lacks.
fn map_header(
    names: &[String],
    dialect: &DialectPlan,
    columns: &[CanonicalColumn],
) -> (Vec<Option<usize>>, Vec<(usize, String)>) {
    let mut index = vec![None; columns.len()];
    let mut missing = Vec::new();
    for (i, binding) in dialect.bindings.iter().enumerate() {
        let Some(field) = binding.as_ref().and_then(|b| b.field.as_ref()) else {
            continue;
        };
        match names.iter().position(|n| n == field) {
            Some(fi) => index[i] = Some(fi),
            None if columns[i].required => missing.push((i, field.clone())),
            None => {}
        }
    }
    (index, missing)
}

/// With CRLF endings the reader stops a record at `\r`, so the next record's position
/// points at the `\n` still on the previous line. Step over it to the record's first byte
/// and its real line number.
fn skip_terminator(text: &str, mut line: i64, mut start: usize, end: usize) -> (i64, usize) {
    let bytes = text.as_bytes();
    while start < end && matches!(bytes.get(start), Some(b'\r' | b'\n')) {
        if bytes[start] == b'\n' {
            line += 1;
        }
        start += 1;
    }
    (line, start)
}

fn raw_between(text: &str, start: usize, end: usize) -> &str {
    let end = end.max(start).min(text.len());
    let start = start.min(end);
    let mut s = start;
    while !text.is_char_boundary(s) {
        s -= 1;
    }
    let mut e = end;
    while !text.is_char_boundary(e) {
        e += 1;
    }
    text[s..e].trim_end_matches(['\r', '\n'])
}
