//! Shared helpers: small options, file hashing and an independent re-parser of meter files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use keel_example::{FileTruth, GenerateOptions};
use sha2::{Digest, Sha256};

/// A data set small enough for every test to generate its own.
pub fn small(seed: u64) -> GenerateOptions {
    GenerateOptions {
        seed,
        buildings: 10,
        years: 1,
        first_year: 2016,
    }
}

/// Every file under `dir`, as (path relative to `dir` with `/`, absolute path), sorted.
pub fn files(dir: &Path) -> Vec<(String, PathBuf)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, path));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// sha256 of every file under `dir`, by relative path.
pub fn hashes(dir: &Path) -> BTreeMap<String, String> {
    files(dir)
        .into_iter()
        .map(|(rel, path)| {
            (
                rel,
                hex::encode(Sha256::digest(std::fs::read(path).unwrap())),
            )
        })
        .collect()
}

/// A meter file's firmware, from the first path component (`hm1/2016-02-01/HM1-00001_201601.csv`).
pub fn firmware(rel: &str) -> &str {
    rel.split('/').next().unwrap()
}

/// Decodes a meter file: Windows-1250 for `pl2`, strict UTF-8 otherwise.
pub fn decode(rel: &str, bytes: &[u8]) -> String {
    if firmware(rel) == "pl2" {
        let (text, had_errors) = encoding_rs::WINDOWS_1250.decode_without_bom_handling(bytes);
        assert!(!had_errors, "{rel}: not Windows-1250");
        text.into_owned()
    } else {
        String::from_utf8(bytes.to_vec()).unwrap()
    }
}

/// Splits into physical lines, checking the dialect's terminator ends every line.
pub fn lines<'a>(rel: &str, text: &'a str) -> Vec<&'a str> {
    let newline = if firmware(rel) == "pl2" { "\r\n" } else { "\n" };
    let body = text
        .strip_suffix(newline)
        .unwrap_or_else(|| panic!("{rel}: no final newline"));
    let lines: Vec<&str> = body.split(newline).collect();
    if newline == "\n" {
        assert!(!text.contains('\r'), "{rel}: CR in an LF file");
    } else {
        assert_eq!(
            text.matches('\n').count(),
            lines.len(),
            "{rel}: bare LF in a CRLF file"
        );
    }
    lines
}

/// One parsed data line.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub date: NaiveDate,
    pub kwh: f64,
}

/// Parses a data line in the dialect of `rel`; `None` when it is malformed.
pub fn parse_line(rel: &str, line: &str) -> Option<Parsed> {
    let fw = firmware(rel);
    let (delim, date_fmt) = if fw == "pl2" {
        (';', "%d.%m.%Y")
    } else {
        (',', "%Y-%m-%d")
    };
    let fields: Vec<&str> = line.split(delim).collect();
    if fields.len() != 5 {
        return None;
    }
    let device = rel.rsplit('/').next().unwrap().split('_').next().unwrap();
    assert_eq!(fields[0], device, "{rel}: wrong device id in {line:?}");
    let date = NaiveDate::parse_from_str(fields[1], date_fmt).ok()?;
    let number = |s: &str| s.replace(',', ".").parse::<f64>().ok();
    let energy = number(fields[2])?;
    number(fields[3])?;
    number(fields[4])?;
    let kwh = if fw == "mx3" {
        (energy * 1000.0 * 100.0).round() / 100.0
    } else {
        energy
    };
    Some(Parsed { date, kwh })
}

/// Classifies every line of a meter file independently of the generator.
pub fn classify(rel: &str, bytes: &[u8]) -> FileTruth {
    let text = decode(rel, bytes);
    let lines = lines(rel, &text);
    let header = match firmware(rel) {
        "hm1" => "device_id,date,energy_kwh,supply_temp_c,return_temp_c",
        "pl2" => "Licznik;Data;Zużycie [kWh];Temp. zasilania [°C];Temp. powrotu [°C]",
        _ => "meter,day,heat_mwh,t_supply,t_return",
    };
    assert_eq!(lines[0], header, "{rel}");
    let mut truth = FileTruth {
        data_lines: lines.len() - 1,
        ..FileTruth::default()
    };
    let mut previous_clean: Option<&str> = None;
    for (i, line) in lines.iter().enumerate().skip(1) {
        let line_no = i + 1;
        let mut clean = false;
        match parse_line(rel, line) {
            None => truth.malformed_lines.push(line_no),
            Some(p) if p.kwh == 999_999.99 => truth.absurd_lines.push(line_no),
            Some(p) if p.kwh < 0.0 => truth.negative_lines.push(line_no),
            Some(_) if previous_clean == Some(*line) => truth.duplicate_lines.push(line_no),
            Some(p) => {
                assert!(p.kwh > 0.0 && p.kwh < 50_000.0, "{rel}:{line_no}: {line}");
                clean = true;
            }
        }
        previous_clean = clean.then_some(*line);
    }
    truth
}
