//! The district-heating example of keel: a deterministic generator of the raw data a Polish
//! district-heating company receives, so the whole backbone runs on a fresh machine, and a
//! replay of the weather archive API it collects weather from.
//!
//! The company measures the daily thermal energy of its customers' buildings with heat meters
//! from three firmware families; each meter sends one text file per month. Weather comes from
//! an Open-Meteo-like archive API, the device registry is a CSV export, and the CRM is a
//! database; the registry and the CRM describe the buildings, each in its own spelling. The
//! same [`GenerateOptions`] always give byte-identical files, and [`Truth`] says what was put
//! in them: counts, faulty lines, re-sends, corrections.
//!
//! ```text
//!  GenerateOptions ─► world ─────┬─► weather ──────────► data/recorded/weather-archive/*.json
//!   seed, size        period,    │                        └─► weather_api (GET /v1/archive)
//!                     stations,  ├─► meters ► dialects ► data/inbox/meters/<fw>/<delivery>/*.csv
//!                     buildings  ├─► registry ─────────► data/inbox/registry/devices.csv
//!                                │                       data/crm/crm.sqlite (table customers)
//!                                └─► Truth ────────────► data/generator_truth.json
//! ```
//!
//! # Crate organization
//! - `generate`: options, orchestration (devices in parallel), the truth types
//! - `world`: the period, the five weather stations, the buildings and their meters
//! - `weather`: daily weather per station and its monthly Open-Meteo-shaped recorded answers
//! - [`weather_api`]: the HTTP server that replays the recorded answers as the archive API
//! - `meters`: one meter's readings, outages, faults, month files and re-sends
//! - `dialects`: the `hm1`, `pl2` (Windows-1250) and `mx3` (MWh) firmware writers
//! - `registry`: the device registry and the CRM database, with the CRM's spelling variants
//! - `names`: Polish names, streets and the ways clerks misspell them
//!
//! Randomness comes from ChaCha8 streams keyed by (seed, concern, index): a device's files do
//! not depend on how many devices there are or on which thread wrote them.

use std::path::PathBuf;

mod dialects;
mod generate;
mod meters;
mod names;
mod project;
mod registry;
mod weather;
pub mod weather_api;
mod world;

pub use generate::{
    CorrectedReading, FileTruth, GenerateOptions, MeterTruth, ReadingsCsv, Truth, WeatherTruth,
    generate, generate_extra_month, write_readings_csv,
};
pub use project::{EXAMPLE_NAME, PROJECT_FILES, write_project};

/// Everything that can go wrong while generating or serving the example data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExampleError {
    /// The caller's options are out of range.
    #[error("invalid generator options: {0}")]
    InvalidOptions(String),
    /// A file could not be written; `fs_err` puts the path in the message.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("failed to write CSV `{}`", path.display())]
    Csv { path: PathBuf, source: csv::Error },
    #[error("failed to serialise JSON for `{}`", path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// The CRM database could not be written.
    #[error("failed to write the SQLite database `{}`", path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// The recorded weather answers cannot be served.
    #[error("recorded weather `{}`: {message}", path.display())]
    Recorded { path: PathBuf, message: String },
    /// The weather replay server cannot listen on its address.
    #[error("cannot listen on `{addr}`")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    /// A broken invariant of the generator itself.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

/// The crate's result type.
pub type Result<T, E = ExampleError> = std::result::Result<T, E>;
