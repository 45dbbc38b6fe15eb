//! The `files` collector on an S3-compatible object store: objects under `s3://bucket/prefix`
//! whose keys, relative to the prefix, match the glob, streamed chunk by chunk into a
//! temporal batch.
//!
//! Objects are immutable once written, so where a local file must stay unchanged while it
//! is copied, an object must still be the version that was listed: the download asks for
//! the listed ETag (`If-Match`) and checks the ETag and size the server answers with. The
//! collector state records an object's last modification as its `mtime_ns`, which S3 keeps
//! to the second.

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use keel_core::secrets::Secrets;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as StorePath;
use object_store::{GetOptions, ObjectMeta, ObjectStore};
use serde_json::json;

use super::{Completeness, matcher};
use crate::Result;
use crate::collect::{CollectReport, Ctx};
use crate::temporal::{BatchWriter, pending_batches};

/// The region used when a source names none.
pub const DEFAULT_REGION: &str = "us-east-1";

/// An S3-compatible prefix as a source declares it. Strings may hold `${ENV}` references,
/// expanded when the collector runs; their values never reach the manifest, errors or logs.
#[derive(Debug, Clone, Default)]
pub struct Bucket {
    /// `s3://bucket/prefix`.
    pub url: String,
    /// The endpoint of an S3-compatible server (default: AWS S3).
    pub endpoint: Option<String>,
    /// The region (default [`DEFAULT_REGION`]).
    pub region: Option<String>,
    /// Access key id; with neither key, requests are unsigned (a public bucket).
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
    /// Whether an `http://` endpoint is allowed.
    pub allow_http: bool,
}

/// Where a source's objects are: a bucket and a key prefix (no leading or trailing `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Location {
    bucket: String,
    prefix: Option<StorePath>,
}

impl Location {
    /// Parses `s3://bucket[/prefix]`.
    fn parse(url: &str) -> std::result::Result<Location, String> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| "must start with `s3://`".to_string())?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err("names no bucket (`s3://bucket/prefix`)".into());
        }
        let prefix = prefix.trim_matches('/');
        let prefix = if prefix.is_empty() {
            None
        } else {
            Some(StorePath::parse(prefix).map_err(|e| format!("prefix: {e}"))?)
        };
        Ok(Location {
            bucket: bucket.to_string(),
            prefix,
        })
    }

    /// `key` relative to the prefix, when it is under it.
    fn relative<'k>(&self, key: &'k str) -> Option<&'k str> {
        match &self.prefix {
            None => Some(key),
            Some(p) => key.strip_prefix(p.as_ref())?.strip_prefix('/'),
        }
    }

    /// `s3://bucket/key`.
    fn url_of(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

/// An object chosen for download.
struct Candidate {
    meta: ObjectMeta,
    relative: String,
    mtime_ns: i64,
}

/// Takes new or changed objects of the source in `ctx` under `bucket` into a new temporal
/// batch.
///
/// An object is new when the catalog's collector state (or a pending temporal batch) has no
/// record of its key with the same size and last modification. Objects are taken in key
/// order. When a download fails, the objects taken before it are sealed into the batch,
/// then the error is returned.
///
/// # Errors
/// When the declaration is unusable, the store cannot be listed or an object cannot be
/// read; messages never hold the values of `${ENV}` references.
pub async fn collect(
    ctx: &Ctx<'_>,
    bucket: &Bucket,
    glob: &str,
    complete: &Completeness,
) -> Result<CollectReport> {
    let matcher = matcher(ctx.source, glob)?;
    let mut secrets = Secrets::new();
    let (store, location) = connect(ctx, &mut secrets, bucket)?;
    let state = ctx.catalog.collector_state(ctx.source)?;
    let pending: HashSet<(String, u64, i64)> = pending_batches(&ctx.temporal())?
        .into_iter()
        .flat_map(|b| b.entries)
        .map(|e| (e.original_path, e.bytes, e.mtime_ns))
        .collect();

    let mut listing = Vec::new();
    let mut objects = store.list(location.prefix.as_ref());
    while let Some(meta) = objects.next().await {
        listing.push(meta.map_err(|e| {
            let hint = match e {
                object_store::Error::InvalidPath { .. } => {
                    "; keys with `.`, `..` or empty segments cannot be read: rename the object"
                }
                _ => "",
            };
            let prefix = location.prefix.as_ref().map_or("", |p| p.as_ref());
            ctx.failed(
                &secrets,
                format!("listing `{}`: {e}{hint}", location.url_of(prefix)),
            )
        })?);
    }
    listing.sort_by(|a, b| a.location.cmp(&b.location));
    let keys: HashSet<&str> = listing.iter().map(|m| m.location.as_ref()).collect();

    let now = chrono::Utc::now();
    let mut report = CollectReport::default();
    let mut candidates = Vec::new();
    for meta in &listing {
        let key = meta.location.as_ref();
        let Some(rel) = location.relative(key) else {
            continue;
        };
        if !matcher.is_match(rel) {
            continue;
        }
        if let Some(suffix) = &complete.done_suffix
            && rel.ends_with(suffix.as_str())
        {
            continue;
        }
        report.seen += 1;
        if let Some(suffix) = &complete.done_suffix
            && !keys.contains(format!("{key}{suffix}").as_str())
        {
            report.incomplete += 1;
            continue;
        }
        // A last modification in the future (clock skew) counts as just now.
        let age = (now - meta.last_modified)
            .to_std()
            .unwrap_or(Duration::ZERO);
        if age < complete.stable_for {
            report.incomplete += 1;
            continue;
        }
        let mtime_ns = meta.last_modified.timestamp_nanos_opt().unwrap_or(0);
        let known = state
            .get(rel)
            .is_some_and(|s| s.bytes == meta.size as i64 && s.mtime_ns == mtime_ns);
        if known || pending.contains(&(rel.to_string(), meta.size, mtime_ns)) {
            continue;
        }
        candidates.push(Candidate {
            meta: meta.clone(),
            relative: rel.to_string(),
            mtime_ns,
        });
    }
    drop(keys);
    drop(listing);
    if candidates.is_empty() {
        return Ok(report);
    }

    let mut batch = BatchWriter::create(&ctx.temporal())?;
    let mut failure = None;
    for candidate in &candidates {
        match download(ctx, &secrets, &*store, &location, &mut batch, candidate).await {
            Ok(Some(bytes)) => {
                report.taken += 1;
                report.bytes += bytes;
            }
            // Replaced or removed since it was listed: its new version is for a later run.
            Ok(None) => report.incomplete += 1,
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    batch.seal(&serde_json::Map::new())?;
    match failure {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// A client for `bucket`, with its `${ENV}` references expanded into `secrets`.
fn connect(
    ctx: &Ctx<'_>,
    secrets: &mut Secrets,
    bucket: &Bucket,
) -> Result<(Box<dyn ObjectStore>, Location)> {
    let url = ctx.expand(secrets, "url", &bucket.url)?;
    let location = Location::parse(&url)
        .map_err(|m| ctx.config(secrets.redact(&format!("key `collector.url`: {m}"))))?;
    let region = match &bucket.region {
        Some(r) => ctx.expand(secrets, "region", r)?,
        None => DEFAULT_REGION.to_string(),
    };
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&location.bucket)
        .with_region(region)
        .with_allow_http(bucket.allow_http)
        .with_virtual_hosted_style_request(false);
    if let Some(endpoint) = &bucket.endpoint {
        builder = builder.with_endpoint(ctx.expand(secrets, "endpoint", endpoint)?);
    }
    builder = match (&bucket.access_key_id, &bucket.secret_access_key) {
        (Some(id), Some(secret)) => builder
            .with_access_key_id(ctx.expand(secrets, "access_key_id", id)?)
            .with_secret_access_key(ctx.expand(secrets, "secret_access_key", secret)?),
        // Never fall back to the machine's instance credentials: no keys, no signature.
        (None, None) => builder.with_skip_signature(true),
        _ => {
            return Err(ctx.config(
                "key `collector.secret_access_key`: declare both `access_key_id` and \
                 `secret_access_key`, or neither for a public bucket"
                    .into(),
            ));
        }
    };
    let store = builder
        .build()
        .map_err(|e| ctx.config(secrets.redact(&format!("object store `{url}`: {e}"))))?;
    Ok((Box::new(store), location))
}

/// Streams one object into `batch`. `None` when the object is no longer the version that
/// was listed (its new version is taken by a later run).
async fn download(
    ctx: &Ctx<'_>,
    secrets: &Secrets,
    store: &dyn ObjectStore,
    location: &Location,
    batch: &mut BatchWriter,
    candidate: &Candidate,
) -> Result<Option<u64>> {
    let listed = &candidate.meta;
    let url = location.url_of(listed.location.as_ref());
    let options = GetOptions {
        if_match: listed.e_tag.clone(),
        ..GetOptions::default()
    };
    let got = match store.get_opts(&listed.location, options).await {
        Ok(got) => got,
        Err(object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. }) => {
            return Ok(None);
        }
        Err(e) => return Err(ctx.failed(secrets, format!("reading `{url}`: {e}"))),
    };
    // A server that ignores `If-Match` still names the version it sends.
    if got.meta.e_tag != listed.e_tag || got.meta.size != listed.size {
        return Ok(None);
    }
    let mut body = got.into_stream();
    let mut entry = batch.begin()?;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => entry.write(&chunk)?,
            Err(e) => {
                entry.discard()?;
                return Err(ctx.failed(secrets, format!("reading `{url}`: {e}")));
            }
        }
    }
    if entry.bytes() != listed.size {
        entry.discard()?;
        return Ok(None);
    }
    let collector = json!({
        "kind": "files",
        "store": "s3",
        "url": secrets.redact(&url),
        "etag": listed.e_tag,
        "last_modified": listed.last_modified.to_rfc3339(),
    });
    let entry = entry.finish(&candidate.relative, candidate.mtime_ns, collector)?;
    Ok(Some(entry.bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_bucket_and_an_optional_prefix() {
        let l = Location::parse("s3://meters/in/2026/").unwrap();
        assert_eq!(l.bucket, "meters");
        assert_eq!(l.prefix.as_ref().map(|p| p.as_ref()), Some("in/2026"));
        assert_eq!(l.relative("in/2026/a/b.csv"), Some("a/b.csv"));
        // A sibling that shares the prefix's first letters is not under it.
        assert_eq!(l.relative("in/20261/b.csv"), None);
        assert_eq!(l.url_of("in/2026/a.csv"), "s3://meters/in/2026/a.csv");

        let root = Location::parse("s3://meters").unwrap();
        assert_eq!(root.prefix, None);
        assert_eq!(root.relative("a.csv"), Some("a.csv"));

        assert!(Location::parse("s3:///x").is_err());
        assert!(Location::parse("https://meters/x").is_err());
        assert!(Location::parse("s3://meters/a/../b").is_err());
    }
}
