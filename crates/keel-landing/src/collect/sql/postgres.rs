//! PostgreSQL through tokio-postgres: column types read in binary where the driver knows
//! them, every other type cast to its text form by the query.

use futures::TryStreamExt;
use keel_core::secrets::Secrets;
use serde_json::Value;
use tokio_postgres::types::Type;

use super::{
    ALIAS, CONNECT_TIMEOUT, CursorKind, Dialect, Fail, Job, Landed, Parts, chain, iso_naive,
    iso_utc, numeric_hi, put, put_f64,
};
/// How a PostgreSQL column is read; columns of other types are cast to text by the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PgCell {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Text,
    Date,
    Timestamp,
    TimestampTz,
    Json,
    Bytes,
}

impl PgCell {
    fn of(ty: &Type) -> Option<PgCell> {
        [
            (Type::BOOL, PgCell::Bool),
            (Type::INT2, PgCell::Int2),
            (Type::INT4, PgCell::Int4),
            (Type::INT8, PgCell::Int8),
            (Type::OID, PgCell::Oid),
            (Type::FLOAT4, PgCell::Float4),
            (Type::FLOAT8, PgCell::Float8),
            (Type::TEXT, PgCell::Text),
            (Type::VARCHAR, PgCell::Text),
            (Type::BPCHAR, PgCell::Text),
            (Type::NAME, PgCell::Text),
            (Type::UNKNOWN, PgCell::Text),
            (Type::DATE, PgCell::Date),
            (Type::TIMESTAMP, PgCell::Timestamp),
            (Type::TIMESTAMPTZ, PgCell::TimestampTz),
            (Type::JSON, PgCell::Json),
            (Type::JSONB, PgCell::Json),
            (Type::BYTEA, PgCell::Bytes),
        ]
        .into_iter()
        .find(|(t, _)| t == ty)
        .map(|(_, c)| c)
    }

    /// Writes column `i` of `row`.
    fn put(
        self,
        out: &mut Vec<u8>,
        row: &tokio_postgres::Row,
        i: usize,
    ) -> std::result::Result<(), String> {
        let e = |e: tokio_postgres::Error| chain(&e);
        match self {
            PgCell::Bool => put(out, &row.try_get::<_, Option<bool>>(i).map_err(e)?),
            PgCell::Int2 => put(out, &row.try_get::<_, Option<i16>>(i).map_err(e)?),
            PgCell::Int4 => put(out, &row.try_get::<_, Option<i32>>(i).map_err(e)?),
            PgCell::Int8 => put(out, &row.try_get::<_, Option<i64>>(i).map_err(e)?),
            PgCell::Oid => put(out, &row.try_get::<_, Option<u32>>(i).map_err(e)?),
            // serde_json writes an f32 in its own shortest form (0.1, not 0.10000000149...).
            PgCell::Float4 => match row.try_get::<_, Option<f32>>(i).map_err(e)? {
                Some(f) if !f.is_finite() => put_f64(out, Some(f64::from(f))),
                v => put(out, &v),
            },
            PgCell::Float8 => put_f64(out, row.try_get::<_, Option<f64>>(i).map_err(e)?),
            PgCell::Text => put(out, &row.try_get::<_, Option<&str>>(i).map_err(e)?),
            PgCell::Date => {
                let v = row.try_get::<_, Option<chrono::NaiveDate>>(i).map_err(e)?;
                put(out, &v.map(|d| d.format("%Y-%m-%d").to_string()))
            }
            PgCell::Timestamp => {
                let v = row
                    .try_get::<_, Option<chrono::NaiveDateTime>>(i)
                    .map_err(e)?;
                put(out, &v.as_ref().map(iso_naive))
            }
            PgCell::TimestampTz => {
                let v = row
                    .try_get::<_, Option<chrono::DateTime<chrono::Utc>>>(i)
                    .map_err(e)?;
                put(out, &v.as_ref().map(iso_utc))
            }
            PgCell::Json => put(out, &row.try_get::<_, Option<Value>>(i).map_err(e)?),
            PgCell::Bytes => {
                let v = row.try_get::<_, Option<&[u8]>>(i).map_err(e)?;
                put(out, &v.map(hex::encode))
            }
        }
    }
}

fn cursor_kind(ty: &Type) -> Option<CursorKind> {
    [
        (Type::INT2, CursorKind::Int),
        (Type::INT4, CursorKind::Int),
        (Type::INT8, CursorKind::Int),
        (Type::NUMERIC, CursorKind::Decimal),
        (Type::FLOAT4, CursorKind::Float),
        (Type::FLOAT8, CursorKind::Float),
        (Type::DATE, CursorKind::Date),
        (Type::TIMESTAMP, CursorKind::Timestamp),
        (Type::TIMESTAMPTZ, CursorKind::TimestampTz),
    ]
    .into_iter()
    .find(|(t, _)| t == ty)
    .map(|(_, k)| k)
}

/// Reads the rows of `job` from the PostgreSQL server at `url` into one temporal batch.
pub(super) async fn read(
    url: &str,
    job: &Job,
    secrets: &mut Secrets,
) -> std::result::Result<Option<Landed>, Fail> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| Fail::Config(format!("key `collector.url`: {}", chain(&e))))?;
    if let Some(password) = config.get_password() {
        secrets.add(&String::from_utf8_lossy(password));
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("keel");
    }
    // No TLS yet: a URL with `sslmode=require` is refused by the driver rather than
    // downgraded.
    let (mut client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| Fail::source(format_args!("connecting to `{}`", job.url), &e))?;
    let log_secrets = secrets.clone();
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            let error = log_secrets.redact(&chain(&e));
            tracing::warn!(%error, "sql: PostgreSQL connection failed");
        }
    });
    let failed =
        |e: tokio_postgres::Error| Fail::source(format_args!("reading {}", job.what()), &e);
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(failed)?;
    let d = Dialect::Postgres;
    let relation = job.relation(d);

    let window = match &job.cursor {
        None => None,
        Some(cursor) => {
            let col = job.cursor_column(d, cursor);
            let probe = tx
                .prepare(&format!("SELECT {col} FROM {relation}"))
                .await
                .map_err(failed)?;
            let ty = probe
                .columns()
                .first()
                .map(|c| c.type_().clone())
                .ok_or_else(|| Fail::Source(format!("no column `{cursor}` in {}", job.what())))?;
            let kind = cursor_kind(&ty).ok_or_else(|| {
                Fail::Config(format!(
                    "key `collector.cursor`: column `{cursor}` is of type `{}`; a cursor \
                     must be a number, a date or a timestamp",
                    ty.name()
                ))
            })?;
            let lag = job.lag;
            let hi = match kind {
                CursorKind::Int | CursorKind::Float | CursorKind::Decimal => {
                    let sql = format!(
                        "SELECT CAST(max({col}) + 1 - {} AS text) FROM {relation}",
                        job.lag_sql(kind)?
                    );
                    let row = tx.query_one(sql.as_str(), &[]).await.map_err(failed)?;
                    match row.try_get::<_, Option<&str>>(0).map_err(failed)? {
                        Some(text) => numeric_hi(kind, text)?,
                        None => return Ok(None),
                    }
                }
                CursorKind::TimestampTz => {
                    let sql = format!(
                        "SELECT date_trunc('second', now() - make_interval(secs => {lag:?}))"
                    );
                    let row = tx.query_one(sql.as_str(), &[]).await.map_err(failed)?;
                    let t: chrono::DateTime<chrono::Utc> = row.try_get(0).map_err(failed)?;
                    Value::String(iso_utc(&t))
                }
                CursorKind::Timestamp => {
                    let sql = format!(
                        "SELECT date_trunc('second', LOCALTIMESTAMP - make_interval(secs => {lag:?}))"
                    );
                    let row = tx.query_one(sql.as_str(), &[]).await.map_err(failed)?;
                    let t: chrono::NaiveDateTime = row.try_get(0).map_err(failed)?;
                    Value::String(iso_naive(&t))
                }
                CursorKind::Date => {
                    let sql = format!(
                        "SELECT CAST(LOCALTIMESTAMP - make_interval(secs => {lag:?}) AS date)"
                    );
                    let row = tx.query_one(sql.as_str(), &[]).await.map_err(failed)?;
                    let t: chrono::NaiveDate = row.try_get(0).map_err(failed)?;
                    Value::String(t.format("%Y-%m-%d").to_string())
                }
            };
            Some(job.window(kind, hi)?)
        }
    };

    // The columns, to cast to text those the driver cannot read as they are.
    let star = tx
        .prepare(&format!("SELECT * FROM {relation}"))
        .await
        .map_err(failed)?;
    let names: Vec<String> = star
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let as_text: Vec<bool> = star
        .columns()
        .iter()
        .map(|c| PgCell::of(c.type_()).is_none())
        .collect();
    let columns = if as_text.contains(&true) {
        let list: Vec<String> = names
            .iter()
            .zip(&as_text)
            .map(|(n, text)| {
                let q = d.quote(n);
                if *text {
                    format!("CAST({ALIAS}.{q} AS text) AS {q}")
                } else {
                    format!("{ALIAS}.{q}")
                }
            })
            .collect();
        list.join(", ")
    } else {
        "*".to_string()
    };
    // Qualified, so that it sorts by the column and not by its text form.
    let order_first = names
        .first()
        .map_or_else(|| "1".to_string(), |n| format!("{ALIAS}.{}", d.quote(n)));
    let sql = job.select(d, &columns, &order_first, window.as_ref());
    let statement = tx.prepare(&sql).await.map_err(failed)?;
    let cells = statement
        .columns()
        .iter()
        .map(|c| {
            PgCell::of(c.type_()).ok_or_else(|| {
                Fail::Source(format!(
                    "column `{}` of type `{}` cannot be read",
                    c.name(),
                    c.type_().name()
                ))
            })
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;

    let mut parts = Parts::new(job, window.as_ref(), &names)?;
    let rows = tx
        .query_raw(&statement, std::iter::empty::<i32>())
        .await
        .map_err(failed)?;
    let mut rows = std::pin::pin!(rows);
    while let Some(row) = rows.try_next().await.map_err(failed)? {
        parts.begin_row()?;
        for (i, cell) in cells.iter().enumerate() {
            cell.put(parts.field(i), &row, i).map_err(|m| {
                Fail::Source(format!(
                    "reading column `{}` of {}: {m}",
                    names[i],
                    job.what()
                ))
            })?;
        }
        parts.end_row();
    }
    tx.commit().await.map_err(failed)?;
    Ok(Some(Landed {
        parts,
        hi: window.map(|w| w.hi),
    }))
}
