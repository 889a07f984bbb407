//! What the agent desk hears: handovers, customer messages in agent mode, refused actions and
//! closed conversations, through the `AgentDesk` port, with the desk's chat (Connect's
//! contact id and tokens) kept under the conversation's retention.

use super::*;

/// Hands the conversation to the desk; when the desk cannot take it, the customer is told and
/// the handover waits in the fallback queue (its alarm calls someone).
pub(crate) async fn hand_over(
    handover: &Handover,
    request: &str,
    profile: &Contact,
    ports: &Ports,
) -> Result<(), BotError> {
    let conversation = &handover.conversation;
    match ports.desk.hand_over(handover, request).await {
        Ok(None) => Ok(()),
        Ok(Some(chat)) => keep_chat(chat, ports).await,
        Err(e @ (DeskError::Unavailable(_) | DeskError::Refused(_) | DeskError::ChatEnded)) => {
            tracing::error!(error = %e, "the agent desk did not take the handover; it waits in the handover queue");
            ports.desk_fallback.hand_over(handover, request).await?;
            let notice =
                messages::message_id_for(&format!("desk-unavailable-{request}"), handover.at);
            tell_customer(conversation, notice, profile, ports).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Stores the desk's chat (owned by the contact, with the conversation's retention) and
/// notes it on the conversation.
async fn keep_chat(chat: DeskChat, ports: &Ports) -> Result<(), BotError> {
    let store = ports.store.as_ref();
    let conversation_ref = chat.conversation.clone();
    for _ in 0..5 {
        let Some(mut conversation) = store.load::<Conversation>(&conversation_ref.key()).await?
        else {
            return Ok(());
        };
        let class = conversation.retention();
        let anchor = Anchor::With(conversation.expires_at());
        let record = Record::new(ItemKey::desk_chat(&chat.contact_id), &chat, class, anchor)?
            .owned_by(&conversation_ref.contact);
        match store.create(&record).await {
            Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
        if conversation.body.desk_chat.as_deref() == Some(chat.contact_id.as_str()) {
            return Ok(());
        }
        conversation.body.desk_chat = Some(chat.contact_id.clone());
        match conversation.save(store).await {
            Ok(_) => return Ok(()),
            Err(StoreError::VersionConflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Backend("the conversation kept changing".into()).into())
}

/// Tells the desk about a conversation it has (not a handover). Without a chat at the desk
/// (queue desk, or a handover waiting in the fallback queue) it goes to the fallback queue.
pub(crate) async fn tell_desk(
    conversation: &ConversationRef,
    event: &DeskEvent,
    dedup: &str,
    ports: &Ports,
) -> Result<(), BotError> {
    let store = ports.store.as_ref();
    let stored = store.load::<Conversation>(&conversation.key()).await?;
    if matches!(event, DeskEvent::Closed { .. })
        && !stored.as_ref().is_some_and(|c| c.body.handed_over)
    {
        // The desk never had it.
        return Ok(());
    }
    let chat_key = stored
        .and_then(|c| c.body.desk_chat)
        .map(|id| ItemKey::desk_chat(&id));
    let chat = match &chat_key {
        Some(key) => store.load::<DeskChat>(key).await?,
        None => None,
    };
    let Some(mut chat) = chat.filter(|c| c.body.tokens.is_some()) else {
        if matches!(
            event,
            DeskEvent::Closed {
                reason: EndReason::AgentClosed,
                ..
            }
        ) {
            // The desk closed it itself.
            return Ok(());
        }
        return Ok(ports.desk_fallback.tell(None, event, dedup).await?);
    };
    let before = chat.body.clone();
    let told = ports.desk.tell(Some(&mut chat.body), event, dedup).await;
    if matches!(told, Err(DeskError::ChatEnded)) {
        // Over at the desk: its tokens are of no use any more.
        chat.body.tokens = None;
    }
    if chat.body != before {
        save_chat(chat, ports).await?;
    }
    match told {
        Ok(()) => Ok(()),
        // The chat is over at the desk, or refuses this message for good, while the customer
        // still writes: the message waits in the fallback queue rather than being lost or
        // blocking the contact's later messages.
        Err(DeskError::ChatEnded | DeskError::Refused(_))
            if matches!(event, DeskEvent::CustomerMessage { .. }) =>
        {
            Ok(ports.desk_fallback.tell(None, event, dedup).await?)
        }
        Err(DeskError::ChatEnded) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Saves the chat's new tokens (renewed, or none after the end); a concurrent change is
/// read again, and tokens once gone stay gone.
async fn save_chat(mut chat: Stored<DeskChat>, ports: &Ports) -> Result<(), BotError> {
    let store = ports.store.as_ref();
    let key = chat.key().clone();
    for _ in 0..5 {
        let tokens = chat.body.tokens.clone();
        match chat.save(store).await {
            Ok(_) | Err(StoreError::NotFound(_)) => return Ok(()),
            Err(StoreError::VersionConflict { .. }) => {
                let Some(current) = store.load::<DeskChat>(&key).await? else {
                    return Ok(());
                };
                chat = current;
                if chat.body.tokens.is_some() {
                    chat.body.tokens = tokens;
                } else {
                    return Ok(());
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Backend("the desk chat kept changing".into()).into())
}

/// Sends the customer the "nobody available" message (stored first, so a retry sends it once).
async fn tell_customer(
    conversation: &ConversationRef,
    id: Ulid,
    profile: &Contact,
    ports: &Ports,
) -> Result<(), BotError> {
    let store = ports.store.as_ref();
    let key = ItemKey::message(&conversation.contact, id);
    if store.get(&key).await?.is_none() {
        let now = ports.clock.now();
        let text = ports.lisa.texts().desk_unavailable.clone();
        let message = Message::outbound(
            id,
            conversation.conversation,
            Actor::Bot,
            OutboundContent::Text { body: text },
            now,
            None,
        );
        let record = Record::new(key, &message, retention::BOT_MESSAGE, now)?;
        match store.create(&record).await {
            Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    deliver(&conversation.contact, id, profile, ports).await?;
    Ok(())
}
