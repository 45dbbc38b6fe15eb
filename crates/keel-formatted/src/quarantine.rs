//! What a table's quarantine holds, by rule and column, with examples
//! (`keel quarantine TABLE`).

use std::fmt;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type};
use keel_core::Project;
use keel_engine::EngineError;
use keel_engine::delta;
use serde::Serialize;

use crate::{FormattedError, Result};

/// A table's quarantine, summarised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuarantineSummary {
    /// The formatted table.
    pub table: String,
    /// Quarantined rows.
    pub rows: i64,
    /// Objects with quarantined rows.
    pub objects: i64,
    /// Groups by rule and column, largest first.
    pub reasons: Vec<ReasonGroup>,
}

/// The quarantined rows that broke one rule on one column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReasonGroup {
    /// Rule broken.
    pub rule: String,
    /// Canonical column at fault (none for row- or object-level rules).
    pub column: Option<String>,
    /// Rows.
    pub rows: i64,
    /// Objects they come from.
    pub objects: i64,
    /// The first rows, in ingestion order.
    pub examples: Vec<Example>,
}

/// One quarantined row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Example {
    /// Object reference (`object_id`, or `object_id!member`).
    pub object: String,
    /// Line (0: the whole object).
    pub line: i64,
    /// Why.
    pub reason: String,
    /// Raw text (cut to 200 characters here).
    pub raw: String,
}

/// Summarises the quarantine of `table`, with up to `examples` rows per group.
///
/// # Errors
/// When the table is not one of the project's formatted tables, or cannot be read.
pub async fn summary(project: &Project, table: &str, examples: usize) -> Result<QuarantineSummary> {
    if !project.sources.iter().any(|s| s.table() == table) {
        let known: Vec<&str> = project.sources.iter().map(|s| s.table()).collect();
        return Err(FormattedError::Config {
            path: project.dir.join("sources"),
            message: format!(
                "no formatted table `{table}`; the project's tables are: {}",
                known.join(", ")
            ),
        });
    }
    let mut out = QuarantineSummary {
        table: table.to_string(),
        rows: 0,
        objects: 0,
        reasons: Vec::new(),
    };
    let Some(ctx) = delta::session_with(&project.lake.quarantine(table), "q").await? else {
        return Ok(out);
    };
    let query = |sql: String| {
        let ctx = ctx.clone();
        async move {
            let frame = ctx.sql(&sql).await.map_err(EngineError::from)?;
            Ok::<Vec<RecordBatch>, FormattedError>(
                frame.collect().await.map_err(EngineError::from)?,
            )
        }
    };
    for b in query("SELECT count(*), count(DISTINCT _keel_object) FROM q".into()).await? {
        out.rows = int(&b, 0, 0);
        out.objects = int(&b, 1, 0);
    }
    for b in query(
        "SELECT rule, \"column\", count(*) AS n, count(DISTINCT _keel_object) FROM q \
         GROUP BY rule, \"column\" ORDER BY n DESC, rule, \"column\""
            .into(),
    )
    .await?
    {
        for i in 0..b.num_rows() {
            out.reasons.push(ReasonGroup {
                rule: text(&b, 0, i).unwrap_or_default(),
                column: text(&b, 1, i),
                rows: int(&b, 2, i),
                objects: int(&b, 3, i),
                examples: Vec::new(),
            });
        }
    }
    let sql = format!(
        "SELECT rule, \"column\", _keel_object, _keel_line, reason, raw FROM (\
         SELECT *, row_number() OVER (PARTITION BY rule, \"column\" \
         ORDER BY _keel_ingested_at, _keel_object, _keel_line) AS rn FROM q) \
         WHERE rn <= {examples} ORDER BY _keel_ingested_at, _keel_object, _keel_line"
    );
    for b in query(sql).await? {
        for i in 0..b.num_rows() {
            let (rule, column) = (text(&b, 0, i).unwrap_or_default(), text(&b, 1, i));
            let Some(group) = out
                .reasons
                .iter_mut()
                .find(|g| g.rule == rule && g.column == column)
            else {
                continue;
            };
            let raw = text(&b, 5, i).unwrap_or_default();
            group.examples.push(Example {
                object: text(&b, 2, i).unwrap_or_default(),
                line: int(&b, 3, i),
                reason: text(&b, 4, i).unwrap_or_default(),
                raw: raw.chars().take(200).collect(),
            });
        }
    }
    Ok(out)
}

fn text(b: &RecordBatch, col: usize, row: usize) -> Option<String> {
    let array = arrow::compute::cast(b.column(col), &DataType::Utf8).ok()?;
    let array = array.as_string::<i32>();
    (!array.is_null(row)).then(|| array.value(row).to_string())
}

fn int(b: &RecordBatch, col: usize, row: usize) -> i64 {
    arrow::compute::cast(b.column(col), &DataType::Int64)
        .ok()
        .map(|a| a.as_primitive::<Int64Type>().value(row))
        .unwrap_or(0)
}

impl fmt::Display for QuarantineSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "quarantine of formatted.{}: {} rows from {} objects",
            self.table, self.rows, self.objects
        )?;
        for g in &self.reasons {
            writeln!(
                f,
                "\n  {:>8} rows  {:<18} {:<20} ({} objects)",
                g.rows,
                g.rule,
                g.column.as_deref().unwrap_or("-"),
                g.objects
            )?;
            for e in &g.examples {
                writeln!(f, "           {}:{}  {}", e.object, e.line, e.reason)?;
                writeln!(f, "             {}", e.raw.replace(['\r', '\n'], "⏎"))?;
            }
        }
        Ok(())
    }
}
