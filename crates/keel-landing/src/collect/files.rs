//! The `files` collector: files under a directory that match a glob, taken once per
//! (path, size, modification time).

use std::collections::HashSet;
use std::path::Path;
use std::time::UNIX_EPOCH;

use globset::Glob;
use keel_catalog::Catalog;
use serde_json::json;

use super::CollectReport;
use crate::hash::copy_hashed;
use crate::temporal::{BatchEntry, pending_batches, seal_batch, sync_dir};
use crate::{LandingError, Result};

/// Takes new or changed files of `source` from `root` into a new temporal batch.
///
/// A file is new when the catalog's collector state (or a pending temporal batch) has no
/// record of its path with the same size and modification time. Files are taken in path
/// order, so that a delivery folder named by date lands in date order.
///
/// # Errors
/// When the glob is invalid, the directory cannot be read or a copy fails.
pub fn collect(
    source: &str,
    root: &Path,
    glob: &str,
    temporal: &Path,
    catalog: &Catalog,
) -> Result<CollectReport> {
    let matcher = Glob::new(glob)
        .map_err(|e| LandingError::Config {
            source_name: source.to_string(),
            message: format!("key `collector.glob`: {e}"),
        })?
        .compile_matcher();
    let state = catalog.collector_state(source)?;
    let pending: HashSet<(String, u64, i64)> = pending_batches(temporal)?
        .into_iter()
        .flat_map(|b| b.entries)
        .map(|e| (e.original_path, e.bytes, e.mtime_ns))
        .collect();

    let mut candidates = Vec::new();
    let mut report = CollectReport::default();
    for entry in walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
    {
        let entry = entry
            .map_err(|e| std::io::Error::other(format!("walking `{}`: {e}", root.display())))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(root) else {
            continue;
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        if !matcher.is_match(&rel) {
            continue;
        }
        report.seen += 1;
        let meta = fs_err::metadata(entry.path())?;
        let bytes = meta.len();
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        let known = state
            .get(&rel)
            .is_some_and(|s| s.bytes == bytes as i64 && s.mtime_ns == mtime_ns);
        if known || pending.contains(&(rel.clone(), bytes, mtime_ns)) {
            continue;
        }
        candidates.push((entry.path().to_path_buf(), rel, mtime_ns));
    }
    if candidates.is_empty() {
        return Ok(report);
    }

    let batch_dir = temporal.join(keel_core::ids::new_run_id());
    fs_err::create_dir_all(&batch_dir)?;
    let mut entries = Vec::with_capacity(candidates.len());
    for (i, (path, rel, mtime_ns)) in candidates.into_iter().enumerate() {
        let file = i.to_string();
        let mut input = fs_err::File::open(&path)?;
        let mut output = fs_err::File::create(batch_dir.join(&file))?;
        let (sha256, bytes) = copy_hashed(&mut input, &mut output)?;
        output.sync_all()?;
        report.taken += 1;
        report.bytes += bytes;
        entries.push(BatchEntry {
            file,
            original_path: rel,
            sha256,
            bytes,
            mtime_ns,
            collected_at: keel_catalog::now_utc(),
            collector: json!({ "kind": "files", "root": root.display().to_string() }),
        });
    }
    sync_dir(&batch_dir)?;
    seal_batch(&batch_dir, &entries)?;
    Ok(report)
}
