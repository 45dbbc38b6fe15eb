//! The weather archive replay: a real HTTP server answering `GET /v1/archive` from the
//! recorded months, sliced to the requested days, as Open-Meteo answers (issue 3).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};

use keel_example::weather_api::{self, RECORDED_DIR};
use keel_example::{Truth, generate};
use serde_json::Value;

use crate::support::small;

const DAILY: &str = "temperature_2m_mean,temperature_2m_min,temperature_2m_max,precipitation_sum,wind_speed_10m_max";

/// A plain HTTP/1.1 GET; returns the status, the `Content-Type` and the body.
fn get(addr: SocketAddr, target: &str) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(response[..split].to_vec()).unwrap();
    let mut body = response[split + 4..].to_vec();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let header = |name: &str| {
        head.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    };
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        body = unchunk(&body);
    }
    (status, header("content-type").unwrap_or_default(), body)
}

fn unchunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 4 + size..];
    }
}

fn archive(station: (f64, f64), from: &str, to: &str) -> String {
    format!(
        "/v1/archive?latitude={}&longitude={}&start_date={from}&end_date={to}&daily={DAILY}&timezone=GMT",
        station.0, station.1
    )
}

const WAW: (f64, f64) = (52.23, 21.01);

fn recorded(dir: &std::path::Path, name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join(RECORDED_DIR).join(name)).unwrap()).unwrap()
}

fn generated() -> (tempfile::TempDir, Truth) {
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(dir.path(), &small(6)).unwrap();
    (dir, truth)
}

#[test]
fn a_request_gets_the_recorded_days_of_its_range_across_months() {
    let (dir, _) = generated();
    let server = weather_api::serve(&dir.path().join(RECORDED_DIR), "127.0.0.1:0").unwrap();
    assert_eq!(server.stations(), ["GDN", "KRK", "POZ", "WAW", "WRO"]);
    let (status, content_type, body) =
        get(server.addr(), &archive(WAW, "2016-01-25", "2016-02-03"));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let answer: Value = serde_json::from_slice(&body).unwrap();

    let january = recorded(dir.path(), "weather_WAW_2016-01.json");
    let february = recorded(dir.path(), "weather_WAW_2016-02.json");
    for key in [
        "latitude",
        "longitude",
        "utc_offset_seconds",
        "timezone",
        "timezone_abbreviation",
        "elevation",
        "daily_units",
    ] {
        assert_eq!(answer[key], january[key], "{key}");
    }
    let daily = &answer["daily"];
    let time: Vec<&str> = daily["time"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(time.len(), 10);
    assert_eq!((time[0], time[9]), ("2016-01-25", "2016-02-03"));
    for variable in DAILY.split(',') {
        let mut expected: Vec<Value> =
            january["daily"][variable].as_array().unwrap()[24..].to_vec();
        expected.extend_from_slice(&february["daily"][variable].as_array().unwrap()[..3]);
        assert_eq!(daily[variable].as_array().unwrap(), &expected, "{variable}");
    }

    // Open-Meteo's field order, and the same bytes every time (a re-fetch is a duplicate).
    let text = String::from_utf8(body.clone()).unwrap();
    assert!(
        text.starts_with("{\"latitude\":52.23,\"longitude\":21.01,\"generationtime_ms\":"),
        "{text}"
    );
    assert!(text.find("\"daily_units\"") < text.find("\"daily\":"));
    let (_, _, again) = get(server.addr(), &archive(WAW, "2016-01-25", "2016-02-03"));
    assert_eq!(again, body);
    server.shutdown().unwrap();
}

#[test]
fn the_whole_period_of_every_station_gives_the_truths_days_and_nulls() {
    let (dir, truth) = generated();
    let server = weather_api::serve(&dir.path().join(RECORDED_DIR), "127.0.0.1:0").unwrap();
    let stations = [
        (50.06, 19.94),
        (54.35, 18.65),
        (51.11, 17.04),
        (52.41, 16.93),
        WAW,
    ];
    let (mut days, mut nulls) = (0, 0);
    for station in stations {
        // Wider than the period: days outside it are simply not there.
        let (status, _, body) = get(server.addr(), &archive(station, "2015-06-01", "2017-06-30"));
        assert_eq!(status, 200);
        let answer: Value = serde_json::from_slice(&body).unwrap();
        days += answer["daily"]["time"].as_array().unwrap().len();
        nulls += answer["daily"]["temperature_2m_mean"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v.is_null())
            .count();
    }
    assert_eq!(
        (days, nulls),
        (truth.weather.days, truth.weather.null_temperature)
    );
}

#[test]
fn days_outside_the_recording_give_empty_arrays() {
    let (dir, _) = generated();
    let server = weather_api::serve(&dir.path().join(RECORDED_DIR), "127.0.0.1:0").unwrap();
    let (status, _, body) = get(server.addr(), &archive(WAW, "2025-01-01", "2025-12-31"));
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_slice(&body).unwrap();
    for variable in ["time"].into_iter().chain(DAILY.split(',')) {
        assert_eq!(
            answer["daily"][variable],
            serde_json::json!([]),
            "{variable}"
        );
    }
    // Only the requested variables, in the order asked.
    let (_, _, body) = get(
        server.addr(),
        "/v1/archive?latitude=52.23&longitude=21.01&start_date=2016-03-01&end_date=2016-03-01\
         &daily=precipitation_sum,temperature_2m_max",
    );
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("\"daily\":{\"time\":[\"2016-03-01\"],\"precipitation_sum\":["),
        "{text}"
    );
    assert!(!text.contains("temperature_2m_mean"), "{text}");
}

#[test]
fn bad_requests_get_400_with_open_meteos_error_shape() {
    let (dir, _) = generated();
    let server = weather_api::serve(&dir.path().join(RECORDED_DIR), "127.0.0.1:0").unwrap();
    let cases = [
        (
            archive((10.0, 10.0), "2016-01-01", "2016-01-31"),
            "No recorded weather",
        ),
        (archive(WAW, "2016-01-31", "2016-01-01"), "End-date"),
        (archive(WAW, "2016-1-x", "2016-01-31"), "start_date"),
        (
            "/v1/archive?latitude=52.23&start_date=2016-01-01&end_date=2016-01-02".to_string(),
            "longitude",
        ),
        (
            "/v1/archive?latitude=52.23&longitude=21.01&start_date=2016-01-01\
             &end_date=2016-01-02&daily=snowfall_sum"
                .to_string(),
            "snowfall_sum",
        ),
        (
            archive(WAW, "2016-01-01", "2016-01-02").replace("GMT", "Europe%2FWarsaw"),
            "Europe/Warsaw",
        ),
    ];
    for (target, expected) in cases {
        let (status, content_type, body) = get(server.addr(), &target);
        assert_eq!(status, 400, "{target}");
        assert!(content_type.starts_with("application/json"), "{target}");
        let answer: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(answer["error"], true, "{target}");
        let reason = answer["reason"].as_str().unwrap();
        assert!(reason.contains(expected), "{target}: {reason}");
    }
    let (status, _, _) = get(server.addr(), "/v1/forecast");
    assert_eq!(status, 404);
}

#[test]
fn dropping_the_server_stops_it_and_a_project_gets_its_address_in_dotenv() {
    let (dir, _) = generated();
    let server = weather_api::serve_project(dir.path(), "127.0.0.1:0").unwrap();
    let addr = server.addr();
    let dotenv = std::fs::read_to_string(dir.path().join(".env")).unwrap();
    assert!(
        dotenv.contains(&format!("KEEL_WEATHER_API=http://{addr}\n")),
        "{dotenv}"
    );
    assert_eq!(get(addr, &archive(WAW, "2016-01-01", "2016-01-01")).0, 200);
    drop(server);
    assert!(
        TcpStream::connect(addr).is_err(),
        "still listening on {addr}"
    );
}

#[test]
fn serving_without_recorded_answers_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let err = weather_api::serve(&dir.path().join(RECORDED_DIR), "127.0.0.1:0").unwrap_err();
    assert!(err.to_string().contains("keel example generate"), "{err}");
}
