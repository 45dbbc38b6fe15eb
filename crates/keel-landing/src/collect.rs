//! Collectors: one module per kind of source. Each writes what it takes into a temporal
//! batch and never parses content.

pub mod files;

/// What a collector did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectReport {
    /// Files (or messages, responses) seen at the source.
    pub seen: u64,
    /// Taken into temporal landing.
    pub taken: u64,
    /// Bytes taken.
    pub bytes: u64,
}
