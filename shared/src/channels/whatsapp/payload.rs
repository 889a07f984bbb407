//! The webhook payload of the WhatsApp Cloud API, and its signature. Unknown fields are
//! ignored; missing optional parts default, so new API versions do not break parsing.

use crate::domain::{MessageContent, MessageType};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
pub const BUSINESS_ACCOUNT_OBJECT: &str = "whatsapp_business_account";

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature header missing")]
    Missing,
    #[error("signature header malformed")]
    Malformed,
    #[error("signature does not match the body")]
    Mismatch,
}

/// `sha256=<hex>` of HMAC-SHA256 over the raw body with the app secret.
pub fn sign(app_secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Verifies the header over the raw body bytes, in constant time.
pub fn verify_signature(
    app_secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_digest = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    let expected = hex::decode(hex_digest).map_err(|_| SignatureError::Malformed)?;
    if expected.len() != 32 {
        return Err(SignatureError::Malformed);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret).expect("any key length");
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// What a simulated WhatsApp user sends (the local stack and tests build real payloads
/// from it, so they go through the webhook like WhatsApp's own).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum UserMessage {
    Text {
        body: String,
    },
    /// A tap on a reply button.
    Button {
        id: String,
        title: String,
    },
    /// A pick from a list message.
    ListRow {
        id: String,
        title: String,
    },
    /// A photo (only its metadata reaches us).
    Image {
        caption: Option<String>,
    },
}

/// Who a simulated message comes from, as WhatsApp shows the sender: a phone number
/// (withheld for some users with a username), a business-scoped user id (BSUID), a username
/// and a profile name, each where the user has one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_name: Option<String>,
}

impl Sender {
    /// A sender known by phone number only (WhatsApp before business-scoped user ids).
    pub fn phone(wa_id: &str, profile_name: Option<&str>) -> Self {
        Self {
            wa_id: Some(wa_id.to_owned()),
            profile_name: profile_name.map(str::to_owned),
            ..Self::default()
        }
    }
}

impl WebhookPayload {
    /// One inbound message in the shape WhatsApp delivers it.
    pub fn inbound(
        phone_number_id: &str,
        sender: &Sender,
        wamid: &str,
        at: chrono::DateTime<chrono::Utc>,
        message: &UserMessage,
    ) -> Self {
        let mut wa = WaMessage {
            from: sender.wa_id.clone(),
            from_user_id: sender.user_id.clone(),
            id: wamid.to_owned(),
            timestamp: at.timestamp().to_string(),
            ..WaMessage::default()
        };
        match message {
            UserMessage::Text { body } => {
                wa.kind = "text".into();
                wa.text = Some(Text { body: body.clone() });
            }
            UserMessage::Button { id, title } | UserMessage::ListRow { id, title } => {
                let reply = Some(Reply {
                    id: id.clone(),
                    title: title.clone(),
                });
                let list = matches!(message, UserMessage::ListRow { .. });
                wa.kind = "interactive".into();
                wa.interactive = Some(Interactive {
                    kind: if list { "list_reply" } else { "button_reply" }.into(),
                    button_reply: if list { None } else { reply.clone() },
                    list_reply: if list { reply } else { None },
                });
            }
            UserMessage::Image { caption } => {
                wa.kind = "image".into();
                wa.image = Some(Media {
                    id: format!("media-{wamid}"),
                    mime_type: Some("image/jpeg".into()),
                    caption: caption.clone(),
                });
            }
        }
        Self::one_change(
            phone_number_id,
            ChangeValue {
                contacts: vec![Readable::Ok(WaContact {
                    profile: Some(Profile {
                        name: sender.profile_name.clone(),
                        username: sender.username.clone(),
                    }),
                    wa_id: sender.wa_id.clone(),
                    user_id: sender.user_id.clone(),
                    parent_user_id: None,
                })],
                messages: vec![Readable::Ok(wa)],
                ..ChangeValue::default()
            },
        )
    }
}

impl WebhookPayload {
    /// A status of an outbound message in the shape WhatsApp delivers it (`sent`,
    /// `delivered`, ...), addressed as the message was, with its pricing.
    pub fn status(
        phone_number_id: &str,
        wamid: &str,
        status: &str,
        to: &crate::domain::Recipient,
        at: chrono::DateTime<chrono::Utc>,
        pricing: Option<WaPricing>,
    ) -> Self {
        let (recipient_id, recipient_user_id) = match to {
            crate::domain::Recipient::Phone(phone) => (Some(phone.clone()), None),
            crate::domain::Recipient::UserId(user) => (None, Some(user.clone())),
        };
        let status = WaStatus {
            id: wamid.to_owned(),
            status: status.to_owned(),
            timestamp: at.timestamp().to_string(),
            recipient_id,
            recipient_user_id,
            recipient_parent_user_id: None,
            pricing,
            errors: Vec::new(),
        };
        Self::one_change(
            phone_number_id,
            ChangeValue {
                statuses: vec![Readable::Ok(status)],
                ..ChangeValue::default()
            },
        )
    }

    /// A notification of one `messages` change for the business number, as WhatsApp sends it.
    fn one_change(phone_number_id: &str, value: ChangeValue) -> Self {
        WebhookPayload {
            object: BUSINESS_ACCOUNT_OBJECT.into(),
            entry: vec![Entry {
                id: "local-business-account".into(),
                changes: vec![Change {
                    field: "messages".into(),
                    value: ChangeValue {
                        messaging_product: Some("whatsapp".into()),
                        metadata: Some(Metadata {
                            display_phone_number: "4930000000".into(),
                            phone_number_id: phone_number_id.into(),
                        }),
                        ..value
                    },
                }],
            }],
        }
    }
}

/// Reads `null` as the field's default (an empty list, an empty text): WhatsApp's payloads and
/// those of tools replaying them sometimes carry `null` where a list or a text is absent, and
/// one such field must not make the whole POST unreadable (its messages would never be read).
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WebhookPayload {
    pub object: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub entry: Vec<Entry>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub changes: Vec<Change>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Change {
    #[serde(default, deserialize_with = "null_as_default")]
    pub field: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub value: ChangeValue,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChangeValue {
    #[serde(default, deserialize_with = "null_as_default")]
    pub messaging_product: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Option<Metadata>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub contacts: Vec<Readable<WaContact>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub messages: Vec<Readable<WaMessage>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub statuses: Vec<Readable<WaStatus>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub errors: Vec<WaError>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    #[serde(default, deserialize_with = "null_as_default")]
    pub display_phone_number: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub phone_number_id: String,
}

/// One element of a list in the payload: read as `T`, or kept aside when it is not one, so an
/// unreadable message never takes the others of the same POST with it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Readable<T> {
    Ok(T),
    Unreadable(serde_json::Value),
}

/// The element is taken as its raw JSON text and read from that as `T`, and only if it is not
/// one as a JSON value. (serde's own untagged enums first copy every element into a tree of
/// their own and read it from there, allocating each part.)
impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Readable<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        match serde_json::from_str(raw.get()) {
            Ok(value) => Ok(Readable::Ok(value)),
            Err(_) => serde_json::from_str(raw.get())
                .map(Readable::Unreadable)
                .map_err(serde::de::Error::custom),
        }
    }
}

impl<T> Readable<T> {
    pub fn ok(&self) -> Option<&T> {
        match self {
            Readable::Ok(value) => Some(value),
            Readable::Unreadable(_) => None,
        }
    }
}

/// The sender of the messages of a change. Users with a username may come without `wa_id`
/// (their phone number withheld); since 2026 every contact carries a business-scoped user id.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WaContact {
    #[serde(default)]
    pub profile: Option<Profile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    /// The business-scoped user id (BSUID), e.g. `DE.1349120865530274`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The parent BSUID, where the business portfolio has one (`DE.ENT.…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_user_id: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WaMessage {
    /// The sender's phone number; absent for users whose number is withheld.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The sender's business-scoped user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_user_id: Option<String>,
    pub id: String,
    #[serde(default)]
    pub timestamp: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interactive: Option<Interactive>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button: Option<Button>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Media>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<Media>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<Media>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<Media>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticker: Option<Media>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Vec<serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reaction: Option<Reaction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<System>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<WaError>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Text {
    #[serde(default)]
    pub body: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Interactive {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button_reply: Option<Reply>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_reply: Option<Reply>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub id: String,
    #[serde(default)]
    pub title: String,
}

/// A quick-reply button of a template message.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Button {
    #[serde(default)]
    pub payload: String,
    #[serde(default)]
    pub text: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Media {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub caption: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reaction {
    #[serde(default)]
    pub message_id: String,
    /// Absent when a reaction is removed.
    #[serde(default)]
    pub emoji: Option<String>,
}

/// A system message: for `user_changed_number` the new phone number (`wa_id`) and for both
/// kinds of identity change the new and previous business-scoped user ids. Its `body` names
/// the numbers, so it is never stored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct System {
    #[serde(default)]
    pub body: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    /// Older payloads name the new number here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_wa_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_parent_user_id: Option<String>,
}

/// `system.type` of a phone number change.
pub const USER_CHANGED_NUMBER: &str = "user_changed_number";
/// `system.type` of a business-scoped user id change.
pub const USER_CHANGED_USER_ID: &str = "user_changed_user_id";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WaStatus {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub timestamp: String,
    /// The recipient's phone number; absent for recipients known by user id only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_parent_user_id: Option<String>,
    /// What the message costs (per-message pricing since July 2025).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<WaPricing>,
    #[serde(default)]
    pub errors: Vec<WaError>,
}

/// `statuses[].pricing`: `category` is `service`, `utility`, `marketing` or `authentication`
/// (and the like), `type` `regular`, `free_customer_service` or `free_entry_point`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WaPricing {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WaError {
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub title: Option<String>,
}

impl WaMessage {
    /// The message type, `Unsupported` for anything not documented.
    pub fn message_type(&self) -> MessageType {
        match self.kind.as_str() {
            "text" => MessageType::Text,
            "interactive" => MessageType::Interactive,
            "button" => MessageType::Button,
            "image" => MessageType::Image,
            "audio" => MessageType::Audio,
            "video" => MessageType::Video,
            "document" => MessageType::Document,
            "sticker" => MessageType::Sticker,
            "location" => MessageType::Location,
            "contacts" => MessageType::Contacts,
            "reaction" => MessageType::Reaction,
            "system" => MessageType::System,
            _ => MessageType::Unsupported,
        }
    }

    /// What is kept of the message. Media is never downloaded: id and type only.
    pub fn content(&self) -> MessageContent {
        let media = |m: &Option<Media>| {
            m.as_ref().map(|m| MessageContent::Media {
                media_id: m.id.clone(),
                mime_type: m.mime_type.clone(),
                caption: m.caption.clone(),
            })
        };
        let content = match self.message_type() {
            MessageType::Text => self.text.as_ref().map(|t| MessageContent::Text {
                body: t.body.clone(),
            }),
            MessageType::Interactive => self.interactive.as_ref().and_then(|i| {
                i.button_reply
                    .as_ref()
                    .or(i.list_reply.as_ref())
                    .map(|r| MessageContent::Choice {
                        id: r.id.clone(),
                        title: r.title.clone(),
                    })
            }),
            MessageType::Button => self.button.as_ref().map(|b| MessageContent::Choice {
                id: b.payload.clone(),
                title: b.text.clone(),
            }),
            MessageType::Image => media(&self.image),
            MessageType::Audio => media(&self.audio),
            MessageType::Video => media(&self.video),
            MessageType::Document => media(&self.document),
            MessageType::Sticker => media(&self.sticker),
            MessageType::Location => self.location.as_ref().map(|l| MessageContent::Location {
                latitude: l.latitude,
                longitude: l.longitude,
                name: l.name.clone(),
            }),
            MessageType::Contacts => Some(MessageContent::SharedContacts {
                count: self.contacts.as_ref().map_or(0, |c| c.len() as u32),
            }),
            MessageType::Reaction => self.reaction.as_ref().map(|r| MessageContent::Reaction {
                emoji: r.emoji.clone().unwrap_or_default(),
                message_id: r.message_id.clone(),
            }),
            // A system message's body names phone numbers: never kept.
            MessageType::System
            | MessageType::Unsupported
            | MessageType::Template
            | MessageType::Note => None,
        };
        content.unwrap_or(MessageContent::Empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_element_that_is_no_message_is_kept_aside_and_the_others_are_read() {
        let list = r#"[{"id":"wamid.1","type":"text","text":{"body":"Hallo"}},
            {"type":"text","text":{"body":"ohne id"}}, 42,
            {"id":"wamid.2","type":"unbekannt","neu":{"x":[1,2]}}]"#;
        let read: Vec<Readable<WaMessage>> = serde_json::from_str(list).unwrap();
        assert_eq!(read.len(), 4);
        let ok: Vec<&str> = read
            .iter()
            .filter_map(|r| r.ok())
            .map(|m| m.id.as_str())
            .collect();
        assert_eq!(ok, ["wamid.1", "wamid.2"]);
        assert_eq!(
            read[1],
            Readable::Unreadable(serde_json::json!({"type":"text","text":{"body":"ohne id"}}))
        );
        assert_eq!(read[2], Readable::Unreadable(serde_json::json!(42)));
        // Written back as it came: a message as the message, the rest as the JSON it was.
        let again: Vec<Readable<WaMessage>> =
            serde_json::from_str(&serde_json::to_string(&read).unwrap()).unwrap();
        assert_eq!(again, read);
        // Text that is no JSON at all fails the whole payload, as before.
        assert!(serde_json::from_str::<Vec<Readable<WaMessage>>>("[{\"id\":").is_err());
    }

    #[test]
    fn a_null_list_or_text_reads_as_absent_and_keeps_the_messages() {
        let body = r#"{"object":"whatsapp_business_account","entry":[{"id":null,"changes":[
            {"field":"messages","value":{"messaging_product":"whatsapp","metadata":{
             "display_phone_number":null,"phone_number_id":"100000000000001"},
             "contacts":null,"statuses":null,"errors":null,"messages":[
             {"from":"4915112345678","id":"wamid.null","timestamp":"1795255200","type":"text",
              "text":{"body":"Hallo"}}]}}]}]}"#;
        let payload: WebhookPayload = serde_json::from_str(body).unwrap();
        let value = &payload.entry[0].changes[0].value;
        assert!(value.contacts.is_empty() && value.statuses.is_empty() && value.errors.is_empty());
        assert_eq!(value.messages.len(), 1);
        assert_eq!(value.messages[0].ok().unwrap().id, "wamid.null");
        assert_eq!(payload.entry[0].id, "");
    }

    #[test]
    fn signature_verifies_on_raw_bytes_only() {
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        let header = sign(b"secret", body);
        assert_eq!(verify_signature(b"secret", body, Some(&header)), Ok(()));
        let respaced = br#"{"object": "whatsapp_business_account", "entry": []}"#;
        assert_eq!(
            verify_signature(b"secret", respaced, Some(&header)),
            Err(SignatureError::Mismatch),
            "re-serialised JSON does not verify"
        );
        assert_eq!(
            verify_signature(b"other", body, Some(&header)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"secret", body, None),
            Err(SignatureError::Missing)
        );
        for bad in ["sha1=abcd", "sha256=zz", "sha256=abcd", ""] {
            assert_eq!(
                verify_signature(b"secret", body, Some(bad)),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn unknown_types_and_fields_are_tolerated() {
        let json = r#"{"from":"49170","id":"wamid.X","timestamp":"1800000000","type":"poll","poll":{"q":1},"new_field":true}"#;
        let m: WaMessage = serde_json::from_str(json).unwrap();
        assert_eq!(m.message_type(), MessageType::Unsupported);
        assert_eq!(m.content(), MessageContent::Empty);
    }
}
