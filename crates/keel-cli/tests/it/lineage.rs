//! `keel lineage` on the example project (issue 6): impact analysis of a formatted column,
//! the upstream of a model column down to the weather source's landing objects, version
//! lineage that a rebuild extends without rewriting, and lineage recorded for versions built
//! before it was.

use std::collections::BTreeSet;
use std::path::Path;

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
