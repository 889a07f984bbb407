//! The satisfaction survey's texts (`shared/data/survey.toml`) and its messages, by step.

use crate::domain::SurveyStep;
use crate::whatsapp::{ListRow, ListSection, OutboundContent, ReplyButton, limits};
use serde::Deserialize;

pub const EMBEDDED: &str = include_str!("../data/survey.toml");

/// Ids of the survey's choices (understood by id, like Lisa's).
pub mod ids {
    /// `survey-score-1` ... `survey-score-5`.
    pub const SCORE_PREFIX: &str = "survey-score-";
    pub const SOLVED_YES: &str = "survey-solved-yes";
    pub const SOLVED_NO: &str = "survey-solved-no";
    pub const SKIP: &str = "survey-skip";
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyTexts {
    pub ask_score: String,
    pub score_button: String,
    /// Five list rows, score 1 to 5.
    pub score_rows: Vec<String>,
    pub ask_solved: String,
    pub solved_yes: String,
    pub solved_no: String,
    pub skip: String,
    pub ask_comment: String,
    pub thanks: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SurveyTextsError {
    #[error("survey texts are not valid TOML: {0}")]
    Syntax(String),
    #[error("{0}")]
    Limit(String),
}

impl SurveyTexts {
    pub fn embedded() -> Self {
        Self::from_toml(EMBEDDED).expect("the shipped survey texts are valid (tested)")
    }

    pub fn from_toml(text: &str) -> Result<Self, SurveyTextsError> {
        let texts: SurveyTexts =
            toml::from_str(text).map_err(|e| SurveyTextsError::Syntax(e.to_string()))?;
        if texts.score_rows.len() != 5 {
            return Err(SurveyTextsError::Limit(
                "score_rows needs exactly 5 rows".into(),
            ));
        }
        // Every message must pass WhatsApp's limits.
        for step in [SurveyStep::Score, SurveyStep::Solved, SurveyStep::Comment] {
            texts
                .question(step)
                .validate()
                .map_err(|e| SurveyTextsError::Limit(e.to_string()))?;
        }
        if texts.skip.chars().count() > limits::BUTTON_TITLE {
            return Err(SurveyTextsError::Limit(
                "skip is longer than 20 characters".into(),
            ));
        }
        Ok(texts)
    }

    fn button(id: &str, title: &str) -> ReplyButton {
        ReplyButton {
            id: id.into(),
            title: title.into(),
        }
    }

    /// The question of a step, with its choices.
    pub fn question(&self, step: SurveyStep) -> OutboundContent {
        match step {
            SurveyStep::Score => {
                let mut rows: Vec<ListRow> = self
                    .score_rows
                    .iter()
                    .enumerate()
                    .map(|(i, title)| ListRow {
                        id: format!("{}{}", ids::SCORE_PREFIX, i + 1),
                        title: title.clone(),
                        description: None,
                    })
                    .collect();
                rows.push(ListRow {
                    id: ids::SKIP.into(),
                    title: self.skip.clone(),
                    description: None,
                });
                OutboundContent::List {
                    body: self.ask_score.clone(),
                    button: self.score_button.clone(),
                    sections: vec![ListSection { title: None, rows }],
                    footer: None,
                }
            }
            SurveyStep::Solved => OutboundContent::Buttons {
                body: self.ask_solved.clone(),
                buttons: vec![
                    Self::button(ids::SOLVED_YES, &self.solved_yes),
                    Self::button(ids::SOLVED_NO, &self.solved_no),
                    Self::button(ids::SKIP, &self.skip),
                ],
                footer: None,
            },
            SurveyStep::Comment => OutboundContent::Buttons {
                body: self.ask_comment.clone(),
                buttons: vec![Self::button(ids::SKIP, &self.skip)],
                footer: None,
            },
        }
    }

    pub fn thanks(&self) -> OutboundContent {
        OutboundContent::Text {
            body: self.thanks.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_texts_load_and_respect_whatsapps_limits() {
        let texts = SurveyTexts::embedded();
        for step in [SurveyStep::Score, SurveyStep::Solved, SurveyStep::Comment] {
            texts.question(step).validate().unwrap();
        }
        let long = EMBEDDED.replace("\"Ja\"", "\"Ja, vollständig und sofort\"");
        assert!(matches!(
            SurveyTexts::from_toml(&long),
            Err(SurveyTextsError::Limit(_))
        ));
        let four = EMBEDDED.replace(", \"5 – sehr zufrieden\"", "");
        assert!(matches!(
            SurveyTexts::from_toml(&four),
            Err(SurveyTextsError::Limit(_))
        ));
    }
}
