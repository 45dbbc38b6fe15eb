//! Model checks from the command line: an `error` check that fails stops the models that
//! read its model and makes `keel run` exit 1; a `warn` check does not; the failing rows of
//! both, and every run's results, stay queryable.

use keel_testkit::ExampleProject;

use crate::support::{keel, keel_ok, sql_i64, sql_rows};

/// Adds `check` (a TOML `[[checks]]` entry) to `daily_consumption`.
fn add_check(dir: &std::path::Path, check: &str) {
    let path = dir.join("models/daily_consumption.toml");
    let mut spec = std::fs::read_to_string(&path).unwrap();
    spec.push('\n');
    spec.push_str(check);
    std::fs::write(path, spec).unwrap();
}

#[test]
fn error_checks_stop_dependents_and_warn_checks_do_not() {
    let project = ExampleProject::small();
    let dir = project.dir();
    // The example's own checks pass on its data.
    let out = keel_ok(dir, &["run"]);
    assert!(!out.contains("checks fail"), "{out}");

    // A warn check that fails on the warmest days: the run goes on and succeeds.
    add_check(
        dir,
        "[[checks]]\nname = \"mild\"\nkind = \"range\"\ncolumn = \"temperature_mean_c\"\n\
         max = 10\nseverity = \"warn\"\n",
    );
    let out = keel_ok(dir, &["build"]);
    assert!(out.contains("warn checks fail: mild"), "{out}");
    let warm = sql_i64(
        dir,
        "SELECT count(*) FROM exploitation.daily_consumption WHERE temperature_mean_c > 10",
    );
    assert!(warm > 0);
    let stored = sql_i64(
        dir,
        "SELECT count(*) FROM checks.daily_consumption WHERE _keel_check = 'mild'",
    );
    assert_eq!(stored, warm.min(10_000));

    // An error check that fails: `keel run` exits 1, monthly_consumption is not built.
    add_check(
        dir,
        "[[checks]]\nname = \"small_days\"\nkind = \"expression\"\n\
         expression = \"consumption_kwh < 1\"\n",
    );
    let monthly_before = sql_i64(
        dir,
        "SELECT max(version) FROM keel_catalog.dataset_versions \
         WHERE name = 'exploitation.monthly_consumption'",
    );
    let out = keel(dir, &["run"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("error checks fail: small_days"), "{stdout}");
    assert!(
        stdout.contains("upstream model `daily_consumption` failed"),
        "{stdout}"
    );
    let monthly_after = sql_i64(
        dir,
        "SELECT max(version) FROM keel_catalog.dataset_versions \
         WHERE name = 'exploitation.monthly_consumption'",
    );
    assert_eq!(
        monthly_before, monthly_after,
        "the dependent must not be rebuilt"
    );

    // `keel check` runs them again on the current version: still failing, exit 1.
    let out = keel(dir, &["check", "--select", "daily_consumption"]);
    assert_eq!(out.status.code(), Some(1));

    // Both checks' failing rows are queryable, per run; the history keeps every run.
    let runs = sql_rows(
        dir,
        "SELECT _keel_check, count(DISTINCT _keel_run_id) FROM checks.daily_consumption \
         GROUP BY _keel_check ORDER BY _keel_check",
    );
    assert_eq!(
        runs,
        vec![
            vec!["mild".to_string(), "3".to_string()],
            vec!["small_days".to_string(), "2".to_string()],
        ],
        "mild failed in the build, the run and the check; small_days in the last two"
    );
    let history = keel_ok(
        dir,
        &[
            "check",
            "--history",
            "--select",
            "daily_consumption",
            "--format",
            "csv",
        ],
    );
    let small_days = history
        .lines()
        .filter(|l| l.contains(",small_days,"))
        .count();
    assert_eq!(small_days, 2, "{history}");
    assert!(history.contains(",fail,"), "{history}");
    assert!(
        history.lines().any(
            |l| l.contains(",not_null_building_id_reading_date_consumption_kwh,")
                && l.contains(",pass,")
        ),
        "{history}"
    );

    // --select builds only what it names.
    let out = keel(dir, &["build", "--select", "nope"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`nope` names no model"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
