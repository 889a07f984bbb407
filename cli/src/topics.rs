//! `servicekanal train-topics`, `eval-topics` and `classify`: Lisa's topic model from the
//! labelled corpus, measured on the test set (docs/lisa.md).

use servicekanal_shared::lisa::catalogue::{Catalogue, TOPIC_IDS};
use servicekanal_shared::lisa::evaluate::{self, LabelledSetError, Report, read_labelled};
use servicekanal_shared::lisa::model::{Prediction, TopicModel};
use servicekanal_shared::lisa::train::{self, Corpus, TrainSettings};
use std::collections::BTreeMap;
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
    let cv = cross_validation_table(&truths, &out_of_fold);
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

fn cross_validation_table(
    truths: &[&str],
    predictions: &[Prediction],
) -> BTreeMap<String, (usize, usize)> {
    let mut table: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (truth, prediction) in truths.iter().zip(predictions) {
        let entry = table.entry((*truth).to_owned()).or_default();
        entry.1 += 1;
        entry.0 += usize::from(*truth == prediction.topic);
    }
    table
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
