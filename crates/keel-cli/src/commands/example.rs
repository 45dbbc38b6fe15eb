//! `keel example generate` (the example's deterministic data generator) and
//! `keel example serve-weather` (the replay of the weather archive API it collects from).

use std::path::Path;

use anyhow::Context;
use keel_example::GenerateOptions;
use keel_example::weather_api::{self, ENV_VAR, WeatherServer};

use crate::cli::{GenerateArgs, ReadingsCsvArgs, ServeWeatherArgs};

/// Generates the example data into `dir/data`.
///
/// # Errors
/// When files cannot be written.
pub fn generate(dir: &Path, args: &GenerateArgs) -> anyhow::Result<u8> {
    let truth = keel_example::generate(dir, &options(args))?;
    eprintln!(
        "generated {} meter files ({} re-sent identical, {} re-sent corrected), {} recorded \
         weather answers and the CRM database in `{}`",
        truth.meters.files_delivered,
        truth.meters.resent_identical,
        truth.meters.resent_corrected,
        truth.weather.files,
        dir.join("data").display()
    );
    eprintln!(
        "next: `keel example serve-weather` (it serves the weather archive API), then `keel run`"
    );
    Ok(0)
}

/// Writes the `hm1` readings as one large file.
///
/// # Errors
/// When the file cannot be written.
pub fn readings_csv(args: &ReadingsCsvArgs) -> anyhow::Result<u8> {
    let written =
        keel_example::write_readings_csv(&args.output, &options(&args.generate), args.bytes)
            .with_context(|| format!("writing `{}`", args.output.display()))?;
    eprintln!(
        "wrote {} bytes, {} data lines from {} month files, to `{}`",
        written.bytes,
        written.lines,
        written.files,
        args.output.display()
    );
    Ok(0)
}

/// Generator options from the command line.
pub fn options(args: &GenerateArgs) -> GenerateOptions {
    GenerateOptions {
        seed: args.seed,
        buildings: args.buildings,
        years: args.years,
        ..GenerateOptions::default()
    }
}

/// Serves the project's recorded weather archive on `args.addr` until Ctrl-C, with the
/// project's `.env` pointing at it.
///
/// # Errors
/// When there is nothing recorded to serve or the address cannot be bound.
pub async fn serve_weather(dir: &Path, args: &ServeWeatherArgs) -> anyhow::Result<u8> {
    let server = start(dir, &args.addr)?;
    eprintln!(
        "serving the weather archive API at {} ({}); `keel run` collects from it; Ctrl-C stops",
        server.url(),
        server.stations().join(", ")
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    stop(server).await;
    eprintln!("stopped the weather archive API");
    Ok(0)
}

/// Starts the replay of the project's recorded weather and writes its address into the
/// project's `.env`; shared with `keel demo`.
///
/// # Errors
/// When there is nothing recorded to serve, the address cannot be bound or `.env` cannot be
/// written.
pub fn start(dir: &Path, addr: &str) -> anyhow::Result<WeatherServer> {
    let server = weather_api::serve_project(dir, addr).with_context(|| {
        format!(
            "serving the recorded weather of `{}`",
            dir.join(weather_api::RECORDED_DIR).display()
        )
    })?;
    eprintln!(
        "`{}`: {ENV_VAR}={}",
        dir.join(".env").display(),
        server.url()
    );
    // The process environment wins over `.env` when collectors look the variable up.
    // Its value is not printed: collectors treat `${ENV}` values as secrets.
    if std::env::var(ENV_VAR).is_ok_and(|value| value != server.url()) {
        eprintln!(
            "warning: {ENV_VAR} is set in the environment and overrides `.env`; unset it to \
             collect from this server"
        );
    }
    Ok(server)
}

/// Stops the server off the async runtime (it joins the server's thread).
pub async fn stop(server: WeatherServer) {
    match tokio::task::spawn_blocking(move || server.shutdown()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("warning: the weather archive API failed: {e}"),
        Err(e) => eprintln!("warning: stopping the weather archive API failed: {e}"),
    }
}
