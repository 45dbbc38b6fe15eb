"""The formatting job of keel's example in DuckDB: the landed meter files of the three
dialects into one canonical table, with the rules of sources/meters.toml (see common.py).

- each dialect's files read as text columns (delimiter, `null_padding` for short rows),
  bound to the canonical columns by their header names;
- dates by the dialect's format, numbers with its decimal separator, units to kWh;
- the first broken rule per row, in canonical column order as keel checks them:
  `field_count` (a short row), `required`, `parse_date`, `parse_number`, `not_finite`,
  `bounds`; rejected rows go to quarantine.parquet with their object and rule;
- dedup by (device_id, reading_date), the row of the latest object (ingestion order) wins;
- readings.parquet written with DuckDB's COPY.

Differences from keel, also in BENCHMARKS.md: no line numbers (DuckDB's CSV reader gives
none per file; within one object the duplicates of this data are identical lines, so which
one is kept does not change a value), Windows-1250 read as Latin-1 (DuckDB has no
Windows-1250 without downloading an extension; the data rows are ASCII, only the header
differs, and columns are bound by position found from the header decoded in Python), no
ledger, catalog, checksum check, Delta log or MERGE.
"""

from __future__ import annotations

import os
import time

import duckdb

import common

ENCODINGS = {"utf-8": "utf-8", "windows-1250": "latin-1"}
# The reader's buffer per file. The default (32 MiB) costs about a millisecond per file on
# these 1-2 KB files, which doubles the job's time; 1 MiB still holds any line.
BUFFER_SIZE = int(os.environ.get("DUCKDB_CSV_BUFFER", 1 << 20))


def sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def dialect_select(source: common.Source, d: common.Dialect, width: int) -> str:
    """SELECT of one dialect's files: raw text, typed values and the first broken rule."""
    by_name = {b.canonical: b for b in d.bindings}
    raw = {c.name: f"c{by_name[c.name].position}" for c in source.columns}
    typed, rules = [], []
    # A short row: the reader padded its missing fields with NULL (empty fields are '').
    rules.append(
        "WHEN " + " OR ".join(f"c{i} IS NULL" for i in range(width)) + " THEN 'field_count'"
    )
    for c in source.columns:
        t = f"NULLIF(trim({raw[c.name]}), '')"
        factor = by_name[c.name].factor
        if c.type == "string":
            value = t
        elif c.type == "date":
            value = f"CAST(TRY_STRPTIME({t}, {sql_str(d.date_format)}) AS DATE)"
        else:
            num = t if d.decimal == "." else f"replace({t}, {sql_str(d.decimal)}, '.')"
            value = f"TRY_CAST({num} AS DOUBLE)"
            if factor != 1.0:
                value = f"({value} * {factor!r})"
        typed.append(f"{value} AS {c.name}")
        if c.required:
            rules.append(f"WHEN {t} IS NULL THEN 'required:{c.name}'")
        if c.type == "date":
            rules.append(f"WHEN {t} IS NOT NULL AND {value} IS NULL THEN 'parse_date:{c.name}'")
        elif c.type == "float64":
            rules.append(f"WHEN {t} IS NOT NULL AND {value} IS NULL THEN 'parse_number:{c.name}'")
            rules.append(f"WHEN NOT isfinite({value}) THEN 'not_finite:{c.name}'")
            bounds = []
            if c.min is not None:
                bounds.append(f"{value} < {c.min!r}")
            if c.max is not None:
                bounds.append(f"{value} > {c.max!r}")
            if bounds:
                rules.append(f"WHEN {' OR '.join(bounds)} THEN 'bounds:{c.name}'")
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(width)) + "}"
    raw_text = f" || {sql_str(d.delimiter)} || ".join(f"coalesce(c{i}, '')" for i in range(width))
    return f"""
        SELECT filename AS _object, {', '.join(typed)},
               CASE {' '.join(rules)} ELSE NULL END AS rule,
               {raw_text} AS raw, {sql_str(d.name)} AS dialect
        FROM read_csv(${d.name}, auto_detect = false, header = true,
                      delim = {sql_str(d.delimiter)}, quote = '"', columns = {columns},
                      null_padding = true, nullstr = chr(1), filename = true,
                      buffer_size = {BUFFER_SIZE},
                      encoding = {sql_str(ENCODINGS[d.encoding])})"""


def main() -> None:
    started = time.perf_counter()
    a = common.args(__doc__.splitlines()[0])
    source = common.prepare(a)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(
        "CREATE TABLE objects AS SELECT * FROM read_csv(?, header = true, "
        "columns = {'seq': 'BIGINT', 'persistent_path': 'VARCHAR', 'original_path': 'VARCHAR'})",
        [a.manifest],
    )
    selects, params = [], {}
    for d in source.dialects:
        if not d.files:
            continue
        with open(d.files[0], "rb") as f:
            width = f.readline().decode(d.encoding).count(d.delimiter) + 1
        selects.append(dialect_select(source, d, width))
        params[d.name] = d.files
    con.execute(
        "CREATE TABLE parsed AS " + " UNION ALL ".join(selects),
        params,
    )
    lake = a.lake.rstrip("/") + "/"
    names = ", ".join(c.name for c in source.columns)
    keys = ", ".join(source.keys)
    readings = os.path.join(a.out, "readings.parquet")
    quarantine = os.path.join(a.out, "quarantine.parquet")
    con.execute(
        f"""COPY (
              SELECT {names}, p._object
              FROM parsed p JOIN objects o ON p._object = {sql_str(lake)} || o.persistent_path
              WHERE rule IS NULL
              QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY o.seq DESC) = 1
            ) TO {sql_str(readings)} (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (SELECT _object, split_part(rule, ':', 2) AS "column",
                         split_part(rule, ':', 1) AS rule, raw, dialect
                  FROM parsed WHERE rule IS NOT NULL)
            TO {sql_str(quarantine)} (FORMAT parquet)"""
    )
    rows_read = con.execute("SELECT count(*) FROM parsed").fetchone()[0]
    valid = con.execute("SELECT count(*) FROM parsed WHERE rule IS NULL").fetchone()[0]
    rules = dict(
        con.execute(
            "SELECT split_part(rule, ':', 1), count(*) FROM parsed "
            "WHERE rule IS NOT NULL GROUP BY 1 ORDER BY 1"
        ).fetchall()
    )
    rows_out = con.execute(f"SELECT count(*) FROM read_parquet({sql_str(readings)})").fetchone()[0]
    common.report(
        "duckdb",
        started,
        version=duckdb.__version__,
        objects=sum(len(d.files) for d in source.dialects),
        rows_read=rows_read,
        rows_rejected=rows_read - valid,
        rejected_by_rule=rules,
        rows_deduplicated=valid - rows_out,
        rows_out=rows_out,
    )


if __name__ == "__main__":
    main()
