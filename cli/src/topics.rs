//! `servicekanal train-topics`, `eval-topics` and `classify`: Lisa's topic model from the
//! labelled corpus, measured on the test set (docs/lisa.md).

use servicekanal_shared::lisa::catalogue::{Catalogue, TOPIC_IDS};
use servicekanal_shared::lisa::evaluate::{self, LabelledSetError, Report, read_labelled};
use servicekanal_shared::lisa::model::TopicModel;
use servicekanal_shared::lisa::train::{self, Corpus, TrainSettings};
use std::fmt::Write;

/// What training produced: the model, and a report for people (and docs/lisa.md).
pub struct Trained {
    pub model: TopicModel,
    pub report: String,
    pub test: Report,
}

/// Trains on `training` (labelled TSV), picks the thresholds by cross-validation, and measures
/// the result on `test`, which takes no part in training.
pub fn train_topics(
    training: &str,
    test: &str,
    settings: &TrainSettings,
) -> Result<Trained, LabelledSetError> {
    let corpus = Corpus::read(&TOPIC_IDS, training)?;
    let test_set = read_labelled(test, &TOPIC_IDS)?;
    let (model, out_of_fold) = train::train(&corpus, settings);
    let test = evaluate::evaluate(&Catalogue::embedded(), &model, &test_set);

    let truths: Vec<&str> = corpus
        .examples
        .iter()
        .map(|(t, _)| corpus.topics[*t].as_str())
        .collect();
    let cv = evaluate::per_topic(
        truths
            .iter()
            .copied()
            .zip(out_of_fold.iter().map(|p| p.topic.as_str())),
    );
    let test_table = test.per_topic();
    let mut report = String::new();
    let percent = |(right, total): (usize, usize)| 100.0 * right as f64 / total.max(1) as f64;
    let _ = writeln!(
        report,
        "| topic | training | cross-validated | test | test accuracy |\n|---|---:|---:|---:|---:|"
    );
    for topic in TOPIC_IDS {
        let cv_row = cv.get(topic).copied().unwrap_or_default();
        let test_row = test_table.get(topic).copied().unwrap_or_default();
        let _ = writeln!(
            report,
            "| {topic} | {} | {:.1} % | {} | {:.1} % |",
            cv_row.1,
            percent(cv_row),
            test_row.1,
            percent(test_row)
        );
    }
    let cv_all = cv
        .values()
        .fold((0, 0), |(r, t), (right, total)| (r + right, t + total));
    let _ = writeln!(
        report,
        "| **all** | {} | {:.1} % | {} | {:.1} % |\n",
        cv_all.1,
        percent(cv_all),
        test.total(),
        100.0 * test.accuracy()
    );
    let header = model.header();
    let _ = writeln!(
        report,
        "features: {}, model file: {} bytes, thresholds: answer at {:.2}, ask between two at {:.2}",
        header.features,
        model.to_bytes().len(),
        header.thresholds.answer,
        header.thresholds.clarify
    );
    let _ = writeln!(report, "\ntest set:\n{}", test.render());
    Ok(Trained {
        model,
        report,
        test,
    })
}

/// Every labelled example under `dir` (files ending in `.tsv`, in name order), as one set.
pub fn read_examples(dir: &std::path::Path) -> std::io::Result<String> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        for entry in std::fs::read_dir(&at)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "tsv") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut set = String::new();
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        set.push_str(&text);
        if !text.ends_with('\n') {
            set.push('\n');
        }
    }
    Ok(set)
}

/// The training gate's verdict: the new model is accepted only if the frozen test set does
/// not get worse, overall and in critical confusions.
pub struct Gate {
    pub accepted: bool,
    pub report: String,
}

/// Compares the new model with the current one on the test set, per topic.
pub fn gate(
    current: Option<&TopicModel>,
    trained: &Trained,
    test: &str,
) -> Result<Gate, LabelledSetError> {
    let Some(current) = current else {
        return Ok(Gate {
            accepted: true,
            report: "no current model to compare with: accepted\n".into(),
        });
    };
    let set = read_labelled(test, &TOPIC_IDS)?;
    let before = evaluate::evaluate(&Catalogue::embedded(), current, &set);
    let after = &trained.test;
    let mut report = String::from("\n| topic | before | after |\n|---|---:|---:|\n");
    let (before_table, after_table) = (before.per_topic(), after.per_topic());
    let percent = |(right, total): (usize, usize)| 100.0 * right as f64 / total.max(1) as f64;
    for topic in TOPIC_IDS {
        let b = before_table.get(topic).copied().unwrap_or_default();
        let a = after_table.get(topic).copied().unwrap_or_default();
        let _ = writeln!(
            report,
            "| {topic} | {:.1} % | {:.1} % |",
            percent(b),
            percent(a)
        );
    }
    let accepted = after.correct() >= before.correct() && after.critical <= before.critical;
    let _ = writeln!(
        report,
        "| **all** | {:.1} % | {:.1} % |\ncritical confusions: {} before, {} after\n{}",
        100.0 * before.accuracy(),
        100.0 * after.accuracy(),
        before.critical,
        after.critical,
        if accepted {
            "accepted: the test set is not worse"
        } else {
            "refused: the test set got worse"
        }
    );
    Ok(Gate { accepted, report })
}

/// The model's view of one message: the best three topics with their probabilities and what
/// Lisa would do.
pub fn explain(model: &TopicModel, message: &str) -> String {
    let probabilities = model.probabilities(message);
    let mut ranked: Vec<(&String, f32)> = model.topics().iter().zip(probabilities).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut out = String::new();
    for (topic, p) in ranked.iter().take(3) {
        let _ = writeln!(out, "  {topic:<22} {p:>5.2}");
    }
    let _ = writeln!(out, "  => {:?}", model.understand(message));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use servicekanal_shared::lisa::evaluate::EMBEDDED_TEST_SET;
    use servicekanal_shared::lisa::model::EMBEDDED;
    use servicekanal_shared::lisa::train::EMBEDDED_TRAINING_SET;

    #[test]
    fn the_shipped_model_is_the_one_the_corpus_trains() {
        let corpus = Corpus::read(&TOPIC_IDS, EMBEDDED_TRAINING_SET).unwrap();
        let model = TopicModel::embedded();
        assert_eq!(
            model.header().corpus_digest,
            corpus.digest(&TrainSettings::default()),
            "shared/data/topic-model.bin is stale: run `servicekanal train-topics`"
        );
        assert_eq!(model.topics(), TOPIC_IDS);
        assert!(EMBEDDED.len() < 2 * 1024 * 1024);
    }

    #[test]
    fn the_gate_refuses_a_model_that_does_worse_on_the_test_set() {
        let settings = TrainSettings {
            folds: 2,
            epochs: 10,
            ..TrainSettings::default()
        };
        // Examples that teach the wrong topic for bills: the test set's bills suffer.
        let mut poisoned = EMBEDDED_TRAINING_SET.to_owned();
        for line in EMBEDDED_TRAINING_SET
            .lines()
            .filter(|l| l.starts_with("bill\t"))
        {
            poisoned.push_str(&line.replacen("bill\t", "roaming\t", 1));
            poisoned.push('\n');
        }
        let worse = train_topics(&poisoned, EMBEDDED_TEST_SET, &settings).unwrap();
        let current = TopicModel::embedded();
        let gate = gate(Some(&current), &worse, EMBEDDED_TEST_SET).unwrap();
        assert!(!gate.accepted, "{}", gate.report);
        assert!(gate.report.contains("| bill |"), "{}", gate.report);
        assert!(gate.report.contains("refused"), "{}", gate.report);
        // The same model against itself is not worse: accepted.
        let same = gate_of_itself(&worse);
        assert!(same.accepted, "{}", same.report);
    }

    fn gate_of_itself(trained: &Trained) -> Gate {
        gate(Some(&trained.model), trained, EMBEDDED_TEST_SET).unwrap()
    }

    #[test]
    fn lisa_meets_her_target_on_the_test_set_she_never_saw() {
        let set = read_labelled(EMBEDDED_TEST_SET, &TOPIC_IDS).unwrap();
        let report = evaluate::evaluate(&Catalogue::embedded(), &TopicModel::embedded(), &set);
        let text = report.render();
        assert!(set.len() >= 500, "{} test messages", set.len());
        for (topic, (_, total)) in report.per_topic() {
            assert!(total >= 25, "{topic}: {total} test messages");
        }
        assert!(report.accuracy() >= 0.95, "{text}");
        let (answered, right) = report.answered_directly();
        assert!(right as f64 >= 0.97 * answered as f64, "{text}");
    }
}
