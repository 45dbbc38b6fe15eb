//! The `mqtt` collector: QoS 1 messages from a persistent session, landed exactly once as
//! NDJSON objects.
//!
//! ```text
//!  broker ──publish──► append to <temporal>/_open.mqtt.ndjson ──fsync──► PUBACK
//!                                     │ batch_messages, batch_age or idle
//!                                     ▼
//!               seal: drop known keys ──► temporal batch ──► persistent::load
//! ```
//!
//! A broker bounds the unacknowledged messages it sends (Mosquitto's `max_inflight_messages`
//! is 20 by default), so an acknowledgement cannot wait for a whole object to land. (The bound
//! is not to be relied on either: Mosquitto 2.0.11 had 4,751 messages in flight to a resumed
//! session here.) A message is acknowledged once it is durable in the open segment, a plain file next to the temporal batches (never a
//! folder: [`crate::temporal::pending_batches`] treats every folder as a batch). A crash
//! leaves at most a torn last line, of a message that was not acknowledged and comes again.
//! The segment is sealed into a temporal batch when it holds `batch_messages` messages, when
//! it is `batch_age` old, and when the collection ends; a segment left by a crash is sealed
//! first thing on the next run.
//!
//! MQTT has no message id that survives a redelivery, so a message's key is the sha256 of its
//! topic, a zero byte and its payload. At seal time a message whose key already landed, waits
//! in a pending batch or came earlier in the same segment is dropped and counted as
//! redelivered. The price: two byte-identical messages on one topic collapse into one, ever.
//! Publishers that may repeat a payload should put a counter or a timestamp in it.
//!
//! A collection is one connection: it receives until `idle` passes without a message. A
//! connection lost midway ends the collection with an error after sealing what it took; the
//! next collection resumes the session. Acknowledgements are never carried over to a new
//! connection, whose packet ids may name other messages.

use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use keel_core::fault::crash_point;
use keel_core::ids::sanitize_file_name;
use keel_core::schedule::parse_duration;
use keel_core::secrets::Secrets;
use keel_core::spec::MqttSpec;
use rumqttc::{
    AsyncClient, Event, MqttOptions, Outgoing, Packet, Publish, QoS, SubscribeFilter,
    SubscribeReasonCode,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{CollectReport, Ctx};
use crate::Result;
use crate::temporal::{BatchWriter, pending_batches, sync_dir};

/// The open segment's file name in the source's temporal folder.
pub const OPEN_SEGMENT: &str = "_open.mqtt.ndjson";

/// The MQTT packet size limit (256 MiB): a collector never refuses what a broker accepted.
const MAX_PACKET: usize = 268_435_455;
/// Messages synced and acknowledged together at most.
const MAX_GROUP: usize = 1_000;
/// How long the connection and the subscription may take.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a clean disconnect may take before the connection is dropped.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs the MQTT collector of a source once.
///
/// # Errors
/// When the declaration is invalid, the broker refuses the connection or a subscription, the
/// connection is lost, or temporal landing cannot be written; messages are redacted of
/// secrets. What was acknowledged before an error is landed.
pub async fn collect(ctx: &Ctx<'_>, spec: &MqttSpec) -> Result<CollectReport> {
    let mut secrets = Secrets::new();
    let settings = Settings::resolve(ctx, spec, &mut secrets)?;
    let temporal = ctx.temporal();
    fs_err::create_dir_all(&temporal)?;
    let mut report = CollectReport::default();
    let mut segment = Segment::new(&temporal);
    // A segment left open by a crash holds acknowledged messages: they land before anything
    // else, so that their redeliveries are recognised.
    if segment.path.exists() {
        tracing::info!(
            source = ctx.source,
            "sealing the segment left open by an earlier run"
        );
        segment.seal(ctx, &settings, &mut report)?;
    }
    crate::persistent::load(ctx.lake, ctx.catalog, ctx.source, ctx.run_id)?;

    let mut connection = Connection::open(&settings)
        .map_err(|e| ctx.failed(&secrets, format!("cannot subscribe: {e}")))?;
    let received = receive(
        ctx,
        &settings,
        &secrets,
        &mut connection,
        &mut segment,
        &mut report,
    )
    .await;
    connection.close().await;
    // Whatever ended the collection, what was acknowledged is durable: land it.
    let sealed = segment.seal(ctx, &settings, &mut report);
    received?;
    sealed?;
    Ok(report)
}

/// The declaration, resolved and checked.
struct Settings {
    host: String,
    port: u16,
    /// The URL as recorded: no user, no password.
    shown_url: String,
    client_id: String,
    credentials: Option<(String, String)>,
    topics: Vec<String>,
    batch_messages: usize,
    batch_age: Duration,
    idle: Duration,
}

impl Settings {
    fn resolve(ctx: &Ctx<'_>, spec: &MqttSpec, secrets: &mut Secrets) -> Result<Settings> {
        let url_text = ctx.expand(secrets, "url", &spec.url)?;
        let url = url::Url::parse(&url_text)
            .map_err(|e| ctx.config(secrets.redact(&format!("key `collector.url`: {e}"))))?;
        if !matches!(url.scheme(), "mqtt" | "tcp") {
            return Err(ctx.config(format!(
                "key `collector.url`: scheme `{}` is not `mqtt://` or `tcp://` (TLS is not supported yet)",
                url.scheme()
            )));
        }
        let host = url
            .host_str()
            .ok_or_else(|| ctx.config("key `collector.url`: the URL has no host".into()))?
            .to_string();
        let port = url.port().unwrap_or(1883);
        if !url.username().is_empty() || url.password().is_some() {
            // The URL is recorded with every object: credentials have their own keys.
            return Err(ctx.config(
                "key `collector.url`: put credentials in `username` and `password`, not in the URL"
                    .into(),
            ));
        }
        let username = match &spec.username {
            Some(u) => Some(ctx.expand(secrets, "username", u)?),
            None => None,
        };
        let password = match &spec.password {
            Some(p) => Some(ctx.expand(secrets, "password", p)?),
            None => None,
        };
        if let Some(p) = &password {
            secrets.add(p);
        }
        let credentials = match (username, password) {
            (Some(u), p) => Some((u, p.unwrap_or_default())),
            (None, Some(_)) => {
                return Err(ctx.config(
                    "key `collector.password`: MQTT sends a password only with a `username`".into(),
                ));
            }
            (None, None) => None,
        };
        let client_id = spec
            .client_id
            .clone()
            .unwrap_or_else(|| format!("keel-{}", ctx.source));
        if client_id.is_empty() {
            return Err(ctx.config(
                "key `collector.client_id`: a persistent session needs a client id".into(),
            ));
        }
        for t in &spec.topics {
            if !rumqttc::valid_filter(t) {
                return Err(ctx.config(format!(
                    "key `collector.topics`: `{t}` is not an MQTT topic filter"
                )));
            }
        }
        if spec.batch_messages == 0 {
            return Err(ctx.config("key `collector.batch_messages`: must be at least 1".into()));
        }
        let duration = |key: &str, v: &str| {
            parse_duration(v).map_err(|m| ctx.config(format!("key `collector.{key}`: {m}")))
        };
        Ok(Settings {
            shown_url: format!("{}://{host}:{port}", url.scheme()),
            host,
            port,
            client_id,
            credentials,
            topics: spec.topics.clone(),
            batch_messages: spec.batch_messages,
            batch_age: duration("batch_age", &spec.batch_age)?,
            idle: duration("idle", &spec.idle)?,
        })
    }
}

/// What the event loop task tells the collection.
enum Inbound {
    Message(Publish),
    Subscribed(Vec<SubscribeReasonCode>),
    /// The connection ended: cleanly after our DISCONNECT (`None`) or with an error.
    Closed(Option<String>),
}

/// An MQTT connection. The event loop runs in a task of its own and forwards what the
/// collection needs; acknowledgements go through another task. The collection never awaits
/// the event loop: a broker may send far more than its in-flight window promises (Mosquitto
/// 2.0 sent thousands to a resumed session), and a collection blocked on an acknowledgement
/// while the event loop is blocked on a full inbound channel would wait forever.
struct Connection {
    client: AsyncClient,
    /// Bounded: a flood (of QoS 0 messages, say) stalls the socket instead of filling memory.
    events: mpsc::Receiver<Inbound>,
    acks: Option<mpsc::UnboundedSender<Vec<Publish>>>,
    acker: tokio::task::JoinHandle<()>,
    eventloop: tokio::task::JoinHandle<()>,
}

impl Connection {
    /// Starts connecting and subscribing (the outcome comes as [`Inbound`] events).
    fn open(settings: &Settings) -> std::result::Result<Connection, rumqttc::ClientError> {
        let mut options = MqttOptions::new(&settings.client_id, &settings.host, settings.port);
        options
            .set_clean_session(false)
            .set_manual_acks(true)
            .set_keep_alive(Duration::from_secs(30))
            .set_max_packet_size(MAX_PACKET, MAX_PACKET);
        if let Some((u, p)) = &settings.credentials {
            options.set_credentials(u, p);
        }
        let (client, mut eventloop) = AsyncClient::new(options, 1024);
        // Queued before the event loop runs: a connection refused at once must not turn
        // into a "cannot send the subscription" that hides the reason.
        let filters = settings
            .topics
            .iter()
            .map(|t| SubscribeFilter::new(t.clone(), QoS::AtLeastOnce));
        client.try_subscribe_many(filters)?;
        let (tx, events) = mpsc::channel(1024);
        let eventloop = tokio::spawn(async move {
            loop {
                let inbound = match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => Inbound::Message(p),
                    Ok(Event::Incoming(Packet::SubAck(s))) => Inbound::Subscribed(s.return_codes),
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                        let _ = tx.send(Inbound::Closed(None)).await;
                        return;
                    }
                    Ok(_) => continue,
                    Err(e) => {
                        let message = match e {
                            rumqttc::ConnectionError::ConnectionRefused(code) => format!(
                                "the broker refused the connection ({code:?}); check \
                                 `collector.username`, `collector.password` and \
                                 `collector.client_id`"
                            ),
                            e => e.to_string(),
                        };
                        let _ = tx.send(Inbound::Closed(Some(message))).await;
                        return;
                    }
                };
                if tx.send(inbound).await.is_err() {
                    return;
                }
            }
        });
        let (acks, mut to_ack) = mpsc::unbounded_channel::<Vec<Publish>>();
        let acker_client = client.clone();
        let acker = tokio::spawn(async move {
            while let Some(group) = to_ack.recv().await {
                for p in &group {
                    // Fails only when the event loop ended; the broker then sends the
                    // message again, and it is recognised at seal time.
                    if acker_client.ack(p).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Connection {
            client,
            events,
            acks: Some(acks),
            acker,
            eventloop,
        })
    }

    /// Queues the acknowledgement of messages that are durable.
    fn acknowledge(&self, group: &[Publish]) {
        // Only the packet id and QoS matter to an acknowledgement: drop topics and payloads.
        let light = group
            .iter()
            .map(|p| {
                let mut a = Publish::new("", p.qos, Vec::new());
                a.pkid = p.pkid;
                a
            })
            .collect();
        if let Some(acks) = &self.acks {
            let _ = acks.send(light);
        }
    }

    /// Sends the queued acknowledgements, then DISCONNECT, and waits (briefly) for the event
    /// loop to write them. Messages that arrive meanwhile are not acknowledged: they stay in
    /// the broker's session for the next collection.
    async fn close(mut self) {
        let deadline = Instant::now() + DISCONNECT_TIMEOUT;
        self.acks = None;
        let mut acker = self.acker;
        // Keep draining the inbound channel so that the event loop can take the acks.
        loop {
            tokio::select! {
                _ = &mut acker => break,
                e = self.events.recv() => if e.is_none() { break },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        acker.abort();
        if self.client.try_disconnect().is_ok() {
            while let Ok(Some(e)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
                if matches!(e, Inbound::Closed(_)) {
                    break;
                }
            }
        }
        drop(self.events);
        let abort = self.eventloop.abort_handle();
        if tokio::time::timeout_at(deadline, self.eventloop)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}

/// Receives until `idle` passes without a message, appending to the segment, acknowledging
/// what is synced and sealing full or old segments.
async fn receive(
    ctx: &Ctx<'_>,
    settings: &Settings,
    secrets: &Secrets,
    connection: &mut Connection,
    segment: &mut Segment,
    report: &mut CollectReport,
) -> Result<()> {
    let started = Instant::now();
    let mut subscribed = false;
    let mut last_message = started;
    let mut stash: VecDeque<Inbound> = VecDeque::new();
    loop {
        let idle_at = if subscribed {
            last_message + settings.idle
        } else {
            started + SUBSCRIBE_TIMEOUT
        };
        let age_at = segment.opened.map(|t| t + settings.batch_age);
        let deadline = age_at.map_or(idle_at, |a| a.min(idle_at));
        let next = match stash.pop_front() {
            Some(e) => Some(e),
            None => match tokio::time::timeout_at(deadline, connection.events.recv()).await {
                Ok(e) => e,
                Err(_) => {
                    if age_at.is_some_and(|a| a <= Instant::now()) {
                        let waited = Instant::now().saturating_duration_since(last_message);
                        segment.seal(ctx, settings, report)?;
                        // Time spent landing is not time without messages.
                        last_message = Instant::now().checked_sub(waited).unwrap_or(last_message);
                        continue;
                    }
                    if !subscribed {
                        return Err(ctx.failed(
                            secrets,
                            format!(
                                "`{}` did not confirm the subscription within {}s",
                                settings.shown_url,
                                SUBSCRIBE_TIMEOUT.as_secs()
                            ),
                        ));
                    }
                    return Ok(());
                }
            },
        };
        match next {
            None | Some(Inbound::Closed(None)) => {
                return Err(ctx.failed(
                    secrets,
                    format!("`{}` closed the connection", settings.shown_url),
                ));
            }
            Some(Inbound::Closed(Some(e))) => {
                return Err(ctx.failed(secrets, format!("`{}`: {e}", settings.shown_url)));
            }
            Some(Inbound::Subscribed(codes)) => {
                let refused: Vec<&str> = settings
                    .topics
                    .iter()
                    .zip(&codes)
                    .filter(|(_, c)| matches!(c, SubscribeReasonCode::Failure))
                    .map(|(t, _)| t.as_str())
                    .collect();
                if !refused.is_empty() {
                    return Err(ctx.failed(
                        secrets,
                        format!(
                            "`{}` refused the subscription to `{}`; check the broker's ACL",
                            settings.shown_url,
                            refused.join("`, `")
                        ),
                    ));
                }
                subscribed = true;
                last_message = Instant::now();
            }
            Some(Inbound::Message(first)) => {
                let mut group = vec![first];
                // An object holds at most `batch_messages` messages.
                let room = settings
                    .batch_messages
                    .saturating_sub(segment.messages)
                    .clamp(1, MAX_GROUP);
                while group.len() < room {
                    match connection.events.try_recv() {
                        Ok(Inbound::Message(p)) => group.push(p),
                        Ok(other) => {
                            stash.push_back(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                report.seen += group.len() as u64;
                let received_at = keel_catalog::now_utc();
                let mut lines = Vec::new();
                for p in &group {
                    append_line(&mut lines, p, &received_at);
                }
                segment.append(&lines, group.len())?;
                crash_point("mqtt: messages synced, not acknowledged");
                connection.acknowledge(&group);
                last_message = Instant::now();
                // Checked here too: under a steady flow the receive never times out.
                let old = segment
                    .opened
                    .is_some_and(|t| t + settings.batch_age <= last_message);
                if segment.messages >= settings.batch_messages || old {
                    segment.seal(ctx, settings, report)?;
                    last_message = Instant::now();
                }
            }
        }
    }
}

/// The open segment: NDJSON lines, each synced before its message is acknowledged.
struct Segment {
    path: PathBuf,
    file: Option<fs_err::File>,
    /// Messages appended by this process.
    messages: usize,
    /// When this process appended its first message.
    opened: Option<Instant>,
}

impl Segment {
    fn new(temporal: &Path) -> Segment {
        Segment {
            path: temporal.join(OPEN_SEGMENT),
            file: None,
            messages: 0,
            opened: None,
        }
    }

    /// Appends `lines` (`n` messages) and flushes them to disk.
    fn append(&mut self, lines: &[u8], n: usize) -> Result<()> {
        let file = match &mut self.file {
            Some(f) => f,
            None => {
                let f = fs_err::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)?;
                if let Some(dir) = self.path.parent() {
                    sync_dir(dir)?;
                }
                self.opened = Some(Instant::now());
                self.file.insert(f)
            }
        };
        file.write_all(lines)?;
        file.sync_data()?;
        self.messages += n;
        Ok(())
    }

    /// Turns the segment, if any, into a temporal batch of the messages not landed yet,
    /// removes it and loads the batch into persistent landing.
    fn seal(
        &mut self,
        ctx: &Ctx<'_>,
        settings: &Settings,
        report: &mut CollectReport,
    ) -> Result<()> {
        self.file = None;
        self.messages = 0;
        self.opened = None;
        let bytes = match fs_err::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let lines = parse_segment(&self.path, &bytes);
        let messages = Deduped::new(ctx, lines)?;
        report.redelivered += messages.dropped;
        if !messages.keys.is_empty() {
            let mut batch = BatchWriter::create(&ctx.temporal())?;
            let name = object_name("mqtt", &messages.first_received_at, messages.keys.len());
            let collector = json!({
                "kind": "mqtt",
                "url": settings.shown_url,
                "client_id": settings.client_id,
                "topics": settings.topics,
                "messages": messages.keys.len(),
                "first_key": messages.keys.first(),
                "last_key": messages.keys.last(),
            });
            report.taken += 1;
            report.bytes += messages.body.len() as u64;
            report.records += messages.keys.len() as u64;
            batch.add(&name, &messages.body, collector, messages.keys)?;
            batch.seal(&serde_json::Map::new())?;
        }
        crash_point("mqtt: segment sealed, not removed");
        fs_err::remove_file(&self.path)?;
        if let Some(dir) = self.path.parent() {
            sync_dir(dir)?;
        }
        crash_point("mqtt: segment removed, batch not loaded");
        crate::persistent::load(ctx.lake, ctx.catalog, ctx.source, ctx.run_id)?;
        Ok(())
    }
}

/// One NDJSON message line.
pub(crate) struct Line<'a> {
    /// The message key.
    pub key: String,
    /// When it was received (RFC 3339).
    pub received_at: String,
    /// The line, newline included.
    pub bytes: &'a [u8],
}

/// The complete lines of a segment. A line without its newline was torn by a crash while
/// being written: it was never synced, so never acknowledged, and the broker sends it again.
fn parse_segment<'a>(path: &Path, bytes: &'a [u8]) -> Vec<Line<'a>> {
    let mut lines = Vec::new();
    for chunk in bytes.split_inclusive(|b| *b == b'\n') {
        let parsed = chunk
            .ends_with(b"\n")
            .then(|| serde_json::from_slice::<serde_json::Value>(chunk).ok())
            .flatten();
        let fields = parsed.as_ref().and_then(|v| {
            Some((
                v.get("key")?.as_str()?.to_string(),
                v.get("received_at")?.as_str()?.to_string(),
            ))
        });
        match fields {
            Some((key, received_at)) => lines.push(Line {
                key,
                received_at,
                bytes: chunk,
            }),
            None => tracing::warn!(
                segment = %path.display(),
                "dropping a torn line left by a crash (its message was not acknowledged)"
            ),
        }
    }
    lines
}

/// Appends the NDJSON line of a message to `out`.
fn append_line(out: &mut Vec<u8>, p: &Publish, received_at: &str) {
    let mut line = json!({
        "topic": p.topic,
        "received_at": received_at,
        "qos": p.qos as u8,
        "dup": p.dup,
        "retain": p.retain,
        "key": message_key(&p.topic, &p.payload),
    });
    insert_payload(&mut line, &p.payload);
    // Serialising a `Value` of strings, numbers and booleans cannot fail.
    if let Ok(text) = serde_json::to_vec(&line) {
        out.extend_from_slice(&text);
        out.push(b'\n');
    }
}

/// The key of an MQTT message: sha256 of topic, a zero byte, payload (hex).
fn message_key(topic: &str, payload: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(topic.as_bytes());
    h.update([0u8]);
    h.update(payload);
    hex::encode(h.finalize())
}

// ---- Shared with the `nats` collector. ----

/// Sets `payload` on a message line: the text when it is UTF-8, else base64 with
/// `"payload_encoding": "base64"`. Landing never parses content; this only makes any bytes
/// fit in a JSON line.
pub(crate) fn insert_payload(line: &mut serde_json::Value, payload: &[u8]) {
    if let Some(o) = line.as_object_mut() {
        match std::str::from_utf8(payload) {
            Ok(text) => {
                o.insert("payload".into(), json!(text));
            }
            Err(_) => {
                o.insert("payload".into(), json!(base64(payload)));
                o.insert("payload_encoding".into(), json!("base64"));
            }
        }
    }
}

/// Messages of one object, with the ones already taken dropped.
pub(crate) struct Deduped {
    /// The NDJSON lines kept.
    pub body: Vec<u8>,
    /// Their keys, in order.
    pub keys: Vec<String>,
    /// When the first kept message was received.
    pub first_received_at: String,
    /// Messages dropped: landed already, waiting in a pending batch, or repeated.
    pub dropped: u64,
}

impl Deduped {
    /// Keeps the lines whose key is not landed, not in a pending temporal batch and not
    /// earlier in `lines`. Must run before a new batch folder is created: reading the pending
    /// batches removes unsealed folders.
    pub(crate) fn new(ctx: &Ctx<'_>, lines: Vec<Line<'_>>) -> Result<Deduped> {
        let keys: Vec<String> = lines.iter().map(|l| l.key.clone()).collect();
        let mut taken = taken_keys(ctx, &keys)?;
        let mut out = Deduped {
            body: Vec::new(),
            keys: Vec::new(),
            first_received_at: String::new(),
            dropped: 0,
        };
        for line in lines {
            // `insert` is false for a key seen before: landed, pending or earlier here.
            if !taken.insert(line.key.clone()) {
                out.dropped += 1;
                continue;
            }
            if out.keys.is_empty() {
                out.first_received_at = line.received_at;
            }
            out.body.extend_from_slice(line.bytes);
            out.keys.push(line.key);
        }
        Ok(out)
    }
}

/// Which of `keys` were taken already: landed (catalog) or in a pending temporal batch.
pub(crate) fn taken_keys(ctx: &Ctx<'_>, keys: &[String]) -> Result<HashSet<String>> {
    let mut taken = ctx.catalog.landed_message_keys(ctx.source, keys)?;
    let wanted: HashSet<&String> = keys.iter().collect();
    for batch in pending_batches(&ctx.temporal())? {
        for entry in batch.entries {
            for k in entry.message_keys {
                if wanted.contains(&k) {
                    taken.insert(k);
                }
            }
        }
    }
    Ok(taken)
}

/// `<kind>_<first received_at, compact>_<messages>.ndjson`: nothing from the source (topic,
/// subject) ever becomes part of a path.
pub(crate) fn object_name(kind: &str, first_received_at: &str, messages: usize) -> String {
    let at = chrono::DateTime::parse_from_rfc3339(first_received_at)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|_| chrono::Utc::now());
    sanitize_file_name(&format!(
        "{kind}_{}_{messages}.ndjson",
        at.format("%Y%m%dT%H%M%S%6fZ")
    ))
}

/// Standard base64 with padding (RFC 4648 §4). Written here because it is ten lines and the
/// landing crate has no base64 dependency.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }

    #[test]
    fn payloads_that_are_not_utf8_are_base64() {
        let mut line = json!({"topic": "t"});
        insert_payload(&mut line, b"21.5");
        assert_eq!(line["payload"], "21.5");
        assert!(line.get("payload_encoding").is_none());
        insert_payload(&mut line, &[0xff, 0x00]);
        assert_eq!(line["payload"], "/wA=");
        assert_eq!(line["payload_encoding"], "base64");
    }

    #[test]
    fn keys_separate_topic_from_payload() {
        assert_ne!(message_key("a/b", b"c"), message_key("a/", b"bc"));
        assert_eq!(message_key("t", b"x"), message_key("t", b"x"));
    }

    #[test]
    fn a_torn_last_line_is_dropped() {
        let mut bytes = Vec::new();
        let p = Publish::new("plant/1", QoS::AtLeastOnce, b"1".to_vec());
        append_line(&mut bytes, &p, "2026-01-01T00:00:00.000000Z");
        let q = Publish::new("plant/1", QoS::AtLeastOnce, b"2".to_vec());
        append_line(&mut bytes, &q, "2026-01-01T00:00:01.000000Z");
        bytes.truncate(bytes.len() - 5);
        let lines = parse_segment(Path::new("seg"), &bytes);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].key, message_key("plant/1", b"1"));
        assert_eq!(lines[0].received_at, "2026-01-01T00:00:00.000000Z");
    }

    #[test]
    fn object_names_hold_no_source_text() {
        assert_eq!(
            object_name("mqtt", "2026-03-04T05:06:07.123456Z", 42),
            "mqtt_20260304T050607123456Z_42.ndjson"
        );
    }
}
