//! The example project's files (keel.toml, sources, models, glossary), embedded in the
//! binary so that `keel demo` and `keel init --example district-heating` work anywhere.

use std::path::Path;

/// The name of the example.
pub const EXAMPLE_NAME: &str = "district-heating";

/// The example's files, by path relative to the project directory.
pub const PROJECT_FILES: &[(&str, &str)] = &[
    (
        "keel.toml",
        include_str!("../../../examples/district-heating/keel.toml"),
    ),
    (
        "glossary.toml",
        include_str!("../../../examples/district-heating/glossary.toml"),
    ),
    (
        "sources/meters.toml",
        include_str!("../../../examples/district-heating/sources/meters.toml"),
    ),
    (
        "sources/weather.toml",
        include_str!("../../../examples/district-heating/sources/weather.toml"),
    ),
    (
        "sources/devices.toml",
        include_str!("../../../examples/district-heating/sources/devices.toml"),
    ),
    (
        "sources/customers.toml",
        include_str!("../../../examples/district-heating/sources/customers.toml"),
    ),
    (
        "models/daily_consumption.sql",
        include_str!("../../../examples/district-heating/models/daily_consumption.sql"),
    ),
    (
        "models/daily_consumption.toml",
        include_str!("../../../examples/district-heating/models/daily_consumption.toml"),
    ),
    (
        "models/monthly_consumption.sql",
        include_str!("../../../examples/district-heating/models/monthly_consumption.sql"),
    ),
    (
        "models/monthly_consumption.toml",
        include_str!("../../../examples/district-heating/models/monthly_consumption.toml"),
    ),
];

/// Writes the example's project files into `dir` (creating it), leaving other files alone.
///
/// # Errors
/// When a file cannot be written.
pub fn write_project(dir: &Path) -> Result<(), crate::ExampleError> {
    for (relative, text) in PROJECT_FILES {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent)?;
        }
        fs_err::write(&path, text)?;
    }
    Ok(())
}
