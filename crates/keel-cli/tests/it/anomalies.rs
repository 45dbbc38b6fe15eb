//! The example's cross-source quality process: `consumption_anomalies` flags the days whose
//! consumption is abnormal for their building. Polars recomputes the robust z-scores from
//! `daily_consumption` on its own, and must flag the same days.

use keel_testkit::{ExampleProject, python_with, require};

use crate::support::{keel_ok, python_stdout, sql_rows};

#[test]
fn the_flagged_days_are_those_an_independent_robust_z_score_flags() {
    let project = ExampleProject::small();
    let dir = project.dir();
    keel_ok(dir, &["run"]);
    let ours: Vec<String> = sql_rows(
        dir,
        "SELECT building_id, CAST(reading_date AS VARCHAR) FROM exploitation.consumption_anomalies \
         ORDER BY 1, 2",
    )
    .into_iter()
    .map(|r| r.join(" "))
    .collect();
    let days = sql_rows(dir, "SELECT count(*) FROM exploitation.daily_consumption")[0][0]
        .parse::<usize>()
        .unwrap();
    assert!(!ours.is_empty(), "no day flagged among {days}");
    // |z| > 3.5 is rare by construction (a few percent of days here: one year of data, whose
    // days within a month still follow the weather), not most of them.
    assert!(
        ours.len() * 20 < days,
        "{} of {days} days flagged",
        ours.len()
    );

    let Some(python) = python_with("polars, deltalake") else {
        require(false, "the Python `polars` and `deltalake` packages");
        return;
    };
    let script = r#"
import sys, polars as pl
d = pl.read_delta(sys.argv[1]).select("building_id", "reading_date", "consumption_kwh")
d = d.filter(pl.col("consumption_kwh").is_not_null()).with_columns(
    pl.col("reading_date").dt.month().alias("m"),
    (pl.col("reading_date").dt.weekday() >= 6).alias("weekend"),
)
g = ["building_id", "m", "weekend"]
c = d.group_by(g).agg(pl.col("consumption_kwh").median().alias("med"), pl.len().alias("n"))
d = d.join(c, on=g)
s = d.group_by(g).agg((pl.col("consumption_kwh") - pl.col("med")).abs().median().alias("mad"))
d = d.join(s, on=g)
z = 0.6745 * (pl.col("consumption_kwh") - pl.col("med")) / pl.col("mad")
f = d.filter((pl.col("n") >= 8) & (pl.col("mad") > 0) & (z.abs() > 3.5)).sort("building_id", "reading_date")
for b, day in f.select("building_id", "reading_date").iter_rows():
    print(b, day.isoformat())
"#;
    let table = dir.join("lake/exploitation/daily_consumption");
    let theirs: Vec<String> = python_stdout(&python, script, &[table.as_os_str()])
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(ours, theirs, "keel and polars flag different days");
}
