//! The `files` collector: files under a directory (or objects under an S3 prefix, see
//! [`s3`]) that match a glob, taken once per (path, size, modification time), and only once
//! complete: unchanged for `stable_for`, or announced by a done-marker file, and unchanged
//! while they were copied.

pub mod s3;

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use globset::{Glob, GlobMatcher};
use keel_catalog::Catalog;
use serde_json::json;

use super::CollectReport;
use crate::temporal::{BatchWriter, pending_batches};
use crate::{LandingError, Result};

/// Files per temporal batch.
const FILES_PER_BATCH: usize = 10_000;

/// When a file counts as complete.
#[derive(Debug, Clone, Default)]
pub struct Completeness {
    /// Its size and modification time have not changed for this long.
    pub stable_for: Duration,
    /// A marker `<file><suffix>` exists next to it.
    pub done_suffix: Option<String>,
}

fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// The compiled `collector.glob` of `source`.
fn matcher(source: &str, glob: &str) -> Result<GlobMatcher> {
    Ok(Glob::new(glob)
        .map_err(|e| LandingError::Config {
            source_name: source.to_string(),
            message: format!("key `collector.glob`: {e}"),
        })?
        .compile_matcher())
}

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
    complete: &Completeness,
    temporal: &Path,
    catalog: &Catalog,
) -> Result<CollectReport> {
    let matcher = matcher(source, glob)?;
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
        if let Some(suffix) = &complete.done_suffix
            && rel.ends_with(suffix.as_str())
        {
            continue;
        }
        report.seen += 1;
        if let Some(suffix) = &complete.done_suffix {
            let mut marker = entry.path().as_os_str().to_owned();
            marker.push(suffix);
            if !Path::new(&marker).is_file() {
                report.incomplete += 1;
                continue;
            }
        }
        let meta = fs_err::metadata(entry.path())?;
        let bytes = meta.len();
        let mtime_ns = mtime_ns(&meta);
        let age = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .unwrap_or_default();
        if age < complete.stable_for {
            report.incomplete += 1;
            continue;
        }
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

    let mut batch = BatchWriter::create(temporal)?;
    for (path, rel, mtime_ns) in candidates {
        // A batch's listing is held in memory until it is sealed: bound it, so that a
        // delivery of millions of files costs the same memory as one of thousands, and the
        // loader can store the first batches while later ones are collected.
        if batch.len() >= FILES_PER_BATCH {
            std::mem::replace(&mut batch, BatchWriter::create(temporal)?)
                .seal(&serde_json::Map::new())?;
        }
        let mut input = fs_err::File::open(&path)?;
        let collector = json!({ "kind": "files", "root": root.display().to_string() });
        let bytes = batch
            .add_reader(&rel, &mut input, mtime_ns, collector)?
            .bytes;
        // A file that changed while it was read is still being written: leave it for later.
        let after = fs_err::metadata(&path)?;
        if after.len() != bytes || self::mtime_ns(&after) != mtime_ns {
            batch.discard_last()?;
            report.incomplete += 1;
            continue;
        }
        report.taken += 1;
        report.bytes += bytes;
    }
    batch.seal(&serde_json::Map::new())?;
    Ok(report)
}
