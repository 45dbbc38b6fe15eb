//! Excel workbooks (`.xlsx`): one worksheet read cell by cell with `calamine` (never the
//! whole sheet at once), a header row mapped to canonical columns, then one record per
//! non-empty row. A record's "line" is its spreadsheet row number; its raw text is its
//! cells, tab-separated.
//!
//! Date cells become wall-clock date-times (a timestamp column reads them in its
//! binding's `timezone`). A number in a date or timestamp column is a serial day of
//! Excel's 1900 date system, read by [`crate::time::excel_serial`] (serial 1 is
//! 1900-01-01, serial 60 the 1900-02-29 that never was and is rejected), unless the
//! column's `date_format` reads numbers as epoch counts. Composite `fields` join their
//! cells' text: a whole-day date cell as `%Y-%m-%d`, a time-only cell as `%H:%M:%S`.
//!
//! See: <https://learn.microsoft.com/en-us/office/troubleshoot/excel/1900-and-1904-date-system>

use std::borrow::Cow;
use std::io::Cursor;

use calamine::{Data, ExcelDateTime, Reader, Xlsx};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use keel_core::spec::{ColumnType, SheetRef};

use crate::convert::{Cell, MICROS_PER_DAY, compose_cells, convert_cells, days_since_epoch};
use crate::parse::{Converted, Rejection, clip, name_values, reject_whole};
use crate::plan::{Binding, CanonicalColumn, DialectPlan};
use crate::time::{AmbiguityTracker, TimeFormat};

/// Reads the dialect's worksheet of an `.xlsx` input into canonical rows.
pub fn read(
    bytes: &[u8],
    dialect: &DialectPlan,
    columns: &[CanonicalColumn],
    original_name: &str,
) -> Converted {
    let mut book: Xlsx<_> = match Xlsx::new(Cursor::new(bytes)) {
        Ok(b) => b,
        Err(e) => {
            return reject_whole(
                "xlsx",
                String::new(),
                format!("not a readable .xlsx workbook: {e}"),
            );
        }
    };
    let names = book.sheet_names();
    let sheet = match &dialect.sheet {
        None => names.first(),
        Some(SheetRef::Index(i)) => names.get(*i),
        Some(SheetRef::Name(n)) => names.iter().find(|s| *s == n),
    };
    let Some(sheet) = sheet.cloned() else {
        return reject_whole(
            "xlsx",
            String::new(),
            format!(
                "the workbook has no sheet {}; it has {}",
                match &dialect.sheet {
                    Some(SheetRef::Index(i)) => format!("at index {i}"),
                    Some(SheetRef::Name(n)) => format!("`{n}`"),
                    None => "at all".into(),
                },
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    };
    let mut reader = match book.worksheet_cells_reader(&sheet) {
        Ok(r) => r,
        Err(e) => {
            return reject_whole(
                "xlsx",
                String::new(),
                format!("sheet `{sheet}` cannot be read: {e}"),
            );
        }
    };
    let mut sheet_reader = SheetRows::new(dialect, columns, original_name);
    let mut row: Option<u32> = None;
    let mut cells: Vec<(u32, Data)> = Vec::new();
    loop {
        match reader.next_cell() {
            Ok(Some(cell)) => {
                let (r, c) = cell.get_position();
                if row != Some(r) {
                    if let Some(prev) = row {
                        sheet_reader.row(prev, &cells);
                    }
                    cells.clear();
                    row = Some(r);
                }
                cells.push((c, Data::from(cell.get_value().clone())));
            }
            Ok(None) => break,
            Err(e) => {
                return reject_whole(
                    "xlsx",
                    String::new(),
                    format!(
                        "sheet `{sheet}` cannot be read past row {}: {e}; its rows cannot be \
                         verified complete, so none are taken",
                        row.map_or(0, |r| r + 1)
                    ),
                );
            }
        }
    }
    if let Some(prev) = row {
        sheet_reader.row(prev, &cells);
    }
    sheet_reader.out
}

/// Turns the rows of a sheet, in order, into a header and records.
struct SheetRows<'a> {
    dialect: &'a DialectPlan,
    columns: &'a [CanonicalColumn],
    from_name: Vec<Option<String>>,
    /// Spreadsheet columns (from 0) of each canonical column's fields, once the header
    /// is read: one for a single `field`, one per part of composite `fields`, none when
    /// the header lacks one of them.
    header: Option<Vec<Vec<u32>>>,
    /// A required column the header lacks, and its field.
    missing: Option<(usize, String)>,
    /// The sheet's memory of ambiguous local times.
    tracker: AmbiguityTracker,
    out: Converted,
}

impl<'a> SheetRows<'a> {
    fn new(dialect: &'a DialectPlan, columns: &'a [CanonicalColumn], name: &str) -> Self {
        SheetRows {
            dialect,
            columns,
            from_name: name_values(dialect, name),
            header: None,
            missing: None,
            tracker: AmbiguityTracker::new(),
            out: Vec::new(),
        }
    }

    /// One row (`r` from 0), its cells sorted by column.
    fn row(&mut self, r: u32, cells: &[(u32, Data)]) {
        let number = i64::from(r) + 1;
        let empty = cells.iter().all(|(_, d)| is_blank(d));
        if self.header.is_none() {
            match self.dialect.header_row.map(i64::from) {
                Some(h) if number < h => return, // a preamble line above the header
                Some(h) if number == h => return self.read_header(cells),
                // The declared header row was empty: no field can be found.
                Some(_) => self.read_header(&[]),
                None if empty => return,
                None => return self.read_header(cells),
            }
        }
        if empty {
            return;
        }
        let raw = || raw_row(cells);
        if let Some((idx, field)) = &self.missing {
            self.out.push(Err(Box::new(Rejection {
                line: number,
                raw: raw(),
                column: Some(self.columns[*idx].name.clone()),
                rule: "missing_column".into(),
                reason: format!("the header has no field `{field}`"),
            })));
            return;
        }
        let header = self.header.as_deref().unwrap_or_default();
        let (columns, dialect) = (self.columns, self.dialect);
        let at = |col: u32| match cells.binary_search_by_key(&col, |(c, _)| *c) {
            Ok(k) => &cells[k].1,
            Err(_) => &Data::Empty,
        };
        let converted = convert_cells(
            number,
            dialect,
            columns,
            &mut self.tracker,
            |i| {
                if let Some(v) = &self.from_name[i] {
                    return Cell::Text(Cow::Borrowed(v.as_str()));
                }
                let (Some(binding), Some(parts)) = (&dialect.bindings[i], header.get(i)) else {
                    return Cell::Null;
                };
                match parts.as_slice() {
                    [] => Cell::Null,
                    [one] if binding.fields.is_empty() => {
                        cell_of(at(*one), Role::of(&columns[i], binding))
                    }
                    parts => compose_cells(
                        binding,
                        parts.iter().map(|&c| cell_of(at(c), Role::Part)).collect(),
                    ),
                }
            },
            raw,
        );
        self.out
            .push(converted.map(|v| (number, v)).map_err(Box::new));
    }

    fn read_header(&mut self, cells: &[(u32, Data)]) {
        let names: Vec<(u32, String)> = cells
            .iter()
            .map(|(c, d)| (*c, d.to_string().trim().to_string()))
            .collect();
        let mut header = vec![Vec::new(); self.columns.len()];
        for (i, binding) in self.dialect.bindings.iter().enumerate() {
            let Some(binding) = binding else {
                continue;
            };
            let mut parts = Vec::with_capacity(binding.fields().len());
            for field in binding.fields() {
                let Some((c, _)) = names.iter().find(|(_, n)| n == field) else {
                    if self.columns[i].required && self.missing.is_none() {
                        self.missing = Some((i, field.clone()));
                    }
                    parts.clear();
                    break;
                };
                parts.push(*c);
            }
            header[i] = parts;
        }
        self.header = Some(header);
    }
}

fn is_blank(d: &Data) -> bool {
    match d {
        Data::Empty => true,
        Data::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// What a spreadsheet cell stands for in its canonical column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A date or timestamp column whose `date_format` does not read numbers as epoch
    /// counts: a number is a serial day.
    Serial,
    /// Any other column: a number is a number.
    Plain,
    /// A part of composite `fields`: its text is joined with the other parts'.
    Part,
}

impl Role {
    fn of(column: &CanonicalColumn, binding: &Binding) -> Role {
        let temporal = matches!(column.data_type, ColumnType::Date | ColumnType::Timestamp);
        let epoch = matches!(
            TimeFormat::new(&binding.date_format),
            TimeFormat::Epoch { .. }
        );
        if temporal && !epoch {
            Role::Serial
        } else {
            Role::Plain
        }
    }
}

/// The cell of a spreadsheet value in a column of `role`.
fn cell_of(d: &Data, role: Role) -> Cell<'_> {
    match d {
        Data::Empty => Cell::Null,
        Data::String(s) => Cell::Text(Cow::Borrowed(s)),
        Data::Int(v) if role == Role::Serial => Cell::Serial(*v as f64),
        Data::Float(v) if role == Role::Serial => Cell::Serial(*v),
        Data::Int(v) => Cell::Int(*v),
        Data::Float(v) => Cell::Float(*v),
        Data::Bool(v) => Cell::Bool(*v),
        Data::DateTime(dt) if dt.is_datetime() => date_time(dt, role),
        Data::DateTimeIso(s) => iso(s),
        Data::DateTime(_) | Data::DurationIso(_) => Cell::Text(Cow::Owned(d.to_string())),
        Data::Error(e) => Cell::Error(Cow::Owned(e.to_string())),
    }
}

/// A date cell (a serial day formatted as a date or time) as a wall-clock date-time, by
/// calamine's reading of the workbook's date system (1900 or 1904). In a date or
/// timestamp column, a day that never was (Excel's 1900-02-29) and a time of day alone
/// (day 0 of the 1900 system) are handed on as serials, which
/// [`crate::time::excel_serial`] rejects with the reason; elsewhere they are the text
/// Excel shows. As a part of composite `fields`, a whole day is a date.
fn date_time(dt: &ExcelDateTime, role: Role) -> Cell<'static> {
    let v = dt.as_f64();
    let (y, m, d, h, mi, s, ms) = dt.to_ymd_hms_milli();
    let time =
        NaiveTime::from_hms_milli_opt(u32::from(h), u32::from(mi), u32::from(s), u32::from(ms));
    let first = NaiveDate::from_ymd_opt(1900, 1, 1);
    let date = NaiveDate::from_ymd_opt(i32::from(y), u32::from(m), u32::from(d))
        .filter(|date| Some(*date) >= first);
    match (date, time) {
        (Some(date), Some(time)) if role == Role::Part && time == NaiveTime::MIN => {
            Cell::Date(days_since_epoch(date))
        }
        (Some(date), Some(time)) => Cell::DateTime(
            i64::from(days_since_epoch(date)) * MICROS_PER_DAY
                + i64::from(time.num_seconds_from_midnight()) * 1_000_000
                + i64::from(time.nanosecond() / 1000),
        ),
        _ if role == Role::Serial => Cell::Serial(v),
        (None, Some(time)) if (0.0..1.0).contains(&v) => Cell::Text(Cow::Owned(time.to_string())),
        _ => Cell::Text(Cow::Owned(format!(
            "{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}"
        ))),
    }
}

/// An ISO 8601 date or date-time cell (`t="d"`).
fn iso(s: &str) -> Cell<'_> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Cell::Date(days_since_epoch(d));
    }
    match NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        Ok(t) => Cell::DateTime(t.and_utc().timestamp_micros()),
        Err(_) => Cell::Text(Cow::Borrowed(s)),
    }
}

/// A row's cells as tab-separated text, empty cells kept in place.
fn raw_row(cells: &[(u32, Data)]) -> String {
    let mut out = String::new();
    let mut at = 0u32;
    for (c, d) in cells {
        while at < *c {
            out.push('\t');
            at += 1;
        }
        out.push_str(&d.to_string());
    }
    clip(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serial_day(v: f64) -> Result<String, String> {
        match crate::time::parse_number(v, None, TimeFormat::ExcelSerial) {
            Ok(crate::time::Moment::Local(t)) => Ok(t.to_string()),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn numbers_in_date_and_timestamp_columns_are_serials_unless_the_format_is_an_epoch() {
        let column = |data_type| CanonicalColumn {
            name: "c".into(),
            data_type,
            required: false,
            min: None,
            max: None,
        };
        let binding = |date_format: &str| Binding {
            field: Some("c".into()),
            fields: Vec::new(),
            from_name: None,
            factor: 1.0,
            date_format: date_format.into(),
            timezone: chrono_tz::UTC,
            ambiguous: Default::default(),
        };
        let role = |t, f: &str| Role::of(&column(t), &binding(f));
        assert_eq!(role(ColumnType::Date, "%Y-%m-%d"), Role::Serial);
        assert_eq!(role(ColumnType::Timestamp, "%Y-%m-%d %H:%M"), Role::Serial);
        assert_eq!(role(ColumnType::Timestamp, "excel_serial"), Role::Serial);
        assert_eq!(role(ColumnType::Timestamp, "epoch_s"), Role::Plain);
        assert_eq!(role(ColumnType::Float64, "%Y-%m-%d"), Role::Plain);
        assert_eq!(
            cell_of(&Data::Float(45292.5), Role::Serial),
            Cell::Serial(45292.5)
        );
        assert_eq!(
            cell_of(&Data::Int(45292), Role::Serial),
            Cell::Serial(45292.0)
        );
        assert_eq!(
            cell_of(&Data::Float(45292.5), Role::Plain),
            Cell::Float(45292.5)
        );
    }

    /// Serials are read by `time::excel_serial`: 1–59 count from 1899-12-31, 60 is the
    /// 1900-02-29 that never was, 61 on count from 1899-12-30.
    #[test]
    fn serials_follow_excel_from_day_one() {
        assert_eq!(serial_day(1.0).unwrap(), "1900-01-01 00:00:00");
        assert_eq!(serial_day(59.5).unwrap(), "1900-02-28 12:00:00");
        assert!(serial_day(60.0).unwrap_err().contains("1900-02-29"));
        assert_eq!(serial_day(61.0).unwrap(), "1900-03-01 00:00:00");
        assert_eq!(serial_day(45292.5).unwrap(), "2024-01-01 12:00:00");
        assert!(serial_day(0.5).is_err());
    }

    #[test]
    fn date_cells_become_wall_clocks_and_parts_dates_or_times() {
        use calamine::ExcelDateTimeType::DateTime;
        let cell = |v: f64, role| date_time(&ExcelDateTime::new(v, DateTime, false), role);
        let d2024 = days_since_epoch(NaiveDate::from_ymd_opt(2024, 1, 1).unwrap());
        let noon = i64::from(d2024) * MICROS_PER_DAY + MICROS_PER_DAY / 2;
        assert_eq!(cell(45292.5, Role::Serial), Cell::DateTime(noon));
        assert_eq!(cell(45292.5, Role::Part), Cell::DateTime(noon));
        assert_eq!(cell(45292.0, Role::Part), Cell::Date(d2024));
        assert_eq!(
            cell(45292.0, Role::Plain),
            Cell::DateTime(i64::from(d2024) * MICROS_PER_DAY)
        );
        // A time alone: a time of day as a part, else handed on to be rejected.
        assert_eq!(
            cell(0.5 + 1.5 / 86_400.0, Role::Part),
            Cell::Text(Cow::Owned("12:00:01.500".into()))
        );
        assert_eq!(cell(0.5, Role::Serial), Cell::Serial(0.5));
        assert_eq!(
            cell(0.5, Role::Plain),
            Cell::Text(Cow::Owned("12:00:00".into()))
        );
        // Excel's 1900-02-29 is handed on, never moved to a neighbouring day.
        assert_eq!(cell(60.0, Role::Serial), Cell::Serial(60.0));
        assert_eq!(
            cell(60.5, Role::Plain),
            Cell::Text(Cow::Owned("1900-02-29 12:00:00".into()))
        );
        assert_eq!(
            cell(59.0, Role::Serial),
            Cell::DateTime(
                i64::from(days_since_epoch(
                    NaiveDate::from_ymd_opt(1900, 2, 28).unwrap()
                )) * MICROS_PER_DAY
            )
        );
    }

    #[test]
    fn raw_rows_keep_empty_cells_in_place() {
        let cells = vec![
            (0, Data::String("a".into())),
            (2, Data::Float(1.5)),
            (3, Data::Empty),
        ];
        assert_eq!(raw_row(&cells), "a\t\t1.5\t");
    }
}
