//! The `keel` command line: a verb per job, in the habits of cargo, dbt and git. Exit code
//! 0 on success, 1 when checks fail, 2 on error; logs go to stderr, data to stdout.
//!
//! Crate organisation:
//! - [`cli`]: the arguments (clap derive).
//! - [`commands`]: one module per subcommand.
//! - [`output`]: summary tables, query results and error rendering.

pub mod cli;
pub mod commands;
pub mod output;

use std::process::ExitCode;

use clap::Parser;

/// Exit code when checks fail.
pub const EXIT_CHECKS_FAILED: u8 = 1;
/// Exit code on error.
pub const EXIT_ERROR: u8 = 2;

/// Parses the arguments, runs the command and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            output::print_error(&anyhow::Error::new(e).context("starting the async runtime"));
            return ExitCode::from(EXIT_ERROR);
        }
    };
    match runtime.block_on(commands::dispatch(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            output::print_error(&e);
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn init_tracing(verbose: u8) {
    // delta-rs warns on every MERGE about a metric its own plan does not report: noise
    // that says nothing about the user's data, so it is hidden unless asked for (-vv).
    let default = match verbose {
        0 => "warn,deltalake_core::operations::merge=error",
        1 => {
            "info,datafusion=warn,deltalake=warn,deltalake_core=warn,deltalake_core::operations::merge=error"
        }
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEEL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::env::var_os("NO_COLOR").is_none())
        .try_init();
}
