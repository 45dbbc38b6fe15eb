//! Loading a project directory: `keel.toml`, `sources/*.toml`, `models/*.sql` (+ `.toml`)
//! and `glossary.toml`, validated so that every error names the file and the key.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::error::{CoreError, Result};
use crate::lake::Lake;
use crate::spec::{
    CollectorSpec, ColumnType, FormatKind, GlossarySpec, ModelSpec, ProjectSpec, SourceSpec,
};

/// The name of the project file.
pub const PROJECT_FILE: &str = "keel.toml";

/// A loaded, validated project.
#[derive(Debug, Clone)]
pub struct Project {
    /// The project directory.
    pub dir: PathBuf,
    /// `keel.toml` as written.
    pub spec: ProjectSpec,
    /// The profile in force, if any.
    pub profile: Option<String>,
    /// The lake, after profile overrides.
    pub lake: Lake,
    /// Catalog location, after profile overrides (`None`: SQLite in the lake).
    pub catalog: Option<String>,
    /// Sources, sorted by name.
    pub sources: Vec<Source>,
    /// Models, sorted by name.
    pub models: Vec<Model>,
    /// The glossary.
    pub glossary: GlossarySpec,
}

/// A source and the file it was declared in.
#[derive(Debug, Clone)]
pub struct Source {
    /// Source name (the file stem).
    pub name: String,
    /// Its `sources/<name>.toml`.
    pub path: PathBuf,
    /// What it declares.
    pub spec: SourceSpec,
}

impl Source {
    /// The formatted table this source feeds.
    pub fn table(&self) -> &str {
        self.spec.table.as_deref().unwrap_or(&self.name)
    }
}

/// A SQL model and its optional description file.
#[derive(Debug, Clone)]
pub struct Model {
    /// Model name (the file stem).
    pub name: String,
    /// Its `models/<name>.sql`.
    pub sql_path: PathBuf,
    /// The SELECT statement.
    pub sql: String,
    /// Its `models/<name>.toml`, if present.
    pub spec_path: Option<PathBuf>,
    /// What the `.toml` declares (defaults when absent).
    pub spec: ModelSpec,
}

impl Project {
    /// Loads the project in `dir`, applying `profile` when given.
    ///
    /// # Errors
    /// [`CoreError::Config`] naming the file and key for any malformed or inconsistent
    /// declaration, including a collector path that does not exist.
    pub fn load(dir: &Path, profile: Option<&str>) -> Result<Project> {
        let project_file = dir.join(PROJECT_FILE);
        if !project_file.is_file() {
            return Err(CoreError::config(
                &project_file,
                "no `keel.toml` here; run `keel init` or pass `--project DIR`",
            ));
        }
        let spec: ProjectSpec = read_toml(&project_file)?;
        let mut lake_rel = spec.lake.clone().unwrap_or_else(|| "lake".to_string());
        let mut catalog = spec.catalog.clone();
        if let Some(name) = profile {
            let Some(p) = spec.profiles.get(name) else {
                return Err(CoreError::config(
                    &project_file,
                    format!("profile `{name}` is not declared under `[profiles]`"),
                ));
            };
            if let Some(l) = &p.lake {
                lake_rel = l.clone();
            }
            if let Some(c) = &p.catalog {
                catalog = Some(c.clone());
            }
        }
        if let Some(c) = catalog.as_ref().filter(|c| *c != "sqlite") {
            return Err(CoreError::config(
                &project_file,
                format!("key `catalog`: `{c}` is not supported yet; use `sqlite`"),
            ));
        }
        let lake = Lake::new(dir.join(lake_rel));
        let sources = load_sources(dir)?;
        let models = load_models(dir)?;
        let glossary_path = dir.join("glossary.toml");
        let glossary = if glossary_path.is_file() {
            read_toml(&glossary_path)?
        } else {
            GlossarySpec::default()
        };
        let project = Project {
            dir: dir.to_path_buf(),
            spec,
            profile: profile.map(str::to_string),
            lake,
            catalog,
            sources,
            models,
            glossary,
        };
        project.validate()?;
        Ok(project)
    }

    /// The absolute root of a `files` collector.
    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }

    /// The source of this name.
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.name == name)
    }

    fn validate(&self) -> Result<()> {
        let retention = &self.spec.maintenance.vacuum_retention;
        let keel_toml = self.dir.join("keel.toml");
        let days = crate::schedule::parse_duration(retention)
            .map_err(|m| {
                CoreError::config(
                    &keel_toml,
                    format!("key `maintenance.vacuum_retention`: {m}"),
                )
            })?
            .as_secs_f64()
            / 86_400.0;
        if days < 7.0 {
            return Err(CoreError::config(
                &keel_toml,
                format!(
                    "key `maintenance.vacuum_retention`: `{retention}` is shorter than 7 days; \
                     readers of older versions and in-flight writers would lose files"
                ),
            ));
        }
        if let Some(problem) = self.spec.serve.problems().into_iter().next() {
            return Err(CoreError::config(&keel_toml, problem));
        }
        for source in &self.sources {
            validate_source(self, source)?;
        }
        crate::glossary::validate(self)?;
        Ok(())
    }
}

fn validate_collector(project: &Project, source: &Source) -> Result<()> {
    let err = |msg: String| CoreError::config(&source.path, msg);
    let duration = |key: &str, v: &str| {
        crate::schedule::parse_duration(v).map_err(|m| err(format!("key `collector.{key}`: {m}")))
    };
    let scheme = |key: &str, url: &str, allowed: &[&str]| {
        // A URL that starts with `${ENV}` gets its scheme when the collector expands it,
        // and the collector checks it then.
        let ok = url.starts_with("${")
            || url
                .split_once("://")
                .is_some_and(|(s, _)| allowed.contains(&s));
        if ok {
            Ok(())
        } else {
            Err(err(format!(
                "key `collector.{key}`: `{url}` must start with {}",
                allowed
                    .iter()
                    .map(|s| format!("`{s}://`"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            )))
        }
    };
    if let Some(s) = &source.spec.schedule {
        crate::schedule::Schedule::parse(s).map_err(|m| err(format!("key `schedule`: {m}")))?;
    }
    match &source.spec.collector {
        CollectorSpec::Files {
            path,
            stable_for,
            url,
            endpoint,
            region,
            access_key_id,
            secret_access_key,
            allow_http,
            ..
        } => {
            if let Some(d) = stable_for {
                duration("stable_for", d)?;
            }
            match url {
                None => {
                    let store_key = [
                        ("endpoint", endpoint.is_some()),
                        ("region", region.is_some()),
                        ("access_key_id", access_key_id.is_some()),
                        ("secret_access_key", secret_access_key.is_some()),
                        ("allow_http", *allow_http),
                    ]
                    .into_iter()
                    .find_map(|(key, set)| set.then_some(key));
                    if let Some(key) = store_key {
                        return Err(err(format!(
                            "key `collector.{key}`: only applies to an object store `url`"
                        )));
                    }
                    if path.is_empty() {
                        return Err(err(
                            "key `collector.path`: declare a directory `path` or an `s3://` `url`"
                                .into(),
                        ));
                    }
                    let root = project.resolve(path);
                    if !root.is_dir() {
                        return Err(err(format!(
                            "key `collector.path`: directory `{}` does not exist",
                            root.display()
                        )));
                    }
                }
                Some(url) => {
                    if !path.is_empty() {
                        return Err(err(
                            "key `collector.url`: declare exactly one of `path` and `url`".into(),
                        ));
                    }
                    scheme("url", url, &["s3"])?;
                    if let Some(e) = endpoint {
                        scheme("endpoint", e, &["http", "https"])?;
                        if e.starts_with("http://") && !allow_http {
                            return Err(err(format!(
                                "key `collector.endpoint`: `{e}` is plain HTTP; set \
                                 `allow_http = true` to allow it"
                            )));
                        }
                    }
                    // Secrets never sit in source files: keys are `${ENV}` references.
                    for (key, value) in [
                        ("access_key_id", access_key_id),
                        ("secret_access_key", secret_access_key),
                    ] {
                        if value.as_ref().is_some_and(|v| !v.contains("${")) {
                            return Err(err(format!(
                                "key `collector.{key}`: write a `${{ENV_VAR}}` reference, not \
                                 the value"
                            )));
                        }
                    }
                    if access_key_id.is_some() != secret_access_key.is_some() {
                        return Err(err(
                            "key `collector.secret_access_key`: declare both `access_key_id` \
                             and `secret_access_key`, or neither for a public bucket"
                                .into(),
                        ));
                    }
                }
            }
        }
        CollectorSpec::Http(h) => {
            scheme("url", &h.url, &["http", "https"])?;
            duration("backoff", &h.backoff)?;
            duration("timeout", &h.timeout)?;
            if let Some(w) = &h.window {
                for (key, v) in [
                    ("window.start", Some(&w.start)),
                    ("window.end", w.end.as_ref()),
                ] {
                    if let Some(v) = v {
                        chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|e| {
                            err(format!(
                                "key `collector.{key}`: `{v}` is not YYYY-MM-DD: {e}"
                            ))
                        })?;
                    }
                }
                if w.days == 0 {
                    return Err(err("key `collector.window.days`: must be at least 1".into()));
                }
            }
            if h.rate_limit.is_some_and(|r| r <= 0.0 || !r.is_finite()) {
                return Err(err(
                    "key `collector.rate_limit`: requests per second must be positive".into(),
                ));
            }
        }
        CollectorSpec::Sql(q) => {
            scheme(
                "url",
                &q.url,
                &["postgres", "postgresql", "mysql", "mariadb", "sqlite"],
            )?;
            match (&q.table, &q.query) {
                (Some(_), None) | (None, Some(_)) => {}
                _ => {
                    return Err(err(
                        "key `collector.table`: declare exactly one of `table` and `query`".into(),
                    ));
                }
            }
            if let Some(t) = &q.table
                && !t.split('.').all(|part| check_identifier(part).is_ok())
            {
                return Err(err(format!(
                    "key `collector.table`: `{t}` is not a plain (schema.)table name"
                )));
            }
            if let Some(c) = &q.cursor {
                check_identifier(c).map_err(|m| err(format!("key `collector.cursor`: {m}")))?;
            }
            if q.batch_rows == 0 {
                return Err(err("key `collector.batch_rows`: must be at least 1".into()));
            }
        }
        CollectorSpec::Mqtt(m) => {
            scheme("url", &m.url, &["mqtt", "tcp"])?;
            if m.topics.is_empty() {
                return Err(err(
                    "key `collector.topics`: subscribe to at least one topic".into(),
                ));
            }
            duration("batch_age", &m.batch_age)?;
            duration("idle", &m.idle)?;
        }
        CollectorSpec::Nats(n) => {
            scheme("url", &n.url, &["nats"])?;
            duration("idle", &n.idle)?;
        }
    }
    Ok(())
}

/// A counter is numeric, ordered by a declared date or timestamp column, and its series
/// columns are declared.
fn validate_counter(
    source: &Source,
    counter: &crate::spec::CounterSpec,
    data_type: ColumnType,
) -> std::result::Result<(), String> {
    if !matches!(data_type, ColumnType::Int64 | ColumnType::Float64) {
        return Err("only a numeric column can be a counter".into());
    }
    let columns = &source.spec.columns;
    let type_of = |name: &str| columns.iter().find(|c| c.name == name).map(|c| c.data_type);
    match type_of(&counter.order) {
        Some(ColumnType::Date | ColumnType::Timestamp) => {}
        Some(_) => {
            return Err(format!(
                "`order`: `{}` is not a date or timestamp",
                counter.order
            ));
        }
        None => {
            return Err(format!(
                "`order`: `{}` is not a declared column",
                counter.order
            ));
        }
    }
    for s in counter.series_columns(&source.spec.keys.primary) {
        if type_of(&s).is_none() {
            return Err(format!("`series`: `{s}` is not a declared column"));
        }
    }
    for (key, value) in [
        ("rollover", counter.rollover),
        ("max_per_hour", counter.max_per_hour),
    ] {
        if value.is_some_and(|v| v <= 0.0 || !v.is_finite()) {
            return Err(format!("`{key}` must be a positive number"));
        }
    }
    Ok(())
}

fn validate_source(project: &Project, source: &Source) -> Result<()> {
    let err = |msg: String| CoreError::config(&source.path, msg);
    check_identifier(source.table()).map_err(|m| err(format!("key `table`: {m}")))?;
    validate_collector(project, source)?;
    let mut names = BTreeSet::new();
    for (i, c) in source.spec.columns.iter().enumerate() {
        check_identifier(&c.name).map_err(|m| err(format!("key `columns[{i}].name`: {m}")))?;
        if !names.insert(c.name.as_str()) {
            return Err(err(format!(
                "key `columns[{i}].name`: `{}` is declared twice",
                c.name
            )));
        }
        let numeric = matches!(c.data_type, ColumnType::Int64 | ColumnType::Float64);
        if (c.min.is_some() || c.max.is_some()) && !numeric {
            return Err(err(format!(
                "key `columns[{i}]`: `min`/`max` only apply to numeric columns"
            )));
        }
    }
    for (i, c) in source.spec.columns.iter().enumerate() {
        if let Some(counter) = &c.counter {
            validate_counter(source, counter, c.data_type)
                .map_err(|m| err(format!("key `columns[{i}].counter`: {m}")))?;
        }
    }
    if source.spec.columns.is_empty() {
        return Err(err(
            "key `columns`: a source declares at least one column".into()
        ));
    }
    for key in &source.spec.keys.primary {
        if !names.contains(key.as_str()) {
            return Err(err(format!(
                "key `keys.primary`: `{key}` is not a declared column"
            )));
        }
    }
    if source.spec.format.dialects.is_empty() {
        return Err(err(
            "key `format.dialects`: declare at least one dialect".into()
        ));
    }
    validate_format(source)?;
    for (i, d) in source.spec.format.dialects.iter().enumerate() {
        for (canonical, from) in &d.columns {
            if !names.contains(canonical.as_str()) {
                return Err(err(format!(
                    "key `format.dialects[{i}].columns.{canonical}`: not a declared column"
                )));
            }
            let spec = from.to_spec();
            let key = format!("key `format.dialects[{i}].columns.{canonical}`");
            match &spec.fields {
                Some(_) if spec.field.is_some() || spec.from_name.is_some() => {
                    return Err(err(format!(
                        "{key}: `fields` cannot be given with `field` or `from_name`"
                    )));
                }
                Some(parts) if parts.is_empty() || parts.iter().any(|p| p.trim().is_empty()) => {
                    return Err(err(format!(
                        "{key}: `fields` lists one or more non-empty field names"
                    )));
                }
                Some(_) => {}
                None if spec.field.is_none() && spec.from_name.is_none() => {
                    return Err(err(format!("{key}: give `field`, `fields` or `from_name`")));
                }
                None => {}
            }
            let temporal = source
                .spec
                .columns
                .iter()
                .find(|c| &c.name == canonical)
                .is_some_and(|c| matches!(c.data_type, ColumnType::Date | ColumnType::Timestamp));
            if !temporal && (spec.timezone.is_some() || spec.ambiguous.is_some()) {
                return Err(err(format!(
                    "{key}: `timezone` and `ambiguous` apply to date and timestamp columns only"
                )));
            }
        }
        for c in &source.spec.columns {
            if c.required && !d.columns.contains_key(&c.name) {
                return Err(err(format!(
                    "key `format.dialects[{i}].columns`: required column `{}` is not mapped",
                    c.name
                )));
            }
        }
    }
    Ok(())
}

/// Checks the keys of `[format]` that only some kinds of format take.
fn validate_format(source: &Source) -> Result<()> {
    let err = |msg: String| CoreError::config(&source.path, msg);
    let format = &source.spec.format;
    if format.max_uncompressed_bytes == 0 {
        return Err(err(
            "key `format.max_uncompressed_bytes`: must be more than 0".into(),
        ));
    }
    for (i, d) in format.dialects.iter().enumerate() {
        if format.kind != FormatKind::Xlsx {
            let key = if d.sheet.is_some() {
                Some("sheet")
            } else if d.header_row.is_some() {
                Some("header_row")
            } else {
                None
            };
            if let Some(key) = key {
                return Err(err(format!(
                    "key `format.dialects[{i}].{key}`: only an `xlsx` format has sheets"
                )));
            }
        }
        if d.header_row == Some(0) {
            return Err(err(format!(
                "key `format.dialects[{i}].header_row`: rows are numbered from 1"
            )));
        }
    }
    Ok(())
}

/// Checks that a table, model or column name is a plain SQL identifier.
fn check_identifier(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` must be lower-case letters, digits and `_`"
        ))
    }
}

fn load_sources(dir: &Path) -> Result<Vec<Source>> {
    let mut sources = Vec::new();
    for path in files_with_extension(&dir.join("sources"), "toml")? {
        let name = file_stem(&path);
        let spec: SourceSpec = read_toml(&path)?;
        check_identifier(&name).map_err(|m| CoreError::config(&path, format!("file name: {m}")))?;
        sources.push(Source { name, path, spec });
    }
    Ok(sources)
}

fn load_models(dir: &Path) -> Result<Vec<Model>> {
    let models_dir = dir.join("models");
    let mut models = Vec::new();
    for sql_path in files_with_extension(&models_dir, "sql")? {
        let name = file_stem(&sql_path);
        check_identifier(&name)
            .map_err(|m| CoreError::config(&sql_path, format!("file name: {m}")))?;
        let sql = fs_err::read_to_string(&sql_path)?;
        let toml_path = models_dir.join(format!("{name}.toml"));
        let (spec_path, spec) = if toml_path.is_file() {
            let spec: ModelSpec = read_toml(&toml_path)?;
            spec.validate()
                .map_err(|m| CoreError::config(&toml_path, m))?;
            (Some(toml_path), spec)
        } else {
            (None, ModelSpec::default())
        };
        models.push(Model {
            name,
            sql_path,
            sql,
            spec_path,
            spec,
        });
    }
    for toml_path in files_with_extension(&models_dir, "toml")? {
        let name = file_stem(&toml_path);
        if !models.iter().any(|m| m.name == name) {
            return Err(CoreError::config(
                &toml_path,
                format!("describes model `{name}` but `models/{name}.sql` does not exist"),
            ));
        }
    }
    Ok(models)
}

fn files_with_extension(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in fs_err::read_dir(dir)? {
        let path = entry?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Reads and deserialises a TOML file; errors name the file, the line and the key.
pub fn read_toml<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = fs_err::read_to_string(path)?;
    toml::from_str(&text).map_err(|e| CoreError::config(path, e.to_string().trim_end().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_plain_sql_names() {
        assert!(check_identifier("daily_consumption").is_ok());
        assert!(check_identifier("Daily").is_err());
        assert!(check_identifier("1abc").is_err());
        assert!(check_identifier("a-b").is_err());
    }
}
