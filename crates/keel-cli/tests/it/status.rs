//! `keel init` scaffolds loadable projects; `keel status` reports on a run project.

use keel_testkit::ExampleProject;

use crate::support::{keel, keel_ok};

#[test]
fn init_scaffolds_an_empty_project_and_refuses_to_overwrite_one() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("p");
    keel_ok(temp.path(), &["init", dir.to_str().unwrap()]);
    let out = keel_ok(&dir, &["run"]);
    assert!(out.contains("nothing to do"), "{out}");
    let again = keel(temp.path(), &["init", dir.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a keel project"));
    let unknown = keel(
        temp.path(),
        &["init", "elsewhere", "--example", "no-such-example"],
    );
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn status_shows_sources_zones_ledger_and_runs() {
    let project = ExampleProject::new(keel_example::GenerateOptions {
        buildings: 3,
        years: 1,
        ..Default::default()
    });
    let dir = project.dir();
    keel_ok(dir, &["run"]);
    let out = keel_ok(dir, &["status"]);
    for expected in [
        "meters",
        "formatted.readings",
        "exploitation.daily_consumption",
        "readings",
        "success",
    ] {
        assert!(out.contains(expected), "status lacks `{expected}`:\n{out}");
    }
    assert!(!out.contains("NO"), "an unbalanced ledger line:\n{out}");
}
