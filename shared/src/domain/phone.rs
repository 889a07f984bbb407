//! Phone numbers as callers say and write them, normalised to E.164 with libphonenumber's
//! metadata (the `phonenumber` crate). German is the default region: `0171 2345678`,
//! `+49 (0)171/234 56 78`, `0049 171 2345678` and "null eins sieben eins ..." are one number.

use phonenumber::country::Id;
use phonenumber::{Mode, PhoneNumber, Type};

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
    let number: PhoneNumber =
        phonenumber::parse(Some(Id::DE), &international).map_err(|_| PhoneError::Invalid)?;
    if !phonenumber::is_valid(&number) {
        return Err(PhoneError::Invalid);
    }
    if matches!(
        number.number_type(&phonenumber::metadata::DATABASE),
        Type::PremiumRate | Type::SharedCost
    ) {
        return Err(PhoneError::ServiceNumber);
    }
    Ok(number.format().mode(Mode::E164).to_string())
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
