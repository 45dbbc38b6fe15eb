//! The `mqtt` and `nats` collectors against real brokers (issue 3): 100,000 messages, the
//! collector killed with SIGKILL (or aborted at a crash point) again and again while they
//! flow, then one last collection; every message lands exactly once. Also: a password
//! stays out of errors, manifest and lake; a missing stream is a clear error.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keel_testkit::require;
use serde_json::Value;

use crate::support::keel_ok;

const MESSAGES: u64 = 100_000;
/// Collections started, then killed or crashed, while messages flow.
const ROUNDS: usize = 8;

/// MQTT with a persistent session, on a private Mosquitto that queues without limit for an
/// offline session (the default `max_queued_messages` of 1000 would drop messages while the
/// collector is dead: a broker setting, not a collector failure).
#[test]
fn mqtt_messages_land_exactly_once_across_kills() {
    let Some(broker) = Mosquitto::start() else {
        return;
    };
    let project = tempfile::tempdir().unwrap();
    let dir = project.path();
    write_project(
        dir,
        "sensors",
        &format!(
            "[collector]\nkind = \"mqtt\"\nurl = \"mqtt://127.0.0.1:{}\"\n\
             topics = [\"keel-it/#\"]\nbatch_messages = 5000\nbatch_age = \"2s\"\nidle = \"1s\"\n",
            broker.port
        ),
    );
    let mut rng = Rng::from_env();

    // The first collection creates the session: from then on the broker keeps its messages.
    let started = Instant::now();
    collect_to_idle(dir, "sensors");
    let publisher = publish_mqtt(broker.port, MESSAGES, None);
    // Crash points passed per collection: one per synced group of messages, a few per
    // sealed segment.
    let outcomes = kill_rounds(dir, "sensors", &mut rng, |rng| rng.below(50) + 1);
    let published_in = publisher.join().expect("publisher");
    let final_started = Instant::now();
    let before = landed_count(dir, "sensors");
    let out = collect_to_idle(dir, "sensors");
    keel_ok(dir, &["land", "--source", "sensors"]);
    let final_run = final_started.elapsed();
    let after = landed_count(dir, "sensors");
    eprintln!(
        "mqtt: published {MESSAGES} in {published_in:.1?}; {outcomes}; last collection landed \
         {} in {final_run:.1?} ({:.0} messages/s); {:.1?} in all\n{out}",
        after - before,
        (after - before) as f64 / final_run.as_secs_f64(),
        started.elapsed()
    );

    let lines = landed_lines(dir, "sensors");
    assert_exactly_once(lines.iter().map(mqtt_sequence), "sequence number");
    assert_eq!(after, MESSAGES as i64, "catalog `landed_messages` count");
    for line in &lines {
        assert!(
            line["topic"]
                .as_str()
                .unwrap()
                .starts_with("keel-it/plant-")
        );
        assert_eq!(line["qos"], 1);
    }
    assert_manifest(dir, "sensors", "mqtt");
}

/// NATS JetStream: a durable pull consumer on a stream of this test's own.
#[test]
fn nats_messages_land_exactly_once_across_kills() {
    let up = TcpStream::connect_timeout(&"127.0.0.1:4222".parse().unwrap(), Duration::from_secs(1))
        .is_ok();
    if !require(up, "NATS JetStream on 127.0.0.1:4222") {
        return;
    }
    let stream = NatsStream::create();
    let project = tempfile::tempdir().unwrap();
    let dir = project.path();
    write_project(
        dir,
        "events",
        &format!(
            "[collector]\nkind = \"nats\"\nurl = \"nats://127.0.0.1:4222\"\nstream = \"{}\"\n\
             batch_messages = 5000\nidle = \"1s\"\n",
            stream.name
        ),
    );
    let mut rng = Rng::from_env();

    let started = Instant::now();
    let publisher = stream.publish(MESSAGES);
    // Crash points per landed batch: sealed, renamed, durable, in the catalog, temporal
    // removed, landed-not-acknowledged; 4 and 6 hit the windows that matter most.
    let mut fixed = [6, 4, 12, 10].into_iter();
    let outcomes = kill_rounds(dir, "events", &mut rng, |rng| {
        fixed.next().unwrap_or_else(|| rng.below(40) + 1)
    });
    let published_in = publisher.join().expect("publisher");
    let final_started = Instant::now();
    let before = landed_count(dir, "events");
    let out = collect_to_idle(dir, "events");
    keel_ok(dir, &["land", "--source", "events"]);
    let final_run = final_started.elapsed();
    let after = landed_count(dir, "events");
    eprintln!(
        "nats: published {MESSAGES} in {published_in:.1?}; {outcomes}; last collection landed \
         {} in {final_run:.1?} ({:.0} messages/s); {:.1?} in all\n{out}",
        after - before,
        (after - before) as f64 / final_run.as_secs_f64(),
        started.elapsed()
    );

    let lines = landed_lines(dir, "events");
    assert_exactly_once(lines.iter().map(nats_sequence), "sequence number");
    assert_exactly_once(
        lines.iter().map(|l| l["stream_seq"].as_u64().unwrap() - 1),
        "stream sequence",
    );
    for line in &lines {
        let seq = line["stream_seq"].as_u64().unwrap();
        assert_eq!(line["key"], format!("{}:{seq}", stream.name));
    }
    assert_eq!(after, MESSAGES as i64, "catalog `landed_messages` count");
    assert_manifest(dir, "events", "nats");
}

/// A password from `${ENV}` reaches the broker and nothing else: not an error message, not
/// the manifest, not a file of the lake.
#[test]
fn mqtt_password_never_leaves_the_collector() {
    const PASSWORD: &str = "s3cr/et!-Keel-It-7f3a";
    let Some(broker) = Mosquitto::start_with(Some(("keel", PASSWORD))) else {
        return;
    };
    let project = tempfile::tempdir().unwrap();
    let dir = project.path();
    write_project(
        dir,
        "sensors",
        &format!(
            "[collector]\nkind = \"mqtt\"\nurl = \"mqtt://127.0.0.1:{}\"\n\
             topics = [\"keel-it/#\"]\nusername = \"keel\"\n\
             password = \"${{KEEL_IT_MQTT_PASSWORD}}\"\nidle = \"500ms\"\n",
            broker.port
        ),
    );
    let wrong = "wrong-Keel-It-91c2";
    std::fs::write(dir.join(".env"), format!("KEEL_IT_MQTT_PASSWORD={wrong}\n")).unwrap();
    let out = crate::support::keel(dir, &["collect", "--source", "sensors"]);
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{printed}");
    assert!(
        printed.contains("NotAuthorized") || printed.contains("refused"),
        "{printed}"
    );
    assert!(!printed.contains(wrong), "the password leaked: {printed}");

    std::fs::write(
        dir.join(".env"),
        format!("KEEL_IT_MQTT_PASSWORD={PASSWORD}\n"),
    )
    .unwrap();
    collect_to_idle(dir, "sensors");
    publish_mqtt(broker.port, 25, Some(("keel", PASSWORD)))
        .join()
        .unwrap();
    let printed = collect_to_idle(dir, "sensors");
    assert!(printed.contains("25 records"), "{printed}");
    let versions = keel_ok(dir, &["landing", "versions", "sensors", "--format", "json"]);
    assert!(!versions.contains(PASSWORD) && !printed.contains(PASSWORD));
    let objects: Vec<Value> = serde_json::from_str(&versions).unwrap();
    assert_eq!(
        objects[0]["collector"]["url"],
        format!("mqtt://127.0.0.1:{}", broker.port)
    );
    let mut files = Vec::new();
    walk(&dir.join("lake"), &mut files);
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes
                .windows(PASSWORD.len())
                .any(|w| w == PASSWORD.as_bytes()),
            "the password is in `{}`",
            f.display()
        );
    }
}

/// keel never creates a stream: a missing one is an error that says so.
#[test]
fn nats_missing_stream_is_a_clear_error() {
    let up = TcpStream::connect_timeout(&"127.0.0.1:4222".parse().unwrap(), Duration::from_secs(1))
        .is_ok();
    if !require(up, "NATS JetStream on 127.0.0.1:4222") {
        return;
    }
    let project = tempfile::tempdir().unwrap();
    let dir = project.path();
    write_project(
        dir,
        "events",
        "[collector]\nkind = \"nats\"\nurl = \"nats://127.0.0.1:4222\"\n\
         stream = \"KEEL_IT_NO_SUCH_STREAM\"\nidle = \"500ms\"\n",
    );
    let out = crate::support::keel(dir, &["collect", "--source", "events"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("stream `KEEL_IT_NO_SUCH_STREAM`") && stderr.contains("creates them"),
        "{stderr}"
    );
}

// ---- The project and what landed. ----

fn write_project(dir: &Path, source: &str, collector: &str) {
    std::fs::create_dir_all(dir.join("sources")).unwrap();
    std::fs::write(
        dir.join("keel.toml"),
        "name = \"messaging\"\nlake = \"lake\"\n",
    )
    .unwrap();
    let format = "[format]\nkind = \"ndjson\"\n\n[[format.dialects]]\nname = \"messages\"\n\
                  [format.dialects.columns]\npayload = \"payload\"\n\n\
                  [[columns]]\nname = \"payload\"\ntype = \"string\"\n";
    std::fs::write(
        dir.join("sources").join(format!("{source}.toml")),
        format!("{collector}\n{format}"),
    )
    .unwrap();
}

/// Every line of every object in `landing/persistent/<source>/`.
fn landed_lines(dir: &Path, source: &str) -> Vec<Value> {
    let mut files = Vec::new();
    walk(
        &dir.join("lake/landing/persistent").join(source),
        &mut files,
    );
    assert!(!files.is_empty(), "nothing landed for `{source}`");
    let mut lines = Vec::new();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.ends_with(".ndjson"), "object `{name}`");
        for line in BufReader::new(std::fs::File::open(&f).unwrap()).lines() {
            lines.push(serde_json::from_str(&line.unwrap()).unwrap());
        }
    }
    lines
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn landed_count(dir: &Path, source: &str) -> i64 {
    let catalog = keel_catalog::Catalog::open(&dir.join("lake/_catalog/keel.db")).unwrap();
    catalog.landed_message_count(source).unwrap()
}

/// Each of `0..MESSAGES` exactly once.
fn assert_exactly_once(values: impl Iterator<Item = u64>, what: &str) {
    let mut counts = vec![0u32; MESSAGES as usize];
    for v in values {
        counts[usize::try_from(v).unwrap()] += 1;
    }
    let missing: Vec<usize> = (0..counts.len()).filter(|&i| counts[i] == 0).collect();
    let doubled: Vec<usize> = (0..counts.len()).filter(|&i| counts[i] > 1).collect();
    assert!(
        missing.is_empty() && doubled.is_empty(),
        "{} {what}s missing (first {:?}), {} landed more than once (first {:?})",
        missing.len(),
        &missing[..missing.len().min(10)],
        doubled.len(),
        &doubled[..doubled.len().min(10)]
    );
}

/// The manifest agrees: objects of this collector kind, holding every message once.
fn assert_manifest(dir: &Path, source: &str, kind: &str) {
    let json = keel_ok(dir, &["landing", "versions", source, "--format", "json"]);
    let objects: Vec<Value> = serde_json::from_str(&json).unwrap();
    let mut messages = 0;
    for o in &objects {
        assert_eq!(o["collector"]["kind"], kind, "{o}");
        messages += o["collector"]["messages"].as_u64().unwrap();
    }
    assert_eq!(messages, MESSAGES);
}

// ---- Running and killing collections. ----

/// `keel collect --source SOURCE`, which must end (at `idle`) within a minute; returns its
/// stdout.
fn collect_to_idle(dir: &Path, source: &str) -> String {
    // Files, not pipes: a pipe nobody reads while we poll could fill and stall the child.
    let (out_path, err_path) = (dir.join("collect.out"), dir.join("collect.err"));
    let mut child = collect_command(dir, source)
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("start keel collect");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!(
                "`keel collect --source {source}` did not end within 60 s\nstderr:\n{}",
                std::fs::read_to_string(&err_path).unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap();
    assert!(
        status.success(),
        "keel collect failed: {status}\nstdout:\n{stdout}\nstderr:\n{}",
        std::fs::read_to_string(&err_path).unwrap()
    );
    stdout
}

fn collect_command(dir: &Path, source: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keel"));
    command
        .arg("--project")
        .arg(dir)
        .args(["collect", "--source", source])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("KEEL_CRASH_AT");
    command
}

/// Starts [`ROUNDS`] collections one after the other and stops each at a random moment:
/// odd rounds with SIGKILL after 0.3 to 2.3 s, even rounds by `KEEL_CRASH_AT` (an abort
/// at the crash point `crash_at` picks, with SIGKILL after 10 s as a backstop). Returns a
/// summary.
fn kill_rounds(
    dir: &Path,
    source: &str,
    rng: &mut Rng,
    mut crash_at: impl FnMut(&mut Rng) -> u64,
) -> String {
    let (mut killed, mut crashed, mut finished) = (0, 0, 0);
    for round in 0..ROUNDS {
        let mut command = collect_command(dir, source);
        command.stdout(Stdio::null()).stderr(Stdio::null());
        let wait = if round % 2 == 0 {
            command.env("KEEL_CRASH_AT", crash_at(rng).to_string());
            Duration::from_secs(10)
        } else {
            Duration::from_millis(300 + rng.below(2000))
        };
        let mut child: Child = command.spawn().expect("start keel collect");
        let deadline = Instant::now() + wait;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                if status.success() {
                    finished += 1;
                } else {
                    assert_eq!(status.signal(), Some(6), "collection failed: {status}");
                    crashed += 1;
                }
                break;
            }
            if Instant::now() >= deadline {
                child.kill().unwrap();
                child.wait().unwrap();
                killed += 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    format!("{killed} collections killed, {crashed} crashed, {finished} finished")
}

/// xorshift64*, seeded from the clock (printed) or `KEEL_TEST_SEED`, so that a failing
/// schedule of kills can be replayed.
struct Rng(u64);

impl Rng {
    fn from_env() -> Rng {
        let seed = std::env::var("KEEL_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("KEEL_TEST_SEED={seed}");
        Rng(seed | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

// ---- Payloads. ----

/// Every 1000th payload is binary (it lands base64-encoded); the others are JSON text.
fn payload(seq: u64) -> Vec<u8> {
    if seq % 1000 == 999 {
        let mut b = vec![0xff, 0x00];
        b.extend_from_slice(&seq.to_be_bytes());
        b
    } else {
        format!("{{\"seq\":{seq},\"kwh\":{}.{}}}", seq % 977, seq % 10).into_bytes()
    }
}

/// The sequence number of a landed payload.
fn sequence_of(line: &Value) -> u64 {
    let text = line["payload"].as_str().unwrap();
    if line.get("payload_encoding").is_some() {
        assert_eq!(line["payload_encoding"], "base64");
        let bytes = base64_decode(text);
        assert_eq!(bytes[..2], [0xff, 0x00]);
        u64::from_be_bytes(bytes[2..10].try_into().unwrap())
    } else {
        let v: Value = serde_json::from_str(text).unwrap();
        v["seq"].as_u64().unwrap()
    }
}

fn mqtt_sequence(line: &Value) -> u64 {
    let seq = sequence_of(line);
    assert_eq!(line["topic"], format!("keel-it/plant-{}/meter", seq % 7));
    seq
}

fn nats_sequence(line: &Value) -> u64 {
    let seq = sequence_of(line);
    assert!(
        line["subject"]
            .as_str()
            .unwrap()
            .ends_with(&format!(".plant-{}", seq % 7))
    );
    seq
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let mut out = Vec::new();
    for chunk in text.as_bytes().chunks(4) {
        let digits: Vec<u8> = chunk
            .iter()
            .filter(|&&c| c != b'=')
            .map(|&c| value(c))
            .collect();
        let n = digits
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &d)| n | (u32::from(d) << (18 - 6 * i)));
        out.extend_from_slice(&n.to_be_bytes()[1..digits.len()]);
    }
    out
}

// ---- Brokers and publishers. ----

/// A Mosquitto of this test's own on a free port; killed when dropped.
struct Mosquitto {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    fn start() -> Option<Mosquitto> {
        Mosquitto::start_with(None)
    }

    /// With `(user, password)`, anonymous clients are refused.
    fn start_with(login: Option<(&str, &str)>) -> Option<Mosquitto> {
        let exe = Path::new("/usr/sbin/mosquitto");
        if !require(exe.is_file(), "Mosquitto (`/usr/sbin/mosquitto`)") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut conf_text = format!(
            "listener {port} 127.0.0.1\npersistence false\nmax_queued_messages 0\n\
             log_dest stderr\n"
        );
        match login {
            None => conf_text.push_str("allow_anonymous true\n"),
            Some((user, password)) => {
                let file = dir.path().join("passwords");
                let ok = Command::new("mosquitto_passwd")
                    .args(["-c", "-b"])
                    .arg(&file)
                    .args([user, password])
                    .status()
                    .is_ok_and(|s| s.success());
                if !require(ok, "`mosquitto_passwd`") {
                    return None;
                }
                // Started as root, Mosquitto reads the file as user `mosquitto`.
                use std::os::unix::fs::PermissionsExt;
                let open = std::fs::Permissions::from_mode(0o755);
                std::fs::set_permissions(dir.path(), open).unwrap();
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
                conf_text.push_str(&format!(
                    "allow_anonymous false\npassword_file {}\n",
                    file.display()
                ));
            }
        }
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(&conf, conf_text).unwrap();
        let log = std::fs::File::create(dir.path().join("mosquitto.log")).unwrap();
        let child = Command::new(exe)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start mosquitto");
        let broker = Mosquitto {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen on {port}: {}",
                std::fs::read_to_string(broker._dir.path().join("mosquitto.log")).unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(broker)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Publishes `n` QoS 1 messages on a thread of its own; returns once the broker
/// acknowledged them all.
fn publish_mqtt(
    port: u16,
    n: u64,
    login: Option<(&'static str, &'static str)>,
) -> std::thread::JoinHandle<Duration> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let t = Instant::now();
            let mut options = MqttOptions::new("keel-it-publisher", "127.0.0.1", port);
            options
                .set_keep_alive(Duration::from_secs(30))
                .set_inflight(500);
            if let Some((user, password)) = login {
                options.set_credentials(user, password);
            }
            let (client, mut eventloop) = AsyncClient::new(options, 1000);
            let sender = client.clone();
            let send = tokio::spawn(async move {
                for seq in 0..n {
                    let topic = format!("keel-it/plant-{}/meter", seq % 7);
                    sender
                        .publish(topic, QoS::AtLeastOnce, false, payload(seq))
                        .await
                        .unwrap();
                }
            });
            let mut acked = 0;
            while acked < n {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
                    Ok(_) => {}
                    Err(e) => panic!("publisher: {e}"),
                }
            }
            send.await.unwrap();
            client.disconnect().await.unwrap();
            while !matches!(
                eventloop.poll().await,
                Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_)
            ) {}
            t.elapsed()
        })
    })
}

/// A JetStream stream of this test's own; deleted when dropped.
struct NatsStream {
    name: String,
    rt: tokio::runtime::Runtime,
    js: async_nats::jetstream::Context,
}

impl NatsStream {
    fn create() -> NatsStream {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("KEEL_IT_{}_{nanos}", std::process::id());
        let js = rt.block_on(async {
            let client = async_nats::connect("127.0.0.1:4222").await.unwrap();
            let js = async_nats::jetstream::new(client);
            js.create_stream(async_nats::jetstream::stream::Config {
                name: name.clone(),
                subjects: vec![format!("keel-it.{name}.>")],
                storage: async_nats::jetstream::stream::StorageType::Memory,
                ..Default::default()
            })
            .await
            .unwrap();
            js
        });
        NatsStream { name, rt, js }
    }

    /// Publishes `n` messages with publish acknowledgements, a thousand in flight at a time,
    /// on a task of the stream's runtime.
    fn publish(&self, n: u64) -> std::thread::JoinHandle<Duration> {
        let js = self.js.clone();
        let name = self.name.clone();
        let handle = self.rt.handle().clone();
        std::thread::spawn(move || {
            handle.block_on(async move {
                let t = Instant::now();
                let mut pending = Vec::with_capacity(1000);
                for seq in 0..n {
                    let subject = format!("keel-it.{name}.plant-{}", seq % 7);
                    pending.push(js.publish(subject, payload(seq).into()).await.unwrap());
                    if pending.len() == 1000 || seq + 1 == n {
                        for ack in pending.drain(..) {
                            ack.await.unwrap();
                        }
                    }
                }
                t.elapsed()
            })
        })
    }
}

impl Drop for NatsStream {
    fn drop(&mut self) {
        let _ = self.rt.block_on(self.js.delete_stream(&self.name));
    }
}
