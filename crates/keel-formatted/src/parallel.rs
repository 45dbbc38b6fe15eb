//! One large delimited-text object parsed and converted on every core.
//!
//! The reading thread reads the object (through its hash and decompression, as before),
//! reads the header from its first bytes, and cuts the body into chunks of whole records:
//! a chunk ends after the last `\n` that ends a record, quotes followed as the `csv` reader
//! follows them ([`csv::last_record_end`]). Workers parse and convert chunks as they come;
//! the reading thread hands their records on in the object's order, numbering lines by the
//! line ends of the chunks before. What is in flight is bounded: at most [`IN_FLIGHT`]
//! chunks of about [`CHUNK_BYTES`] each, read or converted. Records, rejections, lines and
//! rules are those of the sequential reader, with two differences that cannot change a
//! well-formed file: a chunk's text is checked for replaced (undecodable) bytes from the
//! chunk's start, not the object's; and when no record ends within [`MAX_CARRY`] bytes
//! (a quote that never closes, a file with `\r` line ends only), the rest of the object is
//! read by the sequential reader, as it would have been.
//!
//! Only what needs no memory across records takes this path: UTF-8 or a single-byte
//! encoding, no escape character, and no local times read by the order in which an
//! ambiguous hour repeats (see [`crate::time`]).

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, sync_channel};

use keel_core::spec::{AmbiguousTime, ColumnType};

use crate::parse::csv::{self, Start};
use crate::parse::{RawRecord, Rejection};
use crate::plan::{CanonicalColumn, DialectPlan};
use crate::read::{Record, to_record};
use crate::time::AmbiguityTracker;

/// Bytes of an object's body one chunk holds (it ends at a record's end past this).
pub(crate) const CHUNK_BYTES: usize = 4 << 20;

/// Bytes read without a record ending before the rest of the object is read sequentially.
const MAX_CARRY: usize = 32 << 20;

/// Chunks read or converted and not yet handed on, at most.
const IN_FLIGHT: usize = 6;

/// How many threads convert chunks: one per core of the machine (1 when unknown; the
/// reader takes this path only with more than one).
pub(crate) fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Whether an object of `dialect` whose first bytes are `sample` may be read in parallel.
pub(crate) fn eligible(dialect: &DialectPlan, columns: &[CanonicalColumn], sample: &[u8]) -> bool {
    let utf16_bom = sample.starts_with(&[0xFF, 0xFE]) || sample.starts_with(&[0xFE, 0xFF]);
    let encoding = dialect.encoding;
    let byte_wise = encoding == encoding_rs::UTF_8 || encoding.is_single_byte();
    // Ambiguous local times read "in order" need every earlier record of the input.
    let in_order = columns
        .iter()
        .zip(&dialect.bindings)
        .any(|(column, binding)| {
            column.data_type == ColumnType::Timestamp
                && binding.as_ref().is_some_and(|b| {
                    b.ambiguous == AmbiguousTime::InOrder && b.timezone != chrono_tz::UTC
                })
        });
    dialect.escape.is_none()
        && byte_wise
        && !utf16_bom
        && !in_order
        && dialect.delimiter.is_ascii()
        && dialect.quote.is_ascii()
}

/// A chunk converted: its records (lines counted from the chunk's first line) and its line
/// ends.
struct Converted {
    records: Vec<Record>,
    line_ends: i64,
}

/// Reads the object whose first bytes are `sample` and rest is `input` with `workers`
/// threads converting, handing every record to `emit` in the object's order. Returns
/// `Ok(false)` without reading anything when the header does not end within `sample`
/// (the caller reads the object sequentially).
///
/// # Errors
/// When `input` fails.
pub(crate) fn read_csv(
    sample: &[u8],
    mut input: impl Read,
    dialect: &DialectPlan,
    columns: &[CanonicalColumn],
    original_name: &str,
    workers: usize,
    emit: &mut dyn FnMut(Record),
) -> std::io::Result<bool> {
    let encoding = if sample.starts_with(b"\xEF\xBB\xBF") {
        encoding_rs::UTF_8
    } else {
        dialect.encoding
    };
    let Some((header, body, lines_before)) = csv::read_header(sample, encoding, dialect, columns)
    else {
        return Ok(false);
    };
    let start = Start::Body {
        header: &header,
        encoding,
    };
    let convert_chunk = |bytes: &[u8]| Converted {
        records: convert_records(bytes, dialect, columns, original_name, start),
        line_ends: csv::line_ends(bytes),
    };
    let mut carry = sample[body..].to_vec();
    let mut order = Order {
        pending: BTreeMap::new(),
        next: 0,
        sent: 0,
        line_offset: lines_before,
    };
    let (work, queue) = sync_channel::<(u64, Vec<u8>)>(IN_FLIGHT);
    let (done, results) = sync_channel::<(u64, Converted)>(IN_FLIGHT);
    let queue = Mutex::new(queue);
    let rest = std::thread::scope(|scope| -> std::io::Result<Option<Vec<u8>>> {
        for _ in 0..workers {
            let done = done.clone();
            let (queue, convert_chunk) = (&queue, &convert_chunk);
            scope.spawn(move || {
                while let Some((seq, bytes)) = next_chunk(queue) {
                    if done.send((seq, convert_chunk(&bytes))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done);
        let mut eof = false;
        let rest = loop {
            // Read until a chunk's worth ends with a record, or the object ends.
            let mut cut = None;
            while !eof {
                if carry.len() >= CHUNK_BYTES {
                    cut = csv::last_record_end(&carry, dialect);
                    if cut.is_some() || carry.len() > MAX_CARRY {
                        break;
                    }
                }
                let want = CHUNK_BYTES.max(carry.len() + (1 << 20));
                eof = fill(&mut input, &mut carry, want)?;
            }
            let cut = match (eof, cut) {
                (true, _) => carry.len(),
                (false, Some(cut)) => cut,
                (false, None) => break Some(std::mem::take(&mut carry)),
            };
            if cut > 0 {
                let tail = carry.split_off(cut);
                let chunk = std::mem::replace(&mut carry, tail);
                if order.sent - order.next >= IN_FLIGHT as u64 && !order.receive(&results, emit) {
                    // Every worker is gone (one panicked): the scope reports it.
                    break None;
                }
                // The workers live until the queue closes: a send cannot fail.
                let _ = work.send((order.sent, chunk));
                order.sent += 1;
            }
            if eof && carry.is_empty() {
                break None;
            }
        };
        drop(work);
        while order.next < order.sent && order.receive(&results, emit) {}
        Ok(rest)
    })?;
    if let Some(carry) = rest {
        // No record ends within MAX_CARRY bytes: the sequential reader takes the rest.
        let offset = order.line_offset;
        let mut tracker = AmbiguityTracker::new();
        let each = |r: Result<RawRecord, Rejection>| {
            emit(shift(to_record(r, dialect, columns, &mut tracker), offset));
        };
        csv::parse_from(
            std::io::Cursor::new(carry).chain(input),
            dialect,
            columns,
            original_name,
            start,
            each,
        )?;
    }
    Ok(true)
}

/// Chunks converted, handed on in order.
struct Order {
    /// Chunks converted ahead of their turn.
    pending: BTreeMap<u64, Converted>,
    /// The next chunk to hand on.
    next: u64,
    /// Chunks given to the workers.
    sent: u64,
    /// Line ends before chunk `next`.
    line_offset: i64,
}

impl Order {
    /// Waits for the next chunk in order and hands on every chunk that is ready; `false`
    /// when no worker is left to convert it.
    fn receive(
        &mut self,
        results: &Receiver<(u64, Converted)>,
        emit: &mut dyn FnMut(Record),
    ) -> bool {
        while !self.pending.contains_key(&self.next) {
            match results.recv() {
                Ok((seq, converted)) => {
                    self.pending.insert(seq, converted);
                }
                Err(_) => return false,
            }
        }
        while let Some(converted) = self.pending.remove(&self.next) {
            let offset = self.line_offset;
            for record in converted.records {
                emit(shift(record, offset));
            }
            self.line_offset += converted.line_ends;
            self.next += 1;
        }
        true
    }
}

fn next_chunk(queue: &Mutex<Receiver<(u64, Vec<u8>)>>) -> Option<(u64, Vec<u8>)> {
    queue.lock().ok()?.recv().ok()
}

/// Reads from `input` until `buffer` holds `want` bytes or the input ends; `true` at its
/// end.
fn fill(input: &mut impl Read, buffer: &mut Vec<u8>, want: usize) -> std::io::Result<bool> {
    let before = buffer.len();
    let n = input
        .by_ref()
        .take((want.saturating_sub(before)) as u64)
        .read_to_end(buffer)?;
    Ok(n == 0 || buffer.len() < want)
}

/// The records of one chunk, lines counted from its first.
fn convert_records(
    bytes: &[u8],
    dialect: &DialectPlan,
    columns: &[CanonicalColumn],
    original_name: &str,
    start: Start<'_>,
) -> Vec<Record> {
    let mut records = Vec::with_capacity(bytes.len() / 32);
    let mut tracker = AmbiguityTracker::new();
    // Reading a slice cannot fail.
    let _ = csv::parse_from(bytes, dialect, columns, original_name, start, |r| {
        records.push(to_record(r, dialect, columns, &mut tracker));
    });
    records
}

/// A record of a chunk numbered within the object.
fn shift(record: Record, line_offset: i64) -> Record {
    match record {
        Ok((line, values)) => Ok((line + line_offset, values)),
        Err(mut rejection) => {
            rejection.line += line_offset;
            Err(rejection)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(dialect: &str) -> crate::SourcePlan {
        let toml = format!(
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
id = "Licznik"
day = "Data"
kwh = "Zużycie"
note = "note"
[[columns]]
name = "id"
type = "string"
required = true
[[columns]]
name = "day"
type = "date"
[[columns]]
name = "kwh"
type = "float64"
min = 0
[[columns]]
name = "note"
type = "string"
"#
        );
        let source = keel_core::project::Source {
            name: "s".into(),
            path: "sources/s.toml".into(),
            spec: toml::from_str(&toml).unwrap(),
        };
        crate::SourcePlan::new(&source).unwrap()
    }

    const UTF8: &str = r#"encoding = "utf-8"
delimiter = ","
decimal = "."
date_format = "%Y-%m-%d""#;

    const CP1250: &str = r#"encoding = "windows-1250"
delimiter = ";"
decimal = ","
date_format = "%d.%m.%Y""#;

    /// A body in which every few records something is wrong or unusual: quoted line
    /// breaks, a quote inside an unquoted field, doubled quotes, missing and extra fields,
    /// numbers and dates that do not parse, a negative reading, an empty line, a long
    /// field; CRLF line ends.
    fn body(rows: usize, sep: char, decimal: char) -> String {
        let mut text = String::new();
        for i in 0..rows {
            let day = if sep == ';' {
                format!("{:02}.{:02}.2019", 1 + i % 28, 1 + i % 12)
            } else {
                format!("2019-{:02}-{:02}", 1 + i % 12, 1 + i % 28)
            };
            let kwh = format!("{}{decimal}{}", i % 997, i % 10);
            let note = match i % 13 {
                0 => format!("\"line\r\nbreak {i}\""),
                1 => format!("a 5\" pipe {i}"),
                2 => format!("\"said \"\"hi\"\" {i}\""),
                3 => "żółw".to_string(),
                _ => format!("n{i}"),
            };
            let line = match i % 101 {
                7 => format!("m{i}{sep}{day}{sep}{kwh}"),
                8 => format!("m{i}{sep}{day}{sep}{kwh}{sep}{note}{sep}extra"),
                9 => format!("m{i}{sep}{day}{sep}12x4{sep}{note}"),
                10 => format!("m{i}{sep}2019-13-45{sep}{kwh}{sep}{note}"),
                11 => format!("m{i}{sep}{day}{sep}-{kwh}{sep}{note}"),
                12 => String::new(),
                13 => format!("{sep}{day}{sep}{kwh}{sep}{note}"),
                _ if i % 50_000 == 17 => {
                    format!("m{i}{sep}{day}{sep}{kwh}{sep}{}", "x".repeat(300_000))
                }
                _ => format!("m{i}{sep}{day}{sep}{kwh}{sep}{note}"),
            };
            text.push_str(&line);
            text.push_str("\r\n");
        }
        text
    }

    fn encode(text: &str, dialect: &DialectPlan) -> Vec<u8> {
        dialect.encoding.encode(text).0.into_owned()
    }

    fn sequential(bytes: &[u8], plan: &crate::SourcePlan) -> Vec<Record> {
        let dialect = &plan.dialects[0];
        let mut out = Vec::new();
        let mut tracker = AmbiguityTracker::new();
        csv::parse_stream(bytes, dialect, &plan.columns, "x.csv", |r| {
            out.push(to_record(r, dialect, &plan.columns, &mut tracker));
        })
        .unwrap();
        out
    }

    fn parallel(bytes: &[u8], plan: &crate::SourcePlan, workers: usize) -> Vec<Record> {
        let dialect = &plan.dialects[0];
        assert!(eligible(dialect, &plan.columns, bytes));
        let sample = &bytes[..bytes.len().min(1 << 20)];
        let mut out = Vec::new();
        let read = read_csv(
            sample,
            &bytes[sample.len()..],
            dialect,
            &plan.columns,
            "x.csv",
            workers,
            &mut |r| out.push(r),
        )
        .unwrap();
        assert!(read, "the header is in the sample");
        out
    }

    fn same(expected: &[Record], got: &[Record]) {
        assert_eq!(expected.len(), got.len());
        for (i, (e, g)) in expected.iter().zip(got).enumerate() {
            assert_eq!(e, g, "record {i}");
        }
    }

    #[test]
    fn chunks_give_the_records_of_the_sequential_reader() {
        for (dialect, sep, decimal) in [(UTF8, ',', '.'), (CP1250, ';', ',')] {
            let plan = plan(dialect);
            let text = format!(
                "station 7\r\nexported 2019\r\nLicznik{sep}Data{sep}Zużycie{sep}note\r\n{}",
                body(600_000, sep, decimal)
            );
            let mut plan = plan;
            plan.dialects[0].preamble_lines = 2;
            let bytes = encode(&text, &plan.dialects[0]);
            assert!(bytes.len() > 4 * CHUNK_BYTES);
            let expected = sequential(&bytes, &plan);
            assert!(expected.iter().filter(|r| r.is_err()).count() > 10_000);
            assert!(expected.len() > 590_000);
            for workers in [2, 3] {
                same(&expected, &parallel(&bytes, &plan, workers));
            }
        }
    }

    #[test]
    fn a_quote_that_never_closes_leaves_the_rest_to_the_sequential_reader() {
        let plan = plan(UTF8);
        let mut text = format!("Licznik,Data,Zużycie,note\n{}", body(100_000, ',', '.'));
        text.push_str("m1,2019-01-01,1.0,\"open and never closed\n");
        // More than MAX_CARRY bytes after the quote, without a quote to close it, in lines
        // the reader resumes at.
        let tail: String = (0..1_200_000)
            .map(|i| format!("t{i},2019-01-01,{}.5,n{i}\n", i % 1000))
            .collect();
        assert!(tail.len() > MAX_CARRY);
        text.push_str(&tail);
        let bytes = text.into_bytes();
        let expected = sequential(&bytes, &plan);
        assert!(
            expected
                .iter()
                .any(|r| r.as_ref().is_err_and(|e| e.rule == "csv_syntax"))
        );
        same(&expected, &parallel(&bytes, &plan, 2));
    }

    #[test]
    fn record_ends_follow_quotes_as_the_csv_reader_does() {
        let plan = plan(UTF8);
        let d = &plan.dialects[0];
        assert_eq!(csv::last_record_end(b"a,b\nc,d\ne", d), Some(8));
        // A quote inside an unquoted field is a character, not an opening quote.
        assert_eq!(csv::last_record_end(b"a,5\" x\nc,\"d\ne\"\nf", d), Some(15));
        // A line break inside a quoted field, doubled quotes inside one.
        assert_eq!(csv::last_record_end(b"a,\"x\n\"\"y\nz", d), None);
        assert_eq!(csv::last_record_end(b"a,\"x\n\"\"\"\nz", d), Some(9));
    }
}
