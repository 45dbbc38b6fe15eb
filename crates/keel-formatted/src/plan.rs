//! A source's declaration validated and resolved: encodings found, units converted to
//! factors, globs and regexes compiled, the Arrow schema of its table and quarantine built.
//! Its `Display` is what `--explain` prints.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono_tz::Tz;
use encoding_rs::Encoding;
use globset::{Glob, GlobMatcher};
use keel_core::project::Source;
use keel_core::spec::{AmbiguousTime, ColumnType, Compression, FormatKind, JsonLayout, SheetRef};
use regex::Regex;

use crate::time::{self, TimeFormat, Zone};
use crate::{FormattedError, Result, units};

/// Provenance columns every formatted row carries.
pub const PROVENANCE: [&str; 3] = ["_keel_object", "_keel_line", "_keel_ingested_at"];

/// A canonical column of the table.
#[derive(Debug, Clone)]
pub struct CanonicalColumn {
    /// Name.
    pub name: String,
    /// Type.
    pub data_type: ColumnType,
    /// Rows without a value are rejected.
    pub required: bool,
    /// Smallest accepted value.
    pub min: Option<f64>,
    /// Largest accepted value.
    pub max: Option<f64>,
}

/// Where one canonical column's value comes from in one dialect.
#[derive(Debug, Clone)]
pub struct Binding {
    /// Source field (CSV header, JSON field, Parquet column or spreadsheet header).
    pub field: Option<String>,
    /// Source fields whose values are joined with a space into this column's value
    /// (composite `fields`, in every format); empty for a single `field`.
    pub fields: Vec<String>,
    /// Regex with one capture group over the object's original name.
    pub from_name: Option<Regex>,
    /// Multiply numeric values by this to reach the canonical unit.
    pub factor: f64,
    /// Date format of this column (see [`crate::time`]).
    pub date_format: String,
    /// Zone of local wall-clock times in this column (the column's, else the dialect's).
    pub timezone: Tz,
    /// How an ambiguous local time is read (the column's, else the dialect's).
    pub ambiguous: AmbiguousTime,
}

impl Binding {
    /// The source fields the value is read from, in order: the composite `fields`, or
    /// the single `field`; none for a `from_name` binding.
    pub fn fields(&self) -> &[String] {
        if self.from_name.is_some() {
            &[]
        } else if self.fields.is_empty() {
            self.field.as_slice()
        } else {
            &self.fields
        }
    }

    /// The value of this column from `value(part, field)` for each of [`Binding::fields`]:
    /// a single field's value as it is; composite parts joined with a single space. Parts
    /// that are absent or blank are no value when all are, and empty text between the
    /// spaces otherwise (so that the format rejects the joined value and quarantine shows
    /// what was there).
    pub fn compose<'v>(
        &self,
        mut value: impl FnMut(usize, &str) -> Option<std::borrow::Cow<'v, str>>,
    ) -> Option<std::borrow::Cow<'v, str>> {
        match self.fields() {
            [] => None,
            [one] if self.fields.is_empty() => value(0, one),
            parts => {
                let mut joined = String::new();
                let mut any = false;
                for (k, name) in parts.iter().enumerate() {
                    if k > 0 {
                        joined.push(' ');
                    }
                    if let Some(v) = value(k, name) {
                        let v = v.trim();
                        any |= !v.is_empty();
                        joined.push_str(v);
                    }
                }
                any.then_some(std::borrow::Cow::Owned(joined))
            }
        }
    }

    /// The zone and DST rule of local times in this column.
    pub fn zone(&self) -> Zone {
        Zone {
            tz: self.timezone,
            ambiguous: self.ambiguous,
        }
    }
}

/// The value that asks for detection.
pub const AUTO: &str = "auto";

/// The fields of a dialect declared `auto`, detected per object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AutoFields {
    /// `encoding = "auto"`.
    pub encoding: bool,
    /// `delimiter = "auto"`.
    pub delimiter: bool,
    /// `quote = "auto"` (the escape with it).
    pub quote: bool,
    /// `decimal = "auto"` (the thousands separator with it).
    pub decimal: bool,
    /// `preamble_lines = "auto"`.
    pub preamble_lines: bool,
    /// Indexes of the bindings whose `date_format` is `auto`.
    pub date_formats: Vec<usize>,
}

impl AutoFields {
    /// Whether anything is detected.
    pub fn any(&self) -> bool {
        self.encoding
            || self.delimiter
            || self.quote
            || self.decimal
            || self.preamble_lines
            || !self.date_formats.is_empty()
    }

    fn of(
        d: &keel_core::spec::DialectSpec,
        bindings: &[Option<Binding>],
        columns: &[CanonicalColumn],
    ) -> AutoFields {
        AutoFields {
            encoding: d.encoding == AUTO,
            delimiter: d.delimiter == AUTO,
            quote: d.quote == AUTO,
            decimal: d.decimal == AUTO,
            preamble_lines: d.preamble_lines == Some(keel_core::spec::PreambleLines::Auto),
            date_formats: bindings
                .iter()
                .enumerate()
                .filter(|&(i, b)| {
                    // Every binding inherits the dialect's `date_format`; only date and time
                    // columns read it.
                    let textual = matches!(
                        columns[i].data_type,
                        ColumnType::String
                            | ColumnType::Int64
                            | ColumnType::Float64
                            | ColumnType::Bool
                    );
                    !textual && b.as_ref().is_some_and(|b| b.date_format == AUTO)
                })
                .map(|(i, _)| i)
                .collect(),
        }
    }
}

/// A resolved dialect.
#[derive(Debug, Clone)]
pub struct DialectPlan {
    /// Name.
    pub name: String,
    /// Which objects use it (path relative to the collector root).
    pub matcher: GlobMatcher,
    /// Text encoding (a BOM overrides it).
    pub encoding: &'static Encoding,
    /// CSV delimiter.
    pub delimiter: u8,
    /// CSV quote.
    pub quote: u8,
    /// Decimal separator.
    pub decimal: char,
    /// Thousands separator of numbers, when one is used (known from detection only).
    pub thousands: Option<char>,
    /// CSV: how a quote is escaped inside a quoted field: `None` for a doubled quote
    /// (RFC 4180), else the escape byte (`\`).
    pub escape: Option<u8>,
    /// CSV: physical lines before the header, skipped (`\r\n`, `\r` and `\n` each end one;
    /// see [`crate::detect::skip_lines`]).
    pub preamble_lines: usize,
    /// What the dialect declares `auto`: filled per object by [`DialectPlan::resolve`]
    /// from a [`crate::detect::Detected`]; until then the defaults stand.
    pub auto: AutoFields,
    /// Tokens read as null (besides the empty string).
    pub null_tokens: Vec<String>,
    /// JSON layout.
    pub layout: JsonLayout,
    /// JSON path to the data.
    pub path: Vec<String>,
    /// xlsx: the worksheet (default the first).
    pub sheet: Option<SheetRef>,
    /// xlsx: the header's spreadsheet row number, from 1 (default the first non-empty row).
    pub header_row: Option<u32>,
    /// Zone of local wall-clock times (default UTC); a binding may override it.
    pub timezone: Tz,
    /// How ambiguous local times are read; a binding may override it.
    pub ambiguous: AmbiguousTime,
    /// One binding per canonical column (`None`: not provided by this dialect).
    pub bindings: Vec<Option<Binding>>,
}

/// A source, planned.
#[derive(Debug, Clone)]
pub struct SourcePlan {
    /// Source name.
    pub source: String,
    /// Formatted table.
    pub table: String,
    /// Format family.
    pub kind: FormatKind,
    /// How objects are compressed.
    pub compression: Compression,
    /// Most bytes one compressed object may expand to.
    pub max_uncompressed_bytes: u64,
    /// Canonical columns.
    pub columns: Vec<CanonicalColumn>,
    /// Indexes of the key columns.
    pub keys: Vec<usize>,
    /// Dialects, first match wins.
    pub dialects: Vec<DialectPlan>,
    /// Schema of the formatted table (canonical columns + provenance).
    pub schema: SchemaRef,
}

impl SourcePlan {
    /// Plans `source`.
    ///
    /// # Errors
    /// [`FormattedError::Config`] naming the source file and key.
    pub fn new(source: &Source) -> Result<SourcePlan> {
        let err = |message: String| FormattedError::Config {
            path: source.path.clone(),
            message,
        };
        let spec = &source.spec;
        let columns: Vec<CanonicalColumn> = spec
            .columns
            .iter()
            .map(|c| CanonicalColumn {
                name: c.name.clone(),
                data_type: c.data_type,
                required: c.required,
                min: c.min,
                max: c.max,
            })
            .collect();
        let keys = spec
            .keys
            .primary
            .iter()
            .filter_map(|k| columns.iter().position(|c| &c.name == k))
            .collect();
        let mut dialects = Vec::new();
        for (i, d) in spec.format.dialects.iter().enumerate() {
            let at = |key: &str| format!("key `format.dialects[{i}].{key}`");
            // `auto` fields take the defaults until an object's detection resolves them.
            let encoding = match d.encoding.as_str() {
                AUTO => encoding_rs::UTF_8,
                label => Encoding::for_label(label.as_bytes()).ok_or_else(|| {
                    err(format!("{}: unknown encoding `{label}`", at("encoding")))
                })?,
            };
            let delimiter = match d.delimiter.as_str() {
                AUTO => b',',
                s => single_byte(s).map_err(|m| err(format!("{}: {m}", at("delimiter"))))?,
            };
            let quote = match d.quote.as_str() {
                AUTO => b'"',
                s => single_byte(s).map_err(|m| err(format!("{}: {m}", at("quote"))))?,
            };
            let decimal = match d.decimal.as_str() {
                "." | AUTO => '.',
                "," => ',',
                other => {
                    return Err(err(format!(
                        "{}: `{other}` is not `.`, `,` or `auto`",
                        at("decimal")
                    )));
                }
            };
            let thousands = match d.thousands.as_deref() {
                None => None,
                Some(t) => {
                    let mut chars = t.chars();
                    match (chars.next(), chars.next()) {
                        (Some(c), None) if matches!(c, '.' | ',' | '\'' | ' ') && c != decimal => {
                            Some(c)
                        }
                        _ => {
                            return Err(err(format!(
                                "{}: `{t}` is not one of `.`, `,`, `'` or a space, different \
                                 from the decimal separator `{decimal}`",
                                at("thousands")
                            )));
                        }
                    }
                }
            };
            if decimal == ',' && delimiter == b',' && d.delimiter != AUTO {
                return Err(err(format!(
                    "{}: decimal comma with a comma delimiter is ambiguous",
                    at("decimal")
                )));
            }
            if spec.format.kind == FormatKind::Ndjson && d.layout == Some(JsonLayout::Columns) {
                return Err(err(format!(
                    "{}: every NDJSON line is one record; `columns` needs a `json` document",
                    at("layout")
                )));
            }
            let glob = d.match_glob.clone().unwrap_or_else(|| "**".to_string());
            let matcher = Glob::new(&glob)
                .map_err(|e| err(format!("{}: {e}", at("match"))))?
                .compile_matcher();
            let dialect_tz = match &d.timezone {
                Some(z) => {
                    time::parse_zone(z).map_err(|m| err(format!("{}: {m}", at("timezone"))))?
                }
                None => Tz::UTC,
            };
            let dialect_ambiguous = d.ambiguous.unwrap_or_default();
            let mut bindings = vec![None; columns.len()];
            for (canonical, from) in &d.columns {
                let Some(idx) = columns.iter().position(|c| &c.name == canonical) else {
                    continue; // keel-core validation already names unknown columns
                };
                let from = from.to_spec();
                let key = at(&format!("columns.{canonical}"));
                let from_name = match &from.from_name {
                    Some(re) => {
                        let re = Regex::new(re).map_err(|e| err(format!("{key}: {e}")))?;
                        if re.captures_len() < 2 {
                            return Err(err(format!("{key}: `from_name` needs one capture group")));
                        }
                        Some(re)
                    }
                    None => None,
                };
                let canonical_unit = spec.columns[idx].unit.as_deref();
                let factor = match (&from.unit, canonical_unit) {
                    (Some(u), Some(c)) => units::factor(u, c)
                        .ok_or_else(|| err(format!("{key}: cannot convert `{u}` to `{c}`")))?,
                    (Some(u), None) => {
                        return Err(err(format!(
                            "{key}: unit `{u}` given but column `{canonical}` declares no unit"
                        )));
                    }
                    _ => 1.0,
                };
                let fields = from.fields.clone().unwrap_or_default();
                let timezone = match &from.timezone {
                    Some(z) => time::parse_zone(z).map_err(|m| {
                        err(format!(
                            "{}: {m}",
                            at(&format!("columns.{canonical}.timezone"))
                        ))
                    })?,
                    None => dialect_tz,
                };
                let date_format = match &from.date_format {
                    Some(f) => {
                        TimeFormat::check(f).map_err(|m| {
                            err(format!(
                                "{}: {m}",
                                at(&format!("columns.{canonical}.date_format"))
                            ))
                        })?;
                        f.clone()
                    }
                    None => {
                        if matches!(
                            columns[idx].data_type,
                            ColumnType::Date | ColumnType::Timestamp
                        ) {
                            TimeFormat::check(&d.date_format)
                                .map_err(|m| err(format!("{}: {m}", at("date_format"))))?;
                        }
                        d.date_format.clone()
                    }
                };
                bindings[idx] = Some(Binding {
                    field: from.field.clone(),
                    fields,
                    from_name,
                    factor,
                    date_format,
                    timezone,
                    ambiguous: from.ambiguous.unwrap_or(dialect_ambiguous),
                });
            }
            dialects.push(DialectPlan {
                name: d.name.clone(),
                matcher,
                encoding,
                delimiter,
                quote,
                decimal,
                thousands,
                escape: None,
                preamble_lines: match d.preamble_lines {
                    Some(keel_core::spec::PreambleLines::Count(n)) => n as usize,
                    _ => 0,
                },
                auto: AutoFields::of(d, &bindings, &columns),
                null_tokens: d.null_tokens.clone(),
                layout: d.layout.unwrap_or(JsonLayout::Records),
                path: d
                    .path
                    .as_deref()
                    .unwrap_or("")
                    .split('.')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
                sheet: d.sheet.clone(),
                header_row: d.header_row,
                timezone: dialect_tz,
                ambiguous: dialect_ambiguous,
                bindings,
            });
        }
        let schema = table_schema(&columns);
        Ok(SourcePlan {
            source: source.name.clone(),
            table: source.table().to_string(),
            kind: spec.format.kind,
            compression: spec.format.compression,
            max_uncompressed_bytes: spec.format.max_uncompressed_bytes,
            columns,
            keys,
            dialects,
            schema,
        })
    }

    /// The dialect for an object at `original_path` (relative to the collector root).
    pub fn dialect_for(&self, original_path: &str) -> Option<&DialectPlan> {
        self.dialect_for_any(&[original_path])
    }

    /// The first dialect whose glob matches any of `paths`: a compressed object is matched
    /// under its own path and under the path of what it holds (`a.csv.gz` and `a.csv`; a zip
    /// member `a.zip/b.csv` and the archive `a.zip`).
    pub fn dialect_for_any(&self, paths: &[&str]) -> Option<&DialectPlan> {
        self.dialects
            .iter()
            .find(|d| paths.iter().any(|p| d.matcher.is_match(p)))
    }
}

fn single_byte(s: &str) -> std::result::Result<u8, String> {
    let s = if s == "\\t" { "\t" } else { s };
    match s.as_bytes() {
        [b] => Ok(*b),
        _ => Err(format!("`{s}` must be one ASCII character")),
    }
}

/// Arrow type of a canonical type.
pub fn arrow_type(t: ColumnType) -> DataType {
    match t {
        ColumnType::String => DataType::Utf8,
        ColumnType::Int64 => DataType::Int64,
        ColumnType::Float64 => DataType::Float64,
        ColumnType::Date => DataType::Date32,
        ColumnType::Bool => DataType::Boolean,
        ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
    }
}

fn table_schema(columns: &[CanonicalColumn]) -> SchemaRef {
    let mut fields: Vec<Field> = columns
        .iter()
        .map(|c| Field::new(&c.name, arrow_type(c.data_type), !c.required))
        .collect();
    fields.push(Field::new(PROVENANCE[0], DataType::Utf8, false));
    fields.push(Field::new(PROVENANCE[1], DataType::Int64, false));
    fields.push(Field::new(
        PROVENANCE[2],
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        false,
    ));
    Arc::new(Schema::new(fields))
}

impl fmt::Display for SourcePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "source `{}` → formatted.{} ({:?}, compression {:?})",
            self.source, self.table, self.kind, self.compression
        )?;
        for c in &self.columns {
            let key = self.keys.iter().any(|&k| self.columns[k].name == c.name);
            writeln!(
                f,
                "  {:<20} {:<8?}{}{}{}",
                c.name,
                c.data_type,
                if c.required { " required" } else { "" },
                if key { " key" } else { "" },
                match (c.min, c.max) {
                    (None, None) => String::new(),
                    (min, max) => format!(" bounds [{}, {}]", fmt_opt(min), fmt_opt(max)),
                }
            )?;
        }
        for d in &self.dialects {
            writeln!(
                f,
                "  dialect {} ({}): encoding {}, delimiter {:?}, decimal {:?}, timezone {}",
                d.name,
                d.matcher.glob(),
                d.encoding.name(),
                d.delimiter as char,
                d.decimal,
                d.timezone.name()
            )?;
        }
        Ok(())
    }
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}
