//! Domain metadata: the glossary's terms and the columns they are linked to, and the
//! descriptions and tags of source and model columns, checked against what the project
//! declares so that every error names the file and the key.
//!
//! A term is linked to a column from either side: `columns = ["zone.table.column"]` in
//! `glossary.toml`, or `glossary = "term"` on a column of `sources/<name>.toml` (its
//! formatted table) or `models/<name>.toml`. Names and synonyms are matched without regard
//! to case, so no two terms may share one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::error::{CoreError, Result};
use crate::project::Project;
use crate::spec::GlossaryTerm;

/// The file the glossary is declared in, relative to the project.
pub const GLOSSARY_FILE: &str = "glossary.toml";

/// What a source or model file says of one of its columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDoc {
    /// `formatted.<table>` or `exploitation.<model>`.
    pub dataset: String,
    /// The column.
    pub column: String,
    /// What it means.
    pub description: Option<String>,
    /// The glossary term it carries, as written.
    pub glossary: Option<String>,
    /// Tags such as `pii` or `unit:kWh`.
    pub tags: Vec<String>,
    /// The file it is declared in.
    pub path: PathBuf,
}

impl ColumnDoc {
    /// `zone.table.column`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.dataset, self.column)
    }
}

impl Project {
    /// The documented columns of every source (under its formatted table) and model, in
    /// file order. A source column without description, tags or term is still listed; its
    /// `unit` is a `unit:<unit>` tag.
    pub fn column_docs(&self) -> Vec<ColumnDoc> {
        let mut docs = Vec::new();
        for source in &self.sources {
            for c in &source.spec.columns {
                // A canonical unit is a tag too, so `unit:kWh` finds source and model
                // columns alike.
                let mut tags = c.tags.clone();
                if let Some(unit) = &c.unit {
                    let tag = format!("unit:{unit}");
                    if !tags.contains(&tag) {
                        tags.push(tag);
                    }
                }
                docs.push(ColumnDoc {
                    dataset: format!("formatted.{}", source.table()),
                    column: c.name.clone(),
                    description: c.description.clone(),
                    glossary: c.glossary.clone(),
                    tags,
                    path: source.path.clone(),
                });
            }
        }
        for model in &self.models {
            let Some(path) = &model.spec_path else {
                continue;
            };
            for c in &model.spec.columns {
                docs.push(ColumnDoc {
                    dataset: format!("exploitation.{}", model.name),
                    column: c.name.clone(),
                    description: c.description.clone(),
                    glossary: c.glossary.clone(),
                    tags: c.tags.clone(),
                    path: path.clone(),
                });
            }
        }
        docs
    }

    /// The term named `name`, or having it as a synonym (case does not matter).
    pub fn glossary_term(&self, name: &str) -> Option<&GlossaryTerm> {
        let wanted = name.trim().to_lowercase();
        self.glossary.terms.iter().find(|t| {
            t.name.to_lowercase() == wanted || t.synonyms.iter().any(|s| s.to_lowercase() == wanted)
        })
    }

    /// The columns (`zone.table.column`) linked to `term`, from the glossary and from the
    /// columns that name it, sorted.
    pub fn term_columns(&self, term: &GlossaryTerm) -> Vec<String> {
        let mut columns: BTreeSet<String> = term.columns.iter().cloned().collect();
        for doc in self.column_docs() {
            let carries = doc
                .glossary
                .as_deref()
                .and_then(|g| self.glossary_term(g))
                .is_some_and(|t| t.name == term.name);
            if carries {
                columns.insert(doc.qualified());
            }
        }
        columns.into_iter().collect()
    }
}

/// Checks the glossary and the columns' terms: no term or synonym twice, every linked
/// column declared by a source (its formatted table) or a model, every term a column
/// names declared.
///
/// A model's output columns are only known once its SQL is planned, so a linked
/// `exploitation.<model>.<column>` is checked against the model's documented columns when
/// its `.toml` documents any, and otherwise only for the model.
///
/// # Errors
/// [`CoreError::Config`] naming the file and the key.
pub(crate) fn validate(project: &Project) -> Result<()> {
    let glossary_path = project.dir.join(GLOSSARY_FILE);
    let err =
        |key: String, msg: String| CoreError::config(&glossary_path, format!("key `{key}`: {msg}"));
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (i, term) in project.glossary.terms.iter().enumerate() {
        if term.name.trim().is_empty() {
            return Err(err(
                format!("terms[{i}].name"),
                "a term needs a name".into(),
            ));
        }
        let words = std::iter::once((format!("terms[{i}].name"), &term.name)).chain(
            term.synonyms
                .iter()
                .enumerate()
                .map(|(j, s)| (format!("terms[{i}].synonyms[{j}]"), s)),
        );
        for (key, word) in words {
            let folded = word.trim().to_lowercase();
            if let Some(first) = seen.get(&folded) {
                return Err(err(
                    key,
                    format!("`{word}` is already declared at `{first}`; a word names one term"),
                ));
            }
            seen.insert(folded, key);
        }
    }
    let declared = declared_columns(project);
    for (i, term) in project.glossary.terms.iter().enumerate() {
        for (j, column) in term.columns.iter().enumerate() {
            check_column(&declared, column)
                .map_err(|m| err(format!("terms[{i}].columns[{j}]"), m))?;
        }
    }
    for source in &project.sources {
        check_terms(
            project,
            &source.path,
            source.spec.columns.iter().map(|c| c.glossary.as_deref()),
        )?;
    }
    for model in &project.models {
        if let Some(path) = &model.spec_path {
            check_terms(
                project,
                path,
                model.spec.columns.iter().map(|c| c.glossary.as_deref()),
            )?;
        }
    }
    Ok(())
}

/// What a dataset is known to hold: `Some(columns)` when they are declared, `None` for a
/// model whose `.toml` documents none.
fn declared_columns(project: &Project) -> BTreeMap<String, Option<BTreeSet<String>>> {
    let mut declared: BTreeMap<String, Option<BTreeSet<String>>> = BTreeMap::new();
    for source in &project.sources {
        let columns = declared
            .entry(format!("formatted.{}", source.table()))
            .or_insert_with(|| Some(BTreeSet::new()));
        if let Some(columns) = columns {
            columns.extend(source.spec.columns.iter().map(|c| c.name.clone()));
        }
    }
    for model in &project.models {
        let documented: BTreeSet<String> =
            model.spec.columns.iter().map(|c| c.name.clone()).collect();
        declared.insert(
            format!("exploitation.{}", model.name),
            (!documented.is_empty()).then_some(documented),
        );
    }
    declared
}

fn check_column(
    declared: &BTreeMap<String, Option<BTreeSet<String>>>,
    column: &str,
) -> std::result::Result<(), String> {
    let mut parts = column.splitn(3, '.');
    let (Some(zone), Some(table), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!(
            "`{column}` is not `zone.table.column` (`formatted.readings.consumption_kwh`)"
        ));
    };
    let dataset = format!("{zone}.{table}");
    match declared.get(&dataset) {
        None => Err(format!(
            "`{column}`: `{dataset}` is neither a source's formatted table nor a model"
        )),
        Some(Some(columns)) if !columns.contains(name) && zone == "exploitation" => Err(format!(
            "`{column}`: `models/{table}.toml` documents no column `{name}`; add it under \
             `[[columns]]`"
        )),
        Some(Some(columns)) if !columns.contains(name) => Err(format!(
            "`{column}`: `{dataset}` declares no column `{name}`"
        )),
        Some(_) => Ok(()),
    }
}

fn check_terms<'a>(
    project: &Project,
    path: &Path,
    terms: impl Iterator<Item = Option<&'a str>>,
) -> Result<()> {
    for (i, term) in terms.enumerate() {
        if let Some(term) = term
            && project.glossary_term(term).is_none()
        {
            return Err(CoreError::config(
                path,
                format!("key `columns[{i}].glossary`: `{term}` is not a term of `{GLOSSARY_FILE}`"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::{Model, Source};

    const SOURCE: &str = r#"
[collector]
kind = "sql"
url = "sqlite://crm.sqlite"
table = "customers"
[format]
kind = "ndjson"
[[format.dialects]]
name = "d"
[format.dialects.columns]
customer_id = "customer_id"
[[columns]]
name = "customer_id"
type = "string"
[[columns]]
name = "customer_name"
type = "string"
tags = ["pii"]
glossary = "customer"
[[columns]]
name = "heated_area_m2"
type = "float64"
unit = "m2"
"#;

    fn project(glossary: &str, model_toml: &str) -> Project {
        let dir = PathBuf::from("/p");
        Project {
            dir: dir.clone(),
            spec: toml::from_str("name = \"t\"").unwrap(),
            profile: None,
            lake: crate::Lake::new(dir.join("lake")),
            catalog: None,
            sources: vec![Source {
                name: "customers".into(),
                path: dir.join("sources/customers.toml"),
                spec: toml::from_str(SOURCE).unwrap(),
            }],
            models: vec![Model {
                name: "daily".into(),
                sql_path: dir.join("models/daily.sql"),
                sql: "SELECT 1 AS hdd".into(),
                spec_path: Some(dir.join("models/daily.toml")),
                spec: toml::from_str(model_toml).unwrap(),
            }],
            glossary: toml::from_str(glossary).unwrap(),
        }
    }

    const GLOSSARY: &str = r#"
[[terms]]
name = "customer"
definition = "Who pays"
owner = "sales"
synonyms = ["client"]
columns = ["formatted.customers.customer_id"]

[[terms]]
name = "heating degree days"
definition = "max(15.5 - t, 0)"
synonyms = ["HDD"]
columns = ["exploitation.daily.hdd"]
"#;

    const MODEL: &str = r#"
[[columns]]
name = "hdd"
description = "Degree days"
glossary = "hdd"
tags = ["unit:K·d"]
"#;

    fn message(p: &Project) -> String {
        validate(p).unwrap_err().to_string()
    }

    #[test]
    fn a_valid_glossary_links_terms_from_both_sides() {
        let p = project(GLOSSARY, MODEL);
        validate(&p).unwrap();
        let customer = p.glossary_term("Client").unwrap();
        assert_eq!(customer.name, "customer");
        assert_eq!(
            p.term_columns(customer),
            [
                "formatted.customers.customer_id",
                "formatted.customers.customer_name"
            ]
        );
        let hdd = p.glossary_term("heating degree days").unwrap();
        assert_eq!(p.term_columns(hdd), ["exploitation.daily.hdd"]);
        let docs = p.column_docs();
        let name = docs.iter().find(|d| d.column == "customer_name").unwrap();
        assert_eq!(name.tags, ["pii"]);
        assert_eq!(name.qualified(), "formatted.customers.customer_name");
        assert!(p.glossary_term("unknown").is_none());
        let area = docs.iter().find(|d| d.column == "heated_area_m2").unwrap();
        assert_eq!(area.tags, ["unit:m2"]);
    }

    #[test]
    fn an_unknown_linked_column_names_the_glossary_key() {
        let bad = GLOSSARY.replace("customers.customer_id", "customers.customer_no");
        let m = message(&project(&bad, MODEL));
        assert!(m.contains("glossary.toml"), "{m}");
        assert!(m.contains("key `terms[0].columns[0]`"), "{m}");
        assert!(m.contains("declares no column `customer_no`"), "{m}");

        let bad = GLOSSARY.replace("exploitation.daily.hdd", "exploitation.daily.cdd");
        let m = message(&project(&bad, MODEL));
        assert!(m.contains("key `terms[1].columns[0]`"), "{m}");

        let bad = GLOSSARY.replace("exploitation.daily.hdd", "exploitation.weekly.hdd");
        let m = message(&project(&bad, MODEL));
        assert!(
            m.contains("neither a source's formatted table nor a model"),
            "{m}"
        );

        let bad = GLOSSARY.replace("exploitation.daily.hdd", "hdd");
        let m = message(&project(&bad, MODEL));
        assert!(m.contains("is not `zone.table.column`"), "{m}");
    }

    #[test]
    fn a_model_without_documented_columns_accepts_any_of_its_columns() {
        let p = project(GLOSSARY, "");
        validate(&p).unwrap();
    }

    #[test]
    fn an_unknown_term_on_a_column_names_its_file_and_key() {
        let m = message(&project(
            GLOSSARY,
            &MODEL.replace("\"hdd\"\ntags", "\"cdd\"\ntags"),
        ));
        assert!(m.contains("models/daily.toml"), "{m}");
        assert!(
            m.contains("key `columns[0].glossary`: `cdd` is not a term"),
            "{m}"
        );

        let mut p = project(GLOSSARY, MODEL);
        p.sources[0].spec.columns[1].glossary = Some("buyer".into());
        let m = message(&p);
        assert!(m.contains("sources/customers.toml"), "{m}");
        assert!(m.contains("key `columns[1].glossary`"), "{m}");
    }

    #[test]
    fn a_duplicate_term_or_synonym_names_the_second_key() {
        let bad = GLOSSARY.replace("name = \"heating degree days\"", "name = \"Customer\"");
        let m = message(&project(&bad, MODEL));
        assert!(m.contains("key `terms[1].name`"), "{m}");
        assert!(m.contains("already declared at `terms[0].name`"), "{m}");

        let bad = GLOSSARY.replace("[\"HDD\"]", "[\"degree days\", \"client\"]");
        let m = message(&project(&bad, MODEL));
        assert!(m.contains("key `terms[1].synonyms[1]`"), "{m}");
        assert!(m.contains("`terms[0].synonyms[0]`"), "{m}");
    }
}
