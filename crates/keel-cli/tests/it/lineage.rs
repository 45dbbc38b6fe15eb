//! `keel lineage` on the example project (issue 6): impact analysis of a formatted column,
//! the upstream of a model column down to the weather source's landing objects, version
//! lineage that a rebuild extends without rewriting, lineage recorded for versions built
//! before it was, and row provenance (`--row`): a formatted or quarantined row traced to the
//! raw bytes of its line, plain, gzip-compressed or in a zip archive.

use std::collections::BTreeSet;
use std::path::Path;

use base64::Engine as _;
use keel_testkit::{ExampleProject, python_with, require};
use serde_json::Value;

use crate::support::{keel, keel_ok, python_stdout, sql_i64, sql_rows};

/// `keel lineage ARGS --format json`, parsed.
fn lineage_json(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["lineage"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    serde_json::from_str(&keel_ok(dir, &all)).expect("lineage JSON")
}

/// A node's name without its version: `zone.table.column`, `zone.table` or `landing.…`.
fn name(graph: &Value, id: &str) -> String {
    let node = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id)
        .unwrap_or_else(|| panic!("edge names the unknown node {id}"));
    match (node["dataset"].as_str(), node["column"].as_str()) {
        (Some(d), Some(c)) => format!("{d}.{c}"),
        (Some(d), None) => d.to_string(),
        _ => id.to_string(),
    }
}

/// The graph's edges as `from -> to kind`, versions left out.
fn edges(graph: &Value) -> BTreeSet<String> {
    graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} -> {} {}",
                name(graph, e["from"].as_str().unwrap()),
                name(graph, e["to"].as_str().unwrap()),
                e["kind"].as_str().unwrap()
            )
        })
        .collect()
}

/// The latest recorded version of a dataset and the versions it read (`inputs_json`).
fn latest(dir: &Path, dataset: &str) -> (i64, Value) {
    let rows = sql_rows(
        dir,
        &format!(
            "SELECT version, inputs_json FROM keel_catalog.dataset_versions \
             WHERE name = '{dataset}' ORDER BY version DESC LIMIT 1"
        ),
    );
    assert_eq!(rows.len(), 1, "{dataset} has a recorded version");
    (
        rows[0][0].parse().unwrap(),
        serde_json::from_str(&rows[0][1]).unwrap(),
    )
}

#[test]
fn impact_of_consumption_kwh_lists_exactly_the_models_and_columns_that_use_it() {
    let project = ExampleProject::small();
    let dir = project.dir();
    keel_ok(dir, &["run"]);
    let graph = lineage_json(dir, &["formatted.readings.consumption_kwh", "--downstream"]);
    // Read from examples/district-heating/models/*.sql:
    // - daily_consumption selects `r.consumption_kwh` as it is;
    // - monthly_consumption sums daily_consumption's `consumption_kwh`;
    // - consumption_anomalies passes `consumption_kwh` through its `days` CTE, takes its
    //   median per group (`median_kwh`) and the median of the deviations from it
    //   (`mad_kwh`), computes `robust_z` from the day's own value and both medians, and keeps
    //   only the days `WHERE consumption_kwh IS NOT NULL`, `s.mad_kwh > 0` and
    //   `abs(robust_z) > 3.5`: it decides the model's rows;
    // - entity_map does not read readings at all.
    let expected: BTreeSet<String> = [
        "formatted.readings.consumption_kwh -> exploitation.daily_consumption.consumption_kwh identity",
        "exploitation.daily_consumption.consumption_kwh -> exploitation.monthly_consumption.consumption_kwh aggregation",
        "exploitation.daily_consumption.consumption_kwh -> exploitation.consumption_anomalies.consumption_kwh identity",
        "exploitation.daily_consumption.consumption_kwh -> exploitation.consumption_anomalies.median_kwh aggregation",
        "exploitation.daily_consumption.consumption_kwh -> exploitation.consumption_anomalies.mad_kwh aggregation",
        "exploitation.daily_consumption.consumption_kwh -> exploitation.consumption_anomalies.robust_z transformation",
        "exploitation.daily_consumption.consumption_kwh -> exploitation.consumption_anomalies.robust_z aggregation",
        "exploitation.daily_consumption.consumption_kwh -> exploitation.consumption_anomalies filter",
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    assert_eq!(edges(&graph), expected);
    assert_eq!(graph["direction"], "downstream");
    let (readings, _) = latest(dir, "formatted.readings");
    assert_eq!(
        graph["root"],
        format!("formatted.readings.consumption_kwh@{readings}")
    );

    let text = keel_ok(
        dir,
        &[
            "lineage",
            "formatted.readings.consumption_kwh",
            "--downstream",
        ],
    );
    assert!(
        text.starts_with(&format!(
            "formatted.readings.consumption_kwh @{readings}\n└── identity: \
             exploitation.daily_consumption.consumption_kwh @"
        )),
        "{text}"
    );
    assert!(
        text.contains("transformation, aggregation: exploitation.consumption_anomalies.robust_z @"),
        "{text}"
    );
    assert!(
        text.contains("filter: exploitation.consumption_anomalies @")
            && text.contains(" (its rows)"),
        "{text}"
    );
    // The same through SQL: the catalog table holds what the walk read.
    let rows = sql_i64(
        dir,
        "SELECT count(*) FROM keel_catalog.column_lineage WHERE model = 'monthly_consumption' \
         AND output_column = 'consumption_kwh' AND input_dataset = 'exploitation.daily_consumption' \
         AND input_column = 'consumption_kwh' AND kind = 'aggregation'",
    );
    assert_eq!(rows, 1);
}

#[test]
fn upstream_of_hdd_reaches_the_weather_column_and_its_landing_objects() {
    let project = ExampleProject::small();
    let dir = project.dir();
    keel_ok(dir, &["run"]);
    let (daily, inputs) = latest(dir, "exploitation.daily_consumption");
    let weather = inputs["formatted.weather"]
        .as_i64()
        .expect("weather version read");
    let graph = lineage_json(dir, &["exploitation.daily_consumption.hdd"]);
    let root = format!("exploitation.daily_consumption.hdd@{daily}");
    assert_eq!(graph["root"], root);
    let all = graph["edges"].as_array().unwrap();
    let has = |from: &str, to: &str, kind: &str| {
        all.iter()
            .any(|e| e["from"] == from && e["to"] == to && e["kind"] == kind)
    };
    // `GREATEST(15.5 - w.temperature_mean_c, 0.0)`: its one value input, at the version the
    // model version read.
    let column = format!("formatted.weather.temperature_mean_c@{weather}");
    let values: BTreeSet<(String, String)> = all
        .iter()
        .filter(|e| {
            e["to"] == root.as_str()
                && ["identity", "transformation", "aggregation"]
                    .contains(&e["kind"].as_str().unwrap())
        })
        .map(|e| {
            (
                e["from"].as_str().unwrap().to_string(),
                e["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        values,
        BTreeSet::from([(column.clone(), "transformation".to_string())])
    );
    // The joins that decide which rows (days) there are.
    for key in ["weather_date", "station_id"] {
        assert!(
            has(&format!("formatted.weather.{key}@{weather}"), &root, "join"),
            "{key} joins"
        );
    }
    let table = format!("formatted.weather@{weather}");
    assert!(has(&table, &column, "column"));
    // Every weather object formatted into that version, each from the weather source.
    let objects: BTreeSet<String> = sql_rows(
        dir,
        &format!(
            "SELECT object_id FROM keel_catalog.ledger WHERE table_name = 'weather' \
             AND delta_version <= {weather}"
        ),
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    assert!(!objects.is_empty());
    for object in &objects {
        let id = format!("landing.{object}");
        assert!(has(&id, &table, "formatted"), "{object} is in {table}");
        assert!(
            has("landing.weather", &id, "landed"),
            "{object} came from weather"
        );
    }
    let reached: BTreeSet<String> = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["type"] == "landing_object" && n["object"]["source"] == "weather")
        .map(|n| n["object"]["object_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(reached, objects);

    let dot = keel_ok(
        dir,
        &[
            "lineage",
            "exploitation.daily_consumption.hdd",
            "--format",
            "dot",
        ],
    );
    assert!(dot.starts_with("digraph lineage {") && dot.trim_end().ends_with('}'));
    assert!(
        dot.contains(&format!(
            "\"{column}\" -> \"{root}\" [label=\"transformation\"];"
        )),
        "{dot}"
    );
    assert!(
        dot.contains(&format!(
            "\"landing.weather\" -> \"{table}\" [label=\"formatted ({} objects)\"];",
            objects.len()
        )),
        "{dot}"
    );

    let out = keel(dir, &["lineage", "exploitation.daily_consumption.hdx"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`exploitation.daily_consumption` has no column `hdx`"),
        "{err}"
    );
}

#[test]
fn a_rebuild_records_new_lineage_and_leaves_the_old_versions_as_it_was() {
    let project = ExampleProject::small();
    let dir = project.dir();
    keel_ok(dir, &["run"]);
    let (old, old_inputs) = latest(dir, "exploitation.daily_consumption");
    let lineage_rows = |version: i64| {
        sql_rows(
            dir,
            &format!(
                "SELECT output_column, input_dataset, input_column, kind \
                 FROM keel_catalog.column_lineage WHERE model = 'daily_consumption' \
                 AND model_version = {version} \
                 ORDER BY output_column, input_dataset, input_column, kind"
            ),
        )
    };
    let old_rows = lineage_rows(old);
    assert!(
        old_rows.contains(&vec![
            "consumption_kwh".to_string(),
            "formatted.readings".into(),
            "consumption_kwh".into(),
            "identity".into()
        ]),
        "{old_rows:?}"
    );
    let old_doc = keel_ok(
        dir,
        &[
            "lineage",
            &format!("exploitation.daily_consumption@{old}"),
            "--format",
            "json",
        ],
    );

    keel_example::generate_extra_month(dir, &project.options, 3).expect("extra month");
    keel_ok(dir, &["run"]);
    let (new, new_inputs) = latest(dir, "exploitation.daily_consumption");
    assert!(new > old, "the new readings rebuilt the model");
    // The Delta versions the builds read (a compaction makes versions the catalog does
    // not list, so these come from each model version's inputs).
    let readings = new_inputs["formatted.readings"].as_i64().unwrap();
    assert!(readings > old_inputs["formatted.readings"].as_i64().unwrap());

    // The new version's lineage points at the versions it read.
    let graph = lineage_json(dir, &["exploitation.daily_consumption"]);
    let read = graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["to"] == format!("exploitation.daily_consumption@{new}").as_str()
                && e["from"] == format!("formatted.readings@{readings}").as_str()
        })
        .expect("the new version read the new readings version");
    assert_eq!(read["kind"], "read");
    assert_eq!(read["input_version"], readings);
    let objects_in = |graph: &Value, version: &Value| {
        graph["edges"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["kind"] == "formatted"
                    && e["to"] == format!("formatted.readings@{version}").as_str()
            })
            .count()
    };
    let old_graph: Value = serde_json::from_str(&old_doc).unwrap();
    assert_eq!(
        objects_in(&graph, &new_inputs["formatted.readings"]),
        objects_in(&old_graph, &old_inputs["formatted.readings"]) + 1,
        "the new readings version holds one more landing object"
    );
    let column = lineage_json(dir, &["exploitation.daily_consumption.consumption_kwh"]);
    assert!(column["edges"].as_array().unwrap().iter().any(|e| {
        e["from"] == format!("formatted.readings.consumption_kwh@{readings}").as_str()
            && e["kind"] == "identity"
    }));

    // The old version's lineage, in the catalog and as `keel lineage` tells it, is as it was.
    assert_eq!(lineage_rows(old), old_rows);
    assert_eq!(lineage_rows(new), old_rows, "same SQL, same column lineage");
    let again = keel_ok(
        dir,
        &[
            "lineage",
            &format!("exploitation.daily_consumption@{old}"),
            "--format",
            "json",
        ],
    );
    assert_eq!(again, old_doc);
}

#[test]
fn a_version_recorded_without_column_lineage_gets_it_on_the_next_build() {
    // A lake built by a keel that did not record column lineage: its model versions are up
    // to date, and the next build records their lineage from the same SQL.
    let Some(python) = python_with("sqlite3") else {
        require(false, "Python's sqlite3 module");
        return;
    };
    let project = ExampleProject::small();
    let dir = project.dir();
    keel_ok(dir, &["run"]);
    let query = "SELECT model, model_version, output_column, input_dataset, input_column, kind \
                 FROM keel_catalog.column_lineage \
                 ORDER BY model, model_version, output_column, input_dataset, input_column, kind";
    let recorded = sql_rows(dir, query);
    let models: BTreeSet<&str> = recorded.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        models,
        BTreeSet::from([
            "consumption_anomalies",
            "daily_consumption",
            "entity_map",
            "monthly_consumption"
        ])
    );
    python_stdout(
        &python,
        "import sqlite3, sys\n\
         db = sqlite3.connect(sys.argv[1])\n\
         db.execute('DELETE FROM column_lineage')\n\
         db.commit()\n",
        &[dir.join("lake/_catalog/keel.db").as_os_str()],
    );
    assert!(sql_rows(dir, query).is_empty());
    let out = keel_ok(dir, &["build"]);
    assert!(!out.contains("built version"), "nothing is rebuilt: {out}");
    assert_eq!(sql_rows(dir, query), recorded);
}

/// The lines of a text file's raw bytes, each with its line end, cut as keel numbers lines
/// (`\n`, `\r\n`, a lone `\r`).
fn raw_lines(bytes: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&bytes[start..=i]);
                start = i + 1;
            }
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                lines.push(&bytes[start..i + 2]);
                i += 1;
                start = i + 1;
            }
            b'\r' => {
                lines.push(&bytes[start..=i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < bytes.len() {
        lines.push(&bytes[start..]);
    }
    lines
}

/// The meters file the collector took an object from: its original path under the
/// project's inbox, found in the catalog manifest.
fn delivered_file(dir: &Path, object: &str) -> Vec<u8> {
    let rows = sql_rows(
        dir,
        &format!(
            "SELECT original_path FROM keel_catalog.landing_objects WHERE object_id = '{object}'"
        ),
    );
    assert_eq!(rows.len(), 1, "{object} is in the manifest");
    std::fs::read(dir.join("data/inbox/meters").join(&rows[0][0])).expect("the delivered file")
}

/// `keel lineage --row ARGS...`: exit code, stdout bytes, stderr.
fn row_lineage(dir: &Path, args: &[&str]) -> (Option<i32>, Vec<u8>, String) {
    let mut all = vec!["lineage", "--row"];
    all.extend_from_slice(args);
    let out = keel(dir, &all);
    (
        out.status.code(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Windows-1250 bytes of a `pl2` meter file whose device id is not ASCII (`Żółw`): one
/// row that formats and one whose negative energy is quarantined.
const PL2_NON_ASCII: &[u8] =
    b"Licznik;Data;Zu\xbfycie [kWh];Temp. zasilania [\xb0C];Temp. powrotu [\xb0C]\r\n\
PL2-\xaf\xf3\xb3w;01.12.2016;123,45;70,1;40,2\r\n\
PL2-\xaf\xf3\xb3w;02.12.2016;-5,00;70,1;40,2\r\n";

#[test]
fn a_formatted_row_of_each_dialect_traces_to_its_raw_line_byte_for_byte() {
    let project = ExampleProject::small();
    let dir = project.dir();
    let extra = dir.join("data/inbox/meters/pl2/2016-12-31");
    std::fs::create_dir_all(&extra).unwrap();
    std::fs::write(extra.join("PL2-ZOLW_201612.csv"), PL2_NON_ASCII).unwrap();
    keel_ok(dir, &["run"]);
    let version = sql_i64(
        dir,
        "SELECT max(version) FROM keel_catalog.dataset_versions WHERE name = 'formatted.readings'",
    );
    for (firmware, device, first) in [
        ("hm1", "HM1-%", 3),
        ("pl2", "PL2-0%", 3),
        ("mx3", "MX3-%", 3),
        ("pl2", "PL2-\u{17b}%", 2),
    ] {
        // A row between other rows of its file, so that a line off by one either way is
        // another row's line, not a missing one.
        let rows = sql_rows(
            dir,
            &format!(
                "SELECT r.device_id, CAST(r.reading_date AS VARCHAR), r._keel_object, \
                 r._keel_line, o.original_name, o.ingested_at, o.persistent_path \
                 FROM formatted.readings r \
                 JOIN keel_catalog.landing_objects o ON o.object_id = r._keel_object \
                 WHERE o.original_path LIKE '{firmware}/%' AND r.device_id LIKE '{device}' \
                 AND r._keel_line >= {first} ORDER BY r._keel_object, r._keel_line LIMIT 1"
            ),
        );
        assert_eq!(rows.len(), 1, "a {firmware} row of {device}");
        let [device_id, date, object, line, name, ingested, persistent] = &rows[0][..] else {
            panic!("{rows:?}")
        };
        let line: usize = line.parse().unwrap();
        let file = delivered_file(dir, object);
        let expected = raw_lines(&file)[line - 1];
        let key = format!("device_id={device_id},reading_date={date}");
        let (code, stdout, stderr) = row_lineage(dir, &["formatted.readings", &key]);
        assert_eq!(code, Some(0), "{stderr}");
        assert_eq!(
            stdout,
            expected,
            "{firmware} line {line} of {object}: {:?}",
            String::from_utf8_lossy(&stdout)
        );
        // The line is the row's: its device and day as the firmware writes them.
        let day = match firmware {
            "pl2" => format!("{}.{}.{}", &date[8..10], &date[5..7], &date[0..4]),
            _ => date.clone(),
        };
        let text = encoding_rs::WINDOWS_1250.decode(expected).0;
        assert!(
            text.starts_with(&format!(
                "{device_id}{}{day}",
                if firmware == "pl2" { ';' } else { ',' }
            )),
            "{text}"
        );
        for fact in [
            format!("formatted.readings@{version}"),
            object.clone(),
            name.clone(),
            format!("line             {line}\n"),
            ingested.clone(),
            persistent.clone(),
        ] {
            assert!(stderr.contains(&fact), "{fact} in the header:\n{stderr}");
        }
        if firmware == "pl2" {
            assert!(expected.ends_with(b"\r\n"), "pl2 lines end with CRLF");
        }
    }

    // The Windows-1250 line is printed as stored, not re-encoded; JSON holds the text and
    // the bytes.
    let stored = &raw_lines(PL2_NON_ASCII)[1];
    let key = "device_id=PL2-\u{17b}\u{f3}\u{142}w,reading_date=2016-12-01";
    let (code, stdout, stderr) = row_lineage(dir, &["formatted.readings", key]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(&stdout, stored);
    assert!(stdout.contains(&0xaf) && std::str::from_utf8(&stdout).is_err());
    let (code, stdout, stderr) = row_lineage(dir, &["formatted.readings", key, "--format", "json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let doc: Value = serde_json::from_slice(&stdout).expect("one JSON document");
    assert_eq!(
        doc["raw_line"],
        "PL2-\u{17b}\u{f3}\u{142}w;01.12.2016;123,45;70,1;40,2\r\n"
    );
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(doc["raw_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(&decoded, stored);
    assert_eq!(doc["table"], "formatted.readings");
    assert_eq!(doc["version"], version);
    assert_eq!(doc["line"], 2);
    assert_eq!(doc["original_name"], "PL2-ZOLW_201612.csv");
    assert_eq!(doc["encoding"], "windows-1250");
    assert_eq!(doc["dialect"], "pl2");
    let persistent = doc["persistent_path"].as_str().unwrap();
    assert!(persistent.starts_with("landing/persistent/meters/"));
    assert_eq!(
        std::fs::read(dir.join("lake").join(persistent)).unwrap(),
        PL2_NON_ASCII
    );
}

#[test]
fn a_quarantined_row_traces_to_its_raw_line_and_unknown_rows_are_errors() {
    let project = ExampleProject::small();
    let dir = project.dir();
    let extra = dir.join("data/inbox/meters/pl2/2016-12-31");
    std::fs::create_dir_all(&extra).unwrap();
    std::fs::write(extra.join("PL2-ZOLW_201612.csv"), PL2_NON_ASCII).unwrap();
    keel_ok(dir, &["run"]);
    let rows = sql_rows(
        dir,
        "SELECT _keel_object, _keel_line, raw, rule FROM quarantine.readings \
         WHERE _keel_line > 0 ORDER BY _keel_object, _keel_line",
    );
    assert!(rows.len() >= 2, "{rows:?}");
    let mut non_ascii = 0;
    for row in &rows {
        let [object, line, raw, _rule] = &row[..] else {
            panic!("{row:?}")
        };
        let file = delivered_file(dir, object);
        let expected = raw_lines(&file)[line.parse::<usize>().unwrap() - 1];
        let (code, stdout, stderr) =
            row_lineage(dir, &["quarantine.readings", &format!("{object}:{line}")]);
        assert_eq!(code, Some(0), "{stderr}");
        assert_eq!(stdout, expected, "{object} line {line}");
        // The quarantine's raw text is that line, decoded.
        let text = encoding_rs::WINDOWS_1250.decode(expected).0;
        assert_eq!(text.trim_end_matches(['\r', '\n']), raw);
        non_ascii += usize::from(!expected.is_ascii());
        assert!(stderr.contains("quarantine.readings@"), "{stderr}");
    }
    assert_eq!(non_ascii, 1, "the Windows-1250 line is among them");
    // The same row by its columns.
    let (object, line) = (&rows[0][0], &rows[0][1]);
    let (code, by_columns, _) = row_lineage(
        dir,
        &[
            "quarantine.readings",
            &format!("_keel_object={object},_keel_line={line}"),
        ],
    );
    assert_eq!(code, Some(0));
    let (_, by_short, _) = row_lineage(dir, &["quarantine.readings", &format!("{object}:{line}")]);
    assert_eq!(by_columns, by_short);

    // No such row, several rows, an unknown column: exit 2 and a message naming it.
    let (code, stdout, stderr) = row_lineage(
        dir,
        &[
            "formatted.readings",
            "device_id=HM1-99999,reading_date=2016-01-05",
        ],
    );
    assert_eq!(code, Some(2));
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("no row of `formatted.readings`@")
            && stderr.contains("device_id = `HM1-99999`, reading_date = `2016-01-05`"),
        "{stderr}"
    );
    let device = sql_rows(dir, "SELECT min(device_id) FROM formatted.readings")[0][0].clone();
    let (code, _, stderr) =
        row_lineage(dir, &["formatted.readings", &format!("device_id={device}")]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("rows of `formatted.readings`@"), "{stderr}");
    assert!(
        stderr.contains(&format!("line 2: device_id={device}, reading_date=")),
        "each row is listed: {stderr}"
    );
    let (code, _, stderr) = row_lineage(dir, &["formatted.readings", "meter=1"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("`formatted.readings` has no column `meter`"),
        "{stderr}"
    );

    // An object whose bytes changed in persistent landing, then one that is gone.
    let persistent = sql_rows(
        dir,
        &format!(
            "SELECT persistent_path FROM keel_catalog.landing_objects WHERE object_id = '{object}'"
        ),
    )[0][0]
        .clone();
    let path = dir.join("lake").join(persistent);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.push(b'\n');
    std::fs::write(&path, &bytes).unwrap();
    let (code, stdout, stderr) =
        row_lineage(dir, &["quarantine.readings", &format!("{object}:{line}")]);
    assert_eq!(code, Some(2));
    assert!(stdout.is_empty());
    assert!(
        stderr.contains(&format!("landing object `{object}`"))
            && stderr.contains("no longer matches the catalog: its sha256 is"),
        "{stderr}"
    );
    std::fs::remove_file(&path).unwrap();
    let (code, _, stderr) = row_lineage(dir, &["quarantine.readings", &format!("{object}:{line}")]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains(&format!(
            "landing object `{object}` is missing from persistent landing"
        )),
        "{stderr}"
    );
}

#[test]
fn rows_of_gzip_and_zip_objects_trace_to_their_raw_lines() {
    // Objects as some devices deliver them: a gzip stream and a zip archive under a `.csv`
    // name (keel recognises both by their first bytes), the zip member's record holding a
    // quoted line break.
    let Some(python) = python_with("zipfile") else {
        require(false, "Python's zipfile and gzip modules");
        return;
    };
    let project = ExampleProject::small();
    let dir = project.dir();
    let member: &[u8] = b"meter,day,heat_mwh,t_supply,t_return\n\
MX3-ZIP,2016-12-01,0.12345,55.0,30.0\n\
\"MX3-Z\nIP\",2016-12-02,0.23456,55.0,30.0\n\
MX3-ZIP,2016-12-03,0.34567,55.0,30.0\n";
    let plain = dir.join("member.csv");
    std::fs::write(&plain, member).unwrap();
    let pl2 = dir.join("pl2.csv");
    std::fs::write(&pl2, PL2_NON_ASCII).unwrap();
    let inbox = dir.join("data/inbox/meters");
    std::fs::create_dir_all(inbox.join("mx3/2016-12-31")).unwrap();
    std::fs::create_dir_all(inbox.join("pl2/2016-12-30")).unwrap();
    python_stdout(
        &python,
        "import gzip, sys, zipfile\n\
         with zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED) as z:\n\
         \x20   z.write(sys.argv[1], 'MX3-ZIP_201612.csv')\n\
         open(sys.argv[4], 'wb').write(gzip.compress(open(sys.argv[3], 'rb').read()))\n",
        &[
            plain.as_os_str(),
            inbox.join("mx3/2016-12-31/MX3-ZIP_201612.csv").as_os_str(),
            pl2.as_os_str(),
            inbox.join("pl2/2016-12-30/PL2-ZOLW_201612.csv").as_os_str(),
        ],
    );
    keel_ok(dir, &["run"]);

    let key = "device_id=PL2-\u{17b}\u{f3}\u{142}w,reading_date=2016-12-01";
    let (code, stdout, stderr) = row_lineage(dir, &["formatted.readings", key]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, raw_lines(PL2_NON_ASCII)[1]);

    let lines = raw_lines(member);
    for (device, day, expected) in [
        ("MX3-ZIP", "2016-12-03", lines[4].to_vec()),
        ("MX3-Z\nIP", "2016-12-02", [lines[2], lines[3]].concat()),
    ] {
        let key = format!("device_id={device},reading_date={day}");
        let (code, stdout, stderr) =
            row_lineage(dir, &["formatted.readings", &key, "--format", "json"]);
        assert_eq!(code, Some(0), "{stderr}");
        let doc: Value = serde_json::from_slice(&stdout).unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(doc["raw_base64"].as_str().unwrap())
            .unwrap();
        assert_eq!(raw, expected, "{device} {day}: {doc}");
        assert_eq!(doc["member"], "MX3-ZIP_201612.csv");
        assert!(
            doc["object_id"]
                .as_str()
                .is_some_and(|o| o.starts_with("meters/")),
            "{doc}"
        );
    }
    let (code, stdout, stderr) = row_lineage(
        dir,
        &[
            "formatted.readings",
            "device_id=MX3-Z\nIP,reading_date=2016-12-02",
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, [lines[2], lines[3]].concat());
    assert!(
        stderr.contains("line             3-4 (a quoted field holds line breaks)"),
        "{stderr}"
    );
}
