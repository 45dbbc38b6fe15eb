//! From raw text to typed values: null tokens, number, date and timestamp parsing per
//! dialect (formats, time zones and the DST rule are in [`crate::time`]), unit conversion,
//! and the `required` and `bounds` rules. A value that fails is never turned into NULL
//! silently: the row is rejected with the column and the rule.

use std::borrow::Cow;

use chrono::NaiveDate;
use keel_core::spec::ColumnType;

use crate::parse::{RawRecord, Rejection};
use crate::plan::{Binding, CanonicalColumn, DialectPlan};
use crate::time::{self, AmbiguityTracker, Moment, TimeFormat, Zone};

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
    /// An instant, µs since 1970-01-01T00:00Z.
    Timestamp(i64),
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
            Value::Timestamp(v) => v.to_string(),
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
    /// A date and time of day as written (wall clock, no zone), µs since 1970-01-01T00:00;
    /// a timestamp column reads it in its binding's zone.
    DateTime(i64),
    /// An instant whose offset is known (a zoned Parquet timestamp), µs since
    /// 1970-01-01T00:00Z.
    Instant(i64),
    /// A spreadsheet number in a date or timestamp column: a serial day of the 1900 date
    /// system, read by [`time::excel_serial`] whatever the column's `date_format` (so
    /// that serial 60, Excel's 1900-02-29, is rejected with the reason).
    Serial(f64),
    /// A value the source itself marks as an error (a spreadsheet's `#DIV/0!`).
    Error(Cow<'a, str>),
}

impl Cell<'_> {
    /// The cell as text: what a string column stores and what a part of composite
    /// `fields` contributes (numbers with `.`, dates `%Y-%m-%d`, wall-clock times
    /// `%Y-%m-%d %H:%M:%S`, instants RFC 3339 in UTC).
    pub fn to_text(&self) -> String {
        show(self)
    }
}

/// The cell of a composite binding (`fields`) from the cells of its parts, in order:
/// their text joined by [`Binding::compose`] (no value when every part is empty), then
/// read like any text. A part holding a source error makes the whole cell that error.
pub fn compose_cells<'a>(binding: &Binding, parts: Vec<Cell<'a>>) -> Cell<'a> {
    if let Some(error) = parts.iter().find(|c| matches!(c, Cell::Error(_))) {
        return error.clone();
    }
    let texts: Vec<Option<String>> = parts
        .iter()
        .map(|c| match c {
            Cell::Null => None,
            c => Some(show(c)),
        })
        .collect();
    match binding.compose(|k, _| texts.get(k).and_then(Option::as_deref).map(Cow::Borrowed)) {
        Some(text) => Cell::Text(Cow::Owned(text.into_owned())),
        None => Cell::Null,
    }
}

/// Converts a raw record into one typed value per canonical column, or the first rule it
/// breaks. `tracker` is the input's memory of ambiguous local times: one per input, used
/// for all its records in order.
pub fn convert(
    record: &RawRecord,
    dialect: &DialectPlan,
    columns: &[CanonicalColumn],
    tracker: &mut AmbiguityTracker,
) -> Result<Vec<Value>, Rejection> {
    convert_cells(
        record.line,
        dialect,
        columns,
        tracker,
        |i| match record.values[i].as_deref() {
            Some(text) => Cell::Text(Cow::Borrowed(text)),
            None => Cell::Null,
        },
        || record.raw.to_string(),
    )
}

/// Converts the cells of one record (`cell(i)` for canonical column `i`) into typed values,
/// or the first rule it breaks. `raw` renders the record's raw text, only for a rejection.
/// `tracker` is the input's memory of ambiguous local times (see [`crate::time`]).
pub fn convert_cells<'a>(
    line: i64,
    dialect: &DialectPlan,
    columns: &[CanonicalColumn],
    tracker: &mut AmbiguityTracker,
    mut cell: impl FnMut(usize) -> Cell<'a>,
    raw: impl Fn() -> String,
) -> Result<Vec<Value>, Rejection> {
    let mut out = Vec::with_capacity(columns.len());
    let mut broken: Option<(usize, CastError)> = None;
    for (i, column) in columns.iter().enumerate() {
        // Once a rule is broken, only timestamp columns are still read: each appearance of
        // an ambiguous local time counts for the DST rule, even in a rejected record.
        if broken.is_some() && column.data_type != ColumnType::Timestamp {
            continue;
        }
        match value(i, column, cell(i), dialect, tracker) {
            Ok(v) => out.push(v),
            Err(e) => {
                broken.get_or_insert((i, e));
            }
        }
    }
    match broken {
        None => Ok(out),
        Some((i, (rule, reason))) => Err(Rejection {
            line,
            raw: raw(),
            column: Some(columns[i].name.clone()),
            rule: rule.into(),
            reason,
        }),
    }
}

/// The typed value of one cell of canonical column `i`, or the rule it breaks.
fn value(
    i: usize,
    column: &CanonicalColumn,
    cell: Cell<'_>,
    dialect: &DialectPlan,
    tracker: &mut AmbiguityTracker,
) -> Result<Value, CastError> {
    let cell = match cell {
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
            return Err(("required", format!("`{}` has no value", column.name)));
        }
        return Ok(Value::Null);
    }
    let binding = dialect.bindings[i].as_ref();
    let value = cast(cell, i, column, binding, dialect, tracker)?;
    let numeric = match value {
        Value::Int(v) => Some(v as f64),
        Value::Float(v) => Some(v),
        _ => None,
    };
    if let Some(v) = numeric {
        if let Some(min) = column.min.filter(|m| v < *m) {
            return Err(("bounds", format!("`{}` = {v} is below {min}", column.name)));
        }
        if let Some(max) = column.max.filter(|m| v > *m) {
            return Err(("bounds", format!("`{}` = {v} is above {max}", column.name)));
        }
    }
    Ok(value)
}

/// A rule broken by a cast, and why.
type CastError = (&'static str, String);

/// Casts one non-null cell of canonical column `i` to the column's canonical type.
fn cast(
    cell: Cell<'_>,
    i: usize,
    column: &CanonicalColumn,
    binding: Option<&Binding>,
    dialect: &DialectPlan,
    tracker: &mut AmbiguityTracker,
) -> Result<Value, CastError> {
    let decimal = dialect.decimal;
    let numbers = Numbers::of(dialect);
    let factor = binding.map(|b| b.factor).unwrap_or(1.0);
    let shown = || show(&cell);
    Ok(match (column.data_type, &cell) {
        (_, Cell::Error(e)) => {
            return Err(("cell_error", format!("the source holds the error `{e}`")));
        }
        (ColumnType::String, Cell::Text(t)) => Value::Str(t.to_string()),
        (ColumnType::String, _) => Value::Str(shown()),
        (ColumnType::Int64, Cell::Text(text)) => match numbers.integer(text) {
            Some(v) if factor == 1.0 => Value::Int(v),
            Some(v) => Value::Int((v as f64 * factor).round() as i64),
            None => {
                return Err((
                    "parse_number",
                    format!("`{text}` is not an integer {}", numbers.describe()),
                ));
            }
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
                Cell::Text(text) => numbers.float(text).ok_or_else(|| {
                    (
                        "parse_number",
                        format!("`{text}` is not a number {}", numbers.describe()),
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
        (ColumnType::Date, Cell::Date(d)) => Value::Date(*d),
        (ColumnType::Date, c) => {
            let moment = moment(c, binding, decimal).map_err(|m| ("parse_date", m))?;
            let tz = binding.map_or(Zone::default().tz, |b| b.zone().tz);
            Value::Date(days_since_epoch(time::to_date(moment, tz, &column.name)?))
        }
        (ColumnType::Timestamp, c) => {
            let moment = moment(c, binding, decimal).map_err(|m| ("parse_timestamp", m))?;
            let zone = binding.map_or_else(Zone::default, Binding::zone);
            Value::Timestamp(time::to_instant(moment, zone, i, tracker)?)
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

/// What a non-null cell of a date or timestamp column says about time, read with its
/// binding's `date_format` (`%Y-%m-%d` without a binding).
fn moment(cell: &Cell<'_>, binding: Option<&Binding>, decimal: char) -> Result<Moment, String> {
    let format = TimeFormat::new(binding.map_or("%Y-%m-%d", |b| b.date_format.as_str()));
    match cell {
        Cell::Text(text) => time::parse_text(text, format, decimal),
        Cell::Int(v) => time::parse_number(*v as f64, Some(*v), format),
        Cell::Float(v) => time::parse_number(*v, None, format),
        Cell::Date(d) => epoch()
            .checked_add_signed(chrono::TimeDelta::days(i64::from(*d)))
            .map(Moment::Date)
            .ok_or_else(|| format!("day {d} is out of range")),
        Cell::DateTime(us) => chrono::DateTime::from_timestamp_micros(*us)
            .map(|t| Moment::Local(t.naive_utc()))
            .ok_or_else(|| format!("{us} µs is out of range")),
        Cell::Instant(us) => Ok(Moment::Instant(*us)),
        Cell::Serial(v) => time::parse_number(*v, None, TimeFormat::ExcelSerial),
        Cell::Null | Cell::Bool(_) | Cell::Error(_) => {
            Err(format!("`{}` is not a date or time", show(cell)))
        }
    }
}

/// A cell as text, for string columns and messages.
fn show(cell: &Cell<'_>) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Text(t) | Cell::Error(t) => t.to_string(),
        Cell::Int(v) => v.to_string(),
        Cell::Float(v) | Cell::Serial(v) => v.to_string(),
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
        Cell::Instant(us) => time::show_instant(*us),
    }
}

/// How a dialect writes numbers: its decimal separator and its thousands separator, if
/// it groups digits (RELIABILITY C3).
///
/// Reading is strict, so that no number is guessed:
/// - without a thousands separator only `decimal` may appear: `1,234` under decimal `.`
///   (and `1.234` under decimal `,`) is rejected as ambiguous, never read as 1.234 or 1234;
/// - with one, the integer part is either ungrouped digits or groups of exactly 3 digits
///   after a first group of 1–3 that does not start with 0: `1.234.567,5` and `1234,5`
///   are read, `1.23,4` and `12.34` are not;
/// - the three spaces exports group with (space, no-break space U+00A0, narrow no-break
///   space U+202F) stand for one another;
/// - an exponent (`1.5e3`) is read only without grouping; `NaN` and `inf` are read and
///   then refused by the `not_finite` rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Numbers {
    /// The decimal separator.
    pub decimal: char,
    /// The thousands separator, when digits are grouped.
    pub thousands: Option<char>,
}

impl Numbers {
    /// The number syntax of `dialect`.
    pub fn of(dialect: &DialectPlan) -> Numbers {
        Numbers {
            decimal: dialect.decimal,
            // A separator cannot be both; a plan never makes them equal.
            thousands: dialect.thousands.filter(|&t| t != dialect.decimal),
        }
    }

    /// A number written in this syntax.
    pub fn float(self, text: &str) -> Option<f64> {
        let mut buf = [0u8; PLAIN_MAX];
        match self.plain(text, &mut buf) {
            Some(plain) => plain.parse().ok(),
            None => self.normalise(text)?.parse().ok(),
        }
    }

    /// An integer written in this syntax (grouped digits, no decimal part).
    pub fn integer(self, text: &str) -> Option<i64> {
        let mut buf = [0u8; PLAIN_MAX];
        match self.plain(text, &mut buf) {
            Some(plain) => plain.parse().ok(),
            None => self.normalise(text)?.parse().ok(),
        }
    }

    /// The usual number (`-1234.5`, `0,25`: a sign, digits and at most one decimal
    /// separator, at least one digit) in Rust's syntax, written into `buf` without
    /// allocating; `None` for anything else, which [`Numbers::normalise`] then reads.
    fn plain<'b>(self, text: &str, buf: &'b mut [u8; PLAIN_MAX]) -> Option<&'b str> {
        let bytes = text.as_bytes();
        let out = buf.get_mut(..bytes.len())?;
        let decimal = self.decimal.is_ascii().then_some(self.decimal as u8)?;
        let (mut digits, mut separators) = (0, 0);
        for (i, (&b, o)) in bytes.iter().zip(out.iter_mut()).enumerate() {
            *o = match b {
                b'0'..=b'9' => {
                    digits += 1;
                    b
                }
                b'+' | b'-' if i == 0 => b,
                _ if b == decimal => {
                    separators += 1;
                    b'.'
                }
                _ => return None,
            };
        }
        if digits == 0 || separators > 1 {
            return None;
        }
        std::str::from_utf8(out).ok()
    }

    /// The separators, for messages.
    fn describe(self) -> String {
        match self.thousands {
            Some(t) => format!(
                "with decimal `{}` and thousands {}",
                self.decimal,
                match t {
                    ' ' | '\u{a0}' | '\u{202f}' => "grouped by spaces".to_string(),
                    t => format!("`{t}` in groups of 3"),
                }
            ),
            None => format!("with decimal `{}` and no thousands separator", self.decimal),
        }
    }

    fn is_group(self, c: char) -> bool {
        match self.thousands {
            Some(t) if is_space(t) => is_space(c),
            Some(t) => c == t,
            None => false,
        }
    }

    /// `text` in Rust's number syntax (`-1234.5`, `1.5e3`), or `None` when it does not
    /// follow this one.
    fn normalise(self, text: &str) -> Option<String> {
        let (sign, body) = match text.strip_prefix(['+', '-']) {
            Some(rest) => (&text[..1], rest),
            None => ("", text),
        };
        if ["nan", "inf", "infinity"]
            .iter()
            .any(|w| body.eq_ignore_ascii_case(w))
        {
            return Some(format!("{sign}{body}"));
        }
        let (mantissa, exponent) = match body.find(['e', 'E']) {
            Some(at) => (&body[..at], Some(&body[at + 1..])),
            None => (body, None),
        };
        let (int, frac) = match mantissa.split_once(self.decimal) {
            Some((int, frac)) => (int, Some(frac)),
            None => (mantissa, None),
        };
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        let mut out = String::with_capacity(text.len());
        out.push_str(sign);
        if int.chars().any(|c| self.is_group(c)) {
            if exponent.is_some() {
                return None;
            }
            let mut groups = int.split(|c| self.is_group(c));
            let first = groups.next()?;
            if !(1..=3).contains(&first.len()) || !digits(first) || first.starts_with('0') {
                return None;
            }
            out.push_str(first);
            for g in groups {
                if g.len() != 3 || !digits(g) {
                    return None;
                }
                out.push_str(g);
            }
        } else if digits(int) {
            out.push_str(int);
        } else {
            return None;
        }
        if let Some(frac) = frac {
            if !digits(frac) || (int.is_empty() && frac.is_empty()) {
                return None;
            }
            out.push('.');
            out.push_str(frac);
        } else if int.is_empty() {
            return None;
        }
        if let Some(exponent) = exponent {
            let e = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            if e.is_empty() || !digits(e) {
                return None;
            }
            out.push('e');
            out.push_str(exponent);
        }
        Some(out)
    }
}

/// Longest text [`Numbers::plain`] reads.
const PLAIN_MAX: usize = 40;

/// The spaces digits are grouped with: space, no-break space, narrow no-break space.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\u{a0}' | '\u{202f}')
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

    fn numbers(decimal: char, thousands: Option<char>) -> Numbers {
        Numbers { decimal, thousands }
    }

    #[test]
    fn decimals_follow_the_dialect_and_refuse_to_guess() {
        let point = numbers('.', None);
        let comma = numbers(',', None);
        assert_eq!(comma.float("12,5"), Some(12.5));
        assert_eq!(point.float("12.5"), Some(12.5));
        assert_eq!(point.float("-12.5"), Some(-12.5));
        assert_eq!(point.float("+.5"), Some(0.5));
        assert_eq!(point.float("5."), Some(5.0));
        assert_eq!(point.float("1.5e3"), Some(1500.0));
        assert_eq!(comma.float("1,5E-1"), Some(0.15));
        assert_eq!(point.float("1x2"), None);
        assert_eq!(point.float("."), None);
        assert_eq!(point.float(""), None);
        assert_eq!(point.float("e5"), None);
        assert_eq!(point.float("1e"), None);
        assert_eq!(point.float("--1"), None);
        assert!(point.float("NaN").is_some_and(f64::is_nan));
        assert_eq!(point.float("-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(point.integer("1234"), Some(1234));
        assert_eq!(point.integer("-7"), Some(-7));
        assert_eq!(point.integer("12.0"), None);
    }

    /// The allocation-free path reads exactly what the general one reads.
    #[test]
    fn the_plain_path_agrees_with_the_general_one() {
        let texts = [
            "0",
            "-0",
            "+7",
            "12",
            "12.5",
            "12,5",
            "-12.5",
            "+.5",
            "5.",
            ".",
            ",",
            "-",
            "+",
            "",
            "1.2.3",
            "1,2,3",
            "007",
            "1e3",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "123456789012345678901234567890123456789012345",
            "0.1000000000000000055511151231257827",
            "1-2",
            "1+",
            "١٢",
        ];
        for n in [
            numbers('.', None),
            numbers(',', None),
            numbers(',', Some('.')),
        ] {
            for t in texts {
                let general_f = n.normalise(t).and_then(|s| s.parse::<f64>().ok());
                let general_i = n.normalise(t).and_then(|s| s.parse::<i64>().ok());
                assert_eq!(n.float(t), general_f, "{n:?} float `{t}`");
                assert_eq!(n.integer(t), general_i, "{n:?} integer `{t}`");
            }
        }
    }

    /// RELIABILITY C3: with no thousands separator, the other separator is ambiguous.
    #[test]
    fn without_thousands_a_grouping_separator_is_rejected_as_ambiguous() {
        let point = numbers('.', None);
        let comma = numbers(',', None);
        assert_eq!(point.float("1,234"), None, "never 1.234 nor 1234");
        assert_eq!(point.integer("1,234"), None);
        assert_eq!(comma.float("1.234"), None);
        assert_eq!(comma.float("1.234,5"), None);
        assert_eq!(point.float("1 234"), None);
        assert_eq!(point.float("1'234"), None);
    }

    /// RELIABILITY C3: thousands `.` with decimal `,`, as in Poland and Germany.
    #[test]
    fn thousands_point_with_decimal_comma_reads_groups_of_three() {
        let pl = numbers(',', Some('.'));
        assert_eq!(pl.float("1.234,5"), Some(1234.5));
        assert_eq!(pl.float("-12.345.678,25"), Some(-12_345_678.25));
        assert_eq!(pl.float("1.234"), Some(1234.0));
        assert_eq!(pl.float("1234,5"), Some(1234.5), "ungrouped is unambiguous");
        assert_eq!(pl.float("0,5"), Some(0.5));
        assert_eq!(pl.integer("1.234.567"), Some(1_234_567));
        // Groups must be of 3 digits after a first group of 1–3 not starting with 0.
        assert_eq!(pl.float("1.23,4"), None);
        assert_eq!(pl.float("12.34"), None);
        assert_eq!(pl.float("1.2345,6"), None);
        assert_eq!(pl.float("1234.567,8"), None);
        assert_eq!(pl.float("0.123,4"), None);
        assert_eq!(pl.float(".234,5"), None);
        assert_eq!(pl.float("1..234"), None);
        assert_eq!(pl.float("1.234,5,6"), None);
        assert_eq!(pl.float("1.234,5.6"), None);
        // Another grouping character is not this dialect's.
        assert_eq!(pl.float("1 234,5"), None);
        assert_eq!(pl.float("1.234e3"), None);
        assert_eq!(pl.integer("1.234,0"), None);
    }

    /// RELIABILITY C3: spaces group digits in Polish, French and Estonian exports; the
    /// three spaces stand for one another.
    #[test]
    fn space_thousands_accept_no_break_and_narrow_no_break_spaces() {
        for sep in [' ', '\u{a0}', '\u{202f}'] {
            let n = numbers(',', Some(sep));
            for text in ["1 234,5", "1\u{a0}234,5", "1\u{202f}234,5"] {
                assert_eq!(n.float(text), Some(1234.5), "{text:?} with {sep:?}");
            }
            assert_eq!(n.float("12 345 678"), Some(12_345_678.0));
            assert_eq!(n.float("1 23,4"), None);
            assert_eq!(n.float("1.234,5"), None);
            assert_eq!(n.float("1  234"), None);
        }
        let en = numbers('.', Some(','));
        assert_eq!(en.float("1,234.5"), Some(1234.5));
        assert_eq!(en.float("1,234"), Some(1234.0), "declared: not ambiguous");
        assert_eq!(en.float("1,23.4"), None);
    }

    #[test]
    fn rejections_name_the_separators() {
        let mut dialect = plan("%Y-%m-%d").dialects[0].clone();
        let column = CanonicalColumn {
            name: "kwh".into(),
            data_type: ColumnType::Float64,
            required: false,
            min: None,
            max: None,
        };
        let read = |text: &'static str, dialect: &DialectPlan| {
            let cell = Cell::Text(Cow::Borrowed(text));
            cast(
                cell,
                0,
                &column,
                None,
                dialect,
                &mut AmbiguityTracker::new(),
            )
        };
        dialect.decimal = ',';
        dialect.thousands = Some('.');
        assert_eq!(read("1.234,5", &dialect), Ok(Value::Float(1234.5)));
        let (rule, reason) = read("1.23,4", &dialect).unwrap_err();
        assert_eq!(rule, "parse_number");
        assert!(reason.contains("thousands `.`"), "{reason}");
        dialect.thousands = None;
        let (_, reason) = read("1.234,5", &dialect).unwrap_err();
        assert!(reason.contains("no thousands separator"), "{reason}");
    }

    /// A planned source with a timestamp `at` and a date `day`, both in Europe/Warsaw.
    fn plan(date_format: &str) -> crate::SourcePlan {
        let toml = format!(
            r#"
[collector]
kind = "files"
path = "inbox"
[format]
kind = "parquet"
[[format.dialects]]
name = "d"
timezone = "Europe/Warsaw"
date_format = "{date_format}"
[format.dialects.columns]
at = "at"
day = "day"
[[columns]]
name = "at"
type = "timestamp"
[[columns]]
name = "day"
type = "date"
"#
        );
        let source = keel_core::project::Source {
            name: "s".into(),
            path: "sources/s.toml".into(),
            spec: toml::from_str(&toml).unwrap(),
        };
        crate::SourcePlan::new(&source).unwrap()
    }

    fn row(
        plan: &crate::SourcePlan,
        at: Cell<'static>,
        day: Cell<'static>,
    ) -> Result<Vec<Value>, String> {
        let cells = [at, day];
        convert_cells(
            1,
            &plan.dialects[0],
            &plan.columns,
            &mut AmbiguityTracker::new(),
            |i| cells[i].clone(),
            String::new,
        )
        .map_err(|r| format!("{}:{}", r.rule, r.column.unwrap_or_default()))
    }

    fn utc(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_micros()
    }

    #[test]
    fn wall_clock_cells_are_read_in_the_zone_and_instants_kept() {
        let plan = plan("%Y-%m-%d");
        // A spreadsheet or Parquet wall clock, 2021-07-01 12:00 in Warsaw (CEST).
        let wall = utc("2021-07-01T12:00:00Z");
        let midnight = utc("2021-07-01T00:00:00Z");
        let day = days_since_epoch(NaiveDate::from_ymd_opt(2021, 7, 1).unwrap());
        assert_eq!(
            row(&plan, Cell::DateTime(wall), Cell::DateTime(midnight)),
            Ok(vec![
                Value::Timestamp(utc("2021-07-01T10:00:00Z")),
                Value::Date(day)
            ])
        );
        // A zoned instant keeps its instant; a date column takes its day in the zone.
        assert_eq!(
            row(
                &plan,
                Cell::Instant(wall),
                Cell::Instant(utc("2021-06-30T22:00:00Z"))
            ),
            Ok(vec![Value::Timestamp(wall), Value::Date(day)])
        );
        // A date column is not fed a time of day.
        assert_eq!(
            row(&plan, Cell::Null, Cell::DateTime(wall)),
            Err("parse_date:day".to_string())
        );
        // A date in a timestamp column is its local midnight.
        assert_eq!(
            row(&plan, Cell::Date(day), Cell::Null),
            Ok(vec![
                Value::Timestamp(utc("2021-06-30T22:00:00Z")),
                Value::Null
            ])
        );
        // Numbers need a numeric format.
        assert_eq!(
            row(&plan, Cell::Int(1_625_140_800), Cell::Null),
            Err("parse_timestamp:at".to_string())
        );
    }

    #[test]
    fn number_cells_read_as_epochs_or_serials() {
        let plan_s = plan("epoch_s");
        assert_eq!(
            row(&plan_s, Cell::Int(1_625_140_800), Cell::Null),
            Ok(vec![
                Value::Timestamp(utc("2021-07-01T12:00:00Z")),
                Value::Null
            ])
        );
        let plan_x = plan("excel_serial");
        let day = days_since_epoch(NaiveDate::from_ymd_opt(2021, 7, 1).unwrap());
        assert_eq!(
            row(&plan_x, Cell::Float(44378.5), Cell::Int(44378)),
            Ok(vec![
                Value::Timestamp(utc("2021-07-01T10:00:00Z")),
                Value::Date(day)
            ])
        );
    }

    #[test]
    fn timestamps_key_by_their_instant() {
        assert_eq!(Value::Timestamp(-1).key_part(), "-1");
        assert_ne!(
            Value::Timestamp(utc("2021-10-31T00:30:00Z")).key_part(),
            Value::Timestamp(utc("2021-10-31T01:30:00Z")).key_part()
        );
    }

    #[test]
    fn unit_scaling_removes_float_noise() {
        assert_eq!(scale(1.23456, 1000.0), 1234.56);
        assert_eq!(scale(0.00001, 1000.0), 0.01);
    }
}
