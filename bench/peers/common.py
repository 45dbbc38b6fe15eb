"""What the peer jobs share: the source declaration of keel's example (sources/meters.toml),
read with tomllib so that DuckDB and Polars apply the same dialects, units, required
columns, bounds and key as keel, and the list of landed objects in ingestion order.

Nothing here touches data: the jobs do the work in their own engine.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import json
import os
import sys
import time
import tomllib
from dataclasses import dataclass, field

# keel's unit table (crates/keel-formatted/src/units.rs), energy part: size in kWh.
ENERGY_KWH = {"Wh": 1e-3, "kWh": 1.0, "MWh": 1e3, "GWh": 1e6}


@dataclass
class Column:
    name: str
    type: str
    required: bool
    min: float | None
    max: float | None
    unit: str | None


@dataclass
class Binding:
    canonical: str
    field: str
    factor: float
    position: int = -1  # column index in the dialect's header, set by bind()


@dataclass
class Dialect:
    name: str
    match: str
    encoding: str
    delimiter: str
    decimal: str
    date_format: str
    bindings: list[Binding]
    files: list[str] = field(default_factory=list)  # absolute paths, in ingestion order
    seqs: list[int] = field(default_factory=list)


@dataclass
class Source:
    table: str
    columns: list[Column]
    keys: list[str]
    dialects: list[Dialect]


def load_source(path: str) -> Source:
    with open(path, "rb") as f:
        spec = tomllib.load(f)
    columns = [
        Column(
            c["name"],
            c["type"],
            c.get("required", False),
            c.get("min"),
            c.get("max"),
            c.get("unit"),
        )
        for c in spec["columns"]
    ]
    units = {c.name: c.unit for c in columns}
    dialects = []
    for d in spec["format"]["dialects"]:
        bindings = []
        for canonical, b in d["columns"].items():
            if isinstance(b, str):
                bindings.append(Binding(canonical, b, 1.0))
            else:
                factor = 1.0
                if b.get("unit") and units.get(canonical):
                    factor = ENERGY_KWH[b["unit"]] / ENERGY_KWH[units[canonical]]
                bindings.append(Binding(canonical, b["field"], factor))
        dialects.append(
            Dialect(
                d["name"],
                d.get("match", "**"),
                d.get("encoding", "utf-8"),
                d.get("delimiter", ","),
                d.get("decimal", "."),
                d.get("date_format", "%Y-%m-%d"),
                bindings,
            )
        )
    return Source(spec["table"], columns, spec["keys"]["primary"], dialects)


def assign_objects(source: Source, manifest: str, lake: str) -> None:
    """Each landed object (manifest: seq, persistent_path, original_path, in seq order) goes
    to the first dialect whose glob matches its original path, as in keel."""
    with open(manifest, newline="") as f:
        for row in csv.DictReader(f):
            for d in source.dialects:
                if fnmatch.fnmatch(row["original_path"], d.match):
                    d.files.append(os.path.join(lake, row["persistent_path"]))
                    d.seqs.append(int(row["seq"]))
                    break
            else:
                sys.exit(f"no dialect matches {row['original_path']}")


def bind(source: Source) -> None:
    """Finds each binding's column in the dialect's header, decoded with the dialect's
    encoding (the files of one dialect share their header in this data set, so the first
    file's header stands for all; both engines are then told positions, because neither
    reads Windows-1250 headers)."""
    for d in source.dialects:
        if not d.files:
            continue
        with open(d.files[0], "rb") as f:
            header = f.readline().decode(d.encoding).rstrip("\r\n").split(d.delimiter)
        for b in d.bindings:
            b.position = header.index(b.field)


def args(description: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--source", required=True, help="sources/meters.toml of the project")
    p.add_argument("--manifest", required=True, help="CSV: seq,persistent_path,original_path")
    p.add_argument("--lake", required=True, help="the project's lake directory")
    p.add_argument("--out", required=True, help="directory for readings.parquet, quarantine.parquet")
    return p.parse_args()


def prepare(a: argparse.Namespace) -> Source:
    source = load_source(a.source)
    assign_objects(source, a.manifest, a.lake)
    bind(source)
    os.makedirs(a.out, exist_ok=True)
    return source


def report(tool: str, started: float, **counts) -> None:
    """One JSON line on stdout for the driver."""
    counts["tool"] = tool
    counts["seconds_inside"] = round(time.perf_counter() - started, 3)
    print(json.dumps(counts))
