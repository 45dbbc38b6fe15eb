//! What `keel serve` runs with: `[serve]` of `keel.toml` with the command line's overrides,
//! the logins' passwords read from the environment, and the TLS certificate loaded. Every
//! problem is found here, before a port is opened: a server that cannot authenticate or
//! encrypt does not start.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use keel_core::Project;
use keel_core::secrets::Env;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::ServeError;

/// Overrides of `[serve]` from the command line.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Address to listen on.
    pub host: Option<String>,
    /// PostgreSQL wire port (0: any free port).
    pub pg_port: Option<u16>,
    /// HTTP port (0: any free port).
    pub http_port: Option<u16>,
    /// PEM certificate chain.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key.
    pub tls_key: Option<PathBuf>,
}

/// One login: its name, password and the zones it reads.
#[derive(Clone)]
pub struct Login {
    /// The login's name.
    pub name: String,
    /// Its password (never logged, never shown by `Debug`).
    pub(crate) password: String,
    /// Zones it reads.
    pub zones: Vec<String>,
    /// Most connections (and HTTP queries) it may hold at once.
    pub connection_limit: Option<usize>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("name", &self.name)
            .field("zones", &self.zones)
            .field("connection_limit", &self.connection_limit)
            .finish_non_exhaustive()
    }
}

/// What every query runs under.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest a statement runs.
    pub statement_timeout: Duration,
    /// Most rows a result may have.
    pub row_limit: usize,
    /// Most SQL connections (and HTTP queries) at once.
    pub max_connections: usize,
    /// Memory all queries share, in bytes.
    pub memory_bytes: usize,
    /// Disk all queries may spill to, in bytes.
    pub spill_bytes: u64,
    /// How old a snapshot of the lake may be when a query comes.
    pub refresh: Duration,
    /// Rows per record batch.
    pub batch_size: usize,
}

/// The resolved configuration of `keel serve`.
#[derive(Clone)]
pub struct ServeConfig {
    /// Address both endpoints listen on.
    pub host: String,
    /// PostgreSQL wire port.
    pub pg_port: u16,
    /// HTTP port.
    pub http_port: u16,
    /// Logins, the default one first.
    pub logins: Vec<Login>,
    /// Query limits.
    pub limits: Limits,
    /// The TLS configuration both endpoints use.
    pub(crate) tls: Arc<rustls::ServerConfig>,
    /// The certificate chain as PEM, for SCRAM channel binding.
    pub(crate) cert_pem: Arc<Vec<u8>>,
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("host", &self.host)
            .field("pg_port", &self.pg_port)
            .field("http_port", &self.http_port)
            .field("logins", &self.logins)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl ServeConfig {
    /// The configuration of `project` with `overrides` applied.
    ///
    /// # Errors
    /// When no certificate is given or it does not load, when a login's password variable
    /// is not set, or when a duration does not parse.
    pub fn resolve(project: &Project, overrides: &Overrides) -> Result<ServeConfig, ServeError> {
        let spec = &project.spec.serve;
        let relative = |p: &str| project.dir.join(p);
        let cert = overrides
            .tls_cert
            .clone()
            .or_else(|| spec.tls_cert.as_deref().map(relative));
        let key = overrides
            .tls_key
            .clone()
            .or_else(|| spec.tls_key.as_deref().map(relative));
        let (Some(cert), Some(key)) = (cert, key) else {
            return Err(ServeError::Config(
                "keel serves SQL and HTTP over TLS only and no certificate is given: set \
                 `serve.tls_cert` and `serve.tls_key` in keel.toml or pass --tls-cert and \
                 --tls-key (for a local trial: openssl req -x509 -newkey rsa:2048 -nodes \
                 -days 365 -subj /CN=localhost -keyout key.pem -out cert.pem)"
                    .into(),
            ));
        };
        let (tls, cert_pem) = load_tls(&cert, &key)?;
        let env = Env::load(&project.dir).map_err(|e| ServeError::Config(e.to_string()))?;
        let logins = spec
            .logins()
            .into_iter()
            .map(|login| {
                let password = env.get(&login.password_env).unwrap_or_default();
                if password.is_empty() {
                    return Err(ServeError::Config(format!(
                        "the password of login `{}` is read from the variable {} (environment \
                         or the project's .env), which is not set",
                        login.name, login.password_env
                    )));
                }
                Ok(Login {
                    name: login.name,
                    password,
                    zones: login.zones,
                    connection_limit: login.connection_limit,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let duration = |key: &str, text: &str| {
            keel_core::schedule::parse_duration(text)
                .map_err(|m| ServeError::Config(format!("serve.{key}: {m}")))
        };
        let limits = Limits {
            statement_timeout: duration("statement_timeout", &spec.statement_timeout)?,
            row_limit: spec.row_limit,
            max_connections: spec.max_connections,
            memory_bytes: usize::try_from(spec.memory_mib.saturating_mul(1 << 20))
                .unwrap_or(usize::MAX),
            spill_bytes: spec.spill_mib.saturating_mul(1 << 20),
            refresh: duration("refresh", &spec.refresh)?,
            batch_size: project.spec.engine.batch_size,
        };
        Ok(ServeConfig {
            host: overrides.host.clone().unwrap_or_else(|| spec.host.clone()),
            pg_port: overrides.pg_port.unwrap_or(spec.pg_port),
            http_port: overrides.http_port.unwrap_or(spec.http_port),
            logins,
            limits,
            tls,
            cert_pem,
        })
    }

    /// The login of this name.
    pub fn login(&self, name: &str) -> Option<&Login> {
        self.logins.iter().find(|l| l.name == name)
    }
}

/// The rustls configuration for `cert` and `key`, and the certificate chain's PEM.
fn load_tls(
    cert: &Path,
    key: &Path,
) -> Result<(Arc<rustls::ServerConfig>, Arc<Vec<u8>>), ServeError> {
    let bad =
        |path: &Path, what: String| ServeError::Config(format!("TLS {}: {what}", path.display()));
    let cert_pem = std::fs::read(cert).map_err(|e| bad(cert, e.to_string()))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(cert, format!("not a PEM certificate chain ({e})")))?;
    if chain.is_empty() {
        return Err(bad(cert, "holds no certificate".into()));
    }
    let key_der =
        PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, format!("no private key ({e})")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| {
            bad(
                cert,
                format!("certificate and key do not make a TLS identity ({e})"),
            )
        })?;
    Ok((Arc::new(config), Arc::new(cert_pem)))
}
