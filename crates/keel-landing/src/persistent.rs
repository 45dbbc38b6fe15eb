//! The persistent loader: moves temporal batches into immutable, content-addressed objects
//! and records them in the manifest. Crash-safe at every point: the object path is derived
//! from the batch listing, so a retry lands on the same path; the temporal batch is removed
//! only after the catalog knows every object in it.

use std::path::Path;

use keel_catalog::manifest::{CollectedFile, LandingObject, NewObject};
use keel_catalog::Catalog;
use keel_core::Lake;
use keel_core::ids::{sanitize_file_name, short_hash};

use crate::temporal::{BatchEntry, pending_batches, sync_dir};
use crate::{LandingError, Result};

/// What the loader did.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// New objects stored.
    pub stored: Vec<LandingObject>,
    /// Deliveries whose bytes were already stored.
    pub duplicates: u64,
    /// Bytes of the new objects.
    pub bytes: u64,
}

/// Loads every pending temporal batch of `source` into persistent landing.
///
/// # Errors
/// When a file cannot be moved or the catalog cannot be written.
pub fn load(lake: &Lake, catalog: &Catalog, source: &str, run_id: &str) -> Result<LoadReport> {
    let mut report = LoadReport::default();
    for batch in pending_batches(&lake.temporal(source))? {
        for entry in &batch.entries {
            load_entry(lake, catalog, source, run_id, &batch.dir, entry, &mut report)?;
        }
        fs_err::remove_dir_all(&batch.dir)?;
    }
    Ok(report)
}

fn load_entry(
    lake: &Lake,
    catalog: &Catalog,
    source: &str,
    run_id: &str,
    batch_dir: &Path,
    entry: &BatchEntry,
    report: &mut LoadReport,
) -> Result<()> {
    let original_name = entry
        .original_path
        .rsplit('/')
        .next()
        .unwrap_or(&entry.original_path)
        .to_string();
    let relative = persistent_relative_path(source, entry, &original_name)?;
    let new = NewObject {
        source: source.to_string(),
        original_name,
        original_path: entry.original_path.clone(),
        sha256: entry.sha256.clone(),
        bytes: entry.bytes as i64,
        ingested_at: entry.collected_at.clone(),
        persistent_path: relative.clone(),
        collector: entry.collector.clone(),
    };
    let remember = CollectedFile {
        bytes: entry.bytes as i64,
        mtime_ns: entry.mtime_ns,
        sha256: entry.sha256.clone(),
    };
    if let Some(existing) = catalog.object_by_hash(source, &entry.sha256)? {
        // Recorded already: either a re-send of the same bytes, or this very entry on a
        // retry after a crash between the manifest commit and the batch removal.
        let retried = existing.persistent_path == relative;
        if !retried {
            catalog.record_duplicate_delivery(&new, &existing.object_id, run_id)?;
            report.duplicates += 1;
        }
        catalog.set_collector_state(source, &entry.original_path, &remember)?;
        return Ok(());
    }
    let target = lake.root().join(&relative);
    let staged = batch_dir.join(&entry.file);
    if let Some(parent) = target.parent() {
        fs_err::create_dir_all(parent)?;
    }
    if !target.exists() {
        fs_err::rename(&staged, &target)?;
        if let Some(parent) = target.parent() {
            sync_dir(parent)?;
        }
    }
    let object = catalog.record_object(&new, run_id)?;
    catalog.set_collector_state(source, &entry.original_path, &remember)?;
    report.bytes += entry.bytes;
    report.stored.push(object);
    Ok(())
}

/// `landing/persistent/<source>/<yyyy>/<mm>/<dd>/<ts>-<sha8>-<name>`, from the batch listing
/// only, so that a retry computes the same path.
fn persistent_relative_path(
    source: &str,
    entry: &BatchEntry,
    original_name: &str,
) -> Result<String> {
    let at = chrono::DateTime::parse_from_rfc3339(&entry.collected_at).map_err(|e| {
        LandingError::Batch {
            path: entry.file.clone().into(),
            message: format!("bad collected_at `{}`: {e}", entry.collected_at),
        }
    })?;
    let at = at.with_timezone(&chrono::Utc);
    Ok(format!(
        "landing/persistent/{source}/{}/{}-{}-{}",
        at.format("%Y/%m/%d"),
        at.format("%Y%m%dT%H%M%S%6fZ"),
        short_hash(&entry.sha256),
        sanitize_file_name(original_name)
    ))
}
