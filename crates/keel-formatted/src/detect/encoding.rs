//! The encoding of a sample: a byte-order mark, UTF-16 by its NUL bytes, binary content,
//! valid UTF-8, else the single-byte code page whose characters fit the text best.
//!
//! The single-byte heuristic, among windows-1252 (the superset of ISO-8859-1),
//! windows-1250 and ISO-8859-2: each candidate decodes the sample, and every non-ASCII
//! character it yields scores by how plausible it is where it stands:
//! - a C1 control character (bytes 0x80–0x9F in ISO-8859-x, the holes of the windows code
//!   pages) is impossible in text: −20;
//! - a letter scores 2 inside a word (beside another letter), 1 alone;
//! - `²`/`³` right after `m` (`m²`, `m³`) is a unit: 3;
//! - a common symbol (`°`, `€`, `£`, `§`, `±`, `×`, `½`, `«`, `»`, dashes, curly quotes,
//!   no-break space, ...) scores 1; any other symbol (`¤`, `¦`, `¨`, `˘`, `˝`, `¹`, ...) −1.
//!
//! The highest total wins; a tie goes to windows-1252, then windows-1250. So `Š`/`š`/`Ž`/`ž`
//! (the same bytes in windows-1250 and -1252) decide nothing, while `ť` (0x9D, a hole in
//! windows-1252), `ł` (0xB3, `³` in windows-1252), `ą` (0xB9, `¹`) or a C1 byte do.
//! A lone `°` (0xB0, the same in all three) stays windows-1252.

use encoding_rs::{Encoding, ISO_8859_2, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1250, WINDOWS_1252};

/// What the bytes say about their encoding.
pub(super) struct Guess {
    /// The encoding to decode with.
    pub encoding: &'static Encoding,
    /// Length of the byte-order mark to skip (0 without one).
    pub bom: usize,
    /// Why the sample is not text, when it is not.
    pub binary: Option<String>,
    /// How sure the guess is (0–1).
    pub confidence: f64,
    /// What the guess rests on, when it is not plain.
    pub notes: Vec<String>,
}

impl Guess {
    fn of(encoding: &'static Encoding) -> Guess {
        Guess {
            encoding,
            bom: 0,
            binary: None,
            confidence: 1.0,
            notes: Vec::new(),
        }
    }
}

/// Guesses the encoding of `sample`; a `declared` encoding is taken unless a BOM says
/// otherwise. `truncated`: the sample may end inside a character.
pub(super) fn guess(sample: &[u8], declared: Option<&'static Encoding>, truncated: bool) -> Guess {
    // A BOM overrides any declaration, as decoding does.
    if let Some((encoding, bom)) = Encoding::for_bom(sample) {
        return Guess {
            bom,
            ..Guess::of(encoding)
        };
    }
    let head = &sample[..sample.len().min(4096)];
    let declared_utf16 = declared.is_some_and(|e| e == UTF_16LE || e == UTF_16BE);
    if let Some(encoding) = declared.filter(|_| declared_utf16) {
        return Guess::of(encoding);
    }
    if let Some(encoding) = utf16_by_nuls(head) {
        let mut g = Guess::of(encoding);
        g.notes.push(format!(
            "{} without a BOM, recognised by the NUL byte of every ASCII character",
            encoding.name()
        ));
        g.confidence = 0.9;
        return g;
    }
    if let Some(reason) = binary(sample) {
        return Guess {
            binary: Some(reason),
            ..Guess::of(declared.unwrap_or(UTF_8))
        };
    }
    let (non_ascii, invalid) = utf8_counts(sample, truncated);
    if let Some(encoding) = declared {
        let mut g = Guess::of(encoding);
        if encoding == UTF_8 && invalid > 0 {
            let other = guess(sample, None, truncated).encoding;
            g.notes.push(format!(
                "{invalid} bytes are not valid UTF-8 (rows holding them are quarantined with \
                 rule `encoding`); `encoding = \"auto\"` would read the object as {}",
                other.name()
            ));
            g.confidence = 0.8;
        }
        return g;
    }
    if invalid == 0 {
        return Guess::of(UTF_8);
    }
    if non_ascii >= 10 * invalid {
        let mut g = Guess::of(UTF_8);
        g.notes.push(format!(
            "UTF-8 with {invalid} invalid bytes beside {non_ascii} valid non-ASCII characters: \
             rows holding them are quarantined with rule `encoding`"
        ));
        g.confidence = 0.9;
        return g;
    }
    single_byte(sample)
}

/// UTF-16 without a BOM: text that is mostly ASCII has a NUL in every other byte.
fn utf16_by_nuls(head: &[u8]) -> Option<&'static Encoding> {
    let pairs = head.len() / 2;
    if pairs < 2 {
        return None;
    }
    let zeros = |parity: usize| {
        head.chunks_exact(2)
            .filter(|pair| pair[parity] == 0)
            .count()
    };
    let (even, odd) = (zeros(0), zeros(1));
    // 30%: a text with some non-Latin characters still has many ASCII ones (digits,
    // delimiters, newlines); 5%: the other byte of a pair is almost never NUL.
    let many = |n: usize| n * 10 >= pairs * 3;
    let few = |n: usize| n * 20 <= pairs;
    if many(odd) && few(even) {
        Some(UTF_16LE)
    } else if many(even) && few(odd) {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// Why `sample` is not text: a NUL byte, or more than 1% control bytes other than tab,
/// line feed, carriage return, form feed and the DOS end-of-file mark.
fn binary(sample: &[u8]) -> Option<String> {
    if let Some(at) = sample.iter().position(|&b| b == 0) {
        return Some(format!(
            "a NUL byte at offset {at}: the object is binary, not text"
        ));
    }
    let controls = sample
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1a))
        .count();
    if controls >= 4 && controls * 100 > sample.len() {
        return Some(format!(
            "{controls} control bytes in {} bytes: the object is binary, not text",
            sample.len()
        ));
    }
    None
}

/// Non-ASCII characters and invalid bytes of `sample` read as UTF-8 (an incomplete
/// sequence at the end of a truncated sample is neither).
fn utf8_counts(sample: &[u8], truncated: bool) -> (usize, usize) {
    let end = if truncated {
        complete_utf8(sample)
    } else {
        sample.len()
    };
    let (mut non_ascii, mut invalid) = (0usize, 0usize);
    for chunk in sample[..end].utf8_chunks() {
        non_ascii += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        invalid += chunk.invalid().len();
    }
    (non_ascii, invalid)
}

/// The length of `sample` without an incomplete UTF-8 sequence at its very end.
fn complete_utf8(sample: &[u8]) -> usize {
    let n = sample.len();
    for back in 1..=3.min(n) {
        let b = sample[n - back];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: look further back for the lead byte
        }
        let len = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        return if len > back { n - back } else { n };
    }
    n
}

/// The single-byte code page whose characters fit `sample` best (see the module docs).
fn single_byte(sample: &[u8]) -> Guess {
    let mut best: Option<(i64, &'static Encoding, Vec<String>)> = None;
    let mut scores = Vec::new();
    // Candidates in tie-break order.
    for encoding in [WINDOWS_1252, WINDOWS_1250, ISO_8859_2] {
        let (text, _) = encoding.decode_without_bom_handling(sample);
        let (score, examples) = plausibility(&text);
        scores.push(format!("{} {score}", encoding.name()));
        if best.as_ref().is_none_or(|(b, _, _)| score > *b) {
            best = Some((score, encoding, examples));
        }
    }
    let Some((_, encoding, examples)) = best else {
        return Guess::of(WINDOWS_1252);
    };
    let mut g = Guess::of(encoding);
    g.confidence = 0.8;
    g.notes.push(format!(
        "not UTF-8: read as {} by its characters ({}; scores: {})",
        if encoding == WINDOWS_1252 {
            "windows-1252 (ISO-8859-1)"
        } else {
            encoding.name()
        },
        examples.join(", "),
        scores.join(", ")
    ));
    g
}

/// The plausibility score of the non-ASCII characters of `text`, and up to three of them
/// in context.
fn plausibility(text: &str) -> (i64, Vec<String>) {
    let mut score = 0i64;
    let mut examples: Vec<String> = Vec::new();
    let mut prev = ' ';
    for (i, c) in text.char_indices() {
        if !c.is_ascii() {
            let rest = &text[i + c.len_utf8()..];
            let next = rest.chars().next().unwrap_or(' ');
            score += i64::from(char_score(c, prev, next));
            if examples.len() < 3 {
                let before: String = text[..i]
                    .chars()
                    .rev()
                    .take(2)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                let after: String = rest.chars().take(2).collect();
                let example: String = format!("{before}{c}{after}")
                    .chars()
                    .map(|c| if c.is_control() { '·' } else { c })
                    .collect();
                let example = format!("`{}`", example.trim());
                if !examples.contains(&example) {
                    examples.push(example);
                }
            }
        }
        prev = c;
    }
    (score, examples)
}

fn char_score(c: char, prev: char, next: char) -> i32 {
    if c.is_control() || c == '\u{fffd}' {
        return -20;
    }
    if c.is_alphabetic() {
        return if prev.is_alphabetic() || next.is_alphabetic() {
            2
        } else {
            1
        };
    }
    match c {
        '²' | '³' if matches!(prev, 'm' | 'M') => 3,
        '°' | '€' | '£' | '§' | '±' | '×' | '÷' | '·' | '«' | '»' | '\u{a0}' | '–' | '—' | '‘'
        | '’' | '‚' | '“' | '”' | '„' | '…' | '•' | '‰' | '™' | '©' | '®' | '½' | '¼' | '¾'
        | '¿' | '¡' | '¢' | '¥' | '²' | '³' => 1,
        _ => -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(text: &str, encoding: &'static Encoding) -> Vec<u8> {
        let (bytes, _, unmappable) = encoding.encode(text);
        assert!(!unmappable, "{text} in {}", encoding.name());
        bytes.into_owned()
    }

    #[test]
    fn central_european_letters_pick_their_code_page() {
        let czech = "jméno;město\nPříliš žluťoučký kůň;Plzeň\n";
        assert_eq!(
            guess(&encode(czech, WINDOWS_1250), None, false).encoding,
            WINDOWS_1250
        );
        let polish = "nazwa;miasto\nZażółć gęślą jaźń;Łódź\n";
        assert_eq!(
            guess(&encode(polish, WINDOWS_1250), None, false).encoding,
            WINDOWS_1250
        );
        assert_eq!(
            guess(&encode(polish, ISO_8859_2), None, false).encoding,
            ISO_8859_2
        );
    }

    #[test]
    fn western_text_and_units_stay_windows_1252() {
        for text in [
            "Temperatur °C;Volumen m³\n1;2\n",
            "navn;by\nSøren Ærø;Århus\n",
            "nom;ville\nFrançois;Besançon\n",
        ] {
            let g = guess(&encode(text, WINDOWS_1252), None, false);
            assert_eq!(g.encoding, WINDOWS_1252, "{text}");
            assert!(g.notes[0].contains("not UTF-8"), "{:?}", g.notes);
        }
    }

    #[test]
    fn boms_utf16_and_binary_are_recognised() {
        assert_eq!(guess(b"\xEF\xBB\xBFa,b\n", None, false).bom, 3);
        let utf16le: Vec<u8> = "a;b\n1;2\n"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        assert_eq!(guess(&utf16le, None, false).encoding, UTF_16LE);
        let utf16be: Vec<u8> = "a;b\n1;2\n"
            .encode_utf16()
            .flat_map(|u| u.to_be_bytes())
            .collect();
        assert_eq!(guess(&utf16be, None, false).encoding, UTF_16BE);
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\x01\0";
        assert!(guess(png, None, false).binary.is_some());
        // A declared encoding does not hide binary content.
        assert!(guess(png, Some(WINDOWS_1250), false).binary.is_some());
    }

    #[test]
    fn a_sample_cut_inside_a_character_is_still_utf8() {
        let text = "město;ž\n".repeat(10);
        let bytes = text.as_bytes();
        // Cut inside the two bytes of the last `ž`.
        let cut = &bytes[..bytes.len() - 2];
        assert_eq!(guess(cut, None, true).encoding, UTF_8);
    }
}
