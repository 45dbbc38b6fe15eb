//! What the command line prints: summary tables, query results, errors.

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use comfy_table::{Table, presets};
use keel_runtime::{RunOutcome, RunSummary};

use crate::cli::OutputFormat;

/// An empty table with these headers, in keel's style.
pub fn table(headers: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED);
    t.set_header(headers.to_vec());
    t
}

/// Prints the summary of a run on stdout.
pub fn print_run_summary(summary: &RunSummary) {
    let mut t = table(&[
        "stage", "target", "objects", "rows in", "rows out", "bytes", "time", "status", "note",
    ]);
    for s in &summary.steps {
        t.add_row(vec![
            s.stage.clone(),
            s.target.clone(),
            s.objects_in.to_string(),
            s.rows_in.to_string(),
            s.rows_out.to_string(),
            human_bytes(s.bytes_in.max(s.bytes_out)),
            format!("{:.2} s", s.duration_ms as f64 / 1000.0),
            s.status.clone(),
            s.message.clone().unwrap_or_default(),
        ]);
    }
    println!("{t}");
    let outcome = match &summary.outcome {
        RunOutcome::Success => "success".to_string(),
        RunOutcome::NothingToDo => {
            "nothing to do: no new landing objects, every model up to date".to_string()
        }
        RunOutcome::ModelsFailed(models) => format!("failed models: {}", models.join(", ")),
        RunOutcome::ChecksFailed(models) => format!(
            "error checks fail (their dependents are not built): {}",
            models.join(", ")
        ),
    };
    println!(
        "run {}: {outcome} in {:.1} s, peak RSS {}",
        summary.run_id,
        summary.duration_ms as f64 / 1000.0,
        human_bytes(summary.peak_rss_bytes)
    );
}

/// Prints query results on stdout in `format`.
///
/// # Errors
/// When writing fails.
pub fn print_batches(
    schema: &Schema,
    batches: &[RecordBatch],
    format: OutputFormat,
) -> anyhow::Result<()> {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        OutputFormat::Table => {
            let text = if batches.iter().all(|b| b.num_rows() == 0) {
                let empty = RecordBatch::new_empty(std::sync::Arc::new(schema.clone()));
                arrow::util::pretty::pretty_format_batches(&[empty])?
            } else {
                arrow::util::pretty::pretty_format_batches(batches)?
            };
            writeln!(out, "{text}")?;
        }
        OutputFormat::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            if batches.is_empty() {
                writer.write(&RecordBatch::new_empty(std::sync::Arc::new(schema.clone())))?;
            }
            for b in batches {
                writer.write(b)?;
            }
        }
        OutputFormat::Json => {
            let mut writer = arrow::json::ArrayWriter::new(&mut out);
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            writer.write_batches(&refs)?;
            writer.finish()?;
            if batches.iter().all(|b| b.num_rows() == 0) {
                // An empty result is an empty array, not nothing.
                writeln!(out, "[]")?;
            } else {
                writeln!(out)?;
            }
        }
    }
    Ok(())
}

/// `12.3 MiB`-style sizes.
pub fn human_bytes(bytes: i64) -> String {
    let mut v = bytes as f64;
    for unit in ["B", "KiB", "MiB", "GiB"] {
        if v < 1024.0 || unit == "GiB" {
            return if unit == "B" {
                format!("{bytes} B")
            } else {
                format!("{v:.1} {unit}")
            };
        }
        v /= 1024.0;
    }
    format!("{bytes} B")
}

/// Prints an error as `error: ...`, each cause as `Caused by: ...`, and a hint when the
/// user can do something about it.
pub fn print_error(e: &anyhow::Error) {
    eprintln!("error: {e}");
    for cause in e.chain().skip(1) {
        eprintln!("  Caused by: {cause}");
    }
    if let Some(hint) = hint(e) {
        eprintln!("hint: {hint}");
    }
}

fn hint(e: &anyhow::Error) -> Option<&'static str> {
    for cause in e.chain() {
        if let Some(keel_runtime::RuntimeError::Locked(_)) = cause.downcast_ref() {
            return Some(
                "wait for the other run to finish; a killed run releases the lock by itself",
            );
        }
        if let Some(keel_core::CoreError::Config { .. }) = cause.downcast_ref() {
            return Some("fix the file named above; `keel --help` lists the commands");
        }
    }
    None
}
