//! A chunk staged on disk (spilled past a zero memory budget, cut into many key
//! partitions) formats into exactly what the in-memory stage gives: the same rows, the same
//! quarantine and the same ledger, with duplicates settled within and across objects and a
//! corrupt gzip object voided whole after its first rows were staged; a later run merges
//! into the table from the staged files.

use std::io::Write;

use crate::lab::Lab;

const SOURCE: &str = r#"
[collector]
kind = "files"
path = "inbox"
[format]
kind = "csv"
[[format.dialects]]
name = "plain"
date_format = "%Y-%m-%d"
[format.dialects.columns]
device = "device"
day = "day"
kwh = "kwh"
[[columns]]
name = "device"
type = "string"
required = true
[[columns]]
name = "day"
type = "date"
required = true
[[columns]]
name = "kwh"
type = "float64"
required = true
min = 0.0
[keys]
primary = ["device", "day"]
"#;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Objects with duplicates inside, re-sends with corrected values, bad rows, and a gzip
/// whose trailer is cut (large enough that its first rows reach the stage).
fn objects() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for device in 0..12 {
        let mut text = String::from("device,day,kwh\n");
        for day in 1..=28 {
            text.push_str(&format!(
                "d{device},2024-02-{day:02},{}\n",
                device * 100 + day
            ));
            if day % 9 == 0 {
                // The same key again in the same object: a duplicate.
                text.push_str(&format!(
                    "d{device},2024-02-{day:02},{}\n",
                    device * 100 + day
                ));
            }
        }
        text.push_str(&format!("d{device},2024-02-30,1\n"));
        text.push_str(&format!("d{device},2024-02-01,-5\n"));
        out.push((format!("d{device}_202402.csv"), text.into_bytes()));
    }
    // Re-sends: a later object replaces its keys.
    for device in [3, 7] {
        let text = format!("device,day,kwh\nd{device},2024-02-05,999\nd{device},2024-03-01,1\n");
        out.push((format!("d{device}_202402_fix.csv"), text.into_bytes()));
    }
    let body: String = std::iter::once("device,day,kwh\n".to_string())
        .chain((0..40_000).map(|i| format!("z{},2024-01-{:02},{i}\n", i % 500, i % 28 + 1)))
        .collect();
    let mut cut = gzip(body.as_bytes());
    cut.truncate(cut.len() - 6);
    out.push(("cut.csv.gz".into(), cut));
    out
}

async fn formatted(engine: &str) -> (Vec<Vec<String>>, Vec<Vec<String>>, Vec<Vec<String>>) {
    let lab = Lab::with_engine(&[("r", SOURCE)], engine);
    for (name, bytes) in objects() {
        lab.land("r", &name, &bytes);
    }
    let report = lab.format("r").await;
    assert_eq!(report.rows_replaced, 2, "{report:?}");
    // A later run with keys already in the table: a merge, from the staged files when the
    // stage spilled.
    lab.land(
        "r",
        "d0_202402_late.csv",
        b"device,day,kwh\nd0,2024-02-01,777\nd0,2024-02-02,778\n",
    );
    let late = lab.format("r").await;
    assert_eq!((late.rows_written, late.commits), (2, 1), "{late:?}");
    let operation = lab
        .rows(
            "SELECT operation FROM keel_catalog.dataset_versions \
             WHERE name = 'formatted.r' ORDER BY version DESC LIMIT 1",
        )
        .await;
    assert_eq!(operation, [["merge"]]);
    let rows = lab
        .rows("SELECT device, day, kwh, _keel_line FROM formatted.r ORDER BY device, day")
        .await;
    let quarantine = lab
        .rows(
            "SELECT _keel_object, _keel_line, rule FROM quarantine.r \
             ORDER BY _keel_object, _keel_line",
        )
        .await;
    let mut ledger: Vec<Vec<String>> = lab
        .catalog
        .ledger("r")
        .unwrap()
        .iter()
        .map(|e| {
            vec![
                e.object_id.clone(),
                e.rows_read.to_string(),
                e.rows_written.to_string(),
                e.rows_quarantined.to_string(),
                e.rows_duplicate.to_string(),
            ]
        })
        .collect();
    ledger.sort();
    (rows, quarantine, ledger)
}

#[tokio::test]
async fn a_spilled_partitioned_stage_gives_what_memory_gives() {
    let in_memory = formatted("batch_size = 16").await;
    let spilled = formatted("batch_size = 16\nstage_memory_mib = 0\nstage_partition_mib = 0").await;
    assert_eq!(in_memory, spilled);
    let (rows, quarantine, ledger) = in_memory;
    assert_eq!(
        rows.len(),
        12 * 28 + 2,
        "28 days per device and two new keys"
    );
    let fixed: Vec<&Vec<String>> = rows
        .iter()
        .filter(|r| r[1] == "2024-02-05" && (r[0] == "d3" || r[0] == "d7"))
        .collect();
    assert!(fixed.iter().all(|r| r[2] == "999.0"), "{fixed:?}");
    assert_eq!(
        quarantine.iter().filter(|q| q[2] == "compression").count(),
        1,
        "the cut gzip is one rejection, none of its rows: {quarantine:?}"
    );
    assert_eq!(
        quarantine.len(),
        12 * 2 + 1,
        "a bad date and a negative reading per device, and the cut gzip"
    );
    let duplicates: u64 = ledger.iter().map(|l| l[4].parse::<u64>().unwrap()).sum();
    assert_eq!(duplicates, 12 * 3, "days 9, 18 and 27 twice per device");
}
