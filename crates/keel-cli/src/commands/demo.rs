//! `keel demo [DIR]`: the example project with generated data, run end to end, its weather
//! collected over HTTP from a replay of the archive API that runs for the demo's duration.

use std::time::Instant;

use anyhow::Context;
use keel_runtime::Stage;

use crate::cli::DemoArgs;

/// Creates the example in `args.dir` (unless it is already there), generates its data,
/// starts the weather archive replay (pointing the project's `.env` at it) and runs every
/// stage.
///
/// # Errors
/// When generating, serving or running fails.
pub async fn demo(args: &DemoArgs) -> anyhow::Result<u8> {
    let started = Instant::now();
    let dir = &args.dir;
    if dir.join("keel.toml").exists() {
        eprintln!(
            "`{}` already holds the demo project: running it again",
            dir.display()
        );
    } else {
        keel_example::write_project(dir)
            .with_context(|| format!("writing the example into `{}`", dir.display()))?;
        let t = Instant::now();
        let truth = keel_example::generate(dir, &super::example::options(&args.generate))
            .context("generating the example data")?;
        eprintln!(
            "generated {} meter files, {} recorded weather answers and a CRM database of {} \
             customers for {} buildings in {:.1} s",
            truth.meters.files_delivered,
            truth.weather.files,
            truth.customers_rows,
            truth.buildings,
            t.elapsed().as_secs_f64()
        );
    }
    // A free port each time, written into `.env` for the run's `http` source.
    let server = super::example::start(dir, "127.0.0.1:0")?;
    let project = super::load(dir, None)?;
    let outcome = super::run::run(
        &project,
        &[Stage::Collect, Stage::Land, Stage::Format, Stage::Build],
        "demo",
        &[],
    )
    .await;
    super::example::stop(server).await;
    let code = outcome?;
    eprintln!(
        "demo finished in {:.1} s; try: `keel --project {} sql \"SELECT * FROM exploitation.daily_consumption LIMIT 5\"`",
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    eprintln!(
        "later runs collect new weather days from the archive API: start it with \
         `keel --project {} example serve-weather`, then `keel --project {} run`",
        dir.display(),
        dir.display()
    );
    Ok(code)
}
