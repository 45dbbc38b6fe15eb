//! Compressed landing objects: gzip and zip recognised by their first bytes (never by the
//! file name), decompressed in memory within the source's size limit, each zip member an
//! input of its own. An object whose compressed stream cannot be verified to its end (a
//! truncated or corrupt gzip, a bad zip checksum) yields no input at all: it is quarantined
//! whole, so rows before the damage are never taken as if the object were complete
//! (RELIABILITY C6).
//!
//! See: <https://www.rfc-editor.org/rfc/rfc1952> (gzip members),
//! <https://pkware.cachefly.net/webdocs/casestudies/APPNOTE.TXT> (zip).

use std::io::{Cursor, Read};

use bytes::Bytes;
use keel_core::spec::{Compression, FormatKind};
use sha2::{Digest, Sha256};

use crate::parse::{Rejection, clip};

/// The first bytes of a gzip member.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// The first bytes of a zip archive's first local file header.
const ZIP_MAGIC: [u8; 4] = *b"PK\x03\x04";
/// The member every Office Open XML package (`.xlsx`) holds.
const OOXML_CONTENT_TYPES: &str = "[Content_Types].xml";

/// What an object holds, after decompression.
#[derive(Debug)]
pub enum Input<'a> {
    /// The object itself, or the content of its gzip stream.
    Whole(Bytes),
    /// A member of a zip archive, with its name in the archive.
    Member {
        /// Name in the archive (a relative path with `/` separators).
        name: &'a str,
        /// Its content.
        bytes: Bytes,
    },
    /// A member that is not read: its name is absolute or climbs out with `..`.
    Refused {
        /// The name as the archive gives it.
        name: &'a str,
        /// Why (rule `zip_path`).
        rejection: Rejection,
    },
}

/// How an object is compressed, as detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    /// Not compressed.
    None,
    /// gzip.
    Gzip,
    /// A zip archive.
    Zip,
}

/// How `bytes` are compressed under the declared `compression`. With `auto`, a zip that is
/// an `.xlsx` workbook is the workbook itself when the source reads `xlsx`.
pub fn detect(bytes: &[u8], compression: Compression, kind: FormatKind) -> Detected {
    match compression {
        Compression::None => Detected::None,
        Compression::Gzip => Detected::Gzip,
        Compression::Zip => Detected::Zip,
        Compression::Auto if bytes.starts_with(&GZIP_MAGIC) => Detected::Gzip,
        Compression::Auto if bytes.starts_with(&ZIP_MAGIC) => {
            if kind == FormatKind::Xlsx && is_ooxml(bytes) {
                Detected::None
            } else {
                Detected::Zip
            }
        }
        Compression::Auto => Detected::None,
    }
}

fn is_ooxml(bytes: &[u8]) -> bool {
    zip::ZipArchive::new(Cursor::new(bytes))
        .map(|mut a| a.by_name(OOXML_CONTENT_TYPES).is_ok())
        .unwrap_or(false)
}

/// Calls `each` with every input of an object, in archive order.
///
/// # Errors
/// A rejection of the whole object (line 0) with rule `compression` when the stream is
/// not what was declared or cannot be read to its verified end, or `size_limit` when it
/// expands past `limit` bytes. Inputs already passed to `each` must then be discarded.
pub fn inputs(
    bytes: &Bytes,
    compression: Compression,
    kind: FormatKind,
    limit: u64,
    each: &mut dyn FnMut(Input<'_>),
) -> Result<(), Rejection> {
    match detect(bytes, compression, kind) {
        Detected::None => {
            each(Input::Whole(bytes.clone()));
            Ok(())
        }
        Detected::Gzip => {
            let data = gunzip(bytes, limit)?;
            each(Input::Whole(Bytes::from(data)));
            Ok(())
        }
        Detected::Zip => unzip(bytes, limit, each),
    }
}

/// A rejection of the whole object.
fn whole(rule: &str, raw: String, reason: String) -> Rejection {
    Rejection {
        line: 0,
        raw,
        column: None,
        rule: rule.into(),
        reason,
    }
}

/// The decompressed content of every gzip member of `bytes`, each checked against its CRC
/// and length trailer.
fn gunzip(bytes: &[u8], limit: u64) -> Result<Vec<u8>, Rejection> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Err(whole(
            "compression",
            clip(&String::from_utf8_lossy(bytes)),
            format!(
                "declared gzip but the object does not start with a gzip header ({})",
                first_bytes(bytes)
            ),
        ));
    }
    let mut out = Vec::new();
    if let Err(e) = gunzip_stream(bytes, limit).read_to_end(&mut out) {
        let mut rejection = stream_rejection(&e);
        if rejection.rule == "compression" {
            rejection.raw = clip(&String::from_utf8_lossy(&out));
        }
        return Err(rejection);
    }
    Ok(out)
}

/// A gzip stream decompressed as it is read (every member, each checked against its CRC and
/// length trailer when its end is reached), failing with [`PastLimit`] once it expands past
/// `limit` bytes. Whoever reads it to the end has verified it; an error on the way is turned
/// into the object's rejection by [`stream_rejection`].
pub fn gunzip_stream<R: std::io::BufRead>(input: R, limit: u64) -> impl Read {
    Limited {
        inner: flate2::bufread::MultiGzDecoder::new(input),
        left: limit,
        limit,
        read: 0,
    }
}

/// The error a [`gunzip_stream`] fails with past its limit.
#[derive(Debug)]
pub struct PastLimit(pub u64);

impl std::fmt::Display for PastLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "expands past {} bytes", self.0)
    }
}

impl std::error::Error for PastLimit {}

struct Limited<R> {
    inner: R,
    left: u64,
    limit: u64,
    read: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("{e} after {} decompressed bytes", self.read),
            )
        })?;
        if n as u64 > self.left {
            return Err(std::io::Error::other(PastLimit(self.limit)));
        }
        self.left -= n as u64;
        self.read += n as u64;
        Ok(n)
    }
}

/// The rejection of a whole object whose compressed stream failed while it was read.
pub fn stream_rejection(e: &std::io::Error) -> Rejection {
    if let Some(PastLimit(limit)) = e.get_ref().and_then(|e| e.downcast_ref::<PastLimit>()) {
        return size_limit(*limit);
    }
    whole(
        "compression",
        String::new(),
        format!(
            "the gzip stream cannot be read to its end ({e}); its rows cannot be verified \
             complete, so none are taken"
        ),
    )
}

fn size_limit(limit: u64) -> Rejection {
    whole(
        "size_limit",
        String::new(),
        format!(
            "the object expands past `max_uncompressed_bytes` = {limit}; not read further \
             (raise the limit in `[format]` if the object is genuine)"
        ),
    )
}

/// Reads every file member of a zip archive in order, each checked against its CRC.
fn unzip(bytes: &[u8], limit: u64, each: &mut dyn FnMut(Input<'_>)) -> Result<(), Rejection> {
    let corrupt = |e: &dyn std::fmt::Display| {
        whole(
            "compression",
            String::new(),
            format!("the zip archive cannot be read: {e}"),
        )
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| corrupt(&e))?;
    // Declared sizes first: a bomb that admits its size is refused before inflating it.
    // Sizes that lie are caught while reading, by `take` below.
    let mut declared: u64 = 0;
    for i in 0..archive.len() {
        let member = archive.by_index_raw(i).map_err(|e| corrupt(&e))?;
        declared = declared.saturating_add(member.size());
    }
    if declared > limit {
        return Err(size_limit(limit));
    }
    let mut used: u64 = 0;
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).map_err(|e| corrupt(&e))?;
        if member.is_dir() {
            continue;
        }
        let name = match member.name() {
            Ok(n) => n.into_owned(),
            Err(_) => String::from_utf8_lossy(member.name_raw()).into_owned(),
        };
        // The name is never trusted: it only labels rows, but a name that is absolute or
        // climbs out of the archive marks a hostile archive member.
        if member.enclosed_name().is_none() || !safe_name(&name) {
            drop(member);
            each(Input::Refused {
                name: &name,
                rejection: whole(
                    "zip_path",
                    String::new(),
                    format!("zip member `{name}` has an absolute or `..` path; not read"),
                ),
            });
            continue;
        }
        let mut data = Vec::with_capacity(member.size().min(room_hint(limit, used)) as usize);
        let room = limit - used;
        let read = (&mut member)
            .take(room.saturating_add(1))
            .read_to_end(&mut data);
        if let Err(e) = read {
            return Err(whole(
                "compression",
                String::new(),
                format!(
                    "zip member `{name}` cannot be read to its end ({e}); the archive's rows \
                     cannot be verified complete, so none are taken"
                ),
            ));
        }
        if data.len() as u64 > room {
            return Err(size_limit(limit));
        }
        used += data.len() as u64;
        drop(member);
        each(Input::Member {
            name: &name,
            bytes: Bytes::from(data),
        });
    }
    Ok(())
}

/// Capacity to reserve for a member: its declared size, but never more than the room
/// left, so that a lying header cannot make us allocate.
fn room_hint(limit: u64, used: u64) -> u64 {
    limit.saturating_sub(used).min(64 << 20)
}

/// A relative name that stays inside the archive, with either separator.
fn safe_name(name: &str) -> bool {
    let name = name.replace('\\', "/");
    let drive = name.as_bytes().get(1) == Some(&b':');
    !name.starts_with('/') && !drive && !name.split('/').any(|c| c == "..")
}

fn first_bytes(bytes: &[u8]) -> String {
    let shown: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
    if shown.is_empty() {
        "the object is empty".into()
    } else {
        format!("first bytes {}", shown.join(" "))
    }
}

/// A reader that hashes (SHA-256) what is read through it: a landing object is verified
/// against the sha256 of its manifest entry as it is read, to its end.
pub struct Hashed<R> {
    inner: R,
    hasher: Sha256,
}

impl<R> Hashed<R> {
    pub fn new(inner: R) -> Self {
        Hashed {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// The hex digest (lower case) of everything read.
    pub fn finish(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

impl<R: Read> Read for Hashed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zip(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in members {
            w.start_file(*name, options).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    /// The inputs as `(name, text)`, or the rejection's rule.
    fn read(bytes: &[u8], compression: Compression, limit: u64) -> Result<Vec<String>, String> {
        let mut seen = Vec::new();
        let bytes = Bytes::copy_from_slice(bytes);
        inputs(&bytes, compression, FormatKind::Csv, limit, &mut |input| {
            seen.push(match input {
                Input::Whole(b) => format!("-:{}", String::from_utf8_lossy(&b)),
                Input::Member { name, bytes } => {
                    format!("{name}:{}", String::from_utf8_lossy(&bytes))
                }
                Input::Refused { name, rejection } => format!("{name}:{}", rejection.rule),
            })
        })
        .map_err(|r| r.rule)?;
        Ok(seen)
    }

    #[test]
    fn detection_is_by_magic_bytes_not_by_name() {
        let k = FormatKind::Csv;
        assert_eq!(detect(&gzip(b"a"), Compression::Auto, k), Detected::Gzip);
        assert_eq!(
            detect(&zip(&[("a", b"a")]), Compression::Auto, k),
            Detected::Zip
        );
        assert_eq!(detect(b"a,b\n", Compression::Auto, k), Detected::None);
        assert_eq!(detect(b"", Compression::Auto, k), Detected::None);
        assert_eq!(detect(&gzip(b"a"), Compression::None, k), Detected::None);
    }

    #[test]
    fn multi_member_gzip_is_read_whole() {
        let mut two = gzip(b"a,b\n1,2\n");
        two.extend(gzip(b"3,4\n"));
        assert_eq!(
            read(&two, Compression::Auto, 1 << 20),
            Ok(vec!["-:a,b\n1,2\n3,4\n".into()])
        );
    }

    #[test]
    fn a_truncated_or_corrupt_gzip_yields_nothing() {
        let body: String = (0..5000).map(|i| format!("{i},{}\n", i * 7)).collect();
        let full = gzip(body.as_bytes());
        for cut in [full.len() - 4, full.len() - 8, full.len() / 2, 12] {
            assert_eq!(
                read(&full[..cut], Compression::Auto, 1 << 30),
                Err("compression".to_string()),
                "cut at {cut}"
            );
        }
        let mut flipped = full.clone();
        let n = flipped.len();
        flipped[n - 6] ^= 0xff; // the CRC trailer
        assert_eq!(
            read(&flipped, Compression::Auto, 1 << 30),
            Err("compression".into())
        );
        // Garbage after the last member is not silently ignored either.
        let mut trailing = full.clone();
        trailing.extend_from_slice(b"not gzip");
        assert_eq!(
            read(&trailing, Compression::Auto, 1 << 30),
            Err("compression".into())
        );
    }

    #[test]
    fn declared_gzip_that_is_not_gzip_is_refused() {
        assert_eq!(
            read(b"a,b\n", Compression::Gzip, 1 << 20),
            Err("compression".into())
        );
        assert_eq!(
            read(b"", Compression::Gzip, 1 << 20),
            Err("compression".into())
        );
    }

    #[test]
    fn bombs_stop_at_the_limit() {
        let zeros = vec![0u8; 1 << 20];
        assert_eq!(
            read(&gzip(&zeros), Compression::Auto, 1000),
            Err("size_limit".into())
        );
        assert_eq!(
            read(&zip(&[("a", &zeros)]), Compression::Auto, 1000),
            Err("size_limit".into())
        );
        // Several members that fit alone but not together.
        let half = vec![b'x'; 600];
        assert_eq!(
            read(&zip(&[("a", &half), ("b", &half)]), Compression::Auto, 1000),
            Err("size_limit".into())
        );
        assert!(read(&zip(&[("a", &half)]), Compression::Auto, 1000).is_ok());
    }

    #[test]
    fn zip_members_are_read_in_order_and_unsafe_names_refused() {
        let archive = zip(&[
            ("dir/a.csv", b"1"),
            ("../evil.csv", b"2"),
            ("/abs.csv", b"3"),
            ("..\\win.csv", b"5"),
            ("b.csv", b"4"),
        ]);
        assert_eq!(
            read(&archive, Compression::Auto, 1 << 20),
            Ok(vec![
                "dir/a.csv:1".into(),
                "../evil.csv:zip_path".into(),
                "/abs.csv:zip_path".into(),
                "..\\win.csv:zip_path".into(),
                "b.csv:4".into(),
            ])
        );
    }

    #[test]
    fn a_corrupt_or_truncated_zip_yields_nothing() {
        let body: String = (0..2000).map(|i| format!("{i}\n")).collect();
        let archive = zip(&[("a.csv", body.as_bytes())]);
        assert_eq!(
            read(&archive[..archive.len() / 2], Compression::Auto, 1 << 20),
            Err("compression".into())
        );
        // A flipped byte inside the deflated data: the CRC check catches it.
        let mut flipped = archive.clone();
        flipped[60] ^= 0x55;
        assert_eq!(
            read(&flipped, Compression::Auto, 1 << 20),
            Err("compression".into())
        );
        assert_eq!(
            read(b"a,b\n", Compression::Zip, 1 << 20),
            Err("compression".into())
        );
    }
}
