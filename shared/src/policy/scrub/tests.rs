//! Tests of the scrubber: the exact-output corpus (the cases are in `tests/corpus.rs`) and a
//! property test on generated messages full of personal data.

mod corpus;

use std::collections::HashSet;

use super::names::NAME_WORD;
use super::*;
use corpus::CORPUS;

fn known(names: &[&str]) -> KnownNames {
    KnownNames {
        names: names.iter().map(|name| name.to_string()).collect(),
    }
}

#[test]
fn scrubs_the_corpus_exactly() {
    assert!(CORPUS.len() >= 40);
    let failures: Vec<String> = CORPUS
        .iter()
        .filter_map(|(text, names, expected)| {
            let got = scrub(text, &known(names));
            (got != *expected)
                .then(|| format!("  {text:?}\n    expected {expected:?}\n    got      {got:?}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} case(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn leaves_empty_and_plain_text_alone() {
    assert_eq!(scrub("", &KnownNames::default()), "");
    let plain = "Guten Tag, mein Internet ist langsam. Was kann ich tun?";
    assert_eq!(scrub(plain, &KnownNames::default()), plain);
}

#[test]
fn canonical_forms_fold_umlauts_and_their_spellings() {
    assert_eq!(canon("Müller"), canon("mueller"));
    assert_eq!(canon("Müller"), canon("MULLER"));
    assert_eq!(canon("Weiß"), canon("weiss"));
    assert_eq!(canon("Yıldız"), canon("yildiz"));
}

/// A small deterministic generator, so that the property test needs no seed handling.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
}

fn digits_only(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

/// Spellings of a name a customer might type.
fn name_variants(name: &str) -> Vec<String> {
    let spelled = name
        .replace('ä', "ae")
        .replace('ö', "oe")
        .replace('ü', "ue")
        .replace('Ä', "Ae")
        .replace('Ö', "Oe")
        .replace('Ü', "Ue")
        .replace('ß', "ss");
    let dropped = name
        .replace(['ä', 'Ä'], "a")
        .replace(['ö', 'Ö'], "o")
        .replace(['ü', 'Ü'], "u");
    vec![
        name.to_string(),
        name.to_lowercase(),
        spelled.to_lowercase(),
        dropped,
    ]
}

#[test]
fn no_generated_personal_data_survives() {
    let first_names = [
        "Jürgen", "Özlem", "Anna", "Björn", "Käthe", "Lukas", "Sören",
    ];
    let last_names = [
        "Müller",
        "Schröder",
        "Weiß",
        "Yıldız",
        "Krämer",
        "Hoffmann",
        "Bäcker",
    ];
    let streets = [
        "Musterstraße",
        "Hauptstr.",
        "Lindenweg",
        "Goethestraße",
        "Am Ring",
    ];
    let cities = ["Berlin", "München", "Köln", "Dresden", "Frankfurt am Main"];
    let fillers = [
        "mein Tarif hat 20 GB für 29,99 Euro.",
        "seit 2019 Kunde.",
        "Vertrag läuft 24 Monate.",
        "5G geht nicht.",
        "ich hab iPhone 15.",
        "Das Internet ist seit 3 Tagen weg.",
        "",
    ];
    let mut rng = Lcg(0x5eed);
    for round in 0..400 {
        let first = rng.pick(&first_names);
        let last = rng.pick(&last_names);
        let known_profile = rng.below(2) == 0;
        let names = if known_profile {
            vec![format!("{first} {last}")]
        } else {
            vec![]
        };
        let variant = |rng: &mut Lcg, name: &str| {
            let variants = name_variants(name);
            variants[rng.below(variants.len())].clone()
        };

        // Personal data: (what is written, strings that must not survive, the placeholder
        // that must appear instead).
        let mut pieces: Vec<(String, Vec<String>, &str)> = Vec::new();
        let (f, l) = if known_profile {
            (variant(&mut rng, first), variant(&mut rng, last))
        } else {
            (first.to_string(), last.to_string())
        };
        let name_intro = match rng.below(6) {
            0 => format!("Hallo, ich bin {f} {l}."),
            1 => format!("Mein Name ist {f} {l}."),
            2 => format!("Hallo, hier ist {f}."),
            3 => format!("ich heiße {f} {l}."),
            4 => format!("Frau {l} hat angerufen."),
            _ => format!("{f} {l} hier."),
        };
        let needs_known = name_intro.ends_with(" hier.");
        if !needs_known || known_profile {
            let mut secrets = vec![];
            if name_intro.contains(&f) {
                secrets.push(f.clone());
            }
            secrets.push(l.clone());
            pieces.push((name_intro, secrets, NAME));
        }

        let mobile = format!("1{}{}", rng.below(8) + 5, rng.digits(8));
        let phone = match rng.below(7) {
            0 => format!("+49 {} {}", &mobile[..3], &mobile[3..]),
            1 => format!("0{}/{}", &mobile[..3], &mobile[3..]),
            2 => format!(
                "0{}-{} {} {}",
                &mobile[..3],
                &mobile[3..6],
                &mobile[6..8],
                &mobile[8..]
            ),
            3 => format!("0049 {} {}", &mobile[..3], &mobile[3..]),
            4 => format!("(0{}) {}", &mobile[..3], &mobile[3..]),
            5 => format!("0{mobile}"),
            _ => format!(
                "0{} {} {} {}",
                &mobile[..3],
                &mobile[3..6],
                &mobile[6..8],
                &mobile[8..]
            ),
        };
        pieces.push((
            format!("Meine Nummer: {phone}."),
            vec![phone.clone()],
            PHONE,
        ));

        let mail = format!(
            "{}.{}{}@example.de",
            first.to_lowercase(),
            rng.digits(2),
            "x"
        );
        pieces.push((format!("Mail {mail}"), vec![mail.clone()], EMAIL));

        let iban_digits = rng.digits(20);
        let iban = if rng.below(2) == 0 {
            format!("DE{iban_digits}")
        } else {
            let mut spaced = format!("DE{}", &iban_digits[..2]);
            for chunk in iban_digits.as_bytes()[2..].chunks(4) {
                spaced.push(' ');
                spaced.push_str(std::str::from_utf8(chunk).expect("ascii"));
            }
            spaced
        };
        pieces.push((format!("IBAN {iban}."), vec![iban.clone()], IBAN));

        let customer = match rng.below(3) {
            0 => format!("K{}", rng.digits(7)),
            1 => format!("Kundennummer {}", rng.digits(7)),
            _ => format!("Bestellnummer {}-{}", rng.digits(5), rng.digits(3)),
        };
        let customer_id = customer.rsplit(' ').next().expect("id").to_string();
        pieces.push((
            format!("{customer} bitte prüfen."),
            vec![customer_id],
            CUSTOMER_NUMBER,
        ));

        let day = rng.below(28) + 1;
        let month = rng.below(12) + 1;
        let year = 1940 + rng.below(60);
        let date = match rng.below(3) {
            0 => format!("{day:02}.{month:02}.{year}"),
            1 => format!("{day}.{month}.{:02}", year % 100),
            _ => format!("{year}-{month:02}-{day:02}"),
        };
        pieces.push((format!("geboren am {date}."), vec![date.clone()], DATE));

        let street = format!(
            "{} {}{}",
            rng.pick(&streets),
            rng.below(120) + 1,
            rng.pick(&["", "a", "b"])
        );
        let postcode = format!("{}{}", rng.below(9) + 1, rng.digits(4));
        let city = rng.pick(&cities);
        pieces.push((
            format!("Ich wohne {street}, {postcode} {city}."),
            vec![street.clone(), postcode.clone()],
            ADDRESS,
        ));

        let secret = match rng.below(3) {
            0 => format!("Sommer{}!", 2000 + rng.below(30)),
            1 => format!("ab{}cd{}", rng.digits(2), rng.digits(2)),
            _ => {
                let len = 4 + rng.below(3);
                rng.digits(len)
            }
        };
        pieces.push((format!("PIN {secret}"), vec![secret.clone()], SECRET));

        // Two to five pieces with fillers between them, in a shuffled order.
        let count = 2 + rng.below(4);
        let mut message = String::new();
        let mut must_vanish = Vec::new();
        let mut placeholders = Vec::new();
        let mut fillers_used = Vec::new();
        for _ in 0..count {
            let (text, secrets, placeholder) = pieces.swap_remove(rng.below(pieces.len()));
            let filler = rng.pick(&fillers);
            message.push_str(&text);
            message.push(' ');
            message.push_str(filler);
            message.push(' ');
            must_vanish.extend(secrets);
            placeholders.push(placeholder);
            fillers_used.push(filler);
        }
        if rng.below(3) == 0 {
            message.push_str(&format!("LG {first}"));
            must_vanish.push(first.to_string());
        }

        let scrubbed = scrub(&message, &KnownNames { names });
        let scrubbed_words: HashSet<String> = NAME_WORD
            .find_iter(&scrubbed)
            .map(|m| canon(m.as_str()))
            .collect();
        let context = format!("round {round}: {message:?}\n  scrubbed: {scrubbed:?}");
        for placeholder in &placeholders {
            assert!(
                scrubbed.contains(placeholder),
                "{context}\n  missing: {placeholder}"
            );
        }
        for filler in &fillers_used {
            assert!(
                scrubbed.contains(filler),
                "{context}\n  filler changed: {filler:?}"
            );
        }
        for personal in &must_vanish {
            let context = format!(
                "round {round}: {message:?}\n  scrubbed: {scrubbed:?}\n  leaked: {personal:?}"
            );
            assert!(!scrubbed.contains(personal.as_str()), "{context}");
            let digits = digits_only(personal);
            if digits.len() >= 7 {
                assert!(!digits_only(&scrubbed).contains(&digits), "{context}");
            }
            if digits.is_empty() {
                for part in personal.split(['-', ' ']) {
                    assert!(!scrubbed_words.contains(&canon(part)), "{context}");
                }
            }
        }
    }
}
