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
//! - [`lake`]: the paths of each zone inside the lake.
//! - [`error`]: [`CoreError`] and the [`ErrorKind`] every crate maps its errors onto.
//! - [`ids`]: run ids and content hashes.

pub mod error;
pub mod ids;
pub mod lake;
pub mod project;
pub mod spec;

pub use error::{CoreError, ErrorKind, Result};
pub use lake::Lake;
pub use project::Project;
