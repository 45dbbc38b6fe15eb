//! `keel lineage --row TABLE KEY`: one formatted or quarantined row traced to its landing
//! object and line, and the raw bytes of that line printed as they are stored.
//!
//! The row is found through the engine session `keel sql` reads; its `_keel_object` and
//! `_keel_line` lead to the object in the catalog manifest, whose bytes are read from
//! persistent landing through their sha256 (checked to the object's end), opened as the
//! formatter opens them (gzip, zip members: keel-formatted's `compression`), and cut into
//! lines as the formatter numbers them: a line ends at `\n`, `\r\n` or a lone `\r`, counted
//! in the text's code units (two bytes in UTF-16). A delimited-text record whose quoted
//! field holds line breaks is printed with all its lines.

use std::io::{BufRead, BufReader, Read, Write};

use anyhow::{Context, bail};
use arrow::array::RecordBatch;
use arrow::util::display::array_value_to_string;
use base64::Engine as _;
use encoding_rs::Encoding;
use keel_catalog::Catalog;
use keel_catalog::manifest::LandingObject;
use keel_core::Project;
use keel_core::spec::FormatKind;
use keel_formatted::SourcePlan;
use keel_formatted::compression::{self, Detected, Hashed, Input};
use keel_formatted::plan::DialectPlan;

use crate::cli::{LineageArgs, LineageFormat};

/// Rows listed when a key matches several.
const ROWS_LISTED: usize = 20;
/// Most bytes of one record gathered over its lines; past it only its first line is shown.
const RECORD_CAP: usize = 64 << 20;

/// Prints the raw line of one row; returns the exit code.
///
/// # Errors
/// When the table or a key column is unknown, no row or several rows match the key, or the
/// landing object is missing, cannot be read or no longer matches its sha256.
pub async fn row(project: &Project, args: &LineageArgs) -> anyhow::Result<u8> {
    let key = args
        .key
        .as_deref()
        .context("`--row` takes the table and the row's key")?;
    if args.format == LineageFormat::Dot {
        bail!("`--row` prints a line as text or JSON, not as a digraph (`--format dot`)");
    }
    let (zone, table) = match args.target.split_once('.') {
        Some((zone @ ("formatted" | "quarantine"), table)) => (zone, table),
        _ => bail!(
            "`--row` traces a row of `formatted.TABLE` or `quarantine.TABLE`, not `{}`",
            args.target
        ),
    };
    let Some(source) = project.sources.iter().find(|s| s.table() == table) else {
        let known: Vec<&str> = project.sources.iter().map(|s| s.table()).collect();
        bail!(
            "no formatted table `{table}`; the project's tables are: {}",
            known.join(", ")
        );
    };
    let plan = SourcePlan::new(source)?;
    let key_columns: Vec<String> = if zone == "quarantine" {
        vec!["_keel_object".into(), "_keel_line".into()]
    } else {
        plan.keys
            .iter()
            .map(|&i| plan.columns[i].name.clone())
            .collect()
    };
    let dataset = format!("{zone}.{table}");
    let pairs = parse_key(key, &key_columns, zone)?;

    let session = super::open_session(project).await?;
    let Some(&version) = session.versions().get(&dataset) else {
        bail!("`{dataset}` has no Delta table yet (`keel format` writes it)");
    };
    let found = find_rows(&session, &dataset, zone, &key_columns, &pairs).await?;
    let described = pairs
        .iter()
        .map(|(c, v)| format!("{c} = `{v}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let row = match found.as_slice() {
        [] => bail!("no row of `{dataset}`@{version} has {described}"),
        [one] => one,
        many => {
            let mut message = format!(
                "{}{} rows of `{dataset}`@{version} have {described}; name more columns \
                 (`col=value,...`) to pick one:",
                if many.len() > ROWS_LISTED {
                    "more than "
                } else {
                    ""
                },
                many.len().min(ROWS_LISTED)
            );
            for r in many.iter().take(ROWS_LISTED) {
                message.push_str(&format!(
                    "\n  {} line {}: {}",
                    r.reference,
                    r.line,
                    r.columns
                        .iter()
                        .map(|(c, v)| format!("{c}={v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            bail!(message);
        }
    };

    let (object_id, member) = match row.reference.split_once('!') {
        Some((object, member)) => (object, Some(member)),
        None => (row.reference.as_str(), None),
    };
    let catalog = Catalog::open(&project.lake.catalog_db())?;
    let Some(object) = catalog.object(object_id)? else {
        bail!(
            "the row's landing object `{object_id}` is not in the catalog manifest (line {} of \
             `{dataset}`@{version})",
            row.line
        );
    };
    if row.line <= 0 {
        bail!(
            "the row stands for the whole landing object `{}` (line {}), not one of its lines; \
             its bytes are `{}`",
            row.reference,
            row.line,
            project.lake.root().join(&object.persistent_path).display()
        );
    }
    if !matches!(plan.kind, FormatKind::Csv | FormatKind::Ndjson) {
        bail!(
            "`{table}` is read from {:?} objects, which have records, not lines: the row is \
             record {} of `{}` (`{}`)",
            plan.kind,
            row.line,
            row.reference,
            object.persistent_path
        );
    }
    let dialect = dialect(
        &plan,
        &catalog,
        &object,
        member,
        row.dialect.as_deref(),
        table,
    )?;
    let stored = catalog
        .object_metadata(object_id)?
        .into_iter()
        .find(|m| m.object_id == row.reference && m.table_name == table)
        .and_then(|m| keel_formatted::detect::Detected::from_json(&m.detected).ok());
    let mut encoding = dialect.as_ref().map_or(encoding_rs::UTF_8, |d| d.encoding);
    let mut quote = dialect.as_ref().map(|d| d.quote);
    if let (Some(found), Some(d)) = (&stored, &dialect) {
        if d.auto.encoding {
            encoding = Encoding::for_label(found.encoding.as_bytes()).unwrap_or(encoding);
        }
        if d.auto.quote {
            quote = u8::try_from(found.quote).ok().or(quote);
        }
    }
    // Quoted line breaks are followed in delimited text read without an escape character,
    // as the formatter's own record ends are found.
    let records = match (&dialect, plan.kind) {
        (Some(d), FormatKind::Csv) if d.escape.is_none() => quote.map(|q| {
            let mut d = d.clone();
            d.quote = q;
            d
        }),
        _ => None,
    };
    let search = Search {
        line: row.line,
        encoding,
        records: records.as_ref(),
    };
    let raw = read_line(project, &plan, &object, member, &search)?;

    let path = project.lake.root().join(&object.persistent_path);
    let last = row.line + raw.extra_lines;
    let lines = if last > row.line {
        format!("{}-{last}", row.line)
    } else {
        row.line.to_string()
    };
    let dialect_name = dialect.as_ref().map_or("-", |d| d.name.as_str());
    match args.format {
        LineageFormat::Json => {
            let (text, _) = raw.encoding.decode_without_bom_handling(&raw.bytes);
            let doc = serde_json::json!({
                "table": dataset,
                "version": version,
                "key": row
                    .columns
                    .iter()
                    .map(|(c, v)| (c.clone(), serde_json::Value::from(v.as_str())))
                    .collect::<serde_json::Map<_, _>>(),
                "object_id": object.object_id,
                "member": member,
                "source": object.source,
                "original_name": object.original_name,
                "original_path": object.original_path,
                "object_version": object.version,
                "line": row.line,
                "last_line": last,
                "ingested_at": object.ingested_at,
                "persistent_path": object.persistent_path,
                "sha256": object.sha256,
                "bytes": object.bytes,
                "dialect": dialect_name,
                "encoding": raw.encoding.name(),
                "raw_line": text,
                "raw_base64": base64::engine::general_purpose::STANDARD.encode(&raw.bytes),
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        LineageFormat::Text | LineageFormat::Dot => {
            let mut err = std::io::stderr().lock();
            let key: Vec<String> = row
                .columns
                .iter()
                .map(|(c, v)| format!("{c}={v}"))
                .collect();
            writeln!(err, "{dataset}@{version}  {}", key.join(", "))?;
            writeln!(err, "  object           {}", row.reference)?;
            writeln!(
                err,
                "  original name    {} (`{}`, version {})",
                object.original_name, object.original_path, object.version
            )?;
            writeln!(
                err,
                "  line             {lines}{}",
                if last > row.line {
                    " (a quoted field holds line breaks)"
                } else {
                    ""
                }
            )?;
            writeln!(err, "  ingested at      {}", object.ingested_at)?;
            writeln!(err, "  persistent path  {}", path.display())?;
            writeln!(
                err,
                "  dialect          {dialect_name} ({})",
                raw.encoding.name()
            )?;
            if raw.cut {
                writeln!(
                    err,
                    "  note             the record's end was not found within {} MiB: its \
                     first line is printed",
                    RECORD_CAP >> 20
                )?;
            }
            let mut out = std::io::stdout().lock();
            out.write_all(&raw.bytes)?;
            out.flush()?;
        }
    }
    Ok(0)
}

/// `col=value[,col=value]`, or the value alone when the key has one column, or
/// `OBJECT:LINE` in a quarantine table.
fn parse_key(key: &str, columns: &[String], zone: &str) -> anyhow::Result<Vec<(String, String)>> {
    if let [only] = columns
        && !key.starts_with(&format!("{only}="))
    {
        return Ok(vec![(only.clone(), key.to_string())]);
    }
    if zone == "quarantine"
        && !key.contains('=')
        && let Some((object, line)) = key.rsplit_once(':')
        && line.parse::<i64>().is_ok()
    {
        return Ok(vec![
            ("_keel_object".into(), object.to_string()),
            ("_keel_line".into(), line.to_string()),
        ]);
    }
    let expected = || {
        let names: Vec<String> = columns.iter().map(|c| format!("{c}=VALUE")).collect();
        if zone == "quarantine" {
            format!("`{}` or `OBJECT:LINE`", names.join(","))
        } else if columns.is_empty() {
            "`col=value[,col=value]` (the source declares no key)".to_string()
        } else {
            format!("`{}`", names.join(","))
        }
    };
    key.split(',')
        .map(|part| match part.split_once('=') {
            Some((c, v)) if !c.trim().is_empty() => Ok((c.trim().to_string(), v.to_string())),
            _ => bail!("the key `{key}` is not {}", expected()),
        })
        .collect()
}

/// A row found by its key: its landing object reference and line, the dialect a
/// quarantine row names, and the key columns' values as text.
struct FoundRow {
    reference: String,
    line: i64,
    dialect: Option<String>,
    columns: Vec<(String, String)>,
}

async fn find_rows(
    session: &keel_engine::Session,
    dataset: &str,
    zone: &str,
    key_columns: &[String],
    pairs: &[(String, String)],
) -> anyhow::Result<Vec<FoundRow>> {
    let ident = |c: &str| format!("\"{}\"", c.replace('"', "\"\""));
    let literal = |v: &str| format!("'{}'", v.replace('\'', "''"));
    let (schema, table) = dataset.split_once('.').unwrap_or((zone, dataset));
    let from = format!("{}.{}", ident(schema), ident(table));
    let ctx = session.context();
    let columns = ctx
        .table(from.as_str())
        .await
        .map_err(keel_engine::EngineError::from)?
        .schema()
        .as_arrow()
        .clone();
    for (c, _) in pairs {
        if columns.field_with_name(c).is_err() {
            let names: Vec<&str> = columns.fields().iter().map(|f| f.name().as_str()).collect();
            bail!(
                "`{dataset}` has no column `{c}`; its columns are: {}",
                names.join(", ")
            );
        }
    }
    let dialect = if zone == "quarantine" {
        "\"dialect\""
    } else {
        "CAST(NULL AS VARCHAR)"
    };
    // The key columns shown with each row: the declared key, then the other columns named.
    let mut shown: Vec<String> = key_columns.to_vec();
    for (c, _) in pairs {
        if !shown.contains(c) {
            shown.push(c.clone());
        }
    }
    let key: Vec<String> = shown
        .iter()
        .enumerate()
        .map(|(i, c)| format!("CAST({} AS VARCHAR) AS k{i}", ident(c)))
        .collect();
    let condition: Vec<String> = pairs
        .iter()
        .map(|(c, v)| format!("{} = {}", ident(c), literal(v)))
        .collect();
    let sql = format!(
        "SELECT \"_keel_object\" AS o, \"_keel_line\" AS l, {dialect} AS d{}{} FROM {from} \
         WHERE {} ORDER BY o, l LIMIT {}",
        if key.is_empty() { "" } else { ", " },
        key.join(", "),
        if condition.is_empty() {
            "true".to_string()
        } else {
            condition.join(" AND ")
        },
        ROWS_LISTED + 1
    );
    let batches: Vec<RecordBatch> = ctx
        .sql(&sql)
        .await
        .map_err(keel_engine::EngineError::from)?
        .collect()
        .await
        .map_err(keel_engine::EngineError::from)
        .with_context(|| format!("looking up the row in `{dataset}`"))?;
    let mut rows = Vec::new();
    for batch in &batches {
        for i in 0..batch.num_rows() {
            let text = |c: usize| array_value_to_string(batch.column(c), i);
            let line = text(1)?;
            rows.push(FoundRow {
                reference: text(0)?,
                line: line
                    .parse()
                    .with_context(|| format!("`_keel_line` is `{line}`"))?,
                dialect: (!batch.column(2).is_null(i)).then(|| text(2)).transpose()?,
                columns: shown
                    .iter()
                    .enumerate()
                    .map(|(j, c)| Ok((c.clone(), text(3 + j)?)))
                    .collect::<anyhow::Result<_>>()?,
            });
        }
    }
    Ok(rows)
}

/// The dialect the row was read with: the one its quarantine row or the object's ledger
/// line names, else the first whose glob matches the object, as the formatter picks it.
fn dialect(
    plan: &SourcePlan,
    catalog: &Catalog,
    object: &LandingObject,
    member: Option<&str>,
    named: Option<&str>,
    table: &str,
) -> anyhow::Result<Option<DialectPlan>> {
    let ledger = catalog.object_ledger(&object.object_id)?;
    let by_name = named
        .into_iter()
        .chain(
            ledger
                .iter()
                .filter(|e| e.table_name == table)
                .map(|e| e.dialect.as_str()),
        )
        .find_map(|name| plan.dialects.iter().find(|d| d.name == name));
    if let Some(d) = by_name {
        return Ok(Some(d.clone()));
    }
    let path = object.original_path.as_str();
    let inner = [".gz", ".gzip"]
        .iter()
        .find_map(|ext| path.strip_suffix(ext))
        .unwrap_or(path);
    let found = match member {
        Some(name) => plan.dialect_for_any(&[name, &format!("{path}/{name}"), path]),
        None => plan.dialect_for_any(&[path, inner]),
    };
    Ok(found.cloned())
}

/// What to look for in an object's text.
struct Search<'a> {
    /// 1-based line.
    line: i64,
    /// The text's encoding (a byte-order mark overrides it).
    encoding: &'static Encoding,
    /// Follow quoted line breaks of delimited text with this dialect.
    records: Option<&'a DialectPlan>,
}

/// The raw bytes of a record's lines.
struct RawLine {
    bytes: Vec<u8>,
    /// Lines after the first that the record spans.
    extra_lines: i64,
    /// The encoding the lines were cut in.
    encoding: &'static Encoding,
    /// The record's end was not found within [`RECORD_CAP`]: only its first line is here.
    cut: bool,
}

/// Reads the line of `search` from the object in persistent landing, verifying the whole
/// object against its sha256.
fn read_line(
    project: &Project,
    plan: &SourcePlan,
    object: &LandingObject,
    member: Option<&str>,
    search: &Search<'_>,
) -> anyhow::Result<RawLine> {
    let path = project.lake.root().join(&object.persistent_path);
    let file = match fs_err::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "landing object `{}` is missing from persistent landing: no file `{}`",
            object.object_id,
            path.display()
        ),
        Err(e) => return Err(e.into()),
    };
    let mut input = BufReader::with_capacity(1 << 20, Hashed::new(file));
    let head = input.fill_buf()?;
    let detected = compression::detect(head, plan.compression, plan.kind);
    let limit = plan.max_uncompressed_bytes;
    let found = match (detected, member) {
        (Detected::Zip, Some(name)) => {
            let mut bytes = Vec::with_capacity(object.bytes.max(0) as usize);
            input.read_to_end(&mut bytes)?;
            let bytes = bytes::Bytes::from(bytes);
            let mut data = None;
            let read = compression::inputs(&bytes, plan.compression, plan.kind, limit, &mut |i| {
                if let Input::Member { name: n, bytes } = i
                    && n == name
                {
                    data = Some(bytes);
                }
            });
            match (read, data) {
                (Err(rejection), _) => Err(rejection.reason),
                (Ok(()), None) => Err(format!("the zip archive has no member `{name}`")),
                (Ok(()), Some(data)) => Ok(find_line(&data[..], search)?),
            }
        }
        (_, Some(name)) => Err(format!(
            "the row names the zip member `{name}`, but the object is not a zip archive"
        )),
        (Detected::Gzip, None) => {
            let stream = BufReader::new(compression::gunzip_stream(&mut input, limit));
            find_line(stream, search).map_err(|e| format!("its gzip stream: {e}"))
        }
        (Detected::None, None) => Ok(find_line(&mut input, search)?),
        (Detected::Zip, None) => Err(
            "the object is a zip archive but the row does not name a member (`object!member`)"
                .to_string(),
        ),
    };
    // What the search stopped short of is still hashed: the whole object is verified.
    std::io::copy(&mut input, &mut std::io::sink())
        .with_context(|| format!("reading `{}`", path.display()))?;
    let sha256 = input.into_inner().finish();
    if sha256 != object.sha256 {
        bail!(
            "landing object `{}` at `{}` no longer matches the catalog: its sha256 is {sha256}, \
             the manifest says {}",
            object.object_id,
            path.display(),
            object.sha256
        );
    }
    let found = found.map_err(|e| anyhow::anyhow!("`{}`: {e}", path.display()))?;
    found.with_context(|| {
        format!(
            "landing object `{}` (`{}`) has no line {}",
            object.object_id,
            path.display(),
            search.line
        )
    })
}

/// A code unit of the text: one byte, or two in UTF-16.
#[derive(Clone, Copy)]
enum Unit {
    Byte,
    Utf16 { big_endian: bool },
}

/// The line of `search` in `text`, with its line end and, for a record whose quoted fields
/// hold line breaks, its following lines; `None` when the text has fewer lines.
fn find_line(mut text: impl BufRead, search: &Search<'_>) -> std::io::Result<Option<RawLine>> {
    let head = text.fill_buf()?;
    let encoding = Encoding::for_bom(head).map_or(search.encoding, |(e, _)| e);
    let unit = if encoding == encoding_rs::UTF_16LE {
        Unit::Utf16 { big_endian: false }
    } else if encoding == encoding_rs::UTF_16BE {
        Unit::Utf16 { big_endian: true }
    } else {
        Unit::Byte
    };
    let records = match unit {
        Unit::Byte => search.records,
        Unit::Utf16 { .. } => None,
    };
    let mut lines = Lines {
        target: search.line,
        line: 1,
        cr: false,
        out: Vec::new(),
        first_end: None,
        records,
        done: false,
        cut: false,
    };
    let width = match unit {
        Unit::Byte => 1,
        Unit::Utf16 { .. } => 2,
    };
    let mut carry: Vec<u8> = Vec::with_capacity(2);
    while !lines.done {
        let buf = text.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len();
        // Blocks wholly before the line are only counted (by keel-formatted's counter,
        // built optimised), not walked a unit at a time.
        if matches!(unit, Unit::Byte) && !lines.cr && buf.last() != Some(&b'\r') {
            let after = lines.line + keel_formatted::parse::csv::line_ends(buf);
            if after < lines.target {
                lines.line = after;
                text.consume(n);
                continue;
            }
        }
        for &b in buf {
            carry.push(b);
            if carry.len() < width {
                continue;
            }
            let value = match unit {
                Unit::Byte => u16::from(carry[0]),
                Unit::Utf16 { big_endian: false } => u16::from_le_bytes([carry[0], carry[1]]),
                Unit::Utf16 { big_endian: true } => u16::from_be_bytes([carry[0], carry[1]]),
            };
            lines.unit(value, &carry);
            carry.clear();
            if lines.done {
                break;
            }
        }
        text.consume(n);
    }
    lines.finish();
    if lines.out.is_empty() {
        return Ok(None);
    }
    if lines.cut
        && let Some(end) = lines.first_end
    {
        lines.out.truncate(end);
        lines.line = lines.target + 1;
    }
    Ok(Some(RawLine {
        bytes: lines.out,
        extra_lines: (lines.line - 1 - lines.target).max(0),
        encoding,
        cut: lines.cut,
    }))
}

/// Lines counted as the formatter counts them, the wanted ones gathered.
struct Lines<'a> {
    target: i64,
    /// The line the next unit belongs to.
    line: i64,
    /// The previous unit was a `\r`.
    cr: bool,
    out: Vec<u8>,
    /// Where the first gathered line ended.
    first_end: Option<usize>,
    records: Option<&'a DialectPlan>,
    done: bool,
    cut: bool,
}

impl Lines<'_> {
    fn unit(&mut self, value: u16, raw: &[u8]) {
        if self.cr {
            self.cr = false;
            if value == u16::from(b'\n') {
                self.push(raw);
                self.end_line();
                return;
            }
            // A lone `\r` ended the line before this unit.
            self.end_line();
            if self.done {
                return;
            }
        }
        self.push(raw);
        if value == u16::from(b'\n') {
            self.end_line();
        } else if value == u16::from(b'\r') {
            self.cr = true;
        }
    }

    fn push(&mut self, raw: &[u8]) {
        if self.line >= self.target {
            self.out.extend_from_slice(raw);
        }
    }

    fn end_line(&mut self) {
        if self.line >= self.target {
            self.first_end.get_or_insert(self.out.len());
            if self.record_complete() {
                self.done = true;
            } else if self.out.len() > RECORD_CAP {
                self.done = true;
                self.cut = true;
            }
        }
        self.line += 1;
    }

    /// Whether the gathered lines hold the whole record: always, unless a quoted field of
    /// delimited text is still open at a `\n` (a lone `\r` ends a record as it ends a line).
    fn record_complete(&self) -> bool {
        match self.records {
            Some(dialect) if self.out.ends_with(b"\n") => {
                keel_formatted::parse::csv::last_record_end(&self.out, dialect)
                    == Some(self.out.len())
            }
            _ => true,
        }
    }

    /// The end of the text: a pending `\r` ends its line; a last line without a line end
    /// ends there, and so does a record whose quote never closes (only its first line).
    fn finish(&mut self) {
        if self.done {
            return;
        }
        if self.cr {
            self.cr = false;
            self.end_line();
            if self.done {
                return;
            }
        }
        if self.line >= self.target && !self.out.is_empty() {
            self.done = true;
            if self.first_end.is_some_and(|end| end < self.out.len()) {
                self.cut = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &[u8], n: i64, encoding: &'static Encoding) -> Option<(Vec<u8>, i64)> {
        let search = Search {
            line: n,
            encoding,
            records: None,
        };
        find_line(text, &search)
            .unwrap()
            .map(|r| (r.bytes, r.extra_lines))
    }

    #[test]
    fn lines_end_at_lf_crlf_and_a_lone_cr() {
        let text = b"h\na,1\r\nb,2\rc,3\n\nd,4";
        let utf8 = encoding_rs::UTF_8;
        let lines: Vec<Vec<u8>> = (1..=6).map(|n| line(text, n, utf8).unwrap().0).collect();
        assert_eq!(
            lines,
            [&b"h\n"[..], b"a,1\r\n", b"b,2\r", b"c,3\n", b"\n", b"d,4"]
        );
        assert_eq!(line(text, 7, utf8), None);
        assert_eq!(line(b"a\r", 1, utf8).unwrap().0, b"a\r");
        assert_eq!(line(b"a\r", 2, utf8), None);
    }

    #[test]
    fn lines_skipped_a_block_at_a_time_are_counted_across_block_ends() {
        // Small blocks that end inside `\r\n`, after a lone `\r` and mid-line.
        let mut text = Vec::new();
        let mut expected = Vec::new();
        for i in 0..300 {
            let end: &[u8] = [&b"\n"[..], b"\r\n", b"\r"][i % 3];
            let line = [format!("row {i}").as_bytes(), end].concat();
            text.extend_from_slice(&line);
            expected.push(line);
        }
        for capacity in [1, 2, 3, 7, 64] {
            for n in [1, 2, 3, 150, 299, 300] {
                let search = Search {
                    line: n as i64,
                    encoding: encoding_rs::UTF_8,
                    records: None,
                };
                let reader = BufReader::with_capacity(capacity, &text[..]);
                let found = find_line(reader, &search).unwrap().unwrap();
                assert_eq!(
                    found.bytes,
                    expected[n - 1],
                    "line {n}, blocks of {capacity}"
                );
            }
        }
    }

    #[test]
    fn utf16_lines_are_counted_in_two_byte_units() {
        // `\n` is 0x0A; in UTF-16LE a character 0x0A0A would hold that byte twice.
        let text: Vec<u8> = "\u{feff}h\n\u{0a0a}x\r\nz"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let (second, _) = line(&text, 2, encoding_rs::UTF_8).unwrap();
        assert_eq!(second, [0x0a, 0x0a, b'x', 0, b'\r', 0, b'\n', 0]);
    }
}
