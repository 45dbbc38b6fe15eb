//! Runs and their steps: what each stage did, how long it took, how much it read and wrote.

use rusqlite::params;

use crate::{Catalog, Result, now_utc};

/// A run of `keel`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    /// Time-ordered id.
    pub run_id: String,
    /// The command that started it.
    pub command: String,
    /// Start time (UTC).
    pub started_at: String,
    /// End time, once finished.
    pub finished_at: Option<String>,
    /// `running`, `success`, `checks_failed` or `failed`.
    pub status: String,
    /// A message for the user.
    pub message: Option<String>,
}

/// One step of a run: one stage on one target (a source, a table, a model).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepRecord {
    /// The run.
    pub run_id: String,
    /// Order within the run.
    pub step_no: i64,
    /// `collect`, `land`, `format`, `build`.
    pub stage: String,
    /// The source, table or model.
    pub target: String,
    /// Start time (UTC).
    pub started_at: String,
    /// Duration.
    pub duration_ms: i64,
    /// Landing objects read.
    pub objects_in: i64,
    /// Rows read.
    pub rows_in: i64,
    /// Rows written.
    pub rows_out: i64,
    /// Bytes read.
    pub bytes_in: i64,
    /// Bytes written.
    pub bytes_out: i64,
    /// Peak resident memory of the process at the end of the step.
    pub peak_rss_bytes: i64,
    /// `success`, `skipped` or `failed`.
    pub status: String,
    /// A message for the user.
    pub message: Option<String>,
}

impl Catalog {
    /// Records the start of a run.
    ///
    /// # Errors
    /// When the insert fails.
    pub fn start_run(&self, run_id: &str, command: &str) -> Result<()> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO runs (run_id, command, started_at, status) VALUES (?1, ?2, ?3, 'running')",
            params![run_id, command, now_utc()],
        )?;
        Ok(())
    }

    /// Records the end of a run.
    ///
    /// # Errors
    /// When the update fails.
    pub fn finish_run(&self, run_id: &str, status: &str, message: Option<&str>) -> Result<()> {
        let conn = self.conn();
        conn.execute(
            "UPDATE runs SET finished_at = ?2, status = ?3, message = ?4 WHERE run_id = ?1",
            params![run_id, now_utc(), status, message],
        )?;
        Ok(())
    }

    /// Records a step.
    ///
    /// # Errors
    /// When the insert fails.
    pub fn record_step(&self, s: &StepRecord) -> Result<()> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO steps (run_id, step_no, stage, target, started_at, duration_ms, \
             objects_in, rows_in, rows_out, bytes_in, bytes_out, peak_rss_bytes, status, message) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                s.run_id,
                s.step_no,
                s.stage,
                s.target,
                s.started_at,
                s.duration_ms,
                s.objects_in,
                s.rows_in,
                s.rows_out,
                s.bytes_in,
                s.bytes_out,
                s.peak_rss_bytes,
                s.status,
                s.message
            ],
        )?;
        Ok(())
    }

    /// When the collector of `source` last ran successfully (RFC 3339), if ever.
    ///
    /// # Errors
    /// When the query fails.
    pub fn last_collected_at(&self, source: &str) -> Result<Option<String>> {
        let conn = self.conn();
        Ok(conn.query_row(
            "SELECT MAX(started_at) FROM steps WHERE stage = 'collect' AND target = ?1 \
             AND status = 'success'",
            rusqlite::params![source],
            |r| r.get(0),
        )?)
    }

    /// The latest runs, newest first.
    ///
    /// # Errors
    /// When the query fails.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT run_id, command, started_at, finished_at, status, message FROM runs \
             ORDER BY run_id DESC LIMIT ?1",
        )?;
        let rows = stmt
            .query_map(params![limit as i64], |r| {
                Ok(RunRecord {
                    run_id: r.get(0)?,
                    command: r.get(1)?,
                    started_at: r.get(2)?,
                    finished_at: r.get(3)?,
                    status: r.get(4)?,
                    message: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// The steps of a run, in order.
    ///
    /// # Errors
    /// When the query fails.
    pub fn steps(&self, run_id: &str) -> Result<Vec<StepRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT run_id, step_no, stage, target, started_at, duration_ms, objects_in, rows_in, \
             rows_out, bytes_in, bytes_out, peak_rss_bytes, status, message FROM steps \
             WHERE run_id = ?1 ORDER BY step_no",
        )?;
        let rows = stmt
            .query_map(params![run_id], |r| {
                Ok(StepRecord {
                    run_id: r.get(0)?,
                    step_no: r.get(1)?,
                    stage: r.get(2)?,
                    target: r.get(3)?,
                    started_at: r.get(4)?,
                    duration_ms: r.get(5)?,
                    objects_in: r.get(6)?,
                    rows_in: r.get(7)?,
                    rows_out: r.get(8)?,
                    bytes_in: r.get(9)?,
                    bytes_out: r.get(10)?,
                    peak_rss_bytes: r.get(11)?,
                    status: r.get(12)?,
                    message: r.get(13)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}
