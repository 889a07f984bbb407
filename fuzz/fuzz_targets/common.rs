//! What the targets share: one store for the whole run (on tmpfs where there is one, so its
//! commits cost no disk), a runtime, and a clock standing at a fixed time.
//!
//! The store keeps what earlier inputs wrote, as a deployed one would, until it is replaced
//! by a fresh one every `RECYCLE_EVERY` inputs (so a long run's memory stays bounded); a crash
//! that needs that history reproduces by running the corpus (`cargo fuzz run <target> <dir>`).

#![allow(dead_code)]

use chrono::{DateTime, Utc};
use servicekanal_shared::domain::keys::Pseudonymizer;
use servicekanal_shared::ports::clock::ManualClock;
use servicekanal_shared::ports::store::embedded::EmbeddedStore;
use std::sync::{Arc, Mutex};

/// Inputs one store serves before it is replaced.
pub const RECYCLE_EVERY: u64 = 20_000;

/// A value built anew every `RECYCLE_EVERY` uses.
pub struct Recycled<T> {
    make: fn() -> T,
    state: Mutex<(u64, Option<T>)>,
}

impl<T> Recycled<T> {
    pub const fn new(make: fn() -> T) -> Self {
        Self {
            make,
            state: Mutex::new((0, None)),
        }
    }

    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.0.is_multiple_of(RECYCLE_EVERY) {
            state.1 = None;
            state.1 = Some((self.make)());
        }
        state.0 += 1;
        f(state.1.as_ref().expect("built above"))
    }
}

/// Saturday 21 November 2026, 10:00 in Berlin.
pub const NOW: i64 = 1_795_251_600;

pub struct World {
    pub runtime: tokio::runtime::Runtime,
    pub clock: ManualClock,
    pub store: Arc<EmbeddedStore>,
    pub pseudonymizer: Pseudonymizer,
    _dir: tempfile::TempDir,
}

impl World {
    pub fn new() -> Self {
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("a temporary folder");
        let clock = ManualClock::new(DateTime::<Utc>::from_timestamp(NOW, 0).expect("in range"));
        let store = Arc::new(
            EmbeddedStore::open(dir.path(), Arc::new(clock.clone())).expect("the store opens"),
        );
        Self {
            runtime: tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a runtime"),
            clock,
            store,
            pseudonymizer: Pseudonymizer::new(*b"fuzz-pseudonym-key-fuzz-pseudonym-key")
                .expect("long enough"),
            _dir: dir,
        }
    }
}
