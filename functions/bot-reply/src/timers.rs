//! The inactivity timer, and announcing a closed conversation to the survey.

use super::*;

pub(crate) async fn on_inactivity(
    timer: &InactivityTimer,
    ports: &Ports,
) -> Result<Outcome, BotError> {
    let store = ports.store.as_ref();
    let Some(mut stored) = store
        .load::<Conversation>(&timer.conversation.key())
        .await?
    else {
        return Ok(Outcome::Gone);
    };
    let conversation = &mut stored.body;
    let due_at = conversation.last_activity_at + ports.config.inactivity;
    if due_at != timer.due_at || conversation.mode == ConversationMode::Agent {
        // Newer activity set a newer timer; agents close their own conversations.
        return Ok(Outcome::TimerStale);
    }
    let now = ports.clock.now();
    if now < due_at {
        // SQS delays at most 15 minutes: wait another round.
        let again = BotWork::InactivityTimer(timer.clone());
        ports.timer_queue.send(again.to_queue_message(now)).await?;
        return Ok(Outcome::TimerRescheduled);
    }
    match conversation.state {
        ConversationState::Closed if conversation.end_reason != Some(EndReason::Inactivity) => {
            return Ok(Outcome::TimerStale);
        }
        ConversationState::Closed => {}
        _ => {
            conversation.close(EndReason::Inactivity, now);
            conversation.awaiting = Default::default();
            stored = stored.save(store).await?;
        }
    }
    let at = stored.body.ended_at.unwrap_or(now);
    announce_closed(&timer.conversation, EndReason::Inactivity, at, ports).await?;
    Ok(Outcome::ClosedForInactivity)
}

/// Tells the survey that a conversation ended (sent again on a retry; the FIFO queue drops
/// the repeat).
pub(crate) async fn announce_closed(
    conversation: &ConversationRef,
    reason: EndReason,
    at: DateTime<Utc>,
    ports: &Ports,
) -> Result<(), BotError> {
    let closed = ConversationClosed {
        conversation: conversation.clone(),
        reason,
        at,
    };
    ports.closed_queue.send(closed.to_queue_message()).await?;
    // A handed-over conversation's chat at the desk ends with it.
    let event = DeskEvent::Closed {
        conversation: conversation.clone(),
        reason,
        at,
    };
    let dedup = format!("closed-{}", conversation.conversation);
    tell_desk(conversation, &event, &dedup, ports).await
}
