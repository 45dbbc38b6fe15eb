//! Running a query into staged Arrow IPC files, with what its scans read.
//!
//! A model's result is computed once, streamed into LZ4-compressed IPC files (memory stays
//! bounded by the plan's operators), and then committed by whichever Delta write its
//! materialisation needs (an overwrite, an append, a merge that reads it twice). Because
//! keel runs the physical plan itself, it can read the plan's metrics afterwards: the rows
//! and bytes its table scans produced, after Delta file pruning and Parquet row-group
//! pruning, which is how an incremental build shows that it read only what was new.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::Arc;

use arrow::ipc::writer::{FileWriter, IpcWriteOptions};
use datafusion::dataframe::DataFrame;
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use futures::StreamExt;

use crate::Result;
use crate::delta::Staged;

/// Rows per staged file before the next one is started.
const ROWS_PER_FILE: usize = 1 << 20;

/// A query's result staged on disk, and what computing it read and wrote.
#[derive(Debug, Clone)]
pub struct StagedFrame {
    /// The rows, as Arrow IPC files in the staging folder.
    pub staged: Staged,
    /// Rows in the result.
    pub rows: u64,
    /// What the plan's scans read.
    pub read: ScanMetrics,
}

/// What the leaves of a physical plan (its table scans) produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanMetrics {
    /// Rows the scans produced (after file and row-group pruning, before filters above them).
    pub rows: u64,
    /// Bytes the Parquet scans read from storage.
    pub bytes: u64,
}

/// Runs `frame` and stages its result under `dir` (emptied first).
///
/// # Errors
/// When the query fails or the files cannot be written.
pub async fn stage_frame(frame: DataFrame, dir: &Path) -> Result<StagedFrame> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    let schema = Arc::new(frame.schema().as_arrow().clone());
    let task = Arc::new(frame.task_ctx());
    let plan = frame.create_physical_plan().await?;
    let mut stream = execute_stream(plan.clone(), task)?;
    let options = IpcWriteOptions::default()
        .try_with_compression(Some(arrow::ipc::CompressionType::LZ4_FRAME))?;
    let mut writer: Option<FileWriter<BufWriter<File>>> = None;
    let (mut files, mut in_file, mut rows) = (0usize, 0usize, 0u64);
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        if batch.num_rows() == 0 {
            continue;
        }
        if writer.is_none() || in_file >= ROWS_PER_FILE {
            if let Some(mut done) = writer.take() {
                done.finish()?;
            }
            let file = File::create(dir.join(format!("part-{files:05}.arrow")))?;
            writer = Some(FileWriter::try_new_with_options(
                BufWriter::with_capacity(1 << 20, file),
                &schema,
                options.clone(),
            )?);
            files += 1;
            in_file = 0;
        }
        if let Some(w) = &mut writer {
            w.write(&batch)?;
        }
        in_file += batch.num_rows();
        rows += batch.num_rows() as u64;
    }
    if let Some(mut done) = writer {
        done.finish()?;
    }
    Ok(StagedFrame {
        staged: Staged::Files(schema, dir.to_path_buf()),
        rows,
        read: scan_metrics(plan.as_ref()),
    })
}

/// The metrics of the leaves of `plan`, summed.
pub fn scan_metrics(plan: &dyn ExecutionPlan) -> ScanMetrics {
    let children = plan.children();
    if children.is_empty() {
        let metrics = plan.metrics();
        return ScanMetrics {
            rows: metrics.as_ref().and_then(|m| m.output_rows()).unwrap_or(0) as u64,
            bytes: metrics
                .as_ref()
                .and_then(|m| m.sum_by_name("bytes_scanned"))
                .map_or(0, |v| v.as_usize() as u64),
        };
    }
    children
        .into_iter()
        .map(|c| scan_metrics(c.as_ref()))
        .fold(ScanMetrics::default(), |a, b| ScanMetrics {
            rows: a.rows + b.rows,
            bytes: a.bytes + b.bytes,
        })
}
