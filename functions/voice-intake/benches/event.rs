//! One Amazon Connect contact-flow callback event through `voice_intake::handle`: read the
//! event, validate number, name, topic and window, store the request and its sales-list
//! entry (one transaction), queue it for sales, answer with the sentence the flow speaks.
//! The sample `events/voice-intake/connect-callback.json` with a fresh ContactId each time
//! (a repeated one would be Connect's retry), on the embedded store and the in-process FIFO
//! queue; each answer must say the request was taken. It prints the store calls of one event
//! and, after the benchmark, the CPU time per event of the handler threads and of the store's
//! writer thread (the rest of the wall time is waiting for fsync). Figures:
//! docs/performance.md.
//!
//!   cargo bench -p voice-intake --bench event
//!
//! The phone-number metadata (about 80 ms, built on a cold start's first event) is built by
//! an untimed first event.

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::Value;
use servicekanal_shared::domain::callback::CallbackCatalogue;
use servicekanal_shared::ports::clock::{Clock, ManualClock};
use servicekanal_shared::ports::queue::memory::InProcessQueue;
use servicekanal_shared::ports::queue::{OutgoingMessage, Queue};
use servicekanal_shared::ports::store::Store;
use servicekanal_testing::bench::{Cpu, CpuMeter, drain, noting, summarise};
use servicekanal_testing::harness;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use voice_intake::{Ports, handle};

const SAMPLE: &str = include_str!("../../../events/voice-intake/connect-callback.json");
/// Events prepared (untimed) and handled per round; between rounds the queue is drained.
const ROUND: u64 = 256;

static NEXT: AtomicU64 = AtomicU64::new(1);

/// The sample event as a new call: its own ContactId (initial and previous ids with it).
fn new_call(sample: &Value) -> Value {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let id = format!("5fb1d0c2-7c9e-4a1b-9d2f-{n:012x}");
    let mut event = sample.clone();
    let contact = &mut event["Details"]["ContactData"];
    for field in ["ContactId", "InitialContactId", "PreviousContactId"] {
        contact[field] = id.clone().into();
    }
    event
}

/// Lets the FIFO queue forget the ids it de-duplicates (untimed) without moving the time the
/// requests are taken at (their windows, "morgen zwischen 14 und 16 Uhr", count from it):
/// one send six minutes later prunes them, then the clock goes back.
async fn forget_dedup_ids(queue: &InProcessQueue, clock: &ManualClock) {
    let now = clock.now();
    clock.set(now + chrono::Duration::minutes(6));
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    queue
        .send(OutgoingMessage::fifo(
            "{}".into(),
            "bench",
            format!("prune-{n}"),
        ))
        .await
        .expect("in-process send");
    clock.set(now);
    drain(queue).await;
}

async fn calls(
    iterations: u64,
    sample: &Value,
    clock: &ManualClock,
    queue: &InProcessQueue,
    ports: &Ports,
    meter: &CpuMeter,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iterations;
    while left > 0 {
        let round = left.min(ROUND);
        left -= round;
        let events: Vec<Value> = (0..round).map(|_| new_call(sample)).collect();
        let cpu = Cpu::now();
        let start = Instant::now();
        for event in events {
            let answer = handle(event, ports).await.expect("a Connect answer");
            assert_eq!(answer["status"], "ok", "the request was taken: {answer}");
        }
        total += start.elapsed();
        meter.add(Cpu::now().since(cpu), round);
        assert_eq!(
            drain(queue).await.len() as u64,
            round,
            "every request went to sales once"
        );
        forget_dedup_ids(queue, clock).await;
    }
    total
}

fn bench_event(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let h = runtime.block_on(harness::embedded());
    let sales = Arc::new(InProcessQueue::new(
        "servicekanal-sales-callbacks.fifo",
        Arc::new(h.clock.clone()),
    ));
    let ports_on = |store: Arc<dyn Store>| Ports {
        store,
        sales_queue: sales.clone(),
        clock: Arc::new(h.clock.clone()),
        catalogue: CallbackCatalogue::embedded(),
        pseudonymizer: servicekanal_testing::test_pseudonymizer(),
    };
    let ports = ports_on(h.store.clone());
    let sample: Value = serde_json::from_str(SAMPLE).expect("a JSON sample");

    // The cold start's first event (phone-number metadata), untimed but reported; then the
    // store calls of one event.
    let start = Instant::now();
    let first = runtime.block_on(handle(new_call(&sample), &ports)).unwrap();
    eprintln!(
        "first event (builds the phone-number metadata): {:?}",
        start.elapsed()
    );
    assert_eq!(first["status"], "ok", "{first}");
    let (noted, calls_noted) = noting(h.store.clone());
    let answer = runtime
        .block_on(handle(new_call(&sample), &ports_on(noted)))
        .unwrap();
    assert_eq!(answer["status"], "ok", "{answer}");
    eprintln!("store calls, one event: {}", summarise(&calls_noted));
    runtime.block_on(drain(&sales));

    let mut group = c.benchmark_group("voice intake");
    let (sample, clock, sales, ports) = (&sample, &h.clock, sales.as_ref(), &ports);
    let meter = &CpuMeter::default();
    group.bench_function("Connect callback request", |b| {
        b.to_async(&runtime).iter_custom(|iterations| async move {
            calls(iterations, sample, clock, sales, ports, meter).await
        })
    });
    meter.report("Connect callback request");
    group.finish();
}

criterion_group!(benches, bench_event);
criterion_main!(benches);
