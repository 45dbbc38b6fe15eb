//! Compressed objects, Parquet and Excel workbooks formatted end to end into Delta, with the
//! same guarantees as text: every row in the ledger, bad input quarantined with its object,
//! line, column, rule and reason (issue 4; RELIABILITY C1, C6).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float32Array, Float64Array, Int32Array, Int64Array,
    RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

use crate::lab::Lab;
use keel_core::Project;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zip(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in members {
        w.start_file(*name, options).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

// ---------------------------------------------------------------------------------------
// Compression

#[tokio::test]
async fn gzip_and_zip_of_the_examples_csv_give_the_same_rows_as_the_plain_csv() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    keel_example::write_project(dir).unwrap();
    keel_example::generate(
        dir,
        &keel_example::GenerateOptions {
            seed: 7,
            buildings: 4,
            years: 1,
            first_year: 2020,
        },
    )
    .unwrap();
    let meters = std::fs::read_to_string(dir.join("sources/meters.toml")).unwrap();
    for (name, table) in [("meters_gz", "readings_gz"), ("meters_zip", "readings_zip")] {
        std::fs::write(
            dir.join(format!("sources/{name}.toml")),
            meters.replace("table = \"readings\"", &format!("table = \"{table}\"")),
        )
        .unwrap();
    }
    let lab = Lab::open(temp);
    let inbox = lab.project.dir.join("data/inbox/meters");
    let mut files: Vec<(String, Vec<u8>)> = walk(&inbox)
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&inbox)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, std::fs::read(&p).unwrap())
        })
        .collect();
    files.sort();
    assert!(files.len() >= 12, "{} meter files", files.len());
    for (rel, bytes) in &files {
        lab.land("meters", rel, bytes);
        lab.land("meters_gz", &format!("{rel}.gz"), &gzip(bytes));
    }
    let members: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(r, b)| (r.as_str(), b.as_slice()))
        .collect();
    let archive_id = lab.land("meters_zip", "all-meters.zip", &zip(&members));

    let plain = lab.format("meters").await;
    let gz = lab.format("meters_gz").await;
    let zipped = lab.format("meters_zip").await;
    assert!(plain.rows_quarantined > 0, "the example holds bad rows");
    for other in [&gz, &zipped] {
        assert_eq!(
            (
                other.rows_read,
                other.rows_written,
                other.rows_quarantined,
                other.rows_duplicate
            ),
            (
                plain.rows_read,
                plain.rows_written,
                plain.rows_quarantined,
                plain.rows_duplicate
            )
        );
    }
    let columns =
        "device_id, reading_date, consumption_kwh, supply_temp_c, return_temp_c, _keel_line";
    let select =
        |t: &str| format!("SELECT {columns} FROM formatted.{t} ORDER BY device_id, reading_date");
    let expected = lab.rows(&select("readings")).await;
    assert_eq!(expected.len() as u64, plain.rows_written);
    assert_eq!(lab.rows(&select("readings_gz")).await, expected);
    assert_eq!(lab.rows(&select("readings_zip")).await, expected);

    let quarantine = |t: &str| {
        format!(
            "SELECT rule, _keel_line, \"column\", raw FROM quarantine.{t} ORDER BY raw, _keel_line"
        )
    };
    let expected = lab.rows(&quarantine("readings")).await;
    assert_eq!(lab.rows(&quarantine("readings_gz")).await, expected);
    assert_eq!(lab.rows(&quarantine("readings_zip")).await, expected);

    // Rows of an archive name their member; the ledger has one line for the archive.
    let objects = lab
        .rows("SELECT DISTINCT _keel_object FROM formatted.readings_zip ORDER BY 1")
        .await;
    assert_eq!(objects.len(), files.len());
    assert!(
        objects
            .iter()
            .all(|o| o[0].starts_with(&format!("{archive_id}!"))),
        "{objects:?}"
    );
    let ledger = lab.catalog.ledger("readings_zip").unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].rows_read as u64, plain.rows_read);
    assert_eq!(ledger[0].dialect, "hm1+mx3+pl2");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

const READINGS_CSV: &str = r#"
[collector]
kind = "files"
path = "inbox"
[format]
kind = "csv"
max_uncompressed_bytes = 100000
[[format.dialects]]
name = "plain"
match = "**/*.csv"
[format.dialects.columns]
device_id = "device"
reading_date = "date"
consumption_kwh = "kwh"
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
min = 0.0
[keys]
primary = ["device_id", "reading_date"]
"#;

fn readings_csv(device: &str, days: u32) -> String {
    let mut s = String::from("device,date,kwh\n");
    for d in 0..days {
        let date =
            chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Days::new(d.into());
        s.push_str(&format!("{device},{date},{}.5\n", d + 10));
    }
    s
}

#[tokio::test]
async fn a_truncated_gzip_a_corrupt_zip_a_bomb_and_a_climbing_name_are_quarantined() {
    let lab = Lab::new(&[("r", READINGS_CSV)], 1000);
    let good = readings_csv("A", 30);
    let good_id = lab.land("r", "a.csv.gz", &gzip(good.as_bytes()));

    // Truncated inside the deflate stream: the rows before the cut must not be taken.
    let long = readings_csv("B", 300);
    let full = gzip(long.as_bytes());
    let truncated_id = lab.land("r", "b.csv.gz", &full[..full.len() * 2 / 3]);

    let body = readings_csv("C", 200);
    let archive = zip(&[("c.csv", body.as_bytes())]);
    let corrupt_id = lab.land("r", "c.zip", &archive[..archive.len() - 30]);

    let zeros = vec![b'0'; 1 << 20]; // 1 MiB of one byte: deflates to about 1 KiB
    let bomb_id = lab.land("r", "bomb.csv.gz", &gzip(&zeros));

    let climbing = zip(&[
        ("../../etc/d.csv", readings_csv("D", 3).as_bytes()),
        ("e.csv", readings_csv("E", 4).as_bytes()),
        ("notes.txt", b"not a reading"),
    ]);
    let climbing_id = lab.land("r", "de.zip", &climbing);

    // A `.gz` name on plain text: detection is by content, so it is read as the CSV it is
    // (declaring `compression = "gzip"` would quarantine it instead).
    lab.land("r", "fake.csv.gz", readings_csv("F", 2).as_bytes());

    let report = lab.format("r").await;
    assert_eq!(report.objects, 6);

    let written = lab
        .rows("SELECT device_id, count(*) FROM formatted.r GROUP BY device_id ORDER BY 1")
        .await;
    assert_eq!(
        written,
        [["A", "30"], ["E", "4"], ["F", "2"]].map(|r| r.map(String::from).to_vec())
    );

    let q = lab
        .rows(
            "SELECT _keel_object, _keel_line, rule, reason FROM quarantine.r \
             ORDER BY _keel_object",
        )
        .await;
    let by_object = |id: &str| {
        q.iter()
            .filter(|r| r[0] == id)
            .map(|r| (r[1].clone(), r[2].clone(), r[3].clone()))
            .collect::<Vec<_>>()
    };
    let truncated = by_object(&truncated_id);
    assert_eq!(truncated.len(), 1, "{q:?}");
    assert_eq!((&*truncated[0].0, &*truncated[0].1), ("0", "compression"));
    assert!(
        truncated[0].2.contains("cannot be verified complete"),
        "{}",
        truncated[0].2
    );
    let corrupt = by_object(&corrupt_id);
    assert_eq!(corrupt.len(), 1, "{q:?}");
    assert_eq!(corrupt[0].1, "compression");
    let bomb = by_object(&bomb_id);
    assert_eq!(bomb.len(), 1, "{q:?}");
    assert_eq!(bomb[0].1, "size_limit");
    assert!(
        bomb[0].2.contains("max_uncompressed_bytes"),
        "{}",
        bomb[0].2
    );
    let evil = by_object(&format!("{climbing_id}!../../etc/d.csv"));
    assert_eq!(evil.len(), 1, "{q:?}");
    assert_eq!(evil[0].1, "zip_path");
    let notes = by_object(&format!("{climbing_id}!notes.txt"));
    assert_eq!(notes.len(), 1, "{q:?}");
    assert_eq!(notes[0].1, "no_dialect");
    assert!(by_object(&good_id).is_empty());

    // The ledger: one line per object, the whole-object rejections counted as one row.
    let ledger = lab.catalog.ledger("r").unwrap();
    let line = |id: &str| {
        let l = ledger.iter().find(|l| l.object_id == id).unwrap();
        (l.rows_read, l.rows_written, l.rows_quarantined)
    };
    assert_eq!(line(&good_id), (30, 30, 0));
    assert_eq!(line(&truncated_id), (1, 0, 1));
    assert_eq!(line(&corrupt_id), (1, 0, 1));
    assert_eq!(line(&bomb_id), (1, 0, 1));
    assert_eq!(line(&climbing_id), (6, 4, 2));
}

// ---------------------------------------------------------------------------------------
// Parquet

const READINGS_PARQUET: &str = r#"
[collector]
kind = "files"
path = "inbox"
[format]
kind = "parquet"
[[format.dialects]]
name = "export"
[format.dialects.columns]
device_id = "meter"
reading_date = "day"
consumption_kwh = { field = "heat_mwh", unit = "MWh" }
supply_temp_c = "t_supply"
valve_open = "valve"
pulses = "pulses"
note = "note"
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
min = 0.0
[[columns]]
name = "supply_temp_c"
type = "float64"
[[columns]]
name = "valve_open"
type = "bool"
[[columns]]
name = "pulses"
type = "int64"
[[columns]]
name = "note"
type = "string"
[keys]
primary = ["device_id", "reading_date"]
"#;

/// Parquet bytes of `batch`, in row groups of `group` rows.
fn parquet(batch: &RecordBatch, group: usize) -> Vec<u8> {
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(group))
        .build();
    let mut out = Vec::new();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
    out
}

fn meter_batch() -> RecordBatch {
    let day = |d: i32| 19723 + d; // 2024-01-01 + d
    let schema = Arc::new(Schema::new(vec![
        Field::new("meter", DataType::Utf8, true),
        Field::new("day", DataType::Date32, true),
        Field::new("heat_mwh", DataType::Float32, true),
        Field::new("t_supply", DataType::Utf8, true),
        Field::new("valve", DataType::Boolean, true),
        Field::new("pulses", DataType::Float64, true),
        Field::new("note", DataType::Int32, true),
        Field::new("unmapped", DataType::Int64, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![
            Some("M1"),
            Some("M1"),
            Some("M1"),
            None,
            Some("M1"),
            Some("M1"),
            Some("M2"),
        ])),
        Arc::new(Date32Array::from(
            (0..7).map(|d| Some(day(d))).collect::<Vec<_>>(),
        )),
        Arc::new(Float32Array::from(vec![
            Some(0.1),
            Some(1.25),
            Some(-0.5),
            Some(0.2),
            Some(0.3),
            None,
            Some(2.0),
        ])),
        Arc::new(StringArray::from(vec![
            Some("71.5"),
            Some("70"),
            Some("70"),
            Some("70"),
            Some("hot"),
            None,
            Some(" 65.25 "),
        ])),
        Arc::new(BooleanArray::from(vec![
            Some(true),
            Some(false),
            None,
            None,
            None,
            None,
            Some(true),
        ])),
        Arc::new(Float64Array::from(vec![
            Some(10.0),
            Some(11.0),
            Some(12.0),
            Some(13.0),
            Some(14.0),
            Some(1.5),
            None,
        ])),
        Arc::new(Int32Array::from(vec![Some(7); 7])),
        Arc::new(Int64Array::from(vec![Some(1); 7])),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

#[tokio::test]
async fn parquet_lands_with_canonical_types_and_bad_cells_are_quarantined() {
    // Batches of 2 rows and row groups of 3: rows are numbered across both.
    let lab = Lab::new(&[("p", READINGS_PARQUET)], 2);
    let bytes = parquet(&meter_batch(), 3);
    let id = lab.land("p", "export.parquet", &bytes);
    let gz_id = lab.land(
        "p",
        "export-2.parquet.gz",
        &gzip(&parquet(&meter_batch().slice(6, 1), 3)),
    );
    let bad_id = lab.land("p", "broken.parquet", &bytes[..bytes.len() / 2]);
    let report = lab.format("p").await;
    assert_eq!(report.rows_read, 7 + 1 + 1);

    let rows = lab
        .rows(
            "SELECT device_id, reading_date, consumption_kwh, supply_temp_c, valve_open, \
             pulses, note, _keel_object, _keel_line FROM formatted.p ORDER BY reading_date",
        )
        .await;
    let expect = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // Row 7 (M2) comes twice, from two objects: the later one is kept.
    assert_eq!(
        rows,
        [
            expect(&[
                "M1",
                "2024-01-01",
                "100.0",
                "71.5",
                "true",
                "10",
                "7",
                &id,
                "1"
            ]),
            expect(&[
                "M1",
                "2024-01-02",
                "1250.0",
                "70.0",
                "false",
                "11",
                "7",
                &id,
                "2"
            ]),
            expect(&[
                "M2",
                "2024-01-07",
                "2000.0",
                "65.25",
                "true",
                "NULL",
                "7",
                &gz_id,
                "1"
            ]),
        ]
    );
    let types = lab.types("p").await;
    let ty = |n: &str| types.iter().find(|(c, _)| c == n).unwrap().1.clone();
    assert_eq!(ty("reading_date"), DataType::Date32);
    assert_eq!(ty("consumption_kwh"), DataType::Float64);
    assert_eq!(ty("valve_open"), DataType::Boolean);
    assert_eq!(ty("pulses"), DataType::Int64);
    // Strings are read back as DataFusion's view type.
    assert!(matches!(ty("note"), DataType::Utf8 | DataType::Utf8View));

    let q = lab
        .rows(
            "SELECT _keel_object, _keel_line, \"column\", rule, raw FROM quarantine.p \
             ORDER BY _keel_object, _keel_line",
        )
        .await;
    let summary: Vec<(String, String, String, String)> = q
        .iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone(), r[3].clone()))
        .collect();
    let mut expected = vec![
        (id.clone(), "3", "consumption_kwh", "bounds"),
        (id.clone(), "4", "device_id", "required"),
        (id.clone(), "5", "supply_temp_c", "parse_number"),
        (id.clone(), "6", "pulses", "parse_number"),
        (bad_id.clone(), "0", "NULL", "parquet"),
    ]
    .into_iter()
    .map(|(a, b, c, d)| (a, b.to_string(), c.to_string(), d.to_string()))
    .collect::<Vec<_>>();
    expected.sort();
    assert_eq!(summary, expected);
    // The raw text of a rejected row shows its mapped fields.
    let raw = &q.iter().find(|r| r[1] == "5").unwrap()[4];
    assert!(raw.contains("\"t_supply\":\"hot\""), "{raw}");
    assert!(!raw.contains("unmapped"), "{raw}");
}

#[tokio::test]
async fn parquet_timestamps_become_dates_only_at_midnight() {
    let toml = READINGS_PARQUET
        .replace("reading_date = \"day\"", "reading_date = \"ts\"")
        .replace(
            "valve_open = \"valve\"\npulses = \"pulses\"\nnote = \"note\"\n",
            "",
        );
    let lab = Lab::new(&[("t", &toml)], 1024);
    let schema = Arc::new(Schema::new(vec![
        Field::new("meter", DataType::Utf8, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("Europe/Tallinn".into())),
            false,
        ),
    ]));
    // 2024-01-01T00:00 in Tallinn is 2023-12-31T22:00Z; the next is 10:30 local.
    let midnight = 1_704_060_000_000_000i64;
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["M1", "M1"])),
            Arc::new(
                TimestampMicrosecondArray::from(vec![midnight, midnight + 37_800_000_000])
                    .with_timezone("Europe/Tallinn"),
            ),
        ],
    )
    .unwrap();
    lab.land("t", "ts.parquet", &parquet(&batch, 10));
    lab.format("t").await;
    let rows = lab.rows("SELECT reading_date FROM formatted.t").await;
    assert_eq!(rows, [["2024-01-01".to_string()]]);
    let q = lab
        .rows("SELECT _keel_line, rule, reason FROM quarantine.t")
        .await;
    assert_eq!(q.len(), 1);
    assert_eq!((&*q[0][0], &*q[0][1]), ("2", "parse_date"));
    assert!(q[0][2].contains("time of day"), "{}", q[0][2]);
}

// ---------------------------------------------------------------------------------------
// Excel

const READINGS_XLSX: &str = r#"
[collector]
kind = "files"
path = "inbox"
[format]
kind = "xlsx"
[[format.dialects]]
name = "office"
sheet = "Readings"
header_row = 3
[format.dialects.columns]
device_id = "Meter"
reading_date = "Day"
consumption_kwh = "Heat (kWh)"
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
min = 0.0
[keys]
primary = ["device_id", "reading_date"]
"#;

fn workbook() -> Vec<u8> {
    use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};
    let mut book = Workbook::new();
    let readme = book.add_worksheet();
    readme.set_name("Readme").unwrap();
    readme
        .write_string(0, 0, "Exported by the meter portal")
        .unwrap();
    readme
        .write_string(1, 0, "The readings are on the next sheet")
        .unwrap();
    let sheet = book.add_worksheet();
    sheet.set_name("Readings").unwrap();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    // Rows 1–2: a preamble; row 3: the header; data from row 4 (spreadsheet numbering).
    sheet.write_string(0, 0, "Heat meter export").unwrap();
    sheet.write_string(1, 0, "Site: Tartu").unwrap();
    for (c, h) in ["Meter", "Day", "Heat (kWh)", "Comment"].iter().enumerate() {
        sheet.write_string(2, c as u16, *h).unwrap();
    }
    // Row 4: an Excel date cell.
    sheet.write_string(3, 0, "M1").unwrap();
    sheet
        .write_datetime_with_format(3, 1, ExcelDateTime::from_ymd(2024, 1, 1).unwrap(), &date)
        .unwrap();
    sheet.write_number(3, 2, 12.5).unwrap();
    // Row 5: a bare serial number (45293 = 2024-01-02).
    sheet.write_string(4, 0, "M1").unwrap();
    sheet.write_number(4, 1, 45293).unwrap();
    sheet.write_number(4, 2, 13).unwrap();
    // Row 6: empty, skipped. Row 7: a date written as text.
    sheet.write_string(6, 0, "M1").unwrap();
    sheet.write_string(6, 1, "2024-01-03").unwrap();
    sheet.write_number(6, 2, 14.25).unwrap();
    // Row 8: text in a number column.
    sheet.write_string(7, 0, "M1").unwrap();
    sheet.write_number(7, 1, 45295).unwrap();
    sheet.write_string(7, 2, "n/a").unwrap();
    sheet.write_string(7, 3, "meter offline").unwrap();
    // Row 9: a formula error.
    sheet.write_string(8, 0, "M1").unwrap();
    sheet.write_number(8, 1, 45296).unwrap();
    sheet
        .write_formula(8, 2, Formula::new("=1/0").set_result("#DIV/0!"))
        .unwrap();
    // Row 10: a date with a time of day.
    sheet.write_string(9, 0, "M1").unwrap();
    sheet
        .write_datetime_with_format(
            9,
            1,
            ExcelDateTime::from_ymd(2024, 1, 6)
                .unwrap()
                .and_hms(10, 30, 0)
                .unwrap(),
            &date,
        )
        .unwrap();
    sheet.write_number(9, 2, 1).unwrap();
    book.save_to_buffer().unwrap()
}

#[tokio::test]
async fn xlsx_lands_with_dates_and_quarantines_with_spreadsheet_row_numbers() {
    let lab = Lab::new(&[("x", READINGS_XLSX)], 1024);
    let id = lab.land("x", "export.xlsx", &workbook());
    let broken_id = lab.land("x", "broken.xlsx", b"PK\x03\x04 not really a workbook");
    let report = lab.format("x").await;
    assert_eq!(report.rows_read, 6 + 1, "{report:?}");

    let rows = lab
        .rows(
            "SELECT device_id, reading_date, consumption_kwh, _keel_line FROM formatted.x \
             ORDER BY _keel_line",
        )
        .await;
    let expect = |v: [&str; 4]| v.map(String::from).to_vec();
    assert_eq!(
        rows,
        [
            expect(["M1", "2024-01-01", "12.5", "4"]),
            expect(["M1", "2024-01-02", "13.0", "5"]),
            expect(["M1", "2024-01-03", "14.25", "7"]),
        ]
    );
    let q = lab
        .rows(
            "SELECT _keel_object, _keel_line, \"column\", rule, raw FROM quarantine.x \
             ORDER BY _keel_object, _keel_line",
        )
        .await;
    let mut summary: Vec<[String; 4]> = q
        .iter()
        .map(|r| [r[0].clone(), r[1].clone(), r[2].clone(), r[3].clone()])
        .collect();
    summary.sort();
    let mut expected = vec![
        [
            id.clone(),
            "8".into(),
            "consumption_kwh".into(),
            "parse_number".into(),
        ],
        [
            id.clone(),
            "9".into(),
            "consumption_kwh".into(),
            "cell_error".into(),
        ],
        [
            id.clone(),
            "10".into(),
            "reading_date".into(),
            "parse_date".into(),
        ],
        [
            broken_id.clone(),
            "0".into(),
            "NULL".into(),
            "compression".into(),
        ],
    ];
    expected.sort();
    assert_eq!(summary, expected);
    let raw = &q.iter().find(|r| r[1] == "8").unwrap()[4];
    assert_eq!(raw, "M1\t45295\tn/a\tmeter offline");
}

#[tokio::test]
async fn xlsx_defaults_to_the_first_sheet_and_its_first_non_empty_row() {
    let toml = READINGS_XLSX.replace("sheet = \"Readings\"\nheader_row = 3\n", "sheet = 1\n");
    let lab = Lab::new(&[("x", &toml)], 1024);
    lab.land("x", "export.xlsx", &workbook());
    lab.format("x").await;
    // Sheet 1 (from 0) is `Readings`; without `header_row` its first row is the header,
    // which has none of the mapped fields: every row is rejected for the missing field.
    let q = lab
        .rows("SELECT DISTINCT rule, \"column\" FROM quarantine.x")
        .await;
    assert_eq!(q, [["missing_column".to_string(), "device_id".to_string()]]);

    let toml = READINGS_XLSX.replace("sheet = \"Readings\"\nheader_row = 3\n", "");
    let lab = Lab::new(&[("x", &toml)], 1024);
    lab.land("x", "export.xlsx", &workbook());
    lab.format("x").await;
    let q = lab.rows("SELECT DISTINCT rule FROM quarantine.x").await;
    assert_eq!(
        q,
        [["missing_column".to_string()]],
        "sheet `Readme` has no Meter column"
    );
}

#[test]
fn sheet_keys_are_refused_outside_xlsx() {
    let temp = tempfile::tempdir().unwrap();
    let toml = READINGS_CSV.replace("name = \"plain\"", "name = \"plain\"\nsheet = 0");
    Lab::write(temp.path(), &[("r", &toml)], 1000);
    let err = Project::load(temp.path(), None).unwrap_err().to_string();
    assert!(err.contains("format.dialects[0].sheet"), "{err}");
}
