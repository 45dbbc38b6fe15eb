//! `keel serve`: the lake's tables served to people and tools, read-only.
//!
//! - a PostgreSQL wire endpoint ([`pg`]): psql, DBeaver, BI tools and Python drivers connect
//!   as to PostgreSQL, over TLS, with SCRAM-SHA-256;
//! - an HTTP query endpoint ([`http`]) answering JSON, CSV or Arrow IPC.
//!
//! Both go through one [`QueryService`]: deny-by-default SQL ([`policy`]), a login sees its
//! zones only, each statement runs in its own DataFusion context under a timeout, a row
//! limit and a memory pool with a spill cap shared by all queries, and every answer names
//! the Delta version of each table it read. Configuration: `[serve]` in `keel.toml`.

mod config;
mod http;
mod pg;
pub mod policy;
mod query;
mod slots;

use std::net::SocketAddr;
use std::sync::Arc;

pub use config::{Limits, Login, Overrides, ServeConfig};
use keel_core::Project;
pub use query::{QueryError, QueryService, Running};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Why `keel serve` could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is incomplete or wrong (certificate, password, durations).
    #[error("{0}")]
    Config(String),
    /// A port could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The lake could not be read.
    #[error("cannot read the lake: {0}")]
    Lake(#[from] QueryError),
}

/// A started server: its addresses, until [`Server::shutdown`].
#[derive(Debug)]
pub struct Server {
    /// Where the PostgreSQL wire endpoint listens.
    pub pg_addr: SocketAddr,
    /// Where the HTTP endpoint listens.
    pub http_addr: SocketAddr,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Server {
    /// Reads the lake, opens both ports and serves in the background.
    ///
    /// # Errors
    /// When the lake cannot be read or a port not opened.
    pub async fn start(project: Project, config: ServeConfig) -> Result<Server, ServeError> {
        let service = Arc::new(QueryService::new(project, config.limits.clone()).await?);
        let stop = CancellationToken::new();
        let listen = |port: u16| {
            let addr = format!("{}:{port}", config.host);
            async move {
                TcpListener::bind(&addr)
                    .await
                    .map_err(|source| ServeError::Listen { addr, source })
            }
        };
        let pg_listener = listen(config.pg_port).await?;
        let http_listener = listen(config.http_port).await?;
        let pg_addr = local(&pg_listener)?;
        let http_addr = local(&http_listener)?;

        let mut pg_tls = (*config.tls).clone();
        pg_tls.alpn_protocols = vec![b"postgresql".to_vec()];
        let pg_tls = tokio_rustls::TlsAcceptor::from(Arc::new(pg_tls));
        let endpoint = Arc::new(pg::PgEndpoint::new(service.clone(), config.clone()));
        let pg_stop = stop.clone();
        let pg_task = tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = pg_listener.accept() => accepted,
                    () = pg_stop.cancelled() => break,
                };
                match accepted {
                    Ok((tcp, _)) => {
                        let endpoint = endpoint.clone();
                        let tls = pg_tls.clone();
                        tokio::spawn(async move {
                            if let Err(e) = endpoint.serve(tcp, tls).await {
                                tracing::debug!("SQL connection ended: {e}");
                            }
                        });
                    }
                    Err(e) => tracing::warn!("SQL endpoint: accept failed: {e}"),
                }
            }
        });

        let mut http_tls = (*config.tls).clone();
        http_tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let http_tls = tokio_rustls::TlsAcceptor::from(Arc::new(http_tls));
        let listener =
            http::TlsListener::new(http_listener, http_tls, stop.clone()).map_err(|source| {
                ServeError::Listen {
                    addr: http_addr.to_string(),
                    source,
                }
            })?;
        let app = http::router(service, config);
        let http_stop = stop.clone();
        let http_task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { http_stop.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::warn!("HTTP endpoint stopped: {e}");
            }
        });
        Ok(Server {
            pg_addr,
            http_addr,
            stop,
            tasks: vec![pg_task, http_task],
        })
    }

    /// Stops accepting and waits for the listeners to close.
    pub async fn shutdown(self) {
        self.stop.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

fn local(listener: &TcpListener) -> Result<SocketAddr, ServeError> {
    listener.local_addr().map_err(|source| ServeError::Listen {
        addr: "?".into(),
        source,
    })
}
