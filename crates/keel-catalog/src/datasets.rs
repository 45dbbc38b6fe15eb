//! Datasets of every zone and their versions, each with the inputs it was built from.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};

use crate::{Catalog, Result, now_utc};

/// A dataset: a formatted table, its quarantine, or an exploitation model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// `zone.table`, e.g. `formatted.readings`.
    pub name: String,
    /// `formatted` or `exploitation`.
    pub zone: String,
    /// Where it lives, relative to the lake root.
    pub location: String,
    /// `delta`.
    pub format: String,
    /// What it holds.
    pub description: Option<String>,
}

/// A version of a dataset and what it was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetVersion {
    /// `zone.table`.
    pub name: String,
    /// The Delta version.
    pub version: i64,
    /// The run that wrote it.
    pub run_id: String,
    /// `append`, `merge`, `overwrite`.
    pub operation: String,
    /// Rows in the table at this version.
    pub rows: i64,
    /// Arrow schema as JSON.
    pub schema_json: String,
    /// Inputs read: dataset name → Delta version (or landing object count).
    pub inputs: BTreeMap<String, i64>,
}

impl Catalog {
    /// Registers a dataset, or updates its description and location.
    ///
    /// # Errors
    /// When the upsert fails.
    pub fn upsert_dataset(&self, d: &Dataset) -> Result<()> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO datasets (name, zone, location, format, description, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (name) DO UPDATE SET \
             location = excluded.location, format = excluded.format, \
             description = excluded.description",
            params![
                d.name,
                d.zone,
                d.location,
                d.format,
                d.description,
                now_utc()
            ],
        )?;
        Ok(())
    }

    /// Records a version of a dataset (idempotent: recording the same version twice keeps
    /// the first record).
    ///
    /// # Errors
    /// When the insert fails.
    pub fn record_version(&self, v: &DatasetVersion) -> Result<()> {
        let conn = self.conn();
        insert_version(&conn, v)
    }

    /// The latest recorded version of a dataset.
    ///
    /// # Errors
    /// When the query fails.
    pub fn latest_version(&self, name: &str) -> Result<Option<DatasetVersion>> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "SELECT name, version, run_id, operation, rows, schema_json, inputs_json \
                 FROM dataset_versions WHERE name = ?1 ORDER BY version DESC LIMIT 1",
                params![name],
                |r| {
                    Ok((
                        DatasetVersion {
                            name: r.get(0)?,
                            version: r.get(1)?,
                            run_id: r.get(2)?,
                            operation: r.get(3)?,
                            rows: r.get(4)?,
                            schema_json: r.get(5)?,
                            inputs: BTreeMap::new(),
                        },
                        r.get::<_, String>(6)?,
                    ))
                },
            )
            .optional()?;
        match row {
            None => Ok(None),
            Some((mut v, inputs)) => {
                v.inputs = serde_json::from_str(&inputs)?;
                Ok(Some(v))
            }
        }
    }

    /// Every registered dataset, by name.
    ///
    /// # Errors
    /// When the query fails.
    pub fn datasets(&self) -> Result<Vec<Dataset>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT name, zone, location, format, description FROM datasets ORDER BY name",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Dataset {
                    name: r.get(0)?,
                    zone: r.get(1)?,
                    location: r.get(2)?,
                    format: r.get(3)?,
                    description: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}

/// Inserts a version unless it is recorded already (the first record stays).
pub(crate) fn insert_version(conn: &rusqlite::Connection, v: &DatasetVersion) -> Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO dataset_versions (name, version, run_id, operation, rows, \
         schema_json, inputs_json, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            v.name,
            v.version,
            v.run_id,
            v.operation,
            v.rows,
            v.schema_json,
            serde_json::to_string(&v.inputs)?,
            now_utc()
        ],
    )?;
    Ok(())
}
