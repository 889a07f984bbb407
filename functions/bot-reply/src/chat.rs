//! Amazon Connect's chat streaming (SNS): what an agent does in the chat reaches the customer.
//! An agent's message becomes a reply on WhatsApp (or a contract-change note, with the note
//! prefix), their typing WhatsApp's typing indicator, the chat's end closes the conversation
//! (an agent leaving alone does not: a transfer to a colleague looks the same). SNS invokes
//! concurrently and at least once: each item becomes an agent action on the agent-actions
//! FIFO queue (one group per contact, deduplicated by the action's id, which derives from
//! Connect's message id), so actions run one at a time, in order, and a redelivery finds the
//! reply stored and sends nothing again.

use super::*;
use aws_lambda_events::event::sns::SnsEvent;
use servicekanal_shared::ports::desk::streaming::{self, ChatActivity, ParticipantRole};

/// The Lambda handler for the chat streaming topic. An error makes Lambda retry the event
/// (asynchronous invocation; then its dead-letter queue); an item that cannot be read is logged
/// and skipped, as no retry would read it.
pub async fn handle_chat_stream(event: SnsEvent, ports: &Ports) -> Result<Vec<Outcome>, BotError> {
    let mut outcomes = Vec::new();
    for record in &event.records {
        match on_chat_item(&record.sns.message, ports).await {
            Ok(outcome) => {
                tracing::info!(outcome = ?outcome, "chat item done");
                outcomes.push(outcome);
            }
            Err(e) if !e.retry_helps() => {
                tracing::error!(error = %e, sns_message_id = %record.sns.message_id, "chat item dropped");
                outcomes.push(Outcome::Ignored);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(outcomes)
}

/// One streamed chat item (the SNS message's body).
pub async fn on_chat_item(message: &str, ports: &Ports) -> Result<Outcome, BotError> {
    let item = streaming::parse(message)?;
    let act = match (&item.activity, item.role) {
        (ChatActivity::Message { text }, ParticipantRole::Agent) => {
            match strip_prefix_ignoring_case(text, &ports.config.note_prefix) {
                Some(note) => AgentAct::Note {
                    text: note.trim().to_owned(),
                },
                None => AgentAct::Reply { text: text.clone() },
            }
        }
        (ChatActivity::Typing, ParticipantRole::Agent) => AgentAct::Typing,
        (ChatActivity::Ended, _) => AgentAct::Close,
        (ChatActivity::Attachment, ParticipantRole::Agent) => {
            // Not relayed: the agent is told, rather than believing the file arrived.
            let chat = stored_chat(&item.initial_contact_id, ports).await?;
            let action_id = messages::message_id_for(&item.id, item.at);
            let event = DeskEvent::ActionRejected {
                conversation: chat.conversation.clone(),
                action_id,
                reason: RejectReason::AttachmentNotRelayed,
            };
            tell_desk(
                &chat.conversation,
                &event,
                &format!("rejected-{action_id}"),
                ports,
            )
            .await?;
            return Ok(Outcome::AgentReplyRejected(
                RejectReason::AttachmentNotRelayed,
            ));
        }
        // Our own customer and system messages come back too; an agent joining or leaving (a
        // transfer) needs nothing.
        _ => return Ok(Outcome::Ignored),
    };
    let chat = stored_chat(&item.initial_contact_id, ports).await?;
    let action = BotWork::AgentAction(AgentAction {
        action_id: messages::message_id_for(&item.id, item.at),
        conversation: chat.conversation,
        agent: item.display_name.unwrap_or_else(|| "agent".into()),
        act,
    });
    ports
        .agent_actions_queue
        .send(action.to_queue_message(ports.clock.now()))
        .await?;
    Ok(Outcome::Queued)
}

/// The stored chat a streamed item belongs to; not (yet) stored is retried: the handover may
/// still be committing.
async fn stored_chat(contact_id: &str, ports: &Ports) -> Result<DeskChat, BotError> {
    match ports
        .store
        .load::<DeskChat>(&ItemKey::desk_chat(contact_id))
        .await?
    {
        Some(chat) => Ok(chat.body),
        None => Err(BotError::UnknownChat),
    }
}

/// The note after `prefix` (ASCII case ignored, surrounding blanks and a colon after the
/// prefix word allowed: "/Notiz: ...", "/notiz\n..."); `None` when the text is not a note.
fn strip_prefix_ignoring_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let word = prefix.trim();
    let trimmed = text.trim_start();
    let head = trimmed.get(..word.len())?;
    if word.is_empty() || !head.eq_ignore_ascii_case(word) {
        return None;
    }
    let rest = &trimmed[word.len()..];
    match rest.chars().next() {
        None => Some(rest),
        Some(c) if c.is_whitespace() || c == ':' => Some(rest.trim_start_matches(':')),
        // "/notizen ..." is another word.
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_note_prefix_is_matched_without_regard_to_case() {
        assert_eq!(
            strip_prefix_ignoring_case("/Notiz Tarif gewechselt", "/notiz "),
            Some(" Tarif gewechselt")
        );
        assert_eq!(
            strip_prefix_ignoring_case("/notiz: Tarif", "/notiz ").map(str::trim),
            Some("Tarif")
        );
        assert_eq!(
            strip_prefix_ignoring_case("/NOTIZ\nTarif", "/notiz ").map(str::trim),
            Some("Tarif")
        );
        assert_eq!(
            strip_prefix_ignoring_case("/notizen sind gut", "/notiz "),
            None
        );
        assert_eq!(strip_prefix_ignoring_case("Hallo", "/notiz "), None);
        assert_eq!(strip_prefix_ignoring_case("/no", "/notiz "), None);
        assert_eq!(strip_prefix_ignoring_case("/notiz x", ""), None);
    }
}
