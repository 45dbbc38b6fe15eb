//! `${ENV}` references in source declarations. Their values are secrets: they are expanded
//! only when a collector connects, and every message a collector produces passes through
//! [`Secrets::redact`] before it reaches a log, the catalog or an error.

use std::fmt;

/// Where `${NAME}` is looked up: the process environment, then the project's `.env` file
/// (`NAME=value` lines, `#` comments), as dbt and Dagster users expect.
#[derive(Default, Clone)]
pub struct Env {
    dotenv: std::collections::BTreeMap<String, String>,
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Env({} from .env)", self.dotenv.len())
    }
}

impl Env {
    /// The process environment and `<dir>/.env` when it exists.
    ///
    /// # Errors
    /// When `.env` exists but cannot be read.
    pub fn load(dir: &std::path::Path) -> std::io::Result<Env> {
        let path = dir.join(".env");
        if !path.is_file() {
            return Ok(Env::default());
        }
        let text = fs_err::read_to_string(&path)?;
        Ok(Env::parse(&text))
    }

    /// An environment with these `.env` lines.
    pub fn parse(text: &str) -> Env {
        let dotenv = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.strip_prefix("export ").unwrap_or(l).split_once('='))
            .map(|(k, v)| {
                let v = v.trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v);
                (k.trim().to_string(), v.to_string())
            })
            .collect();
        Env { dotenv }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<String> {
        std::env::var(name)
            .ok()
            .or_else(|| self.dotenv.get(name).cloned())
    }
}

/// The secret values expanded so far, to scrub them from any text.
#[derive(Default, Clone)]
pub struct Secrets {
    values: Vec<String>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({} redacted)", self.values.len())
    }
}

impl Secrets {
    /// No secrets yet.
    pub fn new() -> Self {
        Secrets::default()
    }

    /// Replaces every `${NAME}` of `template` by the environment variable `NAME`, remembering
    /// the values as secrets. `$${` writes a literal `${`.
    ///
    /// # Errors
    /// When a variable is not set or a reference is not closed; the message names the
    /// variable, never a value.
    pub fn expand(&mut self, template: &str, env: &Env) -> Result<String, String> {
        self.expand_with(template, |name| env.get(name))
    }

    /// [`Secrets::expand`] with variables looked up by `lookup` instead of the environment.
    ///
    /// # Errors
    /// As [`Secrets::expand`].
    pub fn expand_with(
        &mut self,
        template: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<String, String> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            if let Some(t) = tail.strip_prefix("$${") {
                out.push_str("${");
                rest = t;
            } else if let Some(t) = tail.strip_prefix("${") {
                let end = t
                    .find('}')
                    .ok_or_else(|| format!("unclosed `${{` in `{template}`"))?;
                let name = &t[..end];
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!("`${{{name}}}` is not an environment variable name"));
                }
                let value = lookup(name)
                    .ok_or_else(|| format!("environment variable `{name}` is not set"))?;
                if !value.is_empty() && !self.values.contains(&value) {
                    self.values.push(value.clone());
                }
                out.push_str(&value);
                rest = &t[end + 1..];
            } else {
                out.push('$');
                rest = &tail[1..];
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Remembers a value obtained otherwise (e.g. a password parsed from a URL).
    pub fn add(&mut self, value: &str) {
        if !value.is_empty() && !self.values.iter().any(|v| v == value) {
            self.values.push(value.to_string());
        }
    }

    /// `text` with every secret value (and its percent-encoded form) replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        // Longest first, so that a secret containing another is scrubbed whole.
        let mut values: Vec<&String> = self.values.iter().collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        for v in values {
            out = out.replace(v.as_str(), "***");
            let encoded = percent_encode(v);
            if encoded != *v {
                out = out.replace(&encoded, "***");
            }
        }
        out
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_and_redacts() {
        let env = |name: &str| (name == "TOKEN").then(|| "s3cr/et!".to_string());
        let mut s = Secrets::new();
        let url = s
            .expand_with("https://h/x?key=${TOKEN}&a=$${b}", env)
            .unwrap();
        assert_eq!(url, "https://h/x?key=s3cr/et!&a=${b}");
        assert_eq!(s.redact(&url), "https://h/x?key=***&a=${b}");
        assert_eq!(s.redact("error at key=s3cr%2Fet%21"), "error at key=***");
        let err = s.expand_with("${UNSET}", env).unwrap_err();
        assert!(err.contains("UNSET") && err.contains("not set"));
        assert!(s.expand_with("${a b}", env).is_err());
        assert!(s.expand_with("${TOKEN", env).is_err());
        assert_eq!(format!("{s:?}"), "Secrets(1 redacted)");
    }

    #[test]
    fn dotenv_lines() {
        let env = Env::parse("# comment\nA=1\nexport B=\"two words\"\n\nnot a line\n");
        assert_eq!(env.get("A").as_deref(), Some("1"));
        assert_eq!(env.get("B").as_deref(), Some("two words"));
        assert_eq!(env.get("KEEL_SURELY_UNSET_VARIABLE"), None);
    }
}
