#!/usr/bin/env python3
"""Issue 4's single-big-object measurement: one delimited-text file of SIZE bytes from the
example's generator (`keel example readings-csv`: the hm1 devices' month files under one
header, re-sends and faulty lines included), landed as one object and formatted by
`keel format` under `/usr/bin/time -v`.

It reports wall time, CPU time and peak RSS of the format step (collect and land are timed
apart), and checks the ledger: rows read = written + quarantined + duplicates, and the
table's row count equals rows written minus rows replaced.

PEERS (empty by default: keel only), e.g. "duckdb polars spark": after keel, each of those
peer jobs (bench/peers/format_<peer>.py, as bench/format/run.py runs them) formats the same
landed object under `/usr/bin/time -v`, one after the other; their rows read, rejected and
out must equal keel's ledger (rows read, quarantined) and table row count. A peer that fails
(e.g. runs out of memory: Polars' in-memory engine holds the whole parsed table, so
POLARS_ENGINE=streaming may be needed for a large SIZE) or disagrees is reported in the
results and the exit code, and the other peers still run. Their sum(consumption_kwh) is
reported beside keel's but not required to match: the generated file holds corrected
re-sends of months in the same object, and DuckDB's job orders rows by object only, so
within one object it may keep either line of a key.

Environment: BIG_SIZES ("5G" by default; e.g. "5G 20G"), BENCH_DIR (/tmp/keel-bench-big),
KEEL (the binary; default `$CARGO_TARGET_DIR/debug/keel` or
`~/.cache/keel-target/debug/keel`), BUILDINGS (40000) and YEARS (100): how much the
generator simulates to draw from (the file stops at SIZE), PEERS (""). Results go to
BENCH_DIR/results.json.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (the formatting benchmark's helpers: keel, timed, log)

BENCH = Path(os.environ.get("BENCH_DIR", "/tmp/keel-bench-big"))
SIZES = os.environ.get("BIG_SIZES", "5G").split()
BUILDINGS = os.environ.get("BUILDINGS", "40000")
YEARS = os.environ.get("YEARS", "100")
PEERS = os.environ.get("PEERS", "").split()


def run_peers(root: Path, keel_counts: dict) -> list[dict]:
    """Each peer of PEERS on the landed project at `root` (manifest.csv written), checked
    against keel's counts (rows_read, rows_rejected, rows_out, kwh); a failure is recorded,
    not raised. Each peer's output is removed after it is measured."""
    results = []
    for tool in PEERS:
        run.log(f"{root.name}: {tool} (load {run.loadavg()})")
        r = {"tool": tool}
        try:
            m = run.run_peer(tool, root)
        except (SystemExit, Exception) as e:  # noqa: BLE001 (a peer's failure is a result)
            r["error"] = f"{type(e).__name__}: {e}"
            run.log(f"{root.name}: {tool} failed: {r['error']}")
            results.append(r)
            continue
        finally:
            shutil.rmtree(root / "out" / tool, ignore_errors=True)
        r.update({k: v for k, v in m.items() if k != "stdout"})
        r["disagrees"] = [
            f"{key} {r.get(key)} (keel {keel_counts[key]})"
            for key in ("rows_read", "rows_rejected", "rows_out")
            if r.get(key) != keel_counts[key]
        ]
        r["kwh_agrees"] = abs(r["kwh"] - keel_counts["kwh"]) <= 1e-6 * max(1.0, abs(keel_counts["kwh"]))
        run.log(
            f"{root.name}: {tool} {r['wall_s']} s wall, {r['cpu_s']} s CPU, {r['peak_rss_mib']} MiB; "
            f"{r['rows_read']} read, {r['rows_rejected']} rejected, {r['rows_out']} out"
            + (f"; DISAGREES: {', '.join(r['disagrees'])}" if r["disagrees"] else "; counts agree with keel")
            + ("" if r["kwh_agrees"] else f"; sum(consumption_kwh) {r['kwh']} (keel {keel_counts['kwh']})")
        )
        results.append(r)
    return results


def measure(size: str) -> dict:
    root = BENCH / f"big{size}"
    if root.exists():
        shutil.rmtree(root)
    BENCH.mkdir(parents=True, exist_ok=True)
    run.sh(run.KEEL, "init", root, "--example", "district-heating")
    target = root / "data" / "inbox" / "meters" / "hm1" / "2030-01-01" / "readings.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    # The example's other file sources must find their folders (they stay empty).
    (root / "data" / "inbox" / "registry").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    run.keel(
        root, "example", "readings-csv", "--output", target, "--bytes", size,
        "--buildings", BUILDINGS, "--years", YEARS,
    )
    generate_s = round(time.perf_counter() - started, 1)
    run.log(f"{size}: generated {target.stat().st_size} bytes in {generate_s} s")
    time.sleep(3)  # the files collector takes a file once it is unchanged for 2 s
    collect = run.timed([run.KEEL, "--project", root, "collect", "--source", "meters"])
    land = run.timed([run.KEEL, "--project", root, "land", "--source", "meters"])
    run.log(f"{size}: collect {collect['wall_s']} s, land {land['wall_s']} s")
    fmt = run.timed([run.KEEL, "--project", root, "format"])
    run.log(f"{size}: format {fmt['wall_s']} s, peak RSS {fmt['peak_rss_mib']} MiB")
    ledger = run.keel_sql(
        root,
        "SELECT sum(rows_read) AS read, sum(rows_written) AS written, "
        "sum(rows_quarantined) AS quarantined, sum(rows_duplicate) AS duplicate "
        "FROM keel_catalog.ledger",
    )[0]
    out = run.keel_sql(root, "SELECT count(*) AS n, sum(consumption_kwh) AS kwh FROM formatted.readings")[0]
    table = int(out["n"])
    quarantine = run.keel_sql(root, "SELECT count(*) AS n FROM quarantine.readings")[0]["n"]
    read, written = int(ledger["read"]), int(ledger["written"])
    quarantined, duplicate = int(ledger["quarantined"]), int(ledger["duplicate"])
    balanced = read == written + quarantined + duplicate and quarantine == quarantined
    result = {
        "size": size,
        "bytes": target.stat().st_size,
        "generate_s": generate_s,
        "collect": {k: collect[k] for k in ("wall_s", "cpu_s", "peak_rss_mib")},
        "land": {k: land[k] for k in ("wall_s", "cpu_s", "peak_rss_mib")},
        "format": {k: fmt[k] for k in ("wall_s", "cpu_s", "peak_rss_mib", "load_before")},
        "rows_read": read,
        "rows_written": written,
        "rows_quarantined": quarantined,
        "rows_duplicate": duplicate,
        "table_rows": table,
        "balanced": balanced,
    }
    if PEERS:
        run.write_manifest(root)
        keel_counts = dict(rows_read=read, rows_rejected=quarantined, rows_out=table, kwh=float(out["kwh"]))
        result["peers"] = run_peers(root, keel_counts)
    # The lake is large: keep the numbers, not the data.
    shutil.rmtree(root)
    return result


def main() -> int:
    unknown = [p for p in PEERS if p not in run.KNOWN_TOOLS or p == "keel"]
    if unknown:
        raise SystemExit(f"PEERS: unknown {' '.join(unknown)} (known: duckdb polars spark)")
    run.KEEL_SHA = run.snapshot_keel()
    results = [measure(size) for size in SIZES]
    (BENCH / "results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    peers_ok = all(
        "error" not in p and not p["disagrees"] for r in results for p in r.get("peers", [])
    )
    return 0 if all(r["balanced"] for r in results) and peers_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
