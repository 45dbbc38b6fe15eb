//! Running the `keel` binary and reading its output.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `keel --project DIR ARGS...`. The weather archive's address comes from the
/// project's `.env` only, never from the environment the tests run in.
pub fn keel(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("--project")
        .arg(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove(keel_example::weather_api::ENV_VAR)
        .output()
        .expect("run keel")
}

/// Runs keel and asserts it succeeded; returns stdout.
pub fn keel_ok(dir: &Path, args: &[&str]) -> String {
    let out = keel(dir, args);
    assert!(
        out.status.success(),
        "keel {args:?} failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a query with `keel sql --format csv` and returns the rows (header dropped).
pub fn sql_rows(dir: &Path, query: &str) -> Vec<Vec<String>> {
    let out = keel_ok(dir, &["sql", query, "--format", "csv"]);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(out.as_bytes());
    reader
        .records()
        .map(|r| r.expect("csv row").iter().map(str::to_string).collect())
        .collect()
}

/// The single integer a query returns.
pub fn sql_i64(dir: &Path, query: &str) -> i64 {
    let rows = sql_rows(dir, query);
    assert_eq!(rows.len(), 1, "{query} returned {rows:?}");
    rows[0][0]
        .parse()
        .unwrap_or_else(|e| panic!("{query} returned {rows:?}: {e}"))
}

/// The number of commits in a Delta table's log (its latest version + 1).
pub fn delta_commits(table: &Path) -> usize {
    std::fs::read_dir(table.join("_delta_log"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                .count()
        })
        .unwrap_or(0)
}

/// Runs `python -c script args...`, asserts it succeeded, and returns its stdout.
pub fn python_stdout(python: &str, script: &str, args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(python)
        .args(["-c", script])
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `keel COMMAND` in `dir` exits 2 with an error naming `file` and `key`.
pub fn expect_error(dir: &Path, command: &str, file: &str, key: &str) {
    let out = keel(dir, &[command]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(file),
        "error does not name `{file}`:\n{stderr}"
    );
    assert!(
        stderr.contains(key),
        "error does not name `{key}`:\n{stderr}"
    );
}
