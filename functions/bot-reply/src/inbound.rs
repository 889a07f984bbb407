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

/// At most this many followers join one message's turn, so a flood of messages within the
/// burst window never makes a decision too large for one transaction (each follower is one
/// write of it; DynamoDB takes 100).
pub(crate) const MAX_FOLLOWERS: usize = 50;

/// How many times a decision is retaken when a concurrent writer (the webhook updating the
/// profile, an agent action) got there first.
pub(crate) const DECISION_ATTEMPTS: usize = 3;

pub(crate) async fn on_inbound(notice: &InboundNotice, ports: &Ports) -> Result<Outcome, BotError> {
    let contact = Pseudonym::from_partition(&notice.message.pk).ok_or_else(|| {
        BotError::Malformed(format!("{} is not a contact's message", notice.message))
    })?;
    let store = ports.store.as_ref();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let Some(inbound) = store.load::<Message>(&notice.message).await? else {
            return Ok(Outcome::Gone);
        };
        match &inbound.body.handling {
            Some(h) if h.done => return Ok(Outcome::AlreadyDone),
            // Decided before (a retry): carry out what is left.
            Some(_) => {
                let Some(profile) = store.load::<Contact>(&ItemKey::profile(&contact)).await?
                else {
                    return Ok(Outcome::Gone);
                };
                let decided = Decided {
                    inbound,
                    profile: profile.body,
                    replies: None,
                };
                return finish(&contact, decided, ports).await;
            }
            None => {}
        }
        // The burst as it settled (read once more only when a decision is retaken). Not
        // waited for when Lisa will not answer anyway (the contact is over the rate limit):
        // a flood costs no waiting, and what is there already still joins the turn.
        let settled = if attempt == 1
            && input_of(&inbound.body).is_some_and(|i| matches!(i, Input::Text(_)))
            && !rate_limited(&contact, &inbound.body, ports).await?
        {
            settle_burst(&contact, &inbound.body, ports).await?
        } else {
            None
        };
        match decide(&contact, inbound, settled, ports).await {
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
    inbound: Stored<Message>,
    profile: Contact,
    replies: Option<Vec<Record>>,
}

/// Lets Lisa decide on one inbound message and commits the decision with the changed state;
/// `settled` is its burst as just read, if it was. `None` if the contact is gone.
pub(crate) async fn decide(
    contact: &Pseudonym,
    inbound: Stored<Message>,
    settled: Option<Vec<Stored<Message>>>,
    ports: &Ports,
) -> Result<Option<Decided>, BotError> {
    let store = ports.store.as_ref();
    let Some(profile) = store.load::<Contact>(&ItemKey::profile(contact)).await? else {
        return Ok(None);
    };
    // While a survey runs (until it is finished or expires), messages answer it, not Lisa.
    if let Some(survey) = store
        .load::<SurveySession>(&ItemKey::survey_session(contact))
        .await?
        && !survey.body.finished
    {
        return file_for_survey(inbound, survey.body.conversation, profile.body, store)
            .await
            .map(Some);
    }
    let mut turn = Turn::load(contact, inbound, profile, ports).await?;
    if turn.takes_a_burst(ports) {
        let followers = match settled {
            Some(followers) => followers,
            None => burst_after(contact, &turn.arrived, ports).await?,
        };
        turn.absorb(followers);
    }
    let replies = turn.respond(ports).await?;
    let (writes, reply_records) = turn.writes(contact, replies, ports).await?;
    store.write_all(&writes).await?;
    let Turn {
        inbound, profile, ..
    } = turn;
    Ok(Some(Decided {
        inbound: inbound.committed()?,
        profile: profile.body,
        replies: Some(reply_records),
    }))
}

/// Files a message as an answer to the running survey: the survey function takes it.
async fn file_for_survey(
    mut inbound: Stored<Message>,
    conversation: Ulid,
    profile: Contact,
    store: &dyn Store,
) -> Result<Decided, BotError> {
    inbound.body.conversation_id = Some(conversation);
    inbound.body.handling = Some(Handling {
        effects: vec![Effect::ForwardToSurvey],
        ..Handling::default()
    });
    Ok(Decided {
        inbound: inbound.save(store).await?,
        profile,
        replies: Some(Vec::new()),
    })
}

/// One decision on one inbound message: the state it reads and changes, and the retention
/// classes that change with it.
struct Turn {
    inbound: Stored<Message>,
    /// The message as it arrived (what Lisa reads and the plan answers).
    arrived: Message,
    profile: Stored<Contact>,
    conversation: Stored<Conversation>,
    auth: Stored<AuthAttempts>,
    auth_before: AuthAttempts,
    /// The attempts on the customer number this message may be the password for, over all
    /// contacts (`CUST#<pseudonym>/AUTH`); `None` when Lisa waits for no password.
    number_auth: Option<Stored<AuthAttempts>>,
    number_auth_before: AuthAttempts,
    classes: ContactClasses,
    handling: Handling,
    mode_on_arrival: ConversationMode,
    handed_over_now: bool,
    /// Messages that followed within the burst window: understood with this one, answered
    /// once.
    followers: Vec<Stored<Message>>,
    /// How Lisa understood the text, and what she sent to review.
    understood: Option<Understood>,
    reviews: Vec<ReviewTrigger>,
    /// The message Lisa understood before this one (what a "did not help" refers to).
    previous_understood: Option<Ulid>,
}

impl Turn {
    /// Reads the state the message meets: the open conversation (or a new one, named after
    /// the message, so a retaken decision starts the same one) and the lock-out state.
    async fn load(
        contact: &Pseudonym,
        inbound: Stored<Message>,
        mut profile: Stored<Contact>,
        ports: &Ports,
    ) -> Result<Self, BotError> {
        let store = ports.store.as_ref();
        let now = ports.clock.now();
        let arrived = inbound.body.clone();
        let auth = match store
            .load::<AuthAttempts>(&ItemKey::auth_attempts(contact))
            .await?
        {
            Some(auth) => auth,
            None => Stored::new(
                ItemKey::auth_attempts(contact),
                AuthAttempts::default(),
                retention::AUTH_ATTEMPTS,
                now,
            ),
        };
        let open = match profile.body.current_conversation {
            Some(id) => store
                .load::<Conversation>(&ItemKey::conversation(contact, id))
                .await?
                .filter(|c| c.body.state != ConversationState::Closed),
            None => None,
        };
        let mut conversation = match open {
            Some(conversation) => conversation,
            None => Stored::new(
                ItemKey::conversation(contact, arrived.id),
                Conversation::start(arrived.id, Channel::Whatsapp, arrived.at),
                retention::NEW_CONVERSATION,
                arrived.at,
            ),
        };
        profile.body.current_conversation = Some(conversation.body.id);
        let number_auth = match Lisa::customer_number_to_check(&conversation.body) {
            Some(number) => {
                let key =
                    ItemKey::customer_number_attempts(&ports.pseudonymizer.customer_number(number));
                Some(match store.load::<AuthAttempts>(&key).await? {
                    Some(attempts) => attempts,
                    None => {
                        Stored::new(key, AuthAttempts::default(), retention::AUTH_ATTEMPTS, now)
                    }
                })
            }
            None => None,
        };
        let previous_understood = conversation.body.last_understood;
        conversation.body.customer_wrote(arrived.at, now);
        if arrived.wamid.is_some() {
            conversation.body.last_customer_wamid = arrived.wamid.clone();
        }
        let classes = ContactClasses::as_stored(
            profile.retention(),
            conversation.exists().then(|| conversation.retention()),
            inbound.retention(),
        );
        let mut inbound = inbound;
        inbound.body.conversation_id = Some(conversation.body.id);
        Ok(Self {
            mode_on_arrival: conversation.body.mode,
            auth_before: auth.body.clone(),
            number_auth_before: number_auth
                .as_ref()
                .map(|a| a.body.clone())
                .unwrap_or_default(),
            number_auth,
            inbound,
            arrived,
            profile,
            conversation,
            auth,
            classes,
            handling: Handling::default(),
            previous_understood,
            handed_over_now: false,
            followers: Vec::new(),
            understood: None,
            reviews: Vec::new(),
        })
    }

    /// Whether followers join this message: a text to Lisa while she asks nothing (a customer
    /// number or a password is never mixed with what follows).
    fn takes_a_burst(&self, ports: &Ports) -> bool {
        ports.config.burst_window > Duration::zero()
            && self.conversation.body.mode == ConversationMode::Bot
            && self.conversation.body.awaiting == Awaiting::Nothing
            && matches!(input_of(&self.arrived), Some(Input::Text(_)))
    }

    /// Takes the followers into this turn: one concern, one input, one answer. Each is
    /// filed in the conversation, counted, and marked done, so its own notice finds nothing
    /// left to do.
    fn absorb(&mut self, followers: Vec<Stored<Message>>) {
        for mut follower in followers {
            if let (MessageContent::Text { body: ours }, MessageContent::Text { body: theirs }) =
                (&mut self.arrived.content, &follower.body.content)
            {
                ours.push('\n');
                ours.push_str(theirs);
            }
            let at = follower.body.at;
            self.conversation.body.customer_messages += 1;
            self.conversation.body.last_activity_at =
                self.conversation.body.last_activity_at.max(at);
            follower.body.conversation_id = Some(self.conversation.body.id);
            follower.body.handling = Some(Handling {
                done: true,
                ..Handling::default()
            });
            self.followers.push(follower);
        }
    }

    /// Lets Lisa answer (or, while an agent holds the conversation, forwards to the desk);
    /// returns her replies and plans the effects.
    async fn respond(&mut self, ports: &Ports) -> Result<Vec<OutboundContent>, BotError> {
        let now = ports.clock.now();
        let mut replies = Vec::new();
        if self.conversation.body.mode == ConversationMode::Agent {
            // Lisa is silent; the agent reads it on the desk.
            self.classes.written_to_agent();
            self.handling.effects.push(Effect::ForwardToDesk);
        } else if let Some(input) = input_of(&self.arrived) {
            // A password is always checked (and so redacted); anything else counts against
            // the contact's rate limit.
            let password = matches!(input, Input::Text(_))
                && Lisa::customer_number_to_check(&self.conversation.body).is_some();
            let at = self.arrived.at.min(now);
            let actions =
                match pace::admit(&mut self.profile.body.pace, at, &ports.config, password) {
                    pace::Admission::Answer => {
                        let mut scratch = AuthAttempts::default();
                        let state = State {
                            contact: &mut self.profile.body,
                            conversation: &mut self.conversation.body,
                            auth: &mut self.auth.body,
                            number_auth: match &mut self.number_auth {
                                Some(attempts) => &mut attempts.body,
                                None => &mut scratch,
                            },
                        };
                        ports
                            .lisa
                            .respond(state, input, now, ports.directory.as_ref())
                            .await?
                    }
                    pace::Admission::Notice => {
                        tracing::info!(
                            rate_limited = 1,
                            "contact writes faster than the rate limit: told once, kept unanswered"
                        );
                        vec![Action::Reply(OutboundContent::Text {
                            body: ports.lisa.rate_limit_notice(&self.profile.body),
                        })]
                    }
                    // Kept in the conversation (counted, filed), unanswered.
                    pace::Admission::Quiet => Vec::new(),
                };
            for action in actions {
                match action {
                    Action::Reply(content) => replies.push(content),
                    Action::RedactIncoming => self.inbound.body.content = MessageContent::Redacted,
                    Action::Authenticated(_) => self.classes.authenticated(),
                    Action::Handover { topic } => {
                        self.handed_over_now = true;
                        self.classes.handed_over();
                        self.handling.effects.push(Effect::Handover { topic });
                    }
                    Action::Close(reason) => {
                        self.conversation.body.close(reason, now);
                        self.handling.effects.push(Effect::Closed { reason });
                    }
                    Action::Erase => self.handling.effects.push(Effect::Erase),
                    Action::Understood(understood) => self.understood = Some(understood),
                    Action::Review(trigger) => self.reviews.push(trigger),
                }
            }
        }
        if self.understood.is_some() {
            self.conversation.body.last_understood = Some(self.arrived.id);
        }
        if !service_window_open(self.profile.body.last_contact_at, now) && !replies.is_empty() {
            // Only possible for a message that waited in the queue for a day: say nothing.
            tracing::warn!(
                replies = replies.len(),
                "replies dropped: outside the 24-hour window"
            );
            replies.clear();
        }
        let conversation = &mut self.conversation.body;
        if conversation.mode == ConversationMode::Bot
            && conversation.state != ConversationState::Closed
        {
            self.handling.effects.push(Effect::InactivityTimer {
                due_at: conversation.last_activity_at + ports.config.inactivity,
            });
        }
        conversation.bot_messages += replies.len() as u32;
        conversation.contact_kind = self.profile.body.kind;
        Ok(replies)
    }

    /// The review items this turn raises, each once per message: this message when Lisa
    /// was unsure or asked between two topics, the one she understood before when her answer
    /// did not help or a handover followed it. The text is scrubbed before it is stored.
    async fn review_items(
        &self,
        contact: &Pseudonym,
        ports: &Ports,
    ) -> Result<Vec<Write>, BotError> {
        let store = ports.store.as_ref();
        let known = KnownNames {
            names: [
                &self.profile.body.profile_name,
                &self.profile.body.username,
                &self.profile.body.company_name,
            ]
            .into_iter()
            .flatten()
            .cloned()
            .collect(),
        };
        let mut writes = Vec::new();
        let mut reviewed = Vec::new();
        for &trigger in &self.reviews {
            let target = match trigger {
                ReviewTrigger::Unsure | ReviewTrigger::BetweenTwo => Some((
                    self.arrived.clone(),
                    self.understood.clone(),
                    self.inbound.expires_at(),
                )),
                ReviewTrigger::NotHelpful | ReviewTrigger::HandoverAfterAnswer => {
                    match self.previous_understood {
                        Some(id) => store
                            .load::<Message>(&ItemKey::message(contact, id))
                            .await?
                            .map(|m| {
                                let understood =
                                    m.body.facts.as_ref().and_then(|f| f.understood.clone());
                                let deadline = m.expires_at();
                                (m.body, understood, deadline)
                            }),
                        None => None,
                    }
                }
            };
            let Some((message, Some(understood), deadline)) = target else {
                continue;
            };
            let MessageContent::Text { body } = &message.content else {
                continue;
            };
            let key = ItemKey::review_item(message.id);
            if reviewed.contains(&message.id) || store.get(&key).await?.is_some() {
                continue;
            }
            reviewed.push(message.id);
            let item = ReviewItem {
                text: scrub(body, &known),
                guess: understood.guess,
                confidence: (understood.confidence * 100.0).round().clamp(0.0, 100.0) as u8,
                trigger,
                day: message.at.date_naive(),
            };
            let record = Record::new(key, &item, retention::REVIEW_ITEM, Anchor::With(deadline))?
                .owned_by(contact);
            writes.push(Write::Create(record));
        }
        Ok(writes)
    }

    /// The decision as one transaction: the replies as pending messages, the message with its
    /// plan, and every changed item with its retention. Returns the reply records as written.
    async fn writes(
        &mut self,
        contact: &Pseudonym,
        replies: Vec<OutboundContent>,
        ports: &Ports,
    ) -> Result<(Vec<Write>, Vec<Record>), BotError> {
        let now = ports.clock.now();
        let topic = self.conversation.body.topics.last().cloned();
        self.inbound.body.facts = Some(MessageFacts {
            mode: self.mode_on_arrival,
            topic: topic.clone(),
            response_seconds: None,
            understood: self.understood.clone(),
            sent_to_review: !self.reviews.is_empty(),
        });
        // Only the first reply answers the wait.
        let mut response_seconds = if replies.is_empty() {
            None
        } else {
            self.conversation.body.answered(now)
        };
        if self.handed_over_now {
            // Lisa's "I hand you over" is no answer: the wait for the agent starts with the ask.
            self.conversation.body.waiting_since = Some(self.arrived.at);
        }
        // Replies sort after the message they answer, even within one millisecond.
        let reply_clock = now.max(self.arrived.at + Duration::milliseconds(1));
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
                understood: None,
                sent_to_review: false,
            };
            let reply = Message::outbound(
                id,
                self.conversation.body.id,
                Actor::Bot,
                content,
                now,
                Some(facts),
            );
            self.handling.replies.push(id);
            let write = Write::Create(Record::new(
                ItemKey::message(contact, id),
                &reply,
                retention::BOT_MESSAGE,
                now,
            )?);
            reply_records.push(write.committed());
            writes.push(write);
        }
        self.inbound.body.handling = Some(std::mem::take(&mut self.handling));

        let last_contact = self.profile.body.last_contact_at;
        let ContactClasses {
            contact: contact_class,
            conversation: conversation_class,
            message: message_class,
        } = self.classes;
        self.inbound.retain(
            message_class,
            Anchor::Contact {
                at: self.arrived.at,
                last_contact,
            },
        );
        writes.push(self.inbound.clone().into_write()?);
        for mut follower in std::mem::take(&mut self.followers) {
            follower.body.facts = self.inbound.body.facts.clone();
            let class = self.classes.message;
            follower.retain(
                class,
                Anchor::Contact {
                    at: follower.body.at,
                    last_contact,
                },
            );
            writes.push(follower.into_write()?);
        }

        writes.extend(self.review_items(contact, ports).await?);

        let class_changed = self.profile.retention() != contact_class;
        // The profile is the anchor of its contact's data: it counts from the last contact.
        self.profile.retain(contact_class, last_contact);
        if class_changed {
            // The contact's identity links live as long as the contact: they change class with it.
            let identities = Identities {
                store: ports.store.as_ref(),
                pseudonymizer: &ports.pseudonymizer,
            };
            writes.extend(
                identities
                    .links_following(&self.profile.body, contact_class, self.profile.expires_at())
                    .await
                    .map_err(|e| match e {
                        IdentityError::Store(e) => e,
                        other => StoreError::Backend(other.to_string()),
                    })?,
            );
        }
        writes.push(self.profile.clone().into_write()?);

        self.conversation.retain(
            conversation_class,
            Anchor::Contact {
                at: self.conversation.body.last_activity_at,
                last_contact,
            },
        );
        writes.push(self.conversation.clone().into_write()?);
        if self.auth.body != self.auth_before {
            // Lock-out state lives as long as a bot conversation; the lock itself lasts a day.
            self.auth.retain(retention::AUTH_ATTEMPTS, now);
            writes.push(self.auth.clone().into_write()?);
        }
        if let Some(number_auth) = &mut self.number_auth
            && number_auth.body != self.number_auth_before
        {
            // The number's attempts live only while they matter: until the lock ends, or the
            // window its failures count in. Written conditionally (created if absent, else
            // at the version read), so attempts from many contacts at once all count: a
            // concurrent one makes this decision be taken again.
            let until = ports
                .lisa
                .attempts_matter_until(&number_auth.body)
                .unwrap_or(now);
            number_auth.retain(retention::AUTH_ATTEMPTS, Anchor::Until { at: now, until });
            writes.push(number_auth.clone().into_write()?);
        }
        Ok((writes, reply_records))
    }
}

/// Carries out a committed plan: sends what is still pending, then the effects.
pub(crate) async fn finish(
    contact: &Pseudonym,
    decided: Decided,
    ports: &Ports,
) -> Result<Outcome, BotError> {
    let Decided {
        inbound: stored_inbound,
        profile,
        replies,
    } = decided;
    let inbound = &stored_inbound.body;
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
                let handover = Handover {
                    conversation: conversation.clone(),
                    topic: topic.clone(),
                    customer_ref: profile.customer_ref.clone(),
                    profile_name: profile.profile_name.clone(),
                    contact_kind: profile.kind,
                    summary: summary(contact, conversation.conversation, ports).await?,
                    at: now,
                };
                let request = format!("handover-{}", inbound.id);
                hand_over(&handover, &request, &profile, ports).await?;
            }
            Effect::ForwardToDesk => {
                let event = DeskEvent::CustomerMessage {
                    conversation: conversation.clone(),
                    message: inbound.id,
                    text: inbound.content.preview(),
                    at: inbound.at,
                };
                tell_desk(
                    &conversation,
                    &event,
                    &format!("message-{}", inbound.id),
                    ports,
                )
                .await?;
            }
            Effect::ForwardToSurvey => {
                let reply = SurveyReply {
                    survey_reply: stored_inbound.key().clone(),
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
                use servicekanal_shared::policy::privacy;
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
        mark_done(stored_inbound, ports).await?;
    }
    Ok(outcome)
}

pub(crate) async fn mark_done(mut message: Stored<Message>, ports: &Ports) -> Result<(), BotError> {
    if let Some(h) = &mut message.body.handling {
        h.done = true;
    }
    match message.save(ports.store.as_ref()).await {
        // Changed meanwhile, or erased: the plan stays undone and a redelivery finds nothing
        // left to do.
        Ok(_) | Err(StoreError::VersionConflict { .. } | StoreError::NotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Whether the contact is over the rate limit for `message` (only asked when a burst would be
/// waited for: one read of the profile).
async fn rate_limited(
    contact: &Pseudonym,
    message: &Message,
    ports: &Ports,
) -> Result<bool, BotError> {
    if ports.config.burst_window <= Duration::zero() {
        return Ok(false);
    }
    let at = message.at.min(ports.clock.now());
    Ok(ports
        .store
        .load::<Contact>(&ItemKey::profile(contact))
        .await?
        .is_some_and(|profile| pace::spent(&profile.body.pace, at, &ports.config)))
}

/// Waits until no follower of `first` can still arrive: `burst_window` after the newest
/// message of its burst (at most a few windows, however fast someone types). Returns the
/// burst as read after the wait; `None` when bursts are off.
async fn settle_burst(
    contact: &Pseudonym,
    first: &Message,
    ports: &Ports,
) -> Result<Option<Vec<Stored<Message>>>, BotError> {
    let window = ports.config.burst_window;
    if window <= Duration::zero() {
        return Ok(None);
    }
    let give_up = first.at + window * 5;
    loop {
        let burst = burst_after(contact, first, ports).await?;
        if burst.len() == MAX_FOLLOWERS {
            // As many as one turn takes: the rest are answered (or filed) in turns of their own.
            return Ok(Some(burst));
        }
        let newest = burst.last().map_or(first.at, |m| m.body.at);
        let wait = ports.clock.pass_until((newest + window).min(give_up));
        if wait.is_zero() {
            return Ok(Some(burst));
        }
        tokio::time::sleep(wait).await;
    }
}

/// The undecided text messages of the contact that followed `first`, each within the burst
/// window of the one before, oldest first (within one second in id order: WhatsApp's
/// timestamps have no finer resolution). Message ids carry their time, so two prefix
/// queries (about 33 seconds each) find them without reading the contact's history.
async fn burst_after(
    contact: &Pseudonym,
    first: &Message,
    ports: &Ports,
) -> Result<Vec<Stored<Message>>, BotError> {
    let window = ports.config.burst_window;
    let partition = contact.partition();
    let mut candidates = Vec::new();
    let mut prefixes = vec![time_prefix(first.at), time_prefix(first.at + window * 5)];
    prefixes.dedup();
    for prefix in prefixes {
        let sk_prefix = format!("{MESSAGE_PREFIX}{prefix}");
        let records = all_pages(50, |page| ports.store.query(&partition, &sk_prefix, page)).await?;
        for record in records {
            candidates.push(Stored::<Message>::read(record)?);
        }
    }
    // WhatsApp dates messages in whole seconds, and ids of one second sort by a hash: every
    // undecided message of the contact from `first`'s second on is a candidate (the FIFO
    // queue hands `first` over only after everything that arrived before it was decided).
    // What was decided already came before `first` (decisions follow the queue's order).
    candidates.retain(|m| {
        m.body.id != first.id
            && m.body.at >= first.at
            && m.body.direction == Direction::Inbound
            && m.body.handling.is_none()
    });
    candidates.sort_by_key(|m| (m.body.at, m.body.id));
    let mut burst = Vec::new();
    let mut last_at = first.at;
    for message in candidates {
        let follows = message.body.at - last_at <= window
            && matches!(input_of(&message.body), Some(Input::Text(_)));
        if !follows || burst.len() == MAX_FOLLOWERS {
            break;
        }
        last_at = message.body.at;
        burst.push(message);
    }
    Ok(burst)
}

/// The first seven characters of the ids of messages stored at `at`: a ULID's time in
/// 5-bit steps, so one prefix spans 2^15 ms (about 33 seconds).
fn time_prefix(at: DateTime<Utc>) -> String {
    let id = Ulid::from_parts(at.timestamp_millis().max(0) as u64, 0).to_string();
    id[..7].to_owned()
}
