//! One heat meter's life: daily readings, outages, faulty lines, month files and their re-sends.

use chrono::{Datelike, Days, NaiveDate, Weekday};
use rand::Rng;

use crate::dialects::{Fault, Reading, Row, render};
use crate::weather::StationWeather;
use crate::world::{Building, BuildingType, Domain, Period, days_in_month, normal, rng_for};
use crate::{CorrectedReading, MeterTruth};

/// Per clean reading: the chance of each fault. A line carries at most one.
const NEGATIVE_RATE: f64 = 0.001;
const ABSURD_RATE: f64 = 0.0005;
const MALFORMED_RATE: f64 = 0.0005;
/// Per fault-free line: the chance that the meter writes it twice.
const DUPLICATE_RATE: f64 = 0.005;
/// Per month file: the chance of a byte-identical re-send, and of a re-send with corrections.
const IDENTICAL_RESEND_RATE: f64 = 0.01;
const CORRECTED_RESEND_RATE: f64 = 0.002;
/// Heating degree-days are counted below this daily mean temperature (°C).
const HDD_BASE: f64 = 15.5;

/// A file as delivered: where it lands under `inbox/meters/` and its bytes.
#[derive(Debug)]
pub(crate) struct DeliveredFile {
    pub rel_path: String,
    pub bytes: Vec<u8>,
}

/// Everything one device delivers over the period, in delivery order per month.
#[derive(Debug, Default)]
pub(crate) struct DeviceFiles {
    pub files: Vec<DeliveredFile>,
    pub truth: MeterTruth,
}

/// The reading of one day: hot water plus heating by degree-day, with ~8% multiplicative noise.
fn reading<R: Rng>(b: &Building, temp: f64, date: NaiveDate, rng: &mut R) -> Reading {
    let hdd = (HDD_BASE - temp).max(0.0);
    let (mut base, mut heat) = (b.base_kwh, b.kwh_per_hdd * hdd);
    let closed = match b.kind {
        BuildingType::Office | BuildingType::School => {
            matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
        }
        // Most Polish shops close on Sundays.
        BuildingType::Retail => date.weekday() == Weekday::Sun,
        BuildingType::Residential | BuildingType::Clinic => false,
    };
    if closed {
        base *= 0.5;
        heat *= 0.75;
    }
    if b.kind == BuildingType::School && matches!(date.month(), 7 | 8) {
        base *= 0.3;
    }
    // Administrators switch the heating off for the summer; cold snaps bring a little back.
    if matches!(date.month(), 6..=8) {
        heat *= 0.2;
    }
    let noise = (1.0 + 0.08 * normal(rng)).max(0.6);
    let kwh = (base + heat) * noise;
    // The plant's heating curve: 55 °C supply at the heating limit, 90 °C at -20 °C outside.
    let supply = (55.0 + hdd + 0.8 * normal(rng)).clamp(55.0, 90.0);
    let ret = (30.0 + (supply - 55.0) * 0.45 + 0.8 * normal(rng)).clamp(30.0, 50.0);
    Reading {
        date,
        kwh_cents: ((kwh * 100.0).round() as i64).max(1),
        supply_dc: (supply * 10.0).round() as i32,
        return_dc: (ret * 10.0).round() as i32,
    }
}

fn fault<R: Rng>(rng: &mut R) -> Fault {
    let roll: f64 = rng.random();
    if roll < NEGATIVE_RATE {
        Fault::Negative
    } else if roll < NEGATIVE_RATE + ABSURD_RATE {
        Fault::Absurd
    } else if roll < NEGATIVE_RATE + ABSURD_RATE + MALFORMED_RATE {
        match rng.random_range(0..3) {
            0 => Fault::Truncated {
                keep: rng.random_range(1..=9),
            },
            1 => Fault::BadNumber,
            _ => Fault::BadDate,
        }
    } else {
        Fault::None
    }
}

/// Marks the days lost to outages: a few runs of 1-10 days, about 1% of the days overall.
fn outages<R: Rng>(rng: &mut R, days: usize) -> Vec<bool> {
    let mut missing = vec![false; days];
    // Uniform 0..=max runs of 5.5 days on average: max ≈ days / 273 gives ~1%.
    let max_runs = ((days as f64 / 273.0).round() as usize).max(1);
    for _ in 0..rng.random_range(0..=max_runs) {
        let len = rng.random_range(1..=10);
        let start = rng.random_range(0..days);
        missing[start..(start + len).min(days)].fill(true);
    }
    missing
}

/// Simulates one device over the period and renders every file it delivers.
pub(crate) fn device_files(
    seed: u64,
    b: &Building,
    weather: &StationWeather,
    period: &Period,
) -> DeviceFiles {
    let mut rng = rng_for(seed, Domain::Device, b.index as u64);
    let days = period.days();
    let missing = outages(&mut rng, days);
    let mut out = DeviceFiles::default();
    let mut rows = Vec::with_capacity(31);
    let mut day = 0;
    while day < days {
        let first = period.date(day);
        let len = days_in_month(first.year(), first.month()) as usize;
        rows.clear();
        for (d, &lost) in missing.iter().enumerate().skip(day).take(len) {
            // Draw the reading even on lost days, so an outage never shifts the values around it.
            let reading = reading(b, weather.mean[d], period.date(d), &mut rng);
            let fault = fault(&mut rng);
            let duplicated = fault == Fault::None && rng.random_bool(DUPLICATE_RATE);
            if !lost {
                rows.push(Row {
                    reading,
                    fault,
                    duplicated,
                });
            }
        }
        let delivered = period.date(day + len) + Days::new(u64::from(b.delivery_day - 1));
        month_files(&mut out, &mut rng, b, first, delivered, &rows);
        day += len;
    }
    out
}

fn file_name(b: &Building, month: NaiveDate) -> String {
    format!("{}_{}.csv", b.device_id, month.format("%Y%m"))
}

fn rel_path(b: &Building, delivered: NaiveDate, name: &str) -> String {
    format!(
        "{}/{}/{name}",
        b.firmware.as_str(),
        delivered.format("%Y-%m-%d")
    )
}

/// Renders one month, then maybe its re-send: identical bytes, or with 1-3 readings corrected.
fn month_files<R: Rng>(
    out: &mut DeviceFiles,
    rng: &mut R,
    b: &Building,
    month: NaiveDate,
    delivered: NaiveDate,
    rows: &[Row],
) {
    let name = file_name(b, month);
    let (bytes, truth) = render(b.firmware, &b.device_id, rows);
    let original = rel_path(b, delivered, &name);
    out.truth.record_file(original.clone(), truth);
    let roll: f64 = rng.random();
    let resend = if roll < CORRECTED_RESEND_RATE {
        let when = delivered + Days::new(rng.random_range(20..=40));
        corrected(rng, b, rows).map(|(rows, changes)| {
            let (bytes, truth) = render(b.firmware, &b.device_id, &rows);
            let path = rel_path(b, when, &name);
            out.truth.record_file(path.clone(), truth);
            out.truth.resent_corrected += 1;
            out.truth.corrected_readings.extend(changes);
            DeliveredFile {
                rel_path: path,
                bytes,
            }
        })
    } else if roll < CORRECTED_RESEND_RATE + IDENTICAL_RESEND_RATE {
        let when = delivered + Days::new(rng.random_range(5..=20));
        out.truth.files_delivered += 1;
        out.truth.resent_identical += 1;
        Some(DeliveredFile {
            rel_path: rel_path(b, when, &name),
            bytes: bytes.clone(),
        })
    } else {
        None
    };
    out.files.push(DeliveredFile {
        rel_path: original,
        bytes,
    });
    out.files.extend(resend);
}

/// The rows of a corrected re-send: 1-3 fault-free, non-duplicated readings get a new value;
/// every other line stays as it was, so fault line numbers do not move.
fn corrected<R: Rng>(
    rng: &mut R,
    b: &Building,
    rows: &[Row],
) -> Option<(Vec<Row>, Vec<CorrectedReading>)> {
    let mut candidates: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].fault == Fault::None && !rows[i].duplicated)
        .collect();
    let count = rng.random_range(1..=3).min(candidates.len());
    if count == 0 {
        return None;
    }
    // Partial Fisher-Yates: the first `count` entries become a random sample.
    for i in 0..count {
        let j = rng.random_range(i..candidates.len());
        candidates.swap(i, j);
    }
    let mut chosen = candidates[..count].to_vec();
    chosen.sort_unstable();
    let mut new_rows = rows.to_vec();
    let changes = chosen
        .into_iter()
        .map(|i| {
            let reading = &mut new_rows[i].reading;
            let old = reading.kwh_cents;
            let mut new = ((old as f64) * rng.random_range(0.75..1.25)).round() as i64;
            if new == old {
                new += 1;
            }
            reading.kwh_cents = new.max(1);
            CorrectedReading {
                device_id: b.device_id.clone(),
                date: reading.date.format("%Y-%m-%d").to_string(),
                old_kwh: old as f64 / 100.0,
                new_kwh: reading.kwh_cents as f64 / 100.0,
            }
        })
        .collect();
    Some((new_rows, changes))
}

/// The clean month right after the period for one device, and how many rows it holds.
pub(crate) fn extra_month_file(
    seed: u64,
    b: &Building,
    weather: &StationWeather,
    period: &Period,
) -> (DeliveredFile, usize) {
    let mut rng = rng_for(seed, Domain::ExtraMonth, b.index as u64);
    let start = period.days();
    let first = period.date(start);
    let len = days_in_month(first.year(), first.month()) as usize;
    let rows: Vec<Row> = (start..start + len)
        .map(|d| Row {
            reading: reading(b, weather.mean[d], period.date(d), &mut rng),
            fault: Fault::None,
            duplicated: false,
        })
        .collect();
    let delivered = period.date(start + len) + Days::new(u64::from(b.delivery_day - 1));
    let (bytes, _) = render(b.firmware, &b.device_id, &rows);
    let file = DeliveredFile {
        rel_path: rel_path(b, delivered, &file_name(b, first)),
        bytes,
    };
    (file, rows.len())
}
