//! bot-reply: runs Lisa on the inbound queue, carries out the agent desk's actions, and closes
//! conversations that went quiet.
//!
//! Every inbound message is handled in two steps. First Lisa decides, and her decision (the
//! replies as `pending` messages, the changed contact, conversation and lock-out state, and
//! the effects still to do) is committed in one transaction together with a `handling` plan on
//! the inbound message. Then the plan is carried out: replies are sent one by one and each is
//! marked sent, effects go to their queues. A retry finds the plan and only finishes it, so a
//! reply is never sent twice and an effect never lost.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Duration, Utc};
use servicekanal_shared::clock::SharedClock;
use servicekanal_shared::directory::{CustomerDirectory, DirectoryError};
use servicekanal_shared::domain::{
    Actor, AuthAttempts, Channel, Contact, Conversation, ConversationMode, ConversationState,
    DeliveryStatus, Direction, Effect, EndReason, Handling, Message, MessageContent, MessageFacts,
    MessageType, SurveySession,
};
use servicekanal_shared::identity::{Identities, IdentityError};
use servicekanal_shared::keys::{ItemKey, MESSAGE_PREFIX, Pseudonym, Pseudonymizer};
use servicekanal_shared::lisa::dialogue::{Action, Input, Lisa, State};
use servicekanal_shared::messages::{
    self, AgentAct, AgentAction, BotWork, ConversationClosed, ConversationRef, DeskEvent,
    InactivityTimer, InboundNotice, RejectReason, SummaryLine, SurveyReply,
};
use servicekanal_shared::queue::{self, ItemOutcome, Queue, QueueError};
use servicekanal_shared::retention::RetentionClass;
use servicekanal_shared::store::{Record, Store, StoreError, Write, all_pages};
use servicekanal_shared::whatsapp::{
    OutboundContent, WhatsApp, WhatsAppError, service_window_open,
};
use std::sync::Arc;
use ulid::Ulid;

/// Settings of the function (environment in AWS, flags in the local stack).
#[derive(Clone, Debug)]
pub struct BotConfig {
    /// A bot conversation without messages for this long is closed.
    pub inactivity: Duration,
    /// How many of the last messages the handover summary shows the agent.
    pub summary_lines: usize,
}

impl Default for BotConfig {
    fn default() -> Self {
        Self {
            inactivity: Duration::minutes(30),
            summary_lines: 10,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{name} must be a whole number of minutes between 1 and 1440, got {value:?}")]
    InactivityMinutes { name: &'static str, value: String },
}

impl BotConfig {
    pub const INACTIVITY_VAR: &'static str = "INACTIVITY_MINUTES";

    /// Reads `INACTIVITY_MINUTES` (default 30) through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        if let Some(value) = lookup(Self::INACTIVITY_VAR) {
            let minutes = value
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|m| (1..=1440).contains(m))
                .ok_or(ConfigError::InactivityMinutes {
                    name: Self::INACTIVITY_VAR,
                    value,
                })?;
            config.inactivity = Duration::minutes(minutes);
        }
        Ok(config)
    }
}

/// Everything the handler needs, built once per cold start.
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub whatsapp: Arc<dyn WhatsApp>,
    pub directory: Arc<dyn CustomerDirectory>,
    /// The agent desk's inbox (handover FIFO queue).
    pub desk_queue: Arc<dyn Queue>,
    /// Conversation-closed events (FIFO; the survey listens).
    pub closed_queue: Arc<dyn Queue>,
    /// Inactivity timers (standard queue, delayed messages), consumed by this function.
    pub timer_queue: Arc<dyn Queue>,
    /// Answers to a running survey (FIFO; the survey function reads it).
    pub survey_queue: Arc<dyn Queue>,
    pub clock: SharedClock,
    pub pseudonymizer: Pseudonymizer,
    pub lisa: Arc<Lisa>,
    pub config: BotConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum BotError {
    #[error("queue message is not bot work: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error("sending failed: {0}")]
    WhatsApp(#[from] WhatsAppError),
}

impl BotError {
    /// A malformed message never gets better: dropped (and logged) instead of retried.
    fn retry_helps(&self) -> bool {
        !matches!(self, BotError::Malformed(_))
    }
}

/// What one queue message amounted to (for the log line and the tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Lisa answered (with this many messages sent now).
    Answered {
        sent: usize,
    },
    /// Agent mode: the message went to the desk.
    Forwarded,
    /// A survey runs: the message went to it.
    ToSurvey,
    /// Handled before (a redelivery): nothing done again.
    AlreadyDone,
    /// The data is gone (erased or past its deadline).
    Gone,
    /// Nothing to answer (a reaction, a system message).
    Filed,
    Erased,
    AgentReplied,
    AgentReplyRejected(RejectReason),
    NoteStored,
    ClosedByAgent,
    ClosedForInactivity,
    TimerRescheduled,
    TimerStale,
}

/// The Lambda handler for an SQS batch. Failed messages are reported as batch item failures;
/// after a failure, the group's later messages are reported too, so order per contact holds.
pub async fn handle(event: SqsEvent, ports: &Ports) -> SqsBatchResponse {
    queue::consume(&event.records, |message| async move {
        match process(message, ports).await {
            Ok(outcome) => {
                tracing::info!(outcome = ?outcome, "bot work done");
                ItemOutcome::Done
            }
            Err(e) if e.retry_helps() => {
                tracing::warn!(error = %e, "bot work failed; the queue will retry it");
                ItemOutcome::Retry
            }
            Err(e) => {
                let id = message.message_id.as_deref().unwrap_or_default();
                tracing::error!(error = %e, message_id = %id, "bot work dropped");
                ItemOutcome::Dropped
            }
        }
    })
    .await
}

/// One queue message.
pub async fn process(message: &SqsMessage, ports: &Ports) -> Result<Outcome, BotError> {
    let body = message.body.as_deref().unwrap_or_default();
    let work: BotWork =
        serde_json::from_str(body).map_err(|e| BotError::Malformed(e.to_string()))?;
    match work {
        BotWork::Inbound(notice) => on_inbound(&notice, ports).await,
        BotWork::AgentAction(action) => on_agent_action(&action, ports).await,
        BotWork::InactivityTimer(timer) => on_inactivity(&timer, ports).await,
    }
}

/// What Lisa reads of a customer message; `None` for what needs no answer.
fn input_of(message: &Message) -> Option<Input> {
    match (&message.message_type, &message.content) {
        (MessageType::System | MessageType::Reaction, _) => None,
        (_, MessageContent::Text { body }) => Some(Input::Text(body.clone())),
        (_, MessageContent::Choice { id, .. }) => Some(Input::Choice(id.clone())),
        (
            _,
            MessageContent::Media { .. }
            | MessageContent::Location { .. }
            | MessageContent::SharedContacts { .. },
        ) => Some(Input::Other),
        _ => None,
    }
}

/// How many times a decision is retaken when a concurrent writer (the webhook updating the
/// profile, an agent action) got there first.
const DECISION_ATTEMPTS: usize = 3;

async fn on_inbound(notice: &InboundNotice, ports: &Ports) -> Result<Outcome, BotError> {
    let contact = Pseudonym::from_partition(&notice.message.pk).ok_or_else(|| {
        BotError::Malformed(format!("{} is not a contact's message", notice.message))
    })?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let Some(record) = ports.store.get(&notice.message).await? else {
            return Ok(Outcome::Gone);
        };
        let message: Message = record.body()?;
        match &message.handling {
            Some(h) if h.done => return Ok(Outcome::AlreadyDone),
            // Decided before (a retry): carry out what is left.
            Some(_) => {
                let Some(profile) = ports.store.get(&ItemKey::profile(&contact)).await? else {
                    return Ok(Outcome::Gone);
                };
                let decided = Decided {
                    inbound_record: record,
                    inbound: message,
                    profile: profile.body()?,
                    replies: None,
                };
                return finish(&contact, decided, ports).await;
            }
            None => {}
        }
        match decide(&contact, record, message, ports).await {
            Ok(Some(decided)) => return finish(&contact, decided, ports).await,
            Ok(None) => return Ok(Outcome::Gone),
            Err(BotError::Store(
                StoreError::VersionConflict { .. } | StoreError::AlreadyExists(_),
            )) if attempt < DECISION_ATTEMPTS => continue,
            Err(e) => return Err(e),
        }
    }
}

/// A committed decision: the inbound message with its plan (as stored now), the profile and
/// the replies as written, so carrying it out needs no second read. `replies` is `None` when
/// carrying out a decision made before (a retry): they are read back then.
struct Decided {
    inbound_record: Record,
    inbound: Message,
    profile: Contact,
    replies: Option<Vec<Record>>,
}

/// Lets Lisa decide on one inbound message and commits the decision with the changed state.
/// `None` if the contact is gone.
async fn decide(
    contact: &Pseudonym,
    inbound_record: Record,
    inbound: Message,
    ports: &Ports,
) -> Result<Option<Decided>, BotError> {
    let store = ports.store.as_ref();
    let now = ports.clock.now();
    let Some(profile_record) = store.get(&ItemKey::profile(contact)).await? else {
        return Ok(None);
    };
    let mut profile: Contact = profile_record.body()?;
    // While a survey runs (until it is finished or expires), messages answer it, not Lisa.
    if let Some(survey) = store.get(&ItemKey::survey_session(contact)).await? {
        let survey: SurveySession = survey.body()?;
        if !survey.finished {
            let mut filed = inbound.clone();
            filed.conversation_id = Some(survey.conversation);
            filed.handling = Some(Handling {
                effects: vec![Effect::ForwardToSurvey],
                ..Handling::default()
            });
            let mut record = inbound_record;
            record.set_body(&filed)?;
            return Ok(Some(Decided {
                inbound_record: store.update(&record).await?,
                inbound: filed,
                profile,
                replies: Some(Vec::new()),
            }));
        }
    }
    let auth_record = store.get(&ItemKey::auth_attempts(contact)).await?;
    let mut auth: AuthAttempts = match &auth_record {
        Some(r) => r.body()?,
        None => AuthAttempts::default(),
    };
    let auth_before = auth.clone();

    // The open conversation, or a new one started by this message (named after it, so a
    // retaken decision starts the same one).
    let current = match profile.current_conversation {
        Some(id) => store.get(&ItemKey::conversation(contact, id)).await?,
        None => None,
    };
    let (conversation_record, mut conversation) = match current {
        Some(r) => {
            let c: Conversation = r.body()?;
            if c.state == ConversationState::Closed {
                (
                    None,
                    Conversation::start(inbound.id, Channel::Whatsapp, inbound.at),
                )
            } else {
                (Some(r), c)
            }
        }
        None => (
            None,
            Conversation::start(inbound.id, Channel::Whatsapp, inbound.at),
        ),
    };
    profile.current_conversation = Some(conversation.id);
    conversation.customer_messages += 1;
    conversation.customer_wrote(inbound.at);
    let mode_on_arrival = conversation.mode;
    conversation.last_activity_at = conversation.last_activity_at.max(inbound.at).max(now);

    let mut profile_class = profile_record.retention;
    let mut conversation_class = conversation_record
        .as_ref()
        .map_or(RetentionClass::Bot7d, |r| r.retention);
    let mut inbound_after = inbound.clone();
    inbound_after.conversation_id = Some(conversation.id);
    let mut inbound_class = inbound_record.retention;
    let mut handling = Handling::default();
    let mut replies = Vec::new();
    let mut handed_over_now = false;

    if conversation.mode == ConversationMode::Agent {
        // Lisa is silent; the agent reads it on the desk. Messages with agents: 13 months.
        inbound_class = RetentionClass::Service13m;
        handling.effects.push(Effect::ForwardToDesk);
    } else if let Some(input) = input_of(&inbound) {
        let state = State {
            contact: &mut profile,
            conversation: &mut conversation,
            auth: &mut auth,
        };
        let actions = ports
            .lisa
            .respond(state, input, now, ports.directory.as_ref())
            .await?;
        for action in actions {
            match action {
                Action::Reply(content) => replies.push(content),
                Action::RedactIncoming => inbound_after.content = MessageContent::Redacted,
                Action::Authenticated(_) => profile_class = RetentionClass::Service13m,
                Action::Handover { topic } => {
                    handed_over_now = true;
                    profile_class = RetentionClass::Service13m;
                    conversation_class = RetentionClass::Service13m;
                    handling.effects.push(Effect::Handover { topic });
                }
                Action::Close(reason) => {
                    conversation.close(reason, now);
                    handling.effects.push(Effect::Closed { reason });
                }
                Action::Erase => handling.effects.push(Effect::Erase),
            }
        }
    }
    if !service_window_open(profile.last_contact_at, now) && !replies.is_empty() {
        // Only possible for a message that waited in the queue for a day: say nothing.
        tracing::warn!(
            replies = replies.len(),
            "replies dropped: outside the 24-hour window"
        );
        replies.clear();
    }
    if conversation.mode == ConversationMode::Bot && conversation.state != ConversationState::Closed
    {
        handling.effects.push(Effect::InactivityTimer {
            due_at: conversation.last_activity_at + ports.config.inactivity,
        });
    }
    conversation.bot_messages += replies.len() as u32;
    conversation.contact_kind = profile.kind;
    let topic = conversation.topics.last().cloned();
    inbound_after.facts = Some(MessageFacts {
        mode: mode_on_arrival,
        topic: topic.clone(),
        response_seconds: None,
    });
    // Only the first reply answers the wait.
    let mut response_seconds = if replies.is_empty() {
        None
    } else {
        conversation.answered(now)
    };
    if handed_over_now {
        // Lisa's "I hand you over" is no answer: the wait for the agent starts with the ask.
        conversation.waiting_since = Some(inbound.at);
    }

    // Replies sort after the message they answer, even within one millisecond.
    let reply_clock = now.max(inbound.at + Duration::milliseconds(1));
    let mut generator = ulid::Generator::new();
    let mut writes = Vec::new();
    let mut reply_records = Vec::new();
    for content in replies {
        let id = generator
            .generate_from_datetime(reply_clock.into())
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let facts = MessageFacts {
            mode: ConversationMode::Bot,
            topic: topic.clone(),
            response_seconds: response_seconds.take(),
        };
        let reply = Message::outbound(id, conversation.id, Actor::Bot, content, now, Some(facts));
        handling.replies.push(id);
        let write = Write::Create(Record::new(
            ItemKey::message(contact, id),
            &reply,
            // Lisa's own messages are messages with the bot, whatever follows.
            RetentionClass::Bot7d,
            now,
        )?);
        reply_records.push(write.committed());
        writes.push(write);
    }
    inbound_after.handling = Some(handling);

    let mut inbound_record = inbound_record;
    inbound_record.set_body(&inbound_after)?;
    inbound_record.retention = inbound_class;
    inbound_record.expires_at = inbound_class.deadline(inbound.at);
    let inbound_write = Write::Update(inbound_record);
    let inbound_record = inbound_write.committed();
    writes.push(inbound_write);

    let mut profile_record = profile_record;
    let class_changed = profile_record.retention != profile_class;
    profile_record.set_body(&profile)?;
    profile_record.retention = profile_class;
    profile_record.expires_at = profile_class.deadline(profile.last_contact_at);
    if class_changed {
        // The contact's identity links live as long as the contact: they change class with it.
        let identities = Identities {
            store: ports.store.as_ref(),
            pseudonymizer: &ports.pseudonymizer,
        };
        writes.extend(
            identities
                .links_following(&profile, profile_class, profile_record.expires_at)
                .await
                .map_err(|e| match e {
                    IdentityError::Store(e) => e,
                    other => StoreError::Backend(other.to_string()),
                })?,
        );
    }
    writes.push(Write::Update(profile_record));

    let conversation_key = ItemKey::conversation(contact, conversation.id);
    // Service data of a contact shares the contact's sliding deadline (their last contact);
    // a bot conversation lasts seven days from its last activity.
    let conversation_deadline = match conversation_class {
        RetentionClass::Service13m => conversation_class.deadline(profile.last_contact_at),
        _ => conversation_class.deadline(conversation.last_activity_at),
    };
    writes.push(match conversation_record {
        Some(mut r) => {
            r.set_body(&conversation)?;
            r.retention = conversation_class;
            r.expires_at = conversation_deadline;
            Write::Update(r)
        }
        None => Write::Create(Record::with_deadline(
            conversation_key,
            &conversation,
            conversation_class,
            conversation_deadline,
        )?),
    });
    if auth != auth_before {
        // Lock-out state lives as long as a bot conversation; the lock itself lasts a day.
        writes.push(match auth_record {
            Some(mut r) => {
                r.set_body(&auth)?;
                r.expires_at = RetentionClass::Bot7d.deadline(now);
                Write::Update(r)
            }
            None => Write::Create(Record::new(
                ItemKey::auth_attempts(contact),
                &auth,
                RetentionClass::Bot7d,
                now,
            )?),
        });
    }
    ports.store.write_all(&writes).await?;
    Ok(Some(Decided {
        inbound_record,
        inbound: inbound_after,
        profile,
        replies: Some(reply_records),
    }))
}

/// Carries out a committed plan: sends what is still pending, then the effects.
async fn finish(contact: &Pseudonym, decided: Decided, ports: &Ports) -> Result<Outcome, BotError> {
    let Decided {
        inbound_record,
        inbound,
        profile,
        replies,
    } = decided;
    let Some(handling) = inbound.handling.clone() else {
        return Ok(Outcome::Gone);
    };
    let conversation = ConversationRef {
        contact: contact.clone(),
        conversation: inbound.conversation_id.unwrap_or(inbound.id),
    };

    if !handling.replies.is_empty()
        && let Some(wamid) = &inbound.wamid
        && let Err(e) = ports.whatsapp.mark_read(wamid, true).await
    {
        // Blue ticks are a courtesy; the answer matters more.
        tracing::warn!(error = %e, "marking the message read failed");
    }
    let replies = match replies {
        Some(records) => records,
        None => {
            let mut records = Vec::new();
            for id in &handling.replies {
                records.extend(ports.store.get(&ItemKey::message(contact, *id)).await?);
            }
            records
        }
    };
    let mut sent = 0;
    for record in replies {
        if send_pending(record, &profile, ports).await? == Delivery::Sent {
            sent += 1;
        }
    }

    let now = ports.clock.now();
    let mut outcome = if handling.effects.contains(&Effect::ForwardToDesk) {
        Outcome::Forwarded
    } else if handling.effects.contains(&Effect::ForwardToSurvey) {
        Outcome::ToSurvey
    } else if handling.replies.is_empty() {
        Outcome::Filed
    } else {
        Outcome::Answered { sent }
    };
    for effect in &handling.effects {
        match effect {
            Effect::Handover { topic } => {
                let event = DeskEvent::Handover {
                    conversation: conversation.clone(),
                    topic: topic.clone(),
                    customer_ref: profile.customer_ref.clone(),
                    profile_name: profile.profile_name.clone(),
                    contact_kind: profile.kind,
                    summary: summary(contact, conversation.conversation, ports).await?,
                    at: now,
                };
                ports
                    .desk_queue
                    .send(event.to_queue_message(&format!("handover-{}", inbound.id)))
                    .await?;
            }
            Effect::ForwardToDesk => {
                let event = DeskEvent::CustomerMessage {
                    conversation: conversation.clone(),
                    message: inbound.id,
                    text: inbound.content.preview(),
                    at: inbound.at,
                };
                ports
                    .desk_queue
                    .send(event.to_queue_message(&format!("message-{}", inbound.id)))
                    .await?;
            }
            Effect::ForwardToSurvey => {
                let reply = SurveyReply {
                    survey_reply: inbound_record.key.clone(),
                };
                ports.survey_queue.send(reply.to_queue_message()).await?;
            }
            Effect::Closed { reason } => {
                announce_closed(&conversation, *reason, now, ports).await?;
            }
            Effect::InactivityTimer { due_at } => {
                let timer = BotWork::InactivityTimer(InactivityTimer {
                    conversation: conversation.clone(),
                    due_at: *due_at,
                });
                ports.timer_queue.send(timer.to_queue_message(now)).await?;
            }
            Effect::Erase => {
                use servicekanal_shared::privacy;
                // The contact, contacts merged into it and its phone number's calls.
                let mut person = privacy::Person::of(contact.clone());
                privacy::expand(ports.store.as_ref(), &ports.pseudonymizer, &mut person)
                    .await
                    .map_err(|e| match e {
                        privacy::PrivacyError::Store(e) => e,
                        other => StoreError::Backend(other.to_string()),
                    })?;
                let report = privacy::erase(ports.store.as_ref(), &person).await?;
                tracing::info!(
                    items = report.total(),
                    held = report.held,
                    "contact erased on request"
                );
                outcome = Outcome::Erased;
            }
        }
    }
    if outcome != Outcome::Erased {
        mark_done(inbound_record, inbound, ports).await?;
    }
    Ok(outcome)
}

async fn mark_done(
    mut record: Record,
    mut message: Message,
    ports: &Ports,
) -> Result<(), BotError> {
    if let Some(h) = &mut message.handling {
        h.done = true;
    }
    record.set_body(&message)?;
    match ports.store.update(&record).await {
        // Changed meanwhile, or erased: the plan stays undone and a redelivery finds nothing
        // left to do.
        Ok(_) | Err(StoreError::VersionConflict { .. } | StoreError::NotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Delivery {
    Sent,
    /// Sent before (a retry), or gone.
    Nothing,
    /// WhatsApp will never take it (or the window closed): stored as failed.
    Failed(Option<i64>),
}

/// Sends one stored outbound message if it is still pending.
async fn deliver(
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
async fn send_pending(
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
            Ok(Delivery::Failed(e.code()))
        }
        Err(e) => Err(e.into()),
    }
}

/// The conversation's last messages, oldest first, for the agent taking over.
async fn summary(
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

async fn reject(
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
    ports
        .desk_queue
        .send(event.to_queue_message(&format!("rejected-{}", action.action_id)))
        .await?;
    Ok(Outcome::AgentReplyRejected(reason))
}

async fn on_agent_action(action: &AgentAction, ports: &Ports) -> Result<Outcome, BotError> {
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

async fn on_inactivity(timer: &InactivityTimer, ports: &Ports) -> Result<Outcome, BotError> {
    let Some(mut record) = ports.store.get(&timer.conversation.key()).await? else {
        return Ok(Outcome::Gone);
    };
    let mut conversation: Conversation = record.body()?;
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
            record.set_body(&conversation)?;
            ports.store.update(&record).await?;
        }
    }
    let at = conversation.ended_at.unwrap_or(now);
    announce_closed(&timer.conversation, EndReason::Inactivity, at, ports).await?;
    Ok(Outcome::ClosedForInactivity)
}

/// Tells the survey that a conversation ended (sent again on a retry; the FIFO queue drops
/// the repeat).
async fn announce_closed(
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inactivity_is_configurable_and_nonsense_is_refused() {
        let with = |value: &str| {
            let value = value.to_owned();
            BotConfig::from_lookup(move |name| {
                (name == BotConfig::INACTIVITY_VAR).then(|| value.clone())
            })
        };
        assert_eq!(
            BotConfig::from_lookup(|_| None).unwrap().inactivity,
            Duration::minutes(30)
        );
        assert_eq!(with("45").unwrap().inactivity, Duration::minutes(45));
        for bad in ["0", "-5", "zehn", "1441", ""] {
            assert_eq!(
                with(bad).unwrap_err(),
                ConfigError::InactivityMinutes {
                    name: BotConfig::INACTIVITY_VAR,
                    value: bad.into()
                }
            );
        }
    }

    #[test]
    fn customer_messages_map_to_lisas_input() {
        let message = |message_type, content| Message {
            id: Ulid::nil(),
            conversation_id: None,
            wamid: None,
            direction: Direction::Inbound,
            actor: Actor::Customer,
            message_type,
            content,
            at: DateTime::UNIX_EPOCH,
            delivery: DeliveryStatus::Received,
            error_code: None,
            handling: None,
            facts: None,
            pricing: None,
        };
        let text = MessageContent::Text {
            body: "Hallo".into(),
        };
        assert_eq!(
            input_of(&message(MessageType::Text, text.clone())),
            Some(Input::Text("Hallo".into()))
        );
        // A system notice ("number changed") is not the customer talking to Lisa.
        assert_eq!(input_of(&message(MessageType::System, text)), None);
        let choice = MessageContent::Choice {
            id: "kind-customer".into(),
            title: "Ja".into(),
        };
        assert_eq!(
            input_of(&message(MessageType::Interactive, choice)),
            Some(Input::Choice("kind-customer".into()))
        );
        let reaction = MessageContent::Reaction {
            emoji: "👍".into(),
            message_id: "wamid.x".into(),
        };
        assert_eq!(input_of(&message(MessageType::Reaction, reaction)), None);
        let photo = MessageContent::Media {
            media_id: "m".into(),
            mime_type: None,
            caption: None,
        };
        assert_eq!(
            input_of(&message(MessageType::Image, photo)),
            Some(Input::Other)
        );
    }
}
