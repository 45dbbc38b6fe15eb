//! The generator's options, its orchestration over the modules, and the truth it reports.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::ExampleError;
use crate::dialects::Firmware;
use crate::meters::{DeviceFiles, device_files, extra_month_file};
use crate::registry;
use crate::weather::{self, StationWeather};
use crate::weather_api::RECORDED_DIR;
use crate::world::{Building, Period, buildings};

/// What to generate: the same options always give byte-identical files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    pub seed: u64,
    /// Number of buildings, each with one heat meter (at most 99,999).
    pub buildings: usize,
    /// Number of whole calendar years, starting on 1 January of `first_year`.
    pub years: u32,
    pub first_year: i32,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            seed: 42,
            buildings: 200,
            years: 5,
            first_year: 2016,
        }
    }
}

/// What the generator put into the files, for tests and demos to check the backbone against.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Truth {
    pub seed: u64,
    pub buildings: usize,
    /// First day of the period, `YYYY-MM-DD`.
    pub first_day: String,
    /// Last day of the period, `YYYY-MM-DD`.
    pub last_day: String,
    pub meters: MeterTruth,
    pub weather: WeatherTruth,
    pub devices_rows: usize,
    /// Rows of the CRM's `customers` table.
    pub customers_rows: usize,
    /// CRM rows whose `internal_ref` holds the building id (the others are NULL).
    pub customers_with_ref: usize,
    /// The building of each CRM customer (`customer_id` → `building_id` of the device
    /// registry): what entity resolution between the two registries must find.
    #[serde(default)]
    pub customer_buildings: BTreeMap<String, String>,
}

/// The meter files: how many, their re-sends and their faulty lines.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MeterTruth {
    /// Every file written under `data/inbox/meters` (originals and re-sends).
    pub files_delivered: usize,
    /// Files whose bytes equal an earlier delivered file.
    pub resent_identical: usize,
    /// Files with the name of an earlier one but changed bytes.
    pub resent_corrected: usize,
    /// Non-header lines over all distinct-content files (identical re-sends counted once).
    pub data_lines: usize,
    pub malformed: usize,
    pub negative: usize,
    pub absurd: usize,
    pub duplicate_rows: usize,
    /// Readings changed by corrected re-sends, in kWh as they appear in the files.
    pub corrected_readings: Vec<CorrectedReading>,
    /// Per distinct-content file, keyed by its path relative to `data/inbox/meters`.
    pub per_file: BTreeMap<String, FileTruth>,
}

impl MeterTruth {
    /// Counts a distinct-content file.
    pub(crate) fn record_file(&mut self, rel_path: String, file: FileTruth) {
        self.files_delivered += 1;
        self.data_lines += file.data_lines;
        self.malformed += file.malformed_lines.len();
        self.negative += file.negative_lines.len();
        self.absurd += file.absurd_lines.len();
        self.duplicate_rows += file.duplicate_lines.len();
        self.per_file.insert(rel_path, file);
    }

    /// Adds the truth of later devices; call in device order to keep the output deterministic.
    fn append(&mut self, mut other: MeterTruth) {
        self.files_delivered += other.files_delivered;
        self.resent_identical += other.resent_identical;
        self.resent_corrected += other.resent_corrected;
        self.data_lines += other.data_lines;
        self.malformed += other.malformed;
        self.negative += other.negative;
        self.absurd += other.absurd;
        self.duplicate_rows += other.duplicate_rows;
        self.corrected_readings
            .append(&mut other.corrected_readings);
        // Not `BTreeMap::append`: it rebuilds the whole map, quadratic over many devices.
        self.per_file.extend(other.per_file);
    }
}

/// The lines of one meter file; numbers are 1-based physical lines, the header is line 1.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileTruth {
    pub data_lines: usize,
    pub malformed_lines: Vec<usize>,
    pub negative_lines: Vec<usize>,
    pub absurd_lines: Vec<usize>,
    /// The second copy of each duplicated line.
    pub duplicate_lines: Vec<usize>,
}

/// A reading changed by a corrected re-send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorrectedReading {
    pub device_id: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    pub old_kwh: f64,
    pub new_kwh: f64,
}

/// The weather archive's recorded answers (one per station and month), which the replay
/// server serves.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WeatherTruth {
    /// Files under `data/recorded/weather-archive`.
    pub files: usize,
    /// Day entries over all files.
    pub days: usize,
    /// `temperature_2m_mean` values written as `null`.
    pub null_temperature: usize,
    pub stations: Vec<String>,
}

/// The simulated world shared by [`generate`] and [`generate_extra_month`].
struct World {
    period: Period,
    buildings: Vec<Building>,
    /// One station's weather per entry, covering the period plus the month after it.
    weather: Vec<StationWeather>,
}

impl World {
    fn new(opts: &GenerateOptions) -> Result<Self, ExampleError> {
        let invalid = |reason: &str| Err(ExampleError::InvalidOptions(reason.to_owned()));
        if !(1..=99_999).contains(&opts.buildings) {
            return invalid("`buildings` must be between 1 and 99999 (device ids have 5 digits)");
        }
        if !(1..=100).contains(&opts.years) {
            return invalid("`years` must be between 1 and 100");
        }
        let last_year = i64::from(opts.first_year) + i64::from(opts.years) - 1;
        if !(1900..=9000).contains(&opts.first_year) || last_year > 9000 {
            return invalid("the period must lie between the years 1900 and 9000");
        }
        let (Some(first_day), Some(last_day)) = (
            NaiveDate::from_ymd_opt(opts.first_year, 1, 1),
            NaiveDate::from_ymd_opt(last_year as i32, 12, 31),
        ) else {
            return invalid("the period is not a valid range of dates");
        };
        let period = Period {
            first_day,
            last_day,
        };
        // The month after the period is always a January: 31 days.
        let weather = weather::simulate(opts.seed, &period, period.days() + 31);
        let buildings = buildings(opts.seed, opts.buildings, &period);
        Ok(Self {
            period,
            buildings,
            weather,
        })
    }
}

/// Writes the data under `project_dir/data/` (creating dirs) and returns the truth, also written
/// to `project_dir/data/generator_truth.json`.
///
/// Files already there with the same names are overwritten; other files are left alone.
///
/// # Errors
/// [`ExampleError::InvalidOptions`] for options out of range, and I/O errors naming the path.
pub fn generate(project_dir: &Path, opts: &GenerateOptions) -> Result<Truth, ExampleError> {
    let world = World::new(opts)?;
    let data = project_dir.join("data");
    let inbox = data.join("inbox");
    let meters = write_meters(&inbox.join("meters"), opts.seed, &world)?;
    let weather = weather::write_files(
        &project_dir.join(RECORDED_DIR),
        opts.seed,
        &world.period,
        &world.weather,
    )?;
    fs_err::create_dir_all(inbox.join("registry"))?;
    let devices_rows = registry::write_devices(
        &inbox.join("registry").join("devices.csv"),
        &world.buildings,
    )?;
    fs_err::create_dir_all(data.join("crm"))?;
    let (customer_buildings, customers_with_ref) = registry::write_customers(
        &data.join("crm").join("crm.sqlite"),
        opts.seed,
        &world.buildings,
    )?;
    let truth = Truth {
        seed: opts.seed,
        buildings: opts.buildings,
        first_day: world.period.first_day.format("%Y-%m-%d").to_string(),
        last_day: world.period.last_day.format("%Y-%m-%d").to_string(),
        meters,
        weather,
        devices_rows,
        customers_rows: customer_buildings.len(),
        customers_with_ref,
        customer_buildings,
    };
    write_truth(&data.join("generator_truth.json"), &truth)?;
    Ok(truth)
}

/// Streams the truth as pretty JSON: at full size (33,000 devices) it is ~400 MB.
fn write_truth(path: &Path, truth: &Truth) -> Result<(), ExampleError> {
    let mut out = std::io::BufWriter::new(fs_err::File::create(path)?);
    serde_json::to_writer_pretty(&mut out, truth).map_err(|source| {
        // An I/O failure inside serde_json keeps its path through `fs_err`'s message.
        ExampleError::Json {
            path: path.to_path_buf(),
            source,
        }
    })?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// Writes files for ONE extra month after the generated period for ONE device (used by tests:
/// "add one new device file"): returns its relative path under data/ and the number of clean
/// rows it holds.
///
/// # Errors
/// [`ExampleError::InvalidOptions`] for options out of range or a `device_index` past the last
/// building, and I/O errors naming the path.
pub fn generate_extra_month(
    project_dir: &Path,
    opts: &GenerateOptions,
    device_index: usize,
) -> Result<(String, usize), ExampleError> {
    let world = World::new(opts)?;
    let Some(b) = world.buildings.get(device_index) else {
        return Err(ExampleError::InvalidOptions(format!(
            "`device_index` {device_index} is past the last of {} devices",
            world.buildings.len()
        )));
    };
    let (file, rows) = extra_month_file(opts.seed, b, &world.weather[b.station], &world.period);
    let meters = project_dir.join("data").join("inbox").join("meters");
    let path = meters.join(&file.rel_path);
    if let Some(dir) = path.parent() {
        fs_err::create_dir_all(dir)?;
    }
    fs_err::write(&path, &file.bytes)?;
    Ok((format!("inbox/meters/{}", file.rel_path), rows))
}

/// What [`write_readings_csv`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadingsCsv {
    /// Bytes written.
    pub bytes: u64,
    /// Data lines (the header not counted).
    pub lines: u64,
    /// Month files whose lines it holds (originals and re-sends).
    pub files: u64,
}

/// Writes one delimited-text file of at least `min_bytes` (or all there is) in the `hm1`
/// dialect: the body of every month file the `hm1` devices deliver, in device and delivery
/// order, under one header. Re-sent months repeat their keys (device, date), faulty lines
/// keep their faults, so the file is the example's readings as one very large object
/// (the formatted zone's streaming benchmark reads it). Memory stays at one device's files.
///
/// # Errors
/// [`ExampleError::InvalidOptions`] for options out of range, and I/O errors naming the path.
pub fn write_readings_csv(
    path: &Path,
    opts: &GenerateOptions,
    min_bytes: u64,
) -> Result<ReadingsCsv, ExampleError> {
    let world = World::new(opts)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, fs_err::File::create(path)?);
    let header = Firmware::Hm1.header();
    writeln!(out, "{header}")?;
    let mut written = ReadingsCsv {
        bytes: header.len() as u64 + 1,
        lines: 0,
        files: 0,
    };
    for b in world
        .buildings
        .iter()
        .filter(|b| b.firmware == Firmware::Hm1)
    {
        if written.bytes >= min_bytes {
            break;
        }
        let device = device_files(opts.seed, b, &world.weather[b.station], &world.period);
        for file in device.files {
            // Every hm1 file starts with the header line.
            let body = match file.bytes.iter().position(|&c| c == b'\n') {
                Some(i) => &file.bytes[i + 1..],
                None => &[][..],
            };
            out.write_all(body)?;
            written.bytes += body.len() as u64;
            written.lines += body.iter().filter(|&&c| c == b'\n').count() as u64;
            written.files += 1;
        }
    }
    out.flush()?;
    Ok(written)
}

/// Simulates and writes every device's files, on all cores; devices are independent streams,
/// and their truths are joined in device order, so the thread count never shows in the output.
fn write_meters(dir: &Path, seed: u64, world: &World) -> Result<MeterTruth, ExampleError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(16);
    let chunk = world.buildings.len().div_ceil(threads).max(1);
    let parts: Vec<Result<MeterTruth, ExampleError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = world
            .buildings
            .chunks(chunk)
            .map(|devices| scope.spawn(move || write_devices(dir, seed, world, devices)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or(Err(ExampleError::Internal("a writer panicked")))
            })
            .collect()
    });
    let mut truth = MeterTruth::default();
    for part in parts {
        truth.append(part?);
    }
    Ok(truth)
}

fn write_devices(
    dir: &Path,
    seed: u64,
    world: &World,
    devices: &[Building],
) -> Result<MeterTruth, ExampleError> {
    let mut truth = MeterTruth::default();
    let mut created: BTreeSet<PathBuf> = BTreeSet::new();
    for b in devices {
        let DeviceFiles {
            files,
            truth: device,
        } = device_files(seed, b, &world.weather[b.station], &world.period);
        for file in files {
            let path = dir.join(&file.rel_path);
            if let Some(parent) = path.parent()
                && !created.contains(parent)
            {
                fs_err::create_dir_all(parent)?;
                created.insert(parent.to_path_buf());
            }
            fs_err::write(&path, &file.bytes)?;
        }
        truth.append(device);
    }
    Ok(truth)
}
