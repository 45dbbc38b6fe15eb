//! Schema evolution: what happens when a source's declared columns no longer match the
//! formatted table it feeds.
//!
//! | declaration vs table                         | what keel does                                   |
//! |----------------------------------------------|--------------------------------------------------|
//! | a new column                                 | added to the table; older rows read it as null   |
//! | a column no longer declared                  | kept in the table; new rows hold null            |
//! | int64 declared, float64 in the table         | values written as float64 (no table change)      |
//! | date declared, timestamp in the table        | values written as midnight UTC (no table change) |
//! | float64 declared, int64 in the table         | widened: the table is rewritten as float64       |
//! | timestamp declared, date in the table        | widened: the table is rewritten as timestamp     |
//! | any other type change, or a case-only rename | incompatible: the rows are quarantined           |
//!
//! Every change is reported with the column, the old and the new type. An incompatible
//! change quarantines the chunk's rows with rule `schema_change`; fixing the declaration and
//! running `keel format --reprocess-quarantine`, or `--rebuild` to accept the new type,
//! brings them back.

use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, new_null_array};
use arrow::datatypes::{DataType, Schema, SchemaRef};

use crate::Result;

/// One difference between a declaration and its table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A declared column the table lacks.
    Added {
        /// The column.
        column: String,
    },
    /// A table column no longer declared.
    Removed {
        /// The column.
        column: String,
    },
    /// The declared type is narrower than the table's: values are cast up on write.
    CastUp {
        /// The column.
        column: String,
        /// Declared type.
        declared: DataType,
        /// Table type.
        table: DataType,
    },
    /// The declared type is wider than the table's: the table is rewritten.
    Widened {
        /// The column.
        column: String,
        /// Table type before.
        from: DataType,
        /// Declared type.
        to: DataType,
    },
    /// A change that cannot be applied without losing data.
    Incompatible {
        /// The column.
        column: String,
        /// What is wrong, naming both types or both spellings.
        reason: String,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Added { column } => write!(f, "added `{column}`"),
            Change::Removed { column } => write!(f, "`{column}` no longer declared (null)"),
            Change::CastUp {
                column,
                declared,
                table,
            } => write!(f, "`{column}` declared {declared} written as {table}"),
            Change::Widened { column, from, to } => {
                write!(f, "widened `{column}` from {from} to {to}")
            }
            Change::Incompatible { reason, .. } => f.write_str(reason),
        }
    }
}

/// Strings and binaries may come back from the table as view types; they are the same type.
fn normal(t: &DataType) -> DataType {
    match t {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::Timestamp(unit, Some(_)) => DataType::Timestamp(*unit, Some("UTC".into())),
        other => other.clone(),
    }
}

/// The differences between the `declared` schema and the `table`'s, by column name.
pub fn compare(table: &Schema, declared: &Schema) -> Vec<Change> {
    let mut changes = Vec::new();
    for d in declared.fields() {
        let exact = table.fields().iter().find(|t| t.name() == d.name());
        let Some(t) = exact else {
            if let Some(t) = table
                .fields()
                .iter()
                .find(|t| t.name().eq_ignore_ascii_case(d.name()))
            {
                changes.push(Change::Incompatible {
                    column: d.name().clone(),
                    reason: format!(
                        "column `{}` is declared as `{}`, which differs from the table's `{}` \
                         only in case",
                        d.name(),
                        d.name(),
                        t.name()
                    ),
                });
            } else {
                changes.push(Change::Added {
                    column: d.name().clone(),
                });
            }
            continue;
        };
        let (tt, dt) = (normal(t.data_type()), normal(d.data_type()));
        if tt == dt {
            continue;
        }
        let ts = matches!(tt, DataType::Timestamp(..));
        let change = match (&dt, &tt) {
            (DataType::Int64, DataType::Float64) => Change::CastUp {
                column: d.name().clone(),
                declared: dt.clone(),
                table: tt.clone(),
            },
            (DataType::Date32, _) if ts => Change::CastUp {
                column: d.name().clone(),
                declared: dt.clone(),
                table: tt.clone(),
            },
            (DataType::Float64, DataType::Int64) => Change::Widened {
                column: d.name().clone(),
                from: tt.clone(),
                to: dt.clone(),
            },
            (DataType::Timestamp(..), DataType::Date32) => Change::Widened {
                column: d.name().clone(),
                from: tt.clone(),
                to: dt.clone(),
            },
            _ => Change::Incompatible {
                column: d.name().clone(),
                reason: format!(
                    "column `{}` is {} in the table and {} in the declaration",
                    d.name(),
                    tt,
                    dt
                ),
            },
        };
        changes.push(change);
    }
    for t in table.fields() {
        if !declared.fields().iter().any(|d| d.name() == t.name())
            && !declared
                .fields()
                .iter()
                .any(|d| d.name().eq_ignore_ascii_case(t.name()))
        {
            changes.push(Change::Removed {
                column: t.name().clone(),
            });
        }
    }
    changes
}

/// The SQL projection that rewrites a table with its widened columns.
pub fn widening_select(table: &Schema, changes: &[Change]) -> Option<String> {
    if !changes.iter().any(|c| matches!(c, Change::Widened { .. })) {
        return None;
    }
    let columns: Vec<String> = table
        .fields()
        .iter()
        .map(|f| {
            let name = f.name();
            match changes.iter().find_map(|c| match c {
                Change::Widened { column, to, .. } if column == name => Some(to),
                _ => None,
            }) {
                Some(DataType::Float64) => format!("CAST(\"{name}\" AS DOUBLE) AS \"{name}\""),
                Some(DataType::Timestamp(..)) => {
                    format!("CAST(CAST(\"{name}\" AS TIMESTAMP) AS TIMESTAMP WITH TIME ZONE) AS \"{name}\"")
                }
                _ => format!("\"{name}\""),
            }
        })
        .collect();
    Some(columns.join(", "))
}

/// `batch` in the table's schema: columns in the table's order and types, null where the
/// batch has no such column.
///
/// # Errors
/// When a column cannot be cast (not for changes [`compare`] accepts).
pub fn conform(batch: &RecordBatch, table: &SchemaRef) -> Result<RecordBatch> {
    let columns: Vec<ArrayRef> = table
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
            Some(c) => arrow::compute::cast(c, f.data_type()),
            None => Ok(new_null_array(f.data_type(), batch.num_rows())),
        })
        .collect::<std::result::Result<_, _>>()?;
    let nullable: Vec<arrow::datatypes::Field> = table
        .fields()
        .iter()
        .map(|f| {
            let absent = batch.column_by_name(f.name()).is_none();
            f.as_ref().clone().with_nullable(f.is_nullable() || absent)
        })
        .collect();
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(nullable)),
        columns,
    )?)
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{Field, TimeUnit};

    use super::*;

    fn schema(fields: &[(&str, DataType)]) -> Schema {
        Schema::new(
            fields
                .iter()
                .map(|(n, t)| Field::new(*n, t.clone(), true))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn additions_removals_widenings_and_clashes_are_told_apart() {
        let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let table = schema(&[
            ("id", DataType::Utf8View),
            ("kwh", DataType::Int64),
            ("day", DataType::Date32),
            ("gone", DataType::Utf8),
            ("Temp", DataType::Float64),
            ("flag", DataType::Boolean),
            ("n", DataType::Float64),
        ]);
        let declared = schema(&[
            ("id", DataType::Utf8),
            ("kwh", DataType::Float64),
            ("day", ts.clone()),
            ("temp", DataType::Float64),
            ("flag", DataType::Int64),
            ("n", DataType::Int64),
            ("note", DataType::Utf8),
        ]);
        let changes = compare(&table, &declared);
        let shown: Vec<String> = changes.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "widened `kwh` from Int64 to Float64",
                "widened `day` from Date32 to Timestamp(µs, \"UTC\")",
                "column `temp` is declared as `temp`, which differs from the table's `Temp` only in case",
                "column `flag` is Boolean in the table and Int64 in the declaration",
                "`n` declared Int64 written as Float64",
                "added `note`",
                "`gone` no longer declared (null)",
            ]
        );
        let select = widening_select(&table, &changes).unwrap();
        assert!(select.starts_with("\"id\", CAST(\"kwh\" AS DOUBLE) AS \"kwh\""));
    }
}
