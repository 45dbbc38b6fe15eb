//! `keel check --history`: the results of the models' checks, run after run (the checks
//! themselves run through `keel check`, a run of the `check` stage).

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{Field, Schema};
use keel_catalog::Catalog;
use keel_catalog::checks::CheckResult;
use keel_core::Project;

use crate::cli::CheckArgs;
use crate::output::print_batches;

/// Prints the check history of the selected models (every model when none is selected;
/// `MODEL+`-style selectors are taken by their model name).
///
/// # Errors
/// When the catalog cannot be read or the output written.
pub fn history(project: &Project, args: &CheckArgs) -> anyhow::Result<u8> {
    let catalog = Catalog::open(&project.lake.catalog_db())?;
    let models: Vec<String> = args
        .select
        .select
        .iter()
        .map(|s| s.trim_matches('+').to_string())
        .collect();
    for m in &models {
        if !project.models.iter().any(|p| &p.name == m) {
            anyhow::bail!("`{m}` is not a model of this project");
        }
    }
    let mut results = Vec::new();
    if models.is_empty() {
        results = catalog.check_history(None, args.limit)?;
    } else {
        for m in &models {
            results.extend(catalog.check_history(Some(m), args.limit)?);
        }
        results.sort_by(|a, b| b.run_id.cmp(&a.run_id));
        results.truncate(args.limit);
    }
    let batch = history_batch(&results)?;
    print_batches(&batch.schema(), &[batch], args.format)?;
    Ok(0)
}

fn history_batch(results: &[CheckResult]) -> anyhow::Result<RecordBatch> {
    let text = |f: fn(&CheckResult) -> Option<&str>| -> ArrayRef {
        Arc::new(results.iter().map(f).collect::<StringArray>())
    };
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("run_id", text(|r| Some(&r.run_id))),
        ("model", text(|r| Some(&r.model))),
        (
            "version",
            Arc::new(
                results
                    .iter()
                    .map(|r| r.model_version)
                    .collect::<Int64Array>(),
            ),
        ),
        ("check", text(|r| Some(&r.check_name))),
        ("kind", text(|r| Some(&r.kind))),
        ("severity", text(|r| Some(&r.severity))),
        ("partition", text(|r| Some(&r.partition))),
        ("status", text(|r| Some(&r.status))),
        (
            "failing_rows",
            Arc::new(
                results
                    .iter()
                    .map(|r| Some(r.failing_rows))
                    .collect::<Int64Array>(),
            ),
        ),
        ("observed", text(|r| r.observed.as_deref())),
        ("message", text(|r| r.message.as_deref())),
        ("checked_at", text(|r| Some(&r.checked_at))),
    ];
    let schema = Schema::new(
        columns
            .iter()
            .map(|(name, a)| Field::new(*name, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    );
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        columns.into_iter().map(|(_, a)| a).collect(),
    )?)
}
