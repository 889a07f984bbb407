//! The in-process queue of the local stack and of fast tests: FIFO order per group, the
//! five-minute deduplication window (on the injected clock), visibility until acknowledged or
//! until the visibility timeout passes (then delivered again, as SQS does).
//!
//! A durable queue ([`InProcessQueue::durable`]) keeps every message in a [`QueueJournal`]
//! from the moment `send` returns until it is acknowledged: the local stack's queues live in
//! its embedded store, so a crash loses no acknowledged webhook message. Which messages are in
//! flight is not kept: after a restart every unacknowledged message is visible again, as it
//! would be in SQS once its visibility timeout passed.

use super::{FIFO_DEDUP_WINDOW, OutgoingMessage, Queue, QueueError};
use crate::ports::clock::SharedClock;
use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsMessage;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use ulid::Ulid;

/// SQS's default visibility timeout, for queues that do not set one.
pub const DEFAULT_VISIBILITY: Duration = Duration::from_secs(30);

/// Where a durable in-process queue keeps its messages across restarts. `keep` and `forget`
/// are durable when they return.
#[async_trait]
pub trait QueueJournal: Send + Sync {
    /// Keeps message number `order` of `queue` (and its deduplication id, seen `at`).
    async fn keep(
        &self,
        queue: &str,
        order: u64,
        entry: Vec<u8>,
        dedup: Option<(String, DateTime<Utc>)>,
    ) -> Result<(), QueueError>;

    /// Forgets an acknowledged message, and deduplication ids seen before `dedup_before`.
    async fn forget(
        &self,
        queue: &str,
        order: u64,
        dedup_before: DateTime<Utc>,
    ) -> Result<(), QueueError>;

    /// Everything kept for `queue` and not forgotten.
    fn kept(&self, queue: &str) -> Result<Kept, QueueError>;
}

/// A queue's journal as read at start.
#[derive(Debug, Default)]
pub struct Kept {
    /// (order, entry) in send order.
    pub entries: Vec<(u64, Vec<u8>)>,
    pub dedup_ids: Vec<(String, DateTime<Utc>)>,
}

/// One journalled message: what `receive` hands out, and when it may.
#[derive(serde::Serialize, serde::Deserialize)]
struct JournalEntry {
    visible_at: DateTime<Utc>,
    message: SqsMessage,
}

pub struct InProcessQueue {
    name: String,
    fifo: bool,
    clock: SharedClock,
    journal: Option<Arc<dyn QueueJournal>>,
    state: Mutex<State>,
}

impl std::fmt::Debug for InProcessQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessQueue")
            .field("name", &self.name)
            .field("durable", &self.journal.is_some())
            .finish()
    }
}

/// A message received and not yet acknowledged.
#[derive(Debug)]
struct InFlight {
    order: u64,
    message: SqsMessage,
    /// When it becomes visible again unless acknowledged.
    until: DateTime<Utc>,
}

#[derive(Debug)]
struct State {
    /// Waiting messages with their send order.
    visible: VecDeque<(u64, SqsMessage)>,
    /// Delayed messages and when they become visible.
    delayed: Vec<(DateTime<Utc>, u64, SqsMessage)>,
    /// Received but not yet acknowledged, by receipt handle.
    in_flight: HashMap<String, InFlight>,
    /// FIFO deduplication ids and when they were seen; those older than the window no longer
    /// count and are dropped whenever the map has doubled (not on every send).
    dedup_seen: HashMap<String, DateTime<Utc>>,
    /// The size of `dedup_seen` at which it is pruned next.
    dedup_prune_at: usize,
    /// Deduplication ids whose message is being journalled: a repeat waits for the outcome.
    pending: HashMap<String, tokio::sync::watch::Receiver<Option<bool>>>,
    sent: u64,
    visibility: Duration,
}

impl Default for State {
    fn default() -> Self {
        Self {
            visible: VecDeque::new(),
            delayed: Vec::new(),
            in_flight: HashMap::new(),
            dedup_seen: HashMap::new(),
            dedup_prune_at: DEDUP_PRUNE_MIN,
            pending: HashMap::new(),
            sent: 0,
            visibility: DEFAULT_VISIBILITY,
        }
    }
}

/// `dedup_seen` is not pruned below this size.
const DEDUP_PRUNE_MIN: usize = 64;

impl State {
    /// Searched from the back: a message sent now belongs at the end.
    fn insert_in_send_order(&mut self, order: u64, message: SqsMessage) {
        let position = self
            .visible
            .iter()
            .rposition(|(o, _)| *o < order)
            .map_or(0, |before| before + 1);
        self.visible.insert(position, (order, message));
    }

    /// Whether deduplication id `id` was seen within `window` before `now`; notes it if not.
    /// Ids past the window are dropped once the map has doubled since the last pruning, so a
    /// send costs the same however many ids the window holds.
    fn seen_within(&mut self, id: &str, now: DateTime<Utc>, window: chrono::Duration) -> bool {
        if self.dedup_seen.get(id).is_some_and(|at| *at + window > now) {
            return true;
        }
        if self.dedup_seen.len() >= self.dedup_prune_at {
            self.dedup_seen.retain(|_, at| *at + window > now);
            self.dedup_prune_at = (2 * self.dedup_seen.len()).max(DEDUP_PRUNE_MIN);
        }
        self.dedup_seen.insert(id.to_owned(), now);
        false
    }

    /// A message becomes visible at `at` (now or later), in its send order.
    fn enqueue(&mut self, order: u64, message: SqsMessage, at: DateTime<Utc>, now: DateTime<Utc>) {
        if at > now {
            self.delayed.push((at, order, message));
        } else {
            self.insert_in_send_order(order, message);
        }
    }
}

/// What `send` may do with a message: send it (its order, its deduplication id, and where to
/// tell waiting repeats how its journal write went), or wait for an original still under way.
enum Reservation {
    Send(
        u64,
        Option<(String, DateTime<Utc>)>,
        Option<tokio::sync::watch::Sender<Option<bool>>>,
    ),
    Wait(String, tokio::sync::watch::Receiver<Option<bool>>),
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or_default()
}

impl InProcessQueue {
    /// A queue named like its SQS counterpart; a name ending in `.fifo` makes it FIFO. Its
    /// messages live in memory only.
    pub fn new(name: impl Into<String>, clock: SharedClock) -> Self {
        let name = name.into();
        Self {
            fifo: name.ends_with(".fifo"),
            name,
            clock,
            journal: None,
            state: Mutex::new(State::default()),
        }
    }

    /// A queue whose messages are kept in `journal` until acknowledged; it starts with what
    /// the journal kept from before (every message visible, at its time).
    pub fn durable(
        name: impl Into<String>,
        clock: SharedClock,
        journal: Arc<dyn QueueJournal>,
    ) -> Result<Self, QueueError> {
        let mut queue = Self::new(name, clock);
        let kept = journal.kept(&queue.name)?;
        let now = queue.clock.now();
        {
            let state = queue.state.get_mut().unwrap_or_else(|e| e.into_inner());
            for (order, bytes) in kept.entries {
                let entry: JournalEntry = serde_json::from_slice(&bytes)
                    .map_err(|e| QueueError::Backend(format!("journal entry {order}: {e}")))?;
                state.enqueue(order, entry.message, entry.visible_at, now);
                state.sent = state.sent.max(order);
            }
            state.dedup_seen.extend(kept.dedup_ids);
        }
        queue.journal = Some(journal);
        Ok(queue)
    }

    /// How long a received message stays invisible unless acknowledged (the queue's
    /// `VisibilityTimeout` in template.yaml).
    pub fn with_visibility(self, visibility: Duration) -> Self {
        self.set_visibility(visibility);
        self
    }

    /// Changes the visibility timeout of messages received from now on.
    pub fn set_visibility(&self, visibility: Duration) {
        self.lock().visibility = visibility;
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn arn(&self) -> String {
        format!("arn:aws:sqs:local:000000000000:{}", self.name)
    }

    /// Messages waiting, visible or in flight.
    pub fn depth(&self) -> usize {
        let state = self.lock();
        state.visible.len() + state.in_flight.len() + state.delayed.len()
    }

    /// Messages a `receive` could hand out now: visible, delayed ones whose time came, and
    /// received ones whose visibility timeout passed.
    pub fn due(&self) -> usize {
        let now = self.clock.now();
        let state = self.lock();
        state.visible.len()
            + state.delayed.iter().filter(|(at, _, _)| *at <= now).count()
            + state.in_flight.values().filter(|f| f.until <= now).count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Queue for InProcessQueue {
    async fn send(&self, message: OutgoingMessage) -> Result<(), QueueError> {
        let now = self.clock.now();
        message.check(self.fifo)?;
        let mut attributes = HashMap::from([
            (
                "SentTimestamp".to_owned(),
                now.timestamp_millis().to_string(),
            ),
            ("ApproximateReceiveCount".to_owned(), "0".to_owned()),
        ]);
        // FIFO: the deduplication id is reserved first. A repeat of a message whose journal
        // write is still under way waits for it: answered `Ok` before the original is
        // durable, its sender would take it as queued, and a crash would lose both.
        let (order, dedup, kept) = loop {
            let reservation = {
                let mut state = self.lock();
                // `check` made sure a FIFO message has both ids.
                match (self.fifo, &message.group_id, &message.dedup_id) {
                    (true, Some(group), Some(id)) => {
                        if let Some(original) = state.pending.get(id) {
                            Reservation::Wait(id.clone(), original.clone())
                        } else if state.seen_within(id, now, to_chrono(FIFO_DEDUP_WINDOW)) {
                            return Ok(());
                        } else {
                            let kept = self.journal.is_some().then(|| {
                                let (done, original) = tokio::sync::watch::channel(None);
                                state.pending.insert(id.clone(), original);
                                done
                            });
                            attributes.insert("MessageGroupId".into(), group.clone());
                            attributes.insert("MessageDeduplicationId".into(), id.clone());
                            state.sent += 1;
                            Reservation::Send(state.sent, Some((id.clone(), now)), kept)
                        }
                    }
                    _ => {
                        state.sent += 1;
                        Reservation::Send(state.sent, None, None)
                    }
                }
            };
            match reservation {
                Reservation::Send(order, dedup, kept) => break (order, dedup, kept),
                Reservation::Wait(id, mut original) => {
                    if original.wait_for(Option::is_some).await.is_err() {
                        // The original's send was dropped half-way: its reservation stands.
                        self.lock().pending.remove(&id);
                    }
                }
            }
        };
        let mut sqs = SqsMessage::default();
        sqs.message_id = Some(Ulid::new().to_string());
        sqs.body = Some(message.body);
        sqs.attributes = attributes;
        sqs.event_source = Some("aws:sqs".into());
        sqs.event_source_arn = Some(self.arn());
        sqs.aws_region = Some("local".into());
        let visible_at = now + message.delay.map(to_chrono).unwrap_or_default();
        if let Some(journal) = &self.journal {
            let entry = JournalEntry {
                visible_at,
                message: sqs,
            };
            let bytes =
                serde_json::to_vec(&entry).map_err(|e| QueueError::Backend(e.to_string()))?;
            let result = journal.keep(&self.name, order, bytes, dedup.clone()).await;
            if let Some((id, _)) = &dedup {
                let mut state = self.lock();
                state.pending.remove(id);
                if result.is_err() {
                    // Not sent: a retry of the same message must not be taken for a repeat.
                    state.dedup_seen.remove(id);
                }
            }
            if let Some(done) = kept {
                let _ = done.send(Some(result.is_ok()));
            }
            result?;
            sqs = entry.message;
        }
        self.lock().enqueue(order, sqs, visible_at, now);
        Ok(())
    }

    async fn receive(&self, max: usize) -> Result<Vec<SqsMessage>, QueueError> {
        let now = self.clock.now();
        let mut state = self.lock();
        // Delayed messages whose time has come join the queue in send order.
        let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut state.delayed)
            .into_iter()
            .partition(|(at, _, _)| *at <= now);
        state.delayed = waiting;
        for (_, order, message) in due {
            state.insert_in_send_order(order, message);
        }
        // Received but never acknowledged: visible again once the visibility timeout passed.
        let expired: Vec<String> = state
            .in_flight
            .iter()
            .filter(|(_, f)| f.until <= now)
            .map(|(handle, _)| handle.clone())
            .collect();
        for handle in expired {
            if let Some(mut lapsed) = state.in_flight.remove(&handle) {
                lapsed.message.receipt_handle = None;
                state.insert_in_send_order(lapsed.order, lapsed.message);
            }
        }
        // FIFO: a group with a message in flight waits, so order within the group holds;
        // later messages of a group may join the same batch, behind the earlier ones.
        let busy: HashSet<String> = state
            .in_flight
            .values()
            .filter_map(|f| super::group_of(&f.message).map(str::to_owned))
            .collect();
        let until = now + to_chrono(state.visibility);
        let mut taken = Vec::new();
        let mut kept = VecDeque::new();
        while let Some((order, mut message)) = state.visible.pop_front() {
            let group = super::group_of(&message).map(str::to_owned);
            let blocked = group.as_ref().is_some_and(|g| busy.contains(g));
            if taken.len() == max || blocked {
                kept.push_back((order, message));
                continue;
            }
            let count = message
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse::<u32>().ok())
                .unwrap_or(0)
                + 1;
            message
                .attributes
                .insert("ApproximateReceiveCount".into(), count.to_string());
            let handle = Ulid::new().to_string();
            message.receipt_handle = Some(handle.clone());
            state.in_flight.insert(
                handle,
                InFlight {
                    order,
                    message: message.clone(),
                    until,
                },
            );
            taken.push(message);
        }
        state.visible = kept;
        Ok(taken)
    }

    async fn acknowledge(&self, receipt_handle: &str) -> Result<(), QueueError> {
        let acknowledged = self.lock().in_flight.remove(receipt_handle);
        if let (Some(journal), Some(done)) = (&self.journal, acknowledged) {
            let window = to_chrono(FIFO_DEDUP_WINDOW);
            if let Err(e) = journal
                .forget(&self.name, done.order, self.clock.now() - window)
                .await
            {
                // Still kept: in flight again, so it is delivered again like any message
                // whose deletion failed.
                self.lock()
                    .in_flight
                    .insert(receipt_handle.to_owned(), done);
                return Err(e);
            }
        }
        Ok(())
    }

    async fn release(&self, receipt_handle: &str) -> Result<(), QueueError> {
        let mut state = self.lock();
        if let Some(mut released) = state.in_flight.remove(receipt_handle) {
            released.message.receipt_handle = None;
            // Back in its place: it was sent first, it stays first for its group.
            state.insert_in_send_order(released.order, released.message);
        }
        Ok(())
    }
}
