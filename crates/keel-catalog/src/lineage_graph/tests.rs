//! The walks on a small catalog: two weather objects, two versions of a model that read
//! them, and a model reading that model.

use super::*;
use crate::lineage::LineageEdge;
use crate::manifest::NewObject;

/// Registers the dataset a version belongs to (versions refer to it).
fn register(catalog: &Catalog, name: &str) {
    catalog
        .upsert_dataset(&crate::datasets::Dataset {
            name: name.into(),
            zone: name.split('.').next().unwrap().into(),
            location: name.replace('.', "/"),
            format: "delta".into(),
            description: None,
        })
        .unwrap();
}

fn version(name: &str, v: i64, inputs: &[(&str, i64)], columns: &[&str]) -> DatasetVersion {
    let schema: Vec<serde_json::Value> = columns
        .iter()
        .map(|c| serde_json::json!({"name": c, "type": "Float64", "nullable": true}))
        .collect();
    DatasetVersion {
        name: name.into(),
        version: v,
        run_id: format!("run{v}"),
        operation: "overwrite".into(),
        rows: 1,
        schema_json: serde_json::Value::Array(schema).to_string(),
        inputs: inputs.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    }
}

fn edge(out: &str, dataset: &str, column: &str, kind: LineageKind) -> LineageEdge {
    LineageEdge {
        output_column: out.into(),
        input_dataset: dataset.into(),
        input_column: column.into(),
        kind,
    }
}

fn object(catalog: &Catalog, source: &str, name: &str) -> String {
    let sha = format!("{name:0<64}");
    catalog
        .record_object(
            &NewObject {
                source: source.into(),
                original_name: name.into(),
                original_path: name.into(),
                sha256: sha,
                bytes: 10,
                ingested_at: "2024-01-01T00:00:00Z".into(),
                persistent_path: format!("landing/persistent/{source}/{name}"),
                collector: serde_json::Value::Null,
            },
            "run0",
        )
        .unwrap()
        .object_id
}

fn ledger(catalog: &Catalog, object: &str, table: &str, version: i64) {
    quarantined(catalog, object, table, version, 0);
}

fn quarantined(catalog: &Catalog, object: &str, table: &str, version: i64, rows: i64) {
    catalog
        .record_ledger(&[crate::ledger::LedgerEntry {
            object_id: object.into(),
            table_name: table.into(),
            run_id: "run0".into(),
            dialect: "csv".into(),
            rows_read: 1 + rows,
            rows_written: 1,
            rows_quarantined: rows,
            rows_duplicate: 0,
            delta_version: version,
        }])
        .unwrap();
}

/// weather (2 objects, versions 0 and 1) ─► daily@0 (read weather@0), daily@1 (read
/// weather@1) ─► monthly@0 (read daily@1).
fn lake() -> (tempfile::TempDir, Catalog, [String; 2]) {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(&dir.path().join("keel.db")).unwrap();
    for name in [
        "formatted.weather",
        "exploitation.daily",
        "exploitation.monthly",
    ] {
        register(&catalog, name);
    }
    let a = object(&catalog, "weather", "a.json");
    let b = object(&catalog, "weather", "b.json");
    ledger(&catalog, &a, "weather", 0);
    ledger(&catalog, &b, "weather", 1);
    for v in 0..2 {
        catalog
            .record_version(&version(
                "formatted.weather",
                v,
                &[("landing.weather", v)],
                &["temp", "day"],
            ))
            .unwrap();
    }
    let daily = [
        edge(
            "hdd",
            "formatted.weather",
            "temp",
            LineageKind::Transformation,
        ),
        edge(ROWS, "formatted.weather", "day", LineageKind::Filter),
    ];
    for v in 0..2 {
        catalog
            .record_model_version(
                "daily",
                &version(
                    "exploitation.daily",
                    v,
                    &[("formatted.weather", v), ("sql", 7)],
                    &["hdd"],
                ),
                &daily,
            )
            .unwrap();
    }
    catalog
        .record_model_version(
            "monthly",
            &version(
                "exploitation.monthly",
                0,
                &[("exploitation.daily", 1), ("sql", 8)],
                &["hdd"],
            ),
            &[edge(
                "hdd",
                "exploitation.daily",
                "hdd",
                LineageKind::Aggregation,
            )],
        )
        .unwrap();
    (dir, catalog, [a, b])
}

fn edges(graph: &LineageGraph) -> Vec<(String, String, &'static str)> {
    graph
        .edges
        .iter()
        .map(|e| (e.from.clone(), e.to.clone(), e.kind.as_str()))
        .collect()
}

#[test]
fn upstream_of_an_old_version_reaches_what_it_read_then() {
    let (_dir, catalog, [a, b]) = lake();
    let target = LineageTarget::parse("exploitation.daily.hdd@0").unwrap();
    let graph = catalog.lineage_upstream(&target).unwrap();
    assert_eq!(graph.root, "exploitation.daily.hdd@0");
    let oa = format!("landing.{a}");
    let expected = vec![
        (
            "formatted.weather.day@0".to_string(),
            "exploitation.daily.hdd@0".to_string(),
            "filter",
        ),
        (
            "formatted.weather.temp@0".into(),
            "exploitation.daily.hdd@0".into(),
            "transformation",
        ),
        (
            "formatted.weather@0".into(),
            "formatted.weather.day@0".into(),
            "column",
        ),
        (
            "formatted.weather@0".into(),
            "formatted.weather.temp@0".into(),
            "column",
        ),
        ("landing.weather".into(), oa.clone(), "landed"),
        (oa, "formatted.weather@0".into(), "formatted"),
    ];
    let mut found = edges(&graph);
    found.sort();
    let mut expected = expected;
    expected.sort();
    assert_eq!(found, expected);
    assert!(
        !graph.nodes.contains_key(&format!("landing.{b}")),
        "b came later"
    );

    // The latest monthly version read daily@1, which read weather@1: both objects.
    let graph = catalog
        .lineage_upstream(&LineageTarget::parse("exploitation.monthly").unwrap())
        .unwrap();
    assert_eq!(graph.root, "exploitation.monthly@0");
    let objects: Vec<&str> = graph
        .nodes
        .values()
        .filter(|n| n.kind == NodeKind::LandingObject)
        .map(|n| n.object.as_ref().unwrap().original_name.as_str())
        .collect();
    assert_eq!(objects, ["a.json", "b.json"]);
    assert!(graph.edges.contains(&Edge {
        from: "exploitation.daily@1".into(),
        to: "exploitation.monthly@0".into(),
        kind: EdgeKind::Read,
        input_version: Some(1),
    }));
}

#[test]
fn downstream_lists_every_column_and_model_that_uses_a_column() {
    let (_dir, catalog, _) = lake();
    let target = LineageTarget::parse("formatted.weather.temp").unwrap();
    let graph = catalog.lineage_downstream(&target, None).unwrap();
    assert_eq!(graph.root, "formatted.weather.temp@1");
    assert_eq!(
        edges(&graph),
        vec![
            (
                "exploitation.daily.hdd@1".to_string(),
                "exploitation.monthly.hdd@0".to_string(),
                "aggregation"
            ),
            (
                "formatted.weather.temp@1".into(),
                "exploitation.daily.hdd@1".into(),
                "transformation"
            ),
        ]
    );
    let day = catalog
        .lineage_downstream(
            &LineageTarget::parse("formatted.weather.day").unwrap(),
            None,
        )
        .unwrap();
    assert_eq!(
        edges(&day),
        vec![(
            "formatted.weather.day@1".to_string(),
            "exploitation.daily@1".to_string(),
            "filter"
        )]
    );
    let only_monthly: BTreeSet<String> = ["monthly".to_string()].into();
    let none = catalog
        .lineage_downstream(&target, Some(&only_monthly))
        .unwrap();
    assert!(
        none.edges.is_empty(),
        "daily is left out, so nothing reaches monthly"
    );
    let datasets = catalog
        .lineage_downstream(&LineageTarget::parse("formatted.weather").unwrap(), None)
        .unwrap();
    assert_eq!(
        edges(&datasets),
        vec![
            (
                "exploitation.daily@1".to_string(),
                "exploitation.monthly@0".to_string(),
                "read"
            ),
            (
                "formatted.weather@1".into(),
                "exploitation.daily@1".into(),
                "read"
            ),
        ]
    );
}

#[test]
fn unknown_targets_are_named_in_the_error() {
    let (_dir, catalog, _) = lake();
    let err = |t: &str| {
        LineageTarget::parse(t)
            .and_then(|t| catalog.lineage_upstream(&t))
            .unwrap_err()
            .to_string()
    };
    assert!(err("exploitation.nope").contains("`exploitation.nope` has no recorded version"));
    assert!(err("exploitation.daily@9").contains("has no version 9 (versions: 0, 1)"));
    assert!(err("exploitation.daily.kwh").contains("no column `kwh` at version 1 (columns: hdd)"));
    assert!(err("daily").contains("`zone.table`"));
    assert!(err("exploitation.daily@x").contains("must be a number"));
}

#[test]
fn a_formatted_version_holds_the_objects_the_ledger_places_in_it_then() {
    let (_dir, catalog, [a, b]) = lake();
    let ids = |v: i64| -> Vec<String> {
        catalog
            .table_version_objects("weather", v)
            .unwrap()
            .into_iter()
            .map(|o| o.object_id)
            .collect()
    };
    assert_eq!(ids(0), std::slice::from_ref(&a));
    assert_eq!(ids(1), [a.clone(), b.clone()]);
    // A reprocess moves `a` into version 2: version 0 still holds it (archived line).
    let mut line = catalog.object_ledger(&a).unwrap().remove(0);
    line.delta_version = 2;
    catalog
        .replace_ledger("weather", &[line], "reprocess 1")
        .unwrap();
    assert_eq!(ids(0), std::slice::from_ref(&a));
    assert_eq!(ids(2), [a.clone(), b.clone()]);
    // A rebuild archives every line; its first version holds only what it formatted.
    catalog.start_rebuild("weather", "run9").unwrap();
    catalog
        .record_version(&version(
            "formatted.weather",
            3,
            &[("landing.weather", 2)],
            &["temp", "day"],
        ))
        .unwrap();
    ledger(&catalog, &b, "weather", 3);
    assert_eq!(ids(3), std::slice::from_ref(&b));
    assert_eq!(ids(1), [a.clone(), b]);
    assert_eq!(ids(0), [a]);
}

#[test]
fn a_quarantine_version_holds_the_objects_with_rejected_rows_it_committed() {
    let (_dir, catalog, [a, _]) = lake();
    let c = object(&catalog, "weather", "c.json");
    let d = object(&catalog, "weather", "d.json");
    quarantined(&catalog, &c, "weather", 2, 3);
    quarantined(&catalog, &d, "weather", 3, 1);
    register(&catalog, "quarantine.weather");
    let seq = |id: &str| catalog.object(id).unwrap().unwrap().seq;
    // Quarantine version 0 committed c's rejects; version 1, a reprocess of a, names
    // an earlier object but still holds them; version 2 committed d's.
    for (v, upto) in [(0, seq(&c)), (1, seq(&a)), (2, seq(&d))] {
        catalog
            .record_version(&version(
                "quarantine.weather",
                v,
                &[("landing.weather", upto)],
                &[],
            ))
            .unwrap();
    }
    let ids = |v: i64| -> Vec<String> {
        catalog
            .quarantine_version_objects("weather", v)
            .unwrap()
            .into_iter()
            .map(|o| o.object_id)
            .collect()
    };
    assert_eq!(ids(0), std::slice::from_ref(&c));
    assert_eq!(ids(1), std::slice::from_ref(&c));
    assert_eq!(ids(2), [c.clone(), d.clone()]);
    // A rebuild's first version starts over: it holds what it committed, not d.
    let mut rebuilt = version(
        "quarantine.weather",
        3,
        &[("landing.weather", seq(&c))],
        &[],
    );
    rebuilt.operation = "rebuild".into();
    catalog.record_version(&rebuilt).unwrap();
    assert_eq!(ids(3), std::slice::from_ref(&c));
    assert_eq!(ids(2), [c, d]);
}
