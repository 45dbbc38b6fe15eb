//! `keel serve` with real clients: psql (simple protocol), psycopg (libpq, extended
//! protocol), a raw TLS startup and HTTPS, against RELIABILITY D1-D6: SCRAM-SHA-256 only,
//! TLS only, deny-by-default SQL, per-connection sessions, timeout/cancel/disconnect, and
//! resource limits.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keel_testkit::{ExampleProject, python_with, require};
use serde_json::{Value, json};

use crate::support::{keel_ok, sql_i64, sql_rows};

const PASSWORD: &str = "correct horse battery staple 42";

/// A served example project: the `keel serve` child, its ports and certificate.
struct Served {
    child: Child,
    pg_port: u16,
    http: String,
    cert: PathBuf,
    python: String,
    // Declared last: the project outlives the server.
    project: ExampleProject,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a test needs that is not keel: openssl for a certificate, psql, and python with
/// psycopg and polars. `None` (skip) outside CI when one is missing.
fn clients() -> Option<String> {
    let have = |cmd: &str| Command::new(cmd).arg("--version").output().is_ok();
    if !require(have("openssl"), "openssl") || !require(have("psql"), "psql") {
        return None;
    }
    let python = python_with("psycopg, polars");
    if !require(python.is_some(), "python with psycopg and polars") {
        return None;
    }
    python
}

/// A self-signed certificate for localhost and 127.0.0.1 in `dir`.
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// `keel serve` on free ports for a project whose models were built, with `serve` added to
/// its keel.toml.
fn serve(serve: &str) -> Option<Served> {
    let python = clients()?;
    let project = ExampleProject::small();
    let dir = project.dir();
    keel_ok(dir, &["run"]);
    let keel_toml = dir.join("keel.toml");
    let mut toml = std::fs::read_to_string(&keel_toml).unwrap();
    toml.push_str(&format!("\n[serve]\n{serve}\n"));
    std::fs::write(&keel_toml, toml).unwrap();
    let (cert, key) = certificate(dir);
    let mut child = keel_serve(dir, &cert, &key)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start keel serve");
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (mut pg_port, mut http) = (None, None);
    while pg_port.is_none() || http.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("keel serve prints where it listens");
        if let Some(addr) = line.strip_prefix("pg: ") {
            pg_port = addr.rsplit(':').next().and_then(|p| p.parse().ok());
        }
        if let Some(url) = line.strip_prefix("http: ") {
            http = Some(url.replace("127.0.0.1", "localhost"));
        }
    }
    Some(Served {
        child,
        pg_port: pg_port.unwrap(),
        http: http.unwrap(),
        cert,
        python,
        project,
    })
}

fn keel_serve(dir: &Path, cert: &Path, key: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keel"));
    command
        .arg("--project")
        .arg(dir)
        .args(["serve", "--pg-port", "0", "--http-port", "0", "--tls-cert"])
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        .env("KEEL_SQL_PASSWORD", PASSWORD)
        .env("KEEL_ANALYST_PASSWORD", "analyst password 42")
        .env("NO_COLOR", "1");
    command
}

impl Served {
    fn dir(&self) -> &Path {
        self.project.dir()
    }

    /// A libpq connection string; TLS verified against the test certificate.
    fn dsn(&self, user: &str, password: &str, sslmode: &str) -> String {
        format!(
            "host=localhost hostaddr=127.0.0.1 port={} dbname=keel user={user} \
             password='{password}' sslmode={sslmode} sslrootcert={} connect_timeout=20",
            self.pg_port,
            self.cert.display()
        )
    }

    fn keel_dsn(&self) -> String {
        self.dsn("keel", PASSWORD, "verify-full")
    }

    /// Runs a command of serve_clients.py.
    fn client(&self, command: &str, args: Value) -> Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/serve_clients.py");
        let out = Command::new(&self.python)
            .arg(script)
            .arg(command)
            .arg(args.to_string())
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "serve_clients.py {command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json from serve_clients.py")
    }

    /// psql (simple query protocol): exit code, stdout, stderr.
    fn psql(&self, dsn: &str, sql: &str) -> (i32, String, String) {
        let out = Command::new("psql")
            .arg(dsn)
            .args(["-X", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1", "-v"])
            .arg("VERBOSITY=verbose")
            .arg("-c")
            .arg(sql)
            .env_remove("PGPASSWORD")
            .output()
            .expect("run psql");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn http(&self, body: Value, user: Option<(&str, &str)>) -> Value {
        let mut args = json!({"url": format!("{}/sql", self.http), "body": body, "ca": self.cert});
        if let Some((user, password)) = user {
            args["user"] = json!(user);
            args["password"] = json!(password);
        }
        self.client("http", args)
    }

    /// The catalog's latest version of a table.
    fn version(&self, table: &str) -> i64 {
        sql_i64(
            self.dir(),
            &format!(
                "SELECT max(version) FROM keel_catalog.dataset_versions WHERE name = '{table}'"
            ),
        )
    }

    /// CPU seconds the server process has used.
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
        ticks / 100.0
    }
}

/// A query that runs for minutes: the daily table crossed with itself three times.
const ENDLESS: &str = "SELECT count(*) FROM daily_consumption a, daily_consumption b, \
                       daily_consumption c WHERE a.consumption_kwh + b.consumption_kwh \
                       + c.consumption_kwh > -1";

#[test]
fn psql_psycopg_and_http_read_the_models_with_the_versions_they_read() {
    let Some(served) = serve(
        "max_connections = 16\nrow_limit = 100000\n\
         [[serve.users]]\nname = \"analyst\"\npassword_env = \"KEEL_ANALYST_PASSWORD\"\n\
         zones = [\"exploitation\", \"formatted\"]",
    ) else {
        return;
    };
    let dir = served.dir();
    let rows = sql_i64(dir, "SELECT count(*) FROM exploitation.daily_consumption");
    let version = served.version("exploitation.daily_consumption");

    // psql, simple protocol, TLS verified against the certificate.
    let (code, out, err) =
        served.psql(&served.keel_dsn(), "SELECT count(*) FROM daily_consumption");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, rows.to_string());
    assert!(
        err.contains(&format!(
            "keel read exploitation.daily_consumption@{version}"
        )),
        "psql shows the version read: {err}"
    );

    // psycopg, extended protocol with a bound parameter, through a view model too.
    let building = sql_rows(
        dir,
        "SELECT min(building_id) FROM exploitation.daily_consumption",
    )[0][0]
        .clone();
    let expected = sql_i64(
        dir,
        &format!(
            "SELECT count(*) FROM exploitation.daily_consumption WHERE building_id = '{building}'"
        ),
    );
    let answer = served.client(
        "query",
        json!({"dsn": served.keel_dsn(),
               "sql": "SELECT count(*) FROM exploitation.daily_consumption WHERE building_id = %s",
               "params": [building]}),
    );
    assert_eq!(answer["rows"], json!([[expected]]), "{answer}");
    assert_eq!(
        answer["notices"],
        json!([format!(
            "keel read exploitation.daily_consumption@{version}"
        )])
    );

    // 16 clients at once agree with keel sql; a 17th connection is refused.
    let per_month = sql_rows(
        dir,
        "SELECT CAST(sum(consumption_kwh) AS VARCHAR) FROM exploitation.monthly_consumption",
    )[0][0]
        .clone();
    let concurrent = served.client(
        "concurrent",
        json!({"dsn": served.keel_dsn(), "clients": 16, "queries": [
            ["SELECT count(*) FROM daily_consumption", null],
            ["SELECT CAST(sum(consumption_kwh) AS VARCHAR) FROM monthly_consumption", null],
        ]}),
    );
    for result in concurrent["results"].as_array().unwrap() {
        assert_eq!(
            result,
            &json!([{"rows": [[rows]]}, {"rows": [[per_month]]}])
        );
    }
    let one_more = concurrent["one_more"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(one_more.contains("too many connections"), "{concurrent}");

    // Zones per login: keel does not see formatted tables; the analyst does.
    let hidden = served.client(
        "query",
        json!({"dsn": served.keel_dsn(), "sql": "SELECT count(*) FROM formatted.readings"}),
    );
    assert_eq!(hidden["error"], "42501", "{hidden}");
    let formatted_rows = sql_i64(dir, "SELECT count(*) FROM formatted.readings");
    let analyst = served.client(
        "query",
        json!({"dsn": served.dsn("analyst", "analyst password 42", "verify-full"),
               "sql": "SELECT count(*) FROM formatted.readings"}),
    );
    assert_eq!(analyst["rows"], json!([[formatted_rows]]), "{analyst}");

    // HTTP: JSON, CSV and Arrow, each naming the version read.
    let sql = "SELECT building_id, count(*) AS days FROM daily_consumption \
               GROUP BY building_id ORDER BY building_id";
    let expected: Vec<Vec<String>> = sql_rows(
        dir,
        &sql.replace("daily_consumption", "exploitation.daily_consumption"),
    );
    let header = format!("exploitation.daily_consumption={version}");
    let as_json = served.http(json!({"sql": sql}), Some(("keel", PASSWORD)));
    assert_eq!(as_json["status"], 200, "{as_json}");
    assert_eq!(as_json["versions"], header);
    let body = &as_json["json"];
    assert_eq!(body["versions"]["exploitation.daily_consumption"], version);
    assert_eq!(body["row_count"], expected.len());
    for (row, want) in body["rows"].as_array().unwrap().iter().zip(&expected) {
        assert_eq!(row["building_id"], want[0]);
        assert_eq!(row["days"].to_string(), want[1]);
    }
    let as_csv = served.http(
        json!({"sql": sql, "format": "csv"}),
        Some(("keel", PASSWORD)),
    );
    assert_eq!(as_csv["versions"], header);
    let csv_lines: Vec<&str> = as_csv["csv"].as_str().unwrap().lines().collect();
    assert_eq!(csv_lines[0], "building_id,days");
    assert_eq!(csv_lines.len(), expected.len() + 1);
    let as_arrow = served.http(
        json!({"sql": sql, "format": "arrow"}),
        Some(("keel", PASSWORD)),
    );
    assert_eq!(as_arrow["versions"], header);
    assert_eq!(as_arrow["rows"].as_array().unwrap().len(), expected.len());

    // HTTP refuses a wrong password, and what SQL refuses.
    let wrong = served.http(json!({"sql": "SELECT 1"}), Some(("keel", "guess")));
    assert_eq!(wrong["status"], 401);
    let nobody = served.http(json!({"sql": "SELECT 1"}), None);
    assert_eq!(nobody["status"], 401);
    let copy = served.http(
        json!({"sql": "COPY (SELECT 1) TO '/tmp/keel-http-copy.csv'"}),
        Some(("keel", PASSWORD)),
    );
    assert_eq!(copy["status"], 403, "{copy}");
    assert!(!Path::new("/tmp/keel-http-copy.csv").exists());
}

#[test]
fn sql_endpoint_refuses_strangers_plaintext_and_everything_but_reads() {
    let Some(served) = serve("") else {
        return;
    };
    let dir = served.dir();

    // D1: unknown user, wrong password, no password: refused; only SCRAM is offered.
    for dsn in [
        served.dsn("mallory", PASSWORD, "require"),
        served.dsn("keel", "wrong password", "require"),
        served
            .keel_dsn()
            .replace(&format!("password='{PASSWORD}'"), ""),
    ] {
        let (code, _, err) = served.psql(&dsn, "SELECT 1");
        assert_ne!(code, 0, "{dsn} was let in");
        assert!(
            err.to_lowercase()
                .contains("password authentication failed")
                || err.contains("no password supplied"),
            "{err}"
        );
    }
    for user in ["keel", "mallory"] {
        let offered = served.client(
            "startup",
            json!({"host": "127.0.0.1", "port": served.pg_port, "user": user}),
        );
        assert_eq!(
            offered["auth_code"], 10,
            "SASL, never MD5 (5) or cleartext (3): {offered}"
        );
        assert_eq!(offered["mechanisms"][0], "SCRAM-SHA-256", "{offered}");
    }

    // D2: plaintext is refused; the server does not start without a usable certificate.
    let (code, _, err) = served.psql(&served.dsn("keel", PASSWORD, "disable"), "SELECT 1");
    assert_ne!(code, 0);
    assert!(err.contains("TLS only"), "{err}");
    let no_cert = Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("--project")
        .arg(dir)
        .args(["serve", "--pg-port", "0", "--http-port", "0"])
        .env("KEEL_SQL_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert_eq!(no_cert.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_cert.stderr).contains("TLS only"));
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let bad_cert = keel_serve(dir, &garbage, &garbage).output().unwrap();
    assert_eq!(bad_cert.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_cert.stderr).contains("garbage.pem"));
    let no_password = keel_serve(dir, &served.cert, &dir.join("server.key"))
        .env_remove("KEEL_SQL_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(no_password.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_password.stderr).contains("KEEL_SQL_PASSWORD"));

    // D3: only reads, by the simple (psql) and the extended (psycopg) protocol; files are
    // neither read nor written.
    let canary = dir.join("canary.csv");
    std::fs::write(&canary, "secret\ncanary-7f3a\n").unwrap();
    let written = dir.join("written.csv");
    let canary_path = canary.display().to_string();
    let written_path = written.display().to_string();
    let refused = [
        format!("CREATE EXTERNAL TABLE c STORED AS CSV LOCATION '{canary_path}'"),
        "CREATE EXTERNAL TABLE c (x VARCHAR) STORED AS PARQUET LOCATION 's3://bucket/x/'"
            .to_string(),
        format!("COPY (SELECT * FROM daily_consumption) TO '{written_path}'"),
        format!("COPY daily_consumption FROM '{canary_path}'"),
        "CREATE TABLE t AS SELECT 1 AS x".to_string(),
        "CREATE VIEW v AS SELECT 1 AS x".to_string(),
        "DROP TABLE daily_consumption".to_string(),
        "INSERT INTO daily_consumption SELECT * FROM daily_consumption".to_string(),
        "DELETE FROM daily_consumption".to_string(),
        "UPDATE daily_consumption SET hdd = 0".to_string(),
        "SET datafusion.execution.batch_size = 1".to_string(),
        format!("SELECT * FROM '{canary_path}'"),
        format!("SELECT * FROM read_csv('{canary_path}')"),
        "EXPLAIN ANALYZE SELECT 1".to_string(),
        "SELECT * FROM generate_series(1, 10)".to_string(),
    ];
    for sql in &refused {
        let (code, out, err) = served.psql(&served.keel_dsn(), sql);
        assert_ne!(code, 0, "psql ran {sql}: {out}");
        assert!(err.contains("42501"), "psql {sql}: {err}");
        assert!(!out.contains("canary") && !err.contains("canary-7f3a"));
    }
    let extended = served.client(
        "statements",
        json!({"dsn": served.keel_dsn(), "statements": refused}),
    );
    for (sql, result) in refused.iter().zip(extended.as_array().unwrap()) {
        assert_eq!(result["error"], "42501", "psycopg {sql}: {result}");
    }
    assert!(!written.exists(), "COPY TO wrote a file");
    // What is allowed still answers.
    let (code, out, err) = served.psql(
        &served.keel_dsn(),
        "EXPLAIN SELECT count(*) FROM daily_consumption",
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("daily_consumption"));

    // D4: one client's settings are its own.
    let isolation = served.client(
        "isolation",
        json!({"dsn": served.keel_dsn(), "sql": ENDLESS.replace(", daily_consumption c", "").replace(" + c.consumption_kwh", "")}),
    );
    assert_eq!(isolation["a_set_timeout"]["rows"], json!([]), "{isolation}");
    assert_eq!(isolation["a_set_engine"]["error"], "42501");
    assert_eq!(isolation["a_create"]["error"], "42501");
    assert_eq!(
        isolation["a_query"]["error"], "57014",
        "A's 1 ms timeout: {isolation}"
    );
    assert!(
        isolation["b_query"]["rows"].is_array(),
        "B unaffected: {isolation}"
    );
    assert_eq!(isolation["b_sees_view"]["error"], "42501");
}

#[test]
fn sql_endpoint_stops_queries_on_timeout_cancel_disconnect_and_limits() {
    let Some(served) = serve(
        "statement_timeout = \"5m\"\nrow_limit = 1000\nmemory_mib = 16\nspill_mib = 1\n\
         [[serve.users]]\nname = \"analyst\"\npassword_env = \"KEEL_ANALYST_PASSWORD\"\n\
         connection_limit = 2",
    ) else {
        return;
    };

    // D5: a statement timeout set by the client stops the query (the server's is 5 min).
    let timed_out = served.client(
        "timeout",
        json!({"dsn": served.keel_dsn(), "ms": 1000, "sql": ENDLESS}),
    );
    assert_eq!(timed_out["error"], "57014", "{timed_out}");
    assert!(timed_out["elapsed"].as_f64().unwrap() < 10.0, "{timed_out}");
    assert_eq!(
        timed_out["after"]["rows"],
        json!([[1]]),
        "the connection goes on"
    );

    // A PostgreSQL cancel request stops it.
    let cancelled = served.client(
        "cancel",
        json!({"dsn": served.keel_dsn(), "after": 1.0, "sql": ENDLESS}),
    );
    assert_eq!(cancelled["error"], "57014", "{cancelled}");
    assert!(cancelled["elapsed"].as_f64().unwrap() < 10.0, "{cancelled}");
    assert_eq!(cancelled["after"]["rows"], json!([[1]]));

    // A client that goes away mid-query: the server's CPU returns to idle.
    served.client(
        "hang_up",
        json!({"dsn": served.keel_dsn(), "after": 1.5, "sql": ENDLESS}),
    );
    std::thread::sleep(Duration::from_secs(5));
    let (before, start) = (served.cpu_seconds(), Instant::now());
    std::thread::sleep(Duration::from_secs(3));
    let busy = (served.cpu_seconds() - before) / start.elapsed().as_secs_f64();
    assert!(
        busy < 0.3,
        "the server still works for a client that left: {busy:.2} cores"
    );

    // D6: the row limit is an error, never a silent cut; memory and spill caps end a query
    // with an error, and the server goes on.
    let too_many = served.client(
        "query",
        json!({"dsn": served.keel_dsn(), "sql": "SELECT * FROM daily_consumption"}),
    );
    assert_eq!(too_many["error"], "54000", "{too_many}");
    let limited = served.client(
        "query",
        json!({"dsn": served.keel_dsn(), "sql": "SELECT * FROM daily_consumption LIMIT 1000"}),
    );
    assert_eq!(limited["rows"].as_array().unwrap().len(), 1000, "{limited}");
    let exhausted = served.client(
        "query",
        json!({"dsn": served.keel_dsn(),
               "sql": "SELECT a.consumption_kwh * b.consumption_kwh + a.hdd AS x, count(*) \
                       FROM daily_consumption a, daily_consumption b GROUP BY x"}),
    );
    assert!(
        exhausted["error"] == "53200" || exhausted["error"] == "53100",
        "{exhausted}"
    );
    let after = served.client(
        "query",
        json!({"dsn": served.keel_dsn(), "sql": "SELECT 1"}),
    );
    assert_eq!(after["rows"], json!([[1]]));

    // D6: a login's own connection limit, told only to whom proved to be that login.
    let analyst = served.dsn("analyst", "analyst password 42", "verify-full");
    let limited = served.client(
        "login_limit",
        json!({"dsn": analyst, "limit": 2,
               "wrong_dsn": served.dsn("analyst", "a guess", "verify-full"),
               "other_dsn": served.keel_dsn()}),
    );
    let message = |what: &str| {
        limited[what]["message"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase()
    };
    assert!(
        message("one_more").contains("too many connections for login `analyst`"),
        "{limited}"
    );
    assert!(
        message("wrong_password").contains("password authentication failed"),
        "{limited}"
    );
    assert_eq!(limited["other_login"]["rows"], json!([[1]]), "{limited}");
    assert_eq!(limited["after_close"]["rows"], json!([[1]]), "{limited}");
    let http = served.client(
        "http_limit",
        json!({"url": format!("{}/sql", served.http), "ca": served.cert,
               "user": "analyst", "password": "analyst password 42",
               "limit": 2, "slow": ENDLESS, "give_up": 3}),
    );
    assert_eq!(http["one_more"]["status"], 429, "{http}");
    assert!(
        http["one_more"]["json"]
            .as_str()
            .unwrap_or_default()
            .contains("too many connections for login `analyst`"),
        "{http}"
    );
    assert_eq!(http["later"]["status"], 200, "slots come back: {http}");
}
