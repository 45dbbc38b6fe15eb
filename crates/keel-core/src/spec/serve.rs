//! `[serve]` in `keel.toml`: the SQL (PostgreSQL wire) and HTTP query endpoints of
//! `keel serve`, who may log in, what each login may read, and the limits every query runs
//! under.

use serde::Deserialize;

/// The zones a login reads when its `zones` are not given: the exploitation zone, the rows
/// its checks failed and the catalog.
pub const DEFAULT_SERVE_ZONES: &[&str] = &["exploitation", "checks", "keel_catalog"];

/// Every zone of a session (`keel_engine::ZONES`), hence every zone a login may be given.
pub const SERVE_ZONES: &[&str] = &[
    "formatted",
    "quarantine",
    "flags",
    "valid",
    "exploitation",
    "checks",
    "keel_catalog",
];

/// `[serve]`: endpoints, logins and limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeSpec {
    /// Address both endpoints listen on.
    #[serde(default = "default_host")]
    pub host: String,
    /// PostgreSQL wire protocol port.
    #[serde(default = "default_pg_port")]
    pub pg_port: u16,
    /// HTTP query endpoint port.
    #[serde(default = "default_http_port")]
    pub http_port: u16,
    /// PEM certificate chain both endpoints present (relative to the project directory).
    /// Required: keel serves over TLS only.
    #[serde(default)]
    pub tls_cert: Option<String>,
    /// PEM private key of `tls_cert`.
    #[serde(default)]
    pub tls_key: Option<String>,
    /// The default login's name.
    #[serde(default = "default_user")]
    pub user: String,
    /// Environment variable (or `.env` entry) holding the default login's password.
    #[serde(default = "default_password_env")]
    pub password_env: String,
    /// Zones the default login reads (`exploitation`, `checks`, `keel_catalog`,
    /// `formatted`, `quarantine`, `flags`, `valid`).
    #[serde(default = "default_zones")]
    pub zones: Vec<String>,
    /// Most connections (and HTTP queries) the default login may hold at once, within
    /// `max_connections` (PostgreSQL's role `CONNECTION LIMIT`); none when absent.
    #[serde(default)]
    pub connection_limit: Option<usize>,
    /// More logins, each with its own password variable and zones.
    #[serde(default)]
    pub users: Vec<ServeUserSpec>,
    /// Longest a statement runs before it is cancelled (a client may lower it with
    /// `SET statement_timeout`, never raise it).
    #[serde(default = "default_statement_timeout")]
    pub statement_timeout: String,
    /// Most rows one query may return; a larger result is an error, never a silent cut.
    #[serde(default = "default_row_limit")]
    pub row_limit: usize,
    /// Most SQL connections (and HTTP queries) at once.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Memory all running queries share before they spill or fail, in MiB.
    #[serde(default = "default_memory_mib")]
    pub memory_mib: u64,
    /// Disk all running queries may spill to, in MiB.
    #[serde(default = "default_spill_mib")]
    pub spill_mib: u64,
    /// How old the tables' versions a query reads may be: the lake is re-read when a
    /// query comes and its last reading is older than this.
    #[serde(default = "default_refresh")]
    pub refresh: String,
}

/// `[[serve.users]]`: one more login.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeUserSpec {
    /// The login's name.
    pub name: String,
    /// Environment variable (or `.env` entry) holding its password.
    pub password_env: String,
    /// Zones it reads.
    #[serde(default = "default_zones")]
    pub zones: Vec<String>,
    /// Most connections (and HTTP queries) it may hold at once, within `max_connections`;
    /// none when absent.
    #[serde(default)]
    pub connection_limit: Option<usize>,
}

impl Default for ServeSpec {
    fn default() -> Self {
        ServeSpec {
            host: default_host(),
            pg_port: default_pg_port(),
            http_port: default_http_port(),
            tls_cert: None,
            tls_key: None,
            user: default_user(),
            password_env: default_password_env(),
            zones: default_zones(),
            connection_limit: None,
            users: Vec::new(),
            statement_timeout: default_statement_timeout(),
            row_limit: default_row_limit(),
            max_connections: default_max_connections(),
            memory_mib: default_memory_mib(),
            spill_mib: default_spill_mib(),
            refresh: default_refresh(),
        }
    }
}

fn default_host() -> String {
    "127.0.0.1".into()
}

fn default_pg_port() -> u16 {
    5433
}

fn default_http_port() -> u16 {
    8433
}

fn default_user() -> String {
    "keel".into()
}

fn default_password_env() -> String {
    "KEEL_SQL_PASSWORD".into()
}

fn default_zones() -> Vec<String> {
    DEFAULT_SERVE_ZONES.iter().map(|z| z.to_string()).collect()
}

fn default_statement_timeout() -> String {
    "60s".into()
}

fn default_row_limit() -> usize {
    1_000_000
}

fn default_max_connections() -> usize {
    64
}

fn default_memory_mib() -> u64 {
    2048
}

fn default_spill_mib() -> u64 {
    10_240
}

fn default_refresh() -> String {
    "5s".into()
}

impl ServeSpec {
    /// Every login: the default one first, then `[[serve.users]]`.
    pub fn logins(&self) -> Vec<ServeUserSpec> {
        let mut logins = vec![ServeUserSpec {
            name: self.user.clone(),
            password_env: self.password_env.clone(),
            zones: self.zones.clone(),
            connection_limit: self.connection_limit,
        }];
        logins.extend(self.users.iter().cloned());
        logins
    }

    /// What is wrong with these settings, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (key, value) in [
            ("statement_timeout", &self.statement_timeout),
            ("refresh", &self.refresh),
        ] {
            if let Err(m) = crate::schedule::parse_duration(value) {
                problems.push(format!("key `serve.{key}`: {m}"));
            }
        }
        for (key, value) in [
            ("row_limit", self.row_limit as u64),
            ("max_connections", self.max_connections as u64),
            ("memory_mib", self.memory_mib),
        ] {
            if value == 0 {
                problems.push(format!("key `serve.{key}`: must be at least 1"));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for login in self.logins() {
            if !seen.insert(login.name.clone()) {
                problems.push(format!(
                    "key `serve.users`: `{}` is declared twice",
                    login.name
                ));
            }
            if login.connection_limit == Some(0) {
                problems.push(format!(
                    "key `serve.connection_limit` of `{}`: must be at least 1",
                    login.name
                ));
            }
            for zone in &login.zones {
                if !SERVE_ZONES.contains(&zone.as_str()) {
                    problems.push(format!(
                        "key `serve.zones` of `{}`: unknown zone `{zone}` (known: {})",
                        login.name,
                        SERVE_ZONES.join(", ")
                    ));
                }
            }
        }
        problems
    }
}
