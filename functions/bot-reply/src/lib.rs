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
use servicekanal_shared::ports::directory::{CustomerDirectory, DirectoryError};
use servicekanal_shared::ports::queue::{self, ItemOutcome, Queue, QueueError};
use servicekanal_shared::ports::store::{Record, Store, StoreError, Stored, Write, all_pages};
use servicekanal_shared::runtime::WhatsAppSettings;
use servicekanal_shared::runtime::{Env, StartupError, env};
use std::sync::Arc;
use ulid::Ulid;

mod agent;
mod config;
mod inbound;
mod send;
mod timers;

use agent::*;
pub use config::{BotConfig, ConfigError};
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
    pub closed_queue_url: String,
    pub timer_queue_url: String,
    pub survey_queue_url: String,
}

impl Environment {
    pub fn read(env: &Env) -> Result<Self, StartupError> {
        Ok(Self {
            table_name: env.required(env::TABLE_NAME)?,
            secrets_arn: env.required(env::SECRETS_ARN)?,
            customers_table_name: env.required(env::CUSTOMERS_TABLE_NAME)?,
            whatsapp: WhatsAppSettings::read(env)?,
            handover_queue_url: env.required(env::HANDOVER_QUEUE_URL)?,
            closed_queue_url: env.required(env::CLOSED_QUEUE_URL)?,
            timer_queue_url: env.required(env::TIMER_QUEUE_URL)?,
            survey_queue_url: env.required(env::SURVEY_QUEUE_URL)?,
        })
    }
}

/// Everything the handler needs, built once per cold start.
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub whatsapp: Arc<dyn WhatsApp>,
    pub directory: Arc<dyn CustomerDirectory>,
    /// The agent desk's inbox (handover FIFO queue).
    pub desk_queue: Arc<dyn Queue>,
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
}

impl BotError {
    /// A malformed message never gets better: dropped (and logged) instead of retried.
    fn retry_helps(&self) -> bool {
        !matches!(self, BotError::Malformed(_))
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
