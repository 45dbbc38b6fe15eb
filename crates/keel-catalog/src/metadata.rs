//! Physical metadata of landing objects: what dialect detection found in an object (its
//! encoding, delimiter, preamble, header, decimal separator, date formats, null tokens) when
//! it was formatted into a table, kept as JSON.
//!
//! The catalog does not know the shape of a detection (the formatted zone owns it): it
//! stores and returns the JSON as given.

use rusqlite::params;

use crate::{Catalog, Result, now_utc};

/// What detection found in one landing object (or one member of it) for one table.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectMetadata {
    /// The landing object, or `object_id!member` for a member of a zip archive.
    pub object_id: String,
    /// The formatted table it was detected for.
    pub table_name: String,
    /// The detection, as JSON.
    pub detected: serde_json::Value,
    /// When it was recorded (RFC 3339, UTC).
    pub detected_at: String,
}

impl Catalog {
    /// Records what detection found in `object_id` (or `object_id!member`) for `table`,
    /// replacing an earlier record (a rebuild detects again).
    ///
    /// # Errors
    /// When the statement fails.
    pub fn record_object_metadata(
        &self,
        object_id: &str,
        table: &str,
        detected: &serde_json::Value,
    ) -> Result<()> {
        let conn = self.conn();
        conn.execute(
            "INSERT OR REPLACE INTO object_metadata (object_id, table_name, detected_json, \
             detected_at) VALUES (?1, ?2, ?3, ?4)",
            params![object_id, table, detected.to_string(), now_utc()],
        )?;
        Ok(())
    }

    /// Records what detection found in several objects for `table`, in one transaction
    /// (one commit per object would cost a sync each).
    ///
    /// # Errors
    /// When the transaction fails.
    pub fn record_objects_metadata(
        &self,
        table: &str,
        detected: &[(String, serde_json::Value)],
    ) -> Result<()> {
        if detected.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now = now_utc();
        {
            let mut stmt = tx.prepare(
                "INSERT OR REPLACE INTO object_metadata (object_id, table_name, detected_json, \
                 detected_at) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (object_id, found) in detected {
                stmt.execute(params![object_id, table, found.to_string(), now])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// What detection found in `object_id` and in the members of it, per table, in the
    /// order they were recorded.
    ///
    /// # Errors
    /// When the query fails or a stored value is not JSON.
    pub fn object_metadata(&self, object_id: &str) -> Result<Vec<ObjectMetadata>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT object_id, table_name, detected_json, detected_at FROM object_metadata \
             WHERE object_id = ?1 OR substr(object_id, 1, length(?1) + 1) = ?1 || '!' \
             ORDER BY detected_at, object_id, table_name",
        )?;
        let rows = stmt
            .query_map(params![object_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(object_id, table_name, json, detected_at)| {
                Ok(ObjectMetadata {
                    object_id,
                    table_name,
                    detected: serde_json::from_str(&json)?,
                    detected_at,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_kept_per_object_member_and_table() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("keel.db")).unwrap();
        let json = |d: &str| serde_json::json!({ "delimiter": d });
        catalog
            .record_object_metadata("s/abc", "t", &json(";"))
            .unwrap();
        catalog
            .record_object_metadata("s/abc!a.csv", "t", &json(","))
            .unwrap();
        catalog
            .record_object_metadata("s/abcd", "t", &json("|"))
            .unwrap();
        // Detected again (a rebuild): replaced, not added.
        catalog
            .record_object_metadata("s/abc", "t", &json("\t"))
            .unwrap();
        let found = catalog.object_metadata("s/abc").unwrap();
        let mut seen: Vec<(&str, &serde_json::Value)> = found
            .iter()
            .map(|m| (m.object_id.as_str(), &m.detected))
            .collect();
        seen.sort_by_key(|(id, _)| *id);
        assert_eq!(
            seen,
            vec![("s/abc", &json("\t")), ("s/abc!a.csv", &json(","))]
        );
        assert!(catalog.object_metadata("s/none").unwrap().is_empty());
    }
}
