"""The formatting job of keel's example in Polars: the landed meter files of the three
dialects into one canonical table, with the rules of sources/meters.toml (see common.py).

- each dialect's files scanned as text columns (one lazy scan per dialect, files in
  ingestion order, a row index and the file path kept), bound to the canonical columns by
  their header names;
- dates by the dialect's format, numbers with its decimal separator, units to kWh;
- the first broken rule per row, in canonical column order as keel checks them:
  `required`, `parse_date`, `parse_number`, `not_finite`, `bounds`; rejected rows go to
  quarantine.parquet with their object, line and rule;
- dedup by (device_id, reading_date), the last row in ingestion order (object, then line)
  wins;
- readings.parquet written by Polars.

Differences from keel, also in BENCHMARKS.md: Polars' CSV reader fills the missing fields of
a short row with null exactly as it reads an empty field, so a truncated line is rejected by
the first rule its null or cut value breaks (`parse_date` for this data's truncated lines,
whose date is cut) instead of keel's `field_count`; Windows-1250 is read as lossy UTF-8
(Polars reads UTF-8 only; the data rows are ASCII, only the header differs, and columns are
bound by position found from the header decoded in Python); no ledger, catalog, checksum
check, Delta log or MERGE.
"""

from __future__ import annotations

import os
import time

import polars as pl

import common


def dialect_frame(source: common.Source, d: common.Dialect) -> pl.LazyFrame:
    """One dialect's files: raw text, typed values and the first broken rule."""
    lf = pl.scan_csv(
        d.files,
        separator=d.delimiter,
        has_header=True,
        infer_schema=False,
        quote_char='"',
        encoding="utf8" if d.encoding == "utf-8" else "utf8-lossy",
        include_file_paths="_object",
        row_index_name="_idx",
    )
    header = [n for n in lf.collect_schema().names() if n not in ("_idx", "_object")]
    by_name = {b.canonical: b for b in d.bindings}
    raw_cols = [header[by_name[c.name].position] for c in source.columns]
    typed, rule = [], None

    def first(r, cond, label):
        return pl.when(cond).then(pl.lit(label)) if r is None else r.when(cond).then(pl.lit(label))

    for c, raw in zip(source.columns, raw_cols):
        t = pl.col(raw).str.strip_chars()
        t = pl.when(t == "").then(None).otherwise(t)
        factor = by_name[c.name].factor
        if c.type == "string":
            v = t
        elif c.type == "date":
            v = t.str.to_date(d.date_format, strict=False)
        else:
            num = t if d.decimal == "." else t.str.replace(d.decimal, ".", literal=True)
            v = num.cast(pl.Float64, strict=False)
            if factor != 1.0:
                v = v * factor
        typed.append(v.alias(c.name))
        if c.required:
            rule = first(rule, t.is_null(), f"required:{c.name}")
        if c.type == "date":
            rule = first(rule, t.is_not_null() & v.is_null(), f"parse_date:{c.name}")
        elif c.type == "float64":
            rule = first(rule, t.is_not_null() & v.is_null(), f"parse_number:{c.name}")
            rule = first(rule, v.is_not_null() & ~v.is_finite(), f"not_finite:{c.name}")
            if c.min is not None:
                rule = first(rule, v < c.min, f"bounds:{c.name}")
            if c.max is not None:
                rule = first(rule, v > c.max, f"bounds:{c.name}")
    seqs = pl.LazyFrame(
        {"_object": d.files, "_seq": d.seqs}, schema={"_object": pl.String, "_seq": pl.Int64}
    )
    return (
        lf.with_columns(
            # Line in its object: the header is line 1.
            _line=pl.col("_idx") - pl.col("_idx").min().over("_object") + 2,
        )
        .join(seqs, on="_object", how="left")
        .select(
            "_object",
            "_line",
            # Ingestion order: object, then line.
            _ord=pl.col("_seq") * (1 << 32) + pl.col("_line"),
            *typed,
            rule=rule.otherwise(None),
            raw=pl.concat_str([pl.col(r).fill_null("") for r in header], separator=d.delimiter),
            dialect=pl.lit(d.name),
        )
    )


def main() -> None:
    started = time.perf_counter()
    a = common.args(__doc__.splitlines()[0])
    source = common.prepare(a)
    frames = [dialect_frame(source, d) for d in source.dialects if d.files]
    # Polars 2.1's default engine (`auto`, streaming here) took 2.5 times as long and half
    # as much memory again on this job; the in-memory engine is the faster choice.
    engine = os.environ.get("POLARS_ENGINE", "in-memory")
    parsed = pl.concat(frames, how="vertical").collect(engine=engine)
    names = [c.name for c in source.columns]
    valid = parsed.filter(pl.col("rule").is_null())
    readings = valid.filter(
        pl.col("_ord") == pl.col("_ord").max().over(source.keys)
    ).select(*names, "_object", "_line")
    quarantine = parsed.filter(pl.col("rule").is_not_null()).select(
        "_object",
        "_line",
        column=pl.col("rule").str.split(":").list.get(1),
        rule=pl.col("rule").str.split(":").list.get(0),
        raw="raw",
        dialect="dialect",
    )
    readings.write_parquet(os.path.join(a.out, "readings.parquet"))
    quarantine.write_parquet(os.path.join(a.out, "quarantine.parquet"))
    rules = quarantine.group_by("rule").len().sort("rule")
    common.report(
        "polars",
        started,
        version=pl.__version__,
        objects=sum(len(d.files) for d in source.dialects),
        rows_read=parsed.height,
        rows_rejected=quarantine.height,
        rejected_by_rule=dict(zip(rules["rule"].to_list(), rules["len"].to_list())),
        rows_deduplicated=valid.height - readings.height,
        rows_out=readings.height,
    )


if __name__ == "__main__":
    main()
