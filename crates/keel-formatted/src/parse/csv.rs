//! Delimited text: split with the `csv` crate per the dialect, header mapped to canonical
//! columns, every record kept with its line number and raw text.

use crate::parse::{Parsed, RawRecord, Rejection, bound_values, clip, decode};
use crate::plan::{CanonicalColumn, DialectPlan};

/// Parses a delimited-text object into its records.
pub fn parse(
    bytes: &[u8],
    dialect: &DialectPlan,
    columns: &[CanonicalColumn],
    original_name: &str,
) -> Parsed {
    let mut out = Vec::new();
    parse_each(bytes, dialect, columns, original_name, |r| out.push(r));
    out
}

/// Parses a delimited-text object, handing each record (or rejection) to `out` as it is
/// read, so that a caller converting them holds one record at a time, not all of them.
pub fn parse_each(
    bytes: &[u8],
    dialect: &DialectPlan,
    columns: &[CanonicalColumn],
    original_name: &str,
    mut out: impl FnMut(Result<RawRecord, Rejection>),
) {
    if looks_binary(bytes, dialect.encoding) {
        return out(Err(Rejection {
            line: 0,
            raw: clip(&String::from_utf8_lossy(&bytes[..bytes.len().min(256)])),
            column: None,
            rule: "binary".into(),
            reason: format!(
                "`{original_name}` holds NUL bytes: it is not {} text",
                dialect.encoding.name()
            ),
        }));
    }
    let (text, had_errors) = decode(bytes, dialect.encoding);
    let text: &str = &text;
    // Lines before the header (an export's title, station, units) are not records.
    let base = preamble_end(text, dialect.preamble_lines);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(dialect.delimiter)
        .quote(dialect.quote)
        .escape(dialect.escape)
        .double_quote(dialect.escape.is_none())
        .has_headers(false)
        .flexible(true)
        .from_reader(&text.as_bytes()[base..]);
    let mut record = csv::StringRecord::new();
    let mut header: Option<Vec<String>> = None;
    // Index in the record of each canonical column's fields (one per part; empty when
    // not found), or why it is missing.
    let mut field_index: Vec<Vec<usize>> = Vec::new();
    let mut missing: Vec<(usize, String)> = Vec::new();
    let mut lines = LineCounter::default();
    loop {
        let start = base + reader.position().byte() as usize;
        let line = lines.at(text, skip_terminator(text, start, text.len()));
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let end = (base + reader.position().byte() as usize).min(text.len());
                out(Err(Rejection {
                    line,
                    raw: clip(raw_between(text, start, end)),
                    column: None,
                    rule: "csv_syntax".into(),
                    reason: e.to_string(),
                }));
                continue;
            }
        }
        let start = record
            .position()
            .map(|p| base + p.byte() as usize)
            .unwrap_or(start);
        let end = (base + reader.position().byte() as usize).min(text.len());
        let start = skip_terminator(text, start, end);
        let line = lines.at(text, start);
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
            out(Err(Rejection {
                line,
                raw: clip(raw),
                column: None,
                rule: "field_count".into(),
                reason: format!("expected {} fields, found {}", names.len(), record.len()),
            }));
            continue;
        }
        if dialect.escape.is_none() && raw.bytes().filter(|&b| b == dialect.quote).count() % 2 == 1
        {
            out(Err(Rejection {
                line,
                raw: clip(raw),
                column: None,
                rule: "csv_syntax".into(),
                reason: format!(
                    "a quoted field opened here is never closed (the record runs to line {})",
                    lines.at(text, end)
                ),
            }));
            continue;
        }
        if let Some(fi) = record.iter().position(|f| f.len() > MAX_FIELD_BYTES) {
            let column = field_index
                .iter()
                .position(|parts| parts.contains(&fi))
                .map(|c| columns[c].name.clone());
            out(Err(Rejection {
                line,
                raw: clip(raw),
                column,
                rule: "size_limit".into(),
                reason: format!(
                    "field {} holds {} bytes; the limit is {MAX_FIELD_BYTES}",
                    fi + 1,
                    record.get(fi).map_or(0, str::len)
                ),
            }));
            continue;
        }
        if let Some((idx, field)) = missing.first() {
            out(Err(Rejection {
                line,
                raw: clip(raw),
                column: Some(columns[*idx].name.clone()),
                rule: "missing_column".into(),
                reason: format!("the header has no field `{field}`"),
            }));
            continue;
        }
        if had_errors && raw.contains('\u{fffd}') {
            out(Err(Rejection {
                line,
                raw: clip(raw),
                column: None,
                rule: "encoding".into(),
                reason: format!("bytes that are not valid {}", dialect.encoding.name()),
            }));
            continue;
        }
        let values = bound_values(dialect, columns.len(), original_name, |i, part, _| {
            field_index[i]
                .get(part)
                .and_then(|&fi| record.get(fi))
                .map(str::to_string)
        });
        out(Ok(RawRecord {
            line,
            raw: clip(raw),
            values,
        }));
    }
}

/// Largest field accepted, in bytes (RELIABILITY C7: a bigger one is a fault, not data).
pub const MAX_FIELD_BYTES: usize = 1 << 20;

/// Whether `bytes` look like a binary file rather than text: NUL bytes in the first 8 KiB,
/// when the encoding is not UTF-16 (where NULs are half of every ASCII character).
pub fn looks_binary(bytes: &[u8], encoding: &'static encoding_rs::Encoding) -> bool {
    let utf16 = encoding == encoding_rs::UTF_16LE
        || encoding == encoding_rs::UTF_16BE
        || bytes.starts_with(&[0xFF, 0xFE])
        || bytes.starts_with(&[0xFE, 0xFF]);
    !utf16 && bytes[..bytes.len().min(8192)].contains(&0)
}

/// The field indexes of each canonical column (one per part of composite `fields`; none
/// when a part is not in the header), and the required fields the header lacks.
fn map_header(
    names: &[String],
    dialect: &DialectPlan,
    columns: &[CanonicalColumn],
) -> (Vec<Vec<usize>>, Vec<(usize, String)>) {
    let mut index = vec![Vec::new(); columns.len()];
    let mut missing = Vec::new();
    for (i, binding) in dialect.bindings.iter().enumerate() {
        let Some(binding) = binding else {
            continue;
        };
        let mut found = Vec::with_capacity(binding.fields().len());
        for field in binding.fields() {
            match names.iter().position(|n| n == field) {
                Some(fi) => found.push(fi),
                None => {
                    if columns[i].required {
                        missing.push((i, field.clone()));
                    }
                    found.clear();
                    break;
                }
            }
        }
        index[i] = found;
    }
    (index, missing)
}

/// With CRLF endings the reader stops a record at `\r`, so the next record's position
/// points at the `\n` still on the previous line. Step over line ends to the record's first
/// byte.
fn skip_terminator(text: &str, mut start: usize, end: usize) -> usize {
    let bytes = text.as_bytes();
    while start < end && matches!(bytes.get(start), Some(b'\r' | b'\n')) {
        start += 1;
    }
    start
}

/// The byte where line `lines + 1` starts (a line ends at `\n`, `\r\n` or a lone `\r`).
fn preamble_end(text: &str, lines: usize) -> usize {
    let bytes = text.as_bytes();
    let mut seen = 0;
    let mut i = 0;
    while seen < lines && i < bytes.len() {
        match bytes[i] {
            b'\n' => seen += 1,
            b'\r' if bytes.get(i + 1) != Some(&b'\n') => seen += 1,
            _ => {}
        }
        i += 1;
    }
    i
}

/// Line numbers of byte positions, counted forward as records are read: a line ends at
/// `\n`, at `\r\n`, or at a `\r` alone (CR-only files, which the `csv` reader splits
/// correctly but numbers as one line).
#[derive(Debug, Default)]
struct LineCounter {
    pos: usize,
    ends: i64,
}

impl LineCounter {
    /// The 1-based line of byte `pos` (positions must not go backwards).
    fn at(&mut self, text: &str, pos: usize) -> i64 {
        let bytes = text.as_bytes();
        let pos = pos.min(bytes.len());
        if pos > self.pos {
            for i in self.pos..pos {
                match bytes[i] {
                    b'\n' => self.ends += 1,
                    b'\r' if bytes.get(i + 1) != Some(&b'\n') => self.ends += 1,
                    _ => {}
                }
            }
            self.pos = pos;
        }
        self.ends + 1
    }
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
