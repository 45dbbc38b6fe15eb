//! `keel landing versions SOURCE [NAME]`: every version of a source's objects by name;
//! `keel landing show OBJECT`: one object's manifest facts, versions, ledger lines and
//! detected dialect (physical metadata).

use std::io::Read;

use anyhow::Context;
use keel_catalog::Catalog;
use keel_catalog::manifest::LandingObject;
use keel_core::Project;
use keel_core::spec::{Compression, FormatKind};
use keel_formatted::SourcePlan;
use keel_formatted::compression::{self, Input};
use keel_formatted::detect::{self, Detected};

use crate::cli::{OutputFormat, ShowArgs, VersionsArgs};
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

/// Most bytes of a gzip object read to detect on the start of its content (gzip rarely
/// packs text tighter than 1:64, so 1 MiB of text is within reach).
const GZIP_HEAD: u64 = 64 << 20;

/// A detection of one input of an object: stored when the object was formatted, or run now.
struct Detection {
    /// `object_id`, or `object_id!member` for a zip member.
    input: String,
    /// The table it was stored for (none when run now).
    table: Option<String>,
    /// When it was stored.
    detected_at: Option<String>,
    detected: Detected,
}

/// Prints one landing object; returns the exit code.
///
/// # Errors
/// When no object has this id, or the catalog or the object cannot be read.
pub fn show(project: &Project, args: &ShowArgs) -> anyhow::Result<u8> {
    let catalog = Catalog::open(&project.lake.catalog_db())?;
    let Some(object) = catalog.object(&args.object)? else {
        anyhow::bail!(
            "no landing object `{}` in the catalog (`keel landing versions SOURCE` lists the \
             objects of a source)",
            args.object
        );
    };
    let versions = catalog.object_versions(&object.source, &object.original_name)?;
    let ledger = catalog.object_ledger(&object.object_id)?;
    let stored = catalog.object_metadata(&object.object_id)?;
    let detections = if stored.is_empty() {
        detect_now(project, &object)?
    } else {
        stored
            .into_iter()
            .map(|m| {
                Ok(Detection {
                    detected: Detected::from_json(&m.detected).with_context(|| {
                        format!("reading the stored detection of `{}`", m.object_id)
                    })?,
                    input: m.object_id,
                    table: Some(m.table_name),
                    detected_at: Some(m.detected_at),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    let formatted = !ledger.is_empty();
    match args.format {
        OutputFormat::Json => {
            let value = serde_json::json!({
                "object_id": object.object_id, "source": object.source,
                "original_name": object.original_name, "original_path": object.original_path,
                "version": object.version, "bytes": object.bytes, "sha256": object.sha256,
                "ingested_at": object.ingested_at, "persistent_path": object.persistent_path,
                "collector": object.collector, "formatted": formatted,
                "versions": versions.iter().map(|v| serde_json::json!({
                    "version": v.version, "object_id": v.object_id, "bytes": v.bytes,
                    "sha256": v.sha256, "ingested_at": v.ingested_at,
                })).collect::<Vec<_>>(),
                "ledger": ledger.iter().map(|e| serde_json::json!({
                    "table": e.table_name, "run_id": e.run_id, "dialect": e.dialect,
                    "rows_read": e.rows_read, "rows_written": e.rows_written,
                    "rows_quarantined": e.rows_quarantined, "rows_duplicate": e.rows_duplicate,
                    "delta_version": e.delta_version, "balances": e.balances(),
                })).collect::<Vec<_>>(),
                "detection": detections.iter().map(|d| serde_json::json!({
                    "input": d.input, "table": d.table, "detected_at": d.detected_at,
                    "stored": d.table.is_some(), "detected": d.detected.to_json(),
                })).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        OutputFormat::Csv => {
            println!("key,value");
            for (key, value) in facts(&object) {
                println!("{key},{}", csv_field(&value));
            }
        }
        OutputFormat::Table => {
            for (key, value) in facts(&object) {
                println!("{key:<16}{value}");
            }
            println!();
            println!("versions of `{}`:", object.original_name);
            let mut table = output::table(&["", "version", "object", "bytes", "ingested at"]);
            for v in &versions {
                let this = if v.object_id == object.object_id {
                    "▶"
                } else {
                    ""
                };
                table.add_row(vec![
                    this.to_string(),
                    v.version.to_string(),
                    v.object_id.clone(),
                    output::human_bytes(v.bytes),
                    v.ingested_at.clone(),
                ]);
            }
            println!("{table}");
            println!();
            if ledger.is_empty() {
                println!("ledger: not yet formatted");
            } else {
                println!("ledger:");
                let mut table = output::table(&[
                    "table",
                    "dialect",
                    "read",
                    "written",
                    "quarantined",
                    "duplicate",
                    "delta version",
                    "run",
                ]);
                for e in &ledger {
                    table.add_row(vec![
                        e.table_name.clone(),
                        e.dialect.clone(),
                        e.rows_read.to_string(),
                        e.rows_written.to_string(),
                        e.rows_quarantined.to_string(),
                        e.rows_duplicate.to_string(),
                        e.delta_version.to_string(),
                        e.run_id.clone(),
                    ]);
                }
                println!("{table}");
            }
            for d in &detections {
                println!();
                match (&d.table, &d.detected_at) {
                    (Some(table), Some(at)) => {
                        println!("detected dialect of `{}` for `{table}` ({at}):", d.input)
                    }
                    _ if formatted => println!(
                        "detected dialect of `{}` (run now: the formatter stored none):",
                        d.input
                    ),
                    _ => println!("detected dialect of `{}` (not yet formatted):", d.input),
                }
                for line in d.detected.to_string().lines() {
                    println!("  {line}");
                }
            }
        }
    }
    Ok(0)
}

/// The manifest facts of an object, in the order shown.
fn facts(o: &LandingObject) -> Vec<(&'static str, String)> {
    vec![
        ("object", o.object_id.clone()),
        ("source", o.source.clone()),
        ("original name", o.original_name.clone()),
        ("original path", o.original_path.clone()),
        ("version", o.version.to_string()),
        (
            "bytes",
            format!("{} ({})", o.bytes, output::human_bytes(o.bytes)),
        ),
        ("sha256", o.sha256.clone()),
        ("ingested at", o.ingested_at.clone()),
        ("persistent path", o.persistent_path.clone()),
        ("collector", o.collector.to_string()),
    ]
}

/// Detects the dialect of an object that has none stored: its first MiB (of its gzip
/// content), or each member of its zip archive, with the hints of the dialect its source
/// would read it with.
fn detect_now(project: &Project, object: &LandingObject) -> anyhow::Result<Vec<Detection>> {
    let path = project.lake.root().join(&object.persistent_path);
    let mut file = fs_err::File::open(&path)?;
    let mut head = Vec::new();
    let reading = || format!("reading `{}`", path.display());
    file.by_ref()
        .take(detect::SAMPLE_BYTES as u64)
        .read_to_end(&mut head)
        .with_context(reading)?;
    if head.starts_with(&[0x1f, 0x8b]) {
        file.take(GZIP_HEAD)
            .read_to_end(&mut head)
            .with_context(reading)?;
    }
    let plan = project
        .source(&object.source)
        .and_then(|s| SourcePlan::new(s).ok());
    let hints_for = |paths: &[&str]| {
        plan.as_ref()
            .and_then(|p| p.dialect_for_any(paths))
            .map(|d| d.hints())
            .unwrap_or_default()
    };
    let (declared, kind, limit) = plan
        .as_ref()
        .map_or((Compression::Auto, FormatKind::Csv, 4 << 30), |p| {
            (p.compression, p.kind, p.max_uncompressed_bytes)
        });
    let input = |input: String, detected: Detected| Detection {
        input,
        table: None,
        detected_at: None,
        detected,
    };
    if compression::detect(&head, declared, kind) != compression::Detected::Zip {
        let paths = [object.original_path.as_str()];
        let detected = detect::detect(&detect::text_sample(&head), &hints_for(&paths));
        return Ok(vec![input(object.object_id.clone(), detected)]);
    }
    // A zip archive is read whole: its directory is at its end.
    let bytes = bytes::Bytes::from(fs_err::read(&path)?);
    let mut out = Vec::new();
    let read = compression::inputs(&bytes, Compression::Zip, kind, limit, &mut |i| {
        if let Input::Member { name, bytes } = i {
            let archive = object.original_path.as_str();
            let paths: [&str; 3] = [name, &format!("{archive}/{name}"), archive];
            let detected = detect::detect(detect::sample(&bytes), &hints_for(&paths));
            out.push(input(format!("{}!{name}", object.object_id), detected));
        }
    });
    if let Err(rejection) = read {
        anyhow::bail!("`{}`: {}", object.object_id, rejection.reason);
    }
    Ok(out)
}
