//! Scrubbing of personal data from free text, for the messages Lisa misunderstood: before a
//! person reviews one, every piece of personal data in it is replaced by a placeholder, and the
//! result becomes an anonymised training example.
//!
//! The passes run in a fixed order, each on the output of the one before, so that the more
//! specific patterns claim their digits first:
//!
//! 1. e-mail addresses (also "max at example dot de") → `<email>`
//! 2. IBANs, with or without spaces → `<iban>`
//! 3. full dates and dates of birth → `<datum>`
//! 4. customer, contract, order and ticket numbers → `<kundennummer>`
//! 5. street + house number, postcode + city → `<adresse>`
//! 6. phone numbers in any spelling → `<telefon>`
//! 7. the known names and names introduced in the text → `<name>`
//! 8. whatever looks like a password or PIN → `<geheim>`
//!
//! The scrubber errs on the side of privacy: when in doubt a token is replaced, because a
//! wrongly scrubbed word only costs a little training quality, a leaked one cannot be undone.
//!
//! Layout: this file holds the public API, the placeholders, the pass order and the helpers
//! every pass shares (`canon`, the tokenizer); the word lists live in `words`, and each pass
//! in its own submodule: `identifiers` (passes 1–4), `addresses`, `phones`, `names` and
//! `secrets`.

mod addresses;
mod identifiers;
mod names;
mod phones;
mod secrets;
mod words;

use std::sync::LazyLock;

use regex::Regex;

use addresses::scrub_addresses;
use identifiers::{scrub_customer_numbers, scrub_dates, scrub_emails, scrub_ibans};
use names::scrub_names;
use phones::scrub_phones;
use secrets::scrub_secrets;
use words::{UNIT_SUFFIXES, UNIT_WORDS};

/// What is known about the person beyond the text itself: their WhatsApp profile name and names they gave.
#[derive(Clone, Debug, Default)]
pub struct KnownNames {
    pub names: Vec<String>,
}

/// Replaces personal data in `text` by placeholders; returns the scrubbed text.
pub fn scrub(text: &str, known: &KnownNames) -> String {
    let text = scrub_emails(text);
    let text = scrub_ibans(&text);
    let text = scrub_dates(&text);
    let text = scrub_customer_numbers(&text);
    let text = scrub_addresses(&text);
    let text = scrub_phones(&text);
    let text = scrub_names(&text, known);
    scrub_secrets(&text)
}

const EMAIL: &str = "<email>";
const IBAN: &str = "<iban>";
const DATE: &str = "<datum>";
const CUSTOMER_NUMBER: &str = "<kundennummer>";
const ADDRESS: &str = "<adresse>";
const PHONE: &str = "<telefon>";
const NAME: &str = "<name>";
const SECRET: &str = "<geheim>";

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("the scrubber's patterns are valid")
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A word's canonical form for comparisons: lower case, accents and umlauts folded, and the
/// spelled-out umlauts "ae", "oe", "ue" folded too, so "Müller", "Mueller", "muller" and
/// "MÜLLER" are one word. Characters other than letters and digits are dropped.
fn canon(word: &str) -> String {
    let mut folded = String::with_capacity(word.len());
    for c in word.chars().flat_map(char::to_lowercase) {
        match c {
            'ä' | 'à' | 'á' | 'â' | 'ã' | 'å' => folded.push('a'),
            'ö' | 'ò' | 'ó' | 'ô' | 'õ' | 'ø' => folded.push('o'),
            'ü' | 'ù' | 'ú' | 'û' => folded.push('u'),
            'é' | 'è' | 'ê' | 'ë' => folded.push('e'),
            'í' | 'ì' | 'î' | 'ï' | 'ı' => folded.push('i'),
            'ç' | 'ć' | 'č' => folded.push('c'),
            'ñ' | 'ń' => folded.push('n'),
            'š' | 'ś' | 'ş' => folded.push('s'),
            'ž' | 'ź' | 'ż' => folded.push('z'),
            'ł' => folded.push('l'),
            'ğ' => folded.push('g'),
            'ý' => folded.push('y'),
            'ř' => folded.push('r'),
            'ß' => folded.push_str("ss"),
            '€' | '%' => folded.push(c),
            c if c.is_alphanumeric() => folded.push(c),
            _ => {}
        }
    }
    folded
        .replace("ae", "a")
        .replace("oe", "o")
        .replace("ue", "u")
}

fn is_unit_word(word: &str) -> bool {
    let word = canon(word);
    !word.is_empty()
        && (UNIT_WORDS.contains(&word) || UNIT_SUFFIXES.iter().any(|suffix| word.ends_with(suffix)))
}

/// A whitespace-separated token with its core: the token without surrounding punctuation.
#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    start: usize,
    end: usize,
    core: &'a str,
    core_start: usize,
    /// Sentence or clause punctuation right after the core ("Max," "Max.").
    closes: bool,
}

impl Token<'_> {
    fn canon(&self) -> String {
        canon(self.core)
    }

    fn is_placeholder(&self, text: &str) -> bool {
        text[self.start..self.end].contains('<')
    }

    /// Letters only (with inner hyphens and apostrophes): a candidate for a name.
    fn is_word(&self) -> bool {
        self.core.chars().any(char::is_alphabetic)
            && self
                .core
                .chars()
                .all(|c| c.is_alphabetic() || matches!(c, '-' | '\'' | '’' | '.'))
    }

    fn is_capitalised(&self) -> bool {
        self.core.chars().next().is_some_and(char::is_uppercase)
    }
}

static WHITESPACE_TOKEN: LazyLock<Regex> = LazyLock::new(|| regex(r"\S+"));

fn token(m: regex::Match<'_>) -> Token<'_> {
    let raw = m.as_str();
    let lead = raw.len() - raw.trim_start_matches(|c: char| !c.is_alphanumeric()).len();
    let core = raw[lead..].trim_end_matches(|c: char| !c.is_alphanumeric());
    let rest = &raw[lead + core.len()..];
    Token {
        start: m.start(),
        end: m.end(),
        core,
        core_start: m.start() + lead,
        closes: rest.contains([',', '.', ';', ':', '!', '?']),
    }
}

fn tokens(text: &str) -> Vec<Token<'_>> {
    WHITESPACE_TOKEN.find_iter(text).map(token).collect()
}

/// The canonical form of the word right after `end` in `text`, if any.
fn next_word(text: &str, end: usize) -> String {
    WHITESPACE_TOKEN
        .find(&text[end..])
        .map(|m| token(m).canon())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
