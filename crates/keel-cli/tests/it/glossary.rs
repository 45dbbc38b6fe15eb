//! `keel glossary` and the domain metadata in the catalog, on the example project (issue 6):
//! a term found by its name or a synonym shows its columns with their descriptions and tags
//! and what is upstream and downstream of them; the glossary and the columns' tags are
//! queryable as `keel_catalog.*`; a malformed glossary names the file and the key.

use std::collections::BTreeSet;
use std::path::Path;

use keel_testkit::ExampleProject;
use serde_json::Value;

use crate::support::{expect_error, keel, keel_ok, sql_rows};

fn glossary_json(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["glossary"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    serde_json::from_str(&keel_ok(dir, &all)).expect("glossary JSON")
}

/// The names of a walk's nodes, with the kinds of edges that link each.
fn reached(list: &Value) -> Vec<(String, Vec<String>)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let via = r["via"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap().to_string())
                .collect();
            (r["name"].as_str().unwrap().to_string(), via)
        })
        .collect()
}

fn names(rows: Vec<Vec<String>>) -> BTreeSet<String> {
    rows.into_iter().map(|r| r.join(".")).collect()
}

#[test]
fn a_term_shows_its_columns_and_what_is_upstream_and_downstream_of_them() {
    let project = ExampleProject::small();
    let dir = project.dir();
    keel_ok(dir, &["run"]);

    let term = glossary_json(dir, &["heating degree days"]);
    assert_eq!(term["term"], "heating degree days");
    assert_eq!(term["owner"], "data-science");
    assert_eq!(term["synonyms"], serde_json::json!(["HDD"]));
    let columns = term["columns"].as_array().unwrap();
    assert_eq!(columns.len(), 1, "{term:#}");
    let hdd = &columns[0];
    assert_eq!(hdd["column"], "exploitation.daily_consumption.hdd");
    assert!(
        hdd["description"]
            .as_str()
            .unwrap()
            .starts_with("Heating degree days"),
        "{hdd:#}"
    );

    // Upstream, from examples/district-heating/models/daily_consumption.sql:
    // `GREATEST(15.5 - w.temperature_mean_c, 0.0) AS hdd` is a transformation of the weather
    // column, whose landing objects came from the `weather` source.
    let up = reached(&hdd["upstream"]);
    assert!(
        up.contains(&(
            "formatted.weather.temperature_mean_c".to_string(),
            vec!["transformation".to_string()]
        )),
        "{up:?}"
    );
    let weather = hdd["upstream"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "landing.weather")
        .unwrap_or_else(|| panic!("the weather source upstream: {up:?}"));
    assert!(weather["objects"].as_u64().unwrap() > 0, "{weather:#}");
    // The joins that decide which days there are (`ON w.station_id = d.station_id AND
    // w.weather_date = r.reading_date`) are upstream too, down to the meters' objects; the
    // column itself is not.
    for key in [
        "formatted.weather.weather_date",
        "formatted.weather.station_id",
        "formatted.readings.reading_date",
    ] {
        assert!(
            up.contains(&(key.to_string(), vec!["join".to_string()])),
            "{key}: {up:?}"
        );
    }
    assert!(up.iter().any(|(n, _)| n == "landing.meters"), "{up:?}");
    assert!(
        !up.iter()
            .any(|(n, _)| n == "exploitation.daily_consumption.hdd"),
        "{up:?}"
    );

    // Downstream, from models/*.sql: only monthly_consumption uses hdd (`SUM(hdd) AS hdd`);
    // entity_map and consumption_anomalies do not read it.
    let down = reached(&hdd["downstream"]);
    assert_eq!(
        down,
        vec![(
            "exploitation.monthly_consumption.hdd".to_string(),
            vec!["aggregation".to_string()]
        )]
    );

    // A synonym, in any case, finds the same term.
    assert_eq!(glossary_json(dir, &["hdd"]), term);
    assert_eq!(glossary_json(dir, &["HDD"]), term);

    // The text form says the same.
    let text = keel_ok(dir, &["glossary", "HDD"]);
    for line in [
        "heating degree days",
        "  owner: data-science",
        "  synonyms: HDD",
        "exploitation.daily_consumption.hdd",
        "  upstream:",
        "    formatted.weather.temperature_mean_c @",
        "  downstream:",
        "    exploitation.monthly_consumption.hdd @",
    ] {
        assert!(text.contains(line), "`{line}` missing from:\n{text}");
    }

    // An unknown term is an error that lists the terms.
    let out = keel(dir, &["glossary", "cooling degree days"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`cooling degree days` is neither a term nor a synonym")
            && err.contains("heating degree days"),
        "{err}"
    );
}

#[test]
fn the_glossary_and_column_tags_are_catalog_tables() {
    let project = ExampleProject::small();
    let dir = project.dir();

    // Before any run the command still lists the terms, from the files.
    let list = glossary_json(dir, &[]);
    let terms: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["term"].as_str().unwrap())
        .collect();
    assert_eq!(
        terms,
        ["heat consumption", "heating degree days", "customer"]
    );
    // `customer` is linked from glossary.toml (entity_map) and from its column in
    // sources/customers.toml (`glossary = "customer"`).
    assert_eq!(
        list[2]["columns"],
        serde_json::json!([
            "exploitation.entity_map.customer_id",
            "formatted.customers.customer_id"
        ])
    );

    keel_ok(dir, &["run"]);
    let rows = sql_rows(
        dir,
        "SELECT term, owner, synonyms_json FROM keel_catalog.glossary_terms ORDER BY term",
    );
    assert_eq!(
        rows,
        [
            ["customer", "sales", r#"["client","klient"]"#],
            [
                "heat consumption",
                "metering",
                r#"["energy consumption","zużycie ciepła"]"#
            ],
            ["heating degree days", "data-science", r#"["HDD"]"#],
        ]
    );
    let linked = names(sql_rows(
        dir,
        "SELECT dataset, column_name FROM keel_catalog.glossary_columns \
         WHERE term = 'heat consumption'",
    ));
    assert_eq!(
        linked,
        BTreeSet::from([
            "exploitation.daily_consumption.consumption_kwh".to_string(),
            "formatted.readings.consumption_kwh".to_string(),
        ])
    );

    // Tags of the CRM's and the registry's columns, and a source's unit as a tag.
    let pii = names(sql_rows(
        dir,
        "SELECT dataset, column_name FROM keel_catalog.column_tags WHERE tag = 'pii'",
    ));
    assert_eq!(
        pii,
        BTreeSet::from([
            "formatted.customers.address".to_string(),
            "formatted.customers.customer_name".to_string(),
            "formatted.devices.street".to_string(),
        ])
    );
    let kwh = names(sql_rows(
        dir,
        "SELECT dataset, column_name FROM keel_catalog.column_tags WHERE tag = 'unit:kWh'",
    ));
    assert!(
        kwh.contains("formatted.readings.consumption_kwh")
            && kwh.contains("exploitation.daily_consumption.consumption_kwh"),
        "{kwh:?}"
    );
    let doc = sql_rows(
        dir,
        "SELECT description, glossary_term, declared_in FROM keel_catalog.column_metadata \
         WHERE dataset = 'formatted.customers' AND column_name = 'customer_id'",
    );
    assert_eq!(
        doc,
        [[
            "The customer's number in the CRM",
            "customer",
            "sources/customers.toml"
        ]]
    );
    let customer = glossary_json(dir, &["klient"]);
    let crm = customer["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == "formatted.customers.customer_id")
        .unwrap();
    assert!(
        reached(&crm["downstream"])
            .iter()
            .any(|(n, _)| n == "exploitation.entity_map.customer_id"),
        "{crm:#}"
    );

    // The catalog says what the files say at the last run: a term removed is gone.
    let glossary = dir.join("glossary.toml");
    let text = std::fs::read_to_string(&glossary).unwrap();
    let cut = text.find("# A column may also name").unwrap();
    std::fs::write(&glossary, &text[..cut]).unwrap();
    let source = dir.join("sources/customers.toml");
    let customers = std::fs::read_to_string(&source).unwrap();
    std::fs::write(&source, customers.replace("glossary = \"customer\"\n", "")).unwrap();
    keel_ok(dir, &["run"]);
    let rows = sql_rows(
        dir,
        "SELECT term FROM keel_catalog.glossary_terms ORDER BY term",
    );
    assert_eq!(rows, [["heat consumption"], ["heating degree days"]]);
}

#[test]
fn a_malformed_glossary_names_the_file_and_the_key() {
    let project = ExampleProject::new(keel_example::GenerateOptions {
        buildings: 2,
        years: 1,
        ..Default::default()
    });
    let dir = project.dir();
    let glossary = dir.join("glossary.toml");
    let original = std::fs::read_to_string(&glossary).unwrap();

    // A linked column its table does not declare.
    std::fs::write(
        &glossary,
        original.replace(
            "formatted.readings.consumption_kwh",
            "formatted.readings.consumption_mwh",
        ),
    )
    .unwrap();
    expect_error(
        dir,
        "glossary",
        "glossary.toml",
        "key `terms[0].columns[0]`",
    );

    // A linked column of a table nobody declares.
    std::fs::write(
        &glossary,
        original.replace(
            "exploitation.daily_consumption.hdd",
            "exploitation.daily.hdd",
        ),
    )
    .unwrap();
    expect_error(
        dir,
        "glossary",
        "glossary.toml",
        "key `terms[1].columns[0]`",
    );

    // A synonym that is another term's word.
    std::fs::write(
        &glossary,
        original.replace(
            "synonyms = [\"HDD\"]",
            "synonyms = [\"HDD\", \"Energy consumption\"]",
        ),
    )
    .unwrap();
    expect_error(
        dir,
        "glossary",
        "glossary.toml",
        "key `terms[1].synonyms[1]`",
    );

    // A column naming a term the glossary does not have.
    std::fs::write(&glossary, &original).unwrap();
    let model = dir.join("models/daily_consumption.toml");
    let model_original = std::fs::read_to_string(&model).unwrap();
    std::fs::write(
        &model,
        model_original.replace(
            "glossary = \"heating degree days\"",
            "glossary = \"degree days\"",
        ),
    )
    .unwrap();
    expect_error(dir, "glossary", "daily_consumption.toml", "glossary");
    let out = keel(dir, &["run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`degree days` is not a term"));
    std::fs::write(&model, &model_original).unwrap();

    let source = dir.join("sources/customers.toml");
    let source_original = std::fs::read_to_string(&source).unwrap();
    std::fs::write(
        &source,
        source_original.replace("glossary = \"customer\"", "glossary = \"buyer\""),
    )
    .unwrap();
    expect_error(
        dir,
        "glossary",
        "customers.toml",
        "key `columns[0].glossary`",
    );
    std::fs::write(&source, &source_original).unwrap();

    // Fixed again, the project loads.
    keel_ok(dir, &["glossary"]);
}
