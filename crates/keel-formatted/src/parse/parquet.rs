//! Apache Parquet: read record batch by record batch with the Arrow reader, only the
//! columns the dialect maps, each cell cast to its canonical type by the same rules as
//! text ([`crate::convert::convert_cells`]). A record's "line" is its 1-based row number in
//! the file; its raw text is the mapped fields rendered as a JSON object.
//!
//! See: <https://parquet.apache.org/docs/file-format/>

use std::borrow::Cow;

use arrow::array::timezone::Tz;
use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Date64Array, Float16Array, Float32Array,
    Float64Array, Int8Array, Int16Array, Int32Array, Int64Array, StringArray,
    TimestampMicrosecondArray, UInt8Array, UInt16Array, UInt32Array, UInt64Array,
};
use arrow::datatypes::{DataType, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use bytes::Bytes;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::convert::{Cell, convert_cells};
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
    // The top-level field of each canonical column, by name, and the required fields the
    // file lacks (each row is then rejected, as a CSV row is for a missing header field).
    let mut field_of: Vec<Option<&str>> = vec![None; columns.len()];
    let mut roots: Vec<usize> = Vec::new();
    let mut missing: Option<(usize, String)> = None;
    for (i, binding) in dialect.bindings.iter().enumerate() {
        let Some(field) = binding
            .as_ref()
            .filter(|b| b.from_name.is_none())
            .and_then(|b| b.field.as_deref())
        else {
            continue;
        };
        match file_schema.index_of(field) {
            Ok(root) => {
                field_of[i] = Some(field);
                roots.push(root);
            }
            Err(_) if columns[i].required && missing.is_none() => {
                missing = Some((i, field.to_string()));
            }
            Err(_) => {}
        }
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
        let mut arrays: Vec<Option<Column>> = Vec::with_capacity(field_of.len());
        for f in &field_of {
            let Some(f) = *f else {
                arrays.push(None);
                continue;
            };
            let column = batch
                .column_by_name(f)
                .ok_or_else(|| format!("column `{f}` is missing from a batch"))
                .and_then(|a| Column::new(f, a).map_err(|e| format!("column `{f}`: {e}")));
            match column {
                Ok(c) => arrays.push(Some(c)),
                Err(reason) => {
                    return reject_whole(
                        "parquet",
                        String::new(),
                        format!("{reason}; none of the file's rows are taken"),
                    );
                }
            }
        }
        let shown: Vec<&Column> = arrays.iter().flatten().collect();
        for r in 0..batch.num_rows() {
            row_no += 1;
            let raw = || raw_row(&shown, r);
            if let Some((idx, field)) = &missing {
                out.push(Err(Rejection {
                    line: row_no,
                    raw: raw(),
                    column: Some(columns[*idx].name.clone()),
                    rule: "missing_column".into(),
                    reason: format!("the Parquet file has no column `{field}`"),
                }));
                continue;
            }
            let converted = convert_cells(
                row_no,
                dialect,
                columns,
                &mut tracker,
                |i| match (&from_name[i], &arrays[i]) {
                    (Some(v), _) => Cell::Text(Cow::Borrowed(v.as_str())),
                    (None, Some(c)) => c.cell(r),
                    (None, None) => Cell::Null,
                },
                raw,
            );
            out.push(converted.map(|v| (row_no, v)));
        }
    }
    out
}

/// One mapped column of a batch, normalised to the few Arrow types cells are read from.
struct Column {
    name: String,
    array: ArrayRef,
    /// For timestamps with a zone: the zone their wall clock is read in.
    tz: Option<Tz>,
}

impl Column {
    fn new(name: &str, array: &ArrayRef) -> Result<Column, arrow::error::ArrowError> {
        use arrow::compute::cast;
        let array = match array.data_type() {
            DataType::Dictionary(_, value) => cast(array, value)?,
            _ => array.clone(),
        };
        let (array, tz) = match array.data_type() {
            DataType::LargeUtf8 | DataType::Utf8View => (cast(&array, &DataType::Utf8)?, None),
            DataType::Timestamp(unit, tz) => {
                let array = if *unit == TimeUnit::Microsecond {
                    array.clone()
                } else {
                    cast(
                        &array,
                        &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
                    )?
                };
                let tz = match tz {
                    Some(tz) => Some(tz.parse::<Tz>()?),
                    None => None,
                };
                (array, tz)
            }
            _ => (array, None),
        };
        Ok(Column {
            name: name.to_string(),
            array,
            tz,
        })
    }

    /// The cell at row `r`.
    fn cell(&self, r: usize) -> Cell<'_> {
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
            DataType::Date64 => get!(Date64Array, |ms: i64| Cell::DateTime(ms * 1000)),
            DataType::Timestamp(..) => get!(TimestampMicrosecondArray, |us| Cell::DateTime(
                match &self.tz {
                    Some(tz) => wall_clock(us, tz),
                    None => us,
                }
            )),
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
fn raw_row(columns: &[&Column], r: usize) -> String {
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
