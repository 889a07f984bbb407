//! How many stream records per second `stats_export::export` turns into anonymised Parquet:
//! one batch of 1,000 DynamoDB stream records (the event source mapping's batch size in
//! template.yaml), written to an in-memory object store (the function's own work; S3's PUTs
//! are not in it) and to a local directory (the local stack's bucket). For scale, reading the
//! batch into rows alone, without Parquet, and of that the stream images read into records.
//! Figures: docs/performance.md.
//!
//!   cargo bench -p stats-export --bench export
//!
//! The batch is the records of `events/stats-export/` (recorded from the local stack's change
//! feed: a WhatsApp conversation with Lisa and a survey, a callback done and deleted, TTL
//! removals; 64 records) repeated in that order with their own sequence numbers: two thirds
//! messages, profiles, markers and conversations, a quarter deletions.

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use servicekanal_shared::ports::objects::local::LocalDirectory;
use servicekanal_shared::ports::objects::{ObjectError, ObjectStore, check_key};
use servicekanal_shared::ports::store::Record;
use servicekanal_shared::stats::{Rows, Table};
use stats_export::{Ports, export};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::{Arc, Mutex};

const BATCH: usize = 1_000;
const SAMPLES: [&str; 3] = [
    include_str!("../../../events/stats-export/whatsapp-conversation.json"),
    include_str!("../../../events/stats-export/callback-done.json"),
    include_str!("../../../events/stats-export/ttl-removals.json"),
];

/// `BATCH` records: the samples' records over and over, numbered as one stream shard would.
fn batch() -> Vec<EventRecord> {
    let sample: Vec<EventRecord> = SAMPLES
        .iter()
        .flat_map(|json| {
            serde_json::from_str::<Event>(json)
                .expect("a DynamoDB stream event")
                .records
        })
        .collect();
    sample
        .iter()
        .cycle()
        .take(BATCH)
        .enumerate()
        .map(|(i, record)| {
            let mut record = record.clone();
            let sequence = format!("{:021}", 1_000_000 + i);
            record.event_id = format!("bench-{sequence}");
            record.change.sequence_number = Some(sequence);
            record
        })
        .collect()
}

/// An object store in memory: what the export costs without S3's round trips.
#[derive(Default)]
struct MemoryObjects(Mutex<BTreeMap<String, Vec<u8>>>);

impl MemoryObjects {
    fn objects(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl ObjectStore for MemoryObjects {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), ObjectError> {
        check_key(key)?;
        self.objects().insert(key.to_owned(), bytes);
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ObjectError> {
        Ok(self.objects().get(key).cloned())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, ObjectError> {
        Ok(self
            .objects()
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }

    async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        self.objects().remove(key);
        Ok(())
    }
}

fn bench_export(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let records = batch();
    let dir = tempfile::tempdir().unwrap();
    let memory = Arc::new(MemoryObjects::default());
    let in_memory = Ports {
        objects: memory.clone(),
    };
    let local = Ports {
        objects: Arc::new(LocalDirectory::new(dir.path())),
    };

    // What the batch amounts to, and a check that every record is read.
    let exported = runtime.block_on(export(&records, &in_memory)).unwrap();
    assert_eq!((exported.records, exported.poison.as_ref()), (BATCH, None));
    let bytes: usize = memory.objects().values().map(Vec::len).sum();
    eprintln!(
        "one batch of {BATCH}: rows {:?}, {} objects, {bytes} bytes of Parquet",
        exported.rows,
        exported.objects.len()
    );
    assert!(exported.rows[&Table::MessageEvents] > 0);

    let mut group = c.benchmark_group("stats export");
    group
        .sample_size(30)
        .throughput(Throughput::Elements(BATCH as u64));
    let records = &records;
    for (name, ports) in [
        ("1000 records, in-memory objects", &in_memory),
        ("1000 records, local directory", &local),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| async move {
                let exported = export(records, ports).await.expect("exported");
                assert_eq!(exported.records, BATCH, "every record read");
                exported
            })
        });
    }
    group.bench_function("1000 records, rows only (no Parquet)", |b| {
        b.iter(|| {
            let mut rows = Rows::default();
            for record in records {
                rows.add(record).expect("a readable record");
            }
            black_box(rows)
        })
    });
    // Of that: turning the stream images into records (both images of every record), before
    // any body is decoded.
    group.bench_function("1000 records, images read only (Record::from_item)", |b| {
        b.iter(|| {
            for record in records {
                for image in [&record.change.old_image, &record.change.new_image] {
                    if !image.is_empty() {
                        black_box(Record::from_item(image).expect("a readable image"));
                    }
                }
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_export);
criterion_main!(benches);
