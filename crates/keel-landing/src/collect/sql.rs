//! The `sql` collector: lands a table or a query of PostgreSQL, MariaDB/MySQL or SQLite as
//! NDJSON objects, as a full snapshot on every run or incrementally by a cursor column.
//!
//! ```text
//!  snapshot     SELECT * FROM src ORDER BY 1
//!                 → <table>.ndjson (<table>.partNNNN.ndjson when there are several parts)
//!  incremental  SELECT * FROM src WHERE c >= lo AND c < hi ORDER BY c, 1
//!                 → <table>_<lo>_<hi>.partNNNN.ndjson
//!               lo = the saved `cursor` state (none on the first run)
//!               hi = the database's now() - lag, to the whole second  (dates, timestamps)
//!                    max(c) + 1 - lag                                  (numbers)
//! ```
//!
//! `hi` is cut to the whole second because a column may keep fewer digits than now() has
//! (MariaDB truncates a `DATETIME`, SQLite's `CURRENT_TIMESTAMP` has none): a row written
//! just after the run would otherwise be stored below `hi` and missed by the next window.
//! `lag` holds back rows committed late with an older cursor value (a long transaction, a
//! sequence gap that fills later): they are taken as long as they land within `lag` of the
//! newest value.
//!
//! Rows are streamed from the server into objects of `batch_rows` rows, one JSON object per
//! line with the columns as keys, in column order:
//!
//! - integers and floats are numbers (a non-finite float is the string `"NaN"`, `"Infinity"`
//!   or `"-Infinity"`), booleans are booleans, text is a string;
//! - decimals (`numeric`, `DECIMAL`) are strings, so that no digit is lost;
//! - dates and timestamps are ISO-8601 strings (`timestamptz` in UTC with a `Z`; MariaDB's
//!   `DATETIME` and `TIMESTAMP` as the server shows them, without an offset);
//! - JSON columns are JSON values; bytes are lowercase hex strings; NULL is `null`;
//! - any other PostgreSQL type (arrays, intervals, uuids, enums, ...) is its text form.
//!
//! All objects of a run form one temporal batch. In incremental mode the batch carries `hi` as
//! the new `cursor` state, so the cursor is committed with the data or not at all; a run that
//! finds no row in its window lands nothing and leaves the cursor where it was.
//!
//! Connections are read-only snapshots (a `REPEATABLE READ READ ONLY` transaction, SQLite opened
//! read-only). PostgreSQL is reached without TLS for now (`NoTls`), and the MariaDB driver is
//! built without TLS: use them on trusted networks until TLS lands. No LOCAL INFILE handler
//! is ever installed on MariaDB connections, so a server that asks for a client file is
//! refused (RELIABILITY D11). Passwords and every `${ENV}` value are secrets: the manifest
//! records the URL as declared, without its password, and every message is redacted.
//!
//! One module per database (`postgres`, `mysql`, `sqlite`); this one holds what they
//! share (the declaration, the window, the NDJSON objects).

mod mysql;
mod postgres;
mod sqlite;

pub use self::mysql::mysql_opts;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use keel_core::ids::sanitize_file_name;
use keel_core::secrets::Secrets;
use keel_core::spec::SqlSpec;
use serde_json::{Map, Value};

use super::{CollectReport, Ctx};
use crate::temporal::BatchWriter;
use crate::{LandingError, Result};

/// The alias of the table or query in every statement, so that columns can be qualified.
const ALIAS: &str = "keel_src";

/// How long to wait for a server to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the `sql` collector once: one temporal batch with the rows taken, sealed with the
/// new cursor in incremental mode.
///
/// # Errors
/// When the declaration cannot be used (a configuration error), or the database cannot be
/// reached or read; messages never hold the password or another `${ENV}` value.
pub async fn collect(ctx: &Ctx<'_>, spec: &SqlSpec) -> Result<CollectReport> {
    let mut secrets = Secrets::new();
    let url = ctx.expand(&mut secrets, "url", &spec.url)?;
    if let Some(password) = url_password(&url) {
        secrets.add(password);
    }
    let recorded_url = secrets.redact(&url_without_password(&spec.url));
    let job = Job::new(ctx, spec, recorded_url)?;
    let outcome = match Dialect::of(&url) {
        Some(Dialect::Postgres) => postgres::read(&url, &job, &mut secrets).await,
        Some(Dialect::MySql) => mysql::read(&url, &job, &mut secrets).await,
        Some(Dialect::Sqlite) => {
            let path = sqlite_path(ctx.project_dir, &url);
            // rusqlite blocks: read on a blocking thread, not on the runtime's.
            tokio::task::spawn_blocking(move || sqlite::read(&path, &job))
                .await
                .unwrap_or_else(|e| Err(Fail::Source(format!("the SQLite reader stopped: {e}"))))
        }
        None => Err(Fail::Config(
            "key `collector.url`: use `postgres://`, `mysql://`, `mariadb://` or `sqlite://`"
                .into(),
        )),
    };
    let landed = match outcome.and_then(|o| o.map(Landed::finish).transpose()) {
        Ok(landed) => landed.unwrap_or_default(),
        Err(fail) => return Err(fail.into_error(ctx, &secrets)),
    };
    tracing::info!(
        source = ctx.source,
        rows = landed.rows,
        objects = landed.parts,
        bytes = landed.bytes,
        "sql: rows taken into temporal landing"
    );
    Ok(CollectReport {
        seen: landed.rows,
        taken: landed.parts,
        bytes: landed.bytes,
        records: landed.rows,
        ..CollectReport::default()
    })
}

/// A failure before it is tied to the source and redacted.
#[derive(Debug)]
enum Fail {
    /// The declaration (or the saved state) does not fit the database.
    Config(String),
    /// The database could not be reached or read.
    Source(String),
    /// The temporal batch could not be written.
    Landing(LandingError),
}

impl From<LandingError> for Fail {
    fn from(e: LandingError) -> Self {
        Fail::Landing(e)
    }
}

impl Fail {
    /// A driver error, with what was being done and the error's causes.
    fn source(context: impl std::fmt::Display, e: &(dyn std::error::Error + 'static)) -> Fail {
        Fail::Source(format!("{context}: {}", chain(e)))
    }

    fn into_error(self, ctx: &Ctx<'_>, secrets: &Secrets) -> LandingError {
        match self {
            Fail::Config(m) => ctx.config(secrets.redact(&m)),
            Fail::Source(m) => ctx.failed(secrets, m),
            Fail::Landing(e) => e,
        }
    }
}

/// An error and its causes on one line (driver errors keep the server's message in a cause).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let m = c.to_string();
        if !text.contains(&m) {
            text.push_str(": ");
            text.push_str(&m);
        }
        cause = c.source();
    }
    text
}

/// The database behind a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Postgres,
    MySql,
    Sqlite,
}

impl Dialect {
    fn of(url: &str) -> Option<Dialect> {
        let scheme = url.split_once("://")?.0.to_ascii_lowercase();
        match scheme.as_str() {
            "postgres" | "postgresql" => Some(Dialect::Postgres),
            "mysql" | "mariadb" => Some(Dialect::MySql),
            "sqlite" => Some(Dialect::Sqlite),
            _ => None,
        }
    }

    /// `ident` as a quoted identifier.
    fn quote(self, ident: &str) -> String {
        match self {
            Dialect::MySql => format!("`{}`", ident.replace('`', "``")),
            Dialect::Postgres | Dialect::Sqlite => format!("\"{}\"", ident.replace('"', "\"\"")),
        }
    }
}

/// The password of a URL as written in it (percent-encoded), if any.
fn url_password(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let (userinfo, _) = authority.rsplit_once('@')?;
    userinfo.split_once(':').map(|(_, p)| p)
}

/// `url` without the password of its user part and without query parameters that look like
/// credentials (`password=`, `sslpassword=`, ...), for the manifest and messages.
fn url_without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{user}@{host}")
        }
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let (query, fragment) = query.split_once('#').unwrap_or((query, ""));
            let kept: Vec<&str> = query
                .split('&')
                .filter(|p| {
                    let key = p.split('=').next().unwrap_or("").to_ascii_lowercase();
                    !["pass", "secret", "token", "key"]
                        .iter()
                        .any(|w| key.contains(w))
                })
                .collect();
            let mut t = path.to_string();
            if !kept.is_empty() {
                t.push('?');
                t.push_str(&kept.join("&"));
            }
            if !fragment.is_empty() {
                t.push('#');
                t.push_str(fragment);
            }
            t
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// `sqlite://<path>`: the path, relative to the project directory unless absolute.
fn sqlite_path(project_dir: &Path, url: &str) -> PathBuf {
    let path = url.split_once("://").map_or(url, |(_, p)| p);
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        project_dir.join(path)
    }
}

/// Where the rows come from.
#[derive(Debug, Clone)]
enum Origin {
    Table(String),
    Query(String),
}

/// A validated declaration with the state it starts from; owned, so that the SQLite reader
/// can take it to a blocking thread.
#[derive(Debug, Clone)]
struct Job {
    from: Origin,
    cursor: Option<String>,
    lag: f64,
    batch_rows: usize,
    /// The saved `cursor` state: the lower bound of the window.
    lo: Option<Value>,
    temporal: PathBuf,
    /// What every object's collector JSON starts with.
    base: Map<String, Value>,
    /// The object names' stem: the table, or `query`.
    stem: String,
    /// The URL as recorded (no password), for messages.
    url: String,
}

impl Job {
    fn new(ctx: &Ctx<'_>, spec: &SqlSpec, url: String) -> Result<Job> {
        let from = match (&spec.table, &spec.query) {
            (Some(t), None) if !t.trim().is_empty() => Origin::Table(t.trim().to_string()),
            (None, Some(q)) if !q.trim().is_empty() => {
                Origin::Query(q.trim().trim_end_matches(';').trim_end().to_string())
            }
            _ => {
                return Err(ctx.config(
                    "key `collector.table`: declare exactly one of `table` and `query`".into(),
                ));
            }
        };
        let lag = spec.lag.unwrap_or(0.0);
        if !lag.is_finite() || lag < 0.0 {
            return Err(ctx.config(format!(
                "key `collector.lag`: `{lag}` is not a number of zero or more"
            )));
        }
        if spec.batch_rows == 0 {
            return Err(ctx.config("key `collector.batch_rows`: must be at least 1".into()));
        }
        let cursor = spec.cursor.as_ref().map(|c| c.trim().to_string());
        if cursor.as_ref().is_some_and(String::is_empty) {
            return Err(ctx.config("key `collector.cursor`: names no column".into()));
        }
        let lo = match &cursor {
            Some(_) => ctx.state("cursor")?.filter(|v| !v.is_null()),
            None => None,
        };
        let mut base = Map::new();
        base.insert("kind".into(), "sql".into());
        base.insert("url".into(), url.clone().into());
        let stem = match &from {
            Origin::Table(t) => {
                base.insert("table".into(), t.clone().into());
                sanitize_file_name(t)
            }
            Origin::Query(q) => {
                base.insert("query".into(), q.clone().into());
                "query".to_string()
            }
        };
        base.insert(
            "cursor".into(),
            cursor.clone().map_or(Value::Null, Value::String),
        );
        Ok(Job {
            from,
            cursor,
            lag,
            batch_rows: spec.batch_rows,
            lo,
            temporal: ctx.temporal(),
            base,
            stem,
            url,
        })
    }

    /// What is read, for messages.
    fn what(&self) -> String {
        match &self.from {
            Origin::Table(t) => format!("table `{t}`"),
            Origin::Query(_) => "the query".to_string(),
        }
    }

    /// The table or the query as a `FROM` item aliased [`ALIAS`].
    fn relation(&self, d: Dialect) -> String {
        match &self.from {
            Origin::Table(t) => {
                let quoted: Vec<String> = t.split('.').map(|p| d.quote(p)).collect();
                format!("{} AS {ALIAS}", quoted.join("."))
            }
            // On its own lines, so that a trailing `-- comment` cannot swallow the `)`.
            Origin::Query(q) => format!("(\n{q}\n) AS {ALIAS}"),
        }
    }

    /// The cursor column, qualified.
    fn cursor_column(&self, d: Dialect, cursor: &str) -> String {
        format!("{ALIAS}.{}", d.quote(cursor))
    }

    /// The statement that reads the rows: the window in incremental mode, everything in
    /// snapshot mode, ordered by `order_first` (the first column); in incremental mode by
    /// the cursor first, so that rows of equal cursor values still come in the same order
    /// and an unchanged window gives the same bytes.
    fn select(&self, d: Dialect, columns: &str, order_first: &str, w: Option<&Window>) -> String {
        let relation = self.relation(d);
        match (w, &self.cursor) {
            (Some(w), Some(c)) => {
                let c = self.cursor_column(d, c);
                let lower = w
                    .lo_sql
                    .as_ref()
                    .map(|lo| format!("{c} >= {lo} AND "))
                    .unwrap_or_default();
                format!(
                    "SELECT {columns} FROM {relation} WHERE {lower}{c} < {} \
                     ORDER BY {c}, {order_first}",
                    w.hi_sql
                )
            }
            _ => format!("SELECT {columns} FROM {relation} ORDER BY {order_first}"),
        }
    }

    /// The lag in whole units, for integer cursors (rounded up: lagging more is safe).
    fn lag_int(&self) -> std::result::Result<i64, Fail> {
        let lag = self.lag.ceil();
        if lag > 1e15 {
            return Err(Fail::Config(format!(
                "key `collector.lag`: `{}` is too large for an integer cursor",
                self.lag
            )));
        }
        Ok(lag as i64)
    }

    /// The lag as an SQL literal for `max(c) + 1 - lag`.
    fn lag_sql(&self, kind: CursorKind) -> std::result::Result<String, Fail> {
        Ok(match kind {
            CursorKind::Int => self.lag_int()?.to_string(),
            _ => format!("{:?}", self.lag),
        })
    }

    /// The lag in microseconds, for intervals.
    fn lag_micros(&self) -> i64 {
        (self.lag * 1e6).round().min(i64::MAX as f64) as i64
    }

    /// The window from the saved state to `hi`, checked against the cursor's kind.
    fn window(&self, kind: CursorKind, hi: Value) -> std::result::Result<Window, Fail> {
        let cursor = self.cursor.as_deref().unwrap_or_default();
        let lo_sql = match &self.lo {
            Some(lo) => Some(literal(kind, lo).ok_or_else(|| {
                Fail::Config(format!(
                    "key `collector.cursor`: the saved cursor {lo} does not fit column \
                     `{cursor}` ({kind:?}); was the cursor column changed? Reset the \
                     source's `cursor` state to start over"
                ))
            })?),
            None => None,
        };
        let hi_sql = literal(kind, &hi).ok_or_else(|| {
            Fail::Source(format!(
                "the upper bound {hi} of cursor `{cursor}` cannot be written as {kind:?}"
            ))
        })?;
        Ok(Window {
            lo: self.lo.clone(),
            hi,
            lo_sql,
            hi_sql,
        })
    }
}

/// What a cursor column holds, which decides how its window's upper bound is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CursorKind {
    Int,
    Float,
    Decimal,
    Date,
    /// Without a time zone (PostgreSQL `timestamp`, MariaDB `DATETIME`/`TIMESTAMP`, SQLite text).
    Timestamp,
    /// PostgreSQL `timestamptz`.
    TimestampTz,
}

/// An incremental window `[lo, hi)`.
#[derive(Debug, Clone)]
struct Window {
    lo: Option<Value>,
    hi: Value,
    lo_sql: Option<String>,
    hi_sql: String,
}

/// A cursor value as an SQL literal of `kind`, or `None` when it is not one. Values come
/// from the catalog and the database, never from the user, but they are checked character
/// by character all the same, so that no value can change the statement.
fn literal(kind: CursorKind, v: &Value) -> Option<String> {
    match kind {
        CursorKind::Int => v.as_i64().map(|i| i.to_string()),
        CursorKind::Float => v
            .as_f64()
            .filter(|f| f.is_finite())
            .map(|f| format!("{f:?}")),
        CursorKind::Decimal => {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            is_decimal(&s).then_some(s)
        }
        CursorKind::Date | CursorKind::Timestamp | CursorKind::TimestampTz => v
            .as_str()
            .filter(|s| {
                s.bytes().next().is_some_and(|b| b.is_ascii_digit())
                    && s.bytes()
                        .all(|b| b.is_ascii_digit() || b" -:.TZ+".contains(&b))
            })
            .map(|s| format!("'{s}'")),
    }
}

/// `-?digits(.digits)?`.
fn is_decimal(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// `max + 1 - lag` of a numeric cursor whose `max + 1 - lag` the server computed as text.
fn numeric_hi(kind: CursorKind, text: &str) -> std::result::Result<Value, Fail> {
    let bad = || {
        Fail::Source(format!(
            "the cursor's upper bound `{text}` is not a {kind:?}"
        ))
    };
    let text = text.trim();
    match kind {
        CursorKind::Int => text.parse::<i64>().map(Value::from).map_err(|_| bad()),
        CursorKind::Float => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(bad),
        _ => is_decimal(text)
            .then(|| Value::String(text.to_string()))
            .ok_or_else(bad),
    }
}

/// A part of a file name for a window bound: `:` becomes `-`, anything unusual `_`.
fn name_part(v: Option<&Value>) -> String {
    let text = match v {
        None | Some(Value::Null) => return "start".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    text.chars()
        .map(|c| match c {
            ':' => '-',
            c if c.is_ascii_alphanumeric() || c == '.' || c == '-' => c,
            _ => '_',
        })
        .collect()
}

/// What a run wrote: the objects of one temporal batch, and the cursor it reaches.
#[derive(Debug)]
struct Landed {
    parts: Parts,
    hi: Option<Value>,
}

/// Counts of a finished run.
#[derive(Debug, Default)]
struct Summary {
    rows: u64,
    parts: u64,
    bytes: u64,
}

impl Landed {
    fn finish(self) -> std::result::Result<Summary, Fail> {
        self.parts.finish(self.hi)
    }
}

/// Lays rows out as NDJSON in objects of `batch_rows` rows. Only the object being filled is
/// in memory; it is written out when the next row arrives (or at the end), so that a result
/// that fits in one object is named without a part number.
#[derive(Debug)]
struct Parts {
    writer: BatchWriter,
    base: Map<String, Value>,
    name: String,
    /// Incremental objects always carry a part number.
    numbered: bool,
    batch_rows: usize,
    /// `"name":` for each column, with the `,` before it from the second on.
    keys: Vec<Vec<u8>>,
    buf: Vec<u8>,
    in_buf: usize,
    parts: u64,
    rows: u64,
    bytes: u64,
}

impl Parts {
    fn new(
        job: &Job,
        window: Option<&Window>,
        columns: &[String],
    ) -> std::result::Result<Parts, Fail> {
        if columns.is_empty() {
            return Err(Fail::Config(format!("{} has no columns", job.what())));
        }
        let mut seen = HashSet::new();
        let mut keys = Vec::with_capacity(columns.len());
        for (i, c) in columns.iter().enumerate() {
            if !seen.insert(c.as_str()) {
                return Err(Fail::Config(format!(
                    "column `{c}` appears twice in {}; give the columns distinct names",
                    job.what()
                )));
            }
            let mut key = if i == 0 { Vec::new() } else { vec![b','] };
            serde_json::to_writer(&mut key, c)
                .map_err(|e| Fail::Source(format!("column name `{c}`: {e}")))?;
            key.push(b':');
            keys.push(key);
        }
        let mut base = job.base.clone();
        let name = match window {
            Some(w) => {
                base.insert("from".into(), w.lo.clone().unwrap_or(Value::Null));
                base.insert("to".into(), w.hi.clone());
                format!(
                    "{}_{}_{}",
                    job.stem,
                    name_part(w.lo.as_ref()),
                    name_part(Some(&w.hi))
                )
            }
            None => job.stem.clone(),
        };
        Ok(Parts {
            writer: BatchWriter::create(&job.temporal)?,
            base,
            name,
            numbered: window.is_some(),
            batch_rows: job.batch_rows,
            keys,
            buf: Vec::new(),
            in_buf: 0,
            parts: 0,
            rows: 0,
            bytes: 0,
        })
    }

    /// Starts a row, writing out the previous object when it is full.
    fn begin_row(&mut self) -> std::result::Result<(), Fail> {
        if self.in_buf == self.batch_rows {
            self.flush(false)?;
        }
        self.buf.push(b'{');
        Ok(())
    }

    /// Where column `i`'s value goes (its key is written).
    fn field(&mut self, i: usize) -> &mut Vec<u8> {
        self.buf.extend_from_slice(&self.keys[i]);
        &mut self.buf
    }

    fn end_row(&mut self) {
        self.buf.extend_from_slice(b"}\n");
        self.in_buf += 1;
        self.rows += 1;
    }

    fn flush(&mut self, last: bool) -> std::result::Result<(), Fail> {
        self.parts += 1;
        let file = if self.numbered || !last || self.parts > 1 {
            format!("{}.part{:04}.ndjson", self.name, self.parts)
        } else {
            format!("{}.ndjson", self.name)
        };
        let mut collector = self.base.clone();
        collector.insert("rows".into(), self.in_buf.into());
        collector.insert("part".into(), self.parts.into());
        self.writer
            .add(&file, &self.buf, Value::Object(collector), Vec::new())?;
        self.bytes += self.buf.len() as u64;
        self.buf.clear();
        self.in_buf = 0;
        Ok(())
    }

    /// Writes the last object and seals the batch with the cursor `hi` (incremental mode).
    /// A snapshot of an empty result is one empty object; an empty window lands nothing and
    /// keeps the cursor.
    fn finish(mut self, hi: Option<Value>) -> std::result::Result<Summary, Fail> {
        if self.in_buf > 0 || (!self.numbered && self.parts == 0) {
            self.flush(true)?;
        }
        let mut state = Map::new();
        if let Some(hi) = hi
            && self.rows > 0
        {
            state.insert("cursor".into(), hi);
        }
        self.writer.seal(&state)?;
        Ok(Summary {
            rows: self.rows,
            parts: self.parts,
            bytes: self.bytes,
        })
    }
}

/// Writes `v` as JSON.
fn put<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) -> std::result::Result<(), String> {
    serde_json::to_writer(out, v).map_err(|e| e.to_string())
}

/// A float; a non-finite one as a string, since JSON has no NaN (serde_json would write null).
fn put_f64(out: &mut Vec<u8>, v: Option<f64>) -> std::result::Result<(), String> {
    match v {
        Some(f) if f.is_nan() => put(out, "NaN"),
        Some(f) if f.is_infinite() => put(out, if f > 0.0 { "Infinity" } else { "-Infinity" }),
        v => put(out, &v),
    }
}

/// `2024-05-01T10:00:00.123456Z` (as many fraction digits as needed: 0, 3, 6 or 9).
fn iso_utc(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// `2024-05-01T10:00:00.123456`.
fn iso_naive(t: &chrono::NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.f").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_urls_hold_no_password() {
        assert_eq!(
            url_without_password("postgres://keel:${PG_PASSWORD}@db:5432/shop?sslmode=disable"),
            "postgres://keel@db:5432/shop?sslmode=disable"
        );
        assert_eq!(
            url_without_password("mysql://root:s3cr%40t@127.0.0.1/test"),
            "mysql://root@127.0.0.1/test"
        );
        assert_eq!(
            url_without_password("postgresql://h/db?user=u&password=x&application_name=a#f"),
            "postgresql://h/db?user=u&application_name=a#f"
        );
        assert_eq!(
            url_without_password("postgres://h/db?sslpassword=x"),
            "postgres://h/db"
        );
        assert_eq!(
            url_without_password("sqlite://data/x.db"),
            "sqlite://data/x.db"
        );
        assert_eq!(url_password("mysql://root:s3cr%40t@h/db"), Some("s3cr%40t"));
        assert_eq!(url_password("mysql://root@h/db"), None);
        assert_eq!(url_password("sqlite://a:b@c"), Some("b"));
    }

    #[test]
    fn cursor_literals_cannot_change_a_statement() {
        let s = |v: &str| Value::String(v.to_string());
        assert_eq!(
            literal(CursorKind::Int, &Value::from(42)).as_deref(),
            Some("42")
        );
        assert_eq!(literal(CursorKind::Int, &s("42")), None);
        assert_eq!(
            literal(CursorKind::Float, &Value::from(1.5)).as_deref(),
            Some("1.5")
        );
        assert_eq!(
            literal(CursorKind::Decimal, &s("-12.50")).as_deref(),
            Some("-12.50")
        );
        assert_eq!(literal(CursorKind::Decimal, &s("1; DROP TABLE t")), None);
        assert_eq!(
            literal(CursorKind::TimestampTz, &s("2024-05-01T10:00:00.5Z")).as_deref(),
            Some("'2024-05-01T10:00:00.5Z'")
        );
        assert_eq!(literal(CursorKind::Timestamp, &s("2024' OR '1'='1")), None);
        assert_eq!(literal(CursorKind::Date, &s("")), None);
        assert_eq!(literal(CursorKind::Date, &Value::from(3)), None);
    }

    #[test]
    fn window_bounds_make_plain_file_names() {
        assert_eq!(name_part(None), "start");
        assert_eq!(name_part(Some(&Value::from(1000001))), "1000001");
        assert_eq!(
            name_part(Some(&Value::String("2024-05-01T10:00:00.123Z".into()))),
            "2024-05-01T10-00-00.123Z"
        );
        assert_eq!(
            name_part(Some(&Value::String("2024-05-01 10:00:00/..".into()))),
            "2024-05-01_10-00-00_.."
        );
    }

    #[test]
    fn numeric_bounds_keep_their_kind() {
        assert_eq!(
            numeric_hi(CursorKind::Int, "1000001").unwrap(),
            Value::from(1000001)
        );
        assert_eq!(
            numeric_hi(CursorKind::Float, "2.5").unwrap(),
            Value::from(2.5)
        );
        assert_eq!(
            numeric_hi(CursorKind::Decimal, "10.50").unwrap(),
            Value::String("10.50".into())
        );
        assert!(numeric_hi(CursorKind::Int, "1.5").is_err());
        assert!(numeric_hi(CursorKind::Float, "NaN").is_err());
        assert!(is_decimal("0.1") && is_decimal("-3") && !is_decimal("1.") && !is_decimal("."));
    }
}
