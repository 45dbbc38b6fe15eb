//! Formatting the new landing objects of a source, chunk by chunk. Each chunk is one
//! Delta commit on the table (append, or merge when keys already exist) and one on its
//! quarantine, both tagged with the chunk's `txn` marker so that a rerun after a crash
//! never writes a chunk twice; the ledger is recorded after the data is committed.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use keel_catalog::Catalog;
use keel_catalog::datasets::{Dataset, DatasetVersion};
use keel_catalog::ledger::LedgerEntry;
use keel_catalog::manifest::LandingObject;
use keel_core::Project;
use keel_core::project::Source;
use keel_core::spec::FormatKind;
use keel_engine::delta::{self, Txn, WriteMode};
use sha2::{Digest, Sha256};

use crate::compression::{self, Input};
use crate::convert::convert;
use crate::evolve::{self, Change};
use crate::parse::{self, Converted};
use crate::plan::SourcePlan;
use crate::rows::{QuarantineRow, Row, quarantine_batch, to_batch};
use crate::time::AmbiguityTracker;
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

/// The rows of one chunk after parsing and deduplication.
pub(crate) struct Chunk {
    /// What detection found per input (reference, JSON).
    pub(crate) detected: Vec<(String, serde_json::Value)>,
    pub(crate) rows: Vec<Option<Row>>,
    pub(crate) quarantine: Vec<QuarantineRow>,
    pub(crate) entries: Vec<LedgerEntry>,
    pub(crate) replaced: u64,
    pub(crate) bytes: u64,
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
    let table_schema = if replace.table {
        None
    } else {
        delta::arrow_schema(&table_path).await?
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
    let chunk = parse_chunk(project, plan, run_id, objects, refusal.as_ref(), on_object)?;
    // The chunk's marker: objects are formatted in ingestion order, so the last object's
    // sequence number is a high-water mark of what this source has committed.
    let txn = Txn {
        app_id: target.app_id.clone(),
        version: objects.last().map_or(0, |o| o.seq),
    };
    let committed = |v: Option<i64>| v.is_some_and(|v| v >= txn.version);

    if (replace.quarantine || !chunk.quarantine.is_empty())
        && !committed(delta::txn_version(&quarantine_path, &txn.app_id).await?)
    {
        let batch = quarantine_batch(&chunk.quarantine)?;
        let mode = if replace.quarantine {
            WriteMode::Overwrite
        } else {
            WriteMode::Append
        };
        delta::write(&quarantine_path, vec![batch], mode, Some(&txn)).await?;
        record_version(
            catalog,
            project,
            plan,
            "quarantine",
            if replace.quarantine {
                "rebuild"
            } else {
                "append"
            },
            run_id,
            txn.version,
        )
        .await?;
    }

    if !committed(delta::txn_version(&table_path, &txn.app_id).await?) {
        // The rows become Arrow batches and are dropped as they do, so that the chunk is
        // not held twice.
        let mut batches = into_batches(project, plan, chunk.rows)?;
        if let (Some(table_schema), None) = (&table_schema, &refusal) {
            batches = evolve_table(&table_path, table_schema, &changes, batches).await?;
            for c in &changes {
                if !report.schema_changes.contains(&c.to_string()) {
                    report.schema_changes.push(c.to_string());
                }
            }
        }
        let operation = if replace.table {
            delta::write(&table_path, batches, WriteMode::Overwrite, Some(&txn)).await?;
            "rebuild"
        } else {
            upsert(&table_path, plan, batches, &txn).await?
        };
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

    let version = delta::version(&table_path).await?.unwrap_or(0);
    let mut entries = chunk.entries;
    for e in &mut entries {
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
    catalog.record_objects_metadata(&plan.table, &chunk.detected)?;
    catalog.record_ledger(&entries)?;
    report.objects += objects.len() as u64;
    report.bytes += chunk.bytes;
    report.rows_replaced += chunk.replaced;
    Ok(())
}

/// Applies the compatible `changes` of a declaration to the table at `path` (new columns
/// added, widened columns rewritten) and returns `batches` in the table's resulting schema.
pub(crate) async fn evolve_table(
    path: &std::path::Path,
    table_schema: &arrow::datatypes::SchemaRef,
    changes: &[Change],
    batches: Vec<arrow::array::RecordBatch>,
) -> Result<Vec<arrow::array::RecordBatch>> {
    if changes.is_empty() {
        return Ok(batches);
    }
    if changes.iter().any(|c| matches!(c, Change::Added { .. }))
        && let Some(first) = batches.first()
    {
        delta::add_columns(path, first.schema()).await?;
    }
    if let Some(select) = evolve::widening_select(table_schema, changes) {
        delta::rewrite(path, &select).await?;
    }
    let Some(schema) = delta::arrow_schema(path).await? else {
        return Ok(batches);
    };
    batches
        .iter()
        .map(|b| evolve::conform(b, &schema))
        .collect()
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

/// The live rows of a chunk as record batches of the engine's batch size, each row freed
/// once it is in a batch (one empty batch when there are none).
fn into_batches(
    project: &Project,
    plan: &SourcePlan,
    rows: Vec<Option<Row>>,
) -> Result<Vec<arrow::array::RecordBatch>> {
    let batch_size = project.spec.engine.batch_size.max(1);
    let mut rows = rows.into_iter().flatten();
    let mut batches = Vec::new();
    loop {
        let part: Vec<Row> = rows.by_ref().take(batch_size).collect();
        if part.is_empty() {
            break;
        }
        let refs: Vec<&Row> = part.iter().collect();
        batches.push(to_batch(&plan.schema, &plan.columns, &refs)?);
    }
    if batches.is_empty() {
        batches.push(arrow::array::RecordBatch::new_empty(plan.schema.clone()));
    }
    Ok(batches)
}

/// A 128-bit fingerprint of a row's key: two SipHash passes (one salted) over the key's
/// parts, each length-prefixed. Two different keys collide with probability ~2⁻¹²⁸; the
/// map of a chunk's keys holds 16 bytes per key instead of the key's text.
fn key_fingerprint(values: &[crate::convert::Value], keys: &[usize]) -> u128 {
    use std::hash::{Hash, Hasher};
    let mut a = std::collections::hash_map::DefaultHasher::new();
    let mut b = std::collections::hash_map::DefaultHasher::new();
    0x6b65_656c_u32.hash(&mut b);
    for &k in keys {
        let part = values[k].key_part();
        part.len().hash(&mut a);
        part.hash(&mut a);
        part.len().hash(&mut b);
        part.hash(&mut b);
    }
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

/// Appends `batches`, or merges them by the source's keys when one of their keys is
/// already in the table. Returns the operation used.
pub(crate) async fn upsert(
    table_path: &std::path::Path,
    plan: &SourcePlan,
    batches: Vec<arrow::array::RecordBatch>,
    txn: &Txn,
) -> Result<&'static str> {
    let keys: Vec<String> = plan
        .keys
        .iter()
        .map(|&k| plan.columns[k].name.clone())
        .collect();
    Ok(
        if delta::any_key_exists(table_path, &batches, &keys).await? {
            delta::merge(table_path, batches, &keys, Some(txn)).await?;
            "merge"
        } else {
            delta::write(table_path, batches, WriteMode::Append, Some(txn)).await?;
            "append"
        },
    )
}

pub(crate) fn parse_chunk(
    project: &Project,
    plan: &SourcePlan,
    run_id: &str,
    objects: &[LandingObject],
    refuse: Option<&Refusal>,
    on_object: &(dyn Fn() + Sync),
) -> Result<Chunk> {
    let run_id: Arc<str> = Arc::from(run_id);
    let mut chunk = Chunk {
        detected: Vec::new(),
        rows: Vec::new(),
        quarantine: Vec::new(),
        entries: Vec::with_capacity(objects.len()),
        replaced: 0,
        bytes: 0,
    };
    // Key fingerprint → (index in `chunk.rows`, index of its object in the chunk).
    let mut by_key: HashMap<u128, (usize, usize)> = HashMap::new();
    for object in objects {
        let path = project.lake.root().join(&object.persistent_path);
        let bytes = fs_err::read(&path)?;
        if hex::encode(Sha256::digest(&bytes)) != object.sha256 {
            return Err(FormattedError::Corrupt {
                object_id: object.object_id.clone(),
                path,
            });
        }
        chunk.bytes += bytes.len() as u64;
        let ingested_at = chrono::DateTime::parse_from_rfc3339(&object.ingested_at)
            .map(|t| t.timestamp_micros())
            .unwrap_or(0);
        let batch_size = project.spec.engine.batch_size.max(1);
        let inputs = read_object(plan, object, Bytes::from(bytes), batch_size);
        let mut dialects: Vec<&str> = Vec::new();
        for input in &inputs {
            if !dialects.contains(&&*input.dialect) {
                dialects.push(&input.dialect);
            }
        }
        let dialect_name = dialects.join("+");
        for input in &inputs {
            if let Some(found) = &input.detected {
                chunk
                    .detected
                    .push((input.reference.to_string(), found.clone()));
            }
        }
        let records = inputs.into_iter().flat_map(|input| {
            let (reference, dialect) = (input.reference, input.dialect);
            input
                .rows
                .into_iter()
                .map(move |r| (r, reference.clone(), dialect.clone()))
        });
        let mut entry = LedgerEntry {
            object_id: object.object_id.clone(),
            table_name: plan.table.clone(),
            run_id: run_id.to_string(),
            dialect: dialect_name,
            rows_read: 0,
            rows_written: 0,
            rows_quarantined: 0,
            rows_duplicate: 0,
            delta_version: 0,
        };
        let object_index = chunk.entries.len();
        for (record, reference, dialect) in records {
            entry.rows_read += 1;
            let record = match (record, refuse) {
                (Ok((line, values)), Some(refusal)) => Err(Box::new(refusal.reject(line, &values))),
                (record, _) => record,
            };
            match record {
                Ok((line, values)) => {
                    if !plan.keys.is_empty() {
                        let key = key_fingerprint(&values, &plan.keys);
                        if let Some((prev, prev_object)) =
                            by_key.insert(key, (chunk.rows.len(), object_index))
                        {
                            // The later record of a key wins. Within one object (all members
                            // of an archive together) the earlier one is a duplicate; across
                            // objects it was accepted when its own object was read, and a
                            // later version replaces it.
                            if chunk.rows[prev].take().is_some() {
                                if prev_object == object_index {
                                    entry.rows_duplicate += 1;
                                    entry.rows_written -= 1;
                                } else {
                                    chunk.replaced += 1;
                                }
                            }
                        }
                    }
                    entry.rows_written += 1;
                    chunk.rows.push(Some(Row {
                        values,
                        object: reference,
                        line,
                        ingested_at,
                    }));
                }
                Err(rejection) => {
                    entry.rows_quarantined += 1;
                    chunk.quarantine.push(QuarantineRow {
                        object: reference,
                        line: rejection.line,
                        column: rejection.column,
                        rule: rejection.rule,
                        reason: rejection.reason,
                        raw: rejection.raw,
                        dialect,
                        ingested_at,
                        run_id: run_id.clone(),
                    });
                }
            }
        }
        chunk.entries.push(entry);
        on_object();
    }
    Ok(chunk)
}

/// The rows of one input of an object: the object itself, its gzip content, or one member
/// of its zip archive.
struct InputRows {
    /// `object_id`, or `object_id!member` for a zip member: what rows and quarantine name.
    reference: Arc<str>,
    /// The dialect read with (`-` when none).
    dialect: Arc<str>,
    rows: Converted,
    /// What detection found in a delimited-text input (physical metadata), as JSON.
    detected: Option<serde_json::Value>,
}

/// Decompresses an object (gzip, zip) and reads each of its inputs with its dialect. An
/// object whose compressed stream cannot be verified yields one object-level rejection
/// and no rows.
fn read_object(
    plan: &SourcePlan,
    object: &LandingObject,
    bytes: Bytes,
    batch_size: usize,
) -> Vec<InputRows> {
    let object_ref: Arc<str> = Arc::from(object.object_id.as_str());
    let mut out = Vec::new();
    let path = object.original_path.as_str();
    // An object `a.csv.gz` is matched as `a.csv.gz` and as `a.csv` (whatever its content:
    // what it holds is found from its bytes, not its name).
    let inner = [".gz", ".gzip"]
        .iter()
        .find_map(|ext| path.strip_suffix(ext))
        .unwrap_or(path);
    let read = compression::inputs(
        &bytes,
        plan.compression,
        plan.kind,
        plan.max_uncompressed_bytes,
        &mut |input| {
            out.push(match input {
                Input::Whole(data) => read_input(
                    plan,
                    object_ref.clone(),
                    &[path, inner],
                    &object.original_name,
                    data,
                    batch_size,
                ),
                Input::Member { name, bytes } => {
                    let base = name.rsplit('/').next().unwrap_or(name);
                    read_input(
                        plan,
                        Arc::from(format!("{}!{name}", object.object_id)),
                        &[name, &format!("{path}/{name}"), path],
                        base,
                        bytes,
                        batch_size,
                    )
                }
                Input::Refused { name, rejection } => InputRows {
                    reference: Arc::from(format!("{}!{name}", object.object_id)),
                    dialect: Arc::from("-"),
                    rows: vec![Err(Box::new(rejection))],
                    detected: None,
                },
            })
        },
    );
    if let Err(rejection) = read {
        let dialect = plan.dialect_for(path).map_or("-", |d| d.name.as_str());
        out = vec![InputRows {
            reference: object_ref,
            dialect: Arc::from(dialect),
            rows: vec![Err(Box::new(rejection))],
            detected: None,
        }];
    }
    out
}

/// Reads one input with the first dialect matching one of its `paths` (a zip member is
/// matched by its name in the archive, by that name under the archive's path, and by the
/// archive's path).
fn read_input(
    plan: &SourcePlan,
    reference: Arc<str>,
    paths: &[&str],
    original_name: &str,
    data: Bytes,
    batch_size: usize,
) -> InputRows {
    let Some(dialect) = plan.dialect_for_any(paths) else {
        return InputRows {
            reference,
            dialect: Arc::from("-"),
            rows: parse::reject_whole(
                "no_dialect",
                parse::clip(&String::from_utf8_lossy(&data)),
                format!("no dialect of the source matches `{}`", paths[0]),
            ),
            detected: None,
        };
    };
    // Text: what its bytes show is kept as the object's physical metadata. A dialect with
    // `auto` fields gets the full detection (delimiter, header, columns), which fills them;
    // a declared one only the encoding, byte-order mark and line endings (the per-column
    // analysis costs more than parsing a small file).
    let mut detected = None;
    let resolved;
    let sample = &data[..data.len().min(SAMPLE_BYTES)];
    let dialect = match plan.kind {
        FormatKind::Csv if dialect.auto.any() => {
            let found = crate::detect::detect(sample, &dialect.hints());
            detected = serde_json::to_value(&found).ok();
            let (d, notes) = dialect.resolve(&found);
            for note in notes {
                tracing::info!(object = %reference, dialect = %dialect.name, "{note}");
            }
            resolved = d;
            &resolved
        }
        FormatKind::Csv | FormatKind::Json | FormatKind::Ndjson => {
            let found = crate::detect::detect_text(sample, &dialect.hints());
            detected = serde_json::to_value(&found).ok();
            if dialect.auto.any() {
                // JSON and NDJSON: only the encoding can be `auto`.
                resolved = dialect.resolve(&found).0;
                &resolved
            } else {
                dialect
            }
        }
        FormatKind::Parquet | FormatKind::Xlsx => dialect,
    };
    let columns = &plan.columns;
    let text = |parsed: parse::Parsed| -> Converted {
        let mut tracker = AmbiguityTracker::new();
        parsed
            .into_iter()
            .map(|r| {
                r.and_then(|r| convert(&r, dialect, columns, &mut tracker).map(|v| (r.line, v)))
                    .map_err(Box::new)
            })
            .collect()
    };
    let rows = match plan.kind {
        FormatKind::Csv => {
            let mut tracker = AmbiguityTracker::new();
            let mut rows: Converted = Vec::new();
            parse::csv::parse_each(&data, dialect, columns, original_name, |r| {
                rows.push(
                    r.and_then(|r| {
                        convert(&r, dialect, columns, &mut tracker).map(|v| (r.line, v))
                    })
                    .map_err(Box::new),
                );
            });
            rows
        }
        FormatKind::Json => text(parse::json::parse(&data, dialect, columns, original_name)),
        FormatKind::Ndjson => text(parse::ndjson::parse(&data, dialect, columns, original_name)),
        FormatKind::Parquet => {
            parse::parquet::read(data, dialect, columns, original_name, batch_size)
        }
        FormatKind::Xlsx => parse::xlsx::read(&data, dialect, columns, original_name),
    };
    InputRows {
        reference,
        dialect: Arc::from(dialect.name.as_str()),
        rows,
        detected,
    }
}

/// Bytes of an object that detection reads.
const SAMPLE_BYTES: usize = 1 << 20;

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
    let Some(version) = delta::version(&path).await? else {
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
        rows: delta::count_rows(&path).await?,
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
