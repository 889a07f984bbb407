//! The domain model: what Servicekanal knows about contacts, conversations, messages, survey
//! answers and callback requests. Plain serde types; no AWS type appears here.

pub mod callback;
pub mod identity;
pub mod keys;
pub mod messages;
pub mod phone;
pub mod survey;
pub mod text;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

/// An enum's wire name (`agent-closed`, `outside-service-window`, ...), as the records and
/// queue bodies carry it; `unknown` for what does not serialise as a name.
pub fn wire_name<T: Serialize>(value: T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "unknown".to_owned(),
    }
}

/// The channel a record came through (statistics group by it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    Whatsapp,
    Voice,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ContactKind {
    Customer,
    Prospect,
    #[default]
    Unknown,
}

/// A person writing to the WhatsApp channel. Known by a phone number, a business-scoped user
/// id (BSUID), or both; every identifier is personal data and never logged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// The WhatsApp id (international number without `+`); withheld for some users with a
    /// username.
    #[serde(default)]
    pub wa_id: Option<String>,
    /// The business-scoped user id (`DE.1349…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The parent business-scoped user id, where the business portfolio has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_user_id: Option<String>,
    /// The WhatsApp username, for users who set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub profile_name: Option<String>,
    pub kind: ContactKind,
    /// Set once the contact authenticated as an existing customer.
    pub customer_ref: Option<String>,
    /// A prospect's company, if given.
    pub company_name: Option<String>,
    pub first_contact_at: DateTime<Utc>,
    /// The contact's last inbound message: the 24-hour window and sliding deadlines count from it.
    pub last_contact_at: DateTime<Utc>,
    /// The conversation new messages belong to (a closed one makes the next message start anew).
    #[serde(default)]
    pub current_conversation: Option<Ulid>,
    /// When the survey was last offered (at most once per period).
    #[serde(default)]
    pub last_survey_at: Option<DateTime<Utc>>,
    /// How many messages Lisa answered in the current rate-limit window (bot-reply).
    #[serde(default, skip_serializing_if = "Pace::is_unset")]
    pub pace: Pace,
}

/// Lisa's pace with one contact: the window of bot-reply's rate limit (`RATE_LIMIT_MESSAGES`
/// answers per `RATE_LIMIT_WINDOW_MINUTES`). Beyond the limit the messages are kept in the
/// conversation unanswered, and the contact is told so once per window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Pace {
    /// When the current window began (the first message answered in it).
    pub window_start: Option<DateTime<Utc>>,
    /// Messages answered in the window (a burst counts once).
    pub answered: u32,
    /// The "you write a lot" notice went out in this window.
    pub noticed: bool,
}

impl Pace {
    pub fn is_unset(&self) -> bool {
        *self == Self::default()
    }
}

/// Where a message to a contact goes: the phone number (`to`) when known, else the
/// business-scoped user id (`recipient`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "by", content = "id")]
pub enum Recipient {
    Phone(String),
    UserId(String),
}

impl Recipient {
    /// The identifier itself (personal data: never logged).
    pub fn id(&self) -> &str {
        match self {
            Recipient::Phone(id) | Recipient::UserId(id) => id,
        }
    }
}

/// A link from one identifier of a person (phone number or user id, as its pseudonym in the
/// key) to their contact: the same person is one contact whichever identifier a message
/// carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityLink {
    pub contact: crate::domain::keys::Pseudonym,
    /// `phone` or `user-id` (which kind of identifier the key hides).
    pub identifier: IdentifierKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentifierKind {
    Phone,
    UserId,
}

impl Contact {
    /// A contact known by its phone number.
    pub fn new(wa_id: impl Into<String>, profile_name: Option<String>, at: DateTime<Utc>) -> Self {
        Self {
            wa_id: Some(wa_id.into()),
            ..Self::first_seen(profile_name, at)
        }
    }

    /// A contact first seen at `at`, its identifiers not yet set.
    pub fn first_seen(profile_name: Option<String>, at: DateTime<Utc>) -> Self {
        Self {
            wa_id: None,
            user_id: None,
            parent_user_id: None,
            username: None,
            profile_name,
            kind: ContactKind::Unknown,
            customer_ref: None,
            company_name: None,
            first_contact_at: at,
            last_contact_at: at,
            current_conversation: None,
            last_survey_at: None,
            pace: Pace::default(),
        }
    }

    pub fn is_authenticated(&self) -> bool {
        self.customer_ref.is_some()
    }

    /// Where replies go: the phone number if known (WhatsApp prefers `to`), else the user id.
    pub fn recipient(&self) -> Option<Recipient> {
        match (&self.wa_id, &self.user_id) {
            (Some(phone), _) => Some(Recipient::Phone(phone.clone())),
            (None, Some(user)) => Some(Recipient::UserId(user.clone())),
            (None, None) => None,
        }
    }
}

/// Who answers in a conversation right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ConversationMode {
    #[default]
    Bot,
    Agent,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ConversationState {
    #[default]
    Open,
    /// Handed over, waiting for an agent to pick it up.
    WaitingForAgent,
    /// A survey is running on it.
    Survey,
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndReason {
    Goodbye,
    AgentClosed,
    Inactivity,
    Erased,
}

/// One conversation of a contact with Lisa and, after a handover, an agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: Ulid,
    pub channel: Channel,
    pub mode: ConversationMode,
    pub state: ConversationState,
    pub started_at: DateTime<Utc>,
    pub last_activity_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<EndReason>,
    pub customer_messages: u32,
    pub bot_messages: u32,
    pub agent_messages: u32,
    /// Concerns raised (a new topic starts a new dialog).
    pub dialogs: u32,
    /// Topic ids from the catalogue, in the order they came up.
    pub topics: Vec<String>,
    pub handed_over: bool,
    pub authenticated: bool,
    /// What Lisa asked last and waits for.
    #[serde(default)]
    pub awaiting: Awaiting,
    /// Messages in a row Lisa did not understand.
    #[serde(default)]
    pub unknown_streak: u32,
    /// The concern to come back to after a question (kind, authentication).
    #[serde(default)]
    pub pending_topic: Option<String>,
    /// The customer number given during authentication, until the password is checked.
    #[serde(default)]
    pub pending_customer_number: Option<String>,
    /// Since when the customer waits for an answer (the first unanswered message): the
    /// statistics' reply time.
    #[serde(default)]
    pub waiting_since: Option<DateTime<Utc>>,
    /// Who the contact turned out to be (the statistics group by it).
    #[serde(default)]
    pub contact_kind: ContactKind,
    /// The last customer message Lisa read as free text: what a "did not help" or a handover
    /// after her answer sends to review.
    #[serde(default)]
    pub last_understood: Option<Ulid>,
    /// Lisa gave a prepared answer in this conversation.
    #[serde(default)]
    pub answered_by_bot: bool,
    /// The agent desk's chat of this conversation after a handover (Amazon Connect's contact
    /// id; item `CHAT#<id>`). `None`: no handover, or the desk keeps no chat (queue desk).
    #[serde(default)]
    pub desk_chat: Option<String>,
    /// WhatsApp's id of the customer's last message: an agent's typing shows on it.
    #[serde(default)]
    pub last_customer_wamid: Option<String>,
}

/// What Lisa waits for in a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Awaiting {
    #[default]
    Nothing,
    /// Customer or prospect?
    Kind,
    /// "Did that help?"
    Helpful,
    /// "Shall I connect you with an agent?"
    AgentOffer,
    CustomerNumber,
    Password,
    /// "Shall I delete your data?"
    PrivacyConfirm,
}

impl Conversation {
    /// An agent answered: counted, the conversation is active, and no longer waiting for an
    /// agent.
    pub fn agent_replied(&mut self, at: DateTime<Utc>) {
        self.agent_messages += 1;
        self.last_activity_at = at;
        if self.state == ConversationState::WaitingForAgent {
            self.state = ConversationState::Open;
        }
    }

    /// The concern to hand to an agent: the one raised, else a plain "agent" request.
    pub fn concern_for_agent(&self) -> String {
        self.pending_topic.clone().unwrap_or_else(|| "agent".into())
    }

    pub fn start(id: Ulid, channel: Channel, at: DateTime<Utc>) -> Self {
        Self {
            id,
            channel,
            mode: ConversationMode::Bot,
            state: ConversationState::Open,
            started_at: at,
            last_activity_at: at,
            ended_at: None,
            end_reason: None,
            customer_messages: 0,
            bot_messages: 0,
            agent_messages: 0,
            dialogs: 0,
            topics: Vec::new(),
            handed_over: false,
            authenticated: false,
            awaiting: Awaiting::Nothing,
            unknown_streak: 0,
            pending_topic: None,
            pending_customer_number: None,
            waiting_since: None,
            contact_kind: ContactKind::Unknown,
            last_understood: None,
            answered_by_bot: false,
            desk_chat: None,
            last_customer_wamid: None,
        }
    }

    /// The customer wrote at `at` (handled at `now`): counted, the conversation is active,
    /// and she waits from then on, unless she already waited.
    pub fn customer_wrote(&mut self, at: DateTime<Utc>, now: DateTime<Utc>) {
        self.customer_messages += 1;
        self.last_activity_at = self.last_activity_at.max(at).max(now);
        self.waiting_since.get_or_insert(at);
    }

    /// The conversation ends at `at`, for `reason`.
    pub fn close(&mut self, reason: EndReason, at: DateTime<Utc>) {
        self.state = ConversationState::Closed;
        self.ended_at = Some(at);
        self.end_reason = Some(reason);
    }

    /// A reply went out at `at`: how long the customer waited for it (only the first reply
    /// to a wait counts), and she waits no longer.
    pub fn answered(&mut self, at: DateTime<Utc>) -> Option<i64> {
        self.waiting_since
            .take()
            .map(|since| (at - since).num_seconds().max(0))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    Inbound,
    Outbound,
    /// Never sent: an agent's note on the conversation (e.g. a contract change).
    Internal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Actor {
    Customer,
    Bot,
    Agent,
    System,
}

/// WhatsApp message types, as the Cloud API names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MessageType {
    Text,
    Interactive,
    Button,
    Image,
    Audio,
    Video,
    Document,
    Sticker,
    Location,
    Contacts,
    Reaction,
    System,
    Unsupported,
    Template,
    /// An agent's internal note.
    Note,
}

impl MessageType {
    /// The stored type of a message we send: what the Cloud API calls that kind of message.
    pub fn of_outbound(content: &crate::channels::whatsapp::content::OutboundContent) -> Self {
        use crate::channels::whatsapp::content::OutboundContent;
        match content {
            OutboundContent::Text { .. } => MessageType::Text,
            OutboundContent::Template { .. } => MessageType::Template,
            _ => MessageType::Interactive,
        }
    }
}

/// What a message says. Personal data: stays in the store, never in logs or statistics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MessageContent {
    Text {
        body: String,
    },
    /// A button or list reply (by id), or a list/button sent by us.
    Choice {
        id: String,
        title: String,
    },
    /// Media is never downloaded by Servicekanal; only its metadata is kept.
    Media {
        media_id: String,
        mime_type: Option<String>,
        caption: Option<String>,
    },
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
    },
    SharedContacts {
        count: u32,
    },
    Reaction {
        emoji: String,
        message_id: String,
    },
    /// What we sent (or are about to send).
    Outbound(crate::channels::whatsapp::content::OutboundContent),
    /// A message that carried a password: its text is never stored.
    Redacted,
    /// Anything else: nothing kept but the type.
    Empty,
}

impl MessageContent {
    /// A one-line rendering for the agent desk's summary.
    pub fn preview(&self) -> String {
        use crate::channels::whatsapp::content::OutboundContent as Out;
        match self {
            MessageContent::Text { body } => body.clone(),
            MessageContent::Choice { title, .. } => format!("[{title}]"),
            MessageContent::Media { caption, .. } => match caption {
                Some(c) => format!("[media] {c}"),
                None => "[media]".into(),
            },
            MessageContent::Location { .. } => "[location]".into(),
            MessageContent::SharedContacts { .. } => "[contact card]".into(),
            MessageContent::Reaction { emoji, .. } => emoji.clone(),
            MessageContent::Outbound(out) => match out {
                Out::Text { body } | Out::Buttons { body, .. } | Out::List { body, .. } => {
                    body.clone()
                }
                Out::Link { body, url, .. } => format!("{body} ({url})"),
                Out::Template { name, .. } => format!("[template {name}]"),
            },
            MessageContent::Redacted => "[password removed]".into(),
            MessageContent::Empty => "[no content]".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryStatus {
    #[default]
    Received,
    /// Outbound, planned but not yet handed to WhatsApp.
    Pending,
    Accepted,
    Sent,
    Delivered,
    Read,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: Ulid,
    /// Set by Lisa when she files the message into a conversation.
    pub conversation_id: Option<Ulid>,
    /// The WhatsApp message id (`wamid....`), once known.
    pub wamid: Option<String>,
    pub direction: Direction,
    pub actor: Actor,
    pub message_type: MessageType,
    pub content: MessageContent,
    pub at: DateTime<Utc>,
    pub delivery: DeliveryStatus,
    /// Graph API error code of a failed delivery.
    pub error_code: Option<i64>,
    /// Inbound: what handling it decided (set with the state it changed, in one transaction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handling: Option<Handling>,
    /// What the anonymised statistics need to know about it, set when it is filed or sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<MessageFacts>,
    /// Outbound: what WhatsApp bills for it, from its first status that says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<Pricing>,
}

impl Message {
    /// A customer's message as the webhook stores it: received, not yet filed by Lisa.
    pub fn inbound(
        id: Ulid,
        wamid: String,
        message_type: MessageType,
        content: MessageContent,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            conversation_id: None,
            wamid: Some(wamid),
            direction: Direction::Inbound,
            actor: Actor::Customer,
            message_type,
            content,
            at,
            delivery: DeliveryStatus::Received,
            error_code: None,
            handling: None,
            facts: None,
            pricing: None,
        }
    }

    /// A message we send in a conversation, by the bot or an agent: `Pending` until WhatsApp
    /// takes it, or already `Accepted` with its WhatsApp id.
    pub fn outbound(
        id: Ulid,
        conversation: Ulid,
        actor: Actor,
        content: crate::channels::whatsapp::content::OutboundContent,
        at: DateTime<Utc>,
        facts: Option<MessageFacts>,
    ) -> Self {
        Self {
            id,
            conversation_id: Some(conversation),
            wamid: None,
            direction: Direction::Outbound,
            actor,
            message_type: MessageType::of_outbound(&content),
            content: MessageContent::Outbound(content),
            at,
            delivery: DeliveryStatus::Pending,
            error_code: None,
            handling: None,
            facts,
            pricing: None,
        }
    }

    /// As [`Message::outbound`], already handed to WhatsApp as `wamid`.
    pub fn accepted(mut self, wamid: String) -> Self {
        self.wamid = Some(wamid);
        self.delivery = DeliveryStatus::Accepted;
        self
    }

    /// An agent's internal note in a conversation (a contract change, ...): stored, never sent.
    pub fn note(
        id: Ulid,
        conversation: Ulid,
        text: String,
        at: DateTime<Utc>,
        facts: MessageFacts,
    ) -> Self {
        Self {
            id,
            conversation_id: Some(conversation),
            wamid: None,
            direction: Direction::Internal,
            actor: Actor::Agent,
            message_type: MessageType::Note,
            content: MessageContent::Text { body: text },
            at,
            delivery: DeliveryStatus::Received,
            error_code: None,
            handling: None,
            facts: Some(facts),
            pricing: None,
        }
    }
}

/// WhatsApp's per-message pricing of an outbound message (`statuses[].pricing`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pricing {
    /// `service`, `utility`, `marketing`, `authentication`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// `regular`, `free_customer_service`, `free_entry_point`, ...
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// A message's context for the statistics: nothing personal, only the conversation's mode,
/// the catalogue topic and how long the customer waited for this reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageFacts {
    pub mode: ConversationMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_seconds: Option<i64>,
    /// How Lisa understood a customer's free text (none for buttons, agent mode, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub understood: Option<Understood>,
    /// The message was sent to review (a person looks at what Lisa made of it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sent_to_review: bool,
}

/// How Lisa understood a free-text message: what she did, her best guess and its probability.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Understood {
    pub how: Understanding,
    pub guess: String,
    pub confidence: f32,
}

impl Eq for Understood {}

/// What Lisa did with a free-text message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Understanding {
    /// Sure enough: answered the topic.
    Directly,
    /// Asked which of two topics is meant.
    BetweenTwo,
    /// Asked to rephrase (`unknown`).
    Rephrase,
}

impl Understanding {
    pub fn as_str(self) -> &'static str {
        match self {
            Understanding::Directly => "directly",
            Understanding::BetweenTwo => "between-two",
            Understanding::Rephrase => "rephrase",
        }
    }
}

/// Why a message needs a person's look (review items, see `ReviewItem`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReviewTrigger {
    /// Lisa did not understand it.
    Unsure,
    /// Lisa asked between two topics.
    BetweenTwo,
    /// The customer said her answer did not help.
    NotHelpful,
    /// The customer was handed over after Lisa had answered.
    HandoverAfterAnswer,
}

impl ReviewTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewTrigger::Unsure => "unsure",
            ReviewTrigger::BetweenTwo => "between-two",
            ReviewTrigger::NotHelpful => "not-helpful",
            ReviewTrigger::HandoverAfterAnswer => "handover-after-answer",
        }
    }
}

/// A customer message for a person to look at: its text with personal data replaced by
/// placeholders (`policy::scrub`), and what Lisa made of it. Lives no longer than the message
/// (`bot-7d`); labelling it makes an anonymised training example and deletes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewItem {
    pub text: String,
    pub guess: String,
    /// Lisa's probability for her guess, in per cent.
    pub confidence: u8,
    pub trigger: ReviewTrigger,
    /// The day the message was written (what a labelled example keeps of it).
    pub day: chrono::NaiveDate,
}

/// The plan bot-reply committed for one inbound message. A retry finds it and only finishes
/// what is left, so no reply is sent twice and no effect is lost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Handling {
    /// The outbound messages to send, in order (stored as `pending` until sent).
    pub replies: Vec<Ulid>,
    pub effects: Vec<Effect>,
    /// Everything sent and done.
    pub done: bool,
}

/// What else handling a message does, after its replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "kebab-case")]
pub enum Effect {
    /// Put the conversation into the agent desk's inbox.
    Handover { topic: String },
    /// Agent mode: show the customer's message on the desk.
    ForwardToDesk,
    /// A survey runs: the message answers it.
    ForwardToSurvey,
    /// Announce the closed conversation (the survey listens).
    Closed { reason: EndReason },
    /// Start the inactivity timer.
    InactivityTimer { due_at: DateTime<Utc> },
    /// Delete everything of the contact (after the confirmation went out).
    Erase,
}

/// Failed authentication attempts of a contact, for lock-out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AuthAttempts {
    pub failures: u32,
    /// The first failure of the current 24-hour window.
    #[serde(default)]
    pub first_failure_at: Option<DateTime<Utc>>,
    pub locked_until: Option<DateTime<Utc>>,
}

impl AuthAttempts {
    /// Whether the contact is locked out at `now` after too many failed logins.
    pub fn is_locked_at(&self, now: DateTime<Utc>) -> bool {
        self.locked_until.is_some_and(|until| now < until)
    }
}

/// Marks a WhatsApp message id as seen, so a redelivery is stored and queued only once, and
/// leads a delivery status to the message it is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryMarker {
    pub first_seen_at: DateTime<Utc>,
    /// The stored message (`pk`, `sk`) with this WhatsApp id.
    pub message: crate::domain::keys::ItemKey,
    /// Known to be queued for Lisa (outbound markers; inbound markers of releases before
    /// 2026-12-01, which wrote them once queued). `false`: written with its message, before
    /// the notice went out (or, by an earlier release, before anything else); until Lisa has
    /// taken the message, a redelivery does the delivery's work again.
    pub queued: bool,
}

/// The survey's questions, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SurveyStep {
    Score,
    Solved,
    Comment,
}

/// A survey running for a contact (`C#<pseudonym>/SURVEY`). Its deadline is the survey's
/// expiry: once unreadable, the contact's messages go to Lisa again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurveySession {
    /// The closed conversation it asks about.
    pub conversation: Ulid,
    /// The answer record's id (`SURVEY#<id>`), created with the first answer.
    pub answer: Ulid,
    pub step: SurveyStep,
    pub started_at: DateTime<Utc>,
    /// The last customer message handled (a redelivery does nothing more).
    pub last_message: Option<Ulid>,
    /// What the last reply answered (the conversation id for the offer itself); until it
    /// equals `last_message` (or the conversation), a retry sends the reply again.
    pub sent_for: Option<Ulid>,
    /// All steps done; Lisa takes the contact's messages again.
    pub finished: bool,
    pub handed_over: bool,
    pub topics: Vec<String>,
}

/// One answer to the satisfaction survey.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SurveyAnswer {
    pub id: Ulid,
    pub channel: Channel,
    pub answered_at: DateTime<Utc>,
    /// 1 to 5; `None` when skipped.
    pub score: Option<u8>,
    pub solved: Option<bool>,
    /// Free text: kept only here, never exported.
    pub comment: Option<String>,
    pub handed_over: bool,
    pub topics: Vec<String>,
    /// Every step answered or skipped: the statistics count it from now on.
    #[serde(default)]
    pub complete: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CallbackStatus {
    #[default]
    Open,
    Done,
}

/// An open callback request in the sales list (`CBOPEN` partition, sorted by window start).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenCallback {
    pub connect_contact_id: String,
    pub reference: String,
}

/// A callback request taken by the voice assistant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallbackRequest {
    /// Amazon Connect's ContactId of the call.
    pub connect_contact_id: String,
    /// Short reference the caller can note.
    pub reference: String,
    /// E.164 number to call back. Personal data.
    pub phone: String,
    pub name: Option<String>,
    pub topic: String,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub requested_at: DateTime<Utc>,
    pub status: CallbackStatus,
    /// When sales marked it done (the statistics' hours to completion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<DateTime<Utc>>,
}
