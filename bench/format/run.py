#!/usr/bin/env python3
"""The formatting benchmark of issue 4: keel's `format` step beside DuckDB, Polars and Spark
doing the same job on the same landed files, at two sizes of the example's generated data.

For each size it makes a project under BENCH_DIR with `keel init --example`, generates the
meter files (`keel example generate --buildings N --years Y`), collects and lands them
(`keel collect|land --source meters`, not timed), then runs, RUNS times each and
interleaved:

- keel:   `keel --project COPY format` on a fresh copy of the landed project (landing
          hard-linked, catalog copied), as its own process;
- duckdb: bench/peers/format_duckdb.py on the same landed files;
- polars: bench/peers/format_polars.py on the same landed files;
- spark:  bench/peers/format_spark.py (PySpark, local[2]) on the same landed files, not in
          the default TOOLS (it needs `pip install pyspark` and Java 17);

each under `/usr/bin/time -v` (wall time, CPU time, peak RSS), with /proc/loadavg read
before each. Then it checks that the tools agree (rows read, rows rejected, rows out, and
the sum of consumption_kwh of the output) and prints one table. A disagreement is printed
and makes the exit code 1; nothing is hidden.

It builds nothing: keel is `$KEEL` or `$CARGO_TARGET_DIR/debug/keel` (default
`~/.cache/keel-target/debug/keel`), the test profile (dependencies and keel-formatted at
opt-level 2, keel's other crates unoptimised); build it with
`CARGO_TARGET_DIR=~/.cache/keel-target cargo build --workspace`.

Environment: SIZES (buildings, default "200 2000"), YEARS (5), RUNS (2),
BENCH_DIR (/tmp/keel-bench-format), TOOLS ("keel duckdb polars"; any of KNOWN_TOOLS).
Generated and landed data is reused when BENCH_DIR already holds it for the same size and
years (FRESH=1 makes it again).
LANDED=DIR runs the tools on DIR instead of preparing SIZES: a directory holding
`sources/meters.toml`, `manifest.csv` and `lake/` as the prepared projects do, e.g. one made
without keel by bench/peers/small_input.py; without `keel` in TOOLS no keel binary is needed
then (the peers are checked against each other only).
Results also go to BENCH_DIR/results.json.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PEERS = REPO / "bench" / "peers"
EXAMPLE_SOURCE = "sources/meters.toml"


def keel_binary() -> Path:
    if os.environ.get("KEEL"):
        return Path(os.environ["KEEL"])
    target = os.environ.get("CARGO_TARGET_DIR") or str(Path.home() / ".cache" / "keel-target")
    return Path(target) / "debug" / "keel"


BUILT_KEEL = keel_binary()
BENCH = Path(os.environ.get("BENCH_DIR", "/tmp/keel-bench-format"))
# The shared target directory is rebuilt by whoever builds next: every measurement uses a
# snapshot of the binary taken at the start (see snapshot_keel).
KEEL = BENCH / "keel"
KEEL_SHA = ""
SIZES = [int(s) for s in os.environ.get("SIZES", "200 2000").split()]
YEARS = int(os.environ.get("YEARS", "5"))
RUNS = int(os.environ.get("RUNS", "2"))
TOOLS = os.environ.get("TOOLS", "keel duckdb polars").split()
# keel, and the peers: bench/peers/format_<tool>.py each.
KNOWN_TOOLS = ("keel", "duckdb", "polars", "spark")
LANDED = Path(os.environ["LANDED"]).resolve() if os.environ.get("LANDED") else None


def snapshot_keel() -> str:
    """Copies the built binary to BENCH_DIR/keel; returns its SHA-256."""
    import hashlib

    BENCH.mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUILT_KEEL, KEEL)
    h = hashlib.sha256()
    with open(KEEL, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sh(*args, cwd=None, capture=False) -> str:
    r = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        check=True,
        text=True,
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return r.stdout if capture else ""


def keel(project: Path, *args) -> str:
    return sh(KEEL, "--project", project, *args, capture=True)


def keel_sql(project: Path, query: str) -> list[dict]:
    out = keel(project, "sql", "--format", "json", query)
    out = out.strip()
    if not out:
        return []
    if out.startswith("["):
        return json.loads(out)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def timed(cmd: list, cwd=None) -> dict:
    """Runs `cmd` under /usr/bin/time -v; returns its stdout and measures."""
    load = loadavg()
    r = subprocess.run(
        ["/usr/bin/time", "-v", *[str(c) for c in cmd]],
        cwd=cwd,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if r.returncode != 0:
        sys.stderr.write(r.stderr[-4000:])
        raise SystemExit(f"failed: {' '.join(map(str, cmd))}")

    def field(name: str) -> str:
        m = re.search(rf"^\s*{re.escape(name)}: (.+)$", r.stderr, re.M)
        return m.group(1) if m else ""

    wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss)")
    parts = [float(p) for p in wall.split(":")]
    seconds = sum(p * 60**i for i, p in enumerate(reversed(parts)))
    return {
        "stdout": r.stdout,
        "load_before": load,
        "wall_s": round(seconds, 2),
        "cpu_s": round(float(field("User time (seconds)")) + float(field("System time (seconds)")), 2),
        "peak_rss_mib": round(int(field("Maximum resident set size (kbytes)")) / 1024, 1),
    }


def prepare(buildings: int) -> Path:
    """A project with the generated meter files collected and landed; reused when there."""
    root = BENCH / f"b{buildings}x{YEARS}"
    stamp = f"{buildings} {YEARS}"
    marker = root / ".landed"
    if marker.exists() and marker.read_text() == stamp and not os.environ.get("FRESH"):
        log(f"{buildings} buildings: reusing {root}")
        return root
    if root.exists():
        shutil.rmtree(root)
    BENCH.mkdir(parents=True, exist_ok=True)
    sh(KEEL, "init", root, "--example", "district-heating")
    steps = {}
    for name, args in [
        ("generate", ["example", "generate", "--buildings", buildings, "--years", YEARS]),
        ("collect", ["collect", "--source", "meters"]),
        ("land", ["land", "--source", "meters"]),
    ]:
        started = time.perf_counter()
        keel(root, *args)
        steps[name] = round(time.perf_counter() - started, 1)
        log(f"{buildings} buildings: {name} {steps[name]} s")
        if name == "generate":
            # The files collector takes a file once it is unchanged for `stable_for` (2 s).
            time.sleep(3)
    write_manifest(root)
    steps["keel_sha256"] = KEEL_SHA
    (root / "prepare.json").write_text(json.dumps(steps))
    marker.write_text(stamp)
    return root


def write_manifest(root: Path) -> None:
    """The landed objects in ingestion order, for the peers (keel reads its own catalog)."""
    manifest = keel(
        root,
        "sql",
        "--format",
        "csv",
        "SELECT seq, persistent_path, original_path FROM keel_catalog.landing_objects "
        "WHERE source = 'meters' ORDER BY seq",
    )
    (root / "manifest.csv").write_text(manifest)


def fresh_copy(landed: Path, work: Path) -> None:
    """The landed project without its inbox: landing hard-linked (keel only reads it),
    catalog copied; the formatted zone does not exist yet."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for item in landed.iterdir():
        if item.name in ("data", "lake", "work", "out", "keel") or item.name.startswith("."):
            continue
        if item.is_dir():
            shutil.copytree(item, work / item.name)
        else:
            shutil.copy2(item, work / item.name)
    # The project's other sources must still find their folders; the meter files are not
    # needed (they are landed) and are left out.
    shutil.copytree(
        landed / "data",
        work / "data",
        ignore=lambda d, names: names if Path(d) == landed / "data" / "inbox" / "meters" else [],
    )
    (work / "lake").mkdir()
    sh("cp", "-al", landed / "lake" / "landing", work / "lake" / "landing")
    sh("cp", "-a", landed / "lake" / "_catalog", work / "lake" / "_catalog")
    sh("sync")


def run_keel(landed: Path) -> dict:
    work = landed / "work"
    fresh_copy(landed, work)
    m = timed([KEEL, "--project", work, "format"])
    step = keel_sql(
        work,
        "SELECT duration_ms, peak_rss_bytes FROM keel_catalog.steps "
        "WHERE stage = 'format' AND target LIKE 'meters%'",
    )[0]
    ledger = keel_sql(
        work,
        "SELECT sum(rows_read) AS rows_read, sum(rows_written) AS rows_written, "
        "sum(rows_quarantined) AS rows_quarantined, sum(rows_duplicate) AS rows_duplicate "
        "FROM keel_catalog.ledger",
    )[0]
    out = keel_sql(
        work,
        "SELECT count(*) AS n, sum(consumption_kwh) AS kwh FROM formatted.readings",
    )[0]
    rules = keel_sql(work, "SELECT rule, count(*) AS n FROM quarantine.readings GROUP BY rule")
    m.update(
        rows_read=int(ledger["rows_read"]),
        rows_rejected=int(ledger["rows_quarantined"]),
        rejected_by_rule={r["rule"]: int(r["n"]) for r in sorted(rules, key=lambda r: r["rule"])},
        rows_out=int(out["n"]),
        kwh=float(out["kwh"]),
        keel_step_s=round(int(step["duration_ms"]) / 1000, 2),
        keel_step_peak_rss_mib=round(int(step["peak_rss_bytes"]) / 2**20, 1),
        ledger=ledger,
    )
    return m


def run_peer(tool: str, landed: Path) -> dict:
    out = landed / "out" / tool
    if out.exists():
        shutil.rmtree(out)
    m = timed(
        [
            sys.executable,
            PEERS / f"format_{tool}.py",
            "--source",
            landed / EXAMPLE_SOURCE,
            "--manifest",
            landed / "manifest.csv",
            "--lake",
            landed / "lake",
            "--out",
            out,
        ]
    )
    report = json.loads(m.pop("stdout").strip().splitlines()[-1])
    m.update(report)
    # The output's sum, read back by DuckDB for both peers.
    import duckdb

    m["kwh"] = float(
        duckdb.connect()
        .execute(f"SELECT sum(consumption_kwh) FROM read_parquet('{out / 'readings.parquet'}')")
        .fetchone()[0]
    )
    return m


def compare_values(size: int, landed: Path, tools: list[str]) -> list[str]:
    """Row by row: keel's formatted table (read with the `deltalake` package) against each
    peer's readings.parquet, joined on the key; every canonical value must match."""
    try:
        import polars as pl
        import deltalake  # noqa: F401 (pl.read_delta needs it)
    except ImportError:
        log("value check skipped: needs the Python packages polars and deltalake")
        return []
    columns = ["device_id", "reading_date", "consumption_kwh", "supply_temp_c", "return_temp_c"]
    keys = columns[:2]
    tables = {}
    if "keel" in tools:
        tables["keel"] = pl.read_delta(str(landed / "work" / "lake" / "formatted" / "readings"))
    for tool in tools:
        if tool != "keel":
            tables[tool] = pl.read_parquet(landed / "out" / tool / "readings.parquet")
    names = list(tables)
    problems = []
    base = tables[names[0]].select(columns)
    for other in names[1:]:
        j = base.join(tables[other].select(columns), on=keys, how="full", suffix="_o", coalesce=False)
        only = j.filter(pl.col("device_id").is_null() | pl.col("device_id_o").is_null()).height
        both = j.filter(pl.col("device_id").is_not_null() & pl.col("device_id_o").is_not_null())
        differ = both.filter(
            pl.any_horizontal(
                [
                    (pl.col(c) - pl.col(f"{c}_o")).abs().fill_null(0) > 1e-9 * pl.col(c).abs().fill_null(1).clip(1)
                    for c in columns[2:]
                ]
                + [pl.col(c).is_null() != pl.col(f"{c}_o").is_null() for c in columns[2:]]
            )
        ).height
        log(f"{label(size)}: {names[0]} vs {other}: {only} keys in one only, {differ} rows differ")
        if only or differ:
            problems.append(
                f"{size}: {names[0]} vs {other}: {only} keys in one table only, {differ} rows with other values"
            )
    return problems


def machine() -> dict:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
        "?",
    )
    git = lambda *a: subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True).stdout.strip()
    versions = {}
    for mod in ("duckdb", "polars", "pyspark"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            versions[mod] = None
    have_keel = KEEL.exists() and bool(KEEL_SHA)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "free_g": sh("free", "-g", capture=True).strip(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "keel_binary": str(BUILT_KEEL) if have_keel else None,
        "keel_binary_built": (
            time.strftime("%Y-%m-%d %H:%M", time.localtime(KEEL.stat().st_mtime)) if have_keel else None
        ),
        "keel_binary_sha256": KEEL_SHA or None,
        "keel_version": sh(KEEL, "--version", capture=True).strip() if have_keel else None,
        "git_head": git("rev-parse", "--short", "HEAD"),
        "git_dirty_crates": git("status", "--porcelain", "--", "crates"),
        **versions,
    }


def check(size: int, results: dict) -> list[str]:
    """Where the tools disagree, in words."""
    problems = []
    best = {tool: runs[0] for tool, runs in results.items()}
    base_tool = "keel" if "keel" in best else next(iter(best))
    base = best[base_tool]
    for tool, r in best.items():
        for key in ("rows_read", "rows_rejected", "rows_out"):
            if r[key] != base[key]:
                problems.append(f"{size}: {tool} {key} = {r[key]}, {base_tool} {base[key]}")
        if abs(r["kwh"] - base["kwh"]) > 1e-6 * max(1.0, abs(base["kwh"])):
            problems.append(f"{size}: {tool} sum(consumption_kwh) = {r['kwh']}, {base_tool} {base['kwh']}")
    return problems


def label(size) -> str:
    """A size's name in the table: buildings × years, or the LANDED directory's name."""
    return f"{size} × {YEARS}" if isinstance(size, int) else str(size)


def table(all_results: dict) -> str:
    head = (
        "| buildings × years | tool | rows read | rows out | rejected | wall s (best of "
        f"{RUNS}) | spread s | rows read/s | CPU s | peak RSS MiB (max of runs) | "
        "1-min load before each run |"
    )
    lines = [head, "|" + "---|" * 11]
    for size, results in all_results.items():
        for tool, runs in results.items():
            runs = sorted(runs, key=lambda r: r["wall_s"])
            b = runs[0]
            spread = runs[-1]["wall_s"] - b["wall_s"]
            rss = max(r["peak_rss_mib"] for r in runs)
            loads = " / ".join(r["load_before"].split()[0] for r in sorted(runs, key=lambda r: r["run"]))
            lines.append(
                f"| {label(size)} | {tool} | {b['rows_read']:,} | {b['rows_out']:,} | "
                f"{b['rows_rejected']:,} | {b['wall_s']:.1f} | {spread:.1f} | "
                f"{b['rows_read'] / b['wall_s']:,.0f} | {b['cpu_s']:.1f} | {rss:,.0f} | {loads} |"
            )
    return "\n".join(lines)


def main() -> int:
    global KEEL_SHA
    if os.environ.get("REPORT_ONLY"):
        # The table of the last results.json, without running anything.
        saved = json.loads((BENCH / "results.json").read_text())
        results = {(int(k) if k.isdigit() else k): v for k, v in saved["results"].items()}
        for runs in (r for per in results.values() for r in per.values()):
            for i, r in enumerate(runs):
                r.setdefault("run", i + 1)
        print(table(results))
        return 0
    unknown = [t for t in TOOLS if t not in KNOWN_TOOLS]
    if unknown:
        raise SystemExit(f"TOOLS: unknown {' '.join(unknown)} (known: {' '.join(KNOWN_TOOLS)})")
    if LANDED is not None and not (LANDED / "manifest.csv").exists():
        raise SystemExit(f"LANDED={LANDED}: no manifest.csv there")
    needs_keel = "keel" in TOOLS or LANDED is None
    if needs_keel and not BUILT_KEEL.exists():
        raise SystemExit(
            f"no keel binary at {BUILT_KEEL}: build it with "
            "`CARGO_TARGET_DIR=$HOME/.cache/keel-target cargo build --workspace`"
        )
    if not Path("/usr/bin/time").exists():
        raise SystemExit("/usr/bin/time is missing: apt-get install time")
    if needs_keel:
        KEEL_SHA = snapshot_keel()
    info = machine()
    if needs_keel:
        log(f"keel {info['keel_binary']} (built {info['keel_binary_built']}), {info['cpu']}, {info['nproc']} cores")
    else:
        log(f"no keel (not in TOOLS), {info['cpu']}, {info['nproc']} cores")
    all_results, problems, prepared = {}, [], {}
    for size in [LANDED.name] if LANDED is not None else SIZES:
        if LANDED is not None:
            landed = LANDED
            log(f"{size}: the landed input at {landed} (not prepared here)")
        else:
            landed = prepare(size)
            prepared[size] = json.loads((landed / "prepare.json").read_text())
        results = {tool: [] for tool in TOOLS}
        for run in range(RUNS):
            for tool in TOOLS:
                log(f"{label(size)}, run {run + 1}/{RUNS}: {tool} (load {loadavg()})")
                r = run_keel(landed) if tool == "keel" else run_peer(tool, landed)
                r.pop("stdout", None)
                r["run"] = run + 1
                log(
                    f"  {r['wall_s']} s wall, {r['cpu_s']} s CPU, {r['peak_rss_mib']} MiB; "
                    f"{r['rows_read']} read, {r['rows_rejected']} rejected, {r['rows_out']} out"
                )
                results[tool].append(r)
        for runs in results.values():
            runs.sort(key=lambda r: r["wall_s"])
        problems += check(size, results)
        problems += compare_values(size, landed, TOOLS)
        all_results[size] = results
    BENCH.mkdir(parents=True, exist_ok=True)
    (BENCH / "results.json").write_text(
        json.dumps(
            {"machine": info, "years": YEARS, "runs": RUNS, "prepare_s": prepared, "results": all_results},
            indent=2,
        )
    )
    print(table(all_results))
    print()
    for size, results in all_results.items():
        for tool, runs in results.items():
            b = runs[0]
            extra = ""
            if tool == "keel":
                extra = (
                    f"; keel's own step record: {b['keel_step_s']} s, "
                    f"peak RSS {b['keel_step_peak_rss_mib']} MiB"
                )
            if tool == "spark":
                extra = (
                    f"; session (JVM) started after {b.get('session_s')} s; peak RSS of the "
                    f"JVM {b.get('jvm_peak_rss_mib')} MiB, of Python {b.get('python_peak_rss_mib')} MiB"
                )
            print(f"{label(size)} {tool}: rejected by rule {b['rejected_by_rule']}{extra}")
    print()
    if problems:
        print("DISAGREEMENTS:")
        for p in problems:
            print(f"  {p}")
        return 1
    print("rows read, rejected and out, and sum(consumption_kwh), agree across the tools")
    return 0


if __name__ == "__main__":
    sys.exit(main())
