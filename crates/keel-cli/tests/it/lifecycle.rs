//! A formatted table's life after its first load, through the binary: `keel quarantine`
//! explains what was refused, `keel format --reprocess-quarantine` releases what a fixed
//! declaration accepts, `keel format --rebuild` replays persistent landing into a new Delta
//! version (the old one stays readable), and re-delivering an object changes nothing (A13).

use std::path::Path;

use crate::support::{keel, keel_ok, sql_i64, sql_rows};

/// Declares the `readings` source (CSV files in `inbox/`, keyed by device and day) with
/// `columns` as (name, type, further keys), each read from the field of its name.
fn declare_columns(dir: &Path, columns: &[(&str, &str, &str)]) {
    let mut text = String::from(
        "[collector]\nkind = \"files\"\npath = \"inbox\"\nglob = \"*.csv\"\n\n\
         [format]\nkind = \"csv\"\n\n[[format.dialects]]\nname = \"plain\"\n\
         date_format = \"%Y-%m-%d\"\n[format.dialects.columns]\n",
    );
    for (name, _, _) in columns {
        text.push_str(&format!("{name} = \"{name}\"\n"));
    }
    for (name, data_type, more) in columns {
        text.push_str(&format!(
            "\n[[columns]]\nname = \"{name}\"\ntype = \"{data_type}\"\n{more}\n"
        ));
    }
    text.push_str("\n[keys]\nprimary = [\"device\", \"day\"]\n");
    std::fs::write(dir.join("sources/readings.toml"), text).unwrap();
}

/// The `readings` source with bounds `[0, max]` on `kwh`, and an optional extra column.
fn declare(dir: &Path, max: f64, extra: &str) {
    let bounds = format!("required = true\nmin = 0.0\nmax = {max:?}");
    let mut columns = vec![
        ("device", "string", "required = true"),
        ("day", "date", "required = true"),
        ("kwh", "float64", bounds.as_str()),
    ];
    if !extra.is_empty() {
        columns.push((extra, "string", ""));
    }
    declare_columns(dir, &columns);
}

/// `rows [columns]` of version `version` of `formatted.readings`, read by Polars (its own
/// Delta reader), or `None` outside CI when Polars is missing.
fn read_version(dir: &Path, version: i64) -> Option<String> {
    let python = keel_testkit::python_with("polars, deltalake");
    if !keel_testkit::require(
        python.is_some(),
        "the Python `polars` and `deltalake` packages",
    ) {
        return None;
    }
    let script = format!(
        "import polars; t = polars.read_delta({path:?}, version={version}); \
         print(t.height, t.columns)",
        path = dir.join("lake/formatted/readings").display().to_string()
    );
    let out = std::process::Command::new(python?)
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("sources")).unwrap();
    std::fs::create_dir_all(p.join("inbox")).unwrap();
    std::fs::write(p.join("keel.toml"), "name = \"lifecycle\"\n").unwrap();
    declare(p, 2.0, "");
    dir
}

fn deliver(dir: &Path, name: &str, body: &str) {
    std::fs::write(dir.join("inbox").join(name), body).unwrap();
}

/// The table's rows as `device day kwh`, by key.
fn table(dir: &Path) -> Vec<String> {
    sql_rows(
        dir,
        "SELECT device, CAST(day AS VARCHAR) AS d, kwh FROM formatted.readings ORDER BY device, day",
    )
    .into_iter()
    .map(|r| r.join(" "))
    .collect()
}

/// The quarantine's rows as `object-name:line rule`.
fn quarantine(dir: &Path) -> Vec<String> {
    sql_rows(
        dir,
        "SELECT o.original_name || ':' || CAST(q._keel_line AS VARCHAR) || ' ' || q.rule \
         FROM quarantine.readings q JOIN keel_catalog.landing_objects o \
         ON o.object_id = q._keel_object ORDER BY o.seq, q._keel_line",
    )
    .into_iter()
    .map(|r| r.join(" "))
    .collect()
}

fn ledger(dir: &Path) -> Vec<String> {
    sql_rows(
        dir,
        "SELECT o.original_name, l.rows_read, l.rows_written, l.rows_quarantined, \
         l.rows_duplicate FROM keel_catalog.ledger l JOIN keel_catalog.landing_objects o \
         USING (object_id) WHERE l.table_name = 'readings' ORDER BY o.seq",
    )
    .into_iter()
    .map(|r| r.join(" "))
    .collect()
}

fn delta_version(dir: &Path) -> i64 {
    sql_i64(
        dir,
        "SELECT max(version) FROM keel_catalog.dataset_versions \
         WHERE name = 'formatted.readings'",
    )
}

#[test]
fn quarantine_is_explained_reprocessed_after_a_fix_and_rebuilt() {
    let dir = project();
    let p = dir.path();
    // a.csv: line 3 and 5 are above the (too strict) bound, line 4 below zero.
    deliver(
        p,
        "a.csv",
        "device,day,kwh\nd1,2024-01-01,1.5\nd1,2024-01-02,2.5\nd1,2024-01-03,-1\nd1,2024-01-04,3\n",
    );
    keel_ok(p, &["run"]);
    // b.csv, later, holds a new value of a key that a.csv had quarantined.
    deliver(p, "b.csv", "device,day,kwh\nd1,2024-01-02,1\n");
    keel_ok(p, &["run"]);
    assert_eq!(table(p), ["d1 2024-01-01 1.5", "d1 2024-01-02 1.0"]);
    assert_eq!(
        quarantine(p),
        ["a.csv:3 bounds", "a.csv:4 bounds", "a.csv:5 bounds"]
    );

    // keel quarantine: counts by rule and column, with examples naming object and line.
    let shown = keel_ok(p, &["quarantine", "readings"]);
    assert!(shown.contains("3 rows from 1 objects"), "{shown}");
    assert!(shown.contains("bounds"), "{shown}");
    assert!(shown.contains(":3  `kwh` = 2.5 is above 2"), "{shown}");
    let json: serde_json::Value =
        serde_json::from_str(&keel_ok(p, &["quarantine", "readings", "--format", "json"])).unwrap();
    assert_eq!(json["rows"], 3);
    assert_eq!(json["reasons"][0]["rule"], "bounds");
    assert_eq!(json["reasons"][0]["column"], "kwh");
    assert_eq!(json["reasons"][0]["examples"].as_array().unwrap().len(), 3);
    let unknown = keel(p, &["quarantine", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no formatted table `nope`"));

    // The fix: the bound was wrong. Reprocessing releases line 5; line 3 passes too, but
    // b.csv (later) already holds its key, so the table keeps b's value; line 4 still fails.
    declare(p, 50000.0, "");
    let before = delta_version(p);
    let out = keel_ok(p, &["format", "--reprocess-quarantine", "readings"]);
    assert!(
        out.contains("2 released (1 superseded by a later object), 1 still quarantined"),
        "{out}"
    );
    assert_eq!(
        table(p),
        [
            "d1 2024-01-01 1.5",
            "d1 2024-01-02 1.0",
            "d1 2024-01-04 3.0"
        ]
    );
    assert_eq!(quarantine(p), ["a.csv:4 bounds"]);
    assert_eq!(ledger(p), ["a.csv 4 3 1 0", "b.csv 1 1 0 0"]);
    assert!(delta_version(p) > before);
    // Nothing left to release: a second reprocess changes nothing.
    let out = keel_ok(p, &["format", "--reprocess-quarantine", "readings"]);
    assert!(out.contains("0 released"), "{out}");
    assert_eq!(ledger(p), ["a.csv 4 3 1 0", "b.csv 1 1 0 0"]);
    assert_eq!(
        sql_i64(
            p,
            "SELECT count(*) FROM keel_catalog.ledger_archive WHERE table_name = 'readings'"
        ),
        2,
        "the replaced ledger line of a.csv, once per reprocess"
    );

    // A rebuild replays persistent landing with the current declaration: same rows, as a
    // new version; the version before stays readable.
    let before = delta_version(p);
    let out = keel_ok(p, &["format", "--rebuild", "readings"]);
    assert!(out.contains("format"), "{out}");
    assert_eq!(
        table(p),
        [
            "d1 2024-01-01 1.5",
            "d1 2024-01-02 1.0",
            "d1 2024-01-04 3.0"
        ]
    );
    assert_eq!(quarantine(p), ["a.csv:4 bounds"]);
    assert_eq!(ledger(p), ["a.csv 4 3 1 0", "b.csv 1 1 0 0"]);
    let rebuilt = delta_version(p);
    assert!(rebuilt > before);

    // A declaration with a new column: the rebuild replaces the schema too.
    declare(p, 50000.0, "note");
    keel_ok(p, &["format", "--rebuild", "readings"]);
    let columns = sql_rows(
        p,
        "SELECT column_name FROM information_schema.columns \
         WHERE table_schema = 'formatted' AND table_name = 'readings' ORDER BY ordinal_position",
    );
    assert!(columns.iter().any(|c| c[0] == "note"), "{columns:?}");
    assert_eq!(
        sql_i64(
            p,
            "SELECT count(*) FROM formatted.readings WHERE note IS NULL"
        ),
        3
    );
    // An independent reader sees every version: the one before the rebuilds still holds the
    // three rows without the new column.
    if let Some(old) = read_version(p, before) {
        assert_eq!(
            old,
            "3 ['device', 'day', 'kwh', '_keel_object', '_keel_line', '_keel_ingested_at']"
        );
    }

    // Unknown tables are refused with exit code 2.
    let out = keel(p, &["format", "--rebuild", "nope"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_same_object_delivered_again_changes_nothing() {
    // A13: the same bytes three more times (under new names, and under the old name again),
    // then a replay of everything from the raw store: same rows, same table.
    let dir = project();
    let p = dir.path();
    declare(p, 50000.0, "");
    let body = "device,day,kwh\nd1,2024-01-01,1.5\nd2,2024-01-01,2.5\nd2,2024-01-01,2.5\n";
    deliver(p, "a.csv", body);
    keel_ok(p, &["run"]);
    let rows = table(p);
    let version = delta_version(p);
    let files = std::fs::read_dir(p.join("lake/formatted/readings"))
        .unwrap()
        .count();
    for name in ["a-copy.csv", "a-again.csv", "a.csv"] {
        std::fs::remove_file(p.join("inbox/a.csv")).ok();
        deliver(p, name, body);
        let out = keel_ok(p, &["run"]);
        assert!(
            out.contains("nothing") || out.contains("duplicate"),
            "{out}"
        );
    }
    assert_eq!(table(p), rows);
    assert_eq!(
        delta_version(p),
        version,
        "no commit for a re-delivered object"
    );
    assert_eq!(
        std::fs::read_dir(p.join("lake/formatted/readings"))
            .unwrap()
            .count(),
        files
    );
    assert_eq!(ledger(p), ["a.csv 3 2 0 1"]);
    assert_eq!(
        sql_i64(
            p,
            "SELECT count(*) FROM keel_catalog.deliveries WHERE duplicate = 1"
        ),
        3
    );
    // Replay from the raw store: identical rows.
    keel_ok(p, &["format", "--rebuild", "readings"]);
    assert_eq!(table(p), rows);
    assert_eq!(ledger(p), ["a.csv 3 2 0 1"]);
}

/// The `readings` source reading `device,day,kwh,count[,note]` with the given types.
fn declare_types(dir: &Path, day: &str, count: &str, note: bool) {
    let mut columns = vec![
        ("device", "string", "required = true"),
        ("day", day, "required = true"),
        ("kwh", "float64", ""),
        ("count", count, ""),
    ];
    if note {
        columns.push(("note", "string", ""));
    }
    declare_columns(dir, &columns);
}

#[test]
fn the_table_follows_its_declaration_and_refuses_what_would_lose_data() {
    let dir = project();
    let p = dir.path();
    declare_types(p, "date", "int64", false);
    deliver(p, "a.csv", "device,day,kwh,count\nd1,2024-01-01,1.5,7\n");
    keel_ok(p, &["run"]);

    // A new column: added to the table, null in older rows.
    declare_types(p, "date", "int64", true);
    deliver(
        p,
        "b.csv",
        "device,day,kwh,count,note\nd1,2024-01-02,2.5,8,checked\n",
    );
    let out = keel_ok(p, &["run"]);
    assert!(out.contains("added `note`"), "{out}");
    assert_eq!(
        sql_rows(
            p,
            "SELECT CAST(day AS VARCHAR) AS d, coalesce(note, 'NULL') FROM formatted.readings ORDER BY day"
        ),
        [["2024-01-01", "NULL"], ["2024-01-02", "checked"]]
    );

    // A safe widening: `count` becomes float64; the table is rewritten, old values kept.
    declare_types(p, "date", "float64", true);
    deliver(
        p,
        "c.csv",
        "device,day,kwh,count,note\nd1,2024-01-03,3.5,8.5,\n",
    );
    let out = keel_ok(p, &["run"]);
    assert!(
        out.contains("widened `count` from Int64 to Float64"),
        "{out}"
    );
    assert_eq!(
        sql_rows(
            p,
            "SELECT CAST(count AS VARCHAR), arrow_typeof(count) FROM formatted.readings ORDER BY day"
        ),
        [["7.0", "Float64"], ["8.0", "Float64"], ["8.5", "Float64"]]
    );

    // An incompatible change: `day` declared as a string. The new rows are quarantined with
    // the column and both types; nothing is written and the table keeps its type.
    declare_types(p, "string", "float64", true);
    deliver(
        p,
        "d.csv",
        "device,day,kwh,count,note\nd1,2024-01-04,4.5,9,\n",
    );
    keel_ok(p, &["run"]);
    let q = sql_rows(
        p,
        "SELECT rule, \"column\", reason FROM quarantine.readings WHERE rule = 'schema_change'",
    );
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0][1], "day");
    assert!(
        q[0][2].contains("`day` is Date32 in the table and Utf8 in the declaration"),
        "{q:?}"
    );
    assert_eq!(sql_i64(p, "SELECT count(*) FROM formatted.readings"), 3);

    // Fixed back: reprocessing releases the row.
    declare_types(p, "date", "float64", true);
    let out = keel_ok(p, &["format", "--reprocess-quarantine", "readings"]);
    assert!(out.contains("1 released"), "{out}");
    assert_eq!(sql_i64(p, "SELECT count(*) FROM formatted.readings"), 4);
    assert_eq!(sql_i64(p, "SELECT count(*) FROM quarantine.readings"), 0);
}

#[test]
fn small_files_are_compacted_and_unreferenced_ones_vacuumed_after_the_retention() {
    // A10/A11: compaction on a policy; a reader of an older version keeps its files until
    // the retention has passed; vacuum removes replaced files and orphans, nothing else.
    let dir = project();
    let p = dir.path();
    declare(p, 50000.0, "");
    std::fs::write(
        p.join("keel.toml"),
        "name = \"lifecycle\"\n[maintenance]\ncompact_small_files = 4\n",
    )
    .unwrap();
    for day in 1..=3 {
        deliver(
            p,
            &format!("{day}.csv"),
            &format!("device,day,kwh\nd1,2024-01-0{day},{day}\n"),
        );
        let out = keel_ok(p, &["run"]);
        assert!(!out.contains("compacted"), "{out}");
    }
    let before_compaction = delta_version(p);
    deliver(p, "4.csv", "device,day,kwh\nd1,2024-01-04,4\n");
    let out = keel_ok(p, &["run"]);
    assert!(out.contains("compacted 4 small files into 1"), "{out}");
    assert_eq!(table(p).len(), 4);
    let data_files = |p: &Path| {
        std::fs::read_dir(p.join("lake/formatted/readings"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".parquet"))
            .count()
    };
    assert_eq!(
        data_files(p),
        5,
        "the replaced files stay for older readers"
    );

    // An orphan, as a crashed writer leaves it.
    std::fs::write(
        p.join("lake/formatted/readings/part-00000-orphan.c000.snappy.parquet"),
        b"PAR1",
    )
    .unwrap();
    // Within the retention, nothing is deleted and the old version still reads.
    let out = keel_ok(p, &["maintain"]);
    assert!(!out.contains("vacuumed"), "{out}");
    assert_eq!(data_files(p), 6);
    if let Some(old) = read_version(p, before_compaction) {
        assert!(old.starts_with("3 "), "{old}");
    }
    // Eight days later: the replaced files and the orphan go; the table reads the same.
    let later = chrono::Utc::now().timestamp_millis() + 8 * 86_400_000;
    let out = keel_ok(p, &["maintain", "--now-ms", &later.to_string()]);
    assert!(out.contains("vacuumed 5 unreferenced files"), "{out}");
    assert_eq!(data_files(p), 1);
    assert_eq!(table(p).len(), 4);

    // A retention shorter than 7 days is refused before anything runs (A9).
    std::fs::write(
        p.join("keel.toml"),
        "name = \"lifecycle\"\n[maintenance]\nvacuum_retention = \"1day\"\n",
    )
    .unwrap();
    let out = keel(p, &["maintain"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("maintenance.vacuum_retention"),
        "{out:?}"
    );
}

/// RELIABILITY C5 through `keel run`: a counter column is checked after each run that
/// changed the table; the flagged reading stays in `formatted`, is listed in `flags`, left
/// out of `valid`, and a corrected re-send clears the flag on the next run.
#[test]
fn a_counter_reading_out_of_line_is_flagged_by_the_run_and_cleared_by_a_correction() {
    let dir = project();
    let p = dir.path();
    declare_columns(
        p,
        &[
            ("device", "string", "required = true"),
            ("day", "date", "required = true"),
            ("kwh", "float64", "counter = { order = \"day\" }"),
        ],
    );
    deliver(
        p,
        "a.csv",
        "device,day,kwh\nd1,2024-01-01,10\nd1,2024-01-02,11\nd1,2024-01-03,2\n\
         d1,2024-01-04,12\nd1,2024-01-05,13\nd2,2024-01-01,5\nd2,2024-01-02,6\n",
    );
    keel_ok(p, &["run"]);
    let flags = |p: &Path| -> Vec<String> {
        sql_rows(
            p,
            "SELECT series || ' ' || CAST(_keel_line AS VARCHAR) || ' ' || rule \
             FROM flags.readings ORDER BY series, _keel_line",
        )
        .into_iter()
        .map(|r| r.join(" "))
        .collect()
    };
    let checks = |p: &Path| {
        sql_i64(
            p,
            "SELECT count(*) FROM keel_catalog.steps \
             WHERE stage = 'check' AND target = 'flags.readings'",
        )
    };
    assert_eq!(flags(p), ["device=d1 4 counter_spike"]);
    assert_eq!(sql_i64(p, "SELECT count(*) FROM formatted.readings"), 7);
    assert_eq!(sql_i64(p, "SELECT count(*) FROM valid.readings"), 6);
    assert_eq!(
        sql_i64(
            p,
            "SELECT CAST(sum(kwh) AS BIGINT) FROM valid.readings WHERE device = 'd1'"
        ),
        46
    );
    assert_eq!(checks(p), 1);

    // The device re-sends day 3 corrected: the next run re-checks and the flag is gone.
    deliver(p, "b.csv", "device,day,kwh\nd1,2024-01-03,11\n");
    keel_ok(p, &["run"]);
    assert!(flags(p).is_empty(), "{:?}", flags(p));
    assert_eq!(sql_i64(p, "SELECT count(*) FROM valid.readings"), 7);
    assert_eq!(checks(p), 2);
    // A run with nothing new does not check again.
    keel(p, &["run"]);
    assert_eq!(checks(p), 2);
}
