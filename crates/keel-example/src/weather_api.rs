//! A replay of the weather archive API: an HTTP server that answers Open-Meteo's
//! `GET /v1/archive` from the monthly responses the generator recorded, so the example's
//! `http` source talks to a real server on a machine without Internet access.
//!
//! ```text
//!  data/recorded/weather-archive/weather_<ST>_<YYYY-MM>.json ─► Archive (per station, by day)
//!  GET /v1/archive?latitude&longitude&start_date&end_date&daily&timezone
//!      ─► the station at those coordinates ─► its days in [start_date, end_date] ─► JSON
//! ```
//!
//! Answers are deterministic: the same request gives the same bytes (`generationtime_ms` is
//! fixed), so a re-fetched window is a duplicate delivery in landing. Days outside the
//! recorded period give empty arrays; unknown coordinates, a bad date or an unknown daily
//! variable give HTTP 400 with `{"error":true,"reason":...}`, as Open-Meteo answers.
//!
//! The server runs on a thread of its own with its own Tokio runtime, so that synchronous
//! tests and the CLI's runtime can both hold one; dropping the [`WeatherServer`] stops it.
//!
//! See: <https://open-meteo.com/en/docs/historical-weather-api>

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::NaiveDate;
use serde::Deserialize;
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::ExampleError;

/// Where the generator records the archive's monthly responses, relative to the project.
pub const RECORDED_DIR: &str = "data/recorded/weather-archive";

/// The variable of the project's `.env` that holds the API's base URL; the example's
/// `sources/weather.toml` calls `${KEEL_WEATHER_API}/v1/archive`.
pub const ENV_VAR: &str = "KEEL_WEATHER_API";

/// The address `keel example serve-weather` listens on by default.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8089";

/// `generationtime_ms` of every answer: fixed, so that answers are byte-identical.
const GENERATION_TIME_MS: f64 = 0.25;

/// How far (in degrees) requested coordinates may lie from a recorded station's.
const COORDINATE_TOLERANCE: f64 = 0.01;

/// How long a stopping server waits for open connections before it drops them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A running replay server; dropping it stops the server.
#[derive(Debug)]
pub struct WeatherServer {
    addr: SocketAddr,
    stations: Vec<String>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl WeatherServer {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API's base URL, `http://127.0.0.1:<port>` (a server bound to every interface is
    /// reached on loopback).
    pub fn url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{addr}")
    }

    /// The recorded stations, in the order of their files.
    pub fn stations(&self) -> &[String] {
        &self.stations
    }

    /// Stops the server and waits for its thread.
    ///
    /// # Errors
    /// When the server failed while it ran.
    pub fn shutdown(mut self) -> std::io::Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            // The server may have ended on its own: nobody to tell then.
            let _ = tx.send(());
        }
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the weather server panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for WeatherServer {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("warning: the weather replay server failed: {e}");
        }
    }
}

/// Serves the responses recorded in `recorded_dir` on `addr` (`127.0.0.1:0` picks a free
/// port) until the returned server is dropped or shut down.
///
/// # Errors
/// When the directory holds no recorded response, a response cannot be read, or the
/// address cannot be bound.
pub fn serve(recorded_dir: &Path, addr: &str) -> Result<WeatherServer, ExampleError> {
    let archive = Arc::new(Archive::load(recorded_dir)?);
    let stations = archive.stations.iter().map(|s| s.id.clone()).collect();
    let listener = std::net::TcpListener::bind(addr).map_err(|source| ExampleError::Bind {
        addr: addr.to_string(),
        source,
    })?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("keel-weather-api".into())
        .spawn(move || run(listener, archive, rx))?;
    Ok(WeatherServer {
        addr: local,
        stations,
        shutdown: Some(tx),
        thread: Some(thread),
    })
}

/// Serves the project's recorded responses on `addr` and points the project's `.env` at
/// the server, so that `keel run` collects from it.
///
/// # Errors
/// As [`serve`], and when `.env` cannot be written.
pub fn serve_project(project_dir: &Path, addr: &str) -> Result<WeatherServer, ExampleError> {
    let server = serve(&project_dir.join(RECORDED_DIR), addr)?;
    write_dotenv(project_dir, &server.url())?;
    Ok(server)
}

/// Sets `KEEL_WEATHER_API=<base_url>` in `project_dir/.env`, keeping its other lines.
///
/// # Errors
/// When `.env` cannot be read or written.
pub fn write_dotenv(project_dir: &Path, base_url: &str) -> Result<(), ExampleError> {
    let path = project_dir.join(".env");
    let old = if path.is_file() {
        fs_err::read_to_string(&path)?
    } else {
        String::new()
    };
    let ours = |line: &str| {
        let line = line.trim_start();
        let line = line.strip_prefix("export ").unwrap_or(line);
        line.split_once('=')
            .is_some_and(|(k, _)| k.trim() == ENV_VAR)
    };
    let mut text: String = old
        .lines()
        .filter(|l| !ours(l))
        .map(|l| format!("{l}\n"))
        .collect();
    if text.is_empty() {
        text.push_str("# Written by keel: the address of the weather archive replay server.\n");
    }
    text.push_str(&format!("{ENV_VAR}={base_url}\n"));
    fs_err::write(&path, text)?;
    Ok(())
}

/// The server thread: its own runtime, stopped by `stop` (sent or dropped).
fn run(
    listener: std::net::TcpListener,
    archive: Arc<Archive>,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let (closing_tx, mut closing_rx) = tokio::sync::watch::channel(false);
        let server = axum::serve(listener, router(archive)).with_graceful_shutdown(async move {
            let _ = closing_rx.changed().await;
        });
        let mut task = tokio::spawn(async move { server.await });
        tokio::select! {
            // The server ended by itself (an accept loop never does): report how.
            ended = &mut task => return ended.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            _ = stop => {}
        }
        let _ = closing_tx.send(true);
        // A client that keeps its connection open does not hold the server up for long:
        // the runtime drops what is left when this returns.
        match tokio::time::timeout(SHUTDOWN_GRACE, task).await {
            Ok(ended) => ended.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            Err(_) => Ok(()),
        }
    })
}

/// The routes of the replay.
fn router(archive: Arc<Archive>) -> Router {
    Router::new()
        .route("/v1/archive", get(archive_handler))
        .with_state(archive)
}

async fn archive_handler(
    State(archive): State<Arc<Archive>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    match archive.answer(&params) {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(reason) => {
            let body = serde_json::json!({ "error": true, "reason": reason });
            json_response(StatusCode::BAD_REQUEST, body.to_string().into_bytes())
        }
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

/// A recorded monthly response, as the generator wrote it.
#[derive(Deserialize)]
struct Recorded {
    latitude: f64,
    longitude: f64,
    utc_offset_seconds: i64,
    timezone: String,
    timezone_abbreviation: String,
    elevation: f64,
    daily_units: BTreeMap<String, String>,
    daily: BTreeMap<String, Vec<serde_json::Value>>,
}

/// Every recorded day of one station.
struct Station {
    id: String,
    latitude: f64,
    longitude: f64,
    utc_offset_seconds: i64,
    timezone: String,
    timezone_abbreviation: String,
    elevation: f64,
    /// Unit of each daily variable (and `time`).
    units: BTreeMap<String, String>,
    /// Each day's value of every daily variable, by variable name.
    days: BTreeMap<NaiveDate, BTreeMap<String, serde_json::Value>>,
}

/// The recorded responses, by station.
struct Archive {
    stations: Vec<Station>,
}

impl Archive {
    /// Reads every `weather_<ST>_<YYYY-MM>.json` of `dir`.
    fn load(dir: &Path) -> Result<Archive, ExampleError> {
        let recorded = |path: &Path, message: String| ExampleError::Recorded {
            path: path.to_path_buf(),
            message,
        };
        if !dir.is_dir() {
            return Err(recorded(
                dir,
                "no recorded weather: generate the example's data first (`keel example generate`)"
                    .into(),
            ));
        }
        let mut files: Vec<(String, PathBuf)> = Vec::new();
        for entry in fs_err::read_dir(dir)? {
            let path = entry?.path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if let Some(station) = station_of(&name) {
                files.push((station.to_string(), path));
            }
        }
        files.sort_by(|a, b| a.1.cmp(&b.1));
        if files.is_empty() {
            return Err(recorded(
                dir,
                "no `weather_<STATION>_<YYYY-MM>.json` file in the directory".into(),
            ));
        }
        let mut stations: Vec<Station> = Vec::new();
        for (id, path) in files {
            let bytes = fs_err::read(&path)?;
            let r: Recorded = serde_json::from_slice(&bytes)
                .map_err(|e| recorded(&path, format!("not a recorded archive response: {e}")))?;
            let idx = match stations.iter().position(|s| s.id == id) {
                Some(i) => i,
                None => {
                    stations.push(Station {
                        id: id.clone(),
                        latitude: r.latitude,
                        longitude: r.longitude,
                        utc_offset_seconds: r.utc_offset_seconds,
                        timezone: r.timezone.clone(),
                        timezone_abbreviation: r.timezone_abbreviation.clone(),
                        elevation: r.elevation,
                        units: BTreeMap::new(),
                        days: BTreeMap::new(),
                    });
                    stations.len() - 1
                }
            };
            let station = &mut stations[idx];
            station.units.extend(r.daily_units);
            let Some(time) = r.daily.get("time") else {
                return Err(recorded(&path, "`daily` has no `time`".into()));
            };
            for (i, day) in time.iter().enumerate() {
                let date = day
                    .as_str()
                    .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                    .ok_or_else(|| recorded(&path, format!("`daily.time[{i}]` is not a date")))?;
                let values = station.days.entry(date).or_default();
                for (variable, column) in r.daily.iter().filter(|(k, _)| *k != "time") {
                    let value = column.get(i).cloned().ok_or_else(|| {
                        recorded(&path, format!("`daily.{variable}` is shorter than `time`"))
                    })?;
                    values.insert(variable.clone(), value);
                }
            }
        }
        Ok(Archive { stations })
    }

    /// The body of the answer to a request with `params`, or why it is refused.
    fn answer(&self, params: &HashMap<String, String>) -> Result<Vec<u8>, String> {
        let coordinate = |name: &str| -> Result<f64, String> {
            let text = params
                .get(name)
                .ok_or_else(|| format!("Parameter '{name}' is required"))?;
            text.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("Parameter '{name}' is not a number: '{text}'"))
        };
        let (latitude, longitude) = (coordinate("latitude")?, coordinate("longitude")?);
        let date = |name: &str| -> Result<NaiveDate, String> {
            let text = params
                .get(name)
                .ok_or_else(|| format!("Parameter '{name}' is required"))?;
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| format!("Invalid date format for '{name}': '{text}' (YYYY-MM-DD)"))
        };
        let (start, end) = (date("start_date")?, date("end_date")?);
        if end < start {
            return Err("End-date must be larger or equals than start date".into());
        }
        match params.get("timezone").map(String::as_str) {
            None | Some("GMT" | "UTC" | "gmt" | "utc") => {}
            Some(other) => {
                return Err(format!(
                    "Timezone '{other}' is not recorded: the replay answers in GMT only"
                ));
            }
        }
        let station = self
            .stations
            .iter()
            .find(|s| {
                (s.latitude - latitude).abs() <= COORDINATE_TOLERANCE
                    && (s.longitude - longitude).abs() <= COORDINATE_TOLERANCE
            })
            .ok_or_else(|| {
                let known: Vec<String> = self
                    .stations
                    .iter()
                    .map(|s| format!("{} ({}, {})", s.id, s.latitude, s.longitude))
                    .collect();
                format!(
                    "No recorded weather at latitude {latitude}, longitude {longitude}; \
                     recorded stations: {}",
                    known.join(", ")
                )
            })?;
        let variables: Vec<&str> = match params.get("daily") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .collect(),
        };
        for v in &variables {
            if !station.units.contains_key(*v) || *v == "time" {
                return Err(format!(
                    "Cannot initialize DailyVariable from invalid String value {v}"
                ));
            }
        }
        let body = Answer {
            station,
            variables: &variables,
            start,
            end,
        };
        serde_json::to_vec(&body).map_err(|e| format!("Internal error: {e}"))
    }
}

/// `weather_<STATION>_<YYYY-MM>.json` → `STATION`.
fn station_of(name: &str) -> Option<&str> {
    let stem = name.strip_prefix("weather_")?.strip_suffix(".json")?;
    let (station, month) = stem.rsplit_once('_')?;
    let valid_month = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").is_ok();
    (valid_month && !station.is_empty()).then_some(station)
}

/// One answer, serialised in the field order of Open-Meteo's answers.
struct Answer<'a> {
    station: &'a Station,
    variables: &'a [&'a str],
    start: NaiveDate,
    end: NaiveDate,
}

impl Serialize for Answer<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let s = self.station;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("latitude", &s.latitude)?;
        map.serialize_entry("longitude", &s.longitude)?;
        map.serialize_entry("generationtime_ms", &GENERATION_TIME_MS)?;
        map.serialize_entry("utc_offset_seconds", &s.utc_offset_seconds)?;
        map.serialize_entry("timezone", &s.timezone)?;
        map.serialize_entry("timezone_abbreviation", &s.timezone_abbreviation)?;
        map.serialize_entry("elevation", &s.elevation)?;
        if !self.variables.is_empty() {
            map.serialize_entry("daily_units", &Units(self))?;
            map.serialize_entry("daily", &Daily(self))?;
        }
        map.end()
    }
}

/// `daily_units`: `time` first, then the requested variables in request order.
struct Units<'a>(&'a Answer<'a>);

impl Serialize for Units<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let a = self.0;
        let mut map = serializer.serialize_map(Some(a.variables.len() + 1))?;
        let unit = |v: &str| a.station.units.get(v).map_or("", String::as_str);
        map.serialize_entry("time", unit("time"))?;
        for v in a.variables {
            map.serialize_entry(v, unit(v))?;
        }
        map.end()
    }
}

/// `daily`: the days of `[start, end]` as one array per variable.
struct Daily<'a>(&'a Answer<'a>);

impl Serialize for Daily<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let a = self.0;
        let days = || a.station.days.range(a.start..=a.end);
        let mut map = serializer.serialize_map(Some(a.variables.len() + 1))?;
        let time: Vec<String> = days()
            .map(|(d, _)| d.format("%Y-%m-%d").to_string())
            .collect();
        map.serialize_entry("time", &time)?;
        for v in a.variables {
            let column: Vec<&serde_json::Value> = days()
                .map(|(_, values)| values.get(*v).unwrap_or(&serde_json::Value::Null))
                .collect();
            map.serialize_entry(v, &column)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn station_names_come_from_recorded_file_names() {
        assert_eq!(station_of("weather_WAW_2016-01.json"), Some("WAW"));
        assert_eq!(station_of("weather_A_B_2016-12.json"), Some("A_B"));
        assert_eq!(station_of("weather_WAW_2016-13.json"), None);
        assert_eq!(station_of("weather__2016-01.json"), None);
        assert_eq!(station_of("notes.txt"), None);
    }

    #[test]
    fn dotenv_keeps_other_lines_and_replaces_ours() {
        let dir = tempfile::tempdir().unwrap();
        write_dotenv(dir.path(), "http://127.0.0.1:1").unwrap();
        let first = std::fs::read_to_string(dir.path().join(".env")).unwrap();
        assert!(
            first.ends_with("KEEL_WEATHER_API=http://127.0.0.1:1\n"),
            "{first}"
        );
        std::fs::write(
            dir.path().join(".env"),
            format!("CRM_PASSWORD=secret\n{first}export KEEL_WEATHER_API=old\n"),
        )
        .unwrap();
        write_dotenv(dir.path(), "http://127.0.0.1:2").unwrap();
        let text = std::fs::read_to_string(dir.path().join(".env")).unwrap();
        assert!(text.contains("CRM_PASSWORD=secret\n"), "{text}");
        assert_eq!(text.matches("KEEL_WEATHER_API").count(), 1, "{text}");
        assert!(
            text.ends_with("KEEL_WEATHER_API=http://127.0.0.1:2\n"),
            "{text}"
        );
    }
}
