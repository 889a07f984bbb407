//! The agent desk's actions: replies, notes, closing a conversation.

use super::*;

pub(crate) async fn on_agent_action(
    action: &AgentAction,
    ports: &Ports,
) -> Result<Outcome, BotError> {
    let store = ports.store.as_ref();
    let now = ports.clock.now();
    let contact = &action.conversation.contact;
    let (Some(mut stored), Some(profile)) = (
        store
            .load::<Conversation>(&action.conversation.key())
            .await?,
        store
            .load::<Contact>(&action.conversation.profile_key())
            .await?,
    ) else {
        return reject(action, RejectReason::ConversationGone, ports).await;
    };
    let profile = profile.body;
    let conversation = &mut stored.body;
    // An agent's reply or note is service data of the contact: it counts from their last contact.
    let agent_data = Anchor::Contact {
        at: now,
        last_contact: profile.last_contact_at,
    };
    let message_key = ItemKey::message(contact, action.action_id);
    match &action.act {
        AgentAct::Reply { text } => {
            if store.get(&message_key).await?.is_none() {
                if conversation.state == ConversationState::Closed {
                    return reject(action, RejectReason::ConversationClosed, ports).await;
                }
                if !service_window_open(profile.last_contact_at, now) {
                    return reject(action, RejectReason::OutsideServiceWindow, ports).await;
                }
                let content = OutboundContent::Text { body: text.clone() };
                if content.validate().is_err() {
                    return reject(action, RejectReason::NotDeliverable, ports).await;
                }
                let facts = MessageFacts {
                    mode: ConversationMode::Agent,
                    topic: conversation.topics.last().cloned(),
                    response_seconds: conversation.answered(now),
                    understood: None,
                    sent_to_review: false,
                };
                let reply = Message::outbound(
                    action.action_id,
                    conversation.id,
                    Actor::Agent,
                    content,
                    now,
                    Some(facts),
                );
                conversation.agent_replied(now);
                let class = stored.retention();
                stored.retain(class, agent_data);
                match store
                    .write_all(&[
                        Write::Create(Record::new(
                            message_key,
                            &reply,
                            retention::AGENT_MESSAGE,
                            agent_data,
                        )?),
                        stored.into_write()?,
                    ])
                    .await
                {
                    // A retry of this very action committed meanwhile: deliver below.
                    Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            match deliver(contact, action.action_id, &profile, ports).await? {
                Delivery::Failed(error) => {
                    let reason = match error {
                        WhatsAppError::OutsideWindow => RejectReason::OutsideServiceWindow,
                        _ => RejectReason::NotDeliverable,
                    };
                    reject(action, reason, ports).await
                }
                Delivery::Sent | Delivery::Nothing => Ok(Outcome::AgentReplied),
            }
        }
        AgentAct::Note { text } => {
            let note = Message::note(
                action.action_id,
                conversation.id,
                text.clone(),
                now,
                MessageFacts {
                    mode: ConversationMode::Agent,
                    topic: conversation.topics.last().cloned(),
                    response_seconds: None,
                    understood: None,
                    sent_to_review: false,
                },
            );
            let record = Record::new(message_key, &note, retention::AGENT_MESSAGE, agent_data)?;
            match store.create(&record).await {
                Ok(()) | Err(StoreError::AlreadyExists(_)) => Ok(Outcome::NoteStored),
                Err(e) => Err(e.into()),
            }
        }
        AgentAct::Typing => {
            let Some(wamid) = conversation.last_customer_wamid.as_deref() else {
                return Ok(Outcome::Ignored);
            };
            if conversation.state == ConversationState::Closed
                || !service_window_open(profile.last_contact_at, now)
            {
                return Ok(Outcome::Ignored);
            }
            // A courtesy: a failure is logged, never retried.
            if let Err(e) = ports.whatsapp.mark_read(wamid, true).await {
                tracing::warn!(error = %e, "showing the agent's typing failed");
            }
            Ok(Outcome::TypingShown)
        }
        AgentAct::Close => {
            if conversation.state != ConversationState::Closed {
                conversation.close(EndReason::AgentClosed, now);
                stored = stored.save(store).await?;
            }
            let conversation = &stored.body;
            if conversation.end_reason == Some(EndReason::AgentClosed) {
                // Sent again on a retry; the FIFO queue drops the repeat.
                let at = conversation.ended_at.unwrap_or(now);
                announce_closed(&action.conversation, EndReason::AgentClosed, at, ports).await?;
            }
            Ok(Outcome::ClosedByAgent)
        }
    }
}
