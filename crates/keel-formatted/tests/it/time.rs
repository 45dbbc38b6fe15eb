//! Timestamps (issue 4, RELIABILITY C4): local times converted to UTC in their IANA zone,
//! the DST rule (a skipped local time rejected, a repeated hour kept twice in input
//! order), epoch seconds and milliseconds, spreadsheet serials, RFC 3339 offsets,
//! timestamps split over several fields, and the real Tartu heat data.

use std::path::PathBuf;

use keel_formatted::convert::{Value, convert};
use keel_formatted::parse::{Parsed, csv, ndjson};
use keel_formatted::plan::SourcePlan;
use keel_formatted::time::AmbiguityTracker;

use crate::lab::Lab;
use crate::plan;

/// µs since the epoch of an RFC 3339 instant.
fn utc(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_micros()
}

/// A CSV source `ts;v` whose `ts` is read with `format` in `zone`.
fn series(format: &str, zone: &str, extra: &str) -> String {
    format!(
        r#"
[collector]
kind = "files"
path = "inbox"
[format]
kind = "csv"
[[format.dialects]]
name = "local"
delimiter = ";"
timezone = "{zone}"
{extra}
[format.dialects.columns]
ts = {{ field = "ts", date_format = "{format}" }}
v = "v"
[[columns]]
name = "ts"
type = "timestamp"
required = true
[[columns]]
name = "v"
type = "float64"
[keys]
primary = ["ts"]
"#
    )
}

/// Each record of `parsed` converted in order with one tracker (one input), as the rule
/// it broke (`rule@line`) or its values.
fn convert_all(plan: &SourcePlan, parsed: &Parsed) -> Vec<Result<Vec<Value>, String>> {
    let mut tracker = AmbiguityTracker::new();
    parsed
        .iter()
        .map(|r| match r {
            Ok(rec) => convert(rec, &plan.dialects[0], &plan.columns, &mut tracker)
                .map_err(|rej| format!("{}@{}", rej.rule, rej.line)),
            Err(rej) => Err(format!("{}@{}", rej.rule, rej.line)),
        })
        .collect()
}

fn timestamp(values: &Result<Vec<Value>, String>) -> i64 {
    match values {
        Ok(v) => match v[0] {
            Value::Timestamp(us) => us,
            ref other => panic!("not a timestamp: {other:?}"),
        },
        Err(e) => panic!("rejected: {e}"),
    }
}

#[test]
fn warsaw_spring_forward_gap_is_rejected_naming_the_zone() {
    let plan = plan(&series("%Y-%m-%d %H:%M", "Europe/Warsaw", ""));
    let text = "ts;v\n2021-03-28 01:30;1\n2021-03-28 02:30;2\n2021-03-28 03:30;3\n";
    let parsed = csv::parse(text.as_bytes(), &plan.dialects[0], &plan.columns, "w.csv");
    let out = convert_all(&plan, &parsed);
    assert_eq!(timestamp(&out[0]), utc("2021-03-28T00:30:00Z"));
    assert_eq!(out[1], Err("nonexistent_local_time@3".to_string()));
    assert_eq!(timestamp(&out[2]), utc("2021-03-28T01:30:00Z"));

    let rec = parsed[1].as_ref().unwrap();
    let rej = convert(
        rec,
        &plan.dialects[0],
        &plan.columns,
        &mut AmbiguityTracker::new(),
    )
    .unwrap_err();
    assert_eq!(rej.column.as_deref(), Some("ts"));
    assert!(rej.reason.contains("Europe/Warsaw"), "{}", rej.reason);
    assert_eq!(rej.raw, "2021-03-28 02:30;2");
}

#[tokio::test]
async fn warsaw_fall_back_hour_twice_is_two_utc_hours_and_no_duplicates() {
    let lab = Lab::new(
        &[("w", &series("%Y-%m-%d %H:%M", "Europe/Warsaw", ""))],
        1024,
    );
    // Half-hourly local readings through the night clocks go back (03:00 CEST becomes
    // 02:00 CET): 02:00 and 02:30 are written twice, and 03:00 is sent twice by mistake.
    let text = "ts;v\n2021-10-31 01:30;1\n2021-10-31 02:00;2\n2021-10-31 02:30;3\n\
                2021-10-31 02:00;4\n2021-10-31 02:30;5\n2021-10-31 03:00;6\n2021-10-31 03:00;6\n";
    lab.land("w", "warsaw.csv", text.as_bytes());
    let report = lab.format("w").await;
    assert_eq!(report.rows_read, 7);
    assert_eq!(report.rows_written, 6);
    assert_eq!(
        report.rows_duplicate, 1,
        "only the re-sent 03:00 is a duplicate"
    );
    assert_eq!(report.rows_quarantined, 0);

    let rows = lab
        .rows("SELECT CAST(ts AS BIGINT) AS us, v FROM formatted.w ORDER BY us")
        .await;
    let want = [
        ("2021-10-30T23:30:00Z", "1.0"),
        ("2021-10-31T00:00:00Z", "2.0"),
        ("2021-10-31T00:30:00Z", "3.0"),
        ("2021-10-31T01:00:00Z", "4.0"),
        ("2021-10-31T01:30:00Z", "5.0"),
        ("2021-10-31T02:00:00Z", "6.0"),
    ];
    let want: Vec<Vec<String>> = want
        .iter()
        .map(|(t, v)| vec![utc(t).to_string(), v.to_string()])
        .collect();
    assert_eq!(rows, want);
}

#[test]
fn ambiguous_hour_can_be_rejected_or_pinned_to_one_side() {
    let text = "ts;v\n2021-10-31 02:30;1\n2021-10-31 02:30;2\n";
    let run = |extra: &str| {
        let plan = plan(&series("%Y-%m-%d %H:%M", "Europe/Warsaw", extra));
        let parsed = csv::parse(text.as_bytes(), &plan.dialects[0], &plan.columns, "w.csv");
        convert_all(&plan, &parsed)
    };
    let out = run("ambiguous = \"reject\"");
    assert_eq!(out[0], Err("ambiguous_local_time@2".to_string()));
    let out = run("ambiguous = \"later\"");
    assert_eq!(timestamp(&out[0]), utc("2021-10-31T01:30:00Z"));
    assert_eq!(timestamp(&out[1]), utc("2021-10-31T01:30:00Z"));
    let out = run("ambiguous = \"earlier\"");
    assert_eq!(timestamp(&out[1]), utc("2021-10-31T00:30:00Z"));
    let out = run("");
    assert_eq!(timestamp(&out[0]), utc("2021-10-31T00:30:00Z"));
    assert_eq!(timestamp(&out[1]), utc("2021-10-31T01:30:00Z"));
}

#[test]
fn a_rejected_record_still_counts_as_the_first_pass_of_the_hour() {
    // The first 02:30 has a bad reading: the next 02:30 is still the second pass.
    let plan = plan(&series("%Y-%m-%d %H:%M", "Europe/Warsaw", ""));
    let plan = SourcePlan {
        columns: {
            // `v` before `ts`, so that `v` breaks its rule first.
            let mut c = plan.columns.clone();
            c.reverse();
            c
        },
        dialects: {
            let mut d = plan.dialects.clone();
            d[0].bindings.reverse();
            d
        },
        ..plan
    };
    let text = "ts;v\n2021-10-31 02:30;x\n2021-10-31 02:30;2\n";
    let parsed = csv::parse(text.as_bytes(), &plan.dialects[0], &plan.columns, "w.csv");
    let out = convert_all(&plan, &parsed);
    assert_eq!(out[0], Err("parse_number@2".to_string()));
    assert_eq!(
        out[1].as_ref().unwrap()[1],
        Value::Timestamp(utc("2021-10-31T01:30:00Z"))
    );
}

#[test]
fn epoch_seconds_and_milliseconds_are_the_same_instant_and_never_confused() {
    let toml = r#"
[collector]
kind = "files"
path = "inbox"
[format]
kind = "ndjson"
[[format.dialects]]
name = "api"
timezone = "Europe/Warsaw"
[format.dialects.columns]
at_s = { field = "t", date_format = "epoch_s" }
at_ms = { field = "t_ms", date_format = "epoch_ms" }
[[columns]]
name = "at_s"
type = "timestamp"
[[columns]]
name = "at_ms"
type = "timestamp"
"#;
    let plan = plan(toml);
    let text = "{\"t\": 1635643800, \"t_ms\": 1635643800000}\n\
                {\"t\": \"1635643800.5\", \"t_ms\": 1635643800500}\n\
                {\"t\": 1635643800000}\n";
    let parsed = ndjson::parse(text.as_bytes(), &plan.dialects[0], &plan.columns, "a.json");
    let out = convert_all(&plan, &parsed);
    // An epoch is an instant: the dialect's zone does not move it.
    let at = utc("2021-10-31T01:30:00Z");
    assert_eq!(out[0], Ok(vec![Value::Timestamp(at), Value::Timestamp(at)]));
    assert_eq!(
        out[1],
        Ok(vec![
            Value::Timestamp(at + 500_000),
            Value::Timestamp(at + 500_000)
        ])
    );
    // Milliseconds in a seconds field are year 53,000: rejected, not stored.
    assert_eq!(out[2], Err("time_range@3".to_string()));
}

#[test]
fn excel_serials_count_as_excel_does_including_its_phantom_leap_day() {
    let toml = r#"
[collector]
kind = "files"
path = "inbox"
[format]
kind = "csv"
[[format.dialects]]
name = "sheet-export"
delimiter = ";"
decimal = ","
date_format = "excel_serial"
[format.dialects.columns]
at = "serial"
day = "serial"
[[columns]]
name = "at"
type = "timestamp"
[[columns]]
name = "day"
type = "date"
"#;
    let plan = plan(toml);
    let text = "serial\n1\n59\n60\n61\n44500,75\n45292\n";
    let parsed = csv::parse(text.as_bytes(), &plan.dialects[0], &plan.columns, "x.csv");
    let out = convert_all(&plan, &parsed);
    let day = |y, m, d| {
        keel_formatted::convert::days_since_epoch(chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap())
    };
    let both = |t: &str, d: i32| Ok(vec![Value::Timestamp(utc(t)), Value::Date(d)]);
    assert_eq!(out[0], both("1900-01-01T00:00:00Z", day(1900, 1, 1)));
    assert_eq!(out[1], both("1900-02-28T00:00:00Z", day(1900, 2, 28)));
    // Serial 60 is Excel's 1900-02-29, a day that never was.
    assert_eq!(out[2], Err("parse_timestamp@4".to_string()));
    assert_eq!(out[3], both("1900-03-01T00:00:00Z", day(1900, 3, 1)));
    // A fraction is a time of day: fine for the timestamp, not for the date column.
    assert_eq!(out[4], Err("parse_date@6".to_string()));
    assert_eq!(out[5], both("2024-01-01T00:00:00Z", day(2024, 1, 1)));

    let rec = parsed[2].as_ref().unwrap();
    let rej = convert(
        rec,
        &plan.dialects[0],
        &plan.columns,
        &mut AmbiguityTracker::new(),
    )
    .unwrap_err();
    assert!(rej.reason.contains("1900-02-29"), "{}", rej.reason);
}

#[test]
fn rfc3339_values_keep_their_own_offset_whatever_the_zone() {
    let plan = plan(&series("%+", "Europe/Warsaw", ""));
    let text = "ts;v\n2021-10-31T02:30:00+01:00;1\n2021-10-31T03:30:00+02:00;2\n\
                2021-10-30T20:30:00-05:00;3\n2021-10-31T01:30:00Z;4\n2021-10-31 02:30;5\n";
    let parsed = csv::parse(text.as_bytes(), &plan.dialects[0], &plan.columns, "x.csv");
    let out = convert_all(&plan, &parsed);
    for r in &out[..4] {
        assert_eq!(timestamp(r), utc("2021-10-31T01:30:00Z"));
    }
    // `%+` needs an offset; a local time is read with a local format or `iso8601`.
    assert_eq!(out[4], Err("parse_timestamp@6".to_string()));

    let plan = crate::plan(&series("iso8601", "Europe/Warsaw", ""));
    let parsed = csv::parse(text.as_bytes(), &plan.dialects[0], &plan.columns, "x.csv");
    let out = convert_all(&plan, &parsed);
    assert_eq!(timestamp(&out[0]), utc("2021-10-31T01:30:00Z"));
    assert_eq!(timestamp(&out[4]), utc("2021-10-31T00:30:00Z"));
}

const COMPOSITE: &str = r#"
[collector]
kind = "files"
path = "inbox"
[format]
kind = "csv"
[[format.dialects]]
name = "tartu"
delimiter = ";"
timezone = "Europe/Tallinn"
[format.dialects.columns]
ts = { fields = ["Year", "Month", "Day_Month", "Hour_Day"], date_format = "%Y %m %d %H" }
v = "Power.kW."
[[columns]]
name = "ts"
type = "timestamp"
required = true
[[columns]]
name = "v"
type = "float64"
[keys]
primary = ["ts"]
"#;

#[test]
fn a_timestamp_split_over_year_month_day_hour_fields_is_joined_and_read() {
    let plan = plan(COMPOSITE);
    let text = "Year;Month;Day_Month;Hour_Day;Power.kW.\n2019;1;1;0;24.1\n2019;7;15;13;9\n\
                2019;1;;5;1\n;;;;2\n";
    let parsed = csv::parse(text.as_bytes(), &plan.dialects[0], &plan.columns, "x.csv");
    let out = convert_all(&plan, &parsed);
    // Tallinn is UTC+2 in winter, UTC+3 in summer.
    assert_eq!(timestamp(&out[0]), utc("2018-12-31T22:00:00Z"));
    assert_eq!(timestamp(&out[1]), utc("2019-07-15T10:00:00Z"));
    // A missing part is a value the format rejects; no part at all is no value.
    assert_eq!(out[2], Err("parse_timestamp@4".to_string()));
    assert_eq!(out[3], Err("required@5".to_string()));
    let rej = convert(
        parsed[2].as_ref().unwrap(),
        &plan.dialects[0],
        &plan.columns,
        &mut AmbiguityTracker::new(),
    )
    .unwrap_err();
    assert!(rej.reason.contains("`2019 1  5`"), "{}", rej.reason);

    // A header without one of the parts: the required column is missing, by that name.
    let text = "Year;Month;Day;Hour_Day;Power.kW.\n2019;1;1;0;24.1\n";
    let parsed = csv::parse(text.as_bytes(), &plan.dialects[0], &plan.columns, "x.csv");
    let rej = parsed[0].as_ref().unwrap_err();
    assert_eq!(rej.rule, "missing_column");
    assert!(rej.reason.contains("Day_Month"), "{}", rej.reason);

    // The same fields in JSON lines.
    let toml = COMPOSITE.replace("kind = \"csv\"", "kind = \"ndjson\"");
    let plan = crate::plan(&toml);
    let text = r#"{"Year": 2019, "Month": 7, "Day_Month": 15, "Hour_Day": 13, "Power.kW.": 9}"#;
    let parsed = ndjson::parse(text.as_bytes(), &plan.dialects[0], &plan.columns, "x.json");
    let out = convert_all(&plan, &parsed);
    assert_eq!(timestamp(&out[0]), utc("2019-07-15T10:00:00Z"));
}

#[test]
fn unknown_zones_and_formats_are_refused_at_plan_time_naming_the_key() {
    let source = |toml: &str| keel_core::project::Source {
        name: "s".into(),
        path: "sources/s.toml".into(),
        spec: toml::from_str(toml).unwrap(),
    };
    let err = SourcePlan::new(&source(&series("%Y", "Europe/Atlantis", ""))).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("format.dialects[0].timezone") && msg.contains("Europe/Atlantis"),
        "{msg}"
    );
    let err = SourcePlan::new(&source(&series("%Q", "UTC", ""))).unwrap_err();
    assert!(err.to_string().contains("columns.ts.date_format"), "{err}");
    let bad = COMPOSITE.replace(
        "date_format = \"%Y %m %d %H\" }",
        "date_format = \"%Y %m %d %H\", timezone = \"Mars/Olympus\" }",
    );
    let err = SourcePlan::new(&source(&bad)).unwrap_err();
    assert!(err.to_string().contains("columns.ts.timezone"), "{err}");
}

#[test]
fn composite_fields_exclude_field_and_from_name_in_project_validation() {
    let load = |toml: &str| {
        let temp = tempfile::tempdir().unwrap();
        Lab::write(temp.path(), &[("t", toml)], 1024);
        keel_core::Project::load(temp.path(), None).map(|_| ())
    };
    assert!(load(COMPOSITE).is_ok());
    let both = COMPOSITE.replace("ts = { fields", "ts = { field = \"Year\", fields");
    let err = load(&both).unwrap_err().to_string();
    assert!(
        err.contains("format.dialects[0].columns.ts") && err.contains("`fields`"),
        "{err}"
    );
    let empty = COMPOSITE.replace("[\"Year\", \"Month\", \"Day_Month\", \"Hour_Day\"]", "[]");
    assert!(load(&empty).unwrap_err().to_string().contains("`fields`"));
    let zone_on_number = COMPOSITE.replace(
        "v = \"Power.kW.\"",
        "v = { field = \"Power.kW.\", timezone = \"UTC\" }",
    );
    let err = load(&zone_on_number).unwrap_err().to_string();
    assert!(err.contains("date and timestamp columns"), "{err}");
}

/// `../shared/data/real/heat_tartu` (from `CARGO_MANIFEST_DIR`), or `None` with a message
/// when it is absent (a failure in CI, as for the other real-data tests).
fn tartu() -> Option<PathBuf> {
    let dir = keel_testkit::real_data_dir().map(|d| d.join("heat_tartu"));
    let found = dir
        .as_ref()
        .is_some_and(|d| d.join("Data_Pr01.csv").is_file());
    if keel_testkit::require(found, "../shared/data/real/heat_tartu/Data_Pr01.csv") {
        dir
    } else {
        None
    }
}

/// Building 10949 of the Tartu heat data: hourly local time in `Year;Month;Day_Month;
/// Hour_Day`, Europe/Tallinn. The file skips the DST gap (no 03:00 on 2019-03-31) and has
/// one 03:00 on 2019-10-27, the hour clocks go back: read as the first pass (EEST), so
/// the second pass (01:00Z) is the hour the data lacks.
#[tokio::test]
async fn tartu_building_hourly_local_time_formats_to_utc_without_loss() {
    let Some(dir) = tartu() else { return };
    let bytes = std::fs::read(dir.join("Data_Pr01.csv")).unwrap();
    let lab = Lab::new(&[("tartu", COMPOSITE)], 8192);
    lab.land("tartu", "Data_Pr01.csv", &bytes);
    let report = lab.format("tartu").await;
    assert_eq!(report.rows_read, 7973);
    assert_eq!(report.rows_written, 7973);
    assert_eq!(report.rows_quarantined, 0);
    assert_eq!(report.rows_duplicate, 0);

    let hours = |from: &str, to: &str| {
        let (from, to) = (utc(from), utc(to));
        format!(
            "SELECT CAST(ts AS BIGINT) AS us FROM formatted.tartu \
             WHERE CAST(ts AS BIGINT) >= {from} AND CAST(ts AS BIGINT) < {to} ORDER BY us"
        )
    };
    let list =
        |v: &[&str]| -> Vec<Vec<String>> { v.iter().map(|t| vec![utc(t).to_string()]).collect() };
    // Spring: 02:00 EET (00:00Z) is followed by 04:00 EEST (01:00Z); no row is lost.
    let spring = lab
        .rows(&hours("2019-03-30T23:00:00Z", "2019-03-31T02:00:00Z"))
        .await;
    assert_eq!(
        spring,
        list(&[
            "2019-03-30T23:00:00Z",
            "2019-03-31T00:00:00Z",
            "2019-03-31T01:00:00Z",
        ])
    );
    // Autumn: 02:00 EEST (23:00Z), 03:00 EEST (00:00Z), 04:00 EET (02:00Z).
    let autumn = lab
        .rows(&hours("2019-10-26T23:00:00Z", "2019-10-27T03:00:00Z"))
        .await;
    assert_eq!(
        autumn,
        list(&[
            "2019-10-26T23:00:00Z",
            "2019-10-27T00:00:00Z",
            "2019-10-27T02:00:00Z",
        ])
    );
    let count = lab
        .rows("SELECT COUNT(DISTINCT ts) FROM formatted.tartu")
        .await;
    assert_eq!(count, vec![vec!["7973".to_string()]]);
}
