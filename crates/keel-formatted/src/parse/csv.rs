//! Delimited text: split with the `csv` crate per the dialect, header mapped to canonical
//! columns, every record kept with its line number and raw text.

use std::io::Read;

use std::borrow::Cow;

use crate::parse::{
    Blocks, MAX_RECORD_BYTES, Parsed, RawRecord, Rejection, bound_values, clip, clipped,
};
use crate::plan::{CanonicalColumn, DialectPlan};

/// Parses a delimited-text object into its records.
pub fn parse(
    bytes: &[u8],
    dialect: &DialectPlan,
    columns: &[CanonicalColumn],
    original_name: &str,
) -> Parsed {
    let mut out = Vec::new();
    parse_each(bytes, dialect, columns, original_name, |r| {
        out.push(r.map(RawRecord::into_owned));
    });
    out
}

/// Parses a delimited-text object held in memory (see [`parse_stream`]).
pub fn parse_each(
    bytes: &[u8],
    dialect: &DialectPlan,
    columns: &[CanonicalColumn],
    original_name: &str,
    out: impl FnMut(Result<RawRecord, Rejection>),
) {
    // Reading a slice cannot fail.
    let _ = parse_stream(bytes, dialect, columns, original_name, out);
}

/// Parses a delimited-text stream, handing each record (or rejection) to `out` as it is
/// read. The stream is decoded and split a block at a time: what is held is one block and
/// the record that straddles it, never the object. A record longer than
/// [`MAX_RECORD_BYTES`] is rejected (`size_limit`, or `csv_syntax` when an open quote is
/// what makes it long) and reading goes on at the next line.
///
/// # Errors
/// When `input` fails (a corrupt compressed stream under it): the records already handed
/// out cannot be taken as the whole object.
pub fn parse_stream(
    input: impl Read,
    dialect: &DialectPlan,
    columns: &[CanonicalColumn],
    original_name: &str,
    out: impl FnMut(Result<RawRecord, Rejection>),
) -> std::io::Result<()> {
    parse_from(input, dialect, columns, original_name, Start::Top, out)
}

/// A delimited-text header as read: its field names and, for each canonical column, the
/// index of its fields in a record (one per part; empty when not found), and the required
/// fields it lacks.
#[derive(Debug, Clone)]
pub struct Header {
    names: Vec<String>,
    field_index: Vec<Vec<usize>>,
    missing: Vec<(usize, String)>,
}

impl Header {
    fn new(names: Vec<String>, dialect: &DialectPlan, columns: &[CanonicalColumn]) -> Header {
        let (field_index, missing) = map_header(&names, dialect, columns);
        Header {
            names,
            field_index,
            missing,
        }
    }
}

/// Where [`parse_from`] starts reading.
#[derive(Debug, Clone, Copy)]
pub enum Start<'h> {
    /// At the top of an object: its first bytes are checked for binary content, then come
    /// the preamble lines and the header; a byte-order mark overrides the encoding.
    Top,
    /// At the first byte of a record in the body of an object whose header is known: the
    /// text is `encoding` (no byte-order mark), and its lines are numbered from 1.
    Body {
        /// The object's header.
        header: &'h Header,
        /// The encoding of the object's text.
        encoding: &'static encoding_rs::Encoding,
    },
}

/// [`parse_stream`] from `start`.
///
/// # Errors
/// As [`parse_stream`].
pub fn parse_from(
    input: impl Read,
    dialect: &DialectPlan,
    columns: &[CanonicalColumn],
    original_name: &str,
    start: Start<'_>,
    mut out: impl FnMut(Result<RawRecord, Rejection>),
) -> std::io::Result<()> {
    let (mut blocks, mut first, mut header) = match start {
        Start::Top => (Blocks::new(input, dialect.encoding), true, None),
        Start::Body { header, encoding } => (
            Blocks::without_bom(input, encoding),
            false,
            Some(header.clone()),
        ),
    };
    // Decoded text (`blocks.text`) not yet handed out starts at `base`.
    let mut base = 0usize;
    let mut preamble_done = header.is_some() || dialect.preamble_lines == 0;
    // After an over-long record: text is dropped up to the next line end.
    let mut skipping = false;
    let mut record = csv::StringRecord::new();
    let mut lines = LineCounter::default();
    while !blocks.eof {
        let raw = blocks.fill()?;
        if first {
            first = false;
            if looks_binary(raw, dialect.encoding) {
                out(Err(Rejection {
                    line: 0,
                    raw: clip(&String::from_utf8_lossy(&raw[..raw.len().min(256)])),
                    column: None,
                    rule: "binary".into(),
                    reason: format!(
                        "`{original_name}` holds NUL bytes: it is not {} text",
                        dialect.encoding.name()
                    ),
                }));
                return Ok(());
            }
        }
        let (eof, had_errors) = (blocks.eof, blocks.had_errors);
        let text = &mut blocks.text;
        if skipping {
            match text[base..].find('\n') {
                Some(i) => {
                    base += i + 1;
                    skipping = false;
                }
                None => {
                    base = text.len();
                    compact(text, &mut base, &mut lines);
                    continue;
                }
            }
        }
        if !preamble_done {
            // Lines before the header (an export's title, station, units) are not records.
            let end = preamble_end(text.as_bytes(), dialect.preamble_lines);
            if end == text.len() && !eof {
                continue;
            }
            base = end;
            preamble_done = true;
        }
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(dialect.delimiter)
            .quote(dialect.quote)
            .escape(dialect.escape)
            .double_quote(dialect.escape.is_none())
            .has_headers(false)
            .flexible(true)
            .from_reader(&text.as_bytes()[base..]);
        let window = base;
        loop {
            let start = window + reader.position().byte() as usize;
            let read = reader.read_record(&mut record);
            let end = (window + reader.position().byte() as usize).min(text.len());
            // The last record of a block may go on in the next one.
            if !eof && end >= text.len() {
                break;
            }
            let line = lines.at(text, skip_terminator(text, start, text.len()));
            match read {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    out(Err(Rejection {
                        line,
                        raw: clip(raw_between(text, start, end)),
                        column: None,
                        rule: "csv_syntax".into(),
                        reason: e.to_string(),
                    }));
                    base = end;
                    continue;
                }
            }
            base = end;
            let start = record
                .position()
                .map(|p| window + p.byte() as usize)
                .unwrap_or(start);
            let start = skip_terminator(text, start, end);
            let line = lines.at(text, start);
            let raw = raw_between(text, start, end);
            let Some(Header {
                names,
                field_index,
                missing,
            }) = &header
            else {
                header = Some(Header::new(header_names(&record), dialect, columns));
                continue;
            };
            let fault = |rule: &str, column: Option<String>, reason: String| Rejection {
                line,
                raw: clip(raw),
                column,
                rule: rule.into(),
                reason,
            };
            if record.len() != names.len() {
                out(Err(fault(
                    "field_count",
                    None,
                    format!("expected {} fields, found {}", names.len(), record.len()),
                )));
                continue;
            }
            if dialect.escape.is_none()
                && raw.bytes().filter(|&b| b == dialect.quote).count() % 2 == 1
            {
                let more = lines.clone().at(text, end) - line;
                out(Err(fault(
                    "csv_syntax",
                    None,
                    format!(
                        "a quoted field opened here is never closed (the record runs over the \
                         next {more} lines)"
                    ),
                )));
                continue;
            }
            if let Some(fi) = record.iter().position(|f| f.len() > MAX_FIELD_BYTES) {
                let column = field_index
                    .iter()
                    .position(|parts| parts.contains(&fi))
                    .map(|c| columns[c].name.clone());
                out(Err(fault(
                    "size_limit",
                    column,
                    format!(
                        "field {} holds {} bytes; the limit is {MAX_FIELD_BYTES}",
                        fi + 1,
                        record.get(fi).map_or(0, str::len)
                    ),
                )));
                continue;
            }
            if let Some((idx, field)) = missing.first() {
                out(Err(fault(
                    "missing_column",
                    Some(columns[*idx].name.clone()),
                    format!("the header has no field `{field}`"),
                )));
                continue;
            }
            if had_errors && raw.contains('\u{fffd}') {
                out(Err(fault(
                    "encoding",
                    None,
                    format!("bytes that are not valid {}", dialect.encoding.name()),
                )));
                continue;
            }
            let values = bound_values(dialect, columns.len(), original_name, |i, part, _| {
                field_index[i]
                    .get(part)
                    .and_then(|&fi| record.get(fi))
                    .map(Cow::Borrowed)
            });
            out(Ok(RawRecord {
                line,
                raw: Cow::Borrowed(clipped(raw)),
                values,
            }));
        }
        drop(reader);
        if eof {
            break;
        }
        if text.len() - base > MAX_RECORD_BYTES {
            // One record has filled the window: refuse it and go on at the next line.
            let start = skip_terminator(text, base, text.len());
            let line = lines.at(text, start);
            let held = &text[start..];
            let open_quote = dialect.escape.is_none()
                && held.bytes().filter(|&b| b == dialect.quote).count() % 2 == 1;
            out(Err(Rejection {
                line,
                raw: clip(held),
                column: None,
                rule: if open_quote {
                    "csv_syntax"
                } else {
                    "size_limit"
                }
                .into(),
                reason: if open_quote {
                    format!(
                        "a quoted field opened here is not closed within {MAX_RECORD_BYTES} bytes; \
                         reading goes on at the next line"
                    )
                } else {
                    format!("the record is longer than {MAX_RECORD_BYTES} bytes")
                },
            }));
            match held.find('\n') {
                Some(i) if open_quote => base = start + i + 1,
                _ => {
                    base = text.len();
                    skipping = true;
                }
            }
        }
        compact(text, &mut base, &mut lines);
    }
    Ok(())
}

/// A header record's field names (a byte-order mark and surrounding blanks trimmed).
fn header_names(record: &csv::StringRecord) -> Vec<String> {
    record
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
        .collect()
}

/// The header of a delimited-text object from its first bytes, when they hold its
/// preamble lines and a header ended by `\n`, `\r\n` or `\r`: the header, the byte
/// where the body starts and the line ends before it. `None` when the header does not end
/// within `bytes` or cannot be read.
pub fn read_header(
    bytes: &[u8],
    encoding: &'static encoding_rs::Encoding,
    dialect: &DialectPlan,
    columns: &[CanonicalColumn],
) -> Option<(Header, usize, i64)> {
    let start = preamble_end(bytes, dialect.preamble_lines);
    let end = start + record_ends(&bytes[start..], dialect).next()?;
    if bytes[start..end].iter().all(|b| matches!(b, b'\r' | b'\n')) {
        // A blank line where the header should be: the `csv` reader would skip it.
        return None;
    }
    let (text, _) = crate::parse::decode(&bytes[start..end], encoding);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(dialect.delimiter)
        .quote(dialect.quote)
        .double_quote(true)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    if !reader.read_record(&mut record).ok()? {
        return None;
    }
    let header = Header::new(header_names(&record), dialect, columns);
    Some((header, end, line_ends(&bytes[..end])))
}

/// Line ends in `bytes`, counted as [`LineCounter`] counts them (`\n`, `\r\n`, a lone
/// `\r`), for text in UTF-8 or a single-byte encoding.
pub fn line_ends(bytes: &[u8]) -> i64 {
    let lf = bytes.iter().filter(|&&b| b == b'\n').count();
    let cr = bytes.iter().filter(|&&b| b == b'\r').count();
    let crlf = if cr == 0 {
        0
    } else {
        bytes.windows(2).filter(|w| w == b"\r\n").count()
    };
    (lf + cr - crlf) as i64
}

/// The end (the byte after its `\n`) of the last record of `bytes` that ends with `\n`,
/// when `bytes` begins at a record's first byte; `None` when no record ends there. Quotes
/// are followed as the `csv` reader follows them (without an escape character): a quote
/// opens a quoted field only at a field's start, two quotes in one stand for one, a line
/// end inside one belongs to the field.
pub fn last_record_end(bytes: &[u8], dialect: &DialectPlan) -> Option<usize> {
    let last = bytes.iter().rposition(|&b| b == b'\n')?;
    if !bytes[..last].contains(&dialect.quote) {
        return Some(last + 1);
    }
    record_ends(bytes, dialect).last()
}

/// The ends (the byte after the `\n`) of the records of `bytes` that end with `\n`, from
/// a record's first byte, following quotes as [`last_record_end`] says. A record ended by
/// a lone `\r` goes on to the next `\n` (no end is given inside a `\r\n`).
fn record_ends<'a>(bytes: &'a [u8], dialect: &DialectPlan) -> impl Iterator<Item = usize> + 'a {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let (quote, delimiter) = (dialect.quote, dialect.delimiter);
    let mut state = State::FieldStart;
    bytes.iter().enumerate().filter_map(move |(i, &b)| {
        state = match (state, b) {
            (State::Quoted, b) if b == quote => State::QuoteInQuoted,
            (State::Quoted, _) => State::Quoted,
            (State::QuoteInQuoted, b) if b == quote => State::Quoted,
            (State::FieldStart, b) if b == quote => State::Quoted,
            (_, b'\n') => {
                state = State::FieldStart;
                return Some(i + 1);
            }
            (_, b) if b == delimiter || b == b'\r' => State::FieldStart,
            _ => State::Unquoted,
        };
        None
    })
}

/// Drops the text before `base` (handed out already), keeping line numbers counted.
fn compact(text: &mut String, base: &mut usize, lines: &mut LineCounter) {
    lines.at(text, *base);
    text.drain(..*base);
    lines.pos -= *base;
    *base = 0;
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
fn preamble_end(bytes: &[u8], lines: usize) -> usize {
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
#[derive(Debug, Default, Clone)]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::BLOCK_BYTES;

    fn plan() -> crate::SourcePlan {
        let toml = r#"
[collector]
kind = "files"
path = "inbox"
[format]
kind = "csv"
[[format.dialects]]
name = "d"
[format.dialects.columns]
id = "id"
note = "note"
[[columns]]
name = "id"
type = "string"
[[columns]]
name = "note"
type = "string"
"#;
        let source = keel_core::project::Source {
            name: "s".into(),
            path: "sources/s.toml".into(),
            spec: toml::from_str(toml).unwrap(),
        };
        crate::SourcePlan::new(&source).unwrap()
    }

    /// A reader that hands out at most 7 bytes per call, so that block boundaries fall
    /// everywhere.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(7).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn parse_all(bytes: &[u8]) -> Vec<Result<RawRecord<'static>, Rejection>> {
        let plan = plan();
        let mut out = Vec::new();
        parse_stream(
            Trickle(bytes),
            &plan.dialects[0],
            &plan.columns,
            "x.csv",
            |r| {
                out.push(r.map(RawRecord::into_owned));
            },
        )
        .unwrap();
        out
    }

    #[test]
    fn records_straddling_blocks_keep_their_lines_and_raw_text() {
        // CRLF endings, a quoted field with a line break every 50 records, a multi-byte
        // character on every line: about 3 blocks of text.
        let mut text = String::from("id,note\r\n");
        let mut expected = Vec::new();
        let mut line = 2;
        for i in 0..250_000 {
            let note = if i % 50 == 0 {
                format!("\"łine\r\nbreak {i}\"")
            } else {
                format!("ż{i}")
            };
            let raw = format!("r{i},{note}");
            text.push_str(&raw);
            text.push_str("\r\n");
            expected.push((line, raw.clone()));
            line += 1 + raw.matches('\n').count() as i64;
        }
        assert!(text.len() > 2 * BLOCK_BYTES);
        let records: Vec<RawRecord> = parse_all(text.as_bytes())
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(records.len(), expected.len());
        for (r, (line, raw)) in records.iter().zip(&expected) {
            assert_eq!((r.line, r.raw.as_ref()), (*line, raw.as_str()));
        }
        assert_eq!(records[50].values[1].as_deref(), Some("łine\r\nbreak 50"));
    }

    #[test]
    fn an_overlong_record_is_refused_and_reading_goes_on() {
        let long = "x".repeat(MAX_RECORD_BYTES + 3 * BLOCK_BYTES);
        let text = format!("id,note\na,1\nb,{long}\nc,3\nd,\"4\ne,5\n");
        let out = parse_all(text.as_bytes());
        let summary: Vec<(i64, String)> = out
            .iter()
            .map(|r| match r {
                Ok(r) => (r.line, r.raw.to_string()),
                Err(e) => (e.line, e.rule.clone()),
            })
            .collect();
        assert_eq!(
            summary,
            [
                (2, "a,1".to_string()),
                (3, "size_limit".to_string()),
                (4, "c,3".to_string()),
                // An open quote at the end of the file runs to its end: one rejection.
                (5, "csv_syntax".to_string()),
            ]
        );
        assert!(out[1].as_ref().unwrap_err().raw.len() <= crate::parse::MAX_RAW);
    }

    #[test]
    fn an_open_quote_longer_than_the_limit_resumes_at_the_next_line() {
        let pad = "y".repeat(1016);
        let body: String = (0..(MAX_RECORD_BYTES + 2 * BLOCK_BYTES) / 1024)
            .map(|i| format!("{i:07}{pad}\n"))
            .collect();
        let text = format!("id,note\n\"a,{body}");
        let out = parse_all(text.as_bytes());
        assert_eq!(out[0].as_ref().unwrap_err().rule, "csv_syntax");
        assert_eq!(out[0].as_ref().unwrap_err().line, 2);
        // The lines after the quote's line are read again as records (one field each:
        // the wrong count, but each on its own line, none lost).
        let next = out[1].as_ref().unwrap_err();
        assert_eq!((next.line, next.rule.as_str()), (3, "field_count"));
        assert!(out.len() > 1000);
    }
}
