//! The results of model checks: one line per run, model, check and partition, never
//! overwritten, so that `keel check --history` and `keel_catalog.check_results` show how a
//! model's quality went over time.

use rusqlite::params;

use crate::{Catalog, Result, now_utc};

/// The result of one check on one partition of a model's version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// The run that checked.
    pub run_id: String,
    /// The model.
    pub model: String,
    /// The Delta version checked (`None`: a view).
    pub model_version: Option<i64>,
    /// The check's name.
    pub check_name: String,
    /// A fingerprint of the check's declaration: a result stands for the check as declared
    /// only while it is unchanged.
    pub spec_hash: String,
    /// Its kind (`not_null`, `unique`, ...).
    pub kind: String,
    /// `error` or `warn`.
    pub severity: String,
    /// The partition, as `col=value/col=value` (empty: the whole model).
    pub partition: String,
    /// `pass`, `fail`, or `error` (the check itself could not run).
    pub status: String,
    /// Rows that broke the check.
    pub failing_rows: i64,
    /// What was measured, where the check measures something (a row count, an age).
    pub observed: Option<String>,
    /// A message for the user.
    pub message: Option<String>,
    /// When it was checked (UTC), set on recording.
    pub checked_at: String,
}

impl CheckResult {
    /// Whether this result blocks the model's dependents.
    pub fn blocks(&self) -> bool {
        self.severity == "error" && self.status != "pass"
    }
}

const COLUMNS: &str = "run_id, model, model_version, check_name, spec_hash, kind, severity, \
                       partition, status, failing_rows, observed, message, checked_at";

impl Catalog {
    /// Records `results` (in one transaction).
    ///
    /// # Errors
    /// When the insert fails (a result recorded twice for the same run, model, check and
    /// partition among them).
    pub fn record_check_results(&self, results: &[CheckResult]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let now = now_utc();
        {
            let mut stmt = tx.prepare(&format!(
                "INSERT INTO check_results ({COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            ))?;
            for r in results {
                stmt.execute(params![
                    r.run_id,
                    r.model,
                    r.model_version,
                    r.check_name,
                    r.spec_hash,
                    r.kind,
                    r.severity,
                    r.partition,
                    r.status,
                    r.failing_rows,
                    r.observed,
                    r.message,
                    now,
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Check results, newest run first, of `model` (every model when `None`), at most
    /// `limit` lines.
    ///
    /// # Errors
    /// When the query fails.
    pub fn check_history(&self, model: Option<&str>, limit: usize) -> Result<Vec<CheckResult>> {
        self.query_checks(
            "WHERE (?1 IS NULL OR model = ?1) \
             ORDER BY run_id DESC, model, check_name, partition LIMIT ?2",
            params![model, limit as i64],
        )
    }

    /// The results of the last run that checked `version` of `model`.
    ///
    /// # Errors
    /// When the query fails.
    pub fn latest_check_results(&self, model: &str, version: i64) -> Result<Vec<CheckResult>> {
        self.query_checks(
            "WHERE model = ?1 AND model_version = ?2 AND run_id = (SELECT max(run_id) \
             FROM check_results WHERE model = ?1 AND model_version = ?2) \
             ORDER BY check_name, partition",
            params![model, version],
        )
    }

    fn query_checks(&self, tail: &str, args: impl rusqlite::Params) -> Result<Vec<CheckResult>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM check_results {tail}"))?;
        let rows = stmt
            .query_map(args, |r| {
                Ok(CheckResult {
                    run_id: r.get(0)?,
                    model: r.get(1)?,
                    model_version: r.get(2)?,
                    check_name: r.get(3)?,
                    spec_hash: r.get(4)?,
                    kind: r.get(5)?,
                    severity: r.get(6)?,
                    partition: r.get(7)?,
                    status: r.get(8)?,
                    failing_rows: r.get(9)?,
                    observed: r.get(10)?,
                    message: r.get(11)?,
                    checked_at: r.get(12)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(run: &str, check: &str, status: &str, version: i64) -> CheckResult {
        CheckResult {
            run_id: run.into(),
            model: "m".into(),
            model_version: Some(version),
            check_name: check.into(),
            spec_hash: "h".into(),
            kind: "not_null".into(),
            severity: "error".into(),
            partition: String::new(),
            status: status.into(),
            failing_rows: i64::from(status == "fail"),
            observed: None,
            message: None,
            checked_at: String::new(),
        }
    }

    #[test]
    fn results_are_kept_run_after_run() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("keel.db")).unwrap();
        catalog
            .record_check_results(&[result("r1", "a", "fail", 1), result("r1", "b", "pass", 1)])
            .unwrap();
        catalog
            .record_check_results(&[result("r2", "a", "pass", 2)])
            .unwrap();
        let history = catalog.check_history(Some("m"), 10).unwrap();
        let seen: Vec<_> = history
            .iter()
            .map(|r| (r.run_id.as_str(), r.check_name.as_str(), r.status.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                ("r2", "a", "pass"),
                ("r1", "a", "fail"),
                ("r1", "b", "pass")
            ]
        );
        assert!(history[1].blocks() && !history[0].blocks());
        let latest = catalog.latest_check_results("m", 1).unwrap();
        assert_eq!(latest.len(), 2);
        assert!(catalog.check_history(Some("other"), 10).unwrap().is_empty());
        // The same run, model, check and partition cannot be recorded twice.
        assert!(
            catalog
                .record_check_results(&[result("r2", "a", "fail", 2)])
                .is_err()
        );
    }
}
