//! `keel sql "<query>"`: query the zones' tables and the catalog.

use keel_core::Project;

use crate::cli::SqlArgs;
use crate::output;

/// Runs one query and prints its result on stdout.
///
/// # Errors
/// When the query does not plan or fails.
pub async fn sql(project: &Project, args: &SqlArgs) -> anyhow::Result<u8> {
    let session = super::open_session(project).await?;
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
