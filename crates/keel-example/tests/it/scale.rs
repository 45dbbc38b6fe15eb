//! The full-size run (33,000 buildings, ~60 M readings), ignored by default; run it by hand to
//! measure: `cargo test -p keel-example --release -- --ignored --nocapture`.

use std::time::Instant;

use keel_example::{GenerateOptions, generate};

fn size_of_tree(dir: &std::path::Path) -> (usize, u64) {
    crate::support::files(dir)
        .iter()
        .fold((0, 0), |(n, bytes), (_, p)| {
            (n + 1, bytes + std::fs::metadata(p).unwrap().len())
        })
}

fn measure(opts: &GenerateOptions) {
    let dir = tempfile::Builder::new()
        .prefix("keel-example-")
        .tempdir_in("/tmp")
        .unwrap();
    let start = Instant::now();
    let truth = generate(dir.path(), opts).unwrap();
    let elapsed = start.elapsed();
    let (files, bytes) = size_of_tree(dir.path());
    let truth_bytes = std::fs::metadata(dir.path().join("data/generator_truth.json"))
        .unwrap()
        .len();
    eprintln!(
        "buildings={} years={}: {:.1} s, {files} files, {bytes} bytes ({truth_bytes} in the truth), \
         {} data lines",
        opts.buildings,
        opts.years,
        elapsed.as_secs_f64(),
        truth.meters.data_lines
    );
}

#[test]
#[ignore = "measurement: writes several GB under /tmp"]
fn measure_default_and_33000_buildings() {
    measure(&GenerateOptions::default());
    measure(&GenerateOptions {
        buildings: 33_000,
        ..GenerateOptions::default()
    });
}
