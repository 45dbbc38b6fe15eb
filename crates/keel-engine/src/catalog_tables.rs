//! The catalog's SQLite tables as Arrow tables, so that `keel sql` and every SQL client can
//! query them as `keel_catalog.<table>`. They are read once when a session opens.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder, Int64Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use keel_catalog::Catalog;
use serde_json::Value;

use crate::Result;

/// One catalog table as a record batch, typed from its declared SQLite column types.
///
/// # Errors
/// When the catalog cannot be read.
pub fn catalog_table(catalog: &Catalog, table: &str) -> Result<RecordBatch> {
    let (_, columns) = catalog.query_json(&format!(
        "SELECT name, type FROM pragma_table_info('{table}')"
    ))?;
    let (_, rows) = catalog.query_json(&format!("SELECT * FROM \"{table}\""))?;
    let mut fields = Vec::with_capacity(columns.len());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
    for (i, column) in columns.iter().enumerate() {
        let name = column[0].as_str().unwrap_or_default().to_string();
        let declared = column[1].as_str().unwrap_or_default().to_ascii_uppercase();
        let values = rows.iter().map(|r| &r[i]);
        let (data_type, array): (DataType, ArrayRef) = if declared.contains("INT") {
            let mut b = Int64Builder::with_capacity(rows.len());
            values.for_each(|v| b.append_option(v.as_i64()));
            (DataType::Int64, Arc::new(b.finish()))
        } else if declared.contains("REAL") {
            let mut b = Float64Builder::with_capacity(rows.len());
            values.for_each(|v| b.append_option(v.as_f64()));
            (DataType::Float64, Arc::new(b.finish()))
        } else {
            let mut b = StringBuilder::with_capacity(rows.len(), rows.len() * 16);
            values.for_each(|v| match v {
                Value::Null => b.append_null(),
                Value::String(s) => b.append_value(s),
                other => b.append_value(other.to_string()),
            });
            (DataType::Utf8, Arc::new(b.finish()))
        };
        fields.push(Field::new(name, data_type, true));
        arrays.push(array);
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}
