//! Encodings (RELIABILITY C2): Polish text in windows-1250 and ISO-8859-2, declared and
//! detected (`encoding = "auto"`), UTF-8 with a BOM, UTF-16LE and UTF-16BE with a BOM
//! (and without one), and UTF-8 with an invalid byte sequence mid-file. Polish letters reach the Delta
//! table intact; a line holding invalid bytes is quarantined with rule `encoding` while
//! the others are written; the landing object keeps its raw bytes (its sha256 unchanged).

use sha2::{Digest, Sha256};

use crate::lab::Lab;

/// The rows of every fixture: every Polish letter, small and capital, in place names.
const ROWS: [(&str, &str, &str); 4] = [
    ("Łódź", "Żółkiewskiego", "12.5"),
    ("Gdańsk", "Świętojańska", "3.25"),
    ("Częstochowa", "Źródlana ĄĆĘŁŃÓŚŹŻ", "0.5"),
    ("Kraków", "ąćęłńóśźż", "7.0"),
];

/// The fixture's text: `miasto;ulica;kwh`, decimal commas, CRLF line ends.
fn text() -> String {
    let mut s = String::from("miasto;ulica;kwh\r\n");
    for (city, street, kwh) in ROWS {
        s.push_str(&format!("{city};{street};{}\r\n", kwh.replace('.', ",")));
    }
    s
}

/// A source reading `miasto;ulica;kwh` in `encoding`.
fn source(encoding: &str) -> String {
    format!(
        r#"
[collector]
kind = "files"
path = "inbox"
[format]
kind = "csv"
[[format.dialects]]
name = "d"
encoding = "{encoding}"
delimiter = ";"
decimal = ","
[format.dialects.columns]
city = "miasto"
street = "ulica"
kwh = "kwh"
[[columns]]
name = "city"
type = "string"
required = true
[[columns]]
name = "street"
type = "string"
[[columns]]
name = "kwh"
type = "float64"
"#
    )
}

/// `text` in a single-byte code page, checked to hold no unmappable character.
fn single_byte(encoding: &'static encoding_rs::Encoding, text: &str) -> Vec<u8> {
    let (bytes, used, unmappable) = encoding.encode(text);
    assert_eq!(used, encoding);
    assert!(!unmappable, "{} holds every Polish letter", encoding.name());
    bytes.into_owned()
}

/// `text` in UTF-16 with its BOM (encoding_rs encodes to UTF-16 as UTF-8, so by hand).
fn utf16(text: &str, little_endian: bool) -> Vec<u8> {
    let mut out = if little_endian {
        vec![0xFF, 0xFE]
    } else {
        vec![0xFE, 0xFF]
    };
    for unit in text.encode_utf16() {
        out.extend(if little_endian {
            unit.to_le_bytes()
        } else {
            unit.to_be_bytes()
        });
    }
    out
}

/// Asserts that the landing object `id` still holds exactly `bytes`.
fn raw_bytes_kept(lab: &Lab, id: &str, bytes: &[u8]) {
    let object = lab.catalog.object(id).unwrap().expect("landing object");
    let stored = std::fs::read(lab.project.lake.root().join(&object.persistent_path)).unwrap();
    assert_eq!(stored, bytes, "{id}: the raw bytes are kept");
    assert_eq!(hex::encode(Sha256::digest(&stored)), object.sha256, "{id}");
}

async fn written(lab: &Lab, table: &str) -> Vec<Vec<String>> {
    lab.rows(&format!(
        "SELECT city, street, kwh FROM formatted.{table} ORDER BY _keel_line"
    ))
    .await
}

fn expected(rows: &[(&str, &str, &str)]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|(c, s, k)| vec![c.to_string(), s.to_string(), k.to_string()])
        .collect()
}

#[tokio::test]
async fn polish_text_is_read_right_in_every_encoding_declared_or_detected() {
    use encoding_rs::{ISO_8859_2, WINDOWS_1250};
    let text = text();
    let fixtures: Vec<(&str, &str, Vec<u8>)> = vec![
        ("cp1250", "windows-1250", single_byte(WINDOWS_1250, &text)),
        ("iso2", "iso-8859-2", single_byte(ISO_8859_2, &text)),
        ("cp1250_auto", "auto", single_byte(WINDOWS_1250, &text)),
        ("iso2_auto", "auto", single_byte(ISO_8859_2, &text)),
        (
            "utf8_bom",
            "utf-8",
            [b"\xEF\xBB\xBF", text.as_bytes()].concat(),
        ),
        (
            "utf8_bom_auto",
            "auto",
            [b"\xEF\xBB\xBF", text.as_bytes()].concat(),
        ),
        ("utf16le", "utf-16le", utf16(&text, true)),
        ("utf16le_auto", "auto", utf16(&text, true)),
        ("utf16be", "utf-16be", utf16(&text, false)),
        ("utf16be_auto", "auto", utf16(&text, false)),
        // A BOM overrides the declared encoding, as decoding does.
        ("utf16le_declared_utf8", "utf-8", utf16(&text, true)),
        // Without a BOM: declared, or recognised by the NUL byte of every ASCII character.
        (
            "utf16le_no_bom",
            "utf-16le",
            utf16(&text, true)[2..].to_vec(),
        ),
        (
            "utf16be_no_bom_auto",
            "auto",
            utf16(&text, false)[2..].to_vec(),
        ),
    ];
    // The two code pages differ on ą, ś, ź (and Ą, Ś, Ź): the fixtures tell them apart.
    assert_ne!(fixtures[0].2, fixtures[1].2);
    let sources: Vec<(&str, String)> = fixtures
        .iter()
        .map(|(name, encoding, _)| (*name, source(encoding)))
        .collect();
    let sources: Vec<(&str, &str)> = sources.iter().map(|(n, s)| (*n, s.as_str())).collect();
    let lab = Lab::new(&sources, 1024);
    let ids: Vec<String> = fixtures
        .iter()
        .map(|(name, _, bytes)| lab.land(name, &format!("{name}.csv"), bytes))
        .collect();
    let mut failures = Vec::new();
    for ((name, _, bytes), id) in fixtures.iter().zip(&ids) {
        let report = lab.format(name).await;
        let rows = written(&lab, name).await;
        if (report.rows_written, report.rows_quarantined) != (4, 0) || rows != expected(&ROWS) {
            let q = lab
                .rows(&format!(
                    "SELECT _keel_line, rule, reason FROM quarantine.{name}"
                ))
                .await;
            failures.push(format!(
                "{name}: {report:?}\n  rows {rows:?}\n  quarantine {q:?}"
            ));
        }
        raw_bytes_kept(&lab, id, bytes);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// One line of a UTF-8 file holds bytes that are not UTF-8 (a windows-1250 `ł`, 0xB3):
/// that line is quarantined with rule `encoding` and its line number, the others are
/// written; declared or detected, the object is read as UTF-8 (detection sees many valid
/// Polish letters beside one bad byte), never re-read as a code page.
#[tokio::test]
async fn an_invalid_utf8_sequence_quarantines_its_line_only() {
    let lab = Lab::new(
        &[("bad", &source("utf-8")), ("bad_auto", &source("auto"))],
        1024,
    );
    let mut bytes = text().into_bytes();
    let line3 = "Częstochowa;Źródlana ĄĆĘŁŃÓŚŹŻ;0,5\r\n";
    let at = String::from_utf8_lossy(&bytes).find(line3).unwrap();
    let bad_line = b"Bia\xB3ystok;Lipowa;1,5\r\n";
    bytes.splice(at..at, bad_line.iter().copied());
    let ids = [
        lab.land("bad", "bad.csv", &bytes),
        lab.land("bad_auto", "bad.csv", &bytes),
    ];
    for (table, id) in ["bad", "bad_auto"].iter().zip(&ids) {
        let report = lab.format(table).await;
        assert_eq!(
            (
                report.rows_read,
                report.rows_written,
                report.rows_quarantined
            ),
            (5, 4, 1),
            "{table}: {report:?}"
        );
        assert_eq!(written(&lab, table).await, expected(&ROWS), "{table}");
        let q = lab
            .rows(&format!(
                "SELECT _keel_line, rule, raw FROM quarantine.{table}"
            ))
            .await;
        assert_eq!(q.len(), 1, "{table}: {q:?}");
        assert_eq!((&*q[0][0], &*q[0][1]), ("4", "encoding"), "{table}");
        assert_eq!(q[0][2], "Bia\u{fffd}ystok;Lipowa;1,5", "{table}");
        raw_bytes_kept(&lab, id, &bytes);
    }
}
