//! The `AgentDesk` port: where a handover reaches human agents, and what they are told while
//! they have the conversation. Two adapters, held to one contract suite
//! (`shared/tests/desk_contract.rs`):
//!
//! - [`QueueDesk`]: the handover FIFO queue ([`DeskEvent`] JSON), for a desk of one's own; the
//!   local stack's desk. The agents' replies come back as `AgentAction`s on the agent-actions
//!   queue.
//! - `connect::ConnectDesk` (feature `connect`): Amazon Connect chat. The agents' messages and
//!   events come back through Connect's message streaming (SNS), read by [`streaming`].
//!
//! A desk may keep state per conversation ([`DeskChat`]: Connect's contact id and tokens);
//! bot-reply stores it under the conversation's retention class and hands it back on every call.

#[cfg(feature = "connect")]
pub mod connect;
pub mod streaming;

use crate::domain::messages::ConversationRef;
use crate::policy::mask::{self, Secret};
use crate::ports::queue::{Queue, QueueError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub use crate::domain::messages::{DeskEvent, Handover};

/// A desk's chat for one handed-over conversation (item `CHAT#<contact id>`, owned by the
/// contact, with the conversation's class and deadline as they were at the handover). When it
/// goes (that deadline, or erasure), Connect's record of the chat is redacted (connect-records);
/// the tokens go earlier, when the chat ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeskChat {
    /// The desk's id of the chat (Amazon Connect: the initial contact id).
    pub contact_id: String,
    pub conversation: ConversationRef,
    /// `None` once the chat ended.
    pub tokens: Option<ChatTokens>,
}

/// The credentials of the two participants Servicekanal plays in a chat: the customer, and a
/// "Servicekanal" system participant that tells the agent what Lisa did and what failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatTokens {
    pub customer: Participant,
    pub system: Participant,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// Valid for the chat's life; makes new connections.
    #[serde(serialize_with = "mask::stored")]
    pub participant_token: Secret<String>,
    /// Sends messages and events; expires earlier and is then made anew.
    #[serde(serialize_with = "mask::stored")]
    pub connection_token: Secret<String>,
    pub connection_expires_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// The desk did not answer or kept refusing for now (throttling, server errors, after
    /// the retries): the conversation has to wait elsewhere.
    #[error("agent desk unavailable: {0}")]
    Unavailable(String),
    /// The desk refused the request for good (configuration, permissions, a bad request).
    #[error("agent desk refused the request: {0}")]
    Refused(String),
    /// The chat has ended on the desk's side: nothing more can be said in it.
    #[error("the chat has ended")]
    ChatEnded,
    #[error(transparent)]
    Queue(#[from] QueueError),
}

#[async_trait]
pub trait AgentDesk: Send + Sync {
    /// Hands a conversation to the agents. `request` names the cause (the customer message
    /// that asked): a retry with the same `request` reaches the agents once. Returns the chat
    /// to keep, if the desk keeps one.
    async fn hand_over(
        &self,
        handover: &Handover,
        request: &str,
    ) -> Result<Option<DeskChat>, DeskError>;

    /// Tells the agents a customer message, a refused action or the end of the conversation
    /// (never a `Handover`: that is [`AgentDesk::hand_over`]). `chat` is what `hand_over`
    /// returned, possibly changed by earlier calls (renewed tokens; `None` tokens after the
    /// end): the caller saves it when it changed. `dedup` names the cause, as in `hand_over`.
    async fn tell(
        &self,
        chat: Option<&mut DeskChat>,
        event: &DeskEvent,
        dedup: &str,
    ) -> Result<(), DeskError>;
}

/// The desk as a FIFO queue of [`DeskEvent`]s, one message group per contact.
pub struct QueueDesk {
    queue: Arc<dyn Queue>,
}

impl QueueDesk {
    pub fn new(queue: Arc<dyn Queue>) -> Self {
        Self { queue }
    }
}

#[async_trait]
impl AgentDesk for QueueDesk {
    async fn hand_over(
        &self,
        handover: &Handover,
        request: &str,
    ) -> Result<Option<DeskChat>, DeskError> {
        let event = DeskEvent::Handover(handover.clone());
        self.queue.send(event.to_queue_message(request)).await?;
        Ok(None)
    }

    async fn tell(
        &self,
        _chat: Option<&mut DeskChat>,
        event: &DeskEvent,
        dedup: &str,
    ) -> Result<(), DeskError> {
        self.queue.send(event.to_queue_message(dedup)).await?;
        Ok(())
    }
}
