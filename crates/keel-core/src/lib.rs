//! The vocabulary every keel crate shares: the user's project (`keel.toml`, `sources/`,
//! `models/`, `glossary.toml`), the lake layout, identifiers and the error taxonomy.
//!
//! ```text
//!   project dir ──load──► Project { ProjectSpec, SourceSpec*, ModelSpec*, GlossarySpec }
//!                              │
//!                              └──► Lake (where each zone keeps its data)
//! ```
//!
//! Crate organisation:
//! - [`spec`]: what the user declared, deserialised and validated; no I/O beyond reading it.
//! - [`project`]: loading a project directory into specs, with errors naming file and key.
//! - [`glossary`]: domain metadata: glossary terms, column descriptions and tags, checked
//!   against the sources and models they name.
//! - [`lake`]: the paths of each zone inside the lake.
//! - [`error`]: [`CoreError`] and the [`ErrorKind`] every crate maps its errors onto.
//! - [`ids`]: run ids and content hashes.
//! - [`fault`]: crash points for fault-injection tests.
//! - [`secrets`]: `${ENV}` expansion and redaction of the values.
//! - [`schedule`]: when a source is due (interval or cron).

pub mod error;
pub mod fault;
pub mod glossary;
pub mod ids;
pub mod lake;
pub mod project;
pub mod schedule;
pub mod secrets;
pub mod spec;

pub use error::{CoreError, ErrorKind, Result};
pub use lake::Lake;
pub use project::Project;
