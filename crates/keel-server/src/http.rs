//! The HTTP query endpoint, over TLS only:
//!
//! - `POST /sql` with HTTP Basic credentials of a `[serve]` login and a JSON body
//!   `{"sql": "...", "format": "json" | "csv" | "arrow"}` (or `?format=`) runs one query
//!   through the same allow-list, limits and snapshot as the SQL endpoint. JSON answers
//!   `{"columns": [{"name", "type"}], "rows": [{...}], "row_count": n, "versions": {...}}`;
//!   CSV has a header row; Arrow is an IPC stream whose schema metadata carries
//!   `keel.versions`. Every answer has a `Keel-Versions` header: `zone.table=version, ...`.
//! - `GET /health` answers `ok` without credentials.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use futures::StreamExt;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::config::{Login, ServeConfig};
use crate::query::{QueryError, QueryService};
use crate::slots::LoginSlots;

/// What the handlers share.
struct Endpoint {
    service: Arc<QueryService>,
    config: ServeConfig,
    slots: Semaphore,
    login_slots: LoginSlots,
}

/// The router of the HTTP endpoint.
pub(crate) fn router(service: Arc<QueryService>, config: ServeConfig) -> Router {
    let slots = Semaphore::new(config.limits.max_connections);
    let login_slots = LoginSlots::new(&config.logins);
    let endpoint = Arc::new(Endpoint {
        service,
        config,
        slots,
        login_slots,
    });
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/sql", post(sql))
        .with_state(endpoint)
}

/// The body of `POST /sql`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlRequest {
    sql: String,
    #[serde(default)]
    format: Option<ResultFormat>,
}

/// `?format=` of `POST /sql`.
#[derive(Debug, Deserialize)]
struct FormatParam {
    #[serde(default)]
    format: Option<ResultFormat>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ResultFormat {
    #[default]
    Json,
    Csv,
    Arrow,
}

async fn sql(
    State(endpoint): State<Arc<Endpoint>>,
    Query(param): Query<FormatParam>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(login) = authenticate(&endpoint.config, &headers) else {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"keel\"")],
            "credentials of a keel serve login are required\n",
        )
            .into_response();
    };
    let request: SqlRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return error(QueryError::new(
                "22P02",
                format!(
                    "the body must be {{\"sql\": \"...\", \"format\": \"json|csv|arrow\"}}: {e}"
                ),
            ));
        }
    };
    let Ok(_slot) = endpoint.slots.try_acquire() else {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            "too many queries at once (serve.max_connections)\n",
        )
            .into_response();
    };
    let _login_slot = match endpoint.login_slots.acquire(&login.name) {
        Ok(slot) => slot,
        Err(full) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                format!("{}\n", full.message()),
            )
                .into_response();
        }
    };
    let format = request.format.or(param.format).unwrap_or_default();
    match run(&endpoint, &login, &request.sql).await {
        Ok((schema, batches, reads)) => encode(format, &schema, &batches, &reads),
        Err(e) => error(e),
    }
}

/// Runs one statement to its batches. Dropping the future (the client went away) stops it.
async fn run(
    endpoint: &Endpoint,
    login: &Login,
    sql: &str,
) -> Result<(Arc<Schema>, Vec<RecordBatch>, BTreeMap<String, i64>), QueryError> {
    let service = &endpoint.service;
    let mut statements = service.parse(sql)?;
    let statement = match (statements.pop(), statements.is_empty()) {
        (Some(statement), true) => statement,
        (None, _) => return Err(QueryError::new("42601", "no statement")),
        (Some(_), false) => {
            return Err(QueryError::new("42601", "one statement per request"));
        }
    };
    let prepared = service.prepare(statement, login).await?;
    if prepared.plan.is_none() {
        return Err(QueryError::new(
            "42501",
            "the HTTP endpoint runs queries only (no SET or transaction statements)",
        ));
    }
    let timeout = service.limits().statement_timeout;
    let mut running = service
        .run(&prepared, login, None, timeout, CancellationToken::new())
        .await?;
    let mut batches = Vec::new();
    while let Some(batch) = running.batches.next().await {
        batches.push(batch?);
    }
    Ok((running.schema, batches, running.reads))
}

/// The login whose Basic credentials `headers` carry.
fn authenticate(config: &ServeConfig, headers: &HeaderMap) -> Option<Login> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    let login = config.login(user)?;
    constant_time_eq(login.password.as_bytes(), password.as_bytes()).then(|| login.clone())
}

/// Compares two secrets in time that depends on their lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn versions_header(reads: &BTreeMap<String, i64>) -> HeaderValue {
    let text = reads
        .iter()
        .map(|(table, version)| format!("{table}={version}"))
        .collect::<Vec<_>>()
        .join(", ");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn encode(
    format: ResultFormat,
    schema: &Arc<Schema>,
    batches: &[RecordBatch],
    reads: &BTreeMap<String, i64>,
) -> Response {
    let encoded = match format {
        ResultFormat::Json => json_body(schema, batches, reads).map(|b| (b, "application/json")),
        ResultFormat::Csv => csv_body(batches).map(|b| (b, "text/csv")),
        ResultFormat::Arrow => {
            arrow_body(schema, batches, reads).map(|b| (b, "application/vnd.apache.arrow.stream"))
        }
    };
    match encoded {
        Ok((body, content_type)) => {
            let mut response = (StatusCode::OK, body).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            headers.insert("keel-versions", versions_header(reads));
            response
        }
        Err(e) => error(QueryError::new("XX000", e.to_string())),
    }
}

fn json_body(
    schema: &Schema,
    batches: &[RecordBatch],
    reads: &BTreeMap<String, i64>,
) -> Result<Vec<u8>, arrow::error::ArrowError> {
    let mut rows = arrow::json::ArrayWriter::new(Vec::new());
    for batch in batches {
        rows.write(batch)?;
    }
    rows.finish()?;
    let mut rows = rows.into_inner();
    if rows.is_empty() {
        rows = b"[]".to_vec();
    }
    let columns: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| serde_json::json!({"name": f.name(), "type": f.data_type().to_string()}))
        .collect();
    let row_count: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let mut body = Vec::with_capacity(rows.len() + 256);
    body.extend_from_slice(b"{\"columns\":");
    body.extend(serde_json::to_vec(&columns).unwrap_or_default());
    body.extend_from_slice(b",\"rows\":");
    body.extend(rows);
    body.extend(format!(",\"row_count\":{row_count},\"versions\":").into_bytes());
    body.extend(serde_json::to_vec(reads).unwrap_or_default());
    body.extend_from_slice(b"}");
    Ok(body)
}

fn csv_body(batches: &[RecordBatch]) -> Result<Vec<u8>, arrow::error::ArrowError> {
    let mut writer = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(Vec::new());
    for batch in batches {
        writer.write(batch)?;
    }
    Ok(writer.into_inner())
}

fn arrow_body(
    schema: &Arc<Schema>,
    batches: &[RecordBatch],
    reads: &BTreeMap<String, i64>,
) -> Result<Vec<u8>, arrow::error::ArrowError> {
    let mut metadata = schema.metadata().clone();
    metadata.insert(
        "keel.versions".into(),
        serde_json::to_string(reads).unwrap_or_default(),
    );
    let schema = Arc::new(Schema::new_with_metadata(schema.fields().clone(), metadata));
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(Vec::new(), &schema)?;
    for batch in batches {
        writer.write(&batch.clone().with_schema(schema.clone())?)?;
    }
    writer.finish()?;
    writer.into_inner()
}

fn error(e: QueryError) -> Response {
    let status = match e.code {
        "42501" => StatusCode::FORBIDDEN,
        "57014" => StatusCode::REQUEST_TIMEOUT,
        "54000" => StatusCode::PAYLOAD_TOO_LARGE,
        "53200" | "53100" => StatusCode::SERVICE_UNAVAILABLE,
        code if code.starts_with("XX") => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let body = serde_json::json!({"error": e.message, "code": e.code});
    (status, axum::Json(body)).into_response()
}

/// TLS connections accepted on a TCP listener, handshakes done off the accept loop.
pub(crate) struct TlsListener {
    incoming: mpsc::Receiver<(TlsStream<tokio::net::TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    pub(crate) fn new(
        listener: TcpListener,
        acceptor: TlsAcceptor,
        stop: CancellationToken,
    ) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (tx, incoming) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    () = stop.cancelled() => break,
                };
                let Ok((tcp, peer)) = accepted else { continue };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let handshake = tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        acceptor.accept(tcp),
                    );
                    if let Ok(Ok(tls)) = handshake.await {
                        let _ = tx.send((tls, peer)).await;
                    }
                });
            }
        });
        Ok(TlsListener { incoming, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.incoming.recv().await {
            Some(accepted) => accepted,
            // The accept loop stopped: wait for the server's shutdown.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
