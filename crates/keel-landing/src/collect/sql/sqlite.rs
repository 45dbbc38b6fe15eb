//! SQLite through rusqlite, opened read-only. SQLite is dynamically typed: each value is
//! written by its storage class (integer, real, text, blob as hex, null), and a text cursor
//! is compared as text, so its bound is written in the stored values' own format.

use std::path::Path;

use rusqlite::types::ValueRef;
use serde_json::Value;

use super::{CONNECT_TIMEOUT, CursorKind, Dialect, Fail, Job, Landed, Parts, put, put_f64};

/// `now` written the way `sample` (the largest stored cursor value) is written: the same
/// separator, as many fraction digits (truncated) and the same `Z` or `+00:00` suffix, so
/// that the bound and the stored values compare as text the way they compare as times. Text
/// cursors must therefore be UTC in one fixed format (SQLite's `CURRENT_TIMESTAMP` is).
/// `None` when `sample` is not such a date or timestamp.
fn text_time_bound(sample: &str, now: chrono::DateTime<chrono::Utc>) -> Option<String> {
    let b = sample.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let is_date = b.len() >= 10
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10);
    if !is_date {
        return None;
    }
    if b.len() == 10 {
        return Some(now.format("%Y-%m-%d").to_string());
    }
    let is_time = b.len() >= 19
        && matches!(b[10], b' ' | b'T')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !is_time {
        return None;
    }
    let rest = &sample[19..];
    let (fraction, suffix) = match rest.strip_prefix('.') {
        Some(r) => {
            let n = r.bytes().take_while(u8::is_ascii_digit).count();
            (n, &r[n..])
        }
        None => (0, rest),
    };
    if !matches!(suffix, "" | "Z" | "+00:00") || fraction > 9 {
        return None;
    }
    let mut out = now
        .format(if b[10] == b'T' {
            "%Y-%m-%dT%H:%M:%S"
        } else {
            "%Y-%m-%d %H:%M:%S"
        })
        .to_string();
    if fraction > 0 {
        let nanos = format!("{:09}", now.timestamp_subsec_nanos());
        out.push('.');
        out.push_str(&nanos[..fraction]);
    }
    out.push_str(suffix);
    Some(out)
}

/// Reads the rows of `job` from the SQLite file at `path` into one temporal batch.
pub(super) fn read(path: &Path, job: &Job) -> std::result::Result<Option<Landed>, Fail> {
    if !path.is_file() {
        return Err(Fail::Config(format!(
            "key `collector.url`: `{}` is not a file",
            path.display()
        )));
    }
    let failed = |e: rusqlite::Error| Fail::source(format_args!("reading {}", job.what()), &e);
    // Read-only and without URI parsing: the file is only ever read.
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| Fail::source(format_args!("opening `{}`", path.display()), &e))?;
    conn.busy_timeout(CONNECT_TIMEOUT).map_err(failed)?;
    // One read transaction: the window's bound and the rows come from one snapshot.
    conn.execute_batch("BEGIN").map_err(failed)?;
    let d = Dialect::Sqlite;
    let relation = job.relation(d);

    let window = match &job.cursor {
        None => None,
        Some(cursor) => {
            let col = job.cursor_column(d, cursor);
            let max: rusqlite::types::Value = conn
                .query_row(&format!("SELECT max({col}) FROM {relation}"), [], |r| {
                    r.get(0)
                })
                .map_err(failed)?;
            let (kind, hi) = match max {
                rusqlite::types::Value::Null => return Ok(None),
                rusqlite::types::Value::Integer(max) => {
                    let lag = job.lag_int()?;
                    let hi = max
                        .checked_add(1)
                        .and_then(|m| m.checked_sub(lag))
                        .ok_or_else(|| Fail::Source(format!("cursor `{cursor}` overflows")))?;
                    (CursorKind::Int, Value::from(hi))
                }
                rusqlite::types::Value::Real(max) => {
                    let hi = serde_json::Number::from_f64(max + 1.0 - job.lag)
                        .ok_or_else(|| Fail::Source(format!("cursor `{cursor}` is not finite")))?;
                    (CursorKind::Float, Value::Number(hi))
                }
                rusqlite::types::Value::Text(max) => {
                    // SQLite's clock is this machine's: the database's now() is ours.
                    let now = chrono::Utc::now()
                        .checked_sub_signed(chrono::TimeDelta::microseconds(job.lag_micros()))
                        .ok_or_else(|| Fail::Config("key `collector.lag`: too large".into()))?;
                    let hi = text_time_bound(&max, now).ok_or_else(|| {
                        Fail::Config(format!(
                            "key `collector.cursor`: column `{cursor}` holds `{max}`, which is \
                             not a UTC date or timestamp in a fixed format \
                             (`YYYY-MM-DD HH:MM:SS[.fff][Z]`), so it cannot be ordered as text"
                        ))
                    })?;
                    (CursorKind::Timestamp, Value::String(hi))
                }
                rusqlite::types::Value::Blob(_) => {
                    return Err(Fail::Config(format!(
                        "key `collector.cursor`: column `{cursor}` holds bytes; a cursor must \
                         be a number or a date or timestamp text"
                    )));
                }
            };
            Some(job.window(kind, hi)?)
        }
    };

    let sql = job.select(d, "*", "1", window.as_ref());
    let mut statement = conn.prepare(&sql).map_err(failed)?;
    let names: Vec<String> = statement
        .column_names()
        .into_iter()
        .map(str::to_string)
        .collect();
    let mut parts = Parts::new(job, window.as_ref(), &names)?;
    let mut rows = statement.query([]).map_err(failed)?;
    while let Some(row) = rows.next().map_err(failed)? {
        parts.begin_row()?;
        for (i, name) in names.iter().enumerate() {
            let out = parts.field(i);
            let written = match row.get_ref(i).map_err(failed)? {
                ValueRef::Null => put(out, &Value::Null),
                ValueRef::Integer(v) => put(out, &v),
                ValueRef::Real(v) => put_f64(out, Some(v)),
                ValueRef::Text(t) => put(out, &String::from_utf8_lossy(t)),
                ValueRef::Blob(b) => put(out, &hex::encode(b)),
            };
            written.map_err(|m| {
                Fail::Source(format!("reading column `{name}` of {}: {m}", job.what()))
            })?;
        }
        parts.end_row();
    }
    drop(rows);
    drop(statement);
    conn.execute_batch("COMMIT").map_err(failed)?;
    Ok(Some(Landed {
        parts,
        hi: window.map(|w| w.hi),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_bounds_are_written_like_the_stored_values() {
        let now = chrono::DateTime::parse_from_rfc3339("2024-05-01T10:20:30.456789Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let bound = |sample: &str| text_time_bound(sample, now);
        assert_eq!(bound("2023-01-01").as_deref(), Some("2024-05-01"));
        assert_eq!(
            bound("2023-01-01 00:00:00").as_deref(),
            Some("2024-05-01 10:20:30")
        );
        assert_eq!(
            bound("2023-01-01T00:00:00.000Z").as_deref(),
            Some("2024-05-01T10:20:30.456Z")
        );
        assert_eq!(
            bound("2023-01-01 00:00:00.123456+00:00").as_deref(),
            Some("2024-05-01 10:20:30.456789+00:00")
        );
        assert_eq!(bound("2023-01-01 00:00:00+02:00"), None);
        assert_eq!(bound("01/02/2023"), None);
        assert_eq!(bound("2023-01-01x00:00:00"), None);
    }
}
