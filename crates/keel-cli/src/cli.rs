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
    Run,
    /// Collect new data from the sources into temporal landing.
    Collect,
    /// Store temporal landing batches in persistent landing.
    Land,
    /// Format new landing objects into formatted tables.
    Format,
    /// Build the exploitation models whose inputs changed.
    Build,
    /// Zones, sources and their freshness, last runs, ledger totals.
    Status,
    /// Query formatted, quarantine, exploitation and catalog tables.
    Sql(SqlArgs),
    /// The example project's data generator.
    #[command(subcommand)]
    Example(ExampleCommand),
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
}
