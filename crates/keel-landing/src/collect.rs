//! Collectors: one module per kind of source. Each writes what it takes into temporal
//! batches and never parses content. The state a collector advances (an HTTP watermark, a
//! SQL cursor, the keys of landed messages) travels inside the batch and is committed to the
//! catalog in the same transaction as the objects, so that a crash never advances a cursor
//! past data that did not land.

pub mod files;
pub mod http;
pub mod mqtt;
pub mod nats;
pub mod net;
pub mod sql;

use std::path::Path;

use keel_catalog::Catalog;
use keel_core::secrets::{Env, Secrets};
use keel_core::spec::CollectorSpec;
use keel_core::{Lake, Project};

use crate::{LandingError, Result};

/// What a collector did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectReport {
    /// Files (or messages, responses, rows) seen at the source.
    pub seen: u64,
    /// Taken into temporal landing (files, responses, row batches, message batches).
    pub taken: u64,
    /// Bytes taken.
    pub bytes: u64,
    /// Seen but not complete yet (still being written, no done-marker), left for later.
    pub incomplete: u64,
    /// Records (rows, messages) taken, where the collector counts them.
    pub records: u64,
    /// Records seen again and skipped (a redelivered message).
    pub redelivered: u64,
}

/// What every collector gets.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// The source's name.
    pub source: &'a str,
    /// The project directory (relative paths in a source resolve against it).
    pub project_dir: &'a Path,
    /// The lake.
    pub lake: &'a Lake,
    /// The catalog.
    pub catalog: &'a Catalog,
    /// The current run.
    pub run_id: &'a str,
    /// Where `${ENV}` references are looked up.
    pub env: &'a Env,
}

impl Ctx<'_> {
    /// The source's temporal folder.
    pub fn temporal(&self) -> std::path::PathBuf {
        self.lake.temporal(self.source)
    }

    /// Expands `${ENV}` in `template`, remembering the values in `secrets`.
    ///
    /// # Errors
    /// When a variable is not set (the message names it, never a value).
    pub fn expand(&self, secrets: &mut Secrets, key: &str, template: &str) -> Result<String> {
        secrets
            .expand(template, self.env)
            .map_err(|m| self.config(format!("key `collector.{key}`: {m}")))
    }

    /// A configuration error of this source.
    pub fn config(&self, message: String) -> LandingError {
        LandingError::Config {
            source_name: self.source.to_string(),
            message,
        }
    }

    /// The source could not be read; `message` is redacted with `secrets` first.
    pub fn failed(&self, secrets: &Secrets, message: impl std::fmt::Display) -> LandingError {
        LandingError::Source {
            source_name: self.source.to_string(),
            message: secrets.redact(&message.to_string()),
        }
    }

    /// The committed-or-pending value of the source state `key`.
    ///
    /// # Errors
    /// When the catalog or a pending batch cannot be read.
    pub fn state(&self, key: &str) -> Result<Option<serde_json::Value>> {
        let committed = self.catalog.source_state(self.source, key)?;
        crate::temporal::effective_state(&self.temporal(), key, committed)
    }
}

/// Runs the collector of `source` once.
///
/// # Errors
/// When the source is misdeclared or cannot be read; messages never hold secret values.
pub async fn collect_source(
    project: &Project,
    source: &keel_core::project::Source,
    catalog: &Catalog,
    run_id: &str,
    env: &Env,
) -> Result<CollectReport> {
    let ctx = Ctx {
        source: &source.name,
        project_dir: &project.dir,
        lake: &project.lake,
        catalog,
        run_id,
        env,
    };
    match &source.spec.collector {
        CollectorSpec::Files {
            path,
            glob,
            stable_for,
            done_suffix,
            url,
            endpoint,
            region,
            access_key_id,
            secret_access_key,
            allow_http,
        } => {
            let complete = files::Completeness {
                stable_for: match stable_for {
                    Some(d) => keel_core::schedule::parse_duration(d)
                        .map_err(|m| ctx.config(format!("key `collector.stable_for`: {m}")))?,
                    None => std::time::Duration::ZERO,
                },
                done_suffix: done_suffix.clone(),
            };
            match url {
                Some(url) => {
                    let bucket = files::s3::Bucket {
                        url: url.clone(),
                        endpoint: endpoint.clone(),
                        region: region.clone(),
                        access_key_id: access_key_id.clone(),
                        secret_access_key: secret_access_key.clone(),
                        allow_http: *allow_http,
                    };
                    files::s3::collect(&ctx, &bucket, glob, &complete).await
                }
                None => files::collect(
                    &source.name,
                    &project.resolve(path),
                    glob,
                    &complete,
                    &ctx.temporal(),
                    catalog,
                ),
            }
        }
        CollectorSpec::Http(spec) => http::collect(&ctx, spec).await,
        CollectorSpec::Sql(spec) => sql::collect(&ctx, spec).await,
        CollectorSpec::Mqtt(spec) => mqtt::collect(&ctx, spec).await,
        CollectorSpec::Nats(spec) => nats::collect(&ctx, spec).await,
    }
}
