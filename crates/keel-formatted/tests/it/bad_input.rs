//! The bad-input suite of issue 4 (RELIABILITY C1, C5, C6, C7, C8): one fixture per fault,
//! all landed in one source and formatted in one run. Each gets its rows quarantined with a
//! rule and a reason, or a whole-object rejection, and the run goes on with the others.

use std::collections::BTreeMap;
use std::io::Write;

use crate::lab::Lab;

const SOURCE: &str = r#"
[collector]
kind = "files"
path = "inbox"
[format]
kind = "csv"
[[format.dialects]]
name = "exported"
match = "preamble*.csv"
preamble_lines = "auto"
date_format = "%Y-%m-%d"
[format.dialects.columns]
device = "device"
day = "day"
kwh = "kwh"
note = "note"
[[format.dialects]]
name = "plain"
date_format = "%Y-%m-%d"
[format.dialects.columns]
device = "device"
day = "day"
kwh = "kwh"
note = "note"
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
max = 50000.0
[[columns]]
name = "note"
type = "string"
[keys]
primary = ["device", "day"]
"#;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[tokio::test]
async fn every_fixture_is_quarantined_or_read_and_the_run_goes_on() {
    let lab = Lab::new(&[("r", SOURCE)], 1000);
    let header = "device,day,kwh,note\n";
    let mut fixtures: Vec<(&str, Vec<u8>)> = vec![
        (
            "ragged.csv",
            format!("{header}d1,2024-01-01,1,\nd1,2024-01-02\nd1,2024-01-03,1,a,extra\nd1,2024-01-04,2,\n")
                .into_bytes(),
        ),
        (
            "quoted_newline.csv",
            format!("{header}d2,2024-01-01,1,\"two\nlines\"\nd2,2024-01-02,2,x\n").into_bytes(),
        ),
        (
            "bom.csv",
            format!("\u{feff}{header}d3,2024-01-01,1,\n").into_bytes(),
        ),
        ("empty.csv", Vec::new()),
        (
            "not_finite.csv",
            format!("{header}d4,2024-01-01,NaN,\nd4,2024-01-02,inf,\nd4,2024-01-03,1e400,\nd4,2024-01-04,-0,\n")
                .into_bytes(),
        ),
        (
            "cr_only.csv",
            "device,day,kwh,note\rd5,2024-01-01,1,\rd5,2024-01-02,2,\r".into(),
        ),
        (
            "mixed_dates.csv",
            format!("{header}d6,2024-01-01,1,\nd6,02.01.2024,1,\nd6,2024/01/03,1,\n").into_bytes(),
        ),
        (
            "absurd.csv",
            format!("{header}d7,2024-01-01,99999999,\nd7,2024-01-02,3,\n").into_bytes(),
        ),
        (
            "big_field.csv",
            format!(
                "{header}d8,2024-01-01,1,{}\nd8,2024-01-02,2,small\n",
                "x".repeat(10 << 20)
            )
            .into_bytes(),
        ),
        (
            "preamble.csv",
            format!("Exported by MeterSoft 2.1\nStation: Tartu\n\n{header}d11,2024-01-01,1,\nd11,2024-01-02,2,\n")
                .into_bytes(),
        ),
        (
            "header_only.csv",
            header.as_bytes().to_vec(),
        ),
        (
            "unterminated_quote.csv",
            format!("{header}d9,2024-01-01,1,\"open\nd9,2024-01-02,2,\n").into_bytes(),
        ),
    ];
    let mut binary = b"\x89PNG\r\n\x1a\n".to_vec();
    binary.extend((0..4096u32).map(|i| (i * 7919 % 251) as u8));
    fixtures.push(("binary.csv", binary));
    let full = gzip(
        format!("{header}d10,2024-01-01,1,\n")
            .repeat(2000)
            .as_bytes(),
    );
    fixtures.push(("truncated.csv.gz", full[..full.len() / 2].to_vec()));

    let mut ids = BTreeMap::new();
    for (name, bytes) in &fixtures {
        ids.insert(lab.land("r", name, bytes), *name);
    }
    let report = lab.format("r").await;
    assert_eq!(
        report.objects as usize,
        fixtures.len(),
        "every object formatted"
    );

    // What each object gave: rows written, and its quarantine as `line:rule(column)`.
    let ledger: BTreeMap<&str, (i64, i64, i64)> = lab
        .catalog
        .ledger("r")
        .unwrap()
        .into_iter()
        .map(|e| {
            (
                ids[&e.object_id],
                (e.rows_read, e.rows_written, e.rows_quarantined),
            )
        })
        .collect();
    let mut quarantine: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for r in lab
        .rows(
            "SELECT _keel_object, _keel_line, rule, coalesce(\"column\", '-'), reason, \
             length(raw) FROM quarantine.r ORDER BY _keel_object, _keel_line",
        )
        .await
    {
        assert!(!r[4].is_empty(), "a reason for every rejection: {r:?}");
        quarantine
            .entry(ids[r[0].as_str()])
            .or_default()
            .push(format!("{}:{}({})", r[1], r[2], r[3]));
        assert!(
            r[5].parse::<usize>().unwrap() <= 64 * 1024,
            "raw text is clipped: {r:?}"
        );
    }
    let q = |name: &str| quarantine.get(name).cloned().unwrap_or_default();

    assert_eq!(ledger["ragged.csv"], (4, 2, 2));
    assert_eq!(q("ragged.csv"), ["3:field_count(-)", "4:field_count(-)"]);

    assert_eq!(ledger["quoted_newline.csv"], (2, 2, 0));
    let lines = lab
        .rows("SELECT _keel_line, note FROM formatted.r WHERE device = 'd2' ORDER BY 1")
        .await;
    assert_eq!(lines, [["2", "two\nlines"], ["4", "x"]]);

    assert_eq!(ledger["bom.csv"], (1, 1, 0));
    assert_eq!(ledger["empty.csv"], (0, 0, 0));
    assert_eq!(ledger["header_only.csv"], (0, 0, 0));

    assert_eq!(ledger["not_finite.csv"], (4, 1, 3));
    assert_eq!(
        q("not_finite.csv"),
        [
            "2:not_finite(kwh)",
            "3:not_finite(kwh)",
            "4:not_finite(kwh)"
        ]
    );

    assert_eq!(ledger["cr_only.csv"], (2, 2, 0));
    let lines = lab
        .rows("SELECT _keel_line FROM formatted.r WHERE device = 'd5' ORDER BY 1")
        .await;
    assert_eq!(lines, [["2"], ["3"]]);

    assert_eq!(ledger["mixed_dates.csv"], (3, 1, 2));
    assert_eq!(
        q("mixed_dates.csv"),
        ["3:parse_date(day)", "4:parse_date(day)"]
    );

    // Three lines before the header are found by detection; line numbers stay physical.
    assert_eq!(ledger["preamble.csv"], (2, 2, 0));
    let lines = lab
        .rows("SELECT _keel_line FROM formatted.r WHERE device = 'd11' ORDER BY 1")
        .await;
    assert_eq!(lines, [["5"], ["6"]]);

    assert_eq!(ledger["absurd.csv"], (2, 1, 1));
    assert_eq!(q("absurd.csv"), ["2:bounds(kwh)"]);

    assert_eq!(ledger["big_field.csv"], (2, 1, 1));
    assert_eq!(q("big_field.csv"), ["2:size_limit(note)"]);

    // An unterminated quote swallows the rest of the file into one field: that record is
    // quarantined, never half-read.
    assert_eq!(ledger["unterminated_quote.csv"], (1, 0, 1));
    assert_eq!(q("unterminated_quote.csv"), ["2:csv_syntax(-)"]);

    assert_eq!(ledger["binary.csv"], (1, 0, 1));
    assert_eq!(q("binary.csv"), ["0:binary(-)"]);

    assert_eq!(ledger["truncated.csv.gz"], (1, 0, 1));
    assert_eq!(q("truncated.csv.gz"), ["0:compression(-)"]);
}

/// RELIABILITY C7: a 1 GiB line (inside a 1 MiB gzip object) is refused with `size_limit`
/// as it streams past, without being held; the records around it are read.
#[tokio::test]
async fn a_gigabyte_line_is_refused_as_it_streams_past() {
    let lab = Lab::new(&[("r", SOURCE)], 1000);
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b"device,day,kwh,note\nd1,2024-01-01,1,a\nd1,2024-01-02,2,")
        .unwrap();
    let block = vec![b'x'; 1 << 20];
    for _ in 0..1024 {
        e.write_all(&block).unwrap();
    }
    e.write_all(b"\nd1,2024-01-03,3,c\n").unwrap();
    let object = e.finish().unwrap();
    assert!(
        object.len() < 64 << 20,
        "the object is small, its line is not"
    );
    lab.land("r", "huge_line.csv.gz", &object);
    let report = lab.format("r").await;
    assert_eq!(
        (report.rows_written, report.rows_quarantined),
        (2, 1),
        "{report:?}"
    );
    let rows = lab
        .rows("SELECT _keel_line, rule, length(raw) FROM quarantine.r")
        .await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0..2], ["3".to_string(), "size_limit".to_string()]);
    let kept = lab
        .rows("SELECT _keel_line, note FROM formatted.r ORDER BY 1")
        .await;
    assert_eq!(kept, [["2", "a"], ["4", "c"]]);
}
