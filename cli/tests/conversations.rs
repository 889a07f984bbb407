//! Conversation scripts through the real handlers: a signed webhook POST per customer message,
//! the inbound queue, bot-reply with Lisa, the recording outbox; the agent desk through the
//! handover and agent-actions queues. Each asserts exactly what the customer sees.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use servicekanal_shared::channels::whatsapp::outbox::RecordingOutbox;
use servicekanal_shared::channels::whatsapp::payload::UserMessage;
use servicekanal_shared::channels::whatsapp::{
    OutboundContent, Recipient, Sent, WhatsApp, WhatsAppError,
};
use servicekanal_shared::domain::keys::{ItemKey, MESSAGE_PREFIX};
use servicekanal_shared::domain::messages::{
    AgentAct, AgentAction, ConversationRef, DeskEvent, Handover, RejectReason,
};
use servicekanal_shared::domain::{
    Actor, Contact, Conversation, ConversationMode, ConversationState, DeliveryStatus, Direction,
    EndReason, Message, MessageContent,
};
use servicekanal_shared::lisa::dialogue::ids;
use servicekanal_shared::policy::retention::RetentionClass;
use servicekanal_shared::ports::clock::{Clock, ManualClock};
use servicekanal_shared::ports::queue::Queue;
use servicekanal_shared::ports::store::{PageRequest, Record, Store};
use servicekanal_testing::LogCapture;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use ulid::Ulid;

use crate::common;

use common::{Chat, ERIKA, ERIKA_NAME, render, start};

impl Chat {
    fn fill(&self, template: &str) -> String {
        template
            .replace("{bot}", &self.config.bot_name)
            .replace("{name}", ERIKA_NAME)
            .replace("{hotline}", &self.config.hotline)
            .replace("{email}", &self.config.email)
            .replace("{website}", &self.config.website)
    }

    fn answer(&self, topic: &str) -> String {
        let topic = self.catalogue.get(topic).unwrap();
        match &topic.link {
            Some(link) => format!("{} <{}>", topic.answer, link.url),
            None => topic.answer.clone(),
        }
    }

    fn helpful(&self) -> String {
        format!(
            "{} [{} | {}]",
            self.lisa.ask_helpful,
            ids::HELPFUL_YES,
            ids::HELPFUL_NO
        )
    }

    fn greeting_with_kind_question(&self) -> String {
        format!(
            "{} {} [{} | {}]",
            self.fill(&self.lisa.greeting_named),
            self.lisa.ask_kind,
            ids::KIND_CUSTOMER,
            ids::KIND_PROSPECT
        )
    }

    async fn conversation(&self) -> (Record, Conversation) {
        let (_, profile) = self.profile().await.expect("a profile");
        let key = ItemKey::conversation(&self.contact(), profile.current_conversation.unwrap());
        let record = self.stack.store.get(&key).await.unwrap().expect("stored");
        let conversation = record.body().unwrap();
        (record, conversation)
    }

    pub(crate) async fn messages(&self) -> Vec<(Record, Message)> {
        self.stack
            .store
            .query(
                &self.contact().partition(),
                MESSAGE_PREFIX,
                PageRequest::first(1000),
            )
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|r| {
                let m = r.body().unwrap();
                (r, m)
            })
            .collect()
    }

    async fn agent(&mut self, conversation: &ConversationRef, act: AgentAct) -> Vec<String> {
        self.clock.advance(Duration::seconds(30));
        self.stack
            .agent_acts(AgentAction {
                action_id: Ulid::from_datetime(self.clock_now().into()),
                conversation: conversation.clone(),
                agent: "agent-07".into(),
                act,
            })
            .await
            .unwrap();
        self.news()
    }

    fn clock_now(&self) -> DateTime<Utc> {
        use servicekanal_shared::ports::clock::Clock;
        self.clock.now()
    }

    /// Authenticates with the right password after asking for an agent; returns the handover.
    async fn hand_over(&mut self) -> (ConversationRef, DeskEvent) {
        self.say("Ich möchte mit einem Mitarbeiter sprechen").await;
        self.say("K1002003").await;
        let handed = self.say("Sommer2026!").await;
        assert_eq!(handed, [self.lisa.handover.as_str()]);
        let events = self.stack.desk_events().await.unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        let DeskEvent::Handover(Handover { conversation, .. }) = &events[0] else {
            panic!("expected a handover, got {events:?}");
        };
        (conversation.clone(), events[0].clone())
    }
}

#[tokio::test]
async fn a_prospect_hears_about_tariffs_and_is_sent_elsewhere_for_the_rest() {
    let mut chat = Chat::lisa_only();
    assert_eq!(
        chat.say("Hallo").await,
        [chat.greeting_with_kind_question()]
    );
    assert_eq!(
        chat.tap(ids::KIND_PROSPECT).await,
        [chat.lisa.prospect_welcome.clone()]
    );
    assert_eq!(
        chat.say("Was kostet bei euch ein Tarif mit 20 GB?").await,
        [chat.answer("tariffs"), chat.helpful()]
    );
    assert_eq!(
        chat.say("Meine Rechnung ist zu hoch").await,
        [chat.fill(&chat.lisa.prospect_redirect)]
    );
    let (record, profile) = chat.profile().await.unwrap();
    assert_eq!(
        profile.kind,
        servicekanal_shared::domain::ContactKind::Prospect
    );
    assert_eq!(record.retention, RetentionClass::Bot7d);
    // Every message of the chat is stored, Lisa's as sent (WhatsApp's `sent` status, with
    // its pricing: free service messages inside the 24 hours), in order.
    let messages = chat.messages().await;
    assert_eq!(messages.len(), 4 + 5);
    assert!(
        messages
            .iter()
            .all(|(r, _)| r.retention == RetentionClass::Bot7d)
    );
    let outbound: Vec<_> = messages
        .iter()
        .filter(|(_, m)| m.direction == Direction::Outbound)
        .collect();
    assert!(
        outbound
            .iter()
            .all(|(_, m)| m.delivery == DeliveryStatus::Sent
                && m.wamid.is_some()
                && m.actor == Actor::Bot
                && m.pricing
                    == Some(servicekanal_shared::domain::Pricing {
                        category: Some("service".into()),
                        kind: Some("free_customer_service".into()),
                    }))
    );
    assert!(chat.stack.desk_events().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_customer_gets_an_answer_with_link_and_the_question_whether_it_helped() {
    let mut chat = Chat::lisa_only();
    chat.say("Hi").await;
    assert_eq!(
        chat.tap(ids::KIND_CUSTOMER).await,
        [chat.lisa.ask_concern.clone()]
    );
    assert_eq!(
        chat.say("Wie aktiviere ich meine neue SIM-Karte?").await,
        [chat.answer("sim-activation"), chat.helpful()]
    );
    assert_eq!(
        chat.tap(ids::HELPFUL_YES).await,
        [chat.lisa.glad_to_help.clone()]
    );
    assert_eq!(
        chat.say("Wo finde ich meine PUK?").await,
        [chat.answer("pin-puk"), chat.helpful()]
    );
    assert_eq!(
        chat.tap(ids::HELPFUL_NO).await,
        [format!(
            "{} [{} | {}]",
            chat.lisa.offer_agent,
            ids::AGENT_YES,
            ids::AGENT_NO
        )]
    );
    assert_eq!(
        chat.tap(ids::AGENT_NO).await,
        [chat.lisa.agent_declined.clone()]
    );
    let (_, conversation) = chat.conversation().await;
    assert_eq!(conversation.topics, ["sim-activation", "pin-puk"]);
    assert_eq!(conversation.customer_messages, 7);
    assert_eq!(conversation.bot_messages, 9);
    // Lisa marked every answered message read, with the typing indicator.
    let marks = chat.stack.outbox.read_marks();
    assert_eq!(marks.len(), 7);
    assert!(marks.iter().all(|(_, typing)| *typing));
}

#[tokio::test]
async fn failed_then_successful_authentication_hands_over_and_the_agent_takes_it_from_there() {
    let mut chat = Chat::lisa_only();
    chat.say("Hallo").await;
    chat.tap(ids::KIND_CUSTOMER).await;
    assert_eq!(
        chat.say("Ich will meinen Vertrag kündigen").await,
        [
            chat.lisa.contract_needs_agent.clone(),
            chat.lisa.ask_customer_number.clone()
        ]
    );
    assert_eq!(chat.say("K1002003").await, [chat.lisa.ask_password.clone()]);
    assert_eq!(
        chat.say("Winter2026?").await,
        [chat.lisa.auth_failed.clone()]
    );
    assert_eq!(
        chat.say("K-100 200 3").await,
        [chat.lisa.ask_password.clone()]
    );
    assert_eq!(chat.say("Sommer2026!").await, [chat.lisa.handover.clone()]);

    // Passwords are never stored: both password messages are redacted.
    let messages = chat.messages().await;
    let texts: Vec<String> = messages.iter().map(|(_, m)| m.content.preview()).collect();
    assert!(
        !texts
            .iter()
            .any(|t| t.contains("Sommer2026!") || t.contains("Winter2026?"))
    );
    assert_eq!(
        messages
            .iter()
            .filter(|(_, m)| m.content == MessageContent::Redacted)
            .count(),
        2
    );

    // The desk gets the handover: topic, customer reference, the last messages.
    let events = chat.stack.desk_events().await.unwrap();
    let [
        DeskEvent::Handover(Handover {
            conversation,
            topic,
            customer_ref,
            profile_name,
            summary,
            ..
        }),
    ] = events.as_slice()
    else {
        panic!("expected one handover, got {events:?}");
    };
    assert_eq!(topic, "cancellation");
    assert_eq!(customer_ref.as_deref(), Some("K1002003"));
    assert_eq!(profile_name.as_deref(), Some(ERIKA_NAME));
    assert_eq!(summary.len(), 10);
    assert_eq!(summary.last().unwrap().text, chat.lisa.handover);
    assert!(summary.iter().any(|l| l.text == "[password removed]"));

    // Agent mode and 13 months: conversation and profile.
    let (record, conv) = chat.conversation().await;
    assert_eq!(conv.mode, ConversationMode::Agent);
    assert_eq!(conv.state, ConversationState::WaitingForAgent);
    assert_eq!(record.retention, RetentionClass::Service13m);
    let (profile_record, profile) = chat.profile().await.unwrap();
    assert_eq!(profile_record.retention, RetentionClass::Service13m);
    assert_eq!(profile.customer_ref.as_deref(), Some("K1002003"));

    // The agent replies; Lisa stays silent and forwards what the customer writes.
    let reply = "Hallo Frau Mustermann, ich kümmere mich um Ihre Kündigung.";
    assert_eq!(
        chat.agent(conversation, AgentAct::Reply { text: reply.into() })
            .await,
        [reply]
    );
    assert!(chat.say("Danke, zum 31.12. bitte").await.is_empty());
    let events = chat.stack.desk_events().await.unwrap();
    assert!(
        matches!(&events[..], [DeskEvent::CustomerMessage { text, .. }] if text == "Danke, zum 31.12. bitte"),
        "{events:?}"
    );
    assert!(
        chat.agent(
            conversation,
            AgentAct::Note {
                text: "Kündigung zum 31.12. erfasst".into()
            }
        )
        .await
        .is_empty()
    );
    let after_close = chat.agent(conversation, AgentAct::Close).await;
    assert!(after_close.is_empty(), "{after_close:?}");

    let (_, conv) = chat.conversation().await;
    assert_eq!(conv.state, ConversationState::Closed);
    assert_eq!(conv.end_reason, Some(EndReason::AgentClosed));
    assert_eq!(conv.agent_messages, 1);
    let closed = chat.stack.closed_events().await.unwrap();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].reason, EndReason::AgentClosed);
    let messages = chat.messages().await;
    let by_agent: Vec<_> = messages
        .iter()
        .filter(|(_, m)| m.actor == Actor::Agent)
        .collect();
    assert_eq!(by_agent.len(), 2, "the reply and the note");
    assert!(
        by_agent
            .iter()
            .all(|(r, _)| r.retention == RetentionClass::Service13m)
    );
    assert!(
        by_agent
            .iter()
            .any(|(_, m)| m.direction == Direction::Internal)
    );

    // After the close, Lisa answers again, in a new conversation.
    assert_eq!(
        chat.say("Wie aktiviere ich meine neue SIM-Karte?").await,
        [chat.answer("sim-activation"), chat.helpful()]
    );
    let (_, fresh) = chat.conversation().await;
    assert_ne!(fresh.id, conv.id);
    assert_eq!(fresh.mode, ConversationMode::Bot);
}

#[tokio::test]
async fn three_failures_lock_the_contact_and_offer_the_hotline() {
    let mut chat = Chat::lisa_only();
    chat.say("Hallo").await;
    chat.tap(ids::KIND_CUSTOMER).await;
    let locked = chat.fill(&chat.lisa.auth_locked);
    for attempt in 1..=3 {
        chat.say("Ich brauche einen Mitarbeiter").await;
        chat.say("K1002003").await;
        let expected = if attempt < 3 {
            chat.lisa.auth_failed.clone()
        } else {
            locked.clone()
        };
        assert_eq!(
            chat.say("geraten123").await,
            [expected],
            "attempt {attempt}"
        );
    }
    assert_eq!(
        chat.say("Ich brauche einen Mitarbeiter").await,
        [locked.as_str()]
    );
    assert!(chat.stack.desk_events().await.unwrap().is_empty());

    // A day later the right password works.
    chat.clock.advance(Duration::hours(24));
    let (_, event) = chat.hand_over().await;
    assert!(matches!(event, DeskEvent::Handover(Handover { .. })));
}

#[tokio::test]
async fn after_two_unknown_messages_lisa_offers_an_agent() {
    let mut chat = Chat::lisa_only();
    chat.say("Hallo").await;
    chat.tap(ids::KIND_CUSTOMER).await;
    assert_eq!(
        chat.say("Blubb blubb").await,
        [format!(
            "{} {} [list]",
            chat.lisa.rephrase, chat.lisa.topics_prompt
        )]
    );
    assert_eq!(
        chat.say("xyz qwertz").await,
        [format!(
            "{} {} [{} | {}]",
            chat.lisa.offer_agent_after_unknown,
            chat.lisa.offer_agent,
            ids::AGENT_YES,
            ids::AGENT_NO
        )]
    );
    assert_eq!(
        chat.tap(ids::AGENT_YES).await,
        [
            chat.lisa.contract_needs_agent.clone(),
            chat.lisa.ask_customer_number.clone()
        ]
    );
}

#[tokio::test]
async fn privacy_explains_retention_and_erases_everything_on_confirmation() {
    let mut chat = Chat::lisa_only();
    chat.say("Hallo").await;
    chat.tap(ids::KIND_CUSTOMER).await;
    let answer = chat.say("Welche Daten speichert ihr über mich?").await;
    assert_eq!(
        answer,
        [
            chat.answer("privacy"),
            format!(
                "{}? [{} | {}]",
                chat.lisa.privacy_erase_button,
                ids::PRIVACY_ERASE,
                ids::PRIVACY_KEEP
            )
        ]
    );
    assert!(!chat.messages().await.is_empty());
    assert_eq!(
        chat.tap(ids::PRIVACY_ERASE).await,
        [chat.lisa.privacy_erased.clone()]
    );
    assert!(chat.profile().await.is_none(), "profile erased");
    assert!(chat.messages().await.is_empty(), "messages erased");

    // Writing again starts from scratch.
    assert_eq!(
        chat.say("Hallo").await,
        [chat.greeting_with_kind_question()]
    );
}

#[tokio::test]
async fn goodbye_and_inactivity_close_the_conversation() {
    let mut chat = Chat::lisa_only();
    chat.say("Hallo").await;
    chat.tap(ids::KIND_CUSTOMER).await;
    assert_eq!(
        chat.say("Tschüss, danke!").await,
        [chat.lisa.goodbye.clone()]
    );
    let (_, conv) = chat.conversation().await;
    assert_eq!(conv.end_reason, Some(EndReason::Goodbye));
    assert_eq!(chat.stack.closed_events().await.unwrap().len(), 1);

    // A new conversation; then silence. The timer fires after 30 minutes, not before.
    chat.say("Wo finde ich meine PUK?").await;
    chat.clock.advance(Duration::minutes(15));
    chat.stack.run().await;
    assert_eq!(chat.conversation().await.1.state, ConversationState::Open);
    chat.clock.advance(Duration::minutes(16));
    chat.stack.run().await;
    let (_, conv) = chat.conversation().await;
    assert_eq!(conv.state, ConversationState::Closed);
    assert_eq!(conv.end_reason, Some(EndReason::Inactivity));
    let closed = chat.stack.closed_events().await.unwrap();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].reason, EndReason::Inactivity);
    assert!(
        chat.news().is_empty(),
        "closing for inactivity sends nothing"
    );
}

#[tokio::test]
async fn an_agent_reply_outside_the_24_hour_window_is_not_sent() {
    let mut chat = Chat::lisa_only();
    chat.say("Hallo").await;
    chat.tap(ids::KIND_CUSTOMER).await;
    let (conversation, _) = chat.hand_over().await;
    chat.clock.advance(Duration::hours(25));
    assert!(
        chat.agent(
            &conversation,
            AgentAct::Reply {
                text: "Sind Sie noch da?".into()
            }
        )
        .await
        .is_empty()
    );
    let events = chat.stack.desk_events().await.unwrap();
    assert!(
        matches!(
            &events[..],
            [DeskEvent::ActionRejected {
                reason: RejectReason::OutsideServiceWindow,
                ..
            }]
        ),
        "{events:?}"
    );
    assert!(
        !chat
            .messages()
            .await
            .iter()
            .any(|(_, m)| m.actor == Actor::Agent)
    );
}

/// Fails the `n`-th send (once), like a Graph API outage, and otherwise records.
struct FailingOnce {
    outbox: Arc<RecordingOutbox>,
    calls: AtomicUsize,
    fail_call: usize,
}

#[async_trait]
impl WhatsApp for FailingOnce {
    async fn send(&self, to: &Recipient, content: &OutboundContent) -> Result<Sent, WhatsAppError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) + 1 == self.fail_call {
            return Err(WhatsAppError::Unavailable {
                attempts: 3,
                detail: "503".into(),
            });
        }
        self.outbox.send(to, content).await
    }

    async fn mark_read(&self, wamid: &str, typing: bool) -> Result<(), WhatsAppError> {
        self.outbox.mark_read(wamid, typing).await
    }
}

#[tokio::test]
async fn a_failed_send_is_retried_without_sending_anything_twice() {
    let clock = ManualClock::new(start());
    let outbox = Arc::new(RecordingOutbox::new(Arc::new(clock.clone())));
    // The second send fails: the greeting is out, the answer to "Ja" is not.
    let flaky = Arc::new(FailingOnce {
        outbox: outbox.clone(),
        calls: AtomicUsize::new(0),
        fail_call: 3,
    });
    let mut chat = Chat::lisa_only_with(clock, outbox, flaky);
    chat.say("Hallo").await;
    chat.tap(ids::KIND_CUSTOMER).await;
    // "Wo finde ich meine PUK?" gets two replies; the first send fails, the message goes
    // back to the queue (a batch item failure), and the retry sends both, once.
    assert!(chat.say("Wo finde ich meine PUK?").await.is_empty());
    let retry = chat.stack.run().await;
    assert_eq!(retry.handled, 1);
    assert_eq!(chat.news(), [chat.answer("pin-puk"), chat.helpful()]);
    let all: Vec<String> = chat
        .stack
        .outbox
        .sent()
        .iter()
        .map(|e| render(&e.content))
        .collect();
    let unique: std::collections::HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), unique.len(), "nothing sent twice: {all:?}");
    assert_eq!(all.len(), 4);
    // A redelivery of an inbound message that was fully handled does nothing.
    let report = chat.stack.run().await;
    assert_eq!(report.handled, 0);
}

#[tokio::test]
async fn after_a_failure_the_contacts_later_messages_wait_so_order_holds() {
    let clock = ManualClock::new(start());
    let outbox = Arc::new(RecordingOutbox::new(Arc::new(clock.clone())));
    let flaky = Arc::new(FailingOnce {
        outbox: outbox.clone(),
        calls: AtomicUsize::new(0),
        fail_call: 1,
    });
    let chat = Chat::lisa_only_with(clock, outbox, flaky);
    for text in ["Hallo", "Wo finde ich meine PUK?"] {
        chat.stack
            .post_user_message(
                ERIKA,
                Some(ERIKA_NAME),
                &UserMessage::Text { body: text.into() },
            )
            .await
            .unwrap();
        // Farther apart than the burst window: two concerns, two answers.
        chat.clock.advance(Duration::seconds(5));
    }
    // Both in one batch, as a FIFO event source delivers them; the first send fails.
    let batch = chat.stack.queues.inbound.receive(10).await.unwrap();
    assert_eq!(batch.len(), 2);
    let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
    event.records = batch.clone();
    let response = bot_reply::handle(event, &chat.stack.bot).await;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    let ids: Vec<_> = batch
        .iter()
        .map(|m| m.message_id.clone().unwrap())
        .collect();
    assert_eq!(failed, ids, "the second waits for the first");
    assert!(chat.stack.outbox.sent().is_empty());
    for m in &batch {
        chat.stack
            .queues
            .inbound
            .release(m.receipt_handle.as_deref().unwrap())
            .await
            .unwrap();
    }
    chat.stack.run().await;
    let sent: Vec<String> = chat
        .stack
        .outbox
        .sent()
        .iter()
        .map(|e| render(&e.content))
        .collect();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0], chat.greeting_with_kind_question());
    // Lisa still needs to know whether Erika is a customer; the concern waits for the answer.
    assert_eq!(
        sent[1],
        format!(
            "{} [{} | {}]",
            chat.lisa.ask_kind,
            ids::KIND_CUSTOMER,
            ids::KIND_PROSPECT
        )
    );
}

#[tokio::test]
async fn logs_of_a_whole_conversation_hold_no_personal_data() {
    let capture = LogCapture::default();
    let _guard = capture.start();
    let mut chat = Chat::lisa_only();
    chat.say("Hallo").await;
    chat.tap(ids::KIND_CUSTOMER).await;
    let (conversation, _) = chat.hand_over().await;
    chat.agent(
        &conversation,
        AgentAct::Reply {
            text: "Guten Tag, Frau Mustermann".into(),
        },
    )
    .await;
    chat.say("Meine Adresse ist Musterweg 5").await;
    let logs = capture.text();
    assert!(logs.contains("bot work done"), "the handler logged: {logs}");
    for secret in [
        ERIKA,
        "+49 176",
        "Erika",
        "Mustermann",
        "Sommer2026!",
        "K1002003",
        "Musterweg",
        "Mitarbeiter sprechen",
    ] {
        assert!(!logs.contains(secret), "{secret:?} leaked into the logs");
    }
}

fn sample(name: &str) -> aws_lambda_events::event::sqs::SqsEvent {
    let path = format!(
        "{}/../events/bot-reply/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The files in events/bot-reply, pushed through the handler on the local stack, where their
/// keys name the sample customer (4917612345678) and a conversation handed to an agent.
#[tokio::test]
async fn every_bot_reply_sample_event_is_handled() {
    let sample_time = DateTime::from_timestamp(1_795_255_200, 0).unwrap();
    let mut chat = Chat::lisa_only();
    chat.clock.set(sample_time + Duration::seconds(10));
    let contact = chat.contact();
    let conversation_id: Ulid = "01KAK3YH00A1B2C3D4E5F6G7H8".parse().unwrap();
    let mut profile = Contact::new(ERIKA, Some(ERIKA_NAME.into()), sample_time);
    profile.current_conversation = Some(conversation_id);
    profile.customer_ref = Some("K1002003".into());
    let mut conversation = Conversation::start(
        conversation_id,
        servicekanal_shared::domain::Channel::Whatsapp,
        sample_time,
    );
    conversation.mode = ConversationMode::Agent;
    conversation.state = ConversationState::WaitingForAgent;
    for record in [
        Record::new(
            ItemKey::profile(&contact),
            &profile,
            RetentionClass::Service13m,
            sample_time,
        )
        .unwrap(),
        Record::new(
            ItemKey::conversation(&contact, conversation_id),
            &conversation,
            RetentionClass::Service13m,
            sample_time,
        )
        .unwrap(),
    ] {
        chat.stack.store.create(&record).await.unwrap();
    }

    async fn handle(chat: &Chat, name: &str) -> aws_lambda_events::event::sqs::SqsBatchResponse {
        bot_reply::handle(sample(name), &chat.stack.bot).await
    }
    // The inbound message it names was never stored here: nothing to do, nothing failed.
    assert!(
        handle(&chat, "inbound-message")
            .await
            .batch_item_failures
            .is_empty()
    );
    assert!(
        handle(&chat, "agent-reply")
            .await
            .batch_item_failures
            .is_empty()
    );
    assert_eq!(
        chat.news(),
        ["Hallo Frau Mustermann, ich kümmere mich um Ihre Kündigung."]
    );
    assert!(
        handle(&chat, "agent-note")
            .await
            .batch_item_failures
            .is_empty()
    );
    // Agents close their own conversations: the timer leaves this one alone.
    assert!(
        handle(&chat, "inactivity-timer")
            .await
            .batch_item_failures
            .is_empty()
    );
    assert_eq!(chat.conversation().await.1.state, ConversationState::Open);
    assert!(
        handle(&chat, "agent-close")
            .await
            .batch_item_failures
            .is_empty()
    );
    let (_, closed) = chat.conversation().await;
    assert_eq!(closed.end_reason, Some(EndReason::AgentClosed));
    let notes: Vec<_> = chat
        .messages()
        .await
        .into_iter()
        .filter(|(_, m)| m.direction == Direction::Internal)
        .map(|(_, m)| m.content.preview())
        .collect();
    assert_eq!(notes, ["Kündigung zum 31.12. im CRM erfasst."]);
    assert!(
        chat.stack.desk_events().await.unwrap().is_empty(),
        "nothing rejected"
    );
}

#[tokio::test]
async fn a_malformed_queue_message_is_a_typed_error_and_dropped_without_effect() {
    let chat = Chat::lisa_only();
    let mut message = aws_lambda_events::event::sqs::SqsMessage::default();
    message.message_id = Some("m-1".into());
    message.body = Some(r#"{"type":"inbound","message":"not a key"}"#.into());
    assert!(matches!(
        bot_reply::process(&message, &chat.stack.bot).await,
        Err(bot_reply::BotError::Malformed(_))
    ));
    let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
    event.records = vec![message];
    let response = bot_reply::handle(event, &chat.stack.bot).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "retrying cannot help, so it is not retried"
    );
    assert!(chat.stack.outbox.sent().is_empty());
    assert!(chat.stack.desk_events().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_concern_typed_in_three_messages_gets_one_answer() {
    let mut chat = Chat::lisa_only();
    chat.say("Hallo").await;
    chat.tap(ids::KIND_CUSTOMER).await;
    // Three messages, a second apart, before Lisa looks at the first (one FIFO batch or
    // three: the same).
    let before = chat.messages().await.len();
    // WhatsApp dates messages in whole seconds: the first shares its second with the tap
    // before (answered already), the next two share one.
    for (text, after) in [
        ("hallo nochmal", 0),
        ("ich hab ne frage", 0),
        ("zu meiner rechnung", 1),
    ] {
        chat.clock.advance(Duration::seconds(after));
        let sender = chat.sender.clone();
        chat.stack
            .post_as(&sender, &UserMessage::Text { body: text.into() })
            .await
            .unwrap();
    }
    let posted_last = chat.clock.now();
    chat.stack.run().await;
    // One answer, to the concern of all three: the bill needs an agent and a login.
    assert_eq!(
        chat.news(),
        [
            chat.lisa.contract_needs_agent.clone(),
            chat.lisa.ask_customer_number.clone()
        ]
    );
    // Lisa waited for a fourth message no longer than the burst window.
    let answered_at = chat.stack.outbox.sent().last().unwrap().at;
    assert!(
        answered_at <= posted_last + Duration::seconds(2),
        "{answered_at}"
    );
    // All three are stored, in the conversation, and handled: a redelivery answers nothing.
    let burst = ["hallo nochmal", "ich hab ne frage", "zu meiner rechnung"];
    let messages = chat.messages().await;
    assert_eq!(messages.len(), before + 3 + 2, "three in, two out");
    let inbound: Vec<_> = messages
        .iter()
        .filter(|(_, m)| {
            matches!(&m.content, MessageContent::Text { body } if burst.contains(&body.as_str()))
        })
        .collect();
    assert_eq!(inbound.len(), 3);
    assert!(
        inbound.iter().all(
            |(_, m)| m.handling.as_ref().is_some_and(|h| h.done) && m.conversation_id.is_some()
        )
    );
    let (_, conversation) = chat.conversation().await;
    assert_eq!(conversation.customer_messages, 5);
}

/// `dev` runs consumers of its own, which may take a message before the sender's run does:
/// a message sent through the local stack is still answered when sending returns.
#[tokio::test]
async fn a_message_is_answered_when_sending_returns_though_other_consumers_run() {
    let chat = Chat::lisa_only();
    let done = std::sync::atomic::AtomicBool::new(false);
    let other_consumers = async {
        while !done.load(Ordering::Acquire) {
            chat.stack.run().await;
            tokio::task::yield_now().await;
        }
    };
    let sender = async {
        for sent in 1..=12 {
            chat.clock.advance(Duration::minutes(1));
            chat.stack
                .sends_as(
                    &chat.sender,
                    &UserMessage::Text {
                        body: format!("Frage {sent}"),
                    },
                )
                .await
                .unwrap();
            let answered = chat.stack.outbox.sent().len();
            assert!(answered >= sent, "message {sent}: {answered} replies");
        }
        done.store(true, Ordering::Release);
    };
    tokio::join!(other_consumers, sender);
}

#[tokio::test]
async fn a_single_message_waits_at_most_the_burst_window() {
    let mut chat = Chat::lisa_only();
    chat.clock.advance(Duration::seconds(20));
    let sent_at = chat.clock.now();
    let sender = chat.sender.clone();
    chat.stack
        .sends_as(
            &sender,
            &UserMessage::Text {
                body: "Hallo".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(chat.news(), [chat.greeting_with_kind_question()]);
    let answered_at = chat.stack.outbox.sent()[0].at;
    assert_eq!(answered_at, sent_at + Duration::seconds(2));
}

#[tokio::test]
async fn when_lisa_is_torn_between_two_topics_she_asks_which_one() {
    let mut chat = Chat::lisa_only();
    chat.say("Hallo").await;
    chat.tap(ids::KIND_PROSPECT).await;
    let asked = chat.say("tarif und handy").await;
    let devices = chat.catalogue.get("devices").unwrap().title.clone();
    let tariffs = chat.catalogue.get("tariffs").unwrap().title.clone();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(
        asked[0].starts_with("Ich möchte sichergehen") && asked[0].contains(&devices),
        "{asked:?}"
    );
    assert!(
        asked[0].ends_with("[topic-devices | topic-tariffs]")
            || asked[0].ends_with("[topic-tariffs | topic-devices]"),
        "{asked:?}"
    );
    assert!(asked[0].contains(&tariffs), "{asked:?}");
    // Her choice is the concern: the tariff answer.
    assert_eq!(
        chat.tap("topic-tariffs").await,
        [chat.answer("tariffs"), chat.helpful()]
    );
}

#[tokio::test]
async fn not_cancelling_only_changing_the_tariff_is_no_cancellation() {
    let mut chat = Chat::lisa_only();
    chat.say("Hallo").await;
    chat.tap(ids::KIND_CUSTOMER).await;
    chat.say("ich will NICHT kündigen, nur den Tarif wechseln")
        .await;
    let (_, conversation) = chat.conversation().await;
    assert_eq!(
        conversation.pending_topic.as_deref(),
        Some("contract-change")
    );
    assert!(!conversation.topics.iter().any(|t| t == "cancellation"));
}
