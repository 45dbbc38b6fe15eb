//! Daily weather per station, recorded as the Open-Meteo archive API answers monthly requests
//! (`latitude`, `longitude`, one month of `daily` variables, `timezone=GMT`); the
//! [`crate::weather_api`] server replays these answers.

use std::path::Path;

use chrono::Datelike;
use rand::Rng as _;
use serde::Serialize;

use crate::world::{Domain, Period, STATIONS, days_in_month, normal, rng_for};
use crate::{ExampleError, WeatherTruth};

/// Share of daily mean temperatures the "API" returns as `null`.
const NULL_RATE: f64 = 0.002;

/// The weather of one station, day by day from the first day of the period.
#[derive(Debug)]
pub(crate) struct StationWeather {
    /// The true daily mean (°C): it drives consumption even where the file says `null`.
    pub mean: Vec<f64>,
    min: Vec<f64>,
    max: Vec<f64>,
    precipitation: Vec<f64>,
    wind: Vec<f64>,
    null_mean: Vec<bool>,
}

/// Simulates `days` days for every station: a seasonal cycle (coldest in mid-January) plus a
/// regional AR(1) anomaly shared by all stations and a smaller local one.
pub(crate) fn simulate(seed: u64, period: &Period, days: usize) -> Vec<StationWeather> {
    let mut regional_rng = rng_for(seed, Domain::Weather, 0);
    let mut regional = Vec::with_capacity(days);
    let mut anomaly = 0.0;
    for _ in 0..days {
        anomaly = 0.8 * anomaly + 2.2 * normal(&mut regional_rng);
        regional.push(anomaly);
    }
    STATIONS
        .iter()
        .enumerate()
        .map(|(i, station)| {
            let mut rng = rng_for(seed, Domain::Weather, i as u64 + 1);
            let mut w = StationWeather {
                mean: Vec::with_capacity(days),
                min: Vec::with_capacity(days),
                max: Vec::with_capacity(days),
                precipitation: Vec::with_capacity(days),
                wind: Vec::with_capacity(days),
                null_mean: Vec::with_capacity(days),
            };
            let mut local = 0.0;
            for (day, regional) in regional.iter().enumerate() {
                let doy = f64::from(period.date(day).ordinal0());
                let season = -(std::f64::consts::TAU * (doy - 15.0) / 365.25).cos();
                local = 0.6 * local + normal(&mut rng);
                let mean =
                    8.0 + station.temp_offset + station.amplitude * season + regional + local;
                w.mean.push(mean);
                w.min.push(mean - rng.random_range(1.5..6.5));
                w.max.push(mean + rng.random_range(1.5..7.5));
                let wet = rng.random_bool(0.45);
                let amount = -4.0 * (1.0 - rng.random::<f64>()).ln();
                w.precipitation.push(if wet { amount } else { 0.0 });
                w.wind
                    .push(12.0 + 9.0 * normal(&mut rng).abs() + rng.random_range(0.0..8.0));
                w.null_mean.push(rng.random_bool(NULL_RATE));
            }
            w
        })
        .collect()
}

#[derive(Serialize)]
struct ArchiveResponse {
    latitude: f64,
    longitude: f64,
    generationtime_ms: f64,
    utc_offset_seconds: i32,
    timezone: &'static str,
    timezone_abbreviation: &'static str,
    elevation: f64,
    daily_units: DailyUnits,
    daily: Daily,
}

#[derive(Serialize)]
struct DailyUnits {
    time: &'static str,
    temperature_2m_mean: &'static str,
    temperature_2m_min: &'static str,
    temperature_2m_max: &'static str,
    precipitation_sum: &'static str,
    wind_speed_10m_max: &'static str,
}

const UNITS: DailyUnits = DailyUnits {
    time: "iso8601",
    temperature_2m_mean: "°C",
    temperature_2m_min: "°C",
    temperature_2m_max: "°C",
    precipitation_sum: "mm",
    wind_speed_10m_max: "km/h",
};

#[derive(Serialize, Default)]
struct Daily {
    time: Vec<String>,
    temperature_2m_mean: Vec<Option<f64>>,
    temperature_2m_min: Vec<f64>,
    temperature_2m_max: Vec<f64>,
    precipitation_sum: Vec<f64>,
    wind_speed_10m_max: Vec<f64>,
}

/// Rounds to one decimal; `+ 0.0` turns `-0.0` into `0.0` so that no file says `-0.0`.
fn one_decimal(x: f64) -> f64 {
    (x * 10.0).round() / 10.0 + 0.0
}

/// Writes the recorded answer `weather_<STATION>_<YYYY-MM>.json` for every station and month
/// of the period.
pub(crate) fn write_files(
    dir: &Path,
    seed: u64,
    period: &Period,
    weather: &[StationWeather],
) -> Result<WeatherTruth, ExampleError> {
    fs_err::create_dir_all(dir)?;
    let mut truth = WeatherTruth {
        stations: STATIONS.iter().map(|s| s.id.to_owned()).collect(),
        ..WeatherTruth::default()
    };
    let mut gen_rng = rng_for(seed, Domain::Weather, 1000);
    for (station, w) in STATIONS.iter().zip(weather) {
        let mut start = 0;
        while start < period.days() {
            let first = period.date(start);
            let len = days_in_month(first.year(), first.month()) as usize;
            let mut daily = Daily::default();
            for day in start..start + len {
                daily
                    .time
                    .push(period.date(day).format("%Y-%m-%d").to_string());
                let mean = (!w.null_mean[day]).then(|| one_decimal(w.mean[day]));
                truth.null_temperature += usize::from(mean.is_none());
                daily.temperature_2m_mean.push(mean);
                daily.temperature_2m_min.push(one_decimal(w.min[day]));
                daily.temperature_2m_max.push(one_decimal(w.max[day]));
                daily
                    .precipitation_sum
                    .push(one_decimal(w.precipitation[day]));
                daily.wind_speed_10m_max.push(one_decimal(w.wind[day]));
            }
            truth.days += len;
            let response = ArchiveResponse {
                latitude: station.latitude,
                longitude: station.longitude,
                generationtime_ms: (gen_rng.random_range(0.05..2.5) * 1000.0_f64).round() / 1000.0,
                utc_offset_seconds: 0,
                timezone: "GMT",
                timezone_abbreviation: "GMT",
                elevation: station.elevation,
                daily_units: UNITS,
                daily,
            };
            let path = dir.join(format!(
                "weather_{}_{}.json",
                station.id,
                first.format("%Y-%m")
            ));
            let bytes = serde_json::to_vec(&response).map_err(|source| ExampleError::Json {
                path: path.clone(),
                source,
            })?;
            fs_err::write(&path, bytes)?;
            truth.files += 1;
            start += len;
        }
    }
    Ok(truth)
}
