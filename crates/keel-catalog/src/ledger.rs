//! The ledger: for every landing object and the table it feeds,
//! `rows_read = rows_written + rows_quarantined + rows_duplicate`.

use rusqlite::params;

use crate::{Catalog, Result, now_utc};

/// One ledger line: what formatting one object into one table did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The landing object.
    pub object_id: String,
    /// The formatted table.
    pub table_name: String,
    /// The run that formatted it.
    pub run_id: String,
    /// The dialect it was read with.
    pub dialect: String,
    /// Data rows read (records, not header lines).
    pub rows_read: i64,
    /// Rows accepted as the current value of their key.
    pub rows_written: i64,
    /// Rows sent to quarantine.
    pub rows_quarantined: i64,
    /// Rows whose key repeats later in the same object.
    pub rows_duplicate: i64,
    /// The Delta version of the table that holds the object's rows.
    pub delta_version: i64,
}

impl LedgerEntry {
    /// Whether the entry balances.
    pub fn balances(&self) -> bool {
        self.rows_read == self.rows_written + self.rows_quarantined + self.rows_duplicate
    }
}

/// Ledger totals of one table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerTotals {
    /// The formatted table.
    pub table_name: String,
    /// Objects formatted.
    pub objects: i64,
    /// Rows read.
    pub rows_read: i64,
    /// Rows written.
    pub rows_written: i64,
    /// Rows quarantined.
    pub rows_quarantined: i64,
    /// Duplicate rows.
    pub rows_duplicate: i64,
}

impl Catalog {
    /// Records the ledger entries of one commit, all or none.
    ///
    /// # Errors
    /// When the transaction fails.
    pub fn record_ledger(&self, entries: &[LedgerEntry]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now = now_utc();
        for e in entries {
            insert(&tx, e, &now, false)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Every ledger entry of `table`, in object ingestion order.
    ///
    /// # Errors
    /// When the query fails.
    pub fn ledger(&self, table: &str) -> Result<Vec<LedgerEntry>> {
        self.query_ledger("l.table_name = ?1", params![table])
    }

    /// Every ledger entry of the landing object `object_id` (one per table it feeds).
    ///
    /// # Errors
    /// When the query fails.
    pub fn object_ledger(&self, object_id: &str) -> Result<Vec<LedgerEntry>> {
        self.query_ledger("l.object_id = ?1", params![object_id])
    }

    /// Ledger entries that do not balance (there should be none).
    ///
    /// # Errors
    /// When the query fails.
    pub fn ledger_violations(&self) -> Result<Vec<LedgerEntry>> {
        self.query_ledger(
            "l.rows_read <> l.rows_written + l.rows_quarantined + l.rows_duplicate",
            [],
        )
    }

    pub(crate) fn query_ledger(
        &self,
        condition: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<LedgerEntry>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT l.object_id, l.table_name, l.run_id, l.dialect, l.rows_read, l.rows_written, \
             l.rows_quarantined, l.rows_duplicate, l.delta_version FROM ledger l \
             JOIN landing_objects o ON o.object_id = l.object_id WHERE {condition} ORDER BY o.seq"
        ))?;
        let rows = stmt
            .query_map(params, |r| {
                Ok(LedgerEntry {
                    object_id: r.get(0)?,
                    table_name: r.get(1)?,
                    run_id: r.get(2)?,
                    dialect: r.get(3)?,
                    rows_read: r.get(4)?,
                    rows_written: r.get(5)?,
                    rows_quarantined: r.get(6)?,
                    rows_duplicate: r.get(7)?,
                    delta_version: r.get(8)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Ledger totals per table.
    ///
    /// # Errors
    /// When the query fails.
    pub fn ledger_totals(&self) -> Result<Vec<LedgerTotals>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT table_name, COUNT(*), SUM(rows_read), SUM(rows_written), \
             SUM(rows_quarantined), SUM(rows_duplicate) FROM ledger GROUP BY table_name \
             ORDER BY table_name",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(LedgerTotals {
                    table_name: r.get(0)?,
                    objects: r.get(1)?,
                    rows_read: r.get(2)?,
                    rows_written: r.get(3)?,
                    rows_quarantined: r.get(4)?,
                    rows_duplicate: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}

/// Inserts one ledger line in `tx`; with `replace`, a line of the same object and table is
/// overwritten (reprocessing) instead of being an error.
pub(crate) fn insert(
    tx: &rusqlite::Transaction<'_>,
    e: &LedgerEntry,
    now: &str,
    replace: bool,
) -> Result<()> {
    let conflict = if replace {
        " ON CONFLICT (object_id, table_name) DO UPDATE SET run_id = excluded.run_id, \
         dialect = excluded.dialect, rows_read = excluded.rows_read, \
         rows_written = excluded.rows_written, rows_quarantined = excluded.rows_quarantined, \
         rows_duplicate = excluded.rows_duplicate, delta_version = excluded.delta_version, \
         formatted_at = excluded.formatted_at"
    } else {
        ""
    };
    tx.execute(
        &format!(
            "INSERT INTO ledger (object_id, table_name, run_id, dialect, rows_read, \
             rows_written, rows_quarantined, rows_duplicate, delta_version, formatted_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10){conflict}"
        ),
        params![
            e.object_id,
            e.table_name,
            e.run_id,
            e.dialect,
            e.rows_read,
            e.rows_written,
            e.rows_quarantined,
            e.rows_duplicate,
            e.delta_version,
            now
        ],
    )?;
    Ok(())
}
