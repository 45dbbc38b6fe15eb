//! Parsing with declared dialects: every record keeps its line and raw text; bad values are
//! rejected with the column and the rule, never turned into NULL.

use keel_formatted::convert::{Value, convert};
use keel_formatted::parse::csv;
use keel_formatted::time::AmbiguityTracker;

use crate::plan;

const METERS: &str = r#"
[collector]
kind = "files"
path = "."
[format]
kind = "csv"
[[format.dialects]]
name = "pl2"
encoding = "windows-1250"
delimiter = ";"
decimal = ","
date_format = "%d.%m.%Y"
[format.dialects.columns]
device_id = "Licznik"
reading_date = "Data"
consumption_kwh = { field = "Zużycie [MWh]", unit = "MWh" }
[[columns]]
name = "device_id"
type = "string"
required = true
[[columns]]
name = "reading_date"
type = "date"
required = true
[[columns]]
name = "consumption_kwh"
type = "float64"
unit = "kWh"
required = true
min = 0.0
max = 50000.0
[keys]
primary = ["device_id", "reading_date"]
"#;

#[test]
fn windows_1250_decimal_comma_and_units_are_read_per_dialect() {
    let plan = plan(METERS);
    let dialect = &plan.dialects[0];
    let text = "Licznik;Data;Zużycie [MWh]\r\nPL2-1;01.01.2016;1,23456\r\nPL2-1;02.01.2016;-0,5\r\n\
                PL2-1;31.02.2016;1,0\r\nPL2-1;04.01.2016\r\nPL2-1;05.01.2016;1.5\r\n";
    let (bytes, _, _) = encoding_rs::WINDOWS_1250.encode(text);
    let parsed = csv::parse(&bytes, dialect, &plan.columns, "PL2-1_201601.csv");
    assert_eq!(parsed.len(), 5);

    let first = parsed[0].as_ref().unwrap();
    assert_eq!(first.line, 2);
    assert_eq!(first.raw, "PL2-1;01.01.2016;1,23456");
    let values = convert(first, dialect, &plan.columns, &mut AmbiguityTracker::new()).unwrap();
    assert_eq!(values[2], Value::Float(1234.56));

    let rules: Vec<String> = parsed
        .iter()
        .map(|r| match r {
            Ok(rec) => match convert(rec, dialect, &plan.columns, &mut AmbiguityTracker::new()) {
                Ok(_) => "ok".to_string(),
                Err(rej) => format!(
                    "{}@{}:{}",
                    rej.rule,
                    rej.line,
                    rej.column.unwrap_or_default()
                ),
            },
            Err(rej) => format!("{}@{}", rej.rule, rej.line),
        })
        .collect();
    assert_eq!(
        rules,
        [
            "ok",
            "bounds@3:consumption_kwh",
            "parse_date@4:reading_date",
            "field_count@5",
            "parse_number@6:consumption_kwh",
        ]
    );
}

#[test]
fn a_header_without_a_required_field_rejects_every_row_with_the_field_named() {
    let plan = plan(METERS);
    let text = "Licznik;Dzien;Zużycie [MWh]\nPL2-1;01.01.2016;1,0\n";
    let (bytes, _, _) = encoding_rs::WINDOWS_1250.encode(text);
    let parsed = csv::parse(&bytes, &plan.dialects[0], &plan.columns, "x.csv");
    let rej = parsed[0].as_ref().unwrap_err();
    assert_eq!(rej.rule, "missing_column");
    assert!(rej.reason.contains("Data"), "{}", rej.reason);
}

#[test]
fn invalid_bytes_are_rejected_not_replaced_silently() {
    let plan = plan(
        &METERS
            .replace("windows-1250", "utf-8")
            .replace("Zużycie", "Zuzycie"),
    );
    let mut bytes =
        b"Licznik;Data;Zuzycie [MWh]\nPL2-1;01.01.2016;1,0\nPL2-\xff;02.01.2016;1,0\n".to_vec();
    bytes.extend_from_slice(b"PL2-1;03.01.2016;2,0\n");
    let parsed = csv::parse(&bytes, &plan.dialects[0], &plan.columns, "x.csv");
    assert!(parsed[0].is_ok());
    assert_eq!(parsed[1].as_ref().unwrap_err().rule, "encoding");
    assert_eq!(parsed[1].as_ref().unwrap_err().line, 3);
    assert!(parsed[2].is_ok());
}
