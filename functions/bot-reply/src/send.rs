//! Sending what was decided: pending replies one by one, each marked sent, and what the desk
//! hears of it.

use super::*;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    Sent,
    /// Sent before (a retry), or gone.
    Nothing,
    /// WhatsApp will never take it (or the window closed): stored as failed.
    Failed(WhatsAppError),
}

/// Sends one stored outbound message if it is still pending.
pub(crate) async fn deliver(
    contact: &Pseudonym,
    id: Ulid,
    profile: &Contact,
    ports: &Ports,
) -> Result<Delivery, BotError> {
    match ports.store.get(&ItemKey::message(contact, id)).await? {
        Some(record) => send_pending(record, profile, ports).await,
        None => Ok(Delivery::Nothing),
    }
}

/// Sends an outbound message as stored in `record` if it is still pending.
pub(crate) async fn send_pending(
    mut record: Record,
    profile: &Contact,
    ports: &Ports,
) -> Result<Delivery, BotError> {
    let mut message: Message = record.body()?;
    let MessageContent::Outbound(content) = &message.content else {
        return Ok(Delivery::Nothing);
    };
    if message.delivery != DeliveryStatus::Pending {
        return Ok(Delivery::Nothing);
    }
    let now = ports.clock.now();
    let result = if matches!(content, OutboundContent::Template { .. })
        || service_window_open(profile.last_contact_at, now)
    {
        match profile.recipient() {
            Some(to) => ports.whatsapp.send(&to, content).await,
            None => Err(WhatsAppError::InvalidRecipient { code: 0 }),
        }
    } else {
        Err(WhatsAppError::OutsideWindow)
    };
    match result {
        Ok(sent) => {
            note_sent(record, &sent.wamid, now, ports).await?;
            Ok(Delivery::Sent)
        }
        Err(e) if e.is_permanent() => {
            tracing::warn!(error = %e, "message not deliverable; stored as failed");
            message.delivery = DeliveryStatus::Failed;
            message.error_code = e.code();
            record.set_body(&message)?;
            ports.store.update(&record).await?;
            Ok(Delivery::Failed(e))
        }
        Err(e) => Err(e.into()),
    }
}

/// Tries to note a sent reply this many times: a retry of the turn without the note would
/// send the reply to the customer again.
const NOTE_SENT_ATTEMPTS: u32 = 5;

/// Notes that WhatsApp took the reply. The store failing here (after the SDK's own retries)
/// is the one way a reply can go out twice, so it is tried again a few times, backing off.
async fn note_sent(
    record: Record,
    wamid: &str,
    now: DateTime<Utc>,
    ports: &Ports,
) -> Result<Record, BotError> {
    let mut attempt = 1;
    loop {
        let noted = messages::mark_sent(
            ports.store.as_ref(),
            &ports.pseudonymizer,
            record.clone(),
            wamid,
            now,
        )
        .await;
        match noted {
            Ok(record) => return Ok(record),
            Err(e) if attempt < NOTE_SENT_ATTEMPTS => {
                tracing::warn!(error = %e, attempt, "noting a sent reply failed; trying again");
                tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
                attempt += 1;
            }
            Err(e) => {
                tracing::error!(
                    error = %e,
                    "a reply WhatsApp took could not be noted; a retry sends it again"
                );
                return Err(e.into());
            }
        }
    }
}

/// The conversation's last messages, oldest first, for the agent taking over.
pub(crate) async fn summary(
    contact: &Pseudonym,
    conversation: Ulid,
    ports: &Ports,
) -> Result<Vec<SummaryLine>, BotError> {
    let partition = contact.partition();
    let records = all_pages(100, |page| {
        ports.store.query(&partition, MESSAGE_PREFIX, page)
    })
    .await?;
    let mut lines = Vec::new();
    for record in records {
        let message: Message = record.body()?;
        if message.conversation_id == Some(conversation) && message.direction != Direction::Internal
        {
            lines.push(SummaryLine {
                actor: message.actor,
                text: message.content.preview(),
                at: message.at,
            });
        }
    }
    let skip = lines.len().saturating_sub(ports.config.summary_lines);
    Ok(lines.split_off(skip))
}

pub(crate) async fn reject(
    action: &AgentAction,
    reason: RejectReason,
    ports: &Ports,
) -> Result<Outcome, BotError> {
    tracing::warn!(reason = ?reason, "agent action rejected");
    let event = DeskEvent::ActionRejected {
        conversation: action.conversation.clone(),
        action_id: action.action_id,
        reason,
    };
    let dedup = format!("rejected-{}", action.action_id);
    tell_desk(&action.conversation, &event, &dedup, ports).await?;
    Ok(Outcome::AgentReplyRejected(reason))
}
