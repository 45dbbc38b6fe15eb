//! Where a chunk's records wait for their commit, and how duplicates are settled.
//!
//! Records arrive one at a time ([`Sink`]). The [`Stage`] turns rows into Arrow batches as
//! they come, hash-partitioned by key so that every version of a key lands in the same
//! partition; while the batches fit they stay in memory, past `[engine] stage_memory_mib`
//! every partition is spilled to an Arrow IPC file in the lake's staging folder. Deduplication
//! then runs one partition at a time (a pass over the keys' fingerprints, then a pass that
//! keeps the live rows), so what it holds is one partition's fingerprints, whatever the
//! chunk's size. The result is [`Staged`]: in memory, or IPC files that the Delta write and
//! merge read as they go.
//!
//! The later record of a key wins. Within one object (all members of an archive together)
//! the earlier one is a duplicate; across objects it was accepted when its own object was
//! read, and a later version replaces it.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::hash::BuildHasherDefault;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder, UInt32Array, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt32Type, UInt64Type};
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::{FileWriter, IpcWriteOptions};
use keel_catalog::ledger::LedgerEntry;
use keel_catalog::manifest::LandingObject;
use keel_engine::delta::Staged;

use crate::Result;
use crate::plan::SourcePlan;
use crate::rows::{QuarantineRow, Row, quarantine_batch, quarantine_schema, value_arrays};

/// Where the records of a chunk go, object by object (`object` is the object's index in the
/// chunk).
pub(crate) trait Sink {
    /// A row that passed.
    fn row(&mut self, object: u32, row: Row) -> Result<()>;
    /// A record that did not.
    fn reject(&mut self, row: QuarantineRow) -> Result<()>;
    /// What `object` handed out so far is void: `rejection` stands for the whole object.
    fn abort(&mut self, object: u32, object_id: &str, rejection: QuarantineRow);
}

/// A 128-bit fingerprint of a row's key: SipHash-1-3 with a 128-bit output over the key's
/// parts as [`crate::convert::Value::key_part`] writes them, each length-prefixed (integers
/// and dates written into a stack buffer, strings hashed in place: no allocation for the
/// usual keys). Two different keys collide with probability ~2⁻¹²⁸; what deduplication
/// holds per row is these 16 bytes instead of the key's text.
pub(crate) fn key_fingerprint(values: &[crate::convert::Value], keys: &[usize]) -> u128 {
    use std::hash::Hasher;

    use siphasher::sip128::Hasher128;

    use crate::convert::Value;
    let mut hasher = siphasher::sip128::SipHasher13::new_with_keys(0x6b65_656c, 0x6b65_7973);
    let mut feed = |part: &[u8]| {
        hasher.write_usize(part.len());
        hasher.write(part);
    };
    let mut digits = itoa::Buffer::new();
    for &k in keys {
        match &values[k] {
            Value::Str(s) => feed(s.as_bytes()),
            Value::Null => feed(b""),
            Value::Int(v) | Value::Timestamp(v) => feed(digits.format(*v).as_bytes()),
            Value::Date(v) => feed(digits.format(*v).as_bytes()),
            other => feed(other.key_part().as_bytes()),
        }
    }
    hasher.finish128().as_u128()
}

/// Settles duplicates: offered the rows of a partition in arrival order, it remembers the
/// latest row of each key and marks the ones replaced.
#[derive(Default)]
pub(crate) struct Dedup {
    latest: HashMap<u128, (u64, u32), BuildHasherDefault<Fingerprinted>>,
    dead: Vec<u64>,
    /// Rows of earlier objects replaced by a later object's row.
    pub(crate) replaced: u64,
}

impl Dedup {
    /// Offers row `ordinal` (0, 1, ... in arrival order) of `object` with `key`;
    /// `duplicates[object]` counts a duplicate within the object.
    pub(crate) fn offer(&mut self, ordinal: u64, key: u128, object: u32, duplicates: &mut [i64]) {
        if let Some((prev, prev_object)) = self.latest.insert(key, (ordinal, object)) {
            let (word, bit) = ((prev / 64) as usize, prev % 64);
            if self.dead.len() <= word {
                self.dead.resize(word + 1, 0);
            }
            self.dead[word] |= 1 << bit;
            if prev_object == object {
                duplicates[object as usize] += 1;
            } else {
                self.replaced += 1;
            }
        }
    }

    /// Whether row `ordinal` is the latest of its key.
    pub(crate) fn live(&self, ordinal: u64) -> bool {
        let word = (ordinal / 64) as usize;
        self.dead
            .get(word)
            .is_none_or(|w| w & (1 << (ordinal % 64)) == 0)
    }
}

/// Counts each object's duplicates in its ledger entry: written no more, counted as
/// duplicates instead.
fn count_duplicates(entries: &mut [LedgerEntry], duplicates: &[i64]) {
    for (entry, &d) in entries.iter_mut().zip(duplicates) {
        entry.rows_duplicate += d;
        entry.rows_written -= d;
    }
}

/// Hashes a key fingerprint for the dedup map: the fingerprint is already a uniform 128-bit
/// hash, so its low half is the map's hash (the high half picks the partition).
#[derive(Default)]
pub(crate) struct Fingerprinted(u64);

impl std::hash::Hasher for Fingerprinted {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u128 fingerprints are hashed here (`write_u128`); anything else is folded
        // byte by byte (FNV-1a).
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

/// Most key partitions of a chunk.
const MAX_PARTITIONS: u64 = 256;

/// The chunk's rows and quarantine, staged for one commit each.
pub(crate) struct Stage {
    dir: tempfile::TempDir,
    schema: SchemaRef,
    plan_columns: Vec<crate::plan::CanonicalColumn>,
    batch_size: usize,
    /// Indexes of the key columns (none: every row is its own).
    keys: Vec<usize>,
    layout: Layout,
    inputs: Inputs,
    parts: Vec<Part>,
    quarantine: Spill,
    quarantine_pending: Vec<QuarantineRow>,
    aborted: HashSet<u32>,
    aborted_ids: HashSet<String>,
    whole: Vec<QuarantineRow>,
    /// Bytes of the batches held in memory, and how many may be.
    held: usize,
    budget: usize,
    spilled: bool,
}

struct Part {
    rows: Vec<Row>,
    keys: Vec<u128>,
    objects: Vec<u32>,
    inputs: Vec<u32>,
    spill: Spill,
}

/// The columns of a staged batch: the canonical values, `_keel_line`, the key's fingerprint
/// in two halves, the object's index in the chunk and the input's index in [`Inputs`]. The
/// object's id and ingestion time are the input's: they are put back when a partition is
/// settled instead of being staged on every row.
#[derive(Clone, Copy)]
struct Layout {
    values: usize,
}

impl Layout {
    fn line(self) -> usize {
        self.values
    }
    fn hi(self) -> usize {
        self.values + 1
    }
    fn lo(self) -> usize {
        self.values + 2
    }
    fn object(self) -> usize {
        self.values + 3
    }
    fn input(self) -> usize {
        self.values + 4
    }

    /// The staged schema for the table schema `schema` (values, then provenance).
    fn schema(self, schema: &SchemaRef) -> SchemaRef {
        let mut fields: Vec<Field> = schema.fields()[..self.values]
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(
            crate::plan::PROVENANCE[1],
            DataType::Int64,
            false,
        ));
        fields.push(Field::new(KEY_HI, DataType::UInt64, false));
        fields.push(Field::new(KEY_LO, DataType::UInt64, false));
        fields.push(Field::new(OBJECT, DataType::UInt32, false));
        fields.push(Field::new(INPUT, DataType::UInt32, false));
        Arc::new(Schema::new(fields))
    }

    /// The rows of a staged batch in the table's `schema`, provenance put back from
    /// `inputs`.
    fn restore(
        self,
        staged: &RecordBatch,
        inputs: &[(Arc<str>, i64)],
        schema: &SchemaRef,
    ) -> Result<RecordBatch> {
        let index = staged.column(self.input()).as_primitive::<UInt32Type>();
        let n = index.len();
        let width = inputs.first().map_or(0, |(o, _)| o.len());
        let mut object = StringBuilder::with_capacity(n, n * width);
        let mut at = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
        for &i in index.values() {
            let (o, t) = &inputs[i as usize];
            object.append_value(o);
            at.append_value(*t);
        }
        let mut arrays = staged.columns()[..self.values].to_vec();
        arrays.push(Arc::new(object.finish()));
        arrays.push(staged.column(self.line()).clone());
        arrays.push(Arc::new(at.finish()));
        Ok(RecordBatch::try_new(schema.clone(), arrays)?)
    }
}

/// The inputs of a chunk (an object, or a member of an archive) with their ingestion
/// times, each once.
#[derive(Default)]
struct Inputs {
    list: Vec<(Arc<str>, i64)>,
    index: HashMap<(Arc<str>, i64), u32>,
    /// The last one asked for: rows come input by input.
    last: Option<(Arc<str>, i64, u32)>,
}

impl Inputs {
    fn index(&mut self, object: &Arc<str>, ingested_at: i64) -> u32 {
        if let Some((o, at, i)) = &self.last
            && Arc::ptr_eq(o, object)
            && *at == ingested_at
        {
            return *i;
        }
        let list = &mut self.list;
        let i = *self
            .index
            .entry((object.clone(), ingested_at))
            .or_insert_with(|| {
                list.push((object.clone(), ingested_at));
                (list.len() - 1) as u32
            });
        self.last = Some((object.clone(), ingested_at, i));
        i
    }
}

/// What settling every partition shares.
struct Settle<'a> {
    keyed: bool,
    layout: Layout,
    aborted: &'a HashSet<u32>,
    inputs: &'a [(Arc<str>, i64)],
    /// The declaration's schema, and the table's when it differs.
    schema: &'a SchemaRef,
    table_schema: Option<&'a SchemaRef>,
}

/// An Arrow IPC file writer at `path`, its buffers LZ4-compressed: staged rows repeat
/// (device ids, timestamps a step apart), and what is not written does not wait for the
/// disk.
fn ipc_writer(path: &std::path::Path, schema: &SchemaRef) -> Result<FileWriter<BufWriter<File>>> {
    let file = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let options = IpcWriteOptions::default()
        .try_with_compression(Some(arrow::ipc::CompressionType::LZ4_FRAME))?;
    Ok(FileWriter::try_new_with_options(file, schema, options)?)
}

impl Part {
    /// Settles this partition's duplicates and pushes its live rows (those of aborted
    /// objects left out, with their provenance put back, conformed to `table_schema` when
    /// given) to `out`; `duplicates` counts them per object. Returns the rows of earlier
    /// objects replaced.
    fn settle(
        &mut self,
        settle: &Settle<'_>,
        duplicates: &mut [i64],
        out: &mut Output,
    ) -> Result<u64> {
        self.spill.close()?;
        let layout = settle.layout;
        let aborted = settle.aborted;
        let mut dedup = Dedup::default();
        if settle.keyed {
            let mut ordinal = 0u64;
            // Only the keys and objects: with the other columns left compressed on disk.
            let projection = vec![layout.hi(), layout.lo(), layout.object()];
            for batch in self.spill.batches(Some(projection))? {
                let batch = batch?;
                let hi = batch.column(0).as_primitive::<UInt64Type>();
                let lo = batch.column(1).as_primitive::<UInt64Type>();
                let objects = batch.column(2).as_primitive::<UInt32Type>();
                for i in 0..batch.num_rows() {
                    let object = objects.value(i);
                    if !aborted.contains(&object) {
                        let key = (u128::from(hi.value(i)) << 64) | u128::from(lo.value(i));
                        dedup.offer(ordinal, key, object, duplicates);
                    }
                    ordinal += 1;
                }
            }
        }
        let mut ordinal = 0u64;
        for batch in self.spill.batches(None)? {
            let batch = batch?;
            let objects = batch.column(layout.object()).as_primitive::<UInt32Type>();
            let keep: BooleanArray = (0..batch.num_rows())
                .map(|i| {
                    let live =
                        dedup.live(ordinal + i as u64) && !aborted.contains(&objects.value(i));
                    Some(live)
                })
                .collect();
            ordinal += batch.num_rows() as u64;
            let kept = arrow::compute::filter_record_batch(&batch, &keep)?;
            let kept = layout.restore(&kept, settle.inputs, settle.schema)?;
            let kept = match settle.table_schema {
                Some(s) => crate::evolve::conform(&kept, s)?,
                None => kept,
            };
            out.push(kept)?;
        }
        self.spill.memory.clear();
        if self.spill.on_disk {
            fs_err::remove_file(&self.spill.path)?;
        }
        Ok(dedup.replaced)
    }
}

/// Batches in memory, then appended to one IPC file once the stage spills.
struct Spill {
    path: PathBuf,
    schema: SchemaRef,
    memory: Vec<RecordBatch>,
    writer: Option<FileWriter<BufWriter<File>>>,
    on_disk: bool,
}

impl Spill {
    fn new(path: PathBuf, schema: SchemaRef) -> Spill {
        Spill {
            path,
            schema,
            memory: Vec::new(),
            writer: None,
            on_disk: false,
        }
    }

    fn spill(&mut self) -> Result<()> {
        if self.memory.is_empty() {
            return Ok(());
        }
        if self.writer.is_none() {
            self.writer = Some(ipc_writer(&self.path, &self.schema)?);
            self.on_disk = true;
        }
        if let Some(w) = &mut self.writer {
            for b in self.memory.drain(..) {
                w.write(&b)?;
            }
        }
        Ok(())
    }

    /// Ends the file: no batch is added after.
    fn close(&mut self) -> Result<()> {
        if let Some(mut w) = self.writer.take() {
            w.finish()?;
        }
        Ok(())
    }

    /// Every batch, in the order pushed (the spilled ones first, read as the iterator goes),
    /// with only the columns of `projection` when one is given.
    fn batches(
        &self,
        projection: Option<Vec<usize>>,
    ) -> Result<impl Iterator<Item = Result<RecordBatch>> + '_> {
        let from_file = if self.on_disk {
            let reader = FileReader::try_new(
                std::io::BufReader::with_capacity(1 << 20, File::open(&self.path)?),
                projection.clone(),
            )?;
            Some(reader.map(|b| b.map_err(Into::into)))
        } else {
            None
        };
        let in_memory = self.memory.iter().map(move |b| match &projection {
            Some(p) => b.project(p).map_err(Into::into),
            None => Ok(b.clone()),
        });
        Ok(from_file.into_iter().flatten().chain(in_memory))
    }
}

impl Stage {
    /// A stage for the chunk `objects` of `plan`'s source, in a new folder under `staging`.
    pub(crate) fn new(
        staging: &std::path::Path,
        plan: &SourcePlan,
        engine: &keel_core::spec::EngineSpec,
        objects: &[LandingObject],
    ) -> Result<Stage> {
        let batch_size = engine.batch_size.max(1);
        let partition_bytes = engine
            .stage_partition_mib
            .saturating_mul(1 << 20)
            .max(1 << 10);
        fs_err::create_dir_all(staging)?;
        let dir = tempfile::Builder::new()
            .prefix("chunk-")
            .tempdir_in(staging)?;
        let keyed = !plan.keys.is_empty();
        // Compressed objects expand: count them at a typical ratio for text.
        let expected: u64 = objects
            .iter()
            .map(|o| {
                let bytes = o.bytes.max(0) as u64;
                let p = o.original_path.to_ascii_lowercase();
                if [".gz", ".gzip", ".zip"].iter().any(|e| p.ends_with(e)) {
                    bytes.saturating_mul(6)
                } else {
                    bytes
                }
            })
            .sum();
        let partitions = if keyed {
            expected.div_ceil(partition_bytes).clamp(1, MAX_PARTITIONS) as usize
        } else {
            1
        };
        let layout = Layout {
            values: plan.columns.len(),
        };
        let schema = layout.schema(&plan.schema);
        let parts = (0..partitions)
            .map(|p| Part {
                rows: Vec::new(),
                keys: Vec::new(),
                objects: Vec::new(),
                inputs: Vec::new(),
                spill: Spill::new(dir.path().join(format!("part-{p}.arrow")), schema.clone()),
            })
            .collect();
        Ok(Stage {
            quarantine: Spill::new(dir.path().join("quarantine.arrow"), quarantine_schema()),
            dir,
            schema: plan.schema.clone(),
            plan_columns: plan.columns.clone(),
            // Many partitions each hold a pending batch: keep those small.
            batch_size: if partitions > 8 {
                batch_size.clamp(1, 2048)
            } else {
                batch_size.max(1)
            },
            keys: plan.keys.clone(),
            layout,
            inputs: Inputs::default(),
            parts,
            quarantine_pending: Vec::new(),
            aborted: HashSet::new(),
            aborted_ids: HashSet::new(),
            whole: Vec::new(),
            held: 0,
            budget: usize::try_from(engine.stage_memory_mib.saturating_mul(1 << 20))
                .unwrap_or(usize::MAX),
            spilled: false,
        })
    }

    fn flush_part(&mut self, p: usize) -> Result<()> {
        let part = &mut self.parts[p];
        if part.rows.is_empty() {
            return Ok(());
        }
        let refs: Vec<&Row> = part.rows.iter().collect();
        let mut columns = value_arrays(&self.plan_columns, &refs);
        let lines: Int64Array = part.rows.iter().map(|r| r.line).collect();
        let hi: UInt64Array = part.keys.iter().map(|k| (k >> 64) as u64).collect();
        let lo: UInt64Array = part.keys.iter().map(|&k| k as u64).collect();
        let objects = UInt32Array::from(std::mem::take(&mut part.objects));
        let inputs = UInt32Array::from(std::mem::take(&mut part.inputs));
        columns.extend([
            Arc::new(lines) as ArrayRef,
            Arc::new(hi),
            Arc::new(lo),
            Arc::new(objects),
            Arc::new(inputs),
        ]);
        let batch = RecordBatch::try_new(part.spill.schema.clone(), columns)?;
        part.rows.clear();
        part.keys.clear();
        self.held += batch.get_array_memory_size();
        part.spill.memory.push(batch);
        self.spill_if_full()
    }

    fn flush_quarantine(&mut self) -> Result<()> {
        if self.quarantine_pending.is_empty() {
            return Ok(());
        }
        let batch = quarantine_batch(&self.quarantine_pending)?;
        self.quarantine_pending.clear();
        self.held += batch.get_array_memory_size();
        self.quarantine.memory.push(batch);
        self.spill_if_full()
    }

    fn spill_if_full(&mut self) -> Result<()> {
        if self.held <= self.budget {
            return Ok(());
        }
        for part in &mut self.parts {
            part.spill.spill()?;
        }
        self.quarantine.spill()?;
        self.held = 0;
        self.spilled = true;
        Ok(())
    }

    /// Settles duplicates and returns what to commit: the live rows (in `table_schema` when
    /// the table's schema differs from the declaration's) and the quarantine. The ledger
    /// `entries` (one per object, in chunk order) get their duplicates counted.
    pub(crate) fn finish(
        mut self,
        entries: &mut [LedgerEntry],
        table_schema: Option<&SchemaRef>,
    ) -> Result<Staging> {
        for p in 0..self.parts.len() {
            self.flush_part(p)?;
        }
        self.flush_quarantine()?;
        let out_schema = table_schema.cloned().unwrap_or_else(|| self.schema.clone());
        let spilled = self.spilled;
        let aborted = std::mem::take(&mut self.aborted);
        let inputs = std::mem::take(&mut self.inputs.list);
        let settle = Settle {
            keyed: !self.keys.is_empty(),
            layout: self.layout,
            aborted: &aborted,
            inputs: &inputs,
            schema: &self.schema,
            table_schema,
        };
        let rows_dir = self.dir.path().join("rows");
        // Partitions are settled side by side (each its own dedup map, its own output files
        // and duplicate counts), one worker per core.
        let workers = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, self.parts.len().max(1));
        let mut groups: Vec<Vec<&mut Part>> = (0..workers).map(|_| Vec::new()).collect();
        for (i, part) in self.parts.iter_mut().enumerate() {
            groups[i % workers].push(part);
        }
        let settled: Vec<Result<(Output, Vec<i64>, u64)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = groups
                .into_iter()
                .enumerate()
                .map(|(worker, group)| {
                    let mut duplicates = vec![0; entries.len()];
                    let (settle, out_schema, rows_dir) = (&settle, &out_schema, &rows_dir);
                    scope.spawn(move || {
                        let mut out = Output::new(spilled, rows_dir.clone(), out_schema, worker)?;
                        let mut replaced = 0;
                        for part in group {
                            replaced += part.settle(settle, &mut duplicates, &mut out)?;
                        }
                        Ok((out, duplicates, replaced))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        let mut outputs = Vec::with_capacity(settled.len());
        let mut replaced = 0;
        for result in settled {
            let (out, duplicates, r) = result?;
            count_duplicates(entries, &duplicates);
            replaced += r;
            outputs.push(out);
        }
        let rows_out = Output::join(outputs)?;
        let mut quarantine_out = Output::new(
            self.spilled,
            self.dir.path().join("quarantine"),
            &quarantine_schema(),
            0,
        )?;
        let ids = std::mem::take(&mut self.aborted_ids);
        self.quarantine.close()?;
        for batch in self.quarantine.batches(None)? {
            let batch = batch?;
            let batch = if ids.is_empty() {
                batch
            } else {
                let objects = batch.column(0).as_string::<i32>();
                let keep: BooleanArray = objects
                    .iter()
                    .map(|o| Some(!o.is_some_and(|o| ids.contains(base_id(o)))))
                    .collect();
                arrow::compute::filter_record_batch(&batch, &keep)?
            };
            quarantine_out.push(batch)?;
        }
        if !self.whole.is_empty() {
            quarantine_out.push(quarantine_batch(&self.whole)?)?;
        }
        Ok(Staging {
            rows: rows_out,
            quarantine_rows: quarantine_out.rows,
            quarantine: quarantine_out.finish()?,
            replaced,
            _dir: self.dir,
        })
    }
}

/// The reference of a zip member (`object!member`) names its object first.
pub(crate) fn base_id(reference: &str) -> &str {
    reference.split('!').next().unwrap_or(reference)
}

const KEY_HI: &str = "__keel_key_hi";
const KEY_LO: &str = "__keel_key_lo";
const OBJECT: &str = "__keel_object_index";
const INPUT: &str = "__keel_input_index";

impl Sink for Stage {
    fn row(&mut self, object: u32, row: Row) -> Result<()> {
        let key = if self.keys.is_empty() {
            0
        } else {
            key_fingerprint(&row.values, &self.keys)
        };
        let p = if self.parts.len() > 1 {
            // The high half: the low half's bits also pick the hash map's buckets.
            ((key >> 64) as u64 % self.parts.len() as u64) as usize
        } else {
            0
        };
        let input = self.inputs.index(&row.object, row.ingested_at);
        let part = &mut self.parts[p];
        part.rows.push(row);
        part.keys.push(key);
        part.objects.push(object);
        part.inputs.push(input);
        if part.rows.len() >= self.batch_size {
            self.flush_part(p)?;
        }
        Ok(())
    }

    fn reject(&mut self, row: QuarantineRow) -> Result<()> {
        self.quarantine_pending.push(row);
        if self.quarantine_pending.len() >= self.batch_size {
            self.flush_quarantine()?;
        }
        Ok(())
    }

    fn abort(&mut self, object: u32, object_id: &str, rejection: QuarantineRow) {
        self.aborted.insert(object);
        self.aborted_ids.insert(object_id.to_string());
        self.quarantine_pending
            .retain(|q| base_id(&q.object) != object_id);
        self.whole.push(rejection);
    }
}

/// What a chunk commits.
pub(crate) struct Staging {
    /// The live rows.
    pub(crate) rows: Staged,
    /// The quarantine.
    pub(crate) quarantine: Staged,
    /// Rows in the quarantine.
    pub(crate) quarantine_rows: usize,
    /// Rows of earlier objects replaced by a later object's row.
    pub(crate) replaced: u64,
    /// The staging folder, removed when the commit is done.
    _dir: tempfile::TempDir,
}

/// Where settled batches go: kept in memory, or written to IPC files when the stage
/// spilled, a new file every [`OUTPUT_FILE_BYTES`] (the write reads files side by side,
/// each a batch at a time).
struct Output {
    schema: SchemaRef,
    memory: Vec<RecordBatch>,
    dir: Option<PathBuf>,
    /// Its files are `<name>-<n>.arrow` (outputs sharing a folder have different names).
    name: usize,
    file: Option<FileWriter<BufWriter<File>>>,
    files: usize,
    file_bytes: usize,
    rows: usize,
}

/// Bytes of batches per staged output file.
const OUTPUT_FILE_BYTES: usize = 128 << 20;

impl Output {
    fn new(spilled: bool, dir: PathBuf, schema: &SchemaRef, name: usize) -> Result<Output> {
        if spilled {
            fs_err::create_dir_all(&dir)?;
        }
        Ok(Output {
            schema: schema.clone(),
            memory: Vec::new(),
            dir: spilled.then_some(dir),
            name,
            file: None,
            files: 0,
            file_bytes: 0,
            rows: 0,
        })
    }

    fn push(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.rows += batch.num_rows();
        let Some(dir) = &self.dir else {
            self.memory.push(batch);
            return Ok(());
        };
        if self.file.is_none() || self.file_bytes >= OUTPUT_FILE_BYTES {
            if let Some(mut done) = self.file.take() {
                done.finish()?;
            }
            let path = dir.join(format!("{}-{}.arrow", self.name, self.files));
            self.file = Some(ipc_writer(&path, &self.schema)?);
            self.files += 1;
            self.file_bytes = 0;
        }
        self.file_bytes += batch.get_array_memory_size();
        if let Some(w) = &mut self.file {
            w.write(&batch)?;
        }
        Ok(())
    }

    /// Outputs written side by side into the same folder, as one.
    fn join(outputs: Vec<Output>) -> Result<Staged> {
        let mut joined: Option<Output> = None;
        for mut out in outputs {
            if let Some(mut w) = out.file.take() {
                w.finish()?;
            }
            match &mut joined {
                None => joined = Some(out),
                Some(j) => {
                    j.rows += out.rows;
                    j.memory.append(&mut out.memory);
                }
            }
        }
        match joined {
            Some(j) => j.finish(),
            None => Err(crate::FormattedError::Io(std::io::Error::other(
                "no partition to settle",
            ))),
        }
    }

    fn finish(mut self) -> Result<Staged> {
        if let Some(mut w) = self.file.take() {
            w.finish()?;
        }
        Ok(match self.dir {
            Some(dir) if self.rows > 0 => Staged::Files(self.schema, dir),
            // One empty batch when there are no rows, so that a first commit still
            // creates the table with its schema.
            _ if self.rows == 0 => Staged::Batches(
                self.schema.clone(),
                vec![RecordBatch::new_empty(self.schema)],
            ),
            _ => Staged::Batches(self.schema, self.memory),
        })
    }
}

/// A chunk's records kept in memory as rows (reprocessing, which matches them one by one
/// against what the quarantine held).
#[derive(Default)]
pub(crate) struct Collected {
    /// Indexes of the key columns.
    keys: Vec<usize>,
    rows: Vec<(u32, Option<u128>, Row)>,
    quarantine: Vec<QuarantineRow>,
    aborted: HashSet<u32>,
    whole: Vec<QuarantineRow>,
}

impl Sink for Collected {
    fn row(&mut self, object: u32, row: Row) -> Result<()> {
        let key = (!self.keys.is_empty()).then(|| key_fingerprint(&row.values, &self.keys));
        self.rows.push((object, key, row));
        Ok(())
    }

    fn reject(&mut self, row: QuarantineRow) -> Result<()> {
        self.quarantine.push(row);
        Ok(())
    }

    fn abort(&mut self, object: u32, object_id: &str, rejection: QuarantineRow) {
        self.aborted.insert(object);
        self.quarantine.retain(|q| base_id(&q.object) != object_id);
        self.whole.push(rejection);
    }
}

impl Collected {
    /// Collects rows keyed by the columns `keys`.
    pub(crate) fn new(keys: &[usize]) -> Collected {
        Collected {
            keys: keys.to_vec(),
            ..Collected::default()
        }
    }

    /// The live rows (duplicates settled, counted in `entries`), the quarantine, and the
    /// rows of earlier objects replaced.
    pub(crate) fn finish(self, entries: &mut [LedgerEntry]) -> (Vec<Row>, Vec<QuarantineRow>, u64) {
        let mut dedup = Dedup::default();
        let rows: Vec<(u64, Option<u128>, u32, Row)> = self
            .rows
            .into_iter()
            .filter(|(o, _, _)| !self.aborted.contains(o))
            .enumerate()
            .map(|(i, (o, k, r))| (i as u64, k, o, r))
            .collect();
        let mut duplicates = vec![0; entries.len()];
        for (ordinal, key, object, _) in &rows {
            if let Some(key) = key {
                dedup.offer(*ordinal, *key, *object, &mut duplicates);
            }
        }
        count_duplicates(entries, &duplicates);
        let live = rows
            .into_iter()
            .filter(|(ordinal, ..)| dedup.live(*ordinal))
            .map(|(.., r)| r)
            .collect();
        let mut quarantine = self.quarantine;
        quarantine.extend(self.whole);
        (live, quarantine, dedup.replaced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> LedgerEntry {
        LedgerEntry {
            object_id: String::new(),
            table_name: String::new(),
            run_id: String::new(),
            dialect: String::new(),
            rows_read: 0,
            rows_written: 3,
            rows_quarantined: 0,
            rows_duplicate: 0,
            delta_version: 0,
        }
    }

    #[test]
    fn fingerprints_equal_exactly_when_key_texts_do() {
        use crate::convert::Value;
        let text = |v: &[Value]| v.iter().map(Value::key_part).collect::<Vec<_>>();
        let rows = [
            vec![Value::Str("d1".into()), Value::Date(19_000)],
            vec![Value::Str("d1".into()), Value::Date(19_001)],
            vec![Value::Str("d1".into()), Value::Int(-19_000)],
            vec![Value::Str("d11".into()), Value::Int(9)],
            vec![Value::Str("d1".into()), Value::Int(19)],
            vec![Value::Null, Value::Float(1e300)],
            vec![Value::Str(String::new()), Value::Float(1e300)],
            vec![Value::Timestamp(i64::MIN), Value::Bool(true)],
        ];
        for x in &rows {
            for y in &rows {
                assert_eq!(
                    key_fingerprint(x, &[0, 1]) == key_fingerprint(y, &[0, 1]),
                    text(x) == text(y),
                    "{x:?} {y:?}"
                );
            }
        }
    }

    #[test]
    fn the_later_row_of_a_key_wins_within_and_across_objects() {
        let mut entries = vec![entry(), entry()];
        let mut duplicates = vec![0; 2];
        let mut d = Dedup::default();
        d.offer(0, 1, 0, &mut duplicates);
        d.offer(1, 2, 0, &mut duplicates);
        d.offer(2, 1, 0, &mut duplicates); // duplicate within object 0
        d.offer(3, 2, 1, &mut duplicates); // object 1 replaces object 0's key 2
        d.offer(200, 9, 1, &mut duplicates);
        count_duplicates(&mut entries, &duplicates);
        let live: Vec<u64> = [0, 1, 2, 3, 200]
            .into_iter()
            .filter(|&o| d.live(o))
            .collect();
        assert_eq!(live, [2, 3, 200]);
        assert_eq!((entries[0].rows_duplicate, entries[0].rows_written), (1, 2));
        assert_eq!((entries[1].rows_duplicate, entries[1].rows_written), (0, 3));
        assert_eq!(d.replaced, 1);
    }
}
