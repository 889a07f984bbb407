//! How long a password check takes, per outcome: unknown customer number, wrong password,
//! right password. What must not differ is the first two: the time an answer takes may not
//! tell whether a customer number exists. Two levels, each printed as p50 / p90 / p99 (and
//! min, max) over interleaved samples (the cases take turns, so drift hits all alike):
//!
//! 1. `directory`: `CustomerDirectory::verify` of the local directory (`DemoDirectory`, the
//!    demo customers' argon2id hashes; an unknown number is checked against the decoy hash).
//! 2. `turn`: bot-reply handling the password message (`bot_reply::handle`, one SQS record),
//!    as the customer waits for it: Lisa's decision with the directory check, the lock-out
//!    bookkeeping (the contact's and the customer number's attempts), the commit, the reply
//!    through the recording outbox; the right password also hands over (summary, desk
//!    queue). On the embedded store and in-process queues, the burst window at zero. Every
//!    sample is a new contact brought to the password prompt beforehand (untimed: hello,
//!    "customer", "agent", the customer number, each stored by the webhook); the clock moves
//!    a day on after every round so no lock (contact or number) cuts a check short.
//!
//!   cargo bench -p bot-reply --bench auth            (AUTH_BENCH_SAMPLES=200 by default)
//!
//! Figures: docs/security.md (customer authentication).

use aws_lambda_events::event::sqs::SqsEvent;
use bot_reply::{BotConfig, Ports, handle};
use chrono::Duration as TimeDelta;
use servicekanal_shared::channels::whatsapp::OutboundContent;
use servicekanal_shared::channels::whatsapp::outbox::RecordingOutbox;
use servicekanal_shared::channels::whatsapp::payload::{Sender, UserMessage, WebhookPayload};
use servicekanal_shared::lisa::catalogue::Catalogue;
use servicekanal_shared::lisa::dialogue::{Lisa, LisaConfig, Texts, ids};
use servicekanal_shared::policy::mask::Secret;
use servicekanal_shared::ports::clock::{Clock, ManualClock, SharedClock};
use servicekanal_shared::ports::desk::{AgentDesk, QueueDesk};
use servicekanal_shared::ports::directory::{CustomerDirectory, DemoDirectory};
use servicekanal_shared::ports::queue::Queue;
use servicekanal_shared::ports::queue::memory::InProcessQueue;
use servicekanal_testing::bench::drain;
use servicekanal_testing::harness::{self, Harness};
use std::sync::Arc;
use std::time::{Duration, Instant};

const APP_SECRET: &str = "servicekanal-local-app-secret";
const PHONE_NUMBER_ID: &str = "100000000000001";

/// The three outcomes: (name, customer number, password).
const CASES: [(&str, &str, &str); 3] = [
    ("unknown number", "K9999999", "Sommer2026!"),
    ("wrong password", "K1002003", "sommer2026!"),
    ("right password", "K1002003", "Sommer2026!"),
];

fn main() {
    let samples: usize = std::env::var("AUTH_BENCH_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        directory_checks(samples).await;
        turns(samples).await;
    });
}

/// p50 / p90 / p99 of each case's samples, and how far apart the first two cases' medians are.
fn report(level: &str, cases: &[(&str, Vec<Duration>)]) {
    let mut medians = Vec::new();
    println!("\n{level}: {} samples per case", cases[0].1.len());
    println!(
        "  {:<16} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "case", "min", "p50", "p90", "p99", "max"
    );
    for (name, samples) in cases {
        let mut sorted = samples.clone();
        sorted.sort();
        let at = |q: f64| sorted[((sorted.len() as f64 - 1.0) * q).round() as usize];
        let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
        println!(
            "  {:<16} {:>9} {:>9} {:>9} {:>9} {:>9}",
            name,
            ms(sorted[0]),
            ms(at(0.5)),
            ms(at(0.9)),
            ms(at(0.99)),
            ms(*sorted.last().unwrap())
        );
        medians.push(at(0.5).as_secs_f64());
    }
    println!(
        "  unknown number vs wrong password, medians: {:+.1} %",
        (medians[0] / medians[1] - 1.0) * 100.0
    );
}

async fn directory_checks(samples: usize) {
    let directory = DemoDirectory::demo();
    // Warm up (allocator, caches).
    for (_, number, password) in CASES {
        directory.verify(number, password).await.unwrap();
    }
    let mut times = vec![Vec::with_capacity(samples); CASES.len()];
    for _ in 0..samples {
        for (i, (_, number, password)) in CASES.iter().enumerate() {
            let start = Instant::now();
            let found = directory.verify(number, password).await.unwrap();
            times[i].push(start.elapsed());
            assert_eq!(found.is_some(), i == 2, "{}", CASES[i].0);
        }
    }
    let cases: Vec<(&str, Vec<Duration>)> = CASES.iter().map(|c| c.0).zip(times).collect();
    report("directory (DemoDirectory::verify)", &cases);
}

struct Setup {
    _h: Harness,
    clock: ManualClock,
    outbox: Arc<RecordingOutbox>,
    inbound: Arc<InProcessQueue>,
    effects: Vec<Arc<InProcessQueue>>,
    webhook: whatsapp_webhook::Ports,
    ports: Ports,
    texts: Texts,
    next: u64,
}

impl Setup {
    async fn new() -> Self {
        let h = harness::embedded().await;
        let clock = h.clock.clone();
        let shared: SharedClock = Arc::new(clock.clone());
        let queue = |name: &str| Arc::new(InProcessQueue::new(name, shared.clone()));
        let inbound = queue("servicekanal-inbound.fifo");
        let (handover, agent_actions, closed, timers, surveys) = (
            queue("servicekanal-handover.fifo"),
            queue("servicekanal-agent-actions.fifo"),
            queue("servicekanal-conversation-closed.fifo"),
            queue("servicekanal-timers"),
            queue("servicekanal-survey-answers.fifo"),
        );
        let outbox = Arc::new(RecordingOutbox::new(shared.clone()));
        let desk: Arc<dyn AgentDesk> = Arc::new(QueueDesk::new(handover.clone()));
        let ports = Ports {
            store: h.store.clone(),
            whatsapp: outbox.clone(),
            directory: Arc::new(DemoDirectory::demo()),
            desk: desk.clone(),
            desk_fallback: desk,
            agent_actions_queue: agent_actions.clone(),
            closed_queue: closed.clone(),
            timer_queue: timers.clone(),
            survey_queue: surveys.clone(),
            clock: shared.clone(),
            pseudonymizer: servicekanal_testing::test_pseudonymizer(),
            lisa: Arc::new(Lisa::new(
                Catalogue::embedded(),
                Texts::embedded(),
                LisaConfig::default(),
            )),
            config: BotConfig {
                burst_window: TimeDelta::zero(),
                ..BotConfig::default()
            },
        };
        let webhook = whatsapp_webhook::Ports {
            store: h.store.clone(),
            inbound_queue: inbound.clone(),
            clock: shared,
            pseudonymizer: servicekanal_testing::test_pseudonymizer(),
            config: whatsapp_webhook::WebhookConfig {
                app_secret: Secret(APP_SECRET.into()),
                verify_token: Secret("servicekanal-local-verify-token".into()),
                max_body_bytes: whatsapp_webhook::DEFAULT_MAX_BODY_BYTES,
            },
        };
        Self {
            _h: h,
            clock,
            outbox,
            inbound,
            effects: vec![handover, agent_actions, closed, timers, surveys],
            webhook,
            ports,
            texts: Texts::embedded(),
            next: 0,
        }
    }

    /// Stores a customer's message through the webhook; returns its SQS event.
    async fn post(&mut self, phone: &str, message: UserMessage) -> SqsEvent {
        self.next += 1;
        let payload = WebhookPayload::inbound(
            PHONE_NUMBER_ID,
            &Sender::phone(phone, Some("Erika Mustermann")),
            &format!("wamid.auth-bench.{:020}", self.next),
            self.clock.now(),
            &message,
        );
        let request =
            servicekanal_testing::signed_post(whatsapp_webhook::WEBHOOK_PATH, &payload, APP_SECRET);
        let response = whatsapp_webhook::handle(request, &self.webhook).await;
        assert_eq!(response.status(), 200);
        let mut records = self.inbound.receive(1).await.unwrap();
        assert_eq!(records.len(), 1);
        let mut event = SqsEvent::default();
        event.records = vec![records.remove(0)];
        event
    }

    /// Handles one event; what it sent (texts), and how long the handler took.
    async fn turn(&self, event: SqsEvent) -> (Vec<String>, Duration) {
        let receipt = event.records[0].receipt_handle.clone().unwrap();
        let before = self.outbox.sent().len();
        let start = Instant::now();
        let response = handle(event, &self.ports).await;
        let took = start.elapsed();
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
        self.inbound.acknowledge(&receipt).await.unwrap();
        let sent = self.outbox.sent()[before..]
            .iter()
            .map(|e| match &e.content {
                OutboundContent::Text { body } => body.clone(),
                other => format!("{other:?}"),
            })
            .collect();
        (sent, took)
    }

    /// A new contact at the password prompt for `number` (untimed).
    async fn at_the_prompt(&mut self, phone: &str, number: &str) {
        let text = |body: &str| UserMessage::Text { body: body.into() };
        let button = |id: String| UserMessage::Button {
            title: id.clone(),
            id,
        };
        for message in [
            text("Hallo"),
            button(ids::KIND_CUSTOMER.into()),
            button(format!("{}agent", ids::TOPIC_PREFIX)),
            text(number),
        ] {
            let event = self.post(phone, message).await;
            self.turn(event).await;
        }
    }
}

async fn turns(samples: usize) {
    let mut setup = Setup::new().await;
    let expected = [
        setup.texts.auth_failed.clone(),
        setup.texts.auth_failed.clone(),
        setup.texts.handover.clone(),
    ];
    let mut times = vec![Vec::with_capacity(samples); CASES.len()];
    let mut contact = 0u64;
    for round in 0..samples + 3 {
        for (i, (name, number, password)) in CASES.iter().enumerate() {
            contact += 1;
            let phone = format!("4916{contact:09}");
            setup.at_the_prompt(&phone, number).await;
            let event = setup
                .post(
                    &phone,
                    UserMessage::Text {
                        body: (*password).into(),
                    },
                )
                .await;
            let (sent, took) = setup.turn(event).await;
            assert_eq!(sent, [expected[i].clone()], "{name}");
            // The first rounds warm up (allocator, store files, caches).
            if round >= 3 {
                times[i].push(took);
            }
        }
        // A day on: no failure of this round counts towards a lock in the next.
        setup.clock.advance(TimeDelta::hours(25));
        for queue in &setup.effects {
            drain(queue).await;
        }
    }
    let cases: Vec<(&str, Vec<Duration>)> = CASES.iter().map(|c| c.0).zip(times).collect();
    report("turn (bot_reply::handle of the password message)", &cases);
}
