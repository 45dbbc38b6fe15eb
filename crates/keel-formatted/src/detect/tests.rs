//! Detection on small inline fixtures, `resolve` on planned dialects, and every real file
//! of `shared/data/real` (heat_tartu, heat_denmark, csv-spectrum) when it is present.

use std::path::PathBuf;

use super::*;

fn detect_str(text: &str) -> Detected {
    detect(text.as_bytes(), &Hints::default())
}

fn column<'a>(d: &'a Detected, name: &str) -> &'a DetectedColumn {
    d.columns
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no column {name} in {d}"))
}

#[test]
fn a_preamble_before_a_semicolon_table_with_decimal_commas() {
    let text = "Description:;\"Heating degree days\"\r\n\
                Source:;\"www.degreedays.net\"\r\n\
                Station ID:;EETU\r\n\
                \r\n\
                Month starting;HDD 15;% Estimated\r\n\
                2019-09-01;134,3;0,03\r\n\
                2019-10-01;291,2;0\r\n\
                2019-11-01;412,5;0,01\r\n\
                2019-12-01;476,1;0\r\n";
    let d = detect_str(text);
    assert_eq!(d.delimiter, Some(';'), "{d}");
    assert_eq!(d.preamble_lines, 4, "{d}");
    assert_eq!(d.line_ending, LineEnding::Crlf);
    assert_eq!(
        d.header.as_deref(),
        Some(
            &[
                "Month starting".to_string(),
                "HDD 15".into(),
                "% Estimated".into()
            ][..]
        )
    );
    assert_eq!(d.decimal, ',');
    let month = column(&d, "Month starting");
    assert_eq!(month.inferred_type, InferredType::Date);
    assert_eq!(month.date_format.as_deref(), Some("%Y-%m-%d"));
    assert_eq!(column(&d, "HDD 15").inferred_type, InferredType::Float);
    assert_eq!(column(&d, "HDD 15").decimal, Some(','));
    assert!(d.notes.iter().any(|n| n.contains("preamble")), "{d}");
}

#[test]
fn space_separated_values_with_decimal_commas_and_crlf() {
    let text = "Year Month Power_kW Temperature\r\n\
                2019 1 24,1 -1,146920095\r\n\
                2019 1 37 -0,939543105\r\n\
                2019 1 40,6 -0,804822332\r\n\
                2019 2 20,4 0,135449399\r\n";
    let d = detect_str(text);
    assert_eq!(d.delimiter, Some(' '), "{d}");
    assert_eq!(d.decimal, ',');
    assert_eq!(d.line_ending, LineEnding::Crlf);
    assert_eq!(column(&d, "Year").inferred_type, InferredType::Int);
    assert_eq!(column(&d, "Power_kW").inferred_type, InferredType::Float);
}

#[test]
fn every_value_with_a_decimal_comma_still_splits_at_spaces() {
    // Split at its commas this file is consistent too ("1", "5 2", "5 3", "5").
    let d = detect_str("1,5 2,5 3,5\n4,5 5,5 6,5\n7,25 8,5 9,5\n");
    assert_eq!(d.delimiter, Some(' '), "{d}");
    assert_eq!(d.decimal, ',');
    assert!(d.header.is_none(), "{d}");
}

#[test]
fn quoted_fields_iso_timestamps_and_a_comma_in_quotes() {
    let text = "id,name,at,value\n\
                1,\"Kummeli, 15\",2018-01-02T23:00:00Z,5347.61\n\
                2,\"Raatuse 22\",2018-01-03T00:00:00Z,5350.73\n\
                3,\"say \"\"hi\"\"\",2018-01-03T01:00:00Z,5353.58\n";
    let d = detect_str(text);
    assert_eq!(d.delimiter, Some(','), "{d}");
    assert_eq!((d.quote, d.escape), ('"', Escape::Doubled));
    let at = column(&d, "at");
    assert_eq!(at.inferred_type, InferredType::Timestamp);
    assert_eq!(at.date_format.as_deref(), Some("%Y-%m-%dT%H:%M:%S%#z"));
    assert_eq!(column(&d, "name").inferred_type, InferredType::Text);
    assert_eq!(column(&d, "value").decimal, Some('.'));
}

#[test]
fn tab_pipe_and_backslash_escapes() {
    let d = detect_str("a\tb\tc\n1\t2\t3\n4\t5\t6\n");
    assert_eq!(d.delimiter, Some('\t'), "{d}");
    let d = detect_str("a|b\n1|x y\n2|z w\n");
    assert_eq!(d.delimiter, Some('|'), "{d}");
    let d = detect_str("id,text\n1,\"say \\\"hi\\\"\"\n2,\"plain\"\n3,\"more\"\n");
    assert_eq!(d.escape, Escape::Backslash, "{d}");
    let d = detect_str("id;name\n1;'a;b'\n2;'c'\n3;'d'\n");
    assert_eq!(d.quote, '\'', "{d}");
    assert_eq!(d.columns.len(), 2, "{d}");
}

#[test]
fn a_first_row_of_values_is_no_header() {
    let d = detect_str("2019;1;24.1\n2019;2;37.0\n2019;3;40.6\n");
    assert!(d.header.is_none(), "{d}");
    assert_eq!(d.columns[0].name, "column_1");
    assert_eq!(d.preamble_lines, 0);
}

#[test]
fn cr_only_and_mixed_line_endings() {
    let d = detect_str("a,b\r1,2\r3,4\r");
    assert_eq!(d.line_ending, LineEnding::Cr);
    assert_eq!(d.rows_sampled, 2, "{d}");
    let d = detect_str("a,b\r\n1,2\n3,4\r\n");
    assert_eq!(d.line_ending, LineEnding::Mixed);
    // A line break inside quotes is no line ending.
    let d = detect_str("a,b\r\n1,\"x\ny\"\r\n3,4\r\n");
    assert_eq!(d.line_ending, LineEnding::Crlf);
}

#[test]
fn a_preamble_on_cr_only_lines_counts_physical_lines() {
    let d = detect_str("Meter: 17\rExported: today\r\rt;v\r1;2,5\r2;3,5\r3;4,5\r");
    assert_eq!(d.line_ending, LineEnding::Cr);
    assert_eq!(d.preamble_lines, 3, "{d}");
    assert_eq!(d.header.as_ref().map(Vec::len), Some(2), "{d}");
    let text = "Meter: 17\rExported: today\r\rt;v\r1;2,5\r";
    let start = skip_lines(text.as_bytes(), d.preamble_lines).unwrap();
    assert!(text[start..].starts_with("t;v"));
}

#[test]
fn binary_content_and_utf16_are_recognised() {
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend_from_slice(&[0u8; 64]);
    let d = detect(&png, &Hints::default());
    assert!(d.binary);
    assert!(d.binary_reason().is_some_and(|r| r.contains("NUL")), "{d}");
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(
        "Zeit;Wert\n1;2,5\n2;3,5\n3;4,5\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes),
    );
    let d = detect(&utf16, &Hints::default());
    assert_eq!((d.encoding.as_str(), d.bom), ("UTF-16LE", true));
    assert_eq!(d.delimiter, Some(';'), "{d}");
    assert_eq!(d.decimal, ',');
}

#[test]
fn thousands_separators_are_told_from_decimals() {
    let d = detect_str("a;b;c\n1.234,5;1 234;12\n2.345,25;2 345;13\n3.456,75;999;14\n");
    let a = column(&d, "a");
    assert_eq!((a.decimal, a.thousands), (Some(','), Some('.')), "{d}");
    assert_eq!(a.inferred_type, InferredType::Float);
    let b = column(&d, "b");
    assert_eq!(
        (b.inferred_type, b.thousands),
        (InferredType::Int, Some(' ')),
        "{d}"
    );
    assert_eq!(d.decimal, ',');
    // In a comma-delimited file a quoted `1,234` can only be grouped thousands.
    let d = detect_str("id,amount\n1,\"1,234\"\n2,\"2,500\"\n3,\"3,750\"\n");
    let amount = column(&d, "amount");
    assert_eq!(
        (amount.inferred_type, amount.thousands),
        (InferredType::Int, Some(','))
    );
    assert_eq!(d.decimal, '.');
}

#[test]
fn day_and_month_first_dates() {
    let d = detect_str("d;v\n03/04/2019;1\n05/06/2019;2\n07/08/2019;3\n");
    let c = column(&d, "d");
    assert_eq!(c.date_format.as_deref(), Some("%d/%m/%Y"));
    assert!(c.ambiguous, "{d}");
    assert!(d.notes.iter().any(|n| n.contains("day-first")), "{d}");
    let d = detect_str("d;v\n03/04/2019;1\n12/31/2019;2\n07/08/2019;3\n");
    let c = column(&d, "d");
    assert_eq!(c.date_format.as_deref(), Some("%m/%d/%Y"));
    assert!(!c.ambiguous);
    let d = detect_str("d;v\n31.12.2019 23:00;1\n1.1.2020 00:00;2\n1.1.2020 01:00;3\n");
    assert_eq!(
        column(&d, "d").date_format.as_deref(),
        Some("%d.%m.%Y %H:%M")
    );
    assert_eq!(column(&d, "d").inferred_type, InferredType::Timestamp);
    let d = detect_str("Date;v\n43466;1\n43467;2\n43468;3\n");
    assert_eq!(
        column(&d, "Date").date_format.as_deref(),
        Some(SPREADSHEET_SERIAL)
    );
    let d = detect_str("day;v\n20190101;1\n20190102;2\n20190103;3\n");
    assert_eq!(column(&d, "day").date_format.as_deref(), Some("%Y%m%d"));
}

#[test]
fn mixed_date_formats_are_reported() {
    let d = detect_str("d;v\n2019-01-01;1\n2019-01-02;2\n03.01.2019;3\n2019-01-04;4\n");
    let c = column(&d, "d");
    assert_eq!(c.date_format.as_deref(), Some("%Y-%m-%d"));
    assert_eq!(c.unmatched, vec!["03.01.2019".to_string()]);
    assert!(
        d.notes.iter().any(|n| n.contains("more than one format")),
        "{d}"
    );
}

#[test]
fn null_tokens_and_declared_words_in_numeric_columns() {
    let text = "t;wind;temp\n1;Calm;-9999\n2;3,5;NA\n3;4,5;2,5\n4;5,5;3,5\n5;2,5;\n6;1,5;1,5\n";
    let hints = Hints {
        null_tokens: vec!["Calm".into()],
        ..Hints::default()
    };
    let d = detect(text.as_bytes(), &hints);
    let wind = column(&d, "wind");
    assert_eq!(wind.inferred_type, InferredType::Float, "{d}");
    assert_eq!(wind.nulls_seen[0].token, "Calm");
    assert_eq!(wind.nulls_seen[0].count, 1);
    let temp = column(&d, "temp");
    let tokens: Vec<&str> = temp.nulls_seen.iter().map(|n| n.token.as_str()).collect();
    assert_eq!(tokens, ["", "-9999", "NA"], "{d}");
    assert!(d.notes.iter().any(|n| n.contains("`-9999`")), "{d}");
    // Undeclared, `Calm` is a value that does not fit: shown, with a hint.
    let d = detect_str(text);
    assert_eq!(
        column(&d, "wind").unmatched,
        vec!["Calm".to_string()],
        "{d}"
    );
    assert!(d.notes.iter().any(|n| n.contains("null_tokens")), "{d}");
}

#[test]
fn hints_fix_what_the_dialect_declares() {
    let text = "a;b\n1,5;2\n2,5;3\n3,5;4\n";
    let d = detect(
        text.as_bytes(),
        &Hints {
            delimiter: Some(b','),
            ..Hints::default()
        },
    );
    assert_eq!(d.delimiter, Some(','));
    let d = detect(
        "skip me\nand me\na;b\n1;2\n3;4\n".as_bytes(),
        &Hints {
            preamble_lines: Some(2),
            ..Hints::default()
        },
    );
    assert_eq!(d.preamble_lines, 2);
    assert_eq!(d.header.as_ref().map(|h| h[0].as_str()), Some("a"));
}

#[test]
fn a_truncated_sample_ignores_its_partial_last_line() {
    // Long lines, so that fewer than `MAX_RECORDS` fit in a sample and its end is read.
    let row = format!("1;2,5;{};9\n", "abc".repeat(300));
    let mut text = String::from("a;b;c;d\n");
    while text.len() < SAMPLE_BYTES + row.len() {
        text.push_str(&row);
    }
    let cut = &text.as_bytes()[..SAMPLE_BYTES];
    assert!(!cut.ends_with(b"\n"));
    let complete = cut.iter().filter(|&&b| b == b'\n').count();
    assert!(complete < MAX_RECORDS);
    // The last line is cut inside its text: read, it would have 3 fields, not 4.
    let d = detect(cut, &Hints::default());
    assert_eq!(d.delimiter, Some(';'));
    assert!(d.notes.iter().all(|n| !n.contains("fields")), "{d}");
    assert_eq!(d.rows_sampled, complete - 1);
}

#[test]
fn detection_round_trips_through_json_and_displays() {
    let d = detect_str("a;b;when\n1;2,5;2019-01-01\n2;NA;2019-01-02\n3;3,5;2019-01-03\n");
    let back = Detected::from_json(&d.to_json()).unwrap();
    assert_eq!(back, d);
    let shown = d.to_string();
    for part in [
        "encoding",
        "delimiter       `;`",
        "decimal         `,`",
        "%Y-%m-%d",
        "NA ×1",
    ] {
        assert!(shown.contains(part), "{part} in\n{shown}");
    }
}

#[test]
fn degenerate_inputs_are_described_not_fatal() {
    let d = detect_str("");
    assert_eq!(
        (d.line_ending, d.delimiter, d.rows_sampled),
        (LineEnding::None, None, 0)
    );
    let d = detect_str("\n\r\n\n");
    assert_eq!(d.rows_sampled, 0, "{d}");
    let d = detect_str("only,a,header\n");
    assert_eq!(d.header.as_ref().map(Vec::len), Some(3), "{d}");
    let d = detect_str("value\n1\n2\n3\n");
    assert_eq!(d.delimiter, None, "{d}");
    assert_eq!(column(&d, "value").inferred_type, InferredType::Int);
    let d = detect_str("x;y\nNaN;1\ninf;2\n-Infinity;3\n1.5e3;4\n");
    assert_eq!(column(&d, "x").inferred_type, InferredType::Float, "{d}");
    // A field longer than the sample: one partial line, read as it is.
    let big = format!("a;b\n1;{}", "x".repeat(SAMPLE_BYTES));
    let d = detect(sample(big.as_bytes()), &Hints::default());
    assert_eq!(d.bytes_sampled, SAMPLE_BYTES);
    // Ragged rows are counted, not fatal.
    let d = detect_str("a,b,c\n1,2,3\n4,5\n6,7,8\n9,10,11\n12,13,14,15\n");
    assert_eq!(d.header.as_ref().map(Vec::len), Some(3), "{d}");
    assert!(d.notes.iter().any(|n| n.contains("2 records")), "{d}");
}

#[test]
fn json_text_gets_its_encoding_and_lines_only() {
    let d = detect_json("{\"a\": 1}\r\n{\"a\": 2}\r\n");
    assert_eq!(
        (d.encoding.as_str(), d.line_ending),
        ("UTF-8", LineEnding::Crlf)
    );
    assert!(d.columns.is_empty() && d.delimiter.is_none(), "{d}");
}

fn detect_json(text: &str) -> Detected {
    super::detect_text(text.as_bytes(), &Hints::default())
}

#[test]
fn skip_lines_counts_every_terminator() {
    assert_eq!(skip_lines(b"a\r\nb\rc\nd", 3), Some(7));
    assert_eq!(skip_lines(b"a\nb", 0), Some(0));
    assert_eq!(skip_lines(b"a\nb", 2), None);
}

/// A source with one dialect declared by `dialect` (TOML keys), planned.
fn planned(dialect: &str) -> crate::SourcePlan {
    let text = format!(
        r#"
[collector]
kind = "files"
path = "inbox"

[format]
kind = "csv"

[[format.dialects]]
name = "d"
{dialect}
[format.dialects.columns]
day = "Month starting"
hdd = "HDD 15"

[[columns]]
name = "day"
type = "date"

[[columns]]
name = "hdd"
type = "float64"
"#
    );
    let source = keel_core::project::Source {
        name: "s".into(),
        path: "sources/s.toml".into(),
        spec: toml::from_str(&text).expect("source spec"),
    };
    crate::SourcePlan::new(&source).expect("plan")
}

const EETU_LIKE: &str = "Station ID:;EETU\r\n\r\nMonth starting;HDD 15\r\n\
                         2019-09-01;134,3\r\n2019-10-01;291,2\r\n2019-11-01;412,5\r\n";

#[test]
fn resolve_fills_auto_fields_and_keeps_declared_ones() {
    let plan = planned(
        r#"encoding = "auto"
delimiter = "auto"
decimal = "auto"
quote = "auto"
date_format = "auto"
preamble_lines = "auto""#,
    );
    let dialect = &plan.dialects[0];
    assert!(dialect.auto.any());
    assert_eq!(dialect.auto.date_formats, vec![0]);
    let detected = detect(EETU_LIKE.as_bytes(), &dialect.hints());
    let (resolved, notes) = dialect.resolve(&detected);
    assert_eq!(resolved.delimiter, b';', "{detected}");
    assert_eq!(resolved.decimal, ',');
    assert_eq!(resolved.preamble_lines, 2);
    assert_eq!(resolved.encoding, encoding_rs::UTF_8);
    let day = resolved.bindings[0].as_ref().unwrap();
    assert_eq!(day.date_format, "%Y-%m-%d");
    assert!(notes.is_empty(), "{notes:?}");

    // Declared values stand; detection only notes where the object disagrees.
    let plan = planned("delimiter = \";\"\ndecimal = \",\"");
    let dialect = &plan.dialects[0];
    assert!(!dialect.auto.any());
    let detected = detect(EETU_LIKE.as_bytes(), &dialect.hints());
    let (resolved, notes) = dialect.resolve(&detected);
    assert_eq!(resolved.preamble_lines, 0);
    assert_eq!(
        resolved.bindings[0].as_ref().unwrap().date_format,
        "%Y-%m-%d"
    );
    assert!(
        notes.iter().any(|n| n.contains("2 preamble lines")),
        "{notes:?}"
    );
}

#[test]
fn old_dialects_plan_as_before() {
    let plan = planned("");
    let d = &plan.dialects[0];
    assert_eq!((d.delimiter, d.decimal, d.preamble_lines), (b',', '.', 0));
    assert_eq!(d.auto, crate::plan::AutoFields::default());
    let plan = planned("preamble_lines = 3");
    assert_eq!(plan.dialects[0].preamble_lines, 3);
}

/// `shared/data/real`, beside the repository.
fn real_data() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/real");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipped: {} is absent (the real data lives beside the repository)",
            dir.display()
        );
        None
    }
}

fn detect_file(path: &std::path::Path) -> Detected {
    let bytes = std::fs::read(path).unwrap();
    let started = std::time::Instant::now();
    let d = detect(sample(&bytes), &Hints::default());
    eprintln!(
        "{}: {} bytes sampled in {:?}\n{d}",
        path.display(),
        d.bytes_sampled,
        started.elapsed()
    );
    d
}

#[test]
fn real_files_are_detected() {
    let Some(real) = real_data() else {
        return;
    };
    let tartu = real.join("heat_tartu");
    let d = detect_file(&tartu.join("Data_Pr01.csv"));
    assert_eq!(
        (d.delimiter, d.decimal, d.preamble_lines),
        (Some(';'), '.', 0),
        "{d}"
    );
    assert_eq!(
        (d.encoding.as_str(), d.line_ending),
        ("UTF-8", LineEnding::Crlf)
    );
    let pr01_types: Vec<InferredType> = d.columns.iter().map(|c| c.inferred_type).collect();
    let d = detect_file(&tartu.join("Data_Pr01_FORMAT2.csv"));
    assert_eq!((d.delimiter, d.decimal), (Some(','), '.'), "{d}");
    let types: Vec<InferredType> = d.columns.iter().map(|c| c.inferred_type).collect();
    assert_eq!(types, pr01_types, "{d}");
    let d = detect_file(&tartu.join("Data_Pr01_FORMAT3.csv"));
    assert_eq!(
        (d.delimiter, d.decimal, d.line_ending),
        (Some(' '), ',', LineEnding::Crlf),
        "{d}"
    );
    let types: Vec<InferredType> = d.columns.iter().map(|c| c.inferred_type).collect();
    assert_eq!(
        types, pr01_types,
        "the three dialects of building 10949: {d}"
    );
    assert_eq!(pr01_types.len(), 11);

    // The header's byte 0xBA is `º` in ISO-8859-1 (windows-1252 is its superset).
    let d = detect_file(&tartu.join("Building_Data_Pr02.csv"));
    assert_eq!(
        (d.encoding.as_str(), d.delimiter),
        ("windows-1252", Some(',')),
        "{d}"
    );
    let header = d.header.clone().unwrap_or_default();
    assert!(header.iter().any(|h| h == "Flow.T.ºC."), "{header:?}");
    assert_eq!(d.bytes_sampled, SAMPLE_BYTES);

    let d = detect_file(&tartu.join("EETU_HDD_15C.csv"));
    assert_eq!(
        (d.delimiter, d.decimal, d.preamble_lines),
        (Some(';'), ',', 6),
        "{d}"
    );
    assert_eq!(
        d.header.as_deref(),
        Some(
            &[
                "Month starting".to_string(),
                "HDD 15".into(),
                "% Estimated".into()
            ][..]
        )
    );
    assert_eq!(d.columns[0].date_format.as_deref(), Some("%Y-%m-%d"));

    let d = detect_file(&real.join("heat_denmark/processed_final_data_sample.csv"));
    assert_eq!((d.delimiter, d.decimal), (Some(','), '.'), "{d}");
    let time = column(&d, "time_rounded");
    assert_eq!(time.inferred_type, InferredType::Timestamp);
    assert_eq!(time.date_format.as_deref(), Some("%Y-%m-%dT%H:%M:%S%#z"));

    // Every file: text, split by a delimiter, with a header.
    let mut files = Vec::new();
    for dir in ["heat_tartu", "heat_denmark", "csv-spectrum/csvs"] {
        for entry in std::fs::read_dir(real.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "csv") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 21, "{files:?}");
    for path in &files {
        let d = detect_file(path);
        assert!(!d.binary, "{}: {d}", path.display());
        assert!(d.delimiter.is_some(), "{}: {d}", path.display());
        assert!(d.header.is_some(), "{}: {d}", path.display());
        assert!(d.confidence > 0.0, "{}: {d}", path.display());
    }
}

#[test]
fn csv_spectrum_headers_are_the_keys_of_its_json() {
    let Some(real) = real_data() else {
        return;
    };
    let spectrum = real.join("csv-spectrum");
    for entry in std::fs::read_dir(spectrum.join("csvs")).unwrap() {
        let path = entry.unwrap().path();
        let d = detect_file(&path);
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let json: serde_json::Value = serde_json::from_slice(
            &std::fs::read(spectrum.join("json").join(format!("{stem}.json"))).unwrap(),
        )
        .unwrap();
        // One file's JSON is its single row, not an array of rows.
        let rows = match json {
            serde_json::Value::Array(rows) => rows,
            row => vec![row],
        };
        let mut keys: Vec<String> = rows[0].as_object().unwrap().keys().cloned().collect();
        keys.sort();
        let mut header = d.header.clone().unwrap_or_default();
        header.sort();
        assert_eq!(header, keys, "{stem}: {d}");
        assert_eq!(d.delimiter, Some(','), "{stem}: {d}");
        assert_eq!(d.rows_sampled, rows.len(), "{stem}: {d}");
    }
}
