//! Locale numerics through a CSV source (RELIABILITY C3): decimal commas, thousands
//! separators found by detection (`.`, spaces), groups of exactly 3 digits, and `1,234`
//! with no thousands separator rejected as ambiguous. No cast makes a NULL: a number
//! that cannot be read is quarantined.

use crate::lab::Lab;

/// A `;`-delimited source `meter;kwh;pulses` with `decimal` as given.
fn source(decimal: &str) -> String {
    format!(
        r#"
[collector]
kind = "files"
path = "inbox"
[format]
kind = "csv"
[[format.dialects]]
name = "d"
delimiter = ";"
decimal = "{decimal}"
[format.dialects.columns]
meter = "meter"
kwh = "kwh"
pulses = "pulses"
[[columns]]
name = "meter"
type = "string"
required = true
[[columns]]
name = "kwh"
type = "float64"
[[columns]]
name = "pulses"
type = "int64"
"#
    )
}

/// `(meter, kwh, pulses)` written, by meter.
async fn written(lab: &Lab, table: &str) -> Vec<Vec<String>> {
    lab.rows(&format!(
        "SELECT meter, kwh, pulses FROM formatted.{table} ORDER BY meter"
    ))
    .await
}

/// `(line, column, rule, reason)` quarantined, by line.
async fn quarantined(lab: &Lab, table: &str) -> Vec<[String; 4]> {
    lab.rows(&format!(
        "SELECT _keel_line, \"column\", rule, reason FROM quarantine.{table} ORDER BY _keel_line"
    ))
    .await
    .into_iter()
    .map(|r| [r[0].clone(), r[1].clone(), r[2].clone(), r[3].clone()])
    .collect()
}

fn row(v: [&str; 3]) -> Vec<String> {
    v.map(String::from).to_vec()
}

#[tokio::test]
async fn detected_thousands_are_read_strictly_and_ambiguous_numbers_rejected() {
    let lab = Lab::new(
        &[
            ("pl", &source("auto")),
            ("spaces", &source("auto")),
            ("comma", &source(",")),
            ("point", &source(".")),
        ],
        1024,
    );
    // Thousands `.` and decimal `,` (detected): groups of 3 only.
    let pl = "meter;kwh;pulses\n\
              A;1.234,5;1.234\n\
              B;12.345.678,25;12\n\
              C;0,5;7\n\
              D;1.23,4;1\n\
              E;1.234.5;2\n\
              F;2.000,75;3\n\
              G;3.500;4\n\
              H;10,25;5\n\
              I;999,5;6\n\
              J;1.000.000;2.000.000\n\
              K;4,5;12.34\n";
    lab.land("pl", "pl.csv", pl.as_bytes());
    // Spaces: plain, no-break (U+00A0) and narrow no-break (U+202F), one kind per file
    // (detection finds a file's separator; conversion takes the three as one).
    let spaced = |sep: char| {
        "meter;kwh;pulses\n\
         A;1_234,5;1_234\n\
         B;12_345_678,25;7\n\
         C;1_23,4;1\n\
         D;2_000,75;3\n\
         E;10,5;4\n\
         F;20,5;5\n\
         G;30,5;6\n\
         H;4_000;12_345\n"
            .replace('_', &sep.to_string())
    };
    for (name, sep) in [("space", ' '), ("nbsp", '\u{a0}'), ("nnbsp", '\u{202f}')] {
        lab.land("spaces", &format!("{name}.csv"), spaced(sep).as_bytes());
    }
    // Decimal `,` declared, no thousands separator: `1.234,5` cannot be read.
    lab.land(
        "comma",
        "comma.csv",
        b"meter;kwh;pulses\nA;1234,5;1\nB;1.234,5;2\n",
    );
    // Decimal `.` declared, no thousands separator: `1,234` is ambiguous, neither 1.234
    // nor 1234.
    lab.land(
        "point",
        "point.csv",
        b"meter;kwh;pulses\nA;1234.5;1\nB;1,234;2\nC;1.5;1,000\n",
    );

    let report = lab.format("pl").await;
    assert_eq!(
        (report.rows_written, report.rows_quarantined),
        (8, 3),
        "{report:?}"
    );
    assert_eq!(
        written(&lab, "pl").await,
        [
            row(["A", "1234.5", "1234"]),
            row(["B", "12345678.25", "12"]),
            row(["C", "0.5", "7"]),
            row(["F", "2000.75", "3"]),
            row(["G", "3500.0", "4"]),
            row(["H", "10.25", "5"]),
            row(["I", "999.5", "6"]),
            row(["J", "1000000.0", "2000000"]),
        ]
    );
    let q = quarantined(&lab, "pl").await;
    let summary: Vec<[&str; 3]> = q
        .iter()
        .map(|r| [r[0].as_str(), r[1].as_str(), r[2].as_str()])
        .collect();
    assert_eq!(
        summary,
        [
            ["5", "kwh", "parse_number"],
            ["6", "kwh", "parse_number"],
            ["12", "pulses", "parse_number"],
        ]
    );
    assert!(q[0][3].contains("thousands `.`"), "{}", q[0][3]);

    let report = lab.format("spaces").await;
    assert_eq!(
        (report.rows_written, report.rows_quarantined),
        (3 * 7, 3),
        "{report:?}"
    );
    let rows = lab
        .rows("SELECT DISTINCT meter, kwh, pulses FROM formatted.spaces ORDER BY meter")
        .await;
    assert_eq!(
        rows,
        [
            row(["A", "1234.5", "1234"]),
            row(["B", "12345678.25", "7"]),
            row(["D", "2000.75", "3"]),
            row(["E", "10.5", "4"]),
            row(["F", "20.5", "5"]),
            row(["G", "30.5", "6"]),
            row(["H", "4000.0", "12345"]),
        ],
        "the three spaces read alike"
    );
    let q = quarantined(&lab, "spaces").await;
    assert!(
        q.iter().all(|r| (&*r[0], &*r[2]) == ("4", "parse_number")),
        "{q:?}"
    );

    let report = lab.format("comma").await;
    assert_eq!((report.rows_written, report.rows_quarantined), (1, 1));
    let q = quarantined(&lab, "comma").await;
    assert_eq!(
        (&*q[0][0], &*q[0][1], &*q[0][2]),
        ("3", "kwh", "parse_number")
    );
    assert!(q[0][3].contains("no thousands separator"), "{}", q[0][3]);

    let report = lab.format("point").await;
    assert_eq!((report.rows_written, report.rows_quarantined), (1, 2));
    assert_eq!(written(&lab, "point").await, [row(["A", "1234.5", "1"])]);
    let q = quarantined(&lab, "point").await;
    let summary: Vec<[&str; 3]> = q
        .iter()
        .map(|r| [r[0].as_str(), r[1].as_str(), r[2].as_str()])
        .collect();
    assert_eq!(
        summary,
        [
            ["3", "kwh", "parse_number"],
            ["4", "pulses", "parse_number"]
        ]
    );

    // No cast made a NULL: every value written was read, every other row quarantined.
    for table in ["pl", "spaces", "comma", "point"] {
        let nulls = lab
            .rows(&format!(
                "SELECT count(*) FROM formatted.{table} WHERE kwh IS NULL OR pulses IS NULL"
            ))
            .await;
        assert_eq!(nulls, [["0".to_string()]], "{table}");
    }
}

#[tokio::test]
async fn a_declared_thousands_separator_is_read_strictly() {
    let declared = source(",").replace("decimal = \",\"", "decimal = \",\"\nthousands = \".\"");
    let lab = Lab::new(&[("t", &declared)], 100);
    lab.land(
        "t",
        "t.csv",
        "meter;kwh;pulses\nA;1.234,5;1.000\nB;12,5;7\nC;1.23,4;1\nD;1234,5;2\n".as_bytes(),
    );
    let report = lab.format("t").await;
    assert_eq!((report.rows_written, report.rows_quarantined), (3, 1));
    assert_eq!(
        written(&lab, "t").await,
        [
            row(["A", "1234.5", "1000"]),
            row(["B", "12.5", "7"]),
            row(["D", "1234.5", "2"])
        ]
    );
    let q = quarantined(&lab, "t").await;
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!((q[0][0].as_str(), q[0][1].as_str()), ("4", "kwh"));
    // The same separator as the decimal is refused when the source is planned.
    let clash = source(",").replace("decimal = \",\"", "decimal = \",\"\nthousands = \",\"");
    let spec = toml::from_str(&clash).unwrap();
    let source = keel_core::project::Source {
        name: "x".into(),
        path: "sources/x.toml".into(),
        spec,
    };
    let err = keel_formatted::SourcePlan::new(&source)
        .unwrap_err()
        .to_string();
    assert!(err.contains("thousands"), "{err}");
}
