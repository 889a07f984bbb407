//! Messages between the functions, and the bookkeeping every function that stores WhatsApp
//! messages shares: deterministic ids, delivery markers, status updates.

use crate::domain::keys::{ItemKey, Pseudonym, Pseudonymizer};
use crate::domain::{Actor, ContactKind, DeliveryMarker, DeliveryStatus, EndReason, Message};
use crate::policy::retention::{Anchor, RetentionClass};
use crate::ports::queue::OutgoingMessage;
use crate::ports::store::{Record, Store, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ulid::Ulid;

/// The inbound queue's message: which stored message Lisa should read. No personal data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundNotice {
    pub message: ItemKey,
    pub received_at: DateTime<Utc>,
}

/// A conversation, named by keys only (no phone number).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConversationRef {
    pub contact: Pseudonym,
    pub conversation: Ulid,
}

impl ConversationRef {
    pub fn key(&self) -> ItemKey {
        ItemKey::conversation(&self.contact, self.conversation)
    }

    pub fn profile_key(&self) -> ItemKey {
        ItemKey::profile(&self.contact)
    }
}

/// Everything bot-reply consumes, from its three queues (inbound, agent actions, timers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum BotWork {
    /// A stored customer message (inbound FIFO queue, one group per contact).
    Inbound(InboundNotice),
    /// The agent desk's reply, note or close (agent-actions FIFO queue).
    AgentAction(AgentAction),
    /// The conversation may have gone quiet (timer queue, delayed).
    InactivityTimer(InactivityTimer),
}

impl BotWork {
    /// The queue message: FIFO ids for inbound work and agent actions, a delay for timers.
    pub fn to_queue_message(&self, now: DateTime<Utc>) -> OutgoingMessage {
        let body = json(self);
        match self {
            BotWork::Inbound(notice) => per_contact_item(body, &notice.message),
            BotWork::AgentAction(action) => OutgoingMessage::fifo(
                body,
                action.conversation.contact.as_str(),
                action.action_id.to_string(),
            ),
            BotWork::InactivityTimer(timer) => {
                let wait = (timer.due_at - now).to_std().unwrap_or_default();
                OutgoingMessage::standard(body).delayed(
                    std::time::Duration::from_secs(wait.as_secs())
                        .min(crate::ports::queue::MAX_DELAY),
                )
            }
        }
    }
}

/// What an agent does on a conversation. `action_id` is a ULID made by the desk: a retried
/// action keeps it, so it is carried out once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentAction {
    pub action_id: Ulid,
    pub conversation: ConversationRef,
    /// The agent's desk login (shown to colleagues, never to the customer).
    pub agent: String,
    #[serde(flatten)]
    pub act: AgentAct,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "act", rename_all = "kebab-case")]
pub enum AgentAct {
    /// Sent to the customer and stored.
    Reply {
        text: String,
    },
    /// A contract-change note: stored with the conversation, never sent.
    Note {
        text: String,
    },
    /// The agent is typing: the customer sees WhatsApp's typing indicator.
    Typing,
    Close,
}

/// Fires when a conversation may have been quiet long enough.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InactivityTimer {
    pub conversation: ConversationRef,
    /// Last activity plus the inactivity period, as it was when the timer was set.
    pub due_at: DateTime<Utc>,
}

/// One line of the handover summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryLine {
    pub actor: Actor,
    pub text: String,
    pub at: DateTime<Utc>,
}

/// Why the desk's action was not carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RejectReason {
    /// The customer's last message is more than 24 hours old: only templates may be sent.
    OutsideServiceWindow,
    ConversationClosed,
    /// Erased or past its deadline.
    ConversationGone,
    /// WhatsApp refused the message for good.
    NotDeliverable,
    /// A file from the desk: Servicekanal relays text only.
    AttachmentNotRelayed,
}

/// A conversation handed to the agents, with what they need to take over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handover {
    pub conversation: ConversationRef,
    pub topic: String,
    /// The customer number, once the customer authenticated.
    pub customer_ref: Option<String>,
    /// The WhatsApp profile name (shown only where the operator chose so).
    pub profile_name: Option<String>,
    pub contact_kind: ContactKind,
    /// The conversation's last messages, oldest first: what Lisa already did.
    pub summary: Vec<SummaryLine>,
    pub at: DateTime<Utc>,
}

/// What the agent desk receives (handover FIFO queue, one group per contact). Holds personal
/// data of `service-13m` conversations: the queue keeps messages 4 days, its DLQ 14 days,
/// both within 13 months.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum DeskEvent {
    Handover(Handover),
    CustomerMessage {
        conversation: ConversationRef,
        message: Ulid,
        text: String,
        at: DateTime<Utc>,
    },
    ActionRejected {
        conversation: ConversationRef,
        action_id: Ulid,
        reason: RejectReason,
    },
    Closed {
        conversation: ConversationRef,
        reason: EndReason,
        at: DateTime<Utc>,
    },
}

impl DeskEvent {
    fn conversation(&self) -> &ConversationRef {
        match self {
            DeskEvent::Handover(Handover { conversation, .. })
            | DeskEvent::CustomerMessage { conversation, .. }
            | DeskEvent::ActionRejected { conversation, .. }
            | DeskEvent::Closed { conversation, .. } => conversation,
        }
    }

    /// FIFO per contact; `dedup` names the cause, so a retried cause is delivered once.
    pub fn to_queue_message(&self, dedup: &str) -> OutgoingMessage {
        OutgoingMessage::fifo(json(self), self.conversation().contact.as_str(), dedup)
    }
}

/// A closed conversation (conversation-closed FIFO queue; the survey listens). Keys only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationClosed {
    pub conversation: ConversationRef,
    pub reason: EndReason,
    pub at: DateTime<Utc>,
}

impl ConversationClosed {
    pub fn to_queue_message(&self) -> OutgoingMessage {
        OutgoingMessage::fifo(
            json(self),
            self.conversation.contact.as_str(),
            self.conversation.conversation.to_string(),
        )
    }
}

/// A customer message that answers a running survey (survey-answers FIFO queue, one group per
/// contact). Keys only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurveyReply {
    pub survey_reply: ItemKey,
}

impl SurveyReply {
    pub fn to_queue_message(&self) -> OutgoingMessage {
        per_contact_item(json(self), &self.survey_reply)
    }
}

fn json<T: Serialize>(body: &T) -> String {
    serde_json::to_string(body).expect("queue bodies are plain data and always serialise")
}

/// A FIFO message about one of a contact's items: grouped by the contact (order per contact),
/// deduplicated by the item.
fn per_contact_item(body: String, item: &ItemKey) -> OutgoingMessage {
    let group = Pseudonym::from_partition(&item.pk)
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| item.pk.clone());
    OutgoingMessage::fifo(body, group, item.sk.clone())
}

/// A message's id, derived from its WhatsApp id and time, so a redelivery maps to the same
/// stored item instead of a new one.
pub fn message_id_for(wamid: &str, at: DateTime<Utc>) -> Ulid {
    let digest = Sha256::digest(wamid.as_bytes());
    let mut random = [0u8; 16];
    random.copy_from_slice(&digest[..16]);
    Ulid::from_parts(
        at.timestamp_millis().max(0) as u64,
        u128::from_be_bytes(random),
    )
}

/// How far a delivery status has come; statuses may arrive out of order and never go back.
fn rank(status: DeliveryStatus) -> u8 {
    match status {
        DeliveryStatus::Received | DeliveryStatus::Pending | DeliveryStatus::Accepted => 0,
        DeliveryStatus::Sent => 1,
        DeliveryStatus::Delivered => 2,
        DeliveryStatus::Read => 3,
        DeliveryStatus::Failed => 4,
    }
}

/// Parses a Cloud API status name.
pub fn parse_status(status: &str) -> Option<DeliveryStatus> {
    match status {
        "sent" => Some(DeliveryStatus::Sent),
        "delivered" => Some(DeliveryStatus::Delivered),
        "read" => Some(DeliveryStatus::Read),
        "failed" => Some(DeliveryStatus::Failed),
        _ => None,
    }
}

/// Stores a message we sent, and the marker that leads its statuses back to it.
pub async fn record_outbound(
    store: &dyn Store,
    pseudonymizer: &Pseudonymizer,
    contact: &Pseudonym,
    message: &Message,
    class: RetentionClass,
) -> Result<ItemKey, StoreError> {
    let record = Record::new(
        ItemKey::message(contact, message.id),
        message,
        class,
        message.at,
    )?;
    store.create(&record).await?;
    if let Some(wamid) = &message.wamid {
        store
            .create(&outbound_marker(pseudonymizer, wamid, &record, message.at)?)
            .await?;
    }
    Ok(record.key)
}

/// The marker that leads the statuses of an outbound message back to it; it lives as long as
/// the message and is owned by its contact (erasure and access find it).
fn outbound_marker(
    pseudonymizer: &Pseudonymizer,
    wamid: &str,
    message: &Record,
    at: DateTime<Utc>,
) -> Result<Record, StoreError> {
    let marker = DeliveryMarker {
        first_seen_at: at,
        message: message.key.clone(),
        queued: true,
    };
    let record = Record::new(
        pseudonymizer.delivery_marker(wamid),
        &marker,
        message.retention,
        Anchor::With(message.expires_at),
    )?;
    Ok(match Pseudonym::from_partition(&message.key.pk) {
        Some(contact) => record.owned_by(&contact),
        None => record,
    })
}

/// Notes that a stored outbound message went out as `wamid`, and creates the marker that
/// leads its statuses back to it.
pub async fn mark_sent(
    store: &dyn Store,
    pseudonymizer: &Pseudonymizer,
    mut record: Record,
    wamid: &str,
    at: DateTime<Utc>,
) -> Result<Record, StoreError> {
    // The marker first: a status can only arrive once WhatsApp has the message.
    match store
        .create(&outbound_marker(pseudonymizer, wamid, &record, at)?)
        .await
    {
        Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
        Err(e) => return Err(e),
    }
    // WhatsApp's first status may be applied before this update: then it is kept, and the
    // WhatsApp id added to it.
    for _ in 0..5 {
        let mut message: Message = record.body()?;
        message.wamid = Some(wamid.to_owned());
        if message.delivery == DeliveryStatus::Pending {
            message.delivery = DeliveryStatus::Accepted;
        }
        record.set_body(&message)?;
        match store.update(&record).await {
            Err(StoreError::VersionConflict { .. }) => {
                record = store
                    .get(&record.key)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(record.key.clone()))?;
            }
            updated => return updated,
        }
    }
    Err(StoreError::Backend(
        "marking a message sent kept conflicting".into(),
    ))
}

/// What became of a status update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusOutcome {
    Updated,
    /// Older than what is stored (statuses arrive out of order).
    Stale,
    /// No stored message with this WhatsApp id (never ours, or already deleted).
    Unknown,
}

/// Applies a delivery status to the stored message it is about.
pub async fn apply_status(
    store: &dyn Store,
    pseudonymizer: &Pseudonymizer,
    wamid: &str,
    status: DeliveryStatus,
    error_code: Option<i64>,
    pricing: Option<&crate::domain::Pricing>,
) -> Result<StatusOutcome, StoreError> {
    let marker_key = pseudonymizer.delivery_marker(wamid);
    let Some(marker) = store.get(&marker_key).await? else {
        return Ok(StatusOutcome::Unknown);
    };
    let marker: DeliveryMarker = marker.body()?;
    // Optimistic locking: two statuses for one message may race; the loser re-reads.
    for _ in 0..5 {
        let Some(mut record) = store.get(&marker.message).await? else {
            return Ok(StatusOutcome::Unknown);
        };
        let mut message: Message = record.body()?;
        if rank(status) <= rank(message.delivery) {
            return Ok(StatusOutcome::Stale);
        }
        message.delivery = status;
        // Before the sender noted it (see `mark_sent`), the marker is what ties them.
        message.wamid.get_or_insert_with(|| wamid.to_owned());
        message.error_code = error_code.or(message.error_code);
        if message.pricing.is_none() {
            message.pricing = pricing.cloned();
        }
        record.set_body(&message)?;
        match store.update(&record).await {
            Ok(_) => return Ok(StatusOutcome::Updated),
            Err(StoreError::VersionConflict { .. }) => continue,
            Err(StoreError::NotFound(_)) => return Ok(StatusOutcome::Unknown),
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Backend("status update kept conflicting".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_stable_per_wamid() {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert_eq!(message_id_for("wamid.A", at), message_id_for("wamid.A", at));
        assert_ne!(message_id_for("wamid.A", at), message_id_for("wamid.B", at));
        assert_eq!(
            message_id_for("wamid.A", at).timestamp_ms(),
            1_800_000_000_000
        );
    }

    #[test]
    fn statuses_only_move_forward() {
        assert!(rank(DeliveryStatus::Read) > rank(DeliveryStatus::Delivered));
        assert!(rank(DeliveryStatus::Failed) > rank(DeliveryStatus::Read));
        assert_eq!(parse_status("delivered"), Some(DeliveryStatus::Delivered));
        assert_eq!(parse_status("deleted"), None);
    }
}
