//! `keel export`: files other tools read, with a sidecar naming the version read.

use keel_testkit::{ExampleProject, python_with, require};

use crate::support::{keel, keel_ok, python_stdout, sql_rows};

#[test]
fn exports_load_in_numpy_and_polars_with_the_rows_keel_serves() {
    let project = ExampleProject::small();
    let dir = project.dir();
    keel_ok(dir, &["run"]);
    let out_dir = tempfile::tempdir().unwrap();
    let npy = out_dir.path().join("daily.npy");
    let columns = "consumption_kwh,hdd,heated_area_m2";
    // `keel export daily_consumption --format F --columns C --output PATH`.
    let export = |format: &str, columns: &str, output: &std::path::Path| -> Vec<String> {
        let mut args = vec!["export", "daily_consumption", "--format", format];
        if !columns.is_empty() {
            args.extend(["--columns", columns]);
        }
        args.extend(["--output", output.to_str().unwrap()]);
        args.into_iter().map(str::to_string).collect()
    };
    let said = keel_ok(dir, &as_refs(&export("npy", columns, &npy)));
    let expected = sql_rows(
        dir,
        "SELECT count(*), sum(consumption_kwh), sum(hdd), count(heated_area_m2), \
         sum(heated_area_m2) FROM exploitation.daily_consumption",
    );
    let [rows, kwh, hdd, area_count, area] = <[String; 5]>::try_from(expected[0].clone()).unwrap();
    let version = sql_rows(
        dir,
        "SELECT max(version) FROM keel_catalog.dataset_versions \
         WHERE name = 'exploitation.daily_consumption'",
    )[0][0]
        .clone();
    assert!(said.contains(&format!("version {version}")), "{said}");
    let sidecar: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.path().join("daily.npy.json")).unwrap())
            .unwrap();
    assert_eq!(sidecar["version"].to_string(), version);
    assert_eq!(
        sidecar["columns"],
        serde_json::json!(["consumption_kwh", "hdd", "heated_area_m2"])
    );
    assert_eq!(sidecar["rows"].to_string(), rows);

    for (kind, file) in [
        ("parquet", "daily.parquet"),
        ("arrow", "daily.arrow"),
        ("csv", "daily.csv"),
    ] {
        keel_ok(dir, &as_refs(&export(kind, "", &out_dir.path().join(file))));
    }
    // Not numeric: refused in a .npy when asked for by name.
    let bad = export("npy", "building_id,hdd", &out_dir.path().join("bad.npy"));
    let refused = keel(dir, &as_refs(&bad));
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("building_id"));

    let Some(python) = python_with("numpy, polars") else {
        require(false, "the Python `numpy` and `polars` packages");
        return;
    };
    let script = r#"
import sys, numpy, polars
d = sys.argv[1]
a = numpy.load(d + "/daily.npy")
print(a.dtype, a.shape[0], a.shape[1])
print(repr(float(numpy.nansum(a[:, 0]))), repr(float(numpy.nansum(a[:, 1]))))
print(int((~numpy.isnan(a[:, 2])).sum()), repr(float(numpy.nansum(a[:, 2]))))
for f in (polars.read_parquet(d + "/daily.parquet"), polars.read_ipc(d + "/daily.arrow"), polars.read_csv(d + "/daily.csv")):
    print(f.height, f.width)
"#;
    let text = python_stdout(&python, script, &[out_dir.path().as_os_str()]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], format!("float64 {rows} 3"));
    let close = |ours: &str, theirs: &str| {
        let (a, b): (f64, f64) = (ours.parse().unwrap(), theirs.parse().unwrap());
        assert!((a - b).abs() <= 1e-9 * a.abs().max(1.0), "{a} vs {b}");
    };
    let sums: Vec<&str> = lines[1].split(' ').collect();
    close(&kwh, sums[0]);
    close(&hdd, sums[1]);
    let area_line: Vec<&str> = lines[2].split(' ').collect();
    assert_eq!(area_line[0], area_count, "nulls are NaN, the rest values");
    close(&area, area_line[1]);
    let width = sql_rows(
        dir,
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'exploitation' \
         AND table_name = 'daily_consumption'",
    )[0][0]
        .clone();
    for line in &lines[3..6] {
        assert_eq!(*line, format!("{rows} {width}"));
    }
}

fn as_refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}
