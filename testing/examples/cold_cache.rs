//! What this machine does to a thread's caches while it waits: the CPU time of the same two
//! pieces of work done back to back, after the thread slept for a millisecond (as a webhook
//! request waits for its commit), and after it spun for one. One is arithmetic in registers,
//! the other reads a buffer the thread has just read (every 64th byte, so every cache line).
//! Figures: docs/performance.md ("Per-event work").
//!
//!   cargo run --release -p servicekanal-testing --example cold_cache [-- KIB]

use servicekanal_testing::bench::{Pause, thread_cpu};
use std::hint::black_box;
use std::time::Duration;

const ROUNDS: u32 = 2_000;
const PAUSE: Duration = Duration::from_millis(1);

fn arithmetic() -> u64 {
    let mut x = 1u64;
    for _ in 0..20_000 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        x ^= x >> 17;
    }
    x
}

fn read_lines(buffer: &[u8]) -> u64 {
    buffer.iter().step_by(64).map(|&b| u64::from(b)).sum()
}

fn main() {
    let kib: usize = std::env::args()
        .nth(1)
        .map_or(256, |a| a.parse().expect("a size in KiB"));
    let buffer = vec![1u8; kib * 1024];
    println!("per round, thread CPU time, {ROUNDS} rounds:");
    for (name, pause) in [
        ("no pause", None),
        ("1 ms asleep", Some(Pause::Sleep)),
        ("1 ms spinning", Some(Pause::Spin)),
    ] {
        let (mut in_arithmetic, mut in_reading) = (Duration::ZERO, Duration::ZERO);
        for _ in 0..ROUNDS {
            if let Some(pause) = pause {
                pause.take(PAUSE);
            }
            let start = thread_cpu();
            black_box(arithmetic());
            let between = thread_cpu();
            black_box(read_lines(black_box(&buffer)));
            in_arithmetic += between - start;
            in_reading += thread_cpu() - between;
        }
        println!(
            "{name:>13}: arithmetic {:6.1} µs, reading {kib} KiB {:6.1} µs",
            in_arithmetic.as_secs_f64() * 1e6 / f64::from(ROUNDS),
            in_reading.as_secs_f64() * 1e6 / f64::from(ROUNDS)
        );
    }
}
