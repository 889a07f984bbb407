//! What we send on WhatsApp and the Cloud API's documented limits, checked before anything is
//! sent. A leaf: the domain stores these contents, and nothing here depends on the domain.

use serde::{Deserialize, Serialize};

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
                match web_url(url) {
                    Some(_) => Ok(()),
                    None => Err(LimitViolation {
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

/// `raw` as an absolute http(s) URL with a host, as a link button opens it; `None` otherwise
/// (no other scheme, no relative or malformed URL).
pub fn web_url(raw: &str) -> Option<http::Uri> {
    let uri: http::Uri = raw.parse().ok()?;
    let web = matches!(uri.scheme_str(), Some("https" | "http"));
    let host = uri.host().is_some_and(|host| !host.is_empty());
    (web && host).then_some(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_web_urls_with_a_host_are_links() {
        for good in [
            "https://www.beispiel-mobilfunk.de/tarife?von=whatsapp#mobil",
            "http://beispiel.de",
            "https://xn--bcher-kva.de/",
        ] {
            assert!(web_url(good).is_some(), "{good}");
        }
        for bad in [
            "ftp://tarife",
            "javascript:alert(1)",
            "/tarife",
            "www.beispiel.de",
            "https://",
            "https://beispiel.de/mit leerzeichen",
            "",
        ] {
            assert!(web_url(bad).is_none(), "{bad}");
        }
    }

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
}
