//! What the values of each column are: numbers (with their decimal and thousands
//! separators), dates and timestamps (with their format), booleans or text, and which
//! null tokens they hold.
//!
//! Numbers: `1.5` and `1,5` say their decimal separator; `1.234,5`, `1,234.5`, `1 234,5`
//! and `1.234.567` say both separators; `1.234` and `1,234` could be either, and take the
//! decimal separator the rest of the column or file shows (else `.` for `1.234`, and for
//! `1,234` `,` unless the delimiter is `,`, which cannot go with a decimal comma). A column
//! is numeric when at least 80% of its non-null values are numbers.
//!
//! Dates: every candidate format that reads one of a column's first date-like values is
//! tried on all of them, and the one reading the most wins (the earlier one on a tie). When
//! day-first and month-first read the same values (no day above 12), day-first is taken
//! and the column is marked `ambiguous`. A numeric column whose name says date and whose
//! values lie in 20000–80000 holds spreadsheet serial dates (1954–2119).

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime};

use super::table::Table;
use super::{DetectedColumn, Hints, InferredType, NULL_TOKENS, NullSeen, SPREADSHEET_SERIAL};

/// What one value is, roughly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cell {
    /// A number.
    Number,
    /// A date or timestamp.
    Date,
    /// A boolean word.
    Bool,
    /// Anything else.
    Text,
}

/// The rough kind of `value` in a file delimited by `delimiter`.
pub(super) fn classify(value: &str, delimiter: u8) -> Cell {
    if number_shape(value, delimiter).is_some() {
        Cell::Number
    } else if date_like(value) && FORMATS.iter().any(|f| f.reads(value)) {
        Cell::Date
    } else if is_bool(value) {
        Cell::Bool
    } else {
        Cell::Text
    }
}

/// The null token `value` is, if it is one: [`NULL_TOKENS`] (with `-9999.0`-style forms
/// of the numeric ones) and the source's own words.
pub(super) fn null_token<'a>(value: &'a str, hints: &Hints) -> Option<&'a str> {
    if NULL_TOKENS.contains(&value) || hints.null_tokens.iter().any(|t| t == value) {
        return Some(value);
    }
    let mut unit = value;
    if let Some(pos) = value.find(['.', ','])
        && value[pos + 1..].bytes().all(|b| b == b'0')
    {
        unit = &value[..pos];
    }
    matches!(unit, "-9999" | "-999").then_some(value)
}

/// How a number is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct NumShape {
    /// The separator that is certainly the decimal one.
    pub decimal: Option<char>,
    /// The separator that is certainly the thousands one.
    pub thousands: Option<char>,
    /// `1.234`, `1,234`: this separator is either.
    pub ambiguous: Option<char>,
    /// `NaN`, `inf` or an exponent: a float.
    pub special: bool,
}

/// Separators a thousands group may use besides `.` and `,`: spaces and the Swiss `'`.
const GROUPING: [char; 4] = [' ', '\u{a0}', '\u{202f}', '\''];

/// How `value` is written as a number, if it is one; with a `,` delimiter a comma is never
/// a decimal separator.
pub(super) fn number_shape(value: &str, delimiter: u8) -> Option<NumShape> {
    let s = value.trim();
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    if s.is_empty() {
        return None;
    }
    if ["nan", "inf", "infinity"]
        .iter()
        .any(|w| s.eq_ignore_ascii_case(w))
    {
        return Some(NumShape {
            special: true,
            ..NumShape::default()
        });
    }
    if let Some(pos) = s.find(['e', 'E']) {
        let (mantissa, exponent) = (&s[..pos], &s[pos + 1..]);
        let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
        let digits = mantissa.bytes().filter(u8::is_ascii_digit).count();
        let dots = mantissa.bytes().filter(|&b| b == b'.').count();
        let ok = !exponent.is_empty()
            && exponent.bytes().all(|b| b.is_ascii_digit())
            && digits > 0
            && dots <= 1
            && digits + dots == mantissa.len();
        return ok.then_some(NumShape {
            decimal: (dots == 1).then_some('.'),
            special: true,
            ..NumShape::default()
        });
    }
    let comma_ok = delimiter != b',';
    if let Some(rest) = s.strip_prefix(['.', ',']) {
        let sep = if s.starts_with('.') { '.' } else { ',' };
        let ok = !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit());
        return (ok && (sep == '.' || comma_ok)).then_some(NumShape {
            decimal: Some(sep),
            ..NumShape::default()
        });
    }
    let mut groups: Vec<usize> = vec![0];
    let mut seps: Vec<char> = Vec::new();
    let mut leading_zero = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            if groups.len() == 1 && groups[0] == 0 && c == '0' {
                leading_zero = true;
            }
            *groups.last_mut()? += 1;
        } else if c == '.' || c == ',' || GROUPING.contains(&c) {
            if *groups.last()? == 0 {
                return None;
            }
            seps.push(c);
            groups.push(0);
        } else {
            return None;
        }
    }
    if *groups.last()? == 0 {
        return None;
    }
    let Some(&last) = seps.last() else {
        return Some(NumShape::default());
    };
    // A thousands grouping starts with 1–3 digits, not with a 0.
    let head_ok = (1..=3).contains(&groups[0]) && !leading_zero;
    let tail = *groups.last()?;
    let middle_ok = groups[1..groups.len() - 1].iter().all(|&g| g == 3);
    let decimal_sep = |c: char| c == '.' || (c == ',' && comma_ok);
    if seps.iter().all(|&c| c == last) {
        if seps.len() == 1 && (last == '.' || last == ',') {
            if tail == 3 && head_ok {
                return Some(NumShape {
                    ambiguous: Some(last),
                    ..NumShape::default()
                });
            }
            return decimal_sep(last).then_some(NumShape {
                decimal: Some(last),
                ..NumShape::default()
            });
        }
        return (head_ok && middle_ok && tail == 3).then_some(NumShape {
            thousands: Some(last),
            ..NumShape::default()
        });
    }
    let thousands = seps[0];
    let grouped = seps[..seps.len() - 1].iter().all(|&c| c == thousands);
    (grouped && thousands != last && decimal_sep(last) && head_ok && middle_ok).then_some(
        NumShape {
            decimal: Some(last),
            thousands: Some(thousands),
            ..NumShape::default()
        },
    )
}

fn is_bool(value: &str) -> bool {
    ["true", "false", "yes", "no"]
        .iter()
        .any(|w| value.eq_ignore_ascii_case(w))
}

/// How a candidate format is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reader {
    /// `NaiveDate`.
    Date,
    /// `NaiveDateTime`.
    Naive,
    /// `DateTime` with an offset.
    Offset,
    /// Eight digits `YYYYMMDD`.
    Compact,
}

/// A candidate date or timestamp format.
struct DateFormat {
    format: &'static str,
    reader: Reader,
    /// The month-first twin of a day-first format.
    twin: Option<&'static str>,
}

impl DateFormat {
    const fn new(format: &'static str, reader: Reader) -> DateFormat {
        DateFormat {
            format,
            reader,
            twin: None,
        }
    }

    const fn day_first(format: &'static str, reader: Reader, twin: &'static str) -> DateFormat {
        DateFormat {
            format,
            reader,
            twin: Some(twin),
        }
    }

    /// The date `value` holds in this format, if it reads it.
    fn date(&self, value: &str) -> Option<NaiveDate> {
        let date = match self.reader {
            Reader::Date => NaiveDate::parse_from_str(value, self.format).ok()?,
            Reader::Naive => NaiveDateTime::parse_from_str(value, self.format)
                .ok()?
                .date(),
            Reader::Offset => DateTime::parse_from_str(value, self.format)
                .ok()?
                .date_naive(),
            Reader::Compact => {
                if value.len() != 8 || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let n = |r: std::ops::Range<usize>| value[r].parse::<u32>().ok();
                NaiveDate::from_ymd_opt(n(0..4)? as i32, n(4..6)?, n(6..8)?)?
            }
        };
        (1800..=2200).contains(&date.year()).then_some(date)
    }

    fn reads(&self, value: &str) -> bool {
        self.date(value).is_some()
    }

    fn timestamp(&self) -> bool {
        matches!(self.reader, Reader::Naive | Reader::Offset)
    }
}

/// Candidate formats, most specific first within each family: a tie goes to the earlier.
/// An offset is read with `%#z`, which takes `Z`, `+01`, `+0100` and `+01:00`: such a value
/// is an instant whatever the column's time zone.
const FORMATS: &[DateFormat] = &[
    DateFormat::new("%Y-%m-%d", Reader::Date),
    DateFormat::new("%Y-%m-%dT%H:%M:%S%#z", Reader::Offset),
    DateFormat::new("%Y-%m-%dT%H:%M:%S%.f%#z", Reader::Offset),
    DateFormat::new("%Y-%m-%dT%H:%M%#z", Reader::Offset),
    DateFormat::new("%Y-%m-%dT%H:%M:%S", Reader::Naive),
    DateFormat::new("%Y-%m-%dT%H:%M:%S%.f", Reader::Naive),
    DateFormat::new("%Y-%m-%dT%H:%M", Reader::Naive),
    DateFormat::new("%Y-%m-%d %H:%M:%S", Reader::Naive),
    DateFormat::new("%Y-%m-%d %H:%M:%S%.f", Reader::Naive),
    DateFormat::new("%Y-%m-%d %H:%M:%S%#z", Reader::Offset),
    DateFormat::new("%Y-%m-%d %H:%M", Reader::Naive),
    DateFormat::new("%d.%m.%Y", Reader::Date),
    DateFormat::new("%d.%m.%Y %H:%M:%S", Reader::Naive),
    DateFormat::new("%d.%m.%Y %H:%M", Reader::Naive),
    DateFormat::day_first("%d/%m/%Y", Reader::Date, "%m/%d/%Y"),
    DateFormat::day_first("%d/%m/%Y %H:%M:%S", Reader::Naive, "%m/%d/%Y %H:%M:%S"),
    DateFormat::day_first("%d/%m/%Y %H:%M", Reader::Naive, "%m/%d/%Y %H:%M"),
    DateFormat::new("%m/%d/%Y", Reader::Date),
    DateFormat::new("%m/%d/%Y %H:%M:%S", Reader::Naive),
    DateFormat::new("%m/%d/%Y %H:%M", Reader::Naive),
    DateFormat::new("%Y/%m/%d", Reader::Date),
    DateFormat::new("%Y/%m/%d %H:%M:%S", Reader::Naive),
    COMPACT,
];

/// `YYYYMMDD`, which reads as an integer too.
const COMPACT: DateFormat = DateFormat::new("%Y%m%d", Reader::Compact);

/// Whether `value` could be a date at all: starts with a digit, 6–35 characters of digits
/// and date punctuation.
fn date_like(value: &str) -> bool {
    (6..=35).contains(&value.len())
        && value.as_bytes()[0].is_ascii_digit()
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || b"-/.:TZ +".contains(&b))
}

/// The date format of a column's non-null values.
struct DateGuess {
    format: &'static DateFormat,
    matched: usize,
    ambiguous: bool,
    /// Other formats that read some values, with how many.
    others: Vec<(&'static str, usize)>,
}

fn date_format(values: &[&str]) -> Option<DateGuess> {
    let probe: Vec<&str> = values
        .iter()
        .copied()
        .filter(|v| date_like(v))
        .take(5)
        .collect();
    if probe.is_empty() {
        return None;
    }
    let counts: Vec<(&'static DateFormat, usize)> = FORMATS
        .iter()
        .filter(|f| probe.iter().any(|v| f.reads(v)))
        .map(|f| (f, values.iter().filter(|v| f.reads(v)).count()))
        .collect();
    let (best, matched) = counts.iter().copied().fold(
        None,
        |best: Option<(&DateFormat, usize)>, (f, n)| match best {
            Some((_, b)) if b >= n => best,
            _ => Some((f, n)),
        },
    )?;
    if matched * 2 < values.len() {
        return None;
    }
    let twin_matched = best.twin.and_then(|twin| {
        counts
            .iter()
            .find(|(f, _)| f.format == twin)
            .map(|&(_, n)| n)
    });
    let others = counts
        .iter()
        .filter(|(f, n)| *n > 0 && f.format != best.format && Some(f.format) != best.twin)
        .map(|(f, n)| (f.format, *n))
        .collect();
    Some(DateGuess {
        format: best,
        matched,
        ambiguous: twin_matched == Some(matched),
        others,
    })
}

/// The value of a number written with `decimal` and `thousands`.
fn to_f64(value: &str, decimal: Option<char>, thousands: Option<char>) -> Option<f64> {
    let mut s: String = value
        .chars()
        .filter(|&c| Some(c) != thousands && !GROUPING.contains(&c))
        .collect();
    if decimal == Some(',') {
        s = s.replace(',', ".");
    }
    s.parse().ok()
}

/// What detection found about the columns.
pub(super) struct Columns {
    /// Per column.
    pub columns: Vec<DetectedColumn>,
    /// The file's decimal separator.
    pub decimal: char,
    /// The file's thousands separator.
    pub thousands: Option<char>,
    /// How sure the values are read right.
    pub confidence: f64,
    /// What a person should know.
    pub notes: Vec<String>,
}

/// Evidence for a column's separators.
#[derive(Default)]
struct Evidence {
    point: usize,
    comma: usize,
    ambiguous_point: usize,
    ambiguous_comma: usize,
    thousands: Vec<(char, usize)>,
}

impl Evidence {
    fn add(&mut self, shape: &NumShape) {
        match shape.decimal {
            Some('.') => self.point += 1,
            Some(',') => self.comma += 1,
            _ => {}
        }
        match shape.ambiguous {
            Some('.') => self.ambiguous_point += 1,
            Some(',') => self.ambiguous_comma += 1,
            _ => {}
        }
        if let Some(t) = shape.thousands {
            match self.thousands.iter_mut().find(|(c, _)| *c == t) {
                Some((_, n)) => *n += 1,
                None => self.thousands.push((t, 1)),
            }
        }
    }
}

/// Types, separators, date formats and nulls of the columns of `table`.
pub(super) fn columns(table: &Table, hints: &Hints) -> Columns {
    let delimiter = table.delimiter.unwrap_or(b',');
    let mut notes = Vec::new();
    let mut confidence = 1.0;
    let names: Vec<String> = (0..table.width)
        .map(|i| {
            table
                .header
                .as_ref()
                .and_then(|h| h.get(i))
                .cloned()
                .unwrap_or_else(|| format!("column_{}", i + 1))
        })
        .collect();
    // Pass 1: nulls, values and number shapes per column; the file's definite decimals.
    let mut per_column = Vec::with_capacity(table.width);
    let (mut file_point, mut file_comma) = (0usize, 0usize);
    for col in 0..table.width {
        let mut nulls: Vec<NullSeen> = Vec::new();
        let mut values: Vec<&str> = Vec::new();
        let mut shapes: Vec<Option<NumShape>> = Vec::new();
        let mut evidence = Evidence::default();
        for row in &table.rows {
            let v = row[col].as_str();
            if let Some(token) = null_token(v, hints) {
                match nulls.iter_mut().find(|n| n.token == token) {
                    Some(n) => n.count += 1,
                    None => nulls.push(NullSeen {
                        token: token.to_string(),
                        count: 1,
                    }),
                }
                continue;
            }
            let shape = number_shape(v, delimiter);
            if let Some(shape) = &shape {
                evidence.add(shape);
            }
            values.push(v);
            shapes.push(shape);
        }
        file_point += evidence.point;
        file_comma += evidence.comma;
        per_column.push((nulls, values, shapes, evidence));
    }
    let file_decimal = hints.decimal.or(match (file_point, file_comma) {
        (0, 0) => None,
        (p, c) if p >= c => Some('.'),
        _ => Some(','),
    });
    if file_point > 0 && file_comma > 0 && hints.decimal.is_none() {
        notes.push(format!(
            "both decimal separators occur: {file_point} numbers with `.`, {file_comma} with `,`"
        ));
        confidence *= 0.8;
    }
    // Pass 2: per column, separators, then the type.
    let mut columns = Vec::with_capacity(table.width);
    let mut decimals: Vec<char> = Vec::new();
    let mut thousands_seen: Vec<char> = Vec::new();
    for (col, (mut nulls, values, shapes, evidence)) in per_column.into_iter().enumerate() {
        let name = &names[col];
        nulls.sort_by(|a, b| b.count.cmp(&a.count).then(a.token.cmp(&b.token)));
        let (decimal, thousands, ambiguous_decimal) =
            separators(&evidence, file_decimal, delimiter);
        if ambiguous_decimal {
            notes.push(format!(
                "column `{name}`: every separator is followed by 3 digits (`1{}234`): \
                 read as the decimal separator `{}`",
                decimal.unwrap_or('.'),
                decimal.unwrap_or('.')
            ));
            confidence *= 0.9;
        }
        let n = values.len();
        let mut numeric = 0usize;
        let mut floats = 0usize;
        let mut unmatched_numbers: Vec<&str> = Vec::new();
        for (v, shape) in values.iter().zip(&shapes) {
            match shape.and_then(|s| fits(&s, decimal, thousands)) {
                Some(is_float) => {
                    numeric += 1;
                    floats += usize::from(is_float);
                }
                None => unmatched_numbers.push(*v),
            }
        }
        let mut column = DetectedColumn {
            name: name.clone(),
            inferred_type: InferredType::Text,
            decimal: None,
            thousands: None,
            date_format: None,
            ambiguous: false,
            nulls_seen: Vec::new(),
            unmatched: Vec::new(),
        };
        let mut unmatched: Vec<&str> = Vec::new();
        if n == 0 {
            column.inferred_type = InferredType::Empty;
        } else if numeric * 5 >= n * 4 {
            let mut fitted = values
                .iter()
                .zip(&shapes)
                .filter(|(_, s)| s.is_some_and(|s| fits(&s, decimal, thousands).is_some()));
            let serial = says_date(name)
                && fitted.all(|(v, _)| {
                    to_f64(v, decimal, thousands).is_some_and(|x| (20000.0..=80000.0).contains(&x))
                });
            let compact = floats == 0 && numeric == n && values.iter().all(|v| COMPACT.reads(v));
            unmatched = unmatched_numbers;
            if serial {
                column.inferred_type = InferredType::Date;
                column.date_format = Some(SPREADSHEET_SERIAL.to_string());
                notes.push(format!(
                    "column `{name}`: numbers in 20000–80000 under a date name: spreadsheet \
                     serial dates"
                ));
            } else if compact {
                column.inferred_type = InferredType::Date;
                column.date_format = Some("%Y%m%d".to_string());
            } else {
                column.inferred_type = if floats > 0 {
                    InferredType::Float
                } else {
                    InferredType::Int
                };
                column.decimal = if floats > 0 { decimal } else { None };
                column.thousands = thousands;
                if let Some(d) = column.decimal {
                    decimals.push(d);
                }
                if let Some(t) = thousands {
                    thousands_seen.push(t);
                }
            }
        } else if let Some(guess) = date_format(&values) {
            column.inferred_type = if guess.format.timestamp() {
                InferredType::Timestamp
            } else {
                InferredType::Date
            };
            column.date_format = Some(guess.format.format.to_string());
            column.ambiguous = guess.ambiguous;
            if guess.ambiguous {
                notes.push(format!(
                    "column `{name}`: `{}` and `{}` read every date (no day above 12): \
                     day-first assumed; declare `date_format` to be sure",
                    guess.format.format,
                    guess.format.twin.unwrap_or_default()
                ));
                confidence *= 0.9;
            }
            if guess.matched < n {
                unmatched = values
                    .iter()
                    .copied()
                    .filter(|v| !guess.format.reads(v))
                    .collect();
                if !guess.others.is_empty() {
                    let others: Vec<String> = guess
                        .others
                        .iter()
                        .map(|(f, k)| format!("{k} `{f}`"))
                        .collect();
                    notes.push(format!(
                        "column `{name}`: dates in more than one format: {} `{}`, {}",
                        guess.matched,
                        guess.format.format,
                        others.join(", ")
                    ));
                    confidence *= 0.9;
                }
            }
        } else if values.iter().filter(|v| is_bool(v)).count() * 5 >= n * 4 {
            column.inferred_type = InferredType::Bool;
            unmatched = values.iter().copied().filter(|v| !is_bool(v)).collect();
        }
        let mut examples: Vec<String> = Vec::new();
        for v in &unmatched {
            if examples.len() < 3 && !examples.iter().any(|e| e == v) {
                examples.push(v.to_string());
            }
        }
        if !examples.is_empty() {
            let shown: Vec<String> = examples.iter().map(|e| format!("`{e}`")).collect();
            notes.push(format!(
                "column `{name}`: {} values are not {}, e.g. {} (a word that means no value \
                 belongs in `null_tokens`)",
                unmatched.len(),
                column.inferred_type,
                shown.join(", ")
            ));
        }
        column.unmatched = examples;
        let numeric_type = matches!(
            column.inferred_type,
            InferredType::Int | InferredType::Float
        );
        for null in &nulls {
            let declared = hints.null_tokens.contains(&null.token);
            let sentinel = !NULL_TOKENS[..6].contains(&null.token.as_str());
            if numeric_type && sentinel && !declared && !null.token.is_empty() {
                notes.push(format!(
                    "column `{name}`: `{}` ×{} looks like a missing-value code: declare it in \
                     `null_tokens` if it is one",
                    null.token, null.count
                ));
            }
        }
        column.nulls_seen = nulls;
        columns.push(column);
    }
    let decimal = file_decimal
        .or_else(|| most_common(&decimals))
        .unwrap_or('.');
    if decimals.iter().any(|&d| d != decimal) {
        notes.push(format!(
            "some columns use another decimal separator than `{decimal}`"
        ));
    }
    Columns {
        columns,
        decimal,
        thousands: most_common(&thousands_seen),
        confidence,
        notes,
    }
}

/// A column's decimal and thousands separators from its evidence, and whether the decimal
/// one rests only on ambiguous `1.234`-like numbers and a default.
fn separators(
    e: &Evidence,
    file_decimal: Option<char>,
    delimiter: u8,
) -> (Option<char>, Option<char>, bool) {
    let mut ambiguous = false;
    let decimal = match (e.point, e.comma) {
        (p, c) if p > 0 && c == 0 => Some('.'),
        (p, c) if c > 0 && p == 0 => Some(','),
        (p, c) if p > 0 && c > 0 => file_decimal.or(Some(if p >= c { '.' } else { ',' })),
        _ if e.ambiguous_point + e.ambiguous_comma == 0 => None,
        _ => match file_decimal {
            Some(d) => Some(d),
            None => {
                ambiguous = true;
                if e.ambiguous_comma > 0 && delimiter != b',' {
                    Some(',')
                } else {
                    Some('.')
                }
            }
        },
    };
    let mut thousands = e.thousands.iter().max_by_key(|(_, n)| *n).map(|&(c, _)| c);
    if thousands.is_none() {
        // Ambiguous numbers read with the other separator are grouped thousands.
        thousands = match decimal {
            Some('.') if e.ambiguous_comma > 0 => Some(','),
            Some(',') if e.ambiguous_point > 0 => Some('.'),
            None if e.ambiguous_comma > 0 => Some(','),
            _ => None,
        };
    }
    if ambiguous && thousands.is_some() {
        ambiguous = false;
    }
    (decimal, thousands, ambiguous)
}

/// Whether a number of `shape` fits the column's separators, and then whether it is a
/// float.
fn fits(shape: &NumShape, decimal: Option<char>, thousands: Option<char>) -> Option<bool> {
    if shape.special {
        return Some(true);
    }
    if shape.thousands.is_some_and(|t| thousands != Some(t)) {
        return None;
    }
    if let Some(d) = shape.decimal {
        return (decimal == Some(d)).then_some(true);
    }
    match shape.ambiguous {
        Some(a) if decimal == Some(a) => Some(true),
        Some(a) if thousands == Some(a) => Some(false),
        Some(_) => None,
        None => Some(false),
    }
}

fn says_date(name: &str) -> bool {
    let name = name.to_lowercase();
    ["date", "datum", "dato", "fecha", "kuupäev"]
        .iter()
        .any(|w| name.contains(w))
}

fn most_common(items: &[char]) -> Option<char> {
    let mut best: Option<(char, usize)> = None;
    for &c in items {
        let n = items.iter().filter(|&&x| x == c).count();
        if best.is_none_or(|(_, b)| n > b) {
            best = Some((c, n));
        }
    }
    best.map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(v: &str) -> Option<NumShape> {
        number_shape(v, b';')
    }

    #[test]
    fn numbers_say_their_separators_or_that_they_cannot() {
        let dec = |d| NumShape {
            decimal: Some(d),
            ..NumShape::default()
        };
        assert_eq!(shape("12"), Some(NumShape::default()));
        assert_eq!(shape("-1.5"), Some(dec('.')));
        assert_eq!(shape("24,1"), Some(dec(',')));
        assert_eq!(
            shape("0.125"),
            Some(dec('.')),
            "a leading 0 is no thousands group"
        );
        assert_eq!(shape("1.234").and_then(|s| s.ambiguous), Some('.'));
        assert_eq!(shape("1,234").and_then(|s| s.ambiguous), Some(','));
        let both = shape("1.234,5").unwrap();
        assert_eq!((both.decimal, both.thousands), (Some(','), Some('.')));
        let both = shape("1,234.5").unwrap();
        assert_eq!((both.decimal, both.thousands), (Some('.'), Some(',')));
        let spaced = shape("1 234,5").unwrap();
        assert_eq!((spaced.decimal, spaced.thousands), (Some(','), Some(' ')));
        assert_eq!(shape("1.234.567").unwrap().thousands, Some('.'));
        assert!(shape("1e-3").unwrap().special);
        assert!(shape("NaN").unwrap().special);
        for text in ["12a", "1..2", "1.2.3", "5 2", "TUE", "", "-", "1,2.3,4"] {
            assert_eq!(shape(text), None, "{text}");
        }
        // With a `,` delimiter a comma is no decimal separator.
        assert_eq!(number_shape("24,1", b','), None);
        assert_eq!(
            number_shape("1,234", b',').and_then(|s| s.ambiguous),
            Some(',')
        );
    }

    #[test]
    fn dates_take_the_format_that_reads_them_and_flag_day_month_doubt() {
        let g = date_format(&["03/04/2019", "05/06/2019"]).unwrap();
        assert_eq!(g.format.format, "%d/%m/%Y");
        assert!(g.ambiguous);
        let g = date_format(&["03/04/2019", "12/31/2019"]).unwrap();
        assert_eq!(g.format.format, "%m/%d/%Y");
        assert!(!g.ambiguous);
        let g = date_format(&["31.12.2019", "1.1.2020"]).unwrap();
        assert_eq!(g.format.format, "%d.%m.%Y");
        let g = date_format(&["2018-01-02T23:00:00Z", "2018-01-03T00:00:00Z"]).unwrap();
        assert_eq!(g.format.format, "%Y-%m-%dT%H:%M:%S%#z");
        assert!(g.format.timestamp());
        let g = date_format(&["2018-01-02T23:00:00+01:00", "2018-01-03T00:00:00+0100"]).unwrap();
        assert_eq!(g.format.format, "%Y-%m-%dT%H:%M:%S%#z");
        let g = date_format(&["2019-01-01 00:00:00", "2019-01-01 01:00:00.5"]).unwrap();
        assert_eq!(g.format.format, "%Y-%m-%d %H:%M:%S%.f");
        assert!(date_format(&["12", "TUE"]).is_none());
    }

    #[test]
    fn null_tokens_include_numeric_codes_and_declared_words() {
        let hints = Hints {
            null_tokens: vec!["Calm".into()],
            ..Hints::default()
        };
        for v in [
            "", "-", "NA", "N/A", "null", "NULL", "-9999", "-999.0", "Calm",
        ] {
            assert_eq!(null_token(v, &hints), Some(v), "{v}");
        }
        for v in ["-9990", "0", "calm", "9999"] {
            assert_eq!(null_token(v, &hints), None, "{v}");
        }
    }
}
