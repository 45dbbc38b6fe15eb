//! A malformed project file gives an error naming the file and the key, exit code 2.

use keel_testkit::ExampleProject;

use crate::support::{expect_error, keel};

#[test]
fn malformed_project_files_name_the_file_and_the_key() {
    let project = ExampleProject::new(keel_example::GenerateOptions {
        buildings: 2,
        years: 1,
        ..Default::default()
    });
    let dir = project.dir();
    let source = dir.join("sources/weather.toml");
    let original = std::fs::read_to_string(&source).unwrap();

    // An unknown key.
    std::fs::write(&source, format!("colour = \"blue\"\n{original}")).unwrap();
    expect_error(dir, "run", "weather.toml", "colour");

    // A wrong type.
    std::fs::write(
        &source,
        original.replace("required = true", "required = \"yes\""),
    )
    .unwrap();
    expect_error(dir, "run", "weather.toml", "required");

    // A collector path that does not exist (weather comes over HTTP since issue 3: the
    // meters' `files` collector has the path).
    std::fs::write(&source, &original).unwrap();
    let meters = dir.join("sources/meters.toml");
    let meters_original = std::fs::read_to_string(&meters).unwrap();
    std::fs::write(
        &meters,
        meters_original.replace("data/inbox/meters", "data/inbox/nowhere"),
    )
    .unwrap();
    expect_error(dir, "run", "meters.toml", "collector.path");
    std::fs::write(&meters, &meters_original).unwrap();

    // The project file itself.
    let project_file = dir.join("keel.toml");
    let text = std::fs::read_to_string(&project_file).unwrap();
    std::fs::write(
        &project_file,
        text.replace("batch_size = 8192", "batch_size = \"big\""),
    )
    .unwrap();
    expect_error(dir, "run", "keel.toml", "batch_size");
    std::fs::write(&project_file, &text).unwrap();

    // No `.env` (no weather archive replay started): the `http` source names the variable
    // its URL needs, not a connection error (issue 3).
    std::fs::remove_file(dir.join(".env")).unwrap();
    let out = keel(dir, &["run"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for expected in ["`weather`", "collector.url", "KEEL_WEATHER_API"] {
        assert!(stderr.contains(expected), "no `{expected}` in:\n{stderr}");
    }
}
