//! `keel export MODEL --format F --output PATH [--columns a,b]`.

use keel_core::Project;
use keel_exploitation::export::{ExportFormat, export as write_export};

use crate::cli::{ExportArgs, ExportFormatArg};

/// Writes the model to the file and says what was read.
///
/// # Errors
/// When the model or a column is unknown, or the file cannot be written.
pub async fn export(project: &Project, args: &ExportArgs) -> anyhow::Result<u8> {
    let session = super::open_session(project).await?;
    let format = match args.format {
        ExportFormatArg::Parquet => ExportFormat::Parquet,
        ExportFormatArg::Csv => ExportFormat::Csv,
        ExportFormatArg::Arrow => ExportFormat::Arrow,
        ExportFormatArg::Npy => ExportFormat::Npy,
    };
    let report = write_export(&session, &args.model, &args.columns, format, &args.output).await?;
    let version = report
        .version
        .map_or_else(|| "a view".to_string(), |v| format!("version {v}"));
    println!(
        "exported {} rows × {} columns of {} ({version}) to {}; sidecar {}.json",
        report.rows,
        report.columns.len(),
        report.table,
        args.output.display(),
        args.output.display()
    );
    if !report.skipped.is_empty() {
        println!("not numeric, left out: {}", report.skipped.join(", "));
    }
    Ok(0)
}
