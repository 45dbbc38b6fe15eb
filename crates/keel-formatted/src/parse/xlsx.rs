//! Excel workbooks (`.xlsx`): one worksheet read cell by cell with `calamine` (never the
//! whole sheet at once), a header row mapped to canonical columns, then one record per
//! non-empty row. A record's "line" is its spreadsheet row number; its raw text is its
//! cells, tab-separated. Date cells and serial numbers in date columns (days since
//! 1899-12-30, Excel's 1900 date system) become dates.
//!
//! See: <https://learn.microsoft.com/en-us/office/troubleshoot/excel/1900-and-1904-date-system>

use std::borrow::Cow;
use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use chrono::{NaiveDate, NaiveDateTime};
use keel_core::spec::{ColumnType, SheetRef};

use crate::convert::{Cell, MICROS_PER_DAY, convert_cells, days_since_epoch};
use crate::parse::{Converted, Rejection, clip, name_values, reject_whole};
use crate::plan::{CanonicalColumn, DialectPlan};
use crate::time::AmbiguityTracker;

/// Serial number of 1970-01-01 in Excel's 1900 date system.
const SERIAL_UNIX_EPOCH: f64 = 25_569.0;
/// Serial number of 9999-12-31, the last date Excel shows.
const SERIAL_MAX: f64 = 2_958_466.0;

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
    /// Spreadsheet column (from 0) of each canonical column, once the header is read.
    header: Option<Vec<Option<u32>>>,
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
            self.out.push(Err(Rejection {
                line: number,
                raw: raw(),
                column: Some(self.columns[*idx].name.clone()),
                rule: "missing_column".into(),
                reason: format!("the header has no field `{field}`"),
            }));
            return;
        }
        let header = self.header.as_deref().unwrap_or_default();
        let columns = self.columns;
        let converted = convert_cells(
            number,
            self.dialect,
            columns,
            &mut self.tracker,
            |i| {
                if let Some(v) = &self.from_name[i] {
                    return Cell::Text(Cow::Borrowed(v.as_str()));
                }
                let Some(col) = header.get(i).copied().flatten() else {
                    return Cell::Null;
                };
                match cells.binary_search_by_key(&col, |(c, _)| *c) {
                    Ok(at) => cell_of(&cells[at].1, columns[i].data_type == ColumnType::Date),
                    Err(_) => Cell::Null,
                }
            },
            raw,
        );
        self.out.push(converted.map(|v| (number, v)));
    }

    fn read_header(&mut self, cells: &[(u32, Data)]) {
        let names: Vec<(u32, String)> = cells
            .iter()
            .map(|(c, d)| (*c, d.to_string().trim().to_string()))
            .collect();
        let mut header = vec![None; self.columns.len()];
        for (i, binding) in self.dialect.bindings.iter().enumerate() {
            let Some(field) = binding
                .as_ref()
                .filter(|b| b.from_name.is_none())
                .and_then(|b| b.field.as_deref())
            else {
                continue;
            };
            match names.iter().find(|(_, n)| n == field) {
                Some((c, _)) => header[i] = Some(*c),
                None if self.columns[i].required && self.missing.is_none() => {
                    self.missing = Some((i, field.to_string()));
                }
                None => {}
            }
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

/// The cell of a spreadsheet value; in a date column a number is a serial date.
fn cell_of(d: &Data, date_column: bool) -> Cell<'_> {
    match d {
        Data::Empty => Cell::Null,
        Data::String(s) => Cell::Text(Cow::Borrowed(s)),
        Data::Int(v) if date_column => serial(*v as f64),
        Data::Float(v) if date_column => serial(*v),
        Data::Int(v) => Cell::Int(*v),
        Data::Float(v) => Cell::Float(*v),
        Data::Bool(v) => Cell::Bool(*v),
        Data::DateTime(dt) if dt.is_datetime() => {
            let (y, m, d, h, mi, s, ms) = dt.to_ymd_hms_milli();
            match NaiveDate::from_ymd_opt(i32::from(y), u32::from(m), u32::from(d)) {
                Some(date) => Cell::DateTime(
                    i64::from(days_since_epoch(date)) * MICROS_PER_DAY
                        + ((i64::from(h) * 60 + i64::from(mi)) * 60 + i64::from(s)) * 1_000_000
                        + i64::from(ms) * 1000,
                ),
                // Excel's 1900-02-29, a day that never was.
                None => Cell::Text(Cow::Owned(format!("{y:04}-{m:02}-{d:02}"))),
            }
        }
        Data::DateTimeIso(s) => iso(s),
        Data::DateTime(_) | Data::DurationIso(_) => Cell::Text(Cow::Owned(d.to_string())),
        Data::Error(e) => Cell::Error(Cow::Owned(e.to_string())),
    }
}

/// A serial number of Excel's 1900 date system as a date and time, to the millisecond as
/// Excel keeps it; a number outside the dates Excel shows stays a number.
fn serial(v: f64) -> Cell<'static> {
    if !(1.0..SERIAL_MAX).contains(&v) {
        return Cell::Float(v);
    }
    let ms = ((v - SERIAL_UNIX_EPOCH) * 86_400_000.0).round() as i64;
    Cell::DateTime(ms * 1000)
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

    #[test]
    fn serial_dates_count_from_1899_12_30() {
        let day = |v: f64| match serial(v) {
            Cell::DateTime(us) => Some((us / MICROS_PER_DAY, us % MICROS_PER_DAY)),
            _ => None,
        };
        // 45292 is 2024-01-01, 25569 is 1970-01-01.
        let d2024 = days_since_epoch(NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()) as i64;
        assert_eq!(day(45292.0), Some((d2024, 0)));
        assert_eq!(day(25569.0), Some((0, 0)));
        assert_eq!(day(45292.5), Some((d2024, MICROS_PER_DAY / 2)));
        assert_eq!(serial(-3.0), Cell::Float(-3.0));
        assert!(matches!(serial(f64::NAN), Cell::Float(v) if v.is_nan()));
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
