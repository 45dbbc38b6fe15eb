//! The `files` collector on an S3-compatible object store (issue 3: "a directory or glob,
//! local or object store"), against a real `s3rver` process started on a free port: objects
//! under a prefix land once with their bytes intact, re-puts become versions, identical bytes
//! are duplicate deliveries, `stable_for` and done-markers hold objects back, secrets stay
//! out of errors and the lake, and odd keys stay inside the source's persistent folder.
//!
//! `s3rver` is installed by `.ci/run` (`npm install --global s3rver`); without it these
//! tests skip here and fail in CI.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keel_catalog::Catalog;
use keel_core::Project;
use keel_core::secrets::Env;
use keel_landing::collect::{CollectReport, collect_source};
use keel_landing::persistent::{self, LoadReport};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as StorePath;
use object_store::{ObjectStoreExt, PutPayload};

const BUCKET: &str = "meters";
/// s3rver's only account. It checks the access key id but not SigV4 signatures, so any
/// secret access key is accepted with it.
const S3RVER_KEY: &str = "S3RVER";

/// A running `s3rver` with one bucket, stopped (and its data removed) when dropped.
struct S3rver {
    child: Child,
    endpoint: String,
    client: AmazonS3,
    _data: tempfile::TempDir,
}

impl S3rver {
    /// Starts `s3rver` on a free port; `None` (a skip) when it is not installed here.
    fn start() -> Option<S3rver> {
        let installed = Command::new("s3rver")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !keel_testkit::require(installed, "s3rver (`npm install --global s3rver`)") {
            return None;
        }
        let data = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("s3rver")
            .arg("--directory")
            .arg(data.path())
            .args(["--address", "127.0.0.1", "--port", &port.to_string()])
            .args(["--silent", "--configure-bucket", BUCKET])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let endpoint = format!("http://127.0.0.1:{port}");
        let client = AmazonS3Builder::new()
            .with_endpoint(&endpoint)
            .with_allow_http(true)
            .with_bucket_name(BUCKET)
            .with_region("us-east-1")
            .with_access_key_id(S3RVER_KEY)
            .with_secret_access_key(S3RVER_KEY)
            .with_virtual_hosted_style_request(false)
            .build()
            .unwrap();
        let server = S3rver {
            child,
            endpoint,
            client,
            _data: data,
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "s3rver did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(server)
    }

    /// Puts `bytes` under exactly `key`.
    async fn put(&self, key: &str, bytes: impl Into<Vec<u8>>) {
        self.put_at(&StorePath::parse(key).unwrap(), bytes).await;
    }

    async fn put_at(&self, path: &StorePath, bytes: impl Into<Vec<u8>>) {
        let bytes: Vec<u8> = bytes.into();
        self.client
            .put(path, PutPayload::from(bytes))
            .await
            .unwrap();
    }
}

impl Drop for S3rver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A project with one source, `meters`, whose collector reads the bucket.
struct Fixture {
    s3: S3rver,
    dir: tempfile::TempDir,
    catalog: Catalog,
    env: Env,
}

impl Fixture {
    /// A project whose `.env` lines are `env`; `None` when s3rver is not installed.
    fn new(env: &str) -> Option<Fixture> {
        let s3 = S3rver::start()?;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keel.toml"), "name = \"s3-landing\"\n").unwrap();
        std::fs::create_dir(dir.path().join("sources")).unwrap();
        let catalog =
            Catalog::open(&keel_core::Lake::new(dir.path().join("lake")).catalog_db()).unwrap();
        Some(Fixture {
            s3,
            dir,
            catalog,
            env: Env::parse(env),
        })
    }

    /// Declares the collector: the bucket's `in/` prefix on this server, plus `extra` keys.
    fn declare(&self, extra: &str) {
        let collector = format!(
            "kind = \"files\"\nurl = \"s3://{BUCKET}/in\"\nendpoint = \"{}\"\n\
             allow_http = true\n{extra}",
            self.s3.endpoint
        );
        write_source(self.dir.path(), &collector);
    }

    async fn collect(&self) -> keel_landing::Result<CollectReport> {
        let project = Project::load(self.dir.path(), None).unwrap();
        let source = project.source("meters").unwrap();
        collect_source(&project, source, &self.catalog, "test-run", &self.env).await
    }

    fn land(&self) -> LoadReport {
        let lake = keel_core::Lake::new(self.dir.path().join("lake"));
        persistent::load(&lake, &self.catalog, "meters", "test-run").unwrap()
    }

    fn read(&self, persistent_path: &str) -> Vec<u8> {
        std::fs::read(self.dir.path().join("lake").join(persistent_path)).unwrap()
    }
}

/// Writes `sources/meters.toml` with this `[collector]` body.
fn write_source(dir: &Path, collector: &str) {
    let text = format!(
        "[collector]\n{collector}\n\n[format]\nkind = \"csv\"\n\n[[format.dialects]]\n\
         name = \"plain\"\n[format.dialects.columns]\nreading = \"reading\"\n\n\
         [[columns]]\nname = \"reading\"\ntype = \"string\"\n"
    );
    std::fs::write(dir.join("sources/meters.toml"), text).unwrap();
}

/// Deterministic bytes that are not a repeated pattern.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn names(report: &LoadReport) -> Vec<String> {
    let mut names: Vec<_> = report
        .stored
        .iter()
        .map(|o| o.original_path.clone())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn objects_under_the_prefix_land_once_then_as_versions_or_duplicates() {
    let Some(f) = Fixture::new("S3_KEY=S3RVER\nS3_SECRET=s3rver-secret") else {
        return;
    };
    f.declare(
        "glob = \"**/*.csv\"\naccess_key_id = \"${S3_KEY}\"\n\
         secret_access_key = \"${S3_SECRET}\"",
    );
    // 5 MiB: the body arrives in many chunks.
    let big = noise(5 << 20, 7);
    f.s3.put("in/2026/01/a.csv", "reading\n1\n").await;
    f.s3.put("in/2026/02/b.csv", "reading\n2\n").await;
    f.s3.put("in/2026/big.csv", big.clone()).await;
    f.s3.put("in/notes.txt", "not a csv").await;
    f.s3.put("other/c.csv", "outside the prefix").await;
    f.s3.put("inbox/d.csv", "a sibling of the prefix").await;

    let report = f.collect().await.unwrap();
    assert_eq!((report.seen, report.taken), (3, 3), "{report:?}");
    assert_eq!(report.bytes, 20 + (5 << 20));
    let landed = f.land();
    assert_eq!(
        names(&landed),
        ["2026/01/a.csv", "2026/02/b.csv", "2026/big.csv"]
    );
    for o in &landed.stored {
        assert!(o.persistent_path.starts_with("landing/persistent/meters/"));
        assert_eq!(o.collector["kind"], "files");
        assert_eq!(o.collector["store"], "s3");
        assert_eq!(
            o.collector["url"],
            format!("s3://meters/in/{}", o.original_path)
        );
        assert!(o.collector["etag"].as_str().is_some_and(|e| !e.is_empty()));
    }
    let big_object = landed
        .stored
        .iter()
        .find(|o| o.original_name == "big.csv")
        .unwrap();
    assert!(
        f.read(&big_object.persistent_path) == big,
        "big.csv changed"
    );

    // Nothing new: nothing is taken, nothing lands.
    let again = f.collect().await.unwrap();
    assert_eq!((again.seen, again.taken), (3, 0));
    assert!(f.land().stored.is_empty());

    // New bytes under the same key: version 2 of `a.csv`. (S3 keeps modification times to
    // the second, so the new bytes have another length: a same-size re-put within the
    // second of the first is told apart only with `stable_for` of at least "1s".)
    f.s3.put("in/2026/01/a.csv", "reading\n1\n11\n").await;
    assert_eq!(f.collect().await.unwrap().taken, 1);
    let landed = f.land();
    assert_eq!(names(&landed), ["2026/01/a.csv"]);
    let versions = f.catalog.object_versions("meters", "a.csv").unwrap();
    assert_eq!(
        versions.iter().map(|o| o.version).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(f.read(&versions[1].persistent_path), b"reading\n1\n11\n");

    // The same bytes as `b.csv` under another key: a duplicate delivery, not stored twice.
    f.s3.put("in/2026/03/b-again.csv", "reading\n2\n").await;
    assert_eq!(f.collect().await.unwrap().taken, 1);
    let landed = f.land();
    assert!(landed.stored.is_empty());
    assert_eq!(landed.duplicates, 1);
    assert_eq!(f.catalog.duplicate_deliveries("meters").unwrap(), 1);
}

#[tokio::test]
async fn an_object_newer_than_stable_for_is_left_for_later() {
    let Some(f) = Fixture::new("") else {
        return;
    };
    // No keys: unsigned requests, as to a public bucket (s3rver serves them).
    f.declare("stable_for = \"3s\"");
    let put_at = Instant::now();
    f.s3.put("in/fresh.csv", "reading\n1\n").await;
    let report = f.collect().await.unwrap();
    assert_eq!((report.seen, report.incomplete, report.taken), (1, 1, 0));
    assert!(f.land().stored.is_empty());

    std::thread::sleep(Duration::from_secs(4).saturating_sub(put_at.elapsed()));
    let report = f.collect().await.unwrap();
    assert_eq!((report.seen, report.incomplete, report.taken), (1, 0, 1));
    assert_eq!(names(&f.land()), ["fresh.csv"]);
}

#[tokio::test]
async fn with_done_suffix_an_object_is_taken_once_its_marker_exists() {
    let Some(f) = Fixture::new("") else {
        return;
    };
    f.declare("done_suffix = \".done\"");
    f.s3.put("in/day/a.csv", "reading\n1\n").await;
    let report = f.collect().await.unwrap();
    assert_eq!((report.seen, report.incomplete, report.taken), (1, 1, 0));

    f.s3.put("in/day/a.csv.done", "").await;
    let report = f.collect().await.unwrap();
    assert_eq!((report.seen, report.incomplete, report.taken), (1, 0, 1));
    // The marker itself is never taken.
    assert_eq!(names(&f.land()), ["day/a.csv"]);
}

#[tokio::test]
async fn wrong_credentials_give_an_error_without_the_secret() {
    const KEY: &str = "canary-key-5d1e-do-not-leak";
    const SECRET: &str = "canary-secret-93b0-do-not-leak";
    let Some(f) = Fixture::new(&format!(
        "S3_KEY={KEY}\nS3_SECRET={SECRET}\nGOOD_KEY=S3RVER"
    )) else {
        return;
    };
    f.s3.put("in/a.csv", "reading\n1\n").await;
    f.declare("access_key_id = \"${S3_KEY}\"\nsecret_access_key = \"${S3_SECRET}\"");
    let err = f.collect().await.unwrap_err().to_string();
    // s3rver names the unknown key id in its answer; the collector redacts it.
    assert!(err.contains("InvalidAccessKeyId"), "{err}");
    assert!(
        err.contains("<AWSAccessKeyId>***</AWSAccessKeyId>"),
        "{err}"
    );
    assert!(!err.contains(KEY) && !err.contains(SECRET), "{err}");
    assert!(f.land().stored.is_empty());

    // A good key id (s3rver does not check the secret): the object lands, and no file of
    // the project, lake and catalog included, holds either secret.
    f.declare("access_key_id = \"${GOOD_KEY}\"\nsecret_access_key = \"${S3_SECRET}\"");
    assert_eq!(f.collect().await.unwrap().taken, 1);
    assert_eq!(f.land().stored.len(), 1);
    let lake = f.dir.path().join("lake");
    let mut files = 0;
    for entry in walkdir::WalkDir::new(&lake) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            files += 1;
            let bytes = std::fs::read(entry.path()).unwrap();
            for secret in [KEY, SECRET] {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "{} holds a secret",
                    entry.path().display()
                );
            }
        }
    }
    assert!(files >= 2, "the lake holds the object and the catalog");
}

#[tokio::test]
async fn odd_keys_land_under_the_source_folder_with_sanitised_names() {
    let Some(f) = Fixture::new("") else {
        return;
    };
    f.declare("");
    // Keys as any client may write them: spaces, punctuation, non-ASCII, `#?%~`.
    f.s3.put("in/we ird & (1) ü+=@;,!.csv", "reading\n1\n")
        .await;
    f.s3.put("in/#?%~.csv", "reading\n2\n").await;
    // object_store cannot write (nor list) a `..` segment: it writes `%2E%2E` instead.
    // s3rver, like a web server, would resolve a real `..` in the request path.
    f.s3.put_at(&StorePath::from("in/a/../../x.csv"), "reading\n3\n")
        .await;
    assert_eq!(f.collect().await.unwrap().taken, 3);
    let landed = f.land();
    assert_eq!(landed.stored.len(), 3);
    let persistent = f.dir.path().join("lake/landing/persistent/meters");
    for o in &landed.stored {
        let path = f.dir.path().join("lake").join(&o.persistent_path);
        let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            path.starts_with(&persistent) && !o.persistent_path.contains("/../"),
            "{}",
            o.persistent_path
        );
        assert!(
            file_name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_')),
            "{file_name}"
        );
        assert!(path.is_file());
    }
    let mut paths = names(&landed);
    paths.sort();
    assert_eq!(
        paths,
        [
            "#?%~.csv",
            "a/%2E%2E/%2E%2E/x.csv",
            "we ird & (1) ü+=@;,!.csv"
        ]
    );
}

#[test]
fn a_declaration_with_both_path_and_url_or_a_literal_secret_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keel.toml"), "name = \"s3-landing\"\n").unwrap();
    std::fs::create_dir_all(dir.path().join("sources")).unwrap();
    std::fs::create_dir_all(dir.path().join("inbox")).unwrap();
    for (collector, expected) in [
        (
            "kind = \"files\"\npath = \"inbox\"\nurl = \"s3://meters/in\"",
            "exactly one of `path` and `url`",
        ),
        (
            "kind = \"files\"",
            "declare a directory `path` or an `s3://` `url`",
        ),
        (
            "kind = \"files\"\npath = \"inbox\"\nendpoint = \"http://127.0.0.1:1\"",
            "only applies to an object store `url`",
        ),
        (
            "kind = \"files\"\nurl = \"s3://meters/in\"\naccess_key_id = \"AKIA0\"\n\
             secret_access_key = \"${S3_SECRET}\"",
            "`${ENV_VAR}` reference",
        ),
        (
            "kind = \"files\"\nurl = \"s3://meters/in\"\naccess_key_id = \"${S3_KEY}\"",
            "declare both",
        ),
        (
            "kind = \"files\"\nurl = \"s3://meters/in\"\nendpoint = \"http://127.0.0.1:1\"",
            "allow_http = true",
        ),
        ("kind = \"files\"\nurl = \"https://meters/in\"", "`s3://`"),
    ] {
        write_source(dir.path(), collector);
        let err = Project::load(dir.path(), None).unwrap_err().to_string();
        assert!(err.contains(expected), "{collector}: {err}");
        assert!(!err.contains("AKIA0"), "{err}");
    }
}
