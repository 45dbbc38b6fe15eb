//! `models/<name>.toml`: materialisation, incremental options, checks and column docs of a
//! SQL model.

use serde::Deserialize;

/// `models/<name>.toml`: how a SQL model is materialised, checked and described.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// What the model is.
    #[serde(default)]
    pub description: Option<String>,
    /// `table`, `view` or `incremental`.
    #[serde(default)]
    pub materialized: Materialization,
    /// How an `incremental` model takes new rows.
    #[serde(default)]
    pub incremental: Option<IncrementalSpec>,
    /// Columns whose values split the model's checks (each partition gets its own result).
    #[serde(default)]
    pub partition_by: Vec<String>,
    /// Quality checks run after each build.
    #[serde(default)]
    pub checks: Vec<CheckSpec>,
    /// Documentation of the model's columns.
    #[serde(default)]
    pub columns: Vec<ModelColumnSpec>,
}

impl ModelSpec {
    /// Checks the parts of the spec that serde cannot: the incremental options go with
    /// `incremental`, and each check has what its kind needs.
    ///
    /// # Errors
    /// A message naming what is wrong.
    pub fn validate(&self) -> std::result::Result<(), String> {
        match (self.materialized, &self.incremental) {
            (Materialization::Incremental, None) => {
                return Err(
                    "`materialized = \"incremental\"` needs an `[incremental]` table \
                            with `watermark` and/or `unique_key`"
                        .into(),
                );
            }
            (Materialization::Incremental, Some(i))
                if i.watermark.is_none() && i.unique_key.is_empty() =>
            {
                return Err(
                    "`[incremental]` needs `watermark` (append the rows past it) \
                            and/or `unique_key` (merge by it)"
                        .into(),
                );
            }
            (m, Some(_)) if m != Materialization::Incremental => {
                return Err("`[incremental]` is only for `materialized = \"incremental\"`".into());
            }
            _ => {}
        }
        let mut names = std::collections::BTreeSet::new();
        for check in &self.checks {
            check.validate()?;
            if !names.insert(check.name()) {
                return Err(format!(
                    "two checks are named `{}`; give one a `name`",
                    check.name()
                ));
            }
        }
        Ok(())
    }
}

/// Materialisations of a model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Materialization {
    /// A Delta table rebuilt in full when any input changed.
    #[default]
    Table,
    /// A view: the SQL runs when the model is read; nothing is stored.
    View,
    /// A Delta table that takes only what is new: the rows past its watermark (appended),
    /// or merged by its unique key.
    Incremental,
}

/// `[incremental]` of a model.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncrementalSpec {
    /// A column that grows with new data (a date, a timestamp, a sequence): a build reads
    /// only the rows whose value is past the largest one the table holds.
    #[serde(default)]
    pub watermark: Option<String>,
    /// Columns identifying a row: new rows replace those with the same key (a merge);
    /// without it, new rows are appended.
    #[serde(default)]
    pub unique_key: Vec<String>,
}

/// One `[[checks]]` entry of a model: what must hold of its rows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// The check's name (default: the kind and its columns, as `not_null_building_id`).
    #[serde(default)]
    pub name: Option<String>,
    /// What is checked.
    pub kind: CheckKind,
    /// `error` (the model's dependents are not built, the run fails) or `warn`.
    #[serde(default)]
    pub severity: Severity,
    /// The column checked (`not_null`, `accepted_values`, `range`, `relationships`,
    /// `freshness`).
    #[serde(default)]
    pub column: Option<String>,
    /// The columns checked (`not_null`, `unique`: unique over them together).
    #[serde(default)]
    pub columns: Vec<String>,
    /// The values allowed (`accepted_values`).
    #[serde(default)]
    pub values: Vec<toml::Value>,
    /// Lower bound, inclusive (`range`, `row_count`).
    #[serde(default)]
    pub min: Option<f64>,
    /// Upper bound, inclusive (`range`, `row_count`).
    #[serde(default)]
    pub max: Option<f64>,
    /// The table referred to, as `zone.table` or a model name (`relationships`).
    #[serde(default)]
    pub to: Option<String>,
    /// The column referred to in `to` (`relationships`; default: `column`).
    #[serde(default)]
    pub field: Option<String>,
    /// The largest accepted age of the newest value of `column`, as `36h` or `2 days`
    /// (`freshness`).
    #[serde(default)]
    pub max_age: Option<String>,
    /// A SQL boolean expression over the row; rows where it is not true fail
    /// (`expression`).
    #[serde(default)]
    pub expression: Option<String>,
}

impl CheckSpec {
    /// The check's name: declared, or made of its kind and columns.
    pub fn name(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        let mut parts = vec![self.kind.as_str().to_string()];
        parts.extend(self.column.iter().cloned());
        parts.extend(self.columns.iter().cloned());
        parts.join("_")
    }

    /// The columns of `column` and `columns` together.
    pub fn all_columns(&self) -> Vec<String> {
        self.column
            .iter()
            .chain(self.columns.iter())
            .cloned()
            .collect()
    }

    fn validate(&self) -> std::result::Result<(), String> {
        let name = self.name();
        let fail = |what: &str| Err(format!("check `{name}` ({}): {what}", self.kind.as_str()));
        let cols = self.all_columns();
        match self.kind {
            CheckKind::NotNull | CheckKind::Unique if cols.is_empty() => {
                fail("needs `column` or `columns`")
            }
            CheckKind::AcceptedValues if self.column.is_none() || self.values.is_empty() => {
                fail("needs `column` and `values`")
            }
            CheckKind::Range if self.column.is_none() => fail("needs `column`"),
            CheckKind::Range | CheckKind::RowCount if self.min.is_none() && self.max.is_none() => {
                fail("needs `min` and/or `max`")
            }
            CheckKind::Relationships if self.column.is_none() || self.to.is_none() => {
                fail("needs `column` and `to`")
            }
            CheckKind::Freshness => match (&self.column, &self.max_age) {
                (Some(_), Some(age)) => humantime::parse_duration(age)
                    .map(|_| ())
                    .or_else(|e| fail(&format!("`max_age = \"{age}\"`: {e}"))),
                _ => fail("needs `column` and `max_age`"),
            },
            CheckKind::Expression if self.expression.is_none() => fail("needs `expression`"),
            _ => Ok(()),
        }
    }
}

/// Kinds of model checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// No null in the columns.
    NotNull,
    /// No two rows share the columns' values.
    Unique,
    /// The column's values are among `values` (nulls pass).
    AcceptedValues,
    /// The column's values lie within `[min, max]` (nulls pass).
    Range,
    /// Every non-null value of the column exists in `to.field`.
    Relationships,
    /// The number of rows lies within `[min, max]`.
    RowCount,
    /// The newest value of the column is at most `max_age` old.
    Freshness,
    /// `expression` is true on every row.
    Expression,
}

impl CheckKind {
    /// The kind as written in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::NotNull => "not_null",
            CheckKind::Unique => "unique",
            CheckKind::AcceptedValues => "accepted_values",
            CheckKind::Range => "range",
            CheckKind::Relationships => "relationships",
            CheckKind::RowCount => "row_count",
            CheckKind::Freshness => "freshness",
            CheckKind::Expression => "expression",
        }
    }
}

/// What a failing check does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The model's dependents are not built and the run fails.
    #[default]
    Error,
    /// Reported and recorded; nothing stops.
    Warn,
}

impl Severity {
    /// The severity as written in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warn => "warn",
        }
    }
}

/// Documentation of a model column.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelColumnSpec {
    /// Column name.
    pub name: String,
    /// What it means.
    #[serde(default)]
    pub description: Option<String>,
    /// Glossary term it carries.
    #[serde(default)]
    pub glossary: Option<String>,
    /// Tags such as `pii` or `unit:kWh`.
    #[serde(default)]
    pub tags: Vec<String>,
}
