//! `keel run` and the one-stage commands `collect`, `land`, `format`, `build`.

use keel_core::Project;
use keel_runtime::{RunOptions, RunOutcome, Stage};

use crate::output;

/// Runs `stages` and prints the summary; returns the exit code.
///
/// # Errors
/// When the run fails.
pub async fn run(project: &Project, stages: &[Stage], command: &str) -> anyhow::Result<u8> {
    let options = RunOptions {
        stages: stages.to_vec(),
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        command: command.to_string(),
    };
    let summary = keel_runtime::run(project, &options).await?;
    output::print_run_summary(&summary);
    Ok(match summary.outcome {
        RunOutcome::ModelsFailed(_) => crate::EXIT_ERROR,
        _ => 0,
    })
}
