//! How well Lisa understands a labelled set (`servicekanal eval-topics`): accuracy per topic,
//! the confusion pairs, and how often she answers directly, asks between two topics or asks to
//! rephrase. The test set (`shared/data/corpus/test.tsv`) is never used for training.

use super::catalogue::Catalogue;
use super::model::{TopicModel, Understanding};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The test set shipped in the repository: written before training and never used for it.
pub const EMBEDDED_TEST_SET: &str = include_str!("../../data/corpus/test.tsv");

/// What Lisa does for a topic; a confusion across these changes what the customer gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Authenticate and hand over to an agent.
    Handover,
    /// A prepared answer, maybe with a link.
    Answer,
    /// Greeting, goodbye, privacy, asking to rephrase.
    Dialogue,
}

pub fn behaviour(catalogue: &Catalogue, topic: &str) -> Behaviour {
    match topic {
        "greeting" | "goodbye" | "privacy" | "unknown" => Behaviour::Dialogue,
        _ if catalogue.get(topic).is_some_and(|t| t.contract_specific) => Behaviour::Handover,
        _ => Behaviour::Answer,
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LabelledSetError {
    #[error("line {0}: expected `topic<TAB>message`")]
    Format(usize),
    #[error("line {line}: unknown topic {topic:?}")]
    UnknownTopic { line: usize, topic: String },
}

/// Reads a labelled set: one `topic<TAB>message` per line; empty lines, `#` comments and a
/// header line (`topic<TAB>...`) are skipped. Every topic must be one of `topics`.
pub fn read_labelled(
    text: &str,
    topics: &[&str],
) -> Result<Vec<(String, String)>, LabelledSetError> {
    let mut set = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (topic, message) = line
            .split_once('\t')
            .ok_or(LabelledSetError::Format(index + 1))?;
        let topic = topic.trim();
        if set.is_empty() && topic.eq_ignore_ascii_case("topic") {
            continue;
        }
        if !topics.contains(&topic) {
            return Err(LabelledSetError::UnknownTopic {
                line: index + 1,
                topic: topic.into(),
            });
        }
        set.push((topic.to_owned(), message.trim().to_owned()));
    }
    Ok(set)
}

/// Per expected topic: (right, total) of (expected, got) pairs.
pub fn per_topic<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> BTreeMap<&'a str, (usize, usize)> {
    let mut table: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (expected, got) in pairs {
        let entry = table.entry(expected).or_default();
        entry.1 += 1;
        entry.0 += usize::from(expected == got);
    }
    table
}

/// The outcome of one labelled message.
#[derive(Clone, Debug, PartialEq)]
pub struct Judged {
    pub expected: String,
    /// The model's best topic.
    pub got: String,
    pub understanding: Understanding,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct Report {
    pub judged: Vec<Judged>,
    /// Misses that change the behaviour (answer instead of handover, ...).
    pub critical: usize,
}

impl Report {
    pub fn total(&self) -> usize {
        self.judged.len()
    }

    pub fn correct(&self) -> usize {
        self.judged.iter().filter(|j| j.expected == j.got).count()
    }

    pub fn accuracy(&self) -> f64 {
        self.correct() as f64 / self.total().max(1) as f64
    }

    /// Per topic: (right, total).
    pub fn per_topic(&self) -> BTreeMap<&str, (usize, usize)> {
        per_topic(
            self.judged
                .iter()
                .map(|j| (j.expected.as_str(), j.got.as_str())),
        )
    }

    /// (expected, got) -> how often, most frequent first.
    pub fn confusions(&self) -> Vec<((&str, &str), usize)> {
        let mut pairs: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for j in self.judged.iter().filter(|j| j.expected != j.got) {
            *pairs.entry((&j.expected, &j.got)).or_default() += 1;
        }
        let mut pairs: Vec<_> = pairs.into_iter().collect();
        pairs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        pairs
    }

    /// Messages answered directly, and how many of those were right.
    pub fn answered_directly(&self) -> (usize, usize) {
        let answered: Vec<_> = self
            .judged
            .iter()
            .filter_map(|j| match &j.understanding {
                Understanding::Topic(t) => Some((j, t)),
                _ => None,
            })
            .collect();
        let right = answered.iter().filter(|(j, t)| j.expected == **t).count();
        (answered.len(), right)
    }

    /// Clarifying questions asked, and how many offered the right topic.
    pub fn clarified(&self) -> (usize, usize) {
        let asked: Vec<_> = self
            .judged
            .iter()
            .filter_map(|j| match &j.understanding {
                Understanding::EitherOf(a, b) => Some((j, a, b)),
                _ => None,
            })
            .collect();
        let right = asked
            .iter()
            .filter(|(j, a, b)| j.expected == **a || j.expected == **b)
            .count();
        (asked.len(), right)
    }

    /// A table for people: per topic, overall, what Lisa does, the confusions, the misses.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let percent = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
        let _ = writeln!(out, "{:<22} {:>8} {:>9}", "topic", "messages", "accuracy");
        for (topic, (right, total)) in self.per_topic() {
            let _ = writeln!(
                out,
                "{topic:<22} {total:>8} {:>8.1}%",
                percent(right, total)
            );
        }
        let total = self.total();
        let _ = writeln!(
            out,
            "{:<22} {total:>8} {:>8.1}%",
            "all",
            100.0 * self.accuracy()
        );
        let (answered, answered_right) = self.answered_directly();
        let (asked, asked_right) = self.clarified();
        let unsure = total - answered - asked;
        let _ = writeln!(
            out,
            "answered directly: {answered} ({:.1}%), of these right: {:.1}%",
            percent(answered, total),
            percent(answered_right, answered)
        );
        let _ = writeln!(
            out,
            "asked between two topics: {asked} ({:.1}%), right topic offered: {:.1}%",
            percent(asked, total),
            percent(asked_right, asked)
        );
        let _ = writeln!(
            out,
            "asked to rephrase: {unsure} ({:.1}%)",
            percent(unsure, total)
        );
        let _ = writeln!(
            out,
            "critical confusions (behaviour changes): {}",
            self.critical
        );
        let confusions = self.confusions();
        if !confusions.is_empty() {
            let _ = writeln!(out, "confusions (expected -> got):");
            for ((expected, got), n) in confusions {
                let _ = writeln!(out, "  {n:>3}  {expected} -> {got}");
            }
            let _ = writeln!(out, "misses:");
            for j in self.judged.iter().filter(|j| j.expected != j.got) {
                let _ = writeln!(out, "  {} -> {}: {}", j.expected, j.got, j.message);
            }
        }
        out
    }
}

/// Lets the model judge every labelled message.
pub fn evaluate(catalogue: &Catalogue, model: &TopicModel, set: &[(String, String)]) -> Report {
    let mut report = Report::default();
    for (expected, message) in set {
        let prediction = model.predict(message);
        let understanding = model.header().thresholds.apply(&prediction);
        if prediction.topic != *expected
            && behaviour(catalogue, &prediction.topic) != behaviour(catalogue, expected)
        {
            report.critical += 1;
        }
        report.judged.push(Judged {
            expected: expected.clone(),
            got: prediction.topic,
            understanding,
            message: message.clone(),
        });
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lisa::catalogue::TOPIC_IDS;

    #[test]
    fn labelled_sets_may_have_a_header_comments_and_blank_lines() {
        let set = read_labelled(
            "topic\ttext\n# a comment\n\nbill\tRechnung zu hoch\r\nnetwork\t kein netz \n",
            &TOPIC_IDS,
        )
        .unwrap();
        assert_eq!(
            set,
            vec![
                ("bill".to_owned(), "Rechnung zu hoch".to_owned()),
                ("network".to_owned(), "kein netz".to_owned())
            ]
        );
    }

    #[test]
    fn a_broken_set_is_a_typed_error() {
        assert_eq!(
            read_labelled("bill rechnung", &TOPIC_IDS).unwrap_err(),
            LabelledSetError::Format(1)
        );
        assert_eq!(
            read_labelled("# c\nbills\tRechnung", &TOPIC_IDS).unwrap_err(),
            LabelledSetError::UnknownTopic {
                line: 2,
                topic: "bills".into()
            }
        );
    }
}
