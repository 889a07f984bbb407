//! Lisa's topic model: multinomial logistic regression over the pieces of a normalised message
//! (its words, word pairs and character 3- to 5-grams), trained by `servicekanal train-topics`
//! from the labelled corpus in `shared/data/corpus/` (see `train.rs` and docs/lisa.md).
//!
//! Inference is a few hash lookups and a sum per topic: every feature is a slice of the padded,
//! normalised message, so nothing is allocated per feature. The model is a data file
//! (`shared/data/topic-model.bin`), embedded in the binaries and decoded once per container,
//! by its first event.

use crate::domain::text::normalize;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The model the binaries ship, as `servicekanal train-topics` wrote it.
pub const EMBEDDED: &[u8] = include_bytes!("../../data/topic-model.bin");

/// Version 2: weights kept to 8 bits (one scale per topic), a quarter of version 1's size.
const MAGIC: &[u8; 8] = b"LISATM02";

/// How sure Lisa must be: at or above `answer` she answers; when the best two topics together
/// reach `clarify` she asks which of the two is meant; below, she asks to rephrase.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    pub answer: f32,
    pub clarify: f32,
}

/// What the model says about one message.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    pub topic: String,
    /// The model's probability for `topic`, 0 to 1.
    pub probability: f32,
    pub runner_up: String,
    pub runner_up_probability: f32,
}

/// What Lisa makes of a message, by the thresholds.
#[derive(Clone, Debug, PartialEq)]
pub enum Understanding {
    /// Sure enough to answer.
    Topic(String),
    /// Torn between two topics: ask which one.
    EitherOf(String, String),
    /// Not sure at all: ask to rephrase.
    Unsure,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    #[error("not a topic model file (wrong magic or version)")]
    Format,
    #[error("the topic model file is truncated or inconsistent: {0}")]
    Corrupt(String),
}

/// What the file says about itself besides the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelHeader {
    pub topics: Vec<String>,
    pub thresholds: Thresholds,
    /// SHA-256 of the training corpus and settings it was trained from (see `train::digest`).
    pub corpus_digest: String,
    pub features: u32,
}

impl ModelHeader {
    /// How many topics the model ranks; fewer than two is no model (and would leave the weight
    /// rows empty).
    fn topic_count(&self) -> Result<usize, ModelError> {
        match self.topics.len() {
            n if n >= 2 => Ok(n),
            _ => Err(ModelError::Corrupt("fewer than two topics".into())),
        }
    }
}

pub struct TopicModel {
    header: ModelHeader,
    index: HashMap<Box<str>, u32>,
    /// `features × topics`, row-major; each is a multiple of its topic's scale (`quantise`).
    weights: Vec<f32>,
    /// Per topic: the weight one step of the 8-bit values stands for.
    scales: Vec<f32>,
    bias: Vec<f32>,
}

/// Rounds every weight to one of 255 steps of its topic's scale (the largest magnitude of the
/// topic over 127), so the model ships one byte per weight. The weights Lisa computes with
/// are the rounded ones, here and after `from_bytes`: training's evaluation measures the
/// model as shipped.
fn quantise(weights: &mut [f32], topics: usize) -> Vec<f32> {
    let mut scales = vec![0f32; topics];
    for row in weights.chunks_exact(topics) {
        for (scale, w) in scales.iter_mut().zip(row) {
            *scale = scale.max(w.abs());
        }
    }
    for scale in &mut scales {
        *scale = if *scale > 0.0 { *scale / 127.0 } else { 1.0 };
    }
    for row in weights.chunks_exact_mut(topics) {
        for (w, scale) in row.iter_mut().zip(&scales) {
            *w = step(*w, *scale) as f32 * scale;
        }
    }
    scales
}

/// The 8-bit step of `weight` (a multiple of `scale` after `quantise`).
fn step(weight: f32, scale: f32) -> i8 {
    (weight / scale).round().clamp(-127.0, 127.0) as i8
}

/// Calls `emit` with every feature of a message normalised and padded with one space on each
/// side: each word with its spaces (" netz "), each pair of neighbouring words (" kein netz "),
/// and the character 3- to 5-grams of each spaced word (" ne", "net", "etz ", ...).
pub fn for_each_feature(padded: &str, mut emit: impl FnMut(&str)) {
    // Byte offset of every character, and one past the end.
    let bounds: Vec<usize> = padded
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(padded.len()))
        .collect();
    let spaces: Vec<usize> = (0..bounds.len() - 1)
        .filter(|&c| padded.as_bytes()[bounds[c]] == b' ')
        .collect();
    for word in spaces.windows(2) {
        let (open, close) = (word[0], word[1]);
        if close == open + 1 {
            continue;
        }
        emit(&padded[bounds[open]..bounds[close + 1]]);
        let chars = close + 1 - open;
        for n in 3..=5.min(chars) {
            for start in open..=close + 1 - n {
                emit(&padded[bounds[start]..bounds[start + n]]);
            }
        }
    }
    for pair in spaces.windows(3) {
        emit(&padded[bounds[pair[0]]..bounds[pair[2] + 1]]);
    }
}

/// A message as the model reads it: normalised, one space on each side.
pub fn padded(message: &str) -> String {
    let normalized = normalize(message);
    let mut padded = String::with_capacity(normalized.len() + 2);
    padded.push(' ');
    padded.push_str(&normalized);
    padded.push(' ');
    padded
}

impl TopicModel {
    /// The embedded model; it is checked by the tests, so a broken file never ships.
    pub fn embedded() -> Self {
        Self::from_bytes(EMBEDDED).expect("the embedded topic model is valid")
    }

    /// A model of these weights, rounded to 8 bits per weight (see `quantise`).
    pub fn new(
        header: ModelHeader,
        features: Vec<String>,
        mut weights: Vec<f32>,
        bias: Vec<f32>,
    ) -> Result<Self, ModelError> {
        let topics = header.topic_count()?;
        if weights.len() != features.len() * topics {
            return Err(ModelError::Corrupt("sizes do not match the header".into()));
        }
        let scales = quantise(&mut weights, topics);
        Self::quantised(header, features, weights, scales, bias)
    }

    /// A model whose weights are already multiples of their topic's scale.
    fn quantised(
        header: ModelHeader,
        features: Vec<String>,
        weights: Vec<f32>,
        scales: Vec<f32>,
        bias: Vec<f32>,
    ) -> Result<Self, ModelError> {
        let topics = header.topic_count()?;
        if features.len() != header.features as usize
            || weights.len() != features.len() * topics
            || bias.len() != topics
            || scales.len() != topics
        {
            return Err(ModelError::Corrupt("sizes do not match the header".into()));
        }
        let index = features
            .into_iter()
            .enumerate()
            .map(|(i, f)| (f.into_boxed_str(), i as u32))
            .collect::<HashMap<_, _>>();
        if index.len() != header.features as usize {
            return Err(ModelError::Corrupt("a feature is listed twice".into()));
        }
        Ok(Self {
            header,
            index,
            weights,
            scales,
            bias,
        })
    }

    pub fn header(&self) -> &ModelHeader {
        &self.header
    }

    pub fn topics(&self) -> &[String] {
        &self.header.topics
    }

    /// The probability of every topic (in `topics()` order).
    pub fn probabilities(&self, message: &str) -> Vec<f32> {
        let vector = vector(message, |feature| self.index.get(feature).copied());
        probabilities(&self.weights, &self.bias, &vector)
    }

    pub fn predict(&self, message: &str) -> Prediction {
        prediction(&self.header.topics, &self.probabilities(message))
    }

    /// What Lisa makes of the message by the model's thresholds.
    pub fn understand(&self, message: &str) -> Understanding {
        self.header.thresholds.apply(&self.predict(message))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut features = vec![""; self.index.len()];
        for (feature, &i) in &self.index {
            features[i as usize] = feature;
        }
        let header = serde_json::to_vec(&self.header).expect("a header always serialises");
        let topics = self.scales.len();
        let mut out = Vec::with_capacity(
            16 + header.len() + features.len() * 8 + self.weights.len() + topics * 8,
        );
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        for feature in features {
            out.push(feature.len() as u8);
            out.extend_from_slice(feature.as_bytes());
        }
        for value in self.scales.iter().chain(&self.bias) {
            out.extend_from_slice(&value.to_le_bytes());
        }
        for row in self.weights.chunks_exact(topics) {
            for (w, scale) in row.iter().zip(&self.scales) {
                out.push(step(*w, *scale) as u8);
            }
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        let mut reader = Reader { bytes, at: 0 };
        if reader.take(8)? != MAGIC {
            return Err(ModelError::Format);
        }
        let header_len = u32::from_le_bytes(reader.array()?) as usize;
        let header: ModelHeader = serde_json::from_slice(reader.take(header_len)?)
            .map_err(|e| ModelError::Corrupt(e.to_string()))?;
        let mut features = Vec::with_capacity(header.features as usize);
        for _ in 0..header.features {
            let len = reader.take(1)?[0] as usize;
            let text = std::str::from_utf8(reader.take(len)?)
                .map_err(|e| ModelError::Corrupt(e.to_string()))?;
            features.push(text.to_owned());
        }
        let topics = header.topic_count()?;
        let mut floats = |n: usize| -> Result<Vec<f32>, ModelError> {
            (0..n)
                .map(|_| reader.array().map(f32::from_le_bytes))
                .collect()
        };
        let scales = floats(topics)?;
        let bias = floats(topics)?;
        if scales.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(ModelError::Corrupt(
                "a topic's scale is not positive".into(),
            ));
        }
        let steps = reader.take(features.len() * topics)?;
        let weights = steps
            .chunks_exact(topics)
            .flat_map(|row| row.iter().zip(&scales).map(|(q, s)| *q as i8 as f32 * s))
            .collect();
        if reader.at != bytes.len() {
            return Err(ModelError::Corrupt("bytes after the weights".into()));
        }
        Self::quantised(header, features, weights, scales, bias)
    }
}

impl Understanding {
    /// What Lisa did with the message, as the statistics and the review record it.
    pub fn how(&self) -> crate::domain::Understanding {
        match self {
            Understanding::Topic(_) => crate::domain::Understanding::Directly,
            Understanding::EitherOf(..) => crate::domain::Understanding::BetweenTwo,
            Understanding::Unsure => crate::domain::Understanding::Rephrase,
        }
    }
}

impl Thresholds {
    pub fn apply(&self, prediction: &Prediction) -> Understanding {
        // Sure that it is nothing she knows is still not understanding it.
        if prediction.topic == "unknown" {
            return Understanding::Unsure;
        }
        if prediction.probability >= self.answer {
            return Understanding::Topic(prediction.topic.clone());
        }
        let askable = |topic: &str| !matches!(topic, "unknown" | "greeting" | "goodbye");
        if prediction.probability + prediction.runner_up_probability >= self.clarify
            && askable(&prediction.topic)
            && askable(&prediction.runner_up)
        {
            return Understanding::EitherOf(prediction.topic.clone(), prediction.runner_up.clone());
        }
        Understanding::Unsure
    }
}

/// The message's features that `index` knows, as (feature, value) with unit length: what the
/// model and its trainer read.
pub(crate) fn vector(message: &str, index: impl Fn(&str) -> Option<u32>) -> Vec<(u32, f32)> {
    let padded = padded(message);
    let mut active = Vec::with_capacity(padded.len() * 4);
    for_each_feature(&padded, |feature| {
        if let Some(i) = index(feature) {
            active.push((i, 1.0f32));
        }
    });
    unit_counts(&mut active);
    active
}

/// Every topic's probability for a vector: `features × topics` weights (row-major), a bias
/// per topic, softmax.
pub(crate) fn probabilities(weights: &[f32], bias: &[f32], vector: &[(u32, f32)]) -> Vec<f32> {
    let topics = bias.len();
    let mut scores = bias.to_vec();
    for &(feature, value) in vector {
        let row = &weights[feature as usize * topics..(feature as usize + 1) * topics];
        for (score, weight) in scores.iter_mut().zip(row) {
            *score += value * weight;
        }
    }
    softmax(&mut scores);
    scores
}

/// The best and second topic of `probabilities`.
pub(crate) fn prediction(topics: &[String], probabilities: &[f32]) -> Prediction {
    let (best, second) = top_two(probabilities);
    Prediction {
        topic: topics[best].clone(),
        probability: probabilities[best],
        runner_up: topics[second].clone(),
        runner_up_probability: probabilities[second],
    }
}

/// Sums repeated features and scales the vector to unit length (long messages do not
/// outweigh short ones).
pub(crate) fn unit_counts(active: &mut Vec<(u32, f32)>) {
    active.sort_unstable_by_key(|(i, _)| *i);
    active.dedup_by(|later, kept| {
        if later.0 == kept.0 {
            kept.1 += later.1;
            true
        } else {
            false
        }
    });
    let norm = active.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        for (_, v) in active.iter_mut() {
            *v /= norm;
        }
    }
}

pub(crate) fn softmax(scores: &mut [f32]) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    for s in scores.iter_mut() {
        *s /= sum;
    }
}

/// The indices of the largest and second-largest values (the first wins a tie).
pub(crate) fn top_two(values: &[f32]) -> (usize, usize) {
    let mut best = 0;
    let mut second = usize::from(values.len() > 1);
    if values[second] > values[best] {
        std::mem::swap(&mut best, &mut second);
    }
    for (i, &v) in values.iter().enumerate().skip(2) {
        if v > values[best] {
            second = best;
            best = i;
        } else if v > values[second] {
            second = i;
        }
    }
    (best, second)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ModelError> {
        let slice = self
            .bytes
            .get(self.at..self.at + n)
            .ok_or_else(|| ModelError::Corrupt("truncated".into()))?;
        self.at += n;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ModelError> {
        Ok(self.take(N)?.try_into().expect("took N bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(message: &str) -> Vec<String> {
        let mut out = Vec::new();
        for_each_feature(&padded(message), |f| out.push(f.to_owned()));
        out
    }

    #[test]
    fn features_are_words_word_pairs_and_character_grams_of_the_normalised_text() {
        let f = features("Kein NETZ!!");
        for expected in [
            " kein ",
            " netz ",
            " kein netz ",
            " ke",
            "kei",
            "ein ",
            " netz",
            "etz ",
        ] {
            assert!(f.contains(&expected.to_owned()), "{expected:?} in {f:?}");
        }
        assert!(features("").is_empty());
        assert!(features("!!!").is_empty());
        // Umlauts are spelled out, so "Kündigung" and "kuendigung" are one feature set.
        assert_eq!(features("Kündigung"), features("kuendigung"));
    }

    #[test]
    fn the_embedded_model_round_trips_and_refuses_broken_files() {
        let model = TopicModel::embedded();
        let bytes = model.to_bytes();
        assert_eq!(bytes, EMBEDDED);
        assert!(bytes.len() < 2 * 1024 * 1024, "{} bytes", bytes.len());
        assert_eq!(
            TopicModel::from_bytes(b"NOTAMODEL").err(),
            Some(ModelError::Format)
        );
        assert!(matches!(
            TopicModel::from_bytes(&bytes[..bytes.len() - 3]),
            Err(ModelError::Corrupt(_))
        ));
    }

    #[test]
    fn weights_are_kept_to_eight_bits_within_half_a_step_of_their_topic() {
        let header = ModelHeader {
            topics: vec!["network".into(), "bill".into()],
            thresholds: Thresholds {
                answer: 0.5,
                clarify: 0.8,
            },
            corpus_digest: "test".into(),
            features: 3,
        };
        let features = vec![" netz ".into(), " rechnung ".into(), " kein ".into()];
        // Topic "network" reaches 1.0, "bill" 2.0: steps of 1/127 and 2/127.
        let weights = vec![1.0, -0.5, 0.3, 0.25, -0.003, 2.0];
        let model = TopicModel::new(header, features, weights.clone(), vec![0.1, -0.1]).unwrap();
        for (i, (given, kept)) in weights.iter().zip(&model.weights).enumerate() {
            let step = [1.0f32, 2.0][i % 2] / 127.0;
            assert!(
                (given - kept).abs() <= step / 2.0 + 1e-6,
                "{given} kept as {kept}"
            );
        }
        assert_eq!(model.weights[4], 0.0, "below half a step is nothing");
        let bytes = model.to_bytes();
        let header_len = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
        let feature_bytes = 7 + 11 + 7;
        assert_eq!(
            bytes.len(),
            12 + header_len + feature_bytes + 2 * 4 * 2 + 6,
            "two scales and two biases as f32, one byte per weight"
        );
        let again = TopicModel::from_bytes(&bytes).unwrap();
        assert_eq!(again.weights, model.weights);
        // A file that names no topic is refused, not a panic.
        let topics_at = bytes
            .windows(18)
            .position(|w| w == b"[\"network\",\"bill\"]")
            .expect("the topics in the header");
        let mut broken = bytes.clone();
        broken.splice(
            topics_at..topics_at + 18,
            b"[]                ".iter().copied(),
        );
        assert!(matches!(
            TopicModel::from_bytes(&broken),
            Err(ModelError::Corrupt(_))
        ));
        assert_eq!(again.to_bytes(), bytes);
        assert_eq!(
            again.probabilities("kein netz"),
            model.probabilities("kein netz")
        );
    }

    #[test]
    fn thresholds_answer_ask_between_two_or_admit_doubt() {
        let thresholds = Thresholds {
            answer: 0.6,
            clarify: 0.8,
        };
        let prediction = |p: f32, q: f32, second: &str| Prediction {
            topic: "sim-activation".into(),
            probability: p,
            runner_up: second.into(),
            runner_up_probability: q,
        };
        assert_eq!(
            thresholds.apply(&prediction(0.7, 0.2, "devices")),
            Understanding::Topic("sim-activation".into())
        );
        assert_eq!(
            thresholds.apply(&prediction(0.5, 0.4, "devices")),
            Understanding::EitherOf("sim-activation".into(), "devices".into())
        );
        assert_eq!(
            thresholds.apply(&prediction(0.5, 0.4, "unknown")),
            Understanding::Unsure
        );
        assert_eq!(
            thresholds.apply(&prediction(0.4, 0.2, "devices")),
            Understanding::Unsure
        );
        let nothing_known = Prediction {
            topic: "unknown".into(),
            probability: 0.99,
            runner_up: "bill".into(),
            runner_up_probability: 0.01,
        };
        assert_eq!(thresholds.apply(&nothing_known), Understanding::Unsure);
    }

    #[test]
    fn top_two_and_softmax() {
        assert_eq!(top_two(&[0.1, 0.5, 0.3]), (1, 2));
        assert_eq!(top_two(&[0.9, 0.05]), (0, 1));
        assert_eq!(top_two(&[0.2, 0.2, 0.6]), (2, 0));
        let mut scores = [1.0, 1.0];
        softmax(&mut scores);
        assert_eq!(scores, [0.5, 0.5]);
    }
}
