//! The command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// keel: a data management backbone, from raw files to checked, served tables.
#[derive(Debug, Parser)]
#[command(name = "keel", version, about, propagate_version = true)]
pub struct Cli {
    /// The project directory (default: the current directory).
    #[arg(long, global = true, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// A profile of `keel.toml` (`[profiles.NAME]`).
    #[arg(long, global = true, env = "KEEL_PROFILE")]
    pub profile: Option<String>,
    /// More logging on stderr (-v info, -vv debug); `KEEL_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the example project with generated data and run everything.
    Demo(DemoArgs),
    /// Scaffold a project.
    Init(InitArgs),
    /// Run the whole backbone incrementally: collect, land, format, build.
    Run(RunArgs),
    /// Collect new data from the sources into temporal landing.
    Collect(SourceArgs),
    /// Store temporal landing batches in persistent landing.
    Land(SourceArgs),
    /// Landing objects: versions by name, and what is known about one object.
    #[command(subcommand)]
    Landing(LandingCommand),
    /// Format new landing objects into formatted tables.
    Format(FormatArgs),
    /// What a formatted table's quarantine holds, by rule and column, with examples.
    Quarantine(QuarantineArgs),
    /// Compact the small files of every table and delete the files no version within the
    /// retention references (`[maintenance]` in keel.toml).
    Maintain(MaintainArgs),
    /// Build the exploitation models whose inputs changed, then run their checks.
    Build(BuildArgs),
    /// Run the models' checks on their current versions, or show their history.
    Check(CheckArgs),
    /// Write a model (or `zone.table`) to a Parquet, CSV, Arrow or `.npy` file.
    Export(ExportArgs),
    /// Serve the lake read-only: a PostgreSQL wire endpoint and an HTTP query endpoint,
    /// over TLS, for the logins of `[serve]` in keel.toml.
    Serve(ServeArgs),
    /// Zones, sources and their freshness, last runs, ledger totals.
    Status,
    /// Query formatted, quarantine, exploitation and catalog tables.
    Sql(SqlArgs),
    /// Where a dataset or column came from, down to its landing objects (`--upstream`),
    /// or every model and column that uses it (`--downstream`); with `--row`, the raw line a
    /// row was read from.
    Lineage(LineageArgs),
    /// The glossary: its terms with owners and columns, or one term (or synonym) with its
    /// columns' descriptions and tags and everything upstream and downstream of them.
    Glossary(GlossaryArgs),
    /// The example project's data generator.
    #[command(subcommand)]
    Example(ExampleCommand),
}

/// Sources a stage is limited to.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SourceArgs {
    /// Only this source (repeatable; default: every source).
    #[arg(long = "source", value_name = "SOURCE")]
    pub sources: Vec<String>,
}

/// Arguments of `keel run`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RunArgs {
    /// Only these sources are collected and landed.
    #[command(flatten)]
    pub sources: SourceArgs,
    /// Keep running: collect each source when its `schedule` is due, then land, format and
    /// build what changed, until stopped (Ctrl-C).
    #[arg(long)]
    pub watch: bool,
    /// With `--watch`: how often due sources are looked for.
    #[arg(long, default_value = "1s", value_name = "DURATION")]
    pub tick: String,
    /// With `--watch`: stop after this many runs (for scripts and tests).
    #[arg(long, value_name = "N")]
    pub max_runs: Option<u64>,
}

/// `keel landing ...`.
#[derive(Debug, Subcommand)]
pub enum LandingCommand {
    /// The versions of a source's objects by original name, oldest first.
    Versions(VersionsArgs),
    /// One object: its manifest facts, versions, ledger lines and detected dialect.
    Show(ShowArgs),
}

/// Arguments of `keel landing show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The object id (`SOURCE/HASH`, as `keel landing versions` lists it).
    pub object: String,
    /// Output format (`csv`: the manifest facts as `key,value` lines).
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// Arguments of `keel landing versions`.
#[derive(Debug, clap::Args)]
pub struct VersionsArgs {
    /// The source.
    pub source: String,
    /// One original name (default: every name).
    pub name: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// Arguments of `keel format`.
#[derive(Debug, Clone, Default, Args)]
pub struct FormatArgs {
    /// Rebuild this table from persistent landing with its source's current declaration, as
    /// a new Delta version (the old ones stay readable by time travel). Repeatable.
    #[arg(long, value_name = "TABLE")]
    pub rebuild: Vec<String>,
    /// After a fix of its source's declaration, parse this table's quarantined rows again and
    /// move those that pass into the table. Repeatable.
    #[arg(long, value_name = "TABLE")]
    pub reprocess_quarantine: Vec<String>,
}

/// Models picked by `--select`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SelectArgs {
    /// `MODEL` (that model), `MODEL+` (and every model downstream of it), `+MODEL` (and
    /// every model upstream of it). Repeatable; default: every model.
    #[arg(long = "select", short = 's', value_name = "MODEL[+]")]
    pub select: Vec<String>,
}

/// Arguments of `keel build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The models built.
    #[command(flatten)]
    pub select: SelectArgs,
    /// Rebuild incremental models in full instead of taking only what is new.
    #[arg(long)]
    pub full_refresh: bool,
}

/// Arguments of `keel check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The models checked.
    #[command(flatten)]
    pub select: SelectArgs,
    /// Show the results of earlier runs instead of checking (newest first).
    #[arg(long)]
    pub history: bool,
    /// With `--history`: at most this many result lines.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Output format of `--history`.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// Arguments of `keel export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The model, or `zone.table` (`formatted.readings`, ...).
    pub model: String,
    /// The file format (`npy`: the numeric columns as a 2-D float64 tensor).
    #[arg(long, value_enum)]
    pub format: ExportFormatArg,
    /// The file written; `<output>.json` says what was read, at which version.
    #[arg(long, short = 'o')]
    pub output: std::path::PathBuf,
    /// Only these columns, in this order (comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    pub columns: Vec<String>,
}

/// Arguments of `keel serve`; each overrides its key of `[serve]` in keel.toml.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// PostgreSQL wire port (0: any free port, printed at start).
    #[arg(long)]
    pub pg_port: Option<u16>,
    /// HTTP query port (0: any free port, printed at start).
    #[arg(long)]
    pub http_port: Option<u16>,
    /// Address to listen on.
    #[arg(long)]
    pub host: Option<String>,
    /// PEM certificate chain (required, here or as `serve.tls_cert`).
    #[arg(long)]
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of the certificate.
    #[arg(long)]
    pub tls_key: Option<std::path::PathBuf>,
}

/// File formats of `keel export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormatArg {
    /// Apache Parquet (zstd).
    Parquet,
    /// CSV with a header line.
    Csv,
    /// Arrow IPC file.
    Arrow,
    /// NumPy `.npy`: numeric columns, nulls as NaN.
    Npy,
}

/// Arguments of `keel maintain`.
#[derive(Debug, Args)]
pub struct MaintainArgs {
    /// The time the retention is counted back from, in ms since the epoch (for tests).
    #[arg(long, hide = true)]
    pub now_ms: Option<i64>,
}

/// Arguments of `keel quarantine`.
#[derive(Debug, Args)]
pub struct QuarantineArgs {
    /// The formatted table.
    pub table: String,
    /// Examples shown per rule and column.
    #[arg(long, default_value_t = 3)]
    pub examples: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// Arguments of `keel demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to create the project.
    #[arg(default_value = "keel-demo")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub generate: GenerateArgs,
}

/// Options of the data generator.
#[derive(Debug, Clone, Args)]
pub struct GenerateArgs {
    /// Seed: the same seed gives byte-identical files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Number of buildings (one heat meter each).
    #[arg(long, default_value_t = 200)]
    pub buildings: usize,
    /// Number of years, from 2016.
    #[arg(long, default_value_t = 5)]
    pub years: u32,
}

/// Arguments of `keel init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to create the project (default: the current directory).
    pub dir: Option<PathBuf>,
    /// Start from an example (`district-heating`).
    #[arg(long)]
    pub example: Option<String>,
}

/// Arguments of `keel sql`.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The query.
    pub query: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// Arguments of `keel lineage`.
#[derive(Debug, Args)]
pub struct LineageArgs {
    /// `zone.table` (`formatted.readings`) or `zone.table.column`, at `@VERSION` (default:
    /// its latest version); with `--row`, the table the row is in (`formatted.TABLE` or
    /// `quarantine.TABLE`).
    #[arg(value_name = "DATASET[.COLUMN][@VERSION]")]
    pub target: String,
    /// With `--row`: the row's key, `col=value[,col=value]` over the key columns its source
    /// declares (the value alone when the key has one column); in `quarantine.TABLE`,
    /// `OBJECT:LINE` (its `_keel_object` and `_keel_line`).
    #[arg(value_name = "KEY", requires = "row")]
    pub key: Option<String>,
    /// Trace one row to its landing object and line: print that line's raw bytes as they
    /// are stored on stdout, and where they come from on stderr (`--format json`: one
    /// document with both).
    #[arg(long, requires = "key", conflicts_with_all = ["upstream", "downstream"])]
    pub row: bool,
    /// What it was made from: the versions it read, the input columns that feed it or
    /// decide its rows, down to the landing objects (the default).
    #[arg(long, conflicts_with = "downstream")]
    pub upstream: bool,
    /// What uses it (impact analysis): every model and column it feeds, transitively,
    /// at their latest versions.
    #[arg(long)]
    pub downstream: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = LineageFormat::Text)]
    pub format: LineageFormat,
}

/// Arguments of `keel glossary`.
#[derive(Debug, Args)]
pub struct GlossaryArgs {
    /// A term, by its name or a synonym (case does not matter); without it, every term.
    #[arg(value_name = "TERM")]
    pub term: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GlossaryFormat::Text)]
    pub format: GlossaryFormat,
}

/// Formats of `keel glossary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GlossaryFormat {
    /// Readable text.
    Text,
    /// One JSON document.
    Json,
}

/// Formats of `keel lineage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LineageFormat {
    /// A readable tree.
    Text,
    /// A document of nodes and edges, with kinds and versions.
    Json,
    /// A Graphviz digraph (`dot -Tsvg`).
    Dot,
}

/// Formats of query results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// An aligned table.
    Table,
    /// CSV with a header line.
    Csv,
    /// A JSON array of objects.
    Json,
}

/// `keel example ...`.
#[derive(Debug, Subcommand)]
pub enum ExampleCommand {
    /// Generate the example's data into the project's `data/` folder.
    Generate(GenerateArgs),
    /// Serve the recorded weather archive API until Ctrl-C, and point the project's `.env`
    /// at it so that `keel run` collects weather from it.
    ServeWeather(ServeWeatherArgs),
    /// Write the `hm1` devices' readings as one large delimited-text file (a benchmark's
    /// single big object): every month file's lines under one header, re-sends included.
    ReadingsCsv(ReadingsCsvArgs),
}

/// Arguments of `keel example readings-csv`.
#[derive(Debug, Args)]
pub struct ReadingsCsvArgs {
    /// The file to write.
    #[arg(long, value_name = "PATH")]
    pub output: std::path::PathBuf,
    /// Stop after the device that takes the file past this many bytes (suffixes k, M, G).
    #[arg(long, value_parser = parse_bytes, default_value = "1G")]
    pub bytes: u64,
    /// The generator's options (more buildings or years give more data to draw from).
    #[command(flatten)]
    pub generate: GenerateArgs,
}

/// `5G`, `300M`, `64k` or a plain number of bytes.
fn parse_bytes(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.trim().char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text.trim()[..i], c),
        _ => (text.trim(), 'B'),
    };
    let factor: u64 = match unit.to_ascii_uppercase() {
        'B' => 1,
        'K' => 1 << 10,
        'M' => 1 << 20,
        'G' => 1 << 30,
        _ => return Err(format!("unknown unit `{unit}` (use k, M or G)")),
    };
    digits
        .parse::<u64>()
        .map(|n| n.saturating_mul(factor))
        .map_err(|e| format!("`{text}`: {e}"))
}

/// Arguments of `keel example serve-weather`.
#[derive(Debug, Args)]
pub struct ServeWeatherArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = keel_example::weather_api::DEFAULT_ADDR, value_name = "ADDR")]
    pub addr: String,
}
