//! Pass 8: whatever looks like a password or PIN becomes `<geheim>`; amounts, years, model
//! names and product names stay.

use std::sync::LazyLock;

use regex::Regex;

use super::words::{
    ALLOWED_TOKENS, MODEL_BEFORE, NOT_NAMES, SECRET_KEYWORDS, YEAR_AFTER, YEAR_BEFORE,
};
use super::{SECRET, Token, canon, is_unit_word, regex, tokens};

/// A number with a unit glued to it: "20GB", "29,99€", "5G", "90er", "2x", "12:30Uhr".
static NUMBER_WITH_UNIT: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)^\d+(?:[.,:]\d+)*(?:gb|mb|kb|tb|gbit|mbit|kbit|g|k|p|x|h|min|s|std|uhr|er|ern|te|ten|ter|tes|tem|st|nd|rd|th|eur|euro|€|ct|cent|mhz|ghz|mah|mp|w|kw|kwh|km|m|cm|mm|kg|%|l|j|d|a|b|c|fach|mal)$",
    )
});

/// An amount with the currency first: "€29", "$10".
static CURRENCY_FIRST: LazyLock<Regex> = LazyLock::new(|| regex(r"^[€$£]\d+(?:[.,]\d+)*$"));

/// Device and product names: "S24", "A54", "MP3", "iPhone15", "Pixel8a", "iOS17", "2FA".
static MODEL_NAME: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"^(?:[A-Z]{1,2}\d{1,3}[a-z]?|\d{1,2}[A-Z]{1,3}|(?i:iphone|ipad|ios|android|pixel|galaxy|note|redmi|xperia|moto|nokia|watch|series|fritzbox|speedport|windows|win|macos|airpods|playstation|ps|xbox|tab|mi|mate|nord|oneplus)\d{1,4}[a-z]?)$",
    )
});

/// Characters that inside a word mark it as a password or handle.
fn is_special(c: char) -> bool {
    matches!(
        c,
        '!' | '#'
            | '$'
            | '%'
            | '*'
            | '<'
            | '='
            | '>'
            | '@'
            | '['
            | '\\'
            | ']'
            | '^'
            | '_'
            | '`'
            | '{'
            | '|'
            | '}'
            | '~'
            | '§'
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    /// A word, a model name, an amount, a short number: harmless.
    Plain,
    /// A number of up to three digits.
    Short,
    /// Four to eight digits: a PIN unless the context says amount or year.
    Digits,
    /// Looks like a password.
    Secret,
}

fn classify_part(part: &str) -> Part {
    let has_letter = part.chars().any(char::is_alphabetic);
    let has_digit = part.chars().any(|c| c.is_ascii_digit());
    if part.chars().all(|c| c.is_ascii_digit()) {
        return match part.len() {
            0..=3 => Part::Short,
            4..=8 => Part::Digits,
            _ => Part::Secret,
        };
    }
    if has_digit
        && !has_letter
        && part
            .chars()
            .all(|c| c.is_ascii_digit() || ".,:'".contains(c))
    {
        return Part::Plain;
    }
    if NUMBER_WITH_UNIT.is_match(part) || CURRENCY_FIRST.is_match(part) || MODEL_NAME.is_match(part)
    {
        return Part::Plain;
    }
    if has_letter && has_digit && part.chars().count() >= 4 {
        return Part::Secret;
    }
    if part.chars().any(is_special) {
        return Part::Secret;
    }
    Part::Plain
}

pub(super) fn scrub_secrets(text: &str) -> String {
    let toks = tokens(text);
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (i, tok) in toks.iter().enumerate() {
        let raw = &text[tok.start..tok.end];
        if raw.contains('<') {
            continue;
        }
        // The replaced span: the token without quotes, brackets and sentence punctuation
        // around it. The classified core also drops "!", "?" and "*" at the end ("Hallo!").
        let span = raw
            .trim_start_matches(['(', '[', '"', '\'', '„', '“', '‚', '‘', '»', '«'])
            .trim_end_matches([
                '.', ',', ';', ':', ')', ']', '"', '\'', '“', '”', '‘', '’', '»', '«', '…',
            ]);
        let core = span
            .trim_start_matches(['#', '*'])
            .trim_end_matches(['!', '?', '*']);
        if core.is_empty() {
            continue;
        }
        let before: Vec<String> = toks[i.saturating_sub(3)..i]
            .iter()
            .map(Token::canon)
            .collect();
        let next = toks.get(i + 1).map(Token::canon).unwrap_or_default();
        let previous = i.checked_sub(1).and_then(|j| toks.get(j));
        if is_secret(core, &before, &next, previous, text) {
            let span_start = tok.start
                + (raw.len()
                    - raw
                        .trim_start_matches(['(', '[', '"', '\'', '„', '“', '‚', '‘', '»', '«'])
                        .len());
            out.push_str(&text[last..span_start]);
            out.push_str(SECRET);
            last = span_start + span.len();
        }
    }
    out.push_str(&text[last..]);
    out
}

/// Whether the token `core` is a password or PIN, given the up to three words `before` it and
/// the word `next` after it.
fn is_secret(
    core: &str,
    before: &[String],
    next: &str,
    previous: Option<&Token>,
    text: &str,
) -> bool {
    if ALLOWED_TOKENS.contains(core.to_lowercase().as_str()) {
        return false;
    }
    // "PIN 1234", "PIN ist 1234", "meine PIN lautet: 1234"; not "PIN 6011 seit 2019".
    let announced = before
        .iter()
        .rev()
        .find(|word| {
            !matches!(
                word.as_str(),
                "ist" | "lautet" | "war" | "die" | "der" | "das" | "neue" | "alte"
            )
        })
        .is_some_and(|word| SECRET_KEYWORDS.contains(word));

    // "Passwort ist Sonnenschein", "Kennwort: Hamburg": a plain word given as the password.
    let given_as_password = previous.is_some_and(|prev| {
        let word = prev.canon();
        let raw = &text[prev.start..prev.end];
        (SECRET_KEYWORDS.contains(&word) && raw.ends_with([':', '=']))
            || (matches!(word.as_str(), "ist" | "lautet" | "war")
                && before.len() >= 2
                && SECRET_KEYWORDS.contains(&before[before.len() - 2]))
    });
    if given_as_password {
        let folded = canon(core);
        if !folded.is_empty() && !NOT_NAMES.contains(&folded) && folded.len() >= 3 {
            return true;
        }
    }

    let parts: Vec<Part> = core
        .split(['-', '/', '+', '&'])
        .filter(|part| !part.is_empty())
        .map(classify_part)
        .collect();
    if parts.contains(&Part::Secret) {
        return true;
    }
    let year = |s: &str| s.len() == 4 && s.parse::<u32>().is_ok_and(|y| (1900..=2099).contains(&y));
    match parts.as_slice() {
        [] => false,
        [Part::Digits] => {
            if announced {
                return true;
            }
            let previous_word = before.last().map(String::as_str).unwrap_or_default();
            let quantity = is_unit_word(next)
                || matches!(previous_word, "€" | "eur" | "euro" | "ca" | "uber" | "rund");
            // A recent year needs no context ("Kann ich 2026 kündigen?"); an older one, which
            // could be a year of birth used as a PIN, needs a word that makes it a year.
            let recent = core
                .parse::<u32>()
                .is_ok_and(|y| (2000..=2039).contains(&y));
            let is_year = year(core)
                && (recent || YEAR_BEFORE.contains(previous_word) || YEAR_AFTER.contains(next));
            let model = MODEL_BEFORE.contains(previous_word);
            !(quantity || is_year || model)
        }
        [_] => announced && parts[0] == Part::Short && core.len() >= 3,
        _ => {
            let numeric = core
                .split(['-', '/', '+', '&'])
                .filter(|part| !part.is_empty())
                .all(|part| {
                    part.chars()
                        .all(|c| c.is_ascii_digit() || ".,:".contains(c))
                });
            if numeric {
                let years = core
                    .split(['-', '/'])
                    .all(|part| year(part) || part.len() <= 2);
                parts.contains(&Part::Digits) && !(years && parts.len() == 2)
            } else {
                // "Sommer-2026", "abc-123": a word glued to a long number.
                let long_number = core
                    .split(['-', '/', '+', '&'])
                    .any(|part| part.len() >= 3 && part.chars().all(|c| c.is_ascii_digit()));
                parts.contains(&Part::Digits) || long_number
            }
        }
    }
}
