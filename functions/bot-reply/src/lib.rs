//! bot-reply: runs Lisa on the inbound queue, carries out the agent desk's actions, and closes
//! conversations that went quiet.
//!
//! Every inbound message is handled in two steps. First Lisa decides, and her decision (the
//! replies as `pending` messages, the changed contact, conversation and lock-out state, and
//! the effects still to do) is committed in one transaction together with a `handling` plan on
//! the inbound message. Then the plan is carried out: replies are sent one by one and each is
//! marked sent, effects go to their queues. A retry finds the plan and only finishes it, so a
//! reply is never sent twice and an effect never lost.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Duration, Utc};
use servicekanal_shared::channels::whatsapp::{
    OutboundContent, WhatsApp, WhatsAppError, service_window_open,
};
use servicekanal_shared::domain::identity::{Identities, IdentityError};
use servicekanal_shared::domain::keys::{ItemKey, MESSAGE_PREFIX, Pseudonym, Pseudonymizer};
use servicekanal_shared::domain::messages::{
    self, AgentAct, AgentAction, BotWork, ConversationClosed, ConversationRef, DeskEvent,
    InactivityTimer, InboundNotice, RejectReason, SummaryLine, SurveyReply,
};
use servicekanal_shared::domain::{
    Actor, AuthAttempts, Awaiting, Channel, Contact, Conversation, ConversationMode,
    ConversationState, DeliveryStatus, Direction, Effect, EndReason, Handling, Message,
    MessageContent, MessageFacts, MessageType, ReviewItem, ReviewTrigger, SurveySession,
    Understood,
};
use servicekanal_shared::lisa::dialogue::{Action, Input, Lisa, State};
use servicekanal_shared::policy::retention::{self, Anchor, ContactClasses};
use servicekanal_shared::policy::scrub::{KnownNames, scrub};
use servicekanal_shared::ports::clock::SharedClock;
use servicekanal_shared::ports::desk::connect::CustomerName;
use servicekanal_shared::ports::desk::streaming::StreamingError;
use servicekanal_shared::ports::desk::{AgentDesk, DeskChat, DeskError, Handover};
use servicekanal_shared::ports::directory::{CustomerDirectory, DirectoryError};
use servicekanal_shared::ports::queue::{self, ItemOutcome, Queue, QueueError};
use servicekanal_shared::ports::store::{Record, Store, StoreError, Stored, Write, all_pages};
use servicekanal_shared::runtime::WhatsAppSettings;
use servicekanal_shared::runtime::{Env, StartupError, env};
use std::sync::Arc;
use ulid::Ulid;

mod agent;
mod chat;
mod config;
mod desk;
mod inbound;
mod pace;
mod send;
mod timers;

use agent::*;
pub use chat::handle_chat_stream;
pub use config::{BotConfig, ConfigError};
use desk::*;
use inbound::*;
use send::*;
use timers::*;

/// What the function reads from its environment at cold start (template.yaml sets it); Lisa's and the timers' settings come from the same environment (`LisaConfig`, `BotConfig`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    pub table_name: String,
    pub secrets_arn: String,
    pub customers_table_name: String,
    pub whatsapp: WhatsAppSettings,
    pub handover_queue_url: String,
    pub agent_actions_queue_url: String,
    pub closed_queue_url: String,
    pub timer_queue_url: String,
    pub survey_queue_url: String,
    pub desk: DeskSettings,
}

/// Which agent desk handovers reach (`AGENT_DESK`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeskSettings {
    /// The handover queue only (a desk of one's own; the local stack's desk).
    Queue,
    /// Amazon Connect chat; the handover queue keeps what Connect could not take.
    Connect {
        instance_id: String,
        contact_flow_id: String,
        streaming_topic_arn: String,
        customer_name: CustomerName,
    },
}

impl DeskSettings {
    pub fn read(env: &Env) -> Result<Self, StartupError> {
        let invalid = |name: &str, value: String| StartupError::Invalid {
            name: name.to_owned(),
            value,
        };
        match env.optional(env::AGENT_DESK).as_deref().map(str::trim) {
            None | Some("") | Some("queue") => Ok(Self::Queue),
            Some("connect") => {
                let customer_name = env.optional(env::CHAT_CUSTOMER_NAME).unwrap_or_default();
                Ok(Self::Connect {
                    instance_id: env.required(env::CONNECT_INSTANCE_ID)?,
                    contact_flow_id: env.required(env::HANDOVER_CONTACT_FLOW_ID)?,
                    streaming_topic_arn: env.required(env::CHAT_STREAMING_TOPIC_ARN)?,
                    customer_name: CustomerName::parse(&customer_name)
                        .ok_or_else(|| invalid(env::CHAT_CUSTOMER_NAME, customer_name))?,
                })
            }
            Some(other) => Err(invalid(env::AGENT_DESK, other.to_owned())),
        }
    }
}

impl Environment {
    pub fn read(env: &Env) -> Result<Self, StartupError> {
        Ok(Self {
            table_name: env.required(env::TABLE_NAME)?,
            secrets_arn: env.required(env::SECRETS_ARN)?,
            customers_table_name: env.required(env::CUSTOMERS_TABLE_NAME)?,
            whatsapp: WhatsAppSettings::read(env)?,
            handover_queue_url: env.required(env::HANDOVER_QUEUE_URL)?,
            agent_actions_queue_url: env.required(env::AGENT_ACTIONS_QUEUE_URL)?,
            closed_queue_url: env.required(env::CLOSED_QUEUE_URL)?,
            timer_queue_url: env.required(env::TIMER_QUEUE_URL)?,
            survey_queue_url: env.required(env::SURVEY_QUEUE_URL)?,
            desk: DeskSettings::read(env)?,
        })
    }
}

/// Everything the handler needs, built once per cold start.
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub whatsapp: Arc<dyn WhatsApp>,
    pub directory: Arc<dyn CustomerDirectory>,
    /// Where handovers go and what the agents are told (Connect chat, or the handover queue).
    pub desk: Arc<dyn AgentDesk>,
    /// Where a handover waits when `desk` cannot take it (the handover queue, watched by an
    /// alarm); the same as `desk` for the queue desk.
    pub desk_fallback: Arc<dyn AgentDesk>,
    /// The agent-actions FIFO queue: Connect's streamed agent actions go through it, so they
    /// are carried out one at a time and in order per contact (SNS invokes concurrently).
    pub agent_actions_queue: Arc<dyn Queue>,
    /// Conversation-closed events (FIFO; the survey listens).
    pub closed_queue: Arc<dyn Queue>,
    /// Inactivity timers (standard queue, delayed messages), consumed by this function.
    pub timer_queue: Arc<dyn Queue>,
    /// Answers to a running survey (FIFO; the survey function reads it).
    pub survey_queue: Arc<dyn Queue>,
    pub clock: SharedClock,
    pub pseudonymizer: Pseudonymizer,
    pub lisa: Arc<Lisa>,
    pub config: BotConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum BotError {
    #[error("queue message is not bot work: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error("sending failed: {0}")]
    WhatsApp(#[from] WhatsAppError),
    #[error(transparent)]
    Desk(#[from] DeskError),
    #[error("not a chat streaming item: {0}")]
    Streaming(#[from] StreamingError),
    /// A streamed item of a chat not (yet) stored: the handover may still be committing, so
    /// the event is retried (then its dead-letter queue).
    #[error("no stored chat for a streamed item")]
    UnknownChat,
}

impl BotError {
    /// A malformed message never gets better: dropped (and logged) instead of retried.
    fn retry_helps(&self) -> bool {
        !matches!(self, BotError::Malformed(_) | BotError::Streaming(_))
    }
}

/// What one queue message amounted to (for the log line and the tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Lisa answered (with this many messages sent now).
    Answered {
        sent: usize,
    },
    /// Agent mode: the message went to the desk.
    Forwarded,
    /// A survey runs: the message went to it.
    ToSurvey,
    /// Handled before (a redelivery): nothing done again.
    AlreadyDone,
    /// The data is gone (erased or past its deadline).
    Gone,
    /// Nothing to answer (a reaction, a system message).
    Filed,
    Erased,
    AgentReplied,
    AgentReplyRejected(RejectReason),
    NoteStored,
    /// The agent's typing shows on WhatsApp.
    TypingShown,
    /// Nothing for WhatsApp in it (an agent joined, a read receipt, our own echo).
    Ignored,
    /// A streamed agent action, queued for its turn (agent-actions FIFO queue).
    Queued,
    ClosedByAgent,
    ClosedForInactivity,
    TimerRescheduled,
    TimerStale,
}

/// The Lambda handler for an SQS batch. Failed messages are reported as batch item failures;
/// after a failure, the group's later messages are reported too, so order per contact holds.
pub async fn handle(event: SqsEvent, ports: &Ports) -> SqsBatchResponse {
    queue::consume(&event.records, |message| async move {
        match process(message, ports).await {
            Ok(outcome) => {
                tracing::info!(outcome = ?outcome, "bot work done");
                ItemOutcome::Done
            }
            Err(e) if e.retry_helps() => {
                tracing::warn!(error = %e, "bot work failed; the queue will retry it");
                ItemOutcome::Retry
            }
            Err(e) => {
                let id = message.message_id.as_deref().unwrap_or_default();
                tracing::error!(error = %e, message_id = %id, "bot work dropped");
                ItemOutcome::Dropped
            }
        }
    })
    .await
}

/// Any event bot-reply takes: an SQS batch from its queues, or the chat streaming topic's
/// SNS event. Answers what the event source expects (SQS: the batch item failures).
pub async fn handle_event(
    event: serde_json::Value,
    ports: &Ports,
) -> Result<serde_json::Value, BotError> {
    let source = event
        .pointer("/Records/0/EventSource")
        .and_then(serde_json::Value::as_str);
    if source == Some("aws:sns") {
        let event =
            serde_json::from_value(event).map_err(|e| BotError::Malformed(e.to_string()))?;
        handle_chat_stream(event, ports).await?;
        return Ok(serde_json::Value::Null);
    }
    let event: SqsEvent =
        serde_json::from_value(event).map_err(|e| BotError::Malformed(e.to_string()))?;
    let response = handle(event, ports).await;
    serde_json::to_value(response).map_err(|e| BotError::Malformed(e.to_string()))
}

/// One queue message.
pub async fn process(message: &SqsMessage, ports: &Ports) -> Result<Outcome, BotError> {
    let body = message.body.as_deref().unwrap_or_default();
    let work: BotWork =
        serde_json::from_str(body).map_err(|e| BotError::Malformed(e.to_string()))?;
    match work {
        BotWork::Inbound(notice) => on_inbound(&notice, ports).await,
        BotWork::AgentAction(action) => on_agent_action(&action, ports).await,
        BotWork::InactivityTimer(timer) => on_inactivity(&timer, ports).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inactivity_is_configurable_and_nonsense_is_refused() {
        let with = |value: &str| {
            let value = value.to_owned();
            BotConfig::from_lookup(move |name| {
                (name == BotConfig::INACTIVITY_VAR).then(|| value.clone())
            })
        };
        assert_eq!(
            BotConfig::from_lookup(|_| None).unwrap().inactivity,
            Duration::minutes(30)
        );
        assert_eq!(with("45").unwrap().inactivity, Duration::minutes(45));
        for bad in ["0", "-5", "zehn", "1441", ""] {
            assert_eq!(
                with(bad).unwrap_err(),
                ConfigError::InactivityMinutes {
                    name: BotConfig::INACTIVITY_VAR,
                    value: bad.into()
                }
            );
        }
    }

    #[test]
    fn the_burst_window_is_configurable_and_nonsense_is_refused() {
        let with = |value: &str| {
            let value = value.to_owned();
            BotConfig::from_lookup(move |name| {
                (name == BotConfig::BURST_WINDOW_VAR).then(|| value.clone())
            })
        };
        assert_eq!(
            BotConfig::default().burst_window,
            Duration::milliseconds(2000)
        );
        assert_eq!(with("0").unwrap().burst_window, Duration::zero());
        assert_eq!(
            with("1500").unwrap().burst_window,
            Duration::milliseconds(1500)
        );
        for bad in ["-1", "10001", "zwei", ""] {
            assert_eq!(
                with(bad).unwrap_err(),
                ConfigError::BurstWindow {
                    name: BotConfig::BURST_WINDOW_VAR,
                    value: bad.into()
                }
            );
        }
    }

    #[test]
    fn the_rate_limit_is_configurable_and_nonsense_is_refused() {
        let with = |name: &'static str, value: &str| {
            let value = value.to_owned();
            BotConfig::from_lookup(move |n| (n == name).then(|| value.clone()))
        };
        let defaults = BotConfig::default();
        assert_eq!(defaults.rate_limit_messages, 20);
        assert_eq!(defaults.rate_limit_window, Duration::minutes(10));
        let messages = BotConfig::RATE_LIMIT_MESSAGES_VAR;
        let window = BotConfig::RATE_LIMIT_WINDOW_VAR;
        assert_eq!(with(messages, "5").unwrap().rate_limit_messages, 5);
        assert_eq!(
            with(window, " 60 ").unwrap().rate_limit_window,
            Duration::minutes(60)
        );
        for bad in ["0", "-1", "1001", "viele", ""] {
            assert_eq!(
                with(messages, bad).unwrap_err(),
                ConfigError::RateLimitMessages {
                    name: messages,
                    value: bad.into()
                }
            );
        }
        for bad in ["0", "1441", "eine", ""] {
            assert_eq!(
                with(window, bad).unwrap_err(),
                ConfigError::RateLimitWindow {
                    name: window,
                    value: bad.into()
                }
            );
        }
    }

    #[test]
    fn customer_messages_map_to_lisas_input() {
        let message = |message_type, content| Message {
            id: Ulid::nil(),
            conversation_id: None,
            wamid: None,
            direction: Direction::Inbound,
            actor: Actor::Customer,
            message_type,
            content,
            at: DateTime::UNIX_EPOCH,
            delivery: DeliveryStatus::Received,
            error_code: None,
            handling: None,
            facts: None,
            pricing: None,
        };
        let text = MessageContent::Text {
            body: "Hallo".into(),
        };
        assert_eq!(
            input_of(&message(MessageType::Text, text.clone())),
            Some(Input::Text("Hallo".into()))
        );
        // A system notice ("number changed") is not the customer talking to Lisa.
        assert_eq!(input_of(&message(MessageType::System, text)), None);
        let choice = MessageContent::Choice {
            id: "kind-customer".into(),
            title: "Ja".into(),
        };
        assert_eq!(
            input_of(&message(MessageType::Interactive, choice)),
            Some(Input::Choice("kind-customer".into()))
        );
        let reaction = MessageContent::Reaction {
            emoji: "👍".into(),
            message_id: "wamid.x".into(),
        };
        assert_eq!(input_of(&message(MessageType::Reaction, reaction)), None);
        let photo = MessageContent::Media {
            media_id: "m".into(),
            mime_type: None,
            caption: None,
        };
        assert_eq!(
            input_of(&message(MessageType::Image, photo)),
            Some(Input::Other)
        );
    }
}
