//! `keel serve`: the SQL and HTTP endpoints until SIGINT or SIGTERM.

use keel_core::Project;
use keel_server::{Overrides, ServeConfig, Server};

use crate::cli::ServeArgs;

/// Starts both endpoints, prints where they listen and serves until stopped.
///
/// # Errors
/// When the configuration is incomplete (no certificate, no password), a port is taken or
/// the lake cannot be read.
pub async fn serve(project: Project, args: &ServeArgs) -> anyhow::Result<u8> {
    let overrides = Overrides {
        host: args.host.clone(),
        pg_port: args.pg_port,
        http_port: args.http_port,
        tls_cert: args.tls_cert.clone(),
        tls_key: args.tls_key.clone(),
    };
    let config = ServeConfig::resolve(&project, &overrides)?;
    let logins = config
        .logins
        .iter()
        .map(|l| format!("{} ({})", l.name, l.zones.join(", ")))
        .collect::<Vec<_>>()
        .join("; ");
    let limits = config.limits.clone();
    let server = Server::start(project, config).await?;
    println!("pg: {}", server.pg_addr);
    println!("http: https://{}", server.http_addr);
    println!(
        "TLS only, SCRAM-SHA-256; logins: {logins}; statement timeout {}, row limit {}, \
         {} connections, {} MiB memory",
        humantime_secs(limits.statement_timeout),
        limits.row_limit,
        limits.max_connections,
        limits.memory_bytes >> 20
    );
    wait_for_stop().await;
    server.shutdown().await;
    Ok(0)
}

fn humantime_secs(d: std::time::Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

/// Waits for SIGINT or SIGTERM.
async fn wait_for_stop() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = async {
            match term.as_mut() {
                Some(term) => { term.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}
