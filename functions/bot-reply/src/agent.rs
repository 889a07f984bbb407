//! The agent desk's actions: replies, notes, closing a conversation.

use super::*;

pub(crate) async fn on_agent_action(
    action: &AgentAction,
    ports: &Ports,
) -> Result<Outcome, BotError> {
    let store = ports.store.as_ref();
    let contact = &action.conversation.contact;
    let (Some(conversation_record), Some(profile_record)) = (
        store.get(&action.conversation.key()).await?,
        store.get(&action.conversation.profile_key()).await?,
    ) else {
        return reject(action, RejectReason::ConversationGone, ports).await;
    };
    let profile: Contact = profile_record.body()?;
    let mut conversation: Conversation = conversation_record.body()?;
    let now = ports.clock.now();
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
                let mut conversation_record = conversation_record;
                conversation_record.set_body(&conversation)?;
                conversation_record.expires_at = conversation_record
                    .retention
                    .deadline(profile.last_contact_at);
                match store
                    .write_all(&[
                        Write::Create(Record::new(
                            message_key,
                            &reply,
                            RetentionClass::Service13m,
                            profile.last_contact_at,
                        )?),
                        Write::Update(conversation_record),
                    ])
                    .await
                {
                    // A retry of this very action committed meanwhile: deliver below.
                    Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            match deliver(contact, action.action_id, &profile, ports).await? {
                Delivery::Failed(code) => {
                    let reason = if code == Some(131047) {
                        RejectReason::OutsideServiceWindow
                    } else {
                        RejectReason::NotDeliverable
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
                },
            );
            let record = Record::new(
                message_key,
                &note,
                RetentionClass::Service13m,
                profile.last_contact_at,
            )?;
            match store.create(&record).await {
                Ok(()) | Err(StoreError::AlreadyExists(_)) => Ok(Outcome::NoteStored),
                Err(e) => Err(e.into()),
            }
        }
        AgentAct::Close => {
            if conversation.state != ConversationState::Closed {
                conversation.close(EndReason::AgentClosed, now);
                let mut record = conversation_record;
                record.set_body(&conversation)?;
                store.update(&record).await?;
            }
            if conversation.end_reason == Some(EndReason::AgentClosed) {
                // Sent again on a retry; the FIFO queue drops the repeat.
                let at = conversation.ended_at.unwrap_or(now);
                announce_closed(&action.conversation, EndReason::AgentClosed, at, ports).await?;
            }
            Ok(Outcome::ClosedByAgent)
        }
    }
}
