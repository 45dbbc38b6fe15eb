//! Domain metadata in the catalog: the glossary's terms, the columns linked to each, and the
//! description, term and tags of every documented column, as the project's files declare
//! them. They are replaced as a whole on every run, so `keel_catalog.glossary_terms`,
//! `glossary_columns`, `column_metadata` and `column_tags` always say what the files said
//! at the last run.

use keel_core::Project;
use rusqlite::params;

use crate::{Catalog, Result, now_utc};

impl Catalog {
    /// Replaces the recorded glossary and column metadata with the project's, in one
    /// transaction.
    ///
    /// # Errors
    /// When the transaction fails.
    pub fn record_domain_metadata(&self, project: &Project) -> Result<()> {
        let now = now_utc();
        let docs = project.column_docs();
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(
            "DELETE FROM glossary_terms; DELETE FROM glossary_columns; \
             DELETE FROM column_metadata; DELETE FROM column_tags;",
        )?;
        {
            let mut term_stmt = tx.prepare(
                "INSERT INTO glossary_terms (term, definition, owner, synonyms_json, \
                 recorded_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut link_stmt = tx.prepare(
                "INSERT OR IGNORE INTO glossary_columns (term, dataset, column_name) \
                 VALUES (?1, ?2, ?3)",
            )?;
            for term in &project.glossary.terms {
                term_stmt.execute(params![
                    term.name,
                    term.definition,
                    term.owner,
                    serde_json::to_string(&term.synonyms)?,
                    now
                ])?;
                for column in project.term_columns(term) {
                    if let Some((dataset, name)) = split_column(&column) {
                        link_stmt.execute(params![term.name, dataset, name])?;
                    }
                }
            }
            let mut doc_stmt = tx.prepare(
                "INSERT OR REPLACE INTO column_metadata (dataset, column_name, description, \
                 glossary_term, tags_json, declared_in) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let mut tag_stmt = tx.prepare(
                "INSERT OR IGNORE INTO column_tags (dataset, column_name, tag) \
                 VALUES (?1, ?2, ?3)",
            )?;
            for doc in &docs {
                // The term as the glossary names it, whichever synonym the column used.
                let term = doc
                    .glossary
                    .as_deref()
                    .map(|g| project.glossary_term(g).map_or(g, |t| t.name.as_str()));
                let declared_in = doc.path.strip_prefix(&project.dir).unwrap_or(&doc.path);
                doc_stmt.execute(params![
                    doc.dataset,
                    doc.column,
                    doc.description,
                    term,
                    serde_json::to_string(&doc.tags)?,
                    declared_in.to_string_lossy()
                ])?;
                for tag in &doc.tags {
                    tag_stmt.execute(params![doc.dataset, doc.column, tag])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}

/// `zone.table.column` as (`zone.table`, `column`).
fn split_column(column: &str) -> Option<(String, &str)> {
    let mut parts = column.splitn(3, '.');
    let (zone, table, name) = (parts.next()?, parts.next()?, parts.next()?);
    Some((format!("{zone}.{table}"), name))
}
