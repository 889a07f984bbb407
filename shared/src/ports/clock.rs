//! The `Clock` port: every retention decision asks it for "now", so tests and the local stack
//! can move time instead of sleeping.

use chrono::{DateTime, Duration, Utc};
use std::sync::{Arc, Mutex};

pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;

    /// Lets time pass until `at`; returns how long the caller must still sleep in real time
    /// (nothing once `at` has come). A manual clock jumps to `at` itself, so tests never sleep.
    fn pass_until(&self, at: DateTime<Utc>) -> std::time::Duration {
        (at - self.now()).to_std().unwrap_or_default()
    }
}

/// The real clock, used in Lambda.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until told to move; clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

/// `at` cut to whole seconds: deadlines are kept (and DynamoDB's TTL counts) in seconds.
pub fn whole_seconds(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(at.timestamp(), 0).unwrap_or(at)
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Starts at the current system time, cut to whole seconds (what the store keeps).
    pub fn starting_now() -> Self {
        Self::new(whole_seconds(Utc::now()))
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.lock() = to;
    }

    pub fn advance(&self, by: Duration) -> DateTime<Utc> {
        let mut now = self.lock();
        *now += by;
        *now
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        // A poisoned lock still holds a valid time; keep going.
        self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }

    fn pass_until(&self, at: DateTime<Utc>) -> std::time::Duration {
        let mut now = self.lock();
        *now = (*now).max(at);
        std::time::Duration::ZERO
    }
}

/// The system time shifted by an offset that only grows: the local stack's clock, which the
/// clock buttons move forward while time keeps running.
#[derive(Debug, Clone, Default)]
pub struct OffsetClock {
    offset: Arc<Mutex<Duration>>,
}

impl OffsetClock {
    pub fn new(offset: Duration) -> Self {
        Self {
            offset: Arc::new(Mutex::new(offset)),
        }
    }

    pub fn offset(&self) -> Duration {
        *self.offset.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves the clock forward (a negative step is ignored: time never runs back).
    pub fn advance(&self, by: Duration) -> DateTime<Utc> {
        let mut offset = self.offset.lock().unwrap_or_else(|e| e.into_inner());
        if by > Duration::zero() {
            *offset += by;
        }
        Utc::now() + *offset
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset()
    }
}

pub type SharedClock = Arc<dyn Clock>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told_and_clones_share_time() {
        let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let clock = ManualClock::new(start);
        let other = clock.clone();
        assert_eq!(clock.now(), start);
        other.advance(Duration::days(8));
        assert_eq!(clock.now(), start + Duration::days(8));
        clock.set(start);
        assert_eq!(other.now(), start);
    }

    #[test]
    fn offset_clock_runs_with_the_system_and_only_jumps_forward() {
        let clock = OffsetClock::new(Duration::days(1));
        let shared = clock.clone();
        let ahead = clock.now() - Utc::now();
        assert!(ahead > Duration::hours(23) && ahead <= Duration::days(1));
        shared.advance(Duration::days(7));
        assert_eq!(clock.offset(), Duration::days(8));
        clock.advance(Duration::days(-3));
        assert_eq!(clock.offset(), Duration::days(8), "never back");
    }
}
