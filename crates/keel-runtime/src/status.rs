//! What `keel status` shows: the zones' datasets, the sources and their freshness, the last
//! runs and the ledger totals, all read from the catalog.

use keel_catalog::Catalog;
use keel_catalog::ledger::LedgerTotals;
use keel_catalog::runs::RunRecord;
use keel_core::Project;

use crate::Result;

/// A dataset and its latest version.
#[derive(Debug, Clone)]
pub struct DatasetStatus {
    /// `zone.table`.
    pub name: String,
    /// Latest Delta version.
    pub version: Option<i64>,
    /// Rows at that version.
    pub rows: Option<i64>,
}

/// A source and its freshness.
#[derive(Debug, Clone)]
pub struct SourceStatus {
    /// Source name.
    pub name: String,
    /// Landing objects stored.
    pub objects: usize,
    /// Deliveries that repeated stored bytes.
    pub duplicate_deliveries: i64,
    /// Newest ingestion time.
    pub last_ingested_at: Option<String>,
}

/// The whole status.
#[derive(Debug, Clone)]
pub struct Status {
    /// Datasets by zone and name.
    pub datasets: Vec<DatasetStatus>,
    /// Sources.
    pub sources: Vec<SourceStatus>,
    /// Latest runs, newest first.
    pub runs: Vec<RunRecord>,
    /// Ledger totals by table.
    pub ledger: Vec<LedgerTotals>,
}

/// Reads the status of `project` from its catalog.
///
/// # Errors
/// When the catalog cannot be read.
pub fn status(project: &Project, last_runs: usize) -> Result<Status> {
    let catalog = Catalog::open(&project.lake.catalog_db())?;
    let mut datasets = Vec::new();
    for d in catalog.datasets()? {
        let latest = catalog.latest_version(&d.name)?;
        datasets.push(DatasetStatus {
            name: d.name,
            version: latest.as_ref().map(|v| v.version),
            rows: latest.map(|v| v.rows),
        });
    }
    let mut sources = Vec::new();
    for s in &project.sources {
        let objects = catalog.objects(&s.name)?;
        sources.push(SourceStatus {
            name: s.name.clone(),
            objects: objects.len(),
            duplicate_deliveries: catalog.duplicate_deliveries(&s.name)?,
            last_ingested_at: objects.iter().map(|o| o.ingested_at.clone()).max(),
        });
    }
    Ok(Status {
        datasets,
        sources,
        runs: catalog.runs(last_runs)?,
        ledger: catalog.ledger_totals()?,
    })
}
