//! Dates and timestamps: the formats date and timestamp columns are read with, time zones,
//! and the rule for local times that daylight saving time skips or repeats.
//!
//! # Formats
//! A binding's `date_format` (the column's own, else its dialect's) is one of:
//! - a chrono `strftime` string such as `%d.%m.%Y %H:%M`; `%z`, `%:z` or `%+` (RFC 3339)
//!   read an offset. An hour without minutes reads minute 0, so that the composite
//!   `Year Month Day Hour` fields read with `%Y %m %d %H`.
//! - `epoch_s`, `epoch_ms`, `epoch_us`: seconds, milliseconds or microseconds since
//!   1970-01-01T00:00Z, as integer or decimal text (with the dialect's decimal separator)
//!   or as a number cell (Parquet, xlsx).
//! - `excel_serial`: a spreadsheet serial day of the 1900 date system, the fraction being
//!   the time of day (kept to the millisecond, as Excel keeps it). As in Excel, serial 1 is
//!   1900-01-01 and 61 is 1900-03-01; serial 60 is Excel's 1900-02-29, a day that never
//!   was (Lotus 1-2-3's leap-year bug), and is rejected rather than moved. A number cell
//!   of an xlsx date or timestamp column is read this way whatever the format, unless
//!   the format is an epoch.
//! - `rfc3339`: `2021-10-31T02:30:00+02:00`; `Z` and a space for `T` accepted, an offset
//!   required.
//! - `iso8601`: an RFC 3339 value, or a date and time without an offset (a local time,
//!   `T` or space, seconds optional), or a date.
//!
//! # Time zones
//! A value with an offset (or `Z`), an epoch number and a Parquet timestamp with a zone
//! (`isAdjustedToUTC`) are instants and keep them. A value without one (text, a
//! spreadsheet date, a Parquet timestamp without a zone) is a local wall-clock time in
//! the binding's `timezone` (the dialect's, default `UTC`), and a date alone stands for
//! its local midnight. Timestamps are stored in
//! UTC and must fall in the years 0001–9999 (rule `time_range`), as Delta and Spark require;
//! milliseconds read as seconds land past year 9999 and are rejected, not stored.
//!
//! # Daylight saving time
//! - A local time in the gap when clocks go forward (Europe/Warsaw, 2021-03-28
//!   02:00–02:59) never happened: it is rejected with rule `nonexistent_local_time`
//!   naming the zone, never shifted by an hour.
//! - A local time in the hour repeated when clocks go back (Europe/Warsaw, 2021-10-31
//!   02:00–02:59) is ambiguous. By default (`ambiguous = "in_order"`) it is the earlier
//!   instant (the summer offset) the first time the wall-clock value appears in an input,
//!   and the later instant when the same value appears again in that input: a device
//!   writing local time through that night writes the hour twice, and both hours are kept
//!   as distinct UTC instants, neither counted as a duplicate. `earlier`, `later` and
//!   `reject` (rule `ambiguous_local_time`) override it per dialect or column.
//!
//! An input is one object, its gzip content or one zip member: order means something only
//! within one, so each input is converted with its own [`AmbiguityTracker`]. Every record
//! that reaches conversion counts as an appearance, even one rejected for another column.
//!
//! # Date columns
//! A date column takes dates. A date and time is accepted only at midnight (an instant:
//! at midnight in the column's zone); any other time of day is rejected (`parse_date`)
//! rather than cut to its day.
//!
//! See: issue 4 and test C4 of `RELIABILITY.md`; <https://www.rfc-editor.org/rfc/rfc3339>;
//! <https://learn.microsoft.com/en-us/troubleshoot/microsoft-365-apps/excel/wrongly-assumes-1900-is-leap-year>

use std::collections::HashSet;

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{DateTime, MappedLocalTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone};
use chrono_tz::Tz;
use keel_core::spec::AmbiguousTime;

/// A rule broken and why, as the conversion reports it.
pub type TimeError = (&'static str, String);

/// How a `date_format` reads values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeFormat<'a> {
    /// A chrono `strftime` string.
    Strftime(&'a str),
    /// A count since 1970-01-01T00:00Z in units of 10^-`digits` seconds (0, 3 or 6).
    Epoch {
        /// Decimal digits of a second the unit is: 0 for seconds, 3 for ms, 6 for µs.
        digits: u32,
    },
    /// Spreadsheet serial days of the 1900 date system.
    ExcelSerial,
    /// RFC 3339, with an offset.
    Rfc3339,
    /// RFC 3339, a local date and time, or a date.
    Iso8601,
}

impl<'a> TimeFormat<'a> {
    /// The format a `date_format` names.
    pub fn new(format: &'a str) -> TimeFormat<'a> {
        match format {
            "epoch_s" => TimeFormat::Epoch { digits: 0 },
            "epoch_ms" => TimeFormat::Epoch { digits: 3 },
            "epoch_us" => TimeFormat::Epoch { digits: 6 },
            "excel_serial" => TimeFormat::ExcelSerial,
            "rfc3339" => TimeFormat::Rfc3339,
            "iso8601" => TimeFormat::Iso8601,
            other => TimeFormat::Strftime(other),
        }
    }

    /// Checks that `format` is a named format or a `strftime` string chrono can read.
    ///
    /// # Errors
    /// A message naming the first specifier chrono does not know.
    pub fn check(format: &str) -> Result<(), String> {
        let TimeFormat::Strftime(f) = TimeFormat::new(format) else {
            return Ok(());
        };
        if f.trim().is_empty() {
            return Err("an empty format".into());
        }
        if StrftimeItems::new(f).any(|i| i == Item::Error) {
            return Err(format!(
                "`{f}` is not a chrono strftime format, nor one of `epoch_s`, `epoch_ms`, \
                 `epoch_us`, `excel_serial`, `rfc3339`, `iso8601`"
            ));
        }
        Ok(())
    }

    fn describe(self) -> String {
        match self {
            TimeFormat::Strftime(f) => format!("`{f}`"),
            TimeFormat::Epoch { digits: 0 } => "seconds since 1970-01-01 (`epoch_s`)".into(),
            TimeFormat::Epoch { digits: 3 } => "milliseconds since 1970-01-01 (`epoch_ms`)".into(),
            TimeFormat::Epoch { .. } => "microseconds since 1970-01-01 (`epoch_us`)".into(),
            TimeFormat::ExcelSerial => "a spreadsheet serial day (`excel_serial`)".into(),
            TimeFormat::Rfc3339 => "RFC 3339 with an offset (`rfc3339`)".into(),
            TimeFormat::Iso8601 => "ISO 8601 (`iso8601`)".into(),
        }
    }
}

/// What a value says about time before a zone is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// A calendar date.
    Date(NaiveDate),
    /// A wall-clock date and time, in a zone not stated by the value.
    Local(NaiveDateTime),
    /// An instant, µs since 1970-01-01T00:00Z.
    Instant(i64),
}

/// Per-input memory of the ambiguous local times already seen, for the default
/// [`AmbiguousTime::InOrder`] rule: the first appearance of a repeated wall-clock value
/// is the earlier instant, any later one the later instant. Only ambiguous values are
/// kept (a few per column and year of data), so memory stays small.
#[derive(Debug, Default)]
pub struct AmbiguityTracker {
    seen: HashSet<(usize, NaiveDateTime)>,
}

impl AmbiguityTracker {
    /// An empty tracker, for a new input.
    pub fn new() -> AmbiguityTracker {
        AmbiguityTracker::default()
    }

    /// Records an appearance of `local` in canonical column `column`; `true` when it
    /// appeared before in this input.
    fn repeated(&mut self, column: usize, local: NaiveDateTime) -> bool {
        !self.seen.insert((column, local))
    }
}

/// How a binding turns local times into instants (default: UTC, [`AmbiguousTime::InOrder`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Zone {
    /// Zone of local wall-clock values.
    pub tz: Tz,
    /// Rule for ambiguous local times.
    pub ambiguous: AmbiguousTime,
}

/// Parses an IANA zone name.
///
/// # Errors
/// A message naming the unknown zone.
pub fn parse_zone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| {
        format!("unknown time zone `{name}`: use an IANA name such as `Europe/Tallinn` or `UTC`")
    })
}

/// Reads text with `format`; `decimal` is the dialect's decimal separator (epoch and
/// serial numbers).
///
/// # Errors
/// A message naming the text and the format.
pub fn parse_text(text: &str, format: TimeFormat<'_>, decimal: char) -> Result<Moment, String> {
    let fail =
        |why: &dyn std::fmt::Display| format!("`{text}` is not {}: {why}", format.describe());
    match format {
        TimeFormat::Strftime(f) => parse_strftime(text, f).map_err(|e| fail(&e)),
        TimeFormat::Epoch { digits } => epoch_text(text, decimal, digits)
            .map(Moment::Instant)
            .ok_or_else(|| fail(&"not a number in range")),
        TimeFormat::ExcelSerial => {
            let v = number_text(text, decimal).ok_or_else(|| fail(&"not a number"))?;
            excel_serial(v).map(Moment::Local).map_err(|e| fail(&e))
        }
        TimeFormat::Rfc3339 => DateTime::parse_from_rfc3339(text)
            .map(|t| Moment::Instant(t.timestamp_micros()))
            .map_err(|e| fail(&e)),
        TimeFormat::Iso8601 => {
            if let Ok(t) = DateTime::parse_from_rfc3339(text) {
                return Ok(Moment::Instant(t.timestamp_micros()));
            }
            const LOCAL: [&str; 2] = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"];
            let t = text.replacen(' ', "T", 1);
            if let Some(local) = LOCAL
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(&t, f).ok())
            {
                return Ok(Moment::Local(local));
            }
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(Moment::Date)
                .map_err(|e| fail(&e))
        }
    }
}

/// Reads a number cell with `format`: epoch counts and spreadsheet serials.
///
/// # Errors
/// When the format does not read numbers or the number is out of range.
pub fn parse_number(v: f64, exact: Option<i64>, format: TimeFormat<'_>) -> Result<Moment, String> {
    let fail = |why: &dyn std::fmt::Display| format!("`{v}` is not {}: {why}", format.describe());
    match format {
        TimeFormat::Epoch { digits } => {
            let scale = 10i64.pow(6 - digits);
            let us = match exact {
                Some(i) => i.checked_mul(scale),
                None => {
                    let us = (v * scale as f64).round();
                    (us.is_finite() && us.abs() < 9.2e18).then_some(us as i64)
                }
            };
            us.map(Moment::Instant).ok_or_else(|| fail(&"out of range"))
        }
        TimeFormat::ExcelSerial => excel_serial(v).map(Moment::Local).map_err(|e| fail(&e)),
        _ => Err(format!(
            "`{v}` is a number; read numbers with `date_format` `epoch_s`, `epoch_ms`, \
             `epoch_us` or `excel_serial`, not {}",
            format.describe()
        )),
    }
}

/// The UTC instant (µs) of a moment for a timestamp column `column`.
///
/// # Errors
/// `nonexistent_local_time`, `ambiguous_local_time` (with [`AmbiguousTime::Reject`]) or
/// `time_range`.
pub fn to_instant(
    moment: Moment,
    zone: Zone,
    column: usize,
    tracker: &mut AmbiguityTracker,
) -> Result<i64, TimeError> {
    let us = match moment {
        Moment::Instant(us) => us,
        Moment::Date(d) => resolve(d.and_time(NaiveTime::MIN), zone, column, tracker)?,
        Moment::Local(t) => resolve(t, zone, column, tracker)?,
    };
    if !(MIN_MICROS..MAX_MICROS).contains(&us) {
        return Err((
            "time_range",
            format!(
                "{} is outside the years 0001–9999 a timestamp can hold",
                show_instant(us)
            ),
        ));
    }
    Ok(us)
}

/// The calendar date of a moment for a date column named `name`: a date, or a date and
/// time at midnight (an instant at midnight in `tz`).
///
/// # Errors
/// `parse_date` when the moment has a time of day.
pub fn to_date(moment: Moment, tz: Tz, name: &str) -> Result<NaiveDate, TimeError> {
    let local = match moment {
        Moment::Date(d) => return Ok(d),
        Moment::Local(t) => t,
        Moment::Instant(us) => match DateTime::from_timestamp_micros(us) {
            Some(t) => t.with_timezone(&tz).naive_local(),
            None => return Err(("time_range", format!("{us} µs is out of range"))),
        },
    };
    if local.time() == NaiveTime::MIN {
        Ok(local.date())
    } else {
        Err((
            "parse_date",
            format!("`{local}` has a time of day; `{name}` is a date"),
        ))
    }
}

/// The instant of a local wall-clock time in `zone`, by the DST rule of this module.
fn resolve(
    local: NaiveDateTime,
    zone: Zone,
    column: usize,
    tracker: &mut AmbiguityTracker,
) -> Result<i64, TimeError> {
    let tz = zone.tz;
    match tz.from_local_datetime(&local) {
        MappedLocalTime::Single(t) => Ok(t.timestamp_micros()),
        MappedLocalTime::None => Err((
            "nonexistent_local_time",
            format!(
                "`{local}` never happened in {}: clocks went forward over it (daylight saving \
                 time)",
                tz.name()
            ),
        )),
        MappedLocalTime::Ambiguous(a, b) => {
            let (a, b) = (a.timestamp_micros(), b.timestamp_micros());
            let (earlier, later) = (a.min(b), a.max(b));
            match zone.ambiguous {
                AmbiguousTime::Earlier => Ok(earlier),
                AmbiguousTime::Later => Ok(later),
                AmbiguousTime::InOrder if tracker.repeated(column, local) => Ok(later),
                AmbiguousTime::InOrder => Ok(earlier),
                AmbiguousTime::Reject => Err((
                    "ambiguous_local_time",
                    format!(
                        "`{local}` happened twice in {} (clocks went back): {} or {}",
                        tz.name(),
                        show_instant(earlier),
                        show_instant(later)
                    ),
                )),
            }
        }
    }
}

/// 0001-01-01T00:00:00Z in µs since the epoch.
const MIN_MICROS: i64 = -62_135_596_800_000_000;
/// 10000-01-01T00:00:00Z in µs since the epoch (exclusive).
const MAX_MICROS: i64 = 253_402_300_800_000_000;

/// An instant as RFC 3339 in UTC, for messages.
pub fn show_instant(us: i64) -> String {
    match DateTime::from_timestamp_micros(us) {
        Some(t) if us % 1_000_000 == 0 => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        None => format!("{us} µs since 1970-01-01"),
    }
}

/// A `strftime` parse: an offset or `%s` make an instant, an hour a local date and time,
/// else a date.
fn parse_strftime(text: &str, format: &str) -> chrono::ParseResult<Moment> {
    if let Some(date) = fixed_width_date(text, format) {
        return Ok(Moment::Date(date));
    }
    let mut p = Parsed::new();
    chrono::format::parse(&mut p, text, StrftimeItems::new(format))?;
    if p.hour_mod_12().is_some() && p.minute().is_none() {
        p.set_minute(0)?;
    }
    if p.offset().is_some() || p.timestamp().is_some() {
        if p.offset().is_none() {
            p.set_offset(0)?;
        }
        return Ok(Moment::Instant(p.to_datetime()?.timestamp_micros()));
    }
    if p.hour_mod_12().is_some() {
        return Ok(Moment::Local(p.to_naive_datetime_with_offset(0)?));
    }
    Ok(Moment::Date(p.to_naive_date()?))
}

/// A date whose format is only `%Y`, `%m`, `%d` and literal separators (`%Y-%m-%d`,
/// `%d.%m.%Y`, ...), read directly when the text has the fixed-width shape (four-digit
/// year, two-digit month and day): the common case, without chrono's walk of the format
/// string for every value. Anything else (`None`) goes through chrono, which reads these
/// shapes to the same date.
fn fixed_width_date(text: &str, format: &str) -> Option<NaiveDate> {
    let (mut t, mut f) = (text.as_bytes(), format.as_bytes());
    let (mut year, mut month, mut day) = (None, None, None);
    while let Some((&c, rest)) = f.split_first() {
        if c != b'%' {
            let (&d, text_rest) = t.split_first()?;
            if d != c {
                return None;
            }
            (t, f) = (text_rest, rest);
            continue;
        }
        let (&spec, rest) = rest.split_first()?;
        let width = if spec == b'Y' { 4 } else { 2 };
        if t.len() < width {
            return None;
        }
        let (digits, text_rest) = t.split_at(width);
        let n = digits.iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })?;
        match spec {
            b'Y' => year = Some(n as i32),
            b'm' => month = Some(n),
            b'd' => day = Some(n),
            _ => return None,
        }
        (t, f) = (text_rest, rest);
    }
    if !t.is_empty() {
        return None;
    }
    NaiveDate::from_ymd_opt(year?, month?, day?)
}

/// A number written with `decimal` as separator (or an integer).
fn number_text(text: &str, decimal: char) -> Option<f64> {
    let other = if decimal == ',' { '.' } else { ',' };
    if text.contains(other) {
        return None;
    }
    let v: f64 = text.replace(decimal, ".").parse().ok()?;
    v.is_finite().then_some(v)
}

/// An epoch count as text, in µs: exact for integers and plain decimals (rounded to the
/// µs), through `f64` for exponent forms (`1.6e9`).
fn epoch_text(text: &str, decimal: char, digits: u32) -> Option<i64> {
    let scale = 10i64.pow(6 - digits);
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int, frac) = body.split_once(decimal).unwrap_or((body, ""));
    let plain = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !int.is_empty() && plain(int) && plain(frac) {
        let mut us = int.parse::<i64>().ok()?.checked_mul(scale)?;
        // The fraction's first `6 - digits` digits are whole µs; the next one rounds.
        let keep = (6 - digits) as usize;
        let mut digits_of = frac.bytes().map(|b| i64::from(b - b'0'));
        let mut part = 0i64;
        for _ in 0..keep {
            part = part * 10 + digits_of.next().unwrap_or(0);
        }
        if digits_of.next().is_some_and(|d| d >= 5) {
            part += 1;
        }
        us = us.checked_add(part)?;
        return Some(if negative { -us } else { us });
    }
    let v = number_text(text, decimal)?;
    let us = (v * scale as f64).round();
    (us.abs() < 9.2e18).then_some(us as i64)
}

/// A serial day of Excel's 1900 date system as a local date and time, to the millisecond.
///
/// # Errors
/// Serials before 1 (Excel's 1900-01-00), serial 60 (1900-02-29) and past 9999-12-31.
pub fn excel_serial(v: f64) -> Result<NaiveDateTime, String> {
    if !v.is_finite() || v < 1.0 {
        return Err("serial days start at 1 (1900-01-01)".into());
    }
    if v >= 2_958_466.0 {
        return Err("past 9999-12-31, the last day a spreadsheet holds".into());
    }
    let day = v.floor();
    if day == 60.0 {
        return Err(
            "serial 60 is 1900-02-29, a day that never was (Excel's 1900 leap-year bug)".into(),
        );
    }
    // Before the phantom 1900-02-29 serials count from 1899-12-31, after it from
    // 1899-12-30: Excel counts one day too many from March 1900 on.
    let base = if day < 60.0 {
        (1899, 12, 31)
    } else {
        (1899, 12, 30)
    };
    let base = NaiveDate::from_ymd_opt(base.0, base.1, base.2)
        .ok_or("no base date")?
        .and_time(NaiveTime::MIN);
    let ms = ((v - day) * 86_400_000.0).round() as i64;
    base.checked_add_signed(TimeDelta::days(day as i64))
        .and_then(|t| t.checked_add_signed(TimeDelta::milliseconds(ms)))
        .ok_or_else(|| "out of range".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_width_dates_read_as_chrono_reads_them() {
        let cases = [
            ("2024-02-29", "%Y-%m-%d"),
            ("29.02.2024", "%d.%m.%Y"),
            ("2024/12/01", "%Y/%m/%d"),
            ("2023-02-29", "%Y-%m-%d"),
            ("2024-2-9", "%Y-%m-%d"),
            ("2024-02-29x", "%Y-%m-%d"),
            ("2024-02-2x", "%Y-%m-%d"),
            ("24-02-29", "%y-%m-%d"),
            ("2024-02-29", "%Y.%m.%d"),
        ];
        for (text, format) in cases {
            let fast = fixed_width_date(text, format);
            let chrono = NaiveDate::parse_from_str(text, format).ok();
            // The fast path never disagrees; where it declines, chrono decides.
            assert!(fast.is_none() || fast == chrono, "{text} {format}");
        }
        assert!(fixed_width_date("2024-02-29", "%Y-%m-%d").is_some());
        assert!(fixed_width_date("29.02.2024", "%d.%m.%Y").is_some());
        assert_eq!(fixed_width_date("2024-2-9", "%Y-%m-%d"), None);
    }

    fn local(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn utc(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_micros()
    }

    fn warsaw(ambiguous: AmbiguousTime) -> Zone {
        Zone {
            tz: chrono_tz::Europe::Warsaw,
            ambiguous,
        }
    }

    #[test]
    fn spring_forward_gap_is_rejected_naming_the_zone() {
        let mut t = AmbiguityTracker::new();
        let m = Moment::Local(local("2021-03-28 02:30:00"));
        let (rule, reason) = to_instant(m, warsaw(AmbiguousTime::InOrder), 0, &mut t).unwrap_err();
        assert_eq!(rule, "nonexistent_local_time");
        assert!(reason.contains("Europe/Warsaw"), "{reason}");
        // Either side of the gap is fine.
        let m = Moment::Local(local("2021-03-28 03:00:00"));
        let got = to_instant(m, warsaw(AmbiguousTime::InOrder), 0, &mut t).unwrap();
        assert_eq!(got, utc("2021-03-28T01:00:00Z"));
    }

    #[test]
    fn fall_back_hour_is_earlier_then_later_in_input_order() {
        let mut t = AmbiguityTracker::new();
        let zone = warsaw(AmbiguousTime::InOrder);
        let at = |s: &str, t: &mut AmbiguityTracker| {
            to_instant(Moment::Local(local(s)), zone, 0, t).unwrap()
        };
        assert_eq!(
            at("2021-10-31 02:00:00", &mut t),
            utc("2021-10-31T00:00:00Z")
        );
        assert_eq!(
            at("2021-10-31 02:30:00", &mut t),
            utc("2021-10-31T00:30:00Z")
        );
        assert_eq!(
            at("2021-10-31 02:00:00", &mut t),
            utc("2021-10-31T01:00:00Z")
        );
        assert_eq!(
            at("2021-10-31 02:30:00", &mut t),
            utc("2021-10-31T01:30:00Z")
        );
        // Another column and another input start afresh.
        assert_eq!(
            to_instant(Moment::Local(local("2021-10-31 02:00:00")), zone, 1, &mut t).unwrap(),
            utc("2021-10-31T00:00:00Z")
        );
        let mut fresh = AmbiguityTracker::new();
        assert_eq!(
            at("2021-10-31 02:30:00", &mut fresh),
            utc("2021-10-31T00:30:00Z")
        );
    }

    #[test]
    fn ambiguous_overrides_pick_one_side_or_reject() {
        let m = Moment::Local(local("2021-10-31 02:15:00"));
        let mut t = AmbiguityTracker::new();
        for _ in 0..2 {
            let e = to_instant(m, warsaw(AmbiguousTime::Earlier), 0, &mut t).unwrap();
            assert_eq!(e, utc("2021-10-31T00:15:00Z"));
            let l = to_instant(m, warsaw(AmbiguousTime::Later), 0, &mut t).unwrap();
            assert_eq!(l, utc("2021-10-31T01:15:00Z"));
        }
        let (rule, reason) = to_instant(m, warsaw(AmbiguousTime::Reject), 0, &mut t).unwrap_err();
        assert_eq!(rule, "ambiguous_local_time");
        assert!(reason.contains("2021-10-31T00:15:00Z"), "{reason}");
    }

    #[test]
    fn epoch_seconds_and_milliseconds_name_the_same_instant() {
        let s = TimeFormat::new("epoch_s");
        let ms = TimeFormat::new("epoch_ms");
        let us = TimeFormat::new("epoch_us");
        let want = Moment::Instant(utc("2021-03-28T01:00:00Z"));
        assert_eq!(parse_text("1616893200", s, '.'), Ok(want));
        assert_eq!(parse_text("1616893200000", ms, '.'), Ok(want));
        assert_eq!(parse_text("1616893200000000", us, '.'), Ok(want));
        assert_eq!(
            parse_text("1616893200,25", s, ','),
            Ok(Moment::Instant(utc("2021-03-28T01:00:00.25Z")))
        );
        assert_eq!(
            parse_text("1616893200000.4", ms, '.'),
            Ok(Moment::Instant(utc("2021-03-28T01:00:00.0004Z")))
        );
        assert_eq!(parse_text("-1", s, '.'), Ok(Moment::Instant(-1_000_000)));
        assert_eq!(parse_text("1.6168932e9", s, '.'), Ok(want));
        assert!(parse_text("16x", s, '.').is_err());
        assert!(parse_text("1,5", s, '.').is_err());
        assert_eq!(parse_number(1616893200.0, Some(1616893200), s,), Ok(want));
        assert_eq!(parse_number(1616893200000.0, None, ms), Ok(want));
        // Milliseconds read as seconds are far past year 9999: rejected, not stored.
        let m = parse_text("1616893200000", s, '.').unwrap();
        let mut t = AmbiguityTracker::new();
        let (rule, _) = to_instant(m, Zone::default(), 0, &mut t).unwrap_err();
        assert_eq!(rule, "time_range");
    }

    #[test]
    fn excel_serials_follow_excel_including_its_1900_leap_day() {
        let day = |v: f64| excel_serial(v).map(|t| t.to_string());
        assert_eq!(day(1.0).unwrap(), "1900-01-01 00:00:00");
        assert_eq!(day(59.0).unwrap(), "1900-02-28 00:00:00");
        assert!(day(60.0).unwrap_err().contains("1900-02-29"));
        assert!(day(60.5).is_err());
        assert_eq!(day(61.0).unwrap(), "1900-03-01 00:00:00");
        assert_eq!(day(25569.0).unwrap(), "1970-01-01 00:00:00");
        assert_eq!(day(44500.75).unwrap(), "2021-10-31 18:00:00");
        assert_eq!(day(45292.5).unwrap(), "2024-01-01 12:00:00");
        // A second is 1/86400 of a day; kept to the millisecond.
        assert_eq!(
            day(45292.0 + 1.0 / 86_400.0).unwrap(),
            "2024-01-01 00:00:01"
        );
        assert!(day(0.5).is_err());
        assert!(day(f64::NAN).is_err());
        assert_eq!(
            parse_text("44500,75", TimeFormat::ExcelSerial, ','),
            Ok(Moment::Local(local("2021-10-31 18:00:00")))
        );
    }

    #[test]
    fn rfc3339_keeps_its_own_offset() {
        let want = Moment::Instant(utc("2021-10-31T01:30:00Z"));
        for (text, format) in [
            ("2021-10-31T02:30:00+01:00", "rfc3339"),
            ("2021-10-31 01:30:00Z", "rfc3339"),
            ("2021-10-31T03:30:00+02:00", "%+"),
            ("2021-10-31T02:30:00+01:00", "iso8601"),
            ("31.10.2021 02:30 +0100", "%d.%m.%Y %H:%M %z"),
        ] {
            assert_eq!(
                parse_text(text, TimeFormat::new(format), '.'),
                Ok(want),
                "{text}"
            );
        }
        assert!(parse_text("2021-10-31T02:30:00", TimeFormat::Rfc3339, '.').is_err());
        assert_eq!(
            parse_text("2021-10-31 02:30", TimeFormat::Iso8601, '.'),
            Ok(Moment::Local(local("2021-10-31 02:30:00")))
        );
        assert_eq!(
            parse_text("2021-10-31", TimeFormat::Iso8601, '.'),
            Ok(Moment::Date(NaiveDate::from_ymd_opt(2021, 10, 31).unwrap()))
        );
    }

    #[test]
    fn an_hour_without_minutes_reads_minute_zero() {
        assert_eq!(
            parse_text("2019 3 31 4", TimeFormat::new("%Y %m %d %H"), '.'),
            Ok(Moment::Local(local("2019-03-31 04:00:00")))
        );
        assert!(parse_text("2019 3 31", TimeFormat::new("%Y %m %d %H"), '.').is_err());
    }

    #[test]
    fn date_columns_take_midnights_only() {
        let d = NaiveDate::from_ymd_opt(2021, 3, 28).unwrap();
        let tz = chrono_tz::Europe::Warsaw;
        assert_eq!(
            to_date(Moment::Local(local("2021-03-28 00:00:00")), tz, "d"),
            Ok(d)
        );
        assert_eq!(
            to_date(Moment::Instant(utc("2021-03-27T23:00:00Z")), tz, "d"),
            Ok(d)
        );
        let (rule, _) = to_date(Moment::Local(local("2021-03-28 10:00:00")), tz, "d").unwrap_err();
        assert_eq!(rule, "parse_date");
    }

    #[test]
    fn formats_are_checked_and_zones_named() {
        assert!(TimeFormat::check("%d.%m.%Y").is_ok());
        assert!(TimeFormat::check("epoch_ms").is_ok());
        assert!(TimeFormat::check("%Q").is_err());
        assert!(TimeFormat::check("").is_err());
        assert!(parse_zone("Europe/Tallinn").is_ok());
        assert!(
            parse_zone("Europe/Atlantis")
                .unwrap_err()
                .contains("Europe/Atlantis")
        );
    }
}
