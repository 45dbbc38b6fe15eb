//! Runs are incremental: nothing new means no work and no new Delta version; one new file
//! means exactly that file's rows.

use keel_testkit::ExampleProject;

use crate::support::{delta_commits, keel_ok, sql_i64};

const TABLES: &[&str] = &[
    "lake/formatted/readings",
    "lake/formatted/weather",
    "lake/formatted/devices",
    "lake/formatted/customers",
    "lake/formatted/_quarantine/readings",
    "lake/exploitation/daily_consumption",
    "lake/exploitation/monthly_consumption",
];

#[test]
fn a_second_run_with_nothing_new_does_no_work() {
    let project = ExampleProject::small();
    let dir = project.dir();
    keel_ok(dir, &["run"]);
    let before: Vec<usize> = TABLES.iter().map(|t| delta_commits(&dir.join(t))).collect();
    assert!(before.iter().all(|&c| c > 0), "{before:?}");
    let out = keel_ok(dir, &["run"]);
    assert!(out.contains("nothing to do"), "{out}");
    let after: Vec<usize> = TABLES.iter().map(|t| delta_commits(&dir.join(t))).collect();
    assert_eq!(
        before, after,
        "a run with nothing new changed a Delta table"
    );
}

#[test]
fn one_new_device_file_is_the_only_work_of_the_next_run() {
    let project = ExampleProject::small();
    let dir = project.dir();
    keel_ok(dir, &["run"]);
    let readings = sql_i64(dir, "SELECT count(*) FROM formatted.readings");
    let (_path, rows) =
        keel_example::generate_extra_month(dir, &project.options, 3).expect("extra month");
    keel_ok(dir, &["run"]);
    let objects = sql_i64(
        dir,
        "SELECT objects_in FROM keel_catalog.steps WHERE stage = 'format' \
         AND target LIKE 'meters%' AND run_id = (SELECT max(run_id) FROM keel_catalog.runs)",
    );
    assert_eq!(objects, 1, "the run should read exactly the new object");
    let after = sql_i64(dir, "SELECT count(*) FROM formatted.readings");
    assert_eq!(after - readings, rows as i64);
    let weather_objects = sql_i64(
        dir,
        "SELECT objects_in FROM keel_catalog.steps WHERE stage = 'format' \
         AND target LIKE 'weather%' AND run_id = (SELECT max(run_id) FROM keel_catalog.runs)",
    );
    assert_eq!(weather_objects, 0);
}
