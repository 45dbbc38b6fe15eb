//! One module per subcommand; [`dispatch`] picks one.

pub mod check;
pub mod demo;
pub mod example;
pub mod export;
pub mod glossary;
pub mod init;
pub mod landing;
pub mod lineage;
pub mod lineage_row;
pub mod quarantine;
pub mod run;
pub mod serve;
pub mod sql;
pub mod status;

use std::path::{Path, PathBuf};

use anyhow::Context;
use keel_core::Project;

use crate::cli::{Cli, Command, ExampleCommand, LandingCommand};
use keel_runtime::Stage;

/// Runs the command; returns the exit code.
///
/// # Errors
/// Any error of the command, rendered by the caller.
pub async fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    let dir = cli.project.clone().unwrap_or_else(|| PathBuf::from("."));
    let profile = cli.profile.as_deref();
    match cli.command {
        Command::Demo(args) => demo::demo(&args).await,
        Command::Init(args) => init::init(&args, &dir),
        Command::Run(args) => run::run_command(&load(&dir, profile)?, &args).await,
        Command::Collect(args) => {
            run::run(
                &load(&dir, profile)?,
                &[Stage::Collect],
                "collect",
                &args.sources,
            )
            .await
        }
        Command::Land(args) => {
            run::run(&load(&dir, profile)?, &[Stage::Land], "land", &args.sources).await
        }
        Command::Landing(LandingCommand::Versions(args)) => {
            landing::versions(&load(&dir, profile)?, &args)
        }
        Command::Landing(LandingCommand::Show(args)) => landing::show(&load(&dir, profile)?, &args),
        Command::Format(args) => run::format(&load(&dir, profile)?, &args).await,
        Command::Maintain(args) => run::maintain(&load(&dir, profile)?, &args).await,
        Command::Quarantine(args) => quarantine::show(&load(&dir, profile)?, &args).await,
        Command::Build(args) => run::build(&load(&dir, profile)?, &args).await,
        Command::Check(args) if args.history => check::history(&load(&dir, profile)?, &args),
        Command::Check(args) => run::check(&load(&dir, profile)?, &args).await,
        Command::Export(args) => export::export(&load(&dir, profile)?, &args).await,
        Command::Serve(args) => serve::serve(load(&dir, profile)?, &args).await,
        Command::Status => status::status(&load(&dir, profile)?),
        Command::Sql(args) => sql::sql(&load(&dir, profile)?, &args).await,
        Command::Lineage(args) if args.row => lineage_row::row(&load(&dir, profile)?, &args).await,
        Command::Lineage(args) => lineage::lineage(&load(&dir, profile)?, &args),
        Command::Glossary(args) => glossary::glossary(&load(&dir, profile)?, &args),
        Command::Example(ExampleCommand::Generate(args)) => example::generate(&dir, &args),
        Command::Example(ExampleCommand::ReadingsCsv(args)) => example::readings_csv(&args),
        Command::Example(ExampleCommand::ServeWeather(args)) => {
            example::serve_weather(&dir, &args).await
        }
    }
}

/// A session over the project's lake with the catalog's tables and the view models
/// registered: what `keel sql` and `keel export` read.
///
/// # Errors
/// When the catalog or a table cannot be opened.
pub async fn open_session(project: &Project) -> anyhow::Result<keel_engine::Session> {
    let catalog = keel_catalog::Catalog::open(&project.lake.catalog_db())?;
    let mut session = keel_engine::Session::open(
        &project.lake,
        Some(&catalog),
        project.spec.engine.batch_size,
    )
    .await?;
    keel_exploitation::register_views(project, &mut session).await?;
    Ok(session)
}

/// Loads the project in `dir`.
///
/// # Errors
/// When the project is invalid; the message names the file and key.
pub fn load(dir: &Path, profile: Option<&str>) -> anyhow::Result<Project> {
    Project::load(dir, profile)
        .with_context(|| format!("loading the project in `{}`", dir.display()))
}
