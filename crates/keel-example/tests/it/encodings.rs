//! Encodings and shapes of the raw data: Windows-1250 `pl2`, the device registry, the CRM
//! database, the recorded weather answers.

use keel_example::generate;

use crate::support::{self, small};

#[test]
fn pl2_files_are_windows_1250_and_not_utf8() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), &small(4)).unwrap();
    let pl2 = support::files(&dir.path().join("data/inbox/meters/pl2"));
    assert!(!pl2.is_empty());
    for (rel, path) in pl2 {
        let bytes = std::fs::read(&path).unwrap();
        let header_end = bytes.windows(2).position(|w| w == b"\r\n").unwrap();
        assert!(bytes[..header_end].contains(&0xBF), "{rel}: no 'ż' as 0xBF");
        assert!(bytes[..header_end].contains(&0xB0), "{rel}: no '°' as 0xB0");
        assert!(std::str::from_utf8(&bytes).is_err(), "{rel} is valid UTF-8");
        assert!(bytes.ends_with(b"\r\n"), "{rel}");
    }
}

/// The CRM is a SQLite database whose table keeps the hand-typed variants, with NULL (not an
/// empty string) where the clerk typed no building id (issue 3).
#[test]
fn crm_database_holds_the_customers_with_null_refs() {
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(dir.path(), &small(4)).unwrap();
    let path = dir.path().join("data/crm/crm.sqlite");
    assert!(
        std::fs::read(&path)
            .unwrap()
            .starts_with(b"SQLite format 3\0")
    );
    let db =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let columns: Vec<String> = db
        .prepare("SELECT name FROM pragma_table_info('customers') ORDER BY cid")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        columns,
        [
            "customer_id",
            "customer_name",
            "building",
            "address",
            "postal_code",
            "city",
            "building_type",
            "heated_area_m2",
            "construction_year",
            "internal_ref"
        ]
    );
    let count =
        |sql: &str| -> usize { db.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap() as usize };
    assert_eq!(
        count("SELECT count(*) FROM customers"),
        truth.customers_rows
    );
    assert_eq!(
        count("SELECT count(*) FROM customers WHERE internal_ref IS NOT NULL"),
        truth.customers_with_ref
    );
    assert_eq!(
        count("SELECT count(*) FROM customers WHERE internal_ref = ''"),
        0
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM customers WHERE typeof(heated_area_m2) <> 'real' \
             OR typeof(construction_year) <> 'integer'"
        ),
        0
    );
    let first: (String, f64) = db
        .query_row(
            "SELECT customer_id, heated_area_m2 FROM customers ORDER BY rowid LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(first.0, "C-10001");
    // Tenths of m², exactly as typed: one decimal survives the REAL.
    assert_eq!(format!("{:.1}", first.1).parse::<f64>().unwrap(), first.1);
    // No temporary file or journal is left next to the database.
    let crm = support::files(&dir.path().join("data/crm"));
    assert_eq!(crm.len(), 1, "{crm:?}");
}

#[test]
fn device_registry_lists_every_device_once() {
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(dir.path(), &small(4)).unwrap();
    let path = dir.path().join("data/inbox/registry/devices.csv");
    let text = std::fs::read_to_string(path).unwrap();
    assert!(!text.contains('\r'));
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), truth.devices_rows);
    assert_eq!(&rows[0][0], "HM1-00001");
    assert_eq!(&rows[1][0], "PL2-00002");
    assert_eq!(&rows[2][0], "MX3-00003");
    for row in &rows {
        assert_eq!(row.len(), 9);
        assert!(
            row[8] < *truth.first_day,
            "installed {} after the start",
            &row[8]
        );
        assert!(["WAW", "KRK", "GDN", "WRO", "POZ"].contains(&&row[6]));
    }
}

#[test]
fn recorded_weather_answers_have_the_open_meteo_shape() {
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(dir.path(), &small(4)).unwrap();
    let files = support::files(&dir.path().join(keel_example::weather_api::RECORDED_DIR));
    assert_eq!(files.len(), truth.weather.files);
    assert_eq!(files[0].0, "weather_GDN_2016-01.json");
    let (mut days, mut nulls) = (0, 0);
    for (rel, path) in files {
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let daily = &json["daily"];
        let time = daily["time"].as_array().unwrap();
        for key in [
            "temperature_2m_mean",
            "temperature_2m_min",
            "precipitation_sum",
        ] {
            assert_eq!(
                daily[key].as_array().unwrap().len(),
                time.len(),
                "{rel} {key}"
            );
        }
        assert_eq!(json["daily_units"]["temperature_2m_mean"], "°C");
        assert_eq!(json["timezone"], "GMT");
        days += time.len();
        nulls += daily["temperature_2m_mean"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v.is_null())
            .count();
    }
    assert_eq!(
        (days, nulls),
        (truth.weather.days, truth.weather.null_temperature)
    );
}
