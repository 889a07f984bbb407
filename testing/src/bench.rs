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

/// CPU time and iterations of a benchmark's timed parts (warm-up included), and with
/// [`STEPS_VARIABLE`] set, the CPU time of each step the handler marks with a `trace` span.
pub struct CpuMeter(Mutex<(Cpu, u64, Steps)>);

impl Default for CpuMeter {
    /// A meter from now on: steps timed before it (a setup's requests) are not its own.
    fn default() -> Self {
        take_steps();
        CpuMeter(Mutex::default())
    }
}

impl CpuMeter {
    pub fn add(&self, used: Cpu, iterations: u64) {
        let mut total = self.0.lock().unwrap_or_else(|e| e.into_inner());
        total.0.handler += used.handler;
        total.0.store_writer += used.store_writer;
        total.1 += iterations;
        for (step, cpu) in take_steps() {
            add_step(&mut total.2, step, cpu);
        }
    }

    pub fn report(&self, name: &str) {
        let (cpu, iterations, steps) = &*self.0.lock().unwrap_or_else(|e| e.into_inner());
        if *iterations > 0 {
            let per = |d: Duration| d.as_secs_f64() * 1e6 / *iterations as f64;
            eprintln!(
                "{name}: CPU per iteration: {:.1} µs handler threads, {:.1} µs store writer \
                 ({iterations} iterations)",
                per(cpu.handler),
                per(cpu.store_writer)
            );
            if !steps.is_empty() {
                let within: Duration = steps.iter().map(|(_, cpu)| *cpu).sum();
                for (step, cpu) in steps {
                    eprintln!("  {step}: {:.1} µs", per(*cpu));
                }
                eprintln!(
                    "  outside the steps (tokio, sleeping and waking, the clock reads): {:.1} µs",
                    per(cpu.handler.saturating_sub(within))
                );
            }
        }
    }
}

/// Set (to anything) to time the handler's steps: `SERVICEKANAL_BENCH_STEPS=1 cargo bench ...`.
/// Off by default, because each step reads its thread's CPU clock twice (a system call each),
/// which adds a few µs to every request it times.
pub const STEPS_VARIABLE: &str = "SERVICEKANAL_BENCH_STEPS";

/// CPU time per step name, in the order the steps first ran.
type Steps = Vec<(&'static str, Duration)>;

static STEP_TOTALS: Mutex<Steps> = Mutex::new(Steps::new());

fn add_step(steps: &mut Steps, step: &'static str, cpu: Duration) {
    match steps.iter_mut().find(|(name, _)| *name == step) {
        Some((_, total)) => *total += cpu,
        None => steps.push((step, cpu)),
    }
}

/// The steps timed since the last call, taken.
fn take_steps() -> Steps {
    std::mem::take(&mut *STEP_TOTALS.lock().unwrap_or_else(|e| e.into_inner()))
}

/// With [`STEPS_VARIABLE`] set, makes every `trace` span a step whose thread CPU time, from
/// each entry to its exit, [`CpuMeter`] reports by the span's name (an async step counts
/// only while it is polled, not while it waits). Spans should not nest: a step inside
/// another counts in both. Otherwise a subscriber that takes nothing, so that spans cost what
/// they cost in a function whose log level leaves `trace` out: with no subscriber at all,
/// `tracing` hands every span to the `log` crate instead (lambda_runtime turns on that
/// feature), which costs more. Call once, before the first request.
pub fn time_steps_if_asked() {
    let set = match std::env::var_os(STEPS_VARIABLE) {
        Some(_) => tracing::subscriber::set_global_default(step_timer()),
        None => tracing::subscriber::set_global_default(tracing::subscriber::NoSubscriber::new()),
    };
    set.expect("no subscriber set before");
}

fn step_timer() -> impl tracing::Subscriber {
    use tracing_subscriber::layer::SubscriberExt;
    tracing_subscriber::registry().with(StepTimer)
}

/// The CPU time the calling thread has used.
pub fn thread_cpu() -> Duration {
    let at = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(at.tv_sec as u64, at.tv_nsec as u32)
}

/// How a thread spends a pause before timed work: what waiting does to the work after it.
#[derive(Clone, Copy, Debug)]
pub enum Pause {
    /// Asleep: its core idles, as while a new message waits for the disk.
    Sleep,
    /// Reading the clock in a loop: its core stays busy.
    Spin,
}

impl Pause {
    /// Pauses the calling thread for `length`.
    pub fn take(self, length: Duration) {
        match self {
            Pause::Sleep => std::thread::sleep(length),
            Pause::Spin => {
                let until = std::time::Instant::now() + length;
                while std::time::Instant::now() < until {}
            }
        }
    }
}

/// The thread CPU clock when a span was entered, kept in the span's extensions.
struct Entered(Duration);

struct StepTimer;

impl<S> tracing_subscriber::Layer<S> for StepTimer
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_enter(&self, id: &tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().replace(Entered(thread_cpu()));
        }
    }

    fn on_exit(&self, id: &tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let now = thread_cpu();
        if let Some(span) = ctx.span(id)
            && let Some(Entered(at)) = span.extensions_mut().remove::<Entered>()
        {
            let mut totals = STEP_TOTALS.lock().unwrap_or_else(|e| e.into_inner());
            add_step(&mut totals, span.name(), now.saturating_sub(at));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps the thread busy for `cpu` of its CPU time.
    fn burn(cpu: Duration) {
        let until = thread_cpu() + cpu;
        while thread_cpu() < until {}
    }

    #[test]
    fn each_span_is_a_step_timed_on_its_threads_cpu_clock_in_the_order_steps_first_ran() {
        let meter = CpuMeter::default();
        tracing::subscriber::with_default(step_timer(), || {
            tracing::trace_span!("verify").in_scope(|| burn(Duration::from_millis(4)));
            tracing::trace_span!("parse").in_scope(|| burn(Duration::from_millis(2)));
            // Asleep inside a step: no CPU time.
            tracing::trace_span!("verify")
                .in_scope(|| std::thread::sleep(Duration::from_millis(50)));
        });
        meter.add(Cpu::default(), 1);
        let (_, _, steps) = &*meter.0.lock().unwrap();
        let names: Vec<&str> = steps.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, ["verify", "parse"]);
        let (verify, parse) = (steps[0].1, steps[1].1);
        assert!(
            verify >= Duration::from_millis(4) && verify < Duration::from_millis(40),
            "{verify:?}"
        );
        assert!(
            parse >= Duration::from_millis(2) && parse < verify,
            "{parse:?}"
        );
    }
}
