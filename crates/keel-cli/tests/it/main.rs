//! Integration tests of the `keel` binary, run as a user runs it.
//!
//! Table of contents:
//! - [`anomalies`]: the example's abnormal days, recomputed by polars.
//! - [`checks`]: model checks, their severities, history and failing rows.
//! - [`demo`]: `keel demo`, and independent readers of what it wrote.
//! - [`ledger`]: the ledger against what the generator corrupted, duplicated and re-sent.
//! - [`entities`]: entity resolution between the CRM and the device registry.
//! - [`export`]: `keel export` to Parquet, Arrow, CSV and `.npy`, read by numpy and polars.
//! - [`glossary`]: `keel glossary`, glossary terms and column tags in the catalog, malformed
//!   glossaries (issue 6).
//! - [`incremental`]: runs with nothing new, and with one new file.
//! - [`landing`]: files taken once complete, re-sends, versions, the loader killed at every
//!   crash point, the run lock and `run --watch`.
//! - [`lifecycle`]: `keel quarantine`, reprocessing after a fix, rebuilds, re-deliveries (A13).
//! - [`lineage`]: `keel lineage` on the example: impact analysis, upstream to landing
//!   objects, lineage of versions across a rebuild, rows traced to their raw lines (issue 6).
//! - [`messaging`]: the MQTT and NATS collectors killed mid-stream land every message once.
//! - [`project_errors`]: malformed project files.
//! - [`serve`]: `keel serve` with psql, psycopg and HTTPS clients (RELIABILITY D1-D6).
//! - [`status`]: `keel init` and `keel status`.

mod anomalies;
mod checks;
mod demo;
mod entities;
mod export;
mod glossary;
mod incremental;
mod landing;
mod ledger;
mod lifecycle;
mod lineage;
mod messaging;
mod project_errors;
mod serve;
mod status;
mod support;
