//! `keel sql "<query>"`: query the zones' tables and the catalog.

use keel_catalog::Catalog;
use keel_core::Project;
use keel_engine::Session;

use crate::cli::SqlArgs;
use crate::output;

/// Runs one query and prints its result on stdout.
///
/// # Errors
/// When the query does not plan or fails.
pub async fn sql(project: &Project, args: &SqlArgs) -> anyhow::Result<u8> {
    let catalog = Catalog::open(&project.lake.catalog_db())?;
    let mut session = Session::open(
        &project.lake,
        Some(&catalog),
        project.spec.engine.batch_size,
    )
    .await?;
    keel_exploitation::register_views(project, &mut session).await?;
    let df = session
        .context()
        .sql(&args.query)
        .await
        .map_err(keel_engine::EngineError::from)?;
    let schema = df.schema().as_arrow().clone();
    let batches = df.collect().await.map_err(keel_engine::EngineError::from)?;
    output::print_batches(&schema, &batches, args.format)?;
    Ok(0)
}
