//! How fast one sweep deletes due items: on the embedded store (the sweeper's own cost) and
//! behind a simulated DynamoDB round trip of 8 ms per call (what bounds a sweep in AWS: pages
//! are read one after the other, deletions run 16 at a time). Figures: docs/performance.md.
//!
//!   cargo bench -p retention-sweeper --bench sweep

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use retention_sweeper::{Ports, SweepConfig, sweep};
use servicekanal_shared::policy::retention::RetentionClass;
use servicekanal_shared::ports::clock::Clock;
use servicekanal_testing::harness::{self, Harness};
use servicekanal_testing::{FaultyStore, records};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DUE_ITEMS: u64 = 1_000;
const ROUND_TRIP: Duration = Duration::from_millis(8);

/// Seeds `DUE_ITEMS` survey answers, moves the clock past their deadlines and times the sweep
/// alone (seeding is not measured).
async fn timed_sweep(h: &Harness, ports: &Ports) -> Duration {
    let now = h.clock.now();
    for i in 0..DUE_ITEMS as i64 {
        let answered = now - chrono::Duration::seconds(i);
        h.store
            .create(&records::survey_answer(answered))
            .await
            .unwrap();
    }
    h.clock
        .set(RetentionClass::Survey13m.deadline(now) + chrono::Duration::minutes(1));
    let start = Instant::now();
    let report = sweep(ports).await.unwrap();
    let elapsed = start.elapsed();
    assert_eq!(report.total_deleted(), DUE_ITEMS, "every due item deleted");
    elapsed
}

fn bench_sweep(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let h = runtime.block_on(harness::embedded());
    let ports_with = |store| Ports {
        store,
        clock: Arc::new(h.clock.clone()),
        config: SweepConfig::default(),
    };
    let local = ports_with(h.store.clone());
    let remote = ports_with(Arc::new(FaultyStore::with_latency(
        h.store.clone(),
        ROUND_TRIP,
    )));

    let mut group = c.benchmark_group("sweep");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(DUE_ITEMS));
    let h = &h;
    for (name, ports) in [("embedded", &local), ("8ms-round-trip", &remote)] {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter_custom(|iterations| async move {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    total += timed_sweep(h, ports).await;
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_sweep);
criterion_main!(benches);
