//! One webhook request through `whatsapp_webhook::handle` (verify, parse, de-duplicate, store,
//! enqueue) on the embedded store and the in-process FIFO queue: a text message with a new
//! WhatsApp id from a known contact, the same from a contact never seen before, a redelivery
//! of a message Lisa has taken (WhatsApp delivers at least once), and a POST whose signature
//! does not match (what a flood of forged requests costs). Then new messages of 32 known
//! contacts handled at once, as the local stack takes them from many customers: the handler
//! seldom sits idle waiting for a commit, and commits take many writes each. For scale, the
//! redelivery again, each after its thread slept (or spun) for a millisecond, as long as a new
//! message waits for its commit; one embedded-store create alone (one durable commit of the
//! store's writer), and one it refuses (the hand-off to the writer thread and back, no commit). Before the benchmarks it prints the
//! store calls each kind of request makes; after each, the CPU time per request of the handler
//! threads and of the store's writer thread (the rest of the wall time is waiting for fsync),
//! and with `SERVICEKANAL_BENCH_STEPS` set, the handler's CPU time in each of its steps.
//! Figures: docs/performance.md.
//!
//!   cargo bench -p whatsapp-webhook --bench request
//!   SERVICEKANAL_BENCH_STEPS=1 cargo bench -p whatsapp-webhook --bench request -- "known contact"
//!
//! Requests are the Lambda function URL events of `events/whatsapp-webhook/` (signed with the
//! local app secret), built outside the timed part; each response's status is asserted.

use criterion::{Criterion, criterion_group, criterion_main};
use lambda_http::Request;
use servicekanal_shared::channels::whatsapp::payload::{SIGNATURE_HEADER, sign};
use servicekanal_shared::domain::keys::ItemKey;
use servicekanal_shared::domain::messages;
use servicekanal_shared::policy::mask::Secret;
use servicekanal_shared::ports::clock::{Clock, ManualClock};
use servicekanal_shared::ports::queue::memory::InProcessQueue;
use servicekanal_shared::ports::store::{Store, StoreError};
use servicekanal_testing::bench::{
    Cpu, CpuMeter, Pause, drain, noting, summarise, thread_cpu, time_steps_if_asked,
};
use servicekanal_testing::harness::{self, Harness};
use servicekanal_testing::records;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use whatsapp_webhook::{DEFAULT_MAX_BODY_BYTES, Ports, WebhookConfig, handle};

/// The local stack's app secret, which the sample events are signed with.
const APP_SECRET: &str = "servicekanal-local-app-secret";
const POST_TEXT: &str = include_str!("../../../events/whatsapp-webhook/post-text.json");
const POST_WRONG_SIGNATURE: &str =
    include_str!("../../../events/whatsapp-webhook/post-wrong-signature.json");
/// What `post-text.json`'s body carries, replaced per request.
const SAMPLE_WAMID: &str = "wamid.HBgNNDkxNzYxMjM0NTY3OBUCABIYFDNBMDQ000001AA==";
const SAMPLE_TIMESTAMP: &str = "\"1795255201\"";
const SAMPLE_SENDER: &str = "4917612345678";
/// Requests built (untimed) and handled per round; between rounds the queue is drained.
const ROUND: u64 = 256;

/// A `post-text.json` request: the same text from `sender`, with WhatsApp id `wamid` and
/// time `at` (epoch seconds), signed as WhatsApp signs it.
fn text_request(wamid: &str, sender: &str, at: i64) -> Request {
    let mut event: serde_json::Value = serde_json::from_str(POST_TEXT).expect("a JSON sample");
    let sample = event["body"].as_str().expect("a body").to_owned();
    for needle in [SAMPLE_WAMID, SAMPLE_TIMESTAMP] {
        assert_eq!(
            sample.matches(needle).count(),
            1,
            "{needle} once in the body"
        );
    }
    let body = sample
        .replace(SAMPLE_WAMID, wamid)
        .replace(SAMPLE_TIMESTAMP, &format!("\"{at}\""))
        .replace(SAMPLE_SENDER, sender);
    event["headers"][SIGNATURE_HEADER] = sign(APP_SECRET.as_bytes(), body.as_bytes()).into();
    event["body"] = body.into();
    lambda_http::request::from_str(&event.to_string()).expect("a function URL event")
}

fn wrong_signature_request() -> Request {
    lambda_http::request::from_str(POST_WRONG_SIGNATURE).expect("a function URL event")
}

fn ports(clock: &ManualClock, store: Arc<dyn Store>, queue: Arc<InProcessQueue>) -> Ports {
    Ports {
        store,
        inbound_queue: queue,
        clock: Arc::new(clock.clone()),
        pseudonymizer: servicekanal_testing::test_pseudonymizer(),
        config: WebhookConfig {
            app_secret: Secret(APP_SECRET.into()),
            verify_token: Secret("servicekanal-local-verify-token".into()),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        },
    }
}

/// Who sends the new messages.
#[derive(Clone, Copy)]
enum Sender {
    /// The sample's customer, stored before the benchmark: her profile's last contact moves.
    Known,
    /// A number never seen before, per message: profile and identity link are created.
    New,
    /// `LANES` known contacts at once, as the local stack takes them from many customers:
    /// each sends its messages one after another.
    Lanes,
}

/// Requests in flight at once with `Sender::Lanes`, each lane from a contact of its own.
const LANES: u64 = 32;

/// The sender of lane `lane`: a known contact of `Sender::Lanes`.
fn lane_sender(lane: u64) -> String {
    format!("49176200{lane:05}")
}

/// A unique number per request, shared by every case (WhatsApp ids and new senders).
static NEXT: AtomicU64 = AtomicU64::new(1);

/// `iterations` in rounds of at most `ROUND` requests.
fn rounds(iterations: u64) -> impl Iterator<Item = u64> {
    (0..iterations.div_ceil(ROUND)).map(move |i| (iterations - i * ROUND).min(ROUND))
}

/// Handles one round of requests built beforehand, timed: the lanes at once, each lane's
/// requests one after another. Each must be answered `status`.
async fn timed_round(
    lanes: Vec<Vec<Request>>,
    ports: &Ports,
    meter: &CpuMeter,
    status: u16,
    what: &str,
) -> Duration {
    let round = lanes.iter().map(Vec::len).sum::<usize>() as u64;
    let cpu = Cpu::now();
    let start = Instant::now();
    futures::future::join_all(lanes.into_iter().map(|lane| async move {
        for request in lane {
            let response = handle(request, ports).await;
            assert_eq!(response.status(), status, "{what}");
        }
    }))
    .await;
    let elapsed = start.elapsed();
    meter.add(Cpu::now().since(cpu), round);
    elapsed
}

/// A new text message from `from`: its WhatsApp id unique, sent a second after the one before.
fn next_message(clock: &ManualClock, from: &str) -> Request {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let at = clock.advance(chrono::Duration::seconds(1)).timestamp();
    text_request(&format!("wamid.bench.{n:020}"), from, at)
}

/// After a round: each of its `round` messages queued once. Then five minutes pass, so the
/// FIFO queue's de-duplication window forgets the ids, as SQS does (the in-process queue
/// walks every id it remembers on each send).
async fn after_round(round: u64, clock: &ManualClock, queue: &InProcessQueue) {
    assert_eq!(
        drain(queue).await.len() as u64,
        round,
        "every new message queued once"
    );
    clock.advance(chrono::Duration::minutes(6));
}

/// Times `iterations` new messages (ids and times unique, a second apart) from `sender`.
async fn new_messages(
    iterations: u64,
    sender: Sender,
    clock: &ManualClock,
    queue: &InProcessQueue,
    ports: &Ports,
    meter: &CpuMeter,
) -> Duration {
    let lanes = match sender {
        Sender::Lanes => LANES,
        Sender::Known | Sender::New => 1,
    };
    let mut total = Duration::ZERO;
    for round in rounds(iterations) {
        let mut requests: Vec<Vec<Request>> = (0..lanes).map(|_| Vec::new()).collect();
        for i in 0..round {
            let from = match sender {
                Sender::Known => SAMPLE_SENDER.to_owned(),
                Sender::New => {
                    let n = NEXT.fetch_add(1, Ordering::Relaxed);
                    format!("49151{:08}", n % 100_000_000)
                }
                Sender::Lanes => lane_sender(i % LANES),
            };
            requests[(i % lanes) as usize].push(next_message(clock, &from));
        }
        total += timed_round(requests, ports, meter, 200, "a new message is taken").await;
        after_round(round, clock, queue).await;
    }
    total
}

/// Times `iterations` redeliveries of `wamid` (stored and queued before).
async fn redeliveries(
    iterations: u64,
    wamid: &str,
    at: i64,
    ports: &Ports,
    meter: &CpuMeter,
) -> Duration {
    let mut total = Duration::ZERO;
    for round in rounds(iterations) {
        let requests = (0..round)
            .map(|_| text_request(wamid, SAMPLE_SENDER, at))
            .collect();
        total += timed_round(
            vec![requests],
            ports,
            meter,
            200,
            "a redelivery is acknowledged",
        )
        .await;
    }
    total
}

/// Times `iterations` redeliveries of `wamid`, each after a millisecond's pause.
async fn paused_redeliveries(
    iterations: u64,
    pause: Pause,
    wamid: &str,
    at: i64,
    ports: &Ports,
    meter: &CpuMeter,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut cpu = Duration::ZERO;
    for round in rounds(iterations) {
        for request in (0..round).map(|_| text_request(wamid, SAMPLE_SENDER, at)) {
            pause.take(Duration::from_millis(1));
            let (start, started_cpu) = (Instant::now(), thread_cpu());
            let response = handle(request, ports).await;
            cpu += thread_cpu() - started_cpu;
            total += start.elapsed();
            assert_eq!(response.status(), 200, "a redelivery is acknowledged");
        }
    }
    meter.add(
        Cpu {
            handler: cpu,
            store_writer: Duration::ZERO,
        },
        iterations,
    );
    total
}

async fn forgeries(iterations: u64, ports: &Ports, meter: &CpuMeter) -> Duration {
    let mut total = Duration::ZERO;
    for round in rounds(iterations) {
        let requests = (0..round).map(|_| wrong_signature_request()).collect();
        total += timed_round(
            vec![requests],
            ports,
            meter,
            401,
            "a forged request is refused",
        )
        .await;
    }
    total
}

/// Prints the store calls one request of each kind makes, in order.
async fn print_store_calls(h: &Harness) {
    let (store, calls) = noting(h.store.clone());
    let queue = Arc::new(InProcessQueue::new(
        "servicekanal-inbound.fifo",
        Arc::new(h.clock.clone()),
    ));
    let ports = ports(&h.clock, store, queue.clone());
    // Sent a little before now (a message from the future counts from now).
    let at = h.clock.now().timestamp() - 10;
    let sender = "4915199999991";
    let cases = [
        ("new message, new contact", "wamid.calls.1", at),
        ("new message, known contact", "wamid.calls.2", at + 1),
        (
            "duplicate delivery before Lisa took the message",
            "wamid.calls.2",
            at + 1,
        ),
        ("duplicate delivery", "wamid.calls.2", at + 1),
    ];
    for (name, wamid, at) in cases {
        if name == "duplicate delivery" {
            lisa_takes(h.store.as_ref(), sender, wamid, at).await;
        }
        let response = handle(text_request(wamid, sender, at), &ports).await;
        assert_eq!(response.status(), 200);
        eprintln!("store calls, {name}: {}", summarise(&calls));
    }
    drain(&queue).await;
}

/// What Lisa leaves on a message once she has decided on it (a redelivery from then on is a
/// duplicate): the message `wamid` of `sender`, sent at `at` (epoch seconds).
async fn lisa_takes(store: &dyn Store, sender: &str, wamid: &str, at: i64) {
    let contact = servicekanal_testing::test_pseudonymizer()
        .contact(sender)
        .expect("a number");
    let at = chrono::DateTime::from_timestamp(at, 0).expect("a time");
    let key = ItemKey::message(&contact, messages::message_id_for(wamid, at));
    servicekanal_testing::lisa_took(store, &key).await;
}

fn bench_request(c: &mut Criterion) {
    time_steps_if_asked();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let h = runtime.block_on(harness::embedded());
    runtime.block_on(print_store_calls(&h));
    let queue = Arc::new(InProcessQueue::new(
        "servicekanal-inbound.fifo",
        Arc::new(h.clock.clone()),
    ));
    let ports = ports(&h.clock, h.store.clone(), queue.clone());

    // The known customer and the message whose redeliveries are timed.
    let first_at = h.clock.now().timestamp();
    let first = "wamid.bench.first";
    runtime.block_on(async {
        let response = handle(text_request(first, SAMPLE_SENDER, first_at), &ports).await;
        assert_eq!(response.status(), 200);
        assert_eq!(drain(&queue).await.len(), 1);
        lisa_takes(h.store.as_ref(), SAMPLE_SENDER, first, first_at).await;
    });

    let mut group = c.benchmark_group("webhook request");
    let (clock, queue, ports) = (&h.clock, queue.as_ref(), &ports);
    // The contacts of `Sender::Lanes`, known before it starts.
    runtime.block_on(async {
        for lane in 0..LANES {
            let response = handle(next_message(clock, &lane_sender(lane)), ports).await;
            assert_eq!(response.status(), 200);
        }
        after_round(LANES, clock, queue).await;
    });
    for (name, sender) in [
        ("new message, known contact".to_owned(), Sender::Known),
        ("new message, new contact".to_owned(), Sender::New),
        (
            format!("new messages, known contacts, {LANES} at once"),
            Sender::Lanes,
        ),
    ] {
        let name = name.as_str();
        let meter = &CpuMeter::default();
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter_custom(|iterations| async move {
                new_messages(iterations, sender, clock, queue, ports, meter).await
            })
        });
        meter.report(name);
    }
    let meter = &CpuMeter::default();
    group.bench_function("duplicate delivery", |b| {
        b.to_async(&runtime).iter_custom(|iterations| async move {
            redeliveries(iterations, first, first_at, ports, meter).await
        })
    });
    meter.report("duplicate delivery");
    // For scale: the same redeliveries, each after the thread has slept (or spun) for as long
    // as a new message waits for its commit. Only `handle` is timed, on the thread's CPU clock.
    for (name, pause) in [
        (
            "reference: duplicate delivery after 1 ms asleep",
            Pause::Sleep,
        ),
        (
            "reference: duplicate delivery after 1 ms spinning",
            Pause::Spin,
        ),
    ] {
        let meter = &CpuMeter::default();
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter_custom(|iterations| async move {
                paused_redeliveries(iterations, pause, first, first_at, ports, meter).await
            })
        });
        meter.report(name);
    }
    let meter = &CpuMeter::default();
    group.bench_function("rejected: bad signature", |b| {
        b.to_async(&runtime)
            .iter_custom(|iterations| async move { forgeries(iterations, ports, meter).await })
    });
    meter.report("rejected: bad signature");
    // For scale: what one durable write transaction of the embedded store costs here.
    let store = h.store.as_ref();
    let meter = &CpuMeter::default();
    group.bench_function("reference: one embedded-store create", |b| {
        b.to_async(&runtime).iter_custom(|iterations| async move {
            let mut total = Duration::ZERO;
            let cpu = Cpu::now();
            for _ in 0..iterations {
                let record = records::survey_answer(clock.now());
                let start = Instant::now();
                store.create(&record).await.expect("created");
                total += start.elapsed();
            }
            meter.add(Cpu::now().since(cpu), iterations);
            total
        })
    });
    meter.report("reference: one embedded-store create");
    // For scale: a write the store refuses (the item exists), so its writer commits nothing:
    // what handing a write to the writer thread and waiting for its answer costs alone.
    let existing = records::survey_answer(clock.now());
    runtime.block_on(store.create(&existing)).expect("created");
    let meter = &CpuMeter::default();
    group.bench_function("reference: one refused create (no commit)", |b| {
        b.to_async(&runtime).iter_custom(|iterations| {
            let existing = existing.clone();
            async move {
                let cpu = Cpu::now();
                let start = Instant::now();
                for _ in 0..iterations {
                    let refused = store.create(&existing).await;
                    assert!(
                        matches!(refused, Err(StoreError::AlreadyExists(_))),
                        "refused"
                    );
                }
                let total = start.elapsed();
                meter.add(Cpu::now().since(cpu), iterations);
                total
            }
        })
    });
    meter.report("reference: one refused create (no commit)");
    group.finish();
}

criterion_group!(benches, bench_request);
criterion_main!(benches);
