//! Encodings and shapes of the raw files: Windows-1250 `pl2`, the CRM BOM, registries, weather JSON.

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

#[test]
fn crm_export_has_bom_crlf_and_quotes_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(dir.path(), &small(4)).unwrap();
    let bytes = std::fs::read(dir.path().join("data/inbox/crm/customers_export.csv")).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    assert!(text.starts_with("\"customer_id\",\"customer_name\",\"building\",\"address\","));
    assert!(text.ends_with("\r\n"));
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), truth.customers_rows);
    assert_eq!(&rows[0][0], "C-10001");
    let with_ref = rows.iter().filter(|r| !r[9].is_empty()).count();
    assert_eq!(with_ref, truth.customers_with_ref);
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        assert!(line.starts_with('"') && line.ends_with('"'), "{line}");
    }
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
fn weather_files_have_the_open_meteo_shape() {
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(dir.path(), &small(4)).unwrap();
    let files = support::files(&dir.path().join("data/inbox/weather"));
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
