//! One extra month for one device: a new, clean file after the period, leaving the others alone.

use keel_example::{generate, generate_extra_month};

use crate::support::{self, classify, hashes, small};

#[test]
fn extra_month_adds_one_clean_file_after_the_period() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small(9);
    generate(dir.path(), &opts).unwrap();
    let before = hashes(dir.path());
    let (rel, rows) = generate_extra_month(dir.path(), &opts, 1).unwrap();
    assert!(rel.starts_with("inbox/meters/pl2/2017-02-0"), "{rel}");
    assert!(rel.ends_with("/PL2-00002_201701.csv"), "{rel}");
    assert_eq!(rows, 31);
    let after = hashes(dir.path());
    assert_eq!(after.len(), before.len() + 1);
    assert!(before.iter().all(|(k, v)| after.get(k) == Some(v)));

    let bytes = std::fs::read(dir.path().join("data").join(&rel)).unwrap();
    let meters_rel = rel.strip_prefix("inbox/meters/").unwrap();
    let truth = classify(meters_rel, &bytes);
    assert_eq!(truth.data_lines, rows);
    assert!(truth.malformed_lines.is_empty() && truth.duplicate_lines.is_empty());
    assert!(truth.negative_lines.is_empty() && truth.absurd_lines.is_empty());

    // Deterministic too: the same call writes the same bytes.
    let again = tempfile::tempdir().unwrap();
    assert_eq!(
        generate_extra_month(again.path(), &opts, 1).unwrap(),
        (rel.clone(), rows)
    );
    assert_eq!(support::files(&again.path().join("data")).len(), 1);
    assert_eq!(
        std::fs::read(again.path().join("data").join(&rel)).unwrap(),
        bytes
    );
}

#[test]
fn extra_month_rejects_an_unknown_device() {
    let dir = tempfile::tempdir().unwrap();
    let err = generate_extra_month(dir.path(), &small(9), 10).unwrap_err();
    assert!(err.to_string().contains("device_index"), "{err}");
}
