//! Reprocessing a table's quarantine after its source's declaration was fixed
//! (`keel format --reprocess-quarantine TABLE`).
//!
//! Every object with quarantined rows is parsed again with the current declaration. What
//! happens to each of its rows:
//! - quarantined before and passing now: *released*, merged into the table by key, unless a
//!   later object already holds its key (then it is *superseded*: accepted, as it would have
//!   been in ingestion order, and replaced at once);
//! - quarantined before and still failing: its quarantine row is replaced by the new one
//!   (with the new reason);
//! - passing before: untouched. A row that passed under the old declaration and fails under
//!   the new one stays in the table and is counted as written; `--rebuild` is the tool for
//!   a declaration that changes what passes.
//!
//! The ledger lines of the objects are replaced (the old ones archived), so that
//! `rows_read = written + quarantined + duplicate` still holds and the quarantine table
//! still holds exactly the quarantined rows. Each chunk of objects is one commit on the table
//! and one on the quarantine, tagged with the run's `txn` marker: a reprocess that crashes is
//! resumed by the next one without writing anything twice.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, AsArray, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use keel_catalog::Catalog;
use keel_catalog::manifest::LandingObject;
use keel_core::Project;
use keel_core::project::Source;
use keel_engine::delta::{self, Staged, Txn};

use crate::exec::{evolve_table, read_chunk, record_version, row_batches, upsert};
use crate::plan::SourcePlan;
use crate::rows::{Row, quarantine_batch, to_batch};
use crate::stage::{Collected, base_id};
use crate::{FormattedError, Result};

/// What reprocessing a table's quarantine did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReprocessReport {
    /// The reprocessing run's number for this table.
    pub seq: i64,
    /// Whether it resumed a run that had not finished.
    pub resumed: bool,
    /// Objects parsed again.
    pub objects: u64,
    /// Quarantined rows that pass now.
    pub released: u64,
    /// Of those, rows whose key a later object already holds (not written to the table).
    pub superseded: u64,
    /// Rows still quarantined for these objects.
    pub still_quarantined: u64,
    /// Rows that passed before and fail under the current declaration (left in the table).
    pub newly_failing: u64,
    /// Version of the table afterwards.
    pub delta_version: Option<i64>,
}

/// Reprocesses the quarantine of `table` with the current declarations of its sources.
///
/// # Errors
/// When no source feeds `table`, an object cannot be read, or a commit fails.
pub async fn reprocess_quarantine(
    project: &Project,
    table: &str,
    catalog: &Catalog,
    run_id: &str,
) -> Result<ReprocessReport> {
    let sources: Vec<&Source> = project
        .sources
        .iter()
        .filter(|s| s.table() == table)
        .collect();
    if sources.is_empty() {
        return Err(FormattedError::Config {
            path: project.dir.join("sources"),
            message: format!("no source feeds the table `{table}`"),
        });
    }
    let run = catalog.start_reprocess(table, run_id)?;
    let mut report = ReprocessReport {
        seq: run.seq,
        resumed: run.resumed,
        ..Default::default()
    };
    let run = Run {
        app_id: format!("keel:reprocess:{table}:{}", run.seq),
        ledger_by: format!("reprocess {}", run.seq),
        run_id: run_id.to_string(),
    };
    let mut objects = Vec::new();
    for entry in catalog.ledger_with_quarantine(table)? {
        if let Some(object) = catalog.object(&entry.object_id)? {
            objects.push(object);
        }
    }
    for source in sources {
        let plan = SourcePlan::new(source)?;
        let mine: Vec<LandingObject> = objects
            .iter()
            .filter(|o| o.source == source.name)
            .cloned()
            .collect();
        for chunk in crate::exec::chunks(&mine, &project.spec.engine) {
            reprocess_chunk(project, &plan, catalog, &run, chunk, &mut report).await?;
        }
    }
    catalog.finish_reprocess(
        table,
        report.seq,
        report.objects as i64,
        report.released as i64,
    )?;
    report.delta_version = delta::version(&project.lake.formatted(table)).await?;
    Ok(report)
}

/// The run's identity in commits and in the ledger archive.
struct Run {
    app_id: String,
    ledger_by: String,
    run_id: String,
}

async fn reprocess_chunk(
    project: &Project,
    plan: &SourcePlan,
    catalog: &Catalog,
    run: &Run,
    objects: &[LandingObject],
    report: &mut ReprocessReport,
) -> Result<()> {
    let Some(last) = objects.last() else {
        return Ok(());
    };
    let table_path = project.lake.formatted(&plan.table);
    let quarantine_path = project.lake.quarantine(&plan.table);
    let ids: Vec<&str> = objects.iter().map(|o| o.object_id.as_str()).collect();
    let before = Quarantined::read(&quarantine_path, &ids).await?;
    let mut collected = Collected::new(&plan.keys);
    let read = read_chunk(
        project,
        plan,
        &run.run_id,
        objects,
        None,
        &|| {},
        &mut collected,
    )?;
    let mut entries = read.entries;
    let (rows, quarantine, _) = collected.finish(&mut entries);

    let released: Vec<&Row> = rows
        .iter()
        .filter(|r| before.holds(&r.object, r.line))
        .collect();
    let superseded = superseded(project, plan, catalog, &released).await?;
    let kept: Vec<&Row> = released
        .iter()
        .zip(&superseded)
        .filter(|(_, s)| !**s)
        .map(|(r, _)| *r)
        .collect();

    // A row that passed before and fails now stays in the table: count it as written.
    let mut still = Vec::new();
    let entry_of: HashMap<String, usize> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.object_id.clone(), i))
        .collect();
    for q in quarantine {
        if before.holds(&q.object, q.line) {
            still.push(q);
        } else if let Some(&i) = entry_of.get(base_id(&q.object)) {
            entries[i].rows_quarantined -= 1;
            entries[i].rows_written += 1;
            report.newly_failing += 1;
        }
    }

    let txn = Txn {
        app_id: run.app_id.clone(),
        version: last.seq,
    };
    let committed = |v: Option<i64>| v.is_some_and(|v| v >= txn.version);
    if !kept.is_empty() && !committed(delta::txn_version(&table_path, &txn.app_id).await?) {
        let mut batches = row_batches(project, plan, &kept)?;
        if let Some(table_schema) = delta::arrow_schema(&table_path).await? {
            let changes = crate::evolve::compare(&table_schema, &plan.schema);
            if let Some(c) = changes
                .iter()
                .find(|c| matches!(c, crate::evolve::Change::Incompatible { .. }))
            {
                return Err(FormattedError::Config {
                    path: project.dir.join("sources"),
                    message: format!("cannot reprocess into `{}`: {c}", plan.table),
                });
            }
            if !changes.is_empty() {
                let schema =
                    evolve_table(&table_path, &table_schema, &changes, &plan.schema).await?;
                batches = batches
                    .iter()
                    .map(|b| crate::evolve::conform(b, &schema))
                    .collect::<Result<_>>()?;
            }
        }
        let schema = batches[0].schema();
        let (operation, _) =
            upsert(&table_path, plan, &Staged::Batches(schema, batches), &txn).await?;
        record_version(
            catalog,
            project,
            plan,
            "formatted",
            operation,
            &run.run_id,
            txn.version,
        )
        .await?;
    }
    let mut refs: Vec<String> = before.references.iter().cloned().collect();
    refs.extend(still.iter().map(|q| q.object.to_string()));
    refs.sort();
    refs.dedup();
    if !refs.is_empty() && !committed(delta::txn_version(&quarantine_path, &txn.app_id).await?) {
        let predicate = format!(
            "_keel_object IN ({})",
            refs.iter()
                .map(|r| format!("'{}'", r.replace('\'', "''")))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let batch = quarantine_batch(&still)?;
        delta::replace_where(&quarantine_path, vec![batch], &predicate, Some(&txn)).await?;
        record_version(
            catalog,
            project,
            plan,
            "quarantine",
            "reprocess",
            &run.run_id,
            txn.version,
        )
        .await?;
    }

    let version = delta::version(&table_path).await?.unwrap_or(0);
    for e in &mut entries {
        e.delta_version = version;
    }
    catalog.replace_ledger(&plan.table, &entries, &run.ledger_by)?;
    report.objects += objects.len() as u64;
    report.released += released.len() as u64;
    report.superseded += (released.len() - kept.len()) as u64;
    report.still_quarantined += still.len() as u64;
    Ok(())
}

/// What the quarantine held for some objects before reprocessing.
struct Quarantined {
    /// (reference, line) of each quarantined row.
    lines: HashSet<(String, i64)>,
    /// References quarantined as a whole (line 0): all their rows were.
    whole: HashSet<String>,
    /// Every reference with a quarantined row.
    references: HashSet<String>,
}

impl Quarantined {
    async fn read(path: &std::path::Path, ids: &[&str]) -> Result<Quarantined> {
        let mut q = Quarantined {
            lines: HashSet::new(),
            whole: HashSet::new(),
            references: HashSet::new(),
        };
        let Some(ctx) = delta::session_with(path, "q").await? else {
            return Ok(q);
        };
        let list = ids
            .iter()
            .map(|id| format!("'{}'", id.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(", ");
        let batches = ctx
            .sql(&format!(
                "SELECT _keel_object, _keel_line FROM q \
                 WHERE split_part(_keel_object, '!', 1) IN ({list})"
            ))
            .await
            .map_err(keel_engine::EngineError::from)?
            .collect()
            .await
            .map_err(keel_engine::EngineError::from)?;
        for b in batches {
            let objects = arrow::compute::cast(b.column(0), &DataType::Utf8)?;
            let objects = objects.as_string::<i32>();
            let lines = b.column(1).as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                let object = objects.value(i);
                let line = lines.value(i);
                if line == 0 {
                    q.whole.insert(object.to_string());
                }
                q.references.insert(object.to_string());
                q.lines.insert((object.to_string(), line));
            }
        }
        Ok(q)
    }

    /// Whether the row at `line` of `reference` was quarantined.
    fn holds(&self, reference: &str, line: i64) -> bool {
        self.whole.contains(reference)
            || self.whole.contains(base_id(reference))
            || self.lines.contains(&(reference.to_string(), line))
    }
}

/// For each released row, whether a later object already holds its key in the table.
async fn superseded(
    project: &Project,
    plan: &SourcePlan,
    catalog: &Catalog,
    rows: &[&Row],
) -> Result<Vec<bool>> {
    let mut out = vec![false; rows.len()];
    if plan.keys.is_empty() || rows.is_empty() {
        return Ok(out);
    }
    let Some(ctx) = delta::session_with(&project.lake.formatted(&plan.table), "target").await?
    else {
        return Ok(out);
    };
    let full = to_batch(&plan.schema, &plan.columns, rows)?;
    let mut fields: Vec<Field> = Vec::new();
    let mut columns: Vec<Arc<dyn Array>> = Vec::new();
    for &k in &plan.keys {
        fields.push(plan.schema.field(k).clone());
        columns.push(full.column(k).clone());
    }
    fields.push(Field::new("__keel_idx", DataType::Int64, false));
    columns.push(Arc::new(Int64Array::from_iter_values(0..rows.len() as i64)));
    let incoming = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
    let engine = keel_engine::EngineError::from;
    ctx.register_batch("incoming", incoming).map_err(engine)?;
    let on = plan
        .keys
        .iter()
        .map(|&k| {
            let name = &plan.columns[k].name;
            format!("t.\"{name}\" = i.\"{name}\"")
        })
        .collect::<Vec<_>>()
        .join(" AND ");
    let found = ctx
        .sql(&format!(
            "SELECT i.__keel_idx, t._keel_object FROM target t JOIN incoming i ON {on}"
        ))
        .await
        .map_err(engine)?
        .collect()
        .await
        .map_err(engine)?;
    let mut seqs: HashMap<String, i64> = HashMap::new();
    let mut seq_of = |reference: &str| -> Result<i64> {
        let id = base_id(reference);
        if let Some(&s) = seqs.get(id) {
            return Ok(s);
        }
        let s = catalog.object(id)?.map_or(i64::MAX, |o| o.seq);
        seqs.insert(id.to_string(), s);
        Ok(s)
    };
    for b in found {
        let idx = b.column(0).as_primitive::<Int64Type>();
        let objects = arrow::compute::cast(b.column(1), &DataType::Utf8)?;
        let objects = objects.as_string::<i32>();
        for i in 0..b.num_rows() {
            let row = idx.value(i) as usize;
            if seq_of(objects.value(i))? > seq_of(&rows[row].object)? {
                out[row] = true;
            }
        }
    }
    Ok(out)
}
