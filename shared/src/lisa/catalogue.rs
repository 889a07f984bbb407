//! The topic catalogue: a data file (`shared/data/topics.toml`) with German texts and links. Validated when loaded, so a broken edit fails at start, not in a conversation.

use crate::channels::whatsapp::content::web_url;
use crate::channels::whatsapp::limits;
use serde::Deserialize;
use std::collections::HashSet;
use std::path::Path;

/// The catalogue shipped with the code; ops may point `LISA_TOPICS_FILE` at an edited copy.
pub const EMBEDDED: &str = include_str!("../../data/topics.toml");

/// The stable topic ids, in the catalogue's order.
pub const TOPIC_IDS: [&str; 20] = [
    "greeting",
    "goodbye",
    "agent",
    "bill",
    "tariffs",
    "contract-change",
    "cancellation",
    "sim-activation",
    "pin-puk",
    "network",
    "roaming",
    "devices",
    "data-usage",
    "number-porting",
    "personal-data-change",
    "account-login",
    "voicemail",
    "privacy",
    "order-status",
    "unknown",
];

/// Topics that must need an authenticated customer and an agent.
const MUST_BE_CONTRACT_SPECIFIC: [&str; 4] = [
    "bill",
    "contract-change",
    "cancellation",
    "personal-data-change",
];
/// The only topics prospects may ask about besides small talk: products and tariffs.
const PROSPECT_PRODUCT_TOPICS: [&str; 2] = ["tariffs", "devices"];
/// Small talk: greetings and goodbyes.
pub const SMALL_TALK: [&str; 2] = ["greeting", "goodbye"];

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Link {
    pub url: String,
    /// The link button's text (at most 20 characters).
    pub label: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    pub id: String,
    /// Shown as a list row title (at most 24 characters).
    pub title: String,
    /// Shown under the title in a list (at most 72 characters).
    #[serde(default)]
    pub description: Option<String>,
    pub answer: String,
    #[serde(default)]
    pub link: Option<Link>,
    pub contract_specific: bool,
    pub prospects: bool,
    /// Offered in Lisa's topic list (a WhatsApp list: at most 10 rows).
    #[serde(default)]
    pub menu: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    topic: Vec<Topic>,
}

#[derive(Clone, Debug)]
pub struct Catalogue {
    topics: Vec<Topic>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CatalogueError {
    #[error("the catalogue is not valid TOML: {0}")]
    Syntax(String),
    #[error("topic {0:?} appears more than once")]
    Duplicate(String),
    #[error("topic {0:?} is not one of the stable topic ids")]
    UnknownId(String),
    #[error("topic {0:?} is missing")]
    Missing(&'static str),
    #[error("topic {topic:?}: {problem}")]
    Invalid { topic: String, problem: String },
    #[error("the topic list has {rows} topics; a WhatsApp list holds at most {max}")]
    MenuTooLong { rows: usize, max: usize },
    #[error("cannot read {path}: {reason}")]
    Io { path: String, reason: String },
}

fn invalid(topic: &Topic, problem: impl Into<String>) -> CatalogueError {
    CatalogueError::Invalid {
        topic: topic.id.clone(),
        problem: problem.into(),
    }
}

fn within(topic: &Topic, field: &str, value: &str, max: usize) -> Result<(), CatalogueError> {
    let len = value.chars().count();
    if value.trim().is_empty() || len > max {
        return Err(invalid(
            topic,
            format!("{field} must have 1 to {max} characters, has {len}"),
        ));
    }
    Ok(())
}

impl Catalogue {
    /// The catalogue shipped with the code.
    pub fn embedded() -> Self {
        Self::from_toml(EMBEDDED).expect("the shipped catalogue is valid (tested)")
    }

    /// A catalogue file edited by ops.
    pub fn load(path: &Path) -> Result<Self, CatalogueError> {
        let text = std::fs::read_to_string(path).map_err(|e| CatalogueError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::from_toml(&text)
    }

    pub fn from_toml(text: &str) -> Result<Self, CatalogueError> {
        let file: CatalogueFile =
            toml::from_str(text).map_err(|e| CatalogueError::Syntax(e.to_string()))?;
        let catalogue = Self { topics: file.topic };
        catalogue.validate()?;
        Ok(catalogue)
    }

    fn validate(&self) -> Result<(), CatalogueError> {
        let mut seen = HashSet::new();
        for topic in &self.topics {
            if !TOPIC_IDS.contains(&topic.id.as_str()) {
                return Err(CatalogueError::UnknownId(topic.id.clone()));
            }
            if !seen.insert(topic.id.as_str()) {
                return Err(CatalogueError::Duplicate(topic.id.clone()));
            }
            // A title is a list row and, when Lisa asks between two topics, a reply button.
            within(topic, "title", &topic.title, limits::BUTTON_TITLE)?;
            if let Some(d) = &topic.description {
                within(topic, "description", d, limits::ROW_DESCRIPTION)?;
            }
            within(topic, "answer", &topic.answer, limits::INTERACTIVE_BODY)?;
            if let Some(link) = &topic.link {
                within(topic, "link label", &link.label, limits::CTA_DISPLAY_TEXT)?;
                match web_url(&link.url) {
                    Some(url) if url.scheme_str() == Some("https") => {}
                    _ => {
                        return Err(invalid(
                            topic,
                            format!("link {:?} is not an https URL", link.url),
                        ));
                    }
                }
            }
            if MUST_BE_CONTRACT_SPECIFIC.contains(&topic.id.as_str()) && !topic.contract_specific {
                return Err(invalid(topic, "must be contract-specific"));
            }
            let prospect_may_ask = PROSPECT_PRODUCT_TOPICS.contains(&topic.id.as_str())
                || SMALL_TALK.contains(&topic.id.as_str())
                || matches!(topic.id.as_str(), "privacy" | "unknown");
            if topic.prospects && !prospect_may_ask {
                return Err(invalid(
                    topic,
                    "prospects may only ask about products and tariffs",
                ));
            }
            if topic.prospects && topic.contract_specific {
                return Err(invalid(
                    topic,
                    "a contract-specific topic is not for prospects",
                ));
            }
        }
        if let Some(missing) = TOPIC_IDS.iter().find(|id| !seen.contains(**id)) {
            return Err(CatalogueError::Missing(missing));
        }
        for topic in self.topics.iter().filter(|t| t.menu) {
            if SMALL_TALK.contains(&topic.id.as_str()) || topic.id == "unknown" {
                return Err(invalid(topic, "small talk has no place in the topic list"));
            }
        }
        let menu = self.menu(false).count();
        if menu > limits::LIST_ROWS {
            return Err(CatalogueError::MenuTooLong {
                rows: menu,
                max: limits::LIST_ROWS,
            });
        }
        Ok(())
    }

    /// The topics of Lisa's topic list, in catalogue order; for prospects only theirs.
    pub fn menu(&self, prospect: bool) -> impl Iterator<Item = &Topic> {
        self.topics
            .iter()
            .filter(move |t| t.menu && (!prospect || t.prospects))
    }

    pub fn topics(&self) -> &[Topic] {
        &self.topics
    }

    pub fn get(&self, id: &str) -> Option<&Topic> {
        self.topics.iter().find(|t| t.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalogue_is_valid_and_complete() {
        let catalogue = Catalogue::embedded();
        let ids: Vec<&str> = catalogue.topics().iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, TOPIC_IDS);
        for id in MUST_BE_CONTRACT_SPECIFIC {
            assert!(catalogue.get(id).unwrap().contract_specific, "{id}");
        }
        for id in PROSPECT_PRODUCT_TOPICS {
            assert!(catalogue.get(id).unwrap().prospects, "{id}");
        }
        for id in MUST_BE_CONTRACT_SPECIFIC {
            assert!(!catalogue.get(id).unwrap().prospects, "{id}");
        }
    }

    fn edited(from: &str, to: &str) -> Result<Catalogue, CatalogueError> {
        assert!(EMBEDDED.contains(from), "{from}");
        Catalogue::from_toml(&EMBEDDED.replacen(from, to, 1))
    }

    #[test]
    fn broken_edits_are_refused_with_the_reason() {
        assert_eq!(
            edited("id = \"goodbye\"", "id = \"greeting\"").unwrap_err(),
            CatalogueError::Duplicate("greeting".into())
        );
        assert_eq!(
            edited("id = \"voicemail\"", "id = \"mailbox\"").unwrap_err(),
            CatalogueError::UnknownId("mailbox".into())
        );
        let err = edited("https://www.beispiel-mobilfunk.de/tarife", "ftp://tarife").unwrap_err();
        assert!(
            matches!(err, CatalogueError::Invalid { ref topic, .. } if topic == "tariffs"),
            "{err}"
        );
        let err = edited(
            "label = \"Zur Rechnung\"",
            "label = \"Hier geht es zur Rechnung\"",
        )
        .unwrap_err();
        assert!(err.to_string().contains("link label"), "{err}");
        let err = edited(
            "title = \"Rechnung\"",
            "title = \"Fragen rund um die Rechnung\"",
        )
        .unwrap_err();
        assert!(err.to_string().contains("title"), "{err}");
        let err = edited("id = \"cancellation\"\ntitle = \"Kündigung\"\ndescription = \"Vertrag kündigen\"\nanswer = \"Schade, dass du gehen möchtest. Eine Kündigung nehmen meine Kolleginnen und Kollegen persönlich auf.\"\ncontract_specific = true", "id = \"cancellation\"\ntitle = \"Kündigung\"\ndescription = \"Vertrag kündigen\"\nanswer = \"Schade.\"\ncontract_specific = false").unwrap_err();
        assert!(
            err.to_string().contains("must be contract-specific"),
            "{err}"
        );
        assert!(matches!(
            Catalogue::from_toml("topic = 3"),
            Err(CatalogueError::Syntax(_))
        ));
    }
}
