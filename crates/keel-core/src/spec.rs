//! What the user declared: `keel.toml`, `sources/<name>.toml`, `models/<name>.toml` and
//! `glossary.toml`, deserialised as written. Unknown keys are errors, so a typo never
//! silently turns into a default.

use std::collections::BTreeMap;

use serde::Deserialize;

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
}

impl Default for EngineSpec {
    fn default() -> Self {
        EngineSpec {
            batch_size: default_batch_size(),
            objects_per_commit: default_objects_per_commit(),
        }
    }
}

fn default_batch_size() -> usize {
    8192
}

fn default_objects_per_commit() -> usize {
    2000
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
    /// How landing objects are parsed.
    pub format: FormatSpec,
    /// The canonical schema of the formatted table.
    pub columns: Vec<ColumnSpec>,
    /// Keys and deduplication.
    #[serde(default)]
    pub keys: KeysSpec,
}

/// A collector, by kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CollectorSpec {
    /// Files in a directory, selected by a glob.
    Files {
        /// Directory, relative to the project (or absolute).
        path: String,
        /// Glob over paths relative to `path` (default `**/*`).
        #[serde(default = "default_glob")]
        glob: String,
    },
}

fn default_glob() -> String {
    "**/*".to_string()
}

/// How the objects of a source are parsed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatSpec {
    /// `csv` (any delimited text) or `json`.
    pub kind: FormatKind,
    /// One or more dialects; an object uses the first whose `match` glob fits its path.
    pub dialects: Vec<DialectSpec>,
}

/// Format families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormatKind {
    /// Delimited text.
    Csv,
    /// A JSON document holding records or columns of values.
    Json,
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
    /// Text encoding label (`utf-8`, `windows-1250`, `iso-8859-2`, ...).
    #[serde(default = "default_encoding")]
    pub encoding: String,
    /// Field delimiter (csv).
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// Quote character (csv).
    #[serde(default = "default_quote")]
    pub quote: String,
    /// Decimal separator: `.` or `,`.
    #[serde(default = "default_decimal")]
    pub decimal: String,
    /// Date format (chrono `strftime` syntax) for date columns.
    #[serde(default = "default_date_format")]
    pub date_format: String,
    /// Tokens that mean "no value".
    #[serde(default)]
    pub null_tokens: Vec<String>,
    /// JSON: `records` (array of objects) or `columns` (object of equal-length arrays).
    #[serde(default)]
    pub layout: Option<JsonLayout>,
    /// JSON: dotted path to the records or columns (empty: the document root).
    #[serde(default)]
    pub path: Option<String>,
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

/// A full column source specification.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSourceSpec {
    /// The source column (CSV header or JSON field).
    #[serde(default)]
    pub field: Option<String>,
    /// A regex with one capture group over the object's original file name.
    #[serde(default)]
    pub from_name: Option<String>,
    /// Unit of the source value, converted to the canonical column's unit.
    #[serde(default)]
    pub unit: Option<String>,
    /// Date format of this column, overriding the dialect's.
    #[serde(default)]
    pub date_format: Option<String>,
}

impl ColumnSource {
    /// The full form of this source.
    pub fn to_spec(&self) -> ColumnSourceSpec {
        match self {
            ColumnSource::Field(f) => ColumnSourceSpec {
                field: Some(f.clone()),
                from_name: None,
                unit: None,
                date_format: None,
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
    /// What the column means.
    #[serde(default)]
    pub description: Option<String>,
    /// Tags such as `pii`.
    #[serde(default)]
    pub tags: Vec<String>,
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
}

/// Keys and deduplication of a formatted table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysSpec {
    /// The columns that identify a row; rows sharing them are deduplicated.
    #[serde(default)]
    pub primary: Vec<String>,
}

/// `models/<name>.toml`: how a SQL model is materialised and described.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// What the model is.
    #[serde(default)]
    pub description: Option<String>,
    /// `table` (a Delta table rebuilt when an input changed).
    #[serde(default)]
    pub materialized: Materialization,
    /// Documentation of the model's columns.
    #[serde(default)]
    pub columns: Vec<ModelColumnSpec>,
}

/// Materialisations of a model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Materialization {
    /// A Delta table rebuilt in full when any input changed.
    #[default]
    Table,
}

/// Documentation of a model column.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelColumnSpec {
    /// Column name.
    pub name: String,
    /// What it means.
    #[serde(default)]
    pub description: Option<String>,
    /// Glossary term it carries.
    #[serde(default)]
    pub glossary: Option<String>,
    /// Tags such as `pii` or `unit:kWh`.
    #[serde(default)]
    pub tags: Vec<String>,
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
