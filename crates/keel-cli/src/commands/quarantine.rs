//! `keel quarantine TABLE`: what a formatted table's quarantine holds, by rule and column,
//! with examples.

use keel_core::Project;

use crate::cli::{OutputFormat, QuarantineArgs};

/// Prints the summary; returns the exit code.
///
/// # Errors
/// When the table is not one of the project's, or its quarantine cannot be read.
pub async fn show(project: &Project, args: &QuarantineArgs) -> anyhow::Result<u8> {
    let summary = keel_formatted::quarantine::summary(project, &args.table, args.examples).await?;
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&summary)?),
        OutputFormat::Csv => {
            println!("rule,column,rows,objects");
            for g in &summary.reasons {
                println!(
                    "{},{},{},{}",
                    g.rule,
                    g.column.as_deref().unwrap_or(""),
                    g.rows,
                    g.objects
                );
            }
        }
        OutputFormat::Table => print!("{summary}"),
    }
    Ok(0)
}
