"""The formatting job of keel's example in Apache Spark (PySpark, DataFrame API, local mode):
the landed meter files of the three dialects into one canonical table, with the rules of
sources/meters.toml (see common.py).

- each dialect's files read by Spark's CSV reader as text columns (delimiter, the
  dialect's encoding, a `_corrupt` column for records with another number of fields),
  bound to the canonical columns by the positions of their header names;
- dates by the dialect's format, numbers with its decimal separator, units to kWh;
- the first broken rule per row, in canonical column order as keel checks them:
  `field_count` (a record with fewer or more fields than the header, which Spark's
  PERMISSIVE mode marks as corrupt), `required`, `parse_date`, `parse_number`,
  `not_finite`, `bounds`; rejected rows go to quarantine.parquet with their object and rule;
- dedup by (device_id, reading_date), the last row in ingestion order wins: the latest
  object (its `seq` in keel's catalog), then within an object the latest split (the file
  offset where Spark's read of it starts) and the latest row of that split (the scan's
  `monotonically_increasing_id`, which grows with the line within one task's split);
- readings.parquet and quarantine.parquet written by Spark, each as one file (one task
  writes it; Spark writes a folder, the part file is moved out of it).

Spark runs in local mode (`SPARK_MASTER`, default `local[2]`: this machine's two cores) with
the driver's heap from `SPARK_DRIVER_MEMORY` (default 8g), the UI off, log level WARN,
everything bound to 127.0.0.1, its scratch space (`spark.local.dir`, for shuffles and
spills) in OUT/_spark_tmp, removed at the end. The parsed rows are persisted
(MEMORY_AND_DISK, Spark's default for a cached DataFrame) so that counting, writing the
table and writing the quarantine read the CSV once, as DuckDB's job holds its parsed table.
Two settings differ from Spark's defaults for these many small files, as the other peers'
scripts tune theirs: `spark.sql.files.openCostInBytes` is 8 KiB (`SPARK_OPEN_COST`; Spark's
default 4 MiB counts every 1-2 KB file as 4 MiB when files are packed into tasks, which makes
one task per ~32 files: on a 12,150-object input, 120 s against 78 s with 8 KiB, both with
the other cargo build's load of about 5 on 2 cores), and the files are listed by the driver
(`spark.sql.sources.parallelPartitionDiscovery.threshold`, `SPARK_LISTING_THRESHOLD`: past 32
paths Spark lists them in a job of one task per path, 54 s of that input's 174 s).

Differences from keel, also in BENCHMARKS.md: no line numbers (Spark's CSV reader gives none
per file: the quarantine has the object, not the line; the order within an object comes from
the split offset and the scan's row id, see above); Windows-1250 is decoded by Java's charset
(as keel does), but columns are still bound by position found from the first file's header
decoded in Python, as in the other peers, not per object; numbers are parsed by Spark's
`try_cast` to double (Java's `Double.parseDouble` after trimming: it also takes forms Rust's
parser does not, such as `1.5d` or hex floats; this data has none) and dates by
`try_to_date` with the strftime format translated to Spark's pattern letters; no ledger,
catalog, checksum check, Delta log or MERGE. The peak RSS that /usr/bin/time reports for
this job is the largest single process's (the JVM's, which the script waits for so that its
CPU time and peak RSS are counted); the Python driver's own peak is reported beside it, and
`session_s` is the time to the started session (the JVM's start, within the wall time).
"""

from __future__ import annotations

import glob
import os
import resource
import shutil
import subprocess
import sys
import time

import common

STRFTIME_TO_SPARK = {"%Y": "yyyy", "%m": "MM", "%d": "dd", "%H": "HH", "%M": "mm", "%S": "ss", "%y": "yy"}


def spark_pattern(strftime: str) -> str:
    """A strftime date format in Spark's datetime pattern letters (literal letters quoted)."""
    out, i = [], 0
    while i < len(strftime):
        if strftime[i] == "%":
            directive = strftime[i : i + 2]
            if directive not in STRFTIME_TO_SPARK:
                raise SystemExit(f"date format {strftime!r}: {directive} has no Spark pattern here")
            out.append(STRFTIME_TO_SPARK[directive])
            i += 2
        else:
            c = strftime[i]
            out.append(f"'{c}'" if c.isalpha() else ("''" if c == "'" else c))
            i += 1
    return "".join(out)


def session(scratch: str):
    # Spark picks the address of the first non-loopback interface unless told otherwise.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    b = (
        SparkSession.builder.appName("keel-format-peer")
        .master(os.environ.get("SPARK_MASTER", "local[2]"))
        .config("spark.driver.memory", os.environ.get("SPARK_DRIVER_MEMORY", "8g"))
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.local.dir", scratch)
        # Unparseable dates are null (not an upgrade error about Spark 2's lenient parser).
        .config("spark.sql.legacy.timeParserPolicy", "CORRECTED")
        # Every Java charset (Spark 4 allows a short list unless told), so Windows-1250 too.
        .config("spark.sql.legacy.javaCharsets", "true")
        # Every field is tokenised, so a short or long record is always seen as one.
        .config("spark.sql.csv.parser.columnPruning.enabled", "false")
        # The files are listed by the driver: past 32 paths Spark lists them in a Spark job
        # of one task per path (up to 10,000), which took 54 s for the 12,150 paths of a
        # 200-device input before any row was read.
        .config(
            "spark.sql.sources.parallelPartitionDiscovery.threshold",
            os.environ.get("SPARK_LISTING_THRESHOLD", str(1 << 30)),
        )
        # A small file costs its size, not 4 MiB, when files are packed into tasks.
        .config("spark.sql.files.openCostInBytes", os.environ.get("SPARK_OPEN_COST", "8192"))
    )
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    # The schema names the columns c0, c1, ... (bound by position, see dialect_frame), so
    # the CSV reader would warn once per file that the header's names differ from them.
    jvm = spark.sparkContext._jvm
    jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(
        "org.apache.spark.sql.catalyst.csv.CSVHeaderChecker", jvm.org.apache.logging.log4j.Level.ERROR
    )
    return spark


def dialect_frame(spark, source: common.Source, d: common.Dialect):
    """One dialect's files: typed values, the first broken rule, raw text of rejected rows."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    with open(d.files[0], "rb") as f:
        width = f.readline().decode(d.encoding).count(d.delimiter) + 1
    schema = StructType(
        [StructField(f"c{i}", StringType()) for i in range(width)]
        + [StructField("_corrupt", StringType())]
    )
    df = (
        spark.read.schema(schema)
        .option("header", True)
        .option("enforceSchema", True)
        .option("sep", d.delimiter)
        .option("quote", '"')
        .option("escape", '"')
        .option("encoding", d.encoding)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", "_corrupt")
        .csv(d.files)
        # Right at the scan, before any exchange: object, split and row order of the read.
        .select(
            "*",
            F.col("_metadata.file_path").alias("_path"),
            F.col("_metadata.file_block_start").alias("_block"),
            F.monotonically_increasing_id().alias("_rid"),
        )
    )
    by_name = {b.canonical: b for b in d.bindings}
    pattern = spark_pattern(d.date_format)
    typed, rule = [], F.when(F.col("_corrupt").isNotNull(), F.lit("field_count"))
    for c in source.columns:
        b = by_name[c.name]
        raw = F.trim(F.col(f"c{b.position}"))
        t = F.when(raw != "", raw)  # empty (or missing) is null
        if c.type == "string":
            v = t
        elif c.type == "date":
            v = F.try_to_date(t, pattern)
        else:
            num = t if d.decimal == "." else F.replace(t, F.lit(d.decimal), F.lit("."))
            v = num.try_cast("double")
            if b.factor != 1.0:
                v = v * F.lit(b.factor)
        typed.append(v.alias(c.name))
        if c.required:
            rule = rule.when(t.isNull(), F.lit(f"required:{c.name}"))
        if c.type == "date":
            rule = rule.when(t.isNotNull() & v.isNull(), F.lit(f"parse_date:{c.name}"))
        elif c.type == "float64":
            rule = rule.when(t.isNotNull() & v.isNull(), F.lit(f"parse_number:{c.name}"))
            rule = rule.when(
                F.isnan(v) | (F.abs(v) == F.lit(float("inf"))), F.lit(f"not_finite:{c.name}")
            )
            if c.min is not None:
                rule = rule.when(v < F.lit(float(c.min)), F.lit(f"bounds:{c.name}"))
            if c.max is not None:
                rule = rule.when(v > F.lit(float(c.max)), F.lit(f"bounds:{c.name}"))
    raw_text = F.coalesce(
        F.col("_corrupt"),
        F.concat_ws(d.delimiter, *[F.coalesce(F.col(f"c{i}"), F.lit("")) for i in range(width)]),
    )
    ruled = df.select(
        "_path", "_block", "_rid", *typed, rule.otherwise(F.lit(None)).alias("rule"), F.lit(d.name).alias("dialect"), raw_text.alias("_raw")
    )
    return ruled.select(
        "*", F.when(F.col("rule").isNotNull(), F.col("_raw")).alias("raw")
    ).drop("_raw")


def objects_frame(spark, source: common.Source):
    """(path as Spark names it, seq, path) of every landed object."""
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    rows = []
    for d in source.dialects:
        for path, seq in zip(d.files, d.seqs):
            # Spark names the files by absolute path (a relative --lake is resolved against
            # the working directory, without resolving symbolic links, as abspath does).
            rows.append((os.path.abspath(path), seq))
    schema = StructType([StructField("_object", StringType()), StructField("_seq", LongType())])
    objects = spark.createDataFrame(rows, schema)
    return objects


def single_file(folder: str, target: str) -> None:
    """Spark's output folder of one part file -> one file at `target`."""
    parts = sorted(glob.glob(os.path.join(folder, "part-*.parquet")))
    if len(parts) != 1:
        raise SystemExit(f"{folder}: expected one part file, found {len(parts)}")
    if os.path.exists(target):
        os.remove(target)
    shutil.move(parts[0], target)
    shutil.rmtree(folder)


def job(spark, source: common.Source, out: str) -> dict:
    """The job itself; returns the counts for the report."""
    from pyspark import StorageLevel
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    frames = [dialect_frame(spark, source, d) for d in source.dialects if d.files]
    union = frames[0]
    for f in frames[1:]:
        union = union.unionByName(f)
    # Spark names a local file `file:///abs/path`, percent-encoded as a URI (a space is
    # %20, a `+` stays `+`): decoded back to the path keel's manifest gives (url_decode reads
    # `+` as a space, so a literal `+` goes in as %2B), then joined to its seq (a broadcast
    # join: one row per object).
    path = F.replace(F.regexp_replace("_path", "^file:(//)?", ""), F.lit("+"), F.lit("%2B"))
    parsed = (
        union.withColumn("_object", F.url_decode(path))
        .drop("_path")
        .join(F.broadcast(objects_frame(spark, source)), on="_object", how="left")
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    # One pass over the CSV: counts by rule (null: valid), which also fills the cache.
    counted = (
        parsed.groupBy(F.split_part("rule", F.lit(":"), F.lit(1)).alias("rule"))
        .agg(F.count(F.lit(1)).alias("n"), F.count_if(F.col("_seq").isNull()).alias("unmatched"))
        .collect()
    )
    if sum(r["unmatched"] for r in counted):
        example = parsed.filter(F.col("_seq").isNull()).select("_object").first()[0]
        raise SystemExit(f"rows whose object is not in the manifest, such as {example}")
    counts = {r["rule"]: r["n"] for r in counted}
    rows_read = sum(counts.values())
    valid = counts.get(None, 0)

    order = Window.partitionBy(*source.keys).orderBy(
        F.col("_seq").desc(), F.col("_block").desc(), F.col("_rid").desc()
    )
    readings_dir = os.path.join(out, "_readings")
    quarantine_dir = os.path.join(out, "_quarantine")
    (
        parsed.filter(F.col("rule").isNull())
        .withColumn("_n", F.row_number().over(order))
        .filter(F.col("_n") == 1)
        .select(*[c.name for c in source.columns], "_object")
        # One file: the window runs in Spark's shuffle partitions, one task writes.
        .repartition(1)
        .write.mode("overwrite")
        .parquet(readings_dir)
    )
    (
        parsed.filter(F.col("rule").isNotNull())
        .select(
            "_object",
            F.split_part("rule", F.lit(":"), F.lit(2)).alias("column"),
            F.split_part("rule", F.lit(":"), F.lit(1)).alias("rule"),
            "raw",
            "dialect",
        )
        .coalesce(1)
        .write.mode("overwrite")
        .parquet(quarantine_dir)
    )
    readings = os.path.join(out, "readings.parquet")
    single_file(readings_dir, readings)
    single_file(quarantine_dir, os.path.join(out, "quarantine.parquet"))
    rows_out = spark.read.parquet(readings).count()
    parsed.unpersist()
    return dict(
        version=spark.version,
        objects=sum(len(d.files) for d in source.dialects),
        rows_read=rows_read,
        rows_rejected=rows_read - valid,
        rejected_by_rule={k: v for k, v in sorted((k, v) for k, v in counts.items() if k is not None)},
        rows_deduplicated=valid - rows_out,
        rows_out=rows_out,
    )


def stop(spark, timeout: float = 120.0) -> None:
    """Stops Spark and waits for its JVM (it exits when its stdin closes), so that the JVM's
    CPU time and peak RSS count in this process's children, which /usr/bin/time reports;
    also when the job failed (the JVM may have died, e.g. of an OutOfMemoryError, or hang:
    spark.stop() gets `timeout` seconds, then the JVM is told to exit by closing its stdin,
    and killed if it has not exited `timeout` seconds later)."""
    import threading

    gateway = spark.sparkContext._gateway
    proc = getattr(gateway, "proc", None)

    def stop_spark():
        try:
            spark.stop()
        except Exception as e:  # noqa: BLE001 (the JVM may be gone already)
            print(f"spark.stop(): {e}", file=sys.stderr)

    stopper = threading.Thread(target=stop_spark, daemon=True)
    stopper.start()
    stopper.join(timeout)
    if stopper.is_alive():
        print(f"spark.stop() did not return within {timeout:.0f} s", file=sys.stderr)
    if proc is None:
        return
    try:
        gateway.shutdown()
    except Exception:  # noqa: BLE001
        pass
    try:
        proc.stdin.close()
    except OSError:
        pass
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        print(f"the Spark JVM did not exit within {timeout:.0f} s: killed", file=sys.stderr)
        proc.kill()
        code = proc.wait()
    if code:
        print(f"the Spark JVM exited with status {code}", file=sys.stderr)


def peaks() -> dict:
    return dict(
        python_peak_rss_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        jvm_peak_rss_mib=round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    )


def main() -> None:
    started = time.perf_counter()
    a = common.args(__doc__.splitlines()[0])
    source = common.prepare(a)
    scratch = os.path.join(a.out, "_spark_tmp")
    os.makedirs(scratch, exist_ok=True)
    spark, counts = None, None
    try:
        spark = session(scratch)
        session_s = round(time.perf_counter() - started, 3)
        counts = job(spark, source, a.out)
        counts["session_s"] = session_s
    finally:
        # Whether the job worked or not: Spark stopped, its JVM waited for, its scratch
        # space and any half-written output folder removed.
        try:
            if spark is not None:
                stop(spark)
        finally:
            for folder in (scratch, os.path.join(a.out, "_readings"), os.path.join(a.out, "_quarantine")):
                shutil.rmtree(folder, ignore_errors=True)
            print(f"spark peak RSS: {peaks()}", file=sys.stderr)
    common.report("spark", started, **counts, **peaks())


if __name__ == "__main__":
    main()
