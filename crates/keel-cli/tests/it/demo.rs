//! `keel demo`: creates the example, generates its data, runs everything; what it writes is
//! standard Delta that an independent reader opens with the same row counts.

use keel_testkit::{python_with, require};

use crate::support::{keel, keel_ok, sql_i64};

#[test]
fn demo_runs_every_stage_and_an_independent_reader_sees_the_same_rows() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("demo");
    let out = keel(
        temp.path(),
        &[
            "demo",
            dir.to_str().unwrap(),
            "--buildings",
            "8",
            "--years",
            "1",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed\n{stdout}\n{stderr}");
    for stage in ["collect", "land", "format", "build"] {
        assert!(stdout.contains(stage), "summary lacks `{stage}`:\n{stdout}");
    }
    assert!(stdout.contains("success"), "{stdout}");

    // The weather came over HTTP from the replay the demo ran, the customers from the CRM
    // database (issue 3), and `.env` says where the replay listened.
    let truth: keel_example::Truth =
        serde_json::from_slice(&std::fs::read(dir.join("data/generator_truth.json")).unwrap())
            .unwrap();
    crate::ledger::assert_weather_and_customers_landed(&dir, &truth);
    let dotenv = std::fs::read_to_string(dir.join(".env")).unwrap();
    assert!(
        dotenv.contains("KEEL_WEATHER_API=http://127.0.0.1:"),
        "{dotenv}"
    );

    let tables = [
        ("formatted.readings", "lake/formatted/readings"),
        ("formatted.weather", "lake/formatted/weather"),
        ("formatted.customers", "lake/formatted/customers"),
        ("quarantine.readings", "lake/formatted/_quarantine/readings"),
        (
            "exploitation.daily_consumption",
            "lake/exploitation/daily_consumption",
        ),
        (
            "exploitation.monthly_consumption",
            "lake/exploitation/monthly_consumption",
        ),
    ];
    let counts: Vec<i64> = tables
        .iter()
        .map(|(name, _)| sql_i64(&dir, &format!("SELECT count(*) FROM {name}")))
        .collect();
    assert!(counts.iter().all(|&n| n > 0), "{counts:?}");

    // information_schema lists the zones' tables for tools.
    let listed = keel_ok(
        &dir,
        &[
            "sql",
            "SELECT table_schema, table_name FROM information_schema.tables \
                 WHERE table_schema IN ('formatted', 'exploitation') ORDER BY 1, 2",
            "--format",
            "csv",
        ],
    );
    assert!(
        listed.contains("exploitation,daily_consumption"),
        "{listed}"
    );
    assert!(listed.contains("formatted,readings"), "{listed}");

    // Polars reads the tables through its own Delta reader (with the `deltalake` package
    // resolving the log): nothing of keel is involved.
    let Some(python) = python_with("polars, deltalake") else {
        require(false, "the Python `polars` and `deltalake` packages");
        return;
    };
    let script = "import sys, polars\n\
                  for p in sys.argv[1:]:\n    \
                  print(polars.read_delta(p).height)\n";
    let mut cmd = std::process::Command::new(python);
    cmd.args(["-c", script]);
    for (_, path) in &tables {
        cmd.arg(dir.join(path));
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Vec<i64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(theirs, counts, "polars and keel disagree on row counts");
}
