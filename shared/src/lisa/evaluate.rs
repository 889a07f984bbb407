//! Accuracy of the classifier on a labelled set (`shared/data/eval/topics.tsv`).

use super::catalogue::Catalogue;
use super::classify::Classifier;
use std::collections::BTreeMap;
use std::fmt::Write;

/// The evaluation set shipped in the repository.
pub const EMBEDDED_SET: &str = include_str!("../../data/eval/topics.tsv");

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

#[derive(Debug, Default)]
pub struct TopicResult {
    pub total: usize,
    pub correct: usize,
}

#[derive(Debug, Default)]
pub struct Report {
    pub per_topic: BTreeMap<String, TopicResult>,
    /// (expected, got, message) of every miss.
    pub misses: Vec<(String, String, String)>,
    /// Misses that change the behaviour (answer instead of handover, ...).
    pub critical: usize,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EvalSetError {
    #[error("line {0}: expected `topic<TAB>message`")]
    Format(usize),
    #[error("line {line}: unknown topic {topic:?}")]
    UnknownTopic { line: usize, topic: String },
}

impl Report {
    pub fn total(&self) -> usize {
        self.per_topic.values().map(|r| r.total).sum()
    }

    pub fn correct(&self) -> usize {
        self.per_topic.values().map(|r| r.correct).sum()
    }

    pub fn accuracy(&self) -> f64 {
        self.correct() as f64 / self.total().max(1) as f64
    }

    /// A table for people: per topic, overall, and the misses.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{:<22} {:>7} {:>9}", "topic", "phrases", "accuracy");
        for (topic, r) in &self.per_topic {
            let acc = 100.0 * r.correct as f64 / r.total.max(1) as f64;
            let _ = writeln!(out, "{topic:<22} {:>7} {acc:>8.1}%", r.total);
        }
        let _ = writeln!(
            out,
            "{:<22} {:>7} {:>8.1}%\ncritical confusions (behaviour changes): {}",
            "all",
            self.total(),
            100.0 * self.accuracy(),
            self.critical
        );
        for (expected, got, message) in &self.misses {
            let _ = writeln!(out, "  {expected} -> {got}: {message}");
        }
        out
    }
}

/// Classifies every labelled line and compares.
pub fn evaluate(catalogue: &Catalogue, set: &str) -> Result<Report, EvalSetError> {
    let classifier = Classifier::new(catalogue);
    let mut report = Report::default();
    for (index, line) in set.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (topic, message) = line
            .split_once('\t')
            .ok_or(EvalSetError::Format(index + 1))?;
        if catalogue.get(topic).is_none() {
            return Err(EvalSetError::UnknownTopic {
                line: index + 1,
                topic: topic.into(),
            });
        }
        let got = classifier.classify(message).topic;
        let entry = report.per_topic.entry(topic.to_owned()).or_default();
        entry.total += 1;
        if got == topic {
            entry.correct += 1;
        } else {
            if behaviour(catalogue, &got) != behaviour(catalogue, topic) {
                report.critical += 1;
            }
            report.misses.push((topic.into(), got, message.into()));
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_classifier_meets_its_target_on_the_evaluation_set() {
        let catalogue = Catalogue::embedded();
        let report = evaluate(&catalogue, EMBEDDED_SET).unwrap();
        let report_text = report.render();
        for id in super::super::catalogue::TOPIC_IDS {
            let r = report
                .per_topic
                .get(id)
                .unwrap_or_else(|| panic!("{id} has no phrases"));
            assert!(r.total >= 15, "{id}: {} phrases", r.total);
        }
        assert!(report.accuracy() >= 0.95, "{report_text}");
        assert!(report.critical <= 5, "{report_text}");
    }

    #[test]
    fn a_broken_set_is_a_typed_error() {
        let catalogue = Catalogue::embedded();
        assert_eq!(
            evaluate(&catalogue, "bill rechnung").unwrap_err(),
            EvalSetError::Format(1)
        );
        assert_eq!(
            evaluate(&catalogue, "# c\nbills\tRechnung").unwrap_err(),
            EvalSetError::UnknownTopic {
                line: 2,
                topic: "bills".into()
            }
        );
    }
}
