//! From raw text to typed values: null tokens, number and date parsing per dialect, unit
//! conversion, and the `required` and `bounds` rules. A value that fails is never turned
//! into NULL silently: the row is rejected with the column and the rule.

use std::borrow::Cow;

use chrono::NaiveDate;
use keel_core::spec::ColumnType;

use crate::parse::{RawRecord, Rejection};
use crate::plan::{Binding, CanonicalColumn, DialectPlan};

/// A typed value of a canonical column.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value.
    Null,
    /// Text.
    Str(String),
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// Days since 1970-01-01.
    Date(i32),
    /// Boolean.
    Bool(bool),
}

impl Value {
    /// A stable text form, for building dedup keys.
    pub fn key_part(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Str(s) => s.clone(),
            Value::Int(v) => v.to_string(),
            Value::Float(v) => v.to_string(),
            Value::Date(v) => v.to_string(),
            Value::Bool(v) => v.to_string(),
        }
    }
}

/// A source value before its canonical cast: text from delimited files and JSON, typed
/// values from Parquet and spreadsheets.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    /// No value.
    Null,
    /// Text, read with the dialect's null tokens, decimal separator and date format.
    Text(Cow<'a, str>),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A calendar date, days since 1970-01-01.
    Date(i32),
    /// A date and time of day as written (wall clock, no zone), µs since 1970-01-01T00:00.
    DateTime(i64),
    /// A value the source itself marks as an error (a spreadsheet's `#DIV/0!`).
    Error(Cow<'a, str>),
}

/// Converts a raw record into one typed value per canonical column, or the first rule it
/// breaks.
pub fn convert(
    record: &RawRecord,
    dialect: &DialectPlan,
    columns: &[CanonicalColumn],
) -> Result<Vec<Value>, Rejection> {
    convert_cells(
        record.line,
        dialect,
        columns,
        |i| match record.values[i].as_deref() {
            Some(text) => Cell::Text(Cow::Borrowed(text)),
            None => Cell::Null,
        },
        || record.raw.clone(),
    )
}

/// Converts the cells of one record (`cell(i)` for canonical column `i`) into typed values,
/// or the first rule it breaks. `raw` renders the record's raw text, only for a rejection.
pub fn convert_cells<'a>(
    line: i64,
    dialect: &DialectPlan,
    columns: &[CanonicalColumn],
    mut cell: impl FnMut(usize) -> Cell<'a>,
    raw: impl Fn() -> String,
) -> Result<Vec<Value>, Rejection> {
    let mut out = Vec::with_capacity(columns.len());
    for (i, column) in columns.iter().enumerate() {
        let reject = |rule: &str, reason: String| Rejection {
            line,
            raw: raw(),
            column: Some(column.name.clone()),
            rule: rule.into(),
            reason,
        };
        let cell = match cell(i) {
            Cell::Text(text) => {
                let t = text.trim();
                if t.is_empty() || dialect.null_tokens.iter().any(|n| n == t) {
                    Cell::Null
                } else if t.len() == text.len() {
                    Cell::Text(text)
                } else {
                    Cell::Text(Cow::Owned(t.to_string()))
                }
            }
            other => other,
        };
        if cell == Cell::Null {
            if column.required {
                return Err(reject(
                    "required",
                    format!("`{}` has no value", column.name),
                ));
            }
            out.push(Value::Null);
            continue;
        }
        let binding = dialect.bindings[i].as_ref();
        let value = cast(cell, column, binding, dialect.decimal).map_err(|(r, m)| reject(r, m))?;
        let numeric = match value {
            Value::Int(v) => Some(v as f64),
            Value::Float(v) => Some(v),
            _ => None,
        };
        if let Some(v) = numeric {
            if let Some(min) = column.min.filter(|m| v < *m) {
                return Err(reject(
                    "bounds",
                    format!("`{}` = {v} is below {min}", column.name),
                ));
            }
            if let Some(max) = column.max.filter(|m| v > *m) {
                return Err(reject(
                    "bounds",
                    format!("`{}` = {v} is above {max}", column.name),
                ));
            }
        }
        out.push(value);
    }
    Ok(out)
}

/// A rule broken by a cast, and why.
type CastError = (&'static str, String);

/// Casts one non-null cell to the column's canonical type.
fn cast(
    cell: Cell<'_>,
    column: &CanonicalColumn,
    binding: Option<&Binding>,
    decimal: char,
) -> Result<Value, CastError> {
    let factor = binding.map(|b| b.factor).unwrap_or(1.0);
    let shown = || show(&cell);
    Ok(match (column.data_type, &cell) {
        (_, Cell::Error(e)) => {
            return Err(("cell_error", format!("the source holds the error `{e}`")));
        }
        (ColumnType::String, Cell::Text(t)) => Value::Str(t.to_string()),
        (ColumnType::String, _) => Value::Str(shown()),
        (ColumnType::Int64, Cell::Text(text)) => match text.parse::<i64>() {
            Ok(v) if factor == 1.0 => Value::Int(v),
            Ok(v) => Value::Int((v as f64 * factor).round() as i64),
            Err(_) => return Err(("parse_number", format!("`{text}` is not an integer"))),
        },
        (ColumnType::Int64, Cell::Int(v)) if factor == 1.0 => Value::Int(*v),
        (ColumnType::Int64, Cell::Int(v)) => Value::Int((*v as f64 * factor).round() as i64),
        // 2^63 as f64 is the first float past i64::MAX.
        (ColumnType::Int64, Cell::Float(v))
            if v.fract() == 0.0 && *v >= -(2f64.powi(63)) && *v < 2f64.powi(63) =>
        {
            Value::Int((*v * factor).round() as i64)
        }
        (ColumnType::Int64, _) => {
            return Err(("parse_number", format!("`{}` is not an integer", shown())));
        }
        (ColumnType::Float64, c) => {
            let v = match c {
                Cell::Text(text) => parse_decimal(text, decimal).ok_or_else(|| {
                    (
                        "parse_number",
                        format!("`{text}` is not a number with decimal `{decimal}`"),
                    )
                })?,
                Cell::Int(v) => *v as f64,
                Cell::Float(v) => *v,
                _ => return Err(("parse_number", format!("`{}` is not a number", shown()))),
            };
            if !v.is_finite() {
                return Err((
                    "not_finite",
                    format!("`{}` is not a finite number", shown()),
                ));
            }
            Value::Float(scale(v, factor))
        }
        (ColumnType::Date, Cell::Text(text)) => {
            let format = binding
                .map(|b| b.date_format.as_str())
                .unwrap_or("%Y-%m-%d");
            let date = NaiveDate::parse_from_str(text, format).map_err(|e| {
                (
                    "parse_date",
                    format!("`{text}` is not a date `{format}`: {e}"),
                )
            })?;
            Value::Date(days_since_epoch(date))
        }
        (ColumnType::Date, Cell::Date(d)) => Value::Date(*d),
        (ColumnType::Date, Cell::DateTime(us)) => {
            if us.rem_euclid(MICROS_PER_DAY) != 0 {
                return Err((
                    "parse_date",
                    format!(
                        "`{}` has a time of day; `{}` is a date",
                        shown(),
                        column.name
                    ),
                ));
            }
            Value::Date(us.div_euclid(MICROS_PER_DAY) as i32)
        }
        (ColumnType::Date, _) => {
            return Err(("parse_date", format!("`{}` is not a date", shown())));
        }
        (ColumnType::Bool, Cell::Text(text)) => match text.to_ascii_lowercase().as_str() {
            "true" | "t" | "1" | "yes" | "y" => Value::Bool(true),
            "false" | "f" | "0" | "no" | "n" => Value::Bool(false),
            _ => return Err(("parse_bool", format!("`{text}` is not a boolean"))),
        },
        (ColumnType::Bool, Cell::Bool(b)) => Value::Bool(*b),
        (ColumnType::Bool, Cell::Int(v @ (0 | 1))) => Value::Bool(*v == 1),
        (ColumnType::Bool, _) => {
            return Err(("parse_bool", format!("`{}` is not a boolean", shown())));
        }
    })
}

/// Microseconds in a day.
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A cell as text, for string columns and messages.
fn show(cell: &Cell<'_>) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Text(t) | Cell::Error(t) => t.to_string(),
        Cell::Int(v) => v.to_string(),
        Cell::Float(v) => v.to_string(),
        Cell::Bool(v) => v.to_string(),
        Cell::Date(d) => epoch()
            .checked_add_signed(chrono::TimeDelta::days(i64::from(*d)))
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_else(|| format!("day {d}")),
        Cell::DateTime(us) => chrono::DateTime::from_timestamp_micros(*us)
            .map(|t| {
                let t = t.naive_utc();
                if us % 1_000_000 == 0 {
                    t.format("%Y-%m-%d %H:%M:%S").to_string()
                } else {
                    t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
                }
            })
            .unwrap_or_else(|| format!("{us} µs")),
    }
}

/// Parses a decimal number written with `decimal` as separator. Thousands separators are
/// not accepted: `1,234` with a decimal point is rejected, not guessed.
fn parse_decimal(text: &str, decimal: char) -> Option<f64> {
    if decimal == ',' {
        if text.contains('.') {
            return None;
        }
        text.replace(',', ".").parse().ok()
    } else {
        if text.contains(',') {
            return None;
        }
        text.parse().ok()
    }
}

/// Applies a unit factor; converted values are rounded to 6 decimals so that `1.23456 MWh`
/// becomes `1234.56 kWh` and not `1234.5600000000002`.
fn scale(v: f64, factor: f64) -> f64 {
    if factor == 1.0 {
        v
    } else {
        ((v * factor) * 1e6).round() / 1e6
    }
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

/// Days from 1970-01-01 to `d`.
pub fn days_since_epoch(d: NaiveDate) -> i32 {
    (d - epoch()).num_days() as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_follow_the_dialect_and_refuse_to_guess() {
        assert_eq!(parse_decimal("12,5", ','), Some(12.5));
        assert_eq!(parse_decimal("12.5", '.'), Some(12.5));
        assert_eq!(parse_decimal("1,234", '.'), None);
        assert_eq!(parse_decimal("1.234,5", ','), None);
        assert_eq!(parse_decimal("1x2", '.'), None);
    }

    #[test]
    fn unit_scaling_removes_float_noise() {
        assert_eq!(scale(1.23456, 1000.0), 1234.56);
        assert_eq!(scale(0.00001, 1000.0), 0.01);
    }
}
