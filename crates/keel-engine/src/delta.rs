//! Delta tables: opening, and writes that are idempotent through `txn` markers.
//!
//! A Delta commit can succeed while the writer sees an error (delta-rs #2279). Every keel
//! write carries an application transaction (`txn`: app id + version); before writing, the
//! caller asks [`txn_version`] whether that version is already committed, so a retry or a
//! rerun never writes the same batch twice.

use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use deltalake::DeltaTable;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;

use crate::{EngineError, Result};

/// A Delta transaction marker: who wrote (app id) and which of its batches (version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    /// Application id, e.g. `keel:formatted:readings`.
    pub app_id: String,
    /// Monotonic batch number of that application.
    pub version: i64,
}

fn delta_err(path: &Path) -> impl Fn(deltalake::DeltaTableError) -> EngineError + '_ {
    move |e| EngineError::Delta {
        table: path.display().to_string(),
        source: Box::new(e),
    }
}

fn table_url(path: &Path) -> Result<url::Url> {
    std::fs::create_dir_all(path)
        .map_err(|e| EngineError::Location(format!("{}: {e}", path.display())))?;
    let abs = path
        .canonicalize()
        .map_err(|e| EngineError::Location(format!("{}: {e}", path.display())))?;
    url::Url::from_directory_path(&abs)
        .map_err(|()| EngineError::Location(abs.display().to_string()))
}

/// Opens the Delta table at `path`, or `None` when no table exists there yet.
///
/// # Errors
/// When the location exists but cannot be read as a Delta table.
pub async fn open(path: &Path) -> Result<Option<DeltaTable>> {
    if !path.join("_delta_log").is_dir() {
        return Ok(None);
    }
    let url = table_url(path)?;
    let table = deltalake::open_table(url).await.map_err(delta_err(path))?;
    Ok(Some(table))
}

/// The latest version of the table at `path`, if there is one.
///
/// # Errors
/// When the table cannot be read.
pub async fn version(path: &Path) -> Result<Option<i64>> {
    Ok(open(path)
        .await?
        .and_then(|t| t.version())
        .map(|v| v as i64))
}

/// The last committed version of `app_id` in the table at `path` (`None`: never).
///
/// # Errors
/// When the table cannot be read.
pub async fn txn_version(path: &Path, app_id: &str) -> Result<Option<i64>> {
    let Some(table) = open(path).await? else {
        return Ok(None);
    };
    let snapshot = table.snapshot().map_err(delta_err(path))?;
    snapshot
        .transaction_version(table.log_store().as_ref(), app_id)
        .await
        .map_err(delta_err(path))
}

/// A table's state read once: version, schema, `txn` markers and row count all come from
/// one load of its log, instead of one load per question (a formatting chunk asks five).
pub struct Table {
    path: std::path::PathBuf,
    inner: Option<DeltaTable>,
}

impl Table {
    /// Loads the table at `path` (absent when no table exists there yet).
    ///
    /// # Errors
    /// When the location exists but cannot be read as a Delta table.
    pub async fn load(path: &Path) -> Result<Table> {
        Ok(Table {
            path: path.to_path_buf(),
            inner: open(path).await?,
        })
    }

    /// Whether a table exists.
    pub fn exists(&self) -> bool {
        self.inner.is_some()
    }

    /// The loaded version.
    pub fn version(&self) -> Option<i64> {
        self.inner
            .as_ref()
            .and_then(DeltaTable::version)
            .map(|v| v as i64)
    }

    /// The last committed version of `app_id` (`None`: never).
    ///
    /// # Errors
    /// When the log cannot be read.
    pub async fn txn_version(&self, app_id: &str) -> Result<Option<i64>> {
        let Some(table) = &self.inner else {
            return Ok(None);
        };
        let snapshot = table.snapshot().map_err(delta_err(&self.path))?;
        snapshot
            .transaction_version(table.log_store().as_ref(), app_id)
            .await
            .map_err(delta_err(&self.path))
    }

    /// The Arrow schema readers see.
    ///
    /// # Errors
    /// When the table's provider cannot be built.
    pub async fn arrow_schema(&self) -> Result<Option<arrow::datatypes::SchemaRef>> {
        let Some(table) = &self.inner else {
            return Ok(None);
        };
        let ctx = datafusion::prelude::SessionContext::new();
        Ok(Some(
            provider(table, &self.path, &ctx.state()).await?.schema(),
        ))
    }

    /// Rows in the loaded version: the sum of the files' `numRecords` statistics, or a
    /// count over the data when a file has none (keel writes no deletion vectors, so the
    /// statistics are exact for its tables).
    ///
    /// # Errors
    /// When the table cannot be read.
    pub async fn rows(&self) -> Result<i64> {
        let Some(table) = &self.inner else {
            return Ok(0);
        };
        let snapshot = table.snapshot().map_err(delta_err(&self.path))?;
        let mut rows = 0i64;
        for file in snapshot.log_data().iter() {
            match file.num_records() {
                Some(n) => rows += n as i64,
                None => return count_rows(&self.path).await,
            }
        }
        Ok(rows)
    }
}

/// Rows staged for one write, readable as many times as a write needs (a merge reads its
/// source twice): record batches in memory, or Arrow IPC files (`*.arrow`) in a directory,
/// all with `schema`.
#[derive(Debug, Clone)]
pub enum Staged {
    /// Batches in memory.
    Batches(arrow::datatypes::SchemaRef, Vec<RecordBatch>),
    /// Arrow IPC files in a directory.
    Files(arrow::datatypes::SchemaRef, std::path::PathBuf),
}

impl Staged {
    /// A session to read staged rows in. Its scans never split a file into byte ranges:
    /// DataFusion reads an Arrow IPC range by fetching all of its batches at once, while a
    /// whole local file is read a batch at a time (so the staged files are kept small and
    /// several of them are read side by side instead).
    fn session() -> datafusion::prelude::SessionContext {
        datafusion::prelude::SessionContext::new_with_config(
            datafusion::prelude::SessionConfig::new().with_repartition_file_scans(false),
        )
    }

    /// The rows' schema.
    pub fn schema(&self) -> &arrow::datatypes::SchemaRef {
        match self {
            Staged::Batches(s, _) | Staged::Files(s, _) => s,
        }
    }

    /// The rows as a DataFrame of `ctx`, registered as `name`.
    async fn frame(
        &self,
        ctx: &datafusion::prelude::SessionContext,
        name: &str,
    ) -> Result<datafusion::dataframe::DataFrame> {
        match self {
            Staged::Batches(schema, batches) => {
                ctx.register_table(
                    name,
                    Arc::new(datafusion::datasource::MemTable::try_new(
                        schema.clone(),
                        vec![batches.clone()],
                    )?),
                )?;
            }
            Staged::Files(schema, dir) => {
                let options = datafusion::datasource::file_format::options::ArrowReadOptions {
                    schema: Some(schema.as_ref()),
                    ..Default::default()
                };
                // A trailing separator: the location is a folder of files.
                ctx.register_arrow(name, &format!("{}/", dir.display()), options)
                    .await?;
            }
        }
        Ok(ctx.table(name).await?)
    }
}

/// Writes `staged` to the table at `path` (creating it) as it is read, tagged with `txn`;
/// returns the new version.
///
/// # Errors
/// When the staged rows cannot be read, or the write or commit fails.
pub async fn write_staged(
    path: &Path,
    staged: &Staged,
    mode: WriteMode,
    txn: Option<&Txn>,
) -> Result<i64> {
    if let Staged::Batches(_, batches) = staged {
        return write(path, batches.clone(), mode, txn).await;
    }
    let ctx = Staged::session();
    let frame = staged.frame(&ctx, "staged").await?;
    write_plan(path, frame.into_unoptimized_plan(), ctx.state(), mode, txn).await
}

/// How a write treats what the table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Add the rows.
    Append,
    /// Replace the table's rows (and schema) with these.
    Overwrite,
    /// Add the rows; columns the table lacks are added to it.
    AppendMergingSchema,
}

/// Writes `batches` to the table at `path` (creating it), tagged with `txn`, and returns the
/// new version.
///
/// # Errors
/// When the write or commit fails.
pub async fn write(
    path: &Path,
    batches: Vec<RecordBatch>,
    mode: WriteMode,
    txn: Option<&Txn>,
) -> Result<i64> {
    let builder = open_or_new(path).await?.write(batches);
    commit_write(path, builder, mode, txn).await
}

/// Replaces the rows of the table at `path` that match the SQL `predicate` with `batches`
/// (every row of which must match it), in one commit tagged with `txn`. Returns the new
/// version.
///
/// # Errors
/// When a row does not match the predicate, or the write or commit fails.
pub async fn replace_where(
    path: &Path,
    batches: Vec<RecordBatch>,
    predicate: &str,
    txn: Option<&Txn>,
) -> Result<i64> {
    let table = open_or_new(path)
        .await?
        .write(batches)
        .with_save_mode(SaveMode::Overwrite)
        .with_replace_where(predicate.to_string())
        .with_commit_properties(commit_properties(txn))
        .await
        .map_err(delta_err(path))?;
    Ok(table.version().map(|v| v as i64).unwrap_or(0))
}

/// The Arrow schema of the table at `path` as readers see it, or `None` when there is no
/// table.
///
/// # Errors
/// When the table cannot be opened.
pub async fn arrow_schema(path: &Path) -> Result<Option<arrow::datatypes::SchemaRef>> {
    let Some(ctx) = session_with(path, "t").await? else {
        return Ok(None);
    };
    let frame = ctx.table("t").await?;
    Ok(Some(Arc::new(frame.schema().as_arrow().clone())))
}

/// Adds the columns of `schema` that the table at `path` lacks (as nullable columns), in one
/// metadata commit; existing rows read them as null.
///
/// # Errors
/// When the commit fails.
pub async fn add_columns(path: &Path, schema: arrow::datatypes::SchemaRef) -> Result<i64> {
    let nullable: Vec<arrow::datatypes::Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    let schema = Arc::new(arrow::datatypes::Schema::new(nullable));
    let table = open_or_new(path)
        .await?
        .write(vec![RecordBatch::new_empty(schema)])
        .with_save_mode(SaveMode::Append)
        .with_schema_mode(SchemaMode::Merge)
        .await
        .map_err(delta_err(path))?;
    Ok(table.version().map(|v| v as i64).unwrap_or(0))
}

/// Rewrites the table at `path` with every row selected by `select` (a SQL projection over
/// the table, registered as `t`), replacing its schema: how a column is widened. One commit;
/// the versions before stay readable.
///
/// # Errors
/// When the query or the commit fails.
pub async fn rewrite(path: &Path, select: &str) -> Result<i64> {
    let Some(ctx) = session_with(path, "t").await? else {
        return Err(EngineError::Location(format!(
            "no Delta table at {}",
            path.display()
        )));
    };
    let plan = ctx
        .sql(&format!("SELECT {select} FROM t"))
        .await?
        .into_unoptimized_plan();
    write_plan(path, plan, ctx.state(), WriteMode::Overwrite, None).await
}

/// The data files of the table at `path` (its latest version) and how many of them are
/// smaller than `target_bytes`; `(0, 0)` when there is no table.
///
/// # Errors
/// When the table cannot be read.
pub async fn file_counts(path: &Path, target_bytes: u64) -> Result<(usize, usize)> {
    let Some(table) = open(path).await? else {
        return Ok((0, 0));
    };
    let snapshot = table.snapshot().map_err(delta_err(path))?;
    let (mut all, mut small) = (0, 0);
    for file in snapshot.log_data().iter() {
        all += 1;
        if (file.size() as u64) < target_bytes {
            small += 1;
        }
    }
    Ok((all, small))
}

/// What compacting a table did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compaction {
    /// Small files replaced.
    pub files_removed: u64,
    /// Files written in their place.
    pub files_added: u64,
    /// The table's version afterwards.
    pub version: i64,
}

/// Compacts the small files of the table at `path` into files of about `target_bytes`
/// (Delta `OPTIMIZE`, bin-packing). The rows do not change; readers of older versions keep
/// reading the files they hold until a vacuum past the retention removes them.
///
/// # Errors
/// When the table cannot be read or the commit fails (a conflicting writer included).
pub async fn compact(path: &Path, target_bytes: u64) -> Result<Compaction> {
    let table = open_or_new(path).await?;
    let target =
        std::num::NonZeroU64::new(target_bytes.max(1)).unwrap_or(std::num::NonZeroU64::MIN);
    let (table, metrics) = table
        .optimize()
        .with_target_size(target)
        .await
        .map_err(delta_err(path))?;
    Ok(Compaction {
        files_removed: metrics.num_files_removed,
        files_added: metrics.num_files_added,
        version: table.version().map(|v| v as i64).unwrap_or(0),
    })
}

/// A clock for [`vacuum`], in milliseconds since the epoch (tests move it forward).
#[derive(Debug)]
struct FixedClock(i64);

impl deltalake::operations::vacuum::Clock for FixedClock {
    fn current_timestamp_millis(&self) -> i64 {
        self.0
    }
}

/// Deletes the files of the table at `path` that no version within `retention` references,
/// including files no version ever referenced (orphans of a crashed writer: Delta `VACUUM`
/// in full mode). `now_ms` overrides the clock. Returns the files deleted.
///
/// # Errors
/// When the table cannot be read or a file cannot be deleted.
pub async fn vacuum(
    path: &Path,
    retention: std::time::Duration,
    now_ms: Option<i64>,
) -> Result<usize> {
    let Some(table) = open(path).await? else {
        return Ok(0);
    };
    let retention = chrono::Duration::from_std(retention)
        .map_err(|e| EngineError::Location(format!("retention: {e}")))?;
    let mut builder = table
        .vacuum()
        .with_retention_period(retention)
        .with_mode(deltalake::operations::vacuum::VacuumMode::Full)
        .with_enforce_retention_duration(false);
    if let Some(now) = now_ms {
        builder = builder.with_clock(Arc::new(FixedClock(now)));
    }
    let (_, metrics) = builder.await.map_err(delta_err(path))?;
    Ok(metrics.files_deleted.len())
}

/// The table at `path`, or a handle to create one there.
async fn open_or_new(path: &Path) -> Result<DeltaTable> {
    Ok(match open(path).await? {
        Some(table) => table,
        // Not loaded: loading a location without a log is an error the kernel logs.
        None => deltalake::DeltaTableBuilder::from_url(table_url(path)?)
            .and_then(|b| b.build())
            .map_err(delta_err(path))?,
    })
}

/// Runs a write with keel's save mode, schema mode and `txn`; returns the new version.
async fn commit_write(
    path: &Path,
    builder: deltalake::operations::write::WriteBuilder,
    mode: WriteMode,
    txn: Option<&Txn>,
) -> Result<i64> {
    let mut builder = builder.with_save_mode(match mode {
        WriteMode::Append | WriteMode::AppendMergingSchema => SaveMode::Append,
        WriteMode::Overwrite => SaveMode::Overwrite,
    });
    match mode {
        WriteMode::Overwrite => builder = builder.with_schema_mode(SchemaMode::Overwrite),
        WriteMode::AppendMergingSchema => builder = builder.with_schema_mode(SchemaMode::Merge),
        WriteMode::Append => {}
    }
    builder = builder.with_commit_properties(commit_properties(txn));
    let table = builder.await.map_err(delta_err(path))?;
    Ok(table.version().map(|v| v as i64).unwrap_or(0))
}

/// Writes the result of `plan` to the table at `path` (creating it) as it is computed,
/// batch by batch, so that memory stays bounded by the plan's operators and the Parquet
/// writers, not by the result's size. `state` is the session the plan was made in; delta-rs's
/// planner is added to it for the write's own plan nodes. Returns the new version.
///
/// # Errors
/// When the plan fails or the commit fails.
pub async fn write_plan(
    path: &Path,
    plan: datafusion::logical_expr::LogicalPlan,
    state: datafusion::execution::SessionState,
    mode: WriteMode,
    txn: Option<&Txn>,
) -> Result<i64> {
    let state = datafusion::execution::SessionStateBuilder::new_from_existing(state)
        .with_query_planner(deltalake::delta_datafusion::planner::DeltaPlanner::new())
        .build();
    let builder = open_or_new(path)
        .await?
        .write(Vec::new())
        .with_input_plan(plan)
        .with_session_state(Arc::new(state));
    commit_write(path, builder, mode, txn).await
}

/// Upserts `batches` into the table at `path` by the `keys` columns: rows whose key exists
/// are replaced, the others inserted. Returns the new version.
///
/// # Errors
/// When the merge fails.
pub async fn merge(
    path: &Path,
    batches: Vec<RecordBatch>,
    keys: &[String],
    txn: Option<&Txn>,
) -> Result<i64> {
    let Some(schema) = batches.first().map(RecordBatch::schema) else {
        return version(path).await.map(Option::unwrap_or_default);
    };
    merge_staged(path, &Staged::Batches(schema, batches), keys, txn).await
}

/// Upserts `staged` into the table at `path` by the `keys` columns (see [`merge`]).
///
/// # Errors
/// When the merge fails.
pub async fn merge_staged(
    path: &Path,
    staged: &Staged,
    keys: &[String],
    txn: Option<&Txn>,
) -> Result<i64> {
    use datafusion::prelude::col;
    let Some(table) = open(path).await? else {
        return write_staged(path, staged, WriteMode::Append, txn).await;
    };
    let ctx = Staged::session();
    let source = staged.frame(&ctx, "source").await?;
    let predicate = keys
        .iter()
        .map(|k| format!("target.\"{k}\" = source.\"{k}\""))
        .collect::<Vec<_>>()
        .join(" AND ");
    let names: Vec<String> = staged
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let (table, _metrics) = table
        .merge(source, predicate)
        .with_session_state(Arc::new(ctx.state()))
        .with_source_alias("source")
        .with_target_alias("target")
        .with_commit_properties(commit_properties(txn))
        .when_matched_update(|mut update| {
            for n in &names {
                update = update.update(n.as_str(), col(format!("source.\"{n}\"")));
            }
            update
        })
        .map_err(delta_err(path))?
        .when_not_matched_insert(|mut insert| {
            for n in &names {
                insert = insert.set(n.as_str(), col(format!("source.\"{n}\"")));
            }
            insert
        })
        .map_err(delta_err(path))?
        .await
        .map_err(delta_err(path))?;
    Ok(table.version().map(|v| v as i64).unwrap_or(0))
}

/// Whether any row of `batches` has a key (the `keys` columns) already in the table at
/// `path`. Only the key columns are read.
///
/// # Errors
/// When the table cannot be scanned.
pub async fn any_key_exists(path: &Path, batches: &[RecordBatch], keys: &[String]) -> Result<bool> {
    let Some(schema) = batches.first().map(RecordBatch::schema) else {
        return Ok(false);
    };
    any_key_exists_staged(path, &Staged::Batches(schema, batches.to_vec()), keys).await
}

/// Whether any row of `staged` has a key (the `keys` columns) already in the table at
/// `path`. Only the key columns are read, and of the table only the files whose statistics
/// overlap the staged keys' range (the range is pushed down as a filter, which the Delta
/// scan prunes files by), so that appending new keys to a large table does not scan it.
///
/// # Errors
/// When the table or the staged rows cannot be scanned.
pub async fn any_key_exists_staged(path: &Path, staged: &Staged, keys: &[String]) -> Result<bool> {
    use arrow::array::Array as _;
    let Some(table) = open(path).await? else {
        return Ok(false);
    };
    if keys.is_empty() {
        return Ok(false);
    }
    let ctx = Staged::session();
    register(&ctx, "target", &table, path).await?;
    staged.frame(&ctx, "incoming").await?;
    let quoted: Vec<String> = keys.iter().map(|k| format!("\"{k}\"")).collect();
    let bounds = quoted
        .iter()
        .map(|k| format!("min({k}), max({k})"))
        .collect::<Vec<_>>()
        .join(", ");
    let ranges = ctx
        .sql(&format!("SELECT count(*), {bounds} FROM incoming"))
        .await?
        .collect()
        .await?;
    let Some(ranges) = ranges.first().filter(|b| b.num_rows() == 1) else {
        return Ok(false);
    };
    let count = ranges
        .column(0)
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .map_or(0, |a| a.value(0));
    if count == 0 {
        return Ok(false);
    }
    let mut filters = Vec::new();
    for (i, k) in quoted.iter().enumerate() {
        let (lo, hi) = (ranges.column(1 + 2 * i), ranges.column(2 + 2 * i));
        if lo.is_null(0) || hi.is_null(0) {
            continue;
        }
        let lo = datafusion::common::ScalarValue::try_from_array(lo, 0)?;
        let hi = datafusion::common::ScalarValue::try_from_array(hi, 0)?;
        filters.push(
            datafusion::prelude::col(format!("t.{k}"))
                .between(datafusion::prelude::lit(lo), datafusion::prelude::lit(hi)),
        );
    }
    let on: Vec<(String, String)> = quoted
        .iter()
        .map(|k| (format!("t.{k}"), format!("s.{k}")))
        .collect();
    let mut target = ctx.table("target").await?.alias("t")?;
    for f in filters {
        target = target.filter(f)?;
    }
    let target = target.select(
        quoted
            .iter()
            .map(|k| datafusion::prelude::col(format!("t.{k}")))
            .collect::<Vec<_>>(),
    )?;
    let incoming = ctx.table("incoming").await?.alias("s")?.select(
        quoted
            .iter()
            .map(|k| datafusion::prelude::col(format!("s.{k}")))
            .collect::<Vec<_>>(),
    )?;
    let (left, right): (Vec<&str>, Vec<&str>) =
        on.iter().map(|(a, b)| (a.as_str(), b.as_str())).unzip();
    let found = target
        .join(
            incoming,
            datafusion::logical_expr::JoinType::LeftSemi,
            &left,
            &right,
            None,
        )?
        .limit(0, Some(1))?
        .collect()
        .await?;
    Ok(found.iter().any(|b| b.num_rows() > 0))
}

/// Number of rows in the table at `path` (0 when there is no table).
///
/// # Errors
/// When the table cannot be scanned.
pub async fn count_rows(path: &Path) -> Result<i64> {
    use arrow::array::Int64Array;
    use datafusion::prelude::SessionContext;
    let Some(table) = open(path).await? else {
        return Ok(0);
    };
    let ctx = SessionContext::new();
    register(&ctx, "t", &table, path).await?;
    let batches = ctx.sql("SELECT count(*) FROM t").await?.collect().await?;
    Ok(batches
        .first()
        .and_then(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .map(|a| a.value(0))
        })
        .unwrap_or(0))
}

/// A new DataFusion session with the table at `path` registered as `name`, or `None` when
/// no table exists there. Callers add their own tables and run SQL over it.
///
/// # Errors
/// When the table cannot be opened.
pub async fn session_with(
    path: &Path,
    name: &str,
) -> Result<Option<datafusion::prelude::SessionContext>> {
    let Some(table) = open(path).await? else {
        return Ok(None);
    };
    let ctx = datafusion::prelude::SessionContext::new();
    register(&ctx, name, &table, path).await?;
    Ok(Some(ctx))
}

async fn register(
    ctx: &datafusion::prelude::SessionContext,
    name: &str,
    table: &DeltaTable,
    path: &Path,
) -> Result<()> {
    ctx.register_table(name, provider(table, path, &ctx.state()).await?)?;
    Ok(())
}

/// A DataFusion provider reading `table` (found at `path`) in the session `state`, with the
/// table's object store registered in that session.
///
/// # Errors
/// When the table's snapshot cannot be read.
pub async fn provider(
    table: &DeltaTable,
    path: &Path,
    state: &datafusion::execution::SessionState,
) -> Result<Arc<dyn datafusion::catalog::TableProvider>> {
    table
        .update_datafusion_session(state)
        .map_err(delta_err(path))?;
    table
        .table_provider()
        .await
        .map_err(|e| EngineError::Delta {
            table: path.display().to_string(),
            source: Box::new(e.into()),
        })
}

fn commit_properties(txn: Option<&Txn>) -> CommitProperties {
    let props = CommitProperties::default();
    match txn {
        Some(t) => props.with_application_transaction(Transaction::new(&t.app_id, t.version)),
        None => props,
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(keys: &[&str], values: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, false),
            Field::new("v", DataType::Int64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(keys.to_vec())),
                Arc::new(Int64Array::from(values.to_vec())),
            ],
        )
        .unwrap()
    }

    #[tokio::test]
    async fn txn_markers_and_merge_replace_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        assert_eq!(txn_version(&path, "app").await.unwrap(), None);
        let txn = Txn {
            app_id: "app".into(),
            version: 7,
        };
        let v0 = write(
            &path,
            vec![batch(&["a", "b"], &[1, 2])],
            WriteMode::Append,
            Some(&txn),
        )
        .await
        .unwrap();
        assert_eq!(v0, 0);
        assert_eq!(txn_version(&path, "app").await.unwrap(), Some(7));
        let txn = Txn {
            app_id: "app".into(),
            version: 9,
        };
        let v1 = merge(
            &path,
            vec![batch(&["b", "c"], &[20, 30])],
            &["k".into()],
            Some(&txn),
        )
        .await
        .unwrap();
        assert_eq!(v1, 1);
        assert_eq!(txn_version(&path, "app").await.unwrap(), Some(9));
        let ctx = datafusion::prelude::SessionContext::new();
        let table = open(&path).await.unwrap().unwrap();
        ctx.register_table("t", table.table_provider().await.unwrap())
            .unwrap();
        let rows = ctx
            .sql("SELECT k, v FROM t ORDER BY k")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&rows)
            .unwrap()
            .to_string();
        assert!(text.contains("| a | 1  |"), "{text}");
        assert!(text.contains("| b | 20 |"), "{text}");
        assert!(text.contains("| c | 30 |"), "{text}");
    }
}
