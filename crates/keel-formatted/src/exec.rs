//! Formatting the new landing objects of a source, chunk by chunk. Each chunk is one
//! Delta commit on the table (append, or merge when keys already exist) and one on its
//! quarantine, both tagged with the chunk's `txn` marker so that a rerun after a crash
//! never writes a chunk twice; the ledger is recorded after the data is committed.

use std::sync::Arc;

use keel_catalog::Catalog;
use keel_catalog::datasets::{Dataset, DatasetVersion};
use keel_catalog::ledger::LedgerEntry;
use keel_catalog::manifest::LandingObject;
use keel_core::Project;
use keel_core::project::Source;
use keel_engine::delta::{self, Staged, Txn, WriteMode};

use crate::evolve::{self, Change};
use crate::parse;
use crate::plan::SourcePlan;
use crate::read::{self, Origin};
use crate::rows::{QuarantineRow, Row, to_batch};
use crate::stage::{Sink, Stage};
use crate::{FormattedError, Result};

/// What formatting a source did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormatReport {
    /// Objects formatted.
    pub objects: u64,
    /// Bytes read from persistent landing.
    pub bytes: u64,
    /// Rows read.
    pub rows_read: u64,
    /// Rows written.
    pub rows_written: u64,
    /// Rows quarantined.
    pub rows_quarantined: u64,
    /// Duplicate rows.
    pub rows_duplicate: u64,
    /// Rows of earlier objects replaced by a later version of their key in the same run.
    pub rows_replaced: u64,
    /// Delta commits on the table.
    pub commits: u64,
    /// Version of the table afterwards.
    pub delta_version: Option<i64>,
    /// Objects that held no data row (empty, or a header only).
    pub empty_objects: u64,
    /// Differences between the declaration and the table, as applied (see [`crate::evolve`]).
    pub schema_changes: Vec<String>,
}

/// Formats every landing object of `source` that its table has not seen yet.
/// `on_object` is called after each object (for progress bars).
///
/// After [`Catalog::start_rebuild`] moved the table to a new generation, every object is
/// unformatted again and the first commit of the generation replaces the table and its
/// quarantine (schema included); the versions before stay readable by time travel.
///
/// # Errors
/// When the source cannot be planned, an object cannot be read, or a commit fails. Bad
/// rows are not errors: they are quarantined.
pub async fn format_source(
    project: &Project,
    source: &Source,
    catalog: &Catalog,
    run_id: &str,
    on_object: &(dyn Fn() + Sync),
) -> Result<FormatReport> {
    let plan = SourcePlan::new(source)?;
    // What a crashed run staged is of no use: its chunks are read again.
    let staging = project.lake.staging(&source.name);
    if staging.exists() {
        fs_err::remove_dir_all(&staging)?;
    }
    let objects = catalog.unformatted_objects(&source.name, &plan.table)?;
    let mut report = FormatReport::default();
    let target = Target::new(project, catalog, &plan).await?;
    let mut replace = target.replace;
    for chunk in chunks(&objects, &project.spec.engine) {
        format_chunk(
            project,
            &plan,
            catalog,
            run_id,
            &target,
            replace,
            chunk,
            &mut report,
            on_object,
        )
        .await?;
        replace = Replace::default();
    }
    if replace.table || replace.quarantine {
        // A rebuild of a source with no objects left: the table becomes empty.
        format_chunk(
            project,
            &plan,
            catalog,
            run_id,
            &target,
            replace,
            &[],
            &mut report,
            on_object,
        )
        .await?;
    }
    if report.objects > 0 || target.replace.table {
        report.delta_version = delta::version(&project.lake.formatted(&plan.table)).await?;
    }
    Ok(report)
}

/// `objects` cut into chunks of at most `objects_per_commit` objects and about
/// `mib_per_commit` bytes (an object larger than that is a chunk of its own).
pub(crate) fn chunks<'a>(
    objects: &'a [LandingObject],
    engine: &keel_core::spec::EngineSpec,
) -> Vec<&'a [LandingObject]> {
    let max_objects = engine.objects_per_commit.max(1);
    let max_bytes = engine.mib_per_commit.max(1).saturating_mul(1 << 20);
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    for (i, o) in objects.iter().enumerate() {
        let size = o.bytes.max(0) as u64;
        if i > start && (i - start >= max_objects || bytes + size > max_bytes) {
            out.push(&objects[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < objects.len() {
        out.push(&objects[start..]);
    }
    out
}

/// Where a source's chunks are committed: the `txn` application id of the table's current
/// generation, and whether that generation still has to replace what is there.
struct Target {
    app_id: String,
    replace: Replace,
}

/// Which of the table and its quarantine the next commit replaces instead of appending to.
#[derive(Debug, Clone, Copy, Default)]
struct Replace {
    table: bool,
    quarantine: bool,
}

impl Target {
    async fn new(project: &Project, catalog: &Catalog, plan: &SourcePlan) -> Result<Target> {
        let generation = catalog.format_generation(&plan.table)?;
        let app_id = format_app_id(&plan.source, generation);
        if generation == 0 {
            return Ok(Target {
                app_id,
                replace: Replace::default(),
            });
        }
        // The generation has replaced a table once any source feeding it committed there.
        let apps: Vec<String> = project
            .sources
            .iter()
            .filter(|s| s.table() == plan.table)
            .map(|s| format_app_id(&s.name, generation))
            .collect();
        let lake = &project.lake;
        Ok(Target {
            replace: Replace {
                table: !any_committed(&lake.formatted(&plan.table), &apps).await?,
                quarantine: !any_committed(&lake.quarantine(&plan.table), &apps).await?,
            },
            app_id,
        })
    }
}

/// Whether any of the `txn` application ids `apps` has committed to the table at `path`.
async fn any_committed(path: &std::path::Path, apps: &[String]) -> Result<bool> {
    for app in apps {
        if delta::txn_version(path, app).await?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The `txn` application id of a source's commits in a generation of its table.
fn format_app_id(source: &str, generation: i64) -> String {
    if generation == 0 {
        format!("keel:format:{source}")
    } else {
        format!("keel:format:{source}@{generation}")
    }
}

#[allow(clippy::too_many_arguments)]
async fn format_chunk(
    project: &Project,
    plan: &SourcePlan,
    catalog: &Catalog,
    run_id: &str,
    target: &Target,
    replace: Replace,
    objects: &[LandingObject],
    report: &mut FormatReport,
    on_object: &(dyn Fn() + Sync),
) -> Result<()> {
    let lake = &project.lake;
    let table_path = lake.formatted(&plan.table);
    let quarantine_path = lake.quarantine(&plan.table);
    // The chunk's marker: objects are formatted in ingestion order, so the last object's
    // sequence number is a high-water mark of what this source has committed.
    let txn = Txn {
        app_id: target.app_id.clone(),
        version: objects.last().map_or(0, |o| o.seq),
    };
    let committed = |v: Option<i64>| v.is_some_and(|v| v >= txn.version);
    let table = delta::Table::load(&table_path).await?;
    let table_done = committed(table.txn_version(&txn.app_id).await?);
    let quarantine_done = committed(
        delta::Table::load(&quarantine_path)
            .await?
            .txn_version(&txn.app_id)
            .await?,
    );
    let table_schema = if replace.table {
        None
    } else {
        table.arrow_schema().await?
    };
    let changes = table_schema
        .as_ref()
        .map(|t| evolve::compare(t, &plan.schema))
        .unwrap_or_default();
    let refusal = changes.iter().find_map(|c| match c {
        Change::Incompatible { column, reason } => Some(Refusal {
            column: column.clone(),
            reason: format!("{reason}: fix the declaration, or rebuild the table"),
        }),
        _ => None,
    });
    let mut stage = Stage::new(
        &lake.staging(&plan.source),
        plan,
        &project.spec.engine,
        objects,
    )?;
    let mut read = read_chunk_beside(
        project,
        plan,
        run_id,
        objects,
        refusal.as_ref(),
        on_object,
        &mut stage,
    )?;
    // The declaration's compatible changes are applied to the table before its rows are
    // settled, so that they are staged in the table's resulting schema.
    let mut evolved = None;
    if !table_done
        && let (Some(table_schema), None) = (&table_schema, &refusal)
        && !changes.is_empty()
    {
        evolved = Some(evolve_table(&table_path, table_schema, &changes, &plan.schema).await?);
        for c in &changes {
            if !report.schema_changes.contains(&c.to_string()) {
                report.schema_changes.push(c.to_string());
            }
        }
    }
    let staging = stage.finish(&mut read.entries, evolved.as_ref())?;

    if (replace.quarantine || staging.quarantine_rows > 0) && !quarantine_done {
        let mode = if replace.quarantine {
            WriteMode::Overwrite
        } else {
            WriteMode::Append
        };
        delta::write_staged(&quarantine_path, &staging.quarantine, mode, Some(&txn)).await?;
        let operation = if replace.quarantine {
            "rebuild"
        } else {
            "append"
        };
        record_version(
            catalog,
            project,
            plan,
            "quarantine",
            operation,
            run_id,
            txn.version,
        )
        .await?;
    }

    let mut version = table.version().unwrap_or(0);
    if !table_done {
        let (operation, written) = if replace.table {
            let v =
                delta::write_staged(&table_path, &staging.rows, WriteMode::Overwrite, Some(&txn))
                    .await?;
            ("rebuild", v)
        } else {
            upsert(&table_path, plan, &staging.rows, &txn).await?
        };
        version = written;
        report.commits += 1;
        record_version(
            catalog,
            project,
            plan,
            "formatted",
            operation,
            run_id,
            txn.version,
        )
        .await?;
    }

    for e in &mut read.entries {
        e.delta_version = version;
        report.rows_read += e.rows_read as u64;
        report.rows_written += e.rows_written as u64;
        report.rows_quarantined += e.rows_quarantined as u64;
        report.rows_duplicate += e.rows_duplicate as u64;
        if e.rows_read == 0 {
            report.empty_objects += 1;
            tracing::warn!(object = %e.object_id, table = %e.table_name, "object holds no data row");
        }
    }
    catalog.record_objects_metadata(&plan.table, &read.detected)?;
    catalog.record_ledger(&read.entries)?;
    report.objects += objects.len() as u64;
    report.bytes += read.bytes;
    report.rows_replaced += staging.replaced;
    Ok(())
}

/// Applies the compatible `changes` of a declaration (whose schema is `declared`) to the
/// table at `path` (new columns added, widened columns rewritten) and returns the table's
/// resulting schema, which rows are then conformed to.
pub(crate) async fn evolve_table(
    path: &std::path::Path,
    table_schema: &arrow::datatypes::SchemaRef,
    changes: &[Change],
    declared: &arrow::datatypes::SchemaRef,
) -> Result<arrow::datatypes::SchemaRef> {
    if changes.iter().any(|c| matches!(c, Change::Added { .. })) {
        delta::add_columns(path, declared.clone()).await?;
    }
    if let Some(select) = evolve::widening_select(table_schema, changes) {
        delta::rewrite(path, &select).await?;
    }
    Ok(delta::arrow_schema(path)
        .await?
        .unwrap_or_else(|| table_schema.clone()))
}

/// Why every row of a chunk is refused: its declaration changed incompatibly with its table.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    column: String,
    reason: String,
}

impl Refusal {
    /// The rejection of a row that would otherwise pass; its raw text is its typed values.
    fn reject(&self, line: i64, values: &[crate::convert::Value]) -> parse::Rejection {
        parse::Rejection {
            line,
            raw: values
                .iter()
                .map(crate::convert::Value::key_part)
                .collect::<Vec<_>>()
                .join(","),
            column: Some(self.column.clone()),
            rule: "schema_change".into(),
            reason: self.reason.clone(),
        }
    }
}

/// Rows as record batches of the engine's batch size (one empty batch when there are none,
/// so that a first commit still creates the table with its schema).
pub(crate) fn row_batches(
    project: &Project,
    plan: &SourcePlan,
    rows: &[&Row],
) -> Result<Vec<arrow::array::RecordBatch>> {
    let batch_size = project.spec.engine.batch_size.max(1);
    let batches = rows
        .chunks(batch_size)
        .map(|rows| to_batch(&plan.schema, &plan.columns, rows))
        .collect::<Result<Vec<_>>>()?;
    Ok(if batches.is_empty() {
        vec![arrow::array::RecordBatch::new_empty(plan.schema.clone())]
    } else {
        batches
    })
}

/// Appends `rows`, or merges them by the source's keys when one of their keys is already in
/// the table. Returns the operation used and the new version.
pub(crate) async fn upsert(
    table_path: &std::path::Path,
    plan: &SourcePlan,
    rows: &Staged,
    txn: &Txn,
) -> Result<(&'static str, i64)> {
    let keys: Vec<String> = plan
        .keys
        .iter()
        .map(|&k| plan.columns[k].name.clone())
        .collect();
    Ok(
        if delta::any_key_exists_staged(table_path, rows, &keys).await? {
            let v = delta::merge_staged(table_path, rows, &keys, Some(txn)).await?;
            ("merge", v)
        } else {
            let v = delta::write_staged(table_path, rows, WriteMode::Append, Some(txn)).await?;
            ("append", v)
        },
    )
}

/// What reading a chunk's objects gave besides their records.
pub(crate) struct ChunkRead {
    /// One ledger entry per object, in chunk order.
    pub(crate) entries: Vec<LedgerEntry>,
    /// What detection found per input (reference, JSON).
    pub(crate) detected: Vec<(String, serde_json::Value)>,
    /// Bytes read from persistent landing.
    pub(crate) bytes: u64,
}

/// Reads the chunk's objects in order, handing every record to `sink` and counting it in
/// its object's ledger entry. `refuse`: every row that would pass is refused instead.
pub(crate) fn read_chunk(
    project: &Project,
    plan: &SourcePlan,
    run_id: &str,
    objects: &[LandingObject],
    refuse: Option<&Refusal>,
    on_object: &(dyn Fn() + Sync),
    sink: &mut dyn Sink,
) -> Result<ChunkRead> {
    let run_id: Arc<str> = Arc::from(run_id);
    let batch_size = project.spec.engine.batch_size.max(1);
    let mut chunk = ChunkRead {
        entries: Vec::with_capacity(objects.len()),
        detected: Vec::new(),
        bytes: 0,
    };
    for (index, object) in objects.iter().enumerate() {
        let index = index as u32;
        let ingested_at = chrono::DateTime::parse_from_rfc3339(&object.ingested_at)
            .map(|t| t.timestamp_micros())
            .unwrap_or(0);
        let mut entry = LedgerEntry {
            object_id: object.object_id.clone(),
            table_name: plan.table.clone(),
            run_id: run_id.to_string(),
            dialect: String::new(),
            rows_read: 0,
            rows_written: 0,
            rows_quarantined: 0,
            rows_duplicate: 0,
            delta_version: 0,
        };
        let quarantine_row = |origin: &Origin, rejection: parse::Rejection| QuarantineRow {
            object: origin.reference.clone(),
            line: rejection.line,
            column: rejection.column,
            rule: rejection.rule,
            reason: rejection.reason,
            raw: rejection.raw,
            dialect: origin.dialect.clone(),
            ingested_at,
            run_id: run_id.clone(),
        };
        let mut failed = None;
        let read = read::read_object(
            project.lake.root(),
            plan,
            object,
            batch_size,
            &mut |origin, record| {
                if failed.is_some() {
                    return;
                }
                entry.rows_read += 1;
                let record = match (record, refuse) {
                    (Ok((line, values)), Some(refusal)) => {
                        Err(Box::new(refusal.reject(line, &values)))
                    }
                    (record, _) => record,
                };
                let sent = match record {
                    Ok((line, values)) => {
                        entry.rows_written += 1;
                        sink.row(
                            index,
                            Row {
                                values,
                                object: origin.reference.clone(),
                                line,
                                ingested_at,
                            },
                        )
                    }
                    Err(rejection) => {
                        entry.rows_quarantined += 1;
                        sink.reject(quarantine_row(origin, *rejection))
                    }
                };
                if let Err(e) = sent {
                    failed = Some(e);
                }
            },
        )?;
        if let Some(e) = failed {
            return Err(e);
        }
        entry.dialect = read
            .dialects
            .iter()
            .map(|d| d.as_ref())
            .collect::<Vec<_>>()
            .join("+");
        if let Some((rejection, dialect)) = read.refused {
            let origin = Origin {
                reference: Arc::from(object.object_id.as_str()),
                dialect: dialect.clone(),
            };
            sink.abort(index, &object.object_id, quarantine_row(&origin, rejection));
            entry.dialect = dialect.to_string();
            (entry.rows_read, entry.rows_quarantined) = (1, 1);
            (entry.rows_written, entry.rows_duplicate) = (0, 0);
        }
        chunk.detected.extend(read.detected);
        chunk.bytes += read.bytes;
        chunk.entries.push(entry);
        on_object();
    }
    Ok(chunk)
}

/// [`read_chunk`] on a thread of its own, handing the records to `sink` on this one, so that
/// reading, parsing and converting the next records overlaps with staging the last ones.
/// The records reach `sink` in the order `read_chunk` hands them out.
///
/// # Errors
/// As [`read_chunk`], or the first error of `sink` (reading then stops).
pub(crate) fn read_chunk_beside(
    project: &Project,
    plan: &SourcePlan,
    run_id: &str,
    objects: &[LandingObject],
    refuse: Option<&Refusal>,
    on_object: &(dyn Fn() + Sync),
    sink: &mut dyn Sink,
) -> Result<ChunkRead> {
    let (to, from) = std::sync::mpsc::sync_channel::<Vec<Handed>>(8);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut pipe = Pipe {
                block: Vec::with_capacity(PIPE_BLOCK),
                to,
            };
            let read = read_chunk(project, plan, run_id, objects, refuse, on_object, &mut pipe)?;
            pipe.flush()?;
            Ok::<_, FormattedError>(read)
        });
        let mut staged = Ok(());
        'blocks: for block in from.iter() {
            for handed in block {
                let done = match handed {
                    Handed::Row(object, row) => sink.row(object, row),
                    Handed::Reject(row) => sink.reject(row),
                    Handed::Abort(object, object_id, rejection) => {
                        sink.abort(object, &object_id, rejection);
                        Ok(())
                    }
                };
                if let Err(e) = done {
                    staged = Err(e);
                    break 'blocks;
                }
            }
        }
        // A stage that failed stops taking records: the reader's next send fails and it ends.
        drop(from);
        let read = match reader.join() {
            Ok(read) => read,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        staged?;
        read
    })
}

/// Records handed from the reading thread to the stage.
enum Handed {
    Row(u32, Row),
    Reject(QuarantineRow),
    Abort(u32, String, QuarantineRow),
}

/// Records sent in blocks of this many.
const PIPE_BLOCK: usize = 4096;

/// The reading thread's sink: records go to the stage's thread in blocks.
struct Pipe {
    block: Vec<Handed>,
    to: std::sync::mpsc::SyncSender<Vec<Handed>>,
}

impl Pipe {
    fn push(&mut self, handed: Handed) -> Result<()> {
        self.block.push(handed);
        if self.block.len() >= PIPE_BLOCK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let block = std::mem::replace(&mut self.block, Vec::with_capacity(PIPE_BLOCK));
        self.to.send(block).map_err(|_| {
            FormattedError::Io(std::io::Error::other("the stage stopped taking records"))
        })
    }
}

impl Sink for Pipe {
    fn row(&mut self, object: u32, row: Row) -> Result<()> {
        self.push(Handed::Row(object, row))
    }

    fn reject(&mut self, row: QuarantineRow) -> Result<()> {
        self.push(Handed::Reject(row))
    }

    fn abort(&mut self, object: u32, object_id: &str, rejection: QuarantineRow) {
        // A failed send means the stage already failed; its error is the one reported.
        let _ = self.push(Handed::Abort(object, object_id.to_string(), rejection));
    }
}

/// Registers the dataset and records its latest version, with the landing high-water mark
/// (the ingestion sequence number of the last object it holds) as its input.
pub(crate) async fn record_version(
    catalog: &Catalog,
    project: &Project,
    plan: &SourcePlan,
    zone: &str,
    operation: &str,
    run_id: &str,
    high_water: i64,
) -> Result<()> {
    let (path, relative) = if zone == "quarantine" {
        (
            project.lake.quarantine(&plan.table),
            format!("formatted/_quarantine/{}", plan.table),
        )
    } else {
        (
            project.lake.formatted(&plan.table),
            format!("formatted/{}", plan.table),
        )
    };
    let name = format!("{zone}.{}", plan.table);
    catalog.upsert_dataset(&Dataset {
        name: name.clone(),
        zone: zone.to_string(),
        location: relative,
        format: "delta".into(),
        description: None,
    })?;
    let table = delta::Table::load(&path).await?;
    let Some(version) = table.version() else {
        return Ok(());
    };
    let schema = if zone == "quarantine" {
        crate::rows::quarantine_schema()
    } else {
        plan.schema.clone()
    };
    catalog.record_version(&DatasetVersion {
        name,
        version,
        run_id: run_id.to_string(),
        operation: operation.to_string(),
        rows: table.rows().await?,
        schema_json: keel_engine::schema_json(&schema),
        inputs: [(format!("landing.{}", plan.source), high_water)]
            .into_iter()
            .collect(),
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(seq: i64, bytes: i64) -> LandingObject {
        LandingObject {
            object_id: format!("s/{seq}"),
            source: "s".into(),
            original_name: format!("{seq}.csv"),
            original_path: format!("{seq}.csv"),
            version: 1,
            sha256: String::new(),
            bytes,
            ingested_at: String::new(),
            persistent_path: String::new(),
            collector: serde_json::Value::Null,
            run_id: String::new(),
            seq,
        }
    }

    #[test]
    fn chunks_close_at_the_object_count_or_the_byte_budget() {
        let engine = keel_core::spec::EngineSpec {
            objects_per_commit: 3,
            mib_per_commit: 1,
            ..Default::default()
        };
        let mib = 1 << 20;
        let objects: Vec<LandingObject> = [10, 10, 10, 10, mib / 2, mib / 2 + 1, 3 * mib, 5]
            .iter()
            .enumerate()
            .map(|(i, &b)| object(i as i64, b))
            .collect();
        let sizes: Vec<Vec<i64>> = chunks(&objects, &engine)
            .iter()
            .map(|c| c.iter().map(|o| o.seq).collect())
            .collect();
        assert_eq!(
            sizes,
            [vec![0, 1, 2], vec![3, 4], vec![5], vec![6], vec![7]],
            "three objects at most; a chunk closes before it passes 1 MiB; a big object alone"
        );
        assert!(chunks(&[], &engine).is_empty());
    }
}
