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
            messages::mark_sent(
                ports.store.as_ref(),
                &ports.pseudonymizer,
                record,
                &sent.wamid,
                now,
            )
            .await?;
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
