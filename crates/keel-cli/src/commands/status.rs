//! `keel status`: zones, sources and their freshness, last runs, ledger totals.

use keel_core::Project;

use crate::output::table;

/// Prints the status of `project`.
///
/// # Errors
/// When the catalog cannot be read.
pub fn status(project: &Project) -> anyhow::Result<u8> {
    let s = keel_runtime::status::status(project, 5)?;
    println!(
        "project `{}` (lake `{}`)",
        project.spec.name,
        project.lake.root().display()
    );
    let mut t = table(&["source", "objects", "duplicate deliveries", "last ingested"]);
    for src in &s.sources {
        t.add_row(vec![
            src.name.clone(),
            src.objects.to_string(),
            src.duplicate_deliveries.to_string(),
            src.last_ingested_at
                .clone()
                .unwrap_or_else(|| "never".into()),
        ]);
    }
    println!("\nsources\n{t}");
    let mut t = table(&["dataset", "version", "rows"]);
    for d in &s.datasets {
        t.add_row(vec![
            d.name.clone(),
            d.version
                .map(|v| v.to_string())
                .unwrap_or_else(|| "-".into()),
            d.rows.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
        ]);
    }
    println!("\nzones\n{t}");
    let mut t = table(&[
        "table",
        "objects",
        "rows read",
        "written",
        "quarantined",
        "duplicate",
        "balanced",
    ]);
    for l in &s.ledger {
        let balanced = l.rows_read == l.rows_written + l.rows_quarantined + l.rows_duplicate;
        t.add_row(vec![
            l.table_name.clone(),
            l.objects.to_string(),
            l.rows_read.to_string(),
            l.rows_written.to_string(),
            l.rows_quarantined.to_string(),
            l.rows_duplicate.to_string(),
            if balanced { "yes".into() } else { "NO".into() },
        ]);
    }
    println!("\nledger\n{t}");
    let mut t = table(&["run", "command", "started", "status"]);
    for r in &s.runs {
        t.add_row(vec![
            r.run_id.clone(),
            r.command.clone(),
            r.started_at.clone(),
            r.status.clone(),
        ]);
    }
    println!("\nlast runs\n{t}");
    Ok(0)
}
