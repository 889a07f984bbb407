//! The `WhatsApp` port: sending through the Graph API (HTTPS) or into a recording outbox, with
//! the Cloud API's limits checked before anything is sent.

pub mod graph;
pub mod outbox;
pub mod payload;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

pub use crate::domain::Recipient;

/// Free-form messages may be sent only this long after the customer's last message.
pub const SERVICE_WINDOW: Duration = Duration::hours(24);

/// Whether free-form messages may go to a contact whose last message came at `last_inbound`.
pub fn service_window_open(last_inbound: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now < last_inbound + SERVICE_WINDOW
}

/// The documented limits of the Cloud API (characters, counts).
pub mod limits {
    pub const TEXT_BODY: usize = 4096;
    pub const INTERACTIVE_BODY: usize = 1024;
    pub const HEADER_TEXT: usize = 60;
    pub const FOOTER_TEXT: usize = 60;
    pub const REPLY_BUTTONS: usize = 3;
    pub const BUTTON_TITLE: usize = 20;
    pub const BUTTON_ID: usize = 256;
    pub const LIST_BUTTON: usize = 20;
    pub const LIST_SECTIONS: usize = 10;
    pub const LIST_ROWS: usize = 10;
    pub const SECTION_TITLE: usize = 24;
    pub const ROW_TITLE: usize = 24;
    pub const ROW_DESCRIPTION: usize = 72;
    pub const ROW_ID: usize = 200;
    pub const CTA_DISPLAY_TEXT: usize = 20;
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyButton {
    pub id: String,
    pub title: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRow {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListSection {
    pub title: Option<String>,
    pub rows: Vec<ListRow>,
}

/// What we send. Texts are German and come from data files, never from code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum OutboundContent {
    Text {
        body: String,
    },
    /// Up to three reply buttons.
    Buttons {
        body: String,
        buttons: Vec<ReplyButton>,
        footer: Option<String>,
    },
    /// A list message: a button opening up to ten rows.
    List {
        body: String,
        button: String,
        sections: Vec<ListSection>,
        footer: Option<String>,
    },
    /// A link button (`cta_url`).
    Link {
        body: String,
        display_text: String,
        url: String,
    },
    /// An approved template (the only thing allowed outside the 24-hour window).
    Template {
        name: String,
        language: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct LimitViolation {
    pub field: String,
    pub problem: String,
}

fn too_long(field: &str, value: &str, max: usize) -> Result<(), LimitViolation> {
    let len = value.chars().count();
    if len > max {
        return Err(LimitViolation {
            field: field.into(),
            problem: format!("{len} characters, at most {max} allowed"),
        });
    }
    if value.trim().is_empty() {
        return Err(LimitViolation {
            field: field.into(),
            problem: "must not be empty".into(),
        });
    }
    Ok(())
}

fn count(field: &str, n: usize, max: usize) -> Result<(), LimitViolation> {
    if n == 0 || n > max {
        return Err(LimitViolation {
            field: field.into(),
            problem: format!("{n} given, 1 to {max} allowed"),
        });
    }
    Ok(())
}

impl OutboundContent {
    /// The stored message's type: what the Cloud API calls this kind of message.
    pub fn message_type(&self) -> crate::domain::MessageType {
        use crate::domain::MessageType;
        match self {
            OutboundContent::Text { .. } => MessageType::Text,
            OutboundContent::Template { .. } => MessageType::Template,
            _ => MessageType::Interactive,
        }
    }

    /// Checks the Cloud API's limits, so nothing is sent that it would reject.
    pub fn validate(&self) -> Result<(), LimitViolation> {
        use limits::*;
        match self {
            OutboundContent::Text { body } => too_long("text.body", body, TEXT_BODY),
            OutboundContent::Buttons {
                body,
                buttons,
                footer,
            } => {
                too_long("body", body, INTERACTIVE_BODY)?;
                count("buttons", buttons.len(), REPLY_BUTTONS)?;
                for b in buttons {
                    too_long("button.title", &b.title, BUTTON_TITLE)?;
                    too_long("button.id", &b.id, BUTTON_ID)?;
                }
                let mut ids: Vec<_> = buttons.iter().map(|b| &b.id).collect();
                ids.sort();
                ids.dedup();
                if ids.len() != buttons.len() {
                    return Err(LimitViolation {
                        field: "button.id".into(),
                        problem: "ids must be unique".into(),
                    });
                }
                footer
                    .as_ref()
                    .map_or(Ok(()), |f| too_long("footer", f, FOOTER_TEXT))
            }
            OutboundContent::List {
                body,
                button,
                sections,
                footer,
            } => {
                too_long("body", body, INTERACTIVE_BODY)?;
                too_long("list.button", button, LIST_BUTTON)?;
                count("sections", sections.len(), LIST_SECTIONS)?;
                let rows: Vec<&ListRow> = sections.iter().flat_map(|s| &s.rows).collect();
                count("rows", rows.len(), LIST_ROWS)?;
                if sections.len() > 1 && sections.iter().any(|s| s.title.is_none()) {
                    return Err(LimitViolation {
                        field: "section.title".into(),
                        problem: "required when there is more than one section".into(),
                    });
                }
                for s in sections {
                    if let Some(t) = &s.title {
                        too_long("section.title", t, SECTION_TITLE)?;
                    }
                }
                for r in &rows {
                    too_long("row.title", &r.title, ROW_TITLE)?;
                    too_long("row.id", &r.id, ROW_ID)?;
                    if let Some(d) = &r.description {
                        too_long("row.description", d, ROW_DESCRIPTION)?;
                    }
                }
                footer
                    .as_ref()
                    .map_or(Ok(()), |f| too_long("footer", f, FOOTER_TEXT))
            }
            OutboundContent::Link {
                body,
                display_text,
                url,
            } => {
                too_long("body", body, INTERACTIVE_BODY)?;
                too_long("display_text", display_text, CTA_DISPLAY_TEXT)?;
                match reqwest::Url::parse(url) {
                    Ok(u) if u.scheme() == "https" || u.scheme() == "http" => Ok(()),
                    _ => Err(LimitViolation {
                        field: "url".into(),
                        problem: "must be an http(s) URL".into(),
                    }),
                }
            }
            OutboundContent::Template { name, language } => {
                too_long("template.name", name, 512)?;
                too_long("template.language", language, 16)
            }
        }
    }
}

/// The Graph API's answer to a sent message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    /// The WhatsApp message id (`wamid....`); statuses refer to it.
    pub wamid: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WhatsAppError {
    #[error("message exceeds a WhatsApp limit: {0}")]
    Invalid(#[from] LimitViolation),
    /// 131047: more than 24 hours since the customer's last message; only templates allowed.
    #[error("outside the 24-hour customer-service window (131047)")]
    OutsideWindow,
    /// 131026, 131030, 131021, ...: this recipient cannot get the message.
    #[error("recipient cannot receive this message ({code})")]
    InvalidRecipient { code: i64 },
    /// 190 and friends: the access token is wrong or expired.
    #[error("the Graph API refused our credentials ({code})")]
    Unauthorized { code: i64 },
    /// 130429, 131056, 429: still throttled after the retries.
    #[error("throttled by the Graph API ({code}) after {attempts} attempts")]
    Throttled { code: i64, attempts: u32 },
    /// 5xx or a transport failure, after the retries.
    #[error("the Graph API is unavailable after {attempts} attempts: {detail}")]
    Unavailable { attempts: u32, detail: String },
    /// Anything else the Graph API rejected; retrying will not help.
    #[error("the Graph API rejected the request ({code}): {message}")]
    Rejected { code: i64, message: String },
}

impl WhatsAppError {
    /// Whether a later try (e.g. the next queue delivery) may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            WhatsAppError::Throttled { .. } | WhatsAppError::Unavailable { .. }
        )
    }

    /// Whether the message itself can never be delivered, so retrying it is pointless.
    /// Credentials are not the message's fault: those sends wait for ops to fix them.
    pub fn is_permanent(&self) -> bool {
        !self.is_transient() && !matches!(self, WhatsAppError::Unauthorized { .. })
    }

    /// The Graph API error code, where there is one.
    pub fn code(&self) -> Option<i64> {
        match self {
            WhatsAppError::OutsideWindow => Some(131047),
            WhatsAppError::InvalidRecipient { code }
            | WhatsAppError::Unauthorized { code }
            | WhatsAppError::Throttled { code, .. }
            | WhatsAppError::Rejected { code, .. } => Some(*code),
            WhatsAppError::Invalid(_) | WhatsAppError::Unavailable { .. } => None,
        }
    }
}

#[async_trait]
pub trait WhatsApp: Send + Sync {
    /// Sends a message to a contact's phone number or user id; validates the limits first.
    async fn send(&self, to: &Recipient, content: &OutboundContent) -> Result<Sent, WhatsAppError>;

    /// Marks an inbound message as read and shows the typing indicator while Lisa answers.
    async fn mark_read(&self, wamid: &str, typing: bool) -> Result<(), WhatsAppError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buttons(n: usize, title: &str) -> OutboundContent {
        OutboundContent::Buttons {
            body: "Bist du schon Kundin oder Kunde?".into(),
            buttons: (0..n)
                .map(|i| ReplyButton {
                    id: format!("b{i}"),
                    title: title.into(),
                })
                .collect(),
            footer: None,
        }
    }

    fn list(rows: usize, title: &str) -> OutboundContent {
        OutboundContent::List {
            body: "Worum geht es?".into(),
            button: "Themen".into(),
            sections: vec![ListSection {
                title: None,
                rows: (0..rows)
                    .map(|i| ListRow {
                        id: format!("r{i}"),
                        title: title.into(),
                        description: None,
                    })
                    .collect(),
            }],
            footer: None,
        }
    }

    #[test]
    fn buttons_allow_three_titles_of_twenty_characters() {
        assert_eq!(buttons(3, "Ja, ich bin Kundin").validate(), Ok(()));
        assert_eq!(
            buttons(3, &"ä".repeat(20)).validate(),
            Ok(()),
            "characters, not bytes"
        );
        let err = buttons(4, "Ja").validate().unwrap_err();
        assert_eq!(err.field, "buttons");
        assert_eq!(
            buttons(1, &"x".repeat(21)).validate().unwrap_err().field,
            "button.title"
        );
        assert_eq!(buttons(0, "x").validate().unwrap_err().field, "buttons");
    }

    #[test]
    fn lists_allow_ten_rows_of_twenty_four_characters() {
        assert_eq!(list(10, &"r".repeat(24)).validate(), Ok(()));
        assert_eq!(list(11, "Rechnung").validate().unwrap_err().field, "rows");
        assert_eq!(
            list(2, &"r".repeat(25)).validate().unwrap_err().field,
            "row.title"
        );
    }

    #[test]
    fn text_and_links_are_checked() {
        let long = OutboundContent::Text {
            body: "x".repeat(4097),
        };
        assert!(long.validate().is_err());
        let link = |url: &str, text: &str| OutboundContent::Link {
            body: "Hier findest du alles zu deiner Rechnung.".into(),
            display_text: text.into(),
            url: url.into(),
        };
        assert_eq!(
            link("https://example.com/rechnung", "Zur Rechnung").validate(),
            Ok(())
        );
        assert_eq!(
            link("javascript:alert(1)", "x")
                .validate()
                .unwrap_err()
                .field,
            "url"
        );
        assert_eq!(
            link("https://example.com", &"x".repeat(21))
                .validate()
                .unwrap_err()
                .field,
            "display_text"
        );
    }

    #[test]
    fn the_service_window_closes_after_24_hours() {
        let last = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert!(service_window_open(
            last,
            last + Duration::hours(23) + Duration::minutes(59)
        ));
        assert!(!service_window_open(last, last + Duration::hours(24)));
    }
}
