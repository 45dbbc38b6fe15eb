//! What SQL the endpoints run: deny by default. A statement is read from the parser's tree
//! and only queries (`SELECT`, `WITH`, `VALUES`), plain `EXPLAIN` of a query, `SHOW`, a few
//! session settings and transaction brackets pass; every other statement, among them
//! DataFusion's `CREATE EXTERNAL TABLE` and `COPY`, and every relation outside the login's
//! zones (a file path, a URL, another zone) is refused with SQLSTATE 42501 before anything
//! is planned. What passes is planned, and the plan is checked again: no DDL, DML or
//! statement, and every scan one of the login's tables.

use datafusion::catalog::CatalogProvider;
use datafusion::common::TableReference;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::resolve::resolve_table_references;
use datafusion::sql::sqlparser::ast::{Expr, Set, Statement, Value};

use crate::query::{CATALOG, DEFAULT_SCHEMA, QueryError};

/// What a statement is, once it passed the allow-list.
#[derive(Debug, Clone, PartialEq)]
pub enum Allowed {
    /// A query (or `EXPLAIN` of one, or `SHOW`): planned and run.
    Query,
    /// `SET name = value` of a session setting keel honours or accepts.
    Set(Setting),
    /// `BEGIN` / `START TRANSACTION`: reads are consistent within a statement anyway.
    Begin,
    /// `COMMIT` / `END`.
    Commit,
    /// `ROLLBACK`.
    Rollback,
}

/// A session setting a client may change.
#[derive(Debug, Clone, PartialEq)]
pub enum Setting {
    /// `statement_timeout`: milliseconds (0: the server's limit).
    StatementTimeout(std::time::Duration),
    /// A setting drivers send on connect that changes nothing keel computes
    /// (`application_name`, `client_encoding` UTF8, `DateStyle` ISO, `extra_float_digits`,
    /// `search_path`, `TimeZone` UTC).
    Accepted(String),
}

/// Settings drivers send that keel accepts without effect.
const ACCEPTED_SETTINGS: &[&str] = &[
    "application_name",
    "client_encoding",
    "datestyle",
    "extra_float_digits",
    "search_path",
    "timezone",
    "intervalstyle",
    "client_min_messages",
];

/// The allow-list: what `statement` is, or why it is refused.
///
/// # Errors
/// `42501` for every statement that is not a query, a plain `EXPLAIN`, `SHOW`, an accepted
/// `SET` or a transaction bracket.
pub fn classify(statement: &DfStatement) -> Result<Allowed, QueryError> {
    let statement = match statement {
        DfStatement::Statement(statement) => statement,
        DfStatement::Explain(explain) => {
            return if explain.options.analyze {
                Err(refused("EXPLAIN ANALYZE (it runs the statement)"))
            } else if matches!(classify(&explain.statement)?, Allowed::Query) {
                Ok(Allowed::Query)
            } else {
                Err(refused("EXPLAIN of a statement that is not a query"))
            };
        }
        DfStatement::CreateExternalTable(_) => return Err(refused("CREATE EXTERNAL TABLE")),
        DfStatement::CopyTo(_) => return Err(refused("COPY")),
        DfStatement::Reset(_) => return Err(refused("RESET")),
    };
    match statement.as_ref() {
        Statement::Query(_) => Ok(Allowed::Query),
        Statement::Explain {
            analyze,
            statement,
            options,
            ..
        } => {
            let analyzes = *analyze
                || options.as_ref().is_some_and(|options| {
                    options
                        .iter()
                        .any(|o| o.name.value.eq_ignore_ascii_case("analyze"))
                });
            if analyzes {
                Err(refused("EXPLAIN ANALYZE (it runs the statement)"))
            } else if matches!(statement.as_ref(), Statement::Query(_)) {
                Ok(Allowed::Query)
            } else {
                Err(refused("EXPLAIN of a statement that is not a query"))
            }
        }
        Statement::ShowVariable { .. }
        | Statement::ShowTables { .. }
        | Statement::ShowColumns { .. } => Ok(Allowed::Query),
        Statement::StartTransaction { .. } => Ok(Allowed::Begin),
        Statement::Commit { .. } => Ok(Allowed::Commit),
        Statement::Rollback { .. } => Ok(Allowed::Rollback),
        Statement::Set(Set::SingleAssignment {
            variable, values, ..
        }) => setting(&variable.to_string(), values).map(Allowed::Set),
        other => Err(refused(&first_words(&other.to_string()))),
    }
}

/// The words a statement keel may run begins with (after comments and parentheses).
const READ_WORDS: &[&str] = &[
    "select", "with", "values", "table", "explain", "show", "set", "begin", "start", "commit",
    "end", "rollback", "abort",
];

/// Why SQL that did not parse is refused: `42501` when it does not even begin as a
/// statement keel runs (a `COPY ... FROM`, a `CREATE FUNCTION`, ...), the parser's error
/// (`42601`) otherwise.
pub fn unparsed(sql: &str, parse_error: String) -> QueryError {
    let word = sql
        .lines()
        .map(|line| line.split("--").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" ")
        .trim_start_matches(|c: char| c.is_whitespace() || c == '(')
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if word.is_empty() || READ_WORDS.contains(&word.as_str()) {
        QueryError::new("42601", parse_error)
    } else {
        refused(&word.to_ascii_uppercase())
    }
}

/// The setting `SET name = values` makes, or why it is refused.
fn setting(name: &str, values: &[Expr]) -> Result<Setting, QueryError> {
    let lower = name.to_ascii_lowercase();
    let value = match values {
        [Expr::Value(v)] => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
            Value::Number(n, _) => n.clone(),
            other => other.to_string(),
        },
        [Expr::Identifier(ident)] => ident.value.clone(),
        _ => {
            return Err(QueryError::new(
                "22023",
                format!("SET {name}: one value expected"),
            ));
        }
    };
    if lower == "statement_timeout" {
        return parse_timeout(&value).map(Setting::StatementTimeout);
    }
    if ACCEPTED_SETTINGS.contains(&lower.as_str()) {
        return Ok(Setting::Accepted(lower));
    }
    Err(refused(&format!("SET {name}")))
}

/// `statement_timeout`'s value: milliseconds as a number, or a number with a unit.
fn parse_timeout(value: &str) -> Result<std::time::Duration, QueryError> {
    let value = value.trim();
    if let Ok(ms) = value.parse::<u64>() {
        return Ok(std::time::Duration::from_millis(ms));
    }
    humantime::parse_duration(value).map_err(|_| {
        QueryError::new(
            "22023",
            format!("invalid value for statement_timeout: \"{value}\""),
        )
    })
}

/// Refuses every relation of `statement` that is not a table of the login's `zones` (or
/// `information_schema`), before planning: file paths and URLs among them.
///
/// # Errors
/// `42501` naming the first relation refused.
pub fn check_relations(
    statement: &DfStatement,
    catalog: &dyn CatalogProvider,
) -> Result<(), QueryError> {
    let (relations, _ctes) = resolve_table_references(statement, true)
        .map_err(|e| QueryError::new("42601", e.to_string()))?;
    for relation in relations {
        if !readable(&relation, catalog) {
            return Err(QueryError::new(
                "42501",
                format!("permission denied for table {relation}"),
            ));
        }
    }
    Ok(())
}

/// Checks a planned statement: no DDL, DML or statement (DataFusion's own verifier), and
/// every scan, inside subqueries too, a table of the login's catalog (a table function or
/// anything else that reads is refused).
///
/// # Errors
/// `42501` naming what is refused.
pub fn check_plan(plan: &LogicalPlan, catalog: &dyn CatalogProvider) -> Result<(), QueryError> {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(plan)
        .map_err(|e| QueryError::new("42501", e.to_string()))?;
    let mut refused_scan = None;
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && !readable(&scan.table_name, catalog)
        {
            refused_scan = Some(scan.table_name.to_string());
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .map_err(|e| QueryError::new("XX000", e.to_string()))?;
    match refused_scan {
        Some(name) => Err(QueryError::new(
            "42501",
            format!("permission denied for relation {name}"),
        )),
        None => Ok(()),
    }
}

/// Whether `relation` is a table of `catalog` (the login's zones) or of
/// `information_schema`.
fn readable(relation: &TableReference, catalog: &dyn CatalogProvider) -> bool {
    let resolved = relation.clone().resolve(CATALOG, DEFAULT_SCHEMA);
    if resolved.catalog.as_ref() != CATALOG {
        return false;
    }
    if resolved.schema.as_ref() == "information_schema" {
        return true;
    }
    catalog
        .schema(&resolved.schema)
        .is_some_and(|schema| schema.table_exist(&resolved.table))
}

fn refused(what: &str) -> QueryError {
    QueryError::new(
        "42501",
        format!("permission denied: keel serves read-only queries; {what} is not allowed"),
    )
}

/// The first two words of a statement (`CREATE TABLE`, `INSERT INTO`), for the refusal.
fn first_words(sql: &str) -> String {
    sql.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::parser::DFParserBuilder;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;

    fn parse(sql: &str) -> Result<DfStatement, QueryError> {
        DFParserBuilder::new(sql)
            .with_dialect(&PostgreSqlDialect {})
            .build()
            .and_then(|mut p| p.parse_statements())
            .map(|mut s| s.pop_front().unwrap())
            .map_err(|e| unparsed(sql, e.to_string()))
    }

    fn code(sql: &str) -> String {
        match parse(sql).and_then(|s| classify(&s)) {
            Ok(allowed) => format!("{allowed:?}"),
            Err(e) => e.code.to_string(),
        }
    }

    #[test]
    fn only_reads_pass_the_allow_list() {
        for sql in [
            "SELECT 1",
            "WITH t AS (SELECT 1 AS x) SELECT x FROM t",
            "VALUES (1), (2)",
            "EXPLAIN SELECT 1",
            "SHOW TABLES",
        ] {
            assert_eq!(code(sql), "Query", "{sql}");
        }
        for sql in [
            "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
            "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 's3://bucket/x'",
            "COPY (SELECT 1) TO '/tmp/out.csv'",
            "COPY t FROM '/tmp/in.csv'",
            "CREATE TABLE t (x INT)",
            "CREATE VIEW v AS SELECT 1",
            "DROP TABLE exploitation.daily_consumption",
            "INSERT INTO t VALUES (1)",
            "UPDATE t SET x = 1",
            "DELETE FROM t",
            "SET datafusion.execution.batch_size = 1",
            "SET datafusion.catalog.information_schema = false",
            "EXPLAIN ANALYZE SELECT 1",
            "EXPLAIN (ANALYZE) SELECT 1",
            "CREATE FUNCTION f() RETURNS INT AS 'select 1' LANGUAGE SQL",
            "RESET datafusion.execution.batch_size",
        ] {
            assert_eq!(code(sql), "42501", "{sql}");
        }
    }

    #[test]
    fn session_settings_drivers_send_are_accepted() {
        assert_eq!(
            classify(&parse("SET statement_timeout = 1500").unwrap()).unwrap(),
            Allowed::Set(Setting::StatementTimeout(std::time::Duration::from_millis(
                1500
            )))
        );
        assert_eq!(
            classify(&parse("SET statement_timeout = '2s'").unwrap()).unwrap(),
            Allowed::Set(Setting::StatementTimeout(std::time::Duration::from_secs(2)))
        );
        assert_eq!(
            code("SET application_name = 'psql'"),
            "Set(Accepted(\"application_name\"))"
        );
        assert_eq!(code("SET statement_timeout = 'soon'"), "22023");
        assert_eq!(code("SELECT * FROM ("), "42601");
        assert_eq!(code("BEGIN"), "Begin");
        assert_eq!(code("COMMIT"), "Commit");
        assert_eq!(code("ROLLBACK"), "Rollback");
    }
}
