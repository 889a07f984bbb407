//! Property-based tests (proptest) of the parsers and the arithmetic every promise rests on:
//! the webhook signature and payload, phone numbers, callback windows, the text normaliser
//! and Lisa's classifier, and the retention deadlines on the Berlin calendar.
//!
//! Case counts are bounded (see `config`) so the suite stays a few seconds long; a long run
//! sets `PROPTEST_CASES` (docs/reliability.md). No test reads the wall clock: every "now" is
//! generated.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Timelike, Utc,
};
use chrono_tz::Europe::Berlin;
use proptest::prelude::*;
use servicekanal_shared::channels::whatsapp::payload::{
    SignatureError, WebhookPayload, sign, verify_signature,
};
use servicekanal_shared::domain::callback::{
    BUSINESS_HOURS, WindowError, describe_window, parse_window,
};
use servicekanal_shared::domain::phone::{self, PhoneError};
use servicekanal_shared::domain::text::normalize;
use servicekanal_shared::lisa::model::{TopicModel, for_each_feature, padded};
use servicekanal_shared::policy::retention::{Anchor, RetentionClass};
use servicekanal_testing::properties::{
    WHATSAPP_NAMES, WHATSAPP_VALUES, config, json_with, sender, user_message,
};
use std::sync::LazyLock;

/// Instants from 2000 to 2099, in whole seconds or with a fraction: "this century", which
/// the retention arithmetic promises to handle.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (
        946_684_800i64..4_102_444_800,
        prop_oneof![Just(0u32), 0u32..1_000_000_000],
    )
        .prop_map(|(s, n)| DateTime::from_timestamp(s, n).expect("in range"))
}

/// Instants close to a Berlin DST switch (last Sunday of March or October, 2020–2040), where
/// calendar arithmetic goes wrong first; otherwise any instant.
fn instant_near_dst() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![
        instant(),
        (2020i32..2040, prop::bool::ANY, -36i64 * 3600..36 * 3600).prop_map(
            |(year, spring, offset)| {
                let month = if spring { 3 } else { 10 };
                let last = (25..=31)
                    .rev()
                    .map(|d| NaiveDate::from_ymd_opt(year, month, d).expect("a date"))
                    .find(|d| d.weekday() == chrono::Weekday::Sun)
                    .expect("a last Sunday");
                // 01:00 UTC is the switch itself, both ways.
                Utc.from_utc_datetime(&last.and_hms_opt(1, 0, 0).expect("a time"))
                    + Duration::seconds(offset)
            }
        ),
    ]
}

// ---------------------------------------------------------------------------------------
// The webhook signature: X-Hub-Signature-256 over the raw bytes.
// ---------------------------------------------------------------------------------------

/// App secrets as Meta issues them: 32 hex characters (other lengths too).
fn app_secret() -> impl Strategy<Value = Vec<u8>> {
    "[0-9a-f]{8,64}".prop_map(String::into_bytes)
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn a_body_verifies_against_its_own_signature(
        secret in app_secret(),
        body in prop::collection::vec(any::<u8>(), 0..512),
        padding in "[ \t]{0,2}",
    ) {
        let header = format!("{padding}{}{padding}", sign(&secret, &body));
        prop_assert_eq!(verify_signature(&secret, &body, Some(&header)), Ok(()));
    }

    #[test]
    fn any_change_to_body_or_secret_is_refused(
        secret in app_secret(),
        other in app_secret(),
        body in prop::collection::vec(any::<u8>(), 1..512),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        extra in prop::collection::vec(any::<u8>(), 1..8),
    ) {
        let header = sign(&secret, &body);
        let mut altered = body.clone();
        altered[at.index(body.len())] ^= flip;
        prop_assert_eq!(
            verify_signature(&secret, &altered, Some(&header)),
            Err(SignatureError::Mismatch)
        );
        let mut longer = body.clone();
        longer.extend(&extra);
        prop_assert_eq!(
            verify_signature(&secret, &longer, Some(&header)),
            Err(SignatureError::Mismatch)
        );
        prop_assert_eq!(
            verify_signature(&secret, &body[..body.len() - 1], Some(&header)),
            Err(SignatureError::Mismatch)
        );
        if other != secret {
            prop_assert_eq!(
                verify_signature(&other, &body, Some(&header)),
                Err(SignatureError::Mismatch)
            );
        }
    }

    #[test]
    fn a_header_that_is_not_a_sha256_digest_is_malformed(
        secret in app_secret(),
        body in prop::collection::vec(any::<u8>(), 0..64),
        header in prop_oneof![
            ".{0,80}",
            "sha1=[0-9a-f]{40}",
            "sha256=[0-9a-f]{0,63}",
            "sha256=[0-9a-f]{65,70}",
            "sha256=[0-9a-f]{63}[g-z]",
            "SHA256=[0-9a-f]{64}",
        ],
    ) {
        // Whatever the header says, a forged body never verifies: the only way in is the
        // digest of these very bytes.
        let result = verify_signature(&secret, &body, Some(&header));
        prop_assert!(result.is_err(), "{header:?} verified");
        if !header.trim().starts_with("sha256=") {
            prop_assert_eq!(result, Err(SignatureError::Malformed));
        }
    }

    #[test]
    fn a_valid_payload_verifies_only_as_the_exact_bytes_signed(
        secret in app_secret(),
        payload in inbound_payload(),
    ) {
        let compact = serde_json::to_vec(&payload).unwrap();
        let header = sign(&secret, &compact);
        prop_assert_eq!(verify_signature(&secret, &compact, Some(&header)), Ok(()));
        // The same notification re-serialised (what a proxy or a JSON library might do) is
        // other bytes: it must not verify, although it reads as the same payload.
        let pretty = serde_json::to_vec_pretty(&payload).unwrap();
        prop_assert_eq!(
            serde_json::from_slice::<WebhookPayload>(&pretty).unwrap(),
            payload.clone()
        );
        prop_assert_eq!(
            verify_signature(&secret, &pretty, Some(&header)),
            Err(SignatureError::Mismatch)
        );
    }
}

// ---------------------------------------------------------------------------------------
// The webhook payload.
// ---------------------------------------------------------------------------------------

fn inbound_payload() -> impl Strategy<Value = WebhookPayload> {
    (
        sender(),
        "wamid\\.[A-Za-z0-9=]{10,40}",
        1_700_000_000i64..2_000_000_000,
        user_message(),
    )
        .prop_map(|(sender, wamid, at, message)| {
            let at = DateTime::from_timestamp(at, 0).expect("in range");
            WebhookPayload::inbound("106540352242922", &sender, &wamid, at, &message)
        })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn a_payload_reads_back_as_written(payload in inbound_payload()) {
        let bytes = serde_json::to_vec(&payload).unwrap();
        let read: WebhookPayload = serde_json::from_slice(&bytes).unwrap();
        prop_assert_eq!(&read, &payload);
        let message = read.entry[0].changes[0].value.messages[0].ok().expect("readable");
        // What is kept of the message is what the user sent, typed.
        let _ = message.content();
        prop_assert_ne!(
            message.message_type(),
            servicekanal_shared::domain::MessageType::Unsupported
        );
    }

    #[test]
    fn parsing_any_bytes_or_json_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
        value in json_with(WHATSAPP_NAMES, WHATSAPP_VALUES, 5),
    ) {
        let _ = serde_json::from_slice::<WebhookPayload>(&bytes);
        let text = serde_json::to_vec(&value).unwrap();
        if let Ok(payload) = serde_json::from_slice::<WebhookPayload>(&text) {
            for change in payload.entry.iter().flat_map(|e| &e.changes) {
                for message in change.value.messages.iter().filter_map(|m| m.ok()) {
                    let _ = (message.message_type(), message.content());
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Phone numbers.
// ---------------------------------------------------------------------------------------

/// German numbers libphonenumber accepts: mobile and landline prefixes with their lengths
/// (national significant number without the trunk 0).
fn german_number() -> impl Strategy<Value = String> {
    prop_oneof![
        ("15[1279]", "[0-9]{8}").prop_map(|(p, r)| format!("{p}{r}")),
        ("16[023]", "[0-9]{7}").prop_map(|(p, r)| format!("{p}{r}")),
        ("17[0-9]", "[0-9]{7,8}").prop_map(|(p, r)| format!("{p}{r}")),
        ("30", "[1-9][0-9]{7}").prop_map(|(p, r)| format!("{p}{r}")),
        ("89", "[1-9][0-9]{6,7}").prop_map(|(p, r)| format!("{p}{r}")),
        ("40", "[1-9][0-9]{7}").prop_map(|(p, r)| format!("{p}{r}")),
    ]
}

const DIGIT_WORDS: [&str; 10] = [
    "null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun",
];

/// `digits` grouped at the given cut points, joined by separators.
fn grouped(digits: &str, cuts: &[usize], separators: &[&str]) -> String {
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && cuts.contains(&i) {
            out.push_str(separators[i % separators.len()]);
        }
        out.push(c);
    }
    out
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn normalising_any_text_never_panics_and_yields_e164_or_an_error(raw in ".{0,40}") {
        if let Ok(e164) = phone::normalize(&raw) {
            prop_assert!(e164.starts_with('+'), "{e164}");
            let digits = &e164[1..];
            prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{e164}");
            prop_assert!((5..=15).contains(&digits.len()), "{e164}");
            prop_assert_eq!(phone::normalize(&e164), Ok(e164.clone()));
        }
    }

    #[test]
    fn a_german_number_written_or_spoken_any_way_is_one_e164(
        national in german_number(),
        cuts in prop::collection::vec(1usize..12, 0..4),
        separators in prop::collection::vec(
            prop::sample::select(vec![" ", "-", "/", " / ", "  ", ". "]), 1..3),
        words_sep in prop::sample::select(vec![" ", ", ", " "]),
    ) {
        let e164 = format!("+49{national}");
        prop_assert_eq!(phone::normalize(&e164), Ok(e164.clone()));
        let separators: Vec<&str> = separators.to_vec();
        let spoken = format!("0{national}")
            .chars()
            .map(|c| DIGIT_WORDS[c.to_digit(10).unwrap() as usize])
            .collect::<Vec<_>>()
            .join(words_sep);
        let forms = [
            format!("0{national}"),
            grouped(&format!("0{national}"), &cuts, &separators),
            format!("+49 {}", grouped(&national, &cuts, &separators)),
            format!("+49 (0){}", grouped(&national, &cuts, &separators)),
            format!("0049{}", grouped(&national, &cuts, &separators)),
            format!("({}) {}", &format!("0{national}")[..4], &national[3..]),
            spoken,
        ];
        for form in forms {
            prop_assert_eq!(phone::normalize(&form), Ok(e164.clone()), "{:?}", form);
        }
    }

    #[test]
    fn an_e164_number_formatted_and_read_again_is_the_same(
        raw in prop_oneof![
            german_number().prop_map(|n| format!("0{n}")),
            // Abroad: Austria, Switzerland, the US, the UK, Poland, Turkey, France.
            "\\+43 ?6[5-9][0-9] ?[0-9]{6,7}",
            "\\+41 ?7[5-9] ?[0-9]{7}",
            "\\+1 ?[2-9][0-9]{2} ?[2-9][0-9]{6}",
            "\\+44 ?7[1-9][0-9]{2} ?[0-9]{6}",
            "\\+48 ?[5-8][0-9]{8}",
            "\\+90 ?5[0-9]{9}",
            "\\+33 ?[67][0-9]{8}",
        ],
        cuts in prop::collection::vec(1usize..14, 0..4),
    ) {
        // Only numbers the library calls valid are of interest here.
        let Ok(e164) = phone::normalize(&raw) else { return Ok(()); };
        let digits = &e164[1..];
        let written = [
            format!("00{digits}"),
            format!("+{}", grouped(digits, &cuts, &[" "])),
            format!("00 {}", grouped(digits, &cuts, &["-"])),
        ];
        for form in written {
            prop_assert_eq!(phone::normalize(&form), Ok(e164.clone()), "{:?}", form);
        }
        if let Some(national) = e164.strip_prefix("+49") {
            prop_assert_eq!(phone::normalize(&format!("0{national}")), Ok(e164.clone()));
        }
    }

    #[test]
    fn premium_rate_numbers_are_never_called_back(rest in "[135][0-9]{6}", spaced in any::<bool>()) {
        let raw = if spaced { format!("0900 {rest}") } else { format!("+49900{rest}") };
        prop_assert_eq!(phone::normalize(&raw), Err(PhoneError::ServiceNumber));
    }
}

// ---------------------------------------------------------------------------------------
// Callback windows.
// ---------------------------------------------------------------------------------------

fn berlin_time(t: DateTime<Utc>) -> NaiveDateTime {
    t.with_timezone(&Berlin).naive_local()
}

/// What the caller must be able to rely on for any window the parser accepts.
fn check_window(said: &str, now: DateTime<Utc>) -> Result<(), TestCaseError> {
    let Ok(window) = parse_window(said, now) else {
        return Ok(());
    };
    let (start, end) = (berlin_time(window.start), berlin_time(window.end));
    prop_assert!(window.start < window.end, "{said:?}: {window:?}");
    prop_assert!(window.end > now, "{said:?}: over at {now}");
    prop_assert!(
        window.start <= now + Duration::days(14),
        "{said:?}: more than 14 days ahead of {now}"
    );
    prop_assert_eq!(start.date(), end.date(), "{:?}: one day", said);
    let open = NaiveTime::from_hms_opt(BUSINESS_HOURS.0, 0, 0).unwrap();
    let close = NaiveTime::from_hms_opt(BUSINESS_HOURS.1, 0, 0).unwrap();
    prop_assert!(
        start.time() >= open && end.time() <= close,
        "{said:?}: {start}–{end}"
    );
    // What the flow says back reads as the very same window.
    let described = describe_window(window, now);
    prop_assert_eq!(
        parse_window(&described, now),
        Ok(window),
        "{:?} said back as {:?}",
        said,
        described
    );
    Ok(())
}

/// Words and numbers callers use, in any order: most combinations are nonsense, which is the
/// point.
fn window_words() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        prop::sample::select(vec![
            "heute",
            "morgen",
            "übermorgen",
            "Montag",
            "dienstags",
            "Sonnabend",
            "ab",
            "um",
            "zwischen",
            "und",
            "bis",
            "-",
            "Uhr",
            "vormittags",
            "mittags",
            "nachmittag",
            "abends",
            "AF",
            "EV",
            "MO",
            "am",
            "den",
            "bitte",
            "irgendwann",
            "früh",
        ])
        .prop_map(str::to_owned),
        (0u32..26).prop_map(|h| h.to_string()),
        (0u32..25, 0u32..61).prop_map(|(h, m)| format!("{h}:{m:02}")),
        (7u32..21, 8u32..22).prop_map(|(a, b)| format!("{a}-{b}")),
        (1u32..33, 1u32..14).prop_map(|(d, m)| format!("{d}.{m}.")),
        (2025i32..2042, 1u32..13, 1u32..32).prop_map(|(y, m, d)| format!("{y}-{m:02}-{d:02}")),
        (1u32..32, 1u32..13, 2025i32..2042).prop_map(|(d, m, y)| format!("{d}.{m}.{y}")),
    ];
    prop::collection::vec(word, 0..6).prop_map(|w| w.join(" "))
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn any_text_is_refused_or_a_usable_window(said in ".{0,40}", now in instant_near_dst()) {
        check_window(&said, now)?;
    }

    #[test]
    fn any_words_are_refused_or_a_usable_window(said in window_words(), now in instant_near_dst()) {
        check_window(&said, now)?;
    }

    #[test]
    fn tomorrow_between_two_hours_is_exactly_those_hours_in_berlin(
        from in 8u32..20,
        len in 1u32..12,
        form in 0usize..3,
        now in instant_near_dst(),
    ) {
        let to = (from + len).min(BUSINESS_HOURS.1);
        let said = match form {
            0 => format!("morgen zwischen {from} und {to} Uhr"),
            1 => format!("Morgen {from}-{to} Uhr"),
            _ => format!("morgen von {from}:00 bis {to}:00"),
        };
        let window = parse_window(&said, now).map_err(|e| TestCaseError::fail(format!("{said:?} at {now}: {e}")))?;
        let tomorrow = now.with_timezone(&Berlin).date_naive() + Duration::days(1);
        prop_assert_eq!(berlin_time(window.start), tomorrow.and_hms_opt(from, 0, 0).unwrap());
        prop_assert_eq!(berlin_time(window.end), tomorrow.and_hms_opt(to, 0, 0).unwrap());
        // Across a DST switch the UTC length still matches the wall clock's (no switch
        // happens between 8 and 20 o'clock).
        prop_assert_eq!(window.end - window.start, Duration::hours(i64::from(to - from)));
    }

    #[test]
    fn hours_outside_eight_to_twenty_are_refused(
        from in 0u32..24,
        to in 0u32..24,
        day in prop::sample::select(vec!["morgen", "übermorgen", "Montag"]),
        now in instant_near_dst(),
    ) {
        let result = parse_window(&format!("{day} {from}-{to} Uhr"), now);
        if from >= to {
            prop_assert_eq!(result, Err(WindowError::Unreadable));
        } else if from < BUSINESS_HOURS.0 || to > BUSINESS_HOURS.1 {
            prop_assert_eq!(result, Err(WindowError::OutsideBusinessHours));
        } else if day == "Montag" {
            // On a Monday that is today, and may be over.
            prop_assert!(matches!(result, Ok(_) | Err(WindowError::InThePast)), "{result:?}");
        } else {
            prop_assert!(result.is_ok(), "{result:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// The normaliser and Lisa's classifier.
// ---------------------------------------------------------------------------------------

/// German customer text: letters with umlauts and ß, digits, punctuation, emoji Lisa knows.
fn german_text() -> impl Strategy<Value = String> {
    "[a-zA-ZäöüÄÖÜß0-9 .,!?'’-]{0,60}|[a-zäöüß ]{0,20}(👋|🙏|📱|📦|✈)?[a-z ]{0,20}"
}

/// Any Unicode, and text rich in characters whose case mapping is special (several
/// characters, combining marks, title case, final sigma, ligatures).
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(
            prop_oneof![
                prop::sample::select(vec![
                    'İ', 'ı', 'ẞ', 'ß', 'Σ', 'ς', 'ǅ', 'ǈ', 'ﬀ', 'ﬁ', 'ŉ', 'ΐ', 'Å', 'K', 'Ω',
                    '\u{301}', '\u{308}', 'Ä', 'a', 'A', ' ', '\'', '-', '😀', '👋', '٣', '²', 'Ⅻ',
                    'ⅻ',
                ]),
                any::<char>(),
            ],
            0..12,
        )
        .prop_map(|chars| chars.into_iter().collect()),
    ]
}

fn spaces_then_runs_ok(normalized: &str) -> Result<(), TestCaseError> {
    prop_assert!(!normalized.starts_with(' ') && !normalized.ends_with(' '));
    prop_assert!(!normalized.contains("  "), "{normalized:?}");
    let chars: Vec<char> = normalized.chars().collect();
    prop_assert!(
        chars.windows(3).all(|w| !(w[0] == w[1] && w[1] == w[2])),
        "a letter three times in {normalized:?}"
    );
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn normalised_text_is_words_of_lower_case_letters_and_digits(text in any_text()) {
        let normalized = normalize(&text);
        spaces_then_runs_ok(&normalized)?;
        prop_assert!(
            normalized
                .chars()
                .all(|c| c == ' ' || (c.is_alphanumeric() && c.to_lowercase().eq([c]))),
            "{text:?} -> {normalized:?}"
        );
        // Normalising twice changes nothing: keywords stored normalised match again.
        prop_assert_eq!(normalize(&normalized), normalized.clone(), "{:?}", text);
    }

    #[test]
    fn case_umlaut_spelling_and_punctuation_do_not_matter(text in german_text()) {
        let normalized = normalize(&text);
        spaces_then_runs_ok(&normalized)?;
        prop_assert_eq!(normalize(&normalized), normalized.clone());
        prop_assert_eq!(normalize(&text.to_uppercase()), normalized.clone());
        let spelled = text
            .replace('ä', "ae").replace('ö', "oe").replace('ü', "ue")
            .replace('Ä', "Ae").replace('Ö', "Oe").replace('Ü', "Ue").replace('ß', "ss");
        prop_assert_eq!(normalize(&spelled), normalized.clone());
        prop_assert_eq!(normalize(&format!("  {text}?!  ")), normalized);
    }

    #[test]
    fn features_are_slices_of_the_padded_message(text in any::<String>()) {
        let padded = padded(&text);
        prop_assert!(padded.starts_with(' ') && padded.ends_with(' '));
        let mut count = 0usize;
        for_each_feature(&padded, |feature| {
            count += 1;
            assert!(padded.contains(feature), "{feature:?} not in {padded:?}");
            assert!(!feature.trim().is_empty(), "empty feature of {padded:?}");
        });
        if normalize(&text).is_empty() {
            prop_assert_eq!(count, 0);
        }
    }
}

static MODEL: LazyLock<TopicModel> = LazyLock::new(TopicModel::embedded);

proptest! {
    // Each prediction walks the whole model: fewer cases.
    #![proptest_config(config(128))]

    #[test]
    fn lisa_reads_any_message_and_ignores_case_umlauts_and_punctuation(text in german_text()) {
        let model = &*MODEL;
        let probabilities = model.probabilities(&text);
        prop_assert_eq!(probabilities.len(), model.topics().len());
        prop_assert!(probabilities.iter().all(|p| (0.0..=1.0).contains(p)));
        let sum: f32 = probabilities.iter().sum();
        prop_assert!((sum - 1.0).abs() < 1e-3, "probabilities sum to {sum}");
        let prediction = model.predict(&text);
        prop_assert!(prediction.probability >= prediction.runner_up_probability);
        prop_assert_ne!(&prediction.topic, &prediction.runner_up);
        let understanding = model.understand(&text);
        for variant in [
            text.to_uppercase(),
            text.replace('ü', "ue").replace('ä', "ae").replace('ö', "oe").replace('ß', "ss"),
            format!(" {text} !!! "),
        ] {
            prop_assert_eq!(model.understand(&variant), understanding.clone(), "{:?}", variant);
        }
    }

    #[test]
    fn lisa_reads_any_unicode_without_panicking(text in any::<String>()) {
        let prediction = MODEL.predict(&text);
        prop_assert!(prediction.probability.is_finite());
    }
}

// ---------------------------------------------------------------------------------------
// Retention deadlines.
// ---------------------------------------------------------------------------------------

/// The Berlin wall-clock reading `months` calendar months after `local`, the day clamped to
/// the end of a shorter month: written out independently of the code under test.
fn months_later(local: NaiveDateTime, months: u32) -> NaiveDateTime {
    let index = local.year() * 12 + local.month0() as i32 + months as i32;
    let (year, month) = (index.div_euclid(12), index.rem_euclid(12) as u32 + 1);
    let last_day = (28..=31)
        .rev()
        .find(|&d| NaiveDate::from_ymd_opt(year, month, d).is_some())
        .expect("a month has 28 to 31 days");
    NaiveDate::from_ymd_opt(year, month, local.day().min(last_day))
        .expect("a valid day")
        .and_time(local.time())
}

fn whole(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).expect("in range")
}

fn class() -> impl Strategy<Value = RetentionClass> {
    prop::sample::select(RetentionClass::ALL.to_vec())
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn a_deadline_lies_after_its_anchor_in_whole_seconds(class in class(), anchor in instant_near_dst()) {
        let deadline = class.deadline(anchor);
        prop_assert!(deadline > anchor, "{class}: {anchor} -> {deadline}");
        prop_assert_eq!(deadline.timestamp_subsec_nanos(), 0);
        // Never later than the longest promise (13 months of at most 31 days, plus an hour).
        prop_assert!(deadline - anchor <= Duration::days(13 * 31) + Duration::hours(1));
    }

    #[test]
    fn seven_days_are_seven_times_24_hours_whatever_the_clocks_do(anchor in instant_near_dst()) {
        prop_assert_eq!(
            RetentionClass::Bot7d.deadline(anchor),
            whole(anchor) + Duration::days(7)
        );
    }

    #[test]
    fn months_are_calendar_months_on_the_berlin_wall_clock(
        class in prop::sample::select(vec![
            RetentionClass::Service13m, RetentionClass::Survey13m, RetentionClass::Callback3m,
        ]),
        anchor in instant_near_dst(),
    ) {
        let months = match class {
            RetentionClass::Callback3m => 3,
            _ => 13,
        };
        let target = months_later(berlin_time(whole(anchor)), months);
        let deadline = class.deadline(anchor);
        match Berlin.from_local_datetime(&target) {
            // The same wall-clock time; of an hour that happens twice, the first.
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                prop_assert_eq!(deadline, t.with_timezone(&Utc), "{} + {}m", anchor, months);
            }
            // Inside the spring gap: no such time; the deadline falls before the gap (never
            // late), at most an hour earlier than the reading asked for.
            LocalResult::None => {
                let local = berlin_time(deadline);
                prop_assert!(local < target && target - local <= Duration::hours(1), "{local} for {target}");
                prop_assert_eq!(local.date(), target.date());
                prop_assert!(local.hour() < 3);
            }
        }
    }

    #[test]
    fn a_later_anchor_never_gives_a_deadline_on_an_earlier_day(
        class in class(),
        a in instant_near_dst(),
        later in 0i64..120 * 86_400,
    ) {
        let b = a + Duration::seconds(later);
        let (due_a, due_b) = (class.deadline(a), class.deadline(b));
        // Within one day the order may turn: 30 March 08:00 and 31 March 00:00 are both due
        // on 30 April (the month end clamps), at 08:00 and 00:00; and a reading inside the
        // spring gap moves back an hour. Neither is ever later than promised.
        prop_assert!(
            berlin_time(due_a).date() <= berlin_time(due_b).date(),
            "{a} -> {due_a}, {b} -> {due_b}"
        );
        if class == RetentionClass::Bot7d {
            prop_assert!(due_a <= due_b);
        }
    }

    #[test]
    fn anchors_follow_the_retention_rule(
        class in class(),
        at in instant_near_dst(),
        later in 0i64..400 * 86_400,
        until in instant_near_dst(),
    ) {
        let last_contact = at + Duration::seconds(later);
        let contact = class.deadline_of(Anchor::Contact { at, last_contact });
        if class.slides() {
            prop_assert_eq!(contact, class.deadline(last_contact));
        } else {
            prop_assert_eq!(contact, class.deadline(at));
        }
        let short = class.deadline_of(Anchor::Until { at, until });
        prop_assert!(short <= class.deadline(at) && short <= whole(until));
        prop_assert_eq!(class.deadline_of(Anchor::With(until)), whole(until));
        prop_assert_eq!(class.deadline_of(Anchor::At(at)), class.deadline(at));
    }
}
