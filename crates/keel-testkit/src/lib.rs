//! Test helpers for keel: temporary example projects with generated data and their weather
//! archive replay server, the path to the shared real data, and checks for the local
//! services tests talk to.
//!
//! Tests that need something absent fail in CI (`CI=true`) and skip with a clear message
//! elsewhere.

use std::path::{Path, PathBuf};

use keel_example::weather_api::{self, WeatherServer};
use keel_example::{GenerateOptions, Truth};
use tempfile::TempDir;

/// A temporary copy of the example project with generated data, and the replay of the
/// weather archive API its `http` source collects from, running for the project's lifetime.
#[derive(Debug)]
pub struct ExampleProject {
    /// The weather archive replay (on a thread and runtime of its own); the project's `.env`
    /// points `KEEL_WEATHER_API` at it. Declared first so that it stops before the directory
    /// goes.
    pub weather_api: WeatherServer,
    /// Keeps the directory alive.
    pub temp: TempDir,
    /// The generator's account of what it wrote.
    pub truth: Truth,
    /// The options used.
    pub options: GenerateOptions,
}

/// A project directory with generated data, not served yet.
struct Generated {
    temp: TempDir,
    truth: Truth,
    options: GenerateOptions,
}

impl Generated {
    fn new(options: GenerateOptions) -> Generated {
        let temp = tempfile::tempdir().expect("temp dir");
        keel_example::write_project(temp.path()).expect("write example project");
        let truth = keel_example::generate(temp.path(), &options).expect("generate data");
        Generated {
            temp,
            truth,
            options,
        }
    }

    fn serve(self) -> ExampleProject {
        let weather_api = weather_api::serve_project(self.temp.path(), "127.0.0.1:0")
            .expect("start the weather archive replay");
        ExampleProject {
            weather_api,
            temp: self.temp,
            truth: self.truth,
            options: self.options,
        }
    }
}

impl ExampleProject {
    /// Writes the example project, generates its data with `options`, starts the weather
    /// archive replay and writes its address into the project's `.env`.
    ///
    /// # Panics
    /// When writing fails or the server cannot start (tests only).
    pub fn new(options: GenerateOptions) -> ExampleProject {
        Generated::new(options).serve()
    }

    /// A small data set, fast enough for every test run, that holds every kind of fault:
    /// malformed, negative and duplicated rows, and identical and corrected re-sends. The
    /// generator's rates are per file, so the first seed whose data has them all is used.
    ///
    /// # Panics
    /// When no seed below 500 gives such a data set.
    pub fn small() -> ExampleProject {
        (1..500)
            .map(|seed| {
                Generated::new(GenerateOptions {
                    seed,
                    buildings: 12,
                    years: 1,
                    ..GenerateOptions::default()
                })
            })
            .find(|p| {
                let m = &p.truth.meters;
                m.resent_corrected > 0
                    && m.resent_identical > 0
                    && m.malformed > 0
                    && m.negative > 0
                    && m.duplicate_rows > 0
            })
            .expect("a seed below 500 with every kind of fault")
            .serve()
    }

    /// The project directory.
    pub fn dir(&self) -> &Path {
        self.temp.path()
    }
}

/// Whether tests run in CI, where a missing dependency is a failure, not a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Skips (returns `false`) with a message outside CI, fails in CI, when `available` is false.
///
/// # Panics
/// In CI when `available` is false.
pub fn require(available: bool, what: &str) -> bool {
    if available {
        return true;
    }
    assert!(!in_ci(), "{what} is required in CI but is not available");
    eprintln!("skipping: {what} is not available here");
    false
}

/// `../shared/data/real` next to the workspace, when present.
pub fn real_data_dir() -> Option<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = workspace.join("../shared/data/real");
    dir.is_dir().then(|| dir.canonicalize().unwrap_or(dir))
}

/// A Python interpreter that can import `module`, if there is one.
pub fn python_with(module: &str) -> Option<String> {
    for python in ["python3", "python"] {
        let ok = std::process::Command::new(python)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(python.to_string());
        }
    }
    None
}
