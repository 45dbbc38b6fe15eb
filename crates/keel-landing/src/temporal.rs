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
    /// Keys of the messages it holds (message collectors), recorded when it lands.
    pub message_keys: Vec<String>,
}

/// A complete temporal batch.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The batch folder.
    pub dir: PathBuf,
    /// Its files, in collection order.
    pub entries: Vec<BatchEntry>,
    /// Source state reached once the batch lands (cursor, watermark), committed with it.
    pub state: serde_json::Map<String, serde_json::Value>,
}

/// Makes a batch visible by writing its listing atomically. `state` is what the source's
/// state becomes when the batch lands.
///
/// # Errors
/// When writing or renaming fails.
pub fn seal_batch(
    dir: &Path,
    entries: &[BatchEntry],
    state: &serde_json::Map<String, serde_json::Value>,
) -> Result<()> {
    let listing: Vec<_> = entries
        .iter()
        .map(|e| {
            json!({
                "file": e.file, "original_path": e.original_path, "sha256": e.sha256,
                "bytes": e.bytes, "mtime_ns": e.mtime_ns, "collected_at": e.collected_at,
                "collector": e.collector, "message_keys": e.message_keys,
            })
        })
        .collect();
    let tmp = dir.join(format!("{BATCH_LISTING}.part"));
    let body =
        serde_json::to_vec_pretty(&json!({ "entries": listing, "state": state })).map_err(|e| {
            LandingError::Batch {
                path: dir.to_path_buf(),
                message: e.to_string(),
            }
        })?;
    write_synced(&tmp, &body)?;
    fs_err::rename(&tmp, dir.join(BATCH_LISTING))?;
    sync_dir(dir)?;
    Ok(())
}

/// Builds one temporal batch: files written and synced one by one, then sealed.
#[derive(Debug)]
pub struct BatchWriter {
    dir: PathBuf,
    entries: Vec<BatchEntry>,
}

impl BatchWriter {
    /// A new, invisible batch in the temporal folder of a source.
    ///
    /// # Errors
    /// When the folder cannot be created.
    pub fn create(temporal: &Path) -> Result<BatchWriter> {
        let dir = temporal.join(keel_core::ids::new_run_id());
        fs_err::create_dir_all(&dir)?;
        Ok(BatchWriter {
            dir,
            entries: Vec::new(),
        })
    }

    /// Adds a file with these bytes.
    ///
    /// # Errors
    /// When writing fails.
    pub fn add(
        &mut self,
        original_path: &str,
        bytes: &[u8],
        collector: serde_json::Value,
        message_keys: Vec<String>,
    ) -> Result<&BatchEntry> {
        let file = self.entries.len().to_string();
        write_synced(&self.dir.join(&file), bytes)?;
        self.entries.push(BatchEntry {
            file,
            original_path: original_path.to_string(),
            sha256: crate::hash::sha256_hex(bytes),
            bytes: bytes.len() as u64,
            mtime_ns: 0,
            collected_at: keel_catalog::now_utc(),
            collector,
            message_keys,
        });
        Ok(self.entries.last().expect("just pushed"))
    }

    /// Adds a file streamed from `reader` (never held in memory), with its modification time.
    ///
    /// # Errors
    /// When reading or writing fails.
    pub fn add_reader(
        &mut self,
        original_path: &str,
        reader: &mut impl std::io::Read,
        mtime_ns: i64,
        collector: serde_json::Value,
    ) -> Result<&BatchEntry> {
        let file = self.entries.len().to_string();
        let mut out = fs_err::File::create(self.dir.join(&file))?;
        let (sha256, bytes) = crate::hash::copy_hashed(reader, &mut out)?;
        out.sync_all()?;
        self.entries.push(BatchEntry {
            file,
            original_path: original_path.to_string(),
            sha256,
            bytes,
            mtime_ns,
            collected_at: keel_catalog::now_utc(),
            collector,
            message_keys: Vec::new(),
        });
        Ok(self.entries.last().expect("just pushed"))
    }

    /// Starts a file whose bytes arrive in chunks (an async download): each chunk is
    /// written and hashed as it comes, so the file is never held in memory. The file joins
    /// the batch when [`EntryWriter::finish`] is called; one dropped unfinished is left out
    /// of the listing (and overwritten by the next file).
    ///
    /// # Errors
    /// When the file cannot be created.
    pub fn begin(&mut self) -> Result<EntryWriter<'_>> {
        let file = self.entries.len().to_string();
        let out = fs_err::File::create(self.dir.join(&file))?;
        Ok(EntryWriter {
            batch: self,
            file,
            out,
            hasher: sha2::Sha256::default(),
            bytes: 0,
        })
    }

    /// Drops the file added last (it turned out incomplete).
    ///
    /// # Errors
    /// When it cannot be removed.
    pub fn discard_last(&mut self) -> Result<()> {
        if let Some(e) = self.entries.pop() {
            fs_err::remove_file(self.dir.join(&e.file))?;
        }
        Ok(())
    }

    /// Files added so far.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Makes the batch visible with the state it reaches. A batch with no file but a state
    /// is kept (it advances a watermark over a window with no data); one with neither is
    /// removed.
    ///
    /// # Errors
    /// When writing fails.
    pub fn seal(self, state: &serde_json::Map<String, serde_json::Value>) -> Result<()> {
        if self.entries.is_empty() && state.is_empty() {
            fs_err::remove_dir_all(&self.dir)?;
            return Ok(());
        }
        sync_dir(&self.dir)?;
        seal_batch(&self.dir, &self.entries, state)
    }
}

/// A file of a temporal batch being written chunk by chunk; see [`BatchWriter::begin`].
#[derive(Debug)]
pub struct EntryWriter<'a> {
    batch: &'a mut BatchWriter,
    file: String,
    out: fs_err::File,
    hasher: sha2::Sha256,
    bytes: u64,
}

impl<'a> EntryWriter<'a> {
    /// Appends `chunk`.
    ///
    /// # Errors
    /// When writing fails.
    pub fn write(&mut self, chunk: &[u8]) -> Result<()> {
        use sha2::Digest;
        use std::io::Write;
        self.out.write_all(chunk)?;
        self.hasher.update(chunk);
        self.bytes += chunk.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Flushes the file to disk and adds it to the batch.
    ///
    /// # Errors
    /// When flushing fails.
    pub fn finish(
        self,
        original_path: &str,
        mtime_ns: i64,
        collector: serde_json::Value,
    ) -> Result<&'a BatchEntry> {
        use sha2::Digest;
        self.out.sync_all()?;
        let batch = self.batch;
        batch.entries.push(BatchEntry {
            file: self.file,
            original_path: original_path.to_string(),
            sha256: hex::encode(self.hasher.finalize()),
            bytes: self.bytes,
            mtime_ns,
            collected_at: keel_catalog::now_utc(),
            collector,
            message_keys: Vec::new(),
        });
        Ok(batch.entries.last().expect("just pushed"))
    }

    /// Removes the file: it is left out of the batch.
    ///
    /// # Errors
    /// When it cannot be removed.
    pub fn discard(self) -> Result<()> {
        drop(self.out);
        fs_err::remove_file(self.batch.dir.join(&self.file))?;
        Ok(())
    }
}

/// The state of a source as its pending batches leave it: `committed` (the catalog's) with
/// the state of every pending batch applied in order.
///
/// # Errors
/// When a listing cannot be read.
pub fn effective_state(
    temporal: &Path,
    key: &str,
    committed: Option<serde_json::Value>,
) -> Result<Option<serde_json::Value>> {
    let mut value = committed;
    for batch in pending_batches(temporal)? {
        if let Some(v) = batch.state.get(key) {
            value = Some(v.clone());
        }
    }
    Ok(value)
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
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let (values, state) = match doc {
        serde_json::Value::Array(values) => (values, serde_json::Map::new()),
        serde_json::Value::Object(mut o) => {
            let values = match o.remove("entries") {
                Some(serde_json::Value::Array(v)) => v,
                _ => return Err(bad("listing without `entries`".into())),
            };
            let state = match o.remove("state") {
                Some(serde_json::Value::Object(m)) => m,
                _ => serde_json::Map::new(),
            };
            (values, state)
        }
        _ => return Err(bad("listing is neither an array nor an object".into())),
    };
    let mut entries = Vec::with_capacity(values.len());
    for v in values {
        let s = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_str())
                .map(str::to_string)
                .ok_or_else(|| bad(format!("entry without `{k}`")))
        };
        let file = s("file")?;
        if file.contains(['/', '\\']) || file.starts_with('.') {
            return Err(bad(format!("entry file `{file}` is not a plain name")));
        }
        entries.push(BatchEntry {
            file,
            original_path: s("original_path")?,
            sha256: s("sha256")?,
            bytes: v.get("bytes").and_then(|x| x.as_u64()).unwrap_or(0),
            mtime_ns: v.get("mtime_ns").and_then(|x| x.as_i64()).unwrap_or(0),
            collected_at: s("collected_at")?,
            collector: v.get("collector").cloned().unwrap_or_default(),
            message_keys: v
                .get("message_keys")
                .and_then(|x| x.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|k| k.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        });
    }
    Ok(Batch {
        dir: dir.to_path_buf(),
        entries,
        state,
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
