//! Column lineage of the models, per model version: which input columns feed each output
//! column, and how; and what the catalog knows of where a dataset version came from (the
//! versions it read, the landing objects a formatted version holds).
//!
//! The column lineage of a version is written once, in the same transaction as the version
//! itself, and never changed: a rebuild writes a new version with its own lineage.
//! Version lineage is not repeated here: `dataset_versions.inputs_json` holds it.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::datasets::DatasetVersion;
use crate::manifest::{LandingObject, OBJECT_COLUMNS};
use crate::{Catalog, CatalogError, Result};

/// The output column of an edge that concerns the model's rows as a whole (a filter or a
/// join), not one of its columns.
pub const ROWS: &str = "*";

/// How an input column feeds a model.
///
/// The first three say how a value is made (an output column's lineage); `filter` and
/// `join` say which rows appear, for the whole model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineageKind {
    /// Passed through, perhaps renamed.
    Identity,
    /// An expression over it (a function, arithmetic, `CASE`, a cast).
    Transformation,
    /// It feeds an aggregate or window function.
    Aggregation,
    /// It decides which rows appear: `WHERE`, `HAVING`, `GROUP BY` keys, `ORDER BY` under a
    /// `LIMIT`, `DISTINCT ON`.
    Filter,
    /// A join key or join condition.
    Join,
}

impl LineageKind {
    /// Every kind, in order.
    pub const ALL: [LineageKind; 5] = [
        LineageKind::Identity,
        LineageKind::Transformation,
        LineageKind::Aggregation,
        LineageKind::Filter,
        LineageKind::Join,
    ];

    /// The name stored in the catalog and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            LineageKind::Identity => "identity",
            LineageKind::Transformation => "transformation",
            LineageKind::Aggregation => "aggregation",
            LineageKind::Filter => "filter",
            LineageKind::Join => "join",
        }
    }

    /// Whether it concerns the model's rows (filter, join) rather than a column's values.
    pub fn is_rows(self) -> bool {
        matches!(self, LineageKind::Filter | LineageKind::Join)
    }
}

impl std::fmt::Display for LineageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for LineageKind {
    type Err = CatalogError;

    fn from_str(s: &str) -> Result<Self> {
        LineageKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| CatalogError::Internal(format!("unknown column lineage kind `{s}`")))
    }
}

/// One input column feeding a model: what a plan walk finds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LineageEdge {
    /// The model's output column, or [`ROWS`] for `filter` and `join`.
    pub output_column: String,
    /// The input as `zone.table` (`formatted.readings`, `exploitation.daily_consumption`).
    pub input_dataset: String,
    /// The input's column.
    pub input_column: String,
    /// How it feeds the output.
    pub kind: LineageKind,
}

/// One stored line of column lineage: an edge of one model version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ColumnLineage {
    /// The model's name (its dataset is `exploitation.<model>`).
    pub model: String,
    /// The model's version (its Delta version, or a view's catalog version).
    pub model_version: i64,
    /// The edge.
    pub edge: LineageEdge,
}

impl Catalog {
    /// Records a version of the model `model` and its column lineage in one transaction.
    ///
    /// Both are written once: recording a version again keeps its first record and its
    /// first lineage; a version recorded without lineage (by an older keel) gets `lineage`.
    ///
    /// # Errors
    /// When the transaction fails; then neither is recorded.
    pub fn record_model_version(
        &self,
        model: &str,
        version: &DatasetVersion,
        lineage: &[LineageEdge],
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        crate::datasets::insert_version(&tx, version)?;
        let recorded: bool = tx
            .query_row(
                "SELECT 1 FROM column_lineage WHERE model = ?1 AND model_version = ?2 LIMIT 1",
                params![model, version.version],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if !recorded {
            let mut insert = tx.prepare(
                "INSERT OR IGNORE INTO column_lineage (model, model_version, output_column, \
                 input_dataset, input_column, kind) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for e in lineage {
                insert.execute(params![
                    model,
                    version.version,
                    e.output_column,
                    e.input_dataset,
                    e.input_column,
                    e.kind.as_str()
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Whether column lineage is recorded for this version of `model`.
    ///
    /// # Errors
    /// When the query fails.
    pub fn has_column_lineage(&self, model: &str, version: i64) -> Result<bool> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT 1 FROM column_lineage WHERE model = ?1 AND model_version = ?2 LIMIT 1",
                params![model, version],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// The column lineage of one version of `model`, in a stable order.
    ///
    /// # Errors
    /// When the query fails or a stored kind is unknown.
    pub fn column_lineage(&self, model: &str, version: i64) -> Result<Vec<ColumnLineage>> {
        self.query_lineage("model = ?1 AND model_version = ?2", params![model, version])
    }

    /// The lines of the latest lineage-recorded version of every model that read `column`
    /// of `dataset`: who uses it now.
    ///
    /// # Errors
    /// When the query fails or a stored kind is unknown.
    pub fn column_users(&self, dataset: &str, column: &str) -> Result<Vec<ColumnLineage>> {
        self.query_lineage(
            "input_dataset = ?1 AND input_column = ?2 AND model_version = \
             (SELECT max(l.model_version) FROM column_lineage l WHERE l.model = c.model)",
            params![dataset, column],
        )
    }

    fn query_lineage(
        &self,
        condition: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<ColumnLineage>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT model, model_version, output_column, input_dataset, input_column, kind \
             FROM column_lineage c WHERE {condition} \
             ORDER BY model, model_version, output_column, input_dataset, input_column, kind"
        ))?;
        let rows = stmt
            .query_map(args, |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(
                |(model, model_version, output_column, input_dataset, input_column, kind)| {
                    Ok(ColumnLineage {
                        model,
                        model_version,
                        edge: LineageEdge {
                            output_column,
                            input_dataset,
                            input_column,
                            kind: kind.parse()?,
                        },
                    })
                },
            )
            .collect()
    }

    /// A recorded version of `name`: `version`, or the latest when `None`.
    ///
    /// # Errors
    /// When the query fails.
    pub fn dataset_version(
        &self,
        name: &str,
        version: Option<i64>,
    ) -> Result<Option<DatasetVersion>> {
        match version {
            None => self.latest_version(name),
            Some(v) => self
                .query_versions("name = ?1 AND version = ?2", params![name, v])
                .map(|mut vs| vs.pop()),
        }
    }

    /// The datasets with a recorded version (of `zone` only, when given), by name.
    ///
    /// # Errors
    /// When the query fails.
    pub fn versioned_datasets(&self, zone: Option<&str>) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT DISTINCT name FROM dataset_versions WHERE ?1 IS NULL \
             OR substr(name, 1, length(?1) + 1) = ?1 || '.' ORDER BY name",
        )?;
        let names = stmt
            .query_map(params![zone], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(names)
    }

    /// Every recorded version of `name`, oldest first.
    ///
    /// # Errors
    /// When the query fails.
    pub fn dataset_versions(&self, name: &str) -> Result<Vec<DatasetVersion>> {
        self.query_versions("name = ?1", params![name])
    }

    fn query_versions(
        &self,
        condition: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<DatasetVersion>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT name, version, run_id, operation, rows, schema_json, inputs_json \
             FROM dataset_versions WHERE {condition} ORDER BY version"
        ))?;
        let rows = stmt
            .query_map(args, |r| {
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
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(mut v, inputs)| {
                v.inputs = serde_json::from_str(&inputs)?;
                Ok(v)
            })
            .collect()
    }

    /// The landing objects whose rows version `version` of the formatted table `table` was
    /// built from, in ingestion order: those the ledger places in that version or an
    /// earlier one, and those the archived ledger placed there before a rebuild or a
    /// reprocess replaced their lines, if that was after the version was recorded.
    ///
    /// # Errors
    /// When the query fails.
    pub fn table_version_objects(&self, table: &str, version: i64) -> Result<Vec<LandingObject>> {
        let recorded = self.recorded_at(&format!("formatted.{table}"), version)?;
        self.query_objects(
            &format!(
                "SELECT {OBJECT_COLUMNS} FROM landing_objects WHERE object_id IN (\
                 SELECT object_id FROM ledger WHERE table_name = ?1 AND delta_version <= ?2 \
                 UNION SELECT object_id FROM ledger_archive WHERE table_name = ?1 \
                 AND delta_version <= ?2 AND archived_at > ?3) ORDER BY seq"
            ),
            params![table, version, recorded],
        )
    }

    /// The landing objects whose rejected rows version `version` of the quarantine of
    /// `table` holds, in ingestion order: those with quarantined rows in the ledger (or in
    /// the archived ledger, archived after the version was recorded) up to the highest
    /// landing sequence number, per source, that the quarantine's versions since its last
    /// rebuild committed (their `landing.<source>` input). Quarantine versions are not the
    /// table's, so the ledger's Delta versions cannot place them.
    ///
    /// # Errors
    /// When the query fails.
    pub fn quarantine_version_objects(
        &self,
        table: &str,
        version: i64,
    ) -> Result<Vec<LandingObject>> {
        let name = format!("quarantine.{table}");
        let mut high_water: BTreeMap<String, i64> = BTreeMap::new();
        for v in self.dataset_versions(&name)? {
            if v.version > version {
                break;
            }
            if v.operation == "rebuild" {
                high_water.clear();
            }
            for (input, seq) in &v.inputs {
                if let Some(source) = input.strip_prefix("landing.") {
                    let hw = high_water.entry(source.to_string()).or_insert(*seq);
                    *hw = (*hw).max(*seq);
                }
            }
        }
        let recorded = self.recorded_at(&name, version)?;
        let mut objects = Vec::new();
        for (source, seq) in high_water {
            objects.extend(self.query_objects(
                &format!(
                    "SELECT {OBJECT_COLUMNS} FROM landing_objects WHERE source = ?2 \
                     AND seq <= ?3 AND object_id IN (\
                     SELECT object_id FROM ledger WHERE table_name = ?1 AND rows_quarantined > 0 \
                     UNION SELECT object_id FROM ledger_archive WHERE table_name = ?1 \
                     AND rows_quarantined > 0 AND archived_at > ?4)"
                ),
                params![table, source, seq, recorded],
            )?);
        }
        objects.sort_by_key(|o| o.seq);
        Ok(objects)
    }

    /// When the latest recorded version of `dataset` up to `version` was recorded (empty
    /// when none is: then every archived line is older than nothing).
    fn recorded_at(&self, dataset: &str, version: i64) -> Result<String> {
        let conn = self.conn();
        Ok(conn.query_row(
            "SELECT coalesce(max(created_at), '') FROM dataset_versions \
             WHERE name = ?1 AND version <= ?2",
            params![dataset, version],
            |r| r.get(0),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::datasets::DatasetVersion;

    /// Registers the dataset a version belongs to (versions refer to it).
    fn register(catalog: &Catalog, name: &str) {
        catalog
            .upsert_dataset(&crate::datasets::Dataset {
                name: name.into(),
                zone: name.split('.').next().unwrap().into(),
                location: name.replace('.', "/"),
                format: "delta".into(),
                description: None,
            })
            .unwrap();
    }

    fn version(name: &str, v: i64, inputs: &[(&str, i64)]) -> DatasetVersion {
        DatasetVersion {
            name: name.into(),
            version: v,
            run_id: format!("run{v}"),
            operation: "overwrite".into(),
            rows: 1,
            schema_json: "{}".into(),
            inputs: inputs
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    fn edge(out: &str, dataset: &str, column: &str, kind: LineageKind) -> LineageEdge {
        LineageEdge {
            output_column: out.into(),
            input_dataset: dataset.into(),
            input_column: column.into(),
            kind,
        }
    }

    #[test]
    fn a_versions_lineage_is_written_once_and_users_are_read_at_their_latest_version() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("keel.db")).unwrap();
        register(&catalog, "exploitation.daily");
        let first = [
            edge("kwh", "formatted.readings", "kwh", LineageKind::Aggregation),
            edge(ROWS, "formatted.readings", "day", LineageKind::Filter),
        ];
        catalog
            .record_model_version(
                "daily",
                &version("exploitation.daily", 0, &[("formatted.readings", 3)]),
                &first,
            )
            .unwrap();
        // Recording the same version again (a retried build) changes nothing.
        catalog
            .record_model_version(
                "daily",
                &version("exploitation.daily", 0, &[("formatted.readings", 4)]),
                &[edge("other", "formatted.x", "y", LineageKind::Identity)],
            )
            .unwrap();
        let v0 = catalog.column_lineage("daily", 0).unwrap();
        assert_eq!(
            v0.iter().map(|l| l.edge.clone()).collect::<Vec<_>>(),
            vec![first[1].clone(), first[0].clone()],
            "ordered by output column, `*` first"
        );
        let recorded = catalog
            .dataset_version("exploitation.daily", Some(0))
            .unwrap();
        assert_eq!(recorded.unwrap().inputs["formatted.readings"], 3);

        catalog
            .record_model_version(
                "daily",
                &version("exploitation.daily", 1, &[("formatted.readings", 5)]),
                &[edge(
                    "kwh",
                    "formatted.readings",
                    "kwh_total",
                    LineageKind::Identity,
                )],
            )
            .unwrap();
        assert!(
            catalog
                .column_users("formatted.readings", "kwh")
                .unwrap()
                .is_empty()
        );
        let users = catalog
            .column_users("formatted.readings", "kwh_total")
            .unwrap();
        assert_eq!(users.len(), 1);
        assert_eq!(
            (users[0].model.as_str(), users[0].model_version),
            ("daily", 1)
        );
        assert_eq!(catalog.column_lineage("daily", 0).unwrap(), v0);
        assert_eq!(
            catalog
                .dataset_versions("exploitation.daily")
                .unwrap()
                .iter()
                .map(|v| v.version)
                .collect::<Vec<_>>(),
            [0, 1]
        );
        assert!(catalog.has_column_lineage("daily", 1).unwrap());
        assert!(!catalog.has_column_lineage("daily", 2).unwrap());
    }

    #[test]
    fn kinds_read_back_as_written() {
        for k in LineageKind::ALL {
            assert_eq!(k.as_str().parse::<LineageKind>().unwrap(), k);
        }
        assert!("sideways".parse::<LineageKind>().is_err());
    }
}
