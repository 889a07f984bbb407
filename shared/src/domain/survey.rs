//! The satisfaction survey's texts (`shared/data/survey.toml`) and its messages, by step.

use crate::channels::whatsapp::{ListRow, ListSection, OutboundContent, ReplyButton, limits};
use crate::domain::{MessageContent, SurveyAnswer, SurveySession, SurveyStep};
use chrono::{DateTime, Utc};
use serde::Deserialize;

pub const EMBEDDED: &str = include_str!("../../data/survey.toml");

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

/// What a customer message means at a step: `Some(value)` (a skip is `Some(None)`), or
/// `None` when it is not an answer to this question.
pub enum Reading {
    Score(Option<u8>),
    Solved(Option<bool>),
    Comment(Option<String>),
    NotUnderstood,
}

const MAX_COMMENT_CHARS: usize = 1000;

pub fn read(step: SurveyStep, content: &MessageContent) -> Reading {
    let choice = match content {
        MessageContent::Choice { id, .. } => Some(id.as_str()),
        _ => None,
    };
    let text = match content {
        MessageContent::Text { body } => Some(body.trim()),
        _ => None,
    };
    if choice == Some(ids::SKIP) {
        return match step {
            SurveyStep::Score => Reading::Score(None),
            SurveyStep::Solved => Reading::Solved(None),
            SurveyStep::Comment => Reading::Comment(None),
        };
    }
    match step {
        SurveyStep::Score => {
            let from_choice = choice
                .and_then(|c| c.strip_prefix(ids::SCORE_PREFIX))
                .and_then(|n| n.parse::<u8>().ok());
            let from_text = text.and_then(|t| t.parse::<u8>().ok());
            match from_choice.or(from_text) {
                Some(n @ 1..=5) => Reading::Score(Some(n)),
                _ => Reading::NotUnderstood,
            }
        }
        SurveyStep::Solved => match (choice, text.map(str::to_lowercase).as_deref()) {
            (Some(ids::SOLVED_YES), _) | (_, Some("ja")) => Reading::Solved(Some(true)),
            (Some(ids::SOLVED_NO), _) | (_, Some("nein")) => Reading::Solved(Some(false)),
            _ => Reading::NotUnderstood,
        },
        SurveyStep::Comment => match text {
            Some(t) if !t.is_empty() => {
                Reading::Comment(Some(t.chars().take(MAX_COMMENT_CHARS).collect()))
            }
            _ => Reading::NotUnderstood,
        },
    }
}

/// The survey's step machine: applies one customer message to the running survey and its
/// answer. Returns the step asked next (after the comment the survey is finished), or `None`
/// if the message does not answer the question (it is asked again; nothing changes).
pub fn advance(
    session: &mut SurveySession,
    answer: &mut SurveyAnswer,
    content: &MessageContent,
    now: DateTime<Utc>,
) -> Option<SurveyStep> {
    let next = match read(session.step, content) {
        Reading::NotUnderstood => return None,
        Reading::Score(score) => {
            answer.score = score;
            SurveyStep::Solved
        }
        Reading::Solved(solved) => {
            answer.solved = solved;
            SurveyStep::Comment
        }
        Reading::Comment(comment) => {
            answer.comment = comment;
            answer.complete = true;
            session.finished = true;
            SurveyStep::Comment
        }
    };
    session.step = next;
    answer.answered_at = now;
    Some(next)
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

    #[test]
    fn the_step_machine_goes_score_solved_comment_and_asks_again_when_not_understood() {
        use crate::domain::Channel;
        let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut session = SurveySession {
            conversation: ulid::Ulid::new(),
            answer: ulid::Ulid::new(),
            step: SurveyStep::Score,
            started_at: start,
            last_message: None,
            sent_for: None,
            finished: false,
            handed_over: false,
            topics: vec![],
        };
        let mut answer = SurveyAnswer {
            id: session.answer,
            channel: Channel::Whatsapp,
            answered_at: start,
            score: None,
            solved: None,
            comment: None,
            handed_over: false,
            topics: vec![],
            complete: false,
        };
        let text = |t: &str| MessageContent::Text { body: t.into() };
        let later = start + chrono::Duration::minutes(1);
        assert_eq!(
            advance(&mut session, &mut answer, &text("super"), later),
            None
        );
        assert_eq!(
            (session.step, answer.answered_at),
            (SurveyStep::Score, start)
        );
        assert_eq!(
            advance(&mut session, &mut answer, &text("4"), later),
            Some(SurveyStep::Solved)
        );
        let no = MessageContent::Choice {
            id: ids::SOLVED_NO.into(),
            title: "Nein".into(),
        };
        assert_eq!(
            advance(&mut session, &mut answer, &no, later),
            Some(SurveyStep::Comment)
        );
        assert!(!session.finished);
        assert_eq!(
            advance(
                &mut session,
                &mut answer,
                &text(" Zu lange gewartet "),
                later
            ),
            Some(SurveyStep::Comment)
        );
        assert!(session.finished && answer.complete);
        assert_eq!(
            (answer.score, answer.solved, answer.comment.as_deref()),
            (Some(4), Some(false), Some("Zu lange gewartet"))
        );
        assert_eq!(answer.answered_at, later);
    }

    #[test]
    fn answers_are_read_by_id_or_plain_text() {
        let choice = |id: &str| MessageContent::Choice {
            id: id.into(),
            title: String::new(),
        };
        let text = |t: &str| MessageContent::Text { body: t.into() };
        assert!(matches!(
            read(SurveyStep::Score, &choice("survey-score-4")),
            Reading::Score(Some(4))
        ));
        assert!(matches!(
            read(SurveyStep::Score, &text(" 5 ")),
            Reading::Score(Some(5))
        ));
        assert!(matches!(
            read(SurveyStep::Score, &text("7")),
            Reading::NotUnderstood
        ));
        assert!(matches!(
            read(SurveyStep::Score, &choice(ids::SKIP)),
            Reading::Score(None)
        ));
        assert!(matches!(
            read(SurveyStep::Solved, &text("Ja")),
            Reading::Solved(Some(true))
        ));
        assert!(matches!(
            read(SurveyStep::Solved, &choice(ids::SOLVED_NO)),
            Reading::Solved(Some(false))
        ));
        assert!(matches!(
            read(SurveyStep::Comment, &text("Super")),
            Reading::Comment(Some(_))
        ));
        assert!(matches!(
            read(SurveyStep::Comment, &choice(ids::SKIP)),
            Reading::Comment(None)
        ));
    }
}
