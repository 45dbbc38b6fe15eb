//! Reading one landing object into canonical records, handed out one at a time.
//!
//! Delimited text and NDJSON, plain or gzip-compressed, are streamed: the object is read from disk a
//! block at a time through its sha256 (checked at the end), the gzip decoder and the text
//! decoder, so that memory does not grow with the object. The other formats (JSON
//! documents, Parquet, xlsx, zip archives) are read whole within the source's size limit
//! and then handed out record by record.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use keel_catalog::manifest::LandingObject;
use keel_core::spec::FormatKind;

use crate::compression::{self, Detected, Hashed, Input};
use crate::convert::{Value, convert};
use crate::parallel;
use crate::parse::{self, Converted, Rejection};
use crate::plan::{DialectPlan, SourcePlan};
use crate::time::AmbiguityTracker;
use crate::{FormattedError, Result};

/// A canonical row with its line, or why the record was refused.
pub(crate) type Record = Result<(i64, Vec<Value>), Box<Rejection>>;

/// Where the records of one input come from: `object_id`, or `object_id!member` for a zip
/// member, and the name of the dialect they were read with (`-` when none).
pub(crate) struct Origin {
    pub(crate) reference: Arc<str>,
    pub(crate) dialect: Arc<str>,
}

/// A parsed record converted to a canonical row (with its line), or why it was refused.
pub(crate) fn to_record(
    r: Result<parse::RawRecord, Rejection>,
    dialect: &DialectPlan,
    columns: &[crate::plan::CanonicalColumn],
    tracker: &mut AmbiguityTracker,
) -> Record {
    r.and_then(|r| convert(&r, dialect, columns, tracker).map(|v| (r.line, v)))
        .map_err(Box::new)
}

/// What reading an object gave besides its records.
pub(crate) struct ObjectRead {
    /// Dialects used, in order of first use.
    pub(crate) dialects: Vec<Arc<str>>,
    /// What detection found per input (reference, JSON): physical metadata.
    pub(crate) detected: Vec<(String, serde_json::Value)>,
    /// The object could not be read to its verified end (a corrupt or truncated compressed
    /// stream, a size limit): this rejection stands for it, and the records handed out
    /// before are void.
    pub(crate) refused: Option<(Rejection, Arc<str>)>,
    /// Bytes of the object as stored.
    pub(crate) bytes: u64,
}

/// Bytes of an object that detection reads.
const SAMPLE_BYTES: usize = 1 << 20;

/// Reads the landing object `object` of the lake at `root`, handing each record to `emit`.
///
/// # Errors
/// When the object cannot be read from disk, or its bytes no longer match its sha256
/// ([`FormattedError::Corrupt`]; the records handed out must then be discarded).
pub(crate) fn read_object(
    root: &Path,
    plan: &SourcePlan,
    object: &LandingObject,
    batch_size: usize,
    emit: &mut dyn FnMut(&Origin, Record),
) -> Result<ObjectRead> {
    let path = root.join(&object.persistent_path);
    let mut input = BufReader::with_capacity(1 << 20, Hashed::new(fs_err::File::open(&path)?));
    let head = input.fill_buf()?;
    let detected = compression::detect(head, plan.compression, plan.kind);
    let streamed = matches!(plan.kind, FormatKind::Csv | FormatKind::Ndjson)
        && match detected {
            Detected::None => true,
            Detected::Gzip => head.starts_with(&[0x1f, 0x8b]),
            Detected::Zip => false,
        };
    let mut read = ObjectRead {
        dialects: Vec::new(),
        detected: Vec::new(),
        refused: None,
        bytes: object.bytes.max(0) as u64,
    };
    if streamed {
        let paths = [
            object.original_path.as_str(),
            inner_path(&object.original_path),
        ];
        let result = if detected == Detected::Gzip {
            let stream = compression::gunzip_stream(&mut input, plan.max_uncompressed_bytes);
            stream_text(plan, object, &paths, stream, &mut read, emit)
        } else {
            stream_text(plan, object, &paths, &mut input, &mut read, emit)
        };
        if let Err(e) = result {
            read.refused = Some((
                compression::stream_rejection(&e),
                refused_dialect(plan, object),
            ));
        }
    } else {
        let mut bytes = Vec::with_capacity(read.bytes as usize);
        input.read_to_end(&mut bytes)?;
        for input in read_whole(plan, object, Bytes::from(bytes), batch_size) {
            read.note(&input.dialect, input.detected.clone(), &input.reference);
            let origin = Origin {
                reference: input.reference,
                dialect: input.dialect,
            };
            match input.rows {
                Rows::Records(rows) => rows.into_iter().for_each(|r| emit(&origin, r)),
                Rows::Refused(rejection) => {
                    read.refused = Some((rejection, origin.dialect));
                }
            }
        }
    }
    // What a reader stopped short of is still hashed: the whole object is verified.
    std::io::copy(&mut input, &mut std::io::sink())?;
    if input.into_inner().finish() != object.sha256 {
        return Err(FormattedError::Corrupt {
            object_id: object.object_id.clone(),
            path,
        });
    }
    Ok(read)
}

impl ObjectRead {
    fn note(&mut self, dialect: &Arc<str>, detected: Option<serde_json::Value>, reference: &str) {
        if !self.dialects.contains(dialect) {
            self.dialects.push(dialect.clone());
        }
        if let Some(found) = detected {
            self.detected.push((reference.to_string(), found));
        }
    }
}

/// The name an object `a.csv.gz` is also matched by (`a.csv`): what it holds is found from
/// its bytes, not its name.
fn inner_path(path: &str) -> &str {
    [".gz", ".gzip"]
        .iter()
        .find_map(|ext| path.strip_suffix(ext))
        .unwrap_or(path)
}

fn refused_dialect(plan: &SourcePlan, object: &LandingObject) -> Arc<str> {
    Arc::from(
        plan.dialect_for(&object.original_path)
            .map_or("-", |d| d.name.as_str()),
    )
}

/// Streams a text object (delimited text or NDJSON, already decompressed) through
/// detection, the parser and conversion.
fn stream_text(
    plan: &SourcePlan,
    object: &LandingObject,
    paths: &[&str],
    mut input: impl Read,
    read: &mut ObjectRead,
    emit: &mut dyn FnMut(&Origin, Record),
) -> std::io::Result<()> {
    let reference: Arc<str> = Arc::from(object.object_id.as_str());
    let mut sample = Vec::with_capacity(SAMPLE_BYTES);
    (&mut input)
        .take(SAMPLE_BYTES as u64)
        .read_to_end(&mut sample)?;
    let Some(declared) = plan.dialect_for_any(paths) else {
        let origin = Origin {
            reference: reference.clone(),
            dialect: Arc::from("-"),
        };
        read.note(&origin.dialect, None, &reference);
        for r in no_dialect(&sample, paths[0]) {
            emit(&origin, r);
        }
        return Ok(());
    };
    let (resolved, detected) = resolve(plan, declared, &sample, &reference);
    let dialect = resolved.as_ref().unwrap_or(declared);
    let origin = Origin {
        reference: reference.clone(),
        dialect: Arc::from(dialect.name.as_str()),
    };
    read.note(&origin.dialect, detected, &reference);
    let columns = &plan.columns;
    let name = &object.original_name;
    if plan.kind == FormatKind::Csv
        && sample.len() == SAMPLE_BYTES
        && parallel::eligible(dialect, columns, &sample)
    {
        let workers = parallel::workers();
        if workers > 1
            && parallel::read_csv(
                &sample,
                &mut input,
                dialect,
                columns,
                name,
                workers,
                &mut |r| emit(&origin, r),
            )?
        {
            return Ok(());
        }
    }
    let mut tracker = AmbiguityTracker::new();
    let input = std::io::Cursor::new(sample).chain(input);
    let each = |r: Result<parse::RawRecord, Rejection>| {
        emit(&origin, to_record(r, dialect, columns, &mut tracker));
    };
    if plan.kind == FormatKind::Ndjson {
        parse::ndjson::parse_stream(input, dialect, columns, name, each)
    } else {
        parse::csv::parse_stream(input, dialect, columns, name, each)
    }
}

/// What a text input's first bytes show, kept as the object's physical metadata, and the
/// dialect they resolve `declared` to when it has `auto` fields. A dialect with `auto`
/// fields gets the full detection (delimiter, header, columns); a declared one only the
/// encoding, byte-order mark and line endings (the per-column analysis costs more than
/// parsing a small file).
fn resolve(
    plan: &SourcePlan,
    declared: &DialectPlan,
    sample: &[u8],
    reference: &str,
) -> (Option<DialectPlan>, Option<serde_json::Value>) {
    match plan.kind {
        FormatKind::Csv if declared.auto.any() => {
            let found = crate::detect::detect(sample, &declared.hints());
            let (d, notes) = declared.resolve(&found);
            for note in notes {
                tracing::info!(object = %reference, dialect = %declared.name, "{note}");
            }
            (Some(d), serde_json::to_value(&found).ok())
        }
        FormatKind::Csv | FormatKind::Json | FormatKind::Ndjson => {
            let found = crate::detect::detect_text(sample, &declared.hints());
            // JSON and NDJSON: only the encoding can be `auto`.
            let resolved = declared.auto.any().then(|| declared.resolve(&found).0);
            (resolved, serde_json::to_value(&found).ok())
        }
        FormatKind::Parquet | FormatKind::Xlsx => (None, None),
    }
}

fn no_dialect(data: &[u8], path: &str) -> Converted {
    parse::reject_whole(
        "no_dialect",
        parse::clip(&String::from_utf8_lossy(data)),
        format!("no dialect of the source matches `{path}`"),
    )
}

/// The records of one input of an object read whole.
struct InputRows {
    reference: Arc<str>,
    dialect: Arc<str>,
    rows: Rows,
    detected: Option<serde_json::Value>,
}

enum Rows {
    Records(Converted),
    /// The whole object is refused (its compressed stream cannot be verified).
    Refused(Rejection),
}

/// Decompresses an object read whole (gzip, zip) and reads each of its inputs with its
/// dialect. An object whose compressed stream cannot be verified yields one object-level
/// rejection and no rows.
fn read_whole(
    plan: &SourcePlan,
    object: &LandingObject,
    bytes: Bytes,
    batch_size: usize,
) -> Vec<InputRows> {
    let object_ref: Arc<str> = Arc::from(object.object_id.as_str());
    let mut out = Vec::new();
    let path = object.original_path.as_str();
    let inner = inner_path(path);
    let read = compression::inputs(
        &bytes,
        plan.compression,
        plan.kind,
        plan.max_uncompressed_bytes,
        &mut |input| {
            out.push(match input {
                Input::Whole(data) => read_input(
                    plan,
                    object_ref.clone(),
                    &[path, inner],
                    &object.original_name,
                    data,
                    batch_size,
                ),
                Input::Member { name, bytes } => {
                    let base = name.rsplit('/').next().unwrap_or(name);
                    read_input(
                        plan,
                        Arc::from(format!("{}!{name}", object.object_id)),
                        &[name, &format!("{path}/{name}"), path],
                        base,
                        bytes,
                        batch_size,
                    )
                }
                Input::Refused { name, rejection } => InputRows {
                    reference: Arc::from(format!("{}!{name}", object.object_id)),
                    dialect: Arc::from("-"),
                    rows: Rows::Records(vec![Err(Box::new(rejection))]),
                    detected: None,
                },
            })
        },
    );
    if let Err(rejection) = read {
        out = vec![InputRows {
            reference: object_ref,
            dialect: refused_dialect(plan, object),
            rows: Rows::Refused(rejection),
            detected: None,
        }];
    }
    out
}

/// Reads one input held in memory with the first dialect matching one of its `paths` (a
/// zip member is matched by its name in the archive, by that name under the archive's
/// path, and by the archive's path).
fn read_input(
    plan: &SourcePlan,
    reference: Arc<str>,
    paths: &[&str],
    original_name: &str,
    data: Bytes,
    batch_size: usize,
) -> InputRows {
    let Some(declared) = plan.dialect_for_any(paths) else {
        return InputRows {
            reference,
            dialect: Arc::from("-"),
            rows: Rows::Records(no_dialect(&data, paths[0])),
            detected: None,
        };
    };
    let sample = &data[..data.len().min(SAMPLE_BYTES)];
    let (resolved, detected) = resolve(plan, declared, sample, &reference);
    let dialect = resolved.as_ref().unwrap_or(declared);
    let columns = &plan.columns;
    let text = |parsed: parse::Parsed| -> Converted {
        let mut tracker = AmbiguityTracker::new();
        parsed
            .into_iter()
            .map(|r| to_record(r, dialect, columns, &mut tracker))
            .collect()
    };
    let rows = match plan.kind {
        FormatKind::Csv => text(parse::csv::parse(&data, dialect, columns, original_name)),
        FormatKind::Json => text(parse::json::parse(&data, dialect, columns, original_name)),
        FormatKind::Ndjson => text(parse::ndjson::parse(&data, dialect, columns, original_name)),
        FormatKind::Parquet => {
            parse::parquet::read(data, dialect, columns, original_name, batch_size)
        }
        FormatKind::Xlsx => parse::xlsx::read(&data, dialect, columns, original_name),
    };
    InputRows {
        reference,
        dialect: Arc::from(dialect.name.as_str()),
        rows: Rows::Records(rows),
        detected,
    }
}
