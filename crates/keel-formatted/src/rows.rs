//! Typed rows and quarantine rows as Arrow record batches.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, RecordBatch,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use keel_core::spec::ColumnType;

use crate::Result;
use crate::convert::Value;
use crate::plan::CanonicalColumn;

/// A formatted row with its provenance.
#[derive(Debug, Clone)]
pub struct Row {
    /// One value per canonical column.
    pub values: Vec<Value>,
    /// Landing object id.
    pub object: Arc<str>,
    /// Line (or record index) in the object.
    pub line: i64,
    /// Ingestion time of the object (µs since the epoch, UTC).
    pub ingested_at: i64,
}

/// A quarantined record.
#[derive(Debug, Clone)]
pub struct QuarantineRow {
    /// Landing object id.
    pub object: Arc<str>,
    /// Line (or record index); 0 for the whole object.
    pub line: i64,
    /// Canonical column at fault.
    pub column: Option<String>,
    /// Rule broken.
    pub rule: String,
    /// Why.
    pub reason: String,
    /// Raw text.
    pub raw: String,
    /// Dialect used.
    pub dialect: Arc<str>,
    /// Ingestion time of the object (µs since the epoch, UTC).
    pub ingested_at: i64,
    /// Run that formatted it.
    pub run_id: Arc<str>,
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Builds the table's record batch from rows.
///
/// # Errors
/// When the arrays do not fit the schema (an internal error).
pub fn to_batch(
    schema: &SchemaRef,
    columns: &[CanonicalColumn],
    rows: &[&Row],
) -> Result<RecordBatch> {
    let n = rows.len();
    let mut arrays = value_arrays(columns, rows);
    let mut object = StringBuilder::with_capacity(n, n * 24);
    let mut line = Int64Builder::with_capacity(n);
    let mut at = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    for r in rows {
        object.append_value(&r.object);
        line.append_value(r.line);
        at.append_value(r.ingested_at);
    }
    arrays.push(Arc::new(object.finish()));
    arrays.push(Arc::new(line.finish()));
    arrays.push(Arc::new(at.finish()));
    Ok(RecordBatch::try_new(schema.clone(), arrays)?)
}

/// One array per canonical column of `rows` (no provenance).
pub(crate) fn value_arrays(columns: &[CanonicalColumn], rows: &[&Row]) -> Vec<ArrayRef> {
    let n = rows.len();
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len() + 3);
    for (i, c) in columns.iter().enumerate() {
        let values = rows.iter().map(|r| &r.values[i]);
        let array: ArrayRef = match c.data_type {
            ColumnType::String => {
                let mut b = StringBuilder::with_capacity(n, n * 12);
                values.for_each(|v| match v {
                    Value::Str(s) => b.append_value(s),
                    _ => b.append_null(),
                });
                Arc::new(b.finish())
            }
            ColumnType::Int64 => {
                let mut b = Int64Builder::with_capacity(n);
                values.for_each(|v| {
                    b.append_option(if let Value::Int(x) = v {
                        Some(*x)
                    } else {
                        None
                    })
                });
                Arc::new(b.finish())
            }
            ColumnType::Float64 => {
                let mut b = Float64Builder::with_capacity(n);
                values.for_each(|v| {
                    b.append_option(if let Value::Float(x) = v {
                        Some(*x)
                    } else {
                        None
                    })
                });
                Arc::new(b.finish())
            }
            ColumnType::Date => {
                let mut b = Date32Builder::with_capacity(n);
                values.for_each(|v| {
                    b.append_option(if let Value::Date(x) = v {
                        Some(*x)
                    } else {
                        None
                    })
                });
                Arc::new(b.finish())
            }
            ColumnType::Bool => {
                let mut b = BooleanBuilder::with_capacity(n);
                values.for_each(|v| {
                    b.append_option(if let Value::Bool(x) = v {
                        Some(*x)
                    } else {
                        None
                    })
                });
                Arc::new(b.finish())
            }
            ColumnType::Timestamp => {
                let mut b = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
                values.for_each(|v| {
                    b.append_option(if let Value::Timestamp(x) = v {
                        Some(*x)
                    } else {
                        None
                    })
                });
                Arc::new(b.finish())
            }
        };
        arrays.push(array);
    }
    arrays
}

/// The schema of every quarantine table.
pub fn quarantine_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("_keel_object", DataType::Utf8, false),
        Field::new("_keel_line", DataType::Int64, false),
        Field::new("column", DataType::Utf8, true),
        Field::new("rule", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("raw", DataType::Utf8, false),
        Field::new("dialect", DataType::Utf8, false),
        Field::new("_keel_ingested_at", ts_type(), false),
        Field::new("run_id", DataType::Utf8, false),
    ]))
}

/// Builds a quarantine record batch.
///
/// # Errors
/// When the arrays do not fit the schema (an internal error).
pub fn quarantine_batch(rows: &[QuarantineRow]) -> Result<RecordBatch> {
    let n = rows.len();
    let mut object = StringBuilder::with_capacity(n, n * 24);
    let mut line = Int64Builder::with_capacity(n);
    let mut column = StringBuilder::new();
    let mut rule = StringBuilder::new();
    let mut reason = StringBuilder::new();
    let mut raw = StringBuilder::new();
    let mut dialect = StringBuilder::new();
    let mut at = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut run = StringBuilder::new();
    for r in rows {
        object.append_value(&r.object);
        line.append_value(r.line);
        column.append_option(r.column.as_deref());
        rule.append_value(&r.rule);
        reason.append_value(&r.reason);
        raw.append_value(&r.raw);
        dialect.append_value(&r.dialect);
        at.append_value(r.ingested_at);
        run.append_value(&r.run_id);
    }
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(object.finish()),
        Arc::new(line.finish()),
        Arc::new(column.finish()),
        Arc::new(rule.finish()),
        Arc::new(reason.finish()),
        Arc::new(raw.finish()),
        Arc::new(dialect.finish()),
        Arc::new(at.finish()),
        Arc::new(run.finish()),
    ];
    Ok(RecordBatch::try_new(quarantine_schema(), arrays)?)
}
