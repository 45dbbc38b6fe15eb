//! Parsers, one module per format. The text formats turn one input into raw records (one
//! value per canonical column, as text, with the record's line and raw text) or rejections;
//! the typed formats (`parquet`, `xlsx`) cast their cells straight to canonical rows.

pub mod csv;
pub mod json;
pub mod ndjson;
pub mod parquet;
pub mod xlsx;

use std::borrow::Cow;

use encoding_rs::Encoding;

/// A record as read, before typing: one optional text value per canonical column. A
/// streaming parser lends its record's text (borrowed from its buffer until the record is
/// handed on); a whole-object parser owns it.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord<'a> {
    /// 1-based line of the record's start (CSV, NDJSON) or 1-based record index (JSON).
    pub line: i64,
    /// The record's raw text, at most [`MAX_RAW`] bytes.
    pub raw: Cow<'a, str>,
    /// One value per canonical column (`None`: absent).
    pub values: Vec<Option<Cow<'a, str>>>,
}

impl RawRecord<'_> {
    /// The record with its text owned.
    pub fn into_owned(self) -> RawRecord<'static> {
        RawRecord {
            line: self.line,
            raw: Cow::Owned(self.raw.into_owned()),
            values: self
                .values
                .into_iter()
                .map(|v| v.map(|v| Cow::Owned(v.into_owned())))
                .collect(),
        }
    }
}

/// A record (or a whole object) that cannot be formatted, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// 1-based line (CSV, NDJSON) or record index (JSON); 0 for the whole object.
    pub line: i64,
    /// The raw text.
    pub raw: String,
    /// The canonical column at fault, if one is.
    pub column: Option<String>,
    /// The rule broken: `field_count`, `encoding`, `parse_number`, `parse_date`,
    /// `parse_timestamp`, `nonexistent_local_time`, `ambiguous_local_time`, `time_range`,
    /// `required`, `bounds`, `not_finite`, `missing_column`, `json_syntax`, `compression`,
    /// `size_limit`, `zip_path`, `parquet`, `xlsx`, `cell_error`, ...
    pub rule: String,
    /// A message for a person.
    pub reason: String,
}

/// What parsing one object yields, record by record in file order.
pub type Parsed = Vec<Result<RawRecord<'static>, Rejection>>;

/// Canonical rows of one input with their line (or row number), or rejections, in order.
///
/// A rejection is boxed: a row is 32 bytes and a rejection 104, and an object's rows are
/// held until its chunk is committed.
pub type Converted = Vec<Result<(i64, Vec<crate::convert::Value>), Box<Rejection>>>;

/// The value each canonical column takes from the input's original name (`from_name`
/// bindings), computed once per input.
pub fn name_values(dialect: &crate::plan::DialectPlan, original_name: &str) -> Vec<Option<String>> {
    bound_values(dialect, dialect.bindings.len(), original_name, |_, _, _| {
        None
    })
    .into_iter()
    .map(|v| v.map(Cow::into_owned))
    .collect()
}

/// One rejection standing for a whole input (line 0).
pub fn reject_whole(rule: &str, raw: String, reason: String) -> Converted {
    vec![Err(Box::new(Rejection {
        line: 0,
        raw,
        column: None,
        rule: rule.into(),
        reason,
    }))]
}

/// Decodes `bytes` with `encoding` (a byte-order mark overrides it). Returns the text and
/// whether invalid byte sequences were replaced.
pub fn decode<'a>(bytes: &'a [u8], encoding: &'static Encoding) -> (Cow<'a, str>, bool) {
    let (text, _used, had_errors) = encoding.decode(bytes);
    (text, had_errors)
}

/// A byte stream decoded to UTF-8 a block at a time: [`Blocks::fill`] appends the next
/// block's text to `text`, which the parser drains as it hands records out. A character
/// split between blocks is completed by the next one; a byte-order mark overrides the
/// encoding, as in [`decode`].
pub struct Blocks<R> {
    input: R,
    block: Vec<u8>,
    decoder: encoding_rs::Decoder,
    /// Decoded text not yet drained.
    pub text: String,
    /// Whether invalid byte sequences were replaced so far.
    pub had_errors: bool,
    /// Whether the input is exhausted (the last block is in `text`).
    pub eof: bool,
}

/// Bytes read from the input at a time.
pub const BLOCK_BYTES: usize = 1 << 20;

/// Longest record a streaming parser reads; a longer one is a fault (RELIABILITY C7), not
/// data to hold.
pub const MAX_RECORD_BYTES: usize = 16 << 20;

impl<R: std::io::Read> Blocks<R> {
    /// Blocks of `input` decoded from `encoding` (or the encoding its byte-order mark
    /// names).
    pub fn new(input: R, encoding: &'static Encoding) -> Self {
        Self::with_decoder(input, encoding.new_decoder())
    }

    /// Blocks of `input`, text from the middle of an object: decoded from `encoding`
    /// whatever its first bytes are.
    pub fn without_bom(input: R, encoding: &'static Encoding) -> Self {
        Self::with_decoder(input, encoding.new_decoder_without_bom_handling())
    }

    fn with_decoder(input: R, decoder: encoding_rs::Decoder) -> Self {
        Blocks {
            input,
            block: vec![0; BLOCK_BYTES],
            decoder,
            text: String::new(),
            had_errors: false,
            eof: false,
        }
    }

    /// Reads the next block (until it is full or the input ends) and appends its text;
    /// returns the raw bytes read.
    ///
    /// # Errors
    /// When the input fails.
    pub fn fill(&mut self) -> std::io::Result<&[u8]> {
        let mut n = 0;
        while n < self.block.len() {
            match self.input.read(&mut self.block[n..]) {
                Ok(0) => break,
                Ok(read) => n += read,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.eof = n < self.block.len();
        if let Some(room) = self.decoder.max_utf8_buffer_length(n) {
            self.text.reserve(room);
        }
        let (_, _, errors) =
            self.decoder
                .decode_to_string(&self.block[..n], &mut self.text, self.eof);
        self.had_errors |= errors;
        Ok(&self.block[..n])
    }
}

/// One value per canonical column of a record: from the object's original name where the
/// dialect binds a column to it, else from `field(column index, part, field name)` for each
/// of the binding's fields (part 0 of a single `field`; parts of composite `fields` are
/// joined by [`crate::plan::Binding::compose`]).
pub fn bound_values<'a>(
    dialect: &crate::plan::DialectPlan,
    columns: usize,
    original_name: &str,
    mut field: impl FnMut(usize, usize, &str) -> Option<Cow<'a, str>>,
) -> Vec<Option<Cow<'a, str>>> {
    (0..columns)
        .map(|i| {
            let binding = dialect.bindings[i].as_ref()?;
            match &binding.from_name {
                Some(re) => re
                    .captures(original_name)
                    .and_then(|c| c.get(1))
                    .map(|m| Cow::Owned(m.as_str().to_string())),
                None => binding.compose(|part, name| field(i, part, name)),
            }
        })
        .collect()
}

/// Longest raw text kept in quarantine for one record.
pub const MAX_RAW: usize = 64 * 1024;

/// Cuts `s` to at most [`MAX_RAW`] bytes on a character boundary.
pub fn clip(s: &str) -> String {
    clipped(s).to_string()
}

/// The first [`MAX_RAW`] bytes of `s` at most, cut on a character boundary.
pub fn clipped(s: &str) -> &str {
    if s.len() <= MAX_RAW {
        return s;
    }
    let mut end = MAX_RAW;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
