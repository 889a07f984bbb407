//! Understanding a message: which catalogue topic it is about, with a confidence. Pure Rust:
//! normalised words matched against each topic's keyword stems, tolerant of case,
//! punctuation, umlaut spellings, small typos, German compounds and a few emoji.

use super::catalogue::{Catalogue, SMALL_TALK, parse_keyword};
use crate::domain::text::normalize;
use strsim::damerau_levenshtein;

/// Below this confidence a message is `unknown` (Lisa asks to rephrase).
pub const CONFIDENCE_THRESHOLD: f64 = 0.4;

#[derive(Clone, Debug, PartialEq)]
pub struct Classification {
    pub topic: String,
    /// 0 to 1: how clearly the best topic beats the others.
    pub confidence: f64,
}

/// Whether a message word matches a keyword stem: equal for short stems (a repeated last
/// letter allowed: "heyy"), else a prefix or (for long stems) part of a compound, allowing a
/// small typo in words about as long as the stem.
fn word_matches(stem: &str, word: &str) -> bool {
    let stem_len = stem.chars().count();
    if stem_len <= 3 {
        let last = stem.chars().last();
        return word
            .strip_prefix(stem)
            .is_some_and(|rest| rest.chars().all(|c| Some(c) == last));
    }
    if word.starts_with(stem) || (stem_len >= 6 && word.contains(stem)) {
        return true;
    }
    let allowed = match stem_len {
        0..=4 => 0,
        5..=10 => 1,
        _ => 2,
    };
    let chars: Vec<char> = word.chars().collect();
    if allowed == 0 || chars.len() > stem_len + 4 {
        return false;
    }
    [stem_len - 1, stem_len, stem_len + 1]
        .into_iter()
        .filter(|&cut| cut <= chars.len())
        .any(|cut| {
            let prefix: String = chars[..cut].iter().collect();
            damerau_levenshtein(stem, &prefix) <= allowed
        })
}

/// Whether the keyword (one or more stems) occurs in the words, in order and adjacent.
fn keyword_matches(keyword: &[&str], words: &[&str]) -> bool {
    words
        .windows(keyword.len())
        .any(|window| keyword.iter().zip(window).all(|(s, w)| word_matches(s, w)))
}

/// One keyword of a topic: its stems and its weight (`"stem^2"` in the catalogue).
struct Keyword {
    text: String,
    stems: Vec<String>,
    weight: f64,
}

pub struct Classifier {
    topics: Vec<(String, Vec<Keyword>)>,
}

/// A topic's score and the keywords that matched, for `servicekanal classify --explain`.
#[derive(Clone, Debug, PartialEq)]
pub struct Explanation {
    pub topic: String,
    pub score: f64,
    pub matched: Vec<String>,
}

impl Classifier {
    pub fn new(catalogue: &Catalogue) -> Self {
        let topics = catalogue
            .topics()
            .iter()
            .map(|t| {
                let keywords = t
                    .keywords
                    .iter()
                    .map(|raw| {
                        let (text, weight) = parse_keyword(raw);
                        Keyword {
                            text: text.to_owned(),
                            stems: text.split(' ').map(str::to_owned).collect(),
                            weight,
                        }
                    })
                    .collect();
                (t.id.clone(), keywords)
            })
            .collect();
        Self { topics }
    }

    /// Every topic with a score: a phrase counts more than a word, a weighted keyword more
    /// than a plain one, and the matched length breaks ties toward the more specific topic.
    pub fn explain(&self, message: &str) -> Vec<Explanation> {
        let normalized = normalize(message);
        let words: Vec<&str> = normalized.split(' ').filter(|w| !w.is_empty()).collect();
        let mut out: Vec<Explanation> = self
            .topics
            .iter()
            .map(|(id, keywords)| {
                let matched: Vec<&Keyword> = keywords
                    .iter()
                    .filter(|k| {
                        let stems: Vec<&str> = k.stems.iter().map(String::as_str).collect();
                        keyword_matches(&stems, &words)
                    })
                    .collect();
                let score = matched
                    .iter()
                    .map(|k| {
                        k.weight * (1.0 + 0.75 * (k.stems.len() as f64 - 1.0))
                            + 0.01 * k.text.len() as f64
                    })
                    .sum::<f64>();
                Explanation {
                    topic: id.clone(),
                    score,
                    matched: matched.iter().map(|k| k.text.clone()).collect(),
                }
            })
            .filter(|e| e.score > 0.0)
            .collect();
        out.sort_by(|a, b| b.score.total_cmp(&a.score));
        out
    }

    pub fn classify(&self, message: &str) -> Classification {
        let mut scores = self.explain(message);
        // A concern beats small talk: "Hallo, meine Rechnung ..." is about the bill.
        if scores
            .iter()
            .any(|e| !SMALL_TALK.contains(&e.topic.as_str()))
        {
            scores.retain(|e| !SMALL_TALK.contains(&e.topic.as_str()));
        }
        let Some(best) = scores.first() else {
            return Classification {
                topic: "unknown".into(),
                confidence: 0.0,
            };
        };
        let second = scores.get(1).map_or(0.0, |e| e.score);
        let confidence = best.score / (best.score + second + 0.5);
        Classification {
            topic: if confidence < CONFIDENCE_THRESHOLD {
                "unknown".into()
            } else {
                best.topic.clone()
            },
            confidence,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(message: &str) -> String {
        Classifier::new(&Catalogue::embedded())
            .classify(message)
            .topic
    }

    #[test]
    fn normalizing_unifies_spellings() {
        assert_eq!(normalize("Kündigung!!!"), "kuendigung");
        assert_eq!(normalize("KUENDIGUNG"), "kuendigung");
        assert_eq!(normalize("Straße, bitte…"), "strasse bitte");
        assert_eq!(normalize("Hallooooo 👋"), "hallo hallo");
    }

    #[test]
    fn typos_umlauts_compounds_and_emoji_are_understood() {
        assert_eq!(classify("rechnug zu hoch"), "bill");
        assert_eq!(classify("KÜNDIGEN!!!"), "cancellation");
        assert_eq!(classify("kuendigen"), "cancellation");
        assert_eq!(classify("Handyrechnung falsch"), "bill");
        assert_eq!(classify("👋"), "greeting");
        assert_eq!(classify("Hallo, meine Rechnung ist falsch"), "bill");
        assert_eq!(classify("Wie wird das Wetter?"), "unknown");
        assert_eq!(classify(""), "unknown");
    }
}
