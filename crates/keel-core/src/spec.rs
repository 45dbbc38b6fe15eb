//! What the user declared: `keel.toml`, `sources/<name>.toml`, `models/<name>.toml` and
//! `glossary.toml`, deserialised as written. Unknown keys are errors, so a typo never
//! silently turns into a default.

use std::collections::BTreeMap;

use serde::Deserialize;

mod models;
mod serve;
pub use models::{
    CheckKind, CheckSpec, IncrementalSpec, Materialization, ModelColumnSpec, ModelSpec, Severity,
};
pub use serve::{DEFAULT_SERVE_ZONES, SERVE_ZONES, ServeSpec, ServeUserSpec};

/// `keel.toml`: the project.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSpec {
    /// The project's name.
    pub name: String,
    /// One sentence on what the project is for.
    #[serde(default)]
    pub description: Option<String>,
    /// Lake root, relative to the project directory (default `lake`).
    #[serde(default)]
    pub lake: Option<String>,
    /// Catalog location: `sqlite` (the default, a file in the lake) or a URL.
    #[serde(default)]
    pub catalog: Option<String>,
    /// Engine settings.
    #[serde(default)]
    pub engine: EngineSpec,
    /// Table maintenance: compaction of small files and vacuum of unreferenced ones.
    #[serde(default)]
    pub maintenance: MaintenanceSpec,
    /// `keel serve`: the SQL and HTTP query endpoints.
    #[serde(default)]
    pub serve: ServeSpec,
    /// Named profiles (`dev`, `test`, `prod`) that override the settings above.
    #[serde(default)]
    pub profiles: BTreeMap<String, ProfileSpec>,
}

/// Settings of the query engine and of batch sizes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSpec {
    /// Rows per Arrow record batch.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Landing objects formatted per Delta commit.
    #[serde(default = "default_objects_per_commit")]
    pub objects_per_commit: usize,
    /// Landing bytes formatted per Delta commit, in MiB: a chunk of objects closes when it
    /// reaches either limit, so that a run of large files is not held in memory at once
    /// (an object larger than this is a chunk of its own).
    #[serde(default = "default_mib_per_commit")]
    pub mib_per_commit: u64,
    /// Memory a chunk's staged rows may take before they are spilled to Arrow IPC files
    /// in the lake's staging folder, in MiB (0: always spill).
    #[serde(default = "default_stage_memory_mib")]
    pub stage_memory_mib: u64,
    /// Input per key partition of a staged chunk, in MiB: deduplication holds one
    /// partition's key fingerprints at a time (0: the smallest partitions, 1 KiB; tests).
    #[serde(default = "default_stage_partition_mib")]
    pub stage_partition_mib: u64,
}

impl Default for EngineSpec {
    fn default() -> Self {
        EngineSpec {
            batch_size: default_batch_size(),
            objects_per_commit: default_objects_per_commit(),
            mib_per_commit: default_mib_per_commit(),
            stage_memory_mib: default_stage_memory_mib(),
            stage_partition_mib: default_stage_partition_mib(),
        }
    }
}

fn default_batch_size() -> usize {
    8192
}

fn default_objects_per_commit() -> usize {
    2000
}

fn default_mib_per_commit() -> u64 {
    256
}

fn default_stage_memory_mib() -> u64 {
    256
}

fn default_stage_partition_mib() -> u64 {
    64
}

/// `[maintenance]`: how formatted and exploitation tables are kept fast to read.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceSpec {
    /// After formatting, a table with at least this many files smaller than
    /// `target_file_mb` is compacted (Delta `OPTIMIZE`); 0 turns it off.
    #[serde(default = "default_compact_small_files")]
    pub compact_small_files: usize,
    /// Size of the files compaction writes, in MiB.
    #[serde(default = "default_target_file_mb")]
    pub target_file_mb: u64,
    /// How long a file no version references any more is kept for readers of older versions
    /// before `keel maintain` deletes it (a duration, at least 7 days: RELIABILITY A9).
    #[serde(default = "default_vacuum_retention")]
    pub vacuum_retention: String,
}

impl Default for MaintenanceSpec {
    fn default() -> Self {
        MaintenanceSpec {
            compact_small_files: default_compact_small_files(),
            target_file_mb: default_target_file_mb(),
            vacuum_retention: default_vacuum_retention(),
        }
    }
}

fn default_compact_small_files() -> usize {
    64
}

fn default_target_file_mb() -> u64 {
    128
}

fn default_vacuum_retention() -> String {
    "7d".into()
}

/// A profile: overrides of the project settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    /// Lake root for this profile.
    #[serde(default)]
    pub lake: Option<String>,
    /// Catalog location for this profile.
    #[serde(default)]
    pub catalog: Option<String>,
}

/// `sources/<name>.toml`: a source, from its collector to its canonical table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// What the source is.
    #[serde(default)]
    pub description: Option<String>,
    /// Who owns the source.
    #[serde(default)]
    pub owner: Option<String>,
    /// Formatted table the source feeds (default: the source name).
    #[serde(default)]
    pub table: Option<String>,
    /// How data is collected.
    pub collector: CollectorSpec,
    /// When `keel run --watch` collects: an interval (`"15m"`) or a cron expression
    /// (`"*/5 * * * *"`). Without one the source is collected on every run.
    #[serde(default)]
    pub schedule: Option<String>,
    /// How landing objects are parsed.
    pub format: FormatSpec,
    /// The canonical schema of the formatted table.
    pub columns: Vec<ColumnSpec>,
    /// Keys and deduplication.
    #[serde(default)]
    pub keys: KeysSpec,
}

/// A collector, by kind. Strings may hold `${ENV}` references, expanded when the collector
/// runs; their values are secrets and never recorded.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CollectorSpec {
    /// Files in a local directory or under an S3 prefix, selected by a glob. Exactly one
    /// of `path` and `url` is declared.
    Files {
        /// Local directory, relative to the project (or absolute); empty when `url` is given.
        #[serde(default)]
        path: String,
        /// Glob over paths relative to `path` (or keys relative to the `url` prefix;
        /// default `**/*`).
        #[serde(default = "default_glob")]
        glob: String,
        /// A file is taken only once its size and modification time have not changed for
        /// this long (`"2s"`, `"1m"`; default `"0s"`). For an object: once its last
        /// modification is this old. S3 keeps that time to the second, so a `stable_for` of
        /// at least `"1s"` tells a re-put of the same size apart from the object taken.
        #[serde(default)]
        stable_for: Option<String>,
        /// A file is taken only once a marker `<file><done_suffix>` exists (e.g. `".done"`);
        /// markers themselves are never taken.
        #[serde(default)]
        done_suffix: Option<String>,
        /// An S3-compatible object store prefix, `s3://bucket/prefix`, instead of `path`.
        #[serde(default)]
        url: Option<String>,
        /// The object store's endpoint (e.g. `http://127.0.0.1:9000`); default: AWS S3.
        #[serde(default)]
        endpoint: Option<String>,
        /// The bucket's region (default `us-east-1`).
        #[serde(default)]
        region: Option<String>,
        /// Access key id, as a `${ENV}` reference; without keys requests are unsigned
        /// (a public bucket).
        #[serde(default)]
        access_key_id: Option<String>,
        /// Secret access key, as a `${ENV}` reference.
        #[serde(default)]
        secret_access_key: Option<String>,
        /// Allows an `http://` endpoint (default `false`: HTTPS only).
        #[serde(default)]
        allow_http: bool,
    },
    /// An HTTP API, paged and windowed by a watermark.
    Http(Box<HttpSpec>),
    /// A table or query of PostgreSQL, MariaDB/MySQL or SQLite.
    Sql(SqlSpec),
    /// MQTT topics (QoS 1, persistent session).
    Mqtt(Box<MqttSpec>),
    /// A NATS JetStream stream, read by a durable consumer.
    Nats(NatsSpec),
}

/// `collector.kind = "http"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    /// URL template: `{from}`, `{to}`, `{page}`, `{cursor}` and `${ENV}` are replaced.
    pub url: String,
    /// `get` (default) or `post`.
    #[serde(default)]
    pub method: HttpMethod,
    /// Query parameters (templated like the URL).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Headers (templated; `${ENV}` values are secrets).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Body of a POST (templated).
    #[serde(default)]
    pub body: Option<String>,
    /// Date windows from a watermark; without it each run fetches the URL once.
    #[serde(default)]
    pub window: Option<HttpWindowSpec>,
    /// Pagination; without it a window is one request.
    #[serde(default)]
    pub pagination: Option<PaginationSpec>,
    /// Retries on 5xx, 429 and timeouts (default 5).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// First backoff, doubled on each retry (default `"200ms"`).
    #[serde(default = "default_backoff")]
    pub backoff: String,
    /// Timeout of one request (default `"30s"`).
    #[serde(default = "default_timeout")]
    pub timeout: String,
    /// At most this many requests per second.
    #[serde(default)]
    pub rate_limit: Option<f64>,
    /// Hosts the collector may call besides the URL's own host, and the only way to allow
    /// loopback, private or link-local addresses.
    #[serde(default)]
    pub allow_hosts: Vec<String>,
    /// Extension of stored responses (default `json`).
    #[serde(default = "default_extension")]
    pub extension: String,
    /// One request series per entry, its keys being template variables (`{station}`):
    /// e.g. one series per weather station.
    #[serde(default)]
    pub each: Vec<BTreeMap<String, serde_json::Value>>,
    /// Name of a stored response (templated; default: the `each` values, `{from}`, `{to}`
    /// and the page joined by `_`, then `.{extension}`).
    #[serde(default)]
    pub name: Option<String>,
}

/// HTTP methods.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpMethod {
    /// GET.
    #[default]
    Get,
    /// POST.
    Post,
}

/// Date windows `[from, to)` fetched in order; the watermark is the end of the last window
/// whose responses are committed to persistent landing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpWindowSpec {
    /// The first `from` (`YYYY-MM-DD`).
    pub start: String,
    /// Window length in days (default 30).
    #[serde(default = "default_window_days")]
    pub days: u32,
    /// How `{from}` and `{to}` are written (default `%Y-%m-%d`).
    #[serde(default = "default_date_format")]
    pub format: String,
    /// `{to}` is inclusive in the API (then `to` is written as the window's last day).
    #[serde(default)]
    pub inclusive_to: bool,
    /// The last window ends at today minus this many days (default 1), so that a day is
    /// fetched once it is complete. A fixed `end` (`YYYY-MM-DD`) overrides it.
    #[serde(default = "default_lag_days")]
    pub lag_days: u32,
    /// A fixed last `to` (exclusive).
    #[serde(default)]
    pub end: Option<String>,
}

/// How pages are requested.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PaginationSpec {
    /// `{page}` counts from `start` until a page has no records.
    Page {
        /// First page number (default 1).
        #[serde(default = "default_first_page")]
        start: u64,
        /// JSON pointer to the records array (e.g. `/data`); a page without records ends.
        records: String,
    },
    /// `{cursor}` is read from each response at a JSON pointer until it is null or absent.
    Cursor {
        /// JSON pointer to the next cursor (e.g. `/next_cursor`).
        next: String,
    },
    /// The next URL comes from the `Link: <...>; rel="next"` header.
    Link,
}

/// `collector.kind = "sql"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlSpec {
    /// `postgres://...`, `mysql://...` (MariaDB too) or `sqlite://path` (relative to the
    /// project); `${ENV}` references are secrets.
    pub url: String,
    /// A table (or `schema.table`).
    #[serde(default)]
    pub table: Option<String>,
    /// A query, instead of a table; incremental mode wraps it.
    #[serde(default)]
    pub query: Option<String>,
    /// Without a cursor every run takes a full snapshot; with one (an id or an
    /// `updated_at` column), each run takes the closed-open window `[lo, hi)`: `lo` is the
    /// `hi` saved by the last landed run, `hi` is the database's `now()` minus `lag` for
    /// timestamps (cut to the whole second) or `max(cursor) + 1 - lag` for numbers.
    #[serde(default)]
    pub cursor: Option<String>,
    /// How far `hi` stays behind the newest cursor value, so that rows committed late with
    /// a cursor value below it are still taken by the next run (a number, or seconds for
    /// timestamps; default 0).
    #[serde(default)]
    pub lag: Option<f64>,
    /// Rows per landed object (default 100000).
    #[serde(default = "default_batch_rows")]
    pub batch_rows: usize,
}

/// `collector.kind = "mqtt"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttSpec {
    /// `mqtt://host:port`.
    pub url: String,
    /// Client id of the persistent session (default `keel-<source>`).
    #[serde(default)]
    pub client_id: Option<String>,
    /// Topic filters, subscribed with QoS 1.
    pub topics: Vec<String>,
    /// User name and password (`${ENV}`).
    #[serde(default)]
    pub username: Option<String>,
    /// Password (`${ENV}`).
    #[serde(default)]
    pub password: Option<String>,
    /// Messages per landed object (default 10000).
    #[serde(default = "default_batch_messages")]
    pub batch_messages: usize,
    /// A landed object is closed after this long (default `"5s"`).
    #[serde(default = "default_batch_age")]
    pub batch_age: String,
    /// A collection ends after no message for this long (default `"2s"`).
    #[serde(default = "default_idle")]
    pub idle: String,
}

/// `collector.kind = "nats"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsSpec {
    /// `nats://host:port`.
    pub url: String,
    /// The JetStream stream.
    pub stream: String,
    /// Durable consumer name (default `keel-<source>`).
    #[serde(default)]
    pub durable: Option<String>,
    /// Only these subjects (default: the whole stream).
    #[serde(default)]
    pub subject: Option<String>,
    /// Messages per landed object (default 10000).
    #[serde(default = "default_batch_messages")]
    pub batch_messages: usize,
    /// A collection ends after no message for this long (default `"2s"`).
    #[serde(default = "default_idle")]
    pub idle: String,
}

fn default_glob() -> String {
    "**/*".to_string()
}
fn default_retries() -> u32 {
    5
}
fn default_backoff() -> String {
    "200ms".into()
}
fn default_timeout() -> String {
    "30s".into()
}
fn default_extension() -> String {
    "json".into()
}
fn default_window_days() -> u32 {
    30
}
fn default_lag_days() -> u32 {
    1
}
fn default_first_page() -> u64 {
    1
}
fn default_batch_rows() -> usize {
    100_000
}
fn default_batch_messages() -> usize {
    10_000
}
fn default_batch_age() -> String {
    "5s".into()
}
fn default_idle() -> String {
    "2s".into()
}

/// How the objects of a source are parsed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatSpec {
    /// `csv` (any delimited text), `json`, `ndjson`, `parquet` or `xlsx`.
    pub kind: FormatKind,
    /// How objects are compressed: `auto` (the default: gzip and zip recognised by their
    /// first bytes, never by the file name), `none`, `gzip` or `zip`.
    #[serde(default)]
    pub compression: Compression,
    /// Most bytes one compressed object may expand to (all zip members together); an
    /// object past it is quarantined with rule `size_limit` (default 4 GiB).
    #[serde(default = "default_max_uncompressed_bytes")]
    pub max_uncompressed_bytes: u64,
    /// One or more dialects; an object uses the first whose `match` glob fits its path.
    pub dialects: Vec<DialectSpec>,
}

fn default_max_uncompressed_bytes() -> u64 {
    4 << 30
}

/// How the objects of a source are compressed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Recognised by the object's first bytes: gzip (`1f 8b`), zip (`PK 03 04`), else none.
    #[default]
    Auto,
    /// Read as is.
    None,
    /// gzip, one or more members; a stream that is not gzip is quarantined.
    Gzip,
    /// A zip archive: each member (whose path matches a dialect) is read as its own input.
    Zip,
}

/// Format families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormatKind {
    /// Delimited text.
    Csv,
    /// A JSON document holding records or columns of values.
    Json,
    /// Newline-delimited JSON (JSON Lines): one JSON object per line, as the `sql`
    /// collector lands table rows.
    Ndjson,
    /// Apache Parquet; columns are mapped by name and cast to the canonical types.
    Parquet,
    /// An Excel workbook (`.xlsx`): one sheet, a header row, then one record per row.
    Xlsx,
}

/// A worksheet of a workbook: its name, or its index counted from 0.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum SheetRef {
    /// Index in the workbook, counted from 0.
    Index(usize),
    /// Name as shown on the sheet's tab.
    Name(String),
}

/// A dialect: how one family of files of a source is written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialectSpec {
    /// Name of the dialect (e.g. a firmware version).
    pub name: String,
    /// Glob over the object's path relative to the collector root (default `**`).
    #[serde(default, rename = "match")]
    pub match_glob: Option<String>,
    /// Text encoding label (`utf-8`, `windows-1250`, `iso-8859-2`, ...), or `auto`: a BOM,
    /// UTF-16, UTF-8, else windows-1252/-1250 or ISO-8859-2, detected per object.
    /// `encoding`, `delimiter`, `quote`, `decimal`, `date_format` and `preamble_lines`
    /// each take `auto`; what is declared is never overridden by detection.
    #[serde(default = "default_encoding")]
    pub encoding: String,
    /// Field delimiter (csv), or `auto` (`,` `;` tab `|` or space).
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// Quote character (csv), or `auto` (`"` or `'`, with its escape).
    #[serde(default = "default_quote")]
    pub quote: String,
    /// Lines before the header that are not part of the table (csv): a count, or `auto`
    /// (default 0).
    #[serde(default)]
    pub preamble_lines: Option<PreambleLines>,
    /// Decimal separator: `.` or `,`.
    #[serde(default = "default_decimal")]
    pub decimal: String,
    /// Thousands separator: `.`, `,`, `'`, or `" "` (any space: U+0020, U+00A0, U+202F);
    /// groups must then be of three digits. Unset, a grouped number is rejected (with
    /// `decimal = "auto"`, detection fills it).
    #[serde(default)]
    pub thousands: Option<String>,
    /// Date format of date and timestamp columns: chrono `strftime` syntax (`%+` for
    /// RFC 3339 with an offset), or one of `epoch_s`, `epoch_ms`, `epoch_us`,
    /// `excel_serial`, `rfc3339`, `iso8601`.
    #[serde(default = "default_date_format")]
    pub date_format: String,
    /// IANA time zone (`Europe/Tallinn`) of local wall-clock times in timestamp columns,
    /// converted to UTC (default `UTC`). Values carrying an offset or `Z`, and epoch
    /// numbers, keep their own instant. A local time the zone skips when clocks go forward
    /// is rejected with rule `nonexistent_local_time`; one it repeats is read by
    /// `ambiguous`.
    #[serde(default)]
    pub timezone: Option<String>,
    /// How a local time that occurs twice (the hour clocks are set back) is read; see
    /// [`AmbiguousTime`] (default `in_order`).
    #[serde(default)]
    pub ambiguous: Option<AmbiguousTime>,
    /// Tokens that mean "no value".
    #[serde(default)]
    pub null_tokens: Vec<String>,
    /// JSON: `records` (array of objects) or `columns` (object of equal-length arrays).
    #[serde(default)]
    pub layout: Option<JsonLayout>,
    /// JSON: dotted path to the records or columns (empty: the document root).
    #[serde(default)]
    pub path: Option<String>,
    /// xlsx: the worksheet to read (default the first).
    #[serde(default)]
    pub sheet: Option<SheetRef>,
    /// xlsx: the spreadsheet row number (from 1) of the header; rows above it are skipped
    /// (default: the first row that is not empty).
    #[serde(default)]
    pub header_row: Option<u32>,
    /// Canonical column ← where its value comes from.
    pub columns: BTreeMap<String, ColumnSource>,
}

fn default_encoding() -> String {
    "utf-8".to_string()
}
fn default_delimiter() -> String {
    ",".to_string()
}
fn default_quote() -> String {
    "\"".to_string()
}
fn default_decimal() -> String {
    ".".to_string()
}
fn default_date_format() -> String {
    "%Y-%m-%d".to_string()
}

/// How many lines precede a CSV header: a count, or `auto` (detected per object).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreambleLines {
    /// This many lines.
    Count(u32),
    /// Detected per object.
    Auto,
}

impl<'de> Deserialize<'de> for PreambleLines {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = PreambleLines;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number of lines or \"auto\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<PreambleLines, E> {
                u32::try_from(v)
                    .map(PreambleLines::Count)
                    .map_err(|_| E::custom(format!("{v} lines is too many")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<PreambleLines, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom("a number of lines cannot be negative"))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PreambleLines, E> {
                match v {
                    "auto" => Ok(PreambleLines::Auto),
                    other => Err(E::custom(format!(
                        "`{other}` is not a number of lines or \"auto\""
                    ))),
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// JSON document layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JsonLayout {
    /// An array of objects, one per row.
    Records,
    /// An object of equal-length arrays, one per column.
    Columns,
}

/// Where a canonical column's value comes from: a header/field name, or a full spec.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ColumnSource {
    /// The source column (CSV header or JSON field) of this name.
    Field(String),
    /// A full specification.
    Spec(ColumnSourceSpec),
}

/// A full column source specification. Exactly one of `field`, `fields` and `from_name`
/// says where the value is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSourceSpec {
    /// The source column (CSV header or JSON field).
    #[serde(default)]
    pub field: Option<String>,
    /// Several source columns holding parts of one value (`["Year", "Month", "Day",
    /// "Hour"]`), joined with a single space before the value is read (e.g. with
    /// `date_format = "%Y %m %d %H"`). A value with every part empty is no value; one with
    /// some parts empty is read as joined, and rejected by its format.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// A regex with one capture group over the object's original file name.
    #[serde(default)]
    pub from_name: Option<String>,
    /// Unit of the source value, converted to the canonical column's unit.
    #[serde(default)]
    pub unit: Option<String>,
    /// Date format of this column, overriding the dialect's.
    #[serde(default)]
    pub date_format: Option<String>,
    /// IANA time zone of this column's local times, overriding the dialect's.
    #[serde(default)]
    pub timezone: Option<String>,
    /// How this column reads an ambiguous local time, overriding the dialect's.
    #[serde(default)]
    pub ambiguous: Option<AmbiguousTime>,
}

/// How a local wall-clock time that occurs twice in its zone (the hour repeated when
/// clocks are set back at the end of daylight saving time) becomes one UTC instant. A
/// local time that never occurs (skipped when clocks go forward) is always rejected with
/// rule `nonexistent_local_time`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AmbiguousTime {
    /// The earlier instant (the daylight-saving offset) the first time a wall-clock value
    /// appears in an input, the later instant when the same value appears again in that
    /// input: an hourly series through the night clocks go back keeps both hours.
    #[default]
    InOrder,
    /// Always the earlier instant.
    Earlier,
    /// Always the later instant.
    Later,
    /// Rejected with rule `ambiguous_local_time`.
    Reject,
}

impl ColumnSource {
    /// The full form of this source.
    pub fn to_spec(&self) -> ColumnSourceSpec {
        match self {
            ColumnSource::Field(f) => ColumnSourceSpec {
                field: Some(f.clone()),
                fields: None,
                from_name: None,
                unit: None,
                date_format: None,
                timezone: None,
                ambiguous: None,
            },
            ColumnSource::Spec(s) => s.clone(),
        }
    }
}

/// A canonical column of a formatted table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// Column name.
    pub name: String,
    /// Canonical type.
    #[serde(rename = "type")]
    pub data_type: ColumnType,
    /// Whether a row without a value is rejected.
    #[serde(default)]
    pub required: bool,
    /// Canonical unit (values are converted into it).
    #[serde(default)]
    pub unit: Option<String>,
    /// Smallest accepted value (numeric columns).
    #[serde(default)]
    pub min: Option<f64>,
    /// Largest accepted value (numeric columns).
    #[serde(default)]
    pub max: Option<f64>,
    /// The column is a cumulative register (a meter index): its readings are checked in
    /// time order per series for falls, roll-overs and spikes (numeric columns).
    #[serde(default)]
    pub counter: Option<CounterSpec>,
    /// What the column means.
    #[serde(default)]
    pub description: Option<String>,
    /// Tags such as `pii`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Glossary term it carries (a term's name or synonym in `glossary.toml`).
    #[serde(default)]
    pub glossary: Option<String>,
}

/// `counter = { order = "hour", ... }` on a column: a cumulative register whose readings
/// only grow within a series, read in time order. A reading that breaks this is flagged
/// (`flags.<table>`), never dropped; `valid.<table>` is the table without the invalid ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterSpec {
    /// The date or timestamp column that orders the readings.
    pub order: String,
    /// The columns naming one register (a meter); default: the primary key without `order`.
    #[serde(default)]
    pub series: Option<Vec<String>>,
    /// The register wraps to zero when it reaches this value.
    #[serde(default)]
    pub rollover: Option<f64>,
    /// The largest plausible rise per hour; a faster one is a spike or a jump.
    #[serde(default)]
    pub max_per_hour: Option<f64>,
}

impl CounterSpec {
    /// The series columns: the declared ones, or the primary key without the order column.
    pub fn series_columns(&self, primary: &[String]) -> Vec<String> {
        match &self.series {
            Some(s) => s.clone(),
            None => primary
                .iter()
                .filter(|k| **k != self.order)
                .cloned()
                .collect(),
        }
    }
}

/// Canonical column types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    /// UTF-8 text.
    String,
    /// 64-bit integer.
    Int64,
    /// 64-bit float.
    Float64,
    /// Calendar date.
    Date,
    /// Boolean.
    Bool,
    /// An instant, stored in UTC to the microsecond (`TIMESTAMP` with zone `UTC`). Local
    /// wall-clock times are read in the binding's time zone.
    Timestamp,
}

/// Keys and deduplication of a formatted table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysSpec {
    /// The columns that identify a row; rows sharing them are deduplicated.
    #[serde(default)]
    pub primary: Vec<String>,
}

/// `glossary.toml`: the business vocabulary.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlossarySpec {
    /// The terms.
    #[serde(default)]
    pub terms: Vec<GlossaryTerm>,
}

/// A business term.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlossaryTerm {
    /// The term.
    pub name: String,
    /// What it means.
    pub definition: String,
    /// Who answers for it.
    #[serde(default)]
    pub owner: Option<String>,
    /// Other words for it.
    #[serde(default)]
    pub synonyms: Vec<String>,
    /// Columns carrying it, as `zone.table.column`.
    #[serde(default)]
    pub columns: Vec<String>,
}
