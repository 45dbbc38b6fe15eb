//! The persistent loader: moves temporal batches into immutable, content-addressed objects
//! and records them in the manifest. Crash-safe at every point: the object path is derived
//! from the batch listing, so a retry lands on the same path; the temporal batch is removed
//! only after the catalog knows every object in it.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use keel_catalog::Catalog;
use keel_catalog::manifest::{CollectedFile, LandingCommit, LandingObject, NewObject, object_id};
use keel_core::Lake;
use keel_core::fault::crash_point;
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

/// Loads every pending temporal batch of `source` into persistent landing. Each batch is
/// recorded in the catalog in one transaction, after its files are in place and synced.
///
/// # Errors
/// When a file cannot be moved or the catalog cannot be written.
pub fn load(lake: &Lake, catalog: &Catalog, source: &str, run_id: &str) -> Result<LoadReport> {
    let mut report = LoadReport::default();
    for batch in pending_batches(&lake.temporal(source))? {
        let batch_id = batch
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if catalog.batch_landed(source, &batch_id)? {
            // A retry after a crash between the catalog commit and the removal.
            fs_err::remove_dir_all(&batch.dir)?;
            continue;
        }
        let mut commit = LandingCommit {
            batch: Some((source.to_string(), batch_id)),
            ..LandingCommit::default()
        };
        let mut in_batch: HashMap<String, String> = HashMap::new();
        let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
        for (key, value) in &batch.state {
            commit
                .state
                .push((source.to_string(), key.clone(), value.clone()));
        }
        for entry in &batch.entries {
            let new = new_object(source, entry)?;
            if entry.collector.get("kind").and_then(|k| k.as_str()) == Some("files") {
                commit.collected.push((
                    source.to_string(),
                    entry.original_path.clone(),
                    CollectedFile {
                        bytes: entry.bytes as i64,
                        mtime_ns: entry.mtime_ns,
                        sha256: entry.sha256.clone(),
                    },
                ));
            }
            for key in &entry.message_keys {
                commit
                    .message_keys
                    .push((source.to_string(), key.clone(), entry.sha256.clone()));
            }
            if let Some(existing) = catalog.object_by_hash(source, &entry.sha256)? {
                // Recorded already: a re-send of the same bytes, or this very entry on a
                // retry after a crash between the catalog commit and the batch removal.
                if existing.persistent_path != new.persistent_path {
                    commit.duplicates.push((new, existing.object_id));
                }
                continue;
            }
            if let Some(object_id) = in_batch.get(&entry.sha256) {
                commit.duplicates.push((new, object_id.clone()));
                continue;
            }
            let target = lake.root().join(&new.persistent_path);
            if let Some(parent) = target.parent() {
                fs_err::create_dir_all(parent)?;
                dirs.insert(parent.to_path_buf());
            }
            if !target.exists() {
                fs_err::rename(batch.dir.join(&entry.file), &target)?;
                crash_point("loader: object renamed into persistent landing");
            }
            in_batch.insert(entry.sha256.clone(), object_id(source, &entry.sha256));
            report.bytes += entry.bytes;
            commit.objects.push(new);
        }
        // The renames must be durable before the catalog points at the objects.
        for dir in &dirs {
            sync_dir(dir)?;
        }
        crash_point("loader: objects durable, catalog not written");
        report.duplicates += commit.duplicates.len() as u64;
        report
            .stored
            .extend(catalog.record_landing(&commit, run_id)?);
        crash_point("loader: catalog written, temporal batch still there");
        fs_err::remove_dir_all(&batch.dir)?;
        crash_point("loader: batch done");
    }
    Ok(report)
}

fn new_object(source: &str, entry: &BatchEntry) -> Result<NewObject> {
    let original_name = entry
        .original_path
        .rsplit('/')
        .next()
        .unwrap_or(&entry.original_path)
        .to_string();
    let persistent_path = persistent_relative_path(source, entry, &original_name)?;
    Ok(NewObject {
        source: source.to_string(),
        original_name,
        original_path: entry.original_path.clone(),
        sha256: entry.sha256.clone(),
        bytes: entry.bytes as i64,
        ingested_at: entry.collected_at.clone(),
        persistent_path,
        collector: entry.collector.clone(),
    })
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
