//! Lisa's dialogue: one customer message in, her replies and the effects out. Pure apart from
//! the customer directory; the caller (bot-reply) stores state and sends the replies.

use super::catalogue::{Catalogue, Topic};
use super::model::{TopicModel, Understanding};
use crate::channels::whatsapp::{ListRow, ListSection, OutboundContent, ReplyButton, limits};
use crate::domain::{AuthAttempts, Awaiting, Contact, ContactKind, Conversation, EndReason};
use crate::domain::{ReviewTrigger, Understood};
use crate::ports::directory::{
    CustomerDirectory, CustomerRef, DirectoryError, normalize_customer_number,
};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

/// The texts shipped with the code (`shared/data/dialogue.toml`).
pub const EMBEDDED_TEXTS: &str = include_str!("../../data/dialogue.toml");

/// Button ids Lisa sends and understands.
pub mod ids {
    pub const KIND_CUSTOMER: &str = "kind-customer";
    pub const KIND_PROSPECT: &str = "kind-prospect";
    pub const HELPFUL_YES: &str = "helpful-yes";
    pub const HELPFUL_NO: &str = "helpful-no";
    pub const AGENT_YES: &str = "agent-yes";
    pub const AGENT_NO: &str = "agent-no";
    pub const PRIVACY_ERASE: &str = "privacy-erase";
    pub const PRIVACY_KEEP: &str = "privacy-keep";
    /// Prefix of a topic chosen from a list: `topic-bill`.
    pub const TOPIC_PREFIX: &str = "topic-";
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Texts {
    pub greeting_named: String,
    pub greeting_anonymous: String,
    pub ask_kind: String,
    pub kind_customer_button: String,
    pub kind_prospect_button: String,
    pub ask_concern: String,
    pub prospect_welcome: String,
    pub prospect_redirect: String,
    pub ask_helpful: String,
    pub helpful_yes_button: String,
    pub helpful_no_button: String,
    pub glad_to_help: String,
    pub offer_agent: String,
    pub agent_yes_button: String,
    pub agent_no_button: String,
    pub agent_declined: String,
    pub contract_needs_agent: String,
    pub ask_customer_number: String,
    pub ask_password: String,
    pub auth_failed: String,
    pub auth_locked: String,
    pub handover: String,
    pub desk_unavailable: String,
    pub rephrase: String,
    pub offer_agent_after_unknown: String,
    pub clarify: String,
    pub privacy_erase_button: String,
    pub privacy_keep_button: String,
    pub privacy_erased: String,
    pub privacy_kept: String,
    pub goodbye: String,
    pub unsupported: String,
    pub topics_button: String,
    pub topics_prompt: String,
    /// Said once when a contact writes faster than Lisa answers (bot-reply's rate limit).
    pub rate_limited: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TextsError {
    #[error("dialogue texts are not valid TOML: {0}")]
    Syntax(String),
    #[error("button text {0:?} is longer than 20 characters")]
    ButtonTooLong(String),
}

impl Texts {
    pub fn from_toml(text: &str) -> Result<Self, TextsError> {
        let texts: Texts = toml::from_str(text).map_err(|e| TextsError::Syntax(e.to_string()))?;
        for button in [
            &texts.kind_customer_button,
            &texts.kind_prospect_button,
            &texts.helpful_yes_button,
            &texts.helpful_no_button,
            &texts.agent_yes_button,
            &texts.agent_no_button,
            &texts.privacy_erase_button,
            &texts.privacy_keep_button,
            &texts.topics_button,
        ] {
            if button.chars().count() > limits::BUTTON_TITLE {
                return Err(TextsError::ButtonTooLong(button.clone()));
            }
        }
        Ok(texts)
    }

    pub fn embedded() -> Self {
        Self::from_toml(EMBEDDED_TEXTS).expect("the shipped texts are valid (tested)")
    }
}

/// The channel's settings: the bot's name and where prospects are sent.
#[derive(Clone, Debug)]
pub struct LisaConfig {
    pub bot_name: String,
    pub hotline: String,
    pub email: String,
    pub website: String,
    /// Failed authentications of one contact before the contact is locked.
    pub max_auth_failures: u32,
    /// Failed authentications on one customer number, from whichever contacts, before the
    /// number is locked: every contact trying it then hears what a locked contact hears.
    pub max_customer_number_failures: u32,
    /// How long a lock lasts, and the window failures count in.
    pub lock_period: Duration,
}

impl Default for LisaConfig {
    fn default() -> Self {
        Self {
            bot_name: "Lisa".into(),
            hotline: "0800 123 45 67".into(),
            email: "service@beispiel-mobilfunk.de".into(),
            website: "https://www.beispiel-mobilfunk.de".into(),
            max_auth_failures: 3,
            max_customer_number_failures: 5,
            lock_period: Duration::hours(24),
        }
    }
}

impl LisaConfig {
    /// The channel settings from `BOT_NAME`, `HOTLINE`, `SERVICE_EMAIL` and `WEBSITE_URL`,
    /// each defaulting to the example brand.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let defaults = Self::default();
        let get = |name: &str, default: String| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .unwrap_or(default)
        };
        Self {
            bot_name: get("BOT_NAME", defaults.bot_name),
            hotline: get("HOTLINE", defaults.hotline),
            email: get("SERVICE_EMAIL", defaults.email),
            website: get("WEBSITE_URL", defaults.website),
            ..defaults
        }
    }
}

/// A customer message as Lisa sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Text(String),
    /// A reply button or list row, by id.
    Choice(String),
    /// Media, location, ...: nothing Lisa can read.
    Other,
}

/// What the caller must do besides sending Lisa's replies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Reply(OutboundContent),
    /// The incoming message carried a password: store it redacted.
    RedactIncoming,
    /// The contact proved to be this customer: the channel's data is now `service-13m`.
    Authenticated(CustomerRef),
    /// Hand the conversation to the agent desk.
    Handover {
        topic: String,
    },
    Close(EndReason),
    /// The contact asked for erasure of all their data.
    Erase,
    /// How Lisa understood the message's free text (for the statistics and the review).
    Understood(Understood),
    /// A person should look at a message: this one (`Unsure`, `BetweenTwo`) or the one Lisa
    /// understood before (`NotHelpful`, `HandoverAfterAnswer`).
    Review(ReviewTrigger),
}

/// The state one reply may change.
pub struct State<'a> {
    pub contact: &'a mut Contact,
    pub conversation: &'a mut Conversation,
    /// The contact's failed authentications (its lock).
    pub auth: &'a mut AuthAttempts,
    /// The failed authentications on the customer number waiting for its password
    /// ([`Lisa::customer_number_to_check`]), over all contacts (its lock): the caller loads
    /// them for that number and stores them back when changed. Untouched by anything else.
    pub number_auth: &'a mut AuthAttempts,
}

pub struct Lisa {
    catalogue: Catalogue,
    model: TopicModel,
    texts: Texts,
    config: LisaConfig,
}

fn text(body: String) -> Action {
    Action::Reply(OutboundContent::Text { body })
}

fn buttons(body: String, choices: [(&str, &str); 2]) -> Action {
    Action::Reply(OutboundContent::Buttons {
        body,
        buttons: choices
            .iter()
            .map(|(id, title)| ReplyButton {
                id: (*id).into(),
                title: (*title).into(),
            })
            .collect(),
        footer: None,
    })
}

impl Lisa {
    /// Lisa's texts, for what bot-reply says outside a dialogue step.
    pub fn texts(&self) -> &Texts {
        &self.texts
    }

    /// What Lisa says once when a contact writes faster than she answers (bot-reply's rate
    /// limit).
    pub fn rate_limit_notice(&self, contact: &Contact) -> String {
        self.fill(&self.texts.rate_limited, contact)
    }

    /// The customer number whose password the next message checks, if Lisa waits for one:
    /// the caller loads that number's attempts into [`State::number_auth`].
    pub fn customer_number_to_check(conversation: &Conversation) -> Option<&str> {
        match conversation.awaiting {
            Awaiting::Password => conversation.pending_customer_number.as_deref(),
            _ => None,
        }
    }

    /// Until when failed attempts matter: the end of the lock, else of the window the
    /// failures count in (`None`: nothing to keep). What the stored attempts live for.
    pub fn attempts_matter_until(&self, attempts: &AuthAttempts) -> Option<DateTime<Utc>> {
        attempts.locked_until.or(attempts
            .first_failure_at
            .map(|first| first + self.config.lock_period))
    }

    pub fn new(catalogue: Catalogue, texts: Texts, config: LisaConfig) -> Self {
        Self {
            model: TopicModel::embedded(),
            catalogue,
            texts,
            config,
        }
    }

    fn fill(&self, template: &str, contact: &Contact) -> String {
        template
            .replace("{bot}", &self.config.bot_name)
            .replace("{name}", contact.profile_name.as_deref().unwrap_or(""))
            .replace("{hotline}", &self.config.hotline)
            .replace("{email}", &self.config.email)
            .replace("{website}", &self.config.website)
    }

    /// The greeting, by WhatsApp name when there is one.
    fn greeting(&self, contact: &Contact) -> String {
        let template = match contact.profile_name {
            Some(_) => &self.texts.greeting_named,
            None => &self.texts.greeting_anonymous,
        };
        self.fill(template, contact)
    }

    /// "Customer or prospect?", after a greeting unless she asked just before.
    fn ask_kind(&self, contact: &Contact, greet: bool) -> Vec<Action> {
        let body = if greet {
            format!("{} {}", self.greeting(contact), self.texts.ask_kind)
        } else {
            self.texts.ask_kind.clone()
        };
        vec![buttons(
            body,
            [
                (ids::KIND_CUSTOMER, &self.texts.kind_customer_button),
                (ids::KIND_PROSPECT, &self.texts.kind_prospect_button),
            ],
        )]
    }

    /// "Is it about A or B?", with the two topics as buttons (answered like a topic list).
    fn clarify(&self, first: &str, second: &str) -> Action {
        let title = |id: &str| {
            self.catalogue
                .get(id)
                .map_or_else(|| id.to_owned(), |t| t.title.clone())
        };
        let body = self
            .texts
            .clarify
            .replace("{a}", &title(first))
            .replace("{b}", &title(second));
        let first_id = format!("{}{first}", ids::TOPIC_PREFIX);
        let second_id = format!("{}{second}", ids::TOPIC_PREFIX);
        buttons(
            body,
            [(&first_id, &title(first)), (&second_id, &title(second))],
        )
    }

    fn offer_agent(&self, prefix: Option<&str>) -> Action {
        let body = match prefix {
            Some(p) => format!("{p} {}", self.texts.offer_agent),
            None => self.texts.offer_agent.clone(),
        };
        buttons(
            body,
            [
                (ids::AGENT_YES, &self.texts.agent_yes_button),
                (ids::AGENT_NO, &self.texts.agent_no_button),
            ],
        )
    }

    fn answer(&self, topic: &Topic) -> Action {
        Action::Reply(match &topic.link {
            Some(link) => OutboundContent::Link {
                body: topic.answer.clone(),
                display_text: link.label.clone(),
                url: link.url.clone(),
            },
            None => OutboundContent::Text {
                body: topic.answer.clone(),
            },
        })
    }

    /// A list of the catalogue's menu topics (understood by id: `topic-<id>`).
    fn topics_list(&self, lead: &str, prospect: bool) -> Action {
        let rows = self
            .catalogue
            .menu(prospect)
            .map(|t| ListRow {
                id: format!("{}{}", ids::TOPIC_PREFIX, t.id),
                title: t.title.clone(),
                description: t.description.clone(),
            })
            .collect();
        Action::Reply(OutboundContent::List {
            body: format!("{lead} {}", self.texts.topics_prompt),
            button: self.texts.topics_button.clone(),
            sections: vec![ListSection { title: None, rows }],
            footer: None,
        })
    }

    /// Authenticate (unless done) and hand over.
    fn towards_agent(&self, state: &mut State<'_>, topic: &str, now: DateTime<Utc>) -> Vec<Action> {
        if state.contact.is_authenticated() {
            return self.hand_over(state, topic);
        }
        if state.auth.is_locked_at(now) {
            return vec![text(self.fill(&self.texts.auth_locked, state.contact))];
        }
        state.conversation.pending_topic = Some(topic.to_owned());
        state.conversation.awaiting = Awaiting::CustomerNumber;
        vec![
            text(self.texts.contract_needs_agent.clone()),
            text(self.texts.ask_customer_number.clone()),
        ]
    }

    fn hand_over(&self, state: &mut State<'_>, topic: &str) -> Vec<Action> {
        let conversation = &mut *state.conversation;
        conversation.awaiting = Awaiting::Nothing;
        conversation.pending_topic = None;
        conversation.mode = crate::domain::ConversationMode::Agent;
        conversation.state = crate::domain::ConversationState::WaitingForAgent;
        conversation.handed_over = true;
        let mut actions = vec![
            text(self.texts.handover.clone()),
            Action::Handover {
                topic: topic.to_owned(),
            },
        ];
        if conversation.answered_by_bot {
            actions.push(Action::Review(ReviewTrigger::HandoverAfterAnswer));
        }
        actions
    }

    /// Lisa's answer to one customer message.
    pub async fn respond(
        &self,
        mut state: State<'_>,
        input: Input,
        now: DateTime<Utc>,
        directory: &dyn CustomerDirectory,
    ) -> Result<Vec<Action>, DirectoryError> {
        if state.contact.kind == ContactKind::Prospect
            && let Input::Text(message) = &input
            && let Some(company) = company_name_in(message)
        {
            state.contact.company_name = Some(company);
        }
        let awaiting = state.conversation.awaiting;
        // Answers to Lisa's own questions first.
        match (awaiting, &input) {
            (Awaiting::Password, Input::Text(password)) => {
                return self
                    .check_password(&mut state, password, now, directory)
                    .await;
            }
            (Awaiting::CustomerNumber, Input::Text(number)) => {
                let number = normalize_customer_number(number);
                if !number.is_empty() && number.chars().any(|c| c.is_ascii_digit()) {
                    state.conversation.pending_customer_number = Some(number);
                    state.conversation.awaiting = Awaiting::Password;
                    return Ok(vec![text(self.texts.ask_password.clone())]);
                }
            }
            (Awaiting::Kind, Input::Choice(id))
                if id == ids::KIND_CUSTOMER || id == ids::KIND_PROSPECT =>
            {
                state.contact.kind = if id == ids::KIND_CUSTOMER {
                    ContactKind::Customer
                } else {
                    ContactKind::Prospect
                };
                state.conversation.awaiting = Awaiting::Nothing;
                let pending = state.conversation.pending_topic.take();
                let mut replies = match state.contact.kind {
                    ContactKind::Prospect => vec![text(self.texts.prospect_welcome.clone())],
                    _ => Vec::new(),
                };
                match pending {
                    Some(topic) => replies.extend(self.on_topic(&mut state, &topic, now)),
                    None if replies.is_empty() => {
                        replies.push(text(self.texts.ask_concern.clone()))
                    }
                    None => {}
                }
                return Ok(replies);
            }
            (Awaiting::Helpful, Input::Choice(id)) if id == ids::HELPFUL_YES => {
                state.conversation.awaiting = Awaiting::Nothing;
                return Ok(vec![text(self.texts.glad_to_help.clone())]);
            }
            (Awaiting::Helpful, Input::Choice(id)) if id == ids::HELPFUL_NO => {
                state.conversation.awaiting = Awaiting::AgentOffer;
                return Ok(vec![
                    self.offer_agent(None),
                    Action::Review(ReviewTrigger::NotHelpful),
                ]);
            }
            (Awaiting::AgentOffer, Input::Choice(id)) if id == ids::AGENT_YES => {
                state.conversation.awaiting = Awaiting::Nothing;
                let topic = state.conversation.concern_for_agent();
                return Ok(self.towards_agent(&mut state, &topic, now));
            }
            (Awaiting::AgentOffer, Input::Choice(id)) if id == ids::AGENT_NO => {
                state.conversation.awaiting = Awaiting::Nothing;
                return Ok(vec![text(self.texts.agent_declined.clone())]);
            }
            (Awaiting::PrivacyConfirm, Input::Choice(id)) if id == ids::PRIVACY_ERASE => {
                state.conversation.awaiting = Awaiting::Nothing;
                return Ok(vec![text(self.texts.privacy_erased.clone()), Action::Erase]);
            }
            (Awaiting::PrivacyConfirm, Input::Choice(id)) if id == ids::PRIVACY_KEEP => {
                state.conversation.awaiting = Awaiting::Nothing;
                return Ok(vec![text(self.texts.privacy_kept.clone())]);
            }
            _ => {}
        }
        let mut judged = Vec::new();
        let topic = match &input {
            Input::Text(message) => {
                let prediction = self.model.predict(message);
                let understanding = self.model.header().thresholds.apply(&prediction);
                judged.push(Action::Understood(Understood {
                    how: understanding.how(),
                    guess: prediction.topic,
                    confidence: prediction.probability,
                }));
                match understanding {
                    Understanding::Topic(topic) => topic,
                    Understanding::Unsure => {
                        judged.push(Action::Review(ReviewTrigger::Unsure));
                        "unknown".to_owned()
                    }
                    Understanding::EitherOf(first, second) => {
                        state.conversation.awaiting = Awaiting::Nothing;
                        judged.push(Action::Review(ReviewTrigger::BetweenTwo));
                        let mut actions = vec![self.clarify(&first, &second)];
                        actions.extend(judged);
                        return Ok(actions);
                    }
                }
            }
            Input::Choice(id) => id
                .strip_prefix(ids::TOPIC_PREFIX)
                .filter(|t| self.catalogue.get(t).is_some())
                .unwrap_or("unknown")
                .to_owned(),
            Input::Other => return Ok(vec![text(self.texts.unsupported.clone())]),
        };
        // A new concern ends any open question.
        state.conversation.awaiting = Awaiting::Nothing;
        if state.contact.kind == ContactKind::Unknown
            && !matches!(topic.as_str(), "goodbye" | "privacy")
        {
            if topic != "greeting" && topic != "unknown" {
                state.conversation.pending_topic = Some(topic);
            }
            state.conversation.awaiting = Awaiting::Kind;
            let mut actions = self.ask_kind(state.contact, awaiting != Awaiting::Kind);
            actions.extend(judged);
            return Ok(actions);
        }
        let mut actions = self.on_topic(&mut state, &topic, now);
        actions.extend(judged);
        Ok(actions)
    }

    fn on_topic(&self, state: &mut State<'_>, topic_id: &str, now: DateTime<Utc>) -> Vec<Action> {
        if topic_id != "unknown" {
            state.conversation.unknown_streak = 0;
            if !state.conversation.topics.iter().any(|t| t == topic_id)
                && !matches!(topic_id, "greeting" | "goodbye")
            {
                state.conversation.topics.push(topic_id.to_owned());
                state.conversation.dialogs += 1;
            }
        }
        let Some(topic) = self.catalogue.get(topic_id) else {
            return vec![text(self.texts.rephrase.clone())];
        };
        let prospect = state.contact.kind == ContactKind::Prospect;
        match topic_id {
            "greeting" => vec![text(format!(
                "{} {}",
                self.greeting(state.contact),
                self.texts.ask_concern
            ))],
            "goodbye" => vec![
                text(self.texts.goodbye.clone()),
                Action::Close(EndReason::Goodbye),
            ],
            "privacy" => {
                state.conversation.awaiting = Awaiting::PrivacyConfirm;
                vec![
                    self.answer(topic),
                    buttons(
                        self.texts.privacy_erase_button.clone() + "?",
                        [
                            (ids::PRIVACY_ERASE, &self.texts.privacy_erase_button),
                            (ids::PRIVACY_KEEP, &self.texts.privacy_keep_button),
                        ],
                    ),
                ]
            }
            "unknown" => {
                state.conversation.unknown_streak += 1;
                if state.conversation.unknown_streak >= 2 && !prospect {
                    state.conversation.awaiting = Awaiting::AgentOffer;
                    vec![self.offer_agent(Some(&self.texts.offer_agent_after_unknown))]
                } else if state.conversation.unknown_streak >= 2 {
                    vec![text(
                        self.fill(&self.texts.prospect_redirect, state.contact),
                    )]
                } else {
                    vec![self.topics_list(&self.texts.rephrase, prospect)]
                }
            }
            _ if prospect && !topic.prospects => {
                vec![text(
                    self.fill(&self.texts.prospect_redirect, state.contact),
                )]
            }
            _ if topic.contract_specific => self.towards_agent(state, topic_id, now),
            _ => {
                state.conversation.awaiting = Awaiting::Helpful;
                state.conversation.pending_topic = Some(topic_id.to_owned());
                state.conversation.answered_by_bot = true;
                vec![
                    self.answer(topic),
                    buttons(
                        self.texts.ask_helpful.clone(),
                        [
                            (ids::HELPFUL_YES, &self.texts.helpful_yes_button),
                            (ids::HELPFUL_NO, &self.texts.helpful_no_button),
                        ],
                    ),
                ]
            }
        }
    }

    /// The password for the pending customer number. A locked contact or a locked number
    /// gets the locked answer without any check. Otherwise the directory verifies (an unknown
    /// number as long as a wrong password, against a decoy hash), and a failure counts
    /// against the contact and against the number alike, whether the number exists or not:
    /// unknown number and wrong password get the same answers, in the same order.
    async fn check_password(
        &self,
        state: &mut State<'_>,
        password: &str,
        now: DateTime<Utc>,
        directory: &dyn CustomerDirectory,
    ) -> Result<Vec<Action>, DirectoryError> {
        let number = state
            .conversation
            .pending_customer_number
            .take()
            .unwrap_or_default();
        let mut actions = vec![Action::RedactIncoming];
        if state.auth.is_locked_at(now) || state.number_auth.is_locked_at(now) {
            state.conversation.awaiting = Awaiting::Nothing;
            actions.push(text(self.fill(&self.texts.auth_locked, state.contact)));
            return Ok(actions);
        }
        match directory.verify(&number, password).await? {
            Some(customer) => {
                // The contact's own failures are forgiven; the number's are not: they may
                // come from others, and they lapse with their window.
                *state.auth = AuthAttempts::default();
                state.contact.customer_ref = Some(customer.0.clone());
                state.contact.kind = ContactKind::Customer;
                state.conversation.authenticated = true;
                let topic = state.conversation.concern_for_agent();
                actions.push(Action::Authenticated(customer));
                actions.extend(self.hand_over(state, &topic));
            }
            None => {
                let contact_locked =
                    self.count_failure(state.auth, self.config.max_auth_failures, now);
                let number_locked = self.count_failure(
                    state.number_auth,
                    self.config.max_customer_number_failures,
                    now,
                );
                if contact_locked || number_locked {
                    state.conversation.awaiting = Awaiting::Nothing;
                    actions.push(text(self.fill(&self.texts.auth_locked, state.contact)));
                } else {
                    state.conversation.awaiting = Awaiting::CustomerNumber;
                    actions.push(text(self.texts.auth_failed.clone()));
                }
            }
        }
        Ok(actions)
    }

    /// Counts one failure; locks for the lock period at the `max`th failure within one lock
    /// period from the first (older ones lapse). Whether that locked.
    fn count_failure(&self, attempts: &mut AuthAttempts, max: u32, now: DateTime<Utc>) -> bool {
        let window_start = attempts
            .first_failure_at
            .filter(|first| now < *first + self.config.lock_period);
        if window_start.is_none() {
            attempts.failures = 0;
            attempts.first_failure_at = Some(now);
        }
        attempts.failures += 1;
        if attempts.failures >= max {
            attempts.locked_until = Some(now + self.config.lock_period);
            attempts.failures = 0;
            attempts.first_failure_at = None;
            return true;
        }
        false
    }
}

/// Legal forms that mark a company name in German business writing.
const LEGAL_FORMS: [&str; 14] = [
    "gmbh", "ag", "kg", "ug", "ohg", "gbr", "se", "kgaa", "e.k.", "e.v.", "mbh", "ltd", "inc",
    "partg",
];

fn is_legal_form(word: &str) -> bool {
    let word = word.trim_matches(|c: char| matches!(c, ',' | ';' | ':' | '!' | '?' | ')' | '('));
    let lower = word.to_lowercase();
    LEGAL_FORMS.contains(&lower.as_str())
        || LEGAL_FORMS.contains(&lower.trim_end_matches('.'))
        || lower.starts_with("gmbh")
}

/// The company a prospect names ("Wir sind die Muster Bau GmbH & Co. KG"): the capitalised
/// words before a legal form, the legal form, and what continues it (`& Co. KG`).
pub fn company_name_in(message: &str) -> Option<String> {
    let words: Vec<&str> = message.split_whitespace().collect();
    let form = words.iter().position(|w| is_legal_form(w))?;
    let mut start = form;
    while start > 0
        && form - start < 4
        && words[start - 1]
            .chars()
            .next()
            .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit() || c == '&')
    {
        start -= 1;
    }
    if start == form {
        return None;
    }
    let mut end = form + 1;
    while end < words.len()
        && (matches!(words[end], "&" | "Co." | "Co" | "co.") || is_legal_form(words[end]))
    {
        end += 1;
    }
    let mut name = words[start..end]
        .join(" ")
        .trim_end_matches([',', ';', ':', '!', '?'])
        .to_owned();
    // A sentence's full stop goes; the dot of "e.K." stays.
    let last = name.rsplit(' ').next().unwrap_or_default().to_lowercase();
    if name.ends_with('.') && !matches!(last.as_str(), "e.k." | "e.v." | "co.") {
        name.pop();
    }
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Channel, ConversationMode};
    use crate::ports::directory::DemoDirectory;
    use std::collections::HashMap;
    use ulid::Ulid;

    fn start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// Contacts of one Lisa, each with its own state, sharing the customer numbers' attempts
    /// (what bot-reply keeps in `CUST#<pseudonym>/AUTH`).
    struct Desk {
        lisa: Lisa,
        directory: DemoDirectory,
        numbers: HashMap<String, AuthAttempts>,
        now: DateTime<Utc>,
    }

    struct Someone {
        contact: Contact,
        conversation: Conversation,
        auth: AuthAttempts,
    }

    impl Desk {
        fn new() -> Self {
            Self {
                lisa: Lisa::new(
                    Catalogue::embedded(),
                    Texts::embedded(),
                    LisaConfig::default(),
                ),
                directory: DemoDirectory::demo(),
                numbers: HashMap::new(),
                now: start(),
            }
        }

        fn someone(&self, n: u32) -> Someone {
            let mut contact = Contact::new(format!("49151000000{n:02}"), None, self.now);
            contact.kind = ContactKind::Customer;
            Someone {
                contact,
                conversation: Conversation::start(Ulid::new(), Channel::Whatsapp, self.now),
                auth: AuthAttempts::default(),
            }
        }

        async fn input(&mut self, who: &mut Someone, input: Input) -> Vec<Action> {
            let number = Lisa::customer_number_to_check(&who.conversation).map(str::to_owned);
            let mut scratch = AuthAttempts::default();
            let number_auth = match &number {
                Some(n) => self.numbers.entry(n.clone()).or_default(),
                None => &mut scratch,
            };
            let state = State {
                contact: &mut who.contact,
                conversation: &mut who.conversation,
                auth: &mut who.auth,
                number_auth,
            };
            self.lisa
                .respond(state, input, self.now, &self.directory)
                .await
                .unwrap()
        }

        async fn say(&mut self, who: &mut Someone, text: &str) -> Vec<Action> {
            self.input(who, Input::Text(text.into())).await
        }

        /// Asks for an agent, gives the number and the password: what the password got.
        async fn try_login(
            &mut self,
            who: &mut Someone,
            number: &str,
            password: &str,
        ) -> Vec<Action> {
            self.input(who, Input::Choice(format!("{}agent", ids::TOPIC_PREFIX)))
                .await;
            self.say(who, number).await;
            self.say(who, password).await
        }

        fn locked(&self, who: &Someone) -> String {
            self.lisa.fill(&self.lisa.texts.auth_locked, &who.contact)
        }
    }

    fn texts_of(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Reply(OutboundContent::Text { body }) => Some(body.clone()),
                Action::Reply(other) => Some(format!("{other:?}")),
                _ => None,
            })
            .collect()
    }

    fn handed_over(actions: &[Action]) -> bool {
        actions.iter().any(|a| matches!(a, Action::Handover { .. }))
    }

    #[tokio::test]
    async fn one_customer_number_tried_from_many_contacts_locks_for_all_of_them() {
        let mut desk = Desk::new();
        let limit = desk.lisa.config.max_customer_number_failures;
        // Each contact tries once: no contact comes near its own lock.
        for n in 1..limit {
            let mut who = desk.someone(n);
            let answer = desk.try_login(&mut who, "K1002003", "geraten").await;
            assert_eq!(texts_of(&answer), [desk.lisa.texts.auth_failed.clone()]);
            assert!(!who.auth.is_locked_at(desk.now));
        }
        let mut last = desk.someone(limit);
        let answer = desk.try_login(&mut last, "K-100 200 3", "geraten").await;
        assert_eq!(
            texts_of(&answer),
            [desk.locked(&last)],
            "the limit locks the number"
        );
        assert_eq!(last.conversation.awaiting, Awaiting::Nothing);

        // Everyone trying that number now hears the locked answer, the right password too,
        // until the lock period has passed; other numbers are not affected.
        let mut owner = desk.someone(limit + 1);
        desk.now += desk.lisa.config.lock_period - Duration::seconds(1);
        let answer = desk.try_login(&mut owner, "k1002003", "Sommer2026!").await;
        assert_eq!(texts_of(&answer), [desk.locked(&owner)]);
        assert!(!handed_over(&answer) && owner.contact.customer_ref.is_none());
        assert!(
            !owner.auth.is_locked_at(desk.now),
            "the contact itself is not locked"
        );
        let mut other = desk.someone(limit + 2);
        let answer = desk.try_login(&mut other, "K2004005", "Winter2026?").await;
        assert!(handed_over(&answer), "another number is not locked");

        desk.now += Duration::seconds(1);
        let answer = desk.try_login(&mut owner, "K1002003", "Sommer2026!").await;
        assert!(handed_over(&answer), "after the lock period: {answer:?}");
        assert_eq!(owner.contact.customer_ref.as_deref(), Some("K1002003"));
    }

    #[tokio::test]
    async fn unknown_number_and_wrong_password_get_the_same_answers_and_the_same_lock() {
        let mut desk = Desk::new();
        let mut unknown = desk.someone(1);
        let mut wrong = desk.someone(2);
        for attempt in 1..=desk.lisa.config.max_auth_failures {
            let a = desk
                .try_login(&mut unknown, "K9999999", "Sommer2026!")
                .await;
            let b = desk.try_login(&mut wrong, "K1002003", "sommer2026!").await;
            assert_eq!(
                a, b,
                "attempt {attempt}: same actions, same texts, same order"
            );
            assert_eq!(unknown.auth, wrong.auth);
            assert_eq!(unknown.conversation.awaiting, wrong.conversation.awaiting);
        }
        assert!(unknown.auth.is_locked_at(desk.now));
        // The unknown number counted exactly as the known one did.
        assert_eq!(desk.numbers["K9999999"], desk.numbers["K1002003"]);
    }

    #[tokio::test]
    async fn a_locked_contact_reaches_nothing_contract_specific() {
        let mut desk = Desk::new();
        let mut who = desk.someone(1);
        for _ in 0..desk.lisa.config.max_auth_failures {
            desk.try_login(&mut who, "K1002003", "falsch").await;
        }
        assert!(who.auth.is_locked_at(desk.now));
        let locked = desk.locked(&who);
        let contract_topics: Vec<String> = desk
            .lisa
            .catalogue
            .topics()
            .iter()
            .filter(|t| t.contract_specific)
            .map(|t| t.id.clone())
            .collect();
        assert!(contract_topics.len() >= 5, "{contract_topics:?}");
        for topic in &contract_topics {
            let answer = desk
                .input(
                    &mut who,
                    Input::Choice(format!("{}{topic}", ids::TOPIC_PREFIX)),
                )
                .await;
            assert_eq!(texts_of(&answer), [locked.as_str()], "{topic}");
            assert!(!handed_over(&answer), "{topic}");
            assert_eq!(who.conversation.awaiting, Awaiting::Nothing, "{topic}");
        }
        // In her own words, and through "shall I connect you?".
        for text in [
            "Ich will meinen Vertrag kündigen",
            "Meine Rechnung ist zu hoch",
        ] {
            let answer = desk.say(&mut who, text).await;
            assert_eq!(texts_of(&answer), [locked.as_str()], "{text}");
        }
        who.conversation.awaiting = Awaiting::AgentOffer;
        let answer = desk
            .input(&mut who, Input::Choice(ids::AGENT_YES.into()))
            .await;
        assert_eq!(texts_of(&answer), [locked.as_str()]);
        // A password sent anyway (the question was asked before the lock) checks nothing.
        who.conversation.awaiting = Awaiting::Password;
        who.conversation.pending_customer_number = Some("K1002003".into());
        let answer = desk.say(&mut who, "Sommer2026!").await;
        assert_eq!(texts_of(&answer), [locked.as_str()]);
        assert!(answer.contains(&Action::RedactIncoming));
        assert!(!handed_over(&answer));
        assert!(who.contact.customer_ref.is_none() && !who.conversation.authenticated);
        assert_eq!(who.conversation.mode, ConversationMode::Bot);
        // Questions anyone may ask are still answered.
        let answer = desk
            .input(
                &mut who,
                Input::Choice(format!("{}roaming", ids::TOPIC_PREFIX)),
            )
            .await;
        assert_ne!(texts_of(&answer), [locked]);
    }

    #[test]
    fn company_names_are_found_by_their_legal_form() {
        assert_eq!(
            company_name_in("Hallo, ich bin von der Muster GmbH und brauche 5 Verträge").as_deref(),
            Some("Muster GmbH")
        );
        assert_eq!(
            company_name_in("Wir sind die Beispiel Bau GmbH & Co. KG.").as_deref(),
            Some("Beispiel Bau GmbH & Co. KG")
        );
        assert_eq!(
            company_name_in("Ich bin Inhaber von Blumen Meier e.K.").as_deref(),
            Some("Blumen Meier e.K.")
        );
        assert_eq!(company_name_in("Was kostet ein Tarif?"), None);
        assert_eq!(
            company_name_in("gmbh"),
            None,
            "a legal form alone names no one"
        );
    }

    #[test]
    fn shipped_texts_load_and_long_buttons_are_refused() {
        Texts::embedded();
        let edited = EMBEDDED_TEXTS.replace(
            "helpful_no_button = \"Nein\"",
            "helpful_no_button = \"Nein, leider überhaupt nicht\"",
        );
        assert_eq!(
            Texts::from_toml(&edited).unwrap_err(),
            TextsError::ButtonTooLong("Nein, leider überhaupt nicht".into())
        );
        assert!(matches!(
            Texts::from_toml("goodbye = 1"),
            Err(TextsError::Syntax(_))
        ));
    }
}
