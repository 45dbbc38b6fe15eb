//! `keel example generate`: the example's deterministic data generator.

use std::path::Path;

use keel_example::GenerateOptions;

use crate::cli::GenerateArgs;

/// Generates the example data into `dir/data`.
///
/// # Errors
/// When files cannot be written.
pub fn generate(dir: &Path, args: &GenerateArgs) -> anyhow::Result<u8> {
    let truth = keel_example::generate(dir, &options(args))?;
    eprintln!(
        "generated {} meter files ({} re-sent identical, {} re-sent corrected) and {} weather files in `{}`",
        truth.meters.files_delivered,
        truth.meters.resent_identical,
        truth.meters.resent_corrected,
        truth.weather.files,
        dir.join("data").display()
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
