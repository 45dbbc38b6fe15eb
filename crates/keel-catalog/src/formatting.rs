//! The life of a formatted table beyond plain appends: generations (a rebuild from
//! persistent landing starts a new one) and reprocessing runs of its quarantine. Ledger
//! lines that either replaces are kept in `ledger_archive`, so the ledger of every run stays
//! readable.

use rusqlite::{OptionalExtension, Transaction, params};

use crate::ledger::LedgerEntry;
use crate::{Catalog, Result, now_utc};

/// A reprocessing run of a table's quarantine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReprocessRun {
    /// Its number, from 1, per table.
    pub seq: i64,
    /// The run that started it.
    pub run_id: String,
    /// Whether this run was started earlier and did not finish (a crash): it is resumed.
    pub resumed: bool,
}

impl Catalog {
    /// The current generation of `table`: 0 until its first rebuild.
    ///
    /// # Errors
    /// When the query fails.
    pub fn format_generation(&self, table: &str) -> Result<i64> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT generation FROM format_generations WHERE table_name = ?1",
                params![table],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0))
    }

    /// Starts a rebuild of `table`: archives its ledger lines and moves it to the next
    /// generation, in one transaction. Every landing object of its sources is then
    /// unformatted for it, and the first commit of the new generation replaces the table.
    /// Returns the new generation.
    ///
    /// # Errors
    /// When the transaction fails.
    pub fn start_rebuild(&self, table: &str, run_id: &str) -> Result<i64> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now = now_utc();
        archive_ledger(&tx, table, None, &format!("rebuild {run_id}"), &now)?;
        tx.execute("DELETE FROM ledger WHERE table_name = ?1", params![table])?;
        let generation: i64 = tx
            .query_row(
                "SELECT generation FROM format_generations WHERE table_name = ?1",
                params![table],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0)
            + 1;
        tx.execute(
            "INSERT INTO format_generations (table_name, generation, run_id, started_at) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (table_name) DO UPDATE SET \
             generation = excluded.generation, run_id = excluded.run_id, \
             started_at = excluded.started_at",
            params![table, generation, run_id, now],
        )?;
        tx.commit()?;
        Ok(generation)
    }

    /// Starts a reprocessing run of `table`'s quarantine, or resumes the last one if it did
    /// not finish.
    ///
    /// # Errors
    /// When the transaction fails.
    pub fn start_reprocess(&self, table: &str, run_id: &str) -> Result<ReprocessRun> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let last: Option<(i64, String, Option<String>)> = tx
            .query_row(
                "SELECT seq, run_id, finished_at FROM reprocess_runs WHERE table_name = ?1 \
                 ORDER BY seq DESC LIMIT 1",
                params![table],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let run = match last {
            Some((seq, run_id, None)) => ReprocessRun {
                seq,
                run_id,
                resumed: true,
            },
            other => {
                let seq = other.map_or(1, |(seq, _, _)| seq + 1);
                tx.execute(
                    "INSERT INTO reprocess_runs (table_name, seq, run_id, started_at) \
                     VALUES (?1, ?2, ?3, ?4)",
                    params![table, seq, run_id, now_utc()],
                )?;
                ReprocessRun {
                    seq,
                    run_id: run_id.to_string(),
                    resumed: false,
                }
            }
        };
        tx.commit()?;
        Ok(run)
    }

    /// Replaces the ledger lines of the objects of `entries` (all of `table`) by `entries`,
    /// archiving the old ones as replaced `by` (e.g. `reprocess 3`), in one transaction.
    ///
    /// # Errors
    /// When the transaction fails.
    pub fn replace_ledger(&self, table: &str, entries: &[LedgerEntry], by: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now = now_utc();
        for e in entries {
            archive_ledger(&tx, table, Some(&e.object_id), by, &now)?;
            crate::ledger::insert(&tx, e, &now, true)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Marks reprocessing run `seq` of `table` finished, with what it did.
    ///
    /// # Errors
    /// When the update fails.
    pub fn finish_reprocess(
        &self,
        table: &str,
        seq: i64,
        objects: i64,
        released: i64,
    ) -> Result<()> {
        let conn = self.conn();
        conn.execute(
            "UPDATE reprocess_runs SET finished_at = ?3, objects = ?4, released = ?5 \
             WHERE table_name = ?1 AND seq = ?2",
            params![table, seq, now_utc(), objects, released],
        )?;
        Ok(())
    }

    /// Ledger lines of `table` whose object had rows quarantined, in ingestion order.
    ///
    /// # Errors
    /// When the query fails.
    pub fn ledger_with_quarantine(&self, table: &str) -> Result<Vec<LedgerEntry>> {
        self.query_ledger(
            "l.table_name = ?1 AND l.rows_quarantined > 0",
            params![table],
        )
    }

    /// Number of ledger lines archived for `table` (by rebuilds and reprocessing).
    ///
    /// # Errors
    /// When the query fails.
    pub fn archived_ledger_lines(&self, table: &str) -> Result<i64> {
        let conn = self.conn();
        Ok(conn.query_row(
            "SELECT COUNT(*) FROM ledger_archive WHERE table_name = ?1",
            params![table],
            |r| r.get(0),
        )?)
    }
}

/// Copies the ledger lines of `table` (of one object, or all) into `ledger_archive`.
fn archive_ledger(
    tx: &Transaction<'_>,
    table: &str,
    object_id: Option<&str>,
    by: &str,
    now: &str,
) -> Result<()> {
    tx.execute(
        "INSERT INTO ledger_archive (object_id, table_name, run_id, dialect, rows_read, \
         rows_written, rows_quarantined, rows_duplicate, delta_version, formatted_at, \
         archived_at, archived_by) \
         SELECT object_id, table_name, run_id, dialect, rows_read, rows_written, \
         rows_quarantined, rows_duplicate, delta_version, formatted_at, ?3, ?4 FROM ledger \
         WHERE table_name = ?1 AND (?2 IS NULL OR object_id = ?2)",
        params![table, object_id, now, by],
    )?;
    Ok(())
}
