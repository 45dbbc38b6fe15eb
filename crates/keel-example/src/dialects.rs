//! The three heat-meter firmware writers (`hm1`, `pl2`, `mx3`): a month of readings to bytes.

use std::fmt::Write as _;

use chrono::{Datelike, NaiveDate};

use crate::FileTruth;
use crate::world::days_in_month;

/// The firmware of a heat meter, which fixes the dialect of the files it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Firmware {
    /// UTF-8, comma, LF, ISO dates, kWh with a decimal point.
    Hm1,
    /// Windows-1250, semicolon, CRLF, `dd.mm.yyyy`, kWh with a decimal comma, Polish header.
    Pl2,
    /// UTF-8, comma, LF, ISO dates, MWh with five decimals.
    Mx3,
}

/// Roughly 50% `hm1`, 30% `pl2`, 20% `mx3`, repeating every ten devices.
const PATTERN: [Firmware; 10] = [
    Firmware::Hm1,
    Firmware::Pl2,
    Firmware::Mx3,
    Firmware::Hm1,
    Firmware::Pl2,
    Firmware::Hm1,
    Firmware::Mx3,
    Firmware::Hm1,
    Firmware::Pl2,
    Firmware::Hm1,
];

/// The energy written for an absurd reading: 999999.99 kWh.
const ABSURD_CENTS: i64 = 99_999_999;

impl Firmware {
    pub fn for_index(index: usize) -> Self {
        PATTERN[index % PATTERN.len()]
    }

    /// The folder under `inbox/meters/` and the name used in the device registry.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hm1 => "hm1",
            Self::Pl2 => "pl2",
            Self::Mx3 => "mx3",
        }
    }

    pub fn id_prefix(self) -> &'static str {
        match self {
            Self::Hm1 => "HM1",
            Self::Pl2 => "PL2",
            Self::Mx3 => "MX3",
        }
    }

    pub(crate) fn header(self) -> &'static str {
        match self {
            Self::Hm1 => "device_id,date,energy_kwh,supply_temp_c,return_temp_c",
            Self::Pl2 => "Licznik;Data;Zużycie [kWh];Temp. zasilania [°C];Temp. powrotu [°C]",
            Self::Mx3 => "meter,day,heat_mwh,t_supply,t_return",
        }
    }

    fn delimiter(self) -> char {
        match self {
            Self::Pl2 => ';',
            Self::Hm1 | Self::Mx3 => ',',
        }
    }

    fn decimal(self) -> char {
        match self {
            Self::Pl2 => ',',
            Self::Hm1 | Self::Mx3 => '.',
        }
    }

    fn newline(self) -> &'static str {
        match self {
            Self::Pl2 => "\r\n",
            Self::Hm1 | Self::Mx3 => "\n",
        }
    }

    fn date(self, out: &mut String, year: i32, month: u32, day: u32) {
        let _ = match self {
            Self::Pl2 => write!(out, "{day:02}.{month:02}.{year:04}"),
            Self::Hm1 | Self::Mx3 => write!(out, "{year:04}-{month:02}-{day:02}"),
        };
    }

    fn energy(self, out: &mut String, kwh_cents: i64) {
        match self {
            // kWh with 2 decimals / 1000 is exactly MWh with 5 decimals.
            Self::Mx3 => fixed(out, kwh_cents, 5, '.'),
            Self::Hm1 | Self::Pl2 => fixed(out, kwh_cents, 2, self.decimal()),
        }
    }
}

/// One day's measurement as the meter saw it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reading {
    pub date: NaiveDate,
    /// Energy in hundredths of a kWh.
    pub kwh_cents: i64,
    /// Supply and return temperatures in tenths of a °C.
    pub supply_dc: i32,
    pub return_dc: i32,
}

/// What goes wrong with a line, at most one thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    None,
    Negative,
    Absurd,
    /// The line stops `keep` characters into the date field.
    Truncated {
        keep: usize,
    },
    /// The energy field has a letter in it (`1x234.56`).
    BadNumber,
    /// The day is one past the end of the month (`2016-02-30`).
    BadDate,
}

/// A line of a month file before rendering.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row {
    pub reading: Reading,
    pub fault: Fault,
    /// The line is written twice in a row; only fault-free rows are.
    pub duplicated: bool,
}

/// Renders a month file in the firmware's dialect and, in the same walk, the truth about its lines.
pub(crate) fn render(firmware: Firmware, device_id: &str, rows: &[Row]) -> (Vec<u8>, FileTruth) {
    let newline = firmware.newline();
    let mut text = String::with_capacity(64 + rows.len() * 48);
    text.push_str(firmware.header());
    text.push_str(newline);
    let mut truth = FileTruth::default();
    let mut line_no = 1;
    let mut line = String::with_capacity(64);
    for row in rows {
        line.clear();
        render_line(&mut line, firmware, device_id, row);
        line_no += 1;
        let faulty = match row.fault {
            Fault::None => None,
            Fault::Negative => Some(&mut truth.negative_lines),
            Fault::Absurd => Some(&mut truth.absurd_lines),
            Fault::Truncated { .. } | Fault::BadNumber | Fault::BadDate => {
                Some(&mut truth.malformed_lines)
            }
        };
        if let Some(lines) = faulty {
            lines.push(line_no);
        }
        text.push_str(&line);
        text.push_str(newline);
        if row.duplicated && row.fault == Fault::None {
            line_no += 1;
            truth.duplicate_lines.push(line_no);
            text.push_str(&line);
            text.push_str(newline);
        }
    }
    truth.data_lines = line_no - 1;
    let bytes = match firmware {
        // Every character the writer produces exists in Windows-1250 ('ż' is 0xBF, '°' is 0xB0).
        Firmware::Pl2 => encoding_rs::WINDOWS_1250.encode(&text).0.into_owned(),
        Firmware::Hm1 | Firmware::Mx3 => text.into_bytes(),
    };
    (bytes, truth)
}

fn render_line(out: &mut String, firmware: Firmware, device_id: &str, row: &Row) {
    let delimiter = firmware.delimiter();
    let r = &row.reading;
    out.push_str(device_id);
    out.push(delimiter);
    let date_start = out.len();
    let (year, month) = (r.date.year(), r.date.month());
    let day = match row.fault {
        Fault::BadDate => days_in_month(year, month) + 1,
        _ => r.date.day(),
    };
    firmware.date(out, year, month, day);
    if let Fault::Truncated { keep } = row.fault {
        // Dates are ASCII, so any byte offset is a character boundary.
        out.truncate(date_start + keep.min(out.len() - date_start - 1));
        return;
    }
    out.push(delimiter);
    let energy_start = out.len();
    match row.fault {
        Fault::Negative => firmware.energy(out, -r.kwh_cents.abs()),
        Fault::Absurd => firmware.energy(out, ABSURD_CENTS),
        _ => firmware.energy(out, r.kwh_cents),
    }
    if row.fault == Fault::BadNumber {
        out.insert(energy_start + 1, 'x');
    }
    out.push(delimiter);
    fixed(out, i64::from(r.supply_dc), 1, firmware.decimal());
    out.push(delimiter);
    fixed(out, i64::from(r.return_dc), 1, firmware.decimal());
}

/// Writes `value / 10^decimals` with exactly `decimals` digits after `separator`.
fn fixed(out: &mut String, value: i64, decimals: u32, separator: char) {
    let scale = 10u64.pow(decimals);
    let abs = value.unsigned_abs();
    let sign = if value < 0 { "-" } else { "" };
    let width = decimals as usize;
    let _ = write!(
        out,
        "{sign}{}{separator}{:0width$}",
        abs / scale,
        abs % scale
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(fault: Fault, duplicated: bool) -> Row {
        Row {
            reading: Reading {
                date: NaiveDate::from_ymd_opt(2016, 2, 7).expect("valid date"),
                kwh_cents: 123_456,
                supply_dc: 712,
                return_dc: 453,
            },
            fault,
            duplicated,
        }
    }

    fn text(firmware: Firmware, rows: &[Row]) -> (String, FileTruth) {
        let (bytes, truth) = render(firmware, "X-00001", rows);
        let (text, _, _) = encoding_rs::WINDOWS_1250.decode(&bytes);
        (text.into_owned(), truth)
    }

    #[test]
    fn each_dialect_writes_its_own_row_shape() {
        let rows = [row(Fault::None, false)];
        assert!(
            text(Firmware::Hm1, &rows)
                .0
                .ends_with("\nX-00001,2016-02-07,1234.56,71.2,45.3\n")
        );
        assert!(
            text(Firmware::Pl2, &rows)
                .0
                .ends_with("\r\nX-00001;07.02.2016;1234,56;71,2;45,3\r\n")
        );
        assert!(
            text(Firmware::Mx3, &rows)
                .0
                .ends_with("\nX-00001,2016-02-07,1.23456,71.2,45.3\n")
        );
    }

    #[test]
    fn faults_render_and_are_recorded_on_their_line() {
        let rows = [
            row(Fault::None, true),
            row(Fault::Negative, false),
            row(Fault::Absurd, false),
            row(Fault::Truncated { keep: 4 }, false),
            row(Fault::BadNumber, false),
            row(Fault::BadDate, false),
        ];
        let (pl2, truth) = text(Firmware::Pl2, &rows);
        let lines: Vec<&str> = pl2.split("\r\n").collect();
        assert_eq!(lines[1], lines[2]);
        assert_eq!(lines[3], "X-00001;07.02.2016;-1234,56;71,2;45,3");
        assert_eq!(lines[4], "X-00001;07.02.2016;999999,99;71,2;45,3");
        assert_eq!(lines[5], "X-00001;07.0");
        assert_eq!(lines[6], "X-00001;07.02.2016;1x234,56;71,2;45,3");
        assert_eq!(lines[7], "X-00001;30.02.2016;1234,56;71,2;45,3");
        assert_eq!(truth.data_lines, 7);
        assert_eq!(truth.duplicate_lines, [3]);
        assert_eq!(truth.negative_lines, [4]);
        assert_eq!(truth.absurd_lines, [5]);
        assert_eq!(truth.malformed_lines, [6, 7, 8]);
        let (mx3, _) = text(Firmware::Mx3, &rows);
        assert!(mx3.contains(",999.99999,"));
    }
}
