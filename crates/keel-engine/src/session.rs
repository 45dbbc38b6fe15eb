//! The DataFusion session: one per command, with the lake's tables registered by zone
//! (`formatted.<table>`, `quarantine.<table>`, `flags.<table>` and `valid.<table>` (the
//! formatted rows without those flagged invalid), `exploitation.<model>`, `checks.<model>`
//! (the rows that failed its checks), `keel_catalog.<table>`) and `information_schema` enabled so tools can list them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider};
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use keel_catalog::Catalog;
use keel_core::Lake;

use crate::{Result, catalog_tables, delta};

/// The zones a session exposes, in the order `information_schema` lists them (the zones a
/// `keel serve` login may be given are the same).
pub use keel_core::spec::SERVE_ZONES as ZONES;

/// A DataFusion session over a lake.
pub struct Session {
    ctx: SessionContext,
    versions: BTreeMap<String, i64>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("versions", &self.versions)
            .finish()
    }
}

impl Session {
    /// A session with the zones' schemas, empty.
    pub fn new(batch_size: usize) -> Session {
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_batch_size(batch_size)
            .with_default_catalog_and_schema("keel", "exploitation");
        let ctx = SessionContext::new_with_config(config);
        if let Some(catalog) = ctx.catalog("keel") {
            for zone in ZONES {
                let _ = catalog.register_schema(zone, Arc::new(MemorySchemaProvider::new()));
            }
        }
        Session {
            ctx,
            versions: BTreeMap::new(),
        }
    }

    /// A session with every Delta table of the lake and the catalog's tables registered.
    ///
    /// # Errors
    /// When a table cannot be opened.
    pub async fn open(
        lake: &Lake,
        catalog: Option<&Catalog>,
        batch_size: usize,
    ) -> Result<Session> {
        let mut session = Session::new(batch_size);
        let formatted = lake.root().join("formatted");
        for (name, path) in delta_tables_in(&formatted) {
            session.register_delta("formatted", &name, &path).await?;
        }
        for (name, path) in delta_tables_in(&formatted.join("_quarantine")) {
            session.register_delta("quarantine", &name, &path).await?;
        }
        for (name, path) in delta_tables_in(&formatted.join("_flags")) {
            if session
                .register_delta("flags", &name, &path)
                .await?
                .is_some()
                && session.versions.contains_key(&format!("formatted.{name}"))
            {
                session.register_valid(&name).await?;
            }
        }
        let exploitation = lake.root().join("exploitation");
        for (name, path) in delta_tables_in(&exploitation) {
            session.register_delta("exploitation", &name, &path).await?;
        }
        for (name, path) in delta_tables_in(&exploitation.join("_checks")) {
            session.register_delta("checks", &name, &path).await?;
        }
        if let Some(catalog) = catalog {
            session.register_catalog(catalog)?;
        }
        Ok(session)
    }

    /// The DataFusion context.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The Delta version each registered table was read at, by `zone.table`.
    pub fn versions(&self) -> &BTreeMap<String, i64> {
        &self.versions
    }

    /// Registers (or re-registers at its latest version) the Delta table at `path` as
    /// `zone.name`; returns its version, or `None` when no table is there.
    ///
    /// # Errors
    /// When the table cannot be opened.
    pub async fn register_delta(
        &mut self,
        zone: &str,
        name: &str,
        path: &Path,
    ) -> Result<Option<i64>> {
        let Some(table) = delta::open(path).await? else {
            return Ok(None);
        };
        let version = table.version().map(|v| v as i64).unwrap_or(0);
        let provider = delta::provider(&table, path, &self.ctx.state()).await?;
        let schema = self.schema(zone);
        let _ = schema.deregister_table(name)?;
        schema.register_table(name.to_string(), provider)?;
        self.versions.insert(format!("{zone}.{name}"), version);
        Ok(Some(version))
    }

    /// Registers the query `sql` as the view `zone.name` (replacing what had that name).
    ///
    /// # Errors
    /// When the query does not plan.
    pub async fn register_view(&mut self, zone: &str, name: &str, sql: &str) -> Result<()> {
        let view = self.ctx.sql(sql).await?.into_view();
        let schema = self.schema(zone);
        let _ = schema.deregister_table(name)?;
        schema.register_table(name.to_string(), view)?;
        Ok(())
    }

    /// Registers `valid.<name>`: the rows of `formatted.<name>` that `flags.<name>` does not
    /// flag invalid (a view, read at the versions registered).
    async fn register_valid(&mut self, name: &str) -> Result<()> {
        let sql = format!(
            "SELECT t.* FROM keel.formatted.\"{name}\" t WHERE NOT EXISTS (\
             SELECT 1 FROM keel.flags.\"{name}\" f WHERE f.severity = 'invalid' \
             AND f._keel_object = t._keel_object AND f._keel_line = t._keel_line)"
        );
        self.register_view("valid", name, &sql).await
    }

    /// Registers the catalog's tables under `keel_catalog`.
    ///
    /// # Errors
    /// When the catalog cannot be read.
    pub fn register_catalog(&mut self, catalog: &Catalog) -> Result<()> {
        let schema = self.schema("keel_catalog");
        for name in catalog.table_names()? {
            let batch = catalog_tables::catalog_table(catalog, &name)?;
            let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
            let _ = schema.deregister_table(&name)?;
            schema.register_table(name, Arc::new(table))?;
        }
        Ok(())
    }

    /// Runs one SQL statement and collects its result.
    ///
    /// # Errors
    /// When the statement does not plan or fails to run.
    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        Ok(self.ctx.sql(sql).await?.collect().await?)
    }

    fn schema(&self, zone: &str) -> Arc<dyn SchemaProvider> {
        self.ctx
            .catalog("keel")
            .and_then(|c| c.schema(zone))
            .unwrap_or_else(|| Arc::new(MemorySchemaProvider::new()))
    }
}

/// Sub-folders of `dir` that hold a Delta table, by name.
fn delta_tables_in(dir: &Path) -> Vec<(String, std::path::PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut tables: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("_delta_log").is_dir())
        .filter_map(|p| {
            let name = p.file_name()?.to_string_lossy().into_owned();
            (!name.starts_with('_')).then_some((name, p))
        })
        .collect();
    tables.sort();
    tables
}
