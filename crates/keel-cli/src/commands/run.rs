//! `keel run [--watch]` and the one-stage commands `collect`, `land`, `format`, `build`.

use std::time::Duration;

use keel_catalog::Catalog;
use keel_core::Project;
use keel_core::schedule::Schedule;
use keel_runtime::{RunOptions, RunOutcome, RuntimeError, Stage};

use crate::cli::{BuildArgs, CheckArgs, FormatArgs, MaintainArgs, RunArgs};
use crate::output;

const ALL_STAGES: [Stage; 4] = [Stage::Collect, Stage::Land, Stage::Format, Stage::Build];

/// Runs `stages` for `sources` (all when empty) and prints the summary; returns the exit
/// code.
///
/// # Errors
/// When the run fails.
pub async fn run(
    project: &Project,
    stages: &[Stage],
    command: &str,
    sources: &[String],
) -> anyhow::Result<u8> {
    check_sources(project, sources)?;
    run_with(
        project,
        RunOptions {
            stages: stages.to_vec(),
            command: command.to_string(),
            sources: sources.to_vec(),
            ..RunOptions::default()
        },
    )
    .await
}

/// `keel format [--rebuild TABLE] [--reprocess-quarantine TABLE]`.
///
/// # Errors
/// When the run fails.
pub async fn format(project: &Project, args: &FormatArgs) -> anyhow::Result<u8> {
    let mut command = "format".to_string();
    for t in &args.rebuild {
        command.push_str(&format!(" --rebuild {t}"));
    }
    for t in &args.reprocess_quarantine {
        command.push_str(&format!(" --reprocess-quarantine {t}"));
    }
    run_with(
        project,
        RunOptions {
            stages: vec![Stage::Format],
            command,
            rebuild: args.rebuild.clone(),
            reprocess: args.reprocess_quarantine.clone(),
            ..RunOptions::default()
        },
    )
    .await
}

/// `keel build [--select MODEL[+]] [--full-refresh]`.
///
/// # Errors
/// When the run fails (a `--select` that names no model among the reasons).
pub async fn build(project: &Project, args: &BuildArgs) -> anyhow::Result<u8> {
    let mut command = "build".to_string();
    for s in &args.select.select {
        command.push_str(&format!(" --select {s}"));
    }
    if args.full_refresh {
        command.push_str(" --full-refresh");
    }
    run_with(
        project,
        RunOptions {
            stages: vec![Stage::Build],
            command,
            select: args.select.select.clone(),
            full_refresh: args.full_refresh,
            ..RunOptions::default()
        },
    )
    .await
}

/// `keel check [--select MODEL[+]]`: the checks on the models' current versions.
///
/// # Errors
/// When the run fails.
pub async fn check(project: &Project, args: &CheckArgs) -> anyhow::Result<u8> {
    let mut command = "check".to_string();
    for s in &args.select.select {
        command.push_str(&format!(" --select {s}"));
    }
    run_with(
        project,
        RunOptions {
            stages: vec![Stage::Check],
            command,
            select: args.select.select.clone(),
            ..RunOptions::default()
        },
    )
    .await
}

/// `keel maintain`: compaction and vacuum of every table.
///
/// # Errors
/// When the run fails.
pub async fn maintain(project: &Project, args: &MaintainArgs) -> anyhow::Result<u8> {
    run_with(
        project,
        RunOptions {
            stages: vec![Stage::Maintain],
            command: "maintain".into(),
            now_ms: args.now_ms,
            ..RunOptions::default()
        },
    )
    .await
}

/// Runs with `options` (progress bars when stderr is a terminal) and prints the summary;
/// returns the exit code.
async fn run_with(project: &Project, options: RunOptions) -> anyhow::Result<u8> {
    let options = RunOptions {
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        ..options
    };
    let summary = keel_runtime::run(project, &options).await?;
    output::print_run_summary(&summary);
    Ok(match summary.outcome {
        RunOutcome::ModelsFailed(_) => crate::EXIT_ERROR,
        RunOutcome::ChecksFailed(_) => crate::EXIT_CHECKS_FAILED,
        _ => 0,
    })
}

/// `keel run`: once, or with `--watch` until stopped.
///
/// # Errors
/// When a run fails (once), or the arguments are wrong.
pub async fn run_command(project: &Project, args: &RunArgs) -> anyhow::Result<u8> {
    if !args.watch {
        return run(project, &ALL_STAGES, "run", &args.sources.sources).await;
    }
    check_sources(project, &args.sources.sources)?;
    let tick = keel_core::schedule::parse_duration(&args.tick).map_err(anyhow::Error::msg)?;
    watch(project, args, tick).await
}

fn check_sources(project: &Project, sources: &[String]) -> anyhow::Result<()> {
    for s in sources {
        if project.source(s).is_none() {
            let known: Vec<&str> = project.sources.iter().map(|s| s.name.as_str()).collect();
            anyhow::bail!(
                "no source `{s}` in this project (sources: {})",
                known.join(", ")
            );
        }
    }
    Ok(())
}

/// The sources whose schedule is due now (a source without a schedule is due every tick).
fn due_sources(
    project: &Project,
    catalog: &Catalog,
    only: &[String],
) -> anyhow::Result<Vec<String>> {
    let now = chrono::Utc::now();
    let mut due = Vec::new();
    for source in &project.sources {
        if !only.is_empty() && !only.contains(&source.name) {
            continue;
        }
        let is_due = match &source.spec.schedule {
            None => true,
            Some(text) => {
                let schedule = Schedule::parse(text).map_err(anyhow::Error::msg)?;
                let last = catalog
                    .last_collected_at(&source.name)?
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                    .map(|t| t.with_timezone(&chrono::Utc));
                schedule.next_due(last, now) <= now
            }
        };
        if is_due {
            due.push(source.name.clone());
        }
    }
    Ok(due)
}

async fn watch(project: &Project, args: &RunArgs, tick: Duration) -> anyhow::Result<u8> {
    let catalog = Catalog::open(&project.lake.catalog_db())?;
    let mut runs = 0u64;
    let mut worst = 0u8;
    eprintln!(
        "watching {} source(s); checking schedules every {tick:?}; Ctrl-C stops",
        project.sources.len(),
    );
    loop {
        let due = due_sources(project, &catalog, &args.sources.sources)?;
        if !due.is_empty() {
            let options = RunOptions {
                stages: ALL_STAGES.to_vec(),
                progress: false,
                command: format!("run --watch ({})", due.join(", ")),
                sources: due,
                ..RunOptions::default()
            };
            match keel_runtime::run(project, &options).await {
                Ok(summary) => {
                    output::print_run_summary(&summary);
                    match summary.outcome {
                        RunOutcome::ModelsFailed(_) => worst = crate::EXIT_ERROR,
                        RunOutcome::ChecksFailed(_) => {
                            worst = worst.max(crate::EXIT_CHECKS_FAILED);
                        }
                        _ => {}
                    }
                }
                // Another process holds the project: say so and try again next tick.
                Err(e @ RuntimeError::Locked(_)) => eprintln!("{e}; waiting"),
                // A failing source does not stop the watch; the run is recorded as failed.
                Err(e) => {
                    eprintln!("run failed: {e}");
                    worst = crate::EXIT_ERROR;
                }
            }
            runs += 1;
            if args.max_runs.is_some_and(|m| runs >= m) {
                return Ok(worst);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = tokio::signal::ctrl_c() => {
                eprintln!("stopped after {runs} run(s)");
                return Ok(worst);
            }
        }
    }
}
