//! A run: collect → land → format for every source, the ledger check, then the models.
//! Every stage is incremental, so a run with nothing new does no work and says so.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use keel_catalog::Catalog;
use keel_catalog::runs::StepRecord;
use keel_core::Project;
use keel_core::spec::Materialization;
use keel_engine::Session;
use keel_engine::delta;
use keel_exploitation::{BuildOptions, BuildStatus, build_models, plan_models, select};

use crate::lock::ProjectLock;
use crate::metrics::peak_rss_bytes;
use crate::{Result, RuntimeError};

/// The stages of a run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Collectors take new data into temporal landing.
    Collect,
    /// The persistent loader stores it.
    Land,
    /// Formatters turn landing objects into formatted tables.
    Format,
    /// Models are built.
    Build,
    /// Every table is compacted and vacuumed (`keel maintain`).
    Maintain,
    /// The models' checks run on their current versions (`keel check`).
    Check,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Stages to run.
    pub stages: Vec<Stage>,
    /// Show progress bars on stderr.
    pub progress: bool,
    /// The command line, recorded with the run.
    pub command: String,
    /// Collect and land only these sources (all when empty).
    pub sources: Vec<String>,
    /// Formatted tables rebuilt from persistent landing (a new generation) by this run.
    pub rebuild: Vec<String>,
    /// Formatted tables whose quarantine is parsed again after formatting.
    pub reprocess: Vec<String>,
    /// The clock of vacuum's retention, in ms since the epoch (`None`: now). For tests.
    pub now_ms: Option<i64>,
    /// Models the build stage builds (`name`, `name+`, `+name`; all when empty).
    pub select: Vec<String>,
    /// Incremental models are rebuilt in full.
    pub full_refresh: bool,
}

impl RunOptions {
    /// Whether the collect and land stages take `source`.
    pub fn selects(&self, source: &str) -> bool {
        self.sources.is_empty() || self.sources.iter().any(|s| s == source)
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            stages: vec![Stage::Collect, Stage::Land, Stage::Format, Stage::Build],
            progress: false,
            command: "run".into(),
            sources: Vec::new(),
            rebuild: Vec::new(),
            reprocess: Vec::new(),
            now_ms: None,
            select: Vec::new(),
            full_refresh: false,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// Everything ran.
    Success,
    /// Nothing was new: no object landed, nothing formatted, every model up to date.
    NothingToDo,
    /// A model failed (its dependents were skipped); the models listed failed or were
    /// skipped.
    ModelsFailed(Vec<String>),
    /// Every model built, but `error` checks fail on these (their dependents, listed too,
    /// were skipped).
    ChecksFailed(Vec<String>),
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The run id.
    pub run_id: String,
    /// The steps, in order.
    pub steps: Vec<StepRecord>,
    /// How it ended.
    pub outcome: RunOutcome,
    /// Wall time.
    pub duration_ms: i64,
    /// Peak RSS of the process.
    pub peak_rss_bytes: i64,
}

struct Recorder<'a> {
    catalog: &'a Catalog,
    run_id: String,
    steps: Vec<StepRecord>,
}

impl Recorder<'_> {
    fn record(&mut self, mut step: StepRecord, duration: Duration) -> Result<()> {
        step.run_id = self.run_id.clone();
        step.step_no = self.steps.len() as i64 + 1;
        step.duration_ms = duration.as_millis() as i64;
        let start = chrono::Utc::now() - chrono::Duration::from_std(duration).unwrap_or_default();
        step.started_at = start.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        step.peak_rss_bytes = peak_rss_bytes();
        if step.status.is_empty() {
            step.status = "success".into();
        }
        self.catalog.record_step(&step)?;
        self.steps.push(step);
        Ok(())
    }
}

/// Runs the stages of `options` on `project`.
///
/// # Errors
/// When the project is locked by another run, a stage fails, or the ledger does not
/// balance after formatting. A failing model is not an error: see [`RunOutcome`].
pub async fn run(project: &Project, options: &RunOptions) -> Result<RunSummary> {
    let started = Instant::now();
    let _lock = ProjectLock::acquire(&project.lake.run_lock())?;
    let catalog = Catalog::open(&project.lake.catalog_db())?;
    let run_id = keel_core::ids::new_run_id();
    // The glossary and column docs as the files say them now, for `keel_catalog.*`.
    catalog.record_domain_metadata(project)?;
    catalog.start_run(&run_id, &options.command)?;
    let mut recorder = Recorder {
        catalog: &catalog,
        run_id: run_id.clone(),
        steps: Vec::new(),
    };
    match run_stages(project, options, &catalog, &mut recorder).await {
        Ok(outcome) => {
            let status = match &outcome {
                RunOutcome::ModelsFailed(_) => "failed",
                RunOutcome::ChecksFailed(_) => "checks_failed",
                _ => "success",
            };
            catalog.finish_run(&run_id, status, None)?;
            Ok(RunSummary {
                run_id,
                steps: recorder.steps,
                outcome,
                duration_ms: started.elapsed().as_millis() as i64,
                peak_rss_bytes: peak_rss_bytes(),
            })
        }
        Err(e) => {
            // The run's own error is what the user needs; a failure to record it is logged.
            if let Err(record) = catalog.finish_run(&run_id, "failed", Some(&e.to_string())) {
                tracing::error!(error = %record, "could not record the failed run");
            }
            Err(e)
        }
    }
}

async fn run_stages(
    project: &Project,
    options: &RunOptions,
    catalog: &Catalog,
    rec: &mut Recorder<'_>,
) -> Result<RunOutcome> {
    let wants = |s: Stage| options.stages.contains(&s);
    let env = &keel_core::secrets::Env::load(&project.dir)?;
    let mut new_work = false;
    for source in &project.sources {
        if !options.selects(&source.name) {
            continue;
        }
        if wants(Stage::Collect) {
            let t = Instant::now();
            let report =
                keel_landing::collect::collect_source(project, source, catalog, &rec.run_id, env)
                    .await?;
            let mut message = format!("{} seen, {} taken", report.seen, report.taken);
            if report.records > 0 {
                message.push_str(&format!(", {} records", report.records));
            }
            if report.incomplete > 0 {
                message.push_str(&format!(", {} not complete yet", report.incomplete));
            }
            if report.redelivered > 0 {
                message.push_str(&format!(", {} redelivered and skipped", report.redelivered));
            }
            rec.record(
                StepRecord {
                    stage: "collect".into(),
                    target: source.name.clone(),
                    objects_in: report.taken as i64,
                    rows_in: report.records as i64,
                    bytes_in: report.bytes as i64,
                    bytes_out: report.bytes as i64,
                    message: Some(message),
                    ..Default::default()
                },
                t.elapsed(),
            )?;
        }
        if wants(Stage::Land) {
            let t = Instant::now();
            let report =
                keel_landing::persistent::load(&project.lake, catalog, &source.name, &rec.run_id)?;
            new_work |= !report.stored.is_empty();
            rec.record(
                StepRecord {
                    stage: "land".into(),
                    target: source.name.clone(),
                    objects_in: (report.stored.len() as u64 + report.duplicates) as i64,
                    bytes_out: report.bytes as i64,
                    rows_out: report.stored.len() as i64,
                    message: Some(format!(
                        "{} new objects, {} duplicate deliveries",
                        report.stored.len(),
                        report.duplicates
                    )),
                    ..Default::default()
                },
                t.elapsed(),
            )?;
        }
    }
    if wants(Stage::Format) {
        let mut formatted = std::collections::BTreeSet::new();
        for table in &options.rebuild {
            check_table(project, table)?;
            let generation = catalog.start_rebuild(table, &rec.run_id)?;
            tracing::info!(table, generation, "rebuilding from persistent landing");
        }
        for source in &project.sources {
            let t = Instant::now();
            let pending = catalog
                .unformatted_objects(&source.name, source.table())?
                .len();
            let bar = progress_bar(
                options.progress,
                pending as u64,
                &format!("format {}", source.name),
            );
            let report =
                keel_formatted::format_source(project, source, catalog, &rec.run_id, &|| {
                    bar.inc(1)
                })
                .await?;
            bar.finish_and_clear();
            new_work |= report.objects > 0;
            if report.objects > 0 {
                formatted.insert(source.table().to_string());
            }
            rec.record(
                StepRecord {
                    stage: "format".into(),
                    target: format!("{} → formatted.{}", source.name, source.table()),
                    objects_in: report.objects as i64,
                    rows_in: report.rows_read as i64,
                    rows_out: report.rows_written as i64,
                    bytes_in: report.bytes as i64,
                    message: Some(
                        format!(
                            "{} quarantined, {} duplicate, {} replaced by a later version",
                            report.rows_quarantined, report.rows_duplicate, report.rows_replaced
                        ) + &empty_note(report.empty_objects)
                            + &schema_note(&report.schema_changes),
                    ),
                    status: if report.objects == 0 {
                        "skipped".into()
                    } else {
                        String::new()
                    },
                    ..Default::default()
                },
                t.elapsed(),
            )?;
        }
        let mut compacted = std::collections::BTreeSet::new();
        for source in &project.sources {
            let table = source.table();
            if formatted.contains(table) && compacted.insert(table.to_string()) {
                let policy = project.spec.maintenance.compact_small_files;
                if policy > 0 {
                    let path = project.lake.formatted(table);
                    maintain_table(
                        project,
                        rec,
                        &path,
                        &format!("formatted.{table}"),
                        policy,
                        None,
                    )
                    .await?;
                }
            }
        }
        for table in &options.reprocess {
            check_table(project, table)?;
            let t = Instant::now();
            let report =
                keel_formatted::reprocess_quarantine(project, table, catalog, &rec.run_id).await?;
            new_work |= report.released > 0;
            if report.released > 0 {
                formatted.insert(table.clone());
            }
            rec.record(
                StepRecord {
                    stage: "reprocess".into(),
                    target: format!("formatted._quarantine.{table}"),
                    objects_in: report.objects as i64,
                    rows_in: (report.released + report.still_quarantined) as i64,
                    rows_out: (report.released - report.superseded) as i64,
                    message: Some(format!(
                        "{}{} released ({} superseded by a later object), {} still quarantined{}",
                        if report.resumed { "resumed: " } else { "" },
                        report.released,
                        report.superseded,
                        report.still_quarantined,
                        if report.newly_failing > 0 {
                            format!(
                                ", {} rows that passed fail now and were left in the table \
                                 (use --rebuild)",
                                report.newly_failing
                            )
                        } else {
                            String::new()
                        }
                    )),
                    ..Default::default()
                },
                t.elapsed(),
            )?;
        }
        for table in &formatted {
            check_physical(project, rec, table).await?;
        }
        check_ledger(project, catalog).await?;
    }
    if wants(Stage::Maintain) {
        let retention =
            keel_core::schedule::parse_duration(&project.spec.maintenance.vacuum_retention)
                .map_err(RuntimeError::Usage)?;
        for (name, path) in all_tables(project) {
            maintain_table(
                project,
                rec,
                &path,
                &name,
                2,
                Some((retention, options.now_ms)),
            )
            .await?;
        }
    }
    let mut failed = Vec::new();
    // A model itself failed (not only its checks).
    let mut broken = false;
    let mut rebuilt = false;
    if wants(Stage::Build) && !project.models.is_empty() {
        let mut session =
            Session::open(&project.lake, None, project.spec.engine.batch_size).await?;
        let plans = plan_models(project, &session)?;
        let selected = select(&plans, &options.select)?;
        let build = BuildOptions {
            selected: (!options.select.is_empty())
                .then(|| selected.iter().map(|p| p.name.clone()).collect()),
            full_refresh: options.full_refresh,
        };
        let bar = progress_bar(options.progress, selected.len() as u64, "build models");
        let reports = build_models(
            project,
            catalog,
            &mut session,
            &plans,
            &build,
            &rec.run_id,
            &|_| bar.inc(1),
        )
        .await?;
        bar.finish_and_clear();
        for r in reports {
            let warned: Vec<&str> = r
                .checks
                .iter()
                .filter(|c| c.status != "pass" && !c.blocks())
                .map(|c| c.check_name.as_str())
                .collect();
            let (status, mut message) = match &r.status {
                BuildStatus::Built { version } => {
                    rebuilt = true;
                    (
                        "success".to_string(),
                        format!("built version {version} ({})", r.operation),
                    )
                }
                BuildStatus::UpToDate { version } => (
                    "skipped".to_string(),
                    format!("up to date at version {version}"),
                ),
                BuildStatus::ChecksFailed { version, checks } => {
                    rebuilt |= !r.operation.is_empty();
                    failed.push(r.model.clone());
                    (
                        "failed".to_string(),
                        format!(
                            "version {version}: error checks fail: {} (keel check --history)",
                            checks.join(", ")
                        ),
                    )
                }
                BuildStatus::Failed { message } => {
                    failed.push(r.model.clone());
                    broken = true;
                    ("failed".to_string(), message.clone())
                }
                BuildStatus::Skipped { upstream } => {
                    failed.push(r.model.clone());
                    (
                        "skipped".to_string(),
                        format!("upstream model `{upstream}` failed"),
                    )
                }
            };
            if !warned.is_empty() {
                message.push_str(&format!("; warn checks fail: {}", warned.join(", ")));
            }
            let step = StepRecord {
                stage: "build".into(),
                target: format!("exploitation.{}", r.model),
                rows_in: r.read.rows as i64,
                bytes_in: r.read.bytes as i64,
                rows_out: r.rows_written as i64,
                status,
                message: Some(message),
                ..Default::default()
            };
            rec.record(step, Duration::from_millis(r.duration_ms as u64))?;
        }
    }
    let checked = wants(Stage::Check) && !project.models.is_empty();
    if checked {
        check_models(project, options, catalog, rec, &mut failed).await?;
    }
    Ok(if broken {
        RunOutcome::ModelsFailed(failed)
    } else if !failed.is_empty() {
        RunOutcome::ChecksFailed(failed)
    } else if !new_work && !rebuilt && !checked {
        RunOutcome::NothingToDo
    } else {
        RunOutcome::Success
    })
}

/// Runs the checks of the selected models on their current versions, one `check` step per
/// model; the models with failing `error` checks are added to `failed`.
async fn check_models(
    project: &Project,
    options: &RunOptions,
    catalog: &Catalog,
    rec: &mut Recorder<'_>,
    failed: &mut Vec<String>,
) -> Result<()> {
    let mut session = Session::open(&project.lake, None, project.spec.engine.batch_size).await?;
    keel_exploitation::register_views(project, &mut session).await?;
    let plans = plan_models(project, &session)?;
    for plan in select(&plans, &options.select)?
        .into_iter()
        .filter(|p| !p.spec.checks.is_empty())
    {
        let t = Instant::now();
        let dataset = format!("exploitation.{}", plan.name);
        let version = match plan.spec.materialized {
            Materialization::View => catalog.latest_version(&dataset)?.map(|v| v.version),
            _ => session.versions().get(&dataset).copied(),
        };
        let Some(version) = version else {
            rec.record(
                StepRecord {
                    stage: "check".into(),
                    target: dataset,
                    status: "skipped".into(),
                    message: Some("not built yet".into()),
                    ..Default::default()
                },
                t.elapsed(),
            )?;
            continue;
        };
        let results = keel_exploitation::run_checks(
            project,
            catalog,
            &mut session,
            plan,
            version,
            &rec.run_id,
        )
        .await?;
        let failing: Vec<&str> = results
            .iter()
            .filter(|r| r.status != "pass")
            .map(|r| r.check_name.as_str())
            .collect();
        let blocks = results.iter().any(|r| r.blocks());
        if blocks {
            failed.push(plan.name.clone());
        }
        rec.record(
            StepRecord {
                stage: "check".into(),
                target: dataset,
                rows_out: results.iter().map(|r| r.failing_rows).sum(),
                status: if blocks { "failed" } else { "success" }.into(),
                message: Some(if failing.is_empty() {
                    format!("version {version}: {} checks pass", plan.spec.checks.len())
                } else {
                    format!("version {version}: failing: {}", failing.join(", "))
                }),
                ..Default::default()
            },
            t.elapsed(),
        )?;
    }
    Ok(())
}

/// Walks the counters declared on `table` (RELIABILITY C5) and records a `check` step with
/// what `flags.<table>` now holds.
async fn check_physical(project: &Project, rec: &mut Recorder<'_>, table: &str) -> Result<()> {
    let t = Instant::now();
    let Some(report) = keel_formatted::check_table(project, table, &rec.run_id).await? else {
        return Ok(());
    };
    if report.invalid > 0 {
        tracing::warn!(
            table,
            invalid = report.invalid,
            "counter readings flagged invalid: see flags.{table}; valid.{table} leaves them out"
        );
    }
    rec.record(
        StepRecord {
            stage: "check".into(),
            target: format!("flags.{table}"),
            rows_in: report.readings as i64,
            rows_out: (report.invalid + report.rollovers) as i64,
            message: Some(format!(
                "{} counter readings: {} invalid, {} roll-overs (flags version {})",
                report.readings, report.invalid, report.rollovers, report.version
            )),
            ..Default::default()
        },
        t.elapsed(),
    )?;
    Ok(())
}

/// Checks that every ledger line balances and that each quarantine table holds exactly
/// the rows the ledger says were quarantined.
/// Every Delta table of the project, as `(zone.name, path)`.
fn all_tables(project: &Project) -> Vec<(String, std::path::PathBuf)> {
    let mut tables = std::collections::BTreeMap::new();
    for s in &project.sources {
        let t = s.table();
        tables.insert(format!("formatted.{t}"), project.lake.formatted(t));
        tables.insert(format!("quarantine.{t}"), project.lake.quarantine(t));
        tables.insert(format!("flags.{t}"), project.lake.flags(t));
    }
    for m in &project.models {
        tables.insert(
            format!("exploitation.{}", m.name),
            project.lake.exploitation(&m.name),
        );
    }
    tables.into_iter().collect()
}

/// Compacts the table at `path` when it has at least `min_small` files below the target
/// size, and vacuums it when `vacuum` gives a retention; records a `maintain` step when it
/// did either.
async fn maintain_table(
    project: &Project,
    rec: &mut Recorder<'_>,
    path: &std::path::Path,
    name: &str,
    min_small: usize,
    vacuum: Option<(Duration, Option<i64>)>,
) -> Result<()> {
    let t = Instant::now();
    let target = project.spec.maintenance.target_file_mb.max(1) << 20;
    let (files, small) = delta::file_counts(path, target).await?;
    let mut parts = Vec::new();
    let mut version = None;
    if files > 0 && small >= min_small.max(2) {
        let c = delta::compact(path, target).await?;
        parts.push(format!(
            "compacted {} small files into {}",
            c.files_removed, c.files_added
        ));
        version = Some(c.version);
    }
    if let Some((retention, now)) = vacuum {
        let deleted = delta::vacuum(path, retention, now).await?;
        if deleted > 0 {
            parts.push(format!("vacuumed {deleted} unreferenced files"));
        }
    }
    if parts.is_empty() {
        return Ok(());
    }
    tracing::info!(table = name, ?version, "{}", parts.join(", "));
    rec.record(
        StepRecord {
            stage: "maintain".into(),
            target: name.to_string(),
            objects_in: files as i64,
            message: Some(parts.join(", ")),
            ..Default::default()
        },
        t.elapsed(),
    )
}

/// Objects without a data row, for a format step's message.
fn empty_note(empty: u64) -> String {
    if empty == 0 {
        String::new()
    } else {
        format!(", {empty} objects without a data row")
    }
}

/// The schema changes a format step applied, for its message.
fn schema_note(changes: &[String]) -> String {
    if changes.is_empty() {
        String::new()
    } else {
        format!("; schema: {}", changes.join("; "))
    }
}

/// A table named on the command line must be one that a source feeds.
fn check_table(project: &Project, table: &str) -> Result<()> {
    if project.sources.iter().any(|s| s.table() == table) {
        return Ok(());
    }
    let known: Vec<&str> = project.sources.iter().map(|s| s.table()).collect();
    Err(RuntimeError::Usage(format!(
        "no formatted table `{table}` in this project (tables: {})",
        known.join(", ")
    )))
}

async fn check_ledger(project: &Project, catalog: &Catalog) -> Result<()> {
    let broken = catalog.ledger_violations()?;
    if let Some(e) = broken.first() {
        return Err(RuntimeError::LedgerBroken(format!(
            "{} entries, first: object `{}` into `{}` read {} rows but wrote {} + quarantined {} \
             + duplicate {}",
            broken.len(),
            e.object_id,
            e.table_name,
            e.rows_read,
            e.rows_written,
            e.rows_quarantined,
            e.rows_duplicate
        )));
    }
    for totals in catalog.ledger_totals()? {
        let stored = delta::count_rows(&project.lake.quarantine(&totals.table_name)).await?;
        if stored != totals.rows_quarantined {
            return Err(RuntimeError::LedgerBroken(format!(
                "quarantine of `{}` holds {stored} rows but the ledger counts {}",
                totals.table_name, totals.rows_quarantined
            )));
        }
    }
    Ok(())
}

fn progress_bar(enabled: bool, len: u64, label: &str) -> ProgressBar {
    if !enabled || len == 0 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{msg:>24} [{bar:30}] {pos}/{len} {elapsed}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(label.to_string());
    bar
}
