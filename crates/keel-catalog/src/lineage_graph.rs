//! Walking lineage: upstream from a dataset or column version down to the landing objects
//! it came from, downstream (impact analysis) from a column or dataset to every model and
//! column that uses it, transitively.
//!
//! ```text
//!  landing.<source> ─landed─► landing object ─formatted─► formatted.<table>@v ─column─►
//!     formatted.<table>.<column>@v ─identity|transformation|aggregation─► exploitation.<m>.<c>@w
//!                                  ─filter|join─► exploitation.<m>@w (its rows)
//!  <input dataset>@v ─read─► exploitation.<m>@w          (version lineage, `inputs_json`)
//! ```
//!
//! Nodes are named with the version they were read at (`formatted.weather@2`,
//! `exploitation.daily_consumption.hdd@3`): upstream of a version, every node is the version
//! that was actually read, so a rebuild never rewrites an older version's lineage.
//! Downstream, each model is taken at its latest version with recorded lineage, and each
//! edge says which version of its input that model version read.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::Serialize;

use crate::datasets::DatasetVersion;
use crate::lineage::{LineageKind, ROWS};
use crate::{Catalog, CatalogError, Result};

/// Where a lineage walk starts: `zone.table`, optionally one of its columns and a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineageTarget {
    /// `zone.table`.
    pub dataset: String,
    /// One of its columns.
    pub column: Option<String>,
    /// The dataset's version (default: its latest).
    pub version: Option<i64>,
}

impl LineageTarget {
    /// Parses `zone.table[.column][@version]`.
    ///
    /// # Errors
    /// When the text names no `zone.table`, or the version is not a number.
    pub fn parse(text: &str) -> Result<LineageTarget> {
        let (name, version) = match text.rsplit_once('@') {
            Some((name, v)) => {
                let v = v.parse::<i64>().map_err(|_| {
                    CatalogError::NotFound(format!(
                        "`{text}`: the version after `@` must be a number"
                    ))
                })?;
                (name, Some(v))
            }
            None => (text, None),
        };
        let mut parts = name.splitn(3, '.');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(zone), Some(table), column) if !zone.is_empty() && !table.is_empty() => {
                Ok(LineageTarget {
                    dataset: format!("{zone}.{table}"),
                    column: column.filter(|c| !c.is_empty()).map(str::to_string),
                    version,
                })
            }
            _ => Err(CatalogError::NotFound(format!(
                "`{text}`: name a dataset as `zone.table` (`formatted.readings`, \
                 `exploitation.daily_consumption`) or a column as `zone.table.column`"
            ))),
        }
    }
}

/// Which way a walk goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Towards what a dataset or column was made from.
    Upstream,
    /// Towards what uses it.
    Downstream,
}

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// A dataset version (for `filter` and `join` edges: the model's rows).
    Dataset,
    /// A column of a dataset version.
    Column,
    /// A landing source.
    Source,
    /// An object of persistent landing.
    LandingObject,
}

/// What the manifest knows of a landing object (never the collector's settings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectFacts {
    /// `<source>/<first 16 hex digits of sha256>`.
    pub object_id: String,
    /// The source that delivered it.
    pub source: String,
    /// The name it was delivered under.
    pub original_name: String,
    /// Its version under that name (1 for the first).
    pub version: i64,
    /// Its content hash.
    pub sha256: String,
    /// Its size.
    pub bytes: i64,
    /// When it was collected.
    pub ingested_at: String,
    /// Its path in the lake.
    pub persistent_path: String,
}

/// A node of a lineage graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    /// `zone.table@version`, `zone.table.column@version`, `landing.<source>` or
    /// `landing.<object id>`.
    pub id: String,
    /// What it is.
    #[serde(rename = "type")]
    pub kind: NodeKind,
    /// `zone.table` of a dataset or column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// The column's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The dataset's version (absent when the catalog does not know which was read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// The source of a source node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// A landing object's facts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectFacts>,
}

/// What an edge says: its `from` feeds its `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// Column lineage: passed through.
    Identity,
    /// Column lineage: an expression over it.
    Transformation,
    /// Column lineage: it feeds an aggregate or window function.
    Aggregation,
    /// Column lineage: it decides which rows of the model appear.
    Filter,
    /// Column lineage: a join key or condition of the model.
    Join,
    /// Version lineage: a model version read this dataset version.
    Read,
    /// A formatted table version holds this column.
    Column,
    /// A landing object's rows are in this formatted table version.
    Formatted,
    /// A source delivered this landing object.
    Landed,
}

impl EdgeKind {
    /// The name printed.
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Identity => "identity",
            EdgeKind::Transformation => "transformation",
            EdgeKind::Aggregation => "aggregation",
            EdgeKind::Filter => "filter",
            EdgeKind::Join => "join",
            EdgeKind::Read => "read",
            EdgeKind::Column => "column",
            EdgeKind::Formatted => "formatted",
            EdgeKind::Landed => "landed",
        }
    }
}

impl From<LineageKind> for EdgeKind {
    fn from(k: LineageKind) -> Self {
        match k {
            LineageKind::Identity => EdgeKind::Identity,
            LineageKind::Transformation => EdgeKind::Transformation,
            LineageKind::Aggregation => EdgeKind::Aggregation,
            LineageKind::Filter => EdgeKind::Filter,
            LineageKind::Join => EdgeKind::Join,
        }
    }
}

/// An edge: `from` feeds `to`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Edge {
    /// The node that feeds.
    pub from: String,
    /// The node fed.
    pub to: String,
    /// How.
    pub kind: EdgeKind,
    /// The version of `from`'s dataset that `to`'s version read, when the catalog knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_version: Option<i64>,
}

/// The result of a walk: nodes by id and edges, both in a stable order (its JSON form is
/// `keel lineage --format json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineageGraph {
    /// The node the walk started from.
    pub root: String,
    /// Which way it went.
    pub direction: Direction,
    /// Every node reached, by id.
    #[serde(serialize_with = "values")]
    pub nodes: BTreeMap<String, Node>,
    /// Every edge found.
    pub edges: BTreeSet<Edge>,
}

fn values<S: serde::Serializer>(
    nodes: &BTreeMap<String, Node>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(nodes.values())
}

impl LineageGraph {
    /// The edges into `id`.
    pub fn edges_into<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Edge> + 'a {
        self.edges.iter().filter(move |e| e.to == id)
    }

    /// The edges out of `id`.
    pub fn edges_from<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Edge> + 'a {
        self.edges.iter().filter(move |e| e.from == id)
    }
}

impl Catalog {
    /// Everything `target` was made from: the dataset versions its version read, down to
    /// the landing objects of the formatted tables; for a column, the input columns that
    /// feed it or decide its rows, through every model, down to formatted columns and their
    /// landing objects.
    ///
    /// # Errors
    /// When the dataset, version or column is unknown, or the catalog cannot be read.
    pub fn lineage_upstream(&self, target: &LineageTarget) -> Result<LineageGraph> {
        let root = self.resolve_target(target)?;
        let mut walk = Walk::new(self, Direction::Upstream);
        let id = match &target.column {
            Some(column) => walk.column_up(&target.dataset, column, Some(root))?,
            None => walk.dataset_up(&target.dataset, Some(root))?,
        };
        walk.graph.root = id;
        Ok(walk.graph)
    }

    /// Everything that uses `target` now (impact analysis): for a column, every model
    /// column it feeds and every model whose rows it decides, transitively through the
    /// columns reached; for a dataset, every model that read it, transitively. Models are
    /// taken at their latest version with recorded lineage; with `models`, only those named.
    ///
    /// # Errors
    /// When the dataset, version or column is unknown, or the catalog cannot be read.
    pub fn lineage_downstream(
        &self,
        target: &LineageTarget,
        models: Option<&BTreeSet<String>>,
    ) -> Result<LineageGraph> {
        let root = self.resolve_target(target)?;
        let mut walk = Walk::new(self, Direction::Downstream);
        walk.graph.root = match &target.column {
            Some(column) => walk.columns_down(&target.dataset, column, root, models)?,
            None => walk.datasets_down(&target.dataset, root, models)?,
        };
        Ok(walk.graph)
    }

    /// The version a walk starts at; checks that the dataset, version and column exist.
    fn resolve_target(&self, target: &LineageTarget) -> Result<i64> {
        let versions = self.dataset_versions(&target.dataset)?;
        let Some(latest) = versions.last() else {
            let known = self.versioned_datasets(None)?;
            return Err(CatalogError::NotFound(if known.is_empty() {
                format!(
                    "`{}` has no recorded version: the catalog records none yet (run `keel run`)",
                    target.dataset
                )
            } else {
                format!(
                    "`{}` has no recorded version (datasets: {})",
                    target.dataset,
                    known.join(", ")
                )
            }));
        };
        let version = target.version.unwrap_or(latest.version);
        // A formatted table also has versions the catalog does not list (compactions): any
        // version up to the latest is one the ledger can place objects in.
        let recorded = versions.iter().rev().find(|v| v.version <= version);
        let known = versions.iter().any(|v| v.version == version)
            || (is_formatted(&target.dataset) && version <= latest.version);
        let Some(schema_of) = recorded.filter(|_| known) else {
            let listed: Vec<String> = versions.iter().map(|v| v.version.to_string()).collect();
            return Err(CatalogError::NotFound(format!(
                "`{}` has no version {version} (versions: {})",
                target.dataset,
                listed.join(", ")
            )));
        };
        if let Some(column) = &target.column {
            let columns = column_names(schema_of);
            if !columns.is_empty() && !columns.contains(column) && !column.starts_with("_keel_") {
                return Err(CatalogError::NotFound(format!(
                    "`{}` has no column `{column}` at version {version} (columns: {})",
                    target.dataset,
                    columns.join(", ")
                )));
            }
        }
        Ok(version)
    }
}

/// The column names of a version's schema (empty when it does not read as one).
fn column_names(version: &DatasetVersion) -> Vec<String> {
    serde_json::from_str::<Vec<serde_json::Value>>(&version.schema_json)
        .map(|fields| {
            fields
                .iter()
                .filter_map(|f| f.get("name").and_then(|n| n.as_str()).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn zone(dataset: &str) -> &str {
    dataset.split_once('.').map_or(dataset, |(z, _)| z)
}

fn table(dataset: &str) -> &str {
    dataset.split_once('.').map_or(dataset, |(_, t)| t)
}

/// Whether the dataset is a formatted table or its quarantine: its versions hold landing
/// objects, found through the ledger.
fn is_formatted(dataset: &str) -> bool {
    matches!(zone(dataset), "formatted" | "quarantine")
}

fn dataset_id(dataset: &str, version: Option<i64>) -> String {
    match version {
        Some(v) => format!("{dataset}@{v}"),
        None => dataset.to_string(),
    }
}

fn column_id(dataset: &str, column: &str, version: Option<i64>) -> String {
    match version {
        Some(v) => format!("{dataset}.{column}@{v}"),
        None => format!("{dataset}.{column}"),
    }
}

struct Walk<'a> {
    catalog: &'a Catalog,
    graph: LineageGraph,
}

impl<'a> Walk<'a> {
    fn new(catalog: &'a Catalog, direction: Direction) -> Walk<'a> {
        Walk {
            catalog,
            graph: LineageGraph {
                root: String::new(),
                direction,
                nodes: BTreeMap::new(),
                edges: BTreeSet::new(),
            },
        }
    }

    /// Adds a node; `false` when it was there already (and so was walked).
    fn node(&mut self, node: Node) -> bool {
        if self.graph.nodes.contains_key(&node.id) {
            return false;
        }
        self.graph.nodes.insert(node.id.clone(), node);
        true
    }

    fn dataset_node(&mut self, dataset: &str, version: Option<i64>) -> (String, bool) {
        let id = dataset_id(dataset, version);
        let new = self.node(Node {
            id: id.clone(),
            kind: NodeKind::Dataset,
            dataset: Some(dataset.to_string()),
            column: None,
            version,
            source: None,
            object: None,
        });
        (id, new)
    }

    fn column_node(&mut self, dataset: &str, column: &str, version: Option<i64>) -> (String, bool) {
        let id = column_id(dataset, column, version);
        let new = self.node(Node {
            id: id.clone(),
            kind: NodeKind::Column,
            dataset: Some(dataset.to_string()),
            column: Some(column.to_string()),
            version,
            source: None,
            object: None,
        });
        (id, new)
    }

    fn edge(&mut self, from: String, to: String, kind: EdgeKind, input_version: Option<i64>) {
        self.graph.edges.insert(Edge {
            from,
            to,
            kind,
            input_version,
        });
    }

    /// The datasets a version read, with the versions read: its `inputs` as recorded, a
    /// view's inputs (`exploitation.<view>/<input>`) gathered into the view's version.
    fn inputs_of(&self, version: &DatasetVersion) -> Result<BTreeMap<String, Option<i64>>> {
        let mut out = BTreeMap::new();
        let mut through_views: BTreeMap<&str, BTreeMap<String, i64>> = BTreeMap::new();
        for (key, read) in &version.inputs {
            if key == "sql" || key.starts_with("landing.") {
                continue;
            }
            match key.split_once('/') {
                Some((view, inner)) => {
                    through_views
                        .entry(view)
                        .or_default()
                        .insert(inner.to_string(), *read);
                }
                // -1: the input did not exist when the version was built.
                None => {
                    out.insert(key.clone(), (*read >= 0).then_some(*read));
                }
            }
        }
        for (view, read) in through_views {
            // A view has no data version of its own: the one whose recorded inputs are
            // exactly what the reader read through it.
            let version = self
                .catalog
                .dataset_versions(view)?
                .into_iter()
                .rev()
                .find(|v| v.inputs == read)
                .map(|v| v.version);
            out.insert(view.to_string(), version);
        }
        Ok(out)
    }

    fn dataset_up(&mut self, dataset: &str, version: Option<i64>) -> Result<String> {
        let (id, new) = self.dataset_node(dataset, version);
        let Some(version) = version.filter(|_| new) else {
            return Ok(id);
        };
        if is_formatted(dataset) {
            self.objects_up(dataset, version, &id)?;
        } else if let Some(recorded) = self.catalog.dataset_version(dataset, Some(version))? {
            for (input, read) in self.inputs_of(&recorded)? {
                let from = self.dataset_up(&input, read)?;
                self.edge(from, id.clone(), EdgeKind::Read, read);
            }
        }
        Ok(id)
    }

    fn objects_up(&mut self, dataset: &str, version: i64, id: &str) -> Result<()> {
        let objects = if zone(dataset) == "quarantine" {
            self.catalog
                .quarantine_version_objects(table(dataset), version)?
        } else {
            self.catalog
                .table_version_objects(table(dataset), version)?
        };
        for o in objects {
            let source = format!("landing.{}", o.source);
            self.node(Node {
                id: source.clone(),
                kind: NodeKind::Source,
                dataset: None,
                column: None,
                version: None,
                source: Some(o.source.clone()),
                object: None,
            });
            let object = format!("landing.{}", o.object_id);
            self.node(Node {
                id: object.clone(),
                kind: NodeKind::LandingObject,
                dataset: None,
                column: None,
                version: None,
                source: None,
                object: Some(ObjectFacts {
                    object_id: o.object_id,
                    source: o.source,
                    original_name: o.original_name,
                    version: o.version,
                    sha256: o.sha256,
                    bytes: o.bytes,
                    ingested_at: o.ingested_at,
                    persistent_path: o.persistent_path,
                }),
            });
            self.edge(source, object.clone(), EdgeKind::Landed, None);
            self.edge(object, id.to_string(), EdgeKind::Formatted, None);
        }
        Ok(())
    }

    fn column_up(&mut self, dataset: &str, column: &str, version: Option<i64>) -> Result<String> {
        let (id, new) = self.column_node(dataset, column, version);
        let Some(version) = version.filter(|_| new) else {
            return Ok(id);
        };
        if zone(dataset) != "exploitation" {
            let from = self.dataset_up(dataset, Some(version))?;
            self.edge(from, id.clone(), EdgeKind::Column, Some(version));
            return Ok(id);
        }
        let lineage = self.catalog.column_lineage(table(dataset), version)?;
        let inputs = match self.catalog.dataset_version(dataset, Some(version))? {
            Some(recorded) => self.inputs_of(&recorded)?,
            None => BTreeMap::new(),
        };
        // The model's filters and joins decide which rows of every column appear: they
        // are upstream of each of its columns.
        for l in lineage
            .iter()
            .filter(|l| l.edge.output_column == column || l.edge.output_column == ROWS)
        {
            let read = inputs.get(&l.edge.input_dataset).copied().flatten();
            let from = self.column_up(&l.edge.input_dataset, &l.edge.input_column, read)?;
            self.edge(from, id.clone(), l.edge.kind.into(), read);
        }
        Ok(id)
    }

    /// The model versions that use a column now, walked breadth first.
    fn columns_down(
        &mut self,
        dataset: &str,
        column: &str,
        version: i64,
        models: Option<&BTreeSet<String>>,
    ) -> Result<String> {
        let (root, _) = self.column_node(dataset, column, Some(version));
        let mut queue = VecDeque::from([(dataset.to_string(), column.to_string(), root.clone())]);
        while let Some((dataset, column, from)) = queue.pop_front() {
            for user in self.catalog.column_users(&dataset, &column)? {
                if models.is_some_and(|m| !m.contains(&user.model)) {
                    continue;
                }
                let model = format!("exploitation.{}", user.model);
                let read = match self
                    .catalog
                    .dataset_version(&model, Some(user.model_version))?
                {
                    Some(recorded) => self.inputs_of(&recorded)?.get(&dataset).copied().flatten(),
                    None => None,
                };
                let to = if user.edge.output_column == ROWS {
                    self.dataset_node(&model, Some(user.model_version)).0
                } else {
                    let (to, new) = self.column_node(
                        &model,
                        &user.edge.output_column,
                        Some(user.model_version),
                    );
                    if new {
                        queue.push_back((
                            model.clone(),
                            user.edge.output_column.clone(),
                            to.clone(),
                        ));
                    }
                    to
                };
                self.edge(from.clone(), to, user.edge.kind.into(), read);
            }
        }
        Ok(root)
    }

    /// The models that read a dataset at their latest version, walked breadth first.
    fn datasets_down(
        &mut self,
        dataset: &str,
        version: i64,
        models: Option<&BTreeSet<String>>,
    ) -> Result<String> {
        let (root, _) = self.dataset_node(dataset, Some(version));
        let mut latest = Vec::new();
        for name in self.catalog.versioned_datasets(Some("exploitation"))? {
            let model = table(&name);
            if models.is_some_and(|m| !m.contains(model)) {
                continue;
            }
            if let Some(v) = self.catalog.latest_version(&name)? {
                let inputs = self.inputs_of(&v)?;
                latest.push((v, inputs));
            }
        }
        let mut queue = VecDeque::from([(dataset.to_string(), root.clone())]);
        while let Some((dataset, from)) = queue.pop_front() {
            for (reader, inputs) in &latest {
                let Some(read) = inputs.get(&dataset) else {
                    continue;
                };
                let (to, new) = self.dataset_node(&reader.name, Some(reader.version));
                if new {
                    queue.push_back((reader.name.clone(), to.clone()));
                }
                self.edge(from.clone(), to, EdgeKind::Read, *read);
            }
        }
        Ok(root)
    }
}

#[cfg(test)]
mod tests;
