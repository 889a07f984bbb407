//! One bot turn: a customer's text message, already stored and queued by the webhook, handled
//! by `bot_reply::handle` as the inbound FIFO queue delivers it (an SQS event of one record):
//! Lisa reads the stored message, decides, commits her decision, sends her replies through
//! the recording outbox, marks them sent and queues the inactivity timer. On the embedded
//! store and in-process queues, Lisa with the embedded catalogue and texts, the burst window
//! at zero (the turn does not wait for followers). Every iteration is the first message of a
//! contact never seen before, so every turn is a real one. Before the benchmark it prints
//! what one turn sent and the store calls it made; after it, the CPU time per turn of the
//! handler threads and of the store's writer thread (the rest of the wall time is waiting for
//! fsync). Figures: docs/performance.md.
//!
//!   cargo bench -p bot-reply --bench turn
//!
//! Not timed: the webhook storing and queueing the message (`whatsapp_webhook::handle`, as in
//! the local stack), receiving it from the queue, acknowledging it.

use aws_lambda_events::event::sqs::SqsEvent;
use bot_reply::{BotConfig, Ports, handle};
use chrono::Duration as TimeDelta;
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use servicekanal_shared::channels::whatsapp::outbox::RecordingOutbox;
use servicekanal_shared::channels::whatsapp::payload::{Sender, UserMessage, WebhookPayload};
use servicekanal_shared::lisa::catalogue::Catalogue;
use servicekanal_shared::lisa::dialogue::{Lisa, LisaConfig, Texts};
use servicekanal_shared::policy::mask::Secret;
use servicekanal_shared::ports::clock::{ManualClock, SharedClock};
use servicekanal_shared::ports::desk::{AgentDesk, QueueDesk};
use servicekanal_shared::ports::directory::DemoDirectory;
use servicekanal_shared::ports::queue::Queue;
use servicekanal_shared::ports::queue::memory::InProcessQueue;
use servicekanal_shared::ports::store::Store;
use servicekanal_testing::bench::{Cpu, CpuMeter, drain, noting, summarise};
use servicekanal_testing::harness::{self, Harness};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const APP_SECRET: &str = "servicekanal-local-app-secret";
const PHONE_NUMBER_ID: &str = "100000000000001";
/// The sample customer's first message (`events/whatsapp-webhook/post-text.json`).
const TEXT: &str = "Hallo, meine Rechnung ist viel zu hoch!";
/// Turns prepared (untimed) and timed per round; between rounds the queues are drained.
const ROUND: u64 = 64;

/// The in-process queues bot-reply and the webhook use, named as in template.yaml.
struct Queues {
    inbound: Arc<InProcessQueue>,
    agent_actions: Arc<InProcessQueue>,
    timers: Arc<InProcessQueue>,
    handover: Arc<InProcessQueue>,
    closed: Arc<InProcessQueue>,
    survey_answers: Arc<InProcessQueue>,
}

impl Queues {
    fn new(clock: &SharedClock) -> Self {
        let queue = |name: &str| Arc::new(InProcessQueue::new(name, clock.clone()));
        Self {
            inbound: queue("servicekanal-inbound.fifo"),
            agent_actions: queue("servicekanal-agent-actions.fifo"),
            timers: queue("servicekanal-timers"),
            handover: queue("servicekanal-handover.fifo"),
            closed: queue("servicekanal-conversation-closed.fifo"),
            survey_answers: queue("servicekanal-survey-answers.fifo"),
        }
    }

    /// Empties every queue but the inbound one (what the turns left: timers once due,
    /// handovers, closed conversations).
    async fn drain_effects(&self) {
        for queue in [
            &self.agent_actions,
            &self.timers,
            &self.handover,
            &self.closed,
            &self.survey_answers,
        ] {
            drain(queue).await;
        }
    }
}

/// The local stack's wiring (cli/src/stack.rs) with the burst window at zero.
struct Setup {
    clock: ManualClock,
    queues: Queues,
    outbox: Arc<RecordingOutbox>,
    webhook: whatsapp_webhook::Ports,
    lisa: Arc<Lisa>,
}

impl Setup {
    fn new(h: &Harness) -> Self {
        let clock: SharedClock = Arc::new(h.clock.clone());
        let queues = Queues::new(&clock);
        let webhook = whatsapp_webhook::Ports {
            store: h.store.clone(),
            inbound_queue: queues.inbound.clone(),
            clock: clock.clone(),
            pseudonymizer: servicekanal_testing::test_pseudonymizer(),
            config: whatsapp_webhook::WebhookConfig {
                app_secret: Secret(APP_SECRET.into()),
                verify_token: Secret("servicekanal-local-verify-token".into()),
                max_body_bytes: whatsapp_webhook::DEFAULT_MAX_BODY_BYTES,
            },
        };
        Self {
            clock: h.clock.clone(),
            outbox: Arc::new(RecordingOutbox::new(clock)),
            queues,
            webhook,
            lisa: Arc::new(Lisa::new(
                Catalogue::embedded(),
                Texts::embedded(),
                LisaConfig::default(),
            )),
        }
    }

    fn bot_ports(&self, store: Arc<dyn Store>) -> Ports {
        let desk: Arc<dyn AgentDesk> = Arc::new(QueueDesk::new(self.queues.handover.clone()));
        Ports {
            store,
            whatsapp: self.outbox.clone(),
            directory: Arc::new(DemoDirectory::demo()),
            desk: desk.clone(),
            desk_fallback: desk,
            agent_actions_queue: self.queues.agent_actions.clone(),
            closed_queue: self.queues.closed.clone(),
            timer_queue: self.queues.timers.clone(),
            survey_queue: self.queues.survey_answers.clone(),
            clock: Arc::new(self.clock.clone()),
            pseudonymizer: servicekanal_testing::test_pseudonymizer(),
            lisa: self.lisa.clone(),
            config: BotConfig {
                burst_window: TimeDelta::zero(),
                ..BotConfig::default()
            },
        }
    }

    /// `count` new contacts write their first message a second apart: each is POSTed to the
    /// webhook, signed, and comes back off the inbound queue as an SQS event of one record.
    async fn first_messages(&self, count: u64) -> Vec<SqsEvent> {
        for _ in 0..count {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let at = self.clock.advance(TimeDelta::seconds(1));
            let payload = WebhookPayload::inbound(
                PHONE_NUMBER_ID,
                &Sender::phone(
                    &format!("49151{:08}", n % 100_000_000),
                    Some("Erika Mustermann"),
                ),
                &format!("wamid.bench.{n:020}"),
                at,
                &UserMessage::Text { body: TEXT.into() },
            );
            let request = servicekanal_testing::signed_post(
                whatsapp_webhook::WEBHOOK_PATH,
                &payload,
                APP_SECRET,
            );
            let response = whatsapp_webhook::handle(request, &self.webhook).await;
            assert_eq!(response.status(), 200, "the webhook took the message");
        }
        let records = self.queues.inbound.receive(1000).await.unwrap();
        assert_eq!(records.len() as u64, count, "one notice per message");
        records
            .into_iter()
            .map(|record| {
                let mut event = SqsEvent::default();
                event.records = vec![record];
                event
            })
            .collect()
    }
}

/// A unique number per message: its WhatsApp id and its sender's number.
static NEXT: AtomicU64 = AtomicU64::new(1);

/// Times `iterations` turns, each the first message of a new contact.
async fn turns(iterations: u64, setup: &Setup, ports: &Ports, meter: &CpuMeter) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iterations;
    while left > 0 {
        let round = left.min(ROUND);
        left -= round;
        let events = setup.first_messages(round).await;
        let handles: Vec<String> = events
            .iter()
            .map(|e| e.records[0].receipt_handle.clone().unwrap())
            .collect();
        let sent_before = setup.outbox.sent().len();
        let cpu = Cpu::now();
        let start = Instant::now();
        for event in events {
            let response = handle(event, ports).await;
            assert!(
                response.batch_item_failures.is_empty(),
                "the turn failed: {response:?}"
            );
        }
        total += start.elapsed();
        meter.add(Cpu::now().since(cpu), round);
        let replies = setup.outbox.sent().len() - sent_before;
        assert!(replies as u64 >= round, "every turn sent a reply");
        for handle in handles {
            setup.queues.inbound.acknowledge(&handle).await.unwrap();
        }
        // Time passes: the FIFO queues' five-minute de-duplication window forgets the ids;
        // inactivity timers come due and are thrown away.
        setup.clock.advance(TimeDelta::minutes(6));
        setup.queues.drain_effects().await;
    }
    total
}

/// Prints what one turn sent and the store calls it made, in order.
async fn print_one_turn(h: &Harness, setup: &Setup) {
    let (store, calls) = noting(h.store.clone());
    let ports = setup.bot_ports(store);
    let event = setup.first_messages(1).await.remove(0);
    let handle_id = event.records[0].receipt_handle.clone().unwrap();
    let sent_before = setup.outbox.sent().len();
    let response = handle(event, &ports).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    setup.queues.inbound.acknowledge(&handle_id).await.unwrap();
    for entry in &setup.outbox.sent()[sent_before..] {
        let content = serde_json::to_string(&entry.content).unwrap();
        eprintln!(
            "one turn sent: {}",
            content.chars().take(160).collect::<String>()
        );
    }
    eprintln!("store calls, one turn: {}", summarise(&calls));
    let effects: Vec<String> = drain(&setup.queues.timers)
        .await
        .into_iter()
        .chain(drain(&setup.queues.handover).await)
        .filter_map(|m| m.body)
        .map(|b| b.chars().take(60).collect())
        .collect();
    eprintln!("visible effects queued: {effects:?} (the inactivity timer is delayed)");
}

fn bench_turn(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let h = runtime.block_on(harness::embedded());
    let setup = Setup::new(&h);
    runtime.block_on(print_one_turn(&h, &setup));
    let ports = setup.bot_ports(h.store.clone());

    let mut group = c.benchmark_group("bot turn");
    // Each iteration also stores a message through the webhook (untimed): fewer, flat samples.
    group.sample_size(30).sampling_mode(SamplingMode::Flat);
    let (setup, ports) = (&setup, &ports);
    let meter = &CpuMeter::default();
    group.bench_function("first message of a new contact", |b| {
        b.to_async(&runtime)
            .iter_custom(|iterations| async move { turns(iterations, setup, ports, meter).await })
    });
    meter.report("first message of a new contact");
    group.finish();
}

criterion_group!(benches, bench_turn);
criterion_main!(benches);
