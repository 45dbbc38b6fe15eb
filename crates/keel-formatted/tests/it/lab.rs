//! A project on disk with sources declared inline, objects landed by hand (the collectors
//! are not under test in this crate) and formatting run through the library.

use std::path::Path;

use arrow::array::RecordBatch;
use arrow::datatypes::DataType;
use keel_catalog::Catalog;
use keel_catalog::manifest::NewObject;
use keel_core::Project;
use keel_engine::Session;
use keel_formatted::{FormatReport, format_source};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

/// A project directory with sources, a catalog, and objects landed by hand (the collectors
/// are not under test here).
pub struct Lab {
    _temp: TempDir,
    /// The project.
    pub project: Project,
    /// Its catalog.
    pub catalog: Catalog,
}

impl Lab {
    /// A project whose `sources/NAME.toml` are `sources`; `batch_size` rows per batch.
    pub fn new(sources: &[(&str, &str)], batch_size: usize) -> Lab {
        let temp = tempfile::tempdir().unwrap();
        Lab::write(temp.path(), sources, batch_size);
        Lab::open(temp)
    }

    /// A project whose `[engine]` table holds `engine` (TOML lines).
    pub fn with_engine(sources: &[(&str, &str)], engine: &str) -> Lab {
        let temp = tempfile::tempdir().unwrap();
        Lab::write_with(temp.path(), sources, engine);
        Lab::open(temp)
    }

    pub fn write(dir: &Path, sources: &[(&str, &str)], batch_size: usize) {
        Lab::write_with(dir, sources, &format!("batch_size = {batch_size}"));
    }

    fn write_with(dir: &Path, sources: &[(&str, &str)], engine: &str) {
        std::fs::write(
            dir.join("keel.toml"),
            format!("name = \"formats\"\n[engine]\n{engine}\n"),
        )
        .unwrap();
        std::fs::create_dir_all(dir.join("sources")).unwrap();
        std::fs::create_dir_all(dir.join("inbox")).unwrap();
        for (name, text) in sources {
            std::fs::write(dir.join(format!("sources/{name}.toml")), text).unwrap();
        }
    }

    pub fn open(temp: TempDir) -> Lab {
        let project = Project::load(temp.path(), None).expect("project");
        std::fs::create_dir_all(project.lake.catalog_db().parent().unwrap()).unwrap();
        let catalog = Catalog::open(&project.lake.catalog_db()).expect("catalog");
        Lab {
            _temp: temp,
            project,
            catalog,
        }
    }

    /// Stores `bytes` as a landing object of `source` delivered at `original_path`.
    pub fn land(&self, source: &str, original_path: &str, bytes: &[u8]) -> String {
        let sha = hex::encode(Sha256::digest(bytes));
        let relative = format!("landing/persistent/{source}/{sha}");
        let path = self.project.lake.root().join(&relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        let name = original_path.rsplit('/').next().unwrap().to_string();
        self.catalog
            .record_object(
                &NewObject {
                    source: source.into(),
                    original_name: name,
                    original_path: original_path.into(),
                    sha256: sha,
                    bytes: bytes.len() as i64,
                    ingested_at: "2024-03-01T00:00:00Z".into(),
                    persistent_path: relative,
                    collector: serde_json::Value::Null,
                },
                "run-land",
            )
            .expect("record object")
            .object_id
    }

    pub async fn format(&self, source: &str) -> FormatReport {
        let source = self.project.source(source).expect("source");
        let report = format_source(&self.project, source, &self.catalog, "run-fmt", &|| {})
            .await
            .expect("format");
        assert_eq!(
            report.rows_read,
            report.rows_written + report.rows_quarantined + report.rows_duplicate,
            "the ledger identity: {report:?}"
        );
        assert!(
            self.catalog.ledger_violations().unwrap().is_empty(),
            "every ledger line balances"
        );
        report
    }

    /// The rows of a query, each column rendered as text.
    pub async fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        let session = Session::open(&self.project.lake, Some(&self.catalog), 1024)
            .await
            .unwrap();
        let batches = session.sql(sql).await.unwrap();
        text_rows(&batches)
    }

    /// The Arrow types of a formatted table's columns.
    pub async fn types(&self, table: &str) -> Vec<(String, DataType)> {
        let session = Session::open(&self.project.lake, None, 1024).await.unwrap();
        let batches = session
            .sql(&format!("SELECT * FROM formatted.{table} LIMIT 1"))
            .await
            .unwrap();
        let schema = batches.first().map(|b| b.schema()).expect("a row");
        schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect()
    }
}

/// Query results with every column rendered as text (`NULL` for nulls).
pub fn text_rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for b in batches {
        let formatters: Vec<_> = b
            .columns()
            .iter()
            .map(|c| {
                arrow::util::display::ArrayFormatter::try_new(
                    c.as_ref(),
                    &arrow::util::display::FormatOptions::default().with_null("NULL"),
                )
                .unwrap()
            })
            .collect();
        for r in 0..b.num_rows() {
            out.push(formatters.iter().map(|f| f.value(r).to_string()).collect());
        }
    }
    out
}
