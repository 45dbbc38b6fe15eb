//! Times and composite fields in the typed formats (issue 4, RELIABILITY C4): a zoned
//! Parquet timestamp is an instant and keeps it, a naive one is a wall-clock time read in
//! the binding's zone; spreadsheet numbers in timestamp columns are serial date-times,
//! read by `time::excel_serial`; composite `fields` are joined in Parquet and xlsx too.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Date32Array, Float64Array, Int32Array, RecordBatch, StringArray,
    TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema};

use crate::lab::Lab;

/// µs since the epoch of an RFC 3339 instant.
fn utc(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_micros()
}

/// µs since 1970-01-01T00:00 of a wall-clock time `%Y-%m-%d %H:%M` (no zone).
fn wall(s: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
        .unwrap()
        .and_utc()
        .timestamp_micros()
}

/// Parquet bytes of `batch`; `arrow_schema`: whether the writer's Arrow schema (and so
/// the zone's name) is stored beside the Parquet one.
fn parquet(batch: &RecordBatch, arrow_schema: bool) -> Vec<u8> {
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_writer::ArrowWriterOptions;
    let options = ArrowWriterOptions::new().with_skip_arrow_metadata(!arrow_schema);
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new_with_options(&mut out, batch.schema(), options).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
    out
}

/// A Parquet source whose table has a timestamp key `at` (from `at_field`) and a value
/// `v`, with local times in `zone`.
fn timestamp_source(kind: &str, zone: &str, at: &str) -> String {
    format!(
        r#"
[collector]
kind = "files"
path = "inbox"
[format]
kind = "{kind}"
[[format.dialects]]
name = "d"
timezone = "{zone}"
[format.dialects.columns]
at = {at}
v = "v"
[[columns]]
name = "at"
type = "timestamp"
required = true
[[columns]]
name = "v"
type = "float64"
[keys]
primary = ["at"]
"#
    )
}

/// `(µs, v)` of every row of `formatted.TABLE`, by time.
async fn instants(lab: &Lab, table: &str) -> Vec<(i64, String)> {
    lab.rows(&format!(
        "SELECT CAST(at AS BIGINT) AS us, v FROM formatted.{table} ORDER BY us"
    ))
    .await
    .into_iter()
    .map(|r| (r[0].parse().unwrap(), r[1].clone()))
    .collect()
}

/// `(line, column, rule, reason)` of every quarantined row of TABLE, by line.
async fn quarantined(lab: &Lab, table: &str) -> Vec<(i64, String, String, String)> {
    lab.rows(&format!(
        "SELECT _keel_line, \"column\", rule, reason FROM quarantine.{table} ORDER BY _keel_line"
    ))
    .await
    .into_iter()
    .map(|r| {
        (
            r[0].parse().unwrap(),
            r[1].clone(),
            r[2].clone(),
            r[3].clone(),
        )
    })
    .collect()
}

// ---------------------------------------------------------------------------------------
// Parquet timestamps

/// Instants through the night Warsaw's clocks go back: 00:30Z and 01:30Z are both 02:30
/// on Warsaw's wall clock. Read as a wall clock in another zone (as keel did), they were
/// one instant shifted by that zone's offset: one row lost as a duplicate, the other
/// stored at the wrong time.
#[tokio::test]
async fn zoned_parquet_timestamps_keep_their_instant_whatever_the_binding_zone() {
    let lab = Lab::new(
        &[
            (
                "micros",
                &timestamp_source("parquet", "America/New_York", "\"at\""),
            ),
            (
                "millis",
                &timestamp_source("parquet", "America/New_York", "\"at\""),
            ),
            (
                "nanos",
                &timestamp_source("parquet", "Asia/Tokyo", "\"at\""),
            ),
        ],
        1024,
    );
    let times = [
        "2021-10-31T00:30:00Z",
        "2021-10-31T01:30:00Z",
        "2021-03-28T01:30:00Z",
        "2021-07-01T10:00:00.123456Z",
    ];
    let us: Vec<i64> = times.iter().map(|t| utc(t)).collect();
    let values: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0, 4.0]));
    let batch = |array: ArrayRef| {
        let schema = Schema::new(vec![
            Field::new("at", array.data_type().clone(), false),
            Field::new("v", DataType::Float64, false),
        ]);
        RecordBatch::try_new(Arc::new(schema), vec![array, values.clone()]).unwrap()
    };
    // Europe/Warsaw named in the writer's Arrow schema, in µs.
    let micros = TimestampMicrosecondArray::from(us.clone()).with_timezone("Europe/Warsaw");
    lab.land(
        "micros",
        "warsaw.parquet",
        &parquet(&batch(Arc::new(micros)), true),
    );
    // Milliseconds with an offset for a zone.
    let ms: Vec<i64> = us.iter().map(|u| u / 1000).collect();
    let millis = TimestampMillisecondArray::from(ms).with_timezone("+02:00");
    lab.land(
        "millis",
        "offset.parquet",
        &parquet(&batch(Arc::new(millis)), true),
    );
    // Nanoseconds with no Arrow schema: only Parquet's `isAdjustedToUTC` says it is an
    // instant. Nanoseconds below the µs are dropped (the table holds µs).
    let ns: Vec<i64> = us.iter().map(|u| u * 1000 + 999).collect();
    let nanos = TimestampNanosecondArray::from(ns).with_timezone("UTC");
    lab.land(
        "nanos",
        "utc.parquet",
        &parquet(&batch(Arc::new(nanos)), false),
    );

    for table in ["micros", "millis", "nanos"] {
        let report = lab.format(table).await;
        assert_eq!(
            (
                report.rows_written,
                report.rows_quarantined,
                report.rows_duplicate
            ),
            (4, 0, 0),
            "{table}: {report:?}"
        );
        let mut want: Vec<(i64, String)> = us
            .iter()
            .zip(["1.0", "2.0", "3.0", "4.0"])
            .map(|(u, v)| {
                // Milliseconds cannot hold the µs of the last instant.
                let u = if table == "millis" {
                    u / 1000 * 1000
                } else {
                    *u
                };
                (u, v.to_string())
            })
            .collect();
        want.sort();
        assert_eq!(instants(&lab, table).await, want, "{table}");
    }
}

/// A Parquet timestamp without a zone (`isAdjustedToUTC = false`) is what a wall clock
/// showed: read in the binding's zone by the DST rule, in file order.
#[tokio::test]
async fn naive_parquet_timestamps_are_wall_clock_in_the_binding_zone() {
    let lab = Lab::new(
        &[
            (
                "local",
                &timestamp_source("parquet", "Europe/Warsaw", "\"at\""),
            ),
            (
                "local_ms",
                &timestamp_source("parquet", "Europe/Warsaw", "\"at\""),
            ),
        ],
        2,
    );
    let walls = [
        "2021-10-31 02:30", // first pass of the repeated hour: CEST
        "2021-10-31 02:30", // second pass: CET
        "2021-03-28 02:30", // skipped by the clocks: rejected
        "2021-07-01 12:00",
        "2021-01-15 08:00",
    ];
    let us: Vec<i64> = walls.iter().map(|t| wall(t)).collect();
    let values: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0, 4.0, 5.0]));
    let batch = |array: ArrayRef| {
        let schema = Schema::new(vec![
            Field::new("at", array.data_type().clone(), false),
            Field::new("v", DataType::Float64, false),
        ]);
        RecordBatch::try_new(Arc::new(schema), vec![array, values.clone()]).unwrap()
    };
    let micros = TimestampMicrosecondArray::from(us.clone());
    lab.land(
        "local",
        "l.parquet",
        &parquet(&batch(Arc::new(micros)), true),
    );
    let millis = TimestampMillisecondArray::from(us.iter().map(|u| u / 1000).collect::<Vec<_>>());
    lab.land(
        "local_ms",
        "l.parquet",
        &parquet(&batch(Arc::new(millis)), false),
    );

    let want: Vec<(i64, String)> = [
        ("2021-01-15T07:00:00Z", "5.0"),
        ("2021-07-01T10:00:00Z", "4.0"),
        ("2021-10-31T00:30:00Z", "1.0"),
        ("2021-10-31T01:30:00Z", "2.0"),
    ]
    .iter()
    .map(|(t, v)| (utc(t), v.to_string()))
    .collect();
    for table in ["local", "local_ms"] {
        let report = lab.format(table).await;
        assert_eq!(
            (
                report.rows_written,
                report.rows_quarantined,
                report.rows_duplicate
            ),
            (4, 1, 0),
            "{table}: {report:?}"
        );
        assert_eq!(instants(&lab, table).await, want, "{table}");
        let q = quarantined(&lab, table).await;
        assert_eq!(q.len(), 1, "{q:?}");
        assert_eq!(
            (q[0].0, &*q[0].1, &*q[0].2),
            (3, "at", "nonexistent_local_time")
        );
        assert!(q[0].3.contains("Europe/Warsaw"), "{}", q[0].3);
    }
}

/// Out-of-range Parquet timestamps are rejected, never wrapped, saturated into a value
/// or read as NULL.
#[tokio::test]
async fn parquet_timestamps_past_year_9999_are_rejected() {
    let lab = Lab::new(
        &[("far", &timestamp_source("parquet", "UTC", "\"at\""))],
        1024,
    );
    let ms = vec![
        utc("2021-07-01T10:00:00Z") / 1000,
        300_000_000_000_000, // year 11476
        i64::MAX,
    ];
    let array = TimestampMillisecondArray::from(ms).with_timezone("UTC");
    let schema = Schema::new(vec![
        Field::new("at", array.data_type().clone(), false),
        Field::new("v", DataType::Float64, false),
    ]);
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(array),
            Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0])),
        ],
    )
    .unwrap();
    lab.land("far", "far.parquet", &parquet(&batch, true));
    let report = lab.format("far").await;
    assert_eq!((report.rows_written, report.rows_quarantined), (1, 2));
    let q = quarantined(&lab, "far").await;
    let rules: Vec<(i64, &str)> = q.iter().map(|r| (r.0, r.2.as_str())).collect();
    assert_eq!(rules, [(2, "time_range"), (3, "time_range")]);
}

// ---------------------------------------------------------------------------------------
// Spreadsheet serials

const SERIALS_XLSX: &str = r#"
[collector]
kind = "files"
path = "inbox"
[format]
kind = "xlsx"
[[format.dialects]]
name = "d"
[format.dialects.columns]
id = "Id"
at = "At"
day = "Day"
local = { field = "Local", timezone = "Europe/Warsaw" }
epoch = { field = "Epoch", date_format = "epoch_s" }
[[columns]]
name = "id"
type = "int64"
required = true
[[columns]]
name = "at"
type = "timestamp"
[[columns]]
name = "day"
type = "date"
[[columns]]
name = "local"
type = "timestamp"
[[columns]]
name = "epoch"
type = "timestamp"
[keys]
primary = ["id"]
"#;

/// Numbers in timestamp columns are serial date-times, as in date columns, read by
/// `time::excel_serial`: serials 1–59 are January and February 1900 (they were read a
/// day early), serial 60 is Excel's 1900-02-29 and is rejected (it was read as
/// 1900-02-28), and a column whose `date_format` is an epoch reads epoch numbers.
#[tokio::test]
async fn xlsx_numbers_in_timestamp_columns_are_serial_date_times() {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in ["Id", "At", "Day", "Local", "Epoch"].iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    // (id, At, Day)
    let rows: [(i32, f64, f64); 6] = [
        (1, 1.0, 1.0),
        (2, 59.5, 59.0),
        (3, 61.25, 61.0),
        (4, 45292.5, 45292.0),
        (5, 60.0, 45292.0),
        (6, 45292.0, 60.0),
    ];
    for (r, (id, at, day)) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        sheet.write_number(r, 0, *id).unwrap();
        sheet.write_number(r, 1, *at).unwrap();
        sheet.write_number(r, 2, *day).unwrap();
    }
    // Row 2: a serial in Warsaw (2021-10-31 18:00 CET) and an epoch in seconds.
    sheet.write_number(1, 3, 44500.75).unwrap();
    sheet.write_number(1, 4, 1_616_893_200).unwrap();
    // Row 3: a date-time cell in Warsaw (CEST), and a time of day alone in `At`.
    let format = Format::new().set_num_format("yyyy-mm-dd hh:mm");
    let summer = ExcelDateTime::from_ymd(2021, 7, 1)
        .unwrap()
        .and_hms(12, 0, 0)
        .unwrap();
    sheet
        .write_datetime_with_format(2, 3, summer, &format)
        .unwrap();
    sheet.write_number(7, 0, 7).unwrap();
    sheet.write_number(7, 1, 0.5).unwrap();

    let lab = Lab::new(&[("x", SERIALS_XLSX)], 1024);
    lab.land("x", "serials.xlsx", &book.save_to_buffer().unwrap());
    let report = lab.format("x").await;
    assert_eq!(
        (report.rows_written, report.rows_quarantined),
        (4, 3),
        "{report:?}"
    );

    let rows = lab
        .rows(
            "SELECT id, CAST(at AS BIGINT), day, CAST(local AS BIGINT), CAST(epoch AS BIGINT) \
             FROM formatted.x ORDER BY id",
        )
        .await;
    let t = |s: &str| utc(s).to_string();
    let null = || "NULL".to_string();
    assert_eq!(
        rows,
        [
            vec![
                "1".into(),
                t("1900-01-01T00:00:00Z"),
                "1900-01-01".into(),
                t("2021-10-31T17:00:00Z"),
                t("2021-03-28T01:00:00Z"),
            ],
            vec![
                "2".into(),
                t("1900-02-28T12:00:00Z"),
                "1900-02-28".into(),
                t("2021-07-01T10:00:00Z"),
                null(),
            ],
            vec![
                "3".into(),
                t("1900-03-01T06:00:00Z"),
                "1900-03-01".into(),
                null(),
                null(),
            ],
            vec![
                "4".into(),
                t("2024-01-01T12:00:00Z"),
                "2024-01-01".into(),
                null(),
                null(),
            ],
        ]
    );
    let q = quarantined(&lab, "x").await;
    let summary: Vec<(i64, &str, &str)> = q
        .iter()
        .map(|r| (r.0, r.1.as_str(), r.2.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (6, "at", "parse_timestamp"),
            (7, "day", "parse_date"),
            (8, "at", "parse_timestamp"),
        ]
    );
    assert!(q[0].3.contains("1900-02-29"), "{}", q[0].3);
    assert!(q[1].3.contains("1900-02-29"), "{}", q[1].3);
    assert!(q[2].3.contains("serial days start at 1"), "{}", q[2].3);
}

// ---------------------------------------------------------------------------------------
// Composite fields

/// A source whose timestamp `ts` is `fields` joined and read with `format` in Warsaw.
fn composite_source(kind: &str, fields: &str, format: &str) -> String {
    format!(
        r#"
[collector]
kind = "files"
path = "inbox"
[format]
kind = "{kind}"
[[format.dialects]]
name = "d"
timezone = "Europe/Warsaw"
[format.dialects.columns]
ts = {{ fields = {fields}, date_format = "{format}" }}
v = "v"
[[columns]]
name = "ts"
type = "timestamp"
required = true
[[columns]]
name = "v"
type = "float64"
"#
    )
}

/// Composite `fields` in Parquet: typed parts (integers, a date, text) are joined by
/// their text and read with the binding's format; a part the file lacks rejects every
/// row of a required column, naming the part.
#[tokio::test]
async fn parquet_composite_fields_join_typed_parts() {
    let lab = Lab::new(
        &[
            (
                "ymdh",
                &composite_source(
                    "parquet",
                    r#"["Year", "Month", "Day", "Hour"]"#,
                    "%Y %m %d %H",
                ),
            ),
            (
                "dt",
                &composite_source("parquet", r#"["date", "time"]"#, "%Y-%m-%d %H:%M"),
            ),
        ],
        1024,
    );
    let int = |v: Vec<Option<i32>>| Arc::new(Int32Array::from(v)) as ArrayRef;
    let schema = Schema::new(vec![
        Field::new("Year", DataType::Int32, true),
        Field::new("Month", DataType::Int32, true),
        Field::new("Day", DataType::Int32, true),
        Field::new("Hour", DataType::Int32, true),
        Field::new("v", DataType::Float64, true),
    ]);
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            int(vec![Some(2019), Some(2021), Some(2021), None]),
            int(vec![Some(1), Some(10), Some(3), None]),
            int(vec![Some(1), Some(31), None, None]),
            int(vec![Some(0), Some(2), Some(5), None]),
            Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0, 4.0])),
        ],
    )
    .unwrap();
    lab.land("ymdh", "ymdh.parquet", &parquet(&batch, true));
    // The same source on a file without `Hour`.
    let short = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("Year", DataType::Int32, true),
            Field::new("v", DataType::Float64, true),
        ])),
        vec![
            int(vec![Some(2019)]),
            Arc::new(Float64Array::from(vec![5.0])),
        ],
    )
    .unwrap();
    lab.land("ymdh", "short.parquet", &parquet(&short, true));

    let report = lab.format("ymdh").await;
    assert_eq!(
        (report.rows_written, report.rows_quarantined),
        (2, 3),
        "{report:?}"
    );
    let rows = lab
        .rows("SELECT CAST(ts AS BIGINT), v FROM formatted.ymdh ORDER BY v")
        .await;
    assert_eq!(
        rows,
        [
            [utc("2018-12-31T23:00:00Z").to_string(), "1.0".into()],
            [utc("2021-10-31T00:00:00Z").to_string(), "2.0".into()],
        ]
    );
    let q = lab
        .rows("SELECT _keel_line, rule, reason FROM quarantine.ymdh ORDER BY rule")
        .await;
    let rules: Vec<&str> = q.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(rules, ["missing_column", "parse_timestamp", "required"]);
    assert!(q[0][2].contains("`Month`"), "{}", q[0][2]);
    assert!(q[1][2].contains("`2021 3  5`"), "{}", q[1][2]);

    // A date and a text time of day.
    let schema = Schema::new(vec![
        Field::new("date", DataType::Date32, true),
        Field::new("time", DataType::Utf8, true),
        Field::new("v", DataType::Float64, true),
    ]);
    let day = |s: &str| {
        let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        (d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32
    };
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(Date32Array::from(vec![
                day("2021-10-31"),
                day("2021-10-31"),
            ])),
            Arc::new(StringArray::from(vec!["02:30", "02:30"])),
            Arc::new(Float64Array::from(vec![1.0, 2.0])),
        ],
    )
    .unwrap();
    lab.land("dt", "dt.parquet", &parquet(&batch, true));
    lab.format("dt").await;
    let rows = lab
        .rows("SELECT CAST(ts AS BIGINT), v FROM formatted.dt ORDER BY v")
        .await;
    assert_eq!(
        rows,
        [
            [utc("2021-10-31T00:30:00Z").to_string(), "1.0".into()],
            [utc("2021-10-31T01:30:00Z").to_string(), "2.0".into()],
        ],
        "the repeated hour in file order"
    );
}

/// Composite `fields` in a workbook: a date cell and a time cell, text parts and number
/// parts are joined; a part holding a spreadsheet error is that error.
#[tokio::test]
async fn xlsx_composite_fields_join_date_time_and_text_cells() {
    use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in ["Date", "Time", "v"].iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let time = Format::new().set_num_format("hh:mm:ss");
    let oct31 = ExcelDateTime::from_ymd(2021, 10, 31).unwrap();
    // Row 2: date cell + time cell. Row 3: the same as text. Row 4: a date cell and a
    // number of hours (not a time: `2` is joined as `2`). Row 5: a formula error. Row 6:
    // no time at all. Row 7: nothing in either part.
    sheet
        .write_datetime_with_format(1, 0, &oct31, &date)
        .unwrap();
    sheet
        .write_datetime_with_format(1, 1, ExcelDateTime::from_hms(2, 30, 0).unwrap(), &time)
        .unwrap();
    sheet.write_string(2, 0, "2021-10-31").unwrap();
    sheet.write_string(2, 1, "02:30:00").unwrap();
    sheet
        .write_datetime_with_format(3, 0, &oct31, &date)
        .unwrap();
    sheet.write_number(3, 1, 2).unwrap();
    sheet
        .write_datetime_with_format(4, 0, &oct31, &date)
        .unwrap();
    sheet
        .write_formula(4, 1, Formula::new("=1/0").set_result("#DIV/0!"))
        .unwrap();
    sheet
        .write_datetime_with_format(5, 0, &oct31, &date)
        .unwrap();
    for r in 1..=6 {
        sheet.write_number(r, 2, f64::from(r)).unwrap();
    }
    let toml = composite_source("xlsx", r#"["Date", "Time"]"#, "%Y-%m-%d %H:%M:%S");
    let lab = Lab::new(&[("x", &toml)], 1024);
    lab.land("x", "dt.xlsx", &book.save_to_buffer().unwrap());
    let report = lab.format("x").await;
    assert_eq!(
        (report.rows_written, report.rows_quarantined),
        (2, 4),
        "{report:?}"
    );
    let rows = lab
        .rows("SELECT CAST(ts AS BIGINT), v, _keel_line FROM formatted.x ORDER BY _keel_line")
        .await;
    assert_eq!(
        rows,
        [
            [
                utc("2021-10-31T00:30:00Z").to_string(),
                "1.0".into(),
                "2".into()
            ],
            [
                utc("2021-10-31T01:30:00Z").to_string(),
                "2.0".into(),
                "3".into()
            ],
        ],
        "a date cell and a time cell, then the same as text: the repeated hour in order"
    );
    let q = quarantined(&lab, "x").await;
    let summary: Vec<(i64, &str, &str)> = q
        .iter()
        .map(|r| (r.0, r.1.as_str(), r.2.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (4, "ts", "parse_timestamp"),
            (5, "ts", "cell_error"),
            (6, "ts", "parse_timestamp"),
            (7, "ts", "required"),
        ]
    );
    assert!(q[0].3.contains("`2021-10-31 2`"), "{}", q[0].3);
    assert!(q[2].3.contains("`2021-10-31`"), "{}", q[2].3);
}
