//! What the per-event benchmarks share: the CPU time of the handler and of the embedded store's
//! writer thread, the store calls a request makes, and draining an in-process queue.

use crate::FaultyStore;
use aws_lambda_events::event::sqs::SqsMessage;
use servicekanal_shared::domain::keys::ItemKey;
use servicekanal_shared::ports::queue::Queue;
use servicekanal_shared::ports::queue::memory::InProcessQueue;
use servicekanal_shared::ports::store::Store;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// CPU time the process's threads have used so far (on-CPU nanoseconds from
/// /proc/self/task/*/schedstat, user and system): the embedded store's writer thread (redb's
/// group commits: page writes, fsync) apart from all the others (the handler, tokio, reads).
/// Waiting for the disk is not CPU time.
#[derive(Clone, Copy, Default)]
pub struct Cpu {
    pub handler: Duration,
    pub store_writer: Duration,
}

impl Cpu {
    pub fn now() -> Self {
        let mut cpu = Cpu::default();
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return cpu;
        };
        for task in tasks.flatten() {
            let path = task.path();
            let on_cpu = std::fs::read_to_string(path.join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
                .map_or(Duration::ZERO, Duration::from_nanos);
            let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            if comm.trim() == "store-writer" {
                cpu.store_writer += on_cpu;
            } else {
                cpu.handler += on_cpu;
            }
        }
        cpu
    }

    pub fn since(self, earlier: Cpu) -> Cpu {
        Cpu {
            handler: self.handler.saturating_sub(earlier.handler),
            store_writer: self.store_writer.saturating_sub(earlier.store_writer),
        }
    }
}

/// CPU time and iterations of a benchmark's timed parts (warm-up included).
#[derive(Default)]
pub struct CpuMeter(Mutex<(Cpu, u64)>);

impl CpuMeter {
    pub fn add(&self, used: Cpu, iterations: u64) {
        let mut total = self.0.lock().unwrap_or_else(|e| e.into_inner());
        total.0.handler += used.handler;
        total.0.store_writer += used.store_writer;
        total.1 += iterations;
    }

    pub fn report(&self, name: &str) {
        let (cpu, iterations) = *self.0.lock().unwrap_or_else(|e| e.into_inner());
        if iterations > 0 {
            let per = |d: Duration| d.as_secs_f64() * 1e6 / iterations as f64;
            eprintln!(
                "{name}: CPU per iteration: {:.1} µs handler threads, {:.1} µs store writer \
                 ({iterations} iterations)",
                per(cpu.handler),
                per(cpu.store_writer)
            );
        }
    }
}

/// What a store call was about: the key's kind (`C#/MSG#`, `WAMID#/SEEN`, ...).
pub fn kind_of(key: &ItemKey) -> String {
    let cut = |s: &str| match s.find('#') {
        Some(i) => s[..=i].to_owned(),
        None => s.to_owned(),
    };
    format!("{}/{}", cut(&key.pk), cut(&key.sk))
}

/// A pass-through `FaultyStore` (it fails nothing) that notes every store call in order.
/// `FaultyStore` asks once per `write_all` with an empty key, then once per item.
pub fn noting(inner: Arc<dyn Store>) -> (Arc<dyn Store>, Arc<Mutex<Vec<String>>>) {
    let calls: Arc<Mutex<Vec<String>>> = Arc::default();
    let noted = calls.clone();
    let store = FaultyStore::new(inner, move |operation, key| {
        let mut noted = noted.lock().unwrap_or_else(|e| e.into_inner());
        if operation == "write_all" && !key.pk.is_empty() {
            if let Some(last) = noted.last_mut() {
                last.push_str(&format!(" {}", kind_of(key)));
            }
        } else if key.pk.is_empty() {
            noted.push(format!("{operation}:"));
        } else {
            noted.push(format!("{operation} {}", kind_of(key)));
        }
        false
    });
    (Arc::new(store), calls)
}

/// The calls noted since the last summary, and how many of them were writes (each a commit
/// of the embedded store's writer; a create that finds its item is rolled back).
pub fn summarise(calls: &Mutex<Vec<String>>) -> String {
    let calls = std::mem::take(&mut *calls.lock().unwrap_or_else(|e| e.into_inner()));
    let writes = calls
        .iter()
        .filter(|c| {
            ["create", "update", "write_all", "delete", "set_deadline"]
                .iter()
                .any(|w| c.starts_with(w))
        })
        .count();
    format!(
        "{} calls, {writes} writes: {}",
        calls.len(),
        calls.join(", ")
    )
}

/// Takes every visible message off the queue and acknowledges it (untimed); returns them.
pub async fn drain(queue: &InProcessQueue) -> Vec<SqsMessage> {
    let mut drained = Vec::new();
    loop {
        let messages = queue.receive(1000).await.expect("in-process receive");
        if messages.is_empty() {
            return drained;
        }
        for message in &messages {
            let handle = message.receipt_handle.as_deref().expect("a receipt handle");
            queue.acknowledge(handle).await.expect("in-process ack");
        }
        drained.extend(messages);
    }
}
