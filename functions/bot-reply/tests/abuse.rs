//! Abuse of the chat, through the real handlers on the embedded store and in-process queues:
//! messages are POSTed, signed, to the webhook (which stores and queues them, as in the local
//! stack), and bot-reply takes them off the inbound queue one record at a time, as the FIFO
//! queue's event source mapping hands them over. The clock is a manual one: tests move it.
//!
//! - Brute force on one customer number from many WhatsApp contacts locks the number for all.
//! - Unknown customer number and wrong password look alike in everything the contact sees.
//! - A locked contact reaches nothing contract-specific.
//! - A contact writing hundreds of messages is rate-limited politely (told once), and every
//!   message stays in the conversation.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use bot_reply::{BotConfig, Ports, handle};
use chrono::Duration;
use servicekanal_shared::channels::whatsapp::OutboundContent;
use servicekanal_shared::channels::whatsapp::outbox::RecordingOutbox;
use servicekanal_shared::channels::whatsapp::payload::{Sender, UserMessage, WebhookPayload};
use servicekanal_shared::domain::keys::{ItemKey, MESSAGE_PREFIX, Pseudonym, Pseudonymizer};
use servicekanal_shared::domain::{
    AuthAttempts, Contact, Conversation, ConversationMode, Direction, Message, MessageContent,
    Recipient,
};
use servicekanal_shared::lisa::catalogue::Catalogue;
use servicekanal_shared::lisa::dialogue::{Lisa, LisaConfig, Texts, ids};
use servicekanal_shared::policy::mask::Secret;
use servicekanal_shared::policy::retention::RetentionClass;
use servicekanal_shared::ports::clock::{Clock, ManualClock, SharedClock};
use servicekanal_shared::ports::desk::{AgentDesk, QueueDesk};
use servicekanal_shared::ports::directory::DemoDirectory;
use servicekanal_shared::ports::queue::Queue;
use servicekanal_shared::ports::queue::memory::InProcessQueue;
use servicekanal_shared::ports::store::{Store, all_pages};
use servicekanal_testing::bench::drain;
use servicekanal_testing::harness::{self, Harness};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const APP_SECRET: &str = "servicekanal-test-app-secret";
const PHONE_NUMBER_ID: &str = "100000000000001";
const RIGHT: (&str, &str) = ("K1002003", "Sommer2026!");

struct Stack {
    _h: Harness,
    store: Arc<dyn Store>,
    clock: ManualClock,
    outbox: Arc<RecordingOutbox>,
    inbound: Arc<InProcessQueue>,
    handover: Arc<InProcessQueue>,
    webhook: whatsapp_webhook::Ports,
    ports: Arc<Ports>,
    pseudonymizer: Pseudonymizer,
    texts: Texts,
    lisa_config: LisaConfig,
    wamids: AtomicU64,
}

impl Stack {
    async fn new(config: BotConfig) -> Self {
        let h = harness::embedded().await;
        let clock = h.clock.clone();
        let shared: SharedClock = Arc::new(clock.clone());
        let queue = |name: &str| Arc::new(InProcessQueue::new(name, shared.clone()));
        let inbound = queue("servicekanal-inbound.fifo");
        let handover = queue("servicekanal-handover.fifo");
        let outbox = Arc::new(RecordingOutbox::new(shared.clone()));
        let pseudonymizer = servicekanal_testing::test_pseudonymizer();
        let desk: Arc<dyn AgentDesk> = Arc::new(QueueDesk::new(handover.clone()));
        let lisa_config = LisaConfig::default();
        let ports = Ports {
            store: h.store.clone(),
            whatsapp: outbox.clone(),
            directory: Arc::new(DemoDirectory::demo()),
            desk: desk.clone(),
            desk_fallback: desk,
            agent_actions_queue: queue("servicekanal-agent-actions.fifo"),
            closed_queue: queue("servicekanal-conversation-closed.fifo"),
            timer_queue: queue("servicekanal-timers"),
            survey_queue: queue("servicekanal-survey-answers.fifo"),
            clock: shared.clone(),
            pseudonymizer: pseudonymizer.clone(),
            lisa: Arc::new(Lisa::new(
                Catalogue::embedded(),
                Texts::embedded(),
                lisa_config.clone(),
            )),
            config,
        };
        let webhook = whatsapp_webhook::Ports {
            store: h.store.clone(),
            inbound_queue: inbound.clone(),
            clock: shared,
            pseudonymizer: pseudonymizer.clone(),
            config: whatsapp_webhook::WebhookConfig {
                app_secret: Secret(APP_SECRET.into()),
                verify_token: Secret("servicekanal-test-verify-token".into()),
                max_body_bytes: whatsapp_webhook::DEFAULT_MAX_BODY_BYTES,
            },
        };
        Self {
            store: h.store.clone(),
            clock,
            _h: h,
            outbox,
            inbound,
            handover,
            webhook,
            ports: Arc::new(ports),
            pseudonymizer,
            texts: Texts::embedded(),
            lisa_config,
            wamids: AtomicU64::new(1),
        }
    }

    /// A customer's message, POSTed signed to the webhook (stored and queued there).
    async fn post(&self, phone: &str, message: UserMessage) {
        let n = self.wamids.fetch_add(1, Ordering::Relaxed);
        let payload = WebhookPayload::inbound(
            PHONE_NUMBER_ID,
            &Sender::phone(phone, Some("Erika Mustermann")),
            &format!("wamid.abuse.{n:020}"),
            self.clock.now(),
            &message,
        );
        let request =
            servicekanal_testing::signed_post(whatsapp_webhook::WEBHOOK_PATH, &payload, APP_SECRET);
        let response = whatsapp_webhook::handle(request, &self.webhook).await;
        assert_eq!(response.status(), 200, "the webhook took the message");
    }

    async fn write(&self, phone: &str, text: &str) {
        self.post(phone, UserMessage::Text { body: text.into() })
            .await;
    }

    /// Hands every queued message to bot-reply, one record per event, in queue order.
    async fn deliver(&self) -> usize {
        let mut handled = 0;
        loop {
            let records = self.inbound.receive(10).await.unwrap();
            if records.is_empty() {
                return handled;
            }
            for record in records {
                self.handle_one(record.clone()).await;
                handled += 1;
            }
        }
    }

    async fn handle_one(&self, record: SqsMessage) {
        let receipt = record.receipt_handle.clone().unwrap();
        let mut event = SqsEvent::default();
        event.records = vec![record];
        let response = handle(event, &self.ports).await;
        assert!(
            response.batch_item_failures.is_empty(),
            "the turn failed: {response:?}"
        );
        self.inbound.acknowledge(&receipt).await.unwrap();
    }

    /// What one message (posted now, delivered now) got back, as texts.
    async fn answer_to(&self, phone: &str, message: UserMessage) -> Vec<String> {
        let before = self.outbox.sent().len();
        self.post(phone, message).await;
        self.deliver().await;
        self.outbox.sent()[before..]
            .iter()
            .map(|e| shown(&e.content))
            .collect()
    }

    async fn say(&self, phone: &str, text: &str) -> Vec<String> {
        self.answer_to(phone, UserMessage::Text { body: text.into() })
            .await
    }

    async fn choose(&self, phone: &str, id: &str) -> Vec<String> {
        self.answer_to(
            phone,
            UserMessage::Button {
                id: id.into(),
                title: id.into(),
            },
        )
        .await
    }

    /// A new contact says hello, is a customer, asks for an agent and gives the number:
    /// Lisa waits for the password.
    async fn up_to_the_password(&self, phone: &str, number: &str) {
        self.say(phone, "Hallo").await;
        self.choose(phone, ids::KIND_CUSTOMER).await;
        self.choose(phone, &format!("{}agent", ids::TOPIC_PREFIX))
            .await;
        let asked = self.say(phone, number).await;
        assert_eq!(asked, [self.texts.ask_password.as_str()], "{phone}");
    }

    /// A new contact's whole login; what the password got.
    async fn login(&self, phone: &str, number: &str, password: &str) -> Vec<String> {
        self.up_to_the_password(phone, number).await;
        self.say(phone, password).await
    }

    fn locked(&self) -> String {
        self.texts
            .auth_locked
            .replace("{hotline}", &self.lisa_config.hotline)
    }

    fn contact(&self, phone: &str) -> Pseudonym {
        self.pseudonymizer.contact(phone).unwrap()
    }

    async fn handovers(&self) -> usize {
        drain(&self.handover).await.len()
    }

    async fn profile(&self, phone: &str) -> Contact {
        self.store
            .get(&ItemKey::profile(&self.contact(phone)))
            .await
            .unwrap()
            .unwrap()
            .body()
            .unwrap()
    }

    async fn conversation(&self, phone: &str) -> Conversation {
        let profile = self.profile(phone).await;
        let id = profile.current_conversation.unwrap();
        self.store
            .get(&ItemKey::conversation(&self.contact(phone), id))
            .await
            .unwrap()
            .unwrap()
            .body()
            .unwrap()
    }

    /// Every message of the contact, oldest first.
    async fn messages(&self, phone: &str) -> Vec<Message> {
        let partition = self.contact(phone).partition();
        all_pages(100, |page| {
            self.store.query(&partition, MESSAGE_PREFIX, page)
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.body().unwrap())
        .collect()
    }
}

fn shown(content: &OutboundContent) -> String {
    match content {
        OutboundContent::Text { body } => body.clone(),
        other => format!("{other:?}"),
    }
}

fn no_bursts() -> BotConfig {
    BotConfig {
        burst_window: Duration::zero(),
        ..BotConfig::default()
    }
}

fn phone(n: u32) -> String {
    format!("4915100{n:06}")
}

#[tokio::test]
async fn one_customer_number_tried_from_many_contacts_locks_for_every_contact() {
    // Bursts off: the clock moves only when the test moves it.
    let stack = Stack::new(no_bursts()).await;
    let limit = stack.lisa_config.max_customer_number_failures;
    assert!(
        limit > stack.lisa_config.max_auth_failures,
        "the test shows more than the contact's own lock"
    );
    let failed = [stack.texts.auth_failed.clone()];
    for n in 1..limit {
        assert_eq!(
            stack.login(&phone(n), RIGHT.0, "geraten").await,
            failed,
            "contact {n}: one failure each, far from its own lock"
        );
    }
    let before = stack.clock.now();
    assert_eq!(
        stack.login(&phone(limit), "k-100 200 3", "geraten").await,
        [stack.locked()],
        "the limit's failure on the number locks it, however it is spelled"
    );
    let after = stack.clock.now();

    // The number's attempts: keyed by its pseudonym, never the number; gone with the lock.
    let key = ItemKey::customer_number_attempts(&stack.pseudonymizer.customer_number(RIGHT.0));
    assert!(!key.pk.contains("1002003"), "{key}");
    let record = stack.store.get(&key).await.unwrap().expect("stored");
    let attempts: AuthAttempts = record.body().unwrap();
    let locked_until = attempts.locked_until.expect("locked");
    let period = stack.lisa_config.lock_period;
    assert!(before + period <= locked_until && locked_until <= after + period);
    assert_eq!(record.retention, RetentionClass::Bot7d);
    assert_eq!(
        record.expires_at, locked_until,
        "kept no longer than the lock"
    );
    assert_eq!(record.owner, None, "no contact's erasure resets it");

    // Anyone with the right password hears the locked answer until the period has passed.
    let owner = phone(100);
    stack.clock.set(locked_until - Duration::seconds(1));
    assert_eq!(
        stack.login(&owner, RIGHT.0, RIGHT.1).await,
        [stack.locked()]
    );
    assert_eq!(stack.handovers().await, 0, "nothing reached the desk");
    assert!(stack.profile(&owner).await.customer_ref.is_none());
    // Another customer's number is not affected.
    let handover = [stack.texts.handover.clone()];
    assert_eq!(
        stack.login(&phone(101), "K2004005", "Winter2026?").await,
        handover
    );
    assert_eq!(stack.handovers().await, 1);

    stack.clock.set(locked_until);
    stack
        .choose(&owner, &format!("{}agent", ids::TOPIC_PREFIX))
        .await;
    stack.say(&owner, RIGHT.0).await;
    assert_eq!(stack.say(&owner, RIGHT.1).await, handover);
    assert_eq!(stack.handovers().await, 1);
    assert_eq!(
        stack.profile(&owner).await.customer_ref.as_deref(),
        Some(RIGHT.0)
    );
}

#[tokio::test]
async fn attempts_on_one_number_from_contacts_at_the_same_moment_all_count() {
    let stack = Stack::new(no_bursts()).await;
    let contacts = stack.lisa_config.max_customer_number_failures - 1;
    for n in 1..=contacts {
        stack.up_to_the_password(&phone(n), RIGHT.0).await;
    }
    let before = stack.outbox.sent().len();
    for n in 1..=contacts {
        stack.write(&phone(n), "geraten").await;
    }
    // Every password at once, each in its own task (different contacts: different FIFO
    // groups, decided concurrently as Lambda does). A decision that lost the race on the
    // number's item is taken again, or retried by the queue.
    let mut pending = stack.inbound.receive(10).await.unwrap();
    assert_eq!(pending.len(), contacts as usize);
    let mut rounds = 0;
    while !pending.is_empty() {
        rounds += 1;
        assert!(rounds < 10, "the decisions settle");
        let mut tasks = tokio::task::JoinSet::new();
        for record in pending.drain(..) {
            let ports = stack.ports.clone();
            tasks.spawn(async move {
                let mut event = SqsEvent::default();
                event.records = vec![record.clone()];
                let failed = !handle(event, &ports).await.batch_item_failures.is_empty();
                (record, failed)
            });
        }
        for (record, failed) in tasks.join_all().await {
            let receipt = record.receipt_handle.clone().unwrap();
            if failed {
                pending.push(record);
                stack.inbound.release(&receipt).await.unwrap();
            } else {
                stack.inbound.acknowledge(&receipt).await.unwrap();
            }
        }
        if !pending.is_empty() {
            pending = stack.inbound.receive(10).await.unwrap();
        }
    }
    let answers: Vec<String> = stack.outbox.sent()[before..]
        .iter()
        .map(|e| shown(&e.content))
        .collect();
    assert_eq!(
        answers,
        vec![stack.texts.auth_failed.clone(); contacts as usize],
        "one answer each"
    );
    let key = ItemKey::customer_number_attempts(&stack.pseudonymizer.customer_number(RIGHT.0));
    let attempts: AuthAttempts = stack
        .store
        .get(&key)
        .await
        .unwrap()
        .unwrap()
        .body()
        .unwrap();
    assert_eq!(attempts.failures, contacts, "no attempt lost");
    // The next one anywhere is the limit.
    assert_eq!(
        stack.login(&phone(50), RIGHT.0, "geraten").await,
        [stack.locked()]
    );
}

#[tokio::test]
async fn unknown_number_and_wrong_password_look_alike_to_the_contact() {
    let stack = Stack::new(no_bursts()).await;
    let (unknown, wrong) = (phone(1), phone(2));
    for who in [&unknown, &wrong] {
        stack.say(who, "Hallo").await;
        stack.choose(who, ids::KIND_CUSTOMER).await;
    }
    for attempt in 0..stack.lisa_config.max_auth_failures {
        let a = stack
            .choose(&unknown, &format!("{}agent", ids::TOPIC_PREFIX))
            .await;
        let b = stack
            .choose(&wrong, &format!("{}agent", ids::TOPIC_PREFIX))
            .await;
        assert_eq!(a, b, "attempt {attempt}: asked alike");
        let a = stack.say(&unknown, "K9999999").await;
        let b = stack.say(&wrong, RIGHT.0).await;
        assert_eq!(a, b, "attempt {attempt}: the number is taken alike");
        let a = stack.say(&unknown, RIGHT.1).await;
        let b = stack.say(&wrong, "sommer2026!").await;
        assert_eq!(a, b, "attempt {attempt}: the password is refused alike");
    }
    // Their whole transcripts are the same, in order, and so is the state behind them.
    let transcript = |phone: &str| -> Vec<String> {
        stack
            .outbox
            .sent()
            .iter()
            .filter(|e| e.to == Recipient::Phone(phone.to_owned()))
            .map(|e| shown(&e.content))
            .collect()
    };
    assert!(transcript(&unknown).len() > 10);
    assert_eq!(transcript(&unknown), transcript(&wrong));
    let auth = |phone: String| {
        let stack = &stack;
        async move {
            let key = ItemKey::auth_attempts(&stack.contact(&phone));
            stack
                .store
                .get(&key)
                .await
                .unwrap()
                .unwrap()
                .body::<AuthAttempts>()
                .unwrap()
        }
    };
    let locked = auth(unknown.clone()).await;
    assert!(locked.locked_until.is_some());
    assert_eq!(locked, auth(wrong.clone()).await);
    // And the passwords are stored by neither.
    for who in [&unknown, &wrong] {
        let texts: Vec<String> = stack
            .messages(who)
            .await
            .iter()
            .map(|m| format!("{:?}", m.content))
            .collect();
        assert!(
            !texts
                .iter()
                .any(|t| t.to_lowercase().contains("sommer2026")),
            "{texts:?}"
        );
    }
}

#[tokio::test]
async fn a_locked_contact_reaches_nothing_contract_specific() {
    let stack = Stack::new(BotConfig::default()).await;
    let who = phone(1);
    stack.login(&who, RIGHT.0, "falsch").await;
    for _ in 1..stack.lisa_config.max_auth_failures {
        stack
            .choose(&who, &format!("{}agent", ids::TOPIC_PREFIX))
            .await;
        stack.say(&who, RIGHT.0).await;
        stack.say(&who, "falsch").await;
    }
    let locked = [stack.locked()];
    let catalogue = Catalogue::embedded();
    let contract: Vec<&str> = catalogue
        .topics()
        .iter()
        .filter(|t| t.contract_specific)
        .map(|t| t.id.as_str())
        .collect();
    assert!(
        [
            "agent",
            "bill",
            "contract-change",
            "cancellation",
            "order-status"
        ]
        .iter()
        .all(|t| contract.contains(t)),
        "{contract:?}"
    );
    for topic in &contract {
        assert_eq!(
            stack
                .choose(&who, &format!("{}{topic}", ids::TOPIC_PREFIX))
                .await,
            locked,
            "{topic}"
        );
    }
    for text in [
        "Ich möchte meinen Vertrag kündigen",
        "Hallo, meine Rechnung ist viel zu hoch!",
    ] {
        assert_eq!(stack.say(&who, text).await, locked, "{text}");
    }
    // Even the right password, sent without being asked, is only a message.
    let answer = stack.say(&who, RIGHT.1).await;
    assert!(!answer.contains(&stack.texts.handover), "{answer:?}");
    assert_eq!(stack.handovers().await, 0);
    let profile = stack.profile(&who).await;
    assert!(profile.customer_ref.is_none());
    let conversation = stack.conversation(&who).await;
    assert!(!conversation.authenticated && !conversation.handed_over);
    assert_eq!(conversation.mode, ConversationMode::Bot);
    // What anyone may ask is still answered.
    let roaming = stack
        .choose(&who, &format!("{}roaming", ids::TOPIC_PREFIX))
        .await;
    assert!(!roaming.is_empty() && roaming != locked, "{roaming:?}");
}

#[tokio::test]
async fn a_contact_writing_hundreds_of_messages_is_told_once_and_keeps_every_message() {
    let limit = 5;
    let window = Duration::minutes(10);
    let stack = Stack::new(BotConfig {
        burst_window: Duration::zero(),
        rate_limit_messages: limit,
        rate_limit_window: window,
        ..BotConfig::default()
    })
    .await;
    let who = phone(1);
    let notice = stack.texts.rate_limited.clone();
    let start = stack.clock.now();
    for i in 0..200 {
        stack
            .write(&who, &format!("Was kostet Roaming in der Schweiz? ({i})"))
            .await;
        stack.clock.advance(Duration::seconds(1));
    }
    assert_eq!(stack.deliver().await, 200);
    assert!(stack.clock.now() < start + window);

    let sent: Vec<String> = stack
        .outbox
        .sent()
        .iter()
        .map(|e| shown(&e.content))
        .collect();
    assert_eq!(
        sent.iter().filter(|s| **s == notice).count(),
        1,
        "told exactly once"
    );
    let messages = stack.messages(&who).await;
    let inbound: Vec<&Message> = messages
        .iter()
        .filter(|m| m.direction == Direction::Inbound)
        .collect();
    assert_eq!(inbound.len(), 200, "every message kept");
    let answered = inbound
        .iter()
        .filter(|m| m.handling.as_ref().is_some_and(|h| !h.replies.is_empty()))
        .count();
    assert_eq!(answered, limit as usize + 1, "the limit, and the notice");
    let conversation = stack.conversation(&who).await;
    for m in &inbound {
        assert_eq!(
            m.conversation_id,
            Some(conversation.id),
            "in the conversation"
        );
        assert!(m.handling.as_ref().is_some_and(|h| h.done), "handled");
        assert!(
            matches!(m.content, MessageContent::Text { .. }),
            "as written"
        );
    }
    assert_eq!(conversation.customer_messages, 200);
    assert_eq!(
        conversation.state,
        servicekanal_shared::domain::ConversationState::Open
    );

    // The window passes: Lisa answers again (and would tell once more if it went on).
    stack.clock.set(start + window);
    let answer = stack.say(&who, "Was kostet Roaming in der Schweiz?").await;
    assert!(
        !answer.is_empty() && !answer.contains(&notice),
        "{answer:?}"
    );
    assert_eq!(stack.conversation(&who).await.customer_messages, 201);
}

#[tokio::test]
async fn a_password_is_checked_and_redacted_even_beyond_the_rate_limit() {
    let stack = Stack::new(BotConfig {
        burst_window: Duration::zero(),
        rate_limit_messages: 4,
        ..BotConfig::default()
    })
    .await;
    let who = phone(1);
    // Four answers: hello, customer, agent, the number.
    stack.up_to_the_password(&who, RIGHT.0).await;
    assert_eq!(
        stack.say(&who, RIGHT.1).await,
        [stack.texts.handover.as_str()],
        "read although over the limit"
    );
    let inbound: Vec<MessageContent> = stack
        .messages(&who)
        .await
        .into_iter()
        .filter(|m| m.direction == Direction::Inbound)
        .map(|m| m.content)
        .collect();
    let redacted = inbound
        .iter()
        .filter(|c| **c == MessageContent::Redacted)
        .count();
    assert_eq!(redacted, 1, "{inbound:?}");
    assert!(!format!("{inbound:?}").contains(RIGHT.1), "{inbound:?}");
}

#[tokio::test]
async fn a_flood_within_the_burst_window_never_makes_a_turn_too_large() {
    // Bursts on (2 s): 120 messages in the same second. The first turn takes at most 50
    // followers (one transaction holds at most 100 writes); Lisa's question then ends the
    // burst (she waits for an answer), so the rest are turns of their own, rate-limited.
    let stack = Stack::new(BotConfig::default()).await;
    let limit = BotConfig::default().rate_limit_messages as usize;
    let who = phone(1);
    for i in 0..120 {
        stack.write(&who, &format!("hallo {i}")).await;
    }
    assert_eq!(stack.deliver().await, 120);
    let inbound: Vec<Message> = stack
        .messages(&who)
        .await
        .into_iter()
        .filter(|m| m.direction == Direction::Inbound)
        .collect();
    assert_eq!(inbound.len(), 120);
    assert!(
        inbound
            .iter()
            .all(|m| m.handling.as_ref().is_some_and(|h| h.done))
    );
    let answered = inbound
        .iter()
        .filter(|m| m.handling.as_ref().is_some_and(|h| !h.replies.is_empty()))
        .count();
    assert_eq!(answered, limit + 1, "the limit, and the notice");
    // Followers taken into a turn carry no plan of their own.
    let followers = inbound
        .iter()
        .filter(|m| {
            m.handling
                .as_ref()
                .is_some_and(|h| h.replies.is_empty() && h.effects.is_empty())
        })
        .count();
    assert_eq!(followers, 50);
    assert_eq!(stack.conversation(&who).await.customer_messages, 120);
}

#[tokio::test]
async fn over_the_rate_limit_no_turn_waits_for_a_burst() {
    // Bursts on (2 s): an answered text waits for followers (the manual clock jumps); once
    // the contact is over the limit, nothing waits.
    let stack = Stack::new(BotConfig {
        rate_limit_messages: 3,
        ..BotConfig::default()
    })
    .await;
    let who = phone(1);
    for i in 0..3 {
        stack.write(&who, &format!("Frage {i}")).await;
        let before = stack.clock.now();
        stack.deliver().await;
        assert!(
            stack.clock.now() > before,
            "an answered text waits for followers"
        );
        stack.clock.advance(Duration::seconds(10));
    }
    for i in 0..30 {
        stack.write(&who, &format!("noch was {i}")).await;
    }
    let before = stack.clock.now();
    let sent_before = stack.outbox.sent().len();
    assert_eq!(stack.deliver().await, 30);
    assert_eq!(stack.clock.now(), before, "no turn waited");
    let sent: Vec<String> = stack.outbox.sent()[sent_before..]
        .iter()
        .map(|e| shown(&e.content))
        .collect();
    assert_eq!(sent, [stack.texts.rate_limited.as_str()]);
    assert_eq!(stack.conversation(&who).await.customer_messages, 33);
}
