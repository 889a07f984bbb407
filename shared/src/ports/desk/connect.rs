//! The Amazon Connect chat adapter of the `AgentDesk` port.
//!
//! A handover starts a chat contact in the configured contact flow (which queues it for the
//! agents), streams its messages and events to the stack's SNS topic, and connects two
//! participants: the customer (their WhatsApp messages are written into the chat) and a
//! "Servicekanal" system participant that shows the agent what Lisa already did and tells them
//! what could not be delivered. Throttling and server errors are retried by the SDK's standard
//! retry (exponential backoff with jitter); an expired participant connection is made anew
//! from the participant token.

use super::{AgentDesk, ChatTokens, DeskChat, DeskError, DeskEvent, Handover, Participant};
use crate::domain::messages::RejectReason;
use crate::domain::{Actor, EndReason, wire_name};
use crate::policy::mask::Secret;
use crate::ports::clock::SharedClock;
use crate::ports::connect_api::{ConnectFailure, classify};
use async_trait::async_trait;
use aws_sdk_connect::config::http::HttpResponse;
use aws_sdk_connect::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_connect::types::{
    ChatStreamingConfiguration, ParticipantDetails, ParticipantDetailsToAdd, ParticipantRole,
};
use aws_sdk_connectparticipant::types::ConnectionType;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use std::collections::HashMap;

/// The agent-facing texts (`shared/data/desk.toml`).
pub const EMBEDDED_TEXTS: &str = include_str!("../../../data/desk.toml");

/// Connect's participant API takes at most this many characters of `text/plain` in one
/// message (`SendMessage`); longer texts go as several messages.
const MAX_MESSAGE_CHARS: usize = 1024;
/// A connection this close to its expiry is renewed before use.
const RENEW_AHEAD: Duration = Duration::minutes(1);

#[derive(Clone, Debug, Deserialize)]
pub struct DeskTexts {
    pub system_name: String,
    pub masked_customer_name: String,
    pub summary_header: String,
    pub summary_empty: String,
    pub actors: HashMap<String, String>,
    pub rejected: HashMap<String, String>,
    pub closed: HashMap<String, String>,
}

impl DeskTexts {
    pub fn embedded() -> Self {
        toml::from_str(EMBEDDED_TEXTS).expect("shared/data/desk.toml is checked by the tests")
    }

    fn actor(&self, actor: Actor) -> &str {
        let key = match actor {
            Actor::Customer => "customer",
            Actor::Bot => "bot",
            Actor::Agent => "agent",
            Actor::System => "system",
        };
        self.actors.get(key).map_or(key, String::as_str)
    }

    /// What the system participant writes first: the conversation so far.
    pub fn summary(&self, handover: &Handover) -> String {
        let header = if handover.summary.is_empty() {
            &self.summary_empty
        } else {
            &self.summary_header
        };
        let mut text = header.replace("{topic}", &handover.topic);
        for line in &handover.summary {
            text.push('\n');
            text.push_str(self.actor(line.actor));
            text.push_str(": ");
            text.push_str(&line.text);
        }
        text
    }

    fn rejected(&self, reason: RejectReason) -> String {
        let key = wire_name(reason);
        self.rejected.get(&key).cloned().unwrap_or(key)
    }

    fn closed(&self, reason: EndReason) -> String {
        let key = wire_name(reason);
        self.closed.get(&key).cloned().unwrap_or(key)
    }
}

/// `text` in pieces Connect takes, cut at line ends or spaces where one is near.
fn chunks(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.chars().count() > MAX_MESSAGE_CHARS {
        let hard = rest
            .char_indices()
            .nth(MAX_MESSAGE_CHARS)
            .map_or(rest.len(), |(i, _)| i);
        let near = |at: Option<usize>| at.filter(|&i| i > hard / 2).map(|i| i + 1);
        let cut = near(rest[..hard].rfind('\n'))
            .or_else(|| near(rest[..hard].rfind(' ')))
            .unwrap_or(hard);
        pieces.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    if !rest.is_empty() || pieces.is_empty() {
        pieces.push(rest);
    }
    pieces
}

/// Which name of the customer the agent sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CustomerName {
    /// A short reference, no personal data (default).
    Masked,
    /// The WhatsApp profile name, when known.
    Profile,
}

impl CustomerName {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim() {
            "" | "masked" => Some(Self::Masked),
            "profile" => Some(Self::Profile),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct ConnectDeskConfig {
    pub instance_id: String,
    pub contact_flow_id: String,
    /// The SNS topic the chat's messages and events are streamed to.
    pub streaming_topic_arn: String,
    pub customer_name: CustomerName,
    pub texts: DeskTexts,
}

pub struct ConnectDesk {
    connect: aws_sdk_connect::Client,
    participant: aws_sdk_connectparticipant::Client,
    config: ConnectDeskConfig,
    clock: SharedClock,
}

impl ConnectDesk {
    pub fn new(
        connect: aws_sdk_connect::Client,
        participant: aws_sdk_connectparticipant::Client,
        config: ConnectDeskConfig,
        clock: SharedClock,
    ) -> Self {
        Self {
            connect,
            participant,
            config,
            clock,
        }
    }

    fn display_name(&self, handover: &Handover) -> String {
        let profile = match self.config.customer_name {
            CustomerName::Profile => handover
                .profile_name
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty()),
            CustomerName::Masked => None,
        };
        match profile {
            Some(name) => name.chars().take(256).collect(),
            None => {
                let reference: String = handover
                    .conversation
                    .contact
                    .as_str()
                    .chars()
                    .take(6)
                    .collect();
                self.config
                    .texts
                    .masked_customer_name
                    .replace("{ref}", &reference)
            }
        }
    }

    async fn connection(
        &self,
        participant_token: &str,
    ) -> Result<(String, DateTime<Utc>), DeskError> {
        let out = self
            .participant
            .create_participant_connection()
            .participant_token(participant_token)
            .r#type(ConnectionType::ConnectionCredentials)
            .connect_participant(true)
            .send()
            .await
            .map_err(|e| match desk_error(e) {
                // The participant token is refused once the chat is over.
                Refusal::Denied => DeskError::ChatEnded,
                Refusal::Other(e) => e,
            })?;
        let credentials = out
            .connection_credentials()
            .ok_or_else(|| DeskError::Refused("no connection credentials returned".into()))?;
        let token = credentials
            .connection_token()
            .ok_or_else(|| DeskError::Refused("no connection token returned".into()))?;
        let expires_at = credentials
            .expiry()
            .and_then(|e| DateTime::parse_from_rfc3339(e).ok())
            .map(|e| e.with_timezone(&Utc))
            // Unknown expiry: renew on the next use.
            .unwrap_or_else(|| self.clock.now());
        Ok((token.to_owned(), expires_at))
    }

    async fn participant(&self, participant_token: String) -> Result<Participant, DeskError> {
        let (connection, expires_at) = self.connection(&participant_token).await?;
        Ok(Participant {
            participant_token: Secret(participant_token),
            connection_token: Secret(connection),
            connection_expires_at: expires_at,
        })
    }

    /// What follows `StartChatContact`: streaming to the topic, the system participant, both
    /// connections, and the summary of what Lisa did.
    async fn set_up_chat(
        &self,
        handover: &Handover,
        request: &str,
        contact_id: &str,
        customer_token: String,
    ) -> Result<ChatTokens, DeskError> {
        let config = &self.config;
        self.connect
            .start_contact_streaming()
            .instance_id(&config.instance_id)
            .contact_id(contact_id)
            .chat_streaming_configuration(
                ChatStreamingConfiguration::builder()
                    .streaming_endpoint_arn(&config.streaming_topic_arn)
                    .build()
                    .map_err(|e| DeskError::Refused(e.to_string()))?,
            )
            .client_token(format!("{request}-stream"))
            .send()
            .await
            .map_err(|e| desk_error(e).into_error())?;

        let system = self
            .connect
            .create_participant()
            .instance_id(&config.instance_id)
            .contact_id(contact_id)
            .participant_details(
                ParticipantDetailsToAdd::builder()
                    .participant_role(ParticipantRole::CustomBot)
                    .display_name(&config.texts.system_name)
                    .build(),
            )
            .client_token(format!("{request}-system"))
            .send()
            .await
            .map_err(|e| desk_error(e).into_error())?;
        let system_token = system
            .participant_credentials()
            .and_then(|c| c.participant_token())
            .ok_or_else(|| DeskError::Refused("CreateParticipant returned no token".into()))?
            .to_owned();

        let mut tokens = ChatTokens {
            customer: self.participant(customer_token).await?,
            system: self.participant(system_token).await?,
        };
        self.say(
            &mut tokens.system,
            &config.texts.summary(handover),
            &format!("{request}-summary"),
        )
        .await?;
        Ok(tokens)
    }

    /// Sends a text as `participant` (in several messages when long), renewing its
    /// connection when it expired. Each piece has its own client token, derived from
    /// `client_token`, so a retry sends none of them twice.
    async fn say(
        &self,
        participant: &mut Participant,
        text: &str,
        client_token: &str,
    ) -> Result<(), DeskError> {
        for (n, piece) in chunks(text).into_iter().enumerate() {
            let token = match n {
                0 => client_token.to_owned(),
                n => format!("{client_token}-{n}"),
            };
            self.say_once(participant, piece, &token).await?;
        }
        Ok(())
    }

    async fn say_once(
        &self,
        participant: &mut Participant,
        text: &str,
        client_token: &str,
    ) -> Result<(), DeskError> {
        if participant.connection_expires_at <= self.clock.now() + RENEW_AHEAD {
            self.renew(participant).await?;
        }
        for attempt in 0..2 {
            let sent = self
                .participant
                .send_message()
                .connection_token(participant.connection_token.expose())
                .content_type("text/plain")
                .content(text)
                .client_token(client_token)
                .send()
                .await;
            match sent.map_err(desk_error) {
                Ok(_) => return Ok(()),
                Err(Refusal::Denied) if attempt == 0 => self.renew(participant).await?,
                Err(Refusal::Denied) => return Err(DeskError::ChatEnded),
                Err(Refusal::Other(e)) => return Err(e),
            }
        }
        unreachable!("the loop returns on its second attempt")
    }

    async fn renew(&self, participant: &mut Participant) -> Result<(), DeskError> {
        let (connection, expires_at) = self
            .connection(participant.participant_token.expose())
            .await?;
        participant.connection_token = Secret(connection);
        participant.connection_expires_at = expires_at;
        Ok(())
    }

    /// Ends the chat from the customer's side (the agent sees the customer leave).
    async fn leave(&self, tokens: &mut ChatTokens) -> Result<(), DeskError> {
        let customer = &mut tokens.customer;
        if customer.connection_expires_at <= self.clock.now() + RENEW_AHEAD {
            match self.renew(customer).await {
                Err(DeskError::ChatEnded) => return Ok(()),
                other => other?,
            }
        }
        let left = self
            .participant
            .disconnect_participant()
            .connection_token(customer.connection_token.expose())
            .send()
            .await;
        match left.map_err(desk_error) {
            // Already gone: the chat ended before.
            Ok(_) | Err(Refusal::Denied) => Ok(()),
            Err(Refusal::Other(e)) => Err(e),
        }
    }
}

#[async_trait]
impl AgentDesk for ConnectDesk {
    async fn hand_over(
        &self,
        handover: &Handover,
        request: &str,
    ) -> Result<Option<DeskChat>, DeskError> {
        let config = &self.config;
        let conversation = &handover.conversation;
        let mut start = self
            .connect
            .start_chat_contact()
            .instance_id(&config.instance_id)
            .contact_flow_id(&config.contact_flow_id)
            .participant_details(
                ParticipantDetails::builder()
                    .display_name(self.display_name(handover))
                    .build()
                    .map_err(|e| DeskError::Refused(e.to_string()))?,
            )
            // Keys only: the pseudonym and the conversation's id, never a phone number.
            .attributes(
                "conversation",
                format!(
                    "{}/{}",
                    conversation.contact.as_str(),
                    conversation.conversation
                ),
            )
            .attributes("topic", &handover.topic)
            .attributes("contactKind", wire_name(handover.contact_kind))
            // Connect keeps a client token's answer for 7 days: a retried handover finds
            // the chat it started.
            .client_token(request);
        if let Some(customer_ref) = &handover.customer_ref {
            start = start.attributes("customerRef", customer_ref);
        }
        let started = start.send().await.map_err(|e| desk_error(e).into_error())?;
        let contact_id = started
            .contact_id()
            .ok_or_else(|| DeskError::Refused("StartChatContact returned no contact id".into()))?
            .to_owned();
        let customer_token = started
            .participant_token()
            .ok_or_else(|| DeskError::Refused("StartChatContact returned no token".into()))?
            .to_owned();

        match self
            .set_up_chat(handover, request, &contact_id, customer_token)
            .await
        {
            Ok(tokens) => Ok(Some(DeskChat {
                contact_id,
                conversation: conversation.clone(),
                tokens: Some(tokens),
            })),
            Err(e) => {
                // A chat the agents could take but we could not follow: end it, so the
                // handover waits only where the caller puts it next (the fallback queue).
                if let Err(stop) = self
                    .connect
                    .stop_contact()
                    .instance_id(&config.instance_id)
                    .contact_id(&contact_id)
                    .send()
                    .await
                {
                    tracing::warn!(error = %stop, "a half-started chat could not be stopped");
                }
                Err(e)
            }
        }
    }

    async fn tell(
        &self,
        chat: Option<&mut DeskChat>,
        event: &DeskEvent,
        dedup: &str,
    ) -> Result<(), DeskError> {
        let Some(chat) = chat else {
            return Err(DeskError::ChatEnded);
        };
        let Some(tokens) = chat.tokens.as_mut() else {
            return Err(DeskError::ChatEnded);
        };
        let texts = &self.config.texts;
        match event {
            DeskEvent::Handover(_) => Err(DeskError::Refused(
                "a handover starts a chat; it is not told into one".into(),
            )),
            DeskEvent::CustomerMessage { text, .. } => {
                self.say(&mut tokens.customer, text, dedup).await
            }
            DeskEvent::ActionRejected { reason, .. } => {
                self.say(&mut tokens.system, &texts.rejected(*reason), dedup)
                    .await
            }
            DeskEvent::Closed { reason, .. } => {
                if *reason != EndReason::AgentClosed {
                    match self
                        .say(&mut tokens.system, &texts.closed(*reason), dedup)
                        .await
                    {
                        Ok(()) | Err(DeskError::ChatEnded) => {}
                        Err(e) => return Err(e),
                    }
                }
                self.leave(tokens).await?;
                // The chat is over: its tokens are of no use and are not kept.
                chat.tokens = None;
                Ok(())
            }
        }
    }
}

/// A failed Connect call as the desk sees it: a refused token is told apart (renew the
/// connection, or the chat is over).
enum Refusal {
    Denied,
    Other(DeskError),
}

impl Refusal {
    fn into_error(self) -> DeskError {
        match self {
            Refusal::Denied => DeskError::Refused("access denied".into()),
            Refusal::Other(e) => e,
        }
    }
}

fn desk_error<E: ProvideErrorMetadata + std::error::Error>(
    error: SdkError<E, HttpResponse>,
) -> Refusal {
    match classify(error) {
        ConnectFailure::Denied => Refusal::Denied,
        ConnectFailure::Later(detail) => Refusal::Other(DeskError::Unavailable(detail)),
        ConnectFailure::NotFound => Refusal::Other(DeskError::Refused("not found".into())),
        ConnectFailure::Refused { detail, .. } => Refusal::Other(DeskError::Refused(detail)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_go_in_pieces_connect_takes_and_nothing_is_lost() {
        let line = "Kunde: Meine Rechnung für November ist höher als sonst, warum?\n";
        let text = line.repeat(60);
        let pieces = chunks(&text);
        assert!(pieces.len() > 1);
        assert!(
            pieces
                .iter()
                .all(|p| p.chars().count() <= MAX_MESSAGE_CHARS)
        );
        assert_eq!(pieces.concat(), text);
        // Cut at a line end, not inside a word.
        assert!(pieces[0].ends_with('\n'));
        let unbroken = "ä".repeat(3000);
        assert_eq!(chunks(&unbroken).concat(), unbroken);
        assert_eq!(chunks("kurz"), ["kurz"]);
    }

    #[test]
    fn every_refusal_and_every_ending_has_a_text_for_the_agent() {
        let texts = DeskTexts::embedded();
        for reason in [
            RejectReason::OutsideServiceWindow,
            RejectReason::ConversationClosed,
            RejectReason::ConversationGone,
            RejectReason::NotDeliverable,
            RejectReason::AttachmentNotRelayed,
        ] {
            assert!(
                texts.rejected(reason).starts_with("Nicht zugestellt"),
                "{reason:?}"
            );
        }
        for reason in [
            EndReason::Goodbye,
            EndReason::AgentClosed,
            EndReason::Inactivity,
            EndReason::Erased,
        ] {
            assert!(texts.closed.contains_key(&wire_name(reason)), "{reason:?}");
        }
    }
}
