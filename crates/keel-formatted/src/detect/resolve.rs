//! A dialect's `auto` fields filled from one object's detection. What the dialect declares
//! always stands: detection only fills what it was asked for, and says where the object
//! disagrees with a declaration.

use super::{Detected, Escape, Hints};
use crate::plan::DialectPlan;

/// The date format a binding declared `auto` takes when its column shows no dates: RFC 3339,
/// a local date and time, or a date (see the `time` module).
const FALLBACK_DATE_FORMAT: &str = "iso8601";

impl DialectPlan {
    /// What the dialect fixes, as [`Hints`] for [`super::detect`]: every field not declared
    /// `auto` (so that what is detected about the rest is what the parser will see), except
    /// an undeclared preamble, which detection looks for to report it.
    pub fn hints(&self) -> Hints {
        Hints {
            encoding: (!self.auto.encoding).then_some(self.encoding),
            delimiter: (!self.auto.delimiter).then_some(self.delimiter),
            quote: (!self.auto.quote).then_some(self.quote),
            decimal: (!self.auto.decimal).then_some(self.decimal),
            preamble_lines: (!self.auto.preamble_lines && self.preamble_lines > 0)
                .then_some(self.preamble_lines),
            null_tokens: self.null_tokens.clone(),
        }
    }

    /// This dialect with its `auto` fields taken from `detected`, and notes for the log:
    /// what was filled in, and where the object disagrees with what is declared.
    pub fn resolve(&self, detected: &Detected) -> (DialectPlan, Vec<String>) {
        let mut plan = self.clone();
        let mut notes = Vec::new();
        let auto = &self.auto;
        let ascii = |c: char| u8::try_from(c).ok().filter(u8::is_ascii);
        if auto.encoding {
            plan.encoding = detected.encoding();
        }
        if auto.delimiter {
            match detected.delimiter.and_then(ascii) {
                Some(d) => plan.delimiter = d,
                None => notes.push(format!(
                    "delimiter `auto`: every line is one field; `{}` kept",
                    char::from(plan.delimiter)
                )),
            }
        }
        if auto.quote {
            if let Some(q) = ascii(detected.quote) {
                plan.quote = q;
            }
            plan.escape = match detected.escape {
                Escape::Doubled => None,
                Escape::Backslash => Some(b'\\'),
            };
        }
        if auto.decimal {
            plan.decimal = detected.decimal;
            // A declared thousands separator stands.
            if self.thousands.is_none() {
                plan.thousands = detected.thousands;
            }
        }
        if plan.decimal == ',' && plan.delimiter == b',' {
            // Only reachable with a declared decimal comma and a detected `,` delimiter (or
            // the reverse): the declaration wins, the detected half falls back.
            if auto.decimal {
                plan.decimal = '.';
            } else if auto.delimiter {
                plan.delimiter = self.delimiter;
            }
            notes.push(
                "a decimal comma cannot go with a `,` delimiter: the declared one kept".into(),
            );
        }
        if auto.preamble_lines {
            plan.preamble_lines = detected.preamble_lines;
        } else if detected.preamble_lines != plan.preamble_lines && !detected.binary {
            notes.push(format!(
                "the object seems to have {} preamble lines but the dialect reads {}: \
                 `preamble_lines` may need a fix",
                detected.preamble_lines, plan.preamble_lines
            ));
        }
        for &i in &auto.date_formats {
            let Some(binding) = plan.bindings.get_mut(i).and_then(Option::as_mut) else {
                continue;
            };
            let column = binding
                .field
                .as_deref()
                .and_then(|f| detected.columns.iter().find(|c| c.name == f));
            match column.and_then(|c| c.date_format.clone().map(|f| (c, f))) {
                Some((c, format)) => {
                    if c.ambiguous {
                        notes.push(format!(
                            "`{}`: day or month first cannot be told apart; `{format}` assumed",
                            c.name
                        ));
                    }
                    binding.date_format = format;
                }
                None => {
                    notes.push(format!(
                        "`{}`: no date format detected; `{FALLBACK_DATE_FORMAT}` used",
                        binding.field.as_deref().unwrap_or("?")
                    ));
                    binding.date_format = FALLBACK_DATE_FORMAT.to_string();
                }
            }
        }
        if detected.header.is_none() && !detected.columns.is_empty() && !detected.binary {
            notes.push(
                "no header row detected: fields are bound by header name, so the first row \
                 will be read as the header"
                    .into(),
            );
        }
        (plan, notes)
    }
}
