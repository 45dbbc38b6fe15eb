//! The shape of a delimited text: quote and escape, delimiter, line endings, preamble lines
//! and header row.
//!
//! Each delimiter candidate (`,` `;` tab `|` space) splits the text with the `csv` crate
//! (so quoted delimiters and newlines are honoured). Its *body* starts at the first record
//! that begins a run of the most common field count (the *width*); records before it are
//! the preamble. A candidate scores `coverage × quality`: the share of all records in the
//! body with the width, times the share of body fields that look like one value (a number,
//! a date, or text without another candidate delimiter; `5 2` from a decimal-comma file
//! split at its commas is not). The best candidate with a width above 1 wins; a tie goes
//! to the earlier candidate.

use super::values::{Cell, classify};
use super::{Escape, Hints, LineEnding, MAX_RECORDS, skip_lines};

/// Delimiter candidates, in tie-break order.
const CANDIDATES: [u8; 5] = [b',', b';', b'\t', b'|', b' '];

/// Records searched for the start of the body.
const MAX_PREAMBLE: usize = 64;

/// Records that make the run a body starts with.
const RUN: usize = 5;

/// Body fields looked at for a candidate's quality.
const QUALITY_RECORDS: usize = 200;

/// What the shape of the text is.
pub(super) struct Table {
    /// Field delimiter (`None`: one column).
    pub delimiter: Option<u8>,
    /// Quote character.
    pub quote: u8,
    /// Quote escape.
    pub escape: Escape,
    /// Line terminators outside quoted fields.
    pub line_ending: LineEnding,
    /// Physical lines before the header (or the first record).
    pub preamble_lines: usize,
    /// Header names, when the first body record is a header.
    pub header: Option<Vec<String>>,
    /// Fields per record.
    pub width: usize,
    /// Data records of `width` fields.
    pub rows: Vec<Vec<String>>,
    /// How sure the shape is (0–1).
    pub confidence: f64,
    /// What a person should know.
    pub notes: Vec<String>,
}

/// One record: the physical line it starts on (from 0) and its fields.
struct Record {
    line: usize,
    fields: Vec<String>,
}

/// Where the body of a candidate's records starts, and how well they fit it.
struct Body {
    start: usize,
    width: usize,
    /// Records from `start` with `width` fields.
    consistent: usize,
    coverage: f64,
    quality: f64,
}

impl Body {
    /// The candidate's score; a space, which values hold more often than any other
    /// delimiter, must fit clearly better to win.
    fn score(&self, delimiter: u8) -> f64 {
        let prior = if delimiter == b' ' { 0.9 } else { 1.0 };
        self.coverage * self.quality * prior
    }
}

/// Analyses `text` (decoded, without BOM, complete lines only).
pub(super) fn analyse(text: &str, hints: &Hints) -> Table {
    let mut notes = Vec::new();
    // A declared preamble is skipped before anything is looked at.
    let skipped = hints.preamble_lines.unwrap_or(0);
    let offset = match skip_lines(text.as_bytes(), skipped) {
        Some(offset) => offset,
        None => {
            notes.push(format!(
                "the sample has fewer than the {skipped} declared preamble lines"
            ));
            text.len()
        }
    };
    let text = &text[offset..];
    let quote = hints.quote.unwrap_or_else(|| detect_quote(text));
    let escape = detect_escape(text, quote);
    let lines = LineIndex::new(text);
    let line_ending = line_ending(text, quote);
    let candidates: Vec<u8> = match hints.delimiter {
        Some(d) => vec![d],
        None => CANDIDATES.to_vec(),
    };
    let forced_start = hints.preamble_lines.is_some();
    let mut best: Option<(u8, Vec<Record>, Body)> = None;
    let score = |(d, _, b): &(u8, Vec<Record>, Body)| b.score(*d);
    for d in candidates {
        let records = records(text, d, quote, escape, &lines);
        let Some(body) = body(&records, d, forced_start) else {
            continue;
        };
        if body.width < 2 && hints.delimiter.is_none() {
            continue;
        }
        let candidate = (d, records, body);
        if best.as_ref().is_none_or(|b| score(&candidate) > score(b)) {
            best = Some(candidate);
        }
    }
    let (delimiter, records, mut body) = match best {
        Some((d, records, body)) => (Some(d), records, body),
        None => {
            // One column (or nothing): read lines as single-field records.
            let d = hints.delimiter.unwrap_or(b',');
            let records = records(text, d, quote, escape, &lines);
            let body = body(&records, d, forced_start).unwrap_or(Body {
                start: 0,
                width: 1,
                consistent: 0,
                coverage: 1.0,
                quality: 1.0,
            });
            if !records.is_empty() {
                notes.push("no delimiter splits the lines consistently: one column".into());
            }
            (hints.delimiter, records, body)
        }
    };
    if !forced_start {
        body = after_blank_line(&records, body, &lines, delimiter.unwrap_or(b','), hints);
    }
    let preamble_lines = skipped + records.get(body.start).map_or(0, |r| r.line);
    if preamble_lines > skipped {
        notes.push(format!(
            "{} lines before the table: a preamble (`preamble_lines`)",
            preamble_lines - skipped
        ));
    }
    let d = delimiter.unwrap_or(b',');
    let body_records = records.get(body.start..).unwrap_or_default();
    let (header, header_confidence) = detect_header(body_records, body.width, d, hints);
    if header.is_some() && header_confidence < 1.0 {
        notes.push(
            "every column holds text: the first row is taken as the header because its \
             fields are distinct"
                .to_string(),
        );
    }
    let first_data = usize::from(header.is_some());
    let mut ragged = 0usize;
    let rows: Vec<Vec<String>> = body_records
        .iter()
        .skip(first_data)
        .filter_map(|r| {
            if r.fields.len() == body.width {
                Some(r.fields.clone())
            } else {
                ragged += 1;
                None
            }
        })
        .collect();
    if ragged > 0 {
        notes.push(format!(
            "{ragged} records do not have {} fields (rule `field_count`)",
            body.width
        ));
    }
    if header.is_none() && !rows.is_empty() {
        notes.push("no header row: the first row holds values like the rows after it".to_string());
    }
    if line_ending == LineEnding::Mixed {
        notes.push("mixed line endings outside quoted fields".into());
    }
    let consistency = if body_records.is_empty() {
        1.0
    } else {
        body.consistent as f64 / body_records.len() as f64
    };
    Table {
        delimiter,
        quote,
        escape,
        line_ending,
        preamble_lines,
        header,
        width: body.width,
        rows,
        confidence: consistency * body.quality * header_confidence,
        notes,
    }
}

/// A preamble whose lines happen to have as many fields as the table (`Station:;EETU` above
/// a two-column table) ends at a blank line: when the records after the first blank line
/// start with a header that the values under it confirm, and the first record is no such
/// header, the body starts after the blank line.
fn after_blank_line(
    records: &[Record],
    body: Body,
    lines: &LineIndex,
    delimiter: u8,
    hints: &Hints,
) -> Body {
    let limit = records.len().min(MAX_PREAMBLE);
    let Some(i) = (body.start + 1..limit).find(|&i| {
        let (before, after) = (records[i - 1].line, records[i].line);
        records[i].fields.len() == body.width && (before + 1..after).any(|l| lines.is_blank(l))
    }) else {
        return body;
    };
    let confident = |from: usize| {
        let (header, sure) = detect_header(&records[from..], body.width, delimiter, hints);
        header.is_some() && sure >= 1.0
    };
    if !confident(i) || confident(body.start) {
        return body;
    }
    let consistent = records[i..]
        .iter()
        .filter(|r| r.fields.len() == body.width)
        .count();
    Body {
        start: i,
        consistent,
        coverage: consistent as f64 / records.len() as f64,
        ..body
    }
}

/// Byte offsets where the physical lines of a text start (`\r\n`, `\r`, `\n` end one).
struct LineIndex {
    starts: Vec<usize>,
    /// Lines with nothing but their terminator, in order.
    blank: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        let mut blank = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if matches!(bytes[i], b'\r' | b'\n') && starts.last() == Some(&i) {
                blank.push(starts.len() - 1);
            }
            match bytes[i] {
                b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                    i += 2;
                    starts.push(i);
                }
                b'\r' | b'\n' => {
                    i += 1;
                    starts.push(i);
                }
                _ => i += 1,
            }
        }
        LineIndex { starts, blank }
    }

    fn is_blank(&self, line: usize) -> bool {
        self.blank.binary_search(&line).is_ok()
    }

    /// The line (from 0) holding byte `at`.
    fn line_of(&self, at: usize) -> usize {
        self.starts.partition_point(|&s| s <= at).saturating_sub(1)
    }
}

/// The quote character: `'` only when more fields open and close with it than with `"`.
fn detect_quote(text: &str) -> u8 {
    let count = |q: u8| {
        let b = text.as_bytes();
        let boundary =
            |c: Option<&u8>| c.is_none_or(|c| matches!(c, b'\n' | b'\r') || CANDIDATES.contains(c));
        let mut open = 0usize;
        let mut close = 0usize;
        for (i, _) in b.iter().enumerate().filter(|(_, c)| **c == q) {
            if boundary(i.checked_sub(1).map(|p| &b[p])) {
                open += 1;
            }
            if boundary(b.get(i + 1)) {
                close += 1;
            }
        }
        open.min(close)
    };
    if count(b'\'') > count(b'"') {
        b'\''
    } else {
        b'"'
    }
}

/// Backslash escapes only when `\"` occurs and a doubled quote inside a field does not.
fn detect_escape(text: &str, quote: u8) -> Escape {
    let b = text.as_bytes();
    let is_boundary =
        |c: Option<&u8>| c.is_none_or(|c| matches!(c, b'\n' | b'\r') || CANDIDATES.contains(c));
    let mut backslash = 0usize;
    let mut doubled = 0usize;
    for i in 1..b.len() {
        if b[i] != quote {
            continue;
        }
        if b[i - 1] == b'\\' {
            backslash += 1;
        } else if b[i - 1] == quote && (i < 2 || b[i - 2] != b'\\') {
            // `""` as an empty field sits between two boundaries; inside a field it does not.
            let before = i.checked_sub(2).map(|p| &b[p]);
            if !(is_boundary(before) && is_boundary(b.get(i + 1))) {
                doubled += 1;
            }
        }
    }
    if backslash > 0 && doubled == 0 {
        Escape::Backslash
    } else {
        Escape::Doubled
    }
}

/// Line terminators outside quoted fields.
pub(super) fn line_ending(text: &str, quote: u8) -> LineEnding {
    let b = text.as_bytes();
    let (mut lf, mut crlf, mut cr) = (0usize, 0usize, 0usize);
    let mut quoted = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            // A quote opens a field only at its start; `""` inside one is a quote.
            c if c == quote && !quoted => {
                let prev = i.checked_sub(1).map(|p| b[p]);
                quoted = prev.is_none_or(|p| matches!(p, b'\n' | b'\r') || CANDIDATES.contains(&p));
            }
            c if c == quote => {
                if b.get(i + 1) == Some(&quote) {
                    i += 1;
                } else {
                    quoted = false;
                }
            }
            b'\r' if !quoted && b.get(i + 1) == Some(&b'\n') => {
                crlf += 1;
                i += 1;
            }
            b'\r' if !quoted => cr += 1,
            b'\n' if !quoted => lf += 1,
            _ => {}
        }
        i += 1;
    }
    match (lf > 0, crlf > 0, cr > 0) {
        (false, false, false) => LineEnding::None,
        (true, false, false) => LineEnding::Lf,
        (false, true, false) => LineEnding::Crlf,
        (false, false, true) => LineEnding::Cr,
        _ => LineEnding::Mixed,
    }
}

/// Up to [`MAX_RECORDS`] records of `text` split with `delimiter`; empty lines are skipped.
fn records(text: &str, delimiter: u8, quote: u8, escape: Escape, lines: &LineIndex) -> Vec<Record> {
    let mut builder = csv::ReaderBuilder::new();
    builder
        .delimiter(delimiter)
        .quote(quote)
        .has_headers(false)
        .flexible(true);
    if escape == Escape::Backslash {
        builder.escape(Some(b'\\')).double_quote(false);
    }
    let mut reader = builder.from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    while out.len() < MAX_RECORDS {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(_) => continue,
        }
        if record.len() == 1 && record[0].trim().is_empty() {
            continue;
        }
        // With CRLF the reader's position can sit on the `\n` of the line before.
        let mut at = record.position().map_or(0, |p| p.byte() as usize);
        while matches!(bytes.get(at), Some(b'\r' | b'\n')) {
            at += 1;
        }
        out.push(Record {
            line: lines.line_of(at),
            fields: record.iter().map(|f| f.trim().to_string()).collect(),
        });
    }
    out
}

/// Where the body of `records` starts and how well it fits the records.
fn body(records: &[Record], delimiter: u8, forced_start: bool) -> Option<Body> {
    if records.is_empty() {
        return None;
    }
    let counts: Vec<usize> = records.iter().map(|r| r.fields.len()).collect();
    let width = mode(&counts);
    let run_ok = |i: usize| {
        let window = &counts[i..(i + RUN).min(counts.len())];
        counts[i] == width && window.iter().filter(|&&c| c == width).count() * 5 >= window.len() * 3
    };
    let start = if forced_start {
        0
    } else {
        (0..counts.len().min(MAX_PREAMBLE))
            .find(|&i| run_ok(i))
            .or_else(|| counts.iter().position(|&c| c == width))
            .unwrap_or(0)
    };
    let consistent = counts[start..].iter().filter(|&&c| c == width).count();
    let mut fields = 0usize;
    let mut good = 0usize;
    for r in records[start..].iter().take(QUALITY_RECORDS) {
        for f in &r.fields {
            fields += 1;
            if one_value(f, delimiter) {
                good += 1;
            }
        }
    }
    Some(Body {
        start,
        width,
        consistent,
        coverage: consistent as f64 / records.len() as f64,
        quality: if fields == 0 {
            1.0
        } else {
            good as f64 / fields as f64
        },
    })
}

/// The most common count (ties: the larger).
fn mode(counts: &[usize]) -> usize {
    let mut tally: Vec<(usize, usize)> = Vec::new();
    for &c in counts {
        match tally.iter_mut().find(|(k, _)| *k == c) {
            Some((_, n)) => *n += 1,
            None => tally.push((c, 1)),
        }
    }
    tally
        .into_iter()
        .max_by_key(|&(k, n)| (n, k))
        .map_or(0, |(k, _)| k)
}

/// Whether a field split with `delimiter` looks like one value.
fn one_value(field: &str, delimiter: u8) -> bool {
    if field.is_empty() || classify(field, delimiter) != Cell::Text {
        return true;
    }
    let others = CANDIDATES
        .iter()
        .filter(|&&c| c != delimiter && c != b' ')
        .any(|&c| field.as_bytes().contains(&c));
    if others {
        return false;
    }
    // `5 2` is two numbers of a file whose delimiter was not this one.
    let tokens: Vec<&str> = field.split_whitespace().collect();
    !(tokens.len() > 1 && tokens.iter().all(|t| classify(t, delimiter) != Cell::Text))
}

/// The header of a body, if its first record is one, and how sure that is.
///
/// The first record is a header when, in the columns whose later values are mostly typed
/// (numbers, dates, booleans), it mostly holds text. When every column is text, it is taken
/// as a header if its fields are distinct and non-empty (most files have one), less surely.
fn detect_header(
    records: &[Record],
    width: usize,
    delimiter: u8,
    hints: &Hints,
) -> (Option<Vec<String>>, f64) {
    let Some(first) = records.first() else {
        return (None, 1.0);
    };
    let names = || Some(first.fields.iter().map(|f| clean_name(f)).collect());
    let data: Vec<&Record> = records[1..]
        .iter()
        .filter(|r| r.fields.len() == width)
        .take(MAX_RECORDS)
        .collect();
    let is_null = |v: &str| super::values::null_token(v, hints).is_some();
    let mut typed_columns = 0usize;
    let mut text_headers = 0usize;
    for col in 0..width {
        let mut values = 0usize;
        let mut typed = 0usize;
        for r in &data {
            let v = r.fields[col].as_str();
            if is_null(v) {
                continue;
            }
            values += 1;
            if classify(v, delimiter) != Cell::Text {
                typed += 1;
            }
        }
        if values > 0 && typed * 5 >= values * 4 {
            typed_columns += 1;
            let h = first.fields.get(col).map_or("", |s| s.as_str());
            if !is_null(h) && classify(h, delimiter) == Cell::Text {
                text_headers += 1;
            }
        }
    }
    if typed_columns > 0 {
        if text_headers > 0 && text_headers * 2 >= typed_columns {
            (names(), 1.0)
        } else {
            (None, 1.0)
        }
    } else {
        let mut seen = std::collections::HashSet::new();
        let distinct = first
            .fields
            .iter()
            .all(|f| !f.is_empty() && seen.insert(f.as_str()));
        if distinct {
            (names(), 0.9)
        } else {
            (None, 0.9)
        }
    }
}

fn clean_name(field: &str) -> String {
    field.trim_start_matches('\u{feff}').trim().to_string()
}
