//! `keel glossary [TERM]`: the glossary's terms with their owners and columns, or one term
//! (found by its name or a synonym) with its columns' descriptions and tags and everything
//! upstream and downstream of them, from the catalog's lineage walks.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use keel_catalog::Catalog;
use keel_catalog::lineage_graph::{Direction, LineageGraph, LineageTarget, NodeKind};
use keel_core::Project;
use keel_core::spec::GlossaryTerm;
use serde_json::{Value, json};

use crate::cli::{GlossaryArgs, GlossaryFormat};
use crate::output;

/// A term as listed.
#[derive(Debug)]
struct TermEntry<'a> {
    term: &'a str,
    definition: &'a str,
    owner: Option<&'a str>,
    synonyms: &'a [String],
    columns: Vec<String>,
}

/// A linked column with what it says of itself and its lineage.
#[derive(Debug)]
struct ColumnEntry {
    column: String,
    description: Option<String>,
    tags: Vec<String>,
    /// What it is made from (columns, the datasets whose rows decide it, sources).
    upstream: Vec<Reached>,
    /// What uses it: model columns and models whose rows it decides.
    downstream: Vec<Reached>,
    /// Why a walk could not be made (the column has no recorded version yet).
    lineage_error: Option<String>,
}

/// A node a walk reached, with how it is linked to its neighbour towards the column.
#[derive(Debug)]
struct Reached {
    /// `zone.table.column`, `zone.table` or `landing.<source>`.
    name: String,
    kind: NodeKind,
    version: Option<i64>,
    /// The kinds of the edges that link it (`identity`, `aggregation`, `filter`, ...).
    via: Vec<&'static str>,
    /// For a source: the landing objects reached.
    objects: Option<usize>,
}

impl TermEntry<'_> {
    fn to_json(&self) -> Value {
        json!({
            "term": self.term,
            "definition": self.definition,
            "owner": self.owner,
            "synonyms": self.synonyms,
            "columns": self.columns,
        })
    }
}

impl ColumnEntry {
    fn to_json(&self) -> Value {
        let mut v = json!({
            "column": self.column,
            "description": self.description,
            "tags": self.tags,
            "upstream": self.upstream.iter().map(Reached::to_json).collect::<Vec<_>>(),
            "downstream": self.downstream.iter().map(Reached::to_json).collect::<Vec<_>>(),
        });
        if let Some(e) = &self.lineage_error {
            v["lineage_error"] = json!(e);
        }
        v
    }
}

impl Reached {
    fn to_json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "type": self.kind,
            "via": self.via,
        });
        if let Some(version) = self.version {
            v["version"] = json!(version);
        }
        if let Some(n) = self.objects {
            v["objects"] = json!(n);
        }
        v
    }
}

/// Prints the glossary or one term.
///
/// # Errors
/// When the term is unknown, or the catalog cannot be read.
pub fn glossary(project: &Project, args: &GlossaryArgs) -> anyhow::Result<u8> {
    let Some(wanted) = &args.term else {
        let entries: Vec<TermEntry> = project
            .glossary
            .terms
            .iter()
            .map(|t| entry(project, t))
            .collect();
        match args.format {
            GlossaryFormat::Json => {
                let all: Vec<Value> = entries.iter().map(TermEntry::to_json).collect();
                println!("{}", serde_json::to_string_pretty(&all)?);
            }
            GlossaryFormat::Text if entries.is_empty() => {
                println!("(no terms: declare them in `glossary.toml`)")
            }
            GlossaryFormat::Text => {
                let mut t = output::table(&["term", "owner", "synonyms", "columns"]);
                for e in &entries {
                    t.add_row(vec![
                        e.term.to_string(),
                        e.owner.unwrap_or("").to_string(),
                        e.synonyms.join(", "),
                        e.columns.join("\n"),
                    ]);
                }
                println!("{t}");
            }
        }
        return Ok(0);
    };
    let Some(term) = project.glossary_term(wanted) else {
        let known: Vec<&str> = project
            .glossary
            .terms
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        anyhow::bail!(
            "`{wanted}` is neither a term nor a synonym of `glossary.toml` (terms: {})",
            known.join(", ")
        );
    };
    let catalog = Catalog::open(&project.lake.catalog_db())?;
    // Models whose files are gone stay in the catalog's history, not in the impact.
    let models: BTreeSet<String> = project.models.iter().map(|m| m.name.clone()).collect();
    let docs = project.column_docs();
    let head = entry(project, term);
    let mut columns = Vec::new();
    for column in &head.columns {
        let doc = docs.iter().find(|d| d.qualified() == *column);
        let mut entry = ColumnEntry {
            column: column.clone(),
            description: doc.and_then(|d| d.description.clone()),
            tags: doc.map(|d| d.tags.clone()).unwrap_or_default(),
            upstream: Vec::new(),
            downstream: Vec::new(),
            lineage_error: None,
        };
        let walks = LineageTarget::parse(column).and_then(|target| {
            Ok((
                catalog.lineage_upstream(&target)?,
                catalog.lineage_downstream(&target, Some(&models))?,
            ))
        });
        match walks {
            Ok((up, down)) => {
                entry.upstream = reached(&up);
                entry.downstream = reached(&down);
            }
            Err(e) => entry.lineage_error = Some(e.to_string()),
        }
        columns.push(entry);
    }
    match args.format {
        GlossaryFormat::Json => {
            let doc = json!({
                "term": head.term,
                "definition": head.definition,
                "owner": head.owner,
                "synonyms": head.synonyms,
                "columns": columns.iter().map(ColumnEntry::to_json).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        GlossaryFormat::Text => print!("{}", text(&head, &columns)),
    }
    Ok(0)
}

fn entry<'a>(project: &Project, term: &'a GlossaryTerm) -> TermEntry<'a> {
    TermEntry {
        term: &term.name,
        definition: &term.definition,
        owner: term.owner.as_deref(),
        synonyms: &term.synonyms,
        columns: project.term_columns(term),
    }
}

/// Every node of a walk but its root, landing objects counted under their source; upstream
/// with the kinds of the edges leaving it, downstream with those entering it.
fn reached(graph: &LineageGraph) -> Vec<Reached> {
    let mut objects: BTreeMap<&str, usize> = BTreeMap::new();
    for node in graph.nodes.values() {
        if let Some(o) = &node.object {
            *objects.entry(o.source.as_str()).or_default() += 1;
        }
    }
    let mut out = Vec::new();
    for node in graph.nodes.values() {
        if node.id == graph.root || node.kind == NodeKind::LandingObject {
            continue;
        }
        let edges: Vec<_> = match graph.direction {
            Direction::Upstream => graph.edges_from(&node.id).collect(),
            Direction::Downstream => graph.edges_into(&node.id).collect(),
        };
        let via: BTreeSet<&'static str> = edges.iter().map(|e| e.kind.as_str()).collect();
        let name = match (&node.dataset, &node.column) {
            (Some(d), Some(c)) => format!("{d}.{c}"),
            (Some(d), None) => d.clone(),
            _ => node.id.clone(),
        };
        let objects = match (node.kind, &node.source) {
            (NodeKind::Source, Some(s)) => Some(objects.get(s.as_str()).copied().unwrap_or(0)),
            _ => None,
        };
        out.push(Reached {
            name,
            kind: node.kind,
            version: node.version,
            via: via.into_iter().collect(),
            objects,
        });
    }
    // Columns first, then datasets (their rows), then sources.
    out.sort_by(|a, b| (rank(a.kind), &a.name).cmp(&(rank(b.kind), &b.name)));
    out
}

fn rank(kind: NodeKind) -> u8 {
    match kind {
        NodeKind::Column => 0,
        NodeKind::Dataset => 1,
        NodeKind::Source | NodeKind::LandingObject => 2,
    }
}

fn text(term: &TermEntry, columns: &[ColumnEntry]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", term.term);
    let _ = writeln!(out, "  definition: {}", term.definition);
    if let Some(owner) = term.owner {
        let _ = writeln!(out, "  owner: {owner}");
    }
    if !term.synonyms.is_empty() {
        let _ = writeln!(out, "  synonyms: {}", term.synonyms.join(", "));
    }
    if columns.is_empty() {
        let _ = writeln!(out, "  (no linked columns)");
    }
    for c in columns {
        let _ = writeln!(out);
        let tags = if c.tags.is_empty() {
            String::new()
        } else {
            format!("  [{}]", c.tags.join(", "))
        };
        let _ = writeln!(out, "{}{tags}", c.column);
        if let Some(d) = &c.description {
            let _ = writeln!(out, "  {d}");
        }
        if let Some(e) = &c.lineage_error {
            let _ = writeln!(out, "  lineage: {e}");
            continue;
        }
        for (title, list, empty) in [
            ("upstream", &c.upstream, "(no recorded inputs)"),
            ("downstream", &c.downstream, "(no model uses it)"),
        ] {
            let _ = writeln!(out, "  {title}:");
            if list.is_empty() {
                let _ = writeln!(out, "    {empty}");
            }
            for r in list {
                let mut line = format!("    {}", r.name);
                if let Some(v) = r.version {
                    let _ = write!(line, " @{v}");
                }
                if let Some(n) = r.objects {
                    let s = if n == 1 { "" } else { "s" };
                    let _ = write!(line, " ({n} landing object{s})");
                }
                // How a column is linked says something; a table's or source's edge does not.
                if r.kind == NodeKind::Column && !r.via.is_empty() {
                    let _ = write!(line, "  ({})", r.via.join(", "));
                }
                let _ = writeln!(out, "{line}");
            }
        }
    }
    out
}
