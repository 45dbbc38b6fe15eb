//! The csv-spectrum corner cases (quoted newlines, CRLF, escaped quotes, UTF-8, empty
//! fields): keel's splitter yields exactly the expected records.

use keel_formatted::parse::csv;
use keel_testkit::{real_data_dir, require};

use crate::plan;

/// Fields where csv-spectrum 2.0.0's expected JSON disagrees with its own CSV (the phone
/// number in `location_coordinates.csv` is 2095257564, the JSON says 1234567890).
const UPSTREAM_MISMATCHES: &[(&str, &str)] = &[("location_coordinates", "Contact Phone Number")];

#[test]
fn csv_spectrum_files_split_as_expected() {
    let Some(real) = real_data_dir() else {
        require(false, "../shared/data/real");
        return;
    };
    let dir = real.join("csv-spectrum");
    let csvs = dir.join("csvs");
    let jsons = dir.join("json");
    assert!(
        csvs.is_dir() && jsons.is_dir(),
        "unexpected layout of {}",
        dir.display()
    );
    let mut checked = 0;
    for entry in std::fs::read_dir(&csvs).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let expected: serde_json::Value =
            serde_json::from_slice(&std::fs::read(jsons.join(format!("{stem}.json"))).unwrap())
                .unwrap();
        // Most expectations are an array of records; one is a bare record.
        let expected: Vec<serde_json::Value> = match expected {
            serde_json::Value::Array(items) => items,
            one => vec![one],
        };
        let bytes = std::fs::read(&path).unwrap();
        let header: Vec<String> = {
            let mut r = ::csv::ReaderBuilder::new().from_reader(&bytes[..]);
            r.headers().unwrap().iter().map(str::to_string).collect()
        };
        let mut toml_text = String::from(
            "[collector]\nkind = \"files\"\npath = \".\"\n[format]\nkind = \"csv\"\n\
             [[format.dialects]]\nname = \"d\"\n",
        );
        toml_text.push_str("[format.dialects.columns]\n");
        for (i, h) in header.iter().enumerate() {
            toml_text.push_str(&format!("c{i} = {h:?}\n"));
        }
        for i in 0..header.len() {
            toml_text.push_str(&format!(
                "[[columns]]\nname = \"c{i}\"\ntype = \"string\"\n"
            ));
        }
        let plan = plan(&toml_text);
        let parsed = csv::parse(&bytes, &plan.dialects[0], &plan.columns, "x.csv");
        assert_eq!(parsed.len(), expected.len(), "{stem}");
        for (record, want) in parsed.iter().zip(&expected) {
            let record = record.as_ref().unwrap_or_else(|e| panic!("{stem}: {e:?}"));
            for (i, h) in header.iter().enumerate() {
                if UPSTREAM_MISMATCHES.contains(&(stem.as_str(), h.as_str())) {
                    continue;
                }
                let want = want[h].as_str().unwrap_or_default();
                assert_eq!(
                    record.values[i].as_deref().unwrap_or_default(),
                    want,
                    "{stem} {h}"
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} spectrum files");
}
