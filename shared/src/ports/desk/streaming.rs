//! Amazon Connect's message streaming: a chat's messages and events, as Connect publishes
//! them to the stack's SNS topic (`StartContactStreaming`). One SNS message is one item, a
//! JSON object with `Id`, `Type` (`MESSAGE` or `EVENT`), `ContentType`, `Content`,
//! `ParticipantRole`, `DisplayName`, `AbsoluteTime`, `InitialContactId` and `ContactId`.

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Who wrote or did something in the chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ParticipantRole {
    Agent,
    Customer,
    System,
    CustomBot,
    Supervisor,
    #[serde(other)]
    Other,
}

/// What happened in the chat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatActivity {
    Message {
        text: String,
    },
    /// A file the participant sent into the chat.
    Attachment,
    Typing,
    Joined,
    Left,
    Ended,
    /// Another event (read receipts, transfers, ...): nothing for WhatsApp.
    Other,
}

/// One streamed item of a chat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatItem {
    /// Connect's id of the message or event: what a redelivery repeats.
    pub id: String,
    /// The chat's first contact id (the one `StartChatContact` returned; transfers give a
    /// chat new contact ids, the initial one stays).
    pub initial_contact_id: String,
    pub role: ParticipantRole,
    pub display_name: Option<String>,
    pub at: DateTime<Utc>,
    pub activity: ChatActivity,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StreamingError {
    #[error("not a Connect streaming item: {0}")]
    Unreadable(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Raw {
    id: String,
    #[serde(rename = "Type")]
    kind: String,
    content_type: Option<String>,
    content: Option<String>,
    participant_role: Option<ParticipantRole>,
    display_name: Option<String>,
    absolute_time: DateTime<Utc>,
    initial_contact_id: Option<String>,
    contact_id: Option<String>,
}

const EVENT_PREFIX: &str = "application/vnd.amazonaws.connect.event.";

/// Reads one SNS message body.
pub fn parse(message: &str) -> Result<ChatItem, StreamingError> {
    let raw: Raw =
        serde_json::from_str(message).map_err(|e| StreamingError::Unreadable(e.to_string()))?;
    let initial_contact_id = raw
        .initial_contact_id
        .or(raw.contact_id)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| StreamingError::Unreadable("no contact id".into()))?;
    let content_type = raw.content_type.unwrap_or_default();
    let activity = match raw.kind.as_str() {
        "MESSAGE" if content_type.starts_with("text/") => ChatActivity::Message {
            text: raw.content.unwrap_or_default(),
        },
        "ATTACHMENT" => ChatActivity::Attachment,
        "EVENT" => match content_type.strip_prefix(EVENT_PREFIX) {
            Some("typing") => ChatActivity::Typing,
            Some("participant.joined") => ChatActivity::Joined,
            Some("participant.left") => ChatActivity::Left,
            Some("chat.ended") => ChatActivity::Ended,
            _ => ChatActivity::Other,
        },
        _ => ChatActivity::Other,
    };
    Ok(ChatItem {
        id: raw.id,
        initial_contact_id,
        role: raw.participant_role.unwrap_or(ParticipantRole::Other),
        display_name: raw.display_name,
        at: raw.absolute_time,
        activity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_messages_and_events_are_read() {
        let item = parse(
            r#"{"AbsoluteTime":"2026-11-30T09:15:02.123Z","Content":"Guten Tag","ContentType":"text/plain","Id":"m-1","Type":"MESSAGE","ParticipantId":"p","DisplayName":"Jana","ParticipantRole":"AGENT","InitialContactId":"c-1","ContactId":"c-2"}"#,
        )
        .unwrap();
        assert_eq!(item.initial_contact_id, "c-1");
        assert_eq!(item.role, ParticipantRole::Agent);
        assert_eq!(
            item.activity,
            ChatActivity::Message {
                text: "Guten Tag".into()
            }
        );
        let ended = parse(
            r#"{"AbsoluteTime":"2026-11-30T09:20:00.000Z","ContentType":"application/vnd.amazonaws.connect.event.chat.ended","Id":"e-1","Type":"EVENT","ParticipantRole":"SYSTEM","ContactId":"c-1"}"#,
        )
        .unwrap();
        assert_eq!(ended.activity, ChatActivity::Ended);
        assert_eq!(ended.initial_contact_id, "c-1");
        let receipt = parse(
            r#"{"AbsoluteTime":"2026-11-30T09:20:00.000Z","ContentType":"application/vnd.amazonaws.connect.event.message.read","Id":"e-2","Type":"EVENT","ParticipantRole":"SOMETHING_NEW","ContactId":"c-1"}"#,
        )
        .unwrap();
        assert_eq!(receipt.activity, ChatActivity::Other);
        assert_eq!(receipt.role, ParticipantRole::Other);
    }

    #[test]
    fn what_is_not_a_streaming_item_is_a_typed_error() {
        assert!(matches!(parse("{}"), Err(StreamingError::Unreadable(_))));
        assert!(matches!(
            parse(r#"{"Id":"x","Type":"MESSAGE","AbsoluteTime":"2026-11-30T09:20:00Z"}"#),
            Err(StreamingError::Unreadable(m)) if m == "no contact id"
        ));
    }
}
