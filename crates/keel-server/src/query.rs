//! The query core both endpoints share. A *snapshot* of the lake (every Delta table at the
//! version it was at, the exploitation views and the catalog's tables) is taken at start and
//! again when a query comes and the last one is older than `serve.refresh`. Each statement
//! gets its own DataFusion context over the snapshot, showing only the login's zones, on a
//! runtime whose memory pool and spill space all queries share. Results stream under the
//! statement timeout, the row limit and a cancellation token (a PostgreSQL cancel request,
//! a client that went away).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, ParamValues};
use datafusion::datasource::{ViewTable, source_as_provider};
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParserBuilder, Statement as DfStatement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use keel_core::Project;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::config::{Limits, Login};
use crate::policy::{self, Allowed};

/// The catalog every zone is a schema of.
pub const CATALOG: &str = "keel";
/// The schema an unqualified table name is looked up in.
pub const DEFAULT_SCHEMA: &str = "exploitation";

/// An error a client sees: a SQLSTATE and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// The SQLSTATE (`42501` refused, `57014` cancelled, `54000` too many rows, ...).
    pub code: &'static str,
    /// What happened.
    pub message: String,
}

impl QueryError {
    /// An error with this SQLSTATE.
    pub fn new(code: &'static str, message: impl Into<String>) -> QueryError {
        QueryError {
            code,
            message: message.into(),
        }
    }

    /// The statement ran past its timeout.
    pub fn timeout(limit: Duration) -> QueryError {
        QueryError::new(
            "57014",
            format!(
                "canceling statement due to statement timeout ({})",
                humantime::format_duration(limit)
            ),
        )
    }

    /// The statement was cancelled (cancel request or disconnect).
    pub fn cancelled() -> QueryError {
        QueryError::new("57014", "canceling statement due to user request")
    }
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for QueryError {}

impl From<DataFusionError> for QueryError {
    fn from(error: DataFusionError) -> QueryError {
        let root = error.find_root();
        let code = match root {
            DataFusionError::ResourcesExhausted(_) => "53200",
            // The spill cap surfaces as an I/O error of the spill writer.
            _ if root.to_string().contains("spilling process has exceeded") => "53100",
            DataFusionError::SQL(..) => "42601",
            DataFusionError::NotImplemented(_) => "0A000",
            DataFusionError::Plan(m) if m.contains("not found") => "42P01",
            DataFusionError::SchemaError(..) => "42703",
            DataFusionError::Plan(_) => "42000",
            _ => "XX000",
        };
        QueryError::new(code, error.to_string())
    }
}

/// The lake as one reading saw it.
pub struct Snapshot {
    catalog: Arc<dyn CatalogProvider>,
    versions: BTreeMap<String, i64>,
    taken: Instant,
    id: u64,
}

/// A statement that passed the allow-list and was planned against a snapshot.
#[derive(Clone)]
pub struct Prepared {
    /// The statement as parsed (planned again when the snapshot it was planned on is old).
    statement: DfStatement,
    /// What it is.
    pub allowed: Allowed,
    /// The plan, for a query.
    pub plan: Option<LogicalPlan>,
    context: Option<SessionContext>,
    snapshot: u64,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("statement", &self.statement.to_string())
            .field("allowed", &self.allowed)
            .finish_non_exhaustive()
    }
}

/// A running query: its columns, the Delta versions it reads and its batches.
pub struct Running {
    /// The result's schema.
    pub schema: SchemaRef,
    /// `zone.table` → Delta version, for every table the query reads (through views too).
    pub reads: BTreeMap<String, i64>,
    /// The batches, ending in an error when a limit is hit.
    pub batches: BoxStream<'static, Result<RecordBatch, QueryError>>,
}

/// The service both endpoints query through.
pub struct QueryService {
    project: Project,
    limits: Limits,
    runtime: Arc<RuntimeEnv>,
    snapshot: Mutex<Arc<Snapshot>>,
    next_id: std::sync::atomic::AtomicU64,
}

impl QueryService {
    /// A service over `project`'s lake, with a first snapshot taken.
    ///
    /// # Errors
    /// When the lake cannot be read or the runtime not built.
    pub async fn new(project: Project, limits: Limits) -> Result<QueryService, QueryError> {
        let disk = DiskManagerBuilder::default()
            .with_mode(DiskManagerMode::OsTmpDirectory)
            .with_max_temp_directory_size(limits.spill_bytes);
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(limits.memory_bytes)))
            .with_disk_manager_builder(disk)
            .build_arc()?;
        let first = take_snapshot(&project, 0).await?;
        Ok(QueryService {
            project,
            limits,
            runtime,
            snapshot: Mutex::new(Arc::new(first)),
            next_id: std::sync::atomic::AtomicU64::new(1),
        })
    }

    /// The limits queries run under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The current snapshot, taken again when older than `serve.refresh`. When the lake
    /// cannot be read at that moment the last snapshot serves and the problem is logged.
    pub async fn snapshot(&self) -> Arc<Snapshot> {
        let mut current = self.snapshot.lock().await;
        if current.taken.elapsed() >= self.limits.refresh {
            let id = self
                .next_id
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match take_snapshot(&self.project, id).await {
                Ok(fresh) => *current = Arc::new(fresh),
                Err(e) => tracing::warn!(
                    "the lake could not be read again, serving the last reading: {e}"
                ),
            }
        }
        current.clone()
    }

    /// Parses `sql` into statements (none for an empty string).
    ///
    /// # Errors
    /// `42601` when it does not parse.
    pub fn parse(&self, sql: &str) -> Result<Vec<DfStatement>, QueryError> {
        let statements = DFParserBuilder::new(sql)
            .with_dialect(&PostgreSqlDialect {})
            .build()
            .and_then(|mut parser| parser.parse_statements())
            .map_err(|e| policy::unparsed(sql, e.to_string()))?;
        Ok(statements.into_iter().collect())
    }

    /// Checks `statement` against the allow-list and the `login`'s zones and plans it.
    ///
    /// # Errors
    /// `42501` when refused; planning errors otherwise.
    pub async fn prepare(
        &self,
        statement: DfStatement,
        login: &Login,
    ) -> Result<Prepared, QueryError> {
        let allowed = policy::classify(&statement)?;
        if allowed != Allowed::Query {
            return Ok(Prepared {
                statement,
                allowed,
                plan: None,
                context: None,
                snapshot: 0,
            });
        }
        let snapshot = self.snapshot().await;
        let context = self.context(&snapshot, login);
        let catalog = context
            .catalog(CATALOG)
            .ok_or_else(|| QueryError::new("XX000", "the keel catalog is missing"))?;
        policy::check_relations(&statement, catalog.as_ref())?;
        let plan = context.state().statement_to_plan(statement.clone()).await?;
        policy::check_plan(&plan, catalog.as_ref())?;
        Ok(Prepared {
            statement,
            allowed,
            plan: Some(plan),
            context: Some(context),
            snapshot: snapshot.id,
        })
    }

    /// Runs a prepared query with `params` bound, under `timeout` and `cancel`. A statement
    /// planned on an older snapshot is planned again first, so that it reads what a new
    /// statement would.
    ///
    /// # Errors
    /// Planning errors; the limits' errors come in the stream.
    pub async fn run(
        &self,
        prepared: &Prepared,
        login: &Login,
        params: Option<ParamValues>,
        timeout: Duration,
        cancel: CancellationToken,
    ) -> Result<Running, QueryError> {
        let current = self.snapshot().await;
        let fresh;
        let prepared = if prepared.snapshot == current.id {
            prepared
        } else {
            fresh = self.prepare(prepared.statement.clone(), login).await?;
            &fresh
        };
        let (Some(plan), Some(context)) = (&prepared.plan, &prepared.context) else {
            return Err(QueryError::new("XX000", "not a query"));
        };
        let plan = match params {
            Some(params) => plan.clone().with_param_values(params)?,
            None => plan.clone(),
        };
        let reads = reads(&plan, &current);
        let deadline = tokio::time::Instant::now() + timeout;
        let limit = self.limits.row_limit;
        let start = async {
            let frame = context.execute_logical_plan(plan).await?;
            // One row past the limit tells a result that is too large from one that fits
            // (an EXPLAIN must stay the plan's root; it is a few rows anyway).
            let frame = if matches!(frame.logical_plan(), LogicalPlan::Explain(_)) {
                frame
            } else {
                frame.limit(0, Some(limit.saturating_add(1)))?
            };
            let schema = Arc::new(frame.schema().as_arrow().clone());
            let stream = frame.execute_stream().await?;
            Ok::<_, DataFusionError>((schema, stream))
        };
        let (schema, stream) = tokio::select! {
            started = start => started?,
            () = tokio::time::sleep_until(deadline) => return Err(QueryError::timeout(timeout)),
            () = cancel.cancelled() => return Err(QueryError::cancelled()),
        };
        Ok(Running {
            schema,
            reads,
            batches: guarded(stream, deadline, timeout, cancel, limit).boxed(),
        })
    }

    /// A DataFusion context over `snapshot` showing the `login`'s zones only.
    fn context(&self, snapshot: &Snapshot, login: &Login) -> SessionContext {
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_batch_size(self.limits.batch_size)
            .with_default_catalog_and_schema(CATALOG, DEFAULT_SCHEMA);
        let context = SessionContext::new_with_config_rt(config, self.runtime.clone());
        let catalog = MemoryCatalogProvider::new();
        for zone in &login.zones {
            if let Some(schema) = snapshot.catalog.schema(zone) {
                let _ = catalog.register_schema(zone, schema);
            }
        }
        context.register_catalog(CATALOG, Arc::new(catalog));
        context
    }
}

/// Reads the lake: every Delta table at its latest version, the exploitation views, the
/// catalog's tables.
async fn take_snapshot(project: &Project, id: u64) -> Result<Snapshot, QueryError> {
    let internal = |e: &dyn std::fmt::Display| QueryError::new("XX000", e.to_string());
    let catalog =
        keel_catalog::Catalog::open(&project.lake.catalog_db()).map_err(|e| internal(&e))?;
    let mut session = keel_engine::Session::open(
        &project.lake,
        Some(&catalog),
        project.spec.engine.batch_size,
    )
    .await
    .map_err(|e| internal(&e))?;
    keel_exploitation::register_views(project, &mut session)
        .await
        .map_err(|e| internal(&e))?;
    let keel = session
        .context()
        .catalog(CATALOG)
        .ok_or_else(|| QueryError::new("XX000", "the session has no keel catalog"))?;
    Ok(Snapshot {
        catalog: keel,
        versions: session.versions().clone(),
        taken: Instant::now(),
        id,
    })
}

/// The Delta tables `plan` reads, with their versions, through views too.
fn reads(plan: &LogicalPlan, snapshot: &Snapshot) -> BTreeMap<String, i64> {
    let mut reads = BTreeMap::new();
    collect_reads(plan, snapshot, &mut reads);
    reads
}

fn collect_reads(plan: &LogicalPlan, snapshot: &Snapshot, reads: &mut BTreeMap<String, i64>) {
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let resolved = scan.table_name.clone().resolve(CATALOG, DEFAULT_SCHEMA);
            let key = format!("{}.{}", resolved.schema, resolved.table);
            if let Some(version) = snapshot.versions.get(&key) {
                reads.insert(key, *version);
            }
            if let Ok(provider) = source_as_provider(&scan.source)
                && let Some(view) = provider.downcast_ref::<ViewTable>()
            {
                collect_reads(view.logical_plan(), snapshot, reads);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
}

/// `stream` cut short by the deadline, the cancellation token and the row limit, each
/// ending it with an error; dropping it stops the query's tasks.
fn guarded(
    stream: datafusion::physical_plan::SendableRecordBatchStream,
    deadline: tokio::time::Instant,
    timeout: Duration,
    cancel: CancellationToken,
    limit: usize,
) -> impl Stream<Item = Result<RecordBatch, QueryError>> + Send {
    struct State {
        stream: datafusion::physical_plan::SendableRecordBatchStream,
        cancel: CancellationToken,
        rows: usize,
        done: bool,
    }
    let state = State {
        stream,
        cancel,
        rows: 0,
        done: false,
    };
    futures::stream::unfold(state, move |mut state| async move {
        if state.done {
            return None;
        }
        let next = tokio::select! {
            next = state.stream.next() => next?.map_err(QueryError::from),
            () = tokio::time::sleep_until(deadline) => Err(QueryError::timeout(timeout)),
            () = state.cancel.cancelled() => Err(QueryError::cancelled()),
        };
        let item = next.and_then(|batch| {
            state.rows += batch.num_rows();
            if state.rows > limit {
                Err(QueryError::new(
                    "54000",
                    format!(
                        "the result has more than {limit} rows (serve.row_limit): \
                         filter, aggregate or add a LIMIT"
                    ),
                ))
            } else {
                Ok(batch)
            }
        });
        state.done = item.is_err();
        Some((item, state))
    })
}
