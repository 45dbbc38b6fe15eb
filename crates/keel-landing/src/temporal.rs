//! Temporal batches: what a collector took, staged until the persistent loader stores it.
//!
//! A batch is a folder of numbered files and a `_batch.json` listing them. The listing is
//! written last, under a temporary name, then renamed: a batch without it is incomplete
//! (a collector died) and is removed, never loaded.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::{LandingError, Result};

/// The name of a batch's listing.
pub const BATCH_LISTING: &str = "_batch.json";

/// One file of a temporal batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchEntry {
    /// File name inside the batch folder.
    pub file: String,
    /// Path relative to the collector root, as delivered.
    pub original_path: String,
    /// Content hash.
    pub sha256: String,
    /// Size.
    pub bytes: u64,
    /// Modification time of the source file (ns since the epoch).
    pub mtime_ns: i64,
    /// When it was collected (UTC, RFC 3339).
    pub collected_at: String,
    /// What the collector knows about it.
    pub collector: serde_json::Value,
}

/// A complete temporal batch.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The batch folder.
    pub dir: PathBuf,
    /// Its files, in collection order.
    pub entries: Vec<BatchEntry>,
}

/// Makes a batch visible by writing its listing atomically.
///
/// # Errors
/// When writing or renaming fails.
pub fn seal_batch(dir: &Path, entries: &[BatchEntry]) -> Result<()> {
    let listing: Vec<_> = entries
        .iter()
        .map(|e| {
            json!({
                "file": e.file, "original_path": e.original_path, "sha256": e.sha256,
                "bytes": e.bytes, "mtime_ns": e.mtime_ns, "collected_at": e.collected_at,
                "collector": e.collector,
            })
        })
        .collect();
    let tmp = dir.join(format!("{BATCH_LISTING}.part"));
    let body = serde_json::to_vec_pretty(&listing).map_err(|e| LandingError::Batch {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    write_synced(&tmp, &body)?;
    fs_err::rename(&tmp, dir.join(BATCH_LISTING))?;
    sync_dir(dir)?;
    Ok(())
}

/// The complete batches of a source's temporal folder, oldest first; incomplete ones are
/// removed.
///
/// # Errors
/// When a listing cannot be read.
pub fn pending_batches(temporal: &Path) -> Result<Vec<Batch>> {
    if !temporal.is_dir() {
        return Ok(Vec::new());
    }
    let mut dirs: Vec<PathBuf> = fs_err::read_dir(temporal)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut batches = Vec::new();
    for dir in dirs {
        let listing = dir.join(BATCH_LISTING);
        if !listing.is_file() {
            tracing::warn!(batch = %dir.display(), "removing an incomplete temporal batch");
            fs_err::remove_dir_all(&dir)?;
            continue;
        }
        batches.push(read_batch(&dir, &listing)?);
    }
    Ok(batches)
}

fn read_batch(dir: &Path, listing: &Path) -> Result<Batch> {
    let bad = |message: String| LandingError::Batch {
        path: dir.to_path_buf(),
        message,
    };
    let text = fs_err::read_to_string(listing)?;
    let values: Vec<serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let mut entries = Vec::with_capacity(values.len());
    for v in values {
        let s = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_str())
                .map(str::to_string)
                .ok_or_else(|| bad(format!("entry without `{k}`")))
        };
        entries.push(BatchEntry {
            file: s("file")?,
            original_path: s("original_path")?,
            sha256: s("sha256")?,
            bytes: v.get("bytes").and_then(|x| x.as_u64()).unwrap_or(0),
            mtime_ns: v.get("mtime_ns").and_then(|x| x.as_i64()).unwrap_or(0),
            collected_at: s("collected_at")?,
            collector: v.get("collector").cloned().unwrap_or_default(),
        });
    }
    Ok(Batch {
        dir: dir.to_path_buf(),
        entries,
    })
}

/// Writes `bytes` to `path` and flushes them to disk.
///
/// # Errors
/// When writing fails.
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = fs_err::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// Flushes a directory's entries (a rename inside it) to disk.
///
/// # Errors
/// When the directory cannot be opened or synced.
pub fn sync_dir(dir: &Path) -> Result<()> {
    fs_err::File::open(dir)?.sync_all()?;
    Ok(())
}
