//! Dialect detection: what the first bytes of a text object say about how it is written
//! (encoding, line ending, delimiter, quote and escape, preamble, header, decimal and
//! thousands separators, date formats, null tokens), for dialects that declare `auto`.
//!
//! ```text
//!  sample (≤ 1 MiB) ─encoding─► text ─table─► delimiter, quote, preamble, header, rows
//!                                                     └─values─► per column: type, decimal, date format, nulls
//!                                                                └─► Detected ─DialectPlan::resolve─► DialectPlan
//! ```
//!
//! Everything here is a pure function of the sample and the [`Hints`] (what the dialect
//! declares explicitly): no I/O, no catalog. What is detected is stored as JSON with the
//! landing object (physical metadata) and shown by `keel landing show OBJECT`.
//!
//! Detection never guesses silently: every choice that could have gone another way
//! (a single-byte code page, `03/04/2019`, `1,234`) leaves a note and lowers the confidence.

mod encoding;
mod resolve;
mod table;
mod values;

use std::borrow::Cow;
use std::fmt;
use std::io::Read;

use encoding_rs::Encoding;
use serde::{Deserialize, Serialize};

/// Most bytes of an object detection looks at: pass the whole object when it is shorter,
/// else exactly its first `SAMPLE_BYTES` (the partial last line is then ignored).
pub const SAMPLE_BYTES: usize = 1 << 20;

/// Most records per delimiter candidate that detection reads from a sample.
pub const MAX_RECORDS: usize = 2_000;

/// The `date_format` reported for spreadsheet serial dates, as the `time` module names it.
pub const SPREADSHEET_SERIAL: &str = "excel_serial";

/// Tokens that commonly mean "no value"; the hints add the source's own words.
pub const NULL_TOKENS: [&str; 8] = ["", "-", "NA", "N/A", "null", "NULL", "-9999", "-999"];

/// What the dialect declares explicitly: detection works within these, so that what it
/// reports about the rest is consistent with them.
#[derive(Debug, Clone, Default)]
pub struct Hints {
    /// A declared encoding (a byte-order mark still overrides it).
    pub encoding: Option<&'static Encoding>,
    /// A declared delimiter.
    pub delimiter: Option<u8>,
    /// A declared quote character.
    pub quote: Option<u8>,
    /// A declared decimal separator.
    pub decimal: Option<char>,
    /// A declared number of preamble lines.
    pub preamble_lines: Option<usize>,
    /// The source's own null tokens (`Calm`-style words), besides [`NULL_TOKENS`].
    pub null_tokens: Vec<String>,
}

/// The line terminators of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineEnding {
    /// `\n`.
    Lf,
    /// `\r\n`.
    Crlf,
    /// `\r` alone (classic Mac OS and some loggers).
    Cr,
    /// More than one kind outside quoted fields.
    Mixed,
    /// No terminator: one line.
    None,
}

/// How a quote character is written inside a quoted field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Escape {
    /// Doubled: `"say ""hi"""` (RFC 4180).
    Doubled,
    /// Backslash: `"say \"hi\""`.
    Backslash,
}

/// The type a column's values suggest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InferredType {
    /// Whole numbers.
    Int,
    /// Numbers with a fraction (or a mix of whole and fractional numbers).
    Float,
    /// Calendar dates.
    Date,
    /// Dates with a time of day.
    Timestamp,
    /// `true`/`false`, `yes`/`no`.
    Bool,
    /// Anything else.
    Text,
    /// Every value of the sample is a null token.
    Empty,
}

/// A null token and how often a column holds it in the sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NullSeen {
    /// The token as written (`""` for an empty field).
    pub token: String,
    /// How many values of the sample are this token.
    pub count: usize,
}

/// What detection found about one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectedColumn {
    /// Header name, or `column_N` (from 1) without a header.
    pub name: String,
    /// The type its values suggest.
    pub inferred_type: InferredType,
    /// Decimal separator of its numbers, when it has fractional numbers.
    pub decimal: Option<char>,
    /// Thousands separator of its numbers, when one is used.
    pub thousands: Option<char>,
    /// chrono format of its dates or timestamps, or [`SPREADSHEET_SERIAL`].
    pub date_format: Option<String>,
    /// Day-first and month-first both read every date: the format is a guess.
    pub ambiguous: bool,
    /// Null tokens seen in this column.
    pub nulls_seen: Vec<NullSeen>,
    /// Up to three values that do not fit the inferred type (candidates for `null_tokens`).
    pub unmatched: Vec<String>,
}

/// What detection found about an object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detected {
    /// Encoding name (`UTF-8`, `UTF-16LE`, `windows-1250`, `windows-1252`, `ISO-8859-2`, ...).
    /// `windows-1252` stands for ISO-8859-1 too: it is its superset, as in every browser.
    pub encoding: String,
    /// The object starts with a byte-order mark.
    pub bom: bool,
    /// The object is not text (NUL or control bytes): it should be rejected with rule
    /// `binary`; nothing else was detected.
    pub binary: bool,
    /// Line terminators.
    pub line_ending: LineEnding,
    /// Field delimiter; `None` when every line is one field.
    pub delimiter: Option<char>,
    /// Quote character.
    pub quote: char,
    /// How quotes are escaped inside quoted fields.
    pub escape: Escape,
    /// Lines before the header (or before the first record without a header).
    pub preamble_lines: usize,
    /// Field names of the header row; `None` when the first row is data.
    pub header: Option<Vec<String>>,
    /// Decimal separator of the object's numbers.
    pub decimal: char,
    /// Thousands separator, when one is used.
    pub thousands: Option<char>,
    /// Per column, in order.
    pub columns: Vec<DetectedColumn>,
    /// Data rows looked at.
    pub rows_sampled: usize,
    /// Bytes looked at.
    pub bytes_sampled: usize,
    /// How sure detection is, from 0 to 1.
    pub confidence: f64,
    /// What a person should know: guesses, ambiguities, oddities.
    pub notes: Vec<String>,
}

/// The first [`SAMPLE_BYTES`] of `bytes` (all of them when shorter).
pub fn sample(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.len().min(SAMPLE_BYTES)]
}

/// The first [`SAMPLE_BYTES`] of what `head`, an object's first bytes, holds: the start of
/// its gzip content when it is gzip (as far as `head` reaches), else `head` itself. For a
/// look at an object before it is formatted; the formatter detects on its decompressed
/// inputs.
pub fn text_sample(head: &[u8]) -> Cow<'_, [u8]> {
    if head.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        // A read error (a `head` cut inside the stream) keeps what was decoded before it.
        let _ = flate2::read::MultiGzDecoder::new(head)
            .take(SAMPLE_BYTES as u64)
            .read_to_end(&mut out);
        Cow::Owned(out)
    } else {
        Cow::Borrowed(sample(head))
    }
}

/// Detects the dialect of the text in `sample`, the object's first bytes (see
/// [`SAMPLE_BYTES`]), within what `hints` declares.
pub fn detect(sample: &[u8], hints: &Hints) -> Detected {
    detect_as(sample, hints, Shape::Table)
}

/// Detects only what a JSON or NDJSON object's text shows: encoding, BOM, binary content
/// and line ending (no delimiter, header or columns).
pub fn detect_text(sample: &[u8], hints: &Hints) -> Detected {
    detect_as(sample, hints, Shape::Text)
}

/// What a sample is looked at as.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Delimited text: everything.
    Table,
    /// Any text: its encoding and lines.
    Text,
}

fn detect_as(sample: &[u8], hints: &Hints, shape: Shape) -> Detected {
    let truncated = sample.len() >= SAMPLE_BYTES;
    let guess = encoding::guess(sample, hints.encoding, truncated);
    let mut detected = Detected {
        encoding: guess.encoding.name().to_string(),
        bom: guess.bom > 0,
        binary: guess.binary.is_some(),
        line_ending: LineEnding::None,
        delimiter: hints.delimiter.map(char::from),
        quote: char::from(hints.quote.unwrap_or(b'"')),
        escape: Escape::Doubled,
        preamble_lines: hints.preamble_lines.unwrap_or(0),
        header: None,
        decimal: hints.decimal.unwrap_or('.'),
        thousands: None,
        columns: Vec::new(),
        rows_sampled: 0,
        bytes_sampled: sample.len(),
        confidence: 0.0,
        notes: guess.notes,
    };
    if let Some(reason) = guess.binary {
        detected.notes.insert(0, reason);
        detected.confidence = 1.0;
        return detected;
    }
    let (text, _) = guess
        .encoding
        .decode_without_bom_handling(&sample[guess.bom..]);
    let text: &str = &text;
    let text = if truncated {
        complete_lines(text)
    } else {
        text
    };
    if shape == Shape::Text {
        detected.line_ending = table::line_ending(text, b'"');
        detected.confidence = guess.confidence;
        return detected;
    }
    let table = table::analyse(text, hints);
    let columns = values::columns(&table, hints);
    let mut confidence = guess.confidence * table.confidence * columns.confidence;
    if table.rows.len() < 3 {
        confidence *= 0.7;
        detected.notes.push(format!(
            "only {} data rows in the sample: the detection is thin",
            table.rows.len()
        ));
    }
    detected.line_ending = table.line_ending;
    detected.delimiter = table.delimiter.map(char::from);
    detected.quote = char::from(table.quote);
    detected.escape = table.escape;
    detected.preamble_lines = table.preamble_lines;
    detected.header = table.header.clone();
    detected.decimal = columns.decimal;
    detected.thousands = columns.thousands;
    detected.rows_sampled = table.rows.len();
    detected.notes.extend(table.notes);
    detected.notes.extend(columns.notes);
    detected.columns = columns.columns;
    detected.confidence = (confidence.clamp(0.0, 1.0) * 100.0).round() / 100.0;
    detected
}

/// The byte offset just past the first `lines` line terminators of `bytes` (`\r\n`, `\r`
/// and `\n` each end one line), or `None` when `bytes` holds fewer: where the records of
/// an object with `preamble_lines = lines` start.
pub fn skip_lines(bytes: &[u8], lines: usize) -> Option<usize> {
    let mut at = 0;
    for _ in 0..lines {
        let end = at + bytes[at..].iter().position(|&b| b == b'\n' || b == b'\r')?;
        at = if bytes[end] == b'\r' && bytes.get(end + 1) == Some(&b'\n') {
            end + 2
        } else {
            end + 1
        };
    }
    Some(at)
}

/// `text` up to its last line terminator: a truncated sample's last line is partial.
fn complete_lines(text: &str) -> &str {
    match text.rfind(['\n', '\r']) {
        Some(end) => &text[..=end],
        None => text,
    }
}

impl Detected {
    /// The detected encoding (UTF-8 when the name is unknown, which a stored detection
    /// from this module never has).
    pub fn encoding(&self) -> &'static Encoding {
        Encoding::for_label(self.encoding.as_bytes()).unwrap_or(encoding_rs::UTF_8)
    }

    /// Why the object cannot be read as text, when it cannot (rule `binary`).
    pub fn binary_reason(&self) -> Option<&str> {
        if self.binary {
            self.notes.first().map(String::as_str)
        } else {
            None
        }
    }

    /// The detection as JSON, as the catalog stores it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// A detection read back from the catalog's JSON.
    ///
    /// # Errors
    /// When the JSON is not a detection.
    pub fn from_json(value: &serde_json::Value) -> serde_json::Result<Detected> {
        Detected::deserialize(value)
    }
}

/// A character as the CLI shows a delimiter or quote.
fn show_char(c: char) -> String {
    match c {
        '\t' => "tab (\\t)".to_string(),
        ' ' => "space".to_string(),
        c => format!("`{c}`"),
    }
}

impl fmt::Display for LineEnding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LineEnding::Lf => "LF",
            LineEnding::Crlf => "CRLF",
            LineEnding::Cr => "CR",
            LineEnding::Mixed => "mixed",
            LineEnding::None => "none (one line)",
        })
    }
}

impl fmt::Display for InferredType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InferredType::Int => "int",
            InferredType::Float => "float",
            InferredType::Date => "date",
            InferredType::Timestamp => "timestamp",
            InferredType::Bool => "bool",
            InferredType::Text => "text",
            InferredType::Empty => "empty",
        })
    }
}

impl fmt::Display for Detected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let encoding = match self.encoding.as_str() {
            "windows-1252" => "windows-1252 (ISO-8859-1)",
            other => other,
        };
        let bom = if self.bom { "with BOM" } else { "no BOM" };
        writeln!(f, "encoding        {encoding}, {bom}")?;
        if let Some(reason) = self.binary_reason() {
            writeln!(f, "binary          yes: {reason}")?;
            return Ok(());
        }
        writeln!(f, "line ending     {}", self.line_ending)?;
        let delimiter = self.delimiter.map_or("none (one column)".into(), show_char);
        writeln!(f, "delimiter       {delimiter}")?;
        let escape = match self.escape {
            Escape::Doubled => "doubled quote",
            Escape::Backslash => "backslash",
        };
        writeln!(
            f,
            "quote           {} (escape: {escape})",
            show_char(self.quote)
        )?;
        writeln!(f, "preamble lines  {}", self.preamble_lines)?;
        match &self.header {
            Some(names) => writeln!(f, "header          yes ({} fields)", names.len())?,
            None => writeln!(f, "header          none: the first row is data")?,
        }
        let thousands = self.thousands.map_or("none".into(), show_char);
        writeln!(
            f,
            "decimal         {} (thousands: {thousands})",
            show_char(self.decimal)
        )?;
        writeln!(
            f,
            "confidence      {:.2} ({} rows, {} bytes sampled)",
            self.confidence, self.rows_sampled, self.bytes_sampled
        )?;
        if !self.columns.is_empty() {
            writeln!(f, "columns:")?;
            let width = self
                .columns
                .iter()
                .map(|c| c.name.chars().count())
                .max()
                .unwrap_or(0)
                .clamp(4, 40);
            writeln!(
                f,
                "  {:<width$}  {:<9}  {:<7}  {:<24}  nulls seen",
                "name", "type", "decimal", "date format"
            )?;
            for c in &self.columns {
                let decimal = match (c.decimal, c.thousands) {
                    (Some(d), Some(t)) => format!("{d} ({t})"),
                    (Some(d), None) => d.to_string(),
                    (None, Some(t)) => format!("- ({t})"),
                    (None, None) => "-".into(),
                };
                let mut date = c.date_format.clone().unwrap_or_else(|| "-".into());
                if c.ambiguous {
                    date.push_str(" (ambiguous)");
                }
                let nulls = if c.nulls_seen.is_empty() {
                    "-".to_string()
                } else {
                    c.nulls_seen
                        .iter()
                        .map(|n| {
                            let token = if n.token.is_empty() {
                                "\"\""
                            } else {
                                n.token.as_str()
                            };
                            format!("{token} ×{}", n.count)
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let name = if c.name.is_empty() { "\"\"" } else { &c.name };
                writeln!(
                    f,
                    "  {:<width$}  {:<9}  {:<7}  {:<24}  {nulls}",
                    name,
                    c.inferred_type.to_string(),
                    decimal,
                    date
                )?;
            }
        }
        if !self.notes.is_empty() {
            writeln!(f, "notes:")?;
            for n in &self.notes {
                writeln!(f, "  - {n}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
