//! Opening the catalog database, its pragmas and its schema migrations.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

use crate::{CatalogError, Result};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE landing_objects (
    object_id       TEXT PRIMARY KEY,
    source          TEXT NOT NULL,
    original_name   TEXT NOT NULL,
    original_path   TEXT NOT NULL,
    version         INTEGER NOT NULL,
    sha256          TEXT NOT NULL,
    bytes           INTEGER NOT NULL,
    ingested_at     TEXT NOT NULL,
    persistent_path TEXT NOT NULL,
    collector       TEXT NOT NULL,
    run_id          TEXT NOT NULL,
    seq             INTEGER NOT NULL
);
CREATE UNIQUE INDEX landing_objects_hash ON landing_objects(source, sha256);
CREATE INDEX landing_objects_name ON landing_objects(source, original_name);

CREATE TABLE deliveries (
    delivery_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    source        TEXT NOT NULL,
    original_path TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    bytes         INTEGER NOT NULL,
    delivered_at  TEXT NOT NULL,
    object_id     TEXT NOT NULL REFERENCES landing_objects(object_id),
    duplicate     INTEGER NOT NULL,
    run_id        TEXT NOT NULL
);

CREATE TABLE collector_state (
    source   TEXT NOT NULL,
    path     TEXT NOT NULL,
    bytes    INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256   TEXT NOT NULL,
    PRIMARY KEY (source, path)
);

CREATE TABLE ledger (
    object_id        TEXT NOT NULL REFERENCES landing_objects(object_id),
    table_name       TEXT NOT NULL,
    run_id           TEXT NOT NULL,
    dialect          TEXT NOT NULL,
    rows_read        INTEGER NOT NULL,
    rows_written     INTEGER NOT NULL,
    rows_quarantined INTEGER NOT NULL,
    rows_duplicate   INTEGER NOT NULL,
    delta_version    INTEGER NOT NULL,
    formatted_at     TEXT NOT NULL,
    PRIMARY KEY (object_id, table_name)
);

CREATE TABLE runs (
    run_id      TEXT PRIMARY KEY,
    command     TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL,
    message     TEXT
);

CREATE TABLE steps (
    run_id         TEXT NOT NULL REFERENCES runs(run_id),
    step_no        INTEGER NOT NULL,
    stage          TEXT NOT NULL,
    target         TEXT NOT NULL,
    started_at     TEXT NOT NULL,
    duration_ms    INTEGER NOT NULL,
    objects_in     INTEGER NOT NULL,
    rows_in        INTEGER NOT NULL,
    rows_out       INTEGER NOT NULL,
    bytes_in       INTEGER NOT NULL,
    bytes_out      INTEGER NOT NULL,
    peak_rss_bytes INTEGER NOT NULL,
    status         TEXT NOT NULL,
    message        TEXT,
    PRIMARY KEY (run_id, step_no)
);

CREATE TABLE datasets (
    name        TEXT PRIMARY KEY,
    zone        TEXT NOT NULL,
    location    TEXT NOT NULL,
    format      TEXT NOT NULL,
    description TEXT,
    created_at  TEXT NOT NULL
);

CREATE TABLE dataset_versions (
    name        TEXT NOT NULL REFERENCES datasets(name),
    version     INTEGER NOT NULL,
    run_id      TEXT NOT NULL,
    operation   TEXT NOT NULL,
    rows        INTEGER NOT NULL,
    schema_json TEXT NOT NULL,
    inputs_json TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
"#,
    // Numbering a new object reads MAX(seq): keep that a lookup, not a scan.
    "CREATE INDEX landing_objects_seq ON landing_objects(seq);",
    // 3: collector state beyond files (cursors, watermarks) and the keys of landed messages,
    // both written in the same transaction as the objects they describe.
    "
CREATE TABLE source_state (
    source TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    object_id TEXT,
    PRIMARY KEY (source, key)
);
CREATE TABLE landed_messages (
    source TEXT NOT NULL,
    msg_key TEXT NOT NULL,
    object_id TEXT NOT NULL,
    PRIMARY KEY (source, msg_key)
) WITHOUT ROWID;
CREATE TABLE landed_batches (
    source TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    landed_at TEXT NOT NULL,
    PRIMARY KEY (source, batch_id)
) WITHOUT ROWID;
",
    // 4: generations of a formatted table (a rebuild starts a new one), reprocessing runs of
    // its quarantine, and the ledger lines that a rebuild or a reprocess replaced.
    "
CREATE TABLE format_generations (
    table_name TEXT PRIMARY KEY,
    generation INTEGER NOT NULL,
    run_id     TEXT NOT NULL,
    started_at TEXT NOT NULL
);
CREATE TABLE reprocess_runs (
    table_name  TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    run_id      TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    objects     INTEGER,
    released    INTEGER,
    PRIMARY KEY (table_name, seq)
);
CREATE TABLE ledger_archive (
    object_id        TEXT NOT NULL,
    table_name       TEXT NOT NULL,
    run_id           TEXT NOT NULL,
    dialect          TEXT NOT NULL,
    rows_read        INTEGER NOT NULL,
    rows_written     INTEGER NOT NULL,
    rows_quarantined INTEGER NOT NULL,
    rows_duplicate   INTEGER NOT NULL,
    delta_version    INTEGER NOT NULL,
    formatted_at     TEXT NOT NULL,
    archived_at      TEXT NOT NULL,
    archived_by      TEXT NOT NULL
);
",
    // 5: physical metadata: what dialect detection found in each landing object (or zip
    // member, `object_id!member`) formatted into a table, as JSON.
    "
CREATE TABLE object_metadata (
    object_id     TEXT NOT NULL,
    table_name    TEXT NOT NULL,
    detected_json TEXT NOT NULL,
    detected_at   TEXT NOT NULL,
    PRIMARY KEY (object_id, table_name)
);
",
    // 6: the results of model checks, one line per run, model, check and partition, kept
    // as history (the failing rows themselves are in exploitation/_checks/<model>).
    "
CREATE TABLE check_results (
    run_id        TEXT NOT NULL,
    model         TEXT NOT NULL,
    model_version INTEGER,
    check_name    TEXT NOT NULL,
    spec_hash     TEXT NOT NULL,
    kind          TEXT NOT NULL,
    severity      TEXT NOT NULL,
    partition     TEXT NOT NULL,
    status        TEXT NOT NULL,
    failing_rows  INTEGER NOT NULL,
    observed      TEXT,
    message       TEXT,
    checked_at    TEXT NOT NULL,
    PRIMARY KEY (run_id, model, check_name, partition)
);
CREATE INDEX check_results_model ON check_results(model, model_version);
",
    // 7: column lineage of each model version, derived from its logical plan: which input
    // column feeds which output column (`*`: the model's rows) and how. Which versions of
    // its inputs a version read stays in `dataset_versions.inputs_json`.
    "
CREATE TABLE column_lineage (
    model         TEXT NOT NULL,
    model_version INTEGER NOT NULL,
    output_column TEXT NOT NULL,
    input_dataset TEXT NOT NULL,
    input_column  TEXT NOT NULL,
    kind          TEXT NOT NULL,
    PRIMARY KEY (model, model_version, output_column, input_dataset, input_column, kind)
);
CREATE INDEX column_lineage_input ON column_lineage(input_dataset, input_column);
",
    // 8: domain metadata, as the project's files declare it at the last run: glossary terms
    // (synonyms as a JSON array), the columns linked to each, and the description, term and
    // tags of each documented column (one line per tag in `column_tags`).
    "
CREATE TABLE glossary_terms (
    term          TEXT PRIMARY KEY,
    definition    TEXT NOT NULL,
    owner         TEXT,
    synonyms_json TEXT NOT NULL,
    recorded_at   TEXT NOT NULL
);
CREATE TABLE glossary_columns (
    term        TEXT NOT NULL,
    dataset     TEXT NOT NULL,
    column_name TEXT NOT NULL,
    PRIMARY KEY (term, dataset, column_name)
);
CREATE TABLE column_metadata (
    dataset       TEXT NOT NULL,
    column_name   TEXT NOT NULL,
    description   TEXT,
    glossary_term TEXT,
    tags_json     TEXT NOT NULL,
    declared_in   TEXT NOT NULL,
    PRIMARY KEY (dataset, column_name)
);
CREATE TABLE column_tags (
    dataset     TEXT NOT NULL,
    column_name TEXT NOT NULL,
    tag         TEXT NOT NULL,
    PRIMARY KEY (dataset, column_name, tag)
);
",
];

/// A handle on the catalog database.
///
/// Calls are short and synchronous; the connection sits behind a mutex so that one handle
/// can be shared by the stages of a run.
#[derive(Debug)]
pub struct Catalog {
    conn: Mutex<Connection>,
}

impl Catalog {
    /// Opens (creating if needed) the SQLite catalog at `path` and migrates it.
    ///
    /// # Errors
    /// When the file cannot be created or opened, or a migration fails.
    pub fn open(path: &Path) -> Result<Catalog> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                CatalogError::Io(std::io::Error::new(
                    e.kind(),
                    format!("creating `{}`: {e}", parent.display()),
                ))
            })?;
        }
        let conn = Connection::open(path)?;
        // WAL lets readers run beside the writer; FULL makes a committed transaction
        // survive a power cut; the busy timeout turns lock contention into waiting.
        // See: https://www.sqlite.org/wal.html
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        migrate(&conn)?;
        Ok(Catalog {
            conn: Mutex::new(conn),
        })
    }

    /// The connection, for the catalog's own modules.
    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A poisoned mutex means a panic mid-call; the connection itself is still sound
        // because every multi-statement write runs in a transaction.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs a read-only query and returns column names and rows as JSON values, for
    /// exposing the catalog's tables to SQL.
    ///
    /// # Errors
    /// When the query fails.
    pub fn query_json(&self, sql: &str) -> Result<(Vec<String>, Vec<Vec<serde_json::Value>>)> {
        let conn = self.conn();
        let mut stmt = conn.prepare(sql)?;
        let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
        let n = names.len();
        let rows = stmt
            .query_map([], |row| {
                (0..n)
                    .map(|i| {
                        Ok(match row.get_ref(i)? {
                            rusqlite::types::ValueRef::Null => serde_json::Value::Null,
                            rusqlite::types::ValueRef::Integer(v) => v.into(),
                            rusqlite::types::ValueRef::Real(v) => v.into(),
                            rusqlite::types::ValueRef::Text(t) => {
                                String::from_utf8_lossy(t).into_owned().into()
                            }
                            rusqlite::types::ValueRef::Blob(b) => hex_string(b).into(),
                        })
                    })
                    .collect::<rusqlite::Result<Vec<_>>>()
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok((names, rows))
    }

    /// The names of the catalog's tables.
    ///
    /// # Errors
    /// When the query fails.
    pub fn table_names(&self) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )?;
        let names = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(names)
    }
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn migrate(conn: &Connection) -> Result<()> {
    let applied: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let applied = usize::try_from(applied).unwrap_or(0);
    if applied > MIGRATIONS.len() {
        return Err(CatalogError::Internal(format!(
            "the catalog has schema version {applied}, newer than this keel knows ({}); \
             upgrade keel",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {sql}; PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_twice_migrates_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c").join("keel.db");
        let names = Catalog::open(&path).unwrap().table_names().unwrap();
        assert!(names.contains(&"ledger".to_string()));
        let again = Catalog::open(&path).unwrap().table_names().unwrap();
        assert_eq!(names, again);
        let conn = Connection::open(&path).unwrap();
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
}
