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
    (
        "models/consumption_anomalies.sql",
        include_str!("../../../examples/district-heating/models/consumption_anomalies.sql"),
    ),
    (
        "models/consumption_anomalies.toml",
        include_str!("../../../examples/district-heating/models/consumption_anomalies.toml"),
    ),
    (
        "models/entity_map.sql",
        include_str!("../../../examples/district-heating/models/entity_map.sql"),
    ),
    (
        "models/entity_map.toml",
        include_str!("../../../examples/district-heating/models/entity_map.toml"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::STATIONS;

    fn source(name: &str) -> toml::Table {
        let (_, text) = PROJECT_FILES
            .iter()
            .find(|(path, _)| *path == name)
            .unwrap();
        toml::from_str(text).unwrap()
    }

    /// The `http` source asks the archive for every simulated station, at the coordinates
    /// the recorded answers carry: a station missing here would silently have no weather.
    #[test]
    fn the_weather_source_requests_every_station_at_its_coordinates() {
        let weather = source("sources/weather.toml");
        let each = weather["collector"]["each"].as_array().unwrap();
        assert_eq!(each.len(), STATIONS.len());
        for (entry, station) in each.iter().zip(STATIONS) {
            assert_eq!(entry["station"].as_str(), Some(station.id));
            assert_eq!(entry["latitude"].as_float(), Some(station.latitude));
            assert_eq!(entry["longitude"].as_float(), Some(station.longitude));
        }
        assert_eq!(
            weather["collector"]["url"].as_str(),
            Some(format!("${{{}}}/v1/archive", crate::weather_api::ENV_VAR).as_str())
        );
    }

    #[test]
    fn the_customers_source_reads_the_generated_crm_table() {
        let customers = source("sources/customers.toml");
        assert_eq!(
            customers["collector"]["url"].as_str(),
            Some("sqlite://data/crm/crm.sqlite")
        );
        assert_eq!(customers["collector"]["table"].as_str(), Some("customers"));
        assert_eq!(customers["format"]["kind"].as_str(), Some("ndjson"));
    }
}
