//! The ledger balances for every landing object, and its quarantine and duplicate counts
//! are exactly what the generator says it corrupted and duplicated.

use std::collections::BTreeMap;

use keel_testkit::ExampleProject;

use crate::support::{keel_ok, sql_i64, sql_rows};

#[test]
fn ledger_balances_and_matches_the_generators_faults() {
    let project = ExampleProject::small();
    let dir = project.dir();
    let meters = &project.truth.meters;
    keel_ok(dir, &["run"]);

    let unbalanced = sql_i64(
        dir,
        "SELECT count(*) FROM keel_catalog.ledger \
         WHERE rows_read <> rows_written + rows_quarantined + rows_duplicate",
    );
    assert_eq!(unbalanced, 0);

    // Per object of the meters source, against the generator's per-file account.
    let rows = sql_rows(
        dir,
        "SELECT o.original_path, l.rows_read, l.rows_quarantined, l.rows_duplicate \
         FROM keel_catalog.ledger l JOIN keel_catalog.landing_objects o USING (object_id) \
         WHERE o.source = 'meters' ORDER BY o.seq",
    );
    assert_eq!(
        rows.len(),
        meters.per_file.len(),
        "one ledger line per distinct file"
    );
    let mut quarantine_lines: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in &rows {
        let truth = &meters.per_file[&r[0]];
        let expected_q =
            truth.malformed_lines.len() + truth.negative_lines.len() + truth.absurd_lines.len();
        assert_eq!(
            r[1].parse::<usize>().unwrap(),
            truth.data_lines,
            "rows read of {}",
            r[0]
        );
        assert_eq!(
            r[2].parse::<usize>().unwrap(),
            expected_q,
            "quarantined of {}",
            r[0]
        );
        assert_eq!(
            r[3].parse::<usize>().unwrap(),
            truth.duplicate_lines.len(),
            "duplicates of {}",
            r[0]
        );
        let mut lines: Vec<i64> = truth
            .malformed_lines
            .iter()
            .chain(&truth.negative_lines)
            .chain(&truth.absurd_lines)
            .map(|&l| l as i64)
            .collect();
        lines.sort();
        if !lines.is_empty() {
            quarantine_lines.insert(r[0].clone(), lines);
        }
    }
    let total_q = sql_i64(dir, "SELECT count(*) FROM quarantine.readings");
    assert_eq!(
        total_q as usize,
        meters.malformed + meters.negative + meters.absurd
    );
    assert!(meters.malformed > 0 && meters.negative > 0 && meters.duplicate_rows > 0);

    // Each quarantined row names its object, line, rule and reason, and keeps the raw text.
    let q = sql_rows(
        dir,
        "SELECT o.original_path, q._keel_line, q.rule, q.reason, q.raw \
         FROM quarantine.readings q JOIN keel_catalog.landing_objects o \
         ON o.object_id = q._keel_object ORDER BY o.original_path, q._keel_line",
    );
    let mut seen: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in &q {
        assert!(
            !r[2].is_empty() && !r[3].is_empty() && !r[4].is_empty(),
            "{r:?}"
        );
        seen.entry(r[0].clone())
            .or_default()
            .push(r[1].parse().unwrap());
    }
    assert_eq!(
        seen, quarantine_lines,
        "quarantined lines differ from the generator's"
    );
    let rules: Vec<String> = sql_rows(
        dir,
        "SELECT DISTINCT rule FROM quarantine.readings ORDER BY rule",
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    assert!(rules.contains(&"bounds".to_string()), "{rules:?}");

    // Re-sent identical files are duplicate deliveries, not objects.
    let dup_deliveries = sql_i64(
        dir,
        "SELECT count(*) FROM keel_catalog.deliveries WHERE source = 'meters' AND duplicate = 1",
    );
    assert_eq!(dup_deliveries as usize, meters.resent_identical);
    let second_versions = sql_i64(
        dir,
        "SELECT count(*) FROM keel_catalog.landing_objects WHERE source = 'meters' AND version > 1",
    );
    assert_eq!(second_versions as usize, meters.resent_corrected);

    // Weather comes over HTTP from the archive replay, customers from the CRM database
    // through the `sql` collector as NDJSON (issue 3): every recorded day and every CRM row
    // is read once; a day without a mean temperature is quarantined, nothing is lost.
    let truth = &project.truth;
    assert_weather_and_customers_landed(dir, truth);
}

/// The `http` weather and the `sql` customers of the example: rows read against the truth.
pub fn assert_weather_and_customers_landed(dir: &std::path::Path, truth: &keel_example::Truth) {
    let read = |table: &str| {
        sql_i64(
            dir,
            &format!(
                "SELECT coalesce(sum(rows_read), 0) FROM keel_catalog.ledger \
                 WHERE table_name = '{table}'"
            ),
        ) as usize
    };
    let weather = &truth.weather;
    assert_eq!(read("weather"), weather.days, "weather days read");
    assert_eq!(
        sql_i64(dir, "SELECT count(*) FROM formatted.weather") as usize,
        weather.days - weather.null_temperature
    );
    let http = sql_i64(
        dir,
        "SELECT count(*) FROM keel_catalog.landing_objects \
         WHERE source = 'weather' AND collector LIKE '%\"kind\":\"http\"%'",
    );
    let all = sql_i64(
        dir,
        "SELECT count(*) FROM keel_catalog.landing_objects WHERE source = 'weather'",
    );
    assert!(
        http > 0 && http == all,
        "{http} of {all} weather objects came over HTTP"
    );
    let stations = sql_i64(
        dir,
        "SELECT count(DISTINCT station_id) FROM formatted.weather",
    );
    assert_eq!(stations as usize, weather.stations.len());

    assert_eq!(read("customers"), truth.customers_rows, "CRM rows read");
    assert_eq!(
        sql_i64(dir, "SELECT count(*) FROM formatted.customers") as usize,
        truth.customers_rows
    );
    assert_eq!(
        sql_i64(
            dir,
            "SELECT count(*) FROM formatted.customers WHERE building_id IS NOT NULL"
        ) as usize,
        truth.customers_with_ref
    );
}

#[test]
fn a_corrected_resend_replaces_the_original_readings() {
    let project = ExampleProject::small();
    let dir = project.dir();
    keel_ok(dir, &["run"]);
    let corrected = &project.truth.meters.corrected_readings;
    assert!(
        !corrected.is_empty(),
        "the generator re-sent no corrected file"
    );
    for c in corrected {
        let rows = sql_rows(
            dir,
            &format!(
                "SELECT consumption_kwh FROM formatted.readings \
                 WHERE device_id = '{}' AND reading_date = DATE '{}'",
                c.device_id, c.date
            ),
        );
        assert_eq!(
            rows.len(),
            1,
            "one row per key for {} {}",
            c.device_id,
            c.date
        );
        let v: f64 = rows[0][0].parse().unwrap();
        assert!(
            (v - c.new_kwh).abs() < 1e-6,
            "{} {}: {v} is not the corrected {}",
            c.device_id,
            c.date,
            c.new_kwh
        );
    }
    // No key appears twice in the formatted table.
    let dup_keys = sql_i64(
        dir,
        "SELECT count(*) FROM (SELECT device_id, reading_date FROM formatted.readings \
         GROUP BY 1, 2 HAVING count(*) > 1)",
    );
    assert_eq!(dup_keys, 0);
}
