//! MariaDB and MySQL through mysql_async, on the text protocol: every value arrives as text
//! and is written by its column's type.

use keel_core::secrets::Secrets;
use mysql_async::prelude::Queryable;
use serde_json::Value;

use super::{
    CONNECT_TIMEOUT, CursorKind, Dialect, Fail, Job, Landed, Parts, chain, numeric_hi, put, put_f64,
};

/// The options the `sql` collector connects to MariaDB or MySQL with: those of `url`
/// (`mysql://` or `mariadb://`), with no LOCAL INFILE handler, so that a server asking for a
/// client file gets an error instead of the file (RELIABILITY D11). mysql_async always
/// announces the `CLIENT_LOCAL_FILES` capability and offers no option to clear it; without a
/// handler it refuses every request.
///
/// # Errors
/// When `url` is not a MariaDB/MySQL URL; the message may quote parts of `url`, so redact it.
pub fn mysql_opts(url: &str) -> std::result::Result<mysql_async::Opts, String> {
    let rest = match url.split_once("://") {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("mysql") || scheme.eq_ignore_ascii_case("mariadb") =>
        {
            rest
        }
        _ => return Err("not a `mysql://` or `mariadb://` URL".into()),
    };
    let opts =
        mysql_async::Opts::from_url(&format!("mysql://{rest}")).map_err(|e| e.to_string())?;
    Ok(mysql_async::OptsBuilder::from_opts(opts)
        .local_infile_handler(None::<mysql_async::WhiteListFsHandler>)
        .into())
}

/// How a MariaDB/MySQL column is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MyCell {
    /// An integer, copied as it is.
    Integer,
    Float,
    Text,
    /// `DATETIME`/`TIMESTAMP`: `2024-05-01 10:00:00` becomes `2024-05-01T10:00:00`.
    DateTime,
    Bit,
    Json,
    Bytes,
}

impl MyCell {
    fn of(c: &mysql_async::Column) -> MyCell {
        use mysql_async::consts::ColumnType as T;
        /// The `binary` character set: bytes, not text.
        const BINARY: u16 = 63;
        match c.column_type() {
            T::MYSQL_TYPE_TINY
            | T::MYSQL_TYPE_SHORT
            | T::MYSQL_TYPE_INT24
            | T::MYSQL_TYPE_LONG
            | T::MYSQL_TYPE_LONGLONG
            | T::MYSQL_TYPE_YEAR => MyCell::Integer,
            T::MYSQL_TYPE_FLOAT | T::MYSQL_TYPE_DOUBLE => MyCell::Float,
            T::MYSQL_TYPE_DECIMAL
            | T::MYSQL_TYPE_NEWDECIMAL
            | T::MYSQL_TYPE_DATE
            | T::MYSQL_TYPE_NEWDATE
            | T::MYSQL_TYPE_TIME
            | T::MYSQL_TYPE_TIME2
            | T::MYSQL_TYPE_NULL => MyCell::Text,
            T::MYSQL_TYPE_DATETIME
            | T::MYSQL_TYPE_DATETIME2
            | T::MYSQL_TYPE_TIMESTAMP
            | T::MYSQL_TYPE_TIMESTAMP2 => MyCell::DateTime,
            T::MYSQL_TYPE_BIT => MyCell::Bit,
            T::MYSQL_TYPE_JSON => MyCell::Json,
            T::MYSQL_TYPE_GEOMETRY => MyCell::Bytes,
            _ if c.character_set() == BINARY => MyCell::Bytes,
            _ => MyCell::Text,
        }
    }

    fn put(
        self,
        out: &mut Vec<u8>,
        v: Option<&mysql_async::Value>,
    ) -> std::result::Result<(), String> {
        let bytes = match v {
            None | Some(mysql_async::Value::NULL) => return put(out, &Value::Null),
            Some(mysql_async::Value::Bytes(b)) => b.as_slice(),
            Some(other) => return Err(format!("unexpected value {other:?} in a text result")),
        };
        let text = || String::from_utf8_lossy(bytes);
        match self {
            MyCell::Integer if is_integer(bytes) => {
                out.extend_from_slice(bytes);
                Ok(())
            }
            MyCell::Float => match text().parse::<f64>() {
                Ok(f) => put_f64(out, Some(f)),
                Err(_) => put(out, &text()),
            },
            MyCell::DateTime => put(out, &text().replacen(' ', "T", 1)),
            MyCell::Bit => {
                let n = bytes.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b));
                put(out, &n)
            }
            MyCell::Json => match serde_json::from_slice::<Value>(bytes) {
                Ok(v) => put(out, &v),
                Err(_) => put(out, &text()),
            },
            MyCell::Bytes => put(out, &hex::encode(bytes)),
            MyCell::Integer | MyCell::Text => put(out, &text()),
        }
    }
}

/// `-?digits`: a valid JSON integer as it is.
fn is_integer(b: &[u8]) -> bool {
    let digits = b.strip_prefix(b"-").unwrap_or(b);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

fn cursor_kind(c: &mysql_async::Column) -> Option<CursorKind> {
    use mysql_async::consts::ColumnType as T;
    match c.column_type() {
        T::MYSQL_TYPE_TINY
        | T::MYSQL_TYPE_SHORT
        | T::MYSQL_TYPE_INT24
        | T::MYSQL_TYPE_LONG
        | T::MYSQL_TYPE_LONGLONG
        | T::MYSQL_TYPE_YEAR => Some(CursorKind::Int),
        T::MYSQL_TYPE_FLOAT | T::MYSQL_TYPE_DOUBLE => Some(CursorKind::Float),
        T::MYSQL_TYPE_DECIMAL | T::MYSQL_TYPE_NEWDECIMAL => Some(CursorKind::Decimal),
        T::MYSQL_TYPE_DATE | T::MYSQL_TYPE_NEWDATE => Some(CursorKind::Date),
        T::MYSQL_TYPE_DATETIME
        | T::MYSQL_TYPE_DATETIME2
        | T::MYSQL_TYPE_TIMESTAMP
        | T::MYSQL_TYPE_TIMESTAMP2 => Some(CursorKind::Timestamp),
        _ => None,
    }
}

/// Reads the rows of `job` from the MariaDB/MySQL server at `url` into one temporal batch.
pub(super) async fn read(
    url: &str,
    job: &Job,
    secrets: &mut Secrets,
) -> std::result::Result<Option<Landed>, Fail> {
    let opts = mysql_opts(url).map_err(|m| Fail::Config(format!("key `collector.url`: {m}")))?;
    if let Some(password) = opts.pass() {
        secrets.add(password);
    }
    let connecting = format!("connecting to `{}`", job.url);
    let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, mysql_async::Conn::new(opts))
        .await
        .map_err(|_| {
            Fail::Source(format!(
                "{connecting}: no answer within {} s",
                CONNECT_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| Fail::source(&connecting, &e))?;
    let outcome = read_rows(&mut conn, job).await;
    if outcome.is_ok() {
        // A failed read may leave the protocol mid-exchange: then the connection is only
        // dropped, which closes it.
        if let Err(e) = conn.disconnect().await {
            let error = secrets.redact(&chain(&e));
            tracing::debug!(%error, "sql: closing the MariaDB connection");
        }
    }
    outcome
}

/// The first column of the first row of `sql`, as text.
async fn my_scalar(
    tx: &mut mysql_async::Transaction<'_>,
    sql: String,
) -> std::result::Result<Option<String>, mysql_async::Error> {
    let mut result = tx.query_iter(sql).await?;
    let value = match result.next().await? {
        Some(row) => match row.as_ref(0) {
            Some(mysql_async::Value::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        },
        None => None,
    };
    result.drop_result().await?;
    Ok(value)
}

async fn read_rows(
    conn: &mut mysql_async::Conn,
    job: &Job,
) -> std::result::Result<Option<Landed>, Fail> {
    let failed = |e: mysql_async::Error| Fail::source(format_args!("reading {}", job.what()), &e);
    let mut options = mysql_async::TxOpts::default();
    options
        .with_isolation_level(mysql_async::IsolationLevel::RepeatableRead)
        .with_consistent_snapshot(true)
        .with_readonly(true);
    let mut tx = conn.start_transaction(options).await.map_err(failed)?;
    let d = Dialect::MySql;
    let relation = job.relation(d);

    let window = match &job.cursor {
        None => None,
        Some(cursor) => {
            let col = job.cursor_column(d, cursor);
            let probe = tx
                .query_iter(format!("SELECT {col} FROM {relation} LIMIT 0"))
                .await
                .map_err(failed)?;
            let column = probe.columns_ref().first().cloned();
            probe.drop_result().await.map_err(failed)?;
            let column = column.ok_or_else(|| {
                Fail::Source(format!("reading {}: no column `{cursor}`", job.what()))
            })?;
            let kind = cursor_kind(&column).ok_or_else(|| {
                Fail::Config(format!(
                    "key `collector.cursor`: column `{cursor}` is of type {:?}; a cursor \
                     must be a number, a date or a timestamp",
                    column.column_type()
                ))
            })?;
            let micros = job.lag_micros();
            let hi = match kind {
                CursorKind::Int | CursorKind::Float | CursorKind::Decimal => {
                    let sql = format!(
                        "SELECT max({col}) + 1 - {} FROM {relation}",
                        job.lag_sql(kind)?
                    );
                    match my_scalar(&mut tx, sql).await.map_err(failed)? {
                        Some(text) => numeric_hi(kind, &text)?,
                        None => return Ok(None),
                    }
                }
                CursorKind::Date | CursorKind::Timestamp | CursorKind::TimestampTz => {
                    let format = if kind == CursorKind::Date {
                        "%Y-%m-%d"
                    } else {
                        "%Y-%m-%dT%H:%i:%s"
                    };
                    let sql = format!(
                        "SELECT DATE_FORMAT(NOW(6) - INTERVAL {micros} MICROSECOND, '{format}')"
                    );
                    let text = my_scalar(&mut tx, sql).await.map_err(failed)?;
                    Value::String(text.unwrap_or_default())
                }
            };
            Some(job.window(kind, hi)?)
        }
    };

    let sql = job.select(d, "*", "1", window.as_ref());
    let mut result = tx.query_iter(sql).await.map_err(failed)?;
    let cells: Vec<MyCell> = result.columns_ref().iter().map(MyCell::of).collect();
    let names: Vec<String> = result
        .columns_ref()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    let mut parts = Parts::new(job, window.as_ref(), &names)?;
    while let Some(row) = result.next().await.map_err(failed)? {
        parts.begin_row()?;
        for (i, cell) in cells.iter().enumerate() {
            cell.put(parts.field(i), row.as_ref(i)).map_err(|m| {
                Fail::Source(format!(
                    "reading column `{}` of {}: {m}",
                    names[i],
                    job.what()
                ))
            })?;
        }
        parts.end_row();
    }
    drop(result);
    tx.commit().await.map_err(failed)?;
    Ok(Some(Landed {
        parts,
        hi: window.map(|w| w.hi),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_connections_have_no_local_infile_handler() {
        let opts = mysql_opts("mariadb://u:p@127.0.0.1:3306/test").unwrap();
        assert!(opts.local_infile_handler().is_none());
        assert_eq!(opts.pass(), Some("p"));
        assert!(mysql_opts("postgres://u@h/db").is_err());
    }

    #[test]
    fn mysql_integers_are_copied_only_when_they_are_integers() {
        assert!(is_integer(b"-12") && is_integer(b"0"));
        assert!(!is_integer(b"") && !is_integer(b"-") && !is_integer(b"1e3"));
    }
}
