//! `keel lineage DATASET[.COLUMN][@VERSION] [--upstream|--downstream]`: where a dataset or
//! column came from, down to its landing objects, or what uses it; as a tree, a JSON
//! document or a Graphviz digraph.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use keel_catalog::Catalog;
use keel_catalog::lineage_graph::{
    Direction, EdgeKind, LineageGraph, LineageTarget, Node, NodeKind,
};
use keel_core::Project;

use crate::cli::{LineageArgs, LineageFormat};
use crate::output::human_bytes;

/// Landing objects listed under a formatted table in the text tree (JSON lists them all).
const OBJECTS_SHOWN: usize = 5;

/// Prints the lineage of a dataset or column.
///
/// # Errors
/// When the dataset, version or column is unknown, or the catalog cannot be read.
pub fn lineage(project: &Project, args: &LineageArgs) -> anyhow::Result<u8> {
    let catalog = Catalog::open(&project.lake.catalog_db())?;
    let target = LineageTarget::parse(&args.target)?;
    let graph = if args.downstream {
        // Models whose files are gone stay in the catalog's history, not in the impact.
        let models: BTreeSet<String> = project.models.iter().map(|m| m.name.clone()).collect();
        catalog.lineage_downstream(&target, Some(&models))?
    } else {
        catalog.lineage_upstream(&target)?
    };
    let rendered = match args.format {
        LineageFormat::Text => text(&graph),
        LineageFormat::Json => serde_json::to_string_pretty(&graph)? + "\n",
        LineageFormat::Dot => dot(&graph),
    };
    print!("{rendered}");
    Ok(0)
}

/// The node's name as printed.
fn label(node: &Node) -> String {
    match node.kind {
        NodeKind::LandingObject => match &node.object {
            Some(o) => format!(
                "{}  {} ({}, ingested {})",
                o.object_id,
                o.original_name,
                human_bytes(o.bytes),
                o.ingested_at
            ),
            None => node.id.clone(),
        },
        NodeKind::Source => node.id.clone(),
        NodeKind::Dataset | NodeKind::Column => {
            let name = match (&node.dataset, &node.column) {
                (Some(d), Some(c)) => format!("{d}.{c}"),
                (Some(d), None) => d.clone(),
                _ => node.id.clone(),
            };
            match node.version {
                Some(v) => format!("{name} @{v}"),
                None => format!("{name} (version not recorded)"),
            }
        }
    }
}

/// A neighbour in the walk's direction, with every kind of edge that links them.
struct Neighbour<'a> {
    node: &'a Node,
    kinds: Vec<EdgeKind>,
    input_version: Option<i64>,
}

fn neighbours<'a>(graph: &'a LineageGraph, id: &str) -> Vec<Neighbour<'a>> {
    let mut by_node: BTreeMap<&str, Neighbour<'a>> = BTreeMap::new();
    for e in &graph.edges {
        let other = match graph.direction {
            Direction::Upstream if e.to == id => &e.from,
            Direction::Downstream if e.from == id => &e.to,
            _ => continue,
        };
        let Some(node) = graph.nodes.get(other) else {
            continue;
        };
        let n = by_node.entry(other.as_str()).or_insert(Neighbour {
            node,
            kinds: Vec::new(),
            input_version: e.input_version,
        });
        n.kinds.push(e.kind);
    }
    // What makes the values first, then what only decides the rows.
    let mut all: Vec<Neighbour<'a>> = by_node.into_values().collect();
    all.sort_by_key(|n| {
        n.kinds
            .iter()
            .all(|k| matches!(k, EdgeKind::Filter | EdgeKind::Join))
    });
    all
}

/// The tree of the walk from its root: under each node, what makes its values, then what
/// decides its rows; a node reached again says so instead of repeating its subtree, and
/// landing objects are listed by source, the first few of each in ingestion order.
fn text(graph: &LineageGraph) -> String {
    let mut out = String::new();
    let Some(root) = graph.nodes.get(&graph.root) else {
        return out;
    };
    let _ = writeln!(out, "{}", label(root));
    let mut seen = BTreeSet::from([graph.root.clone()]);
    subtree(graph, root, "", &mut seen, &mut out);
    if graph.edges.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            match graph.direction {
                Direction::Upstream => "(no recorded inputs)",
                Direction::Downstream => "(no model uses it)",
            }
        );
    }
    out
}

fn subtree(
    graph: &LineageGraph,
    node: &Node,
    prefix: &str,
    seen: &mut BTreeSet<String>,
    out: &mut String,
) {
    let all = neighbours(graph, &node.id);
    let (objects, others): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|n| n.node.kind == NodeKind::LandingObject);
    let mut by_source: BTreeMap<&str, Vec<&Node>> = BTreeMap::new();
    for o in &objects {
        let source = o.node.object.as_ref().map_or("?", |f| f.source.as_str());
        by_source.entry(source).or_default().push(o.node);
    }
    for objects in by_source.values_mut() {
        objects.sort_by_key(|o| {
            o.object
                .as_ref()
                .map(|f| (f.ingested_at.clone(), f.object_id.clone()))
        });
    }
    let count = others.len() + by_source.len();
    let mut i = 0;
    let branch = |i: usize| {
        let last = i + 1 == count;
        (
            format!("{prefix}{}", if last { "└── " } else { "├── " }),
            format!("{prefix}{}", if last { "    " } else { "│   " }),
        )
    };
    for n in &others {
        let (head, rest) = branch(i);
        i += 1;
        let kinds: Vec<&str> = n.kinds.iter().map(|k| k.as_str()).collect();
        let rows = if n.node.kind == NodeKind::Dataset
            && n.kinds
                .iter()
                .any(|k| matches!(k, EdgeKind::Filter | EdgeKind::Join))
        {
            " (its rows)"
        } else {
            ""
        };
        // Downstream, a model may have read an older version than the one shown.
        let read = match (graph.direction, n.input_version, node.version) {
            (Direction::Downstream, Some(read), Some(v)) if read != v => {
                format!(
                    " (read {} @{read})",
                    node.dataset.as_deref().unwrap_or("it")
                )
            }
            _ => String::new(),
        };
        let again = !seen.insert(n.node.id.clone());
        let _ = writeln!(
            out,
            "{head}{}: {}{rows}{read}{}",
            kinds.join(", "),
            label(n.node),
            if again { " (see above)" } else { "" }
        );
        if !again {
            subtree(graph, n.node, &rest, seen, out);
        }
    }
    for (source, objects) in &by_source {
        let (head, rest) = branch(i);
        i += 1;
        let _ = writeln!(
            out,
            "{head}formatted from landing.{source}: {} object{}",
            objects.len(),
            if objects.len() == 1 { "" } else { "s" }
        );
        let shown = objects.len().min(OBJECTS_SHOWN);
        let more = objects.len() - shown;
        for (j, o) in objects.iter().take(shown).enumerate() {
            let last = j + 1 == shown && more == 0;
            let _ = writeln!(
                out,
                "{rest}{}{}",
                if last { "└── " } else { "├── " },
                label(o)
            );
        }
        if more > 0 {
            let _ = writeln!(
                out,
                "{rest}└── … {more} more (`--format json` lists every object)"
            );
        }
    }
}

/// A Graphviz digraph of the walk: one arrow per pair of nodes, labelled with its kinds,
/// dashed when it only decides rows. A source's landing objects are drawn as one arrow per
/// formatted table version, with their count (JSON lists each object).
fn dot(graph: &LineageGraph) -> String {
    let mut out = String::from(
        "digraph lineage {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n",
    );
    for node in graph.nodes.values() {
        let (shape, style) = match node.kind {
            NodeKind::LandingObject => continue,
            NodeKind::Source => ("cylinder", "solid"),
            NodeKind::Dataset => ("folder", "solid"),
            NodeKind::Column => ("box", "rounded"),
        };
        let width = if node.id == graph.root {
            ", penwidth=2"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {} [label={}, shape={shape}, style={style}{width}];",
            quote(&node.id),
            quote(&label(node))
        );
    }
    // Objects formatted into a table version, counted per source; the kinds of the other
    // edges between the same two nodes on one arrow.
    let mut formatted: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut kinds: BTreeMap<(&str, &str), Vec<EdgeKind>> = BTreeMap::new();
    for e in &graph.edges {
        match e.kind {
            EdgeKind::Landed => {}
            EdgeKind::Formatted => {
                let source = graph
                    .nodes
                    .get(&e.from)
                    .and_then(|n| n.object.as_ref())
                    .map_or("?", |o| o.source.as_str());
                *formatted.entry((source, e.to.as_str())).or_default() += 1;
            }
            kind => kinds
                .entry((e.from.as_str(), e.to.as_str()))
                .or_default()
                .push(kind),
        }
    }
    for ((from, to), kinds) in kinds {
        // Dashed: it only decides which rows appear.
        let style = if kinds
            .iter()
            .all(|k| matches!(k, EdgeKind::Filter | EdgeKind::Join))
        {
            ", style=dashed"
        } else {
            ""
        };
        let label: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        let _ = writeln!(
            out,
            "  {} -> {} [label={}{style}];",
            quote(from),
            quote(to),
            quote(&label.join(", "))
        );
    }
    for ((source, to), n) in formatted {
        let _ = writeln!(
            out,
            "  {} -> {} [label={}];",
            quote(&format!("landing.{source}")),
            quote(to),
            quote(&format!(
                "formatted ({n} object{})",
                if n == 1 { "" } else { "s" }
            ))
        );
    }
    out.push_str("}\n");
    out
}

/// A DOT string literal.
fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_catalog::lineage_graph::{Edge, ObjectFacts};

    fn column(dataset: &str, column: &str, version: i64) -> Node {
        Node {
            id: format!("{dataset}.{column}@{version}"),
            kind: NodeKind::Column,
            dataset: Some(dataset.into()),
            column: Some(column.into()),
            version: Some(version),
            source: None,
            object: None,
        }
    }

    fn graph() -> LineageGraph {
        let mut nodes = vec![
            column("exploitation.m", "hdd", 3),
            column("formatted.w", "temp", 2),
            Node {
                id: "formatted.w@2".into(),
                kind: NodeKind::Dataset,
                dataset: Some("formatted.w".into()),
                column: None,
                version: Some(2),
                source: None,
                object: None,
            },
            Node {
                id: "landing.weather".into(),
                kind: NodeKind::Source,
                dataset: None,
                column: None,
                version: None,
                source: Some("weather".into()),
                object: None,
            },
        ];
        let mut edges: Vec<(String, String, EdgeKind)> = vec![
            (
                "formatted.w.temp@2".into(),
                "exploitation.m.hdd@3".into(),
                EdgeKind::Transformation,
            ),
            (
                "formatted.w@2".into(),
                "formatted.w.temp@2".into(),
                EdgeKind::Column,
            ),
        ];
        for i in 0..7 {
            let id = format!("landing.weather/{i:016}");
            nodes.push(Node {
                id: id.clone(),
                kind: NodeKind::LandingObject,
                dataset: None,
                column: None,
                version: None,
                source: None,
                object: Some(ObjectFacts {
                    object_id: format!("weather/{i:016}"),
                    source: "weather".into(),
                    original_name: format!("w{i}.json"),
                    version: 1,
                    sha256: "00".into(),
                    bytes: 2048,
                    ingested_at: "2024-01-01T00:00:00Z".into(),
                    persistent_path: format!("landing/persistent/weather/w{i}.json"),
                }),
            });
            edges.push(("landing.weather".into(), id.clone(), EdgeKind::Landed));
            edges.push((id, "formatted.w@2".into(), EdgeKind::Formatted));
        }
        LineageGraph {
            root: "exploitation.m.hdd@3".into(),
            direction: Direction::Upstream,
            nodes: nodes.into_iter().map(|n| (n.id.clone(), n)).collect(),
            edges: edges
                .into_iter()
                .map(|(from, to, kind)| Edge {
                    from,
                    to,
                    kind,
                    input_version: None,
                })
                .collect(),
        }
    }

    #[test]
    fn the_text_tree_lists_the_first_objects_of_each_source() {
        let text = text(&graph());
        let expected = "\
exploitation.m.hdd @3
└── transformation: formatted.w.temp @2
    └── column: formatted.w @2
        └── formatted from landing.weather: 7 objects
            ├── weather/0000000000000000  w0.json (2.0 KiB, ingested 2024-01-01T00:00:00Z)
            ├── weather/0000000000000001  w1.json (2.0 KiB, ingested 2024-01-01T00:00:00Z)
            ├── weather/0000000000000002  w2.json (2.0 KiB, ingested 2024-01-01T00:00:00Z)
            ├── weather/0000000000000003  w3.json (2.0 KiB, ingested 2024-01-01T00:00:00Z)
            ├── weather/0000000000000004  w4.json (2.0 KiB, ingested 2024-01-01T00:00:00Z)
            └── … 2 more (`--format json` lists every object)
";
        assert_eq!(text, expected);
    }

    #[test]
    fn the_digraph_counts_objects_per_source_and_quotes_names() {
        let dot = dot(&graph());
        assert!(dot.starts_with("digraph lineage {"), "{dot}");
        assert!(
            dot.contains(
                "\"landing.weather\" -> \"formatted.w@2\" [label=\"formatted (7 objects)\"];"
            ),
            "{dot}"
        );
        assert!(
            dot.contains(
                "\"formatted.w.temp@2\" -> \"exploitation.m.hdd@3\" [label=\"transformation\"];"
            ),
            "{dot}"
        );
        assert!(!dot.contains("w3.json"), "objects are counted, not drawn");
        // Two kinds between the same nodes share an arrow; one that only decides rows is
        // dashed.
        let mut g = graph();
        for (from, kind) in [
            ("formatted.w.temp@2", EdgeKind::Filter),
            ("formatted.w@2", EdgeKind::Join),
        ] {
            g.edges.insert(Edge {
                from: from.into(),
                to: "exploitation.m.hdd@3".into(),
                kind,
                input_version: None,
            });
        }
        let dot = super::dot(&g);
        assert!(
            dot.contains(
                "\"formatted.w.temp@2\" -> \"exploitation.m.hdd@3\" \
                 [label=\"transformation, filter\"];"
            ),
            "{dot}"
        );
        assert!(
            dot.contains(
                "\"formatted.w@2\" -> \"exploitation.m.hdd@3\" [label=\"join\", style=dashed];"
            ),
            "{dot}"
        );
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}
