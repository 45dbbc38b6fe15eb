//! From raw text to typed values: null tokens, number and date parsing per dialect, unit
//! conversion, and the `required` and `bounds` rules. A value that fails is never turned
//! into NULL silently: the row is rejected with the column and the rule.

use chrono::NaiveDate;
use keel_core::spec::ColumnType;

use crate::parse::{RawRecord, Rejection};
use crate::plan::{CanonicalColumn, DialectPlan};

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

/// Converts a raw record into one typed value per canonical column, or the first rule it
/// breaks.
pub fn convert(
    record: &RawRecord,
    dialect: &DialectPlan,
    columns: &[CanonicalColumn],
) -> Result<Vec<Value>, Rejection> {
    let mut out = Vec::with_capacity(columns.len());
    for (i, column) in columns.iter().enumerate() {
        let reject = |rule: &str, reason: String| Rejection {
            line: record.line,
            raw: record.raw.clone(),
            column: Some(column.name.clone()),
            rule: rule.into(),
            reason,
        };
        let text = record.values[i]
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty() && !dialect.null_tokens.iter().any(|n| n == t));
        let Some(text) = text else {
            if column.required {
                return Err(reject(
                    "required",
                    format!("`{}` has no value", column.name),
                ));
            }
            out.push(Value::Null);
            continue;
        };
        let binding = dialect.bindings[i].as_ref();
        let factor = binding.map(|b| b.factor).unwrap_or(1.0);
        let value = match column.data_type {
            ColumnType::String => Value::Str(text.to_string()),
            ColumnType::Int64 => match text.parse::<i64>() {
                Ok(v) if factor == 1.0 => Value::Int(v),
                Ok(v) => Value::Int((v as f64 * factor).round() as i64),
                Err(_) => {
                    return Err(reject(
                        "parse_number",
                        format!("`{text}` is not an integer"),
                    ));
                }
            },
            ColumnType::Float64 => {
                let v = parse_decimal(text, dialect.decimal).ok_or_else(|| {
                    reject(
                        "parse_number",
                        format!(
                            "`{text}` is not a number with decimal `{}`",
                            dialect.decimal
                        ),
                    )
                })?;
                if !v.is_finite() {
                    return Err(reject(
                        "not_finite",
                        format!("`{text}` is not a finite number"),
                    ));
                }
                Value::Float(scale(v, factor))
            }
            ColumnType::Date => {
                let format = binding
                    .map(|b| b.date_format.as_str())
                    .unwrap_or("%Y-%m-%d");
                let date = NaiveDate::parse_from_str(text, format).map_err(|e| {
                    reject(
                        "parse_date",
                        format!("`{text}` is not a date `{format}`: {e}"),
                    )
                })?;
                Value::Date(days_since_epoch(date))
            }
            ColumnType::Bool => match text.to_ascii_lowercase().as_str() {
                "true" | "t" | "1" | "yes" | "y" => Value::Bool(true),
                "false" | "f" | "0" | "no" | "n" => Value::Bool(false),
                _ => return Err(reject("parse_bool", format!("`{text}` is not a boolean"))),
            },
        };
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

fn days_since_epoch(d: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    (d - epoch).num_days() as i32
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
