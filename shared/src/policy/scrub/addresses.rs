//! Pass 5: street + house number and postcode + city become `<adresse>`.

use std::sync::LazyLock;

use regex::{Captures, Regex};

use super::words::{FUNCTION_WORDS, NOT_NAMES, SECRET_KEYWORDS};
use super::{ADDRESS, canon, is_unit_word, next_word, regex};

const HOUSE_NUMBER: &str = r"\d{1,4}(?:[ ]?[a-zA-Z]\b)?(?:[ ]?[-/][ ]?\d{1,4}[a-zA-Z]?)?";

/// "Musterstraße 12", "hauptstr. 5a", "Karl-Marx-Allee 3-5".
static STREET_COMPOUND: LazyLock<Regex> = LazyLock::new(|| {
    regex(&format!(
        r"(?i)\b\p{{L}}[\p{{L}}\p{{M}}.-]*?(?:straße|strasse|str\.|str|weg|allee|platz|gasse|ring|damm|ufer|chaussee|pfad|steig|stieg|wall|graben|kamp)[ ]*{HOUSE_NUMBER}"
    ))
});

/// "Berliner Straße 12", "Alter Markt 5".
static STREET_TWO_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    regex(&format!(
        r"(?i)\b(?P<first>\p{{L}}[\p{{L}}\p{{M}}-]*)[ ]+(?:straße|strasse|str\.|str|weg|allee|platz|gasse|ring|damm|ufer|chaussee|markt|pfad|steig)[ ]*{HOUSE_NUMBER}"
    ))
});

/// "Straße des 17. Juni 135", "Platz der Republik 1".
static STREET_GENITIVE: LazyLock<Regex> = LazyLock::new(|| {
    regex(&format!(
        r"(?i)\b(?:straße|strasse|platz|allee|ring|damm)[ ]+(?:des|der)[ ]+(?:\d{{1,2}}\.[ ]*)?\p{{L}}[\p{{L}}\p{{M}}-]*[ ]+{HOUSE_NUMBER}"
    ))
});

/// "Am Ring 3", "An der Kirche 5", "Unter den Linden 1", "Zur Post 4".
static STREET_PREPOSITION: LazyLock<Regex> = LazyLock::new(|| {
    regex(&format!(
        r"(?i)\b(?:am|an[ ]+der|an[ ]+den|auf[ ]+dem|auf[ ]+der|im|in[ ]+der|in[ ]+den|unter[ ]+den|hinter[ ]+der|hinter[ ]+dem|vor[ ]+dem|zum|zur)[ ]+(?P<noun>\p{{L}}[\p{{L}}\p{{M}}-]+)[ ]+{HOUSE_NUMBER}"
    ))
});

/// "12345 Berlin", "60311 Frankfurt am Main", "D-01067 Dresden".
static POSTCODE_CITY: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"\b(?:D-)?(?P<code>\d{5})[ ]+(?P<city>[A-ZÄÖÜ][\p{Ll}\p{M}][\p{L}\p{M}-]*)(?:[ ]+(?:am|an[ ]+der|im|in|ob[ ]+der|bei|vor[ ]+der)[ ]+[A-ZÄÖÜ][\p{L}\p{M}-]+|[ ]*\([\p{L} .]+\))?",
    )
});

/// "PLZ 12345", "Postleitzahl: 12345".
static POSTCODE_KEYWORD: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)\b(?P<kw>plz|postleitzahl)(?P<sep>\s*:?\s*(?:ist\s+)?)\d{5}\b"));

pub(super) fn scrub_addresses(text: &str) -> String {
    // A street match is only an address if the number is not a quantity ("Speicherplatz 64 GB")
    // and not a time ("am Montag 12:30").
    let street = |text: &str, caps: &Captures| -> bool {
        let m = caps.get(0).expect("whole match");
        let mut after = text[m.end()..].chars();
        match after.next() {
            Some(':') => false,
            Some(c) if c.is_ascii_digit() => false,
            Some('.' | ',') => !after.next().is_some_and(|c| c.is_ascii_digit()),
            _ => true,
        }
    };
    let not_quantity = |text: &str, end: usize| !is_unit_word(&next_word(text, end));

    let text = text.to_string();
    let text = replace_checked(&text, &STREET_COMPOUND, |text, caps| {
        let m = caps.get(0).expect("whole match");
        street(text, caps) && not_quantity(text, m.end())
    });
    let text = replace_checked(&text, &STREET_GENITIVE, |text, caps| {
        let m = caps.get(0).expect("whole match");
        street(text, caps) && not_quantity(text, m.end())
    });
    let text = replace_checked(&text, &STREET_TWO_WORDS, |text, caps| {
        let m = caps.get(0).expect("whole match");
        let first = canon(&caps["first"]);
        !FUNCTION_WORDS.contains(&first) && street(text, caps) && not_quantity(text, m.end())
    });
    let text = replace_checked(&text, &STREET_PREPOSITION, |text, caps| {
        let m = caps.get(0).expect("whole match");
        let noun = canon(&caps["noun"]);
        !NOT_NAMES.contains(&noun)
            && !is_unit_word(&noun)
            && street(text, caps)
            && not_quantity(text, m.end())
    });
    let text = replace_checked(&text, &POSTCODE_CITY, |text, caps| {
        let m = caps.get(0).expect("whole match");
        let city = canon(&caps["city"]);
        let word_before = text[..m.start()]
            .split_whitespace()
            .last()
            .map(canon)
            .unwrap_or_default();
        !caps["code"].starts_with("00")
            && !SECRET_KEYWORDS.contains(&word_before)
            && !is_unit_word(&city)
            && !NOT_NAMES.contains(&city)
            && !city.ends_with("nummer")
    });
    POSTCODE_KEYWORD
        .replace_all(&text, |caps: &Captures| {
            format!("{}{}{ADDRESS}", &caps["kw"], &caps["sep"])
        })
        .into_owned()
}

/// Replaces each match of `pattern` by `<adresse>` where `accept(text, captures)` agrees.
fn replace_checked(
    text: &str,
    pattern: &Regex,
    accept: impl Fn(&str, &Captures) -> bool,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for caps in pattern.captures_iter(text) {
        let m = caps.get(0).expect("whole match");
        if accept(text, &caps) {
            out.push_str(&text[last..m.start()]);
            out.push_str(ADDRESS);
            last = m.end();
        }
    }
    out.push_str(&text[last..]);
    out
}
