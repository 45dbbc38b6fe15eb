//! The `sql` collector (issue 3) against the PostgreSQL (127.0.0.1:5432) and MariaDB
//! (127.0.0.1:3306) servers of the machine and against SQLite files: a million rows landed
//! incrementally then only what changed, the cursor boundary of RELIABILITY B2, snapshots
//! and their versions, secrets kept out of errors and the catalog (D9), and LOCAL INFILE
//! refused (D11). Each test works on its own table and drops it at the end.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use keel_catalog::Catalog;
use keel_catalog::manifest::LandingObject;
use keel_core::Lake;
use keel_core::secrets::Env;
use keel_core::spec::SqlSpec;
use keel_landing::collect::{CollectReport, Ctx, sql};
use keel_landing::persistent::{self, LoadReport};
use mysql_async::prelude::Queryable;
use serde_json::{Value, json};

const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const MY_URL: &str = "mysql://root@127.0.0.1:3306/test";
const MILLION: i64 = 1_000_000;

/// A temporary project with a lake and its catalog.
struct Lakehouse {
    dir: tempfile::TempDir,
    lake: Lake,
    catalog: Catalog,
}

impl Lakehouse {
    fn new() -> Lakehouse {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::new(dir.path().join("lake"));
        let catalog = Catalog::open(&lake.catalog_db()).unwrap();
        Lakehouse { dir, lake, catalog }
    }

    /// Collects `source` once, then loads what it took into persistent landing.
    async fn run(
        &self,
        source: &str,
        spec: &SqlSpec,
        env: &Env,
    ) -> keel_landing::Result<(CollectReport, LoadReport)> {
        let run_id = keel_core::ids::new_run_id();
        let report = self.collect(source, spec, env, &run_id).await?;
        let load = persistent::load(&self.lake, &self.catalog, source, &run_id)?;
        Ok((report, load))
    }

    async fn collect(
        &self,
        source: &str,
        spec: &SqlSpec,
        env: &Env,
        run_id: &str,
    ) -> keel_landing::Result<CollectReport> {
        let ctx = Ctx {
            source,
            project_dir: self.dir.path(),
            lake: &self.lake,
            catalog: &self.catalog,
            run_id,
            env,
        };
        sql::collect(&ctx, spec).await
    }

    fn cursor(&self, source: &str) -> Option<Value> {
        self.catalog.source_state(source, "cursor").unwrap()
    }

    fn text(&self, object: &LandingObject) -> String {
        fs_err::read_to_string(self.lake.root().join(&object.persistent_path)).unwrap()
    }

    /// Every file of the project (lake and catalog included) as bytes, to look for secrets.
    fn all_bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for entry in walkdir::WalkDir::new(self.dir.path()) {
            let entry = entry.unwrap();
            if entry.file_type().is_file() {
                all.extend(fs_err::read(entry.path()).unwrap());
            }
        }
        all
    }
}

fn spec(url: &str, table: &str, cursor: Option<&str>, lag: Option<f64>, rows: usize) -> SqlSpec {
    SqlSpec {
        url: url.to_string(),
        table: Some(table.to_string()),
        query: None,
        cursor: cursor.map(str::to_string),
        lag,
        batch_rows: rows,
    }
}

/// A table name of this test and this process, so that concurrent runs do not collide.
fn table_name(test: &str) -> String {
    format!("keel_it_{test}_{}", std::process::id())
}

/// The `id` of each line (`{"id":N,...}`), without parsing the whole line.
fn ids(text: &str) -> Vec<i64> {
    text.lines()
        .map(|l| {
            let rest = l.strip_prefix("{\"id\":").expect("lines start with the id");
            rest[..rest.find([',', '}']).unwrap()].parse().unwrap()
        })
        .collect()
}

/// The line of `text` with this id, parsed.
fn row(text: &str, id: i64) -> Value {
    let prefix = format!("{{\"id\":{id},");
    let line = text.lines().find(|l| l.starts_with(&prefix));
    serde_json::from_str(line.unwrap_or_else(|| panic!("no row {id}"))).unwrap()
}

fn sorted(mut v: Vec<i64>) -> Vec<i64> {
    v.sort_unstable();
    v
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

async fn postgres() -> Option<tokio_postgres::Client> {
    let connected = tokio_postgres::connect(PG_URL, tokio_postgres::NoTls).await;
    let available = keel_testkit::require(connected.is_ok(), "PostgreSQL on 127.0.0.1:5432");
    let (client, connection) = connected.ok().filter(|_| available)?;
    tokio::spawn(connection);
    Some(client)
}

async fn mariadb() -> Option<mysql_async::Conn> {
    let connected = mysql_async::Conn::from_url(MY_URL).await;
    let available = keel_testkit::require(connected.is_ok(), "MariaDB on 127.0.0.1:3306");
    connected.ok().filter(|_| available)
}

/// Lets the clock pass a whole second, so that rows written before it are below the next
/// window's bound (bounds of timestamp cursors are cut to the second).
async fn next_second() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

/// Landing a million rows, then exactly the rows inserted or updated since, then nothing:
/// the same on PostgreSQL and MariaDB, with an `updated_at` cursor.
async fn million_then_changes(
    server: &str,
    url: &str,
    table: &str,
    change: impl AsyncFnOnce(),
) -> (Vec<Value>, Vec<Value>) {
    let lake = Lakehouse::new();
    let spec = spec(url, table, Some("updated_at"), None, 250_000);
    let env = Env::default();

    // Timed apart, for the record only: performance claims belong in benchmarks.
    let run_id = keel_core::ids::new_run_id();
    let started = Instant::now();
    let report = lake.collect(server, &spec, &env, &run_id).await.unwrap();
    let collected = started.elapsed().as_secs_f64();
    let load = persistent::load(&lake.lake, &lake.catalog, server, &run_id).unwrap();
    let loaded = started.elapsed().as_secs_f64() - collected;
    eprintln!(
        "{server}: {} rows in {} objects ({} bytes) collected in {collected:.2} s \
         ({:.0} rows/s), loaded in {loaded:.2} s",
        report.records,
        report.taken,
        report.bytes,
        report.records as f64 / collected
    );
    assert_eq!(report.records, MILLION as u64);
    assert_eq!(report.taken, 4, "250,000 rows per object");
    assert_eq!(load.stored.len(), 4);
    assert_eq!(load.bytes, report.bytes);
    let first = lake
        .cursor(server)
        .expect("the cursor is saved with the data");
    let objects = lake.catalog.objects(server).unwrap();
    let mut landed = Vec::with_capacity(MILLION as usize);
    for (k, o) in objects.iter().enumerate() {
        let text = lake.text(o);
        let name = format!("{table}_start_");
        assert!(o.original_name.starts_with(&name), "{}", o.original_name);
        assert!(
            o.original_name
                .ends_with(&format!(".part{:04}.ndjson", k + 1)),
            "{}",
            o.original_name
        );
        assert_eq!(o.collector["kind"], "sql");
        assert_eq!(o.collector["url"], url);
        assert_eq!(o.collector["table"], table);
        assert_eq!(o.collector["cursor"], "updated_at");
        assert_eq!(o.collector["from"], Value::Null);
        assert_eq!(o.collector["to"], first);
        assert_eq!(o.collector["rows"], 250_000);
        assert_eq!(o.collector["part"], k + 1);
        landed.extend(ids(&text));
    }
    assert_eq!(landed.len(), MILLION as usize, "exactly one line per row");
    // Every row has the same `updated_at`: ties are ordered by the first column.
    assert_eq!(landed, (1..=MILLION).collect::<Vec<_>>());
    let text = lake.text(&objects[0]);
    let firsts = vec![row(&text, 1), row(&text, 2)];

    // 1,000 new rows and 100 updated ones (ids 10000, 20000, ..., 1000000).
    next_second().await;
    change().await;
    next_second().await;
    let (report, load) = lake.run(server, &spec, &env).await.unwrap();
    assert_eq!(report.records, 1_100);
    assert_eq!(report.taken, 1);
    assert_eq!(load.stored.len(), 1);
    let second = lake.cursor(server).unwrap();
    assert_ne!(second, first);
    let object = &load.stored[0];
    assert_eq!(object.collector["from"], first);
    assert_eq!(object.collector["to"], second);
    assert_eq!(object.collector["rows"], 1_100);
    let text = lake.text(object);
    let expected: BTreeSet<i64> = (MILLION + 1..=MILLION + 1_000)
        .chain((1..=100).map(|k| k * 10_000))
        .collect();
    let got = ids(&text);
    assert_eq!(got.len(), 1_100);
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), expected);
    let changed = vec![row(&text, 10_000), row(&text, MILLION + 1)];

    // Nothing new: nothing landed, the cursor stays.
    let (report, load) = lake.run(server, &spec, &env).await.unwrap();
    assert_eq!((report.records, report.taken), (0, 0));
    assert!(load.stored.is_empty() && load.duplicates == 0);
    assert_eq!(lake.cursor(server), Some(second));
    assert_eq!(lake.catalog.objects(server).unwrap().len(), 5);
    let temporal = lake.lake.temporal(server);
    assert!(!temporal.exists() || fs_err::read_dir(&temporal).unwrap().next().is_none());
    (firsts, changed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lands_a_million_rows_then_only_what_changed() {
    let Some(db) = postgres().await else { return };
    let table = table_name("pg_million");
    db.batch_execute(&format!(
        "DROP TABLE IF EXISTS {table};
         CREATE TABLE {table} (id bigint PRIMARY KEY, name text NOT NULL, amount numeric(14,2),
             ratio double precision, flag boolean, tags text[], payload bytea,
             updated_at timestamptz NOT NULL);
         INSERT INTO {table}
             SELECT g, 'name ' || g, g * 1.25, g / 8.0, g % 2 = 0,
                    CASE WHEN g = 2 THEN ARRAY['a', 'b'] END,
                    CASE WHEN g = 1 THEN '\\x00ff'::bytea END,
                    now() - interval '1 hour'
             FROM generate_series(1, {MILLION}) g;"
    ))
    .await
    .unwrap();

    let (firsts, changed) = million_then_changes("pg", PG_URL, &table, async || {
        db.batch_execute(&format!(
            "INSERT INTO {table} (id, name, updated_at)
                 SELECT g, 'new ' || g, now() FROM generate_series({}, {}) g;
             UPDATE {table} SET name = 'updated', updated_at = now() WHERE id % 10000 = 0;",
            MILLION + 1,
            MILLION + 1_000
        ))
        .await
        .unwrap();
    })
    .await;

    // Column types become JSON types; numeric keeps its digits as a string, bytes are hex.
    let one = &firsts[0];
    assert_eq!(one["name"], "name 1");
    assert_eq!(one["amount"], "1.25");
    assert_eq!(one["ratio"], 0.125);
    assert_eq!(one["flag"], false);
    assert_eq!(one["tags"], Value::Null);
    assert_eq!(one["payload"], "00ff");
    let at = one["updated_at"].as_str().unwrap();
    assert!(at.ends_with('Z') && at.contains('T'), "{at}");
    assert_eq!(firsts[1]["tags"], "{a,b}", "arrays land as their text form");
    assert_eq!(changed[0]["name"], "updated");
    assert_eq!(changed[1]["name"], "new 1000001");
    assert_eq!(changed[1]["amount"], Value::Null);

    db.batch_execute(&format!("DROP TABLE {table}"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_lands_a_million_rows_then_only_what_changed() {
    let Some(mut db) = mariadb().await else {
        return;
    };
    let table = table_name("my_million");
    db.query_drop(format!("DROP TABLE IF EXISTS {table}"))
        .await
        .unwrap();
    db.query_drop(format!(
        "CREATE TABLE {table} (id BIGINT PRIMARY KEY, name VARCHAR(40) NOT NULL,
             amount DECIMAL(14,2), ratio DOUBLE, flag BOOLEAN, payload VARBINARY(8),
             updated_at DATETIME(6) NOT NULL) ENGINE=InnoDB"
    ))
    .await
    .unwrap();
    db.query_drop(format!(
        "INSERT INTO {table}
             SELECT seq, CONCAT('name ', seq), seq * 1.25, seq / 8, seq % 2 = 0,
                    IF(seq = 1, X'00ff', NULL), NOW(6) - INTERVAL 1 HOUR
             FROM seq_1_to_{MILLION}"
    ))
    .await
    .unwrap();

    let (firsts, changed) = million_then_changes("my", MY_URL, &table, async || {
        db.query_drop(format!(
            "INSERT INTO {table} (id, name, updated_at)
                 SELECT seq, CONCAT('new ', seq), NOW(6) FROM seq_{}_to_{}",
            MILLION + 1,
            MILLION + 1_000
        ))
        .await
        .unwrap();
        db.query_drop(format!(
            "UPDATE {table} SET name = 'updated', updated_at = NOW(6) WHERE id % 10000 = 0"
        ))
        .await
        .unwrap();
    })
    .await;

    let one = &firsts[0];
    assert_eq!(one["name"], "name 1");
    assert_eq!(one["amount"], "1.25");
    assert_eq!(one["ratio"], 0.125);
    assert_eq!(one["flag"], 0, "MariaDB's BOOLEAN is a TINYINT");
    assert_eq!(one["payload"], "00ff");
    assert_eq!(firsts[1]["payload"], Value::Null);
    let at = one["updated_at"].as_str().unwrap();
    assert!(at.len() == 26 && at.as_bytes()[10] == b'T', "{at}");
    assert_eq!(changed[0]["name"], "updated");
    assert_eq!(changed[1]["name"], "new 1000001");

    db.query_drop(format!("DROP TABLE {table}")).await.unwrap();
}

/// RELIABILITY B2: a row committed late, with a cursor value below the newest one, is still
/// landed when `lag` covers it, and a row whose value equals the saved cursor is landed by
/// the next window (closed-open). Without the lag the late row is missed: the counter-case
/// shows what the lag is for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_rows_within_the_lag_are_landed_by_the_next_window() {
    let Some(db) = postgres().await else { return };
    let Some(late) = postgres().await else { return };
    let table = table_name("pg_late");
    db.batch_execute(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id bigint PRIMARY KEY, note text)"
    ))
    .await
    .unwrap();
    // Id 95 is written by a transaction that is still open while 1..=100 commit around it.
    late.batch_execute(&format!("BEGIN; INSERT INTO {table} VALUES (95, 'late')"))
        .await
        .unwrap();
    db.batch_execute(&format!(
        "INSERT INTO {table} SELECT g, 'early' FROM generate_series(1, 100) g WHERE g <> 95"
    ))
    .await
    .unwrap();

    let lake = Lakehouse::new();
    let env = Env::default();
    let lagged = spec(PG_URL, &table, Some("id"), Some(10.0), 1_000);
    let eager = spec(PG_URL, &table, Some("id"), None, 1_000);
    let landed = |load: &LoadReport| -> Vec<i64> {
        load.stored
            .iter()
            .flat_map(|o| ids(&lake.text(o)))
            .collect()
    };

    let (_, load) = lake.run("lagged", &lagged, &env).await.unwrap();
    assert_eq!(sorted(landed(&load)), (1..=90).collect::<Vec<_>>());
    assert_eq!(
        lake.cursor("lagged"),
        Some(json!(91)),
        "max 100 + 1 - lag 10"
    );
    let (_, load) = lake.run("eager", &eager, &env).await.unwrap();
    let mut eager_ids = landed(&load);
    assert_eq!(eager_ids.len(), 99, "95 is not committed yet");
    assert_eq!(lake.cursor("eager"), Some(json!(101)));

    late.batch_execute("COMMIT").await.unwrap();
    db.batch_execute(&format!(
        "INSERT INTO {table} SELECT g, 'next' FROM generate_series(101, 120) g"
    ))
    .await
    .unwrap();

    let (_, load) = lake.run("lagged", &lagged, &env).await.unwrap();
    let second = landed(&load);
    assert!(second.contains(&95), "the late row is inside the lag");
    assert_eq!(sorted(second), (91..=110).collect::<Vec<_>>());
    assert_eq!(lake.cursor("lagged"), Some(json!(111)));
    let name = &load.stored[0].original_name;
    assert_eq!(name, &format!("{table}_91_111.part0001.ndjson"));

    let (_, load) = lake.run("eager", &eager, &env).await.unwrap();
    let second = landed(&load);
    assert_eq!(
        second[0], 101,
        "the row equal to the saved cursor opens the next window"
    );
    eager_ids.extend(second);
    assert_eq!(eager_ids.len(), 119);
    assert!(
        !eager_ids.contains(&95),
        "without a lag the late row is missed"
    );

    db.batch_execute(&format!("DROP TABLE {table}"))
        .await
        .unwrap();
}

fn sqlite_shop(dir: &Path) -> rusqlite::Connection {
    fs_err::create_dir_all(dir.join("data")).unwrap();
    let db = rusqlite::Connection::open(dir.join("data/shop.db")).unwrap();
    db.execute_batch(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL, photo BLOB, note TEXT);
         INSERT INTO items VALUES (3, 'pump', 120.5, NULL, 'spare');
         INSERT INTO items VALUES (1, 'valve', 9.75, x'cafe', NULL);
         INSERT INTO items VALUES (5, 'meter', 80.0, NULL, NULL);
         INSERT INTO items VALUES (2, 'pipe, 2 m', 4.0, NULL, 'ąę \"quoted\"');
         INSERT INTO items VALUES (4, 'seal', 0.5, NULL, NULL);",
    )
    .unwrap();
    db
}

#[tokio::test]
async fn sqlite_snapshots_land_once_until_the_table_changes() {
    let lake = Lakehouse::new();
    let db = sqlite_shop(lake.dir.path());
    let env = Env::default();
    let shop = spec("sqlite://data/shop.db", "items", None, None, 100);

    let (report, load) = lake.run("shop", &shop, &env).await.unwrap();
    assert_eq!((report.records, report.taken), (5, 1));
    assert_eq!(load.stored.len(), 1);
    let first = &load.stored[0];
    assert_eq!(first.original_name, "items.ndjson");
    assert_eq!(first.collector["cursor"], Value::Null);
    assert_eq!(first.collector["url"], "sqlite://data/shop.db");
    let text = lake.text(first);
    assert_eq!(
        ids(&text),
        vec![1, 2, 3, 4, 5],
        "ordered by the first column"
    );
    assert_eq!(
        text.lines().next().unwrap(),
        r#"{"id":1,"name":"valve","price":9.75,"photo":"cafe","note":null}"#
    );
    assert_eq!(row(&text, 2)["note"], "ąę \"quoted\"");

    // Unchanged: the same bytes again, recorded as a duplicate delivery.
    let (report, load) = lake.run("shop", &shop, &env).await.unwrap();
    assert_eq!(report.taken, 1);
    assert!(load.stored.is_empty());
    assert_eq!(load.duplicates, 1);
    assert_eq!(lake.catalog.duplicate_deliveries("shop").unwrap(), 1);

    // A changed row: a new version of the same name.
    db.execute("UPDATE items SET price = 130 WHERE id = 3", [])
        .unwrap();
    let (_, load) = lake.run("shop", &shop, &env).await.unwrap();
    assert_eq!(load.stored.len(), 1);
    let versions = lake
        .catalog
        .object_versions("shop", "items.ndjson")
        .unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(row(&lake.text(&versions[1]), 3)["price"], 130.0);

    // Several parts when the result is larger than `batch_rows`; a query lands as `query`.
    let parts = spec("sqlite://data/shop.db", "items", None, None, 2);
    let (report, load) = lake.run("parts", &parts, &env).await.unwrap();
    assert_eq!(report.taken, 3);
    let names: Vec<&str> = load
        .stored
        .iter()
        .map(|o| o.original_name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "items.part0001.ndjson",
            "items.part0002.ndjson",
            "items.part0003.ndjson"
        ]
    );
    assert_eq!(load.stored[2].collector["rows"], 1);
    let query = SqlSpec {
        table: None,
        query: Some("SELECT id, name FROM items WHERE price > 50;".into()),
        ..parts.clone()
    };
    let (_, load) = lake.run("cheap", &query, &env).await.unwrap();
    assert_eq!(load.stored[0].original_name, "query.ndjson");
    assert_eq!(
        lake.text(&load.stored[0]),
        "{\"id\":3,\"name\":\"pump\"}\n{\"id\":5,\"name\":\"meter\"}\n"
    );
}

#[tokio::test]
async fn sqlite_text_timestamps_advance_the_cursor() {
    let lake = Lakehouse::new();
    let db = sqlite_shop(lake.dir.path());
    db.execute_batch(
        "CREATE TABLE events (id INTEGER, at TEXT NOT NULL);
         INSERT INTO events VALUES (1, datetime('now', '-1 hour')),
             (2, datetime('now', '-1 hour')), (3, datetime('now', '-1 hour'));",
    )
    .unwrap();
    let env = Env::default();
    let events = spec("sqlite://data/shop.db", "events", Some("at"), None, 100);
    let (report, _) = lake.run("events", &events, &env).await.unwrap();
    assert_eq!(report.records, 3);
    let first = lake.cursor("events").unwrap();
    let first = first.as_str().unwrap();
    assert_eq!(first.len(), 19, "written like CURRENT_TIMESTAMP: {first}");

    next_second().await;
    db.execute_batch("INSERT INTO events VALUES (4, CURRENT_TIMESTAMP), (5, CURRENT_TIMESTAMP)")
        .unwrap();
    next_second().await;
    let (report, load) = lake.run("events", &events, &env).await.unwrap();
    assert_eq!(report.records, 2);
    assert_eq!(ids(&lake.text(&load.stored[0])), vec![4, 5]);
    let (report, _) = lake.run("events", &events, &env).await.unwrap();
    assert_eq!(report.records, 0);
}

/// RELIABILITY D9: a password given through `${ENV}` appears in no error and in no file of
/// the project, whether the server rejects the connection or accepts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_password_never_reaches_errors_or_the_catalog() {
    const CANARY: &str = "canary-8d1f3c5e9a7b4d20";
    let env = Env::parse(&format!("KEEL_TEST_PG_PASSWORD_CANARY={CANARY}\n"));
    let lake = Lakehouse::new();

    // MariaDB rejects an unknown user.
    if mariadb().await.is_some() {
        let url = "mysql://keel_no_such_user:${KEEL_TEST_PG_PASSWORD_CANARY}@127.0.0.1:3306/test";
        let err = lake
            .run("rejected", &spec(url, "t", None, None, 10), &env)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("Access denied"), "{err}");
        assert!(!err.contains(CANARY), "{err}");
    }

    if let Some(db) = postgres().await {
        // PostgreSQL names a missing database in its error: the canary as a database name
        // must come back redacted.
        let url = "postgres://postgres:${KEEL_TEST_PG_PASSWORD_CANARY}@127.0.0.1:5432/\
                   ${KEEL_TEST_PG_PASSWORD_CANARY}";
        let err = lake
            .run("missing", &spec(url, "t", None, None, 10), &env)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("***"), "{err}");
        assert!(!err.contains(CANARY), "{err}");

        // Trust authentication accepts the password: the run lands, the manifest records
        // the URL without it.
        let table = table_name("pg_canary");
        db.batch_execute(&format!(
            "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} AS SELECT 1 AS id, 'x' AS v"
        ))
        .await
        .unwrap();
        let url = "postgres://postgres:${KEEL_TEST_PG_PASSWORD_CANARY}@127.0.0.1:5432/test";
        let (_, load) = lake
            .run("accepted", &spec(url, &table, None, None, 10), &env)
            .await
            .unwrap();
        assert_eq!(
            load.stored[0].collector["url"],
            "postgres://postgres@127.0.0.1:5432/test"
        );
        db.batch_execute(&format!("DROP TABLE {table}"))
            .await
            .unwrap();
    }

    let bytes = lake.all_bytes();
    assert!(
        !contains(&bytes, CANARY),
        "the canary is in a file of the project"
    );
}

/// RELIABILITY D11: the collector's MariaDB connections install no LOCAL INFILE handler, so
/// a `LOAD DATA LOCAL INFILE` (what a rogue server can ask for in answer to any query) is
/// refused and the file is never sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_local_infile_is_refused() {
    let Some(mut admin) = mariadb().await else {
        return;
    };
    let table = table_name("my_infile");
    admin
        .query_drop(format!("DROP TABLE IF EXISTS {table}"))
        .await
        .unwrap();
    admin
        .query_drop(format!("CREATE TABLE {table} (line TEXT)"))
        .await
        .unwrap();
    let secret = tempfile::NamedTempFile::new().unwrap();
    fs_err::write(secret.path(), "a line of a private file\n").unwrap();

    let opts = sql::mysql_opts(MY_URL).unwrap();
    assert!(opts.local_infile_handler().is_none());
    let mut conn = mysql_async::Conn::new(opts).await.unwrap();
    let err = conn
        .query_drop(format!(
            "LOAD DATA LOCAL INFILE '{}' INTO TABLE {table}",
            secret.path().display()
        ))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("LOCAL INFILE"), "{err}");
    drop(conn);

    let count: Option<i64> = admin
        .query_first(format!("SELECT COUNT(*) FROM {table}"))
        .await
        .unwrap();
    assert_eq!(count, Some(0), "nothing of the file reached the server");
    admin
        .query_drop(format!("DROP TABLE {table}"))
        .await
        .unwrap();
}
