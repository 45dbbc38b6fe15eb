#!/usr/bin/env python3
"""A small landed input for the peer jobs, made without keel: the example's source
declaration (examples/district-heating/sources/meters.toml), a lake of meter files in the
three firmware dialects and the manifest of landed objects in ingestion order, laid out as
bench/format/run.py's prepared projects are (`sources/meters.toml`, `manifest.csv`, `lake/`),
so that the peers can be checked against each other while no keel binary exists
(`LANDED=DIR TOOLS="polars duckdb spark" python3 bench/format/run.py`).

The files imitate the example's generator (crates/keel-example/src/dialects.rs and
meters.rs): `hm1` (UTF-8, `,`, ISO dates, kWh), `pl2` (Windows-1250, `;`, decimal comma,
`dd.mm.yyyy`, CRLF, Polish header), `mx3` (MWh with five decimals); with its faults
(negative and absurd energy, lines truncated 1-9 characters into the date, a letter in the
energy, the day after the month's last), lines written twice, and corrected re-sends of
whole months landed later under the same name. The fault rates are higher than the
generator's so that every rule is hit at a few devices. Identical re-sends are left out:
keel lands them once, so they never reach the manifest. It is not keel's generator: the
values are not the example's, only their shapes.

Usage: small_input.py OUT [--devices N] [--months M] [--seed S]
"""

from __future__ import annotations

import argparse
import calendar
import csv
import datetime as dt
import hashlib
import random
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "examples" / "district-heating" / "sources" / "meters.toml"

HEADERS = {
    "hm1": "device_id,date,energy_kwh,supply_temp_c,return_temp_c",
    "pl2": "Licznik;Data;Zużycie [kWh];Temp. zasilania [°C];Temp. powrotu [°C]",
    "mx3": "meter,day,heat_mwh,t_supply,t_return",
}
PATTERN = ["hm1", "pl2", "mx3", "hm1", "pl2", "hm1", "mx3", "hm1", "pl2", "hm1"]


def fixed(value: int, decimals: int, sep: str) -> str:
    scale = 10**decimals
    sign = "-" if value < 0 else ""
    a = abs(value)
    return f"{sign}{a // scale}{sep}{a % scale:0{decimals}d}"


def render(fw: str, device: str, rows: list[dict]) -> bytes:
    delim, dec, nl = (";", ",", "\r\n") if fw == "pl2" else (",", ".", "\n")
    lines = [HEADERS[fw]]
    for r in rows:
        d, fault = r["date"], r["fault"]
        day = calendar.monthrange(d.year, d.month)[1] + 1 if fault == "bad_date" else d.day
        date = f"{day:02}.{d.month:02}.{d.year:04}" if fw == "pl2" else f"{d.year:04}-{d.month:02}-{day:02}"
        line = device + delim
        if fault == "truncated":
            lines.append(line + date[: min(r["keep"], len(date) - 1)])
            continue
        cents = {"negative": -abs(r["cents"]), "absurd": 99_999_999}.get(fault, r["cents"])
        energy = fixed(cents, 5, ".") if fw == "mx3" else fixed(cents, 2, dec)
        if fault == "bad_number":
            energy = energy[:1] + "x" + energy[1:]
        line += delim.join([date, energy, fixed(r["supply"], 1, dec), fixed(r["ret"], 1, dec)])
        lines.append(line)
        if r["dup"]:
            lines.append(line)
    text = nl.join(lines) + nl
    return text.encode("windows-1250" if fw == "pl2" else "utf-8")


def month_rows(rng: random.Random, year: int, month: int, fault_rate: float) -> list[dict]:
    rows = []
    for day in range(1, calendar.monthrange(year, month)[1] + 1):
        if rng.random() < 0.01:  # an outage
            continue
        roll = rng.random()
        fault = "none"
        if roll < fault_rate:
            fault = rng.choice(["negative", "absurd", "truncated", "bad_number", "bad_date"])
        rows.append(
            dict(
                date=dt.date(year, month, day),
                cents=rng.randint(1, 400_000),
                supply=rng.randint(550, 900),
                ret=rng.randint(300, 500),
                fault=fault,
                keep=rng.randint(1, 9),
                dup=fault == "none" and rng.random() < 0.02,
            )
        )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--devices", type=int, default=20)
    p.add_argument("--months", type=int, default=6)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--fault-rate", type=float, default=0.02)
    p.add_argument("--resend-rate", type=float, default=0.1)
    a = p.parse_args()
    rng = random.Random(a.seed)
    out = Path(a.out).resolve()
    if out.exists():
        shutil.rmtree(out)
    (out / "sources").mkdir(parents=True)
    shutil.copy2(SOURCE, out / "sources" / "meters.toml")
    deliveries = []  # (delivered date, original path, bytes)
    for i in range(a.devices):
        fw = PATTERN[i % len(PATTERN)]
        device = f"{fw.upper()}-{i + 1:05d}"
        for m in range(a.months):
            year, month = 2016 + m // 12, 1 + m % 12
            rows = month_rows(rng, year, month, a.fault_rate)
            first_next = dt.date(year + month // 12, month % 12 + 1, 1)
            delivered = first_next + dt.timedelta(days=rng.randint(0, 4))
            name = f"{device}_{year:04}{month:02}.csv"
            deliveries.append((delivered, i, f"{fw}/{delivered}/{name}", render(fw, device, rows)))
            if rng.random() < a.resend_rate:
                clean = [k for k, r in enumerate(rows) if r["fault"] == "none" and not r["dup"]]
                fixed_rows = [dict(r) for r in rows]
                for k in rng.sample(clean, min(len(clean), rng.randint(1, 3))):
                    old = fixed_rows[k]["cents"]
                    new = round(old * rng.uniform(0.75, 1.25))
                    fixed_rows[k]["cents"] = max(1, new + (new == old))
                when = delivered + dt.timedelta(days=rng.randint(20, 40))
                deliveries.append((when, i, f"{fw}/{when}/{name}", render(fw, device, fixed_rows)))
    # Ingestion order: by delivery day, then device (a collector run per day).
    deliveries.sort(key=lambda x: (x[0], x[1], x[2]))
    rows_out = []
    landed_at = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    for seq, (_, _, original, data) in enumerate(deliveries, start=1):
        at = landed_at + dt.timedelta(microseconds=seq)
        sha = hashlib.sha256(data).hexdigest()
        rel = (
            f"landing/persistent/meters/{at:%Y/%m/%d}/"
            f"{at:%Y%m%dT%H%M%S%fZ}-{sha[:8]}-{original.rsplit('/', 1)[1]}"
        )
        path = out / "lake" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        rows_out.append((seq, rel, original))
    with open(out / "manifest.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["seq", "persistent_path", "original_path"])
        w.writerows(rows_out)
    print(f"{out}: {len(rows_out)} objects")


if __name__ == "__main__":
    main()
