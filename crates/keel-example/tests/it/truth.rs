//! The truth agrees with the files: re-parsed independently, every count, line and re-send matches.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use keel_example::{GenerateOptions, Truth, generate};

use crate::support::{self, classify, decode, lines, parse_line};

/// Checks every meter file against `truth` and returns nothing; panics on the first mismatch.
fn assert_consistent(data: &Path, truth: &Truth) {
    let meters = data.join("inbox/meters");
    let on_disk = support::files(&meters);
    let m = &truth.meters;
    assert_eq!(on_disk.len(), m.files_delivered);
    assert_eq!(on_disk.len(), m.per_file.len() + m.resent_identical);

    // Files by name, in delivery order (the delivery folder sorts by date).
    let mut by_name: BTreeMap<String, Vec<(NaiveDate, String, Vec<u8>)>> = BTreeMap::new();
    for (rel, path) in &on_disk {
        let parts: Vec<&str> = rel.split('/').collect();
        let delivered = NaiveDate::parse_from_str(parts[1], "%Y-%m-%d").unwrap();
        let entry = (delivered, rel.clone(), std::fs::read(path).unwrap());
        by_name
            .entry(format!("{}/{}", parts[0], parts[2]))
            .or_default()
            .push(entry);
    }

    let (mut identical, mut corrected) = (0, 0);
    let mut sums = [0usize; 5];
    for (name, deliveries) in &mut by_name {
        deliveries.sort();
        let (first_delivery, original_rel, original) = &deliveries[0];
        // Originals arrive on the 1st to 3rd of the month after the one they cover.
        let month = name.rsplit('_').next().unwrap().trim_end_matches(".csv");
        let covered = NaiveDate::parse_from_str(&format!("{month}01"), "%Y%m%d").unwrap();
        let expected_month = covered.checked_add_months(chrono::Months::new(1)).unwrap();
        assert_eq!(
            first_delivery.with_day(1).unwrap(),
            expected_month,
            "{original_rel}"
        );
        assert!(first_delivery.day() <= 3, "{original_rel}");
        assert!(
            deliveries.len() <= 2,
            "{name} delivered {} times",
            deliveries.len()
        );
        for (delivered, rel, bytes) in deliveries.iter() {
            let listed = m.per_file.get(rel);
            if rel != original_rel && bytes == original {
                identical += 1;
                assert!(
                    listed.is_none(),
                    "identical re-send {rel} listed in per_file"
                );
                let delay = (*delivered - *first_delivery).num_days();
                assert!(
                    (5..=20).contains(&delay),
                    "{rel}: re-sent after {delay} days"
                );
                continue;
            }
            if rel != original_rel {
                corrected += 1;
                let delay = (*delivered - *first_delivery).num_days();
                assert!(
                    (20..=40).contains(&delay),
                    "{rel}: corrected after {delay} days"
                );
            }
            let expected = listed.unwrap_or_else(|| panic!("{rel} missing from per_file"));
            let parsed = classify(rel, bytes);
            assert_eq!(&parsed, expected, "{rel}");
            sums[0] += parsed.data_lines;
            sums[1] += parsed.malformed_lines.len();
            sums[2] += parsed.negative_lines.len();
            sums[3] += parsed.absurd_lines.len();
            sums[4] += parsed.duplicate_lines.len();
        }
    }
    assert_eq!(identical, m.resent_identical);
    assert_eq!(corrected, m.resent_corrected);
    assert_eq!(
        sums,
        [
            m.data_lines,
            m.malformed,
            m.negative,
            m.absurd,
            m.duplicate_rows
        ]
    );

    // Every corrected reading shows its old value in the original and its new one in the re-send.
    for c in &m.corrected_readings {
        let date = NaiveDate::parse_from_str(&c.date, "%Y-%m-%d").unwrap();
        let fw = c.device_id[..3].to_lowercase();
        let name = format!("{fw}/{}_{}.csv", c.device_id, date.format("%Y%m"));
        let deliveries = &by_name[&name];
        assert_eq!(deliveries.len(), 2, "{name}");
        let value_on = |(_, rel, bytes): &(NaiveDate, String, Vec<u8>)| {
            let text = decode(rel, bytes);
            let found: Vec<f64> = lines(rel, &text)[1..]
                .iter()
                .filter_map(|l| parse_line(rel, l))
                .filter(|p| p.date == date)
                .map(|p| p.kwh)
                .collect();
            assert_eq!(found.len(), 1, "{rel} {date}");
            found[0]
        };
        assert_eq!(value_on(&deliveries[0]), c.old_kwh, "{name} {date}");
        assert_eq!(value_on(&deliveries[1]), c.new_kwh, "{name} {date}");
        assert_ne!(c.old_kwh, c.new_kwh);
    }
}

fn assert_truth_file_matches(data: &Path, truth: &Truth) {
    let written: Truth =
        serde_json::from_slice(&std::fs::read(data.join("generator_truth.json")).unwrap()).unwrap();
    assert_eq!(
        serde_json::to_value(&written).unwrap(),
        serde_json::to_value(truth).unwrap()
    );
}

#[test]
fn truth_matches_the_files_of_a_small_data_set() {
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(dir.path(), &support::small(3)).unwrap();
    let data = dir.path().join("data");
    assert_consistent(&data, &truth);
    assert_truth_file_matches(&data, &truth);
    assert_eq!(
        (truth.first_day.as_str(), truth.last_day.as_str()),
        ("2016-01-01", "2016-12-31")
    );
    assert_eq!(
        truth.meters.per_file.len() - truth.meters.resent_corrected,
        10 * 12
    );
}

/// The default data set: the files agree with the truth, and the counts are in the advertised ranges.
#[test]
fn default_data_set_is_consistent_and_counts_are_in_range() {
    let dir = tempfile::tempdir().unwrap();
    let opts = GenerateOptions::default();
    let truth = generate(dir.path(), &opts).unwrap();
    let data = dir.path().join("data");
    assert_consistent(&data, &truth);
    assert_truth_file_matches(&data, &truth);

    let m = &truth.meters;
    let originals = 200 * 60;
    assert_eq!(
        m.files_delivered,
        originals + m.resent_identical + m.resent_corrected
    );
    let rate = |n: usize, of: usize| n as f64 / of as f64;
    assert!(
        (0.005..0.02).contains(&rate(m.resent_identical, originals)),
        "{}",
        m.resent_identical
    );
    assert!(m.resent_corrected >= 2, "{}", m.resent_corrected);
    assert!(m.corrected_readings.len() >= m.resent_corrected);
    // Rows: 200 devices x 1827 days, ~1% lost to outages.
    let days = 200 * 1827;
    let rows = m.data_lines - m.duplicate_rows;
    assert!((0.975..1.0).contains(&rate(rows, days)), "{rows} rows");
    assert!(
        (0.0035..0.0065).contains(&rate(m.duplicate_rows, rows)),
        "{}",
        m.duplicate_rows
    );
    assert!(
        (0.0006..0.0014).contains(&rate(m.negative, rows)),
        "{}",
        m.negative
    );
    assert!(
        (0.0002..0.0008).contains(&rate(m.absurd, rows)),
        "{}",
        m.absurd
    );
    assert!(m.malformed >= 3, "{}", m.malformed);

    let w = &truth.weather;
    assert_eq!((w.files, w.days), (5 * 60, 5 * 1827));
    assert!(w.null_temperature >= 2, "{}", w.null_temperature);
    assert_eq!(w.stations, ["WAW", "KRK", "GDN", "WRO", "POZ"]);

    assert_eq!((truth.devices_rows, truth.customers_rows), (200, 200));
    assert!((0.78..0.92).contains(&rate(truth.customers_with_ref, 200)));
    assert_customer_pairs(&data, &truth);
}

/// The truth pairs each CRM customer with one building of the device registry, one
/// customer per building, and agrees with every `internal_ref` the CRM holds.
fn assert_customer_pairs(data: &Path, truth: &Truth) {
    let pairs = &truth.customer_buildings;
    assert_eq!(pairs.len(), truth.customers_rows);
    let registry = std::fs::read_to_string(data.join("inbox/registry/devices.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(registry.as_bytes());
    let column = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "building_id")
        .expect("devices.csv has building_id");
    let buildings: std::collections::BTreeSet<String> = reader
        .records()
        .map(|r| r.unwrap()[column].to_string())
        .collect();
    let paired: std::collections::BTreeSet<&String> = pairs.values().collect();
    assert_eq!(paired.len(), pairs.len(), "a building paired twice");
    assert!(paired.iter().all(|b| buildings.contains(*b)));
    let crm = rusqlite::Connection::open(data.join("crm/crm.sqlite")).unwrap();
    let mut stmt = crm
        .prepare("SELECT customer_id, internal_ref FROM customers WHERE internal_ref IS NOT NULL")
        .unwrap();
    let refs: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(refs.len(), truth.customers_with_ref);
    for (customer, building) in refs {
        assert_eq!(pairs.get(&customer), Some(&building), "{customer}");
    }
}
