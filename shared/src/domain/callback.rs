//! Callback requests of the voice assistant: the topic list and spoken texts
//! (`shared/data/callbacks.toml`), the callback window as callers say it, the reference.

use crate::domain::text::normalize;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Europe::Berlin;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashSet;

pub const EMBEDDED: &str = include_str!("../../data/callbacks.toml");

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackTopic {
    pub id: String,
    /// What the caller hears and sales reads.
    pub label: String,
    /// Words a caller may use for it (normalised like Lisa's keywords: `ae` for `ä`).
    #[serde(default)]
    pub synonyms: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackTexts {
    pub confirmation: String,
    pub invalid_phone: String,
    pub invalid_window: String,
    pub invalid_topic: String,
    pub invalid_name: String,
    pub error: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    #[serde(flatten)]
    texts: CallbackTexts,
    topic: Vec<CallbackTopic>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CallbackCatalogueError {
    #[error("the callback catalogue is not valid TOML: {0}")]
    Syntax(String),
    #[error("callback topic {0:?} appears more than once")]
    Duplicate(String),
    #[error("callback topic {0:?} needs an id of lower-case words and a label")]
    Invalid(String),
    #[error("the callback catalogue has no topic \"other\"")]
    NoOther,
}

#[derive(Clone, Debug)]
pub struct CallbackCatalogue {
    pub texts: CallbackTexts,
    topics: Vec<CallbackTopic>,
}

impl CallbackCatalogue {
    pub fn embedded() -> Self {
        Self::from_toml(EMBEDDED).expect("the shipped callback catalogue is valid (tested)")
    }

    pub fn from_toml(text: &str) -> Result<Self, CallbackCatalogueError> {
        let file: CatalogueFile =
            toml::from_str(text).map_err(|e| CallbackCatalogueError::Syntax(e.to_string()))?;
        let mut seen = HashSet::new();
        for topic in &file.topic {
            let id_ok = !topic.id.is_empty()
                && topic.id.chars().all(|c| c.is_ascii_lowercase() || c == '-');
            if !id_ok || topic.label.trim().is_empty() {
                return Err(CallbackCatalogueError::Invalid(topic.id.clone()));
            }
            if !seen.insert(topic.id.clone()) {
                return Err(CallbackCatalogueError::Duplicate(topic.id.clone()));
            }
        }
        if !seen.contains("other") {
            return Err(CallbackCatalogueError::NoOther);
        }
        Ok(Self {
            texts: file.texts,
            topics: file.topic,
        })
    }

    pub fn topics(&self) -> &[CallbackTopic] {
        &self.topics
    }

    pub fn get(&self, id: &str) -> Option<&CallbackTopic> {
        self.topics.iter().find(|t| t.id == id)
    }

    /// The topic a caller named: by id, label or synonym, case and umlauts aside.
    pub fn find(&self, said: &str) -> Option<&CallbackTopic> {
        let said = normalize(said);
        let said = said.trim();
        if said.is_empty() {
            return None;
        }
        self.topics.iter().find(|t| {
            normalize(&t.id.replace('-', " ")) == said
                || normalize(&t.label) == said
                || t.synonyms.iter().any(|s| normalize(s) == said)
        })
    }
}

/// A short reference the caller can note, the same for every retry of one Connect contact.
pub fn reference_for(connect_contact_id: &str) -> String {
    // No 0/O or 1/I: read out over the phone.
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let digest = Sha256::digest(connect_contact_id.as_bytes());
    let code: String = digest
        .iter()
        .take(6)
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    format!("RB-{code}")
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WindowError {
    #[error("no callback window given")]
    Empty,
    #[error("the callback window is not readable")]
    Unreadable,
    #[error("the callback window is over")]
    InThePast,
    #[error("callbacks are planned at most 14 days ahead")]
    TooFarAhead,
    #[error("callbacks happen between 8 and 20 o'clock")]
    OutsideBusinessHours,
}

/// Callbacks are made between these hours (Berlin time).
pub const BUSINESS_HOURS: (u32, u32) = (8, 20);
const MAX_DAYS_AHEAD: i64 = 14;

/// A callback window in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

fn weekday(word: &str) -> Option<Weekday> {
    Some(match word {
        "montag" | "montags" => Weekday::Mon,
        "dienstag" | "dienstags" => Weekday::Tue,
        "mittwoch" | "mittwochs" => Weekday::Wed,
        "donnerstag" | "donnerstags" => Weekday::Thu,
        "freitag" | "freitags" => Weekday::Fri,
        "samstag" | "samstags" | "sonnabend" => Weekday::Sat,
        "sonntag" | "sonntags" => Weekday::Sun,
        _ => return None,
    })
}

/// Parts of the day, as said, and as Lex's AMAZON.Time resolves them (MO, AF, EV).
fn part_of_day(word: &str) -> Option<(u32, u32)> {
    Some(match word {
        "vormittag" | "vormittags" | "morgens" | "frueh" | "mo" => (9, 12),
        "mittag" | "mittags" | "mittagszeit" => (12, 14),
        "nachmittag" | "nachmittags" | "af" => (14, 17),
        "abend" | "abends" | "ev" => (17, 20),
        _ => return None,
    })
}

fn time_of(word: &str) -> Option<NaiveTime> {
    let word = word.trim_end_matches("uhr");
    let (h, m) = match word.split_once(':').or_else(|| word.split_once('.')) {
        Some((h, m)) => (h.parse().ok()?, m.parse().ok()?),
        None => (word.parse().ok()?, 0),
    };
    NaiveTime::from_hms_opt(h, m, 0)
}

fn date_of(word: &str, today: NaiveDate) -> Option<NaiveDate> {
    if let Ok(date) = NaiveDate::parse_from_str(word, "%Y-%m-%d") {
        return Some(date);
    }
    let parts: Vec<&str> = word.trim_end_matches('.').split('.').collect();
    match parts.as_slice() {
        [d, m] => {
            let (d, m) = (d.parse().ok()?, m.parse().ok()?);
            let this_year = NaiveDate::from_ymd_opt(today.year(), m, d)?;
            if this_year >= today {
                Some(this_year)
            } else {
                NaiveDate::from_ymd_opt(today.year() + 1, m, d)
            }
        }
        [d, m, y] => NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?),
        _ => None,
    }
}

fn berlin(date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
    Berlin
        .from_local_datetime(&date.and_time(time))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// Reads a callback window as callers say it: "morgen zwischen 14 und 16 Uhr", "heute ab 15
/// Uhr", "Montag vormittag", "24.11. 9-12", "2026-11-24 14:00" (what Lex's date and time slots
/// resolve to). Without a time the whole business day counts; without a day, the next time
/// the hours come round.
pub fn parse_window(said: &str, now: DateTime<Utc>) -> Result<Window, WindowError> {
    // Lisa's normalising would drop the dots and colons of dates and times.
    let text = said
        .to_lowercase()
        .replace('ä', "ae")
        .replace('ö', "oe")
        .replace('ü', "ue")
        .replace('ß', "ss")
        .replace([',', ';', '!', '?'], " ")
        .replace(" - ", "-")
        .replace(" bis ", "-")
        .replace(" und ", "-");
    let today = now.with_timezone(&Berlin).date_naive();
    let mut day = None;
    let mut hours: Vec<NaiveTime> = Vec::new();
    let mut part = None;
    let mut open_end = false;
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() {
        return Err(WindowError::Empty);
    }
    for word in words {
        match word {
            "heute" => day = Some(today),
            "morgen" if day.is_none() => day = Some(today + Duration::days(1)),
            "morgen" => part = Some((9, 12)), // "heute morgen"
            "uebermorgen" => day = Some(today + Duration::days(2)),
            "ab" => open_end = true,
            // "um 14" is a single hour, like a bare "14".
            "um" | "gegen" | "zwischen" | "von" | "am" | "uhr" | "den" | "der" | "bitte"
            | "gerne" | "so" => {}
            w if weekday(w).is_some() => {
                let target = weekday(w).unwrap_or(Weekday::Mon);
                let ahead = (7 + target.num_days_from_monday() as i64
                    - today.weekday().num_days_from_monday() as i64)
                    % 7;
                day = Some(today + Duration::days(ahead));
            }
            w if part_of_day(w).is_some() => part = part_of_day(w),
            w if date_of(w, today).is_some() => day = date_of(w, today),
            w => {
                // "14-16", "14:30-16", "14uhr-16uhr", or a single "14".
                let mut any = false;
                for piece in w.split('-').filter(|p| !p.is_empty()) {
                    hours.push(time_of(piece).ok_or(WindowError::Unreadable)?);
                    any = true;
                }
                if !any {
                    return Err(WindowError::Unreadable);
                }
            }
        }
    }
    let hour = |h: u32| NaiveTime::from_hms_opt(h, 0, 0).unwrap_or(NaiveTime::MIN);
    let (from, to) = match (hours.as_slice(), part) {
        ([from, to], _) => (*from, *to),
        ([at], _) if open_end => (*at, (*at + Duration::hours(2)).min(hour(BUSINESS_HOURS.1))),
        ([at], _) => (*at, *at + Duration::hours(1)),
        ([], Some((from, to))) => (hour(from), hour(to)),
        ([], None) if day.is_some() => (hour(BUSINESS_HOURS.0), hour(BUSINESS_HOURS.1)),
        _ => return Err(WindowError::Unreadable),
    };
    if from >= to {
        return Err(WindowError::Unreadable);
    }
    if from < hour(BUSINESS_HOURS.0) || to > hour(BUSINESS_HOURS.1) {
        return Err(WindowError::OutsideBusinessHours);
    }
    let day = match day {
        Some(day) => day,
        // No day: today if the hours are still ahead, else tomorrow.
        None => match berlin(today, to) {
            Some(end) if end > now => today,
            _ => today + Duration::days(1),
        },
    };
    let (Some(start), Some(end)) = (berlin(day, from), berlin(day, to)) else {
        return Err(WindowError::Unreadable);
    };
    if end <= now {
        return Err(WindowError::InThePast);
    }
    if start > now + Duration::days(MAX_DAYS_AHEAD) {
        return Err(WindowError::TooFarAhead);
    }
    Ok(Window { start, end })
}

/// The window as the flow says it back: "heute zwischen 14 und 16 Uhr",
/// "am Montag, 24.11., zwischen 9 und 12 Uhr".
pub fn describe_window(window: Window, now: DateTime<Utc>) -> String {
    let start = window.start.with_timezone(&Berlin);
    let end = window.end.with_timezone(&Berlin);
    let today = now.with_timezone(&Berlin).date_naive();
    let day = match (start.date_naive() - today).num_days() {
        0 => "heute".to_owned(),
        1 => "morgen".to_owned(),
        2 => "übermorgen".to_owned(),
        _ => {
            let name = match start.weekday() {
                Weekday::Mon => "Montag",
                Weekday::Tue => "Dienstag",
                Weekday::Wed => "Mittwoch",
                Weekday::Thu => "Donnerstag",
                Weekday::Fri => "Freitag",
                Weekday::Sat => "Samstag",
                Weekday::Sun => "Sonntag",
            };
            format!("am {name}, {},", start.format("%d.%m."))
        }
    };
    let clock = |t: chrono::DateTime<chrono_tz::Tz>| {
        if t.format("%M").to_string() == "00" {
            t.format("%-H").to_string()
        } else {
            t.format("%-H:%M").to_string()
        }
    };
    format!("{day} zwischen {} und {} Uhr", clock(start), clock(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Saturday 21 November 2026, 10:00 in Berlin.
    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-21T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn berlin_time(s: &str) -> DateTime<Utc> {
        let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        Berlin
            .from_local_datetime(&naive)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn windows_as_callers_say_them() {
        let cases = [
            (
                "morgen zwischen 14 und 16 Uhr",
                "2026-11-22 14:00",
                "2026-11-22 16:00",
            ),
            ("Morgen 14-16 Uhr", "2026-11-22 14:00", "2026-11-22 16:00"),
            ("heute ab 15 Uhr", "2026-11-21 15:00", "2026-11-21 17:00"),
            ("heute um 11", "2026-11-21 11:00", "2026-11-21 12:00"),
            ("Montag vormittag", "2026-11-23 09:00", "2026-11-23 12:00"),
            (
                "übermorgen nachmittags",
                "2026-11-23 14:00",
                "2026-11-23 17:00",
            ),
            ("24.11. 9-12", "2026-11-24 09:00", "2026-11-24 12:00"),
            (
                "am 25.11.2026 von 10:30 bis 12 Uhr",
                "2026-11-25 10:30",
                "2026-11-25 12:00",
            ),
            ("2026-11-24 14:00", "2026-11-24 14:00", "2026-11-24 15:00"),
            ("2026-11-24 AF", "2026-11-24 14:00", "2026-11-24 17:00"),
            ("Dienstag", "2026-11-24 08:00", "2026-11-24 20:00"),
            // No day: today while the hours are ahead, else tomorrow.
            (
                "zwischen 14 und 16 Uhr",
                "2026-11-21 14:00",
                "2026-11-21 16:00",
            ),
            ("8-9 Uhr", "2026-11-22 08:00", "2026-11-22 09:00"),
        ];
        for (said, start, end) in cases {
            assert_eq!(
                parse_window(said, now()),
                Ok(Window {
                    start: berlin_time(start),
                    end: berlin_time(end)
                }),
                "{said:?}"
            );
        }
    }

    #[test]
    fn windows_that_cannot_be_used_are_refused() {
        assert_eq!(parse_window("", now()), Err(WindowError::Empty));
        assert_eq!(
            parse_window("irgendwann", now()),
            Err(WindowError::Unreadable)
        );
        assert_eq!(
            parse_window("heute 16-14", now()),
            Err(WindowError::Unreadable)
        );
        assert_eq!(
            parse_window("heute 8-9", now()),
            Err(WindowError::InThePast)
        );
        assert_eq!(
            parse_window("morgen 22-23 Uhr", now()),
            Err(WindowError::OutsideBusinessHours)
        );
        assert_eq!(
            parse_window("24.12. 10-12", now()),
            Err(WindowError::TooFarAhead)
        );
    }

    #[test]
    fn windows_are_said_back_in_german() {
        let w = parse_window("morgen zwischen 14 und 16 Uhr", now()).unwrap();
        assert_eq!(describe_window(w, now()), "morgen zwischen 14 und 16 Uhr");
        let w = parse_window("24.11. 9:30-12", now()).unwrap();
        assert_eq!(
            describe_window(w, now()),
            "am Dienstag, 24.11., zwischen 9:30 und 12 Uhr"
        );
    }

    #[test]
    fn topics_are_found_by_id_label_or_synonym_and_the_file_is_checked() {
        let catalogue = CallbackCatalogue::embedded();
        assert_eq!(catalogue.find("Tarifberatung").unwrap().id, "tariff-advice");
        assert_eq!(catalogue.find("tariff-advice").unwrap().id, "tariff-advice");
        assert_eq!(
            catalogue.find("Vertragsverlängerung").unwrap().id,
            "contract-extension"
        );
        assert_eq!(catalogue.find("Handy").unwrap().id, "devices");
        assert!(catalogue.find("Pizza").is_none());
        let without_other = EMBEDDED.replace("id = \"other\"", "id = \"misc\"");
        assert_eq!(
            CallbackCatalogue::from_toml(&without_other).unwrap_err(),
            CallbackCatalogueError::NoOther
        );
    }

    #[test]
    fn references_are_stable_per_contact_and_readable() {
        let a = reference_for("5fb1d0c2-7c9e-4a1b-9d2f-0c3e5b7a9d11");
        assert_eq!(a, reference_for("5fb1d0c2-7c9e-4a1b-9d2f-0c3e5b7a9d11"));
        assert_ne!(a, reference_for("another-contact"));
        assert!(a.starts_with("RB-") && a.len() == 9);
        assert!(!a[3..].contains(['0', '1', 'I', 'O']));
    }
}
