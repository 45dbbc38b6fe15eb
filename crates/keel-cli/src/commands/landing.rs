//! `keel landing versions SOURCE [NAME]`: every version of a source's objects by name.

use keel_catalog::Catalog;
use keel_core::Project;

use crate::cli::{OutputFormat, VersionsArgs};
use crate::output;

/// Prints the versions; returns the exit code.
///
/// # Errors
/// When the source does not exist or the catalog cannot be read.
pub fn versions(project: &Project, args: &VersionsArgs) -> anyhow::Result<u8> {
    if project.source(&args.source).is_none() {
        anyhow::bail!("no source `{}` in this project", args.source);
    }
    let catalog = Catalog::open(&project.lake.catalog_db())?;
    let objects = match &args.name {
        Some(name) => catalog.object_versions(&args.source, name)?,
        None => {
            let mut all = catalog.objects(&args.source)?;
            all.sort_by(|a, b| {
                (a.original_name.as_str(), a.version).cmp(&(b.original_name.as_str(), b.version))
            });
            all
        }
    };
    match args.format {
        OutputFormat::Json => {
            let rows: Vec<_> = objects
                .iter()
                .map(|o| {
                    serde_json::json!({
                        "original_name": o.original_name, "version": o.version,
                        "object_id": o.object_id, "sha256": o.sha256, "bytes": o.bytes,
                        "ingested_at": o.ingested_at, "persistent_path": o.persistent_path,
                        "collector": o.collector,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&rows)?);
        }
        OutputFormat::Csv => {
            println!("original_name,version,object_id,bytes,ingested_at");
            for o in &objects {
                println!(
                    "{},{},{},{},{}",
                    csv_field(&o.original_name),
                    o.version,
                    o.object_id,
                    o.bytes,
                    o.ingested_at
                );
            }
        }
        OutputFormat::Table => {
            let mut table = output::table(&["name", "version", "object", "bytes", "ingested at"]);
            for o in &objects {
                table.add_row(vec![
                    o.original_name.clone(),
                    o.version.to_string(),
                    o.object_id.clone(),
                    output::human_bytes(o.bytes),
                    o.ingested_at.clone(),
                ]);
            }
            println!("{table}");
        }
    }
    Ok(0)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
