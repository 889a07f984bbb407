//! survey: offers the satisfaction survey when a conversation closes (conversation-closed
//! queue) and records the answers the customer gives (survey-answers queue, fed by bot-reply,
//! which routes a contact's messages here while a survey runs).
//!
//! Steps: satisfaction 1-5 (a list), "resolved?" (reply buttons), an optional comment; each
//! can be skipped. The answer is stored under `survey-13m` from the first reply on; the
//! comment stays in that record only. An unanswered survey expires with its session item.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::Duration;
use serde::Deserialize;
use servicekanal_shared::channels::whatsapp::{
    OutboundContent, WhatsApp, WhatsAppError, service_window_open,
};
use servicekanal_shared::domain::keys::{ItemKey, Pseudonym, Pseudonymizer};
use servicekanal_shared::domain::messages::{self, ConversationClosed, SurveyReply};
use servicekanal_shared::domain::survey::{self, SurveyTexts};
use servicekanal_shared::domain::{
    Actor, AuthAttempts, Channel, Contact, Conversation, Message, SurveyAnswer, SurveySession,
    SurveyStep,
};
use servicekanal_shared::policy::retention::{self, Anchor};
use servicekanal_shared::ports::clock::SharedClock;
use servicekanal_shared::ports::queue::{self, ItemOutcome};
use servicekanal_shared::ports::store::{Store, StoreError, Stored};
use servicekanal_shared::runtime::WhatsAppSettings;
use servicekanal_shared::runtime::{Env, StartupError, env};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use ulid::Ulid;

/// The survey's settings (environment in AWS).
#[derive(Clone, Debug, PartialEq)]
pub struct SurveyConfig {
    /// Share of closed conversations that get the survey, 0 to 1.
    pub probability: f64,
    /// At most one survey per contact in this period.
    pub period: Duration,
    /// An unanswered survey ends after this long.
    pub expiry: Duration,
    /// An approved template (name, language) to offer it outside the 24-hour window; without
    /// one, such surveys are skipped and counted.
    pub template: Option<(String, String)>,
}

impl Default for SurveyConfig {
    fn default() -> Self {
        Self {
            probability: 1.0,
            period: Duration::days(30),
            expiry: Duration::hours(24),
            template: None,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0} must be {1}, got {2:?}")]
    Invalid(&'static str, &'static str, String),
}

/// What the function reads from its environment at cold start (template.yaml sets it); the survey's own settings are `SurveyConfig`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    pub table_name: String,
    pub secrets_arn: String,
    pub whatsapp: WhatsAppSettings,
}

impl Environment {
    pub fn read(env: &Env) -> Result<Self, StartupError> {
        Ok(Self {
            table_name: env.required(env::TABLE_NAME)?,
            secrets_arn: env.required(env::SECRETS_ARN)?,
            whatsapp: WhatsAppSettings::read(env)?,
        })
    }
}

impl SurveyConfig {
    /// `SURVEY_PROBABILITY` (0-1), `SURVEY_PERIOD_DAYS`, `SURVEY_EXPIRY_HOURS`,
    /// `SURVEY_TEMPLATE` and `SURVEY_TEMPLATE_LANGUAGE` (default `de`).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if let Some(v) = get("SURVEY_PROBABILITY") {
            config.probability = v
                .parse::<f64>()
                .ok()
                .filter(|p| (0.0..=1.0).contains(p))
                .ok_or(ConfigError::Invalid(
                    "SURVEY_PROBABILITY",
                    "between 0 and 1",
                    v,
                ))?;
        }
        if let Some(v) = get("SURVEY_PERIOD_DAYS") {
            let days = v
                .parse::<i64>()
                .ok()
                .filter(|d| (0..=3650).contains(d))
                .ok_or(ConfigError::Invalid(
                    "SURVEY_PERIOD_DAYS",
                    "0 to 3650 days",
                    v,
                ))?;
            config.period = Duration::days(days);
        }
        if let Some(v) = get("SURVEY_EXPIRY_HOURS") {
            let hours = v
                .parse::<i64>()
                .ok()
                .filter(|h| (1..=168).contains(h))
                .ok_or(ConfigError::Invalid(
                    "SURVEY_EXPIRY_HOURS",
                    "1 to 168 hours",
                    v,
                ))?;
            config.expiry = Duration::hours(hours);
        }
        if let Some(name) = get("SURVEY_TEMPLATE") {
            let language = get("SURVEY_TEMPLATE_LANGUAGE").unwrap_or_else(|| "de".into());
            config.template = Some((name, language));
        }
        Ok(config)
    }
}

pub struct Ports {
    pub store: Arc<dyn Store>,
    pub whatsapp: Arc<dyn WhatsApp>,
    pub clock: SharedClock,
    pub pseudonymizer: Pseudonymizer,
    pub texts: SurveyTexts,
    pub config: SurveyConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum SurveyError {
    #[error("queue message is not survey work: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("sending failed: {0}")]
    WhatsApp(#[from] WhatsAppError),
}

/// Why no survey was offered (counted in the logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Erased or past its deadline.
    Gone,
    Locked,
    RecentlyAsked,
    AlreadyRunning,
    NotSampled,
    OutsideWindow,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Offered,
    OfferedByTemplate,
    Skipped(Skip),
    /// A step answered (or skipped); the next question went out.
    Answered(SurveyStep),
    /// Not understood: the same question again.
    AskedAgain(SurveyStep),
    Finished,
    /// The survey had expired: the message is not a survey answer.
    Expired,
    AlreadyHandled,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SurveyWork {
    Reply(SurveyReply),
    Closed(ConversationClosed),
}

/// The Lambda handler for both queues; failed items are reported, the group's later items too.
pub async fn handle(event: SqsEvent, ports: &Ports) -> SqsBatchResponse {
    queue::consume(&event.records, |message| async move {
        match process(message.body.as_deref().unwrap_or_default(), ports).await {
            Ok(outcome) => {
                tracing::info!(outcome = ?outcome, "survey work done");
                ItemOutcome::Done
            }
            Err(SurveyError::Malformed(e)) => {
                let id = message.message_id.as_deref().unwrap_or_default();
                tracing::error!(error = %e, message_id = %id, "survey work dropped");
                ItemOutcome::Dropped
            }
            Err(e) => {
                tracing::warn!(error = %e, "survey work failed; the queue will retry it");
                ItemOutcome::Retry
            }
        }
    })
    .await
}

pub async fn process(body: &str, ports: &Ports) -> Result<Outcome, SurveyError> {
    match serde_json::from_str::<SurveyWork>(body) {
        Ok(SurveyWork::Closed(closed)) => offer(&closed, ports).await,
        Ok(SurveyWork::Reply(reply)) => answer(&reply, ports).await,
        Err(e) => Err(SurveyError::Malformed(e.to_string())),
    }
}

/// Whether this conversation is in the sample: a fixed share, decided by its id (so a retry
/// decides the same).
fn sampled(conversation: Ulid, probability: f64) -> bool {
    let digest = Sha256::digest(conversation.to_string().as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(bytes) as f64 / u64::MAX as f64) < probability
}

/// Sends one survey message and stores it with the conversation (a bot message).
async fn send(
    contact: &Pseudonym,
    profile: &Contact,
    conversation: Ulid,
    content: &OutboundContent,
    ports: &Ports,
) -> Result<(), SurveyError> {
    let to = profile
        .recipient()
        .ok_or(WhatsAppError::InvalidRecipient { code: 0 })?;
    let sent = ports.whatsapp.send(&to, content).await?;
    let now = ports.clock.now();
    let message = Message::outbound(
        Ulid::from_datetime(now.into()),
        conversation,
        Actor::Bot,
        content.clone(),
        now,
        None,
    )
    .accepted(sent.wamid);
    messages::record_outbound(
        ports.store.as_ref(),
        &ports.pseudonymizer,
        contact,
        &message,
        retention::BOT_MESSAGE,
    )
    .await?;
    Ok(())
}

async fn offer(closed: &ConversationClosed, ports: &Ports) -> Result<Outcome, SurveyError> {
    let store = ports.store.as_ref();
    let contact = &closed.conversation.contact;
    let now = ports.clock.now();
    let Some(mut profile) = store
        .load::<Contact>(&closed.conversation.profile_key())
        .await?
    else {
        return Ok(Outcome::Skipped(Skip::Gone));
    };
    let session_key = ItemKey::survey_session(contact);
    if let Some(existing) = store.load::<SurveySession>(&session_key).await? {
        // A retry of this very offer whose send failed: send it now.
        if existing.body.conversation == closed.conversation.conversation
            && existing.body.sent_for.is_none()
        {
            return send_offer(contact, &profile.body, existing, ports).await;
        }
        return Ok(Outcome::Skipped(Skip::AlreadyRunning));
    }
    if let Some(auth) = store
        .load::<AuthAttempts>(&ItemKey::auth_attempts(contact))
        .await?
        && auth.body.is_locked_at(now)
    {
        return Ok(Outcome::Skipped(Skip::Locked));
    }
    if profile
        .body
        .last_survey_at
        .is_some_and(|at| now < at + ports.config.period)
    {
        return Ok(Outcome::Skipped(Skip::RecentlyAsked));
    }
    if !sampled(closed.conversation.conversation, ports.config.probability) {
        return Ok(Outcome::Skipped(Skip::NotSampled));
    }
    if !service_window_open(profile.body.last_contact_at, now) && ports.config.template.is_none() {
        tracing::info!(
            survey_skipped_outside_window = 1,
            "survey skipped: outside the 24-hour window"
        );
        return Ok(Outcome::Skipped(Skip::OutsideWindow));
    }
    let (handed_over, topics) = match store
        .load::<Conversation>(&closed.conversation.key())
        .await?
    {
        Some(c) => (c.body.handed_over, c.body.topics),
        None => (false, Vec::new()),
    };
    let session = Stored::new(
        session_key,
        SurveySession {
            conversation: closed.conversation.conversation,
            answer: Ulid::from_datetime(now.into()),
            step: SurveyStep::Score,
            started_at: now,
            last_message: None,
            sent_for: None,
            finished: false,
            handed_over,
            topics,
        },
        retention::SURVEY_SESSION,
        Anchor::Until {
            at: now,
            until: now + ports.config.expiry,
        },
    );
    profile.body.last_survey_at = Some(now);
    let profile_body = profile.body.clone();
    match store
        .write_all(&[session.clone().into_write()?, profile.into_write()?])
        .await
    {
        Ok(()) => {}
        Err(StoreError::AlreadyExists(_)) => return Ok(Outcome::Skipped(Skip::AlreadyRunning)),
        Err(e) => return Err(e.into()),
    }
    send_offer(contact, &profile_body, session.committed()?, ports).await
}

async fn send_offer(
    contact: &Pseudonym,
    profile: &Contact,
    mut session: Stored<SurveySession>,
    ports: &Ports,
) -> Result<Outcome, SurveyError> {
    let now = ports.clock.now();
    let (content, outcome) = if service_window_open(profile.last_contact_at, now) {
        (ports.texts.question(SurveyStep::Score), Outcome::Offered)
    } else if let Some((name, language)) = &ports.config.template {
        (
            OutboundContent::Template {
                name: name.clone(),
                language: language.clone(),
            },
            Outcome::OfferedByTemplate,
        )
    } else {
        return Ok(Outcome::Skipped(Skip::OutsideWindow));
    };
    send(contact, profile, session.body.conversation, &content, ports).await?;
    session.body.sent_for = Some(session.body.conversation);
    session.save(ports.store.as_ref()).await?;
    Ok(outcome)
}

async fn answer(reply: &SurveyReply, ports: &Ports) -> Result<Outcome, SurveyError> {
    let store = ports.store.as_ref();
    let Some(message) = store.load::<Message>(&reply.survey_reply).await? else {
        return Ok(Outcome::Expired);
    };
    let message = message.body;
    let Some(contact) = Pseudonym::from_partition(&reply.survey_reply.pk) else {
        return Err(SurveyError::Malformed(format!(
            "{} is not a contact's message",
            reply.survey_reply
        )));
    };
    let Some(profile) = store.load::<Contact>(&ItemKey::profile(&contact)).await? else {
        return Ok(Outcome::Expired);
    };
    let profile = profile.body;
    let Some(mut session) = store
        .load::<SurveySession>(&ItemKey::survey_session(&contact))
        .await?
    else {
        return Ok(Outcome::Expired);
    };
    if session.body.last_message == Some(message.id) {
        if session.body.sent_for == Some(message.id) {
            return Ok(Outcome::AlreadyHandled);
        }
        // Decided before, but the reply did not go out: send it now.
        return reply_and_mark(&contact, &profile, session, message.id, ports).await;
    }
    if session.body.finished {
        return Ok(Outcome::Expired);
    }
    let now = ports.clock.now();
    let step = session.body.step;
    let answer_key = ItemKey::survey_answer(session.body.answer);
    let mut answer = match store.load::<SurveyAnswer>(&answer_key).await? {
        Some(answer) => answer,
        // Owned by the contact, so erasure and access requests find it.
        None => Stored::new(
            answer_key,
            SurveyAnswer {
                id: session.body.answer,
                channel: Channel::Whatsapp,
                answered_at: now,
                score: None,
                solved: None,
                comment: None,
                handed_over: session.body.handed_over,
                topics: session.body.topics.clone(),
                complete: false,
            },
            retention::SURVEY_ANSWER,
            now,
        )
        .owned_by(&contact),
    };
    let next = survey::advance(&mut session.body, &mut answer.body, &message.content, now);
    session.body.last_message = Some(message.id);
    let mut writes = Vec::new();
    if next.is_some() {
        writes.push(answer.into_write()?);
    }
    writes.push(session.clone().into_write()?);
    store.write_all(&writes).await?;
    let outcome =
        reply_and_mark(&contact, &profile, session.committed()?, message.id, ports).await?;
    Ok(match (next, outcome) {
        (None, _) => Outcome::AskedAgain(step),
        (_, outcome) => outcome,
    })
}

/// Sends what the session's state calls for (next question, the same one again, or thanks)
/// and notes it sent; a finished survey's session is removed.
async fn reply_and_mark(
    contact: &Pseudonym,
    profile: &Contact,
    mut session: Stored<SurveySession>,
    message: Ulid,
    ports: &Ports,
) -> Result<Outcome, SurveyError> {
    let content = if session.body.finished {
        ports.texts.thanks()
    } else {
        ports.texts.question(session.body.step)
    };
    if service_window_open(profile.last_contact_at, ports.clock.now()) {
        send(contact, profile, session.body.conversation, &content, ports).await?;
    }
    if session.body.finished {
        ports.store.delete(session.key()).await?;
        return Ok(Outcome::Finished);
    }
    session.body.sent_for = Some(message);
    let step = session.body.step;
    session.save(ports.store.as_ref()).await?;
    Ok(Outcome::Answered(step))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_the_environment_and_nonsense_is_refused() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            SurveyConfig::from_lookup(env(&[])).unwrap(),
            SurveyConfig::default()
        );
        let config = SurveyConfig::from_lookup(env(&[
            ("SURVEY_PROBABILITY", "0.25"),
            ("SURVEY_PERIOD_DAYS", "14"),
            ("SURVEY_EXPIRY_HOURS", "12"),
            ("SURVEY_TEMPLATE", "zufriedenheit_umfrage"),
        ]))
        .unwrap();
        assert_eq!(config.probability, 0.25);
        assert_eq!(config.period, Duration::days(14));
        assert_eq!(config.expiry, Duration::hours(12));
        assert_eq!(
            config.template,
            Some(("zufriedenheit_umfrage".into(), "de".into()))
        );
        for (name, value) in [
            ("SURVEY_PROBABILITY", "1.5"),
            ("SURVEY_PERIOD_DAYS", "-1"),
            ("SURVEY_EXPIRY_HOURS", "0"),
        ] {
            let pairs: &'static [(&'static str, &'static str)] =
                Box::leak(vec![(name, value)].into_boxed_slice());
            assert!(
                SurveyConfig::from_lookup(env(pairs)).is_err(),
                "{name}={value}"
            );
        }
    }

    #[test]
    fn sampling_takes_about_the_configured_share_and_is_stable() {
        let ids: Vec<Ulid> = (0..2000u128).map(|n| Ulid::from_parts(1, n)).collect();
        let taken = ids.iter().filter(|id| sampled(**id, 0.3)).count();
        assert!((500..700).contains(&taken), "{taken} of 2000");
        assert!(ids.iter().all(|id| sampled(*id, 1.0)));
        assert!(!ids.iter().any(|id| sampled(*id, 0.0)));
        assert_eq!(sampled(ids[7], 0.5), sampled(ids[7], 0.5));
    }
}
