//! Phone numbers as callers say and write them, normalised to E.164 with libphonenumber's
//! metadata (the `phonenumber` crate). German is the default region: `0171 2345678`,
//! `+49 (0)171/234 56 78`, `0049 171 2345678` and "null eins sieben eins ..." are one number.
//!
//! The metadata of a country code is loaded when a number first needs it, from
//! `data/phone/PhoneNumberMetadata.xml`: the crate's own database parses all 254 territories'
//! patterns at once (about 65 ms of a cold start; its formatter loads it even when given
//! another database, so E.164 is written here).

use phonenumber::country::Id;
use phonenumber::metadata::Database;
use phonenumber::{PhoneNumber, Type};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PhoneError {
    #[error("no phone number given")]
    Empty,
    #[error("not a phone number")]
    NotANumber,
    #[error("not a valid phone number")]
    Invalid,
    /// Premium-rate and shared-cost service numbers are never called back.
    #[error("service numbers (premium rate, shared cost) are not called back")]
    ServiceNumber,
}

/// German digit words, as a speech transcript writes them.
const DIGIT_WORDS: [(&str, char); 13] = [
    ("null", '0'),
    ("eins", '1'),
    ("ein", '1'),
    ("zwei", '2'),
    ("zwo", '2'),
    ("drei", '3'),
    ("vier", '4'),
    ("fünf", '5'),
    ("fuenf", '5'),
    ("sechs", '6'),
    ("sieben", '7'),
    ("acht", '8'),
    ("neun", '9'),
];

/// The digits (and a leading `+`) of a written or spoken number; `None` if anything else
/// than digits, digit words, separators and "plus"/"doppel" appears.
fn digits_of(raw: &str) -> Option<String> {
    // "+49 (0)171": the "(0)" is the trunk prefix, not part of the international number.
    let raw = raw.replace("(0)", " ");
    let mut out = String::new();
    // "doppel-null" says the next digit twice.
    let mut double = false;
    fn push(out: &mut String, digit: char, double: &mut bool) {
        out.push(digit);
        if std::mem::take(double) {
            out.push(digit);
        }
    }
    let lower = raw.to_lowercase();
    for token in lower.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';')) {
        let mut rest = token.trim_matches(|c: char| matches!(c, '.' | ':'));
        while !rest.is_empty() {
            let c = rest.chars().next()?;
            if c.is_ascii_digit() {
                push(&mut out, c, &mut double);
                rest = &rest[1..];
            } else if c == '+' && out.is_empty() {
                out.push('+');
                rest = &rest[1..];
            } else if matches!(c, '-' | '/' | '(' | ')' | '.') {
                rest = &rest[1..];
            } else if let Some(word) = rest.strip_prefix("plus") {
                if !out.is_empty() {
                    return None;
                }
                out.push('+');
                rest = word;
            } else if let Some(word) = rest.strip_prefix("doppel") {
                double = true;
                rest = word.trim_start_matches('-');
            } else {
                // Longest digit word first ("eins" before "ein").
                let (word, digit) = DIGIT_WORDS
                    .iter()
                    .filter(|(w, _)| rest.starts_with(w))
                    .max_by_key(|(w, _)| w.len())?;
                push(&mut out, *digit, &mut double);
                rest = &rest[word.len()..];
            }
        }
    }
    Some(out)
}

/// Normalises a callback number to E.164 (`+491712345678`).
pub fn normalize(raw: &str) -> Result<String, PhoneError> {
    if raw.trim().is_empty() {
        return Err(PhoneError::Empty);
    }
    let digits = digits_of(raw).ok_or(PhoneError::NotANumber)?;
    let international = match digits.strip_prefix("00") {
        Some(rest) => format!("+{rest}"),
        None => digits,
    };
    if international.trim_start_matches('+').len() < 5 {
        return Err(PhoneError::Invalid);
    }
    let database = match international.strip_prefix('+') {
        Some(digits) => Metadata::get().for_international(digits),
        None => Metadata::get().for_code(GERMANY),
    }
    .ok_or(PhoneError::Invalid)?;
    let number: PhoneNumber = phonenumber::parse_with(&database, Some(Id::DE), &international)
        .map_err(|_| PhoneError::Invalid)?;
    if !phonenumber::is_valid_with(&database, &number) {
        return Err(PhoneError::Invalid);
    }
    if matches!(
        number.number_type(&database),
        Type::PremiumRate | Type::SharedCost
    ) {
        return Err(PhoneError::ServiceNumber);
    }
    // E.164 by hand: the crate's formatter loads its whole database even when given one.
    Ok(format!("+{}{}", number.country().code(), number.national()))
}

const GERMANY: u16 = 49;
const METADATA_XML: &str = include_str!("../../data/phone/PhoneNumberMetadata.xml");

/// libphonenumber's territories by country code, each code's database built on first use.
struct Metadata {
    /// Country code -> the `<territory>` elements that have it (+1 and +44 have several).
    territories: HashMap<u16, Vec<&'static str>>,
    built: Mutex<HashMap<u16, Arc<Database>>>,
}

impl Metadata {
    fn get() -> &'static Metadata {
        static METADATA: LazyLock<Metadata> = LazyLock::new(|| Metadata::index(METADATA_XML));
        &METADATA
    }

    /// Finds each `<territory>` element's country code (a scan, no XML parse).
    fn index(xml: &'static str) -> Self {
        let mut territories: HashMap<u16, Vec<&'static str>> = HashMap::new();
        let mut rest = xml;
        while let Some(start) = rest.find("<territory ") {
            let from = &rest[start..];
            let Some(end) = from.find("</territory>") else {
                break;
            };
            let element = &from[..end + "</territory>".len()];
            let code = element
                .split_once("countryCode=\"")
                .and_then(|(_, after)| after.split_once('"'))
                .and_then(|(code, _)| code.parse().ok());
            if let Some(code) = code {
                territories.entry(code).or_default().push(element);
            }
            rest = &from[element.len()..];
        }
        Self {
            territories,
            built: Mutex::new(HashMap::new()),
        }
    }

    /// The database of the country code `digits` (an international number without `+`)
    /// starts with: codes are prefix-free, one to three digits.
    fn for_international(&self, digits: &str) -> Option<Arc<Database>> {
        (1..=3)
            .filter_map(|len| digits.get(..len)?.parse::<u16>().ok())
            .find(|code| self.territories.contains_key(code))
            .and_then(|code| self.for_code(code))
    }

    fn for_code(&self, code: u16) -> Option<Arc<Database>> {
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(database) = built.get(&code) {
            return Some(database.clone());
        }
        let elements = self.territories.get(&code)?;
        let xml = format!(
            "<phoneNumberMetadata><territories>{}</territories></phoneNumberMetadata>",
            elements.concat()
        );
        // The file is part of the build; a test parses every territory of it.
        let database = Arc::new(Database::parse(xml).ok()?);
        built.insert(code, database.clone());
        Some(database)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn german_numbers_in_their_written_and_spoken_forms() {
        let mobile = "+491712345678";
        for written in [
            "0171 2345678",
            "01712345678",
            "0171-2345678",
            "0171/234 56 78",
            "(0171) 2345678",
            "+49 171 2345678",
            "+49 (0)171 2345678",
            "0049 171 2345678",
            "+49-171-2345678",
            "null eins sieben eins zwei drei vier fünf sechs sieben acht",
            "null eins sieben eins, zwo drei vier, fuenf sechs sieben acht",
            "plus vier neun eins sieben eins zwei drei vier fünf sechs sieben acht",
            "0171 23 45 6 78.",
        ] {
            assert_eq!(normalize(written).as_deref(), Ok(mobile), "{written:?}");
        }
        assert_eq!(normalize("030 12345678").as_deref(), Ok("+493012345678"));
        assert_eq!(normalize("089/1234567").as_deref(), Ok("+49891234567"));
        assert_eq!(
            normalize("null drei null doppel-eins zwei drei vier fünf sechs").as_deref(),
            Ok("+49301123456"),
        );
        // Callers from abroad keep their country.
        assert_eq!(normalize("+43 664 1234567").as_deref(), Ok("+436641234567"));
        assert_eq!(
            normalize("0041 79 123 45 67").as_deref(),
            Ok("+41791234567")
        );
    }

    #[test]
    fn every_territory_of_the_metadata_loads() {
        let metadata = Metadata::index(METADATA_XML);
        let territories: usize = metadata.territories.values().map(Vec::len).sum();
        assert_eq!(territories, 254);
        for code in metadata.territories.keys() {
            assert!(metadata.for_code(*code).is_some(), "+{code}");
        }
        // Codes sharing a number plan, and codes of one to three digits.
        assert_eq!(normalize("+1 212 555 0123").as_deref(), Ok("+12125550123"));
        assert_eq!(
            normalize("+44 20 7946 0958").as_deref(),
            Ok("+442079460958")
        );
        assert_eq!(
            normalize("+353 85 123 4567").as_deref(),
            Ok("+353851234567")
        );
        assert_eq!(normalize("+999 1234567"), Err(PhoneError::Invalid));
    }

    #[test]
    fn normalising_never_loads_the_crates_whole_database() {
        for number in ["0171 2345678", "+43 664 1234567", "0900 1234567", "112"] {
            let _ = normalize(number);
        }
        assert!(once_cell::sync::Lazy::get(&phonenumber::metadata::DATABASE).is_none());
    }

    #[test]
    fn premium_invalid_and_garbage_are_refused() {
        assert_eq!(normalize("0900 1234567"), Err(PhoneError::ServiceNumber));
        assert_eq!(normalize("+49 900 5123456"), Err(PhoneError::ServiceNumber));
        assert_eq!(normalize("0180 5 123456"), Err(PhoneError::ServiceNumber));
        assert_eq!(normalize("0171 23"), Err(PhoneError::Invalid));
        assert_eq!(normalize("112"), Err(PhoneError::Invalid));
        assert_eq!(
            normalize("0171 2345678 9999 9999"),
            Err(PhoneError::Invalid)
        );
        assert_eq!(normalize(""), Err(PhoneError::Empty));
        assert_eq!(normalize("ruf mich an"), Err(PhoneError::NotANumber));
        assert_eq!(normalize("0171 plus 2345678"), Err(PhoneError::NotANumber));
    }
}
