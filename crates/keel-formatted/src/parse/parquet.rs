//! Apache Parquet: read record batch by record batch with the Arrow reader, only the
//! columns the dialect maps, each cell cast to its canonical type by the same rules as
//! text ([`crate::convert::convert_cells`]). A record's "line" is its 1-based row number in
//! the file; its raw text is the mapped fields rendered as a JSON object.
//!
//! Timestamps: one with a zone (`isAdjustedToUTC`) is an instant and is stored as it is,
//! whatever the binding's `timezone` (in a date column it is the day the file shows in
//! its own zone); one without a zone is a wall-clock time, read in the binding's
//! `timezone` by the DST rule of [`crate::time`]. Composite `fields` join their parts'
//! text ([`crate::convert::compose_cells`]) and read it with the binding's format.
//!
//! See: <https://parquet.apache.org/docs/file-format/>

use std::borrow::Cow;

use arrow::array::timezone::Tz;
use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Date64Array, Float16Array, Float32Array,
    Float64Array, Int8Array, Int16Array, Int32Array, Int64Array, StringArray,
    TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray,
    TimestampSecondArray, UInt8Array, UInt16Array, UInt32Array, UInt64Array,
};
use arrow::datatypes::{DataType, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use bytes::Bytes;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use keel_core::spec::ColumnType;

use crate::convert::{Cell, compose_cells, convert_cells};
use crate::parse::{Converted, Rejection, clip, name_values, reject_whole};
use crate::plan::{CanonicalColumn, DialectPlan};
use crate::time::AmbiguityTracker;

/// Reads a Parquet input into canonical rows, `batch_size` rows at a time.
pub fn read(
    bytes: Bytes,
    dialect: &DialectPlan,
    columns: &[CanonicalColumn],
    original_name: &str,
    batch_size: usize,
) -> Converted {
    let not_parquet = |e: &dyn std::fmt::Display| {
        reject_whole(
            "parquet",
            String::new(),
            format!("not a readable Parquet file: {e}"),
        )
    };
    let builder = match ParquetRecordBatchReaderBuilder::try_new(bytes) {
        Ok(b) => b,
        Err(e) => return not_parquet(&e),
    };
    let file_schema = builder.schema().clone();
    // The file's fields the dialect maps, each once, with their root column; for each
    // canonical column the indexes of its fields among them (one for a single `field`,
    // one per part of composite `fields`). A column whose field, or one of whose parts,
    // the file lacks has none: it reads no value, or each row is rejected when the column
    // is required (as a CSV row is for a missing header field).
    let mut fields: Vec<&str> = Vec::new();
    let mut roots: Vec<usize> = Vec::new();
    let mut parts_of: Vec<Vec<usize>> = vec![Vec::new(); columns.len()];
    let mut missing: Option<(usize, String)> = None;
    for (i, binding) in dialect.bindings.iter().enumerate() {
        let Some(binding) = binding else {
            continue;
        };
        let mut parts = Vec::with_capacity(binding.fields().len());
        for field in binding.fields() {
            let Ok(root) = file_schema.index_of(field) else {
                if columns[i].required && missing.is_none() {
                    missing = Some((i, field.clone()));
                }
                parts.clear();
                break;
            };
            let at = fields.iter().position(|f| f == field).unwrap_or_else(|| {
                fields.push(field.as_str());
                roots.push(root);
                fields.len() - 1
            });
            parts.push(at);
        }
        parts_of[i] = parts;
    }
    roots.sort_unstable();
    roots.dedup();
    if roots.is_empty() && !file_schema.fields().is_empty() {
        roots.push(0); // still read one column, so that every row is counted
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = match builder
        .with_projection(mask)
        .with_batch_size(batch_size.max(1))
        .build()
    {
        Ok(r) => r,
        Err(e) => return not_parquet(&e),
    };
    let from_name = name_values(dialect, original_name);
    let mut tracker = AmbiguityTracker::new();
    let mut out = Vec::new();
    let mut row_no: i64 = 0;
    for batch in reader {
        let batch = match batch {
            Ok(b) => b,
            // Rows before a damaged page were read, but the file cannot be verified to its
            // end: none of it is taken (as for a truncated gzip).
            Err(e) => {
                return reject_whole(
                    "parquet",
                    String::new(),
                    format!(
                        "the Parquet file cannot be read past row {row_no}: {e}; its rows \
                         cannot be verified complete, so none are taken"
                    ),
                );
            }
        };
        let mut read: Vec<Column> = Vec::with_capacity(fields.len());
        for f in &fields {
            let column = batch
                .column_by_name(f)
                .ok_or_else(|| format!("column `{f}` is missing from a batch"))
                .and_then(|a| Column::new(f, a).map_err(|e| format!("column `{f}`: {e}")));
            match column {
                Ok(c) => read.push(c),
                Err(reason) => {
                    return reject_whole(
                        "parquet",
                        String::new(),
                        format!("{reason}; none of the file's rows are taken"),
                    );
                }
            }
        }
        for r in 0..batch.num_rows() {
            row_no += 1;
            let raw = || raw_row(&read, r);
            if let Some((idx, field)) = &missing {
                out.push(Err(Box::new(Rejection {
                    line: row_no,
                    raw: raw(),
                    column: Some(columns[*idx].name.clone()),
                    rule: "missing_column".into(),
                    reason: format!("the Parquet file has no column `{field}`"),
                })));
                continue;
            }
            let converted = convert_cells(
                row_no,
                dialect,
                columns,
                &mut tracker,
                |i| {
                    if let Some(v) = &from_name[i] {
                        return Cell::Text(Cow::Borrowed(v.as_str()));
                    }
                    let (Some(binding), parts) = (&dialect.bindings[i], &parts_of[i]) else {
                        return Cell::Null;
                    };
                    match parts.as_slice() {
                        [] => Cell::Null,
                        [one] if binding.fields.is_empty() => {
                            read[*one].cell(r, columns[i].data_type == ColumnType::Date)
                        }
                        parts => compose_cells(
                            binding,
                            parts.iter().map(|&p| read[p].cell(r, false)).collect(),
                        ),
                    }
                },
                raw,
            );
            out.push(converted.map(|v| (row_no, v)).map_err(Box::new));
        }
    }
    out
}

/// One mapped column of a batch, normalised to the few Arrow types cells are read from.
struct Column {
    name: String,
    array: ArrayRef,
    /// Timestamps: whether they are instants or wall-clock times.
    clock: Option<Clock>,
}

/// What a Parquet timestamp's value is.
enum Clock {
    /// No zone (`isAdjustedToUTC = false`): a wall-clock time, read in the binding's zone.
    Wall,
    /// A zone (`isAdjustedToUTC = true`): an instant in UTC, with the zone the writer
    /// named in its Arrow schema (`UTC` without one), if keel knows it.
    Instant(Option<Tz>),
}

impl Column {
    fn new(name: &str, array: &ArrayRef) -> Result<Column, arrow::error::ArrowError> {
        use arrow::compute::cast;
        let array = match array.data_type() {
            DataType::Dictionary(_, value) => cast(array, value)?,
            _ => array.clone(),
        };
        let array = match array.data_type() {
            DataType::LargeUtf8 | DataType::Utf8View => cast(&array, &DataType::Utf8)?,
            _ => array,
        };
        let clock = match array.data_type() {
            DataType::Timestamp(_, None) => Some(Clock::Wall),
            DataType::Timestamp(_, Some(tz)) => Some(Clock::Instant(tz.parse::<Tz>().ok())),
            _ => None,
        };
        Ok(Column {
            name: name.to_string(),
            array,
            clock,
        })
    }

    /// The cell at row `r`; `date_column`: it feeds a date column, where a zoned
    /// timestamp is the wall-clock time the file shows in its own zone (a day in that zone,
    /// accepted at its midnight), not its instant read in the binding's zone.
    fn cell(&self, r: usize, date_column: bool) -> Cell<'_> {
        let a = &self.array;
        if a.is_null(r) {
            return Cell::Null;
        }
        // The type was matched just before, so a failed downcast is a broken invariant; it
        // still rejects the cell rather than inventing a value.
        macro_rules! get {
            ($t:ty, $f:expr) => {
                match a.as_any().downcast_ref::<$t>() {
                    Some(a) => $f(a.value(r)),
                    None => unreadable(a),
                }
            };
        }
        match a.data_type() {
            DataType::Utf8 => get!(StringArray, |v| Cell::Text(Cow::Borrowed(v))),
            DataType::Int8 => get!(Int8Array, |v| Cell::Int(i64::from(v))),
            DataType::Int16 => get!(Int16Array, |v| Cell::Int(i64::from(v))),
            DataType::Int32 => get!(Int32Array, |v| Cell::Int(i64::from(v))),
            DataType::Int64 => get!(Int64Array, Cell::Int),
            DataType::UInt8 => get!(UInt8Array, |v| Cell::Int(i64::from(v))),
            DataType::UInt16 => get!(UInt16Array, |v| Cell::Int(i64::from(v))),
            DataType::UInt32 => get!(UInt32Array, |v| Cell::Int(i64::from(v))),
            DataType::UInt64 => get!(UInt64Array, |v: u64| i64::try_from(v)
                .map_or(Cell::Float(v as f64), Cell::Int)),
            // A float32 is widened through its shortest decimal form, so that 0.1f32 is
            // 0.1 and not 0.10000000149011612.
            DataType::Float16 => get!(Float16Array, shortest),
            DataType::Float32 => get!(Float32Array, shortest),
            DataType::Float64 => get!(Float64Array, Cell::Float),
            DataType::Boolean => get!(BooleanArray, Cell::Bool),
            DataType::Date32 => get!(Date32Array, Cell::Date),
            DataType::Date64 => {
                get!(Date64Array, |ms: i64| Cell::DateTime(
                    ms.saturating_mul(1000)
                ))
            }
            // Out-of-range values saturate, and are then rejected by the `time_range` rule
            // or as out of range: never wrapped, never NULL.
            DataType::Timestamp(..) => match (micros(a, r), &self.clock) {
                (None, _) | (_, None) => unreadable(a),
                (Some(us), Some(Clock::Wall)) => Cell::DateTime(us),
                (Some(us), Some(Clock::Instant(Some(tz)))) if date_column => {
                    Cell::DateTime(wall_clock(us, tz))
                }
                (Some(us), Some(Clock::Instant(_))) => Cell::Instant(us),
            },
            // Decimals and anything else: their text, read by the text rules (a decimal
            // `12.50` is a number, a list is a string).
            _ => match display(a, r) {
                Some(text) => Cell::Text(Cow::Owned(text)),
                None => unreadable(a),
            },
        }
    }
}

fn unreadable(a: &ArrayRef) -> Cell<'static> {
    Cell::Error(Cow::Owned(format!(
        "a {} value keel cannot read",
        a.data_type()
    )))
}

fn shortest<T: std::fmt::Display>(v: T) -> Cell<'static> {
    let text = v.to_string();
    match text.parse::<f64>() {
        Ok(v) => Cell::Float(v),
        Err(_) => Cell::Text(Cow::Owned(text)),
    }
}

/// The timestamp at row `r` in µs (nanoseconds floored to the µs the canonical type
/// holds), whatever its unit.
fn micros(a: &ArrayRef, r: usize) -> Option<i64> {
    let any = a.as_any();
    Some(match a.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => any
            .downcast_ref::<TimestampSecondArray>()?
            .value(r)
            .saturating_mul(1_000_000),
        DataType::Timestamp(TimeUnit::Millisecond, _) => any
            .downcast_ref::<TimestampMillisecondArray>()?
            .value(r)
            .saturating_mul(1000),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            any.downcast_ref::<TimestampMicrosecondArray>()?.value(r)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => any
            .downcast_ref::<TimestampNanosecondArray>()?
            .value(r)
            .div_euclid(1000),
        _ => return None,
    })
}

/// The wall-clock time in `tz` of the instant `us` (µs since the epoch, UTC).
fn wall_clock(us: i64, tz: &Tz) -> i64 {
    use chrono::TimeZone;
    match chrono::DateTime::from_timestamp_micros(us) {
        Some(t) => tz
            .from_utc_datetime(&t.naive_utc())
            .naive_local()
            .and_utc()
            .timestamp_micros(),
        None => us,
    }
}

fn display(a: &ArrayRef, r: usize) -> Option<String> {
    let f = ArrayFormatter::try_new(a.as_ref(), &FormatOptions::default()).ok()?;
    Some(f.value(r).to_string())
}

/// The mapped fields of row `r` as a JSON object, for quarantine.
fn raw_row(columns: &[Column], r: usize) -> String {
    let map: serde_json::Map<String, serde_json::Value> = columns
        .iter()
        .map(|c| {
            let v = if c.array.is_null(r) {
                serde_json::Value::Null
            } else {
                display(&c.array, r).map_or(serde_json::Value::Null, serde_json::Value::String)
            };
            (c.name.clone(), v)
        })
        .collect();
    clip(&serde_json::Value::Object(map).to_string())
}
