//! The PostgreSQL wire endpoint (pgwire). Each connection gets its own handlers: a TLS-only
//! start (a plaintext startup is refused), SCRAM-SHA-256 authentication (with channel
//! binding offered) against the logins of `[serve]`, its own settings, and a cancellation
//! token that a PostgreSQL cancel request or the client's going away fires. Simple and
//! extended protocol go through the same allow-list and planner.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arrow_pg::datatypes::df::deserialize_parameters;
use arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch, into_pg_type};
use async_trait::async_trait;
use bytes::Bytes;
use futures::{Sink, SinkExt, StreamExt, stream};
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::{ScramAuth, gen_salted_password};
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use pgwire::api::cancel::CancelHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{
    ClientInfo, ClientPortalStore, METADATA_USER, PgWireServerHandlers, PidSecretKeyGenerator,
    RandomPidSecretKeyGenerator, Type,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::response::NoticeResponse;
use pgwire::messages::startup::SecretKey;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::types::format::FormatOptions;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::config::{Login, ServeConfig};
use crate::policy::{Allowed, Setting};
use crate::query::{Prepared, QueryError, QueryService, Running};
use crate::slots::{Gate, LoginSlots};

/// PBKDF2 iterations of the stored SCRAM keys (PostgreSQL's default).
const SCRAM_ITERATIONS: usize = 4096;

/// What every connection of the endpoint shares.
pub(crate) struct PgEndpoint {
    service: Arc<QueryService>,
    config: ServeConfig,
    keys: Arc<ScramKeys>,
    slots: Arc<Semaphore>,
    login_slots: Arc<LoginSlots>,
    cancels: Arc<CancelRegistry>,
    pids: Arc<RandomPidSecretKeyGenerator>,
}

impl PgEndpoint {
    pub(crate) fn new(service: Arc<QueryService>, config: ServeConfig) -> PgEndpoint {
        PgEndpoint {
            keys: Arc::new(ScramKeys::new(&config.logins)),
            slots: Arc::new(Semaphore::new(config.limits.max_connections)),
            login_slots: Arc::new(LoginSlots::new(&config.logins)),
            cancels: Arc::new(CancelRegistry::default()),
            pids: Arc::new(RandomPidSecretKeyGenerator::default()),
            service,
            config,
        }
    }

    /// Serves one accepted connection to its end.
    pub(crate) async fn serve(
        self: Arc<Self>,
        tcp: TcpStream,
        tls: pgwire::tokio::TlsAcceptor,
    ) -> std::io::Result<()> {
        // A second handle on the socket tells when the client goes away while a query
        // runs (pgwire reads the socket only between messages).
        let std_stream = tcp.into_std()?;
        let watch = TcpStream::from_std(std_stream.try_clone()?)?;
        let tcp = TcpStream::from_std(std_stream)?;
        let connection = Arc::new(Connection {
            service: self.service.clone(),
            config: self.config.clone(),
            gone: CancellationToken::new(),
            current: Mutex::new(None),
            timeout: Mutex::new(self.config.limits.statement_timeout),
            key: Mutex::new(None),
            cancels: self.cancels.clone(),
            slot: self.slots.clone().try_acquire_owned().ok(),
            login_slots: self.login_slots.clone(),
            login_slot: Mutex::new(None),
        });
        let watcher = tokio::spawn(watch_disconnect(watch, connection.gone.clone()));
        let handlers = ConnectionHandlers {
            startup: Arc::new(self.startup(&connection)),
            queries: Arc::new(Queries {
                connection: connection.clone(),
                parser: Arc::new(Parser {
                    connection: connection.clone(),
                }),
            }),
            cancel: Arc::new(Canceller {
                cancels: self.cancels.clone(),
            }),
        };
        let result = pgwire::tokio::process_socket(tcp, Some(tls), handlers).await;
        watcher.abort();
        connection.gone.cancel();
        result
    }

    fn startup(&self, connection: &Arc<Connection>) -> Startup {
        let mut scram = ScramAuth::new(self.keys.clone());
        scram.set_iterations(SCRAM_ITERATIONS);
        // Channel binding (SCRAM-SHA-256-PLUS) when the certificate allows it.
        if scram.configure_certificate(&self.config.cert_pem).is_err() {
            tracing::warn!("the certificate does not allow SCRAM channel binding");
        }
        let sasl = SASLAuthStartupHandler::new(Arc::new(DefaultServerParameterProvider::default()))
            .with_scram(scram)
            .with_pid_secret_key_generator(Arc::new(RegisteringKeys {
                inner: self.pids.clone(),
                connection: Arc::downgrade(connection),
            }));
        Startup {
            sasl,
            connection: connection.clone(),
        }
    }
}

/// Fires `gone` when the peer closes its side of the socket.
async fn watch_disconnect(watch: TcpStream, gone: CancellationToken) {
    loop {
        match watch.ready(tokio::io::Interest::READABLE).await {
            Ok(ready) if !ready.is_read_closed() => {
                // Readable with data pgwire has not read yet: look again a little later.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            _ => break,
        }
    }
    gone.cancel();
}

/// One client connection.
struct Connection {
    service: Arc<QueryService>,
    config: ServeConfig,
    /// Fired when the client went away.
    gone: CancellationToken,
    /// The running statement's token, for cancel requests.
    current: Mutex<Option<CancellationToken>>,
    /// `statement_timeout` in force.
    timeout: Mutex<Duration>,
    /// The backend key the client may cancel with.
    key: Mutex<Option<(i32, Bytes)>>,
    cancels: Arc<CancelRegistry>,
    /// Its place among `serve.max_connections`; `None` when there was none left.
    slot: Option<OwnedSemaphorePermit>,
    login_slots: Arc<LoginSlots>,
    /// Its place among its login's `connection_limit`, taken once it authenticated.
    login_slot: Mutex<Option<OwnedSemaphorePermit>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(key) = self.key.lock().ok().and_then(|mut k| k.take()) {
            self.cancels.remove(&key);
        }
    }
}

impl Connection {
    fn login(&self, client: &impl ClientInfo) -> PgWireResult<Login> {
        client
            .metadata()
            .get(METADATA_USER)
            .and_then(|user| self.config.login(user))
            .cloned()
            .ok_or_else(|| PgWireError::UserNameRequired)
    }

    /// A token for the next statement, cancelled with the connection.
    fn begin_statement(&self) -> CancellationToken {
        let token = self.gone.child_token();
        if let Ok(mut current) = self.current.lock() {
            *current = Some(token.clone());
        }
        token
    }

    fn timeout(&self) -> Duration {
        self.timeout
            .lock()
            .map(|t| *t)
            .unwrap_or(self.config.limits.statement_timeout)
    }

    /// Applies a `SET`; a timeout above the server's (or 0) is the server's.
    fn set(&self, setting: &Setting) {
        if let Setting::StatementTimeout(asked) = setting {
            let limit = self.config.limits.statement_timeout;
            let timeout = if asked.is_zero() {
                limit
            } else {
                (*asked).min(limit)
            };
            if let Ok(mut t) = self.timeout.lock() {
                *t = timeout;
            }
        }
    }

    /// Runs one prepared statement to a response.
    async fn respond<C>(
        &self,
        client: &mut C,
        prepared: &Prepared,
        params: Option<datafusion::common::ParamValues>,
        format: &Format,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match &prepared.allowed {
            Allowed::Set(setting) => {
                self.set(setting);
                Ok(Response::Execution(Tag::new("SET")))
            }
            Allowed::Begin => Ok(Response::TransactionStart(Tag::new("BEGIN"))),
            Allowed::Commit => Ok(Response::TransactionEnd(Tag::new("COMMIT"))),
            Allowed::Rollback => Ok(Response::TransactionEnd(Tag::new("ROLLBACK"))),
            Allowed::Query => {
                let login = self.login(client)?;
                let token = self.begin_statement();
                let running = self
                    .service
                    .run(prepared, &login, params, self.timeout(), token)
                    .await
                    .map_err(user_error)?;
                if let Some(notice) = versions_notice(&running) {
                    client
                        .send(PgWireBackendMessage::NoticeResponse(notice))
                        .await?;
                }
                let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
                query_response(running, format, options).map(Response::Query)
            }
        }
    }
}

/// `NOTICE: keel read exploitation.daily_consumption@3, ...`: the Delta versions a query read.
fn versions_notice(running: &Running) -> Option<NoticeResponse> {
    if running.reads.is_empty() {
        return None;
    }
    let read = running
        .reads
        .iter()
        .map(|(table, version)| format!("{table}@{version}"))
        .collect::<Vec<_>>()
        .join(", ");
    Some(NoticeResponse::from(ErrorInfo::new(
        "NOTICE".into(),
        "00000".into(),
        format!("keel read {read}"),
    )))
}

/// Encodes a running query's batches as PostgreSQL rows.
fn query_response(
    running: Running,
    format: &Format,
    options: Arc<FormatOptions>,
) -> PgWireResult<QueryResponse> {
    let fields = Arc::new(arrow_schema_to_pg_fields(
        &running.schema,
        format,
        Some(options),
    )?);
    let encode_with = fields.clone();
    let rows = running
        .batches
        .map(
            move |batch| -> Box<dyn Iterator<Item = PgWireResult<_>> + Send> {
                match batch {
                    Ok(batch) => encode_recordbatch(encode_with.clone(), batch),
                    Err(e) => Box::new(std::iter::once(Err(user_error(e)))),
                }
            },
        )
        .flat_map(stream::iter);
    Ok(QueryResponse::new(fields, rows))
}

fn user_error(e: QueryError) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        e.code.into(),
        e.message,
    )))
}

fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".into(),
        code.into(),
        message,
    )))
}

/// The handlers of one connection.
struct ConnectionHandlers {
    startup: Arc<Startup>,
    queries: Arc<Queries>,
    cancel: Arc<Canceller>,
}

impl PgWireServerHandlers for ConnectionHandlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.queries.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.queries.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.cancel.clone()
    }
}

/// Refuses a plaintext startup and a connection over the limit, then hands the startup to
/// SCRAM; once SCRAM accepted the login, refuses it when it is over its own limit.
struct Startup {
    sasl: SASLAuthStartupHandler<DefaultServerParameterProvider>,
    connection: Arc<Connection>,
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if matches!(message, PgWireFrontendMessage::Startup(_)) {
            if !client.is_secure() {
                return Err(fatal(
                    "28000",
                    "keel serves SQL over TLS only: connect with sslmode=require (or \
                     verify-full)"
                        .into(),
                ));
            }
            if self.connection.slot.is_none() {
                return Err(fatal(
                    "53300",
                    format!(
                        "too many connections (serve.max_connections = {})",
                        self.connection.config.limits.max_connections
                    ),
                ));
            }
        }
        let connection = &self.connection;
        let admit = |user: &str| -> Result<(), String> {
            let slot = connection
                .login_slots
                .acquire(user)
                .map_err(|full| full.message())?;
            if let Ok(mut held) = connection.login_slot.lock() {
                *held = slot;
            }
            Ok(())
        };
        let mut gate = Gate::new(client, admit);
        self.sasl.on_startup(&mut gate, message).await?;
        match gate.refused() {
            Some(why) => Err(fatal("53300", why)),
            None => Ok(()),
        }
    }
}

/// SCRAM keys of every login, salted once at start. An unknown user gets a key nobody
/// knows, so that it fails as a wrong password does, at the same step.
#[derive(Debug)]
struct ScramKeys {
    keys: HashMap<String, (Vec<u8>, Vec<u8>)>,
}

impl ScramKeys {
    fn new(logins: &[Login]) -> ScramKeys {
        let keys = logins
            .iter()
            .map(|login| {
                let salt = rand::random::<[u8; 16]>().to_vec();
                let salted = gen_salted_password(&login.password, &salt, SCRAM_ITERATIONS);
                (login.name.clone(), (salt, salted))
            })
            .collect();
        ScramKeys { keys }
    }
}

#[async_trait]
impl AuthSource for ScramKeys {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let known = login.user().and_then(|user| self.keys.get(user));
        Ok(match known {
            Some((salt, salted)) => Password::new(Some(salt.clone()), salted.clone()),
            None => Password::new(
                Some(rand::random::<[u8; 16]>().to_vec()),
                rand::random::<[u8; 32]>().to_vec(),
            ),
        })
    }
}

/// Backend keys, so that a cancel request finds its connection.
#[derive(Default)]
struct CancelRegistry {
    connections: Mutex<HashMap<(i32, Bytes), Weak<Connection>>>,
}

impl CancelRegistry {
    fn insert(&self, key: (i32, Bytes), connection: Weak<Connection>) {
        if let Ok(mut map) = self.connections.lock() {
            map.insert(key, connection);
        }
    }

    fn remove(&self, key: &(i32, Bytes)) {
        if let Ok(mut map) = self.connections.lock() {
            map.remove(key);
        }
    }

    fn cancel(&self, key: &(i32, Bytes)) {
        let connection = self
            .connections
            .lock()
            .ok()
            .and_then(|map| map.get(key).and_then(Weak::upgrade));
        let token = connection.and_then(|c| c.current.lock().ok().and_then(|t| t.clone()));
        if let Some(token) = token {
            token.cancel();
        }
    }
}

/// pgwire's backend key generator, recording each key with its connection.
struct RegisteringKeys {
    inner: Arc<RandomPidSecretKeyGenerator>,
    connection: Weak<Connection>,
}

impl PidSecretKeyGenerator for RegisteringKeys {
    fn generate(&self, client: &dyn ClientInfo) -> (i32, SecretKey) {
        let (pid, secret) = self.inner.generate(client);
        if let Some(connection) = self.connection.upgrade() {
            let key = (pid, secret.to_bytes());
            connection
                .cancels
                .insert(key.clone(), self.connection.clone());
            if let Ok(mut k) = connection.key.lock() {
                *k = Some(key);
            }
        }
        (pid, secret)
    }
}

/// Cancel requests: the running statement of the connection with that key stops.
struct Canceller {
    cancels: Arc<CancelRegistry>,
}

#[async_trait]
impl CancelHandler for Canceller {
    async fn on_cancel_request(&self, request: CancelRequest) {
        self.cancels
            .cancel(&(request.pid, request.secret_key.to_bytes()));
    }
}

/// The query handlers of one connection.
struct Queries {
    connection: Arc<Connection>,
    parser: Arc<Parser>,
}

#[async_trait]
impl SimpleQueryHandler for Queries {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let connection = &self.connection;
        let login = connection.login(client)?;
        let statements = connection.service.parse(query).map_err(user_error)?;
        let mut responses = Vec::with_capacity(statements.len());
        for statement in statements {
            let prepared = connection
                .service
                .prepare(statement, &login)
                .await
                .map_err(user_error)?;
            responses.push(
                connection
                    .respond(client, &prepared, None, &Format::UnifiedText)
                    .await?,
            );
        }
        Ok(responses)
    }
}

#[async_trait]
impl ExtendedQueryHandler for Queries {
    type Statement = Arc<Prepared>;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let prepared = portal.statement.statement.clone();
        let params = match &prepared.plan {
            Some(plan) if portal.parameter_len() > 0 => {
                let types = parameter_types(plan)?;
                let refs: Vec<_> = types.iter().map(Option::as_ref).collect();
                Some(deserialize_parameters(portal, &refs)?)
            }
            _ => None,
        };
        self.connection
            .respond(client, &prepared, params, &portal.result_column_format)
            .await
    }
}

/// The Arrow types DataFusion inferred for `$1`, `$2`, ... in order.
fn parameter_types(
    plan: &datafusion::logical_expr::LogicalPlan,
) -> PgWireResult<Vec<Option<arrow::datatypes::DataType>>> {
    let types = plan
        .get_parameter_types()
        .map_err(|e| user_error(e.into()))?;
    let mut ordered: Vec<_> = types.into_iter().collect();
    ordered.sort_by_key(|(id, _)| {
        id.trim_start_matches('$')
            .parse::<u32>()
            .unwrap_or(u32::MAX)
    });
    Ok(ordered.into_iter().map(|(_, t)| t).collect())
}

/// Parses and plans statements of the extended protocol.
struct Parser {
    connection: Arc<Connection>,
}

#[async_trait]
impl QueryParser for Parser {
    type Statement = Arc<Prepared>;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let connection = &self.connection;
        let login = connection.login(client)?;
        let mut statements = connection.service.parse(sql).map_err(user_error)?;
        if statements.len() > 1 {
            return Err(user_error(QueryError::new(
                "42601",
                "cannot insert multiple commands into a prepared statement",
            )));
        }
        let Some(statement) = statements.pop() else {
            return Ok(None);
        };
        let prepared = connection
            .service
            .prepare(statement, &login)
            .await
            .map_err(user_error)?;
        Ok(Some(Arc::new(prepared)))
    }

    fn get_parameter_types(&self, statement: &Self::Statement) -> PgWireResult<Vec<Type>> {
        let Some(plan) = &statement.plan else {
            return Ok(Vec::new());
        };
        parameter_types(plan)?
            .iter()
            .map(|t| match t {
                Some(t) => into_pg_type(t),
                None => Ok(Type::UNKNOWN),
            })
            .collect()
    }

    fn get_result_schema(
        &self,
        statement: &Self::Statement,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let Some(plan) = &statement.plan else {
            return Ok(Vec::new());
        };
        arrow_schema_to_pg_fields(
            plan.schema().as_arrow(),
            format.unwrap_or(&Format::UnifiedText),
            None,
        )
    }
}
