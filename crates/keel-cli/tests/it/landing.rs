//! The landing zone through the binary: files taken only once complete, re-sends,
//! versions by name, the loader killed at every crash point, and one run at a time.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::support::{keel, keel_ok};

/// A project with one `files` source `drops` reading `inbox/*.csv`.
fn project(extra_collector: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("sources")).unwrap();
    std::fs::create_dir_all(p.join("inbox")).unwrap();
    std::fs::write(p.join("keel.toml"), "name = \"landing-test\"\n").unwrap();
    std::fs::write(
        p.join("sources/drops.toml"),
        format!(
            r#"
[collector]
kind = "files"
path = "inbox"
glob = "*.csv"
{extra_collector}

[format]
kind = "csv"

[[format.dialects]]
name = "plain"
[format.dialects.columns]
id = "id"
value = "value"

[[columns]]
name = "id"
type = "string"
required = true

[[columns]]
name = "value"
type = "float64"

[keys]
primary = ["id"]
"#
        ),
    )
    .unwrap();
    dir
}

fn write(dir: &Path, name: &str, body: &str) {
    std::fs::write(dir.join("inbox").join(name), body).unwrap();
}

fn versions(dir: &Path, name: &str) -> Vec<serde_json::Value> {
    let out = keel_ok(
        dir,
        &["landing", "versions", "drops", name, "--format", "json"],
    );
    serde_json::from_str(&out).unwrap()
}

#[test]
fn a_file_is_taken_only_once_complete() {
    let dir = project("stable_for = \"2s\"");
    let p = dir.path();
    // Still being written: the writer keeps it open and appends.
    let path = p.join("inbox/a.csv");
    let mut f = std::fs::File::create(&path).unwrap();
    use std::io::Write;
    f.write_all(b"id,value\n1,1.5\n").unwrap();
    f.flush().unwrap();
    let out = keel_ok(p, &["run"]);
    assert!(out.contains("not complete yet"), "{out}");
    assert!(versions(p, "a.csv").is_empty());
    f.write_all(b"2,2.5\n").unwrap();
    drop(f);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    keel_ok(p, &["run"]);
    let v = versions(p, "a.csv");
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["bytes"], 21, "the whole file landed: {v:?}");
}

#[test]
fn a_done_marker_announces_a_complete_file() {
    let dir = project("done_suffix = \".done\"");
    let p = dir.path();
    write(p, "b.csv", "id,value\n1,1\n");
    keel_ok(p, &["run"]);
    assert!(versions(p, "b.csv").is_empty());
    write(p, "b.csv.done", "");
    keel_ok(p, &["run"]);
    assert_eq!(versions(p, "b.csv").len(), 1);
    // The marker itself is never taken.
    assert!(versions(p, "b.csv.done").is_empty());
}

#[test]
fn identical_resends_are_duplicates_and_changed_ones_new_versions() {
    let dir = project("");
    let p = dir.path();
    write(p, "c.csv", "id,value\n1,1\n");
    keel_ok(p, &["run"]);
    // The same bytes again, under the same name (touched) and under another name.
    std::thread::sleep(std::time::Duration::from_millis(20));
    write(p, "c.csv", "id,value\n1,1\n");
    write(p, "c-copy.csv", "id,value\n1,1\n");
    keel_ok(p, &["run"]);
    assert_eq!(versions(p, "c.csv").len(), 1);
    assert!(versions(p, "c-copy.csv").is_empty());
    let dups = crate::support::sql_i64(
        p,
        "SELECT count(*) FROM keel_catalog.deliveries WHERE CAST(duplicate AS INT) = 1",
    );
    assert_eq!(dups, 2);
    // Changed bytes: a new version of the same name; both versions kept.
    write(p, "c.csv", "id,value\n1,2\n");
    keel_ok(p, &["run"]);
    let v = versions(p, "c.csv");
    assert_eq!(v.len(), 2);
    assert_eq!(
        (v[0]["version"].as_i64(), v[1]["version"].as_i64()),
        (Some(1), Some(2))
    );
    for o in &v {
        assert!(
            p.join("lake")
                .join(o["persistent_path"].as_str().unwrap())
                .is_file()
        );
    }
    assert_eq!(
        crate::support::sql_rows(p, "SELECT value FROM formatted.drops"),
        vec![vec!["2.0".to_string()]]
    );
}

/// The manifest, the deliveries and the stored objects, without what differs between two
/// equal runs (run ids, delivery times).
fn landing_state(p: &Path) -> (String, BTreeMap<String, String>) {
    let manifest = keel_ok(
        p,
        &[
            "sql",
            "SELECT object_id, original_name, version, sha256, bytes, persistent_path, seq \
             FROM keel_catalog.landing_objects ORDER BY seq",
            "--format",
            "csv",
        ],
    );
    let deliveries = keel_ok(
        p,
        &[
            "sql",
            "SELECT original_path, sha256, object_id, duplicate FROM keel_catalog.deliveries \
             ORDER BY original_path, duplicate",
            "--format",
            "csv",
        ],
    );
    let mut files = BTreeMap::new();
    let root = p.join("lake/landing");
    for e in walkdir::WalkDir::new(&root).sort_by_file_name() {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let rel = e.path().strip_prefix(&root).unwrap().display().to_string();
            let bytes = std::fs::read(e.path()).unwrap();
            files.insert(rel, format!("{}:{:x}", bytes.len(), fingerprint(&bytes)));
        }
    }
    (format!("{manifest}\n{deliveries}"), files)
}

/// A cheap content fingerprint (FNV-1a), enough to tell files apart in a test.
fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}

fn copy_dir(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let target = to.join(e.path().strip_prefix(from).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

#[test]
fn the_loader_killed_at_any_point_recovers_to_the_same_landing() {
    let dir = project("");
    let p = dir.path();
    // 24 files, 3 of them byte-identical to others (duplicate deliveries).
    for i in 0..24 {
        let body = format!("id,value\n{},{}\n", i % 21, i % 21);
        write(p, &format!("f{i:02}.csv"), &body);
    }
    keel_ok(p, &["collect"]);
    let collected = tempfile::tempdir().unwrap();
    copy_dir(p, collected.path());

    // The reference: an uninterrupted load.
    keel_ok(p, &["land"]);
    let reference = landing_state(p);
    assert!(reference.1.keys().all(|k| !k.starts_with("temporal/")));

    // 21 new objects → 21 renames + 3 points around the commit = 24 crash points.
    let mut crashed = 0;
    for point in 1..=24 {
        let run = tempfile::tempdir().unwrap();
        copy_dir(collected.path(), run.path());
        let out = Command::new(env!("CARGO_BIN_EXE_keel"))
            .args(["--project"])
            .arg(run.path())
            .arg("land")
            .env("KEEL_CRASH_AT", point.to_string())
            .output()
            .unwrap();
        if !out.status.success() {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(out.status.signal(), Some(6), "point {point}: {out:?}");
            crashed += 1;
        }
        // The rerun after the crash; a stale lock from the dead process must not block it.
        let rerun = keel(run.path(), &["land"]);
        assert!(rerun.status.success(), "point {point}: {rerun:?}");
        assert_eq!(
            landing_state(run.path()),
            reference,
            "after a crash at point {point}"
        );
    }
    assert!(crashed >= 20, "only {crashed} crash points were reached");
}

#[test]
fn a_second_concurrent_run_is_refused_with_a_clear_message() {
    let dir = project("");
    let p = dir.path();
    std::fs::create_dir_all(p.join("lake/_catalog")).unwrap();
    // Hold the project lock as a running `keel run` does.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(p.join("lake/_catalog/run.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    let out = keel(p, &["run"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another keel run holds this project"), "{err}");
    drop(lock);
    keel_ok(p, &["run"]);
}

#[test]
fn watch_runs_due_sources_until_told_to_stop() {
    let dir = project("");
    let p = dir.path();
    let source = p.join("sources/drops.toml");
    let text = std::fs::read_to_string(&source).unwrap();
    std::fs::write(&source, format!("schedule = \"1h\"\n{text}")).unwrap();
    write(p, "w.csv", "id,value\n1,1\n");
    let out = keel_ok(p, &["run", "--watch", "--tick", "100ms", "--max-runs", "1"]);
    assert!(out.contains("drops"), "{out}");
    assert_eq!(versions(p, "w.csv").len(), 1);
    // Collected a moment ago with an hourly schedule: not due, so a short watch runs nothing.
    let mut child = Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("--project")
        .arg(p)
        .args(["run", "--watch", "--tick", "100ms", "--max-runs", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert!(
        child.try_wait().unwrap().is_none(),
        "a run happened although nothing was due"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let runs = crate::support::sql_i64(p, "SELECT count(*) FROM keel_catalog.runs");
    assert_eq!(runs, 1);
}

#[test]
fn a_bad_schedule_names_the_file_and_key() {
    let dir = project("");
    let p = dir.path();
    let source = p.join("sources/drops.toml");
    let text = std::fs::read_to_string(&source).unwrap();
    std::fs::write(&source, format!("schedule = \"every tuesday\"\n{text}")).unwrap();
    let out = keel(p, &["run"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("drops.toml") && err.contains("schedule"),
        "{err}"
    );
}

#[test]
fn a_flipped_byte_in_the_raw_store_is_detected_on_read() {
    let dir = project("");
    let p = dir.path();
    write(p, "d.csv", "id,value\n1,1\n2,2\n");
    keel_ok(p, &["collect"]);
    keel_ok(p, &["land"]);
    let stored = &versions(p, "d.csv")[0];
    let path = p
        .join("lake")
        .join(stored["persistent_path"].as_str().unwrap());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[10] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let out = keel(p, &["format"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not match its sha256")
            && err.contains(stored["object_id"].as_str().unwrap()),
        "{err}"
    );
    // Nothing was formatted from the altered object.
    assert_eq!(
        crate::support::sql_i64(p, "SELECT count(*) FROM keel_catalog.ledger"),
        0
    );
}

/// `keel landing show`: an object's manifest facts, versions and ledger, and its detected
/// dialect: run on the spot before the object is formatted, stored by the formatter after
/// (issue 4).
#[test]
fn landing_show_tells_what_is_known_about_an_object() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("sources")).unwrap();
    std::fs::create_dir_all(p.join("inbox")).unwrap();
    std::fs::write(p.join("keel.toml"), "name = \"show-test\"\n").unwrap();
    std::fs::write(
        p.join("sources/meters.toml"),
        r#"
[collector]
kind = "files"
path = "inbox"
glob = "*.csv"

[format]
kind = "csv"

[[format.dialects]]
name = "export"
encoding = "auto"
delimiter = "auto"
decimal = "auto"
preamble_lines = "auto"
[format.dialects.columns]
id = "Meter"
value = "Energy kWh"

[[columns]]
name = "id"
type = "string"
required = true

[[columns]]
name = "value"
type = "float64"

[keys]
primary = ["id"]
"#,
    )
    .unwrap();
    // windows-1252 (`°`), a preamble, `;` and decimal commas, CRLF.
    let mut body = b"Exported by: Meter\xb0Tool\r\n\r\nMeter;Energy kWh;Read at\r\n".to_vec();
    for i in 0..5 {
        body.extend(format!("m{i};{i}23,5;2019-01-0{}\r\n", i + 1).as_bytes());
    }
    std::fs::write(p.join("inbox/export.csv"), &body).unwrap();
    keel_ok(p, &["collect"]);
    keel_ok(p, &["land"]);
    let object_id = versions_of(p, "meters", "export.csv")[0]["object_id"]
        .as_str()
        .unwrap()
        .to_string();

    let text = keel_ok(p, &["landing", "show", &object_id]);
    for part in [
        "original name   export.csv",
        "ledger: not yet formatted",
        "(not yet formatted)",
        "windows-1252",
        "delimiter       `;`",
        "preamble lines  2",
        "decimal         `,`",
        "CRLF",
    ] {
        assert!(text.contains(part), "`{part}` in:\n{text}");
    }
    let shown: serde_json::Value = serde_json::from_str(&keel_ok(
        p,
        &["landing", "show", &object_id, "--format", "json"],
    ))
    .unwrap();
    assert_eq!(shown["object_id"], object_id.as_str());
    assert_eq!(shown["bytes"], body.len());
    assert_eq!(shown["formatted"], false);
    assert_eq!(shown["versions"].as_array().unwrap().len(), 1);
    let detection = &shown["detection"][0];
    assert_eq!(detection["stored"], false);
    assert_eq!(detection["detected"]["delimiter"], ";");
    assert_eq!(detection["detected"]["preamble_lines"], 2);
    let columns = detection["detected"]["columns"].as_array().unwrap();
    assert_eq!(columns[2]["date_format"], "%Y-%m-%d", "{detection}");

    // Formatted, the object has a ledger line per table.
    keel_ok(p, &["format"]);
    let shown: serde_json::Value = serde_json::from_str(&keel_ok(
        p,
        &["landing", "show", &object_id, "--format", "json"],
    ))
    .unwrap();
    assert_eq!(shown["formatted"], true);
    assert_eq!(shown["ledger"][0]["table"], "meters");
    assert_eq!(shown["ledger"][0]["rows_read"], 5, "{shown}");
    assert_eq!(shown["ledger"][0]["rows_written"], 5, "{shown}");
    assert_eq!(shown["ledger"][0]["balances"], true);
    // ... and the detection the formatter stored for it.
    let detection = &shown["detection"][0];
    assert_eq!(detection["stored"], true, "{shown}");
    assert_eq!(detection["table"], "meters");
    assert_eq!(detection["detected"]["encoding"], "windows-1252");
    let text = keel_ok(p, &["landing", "show", &object_id]);
    assert!(text.contains("for `meters`"), "{text}");

    // An unknown object is the user's error: exit code 2 and a message naming it.
    let out = keel(p, &["landing", "show", "meters/0123456789abcdef"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no landing object `meters/0123456789abcdef`"),
        "{stderr}"
    );
}

fn versions_of(dir: &Path, source: &str, name: &str) -> Vec<serde_json::Value> {
    let out = keel_ok(
        dir,
        &["landing", "versions", source, name, "--format", "json"],
    );
    serde_json::from_str(&out).unwrap()
}
