//! NDJSON, as the `sql` collector lands table rows: one object per line, each line its own
//! record with its physical line number; a bad line is rejected alone (issue 3).

use keel_formatted::convert::{Value, convert};
use keel_formatted::parse::{Parsed, ndjson};
use keel_formatted::plan::SourcePlan;
use keel_formatted::time::AmbiguityTracker;

use crate::plan;

const CUSTOMERS: &str = r#"
[collector]
kind = "sql"
url = "sqlite://crm.sqlite"
table = "customers"
[format]
kind = "ndjson"
[[format.dialects]]
name = "crm-table"
[format.dialects.columns]
customer_id = "customer_id"
heated_area_m2 = "heated_area_m2"
construction_year = "construction_year"
building_id = "internal_ref"
[[columns]]
name = "customer_id"
type = "string"
required = true
[[columns]]
name = "heated_area_m2"
type = "float64"
[[columns]]
name = "construction_year"
type = "int64"
[[columns]]
name = "building_id"
type = "string"
[keys]
primary = ["customer_id"]
"#;

/// `ok`, or `rule@line` (with `:column` for conversion rules), per record.
fn outcomes(parsed: &Parsed, plan: &SourcePlan) -> Vec<String> {
    parsed
        .iter()
        .map(|r| match r {
            Ok(rec) => match convert(
                rec,
                &plan.dialects[0],
                &plan.columns,
                &mut AmbiguityTracker::new(),
            ) {
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
        .collect()
}

#[test]
fn every_line_is_a_record_with_its_physical_line_and_raw_text() {
    let plan = plan(CUSTOMERS);
    let dialect = &plan.dialects[0];
    let text = "\u{feff}{\"customer_id\":\"C-1\",\"heated_area_m2\":1503.3,\"construction_year\":1987,\"internal_ref\":\"B00001\"}\r\n\
                \r\n\
                {\"customer_id\":\"C-2\",\"heated_area_m2\":800,\"construction_year\":null,\"internal_ref\":null}\n\
                   \n\
                {\"customer_id\":\"C-3\",\"internal_ref\":{\"a\":1}}";
    let parsed = ndjson::parse(text.as_bytes(), dialect, &plan.columns, "customers.ndjson");
    assert_eq!(outcomes(&parsed, &plan), ["ok", "ok", "ok"]);

    let first = parsed[0].as_ref().unwrap();
    assert_eq!(first.line, 1);
    assert!(
        first.raw.starts_with("{\"customer_id\":\"C-1\""),
        "{}",
        first.raw
    );
    assert!(!first.raw.ends_with('\r'));
    let values = convert(first, dialect, &plan.columns, &mut AmbiguityTracker::new()).unwrap();
    assert_eq!(
        values,
        [
            Value::Str("C-1".into()),
            Value::Float(1503.3),
            Value::Int(1987),
            Value::Str("B00001".into()),
        ]
    );

    // Blank lines are skipped but still counted.
    let second = parsed[1].as_ref().unwrap();
    assert_eq!(second.line, 3);
    let values = convert(second, dialect, &plan.columns, &mut AmbiguityTracker::new()).unwrap();
    assert_eq!(values[1], Value::Float(800.0));
    assert_eq!((&values[2], &values[3]), (&Value::Null, &Value::Null));

    // A nested value is kept as its JSON text; an absent field is no value.
    let third = parsed[2].as_ref().unwrap();
    assert_eq!(third.line, 5);
    assert_eq!(third.values[1], None);
    assert_eq!(third.values[3].as_deref(), Some("{\"a\":1}"));
}

#[test]
fn a_line_that_is_not_a_json_object_is_rejected_alone() {
    let plan = plan(CUSTOMERS);
    let text = "{\"customer_id\":\"C-1\"}\n\
                {\"customer_id\":\"C-2\",\n\
                [1,2]\n\
                \"C-4\"\n\
                {\"customer_id\":\"C-5\",\"construction_year\":\"nineteen\"}\n\
                {\"heated_area_m2\":1.0}\n\
                {\"customer_id\":\"C-7\"}\n";
    let parsed = ndjson::parse(
        text.as_bytes(),
        &plan.dialects[0],
        &plan.columns,
        "c.ndjson",
    );
    assert_eq!(
        outcomes(&parsed, &plan),
        [
            "ok",
            "json_syntax@2",
            "json_shape@3",
            "json_shape@4",
            "parse_number@5:construction_year",
            "required@6:customer_id",
            "ok",
        ]
    );
    let broken = parsed[1].as_ref().unwrap_err();
    assert_eq!(broken.raw, "{\"customer_id\":\"C-2\",");
    assert!(!broken.reason.is_empty());
    assert!(
        parsed[2].as_ref().unwrap_err().reason.contains("an array"),
        "{:?}",
        parsed[2]
    );
}

#[test]
fn a_dialect_path_picks_the_record_inside_each_line() {
    let plan = plan(&CUSTOMERS.replace(
        "name = \"crm-table\"",
        "name = \"crm-table\"\npath = \"after\"",
    ));
    let text = "{\"op\":\"u\",\"after\":{\"customer_id\":\"C-1\"}}\n{\"op\":\"d\",\"before\":{}}\n";
    let parsed = ndjson::parse(
        text.as_bytes(),
        &plan.dialects[0],
        &plan.columns,
        "c.ndjson",
    );
    assert_eq!(outcomes(&parsed, &plan), ["ok", "json_path@2"]);
    assert_eq!(
        parsed[0].as_ref().unwrap().values[0].as_deref(),
        Some("C-1")
    );
}

#[test]
fn invalid_bytes_reject_their_line_only() {
    let plan = plan(CUSTOMERS);
    let bytes =
        b"{\"customer_id\":\"C-1\"}\n{\"customer_id\":\"C-\xff\"}\n{\"customer_id\":\"C-3\"}\n";
    let parsed = ndjson::parse(bytes, &plan.dialects[0], &plan.columns, "c.ndjson");
    assert_eq!(outcomes(&parsed, &plan), ["ok", "encoding@2", "ok"]);
}

#[test]
fn an_empty_object_has_no_records() {
    let plan = plan(CUSTOMERS);
    assert!(ndjson::parse(b"", &plan.dialects[0], &plan.columns, "c.ndjson").is_empty());
    assert!(ndjson::parse(b"\n\r\n", &plan.dialects[0], &plan.columns, "c.ndjson").is_empty());
}

#[test]
fn a_columns_layout_is_refused_for_ndjson() {
    let spec = toml::from_str(&CUSTOMERS.replace(
        "name = \"crm-table\"",
        "name = \"crm-table\"\nlayout = \"columns\"",
    ))
    .unwrap();
    let source = keel_core::project::Source {
        name: "s".into(),
        path: "sources/s.toml".into(),
        spec,
    };
    let err = SourcePlan::new(&source).unwrap_err().to_string();
    assert!(err.contains("format.dialects[0].layout"), "{err}");
}

#[test]
fn json_structure_faults_are_rejected_line_by_line() {
    // RELIABILITY C9: a bad line mid-file, a NaN literal, huge numbers, duplicate keys, a
    // type change, and a truncated last line (an upload cut short).
    let plan = plan(CUSTOMERS);
    let text = "{\"customer_id\":\"C-1\",\"heated_area_m2\":120.5}\n\
                {\"customer_id\":\"C-2\",\"heated_area_m2\":NaN}\n\
                {\"customer_id\":\"C-3\",\"heated_area_m2\":1e400}\n\
                {\"customer_id\":\"C-4\",\"construction_year\":123456789012345678901234}\n\
                {\"customer_id\":\"C-5\",\"heated_area_m2\":1,\"heated_area_m2\":2}\n\
                {\"customer_id\":\"C-6\",\"heated_area_m2\":\"88.5\"}\n\
                {\"customer_id\":\"C-7\",\"heated_area_m2\":{\"value\":1}}\n\
                {\"customer_id\":\"C-8\",\"construction_year\":1990.0}\n\
                {\"customer_id\":\"C-9\",\"heated_are";
    let parsed = ndjson::parse(
        text.as_bytes(),
        &plan.dialects[0],
        &plan.columns,
        "c.ndjson",
    );
    assert_eq!(
        outcomes(&parsed, &plan),
        [
            "ok",
            "json_syntax@2",
            "json_syntax@3",
            "parse_number@4:construction_year",
            "json_duplicate_key@5",
            "ok",
            "parse_number@7:heated_area_m2",
            "ok",
            "json_syntax@9",
        ]
    );
    let duplicate = parsed[4].as_ref().unwrap_err();
    assert!(
        duplicate.reason.contains("`heated_area_m2` occurs twice"),
        "{duplicate:?}"
    );
    // A number given as text is still the number (a type change rescued, not lost).
    let rescued = convert(
        parsed[5].as_ref().unwrap(),
        &plan.dialects[0],
        &plan.columns,
        &mut AmbiguityTracker::new(),
    )
    .unwrap();
    assert_eq!(rescued[1], Value::Float(88.5));
}

#[test]
fn a_json_document_with_a_duplicate_key_is_refused_whole() {
    let plan = plan(&CUSTOMERS.replace("kind = \"ndjson\"", "kind = \"json\""));
    let text = r#"[{"customer_id": "C-1"}, {"customer_id": "C-2", "customer_id": "C-3"}]"#;
    let parsed = keel_formatted::parse::json::parse(
        text.as_bytes(),
        &plan.dialects[0],
        &plan.columns,
        "c.json",
    );
    assert_eq!(outcomes(&parsed, &plan), ["json_duplicate_key@0"]);
    assert!(
        parsed[0]
            .as_ref()
            .unwrap_err()
            .reason
            .contains("`[1].customer_id` occurs twice"),
        "{parsed:?}"
    );
}

/// A line longer than the streaming limit is refused as `size_limit` without being held, and
/// the lines after it keep their physical numbers; lines straddle the 1 MiB read blocks.
#[test]
fn an_overlong_line_is_refused_and_the_next_lines_are_read() {
    let plan = plan(CUSTOMERS);
    let line = |i: usize| format!("{{\"customer_id\":\"C-{i}\",\"internal_ref\":\"B{i:05}\"}}\n");
    let mut text = line(1);
    text.push_str(&format!(
        "{{\"customer_id\":\"{}\"}}\n",
        "x".repeat(keel_formatted::parse::MAX_RECORD_BYTES + (3 << 20))
    ));
    for i in 3..=60_000 {
        text.push_str(&line(i));
    }
    let parsed = ndjson::parse(
        text.as_bytes(),
        &plan.dialects[0],
        &plan.columns,
        "c.ndjson",
    );
    let outcomes = outcomes(&parsed, &plan);
    assert_eq!(outcomes.len(), 60_000);
    assert_eq!(outcomes[..3], ["ok", "size_limit@2", "ok"]);
    assert!(outcomes[2..].iter().all(|o| o == "ok"));
    let last = parsed.last().unwrap().as_ref().unwrap();
    assert_eq!(last.line, 60_000);
    assert_eq!(last.values[0].as_deref(), Some("C-60000"));
}
