//! RELIABILITY C5 on a real cumulative register: the Danish smart heat meter's kWh counter
//! (`../shared/data/real/heat_denmark`) is walked in time order. The real meter reads clean;
//! copies of it with faults put in at known lines (spikes both ways, a roll-over, a meter
//! exchange, a jump) get exactly those lines flagged, keep every row in the table, and
//! `valid.<table>` leaves out the invalid ones.

use std::collections::BTreeSet;

use crate::lab::Lab;

const SOURCE: &str = r#"
[collector]
kind = "files"
path = "inbox"
[format]
kind = "csv"
[[format.dialects]]
name = "dk"
date_format = "rfc3339"
[format.dialects.columns]
meter_id = "meter_id"
hour = "time_rounded"
energy_kwh = "energy_heat_kwh"
[[columns]]
name = "meter_id"
type = "int64"
required = true
[[columns]]
name = "hour"
type = "timestamp"
required = true
[[columns]]
name = "energy_kwh"
type = "float64"
min = 0.0
counter = { order = "hour", rollover = 100000.0, max_per_hour = 60.0 }
[keys]
primary = ["meter_id", "hour"]
"#;

/// The real file with `meter_id` set to `meter` and each data row's reading (row `i`, from
/// 0) replaced by `edit(i, reading)`.
fn copy_with(text: &str, meter: i64, edit: impl Fn(usize, f64) -> f64) -> Vec<u8> {
    let mut lines = text.lines();
    let mut out = format!("{}\n", lines.next().unwrap());
    for (i, line) in lines.enumerate() {
        let mut fields: Vec<String> = line.split(',').map(str::to_string).collect();
        fields[1] = meter.to_string();
        fields[3] = edit(i, fields[3].parse().unwrap()).to_string();
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out.into_bytes()
}

#[tokio::test]
async fn the_real_register_reads_clean_and_each_injected_fault_is_flagged_not_dropped() {
    let Some(real) = keel_testkit::real_data_dir() else {
        return;
    };
    let text =
        std::fs::read_to_string(real.join("heat_denmark/processed_final_data_sample.csv")).unwrap();
    let readings: Vec<f64> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap().parse().unwrap())
        .collect();
    let rows = readings.len();
    assert!(rows > 20_000, "{rows} hourly readings");
    // Data row `i` is on line `i + 2` (after the header).
    let line = |i: usize| (i + 2).to_string();

    let lab = Lab::new(&[("dk", SOURCE)], 8192);
    lab.land("dk", "meter_660.csv", text.as_bytes());
    // Meter 661: the register shifted so that it wraps at 100,000 on row 20,000, with one
    // reading of 3 on row 1,000 and one 5,000 too high on row 2,000.
    let offset = 100_000.0 - readings[20_000] + 0.5;
    lab.land(
        "dk",
        "meter_661.csv",
        &copy_with(&text, 661, |i, v| match i {
            1_000 => 3.0,
            2_000 => v + offset + 5_000.0,
            _ => (v + offset) % 100_000.0,
        }),
    );
    // Meter 662: exchanged on row 15,000 (a new register starting at 10), then 900 kWh
    // too many from row 16,000 on.
    let exchange = readings[15_000] - 10.0;
    lab.land(
        "dk",
        "meter_662.csv",
        &copy_with(&text, 662, |i, v| match i {
            0..15_000 => v,
            15_000..16_000 => v - exchange,
            _ => v - exchange + 900.0,
        }),
    );
    let report = lab.format("dk").await;
    assert_eq!(report.rows_written as usize, 3 * rows, "nothing is dropped");

    let checked = keel_formatted::check_table(&lab.project, "dk", "run-check")
        .await
        .unwrap()
        .expect("a counter is declared");
    assert_eq!(checked.readings as usize, 3 * rows);
    assert_eq!((checked.invalid, checked.rollovers), (4, 1), "{checked:?}");

    let flags = lab
        .rows(
            "SELECT series, _keel_line, rule, severity FROM flags.dk \
             ORDER BY series, _keel_line",
        )
        .await;
    let expected = [
        ("meter_id=661", line(1_000), "counter_spike", "invalid"),
        ("meter_id=661", line(2_000), "counter_spike", "invalid"),
        ("meter_id=661", line(20_000), "counter_rollover", "info"),
        ("meter_id=662", line(15_000), "counter_decrease", "invalid"),
        ("meter_id=662", line(16_000), "counter_jump", "invalid"),
    ]
    .map(|(s, l, r, v)| vec![s.to_string(), l, r.to_string(), v.to_string()]);
    assert_eq!(flags, expected, "the real meter 660 has no flag");
    let reasons = lab.rows("SELECT reason FROM flags.dk").await;
    assert!(
        reasons.iter().all(|r| r[0].starts_with("`energy_kwh` ")),
        "{reasons:?}"
    );

    // `valid.dk` is the table without the invalid readings; the roll-over stays.
    let left_out: BTreeSet<String> = lab
        .rows(
            "SELECT CAST(meter_id AS VARCHAR) || ':' || CAST(_keel_line AS VARCHAR) \
             FROM formatted.dk EXCEPT \
             SELECT CAST(meter_id AS VARCHAR) || ':' || CAST(_keel_line AS VARCHAR) \
             FROM valid.dk",
        )
        .await
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    let expected: BTreeSet<String> = [(661, 1_000), (661, 2_000), (662, 15_000), (662, 16_000)]
        .iter()
        .map(|(m, i)| format!("{m}:{}", line(*i)))
        .collect();
    assert_eq!(left_out, expected);
    // An aggregate over it is the clean one: meter 661's highest reading before the wrap is
    // the real register's plus the offset, not the spike.
    let top = lab
        .rows(&format!(
            "SELECT max(energy_kwh) FROM valid.dk WHERE meter_id = 661 AND _keel_line < {}",
            line(20_000)
        ))
        .await;
    let want = readings[..20_000]
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1_000 && *i != 2_000)
        .map(|(_, v)| (v + offset) % 100_000.0)
        .fold(f64::MIN, f64::max);
    assert!(
        (top[0][0].parse::<f64>().unwrap() - want).abs() < 1e-6,
        "{top:?} vs {want}"
    );

    // A correction of meter 662 (the exchange undone) re-checks to fewer flags, as a new
    // version of the flags table; the earlier verdict stays readable by time travel.
    lab.land(
        "dk",
        "meter_662_fixed.csv",
        &copy_with(&text, 662, |_, v| v),
    );
    lab.format("dk").await;
    let again = keel_formatted::check_table(&lab.project, "dk", "run-check-2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.invalid, again.rollovers), (2, 1), "{again:?}");
    assert_eq!(again.version, checked.version + 1);
}

#[test]
fn a_counter_must_be_numeric_and_ordered_by_a_declared_time() {
    let dir = tempfile::tempdir().unwrap();
    let bad = [
        (
            SOURCE.replace("order = \"hour\"", "order = \"meter_id\""),
            "`meter_id` is not a date or timestamp",
        ),
        (
            SOURCE.replace("order = \"hour\"", "order = \"when\""),
            "`when` is not a declared column",
        ),
        (
            SOURCE.replace("rollover = 100000.0", "rollover = -1.0"),
            "`rollover` must be a positive number",
        ),
        (
            SOURCE.replace(
                "counter = { order = \"hour\"",
                "counter = { series = [\"building\"], order = \"hour\"",
            ),
            "`building` is not a declared column",
        ),
    ];
    for (text, message) in bad {
        Lab::write(dir.path(), &[("dk", &text)], 1024);
        let err = keel_core::Project::load(dir.path(), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("columns[2].counter") && err.contains(message),
            "{err}"
        );
    }
}
