//! Physical validity across rows (RELIABILITY C5). A column declared as a `counter` is a
//! cumulative register: within a series (one meter) its readings only grow, in time order.
//! After a table changes, every counter is walked series by series and each reading that
//! breaks the rule is written to `flags.<table>` with its rule and reason. Nothing is
//! dropped: the rows stay in `formatted.<table>`, and `valid.<table>` leaves out those
//! flagged `invalid`, so aggregates over it exclude them.
//!
//! The rules, against the last reading accepted in the series (`L`):
//! - a reading below `L` that wraps past the declared `rollover` to a plausible rise is a
//!   `counter_rollover` (severity `info`: valid, but a plain difference is wrong there);
//! - a reading out of line with `L` (below it, or above it faster than `max_per_hour`) is
//!   held until the next reading decides: when the next agrees with `L`, the held one is a
//!   `counter_spike` and `L` stays; otherwise the register really moved, and the held one
//!   is a `counter_decrease` or `counter_jump` from which the series goes on;
//! - a held reading that ends its series is flagged by what it broke.
//!
//! Each check rewrites the flags table as a new Delta version (late data can change the
//! verdict on earlier readings); time travel keeps the earlier verdicts.

use std::sync::Arc;

use arrow::array::{
    Array, AsArray, Float64Builder, Int64Array, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef, TimeUnit};
use futures::StreamExt;
use keel_core::Project;
use keel_core::spec::CounterSpec;
use keel_engine::delta::{self, WriteMode};

use crate::Result;

/// What checking a table's counters found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhysicalReport {
    /// Readings walked, over all counters.
    pub readings: u64,
    /// Readings flagged `invalid` (spikes, decreases, jumps).
    pub invalid: u64,
    /// Roll-overs (flagged `info`).
    pub rollovers: u64,
    /// Version of the flags table written.
    pub version: i64,
}

/// A counter column of a table, as declared.
#[derive(Debug, Clone)]
struct Counter {
    column: String,
    series: Vec<String>,
    spec: CounterSpec,
}

/// The counter columns declared by the sources that feed `table` (each column once).
fn counters(project: &Project, table: &str) -> Vec<Counter> {
    let mut out: Vec<Counter> = Vec::new();
    for source in project.sources.iter().filter(|s| s.table() == table) {
        for c in &source.spec.columns {
            if let Some(spec) = &c.counter
                && !out.iter().any(|o| o.column == c.name)
            {
                out.push(Counter {
                    column: c.name.clone(),
                    series: spec.series_columns(&source.spec.keys.primary),
                    spec: spec.clone(),
                });
            }
        }
    }
    out
}

/// Checks the counters declared on `table` and rewrites `flags.<table>`; `None` when the
/// table declares no counter or does not exist yet.
///
/// The readings are read sorted by series and time (DataFusion sorts, spilling to disk
/// past its memory budget); only the flags are held in memory.
///
/// # Errors
/// When the table cannot be read or the flags cannot be written.
pub async fn check_table(
    project: &Project,
    table: &str,
    run_id: &str,
) -> Result<Option<PhysicalReport>> {
    let counters = counters(project, table);
    if counters.is_empty() {
        return Ok(None);
    }
    let Some(ctx) = delta::session_with(&project.lake.formatted(table), "t").await? else {
        return Ok(None);
    };
    let mut report = PhysicalReport::default();
    let mut flags = Flags::default();
    for counter in &counters {
        let mut walk = Walk::new(counter, &mut flags);
        let engine = keel_engine::EngineError::from;
        let frame = ctx.sql(&readings_sql(counter)).await.map_err(engine)?;
        let mut stream = frame.execute_stream().await.map_err(engine)?;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(engine)?;
            walk.batch(&batch)?;
        }
        walk.finish();
        report.readings += walk.readings;
    }
    report.invalid = flags.invalid;
    report.rollovers = flags.rollovers;
    let batch = flags.into_batch(run_id)?;
    report.version = delta::write(
        &project.lake.flags(table),
        vec![batch],
        WriteMode::Overwrite,
        None,
    )
    .await?;
    Ok(Some(report))
}

/// Readings of one counter, sorted by series and time: series text, time, value, object,
/// line.
fn readings_sql(counter: &Counter) -> String {
    let quote = |c: &str| format!("\"{}\"", c.replace('"', "\"\""));
    let series = if counter.series.is_empty() {
        "''".to_string()
    } else {
        let parts: Vec<String> = counter
            .series
            .iter()
            .map(|c| {
                format!(
                    "'{}=' || coalesce(CAST({} AS VARCHAR), 'null')",
                    c.replace('\'', "''"),
                    quote(c)
                )
            })
            .collect();
        format!("concat_ws(', ', {})", parts.join(", "))
    };
    let order_by: Vec<String> = counter
        .series
        .iter()
        .map(|c| quote(c))
        .chain([quote(&counter.spec.order)])
        .collect();
    format!(
        "SELECT {series} AS series, {order} AS at, CAST({value} AS DOUBLE) AS value, \
         _keel_object, _keel_line FROM t \
         WHERE {value} IS NOT NULL AND {order} IS NOT NULL ORDER BY {by}",
        order = quote(&counter.spec.order),
        value = quote(&counter.column),
        by = order_by.join(", "),
    )
}

/// One reading of a counter.
#[derive(Debug, Clone)]
struct Reading {
    /// Microseconds since the epoch (a date is its midnight UTC).
    at: i64,
    value: f64,
    object: String,
    line: i64,
}

/// Why a held reading is out of line with the last accepted one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Break {
    /// Below it (and not a roll-over).
    Fall,
    /// Above it faster than `max_per_hour`.
    Rise,
}

/// Walks one counter's sorted readings, series by series.
struct Walk<'a> {
    counter: &'a Counter,
    flags: &'a mut Flags,
    series: Option<String>,
    /// The last accepted reading of the series.
    last: Option<Reading>,
    /// A reading out of line with `last`, waiting for the next one to decide.
    held: Option<(Reading, Break)>,
    readings: u64,
}

impl<'a> Walk<'a> {
    fn new(counter: &'a Counter, flags: &'a mut Flags) -> Walk<'a> {
        Walk {
            counter,
            flags,
            series: None,
            last: None,
            held: None,
            readings: 0,
        }
    }

    fn batch(&mut self, batch: &RecordBatch) -> Result<()> {
        // Strings come as views or plain arrays depending on the reader: read them plain.
        let series = arrow::compute::cast(batch.column(0), &DataType::Utf8)?;
        let series = series.as_string::<i32>();
        let at = arrow::compute::cast(
            batch.column(1),
            &DataType::Timestamp(TimeUnit::Microsecond, None),
        )?;
        let at = at.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        let value = batch.column(2).as_primitive::<Float64Type>();
        let object = arrow::compute::cast(batch.column(3), &DataType::Utf8)?;
        let object = object.as_string::<i32>();
        let line = batch
            .column(4)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("_keel_line is Int64");
        for i in 0..batch.num_rows() {
            let s = series.value(i);
            if self.series.as_deref() != Some(s) {
                self.finish();
                self.series = Some(s.to_string());
            }
            self.readings += 1;
            self.push(Reading {
                at: at.value(i),
                value: value.value(i),
                object: object.value(i).to_string(),
                line: line.value(i),
            });
        }
        Ok(())
    }

    /// Ends the current series: a held reading is flagged by what it broke.
    fn finish(&mut self) {
        if let Some((held, broke)) = self.held.take() {
            self.flag_moved(&held, broke);
        }
        self.last = None;
    }

    fn push(&mut self, reading: Reading) {
        if let Some((held, broke)) = self.held.take() {
            let back = self.last.as_ref().filter(|last| self.fits(last, &reading));
            if let Some(last) = back {
                let reason = format!(
                    "{} is out of line with the readings before ({}) and after ({}) it",
                    held.value, last.value, reading.value
                );
                self.flag(&held, "counter_spike", "invalid", reason);
            } else {
                self.flag_moved(&held, broke);
                self.last = Some(held);
            }
        }
        let Some(last) = &self.last else {
            self.last = Some(reading);
            return;
        };
        if self.fits(last, &reading) {
            self.last = Some(reading);
        } else if let Some(rise) = self.rollover(last, &reading) {
            let reason: String = format!(
                "fell from {} to {}: the register wrapped at {} (a rise of {rise})",
                last.value,
                reading.value,
                self.counter.spec.rollover.unwrap_or_default()
            );
            self.flag(&reading, "counter_rollover", "info", reason);
            self.last = Some(reading);
        } else {
            let broke = if reading.value < last.value {
                Break::Fall
            } else {
                Break::Rise
            };
            self.held = Some((reading, broke));
        }
    }

    /// Whether `next` follows `last` as a register can: not below it, and not rising
    /// faster than `max_per_hour`.
    fn fits(&self, last: &Reading, next: &Reading) -> bool {
        let step = next.value - last.value;
        let tolerance = 1e-9 * last.value.abs().max(1.0);
        step >= -tolerance && self.rise_is_plausible(step - tolerance, last, next)
    }

    fn rise_is_plausible(&self, rise: f64, last: &Reading, next: &Reading) -> bool {
        match self.counter.spec.max_per_hour {
            Some(max) => rise <= max * hours(last, next),
            None => true,
        }
    }

    /// The rise when `next` is `last` wrapped past the declared roll-over value: less than
    /// half the register's range and plausible for the time between them.
    fn rollover(&self, last: &Reading, next: &Reading) -> Option<f64> {
        let range = self.counter.spec.rollover?;
        let rise = next.value + range - last.value;
        (next.value < last.value
            && (0.0..range / 2.0).contains(&rise)
            && self.rise_is_plausible(rise, last, next))
        .then_some(rise)
    }

    /// Flags a held reading that the series did not come back from.
    fn flag_moved(&mut self, held: &Reading, broke: Break) {
        let last = self.last.as_ref().map_or(f64::NAN, |l| l.value);
        let (rule, reason) = match broke {
            Break::Fall => (
                "counter_decrease",
                format!(
                    "fell from {last} to {}, and the series goes on from there",
                    held.value
                ),
            ),
            Break::Rise => (
                "counter_jump",
                format!(
                    "rose from {last} to {} faster than {} per hour, and the series goes on \
                     from there",
                    held.value,
                    self.counter.spec.max_per_hour.unwrap_or_default()
                ),
            ),
        };
        self.flag(held, rule, "invalid", reason);
    }

    fn flag(
        &mut self,
        reading: &Reading,
        rule: &'static str,
        severity: &'static str,
        reason: String,
    ) {
        let last = self.last.as_ref();
        self.flags.push(Flag {
            series: self.series.clone().unwrap_or_default(),
            column: self.counter.column.clone(),
            at: reading.at,
            value: reading.value,
            previous: last.map(|l| l.value),
            hours: last.map(|l| hours(l, reading)),
            rule,
            severity,
            reason: format!("`{}` {reason}", self.counter.column),
            object: reading.object.clone(),
            line: reading.line,
        });
    }
}

/// Hours from `a` to `b`.
fn hours(a: &Reading, b: &Reading) -> f64 {
    (b.at - a.at) as f64 / 3_600_000_000.0
}

/// One flagged reading.
#[derive(Debug, Clone)]
struct Flag {
    series: String,
    column: String,
    at: i64,
    value: f64,
    previous: Option<f64>,
    hours: Option<f64>,
    rule: &'static str,
    severity: &'static str,
    reason: String,
    object: String,
    line: i64,
}

/// The flags found so far.
#[derive(Debug, Default)]
struct Flags {
    rows: Vec<Flag>,
    invalid: u64,
    rollovers: u64,
}

impl Flags {
    fn push(&mut self, flag: Flag) {
        match flag.severity {
            "invalid" => self.invalid += 1,
            _ => self.rollovers += 1,
        }
        self.rows.push(flag);
    }

    fn into_batch(self, run_id: &str) -> Result<RecordBatch> {
        let n = self.rows.len();
        let mut series = StringBuilder::new();
        let mut column = StringBuilder::new();
        let mut at = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
        let mut value = Float64Builder::with_capacity(n);
        let mut previous = Float64Builder::with_capacity(n);
        let mut hours = Float64Builder::with_capacity(n);
        let mut rule = StringBuilder::new();
        let mut severity = StringBuilder::new();
        let mut reason = StringBuilder::new();
        let mut object = StringBuilder::new();
        let mut line = Int64Builder::with_capacity(n);
        let mut run = StringBuilder::new();
        for f in self.rows {
            series.append_value(f.series);
            column.append_value(f.column);
            at.append_value(f.at);
            value.append_value(f.value);
            previous.append_option(f.previous);
            hours.append_option(f.hours);
            rule.append_value(f.rule);
            severity.append_value(f.severity);
            reason.append_value(f.reason);
            object.append_value(f.object);
            line.append_value(f.line);
            run.append_value(run_id);
        }
        let columns: Vec<Arc<dyn Array>> = vec![
            Arc::new(series.finish()),
            Arc::new(column.finish()),
            Arc::new(at.finish()),
            Arc::new(value.finish()),
            Arc::new(previous.finish()),
            Arc::new(hours.finish()),
            Arc::new(rule.finish()),
            Arc::new(severity.finish()),
            Arc::new(reason.finish()),
            Arc::new(object.finish()),
            Arc::new(line.finish()),
            Arc::new(run.finish()),
        ];
        Ok(RecordBatch::try_new(flags_schema(), columns)?)
    }
}

/// Schema of `flags.<table>`.
pub fn flags_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("series", DataType::Utf8, false),
        Field::new("column", DataType::Utf8, false),
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("value", DataType::Float64, false),
        Field::new("previous", DataType::Float64, true),
        Field::new("hours", DataType::Float64, true),
        Field::new("rule", DataType::Utf8, false),
        Field::new("severity", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("_keel_object", DataType::Utf8, false),
        Field::new("_keel_line", DataType::Int64, false),
        Field::new("run_id", DataType::Utf8, false),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(rollover: Option<f64>, max_per_hour: Option<f64>) -> Counter {
        Counter {
            column: "kwh".into(),
            series: vec!["meter".into()],
            spec: CounterSpec {
                order: "hour".into(),
                series: None,
                rollover,
                max_per_hour,
            },
        }
    }

    /// Walks hourly `values` of one series; returns `(line, rule)` of each flag.
    fn walk(counter: &Counter, values: &[f64]) -> Vec<(i64, &'static str)> {
        let mut flags = Flags::default();
        let mut walk = Walk::new(counter, &mut flags);
        walk.series = Some("meter=1".into());
        for (i, v) in values.iter().enumerate() {
            walk.push(Reading {
                at: i as i64 * 3_600_000_000,
                value: *v,
                object: "o".into(),
                line: i as i64 + 2,
            });
        }
        walk.finish();
        flags.rows.iter().map(|f| (f.line, f.rule)).collect()
    }

    #[test]
    fn a_growing_register_with_flat_hours_is_clean() {
        let c = counter(None, Some(10.0));
        assert!(walk(&c, &[5.0, 5.0, 7.5, 8.0, 17.9, 17.9]).is_empty());
    }

    #[test]
    fn a_single_low_reading_is_a_spike_and_the_series_keeps_its_level() {
        let c = counter(None, None);
        assert_eq!(
            walk(&c, &[100.0, 101.0, 3.0, 102.0, 103.0]),
            [(4, "counter_spike")]
        );
    }

    #[test]
    fn a_single_high_reading_is_a_spike_when_a_rate_is_declared() {
        let c = counter(None, Some(10.0));
        assert_eq!(
            walk(&c, &[100.0, 101.0, 9000.0, 102.0]),
            [(4, "counter_spike")]
        );
        // Without a rate, a rise is no fault, but the fall after it is.
        let c = counter(None, None);
        assert_eq!(
            walk(&c, &[100.0, 101.0, 9000.0, 102.0, 103.0]),
            [(5, "counter_decrease")]
        );
    }

    #[test]
    fn a_fall_that_stays_is_a_decrease_and_the_series_goes_on_from_it() {
        let c = counter(None, Some(10.0));
        assert_eq!(
            walk(&c, &[100.0, 101.0, 0.5, 1.0, 2.0]),
            [(4, "counter_decrease")]
        );
        // A fall on the last reading is flagged all the same.
        assert_eq!(walk(&c, &[100.0, 101.0, 50.0]), [(4, "counter_decrease")]);
    }

    #[test]
    fn a_jump_that_stays_is_flagged_once() {
        let c = counter(None, Some(10.0));
        assert_eq!(
            walk(&c, &[100.0, 101.0, 5000.0, 5001.0, 5002.0]),
            [(4, "counter_jump")]
        );
    }

    #[test]
    fn a_wrap_past_the_rollover_is_info_and_a_large_fall_is_not_a_wrap() {
        let c = counter(Some(100_000.0), Some(10.0));
        assert_eq!(
            walk(&c, &[99_990.0, 99_998.0, 3.0, 9.0]),
            [(4, "counter_rollover")]
        );
        assert_eq!(
            walk(&c, &[60_000.0, 60_001.0, 3.0, 9.0]),
            [(4, "counter_decrease")]
        );
    }
}
