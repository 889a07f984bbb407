//! Passes 1 to 4, the patterns recognised by their shape and a keyword: e-mail addresses,
//! IBANs, dates (full dates and dates of birth) and customer, contract and order numbers.

use std::sync::LazyLock;

use regex::{Captures, Regex};

use super::{CUSTOMER_NUMBER, DATE, EMAIL, IBAN, regex};

// ---------------------------------------------------------------------------------------------
// 1. E-mail addresses
// ---------------------------------------------------------------------------------------------

static EMAIL_PLAIN: LazyLock<Regex> =
    LazyLock::new(|| regex(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)*\.\w{2,}"));

/// "max at example dot de", "max(at)example.de", "max ät gmx punkt de".
static EMAIL_SPELLED: LazyLock<Regex> = LazyLock::new(|| {
    let at = r"(?:\s*[(\[{]\s*(?:at|ät)\s*[)\]}]\s*|\s+(?:at|ät)\s+)";
    let dot = r"(?:\s*\.\s*|\s*[(\[{]\s*(?:dot|punkt)\s*[)\]}]\s*|\s+(?:dot|punkt)\s+)";
    let tld = r"(?:de|com|net|org|eu|info|at|ch|biz|io|me|online)";
    regex(&format!(
        r"(?i)\b[\w.+-]+{at}[\w-]+(?:{dot}[\w-]+)*?{dot}{tld}\b"
    ))
});

pub(super) fn scrub_emails(text: &str) -> String {
    let text = EMAIL_PLAIN.replace_all(text, EMAIL);
    EMAIL_SPELLED.replace_all(&text, EMAIL).into_owned()
}

// ---------------------------------------------------------------------------------------------
// 2. IBANs
// ---------------------------------------------------------------------------------------------

static IBAN_PATTERN: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"(?i)\b[a-z]{2}[ -]?\d{2}(?:[ -]?[a-z0-9]{4}){2,7}(?:[ -]?[a-z0-9]{1,3})?\b")
});

pub(super) fn scrub_ibans(text: &str) -> String {
    IBAN_PATTERN
        .replace_all(text, |caps: &Captures| {
            let found = &caps[0];
            let compact: String = found.chars().filter(|c| c.is_alphanumeric()).collect();
            let digits = compact.chars().filter(char::is_ascii_digit).count();
            // Real IBANs are 15 to 34 characters and almost all digits; this keeps words
            // that happen to fit the shape.
            if (15..=34).contains(&compact.len()) && digits * 10 >= compact.len() * 7 {
                IBAN.to_string()
            } else {
                found.to_string()
            }
        })
        .into_owned()
}

// ---------------------------------------------------------------------------------------------
// 3. Dates
// ---------------------------------------------------------------------------------------------

const DAY: &str = r"(?:0?[1-9]|[12]\d|3[01])";
const MONTH: &str = r"(?:0?[1-9]|1[0-2])";
const MONTH_NAME: &str = r"(?:januar|jänner|jaenner|februar|märz|maerz|marz|april|mai|juni|juli|august|september|oktober|november|dezember|jan|feb|mär|mrz|apr|jun|jul|aug|sept|sep|okt|nov|dez)";

static FULL_DATE: LazyLock<Regex> = LazyLock::new(|| {
    regex(&format!(
        r"(?i)\b(?:{DAY}\.[ ]?{MONTH}\.[ ]?(?:\d{{4}}|\d{{2}})|{DAY}/{MONTH}/(?:\d{{4}}|\d{{2}})|{DAY}-{MONTH}-\d{{4}}|(?:19|20)\d{{2}}-{MONTH}-{DAY}|{DAY}\.?[ ]?{MONTH_NAME}\.?[ ]?(?:19|20)\d{{2}})\b"
    ))
});

/// A date of birth given in part: "geboren am 12.03.", "Geburtsjahr 1985", "Jahrgang 85".
static BIRTH_DATE: LazyLock<Regex> = LazyLock::new(|| {
    regex(&format!(
        r"(?i)\b(?P<kw>geb\.|geboren|geburtsdatum|geb\.?-?datum|geburtstag|geburtsjahr|jahrgang)(?P<sep>\s*:?\s*(?:ist\s+|war\s+)?(?:der\s+|am\s+|im\s+)?)(?P<date>{DAY}\.[ ]?{MONTH}\.?|{DAY}\.?[ ]?{MONTH_NAME}\b\.?|(?:19|20)\d{{2}}\b|\d{{2}}\b)"
    ))
});

/// A year of birth before the word: "ich bin 1985 geboren", "Jahrgang 85".
static BIRTH_YEAR_BEFORE: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)\b(?:19|20)\d{2}(?P<rest>\s+(?:geboren|geb\.))"));

pub(super) fn scrub_dates(text: &str) -> String {
    let text = FULL_DATE.replace_all(text, DATE);
    let text =
        BIRTH_YEAR_BEFORE.replace_all(&text, |caps: &Captures| format!("{DATE}{}", &caps["rest"]));
    BIRTH_DATE
        .replace_all(&text, |caps: &Captures| {
            format!("{}{}{DATE}", &caps["kw"], &caps["sep"])
        })
        .into_owned()
}

// ---------------------------------------------------------------------------------------------
// 4. Customer, contract and order numbers
// ---------------------------------------------------------------------------------------------

/// "Kundennummer 1234567", "Kd.-Nr.: 12 345 67", "Bestellnummer 12345-678": a keyword that
/// names a number, then anything with at least three digits.
static NUMBER_WITH_KEYWORD: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?ix)
        \b(?P<kw>
            (?:kunden|vertrags|bestell|auftrags|rechnungs|ticket|vorgangs|referenz|sendungs
              |buchungs|konto|mandats|mitglieds|versicherungs|fall|service)
            [-\ ]?(?:nummer|nr\.?|no\.?|kennung|id)
          | anschlusskennung | kd\.?[-\ ]?nr\.? | knr\.?
        )
        (?P<sep>\s*(?:[:\#]\s*)?(?:(?:ist|lautet|war|wäre)\s+)?(?:(?:die|der)\s+)?(?:nr\.?\s*)?)
        (?P<id>[a-z]{0,4}[-/]?\d[a-z0-9]*(?:[-/.\ ][a-z0-9]*\d[a-z0-9]*)*)",
    )
});

/// "Auftrag A-000123", "Vertrag 12345678": a plain noun, then something that clearly is an
/// identifier (a letter prefix with digits, or five digits or more).
static NUMBER_AFTER_NOUN: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?ix)
        \b(?P<kw>vertrag|auftrag|bestellung|rechnung|ticket|vorgang|kundenkonto|vertragskonto
            |konto|sendung|lieferung|order|kunde|fall)
        (?P<sep>\s*(?:[:\#]\s*)?(?:(?:nr\.?|nummer)\s*)?)
        (?P<id>[a-z]{1,4}-?\d{3,}(?:[-/][a-z0-9]+)*|\d{5,}(?:[-/]\d+)*)\b",
    )
});

/// Identifiers recognisable on their own: "K1002003", "A-000123", "INC0012345".
static BARE_CUSTOMER_NUMBER: LazyLock<Regex> =
    LazyLock::new(|| regex(r"\b(?:[Kk]\d{6,10}|[A-Z]{1,3}-\d{5,}|[A-Z]{2,4}\d{6,})\b"));

pub(super) fn scrub_customer_numbers(text: &str) -> String {
    let keep_keyword = |caps: &Captures| {
        let id = &caps["id"];
        if id.chars().filter(char::is_ascii_digit).count() >= 3 {
            format!("{}{}{CUSTOMER_NUMBER}", &caps["kw"], &caps["sep"])
        } else {
            caps[0].to_string()
        }
    };
    let text = NUMBER_WITH_KEYWORD.replace_all(text, keep_keyword);
    let text = NUMBER_AFTER_NOUN.replace_all(&text, keep_keyword);
    BARE_CUSTOMER_NUMBER
        .replace_all(&text, CUSTOMER_NUMBER)
        .into_owned()
}
