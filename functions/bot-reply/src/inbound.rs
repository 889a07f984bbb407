//! An inbound message: Lisa decides (one transaction: her replies as pending messages, the
//! changed state and the plan), then the plan is carried out (`finish`).

use super::*;

/// What Lisa reads of a customer message; `None` for what needs no answer.
pub(crate) fn input_of(message: &Message) -> Option<Input> {
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
pub(crate) const DECISION_ATTEMPTS: usize = 3;

pub(crate) async fn on_inbound(notice: &InboundNotice, ports: &Ports) -> Result<Outcome, BotError> {
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
pub(crate) struct Decided {
    inbound_record: Record,
    inbound: Message,
    profile: Contact,
    replies: Option<Vec<Record>>,
}

/// Lets Lisa decide on one inbound message and commits the decision with the changed state.
/// `None` if the contact is gone.
pub(crate) async fn decide(
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
pub(crate) async fn finish(
    contact: &Pseudonym,
    decided: Decided,
    ports: &Ports,
) -> Result<Outcome, BotError> {
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

pub(crate) async fn mark_done(
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
