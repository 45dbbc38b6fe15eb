//! The landing manifest: immutable landing objects, every delivery (duplicates included)
//! and the state collectors keep to know what they already took.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, Row, params};

use crate::{Catalog, CatalogError, Result, now_utc};

/// An object stored in persistent landing.
#[derive(Debug, Clone, PartialEq)]
pub struct LandingObject {
    /// `<source>/<first 16 hex digits of sha256>`: stable and readable.
    pub object_id: String,
    /// The source that delivered it.
    pub source: String,
    /// The file name it was delivered under.
    pub original_name: String,
    /// Its path relative to the collector root.
    pub original_path: String,
    /// 1 for the first object under this name in the source, 2 for the next, ...
    pub version: i64,
    /// Content hash.
    pub sha256: String,
    /// Size.
    pub bytes: i64,
    /// When it was collected (UTC, RFC 3339).
    pub ingested_at: String,
    /// Its path in the lake, relative to the lake root.
    pub persistent_path: String,
    /// What the collector knew about it (JSON).
    pub collector: serde_json::Value,
    /// The run that stored it.
    pub run_id: String,
    /// Ingestion order across the lake: later objects have larger numbers.
    pub seq: i64,
}

/// An object about to be recorded.
#[derive(Debug, Clone)]
pub struct NewObject {
    /// The source that delivered it.
    pub source: String,
    /// The file name it was delivered under.
    pub original_name: String,
    /// Its path relative to the collector root.
    pub original_path: String,
    /// Content hash.
    pub sha256: String,
    /// Size.
    pub bytes: i64,
    /// When it was collected.
    pub ingested_at: String,
    /// Its path in the lake, relative to the lake root.
    pub persistent_path: String,
    /// What the collector knew about it.
    pub collector: serde_json::Value,
}

/// The identifier of the object with this content in this source.
pub fn object_id(source: &str, sha256: &str) -> String {
    format!("{source}/{}", &sha256[..sha256.len().min(16)])
}

/// What the persistent loader did with one temporal batch, recorded all at once.
#[derive(Debug, Clone, Default)]
pub struct LandingCommit {
    /// New objects, in ingestion order.
    pub objects: Vec<NewObject>,
    /// Deliveries of bytes already stored: the delivery and the stored object's id.
    pub duplicates: Vec<(NewObject, String)>,
    /// Collector state to remember: source, path relative to the root, file.
    pub collected: Vec<(String, String, CollectedFile)>,
    /// Source state (cursors, watermarks) reached by this batch: source, key, JSON value.
    pub state: Vec<(String, String, serde_json::Value)>,
    /// The temporal batch this commit lands (source, batch id): recorded so that a loader
    /// retried after the commit recognises the batch as landed.
    pub batch: Option<(String, String)>,
    /// Keys of the messages landed by this batch (source, key, sha256 of their object), so
    /// that a redelivered message is recognised.
    pub message_keys: Vec<(String, String, String)>,
}

/// What a collector remembers of a file it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectedFile {
    /// Size when taken.
    pub bytes: i64,
    /// Modification time when taken (ns since the epoch).
    pub mtime_ns: i64,
    /// Content hash when taken.
    pub sha256: String,
}

pub(crate) const OBJECT_COLUMNS: &str = "object_id, source, original_name, original_path, \
     version, sha256, bytes, ingested_at, persistent_path, collector, run_id, seq";

fn object_from_row(r: &Row<'_>) -> rusqlite::Result<LandingObject> {
    let collector: String = r.get(9)?;
    Ok(LandingObject {
        object_id: r.get(0)?,
        source: r.get(1)?,
        original_name: r.get(2)?,
        original_path: r.get(3)?,
        version: r.get(4)?,
        sha256: r.get(5)?,
        bytes: r.get(6)?,
        ingested_at: r.get(7)?,
        persistent_path: r.get(8)?,
        collector: serde_json::from_str(&collector).unwrap_or(serde_json::Value::Null),
        run_id: r.get(10)?,
        seq: r.get(11)?,
    })
}

impl Catalog {
    /// The object of `source` with this content, if already stored.
    ///
    /// # Errors
    /// When the query fails.
    pub fn object_by_hash(&self, source: &str, sha256: &str) -> Result<Option<LandingObject>> {
        let conn = self.conn();
        let obj = conn
            .query_row(
                &format!(
                    "SELECT {OBJECT_COLUMNS} FROM landing_objects WHERE source = ?1 AND sha256 = ?2"
                ),
                params![source, sha256],
                object_from_row,
            )
            .optional()?;
        Ok(obj)
    }

    /// The object with this id.
    ///
    /// # Errors
    /// When the query fails.
    pub fn object(&self, object_id: &str) -> Result<Option<LandingObject>> {
        let conn = self.conn();
        let obj = conn
            .query_row(
                &format!("SELECT {OBJECT_COLUMNS} FROM landing_objects WHERE object_id = ?1"),
                params![object_id],
                object_from_row,
            )
            .optional()?;
        Ok(obj)
    }

    /// Records a new object and its delivery in one transaction, numbering its version
    /// under its original name and its place in the ingestion order.
    ///
    /// # Errors
    /// When the transaction fails (for example the content is already recorded).
    pub fn record_object(&self, new: &NewObject, run_id: &str) -> Result<LandingObject> {
        let mut stored = self.record_landing(
            &LandingCommit {
                objects: vec![new.clone()],
                ..LandingCommit::default()
            },
            run_id,
        )?;
        stored
            .pop()
            .ok_or_else(|| CatalogError::Internal("recorded object not returned".into()))
    }

    /// Records what the persistent loader did with one temporal batch in one transaction:
    /// new objects (numbered by version and ingestion order), duplicate deliveries and the
    /// collector state of every file. Returns the new objects.
    ///
    /// # Errors
    /// When the transaction fails; then none of it is recorded.
    pub fn record_landing(
        &self,
        commit: &LandingCommit,
        run_id: &str,
    ) -> Result<Vec<LandingObject>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut stored = Vec::with_capacity(commit.objects.len());
        for new in &commit.objects {
            stored.push(insert_object(&tx, new, run_id)?);
        }
        for (new, object_id) in &commit.duplicates {
            insert_delivery(&tx, new, object_id, true, run_id)?;
        }
        for (source, path, file) in &commit.collected {
            upsert_collector_state(&tx, source, path, file)?;
        }
        if let Some((source, batch_id)) = &commit.batch {
            tx.execute(
                "INSERT INTO landed_batches (source, batch_id, landed_at) VALUES (?1, ?2, ?3)",
                params![source, batch_id, now_utc()],
            )?;
        }
        for (source, key, value) in &commit.state {
            tx.execute(
                "INSERT INTO source_state (source, key, value, updated_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (source, key) DO UPDATE SET value = excluded.value, \
                 updated_at = excluded.updated_at",
                params![source, key, value.to_string(), now_utc()],
            )?;
        }
        {
            let mut insert = tx.prepare(
                "INSERT OR IGNORE INTO landed_messages (source, msg_key, object_id) \
                 VALUES (?1, ?2, ?3)",
            )?;
            for (source, key, sha256) in &commit.message_keys {
                insert.execute(params![source, key, object_id(source, sha256)])?;
            }
        }
        tx.commit()?;
        Ok(stored)
    }

    /// Records a delivery whose bytes are already stored as `object_id`.
    ///
    /// # Errors
    /// When the insert fails.
    pub fn record_duplicate_delivery(
        &self,
        new: &NewObject,
        object_id: &str,
        run_id: &str,
    ) -> Result<()> {
        let conn = self.conn();
        insert_delivery(&conn, new, object_id, true, run_id)?;
        Ok(())
    }

    /// Objects of `source` in ingestion order.
    ///
    /// # Errors
    /// When the query fails.
    pub fn objects(&self, source: &str) -> Result<Vec<LandingObject>> {
        self.query_objects(
            &format!("SELECT {OBJECT_COLUMNS} FROM landing_objects WHERE source = ?1 ORDER BY seq"),
            params![source],
        )
    }

    /// The versions of one original name in `source`, oldest first.
    ///
    /// # Errors
    /// When the query fails.
    pub fn object_versions(&self, source: &str, original_name: &str) -> Result<Vec<LandingObject>> {
        self.query_objects(
            &format!(
                "SELECT {OBJECT_COLUMNS} FROM landing_objects \
                 WHERE source = ?1 AND original_name = ?2 ORDER BY version"
            ),
            params![source, original_name],
        )
    }

    /// Objects of `source` that have no ledger entry for `table` yet, in ingestion order.
    ///
    /// # Errors
    /// When the query fails.
    pub fn unformatted_objects(&self, source: &str, table: &str) -> Result<Vec<LandingObject>> {
        self.query_objects(
            &format!(
                "SELECT {OBJECT_COLUMNS} FROM landing_objects o WHERE source = ?1 \
                 AND NOT EXISTS (SELECT 1 FROM ledger l \
                                 WHERE l.object_id = o.object_id AND l.table_name = ?2) \
                 ORDER BY seq"
            ),
            params![source, table],
        )
    }

    pub(crate) fn query_objects(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<LandingObject>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt
            .query_map(params, object_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Number of deliveries of `source` that were duplicates of a stored object.
    ///
    /// # Errors
    /// When the query fails.
    pub fn duplicate_deliveries(&self, source: &str) -> Result<i64> {
        let conn = self.conn();
        Ok(conn.query_row(
            "SELECT COUNT(*) FROM deliveries WHERE source = ?1 AND duplicate = 1",
            params![source],
            |r| r.get(0),
        )?)
    }

    /// What the collector of `source` remembers, by path relative to its root.
    ///
    /// # Errors
    /// When the query fails.
    pub fn collector_state(&self, source: &str) -> Result<HashMap<String, CollectedFile>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT path, bytes, mtime_ns, sha256 FROM collector_state WHERE source = ?1",
        )?;
        let rows = stmt
            .query_map(params![source], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    CollectedFile {
                        bytes: r.get(1)?,
                        mtime_ns: r.get(2)?,
                        sha256: r.get(3)?,
                    },
                ))
            })?
            .collect::<rusqlite::Result<HashMap<_, _>>>()?;
        Ok(rows)
    }

    /// The committed state of `source` (cursors, watermarks) under `key`.
    ///
    /// # Errors
    /// When the query fails.
    pub fn source_state(&self, source: &str, key: &str) -> Result<Option<serde_json::Value>> {
        let conn = self.conn();
        let text: Option<String> = conn
            .query_row(
                "SELECT value FROM source_state WHERE source = ?1 AND key = ?2",
                params![source, key],
                |r| r.get(0),
            )
            .optional()?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Whether the temporal batch `batch_id` of `source` is already landed.
    ///
    /// # Errors
    /// When the query fails.
    pub fn batch_landed(&self, source: &str, batch_id: &str) -> Result<bool> {
        let conn = self.conn();
        Ok(conn
            .prepare_cached("SELECT 1 FROM landed_batches WHERE source = ?1 AND batch_id = ?2")?
            .exists(params![source, batch_id])?)
    }

    /// Which of `keys` were already landed by `source`.
    ///
    /// # Errors
    /// When the query fails.
    pub fn landed_message_keys(
        &self,
        source: &str,
        keys: &[String],
    ) -> Result<std::collections::HashSet<String>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT 1 FROM landed_messages WHERE source = ?1 AND msg_key = ?2")?;
        let mut known = std::collections::HashSet::new();
        for k in keys {
            if stmt.exists(params![source, k])? {
                known.insert(k.clone());
            }
        }
        Ok(known)
    }

    /// Number of messages `source` landed.
    ///
    /// # Errors
    /// When the query fails.
    pub fn landed_message_count(&self, source: &str) -> Result<i64> {
        let conn = self.conn();
        Ok(conn.query_row(
            "SELECT COUNT(*) FROM landed_messages WHERE source = ?1",
            params![source],
            |r| r.get(0),
        )?)
    }

    /// Remembers that the collector of `source` took the file at `path`.
    ///
    /// # Errors
    /// When the upsert fails.
    pub fn set_collector_state(
        &self,
        source: &str,
        path: &str,
        file: &CollectedFile,
    ) -> Result<()> {
        upsert_collector_state(&self.conn(), source, path, file)
    }
}

fn insert_object(
    tx: &rusqlite::Connection,
    new: &NewObject,
    run_id: &str,
) -> Result<LandingObject> {
    let version: i64 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM landing_objects \
             WHERE source = ?1 AND original_name = ?2",
        params![new.source, new.original_name],
        |r| r.get(0),
    )?;
    let seq: i64 = tx.query_row(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM landing_objects",
        [],
        |r| r.get(0),
    )?;
    let object = LandingObject {
        object_id: object_id(&new.source, &new.sha256),
        source: new.source.clone(),
        original_name: new.original_name.clone(),
        original_path: new.original_path.clone(),
        version,
        sha256: new.sha256.clone(),
        bytes: new.bytes,
        ingested_at: new.ingested_at.clone(),
        persistent_path: new.persistent_path.clone(),
        collector: new.collector.clone(),
        run_id: run_id.to_string(),
        seq,
    };
    tx.execute(
        &format!(
            "INSERT INTO landing_objects ({OBJECT_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
        ),
        params![
            object.object_id,
            object.source,
            object.original_name,
            object.original_path,
            object.version,
            object.sha256,
            object.bytes,
            object.ingested_at,
            object.persistent_path,
            object.collector.to_string(),
            object.run_id,
            object.seq
        ],
    )?;
    insert_delivery(tx, new, &object.object_id, false, run_id)?;
    Ok(object)
}

fn upsert_collector_state(
    conn: &rusqlite::Connection,
    source: &str,
    path: &str,
    file: &CollectedFile,
) -> Result<()> {
    conn.execute(
        "INSERT INTO collector_state (source, path, bytes, mtime_ns, sha256) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (source, path) DO UPDATE SET \
         bytes = excluded.bytes, mtime_ns = excluded.mtime_ns, sha256 = excluded.sha256",
        params![source, path, file.bytes, file.mtime_ns, file.sha256],
    )?;
    Ok(())
}

fn insert_delivery(
    conn: &rusqlite::Connection,
    new: &NewObject,
    object_id: &str,
    duplicate: bool,
    run_id: &str,
) -> Result<()> {
    conn.execute(
        "INSERT INTO deliveries (source, original_path, sha256, bytes, delivered_at, object_id, \
         duplicate, run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            new.source,
            new.original_path,
            new.sha256,
            new.bytes,
            now_utc(),
            object_id,
            duplicate,
            run_id
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_object(name: &str, sha: &str) -> NewObject {
        NewObject {
            source: "meters".into(),
            original_name: name.into(),
            original_path: format!("d/{name}"),
            sha256: sha.into(),
            bytes: 10,
            ingested_at: now_utc(),
            persistent_path: format!("landing/persistent/meters/{sha}"),
            collector: serde_json::json!({"kind": "files"}),
        }
    }

    #[test]
    fn versions_count_per_name_and_seq_orders_ingestion() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(&dir.path().join("keel.db")).unwrap();
        let a1 = cat
            .record_object(&new_object("a.csv", &"1".repeat(64)), "r1")
            .unwrap();
        let b1 = cat
            .record_object(&new_object("b.csv", &"2".repeat(64)), "r1")
            .unwrap();
        let a2 = cat
            .record_object(&new_object("a.csv", &"3".repeat(64)), "r2")
            .unwrap();
        assert_eq!((a1.version, b1.version, a2.version), (1, 1, 2));
        assert!(a1.seq < b1.seq && b1.seq < a2.seq);
        assert_eq!(
            cat.object_versions("meters", "a.csv").unwrap(),
            vec![a1.clone(), a2]
        );
        // The same content cannot be recorded twice: it is a duplicate delivery.
        assert!(
            cat.record_object(&new_object("c.csv", &"1".repeat(64)), "r3")
                .is_err()
        );
        cat.record_duplicate_delivery(&new_object("c.csv", &"1".repeat(64)), &a1.object_id, "r3")
            .unwrap();
        assert_eq!(cat.duplicate_deliveries("meters").unwrap(), 1);
        assert_eq!(
            cat.unformatted_objects("meters", "readings").unwrap().len(),
            3
        );
    }
}
