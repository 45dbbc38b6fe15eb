//! When a source is due: an interval (`"15m"`) or a cron expression (`"*/5 * * * *"`).

use std::str::FromStr;

use chrono::{DateTime, Utc};

/// A parsed `schedule`.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Every so often, counted from the last collection.
    Every(std::time::Duration),
    /// At the times a cron expression names (UTC; 5 fields, or 6 with seconds).
    Cron(Box<croner::Cron>),
}

impl Schedule {
    /// Parses an interval (`humantime` syntax: `90s`, `15m`, `1h 30m`) or a cron expression.
    ///
    /// # Errors
    /// When it is neither; the message shows both forms.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let text = text.trim();
        if let Ok(d) = humantime::parse_duration(text) {
            if d.is_zero() {
                return Err("an interval must be longer than zero".into());
            }
            return Ok(Schedule::Every(d));
        }
        croner::Cron::from_str(text)
            .map(|c| Schedule::Cron(Box::new(c)))
            .map_err(|e| {
                format!(
                    "`{text}` is neither an interval (`15m`) nor a cron expression \
                     (`*/5 * * * *`): {e}"
                )
            })
    }

    /// The first time after `last` (the previous collection) when the source is due; with
    /// no previous collection, now.
    pub fn next_due(&self, last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DateTime<Utc> {
        let Some(last) = last else { return now };
        match self {
            Schedule::Every(d) => last + chrono::Duration::from_std(*d).unwrap_or_default(),
            Schedule::Cron(c) => c.find_next_occurrence(&last, false).unwrap_or(now),
        }
    }
}

/// Parses a duration such as `2s`, `500ms`, `5m`.
///
/// # Errors
/// When it is not a duration; the message quotes it.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration (`500ms`, `2s`, `5m`): {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn intervals_and_cron() {
        let now = at("2026-01-01T10:07:00Z");
        let every = Schedule::parse("15m").unwrap();
        assert_eq!(every.next_due(None, now), now);
        assert_eq!(
            every.next_due(Some(at("2026-01-01T10:00:00Z")), now),
            at("2026-01-01T10:15:00Z")
        );
        let cron = Schedule::parse("*/5 * * * *").unwrap();
        assert_eq!(
            cron.next_due(Some(at("2026-01-01T10:01:00Z")), now),
            at("2026-01-01T10:05:00Z")
        );
        assert!(Schedule::parse("every tuesday").is_err());
        assert!(Schedule::parse("0s").is_err());
        assert_eq!(
            parse_duration("500ms").unwrap(),
            std::time::Duration::from_millis(500)
        );
    }
}
