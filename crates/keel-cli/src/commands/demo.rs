//! `keel demo [DIR]`: the example project with generated data, run end to end.

use std::time::Instant;

use anyhow::Context;
use keel_runtime::Stage;

use crate::cli::DemoArgs;

/// Creates the example in `args.dir` (unless it is already there), generates its data and
/// runs every stage.
///
/// # Errors
/// When generating or running fails.
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
            "generated {} meter files and {} weather files for {} buildings in {:.1} s",
            truth.meters.files_delivered,
            truth.weather.files,
            truth.buildings,
            t.elapsed().as_secs_f64()
        );
    }
    let project = super::load(dir, None)?;
    let code = super::run::run(
        &project,
        &[Stage::Collect, Stage::Land, Stage::Format, Stage::Build],
        "demo",
    )
    .await?;
    eprintln!(
        "demo finished in {:.1} s; try: `keel --project {} sql \"SELECT * FROM exploitation.daily_consumption LIMIT 5\"`",
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    Ok(code)
}
