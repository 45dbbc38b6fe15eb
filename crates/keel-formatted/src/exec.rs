//! Formatting the new landing objects of a source, chunk by chunk. Each chunk is one
//! Delta commit on the table (append, or merge when keys already exist) and one on its
//! quarantine, both tagged with the chunk's `txn` marker so that a rerun after a crash
//! never writes a chunk twice; the ledger is recorded after the data is committed.

use std::collections::HashMap;
use std::sync::Arc;

use keel_catalog::Catalog;
use keel_catalog::datasets::{Dataset, DatasetVersion};
use keel_catalog::ledger::LedgerEntry;
use keel_catalog::manifest::LandingObject;
use keel_core::Project;
use keel_core::project::Source;
use keel_core::spec::FormatKind;
use keel_engine::delta::{self, Txn, WriteMode};
use sha2::{Digest, Sha256};

use crate::convert::convert;
use crate::parse::{self, Rejection};
use crate::plan::SourcePlan;
use crate::rows::{QuarantineRow, Row, quarantine_batch, to_batch};
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
}

/// Formats every landing object of `source` that its table has not seen yet.
/// `on_object` is called after each object (for progress bars).
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
    let per_commit = project.spec.engine.objects_per_commit.max(1);
    for chunk in objects.chunks(per_commit) {
        format_chunk(
            project,
            &plan,
            catalog,
            run_id,
            chunk,
            &mut report,
            on_object,
        )
        .await?;
    }
    if report.objects > 0 {
        report.delta_version = delta::version(&project.lake.formatted(&plan.table)).await?;
    }
    Ok(report)
}

/// The rows of one chunk after parsing and deduplication.
struct Chunk {
    rows: Vec<Option<Row>>,
    quarantine: Vec<QuarantineRow>,
    entries: Vec<LedgerEntry>,
    replaced: u64,
    bytes: u64,
}

async fn format_chunk(
    project: &Project,
    plan: &SourcePlan,
    catalog: &Catalog,
    run_id: &str,
    objects: &[LandingObject],
    report: &mut FormatReport,
    on_object: &(dyn Fn() + Sync),
) -> Result<()> {
    let Some(last) = objects.last() else {
        return Ok(());
    };
    let chunk = parse_chunk(project, plan, run_id, objects, on_object)?;
    let lake = &project.lake;
    let table_path = lake.formatted(&plan.table);
    let quarantine_path = lake.quarantine(&plan.table);
    // The chunk's marker: objects are formatted in ingestion order, so the last object's
    // sequence number is a high-water mark of what this source has committed.
    let txn = Txn {
        app_id: format!("keel:format:{}", plan.source),
        version: last.seq,
    };
    let committed = |v: Option<i64>| v.is_some_and(|v| v >= txn.version);

    if !chunk.quarantine.is_empty()
        && !committed(delta::txn_version(&quarantine_path, &txn.app_id).await?)
    {
        let batch = quarantine_batch(&chunk.quarantine)?;
        delta::write(&quarantine_path, vec![batch], WriteMode::Append, Some(&txn)).await?;
        record_version(
            catalog,
            project,
            plan,
            "quarantine",
            "append",
            run_id,
            txn.version,
        )
        .await?;
    }

    let live: Vec<&Row> = chunk.rows.iter().flatten().collect();
    if !committed(delta::txn_version(&table_path, &txn.app_id).await?) {
        let batch_size = project.spec.engine.batch_size.max(1);
        let batches = live
            .chunks(batch_size)
            .map(|rows| to_batch(&plan.schema, &plan.columns, rows))
            .collect::<Result<Vec<_>>>()?;
        let batches = if batches.is_empty() {
            vec![arrow::array::RecordBatch::new_empty(plan.schema.clone())]
        } else {
            batches
        };
        let keys: Vec<String> = plan
            .keys
            .iter()
            .map(|&k| plan.columns[k].name.clone())
            .collect();
        let operation = if delta::any_key_exists(&table_path, &batches, &keys).await? {
            delta::merge(&table_path, batches, &keys, Some(&txn)).await?;
            "merge"
        } else {
            delta::write(&table_path, batches, WriteMode::Append, Some(&txn)).await?;
            "append"
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
    }
    catalog.record_ledger(&entries)?;
    report.objects += objects.len() as u64;
    report.bytes += chunk.bytes;
    report.rows_replaced += chunk.replaced;
    Ok(())
}

fn parse_chunk(
    project: &Project,
    plan: &SourcePlan,
    run_id: &str,
    objects: &[LandingObject],
    on_object: &(dyn Fn() + Sync),
) -> Result<Chunk> {
    let run_id: Arc<str> = Arc::from(run_id);
    let mut chunk = Chunk {
        rows: Vec::new(),
        quarantine: Vec::new(),
        entries: Vec::with_capacity(objects.len()),
        replaced: 0,
        bytes: 0,
    };
    let mut by_key: HashMap<String, usize> = HashMap::new();
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
        let object_id: Arc<str> = Arc::from(object.object_id.as_str());
        let ingested_at = chrono::DateTime::parse_from_rfc3339(&object.ingested_at)
            .map(|t| t.timestamp_micros())
            .unwrap_or(0);
        let (dialect_name, parsed) = match plan.dialect_for(&object.original_path) {
            Some(dialect) => {
                let parsed = match plan.kind {
                    FormatKind::Csv => {
                        parse::csv::parse(&bytes, dialect, &plan.columns, &object.original_name)
                    }
                    FormatKind::Json => {
                        parse::json::parse(&bytes, dialect, &plan.columns, &object.original_name)
                    }
                    FormatKind::Ndjson => {
                        parse::ndjson::parse(&bytes, dialect, &plan.columns, &object.original_name)
                    }
                };
                let converted = parsed
                    .into_iter()
                    .map(|r| {
                        r.and_then(|r| convert(&r, dialect, &plan.columns).map(|v| (r.line, v)))
                    })
                    .collect::<Vec<_>>();
                (dialect.name.clone(), converted)
            }
            None => (
                "-".to_string(),
                vec![Err(Rejection {
                    line: 0,
                    raw: parse::clip(&String::from_utf8_lossy(&bytes)),
                    column: None,
                    rule: "no_dialect".into(),
                    reason: format!(
                        "no dialect of the source matches `{}`",
                        object.original_path
                    ),
                })],
            ),
        };
        let dialect: Arc<str> = Arc::from(dialect_name.as_str());
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
        for record in parsed {
            entry.rows_read += 1;
            match record {
                Ok((line, values)) => {
                    if !plan.keys.is_empty() {
                        let key = plan
                            .keys
                            .iter()
                            .map(|&k| values[k].key_part())
                            .collect::<Vec<_>>()
                            .join("\u{1f}");
                        if let Some(prev) = by_key.insert(key, chunk.rows.len()) {
                            // The later record of a key wins. Within one object the earlier
                            // one is a duplicate; across objects it was accepted when its own
                            // object was read, and a later version replaces it.
                            if let Some(old) = chunk.rows[prev].take() {
                                if old.object == object_id {
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
                        object: object_id.clone(),
                        line,
                        ingested_at,
                    }));
                }
                Err(rejection) => {
                    entry.rows_quarantined += 1;
                    chunk.quarantine.push(QuarantineRow {
                        object: object_id.clone(),
                        line: rejection.line,
                        column: rejection.column,
                        rule: rejection.rule,
                        reason: rejection.reason,
                        raw: rejection.raw,
                        dialect: dialect.clone(),
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

/// Registers the dataset and records its latest version, with the landing high-water mark
/// (the ingestion sequence number of the last object it holds) as its input.
async fn record_version(
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
