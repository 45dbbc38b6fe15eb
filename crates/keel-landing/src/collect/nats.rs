//! The `nats` collector: a JetStream stream read by a durable pull consumer, landed exactly
//! once as NDJSON objects.
//!
//! ```text
//!  stream ──fetch batch_messages──► drop known keys ──► temporal batch ──► persistent::load
//!                                                                               │
//!                  double ack (the server confirms) ◄───────────────────────────┘
//! ```
//!
//! A message's key is `<stream>:<stream sequence>`, which a redelivery keeps. Each fetched
//! batch is written, sealed and loaded (objects and keys in one catalog transaction) before
//! a single message of it is acknowledged. A crash before the acknowledgement leaves
//! messages that the server delivers again once their `ack_wait` passes; they are then
//! recognised by key and dropped (counted as redelivered). Nothing is lost, nothing lands
//! twice.
//!
//! The consumer is created when missing (explicit acknowledgement, `ack_wait` = `idle` +
//! 10 s, every message of the stream); an existing one is used as it is, provided it
//! acknowledges explicitly and filters the declared subject. Streams are never created or
//! deleted: they belong to whoever publishes.
//!
//! A collection ends when a fetch waits `idle` without a message and the consumer has
//! nothing pending; messages held by a collection that died are waited for (they come back
//! after `ack_wait`), up to `ack_wait` + `idle`.

use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use futures::StreamExt;
use keel_core::fault::crash_point;
use keel_core::schedule::parse_duration;
use keel_core::secrets::Secrets;
use keel_core::spec::NatsSpec;
use serde_json::json;
use tokio::time::Instant;

use super::mqtt::{Deduped, Line, insert_payload, object_name};
use super::{CollectReport, Ctx};
use crate::Result;
use crate::temporal::BatchWriter;

/// `ack_wait` of a consumer keel creates, beyond `idle`: the time to write and load a batch.
/// An early redelivery costs a fetch, never a duplicate.
const ACK_MARGIN: Duration = Duration::from_secs(10);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the NATS collector of a source once.
///
/// # Errors
/// When the declaration is invalid, the server or the stream cannot be reached, an existing
/// consumer does not fit, or temporal landing cannot be written; messages are redacted of
/// secrets. Batches landed before an error stay landed.
pub async fn collect(ctx: &Ctx<'_>, spec: &NatsSpec) -> Result<CollectReport> {
    let mut secrets = Secrets::new();
    let settings = Settings::resolve(ctx, spec, &mut secrets)?;
    let mut report = CollectReport::default();
    // Batches sealed by a run that died before loading them land first, so that their keys
    // are known when their messages come again.
    crate::persistent::load(ctx.lake, ctx.catalog, ctx.source, ctx.run_id)?;
    let client = async_nats::ConnectOptions::new()
        .name(format!("keel {}", ctx.source))
        .connection_timeout(CONNECT_TIMEOUT)
        .connect(settings.url.as_str())
        .await
        .map_err(|e| {
            ctx.failed(
                &secrets,
                format!("cannot connect to `{}`: {e}", settings.shown_url),
            )
        })?;
    let result = receive(ctx, &settings, &secrets, client.clone(), &mut report).await;
    // The acknowledgements were confirmed one batch at a time; nothing else is owed.
    let _ = client.flush().await;
    result?;
    Ok(report)
}

/// The declaration, resolved and checked.
struct Settings {
    /// The URL to connect to (may hold credentials).
    url: String,
    /// The URL as recorded: no user, no password.
    shown_url: String,
    stream: String,
    durable: String,
    subject: String,
    batch_messages: usize,
    idle: Duration,
}

impl Settings {
    fn resolve(ctx: &Ctx<'_>, spec: &NatsSpec, secrets: &mut Secrets) -> Result<Settings> {
        let url = ctx.expand(secrets, "url", &spec.url)?;
        let mut parsed = url::Url::parse(&url)
            .map_err(|e| ctx.config(secrets.redact(&format!("key `collector.url`: {e}"))))?;
        if parsed.scheme() != "nats" {
            return Err(ctx.config(format!(
                "key `collector.url`: scheme `{}` is not `nats://`",
                parsed.scheme()
            )));
        }
        if let Some(p) = parsed.password() {
            secrets.add(p);
        }
        let _ = parsed.set_password(None);
        let _ = parsed.set_username("");
        let durable = spec
            .durable
            .clone()
            .unwrap_or_else(|| format!("keel-{}", ctx.source));
        for (key, name) in [("stream", &spec.stream), ("durable", &durable)] {
            let bad = name.is_empty()
                || name
                    .chars()
                    .any(|c| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\'));
            if bad {
                return Err(ctx.config(format!(
                    "key `collector.{key}`: `{name}` is not a JetStream name (no spaces, `.`, `*`, `>`, `/`)"
                )));
            }
        }
        if spec.batch_messages == 0 {
            return Err(ctx.config("key `collector.batch_messages`: must be at least 1".into()));
        }
        let idle = parse_duration(&spec.idle)
            .map_err(|m| ctx.config(format!("key `collector.idle`: {m}")))?;
        if idle.is_zero() {
            return Err(ctx.config("key `collector.idle`: must be longer than 0s".into()));
        }
        Ok(Settings {
            url,
            shown_url: parsed.to_string(),
            stream: spec.stream.clone(),
            durable,
            subject: spec.subject.clone().unwrap_or_default(),
            batch_messages: spec.batch_messages,
            idle,
        })
    }
}

/// Fetches, lands and acknowledges batches until the consumer is drained.
async fn receive(
    ctx: &Ctx<'_>,
    settings: &Settings,
    secrets: &Secrets,
    client: async_nats::Client,
    report: &mut CollectReport,
) -> Result<()> {
    let failed = |what: String| ctx.failed(secrets, format!("`{}`: {what}", settings.shown_url));
    let js = jetstream::new(client);
    let stream = js.get_stream(&settings.stream).await.map_err(|e| {
        failed(format!(
            "stream `{}`: {e} (keel reads streams; whoever publishes creates them)",
            settings.stream
        ))
    })?;
    let wanted = pull::Config {
        durable_name: Some(settings.durable.clone()),
        description: Some(format!("keel: landing of source `{}`", ctx.source)),
        ack_policy: AckPolicy::Explicit,
        ack_wait: settings.idle + ACK_MARGIN,
        filter_subject: settings.subject.clone(),
        // Room for the batch in hand and for batches a crashed run still holds.
        max_ack_pending: i64::try_from(settings.batch_messages.saturating_mul(4))
            .unwrap_or(i64::MAX),
        ..Default::default()
    };
    let consumer: PullConsumer = stream
        .get_or_create_consumer(&settings.durable, wanted)
        .await
        .map_err(|e| failed(format!("consumer `{}`: {e}", settings.durable)))?;
    let config = &consumer.cached_info().config;
    if config.ack_policy != AckPolicy::Explicit {
        return Err(ctx.config(format!(
            "key `collector.durable`: consumer `{}` of stream `{}` acknowledges with policy \
             `{:?}`; keel needs `explicit`: name another `durable`",
            settings.durable, settings.stream, config.ack_policy
        )));
    }
    if config.filter_subject != settings.subject {
        return Err(ctx.config(format!(
            "key `collector.subject`: consumer `{}` of stream `{}` filters `{}`, the source \
             declares `{}`: name another `durable`",
            settings.durable, settings.stream, config.filter_subject, settings.subject
        )));
    }
    let mut per_fetch = settings.batch_messages;
    for limit in [config.max_ack_pending, config.max_batch] {
        if let Ok(l) = usize::try_from(limit)
            && l > 0
        {
            per_fetch = per_fetch.min(l);
        }
    }
    let ack_wait = config.ack_wait;

    let mut last_message = Instant::now();
    loop {
        let (messages, fetch_error) = fetch(&consumer, per_fetch, settings.idle).await;
        if !messages.is_empty() {
            last_message = Instant::now();
            land(ctx, settings, secrets, &messages, report)?;
            crash_point("nats: batch landed, not acknowledged");
            acknowledge(&messages)
                .await
                .map_err(|e| failed(format!("acknowledging a landed batch: {e}")))?;
        }
        if let Some(e) = fetch_error {
            return Err(failed(format!(
                "fetching from consumer `{}`: {e}",
                settings.durable
            )));
        }
        if messages.is_empty() {
            let info = consumer
                .get_info()
                .await
                .map_err(|e| failed(format!("consumer `{}`: {e}", settings.durable)))?;
            if info.num_pending == 0 && info.num_ack_pending == 0 {
                return Ok(());
            }
            if last_message.elapsed() > ack_wait + settings.idle {
                tracing::warn!(
                    source = ctx.source,
                    pending = info.num_pending,
                    unacknowledged = info.num_ack_pending,
                    "consumer `{}` still has messages held elsewhere; a later collection takes them",
                    settings.durable
                );
                return Ok(());
            }
            // Messages delivered to a collection that died come back once `ack_wait` passes.
        }
    }
}

/// Up to `n` messages, waiting at most `idle` for them; an error after some messages comes
/// with those messages, so that they land before it is reported.
async fn fetch(
    consumer: &PullConsumer,
    n: usize,
    idle: Duration,
) -> (Vec<jetstream::Message>, Option<String>) {
    let mut batch = match consumer
        .batch()
        .max_messages(n)
        .expires(idle)
        .messages()
        .await
    {
        Ok(b) => b,
        Err(e) => return (Vec::new(), Some(e.to_string())),
    };
    let mut messages = Vec::new();
    while let Some(m) = batch.next().await {
        match m {
            Ok(m) => messages.push(m),
            Err(e) => return (messages, Some(e.to_string())),
        }
    }
    (messages, None)
}

/// Writes the messages not landed yet as one object, seals it and loads it.
fn land(
    ctx: &Ctx<'_>,
    settings: &Settings,
    secrets: &Secrets,
    messages: &[jetstream::Message],
    report: &mut CollectReport,
) -> Result<()> {
    report.seen += messages.len() as u64;
    let received_at = keel_catalog::now_utc();
    let mut rendered: Vec<(String, u64, Vec<u8>)> = Vec::with_capacity(messages.len());
    for m in messages {
        let info = m.info().map_err(|e| {
            ctx.failed(
                secrets,
                format!("a message without JetStream metadata: {e}"),
            )
        })?;
        let key = format!("{}:{}", info.stream, info.stream_sequence);
        let published_at = i64::try_from(info.published.unix_timestamp_nanos())
            .map(chrono::DateTime::from_timestamp_nanos)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
            .ok();
        let mut line = json!({
            "subject": m.message.subject.as_str(),
            "received_at": received_at,
            "published_at": published_at,
            "stream_seq": info.stream_sequence,
            "delivered": info.delivered,
            "dup": info.delivered > 1,
            "key": key,
        });
        insert_payload(&mut line, &m.message.payload);
        let mut bytes = serde_json::to_vec(&line)
            .map_err(|e| ctx.failed(secrets, format!("message {key} cannot be written: {e}")))?;
        bytes.push(b'\n');
        rendered.push((key, info.stream_sequence, bytes));
    }
    let lines = rendered
        .iter()
        .map(|(key, _, bytes)| Line {
            key: key.clone(),
            received_at: received_at.clone(),
            bytes,
        })
        .collect();
    let kept = Deduped::new(ctx, lines)?;
    report.redelivered += kept.dropped;
    if kept.keys.is_empty() {
        return Ok(());
    }
    let kept_keys: std::collections::HashSet<&str> = kept.keys.iter().map(String::as_str).collect();
    let seqs = rendered
        .iter()
        .filter(|(key, _, _)| kept_keys.contains(key.as_str()))
        .map(|(_, seq, _)| *seq);
    let (first_seq, last_seq) = seqs.fold((u64::MAX, 0), |(lo, hi), s| (lo.min(s), hi.max(s)));
    let collector = json!({
        "kind": "nats",
        "url": settings.shown_url,
        "stream": settings.stream,
        "durable": settings.durable,
        "subject": (!settings.subject.is_empty()).then_some(&settings.subject),
        "first_seq": first_seq,
        "last_seq": last_seq,
        "messages": kept.keys.len(),
    });
    let name = object_name("nats", &kept.first_received_at, kept.keys.len());
    report.taken += 1;
    report.bytes += kept.body.len() as u64;
    report.records += kept.keys.len() as u64;
    let mut batch = BatchWriter::create(&ctx.temporal())?;
    batch.add(&name, &kept.body, collector, kept.keys)?;
    batch.seal(&serde_json::Map::new())?;
    crash_point("nats: batch sealed, not loaded");
    crate::persistent::load(ctx.lake, ctx.catalog, ctx.source, ctx.run_id)?;
    Ok(())
}

/// Acknowledges a landed batch: every message, the last one with a confirmation from the
/// server. The server handles one connection's acknowledgements in order, so the
/// confirmation covers the batch; a lost one would only mean a redelivery, dropped by key.
async fn acknowledge(messages: &[jetstream::Message]) -> std::result::Result<(), String> {
    let Some((last, rest)) = messages.split_last() else {
        return Ok(());
    };
    for m in rest {
        m.ack().await.map_err(|e| e.to_string())?;
    }
    last.double_ack().await.map_err(|e| e.to_string())
}
