//! Masking of personal data for the rare log line that must refer to it. Everything else is
//! logged by pseudonym or not at all.

use std::fmt;

/// A phone number reduced to its country prefix and last two digits: `+49*********67`.
pub fn phone(raw: &str) -> String {
    let digits: Vec<char> = raw.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 6 {
        return "*".repeat(digits.len().max(3));
    }
    let shown_head = 2;
    let shown_tail = 2;
    let hidden = digits.len() - shown_head - shown_tail;
    let head: String = digits[..shown_head].iter().collect();
    let tail: String = digits[digits.len() - shown_tail..].iter().collect();
    format!("+{head}{}{tail}", "*".repeat(hidden))
}

/// A business-scoped user id reduced to its country code and last two characters:
/// `DE.**************74`.
pub fn user_id(raw: &str) -> String {
    let chars: Vec<char> = raw.trim().chars().collect();
    if chars.len() < 8 {
        return "***".into();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 5))
}

/// A name reduced to the first letter of each part, `A*** S***` (hides the length too).
pub fn name(raw: &str) -> String {
    raw.split_whitespace()
        .map(|part| {
            let first = part.chars().next().unwrap_or('*');
            format!("{first}***")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Free text reduced to its length: `<text: 42 chars>`.
pub fn text(raw: &str) -> String {
    format!("<text: {} chars>", raw.chars().count())
}

/// Wraps personal data so that `Debug` and `Display` never print it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(pub T);

impl<T> Secret<T> {
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl Secret<String> {
    /// Whether `candidate` is this secret, compared in constant time (through HMAC, so
    /// neither length nor content leaks through timing).
    pub fn matches(&self, candidate: &str) -> bool {
        use hmac::{Hmac, Mac};
        let tag = |value: &str| {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"secret-compare").expect("any key");
            mac.update(value.as_bytes());
            mac
        };
        let expected = tag(&self.0).finalize().into_bytes();
        tag(candidate).verify_slice(&expected).is_ok()
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Secret<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Secret)
    }
}

/// Writes the secret itself: only for storing it (`#[serde(serialize_with = "mask::stored")]`),
/// so that serialising a `Secret` anywhere else (a log line, a queue body) does not compile.
pub fn stored<T: serde::Serialize, S: serde::Serializer>(
    secret: &Secret<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    secret.0.serialize(s)
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_keeps_country_and_last_two_digits_only() {
        assert_eq!(phone("+49 170 1234567"), "+49********67");
        assert_eq!(phone("491701234567"), "+49********67");
        assert!(!phone("+491701234567").contains("1701234"));
        assert_eq!(phone("12"), "***");
        assert_eq!(phone(""), "***");
    }

    #[test]
    fn name_keeps_initials_only() {
        assert_eq!(name("Anna Schmidt"), "A*** S***");
        assert_eq!(name("Jö"), "J***");
        assert_eq!(name("  "), "");
        assert!(!name("Müller-Lüdenscheidt").contains("üller"));
    }

    #[test]
    fn text_and_secret_hide_content() {
        assert_eq!(text("Meine Rechnung ist zu hoch"), "<text: 26 chars>");
        let pin = Secret("1234".to_owned());
        assert!(pin.matches("1234") && !pin.matches("1235") && !pin.matches(""));
        assert_eq!(format!("{pin} {pin:?}"), "<redacted> <redacted>");
        assert_eq!(pin.expose(), "1234");
    }
}
